// Hand pricing: the cost of a usage computed straight from data/pricing_catalog.json.
//
// The examples never hardcode an expected cost. They take the cost GenOps reports and check
// it against this independent computation from the catalog file: the decimal USD-per-1M
// prices are read as exact integers of micro-USD per 1M tokens (pico-USD per token), the
// components are summed exactly, and the total is rounded up to the nano-USD once — the
// rule of DESIGN.md §2. Nothing here shares code with the library's pricer.
//
// Example:
//   std::string path = genops::examples::FindCatalogFile(argc, argv);
//   auto prices = genops::examples::LoadHandPrices(path, "openai", "gpt-4o").value();
//   genops::Money expected = genops::examples::HandCost(prices, usage);
//
// Thread safety: plain functions and value types.
#ifndef GENOPS_EXAMPLES_SUPPORT_HAND_PRICING_H_
#define GENOPS_EXAMPLES_SUPPORT_HAND_PRICING_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/money.h"
#include "genops/usage.h"

namespace genops::examples {

// Micro-USD per 1M tokens; -1 when the catalog has no such price.
struct HandTokenPrices {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = -1;
  int64_t cache_write = -1;
  int64_t reasoning = -1;
};

struct HandTier {
  int64_t above_input_tokens = 0;
  HandTokenPrices prices;
};

struct HandPrices {
  std::string provider;
  std::string id;
  HandTokenPrices base;
  std::vector<HandTier> tiers;
};

// The catalog entry whose id or alias equals `model` (case-insensitive) for `provider`.
absl::StatusOr<HandPrices> LoadHandPrices(const std::filesystem::path& catalog_path,
                                          std::string_view provider, std::string_view model);

// "2.50" -> 2500000 (micro-USD). Rejects more than six decimals.
absl::StatusOr<int64_t> ParseMicroUsd(std::string_view decimal);

// Exact cost in pico-USD, and rounded up to the nano-USD.
int64_t HandCostPicos(const HandPrices& prices, const genops::Usage& usage);
genops::Money HandCost(const HandPrices& prices, const genops::Usage& usage);

// The catalog file: `--catalog PATH` on the command line, else data/pricing_catalog.json in
// the current directory, the executable's directory or any of their parents. "" when none.
std::string FindCatalogFile(int argc, char** argv);

}  // namespace genops::examples

#endif  // GENOPS_EXAMPLES_SUPPORT_HAND_PRICING_H_
