// AdapterConfig: every constructor parameter of the seed's `instrument_traceloop(...)`.
//
// The fields keep the seed's names and meanings. Each one does what its name says; the few
// that belong to the Traceloop commercial platform (advanced analytics, team collaboration,
// model experimentation) or that GenOps cannot honour yet are *rejected* by
// instrument_traceloop() with a message saying so, never silently ignored. Amounts are given
// in USD as doubles (like the seed) and converted once, exactly to the nano-USD, when the
// adapter is built; nothing downstream uses floating point for money.
//
// Example:
//   genops::AdapterConfig config;
//   config.team = "engineering-team";
//   config.project = "llm-chatbot";
//   config.daily_budget_limit = 100.0;
//   config.max_operation_cost = 5.0;
//   config.governance_policy = genops::PolicyLevel::kEnforced;
//   auto adapter = genops::instrument_traceloop(config);
//
// Thread safety: a plain value type.
#ifndef GENOPS_CONFIG_H_
#define GENOPS_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "genops/decision.h"
#include "genops/money.h"

namespace genops {

class Clock;
class Environment;

// A further budget on any scope (DESIGN.md §3), in addition to daily_budget_limit.
struct BudgetConfig {
  std::string name{};
  std::map<std::string, std::string> scope{};  // {} = global; keys: team, project, ...
  double limit_usd = 0;
  std::string period = "month";  // day | week | month | total
  std::vector<double> alert_thresholds = {0.5, 0.8, 1.0};
};

struct AdapterConfig {
  // --- Core attribution (defaults also from GENOPS_TEAM, GENOPS_PROJECT, ...) -------------
  std::string team{};
  std::string project{};
  std::string environment{};  // "development" when neither set here nor in GENOPS_ENVIRONMENT
  std::string customer_id{};
  std::string cost_center{};
  std::string feature{};
  std::map<std::string, std::string> tags{};  // default tags on every operation

  // --- Governance -------------------------------------------------------------------------
  bool enable_governance = true;  // false: track and price only
  PolicyLevel governance_policy = PolicyLevel::kAdvisory;
  std::optional<double> daily_budget_limit{};  // USD per UTC day on this scope
  std::optional<double> max_operation_cost{};  // USD per operation
  bool enable_cost_alerts = true;
  std::optional<double> cost_alert_threshold{};  // USD per operation that raises an alert
  bool require_cost_approval = false;
  std::optional<double> cost_approval_threshold{};  // USD; required with require_cost_approval
  // Decides held operations in-process. Without it, an operation needing approval is refused
  // with DecisionResult::kApprovalRequired and an approval id an operator can grant.
  std::function<bool(const ApprovalRequest&)> approval_callback{};
  std::vector<BudgetConfig> budgets{};        // further scoped budgets
  std::vector<std::string> allowed_models{};  // strict: only these models
  int64_t default_max_output_tokens = 4096;   // worst-case estimate without max_tokens

  // --- Performance ------------------------------------------------------------------------
  int max_concurrent_operations = 0;  // in-flight operations; 0 = unlimited
  int operation_timeout = 300;        // seconds; also expires orphaned reservations
  int retry_attempts = 3;             // export retries on 429/502/503/504 and network errors

  // --- Compliance -------------------------------------------------------------------------
  bool audit_all_operations = false;  // audit every operation, not only refusals and warnings
  bool enable_audit_logging = false;  // write the audit trail (JSON lines) to audit_log_path
  std::string audit_log_path = "genops-audit.jsonl";
  std::vector<std::string> compliance_frameworks{};        // e.g. SOC2, GDPR, HIPAA, PCI-DSS
  std::vector<std::string> data_residency_requirements{};  // allowed data regions, e.g. US, EU
  bool encrypt_sensitive_data = false;                     // not supported yet: rejected if true

  // --- Traceloop platform -----------------------------------------------------------------
  // Export to the Traceloop platform (TRACELOOP_API_KEY / TRACELOOP_BASE_URL). Unset means
  // "on when TRACELOOP_API_KEY is set".
  std::optional<bool> enable_traceloop_platform{};
  bool enable_advanced_analytics = false;     // platform feature: rejected if true
  bool enable_team_collaboration = false;     // platform feature: rejected if true
  bool enable_model_experimentation = false;  // platform feature: rejected if true

  // --- High availability (span export) ----------------------------------------------------
  bool enable_ha = false;                       // requires failover_regions
  std::vector<std::string> failover_regions{};  // failover OTLP endpoints (URLs), tried in order
  int health_check_interval = 30;               // seconds between fail-back probes of the primary
  int circuit_breaker_threshold = 10;           // consecutive failed exports that open the breaker
  int circuit_breaker_timeout = 60;             // seconds before a half-open probe

  // --- Monitoring -------------------------------------------------------------------------
  bool enable_detailed_metrics = false;  // per-provider/model/team breakdown in get_metrics()
  int metrics_retention_days = 90;       // how long operation records are kept
  bool alert_on_anomalies = false;       // alert on cost far above the model's recent mean

  // --- Sampling, batching and limits -------------------------------------------------------
  double sampling_rate = 1.0;        // fraction of ordinary operations exported
  bool priority_sampling = true;     // high-priority operations always exported
  double error_sampling_rate = 1.0;  // fraction of failed operations exported
  bool enable_async_export = true;   // false: export synchronously at span end
  bool enable_batching = true;       // false: export one span per request
  std::optional<int> batch_size{};   // alias of export_batch_size (seed HA example)
  int export_batch_size = 512;
  int batch_timeout = 5000;    // ms between scheduled exports
  int export_timeout = 10000;  // ms per export, retries included
  int span_processor_queue_size = 2048;
  int max_spans_per_operation = 50;
  int max_attribute_length = 1000;
  int max_events_per_span = 100;

  // --- Where spans go ----------------------------------------------------------------------
  // otlp (HTTP protobuf), otlp_json, console, file, none. Empty: otlp when an endpoint is
  // configured (here, OTEL_EXPORTER_OTLP_* or Traceloop), else none.
  std::vector<std::string> exporters{};
  std::string otlp_endpoint{};                        // overrides OTEL_EXPORTER_OTLP_ENDPOINT
  std::map<std::string, std::string> otlp_headers{};  // merged over OTEL_EXPORTER_OTLP_HEADERS
  std::string otlp_compression = "gzip";              // gzip | none
  std::string file_path = "genops-spans.jsonl";       // for the file exporter
  std::string service_name{};                         // overrides OTEL_SERVICE_NAME

  // --- Ledger, pricing, alerts ---------------------------------------------------------------
  std::string ledger_url =
      "memory://";                  // memory:// | sqlite://PATH | redis://H:P/DB | postgresql://...
  std::string pricing_overrides{};  // path of a catalog file merged over the built-in
  std::vector<std::string> alert_webhooks{};  // URLs receiving a JSON POST per alert
  bool log_alerts = true;                     // alerts also go to the log

  // --- Injection (tests, embedding) ---------------------------------------------------------
  const Clock* clock = nullptr;      // null: the real clock
  const Environment* env = nullptr;  // null: the process environment
};

}  // namespace genops

#endif  // GENOPS_CONFIG_H_
