// Exact cost of a call's usage (see src/core/cost.h).
#include "src/core/cost.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace genops::pricing {
namespace {

// 128-bit intermediates keep tokens × price exact (GCC/Clang builtin; __extension__ keeps
// -Wpedantic quiet).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

constexpr int64_t kPicosPerNano = 1000;
constexpr Int128 kInt64Max = std::numeric_limits<int64_t>::max();

int64_t Saturate(Int128 v) {
  return v > kInt64Max ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(v);
}

// Picos rounded up to the next nano-USD (picos are never negative here).
Money RoundUpToNanos(Int128 picos) {
  if (picos >= 0 && picos <= kInt64Max - (kPicosPerNano - 1)) {
    // The usual case, in 64 bits: a division by a constant becomes a multiplication there,
    // where a 128-bit one is a library call (six per ComputeCost()). Same result.
    return Money::FromNanos((static_cast<int64_t>(picos) + kPicosPerNano - 1) / kPicosPerNano);
  }
  return Money::FromNanos(Saturate((picos + kPicosPerNano - 1) / kPicosPerNano));
}

int64_t PriceOr(int64_t price, int64_t fallback) { return price == kNoPrice ? fallback : price; }

}  // namespace

CostBreakdown ComputeCost(const ModelPricing& model, const Usage& usage) noexcept {
  const int64_t input = std::max<int64_t>(usage.input_tokens, 0);
  const int64_t cache_read = std::clamp<int64_t>(usage.cache_read_tokens, 0, input);
  const int64_t cache_write = std::clamp<int64_t>(usage.cache_write_tokens, 0, input - cache_read);
  const int64_t uncached = input - cache_read - cache_write;
  const int64_t output = std::max<int64_t>(usage.output_tokens, 0);
  const int64_t reasoning = std::clamp<int64_t>(usage.reasoning_tokens, 0, output);

  const TokenPrices& p = model.PricesFor(input);
  const Int128 input_picos = static_cast<Int128>(uncached) * p.input;
  const Int128 cache_read_picos = static_cast<Int128>(cache_read) * PriceOr(p.cache_read, p.input);
  const Int128 cache_write_picos =
      static_cast<Int128>(cache_write) * PriceOr(p.cache_write, p.input);
  Int128 output_picos = 0;
  Int128 reasoning_picos = 0;
  if (p.reasoning == kNoPrice) {
    output_picos = static_cast<Int128>(output) * p.output;
  } else {
    output_picos = static_cast<Int128>(output - reasoning) * p.output;
    reasoning_picos = static_cast<Int128>(reasoning) * p.reasoning;
  }
  const Int128 total =
      input_picos + cache_read_picos + cache_write_picos + output_picos + reasoning_picos;

  CostBreakdown c;
  c.input = RoundUpToNanos(input_picos);
  c.cache_read = RoundUpToNanos(cache_read_picos);
  c.cache_write = RoundUpToNanos(cache_write_picos);
  c.output = RoundUpToNanos(output_picos);
  c.reasoning = RoundUpToNanos(reasoning_picos);
  c.total = RoundUpToNanos(total);
  c.total_picos = Saturate(total);
  c.long_context_tier = &p != &model.prices;
  return c;
}

Money EstimateWorstCase(const ModelPricing& model, int64_t input_tokens,
                        int64_t max_output_tokens) noexcept {
  const int64_t input = std::max<int64_t>(input_tokens, 0);
  const int64_t output =
      max_output_tokens > 0 ? max_output_tokens : model.default_max_output_tokens;
  const TokenPrices& p = model.PricesFor(input);
  // An upper bound: a prompt token never costs more than a cache write, an output token
  // never more than a reasoning token, so settlement cannot exceed the reservation.
  const int64_t input_price = std::max(p.input, p.cache_write);
  const int64_t output_price = std::max(p.output, p.reasoning);
  return RoundUpToNanos(static_cast<Int128>(input) * input_price +
                        static_cast<Int128>(output) * output_price);
}

}  // namespace genops::pricing
