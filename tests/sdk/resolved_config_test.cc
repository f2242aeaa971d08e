#include "src/sdk/resolved_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace genops::sdk {
namespace {

using ::testing::HasSubstr;

AdapterConfig Base() {
  AdapterConfig c;
  c.team = "t";
  c.project = "p";
  return c;
}

std::string Error(const AdapterConfig& c, const MapEnvironment& env = {}) {
  auto r = ResolveConfig(c, env);
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(ResolvedConfigTest, DefaultsResolve) {
  MapEnvironment env;
  auto r = ResolveConfig(Base(), env);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->governance.defaults.environment, "development");
  EXPECT_EQ(r->governance.level, PolicyLevel::kAdvisory);
  EXPECT_TRUE(r->export_settings.exporters.empty()) << "no endpoint, no exporter";
  EXPECT_EQ(r->export_settings.batch_size, 512);
}

TEST(ResolvedConfigTest, AttributionFallsBackToEnvironment) {
  MapEnvironment env({{"GENOPS_TEAM", "env-team"},
                      {"GENOPS_PROJECT", "env-project"},
                      {"GENOPS_ENVIRONMENT", "production"},
                      {"GENOPS_CUSTOMER_ID", "acme"},
                      {"GENOPS_COST_CENTER", "r-and-d"}});
  auto r = ResolveConfig(AdapterConfig{}, env);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->governance.defaults.team, "env-team");
  EXPECT_EQ(r->governance.defaults.environment, "production");
  EXPECT_EQ(r->governance.defaults.customer_id, "acme");
  EXPECT_EQ(r->governance.defaults.cost_center, "r-and-d");
  AdapterConfig c;
  c.team = "explicit";
  EXPECT_EQ(ResolveConfig(c, env)->governance.defaults.team, "explicit");
}

TEST(ResolvedConfigTest, MissingTeamOrProjectIsAnError) {
  EXPECT_THAT(Error(AdapterConfig{}), HasSubstr("team: is required"));
  AdapterConfig c;
  c.team = "t";
  EXPECT_THAT(Error(c), HasSubstr("project: is required"));
}

TEST(ResolvedConfigTest, MoneyIsConvertedExactlyAndNegativesRejected) {
  AdapterConfig c = Base();
  c.daily_budget_limit = 100.0;
  c.max_operation_cost = 0.1;
  MapEnvironment env;
  auto r = ResolveConfig(c, env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->governance.daily_budget_limit->nanos(), 100'000'000'000);
  EXPECT_EQ(r->governance.max_operation_cost->nanos(), 100'000'000);
  c.daily_budget_limit = -1;
  EXPECT_THAT(Error(c), HasSubstr("daily_budget_limit"));
}

TEST(ResolvedConfigTest, UnsupportedKnobsAreRejectedNotIgnored) {
  AdapterConfig c = Base();
  c.encrypt_sensitive_data = true;
  EXPECT_THAT(Error(c), HasSubstr("encrypt_sensitive_data: not supported yet"));
  c = Base();
  c.enable_advanced_analytics = true;
  EXPECT_THAT(Error(c), HasSubstr("Traceloop commercial platform"));
  c = Base();
  c.enable_team_collaboration = true;
  EXPECT_THAT(Error(c), HasSubstr("enable_team_collaboration"));
  c = Base();
  c.enable_model_experimentation = true;
  EXPECT_THAT(Error(c), HasSubstr("enable_model_experimentation"));
  c = Base();
  c.ledger_url = "sqlite://./x.db";
  EXPECT_EQ(Error(c), "");
  c.ledger_url = "mysql://db/genops";
  EXPECT_THAT(Error(c), HasSubstr("unknown scheme \"mysql\""));
  c.ledger_url = "genops.db";
  EXPECT_THAT(Error(c), HasSubstr("has no scheme"));
}

TEST(ResolvedConfigTest, HighAvailabilityNeedsEndpointUrls) {
  AdapterConfig c = Base();
  c.enable_ha = true;
  EXPECT_THAT(Error(c), HasSubstr("failover_regions"));
  c.failover_regions = {"us-west-2"};
  EXPECT_THAT(Error(c), HasSubstr("not an http(s) URL"));
  c.failover_regions = {"http://127.0.0.1:4318/v1/traces"};
  EXPECT_EQ(Error(c), "");
  c.enable_ha = false;
  EXPECT_THAT(Error(c), HasSubstr("only used with enable_ha=true"));
}

TEST(ResolvedConfigTest, BatchingKnobs) {
  AdapterConfig c = Base();
  c.batch_size = 100;
  MapEnvironment env;
  EXPECT_EQ(ResolveConfig(c, env)->export_settings.batch_size, 100);
  c.export_batch_size = 200;
  EXPECT_THAT(Error(c), HasSubstr("conflicts with export_batch_size"));
  c = Base();
  c.enable_batching = false;
  EXPECT_EQ(ResolveConfig(c, env)->export_settings.batch_size, 1);
  c = Base();
  c.export_batch_size = 5000;
  EXPECT_THAT(Error(c), HasSubstr("span_processor_queue_size"));
}

TEST(ResolvedConfigTest, RangesAndEnumsAreChecked) {
  AdapterConfig c = Base();
  c.sampling_rate = 1.5;
  EXPECT_THAT(Error(c), HasSubstr("sampling_rate"));
  c = Base();
  c.exporters = {"zipkin"};
  EXPECT_THAT(Error(c), HasSubstr("unknown exporter \"zipkin\""));
  c = Base();
  c.compliance_frameworks = {"FOO"};
  EXPECT_THAT(Error(c), HasSubstr("unknown framework"));
  c = Base();
  c.require_cost_approval = true;
  EXPECT_THAT(Error(c), HasSubstr("cost_approval_threshold"));
  c = Base();
  c.allowed_models = {"gpt-4o"};
  EXPECT_THAT(Error(c), HasSubstr("strict"));
  c = Base();
  c.audit_all_operations = true;
  EXPECT_THAT(Error(c), HasSubstr("enable_audit_logging"));
  c = Base();
  c.budgets = {{.name = "b", .scope = {{"region", "eu"}}, .limit_usd = 5}};
  EXPECT_THAT(Error(c), HasSubstr("unknown dimension \"region\""));
  c = Base();
  c.operation_timeout = 0;
  EXPECT_THAT(Error(c), HasSubstr("operation_timeout"));
}

TEST(ResolvedConfigTest, ComplianceFrameworksAreCanonicalised) {
  AdapterConfig c = Base();
  c.compliance_frameworks = {"soc2", "FedRAMP", "pci-dss"};
  MapEnvironment env;
  auto r = ResolveConfig(c, env);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->compliance.frameworks, (std::vector<std::string>{"SOC2", "FedRAMP", "PCI-DSS"}));
}

TEST(ResolvedConfigTest, TraceloopPlatformNeedsItsKey) {
  AdapterConfig c = Base();
  c.enable_traceloop_platform = true;
  EXPECT_THAT(Error(c), HasSubstr("TRACELOOP_API_KEY"));
  MapEnvironment env({{"TRACELOOP_API_KEY", "tl-secret"}});
  auto r = ResolveConfig(Base(), env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->export_settings.exporters, std::vector<std::string>{"otlp"})
      << "TRACELOOP_API_KEY alone turns OTLP export on";
}

}  // namespace
}  // namespace genops::sdk
