// Enterprise governance (seed: "Advanced Configuration / Enterprise Governance Settings" and
// "Troubleshooting: policy violations not enforced").
//
// The seed's enterprise adapter, under governance_policy="enforced", with cost approvals and
// compliance settings. The example proves:
//   - the Traceloop-platform-only flags of the seed (advanced analytics, team collaboration,
//     model experimentation) are rejected with a message naming them, never silently ignored;
//   - an expensive operation (a large max_tokens on gpt-4o) is refused with
//     kApprovalRequired before the call: the provider's request counter does not move;
//   - an operator approves it (adapter->approve(id)) and the retry carrying
//     options.approval_id runs; the approval is single-use; a denied approval stays refused;
//   - an even larger operation is blocked by max_operation_cost, again before the call;
//   - a call from a data region outside data_residency_requirements is flagged;
//   - compliance_frameworks appear in the governance context and on the exported spans,
//     refused operations are exported with their decision, and the audit log is written.
//
// Why cost_approval_threshold is $1 here rather than the seed's $25: the seed also sets
// max_operation_cost=$10, and the cap is checked first, so with its numbers no operation could
// ever reach the approval step. The order of the numbers must be cap > approval threshold.
//
// Run: ./example_enterprise_governance [--catalog data/pricing_catalog.json]
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"
#include "support/fake_provider.h"
#include "support/llm_client.h"
#include "support/temp_dir.h"

