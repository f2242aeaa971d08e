// `genops prices`: lists the pricing catalog (built in, plus overrides).
//
//   genops prices --provider anthropic
//   genops prices --json --pricing-overrides my_prices.json
//
// Exit codes: 0 listed, 1 the catalog could not be loaded, 2 unknown provider.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "src/cli/commands.h"
#include "src/core/catalog.h"
#include "src/core/text.h"

namespace genops::cli {
namespace {

// ASCII lowercase (model ids and provider names are ASCII).
std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

struct PricesOptions {
  std::string provider;
  bool json = false;
  std::string pricing_overrides;
};

nlohmann::ordered_json PriceJson(int64_t micros) {
  if (micros == pricing::kNoPrice) return nullptr;
  return pricing::PriceToString(micros);
}

nlohmann::ordered_json PricesJson(const pricing::TokenPrices& p) {
  return {{"input", PriceJson(p.input)},
          {"output", PriceJson(p.output)},
          {"cache_read", PriceJson(p.cache_read)},
          {"cache_write", PriceJson(p.cache_write)},
          {"reasoning", PriceJson(p.reasoning)}};
}

std::string Cell(int64_t micros) {
  return micros == pricing::kNoPrice ? "-" : pricing::PriceToString(micros);
}

int RunPrices(const PricesOptions& o) {
  auto catalog = o.pricing_overrides.empty()
                     ? pricing::Catalog::Builtin()
                     : pricing::Catalog::BuiltinWithOverrides(o.pricing_overrides);
  if (!catalog.ok()) {
    std::fprintf(stderr, "genops prices: cannot load the pricing catalog: %s\n",
                 std::string(catalog.status().message()).c_str());
    return 1;
  }
  const std::string provider = LowerAscii(o.provider);
  std::vector<const pricing::ModelPricing*> selected;
  std::set<std::string> providers;
  for (const pricing::ModelPricing& m : (*catalog)->models()) {
    providers.insert(m.provider);
    if (provider.empty() || m.provider == provider) selected.push_back(&m);
  }
  if (!provider.empty() && selected.empty()) {
    std::fprintf(stderr, "genops prices: no models for provider \"%s\"; the catalog has: %s\n",
                 o.provider.c_str(), Join(providers, ", ").c_str());
    return 2;
  }
  std::stable_sort(selected.begin(), selected.end(), [](const auto* a, const auto* b) {
    return a->provider != b->provider ? a->provider < b->provider : a->id < b->id;
  });

  if (o.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const pricing::ModelPricing* m : selected) {
      nlohmann::ordered_json tiers = nlohmann::ordered_json::array();
      for (const pricing::PriceTier& t : m->tiers) {
        nlohmann::ordered_json tier = {{"above_input_tokens", t.above_input_tokens}};
        tier.update(PricesJson(t.prices));
        tiers.push_back(tier);
      }
      out.push_back({{"provider", m->provider},
                     {"id", m->id},
                     {"kind", m->kind},
                     {"aliases", m->aliases},
                     {"prices", PricesJson(m->prices)},
                     {"tiers", tiers},
                     {"default_max_output_tokens", m->default_max_output_tokens},
                     {"as_of", m->as_of},
                     {"source", m->source}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }

  std::vector<std::vector<std::string>> rows = {
      {"PROVIDER", "MODEL", "INPUT", "CACHED", "CACHE-WRITE", "OUTPUT", "AS OF"}};
  bool any_tiers = false;
  for (const pricing::ModelPricing* m : selected) {
    std::string id = m->id;
    if (!m->tiers.empty()) {
      id += " *";
      any_tiers = true;
    }
    rows.push_back({m->provider, id, Cell(m->prices.input), Cell(m->prices.cache_read),
                    Cell(m->prices.cache_write), Cell(m->prices.output), m->as_of});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string text = "USD per 1M tokens; \"-\" = not offered (billed at the input price)\n";
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      const bool numeric = i >= 2 && i <= 5;
      std::string pad(width[i] - row[i].size(), ' ');
      text += Cat(i == 0 ? "" : "  ", numeric ? pad + row[i] : row[i],
                  numeric || i + 1 == row.size() ? "" : pad);
    }
    // No trailing blanks when the last column is short.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    text.push_back('\n');
  }
  if (any_tiers) {
    text += Cat("* long-context tiers apply above an input size (see --json)\n");
  }
  text += Cat(selected.size(), " models\n");
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace

void RegisterPricesCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<PricesOptions>();
  CLI::App* sub = app.add_subcommand("prices", "List model prices from the pricing catalog");
  sub->add_option("--provider,-p", options->provider, "Only this provider's models");
  sub->add_flag("--json", options->json, "Print a JSON array instead of a table");
  sub->add_option("--pricing-overrides", options->pricing_overrides,
                  "Catalog file merged over the built-in prices");
  registry.Add(sub, [options] { return RunPrices(*options); });
}

}  // namespace genops::cli
