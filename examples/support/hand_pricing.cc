#include "support/hand_pricing.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace genops::examples {

namespace {

constexpr int64_t kMicroDigits = 6;

// A price field: a decimal string (or a number, tolerated), null/absent -> -1.
absl::StatusOr<int64_t> PriceField(const nlohmann::json& prices, const char* key) {
  auto it = prices.find(key);
  if (it == prices.end() || it->is_null()) return -1;
  if (it->is_string()) return ParseMicroUsd(it->get<std::string>());
  if (it->is_number()) {
    std::ostringstream text;
    text.precision(15);
    text << it->get<double>();
    return ParseMicroUsd(text.str());
  }
  return absl::InvalidArgumentError(absl::StrCat("price `", key, "` is neither string nor null"));
}

absl::StatusOr<HandTokenPrices> ReadPrices(const nlohmann::json& prices) {
  HandTokenPrices out;
  for (auto [key, field] :
       {std::pair{"input", &out.input}, std::pair{"output", &out.output},
        std::pair{"cache_read", &out.cache_read}, std::pair{"cache_write", &out.cache_write},
        std::pair{"reasoning", &out.reasoning}}) {
    absl::StatusOr<int64_t> value = PriceField(prices, key);
    if (!value.ok()) return value.status();
    *field = *value;
  }
  if (out.input < 0 || out.output < 0) {
    return absl::InvalidArgumentError("input and output prices are required");
  }
  return out;
}

bool SameId(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

absl::StatusOr<int64_t> ParseMicroUsd(std::string_view decimal) {
  // (Debian's Abseil has its own string_view, so std::string is used with absl::StrCat.)
  const std::string original(decimal);
  std::string text(decimal);
  text.erase(0, text.find_first_not_of(" \t"));
  text.erase(text.find_last_not_of(" \t") + 1);
  const size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  const std::string fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || static_cast<int64_t>(fraction.size()) > kMicroDigits ||
      !std::all_of(whole.begin(), whole.end(), [](char c) { return std::isdigit(c) != 0; }) ||
      !std::all_of(fraction.begin(), fraction.end(), [](char c) { return std::isdigit(c) != 0; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a USD price with at most six decimals: '", original, "'"));
  }
  int64_t whole_value = 0;
  if (!absl::SimpleAtoi(whole, &whole_value)) {
    return absl::InvalidArgumentError(absl::StrCat("price out of range: '", original, "'"));
  }
  std::string padded(fraction);
  padded.resize(kMicroDigits, '0');
  int64_t fraction_value = 0;
  if (!absl::SimpleAtoi(padded, &fraction_value)) {
    return absl::InvalidArgumentError(absl::StrCat("bad price fraction: '", original, "'"));
  }
  return whole_value * 1'000'000 + fraction_value;
}

absl::StatusOr<HandPrices> LoadHandPrices(const std::filesystem::path& catalog_path,
                                          std::string_view provider, std::string_view model) {
  std::ifstream in(catalog_path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open the catalog ", catalog_path.string()));
  }
  nlohmann::json catalog = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!catalog.is_object() || !catalog.contains("models") || !catalog["models"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(catalog_path.string(), ": expected an object with a `models` array"));
  }
  for (const nlohmann::json& entry : catalog["models"]) {
    if (!entry.is_object() || !SameId(entry.value("provider", ""), provider)) continue;
    bool match = SameId(entry.value("id", ""), model);
    if (!match && entry.contains("aliases") && entry["aliases"].is_array()) {
      for (const nlohmann::json& alias : entry["aliases"]) {
        if (alias.is_string() && SameId(alias.get<std::string>(), model)) match = true;
      }
    }
    if (!match) continue;
    HandPrices out;
    out.provider = entry.value("provider", "");
    out.id = entry.value("id", "");
    absl::StatusOr<HandTokenPrices> base = ReadPrices(entry.value("prices", nlohmann::json()));
    if (!base.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(catalog_path.string(), ": ", out.id, ": ", base.status().message()));
    }
    out.base = *base;
    if (entry.contains("tiers") && entry["tiers"].is_array()) {
      for (const nlohmann::json& tier : entry["tiers"]) {
        absl::StatusOr<HandTokenPrices> prices = ReadPrices(tier);
        if (!prices.ok()) return prices.status();
        out.tiers.push_back({tier.value("above_input_tokens", int64_t{0}), *prices});
      }
    }
    return out;
  }
  return absl::NotFoundError(absl::StrCat(catalog_path.string(), " has no model '",
                                          std::string(model), "' of provider '",
                                          std::string(provider), "'"));
}

int64_t HandCostPicos(const HandPrices& prices, const genops::Usage& usage) {
  HandTokenPrices p = prices.base;
  for (const HandTier& tier : prices.tiers) {
    if (usage.input_tokens > tier.above_input_tokens) p = tier.prices;
  }
  const int64_t cache_read_price = p.cache_read >= 0 ? p.cache_read : p.input;
  const int64_t cache_write_price = p.cache_write >= 0 ? p.cache_write : p.input;
  const int64_t reasoning_price = p.reasoning >= 0 ? p.reasoning : p.output;
  return usage.uncached_input_tokens() * p.input + usage.cache_read_tokens * cache_read_price +
         usage.cache_write_tokens * cache_write_price +
         (usage.output_tokens - usage.reasoning_tokens) * p.output +
         usage.reasoning_tokens * reasoning_price;
}

genops::Money HandCost(const HandPrices& prices, const genops::Usage& usage) {
  const int64_t picos = HandCostPicos(prices, usage);
  return genops::Money::FromNanos((picos + 999) / 1000);  // up to the next nano-USD
}

std::string FindCatalogFile(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--catalog") return argv[i + 1];
  }
  std::vector<std::filesystem::path> starts;
  std::error_code error;
  starts.push_back(std::filesystem::current_path(error));
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) starts.push_back(exe.parent_path());
  for (std::filesystem::path dir : starts) {
    while (!dir.empty()) {
      std::filesystem::path candidate = dir / "data" / "pricing_catalog.json";
      if (std::filesystem::exists(candidate, error)) return candidate.string();
      if (dir == dir.root_path()) break;
      dir = dir.parent_path();
    }
  }
  return "";
}

}  // namespace genops::examples
