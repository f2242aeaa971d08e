// Multi-provider cost tracking (seed: "Advanced Configuration / Multi-Provider Cost
// Tracking").
//
// One tracker with unified, enforced governance over OpenAI, Anthropic and Google. An OpenAI
// chat completion and an Anthropic message (both with prompt-cache hits, whose accounting
// differs between the two APIs) are recorded from their raw response bodies. The example
// proves that summary() shows each provider's cost equal to the catalog price of the usage
// the fake provider reported (computed here by hand from data/pricing_catalog.json), that the
// unused provider shows zero, that the total is exactly their sum, and that a provider
// outside the list is refused under enforced governance.
// (The seed writes "gemini"; GenOps names the provider "google", as its catalog does.)
//
// Run: ./example_multi_provider [--catalog data/pricing_catalog.json]
#include <iostream>
#include <string>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/hand_pricing.h"
#include "support/llm_client.h"

namespace {

using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::HandCost;
using genops::examples::LlmClient;
using genops::examples::ProviderApi;
using genops::examples::Section;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

constexpr char kLongContext[] =
    "You are the support assistant of an online bookshop. Answer briefly, cite the order "
    "number when one is given, and never promise refunds: route them to a human agent. "
    "Opening hours are 9 to 17 CET on working days; shipping within the EU takes three to "
    "five days, elsewhere up to three weeks.";

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());

  Section("multi_provider_cost_tracking([openai, anthropic, google], ...)");
  genops::AdapterConfig config;
  config.team = "multi-provider-team";
  config.project = "provider-comparison";
  config.environment = "production";
  config.daily_budget_limit = 200.0;
  config.enable_cost_alerts = true;
  config.governance_policy = genops::PolicyLevel::kEnforced;
  config.exporters = {"none"};
  config.enable_traceloop_platform = false;
  auto tracker =
      ValueOrDie(genops::multi_provider_cost_tracking({"openai", "anthropic", "google"}, config),
                 "multi_provider_cost_tracking");
  genops::Adapter& adapter = tracker->adapter();

  Section("an OpenAI chat completion (prompt_tokens include cached_tokens)");
  ChatRequest openai_request{
      .model = "gpt-4o-mini",
      .messages = {{"system", kLongContext}, {"user", "Where is order 1234?"}},
      .max_tokens = 150};
  provider->set_cache_tokens(/*cache_read=*/64, /*cache_write=*/0);
  const genops::Usage openai_usage = provider->ExpectedUsage(openai_request, ProviderApi::kOpenAi);
  genops::Money openai_cost;
  {
    genops::TrackOptions options;
    options.provider = "openai";
    options.model = openai_request.model;
    options.max_output_tokens = openai_request.max_tokens;
    genops::Operation op = adapter.track_operation("chat_completion", "support_answer", options);
    std::string body = ValueOrDie(client.ChatCompletion(openai_request), "the OpenAI call");
    genops::examples::OkOrDie(op.record_response("openai", body), "record_response(openai)");
    op.end();
    genops::OperationMetrics metrics = op.get_metrics();
    openai_cost = metrics.cost;
    std::cout << "usage: " << metrics.usage.input_tokens << " input ("
              << metrics.usage.cache_read_tokens << " cached) + " << metrics.usage.output_tokens
              << " output -> " << Usd(openai_cost) << "\n";
    EXPECT_OR_DIE(metrics.usage == openai_usage, "the OpenAI usage is normalised correctly");
  }

  Section("an Anthropic message (input_tokens exclude cache reads and writes)");
  ChatRequest anthropic_request{
      .model = "claude-sonnet-4",
      .messages = {{"system", kLongContext}, {"user", "Can I still change my address?"}},
      .max_tokens = 300};
  provider->set_cache_tokens(/*cache_read=*/40, /*cache_write=*/16);
  const genops::Usage anthropic_usage =
      provider->ExpectedUsage(anthropic_request, ProviderApi::kAnthropic);
  genops::Money anthropic_cost;
  {
    genops::TrackOptions options;
    options.provider = "anthropic";
    options.model = anthropic_request.model;
    options.max_output_tokens = anthropic_request.max_tokens;
    genops::Operation op = adapter.track_operation("chat_completion", "support_answer", options);
    std::string body = ValueOrDie(client.Messages(anthropic_request), "the Anthropic call");
    genops::examples::OkOrDie(op.record_response("anthropic", body), "record_response(anthropic)");
    op.end();
    genops::OperationMetrics metrics = op.get_metrics();
    anthropic_cost = metrics.cost;
    std::cout << "usage: " << metrics.usage.input_tokens << " input ("
              << metrics.usage.cache_read_tokens << " cache reads, "
              << metrics.usage.cache_write_tokens << " cache writes) + "
              << metrics.usage.output_tokens << " output -> " << Usd(anthropic_cost) << "\n";
    EXPECT_OR_DIE(metrics.usage == anthropic_usage, "the Anthropic usage is normalised: input "
                                                        << metrics.usage.input_tokens << " vs "
                                                        << anthropic_usage.input_tokens);
  }
  provider->set_cache_tokens(0, 0);

  Section("a provider outside the list is refused under enforced governance");
  {
    genops::TrackOptions options;
    options.provider = "mistral";
    options.model = "mistral-large-latest";
    options.max_output_tokens = 100;
    genops::Operation op = adapter.try_track_operation("chat_completion", "off_list", options);
    std::cout << "mistral: " << genops::DecisionResultName(op.decision().result) << ": "
              << op.decision().message << "\n";
    EXPECT_OR_DIE(!op.allowed(), "an unlisted provider is refused under enforced");
  }
  EXPECT_OR_DIE(provider->request_count() == 2, "only the two admitted calls were made");

  Section("hand computation from the catalog file");
  auto mini = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o-mini"),
                         "gpt-4o-mini in the catalog file");
  auto sonnet =
      ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "anthropic", "claude-sonnet-4"),
                 "claude-sonnet-4 in the catalog file");
  const genops::Money openai_hand = HandCost(mini, openai_usage);
  const genops::Money anthropic_hand = HandCost(sonnet, anthropic_usage);
  std::cout << "gpt-4o-mini: " << Usd(openai_hand) << "  claude-sonnet-4: " << Usd(anthropic_hand)
            << "\n";
  EXPECT_OR_DIE(openai_cost == openai_hand,
                "OpenAI cost " << Usd(openai_cost) << " == catalog price " << Usd(openai_hand));
  EXPECT_OR_DIE(anthropic_cost == anthropic_hand, "Anthropic cost " << Usd(anthropic_cost)
                                                                    << " == catalog price "
                                                                    << Usd(anthropic_hand));

  Section("summary()");
  genops::MultiProviderCostTracker::Summary summary = tracker->summary();
  std::cout << summary.ToString() << "\n";
  for (const char* name : {"openai", "anthropic", "google"}) {
    EXPECT_OR_DIE(summary.by_provider.count(name) == 1,
                  "the listed provider " << name << " has a row");
  }
  const genops::CostTotals& openai = summary.by_provider.at("openai");
  const genops::CostTotals& anthropic = summary.by_provider.at("anthropic");
  const genops::CostTotals& google = summary.by_provider.at("google");
  EXPECT_OR_DIE(openai.operations == 1 && openai.cost == openai_hand,
                "openai row: " << openai.operations << " op(s), " << Usd(openai.cost));
  EXPECT_OR_DIE(anthropic.operations == 1 && anthropic.cost == anthropic_hand,
                "anthropic row: " << anthropic.operations << " op(s), " << Usd(anthropic.cost));
  EXPECT_OR_DIE(google.cost == genops::Money::Zero() && google.operations == 0,
                "the unused provider shows zero");
  EXPECT_OR_DIE(openai.usage.input_tokens == openai_usage.input_tokens &&
                    anthropic.usage.cache_read_tokens == anthropic_usage.cache_read_tokens,
                "token totals per provider");
  EXPECT_OR_DIE(summary.total.cost == openai_hand + anthropic_hand,
                "the total " << Usd(summary.total.cost) << " is exactly the sum "
                             << Usd(openai_hand + anthropic_hand));
  EXPECT_OR_DIE(summary.budget_remaining.has_value() &&
                    *summary.budget_remaining ==
                        genops::Money::FromUsdString("200").value() - summary.total.cost,
                "the unified $200 daily budget is charged with both providers' spend");

  std::cout << "\nexample multi_provider: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
