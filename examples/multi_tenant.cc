// Multi-tenant applications (seed: "Advanced Use Cases / Multi-Tenant Applications").
//
// create_tenant_adapter(tenant_id, tier) with the seed's tier tables: daily budgets of
// $10 / $100 / $1000 and per-operation caps of $0.10 / $1 / $10 for free / pro / enterprise,
// under enforced governance (the seed's troubleshooting section: enforcement needs
// governance_policy="enforced"). The example proves:
//   - the same expensive request (a long answer from gpt-4o) is blocked for a free-tier tenant
//     before reaching the provider and runs for pro and enterprise tenants;
//   - each tenant's spend is attributed to it (team tenant-<id>, customer_id) on its spans;
//   - a free tenant's daily budget holds: small operations run until the $10 is used up, then
//     the next one is refused with budget_exceeded, and the spend never exceeds the limit.
//
// Run: ./example_multi_tenant [--catalog data/pricing_catalog.json]
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/hand_pricing.h"
#include "support/llm_client.h"
#include "support/temp_dir.h"

namespace {

using genops::DecisionReason;
using genops::DecisionResult;
using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::ProviderApi;
using genops::examples::Section;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

std::string g_span_dir;  // every tenant adapter writes <dir>/<tenant>.jsonl

double TierValue(const std::map<std::string, double>& table, const std::string& tier,
                 double fallback) {
  auto it = table.find(tier);
  return it == table.end() ? fallback : it->second;
}

// The seed's create_tenant_adapter().
std::shared_ptr<genops::Adapter> CreateTenantAdapter(const std::string& tenant_id,
                                                     const std::string& tier) {
  genops::AdapterConfig config;
  config.team = "tenant-" + tenant_id;
  config.project = "multi-tenant-llm";
  config.customer_id = tenant_id;
  // Tier-based budgets
  config.daily_budget_limit =
      TierValue({{"free", 10.0}, {"pro", 100.0}, {"enterprise", 1000.0}}, tier, 10.0);
  // Tier-based limits
  config.max_operation_cost =
      TierValue({{"free", 0.10}, {"pro", 1.0}, {"enterprise", 10.0}}, tier, 0.10);
  config.governance_policy = genops::PolicyLevel::kEnforced;
  config.tags = {{"tier", tier}};
  config.exporters = {"file"};
  config.file_path = g_span_dir + "/" + tenant_id + ".jsonl";
  config.enable_traceloop_platform = false;
  return ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop for " + tenant_id);
}

std::string Describe(const genops::Decision& decision) {
  return std::string(genops::DecisionResultName(decision.result)) + " (" +
         std::string(genops::DecisionReasonName(decision.reason)) + ", estimate " +
         Usd(decision.estimate) + ")";
}

int Run(int argc, char** argv) {
  const std::string catalog_path = genops::examples::FindCatalogFile(argc, argv);
  EXPECT_OR_DIE(!catalog_path.empty(),
                "cannot find data/pricing_catalog.json; pass --catalog PATH");
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("multi_tenant");
  g_span_dir = dir.path().string();

  // A long report: up to 16k output tokens of gpt-4o, a worst case between the free tier's
  // $0.10 cap and the pro tier's $1 cap.
  const ChatRequest expensive{.model = "gpt-4o",
                              .messages = {{"user", "Write the full migration report."}},
                              .max_tokens = 16'000};
  auto prices = ValueOrDie(genops::examples::LoadHandPrices(catalog_path, "openai", "gpt-4o"),
                           "gpt-4o in the catalog file");
  const genops::Money expected_cost =
      genops::examples::HandCost(prices, provider->ExpectedUsage(expensive, ProviderApi::kOpenAi));

  struct Tenant {
    std::string id;
    std::string tier;
    bool expect_allowed;
  };
  const Tenant tenants[] = {{"tenant-free-1", "free", false},
                            {"tenant-pro-7", "pro", true},
                            {"tenant-123", "enterprise", true}};

  Section("the same expensive request for each tier");
  for (const Tenant& tenant : tenants) {
    auto adapter = CreateTenantAdapter(tenant.id, tenant.tier);
    const int64_t calls_before = provider->request_count();
    genops::TrackOptions options;
    options.provider = "openai";
    options.model = expensive.model;
    options.estimated_input_tokens = FakeProvider::PromptTokens(expensive.messages);
    options.max_output_tokens = expensive.max_tokens;
    genops::Operation span =
        adapter->try_track_operation("customer_query", "support_request", options);
    std::cout << tenant.id << " (" << tenant.tier << "): " << Describe(span.decision()) << "\n";
    EXPECT_OR_DIE(span.decision().estimate > genops::Money::FromUsdString("0.10").value() &&
                      span.decision().estimate < genops::Money::FromUsdString("1").value(),
                  "the worst case lies between the free and the pro cap");
    if (!tenant.expect_allowed) {
      EXPECT_OR_DIE(span.decision().result == DecisionResult::kBlocked &&
                        span.decision().reason == DecisionReason::kOperationCostExceeded,
                    "the free tier's $0.10 cap blocks it");
      EXPECT_OR_DIE(provider->request_count() == calls_before,
                    "the blocked request never reached the provider");
    } else {
      EXPECT_OR_DIE(span.allowed(), tenant.tier << " may run it");
      std::string body = ValueOrDie(client.ChatCompletion(expensive), "the chat completion");
      genops::examples::OkOrDie(span.record_response("openai", body), "record_response");
      span.add_attributes({{"tenant.id", tenant.id}, {"tenant.tier", tenant.tier}});
      span.end();
      EXPECT_OR_DIE(span.get_metrics().cost == expected_cost,
                    "charged the catalog price " << Usd(expected_cost));
      EXPECT_OR_DIE(provider->request_count() == calls_before + 1, "one provider call");
      genops::AdapterMetrics metrics = adapter->get_metrics();
      EXPECT_OR_DIE(metrics.daily_usage == expected_cost,
                    "the spend is the tenant's own: " << Usd(metrics.daily_usage));
    }
    span.end();
    adapter->shutdown();
  }

  Section("the spans are attributed per tenant");
  for (const Tenant& tenant : tenants) {
    auto spans = genops::examples::ReadSpansOrDie(g_span_dir + "/" + tenant.id + ".jsonl");
    auto mine = genops::examples::SpansWithAttribute(spans, "genops.customer_id", tenant.id);
    EXPECT_OR_DIE(mine.size() == 1, "one span for " << tenant.id << ", got " << mine.size());
    std::cout << "  " << tenant.id << ": team=" << mine[0].Text("genops.team")
              << " tier=" << mine[0].Text("genops.tag.tier")
              << " result=" << mine[0].Text("genops.policy.result") << "\n";
    EXPECT_OR_DIE(mine[0].Text("genops.team") == "tenant-" + tenant.id, "genops.team");
    EXPECT_OR_DIE(mine[0].Text("genops.tag.tier") == tenant.tier, "the tier tag");
    EXPECT_OR_DIE(
        mine[0].Text("genops.policy.result") == (tenant.expect_allowed ? "allowed" : "blocked"),
        "genops.policy.result");
  }

  Section("a free tenant's $10 daily budget");
  {
    auto adapter = CreateTenantAdapter("tenant-burst", "free");
    // Each operation is a $0.10 job whose exact price the caller knows (update_cost).
    const genops::Money limit = genops::Money::FromUsdString("10").value();
    int allowed = 0;
    genops::Decision refusal;
    for (int i = 0; i < 200; ++i) {
      genops::TrackOptions options;
      options.estimated_cost = 0.10;
      genops::Operation op = adapter->try_track_operation("batch_job", "nightly_digest", options);
      if (!op.allowed()) {
        refusal = op.decision();
        break;
      }
      ++allowed;
      op.update_cost(0.10);
    }
    genops::AdapterMetrics metrics = adapter->get_metrics();
    std::cout << allowed << " jobs ran, spent " << Usd(metrics.daily_usage) << "; then "
              << Describe(refusal) << ": " << refusal.message << "\n";
    EXPECT_OR_DIE(refusal.result == DecisionResult::kBlocked &&
                      refusal.reason == DecisionReason::kBudgetExceeded,
                  "the budget refuses once used up, got " << Describe(refusal));
    EXPECT_OR_DIE(metrics.daily_usage <= limit, "the spend never exceeds the daily limit");
    EXPECT_OR_DIE(metrics.daily_usage + genops::Money::FromUsdString("0.10").value() > limit,
                  "and the budget was used up to the last job that fit");
    adapter->shutdown();
  }

  std::cout << "\nexample multi_tenant: OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
