// Manual instrumentation (seed: "Basic Integration / Manual Instrumentation" and the
// EnhancedSpan API reference).
//
// Builds an adapter with instrument_traceloop() and the seed's settings (daily budget $100,
// $5 per operation), wraps a chat completion in track_operation() with tags, records the
// provider's raw response, and adds the seed's business attributes. The spans go to a JSON
// lines file, which the example reads back to prove what a backend would see: the governance
// attribution, the exact cost and the custom business.* attributes. It also exercises the
// rest of the EnhancedSpan API (update_token_usage, update_cost, the per-call max_cost).
//
// Run: ./example_manual_instrumentation [--catalog data/pricing_catalog.json]
#include <iostream>
#include <string>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/hand_pricing.h"
#include "support/llm_client.h"
#include "support/temp_dir.h"

namespace {

using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::HandCost;
using genops::examples::LlmClient;
using genops::examples::ProviderApi;
using genops::examples::Section;
using genops::examples::SpanRecord;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("manual_instrumentation");
  const std::string span_file = (dir.path() / "spans.jsonl").string();

  Section("instrument_traceloop(...) with the seed's settings");
  genops::AdapterConfig config;
  config.team = "engineering-team";
  config.project = "llm-chatbot";
  config.environment = "production";
  config.customer_id = "enterprise-123";
  config.cost_center = "r-and-d";
  config.enable_governance = true;
  config.daily_budget_limit = 100.0;
  config.max_operation_cost = 5.0;
  config.enable_cost_alerts = true;
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;  // hermetic even when TRACELOOP_API_KEY is set
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");
  std::cout << "adapter for team=" << config.team << " project=" << config.project << ", spans -> "
            << span_file << "\n";

  Section("track_operation(chat_completion, customer_query) around a gpt-4o call");
  ChatRequest request{.model = "gpt-4o",
                      .messages = {{"user",
                                    "Complex analysis request: compare our Q3 support "
                                    "tickets with Q2 and list the three biggest changes."}},
                      .max_tokens = 200};
  const genops::Usage expected_usage = provider->ExpectedUsage(request, ProviderApi::kOpenAi);
  std::string operation_id;
  std::string trace_id;
  std::string span_id;
  genops::Money cost;
  {
    genops::TrackOptions options;
    options.tags = {{"priority", "high"}, {"use_case", "support"}};
    options.provider = "openai";
    options.model = request.model;
    options.estimated_input_tokens = FakeProvider::PromptTokens(request.messages);
    options.max_output_tokens = request.max_tokens;
    genops::Operation span = adapter->track_operation("chat_completion", "customer_query", options);
    EXPECT_OR_DIE(span.decision().result == genops::DecisionResult::kAllowed,
                  "a small call within every limit is allowed, got "
                      << genops::DecisionResultName(span.decision().result) << ": "
                      << span.decision().message);
    std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
    genops::examples::OkOrDie(span.record_response("openai", body), "record_response");
    span.add_attributes({{"business.customer_tier", std::string("enterprise")},
                         {"business.revenue_impact", 5000.0},
                         {"quality.satisfaction_score", 0.95}});
    span.end();
    genops::OperationMetrics metrics = span.get_metrics();
    operation_id = span.operation_id();
    trace_id = span.trace_id();
    span_id = span.span_id();
    cost = metrics.cost;
    std::cout << "operation " << operation_id << ": " << metrics.usage.input_tokens << " input + "
              << metrics.usage.output_tokens << " output tokens of " << metrics.model << " = "
              << Usd(cost) << "\n";
    EXPECT_OR_DIE(metrics.ended, "end() ends the operation");
    EXPECT_OR_DIE(metrics.usage == expected_usage,
                  "usage read from the response body: input "
                      << metrics.usage.input_tokens << " output " << metrics.usage.output_tokens
                      << ", the fake sent input " << expected_usage.input_tokens << " output "
                      << expected_usage.output_tokens);
    EXPECT_OR_DIE(metrics.priced, "gpt-4o is in the catalog, so the operation is priced");
  }