namespace {

using genops::DecisionReason;
using genops::DecisionResult;
using genops::examples::ChatRequest;
using genops::examples::FakeProvider;
using genops::examples::LlmClient;
using genops::examples::Section;
using genops::examples::Usd;
using genops::examples::ValueOrDie;

std::string Describe(const genops::Decision& decision) {
  return std::string(genops::DecisionResultName(decision.result)) + " (" +
         std::string(genops::DecisionReasonName(decision.reason)) + ", estimate " +
         Usd(decision.estimate) + "): " + decision.message;
}

genops::TrackOptions Gpt4o(int64_t input_tokens, int64_t max_output_tokens) {
  genops::TrackOptions options;
  options.provider = "openai";
  options.model = "gpt-4o";
  options.estimated_input_tokens = input_tokens;
  options.max_output_tokens = max_output_tokens;
  return options;
}

// Makes the call for an admitted operation and records the response.
void CallProvider(LlmClient& client, genops::Operation& op, int64_t max_tokens) {
  ChatRequest request{.model = "gpt-4o",
                      .messages = {{"user", "Draft the quarterly compliance summary."}},
                      .max_tokens = max_tokens};
  std::string body = ValueOrDie(client.ChatCompletion(request), "the chat completion");
  genops::examples::OkOrDie(op.record_response("openai", body), "record_response");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int Run() {
  auto provider = ValueOrDie(FakeProvider::Start(), "starting the fake provider");
  LlmClient client(provider->base_url());
  genops::examples::TempDir dir("enterprise_governance");
  const std::string span_file = (dir.path() / "spans.jsonl").string();
  const std::string audit_file = (dir.path() / "audit.jsonl").string();

  genops::AdapterConfig config;
  // Core attribution
  config.team = "platform-engineering";
  config.project = "production-llm-api";
  config.environment = "production";
  config.customer_id = "multi-tenant";
  config.cost_center = "platform-ops";
  // Budget and cost controls
  config.daily_budget_limit = 500.0;
  config.max_operation_cost = 10.0;
  config.cost_alert_threshold = 50.0;
  // Governance policies
  config.governance_policy = genops::PolicyLevel::kEnforced;
  config.require_cost_approval = true;
  config.cost_approval_threshold = 1.0;  // see the file comment
  // Performance settings
  config.max_concurrent_operations = 200;
  config.operation_timeout = 300;
  config.retry_attempts = 3;
  // Compliance settings
  config.audit_all_operations = true;
  config.enable_audit_logging = true;
  config.audit_log_path = audit_file;
  config.compliance_frameworks = {"SOC2", "GDPR", "HIPAA"};
  config.data_residency_requirements = {"US", "EU"};
  // Where spans go (hermetic: a file, and no Traceloop platform even if a key is set)
  config.exporters = {"file"};
  config.file_path = span_file;
  config.enable_traceloop_platform = false;

  Section("the seed's Traceloop platform flags are rejected, not ignored");
  {
    genops::AdapterConfig with_platform = config;
    with_platform.enable_advanced_analytics = true;
    with_platform.enable_team_collaboration = true;
    with_platform.enable_model_experimentation = true;
    auto rejected = genops::instrument_traceloop(with_platform);
    EXPECT_OR_DIE(!rejected.ok(), "platform-only features must be rejected");
    const std::string message = rejected.status().ToString();
    std::cout << "instrument_traceloop: " << message << "\n";
    EXPECT_OR_DIE(message.find("enable_advanced_analytics") != std::string::npos,
                  "the error names the parameter: " << message);
  }

  Section("instrument_traceloop(...) with governance_policy=enforced");
  auto adapter = ValueOrDie(genops::instrument_traceloop(config), "instrument_traceloop");
  genops::GovernanceContext context = adapter->get_current_governance_context();
  std::cout << context.ToString() << "\n";
  EXPECT_OR_DIE(context.policy == genops::PolicyLevel::kEnforced, "the policy is enforced");
  EXPECT_OR_DIE(
      (context.compliance_frameworks == std::vector<std::string>{"SOC2", "GDPR", "HIPAA"}),
      "the compliance frameworks are part of the governance context");

  Section("an ordinary operation runs");
  std::string allowed_operation_id;
  {
    genops::Operation op =
        adapter->track_operation("chat_completion", "compliance_summary", Gpt4o(20, 200));
    std::cout << "decision: " << Describe(op.decision()) << "\n";
    EXPECT_OR_DIE(op.decision().result == DecisionResult::kAllowed,
                  "a $0.002 operation is allowed");
    CallProvider(client, op, 200);
    allowed_operation_id = op.operation_id();
  }
  EXPECT_OR_DIE(provider->request_count() == 1, "one provider call so far");

  Section("an expensive operation needs approval: refused before the call");
  // 200k output tokens of gpt-4o: a worst case above the $1 approval threshold, below the
  // $10 cap.
  const genops::TrackOptions expensive = Gpt4o(20, 200'000);
  std::string approval_id;
  try {
    genops::Operation op = adapter->track_operation("chat_completion", "annual_report", expensive);
    CallProvider(client, op, 200'000);  // never reached
    EXPECT_OR_DIE(false, "the expensive operation must not be admitted");
  } catch (const genops::PolicyViolationError& e) {
    std::cout << "PolicyViolationError: " << Describe(e.decision()) << "\n";
    EXPECT_OR_DIE(e.decision().result == DecisionResult::kApprovalRequired,
                  "the refusal is kApprovalRequired, got " << Describe(e.decision()));
    EXPECT_OR_DIE(e.decision().reason == DecisionReason::kApprovalRequired,
                  "the reason is approval_required");
    EXPECT_OR_DIE(!e.decision().approval_id.empty(), "the refusal carries an approval id");
    EXPECT_OR_DIE(e.decision().estimate > genops::Money::FromUsdString("1").value() &&
                      e.decision().estimate <= genops::Money::FromUsdString("10").value(),
                  "the estimate " << Usd(e.decision().estimate)
                                  << " lies between the approval threshold and the cap");
    approval_id = e.decision().approval_id;
  }
  EXPECT_OR_DIE(provider->request_count() == 1,
                "the refused operation never reached the provider (counter unchanged)");

  Section("an operator approves it; the retry carrying the approval id runs");
  EXPECT_OR_DIE(!adapter->approve("no-such-approval").ok(), "an unknown approval id is an error");
  genops::examples::OkOrDie(adapter->approve(approval_id), "approve(" + approval_id + ")");
  {
    genops::TrackOptions retry = expensive;
    retry.approval_id = approval_id;
    genops::Operation op = adapter->track_operation("chat_completion", "annual_report", retry);
    std::cout << "retry with approval_id=" << approval_id << ": " << Describe(op.decision())
              << "\n";
    EXPECT_OR_DIE(op.allowed(), "the approved operation runs");
    CallProvider(client, op, 200'000);
  }
  EXPECT_OR_DIE(provider->request_count() == 2, "the approved call reached the provider");
  {
    genops::TrackOptions again = expensive;
    again.approval_id = approval_id;
    genops::Operation op = adapter->try_track_operation("chat_completion", "annual_report", again);
    std::cout << "reusing the approval: " << Describe(op.decision()) << "\n";
    EXPECT_OR_DIE(!op.allowed(), "an approval is good for one operation only");
  }

  Section("a denied approval stays refused");
  {
    genops::Operation held =
        adapter->try_track_operation("chat_completion", "board_pack", expensive);
    EXPECT_OR_DIE(held.decision().result == DecisionResult::kApprovalRequired,
                  "held for approval: " << Describe(held.decision()));
    genops::examples::OkOrDie(adapter->deny(held.decision().approval_id), "deny");
    genops::TrackOptions retry = expensive;
    retry.approval_id = held.decision().approval_id;
    genops::Operation op = adapter->try_track_operation("chat_completion", "board_pack", retry);
    std::cout << "retry after deny: " << Describe(op.decision()) << "\n";
    EXPECT_OR_DIE(!op.allowed() && op.decision().reason == DecisionReason::kApprovalDenied,
                  "a denied approval refuses the retry with approval_denied");
  }

  Section("max_operation_cost blocks an even larger operation");
  {
    // 1M input + 1M output tokens of gpt-4o: far above the $10 cap.
    genops::Operation op = adapter->try_track_operation("chat_completion", "full_archive",
                                                        Gpt4o(1'000'000, 1'000'000));
    std::cout << "decision: " << Describe(op.decision()) << "\n";
    EXPECT_OR_DIE(op.decision().result == DecisionResult::kBlocked &&
                      op.decision().reason == DecisionReason::kOperationCostExceeded,
                  "blocked by max_operation_cost, got " << Describe(op.decision()));
    EXPECT_OR_DIE(op.decision().estimate > genops::Money::FromUsdString("10").value(),
                  "the estimate exceeds the $10 cap");
  }
  EXPECT_OR_DIE(provider->request_count() == 2, "refused operations never reach the provider");

  Section("data residency");
  {
    genops::TrackOptions eu = Gpt4o(20, 100);
    eu.data_region = "EU";
    genops::Operation op = adapter->try_track_operation("chat_completion", "eu_request", eu);
    EXPECT_OR_DIE(op.decision().reason != DecisionReason::kDataResidency,
                  "EU is an allowed region: " << Describe(op.decision()));
    op.record_error("not called by the example");
  }
  {
    genops::TrackOptions apac = Gpt4o(20, 100);
    apac.data_region = "APAC";
    genops::Operation op = adapter->try_track_operation("chat_completion", "apac_request", apac);
    std::cout << "data_region=APAC: " << Describe(op.decision()) << "\n";
    EXPECT_OR_DIE(op.decision().reason == DecisionReason::kDataResidency &&
                      op.decision().result != DecisionResult::kAllowed,
                  "APAC is outside data_residency_requirements");
    op.record_error("not called by the example");
  }

  Section("metrics");
  genops::AdapterMetrics metrics = adapter->get_metrics();
  std::cout << metrics.ToJson() << "\n";
  EXPECT_OR_DIE(metrics.approval_required >= 2, "two operations were held for approval");
  EXPECT_OR_DIE(metrics.blocked >= 2, "the denied retry and the capped operation were blocked");
  EXPECT_OR_DIE(metrics.policy == genops::PolicyLevel::kEnforced, "metrics report the policy");

  Section("spans: compliance frameworks and refused operations");
  genops::examples::FlushOrDie(*adapter);
  auto spans = genops::examples::ReadSpansOrDie(span_file);
  std::cout << spans.size() << " spans exported\n";
  int with_compliance = 0;
  int approval_spans = 0;
  int blocked_spans = 0;
  for (const auto& span : spans) {
    for (const auto& [key, value] : span.attributes) {
      if (key.find("compliance") != std::string::npos &&
          genops::examples::Mentions(value, "SOC2") && genops::examples::Mentions(value, "GDPR") &&
          genops::examples::Mentions(value, "HIPAA")) {
        ++with_compliance;
        break;
      }
    }
    if (span.Text("genops.policy.result") == "approval_required") ++approval_spans;
    if (span.Text("genops.policy.result") == "blocked") ++blocked_spans;
  }
  std::cout << with_compliance << " spans name SOC2/GDPR/HIPAA, " << approval_spans
            << " approval_required, " << blocked_spans << " blocked\n";
  EXPECT_OR_DIE(with_compliance == static_cast<int>(spans.size()) && !spans.empty(),
                "every span carries the compliance frameworks");
  EXPECT_OR_DIE(approval_spans >= 2, "operations held for approval are exported too");
  EXPECT_OR_DIE(blocked_spans >= 1, "blocked operations are exported with their decision");

  Section("the audit log");
  adapter->shutdown();
  const std::string audit = ReadFile(audit_file);
  int lines = 0;
  for (char c : audit) lines += c == '\n' ? 1 : 0;
  std::cout << audit_file << ": " << lines << " entries\n";
  EXPECT_OR_DIE(!audit.empty(), "enable_audit_logging writes " << audit_file);
  EXPECT_OR_DIE(audit.find(approval_id) != std::string::npos,
                "the audit trail records the approval " << approval_id);
  EXPECT_OR_DIE(audit.find(allowed_operation_id) != std::string::npos,
                "audit_all_operations records allowed operations too");

  std::cout << "\nexample enterprise_governance: OK" << std::endl;
  return 0;
}

}  // namespace

int main() { return Run(); }
