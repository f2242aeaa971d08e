// Pricing catalog: what one million tokens of each model cost, per provider.
//
// The catalog is a JSON data file in the repository (data/pricing_catalog.json), compiled
// in as the default and merged with an operator's override file (DESIGN.md §2). Prices are
// integers of micro-USD per 1M tokens, which is the same number as pico-USD per token, so
// the cost of any token count is an exact integer (see src/core/cost.h).
//
// Providers report dated or prefixed model ids ("gpt-4o-2024-08-06",
// "us.anthropic.claude-sonnet-4-20250514-v1:0", "models/gemini-2.5-pro"), while the data
// file lists only canonical ids. Find() resolves those in stages, each an exact hash lookup
// on precomputed lowercase keys, so the hot path neither allocates nor runs a regex:
//   1. the exact id or alias (case-insensitive);
//   2. with provider prefixes stripped ("openai/", "anthropic/", "models/", "google/",
//      Bedrock region prefixes "us.", "eu.", "apac.", "global.", and the Bedrock vendor
//      prefix such as "anthropic." when the bare id is listed);
//   3. with a trailing date or version stripped ("-2024-08-06", "-20241022", "@20241022",
//      "-0613", "-latest", "-v1:0", ":0", "-001", "-preview-MM-DD"), repeatedly.
// An unknown model yields nullptr; it is never priced at a made-up default.
//
// Example:
//   auto catalog = genops::pricing::Catalog::Builtin().value();
//   const auto* m = catalog->Find("openai", "gpt-4o-2024-08-06");  // the "gpt-4o" entry
//   if (m == nullptr) { /* unpriced */ }
#ifndef GENOPS_CORE_CATALOG_H_
#define GENOPS_CORE_CATALOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace genops::pricing {

// A price component a model does not offer (cache_read: billed as input; cache_write:
// billed as input; reasoning: billed as output).
inline constexpr int64_t kNoPrice = -1;

// Prices are integers of micro-USD per 1M tokens (== pico-USD per token).
struct TokenPrices {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = kNoPrice;
  int64_t cache_write = kNoPrice;
  int64_t reasoning = kNoPrice;

  bool operator==(const TokenPrices&) const = default;
};

// Long-context pricing: applies when a call's input_tokens exceed above_input_tokens.
struct PriceTier {
  int64_t above_input_tokens = 0;
  TokenPrices prices;

  bool operator==(const PriceTier&) const = default;
};

struct ModelPricing {
  std::string provider;  // openai|anthropic|google|mistral|cohere|aws_bedrock|groq|deepseek|xai
  std::string id;        // canonical id as the provider's API reports it
  std::string kind;      // chat | embedding
  std::string as_of;     // date the price was checked, YYYY-MM-DD
  std::string source;    // where the price was published
  std::vector<std::string> aliases;
  TokenPrices prices;
  std::vector<PriceTier> tiers;  // ascending above_input_tokens
  int64_t default_max_output_tokens = 4096;

  // The prices that apply to a call with `input_tokens` prompt tokens (the highest tier
  // whose threshold is exceeded, else the base prices).
  const TokenPrices& PricesFor(int64_t input_tokens) const noexcept;
};

// Formats micro-USD per 1M tokens as a decimal USD string with at least two decimals
// ("2.50", "0.075", "10.00"); kNoPrice gives "". The inverse of the catalog's price parsing.
std::string PriceToString(int64_t micro_usd_per_million);

// An immutable set of model prices with fast id resolution.
//
// Thread safety: immutable after construction; concurrent reads are safe.
class Catalog {
 public:
  // Parses a catalog document. `source_name` (usually the file name) prefixes every error,
  // e.g. `pricing_catalog.json: models[12] (gpt-4o): prices.input: expected a decimal
  // string like "2.50", got 2.5`. Unknown fields, malformed prices (more than 6 decimals,
  // negative, numbers instead of strings) and duplicate (provider, id) pairs are errors.
  static absl::StatusOr<std::unique_ptr<Catalog>> FromJson(std::string_view json,
                                                           std::string_view source_name);

  // The catalog compiled into the library from data/pricing_catalog.json.
  static absl::StatusOr<std::unique_ptr<Catalog>> Builtin();

  // Builtin merged with an operator override file: entries with the same (provider, id)
  // replace the built-in ones, others are added.
  static absl::StatusOr<std::unique_ptr<Catalog>> BuiltinWithOverrides(
      const std::string& override_path);

  // Merges `overrides` over `base` with the rule of BuiltinWithOverrides().
  static absl::StatusOr<std::unique_ptr<Catalog>> Merge(const Catalog& base,
                                                        const Catalog& overrides);

  // The pricing for `model` as reported by `provider` (empty = any provider; when several
  // providers list the same id, the first in file order wins, except that a direct
  // provider is preferred over aws_bedrock). nullptr when unknown.
  // noexcept, and no allocation for ids up to kMaxModelIdLength characters (longer ids are
  // never found).
  const ModelPricing* Find(std::string_view provider, std::string_view model) const noexcept;

  // Up to `max_results` catalog ids that look like `model` (shared prefix, then edit
  // distance), best first. For "unknown model" messages.
  std::vector<std::string> ClosestMatches(std::string_view model, size_t max_results) const;

  const std::vector<ModelPricing>& models() const { return models_; }

  static constexpr size_t kMaxModelIdLength = 256;

 private:
  Catalog() = default;
  absl::Status BuildIndex();
  const ModelPricing* LookupExact(std::string_view provider,
                                  std::string_view lower_model) const noexcept;
  const ModelPricing* LookupStripped(std::string_view provider,
                                     std::string_view lower_model) const noexcept;

  std::vector<ModelPricing> models_;
  // Keys are "provider\x1Fid" (lowercase) for provider-qualified lookups and the bare
  // lowercase id for any-provider lookups. Values index models_.
  absl::flat_hash_map<std::string, size_t> by_provider_id_;
  absl::flat_hash_map<std::string, size_t> by_id_;
};

}  // namespace genops::pricing

#endif  // GENOPS_CORE_CATALOG_H_
