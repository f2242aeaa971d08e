// Enterprise production configuration (seed: "Production Deployment / Enterprise
// Configuration", the ProductionConfig dataclass).
//
// The seed keeps its production settings in a dataclass and passes them with
// instrument_traceloop(**config.__dict__). The C++ equivalent is a plain struct with the same
// fields and defaults, converted to genops::AdapterConfig in one visible function. The example
// proves:
//   - the seed's literal failover_regions (["us-west-2", "eu-west-1"]) are rejected with an
//     error naming failover_regions: GenOps fails over between OTLP *endpoints*, and a region
//     name is not one, so it says so instead of silently never failing over;
//   - with endpoint URLs (here two in-process collectors standing for the regional ones) the
//     configuration is accepted and live: the $1000 day budget appears in
//     get_budget_status(), the compliance frameworks in the governance context and on the
//     spans, and spans reach the primary collector.
//
// Run: ./example_production_config
#include <iostream>
#include <string>
#include <vector>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/llm_client.h"
#include "support/span_file.h"
#include "support/temp_dir.h"

namespace {

using genops::examples::ChatRequest;
using genops::examples::FakeCollector;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::Section;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

// The seed's ProductionConfig, field for field, with its defaults.
struct ProductionConfig {
  // Core settings
  std::string team = "platform-engineering";
  std::string project = "enterprise-llm";
  std::string environment = "production";

  // Budget controls
  double daily_budget_limit = 1000.0;
  double max_operation_cost = 50.0;
  double cost_approval_threshold = 100.0;
  // The seed sets a threshold, which only means something with approvals on. (With its
  // numbers the $50 cap refuses first, so nothing ever waits for approval.)
  bool require_cost_approval = true;

  // High availability: failover OTLP endpoints, tried in order after the primary.
  bool enable_ha = true;
  std::vector<std::string> failover_regions = {"us-west-2", "eu-west-1"};  // seed's values
  int health_check_interval = 30;
  std::string otlp_endpoint;  // the primary collector (the seed relies on its environment)

  // Compliance
  std::vector<std::string> compliance_frameworks = {"SOC2", "GDPR", "HIPAA"};
  bool audit_all_operations = true;
  // audit_all_operations fills the audit trail, which is only written with audit logging on
  // (GenOps rejects the one without the other rather than auditing into the void).
  bool enable_audit_logging = true;
  std::string audit_log_path = "genops-audit.jsonl";

