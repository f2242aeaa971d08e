// Cost: the exact price of one LLM call's usage.
//
// Every component is tokens × price in pico-USD (prices are pico-USD per token), computed
// in 128-bit arithmetic, so it is exact. The total is the exact pico sum rounded UP to the
// next nano-USD once, so spend is never under-counted and never rounded twice; each
// component is also reported rounded up for display, so the parts may add up to slightly
// more than `total`.
//
// Billing rules (DESIGN.md §2):
//   uncached input   × input price
//   cache reads      × cache_read price   (input price when the model has none)
//   cache writes     × cache_write price  (input price when the model has none)
//   non-reasoning output × output price
//   reasoning        × reasoning price    (output price when the model has none)
// with the long-context tier chosen by input_tokens (ModelPricing::PricesFor).
//
// Example:
//   const auto* m = catalog->Find("openai", "gpt-4o");
//   genops::pricing::CostBreakdown c = genops::pricing::ComputeCost(*m, usage);
//   ledger.Settle(id, c.total);
//
// Thread safety: free functions over values; safe to call concurrently.
#ifndef GENOPS_CORE_COST_H_
#define GENOPS_CORE_COST_H_

#include <cstdint>

#include "genops/money.h"
#include "genops/usage.h"
#include "src/core/catalog.h"

namespace genops::pricing {

struct CostBreakdown {
  // Each component, rounded up to the nano-USD.
  Money input;  // uncached input only
  Money cache_read;
  Money cache_write;
  Money output;     // non-reasoning output (all output when reasoning has no own price)
  Money reasoning;  // zero unless the model has a distinct reasoning price
  // The exact pico total rounded UP to nano ONCE (not the sum of rounded parts).
  Money total;
  int64_t total_picos = 0;  // exact; saturates at INT64_MAX (≈ $9.2M) for absurd usage
  bool long_context_tier = false;
};

// Prices `usage` with `model`. Invalid usage (negative counts, subsets larger than their
// whole) is clamped to zero rather than reported: call Usage::Validate() at the edge.
CostBreakdown ComputeCost(const ModelPricing& model, const Usage& usage) noexcept;

// Worst case before the call: all input uncached at the tier price, max_output_tokens at
// the output price. Non-positive max_output_tokens uses model.default_max_output_tokens.
Money EstimateWorstCase(const ModelPricing& model, int64_t input_tokens,
                        int64_t max_output_tokens) noexcept;

}  // namespace genops::pricing

#endif  // GENOPS_CORE_COST_H_