  // Cross-check the price against a hand computation from the catalog file.
  auto gpt4o = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o"),
                          "gpt-4o in the catalog file");
  const genops::Money hand_cost = HandCost(gpt4o, expected_usage);
  std::cout << "hand computation from " << catalog_path << ": " << Usd(hand_cost) << "\n";
  EXPECT_OR_DIE(cost == hand_cost,
                "GenOps' cost " << Usd(cost) << " equals the catalog price " << Usd(hand_cost));
  EXPECT_OR_DIE(cost > genops::Money::Zero(), "the call cost something");

  Section("EnhancedSpan.update_token_usage / update_cost");
  genops::Money token_cost;
  {
    // A call whose client reports token counts instead of a raw body.
    genops::TrackOptions options;
    options.provider = "openai";
    options.model = "gpt-4o";
    options.max_output_tokens = 500;
    genops::Operation span =
        adapter->track_operation("chat_completion", "summarise_thread", options);
    span.update_token_usage(1000, 500);
    span.end();
    token_cost = span.get_metrics().cost;
    const genops::Money expected =
        HandCost(gpt4o, genops::Usage{.input_tokens = 1000, .output_tokens = 500});
    std::cout << "update_token_usage(1000, 500) on gpt-4o -> " << Usd(token_cost) << "\n";
    EXPECT_OR_DIE(token_cost == expected, "token usage is priced from the catalog: "
                                              << Usd(token_cost) << " vs " << Usd(expected));
  }
  genops::Money exact_cost;
  {
    // A call whose exact price the caller already knows (e.g. from an invoice line).
    genops::Operation span = adapter->track_operation("fine_tune_eval", "nightly_eval");
    span.update_cost(0.0123);
    span.end();
    exact_cost = span.get_metrics().cost;
    std::cout << "update_cost(0.0123) -> " << Usd(exact_cost) << "\n";
    EXPECT_OR_DIE(exact_cost == genops::Money::FromUsdString("0.0123").value(),
                  "update_cost sets the exact cost, got " << Usd(exact_cost));
  }

  Section("per-call max_cost under the default (advisory) policy");
  {
    // $0.000001 is far below the worst case of 200 gpt-4o output tokens. The seed's default
    // policy is advisory: the rule is reported, the call still runs.
    genops::TrackOptions options;
    options.max_cost = 0.000001;
    options.provider = "openai";
    options.model = "gpt-4o";
    options.max_output_tokens = 200;
    genops::Operation span = adapter->track_operation("chat_completion", "tiny_cap", options);
    std::cout << "decision: " << genops::DecisionResultName(span.decision().result) << " ("
              << genops::DecisionReasonName(span.decision().reason) << ")\n";
    EXPECT_OR_DIE(span.decision().result == genops::DecisionResult::kWarned &&
                      span.decision().reason == genops::DecisionReason::kOperationCostExceeded,
                  "advisory policy warns about max_cost instead of blocking, got "
                      << genops::DecisionResultName(span.decision().result));
    EXPECT_OR_DIE(span.allowed(), "a warned operation may proceed");
    span.record_error("skipped by the example: nothing was called");
  }

  Section("adapter.get_metrics()");
  genops::AdapterMetrics metrics = adapter->get_metrics();
  std::cout << metrics.ToJson() << "\n";
  const genops::Money total = cost + token_cost + exact_cost;
  EXPECT_OR_DIE(metrics.operation_count == 4,
                "4 operations tracked, got " << metrics.operation_count);
  EXPECT_OR_DIE(metrics.daily_usage == total,
                "daily usage " << Usd(metrics.daily_usage) << " is the exact sum " << Usd(total));
  EXPECT_OR_DIE(
      metrics.budget_remaining.has_value() &&
          *metrics.budget_remaining == genops::Money::FromUsdString("100").value() - total,
      "budget remaining is $100 minus the spend");
  EXPECT_OR_DIE(metrics.governance_enabled, "governance is enabled");

  Section("the exported span, read back from the file");
  genops::examples::FlushOrDie(*adapter);
  std::vector<SpanRecord> spans = genops::examples::ReadSpansOrDie(span_file);
  std::cout << spans.size() << " spans in " << span_file << "\n";
  std::optional<SpanRecord> found = genops::examples::SpanWithId(spans, span_id);
  EXPECT_OR_DIE(found.has_value(), "the customer_query span " << span_id << " was exported");
  const SpanRecord& span = *found;
  for (const char* key :
       {"genops.team", "genops.project", "genops.environment", "genops.customer_id",
        "genops.cost_center", "genops.cost.total", "genops.tag.priority", "business.customer_tier",
        "business.revenue_impact", "quality.satisfaction_score"}) {
    std::cout << "  " << key << " = " << span.Text(key) << "\n";
  }
  EXPECT_OR_DIE(span.trace_id == trace_id, "the span's trace id is the operation's");
  EXPECT_OR_DIE(span.Text("genops.team") == "engineering-team", "genops.team on the span");
  EXPECT_OR_DIE(span.Text("genops.project") == "llm-chatbot", "genops.project on the span");
  EXPECT_OR_DIE(span.Text("genops.environment") == "production", "genops.environment");
  EXPECT_OR_DIE(span.Text("genops.customer_id") == "enterprise-123", "genops.customer_id");
  EXPECT_OR_DIE(span.Text("genops.cost_center") == "r-and-d", "genops.cost_center");
  EXPECT_OR_DIE(span.Text("genops.tag.priority") == "high", "the priority tag");
  EXPECT_OR_DIE(span.Text("genops.tag.use_case") == "support", "the use_case tag");
  EXPECT_OR_DIE(span.Number("genops.cost.total").value_or(0) > 0, "genops.cost.total > 0");
  EXPECT_OR_DIE(genops::examples::SameUsd(span.Number("genops.cost.total"), cost),
                "genops.cost.total " << span.Text("genops.cost.total") << " shows " << Usd(cost));
  EXPECT_OR_DIE(
      span.Number("gen_ai.usage.input_tokens") == static_cast<double>(expected_usage.input_tokens),
      "gen_ai.usage.input_tokens on the span");
  EXPECT_OR_DIE(span.Number("gen_ai.usage.output_tokens") ==
                    static_cast<double>(expected_usage.output_tokens),
                "gen_ai.usage.output_tokens on the span");
  EXPECT_OR_DIE(span.Text("business.customer_tier") == "enterprise",
                "the custom business.customer_tier attribute");
  EXPECT_OR_DIE(span.Number("business.revenue_impact") == 5000.0,
                "the custom business.revenue_impact attribute");
  EXPECT_OR_DIE(span.Number("quality.satisfaction_score") == 0.95,
                "the custom quality.satisfaction_score attribute");
  EXPECT_OR_DIE(provider->request_count() == 1, "exactly one provider call was made");

  adapter->shutdown();
  std::cout << "\nexample manual_instrumentation: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
