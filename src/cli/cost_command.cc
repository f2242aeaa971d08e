// `genops cost`: the exact cost of a given usage for a model, from the pricing catalog.
//
//   genops cost --model gpt-4o-2024-08-06 --input 12000 --output 800 --cache-read 4000
//   genops cost --model claude-sonnet-4 --provider anthropic --input 1000 --output 10 --json
//
// Exit codes: 0 priced, 1 the catalog could not be loaded, 2 usage error or unknown model.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genops/money.h"
#include "genops/usage.h"
#include "src/cli/commands.h"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/core/text.h"

namespace genops::cli {
namespace {

struct CostOptions {
  std::string model;
  std::string provider;
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_write = 0;
  int64_t reasoning = 0;
  bool json = false;
  std::string pricing_overrides;
};

absl::StatusOr<std::unique_ptr<pricing::Catalog>> LoadCatalog(const std::string& overrides) {
  if (overrides.empty()) return pricing::Catalog::Builtin();
  return pricing::Catalog::BuiltinWithOverrides(overrides);
}

struct Row {
  std::string component;
  int64_t tokens;
  int64_t price;  // micro-USD per 1M tokens
  Money cost;
};

std::string Pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  std::string pad(width - s.size(), ' ');
  return right ? pad + s : s + pad;
}

std::string WithThousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

int RunCost(const CostOptions& o) {
  absl::StatusOr<std::unique_ptr<pricing::Catalog>> catalog = LoadCatalog(o.pricing_overrides);
  if (!catalog.ok()) {
    std::fprintf(stderr, "genops cost: cannot load the pricing catalog: %s\n",
                 std::string(catalog.status().message()).c_str());
    return 1;
  }
  const pricing::ModelPricing* m = (*catalog)->Find(o.provider, o.model);
  if (m == nullptr) {
    std::string msg = Cat("genops cost: unknown model \"", o.model, "\"");
    if (!o.provider.empty()) msg += Cat(" for provider \"", o.provider, "\"");
    msg += Cat(": it is not in the pricing catalog.");
    std::vector<std::string> close = (*catalog)->ClosestMatches(o.model, 3);
    if (!close.empty()) msg += Cat(" Did you mean: ", Join(close, ", "), "?");
    msg +=
        Cat(" Run `genops prices` for the known models, or add it with "
            "--pricing-overrides FILE.\n");
    std::fputs(msg.c_str(), stderr);
    return 2;
  }
  Usage usage{.input_tokens = o.input,
              .cache_read_tokens = o.cache_read,
              .cache_write_tokens = o.cache_write,
              .output_tokens = o.output,
              .reasoning_tokens = o.reasoning};
  if (absl::Status s = usage.Validate(); !s.ok()) {
    std::fprintf(stderr,
                 "genops cost: %s\n(--input counts every prompt token, cached ones included; "
                 "--output counts every generated token, reasoning included)\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  const pricing::CostBreakdown c = pricing::ComputeCost(*m, usage);
  const pricing::TokenPrices& p = m->PricesFor(usage.input_tokens);
  const bool distinct_reasoning = p.reasoning != pricing::kNoPrice;
  auto or_input = [&](int64_t price) { return price == pricing::kNoPrice ? p.input : price; };
  std::vector<Row> rows = {
      {"input", usage.uncached_input_tokens(), p.input, c.input},
      {"cache_read", usage.cache_read_tokens, or_input(p.cache_read), c.cache_read},
      {"cache_write", usage.cache_write_tokens, or_input(p.cache_write), c.cache_write},
      {"output",
       distinct_reasoning ? usage.output_tokens - usage.reasoning_tokens : usage.output_tokens,
       p.output, c.output},
  };
  if (distinct_reasoning) {
    rows.push_back({"reasoning", usage.reasoning_tokens, p.reasoning, c.reasoning});
  }

  if (o.json) {
    nlohmann::ordered_json out;
    out["provider"] = m->provider;
    out["model"] = o.model;
    out["resolved_model"] = m->id;
    out["cost_usd"] = c.total.usd();
    out["cost_nanos"] = c.total.nanos();
    out["cost_usd_exact"] = c.total.ToUsdString();
    out["total_picos"] = c.total_picos;
    nlohmann::ordered_json breakdown = nlohmann::ordered_json::object();
    for (const Row& r : rows) {
      breakdown[r.component] = {{"tokens", r.tokens},
                                {"price_per_million_usd", pricing::PriceToString(r.price)},
                                {"cost_usd", r.cost.usd()},
                                {"cost_nanos", r.cost.nanos()}};
    }
    if (!distinct_reasoning) {
      breakdown["output"]["reasoning_tokens_included"] = usage.reasoning_tokens;
    }
    out["breakdown"] = breakdown;
    out["long_context_tier"] = c.long_context_tier;
    out["as_of"] = m->as_of;
    out["source"] = m->source;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }

  std::string text = Cat("model     ", m->provider, "/", m->id);
  if (o.model != m->id) text += Cat(" (requested \"", o.model, "\")");
  text += Cat("\nprices    USD per 1M tokens, as of ", m->as_of.empty() ? "unknown" : m->as_of);
  if (!m->source.empty()) text += Cat(" (", m->source, ")");
  if (c.long_context_tier) {
    text += Cat("\ntier      long-context prices (input above a tier threshold)");
  }
  text += Cat("\n\n");
  std::vector<std::vector<std::string>> cells = {{"component", "tokens", "price/1M", "cost"}};
  for (const Row& r : rows) {
    // Cache rows only matter when the call used the cache.
    if ((r.component == "cache_read" || r.component == "cache_write") && r.tokens == 0) continue;
    std::string name = r.component;
    if (r.component == "output" && !distinct_reasoning && usage.reasoning_tokens > 0) {
      name = Cat("output (", WithThousands(usage.reasoning_tokens), " reasoning)");
    }
    cells.push_back({name, WithThousands(r.tokens), "$" + pricing::PriceToString(r.price),
                     "$" + r.cost.ToUsdString()});
  }
  cells.push_back({"total", WithThousands(usage.total_tokens()), "", "$" + c.total.ToUsdString()});
  std::vector<size_t> width(4, 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (size_t r = 0; r < cells.size(); ++r) {
    if (r + 1 == cells.size()) {
      text += Cat(std::string(width[0] + width[1] + width[2] + width[3] + 6, '-'), "\n");
    }
    const auto& row = cells[r];
    text += Cat(Pad(row[0], width[0], false), "  ", Pad(row[1], width[1], true), "  ",
                Pad(row[2], width[2], true), "  ", Pad(row[3], width[3], true), "\n");
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace

void RegisterCostCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<CostOptions>();
  CLI::App* sub = app.add_subcommand(
      "cost", "Price a token usage for a model from the pricing catalog (exact, nano-USD)");
  sub->add_option("--model,-m", options->model,
                  "Model id as the provider reports it (dated ids resolve, e.g. "
                  "gpt-4o-2024-08-06)")
      ->required();
  sub->add_option("--provider,-p", options->provider,
                  "Provider (openai, anthropic, google, aws_bedrock, ...); default: any");
  sub->add_option("--input", options->input, "Prompt tokens, cached ones included")
      ->check(CLI::Range(int64_t{0}, Usage::kMaxTokens));
  sub->add_option("--output", options->output, "Generated tokens, reasoning included")
      ->check(CLI::Range(int64_t{0}, Usage::kMaxTokens));
  sub->add_option("--cache-read", options->cache_read, "Prompt tokens read from the cache")
      ->check(CLI::Range(int64_t{0}, Usage::kMaxTokens));
  sub->add_option("--cache-write", options->cache_write, "Prompt tokens written to the cache")
      ->check(CLI::Range(int64_t{0}, Usage::kMaxTokens));
  sub->add_option("--reasoning", options->reasoning, "Output tokens spent on reasoning")
      ->check(CLI::Range(int64_t{0}, Usage::kMaxTokens));
  sub->add_flag("--json", options->json, "Print JSON instead of a table");
  sub->add_option("--pricing-overrides", options->pricing_overrides,
                  "Catalog file merged over the built-in prices");
  registry.Add(sub, [options] { return RunCost(*options); });
}

}  // namespace genops::cli