  genops::AdapterConfig ToAdapterConfig() const {
    genops::AdapterConfig config;
    config.team = team;
    config.project = project;
    config.environment = environment;
    config.daily_budget_limit = daily_budget_limit;
    config.max_operation_cost = max_operation_cost;
    config.cost_approval_threshold = cost_approval_threshold;
    config.require_cost_approval = require_cost_approval;
    config.enable_ha = enable_ha;
    config.failover_regions = failover_regions;
    config.health_check_interval = health_check_interval;
    config.otlp_endpoint = otlp_endpoint;
    config.compliance_frameworks = compliance_frameworks;
    config.audit_all_operations = audit_all_operations;
    config.enable_audit_logging = enable_audit_logging;
    config.audit_log_path = audit_log_path;
    // Spans as OTLP/JSON without gzip, so the in-process collectors can read them.
    config.exporters = {"otlp_json"};
    config.otlp_compression = "none";
    config.enable_traceloop_platform = false;
    return config;
  }
};

int Run() {
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  auto primary = ValueOrDie(FakeCollector::Start(), "starting the primary collector");
  auto failover = ValueOrDie(FakeCollector::Start(), "starting the failover collector");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("production_config");
  const std::string audit_log = (dir.path() / "audit.jsonl").string();

  Section("the seed's literal values: region names are not endpoints");
  {
    ProductionConfig literal;
    literal.otlp_endpoint = primary->base_url();
    literal.audit_log_path = audit_log;
    auto rejected = genops::instrument_traceloop(literal.ToAdapterConfig());
    EXPECT_OR_DIE(!rejected.ok(), "failover_regions=[\"us-west-2\", ...] must be rejected");
    const std::string message = rejected.status().ToString();
    std::cout << "instrument_traceloop: " << message << "\n";
    EXPECT_OR_DIE(message.find("failover_regions") != std::string::npos,
                  "the error names failover_regions: " << message);
  }

  Section("ProductionConfig with regional collector URLs");
  ProductionConfig production;
  production.otlp_endpoint = primary->base_url();
  production.failover_regions = {failover->base_url()};
  production.audit_log_path = audit_log;
  auto adapter = ValueOrDie(genops::instrument_traceloop(production.ToAdapterConfig()),
                            "instrument_traceloop");
  std::cout << "primary " << production.otlp_endpoint << ", failover "
            << production.failover_regions[0] << "\n";

  genops::GovernanceContext context = adapter->get_current_governance_context();
  std::cout << context.ToString() << "\n";
  EXPECT_OR_DIE(context.attribution.team == "platform-engineering" &&
                    context.attribution.project == "enterprise-llm" &&
                    context.attribution.environment == "production",
                "the attribution comes from the struct");
  EXPECT_OR_DIE(context.compliance_frameworks == production.compliance_frameworks,
                "the compliance frameworks come from the struct");

  bool found_daily = false;
  for (const genops::BudgetStatusView& budget : adapter->get_budget_status()) {
    std::cout << "budget " << budget.name << " [" << budget.scope << ", " << budget.period
              << "] limit " << Usd(budget.limit) << "\n";
    if (budget.period == "day" && budget.limit == genops::Money::FromUsdString("1000").value()) {
      found_daily = true;
    }
  }
  EXPECT_OR_DIE(found_daily, "daily_budget_limit=1000 is a live day budget");

  Section("one governed call, exported to the primary collector");
  std::string span_id;
  {
    genops::TrackOptions options;
    options.provider = "openai";
    options.model = "gpt-4o";
    options.max_output_tokens = 100;
    genops::Operation op =
        adapter->track_operation("chat_completion", "enterprise_request", options);
    EXPECT_OR_DIE(op.allowed(), "a small call is allowed");
    ChatRequest request{.model = "gpt-4o",
                        .messages = {{"user", "Classify this ticket by urgency."}},
                        .max_tokens = 100};
    std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
    genops::examples::OkOrDie(op.record_response("openai", body), "record_response");
    span_id = op.span_id();
  }
  genops::examples::FlushOrDie(*adapter);
  adapter->shutdown();
  std::cout << "primary received " << primary->request_count() << " export(s), "
            << primary->accepted_span_count() << " span(s); failover " << failover->request_count()
            << "\n";
  EXPECT_OR_DIE(primary->accepted_span_count() == 1, "the span reached the primary collector");
  EXPECT_OR_DIE(failover->accepted_span_count() == 0, "a healthy primary needs no failover");
  bool checked = false;
  for (const genops::examples::CollectorRequest& request : primary->requests()) {
    auto spans = ValueOrDie(genops::examples::ParseSpans(request.body), "the OTLP JSON body");
    for (const auto& span : spans) {
      if (span.span_id != span_id) continue;
      checked = true;
      EXPECT_OR_DIE(span.Text("genops.team") == "platform-engineering", "genops.team");
      bool compliance = false;
      for (const auto& [key, value] : span.attributes) {
        if (key.find("compliance") != std::string::npos &&
            genops::examples::Mentions(value, "HIPAA")) {
          compliance = true;
        }
      }
      EXPECT_OR_DIE(compliance, "the span names the compliance frameworks");
      EXPECT_OR_DIE(span.Number("genops.cost.total").value_or(0) > 0, "the span is costed");
    }
  }
  EXPECT_OR_DIE(checked, "the operation's span was found in the export");

  std::cout << "\nexample production_config: OK" << std::endl;
  return 0;
}

}  // namespace

int main() { return Run(); }
