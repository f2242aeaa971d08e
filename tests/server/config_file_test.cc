#include "src/server/config_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace genops::server {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// The reference shape of DESIGN.md §6, as an operator would write it.
constexpr char kFullConfig[] = R"(
governance:
  team: platform
  project: llm-api
  environment: production
  customer_id: null
  cost_center: null
  governance_policy: enforced
  daily_budget_limit: 500.0
  max_operation_cost: 10.0
  enable_cost_alerts: true
  cost_alert_threshold: 50.0
  require_cost_approval: false
  cost_approval_threshold: 25.0
  operation_timeout: 300
budgets:
  - name: acme-monthly
    scope: {customer_id: acme}
    limit_usd: 1000
    period: month
    alert_thresholds: [0.5, 0.8, 1.0]
ledger:
  url: memory://
gateway:
  enabled: true
  listen: 127.0.0.1:8080
  allow_passthrough_keys: true
  providers:
    openai:    {base_url: https://api.openai.com, api_key_env: OPENAI_API_KEY, failover: []}
    anthropic: {base_url: https://api.anthropic.com, api_key_env: ANTHROPIC_API_KEY}
  max_concurrent_operations: 1000
  retry_attempts: 3
  circuit_breaker_threshold: 10
  circuit_breaker_timeout: 60
receiver:
  enabled: true
  otlp_http_listen: 127.0.0.1:4318
  otlp_grpc_listen: 127.0.0.1:4317
export:
  exporters: [otlp]
  otlp: {endpoint: null, headers: {}, compression: gzip, timeout_ms: 10000, failover_endpoints: []}
  file: {path: ./genops-spans.jsonl}
  sampling_rate: 1.0
  priority_sampling: true
  error_sampling_rate: 1.0
  export_batch_size: 512
  batch_timeout: 5000
  span_processor_queue_size: 2048
  max_attribute_length: 1000
  max_events_per_span: 100
  max_spans_per_operation: 50
pricing:
  overrides: null
alerts:
  webhooks: []
)";

TEST(ConfigFileTest, ReferenceShapeParsesIntoTypedConfig) {
  auto config = ParseConfigYaml(kFullConfig, "genops.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->adapter.team, "platform");
  EXPECT_EQ(config->adapter.governance_policy, PolicyLevel::kEnforced);
  ASSERT_TRUE(config->adapter.daily_budget_limit.has_value());
  EXPECT_DOUBLE_EQ(*config->adapter.daily_budget_limit, 500.0);
  ASSERT_EQ(config->adapter.budgets.size(), 1u);
  EXPECT_EQ(config->adapter.budgets[0].scope.at("customer_id"), "acme");
  EXPECT_EQ(config->adapter.budgets[0].period, "month");
  EXPECT_EQ(config->gateway.providers.at("anthropic").api_key_env, "ANTHROPIC_API_KEY");
  EXPECT_EQ(config->receiver.otlp_grpc_listen, "127.0.0.1:4317");
  EXPECT_EQ(config->adapter.exporters, std::vector<std::string>{"otlp"});
  EXPECT_EQ(config->adapter.export_timeout, 10000);
  EXPECT_FALSE(config->adapter.enable_ha);
}

TEST(ConfigFileTest, EmptyFileIsValidWithDefaults) {
  auto config = ParseConfigYaml("", "empty.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->adapter.governance_policy, PolicyLevel::kAdvisory);
  EXPECT_EQ(config->adapter.export_batch_size, 512);
  EXPECT_EQ(config->gateway.listen, "127.0.0.1:8080");
}

TEST(ConfigFileTest, UnknownKeyNamesKeyFileAndLine) {
  auto config = ParseConfigYaml("governance:\n  team: a\n  daily_budget: 5\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("ops.yaml:3"));
  EXPECT_THAT(Message(config.status()), HasSubstr("governance.daily_budget"));
  EXPECT_THAT(Message(config.status()), HasSubstr("unknown key"));
  EXPECT_THAT(Message(config.status()), HasSubstr("daily_budget_limit"));  // what is allowed
}

TEST(ConfigFileTest, UnknownTopLevelSectionIsRejected) {
  auto config = ParseConfigYaml("telemetry:\n  x: 1\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("telemetry"));
}

TEST(ConfigFileTest, BudgetLeasesAreParsedAndChecked) {
  auto config = ParseConfigYaml(
      "ledger:\n  url: sqlite://l.db\n  leases:\n    enabled: true\n    calls_per_lease: 64\n"
      "    max_headroom_share: 0.25\n    max_age_ms: 500\n    flush_interval_ms: 5\n",
      "ops.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->leases.enabled);
  EXPECT_EQ(config->leases.calls_per_lease, 64);
  EXPECT_EQ(config->leases.max_headroom_share, 0.25);
  EXPECT_EQ(config->leases.max_age_ms, 500);
  EXPECT_EQ(config->leases.flush_interval_ms, 5);
  EXPECT_FALSE(ParseConfigYaml("", "ops.yaml")->leases.enabled);  // off unless asked for

  config = ParseConfigYaml("ledger:\n  leases:\n    calls_per_lease: 1\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("ledger.leases.calls_per_lease"));
  config = ParseConfigYaml("ledger:\n  leases:\n    batch: 3\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("flush_interval_ms"));  // lists what is allowed
}

TEST(ConfigFileTest, WrongTypeIsRejected) {
  auto config = ParseConfigYaml("governance:\n  enable_cost_alerts: maybe\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("governance.enable_cost_alerts"));
  EXPECT_THAT(Message(config.status()), HasSubstr("true or false"));

  config = ParseConfigYaml("export:\n  export_batch_size: [1]\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("expected an integer"));
}

TEST(ConfigFileTest, NegativeLimitIsRejected) {
  auto config = ParseConfigYaml("governance:\n  daily_budget_limit: -5\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("governance.daily_budget_limit"));
  EXPECT_THAT(Message(config.status()), HasSubstr("negative"));

  config = ParseConfigYaml("budgets:\n  - {name: b, limit_usd: -1}\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("budgets[0].limit_usd"));
}

TEST(ConfigFileTest, UsdAmountsAreParsedExactly) {
  auto config = ParseConfigYaml("governance:\n  max_operation_cost: 1.0000000001\n", "ops.yaml");
  ASSERT_FALSE(config.ok()) << "more than nine decimals must not be rounded silently";
  config = ParseConfigYaml("governance:\n  max_operation_cost: 0.000000001\n", "ops.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
}

TEST(ConfigFileTest, UnknownPolicyLevelIsRejected) {
  auto config = ParseConfigYaml("governance:\n  governance_policy: lenient\n", "ops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("lenient"));
  EXPECT_THAT(Message(config.status()), HasSubstr("audit_only, advisory, enforced or strict"));
}

TEST(ConfigFileTest, BadBudgetsAreRejected) {
  EXPECT_THAT(
      Message(ParseConfigYaml("budgets:\n  - {name: b, limit_usd: 1, scope: {region: eu}}\n", "f")
                  .status()),
      HasSubstr("unknown scope key \"region\""));
  EXPECT_THAT(
      Message(
          ParseConfigYaml("budgets:\n  - {name: b, limit_usd: 1, period: year}\n", "f").status()),
      HasSubstr("day, week, month, total"));
  EXPECT_THAT(Message(ParseConfigYaml("budgets:\n  - {limit_usd: 1}\n", "f").status()),
              HasSubstr("name is required"));
  EXPECT_THAT(
      Message(ParseConfigYaml("budgets:\n  - {name: b, limit_usd: 1, owner: x}\n", "f").status()),
      HasSubstr("budgets[0].owner"));
}

TEST(ConfigFileTest, FailoverEndpointsEnableHa) {
  auto config = ParseConfigYaml(
      "export:\n  otlp:\n    failover_endpoints: [http://127.0.0.1:1/v1/traces]\n", "f");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->adapter.enable_ha);
  EXPECT_EQ(config->adapter.failover_regions.size(), 1u);
}

TEST(ConfigFileTest, InvalidYamlReportsPosition) {
  auto config = ParseConfigYaml("governance:\n  team: [unclosed\n", "broken.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("broken.yaml:"));
  EXPECT_THAT(Message(config.status()), HasSubstr("not valid YAML"));
}

TEST(ConfigFileTest, MissingFileNamesPath) {
  auto config = LoadConfigFile("/nonexistent/genops.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config.status()), HasSubstr("/nonexistent/genops.yaml"));
}

TEST(ConfigFileTest, ReferenceDocumentsEveryKeyOnce) {
  const auto& docs = ConfigReference();
  std::set<std::string> seen;
  for (const auto& d : docs) {
    EXPECT_TRUE(seen.insert(d.path).second) << d.path;
    EXPECT_FALSE(d.description.empty()) << d.path;
  }
  EXPECT_TRUE(seen.count("governance.daily_budget_limit"));
  EXPECT_THAT(ConfigReferenceMarkdown(), HasSubstr("`export.sampling_rate`"));
  // A '|' in a cell is escaped so the Markdown table keeps its columns.
  EXPECT_THAT(ConfigReferenceMarkdown(), HasSubstr("audit_only \\| advisory"));
}

}  // namespace
}  // namespace genops::server
