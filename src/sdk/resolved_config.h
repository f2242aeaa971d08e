// ResolvedConfig: an AdapterConfig merged with the environment and checked once.
//
// instrument_traceloop() resolves the seed-shaped AdapterConfig (doubles for USD, strings
// for names, the GENOPS_* / OTEL_* / TRACELOOP_* environment) into the typed settings each
// component takes. Every check lives here, so the components behind it only assert; every
// error names the parameter and says what to do (Envoy's "validate config once").
//
// Thread safety: plain value types.
#ifndef GENOPS_SDK_RESOLVED_CONFIG_H_
#define GENOPS_SDK_RESOLVED_CONFIG_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/config.h"
#include "src/core/environment.h"
#include "src/core/governor.h"

namespace genops::sdk {

struct ExportSettings {
  std::vector<std::string> exporters;  // otlp | otlp_json | console | file (none removed)
  // OTLP (endpoint already merged from OTEL_* and TRACELOOP_*; empty when not exporting).
  std::string otlp_endpoint;
  std::map<std::string, std::string> otlp_headers;
  bool otlp_gzip = true;
  std::vector<std::string> failover_endpoints;
  std::string file_path;
  std::string service_name;
  // Export to the Traceloop platform: nullopt = when TRACELOOP_API_KEY is set.
  std::optional<bool> traceloop_platform;
  int retry_attempts = 3;
  int circuit_breaker_threshold = 10;
  std::chrono::seconds circuit_breaker_timeout{60};
  std::chrono::seconds health_check_interval{30};
  std::chrono::milliseconds export_timeout{10000};
  // Processor.
  bool async = true;
  int batch_size = 512;
  std::chrono::milliseconds batch_timeout{5000};
  int queue_size = 2048;
};

struct SamplingSettings {
  double sampling_rate = 1.0;
  bool priority_sampling = true;
  double error_sampling_rate = 1.0;
};

struct LimitSettings {
  int max_spans_per_operation = 50;
  int max_attribute_length = 1000;
  int max_events_per_span = 100;
};

struct ComplianceSettings {
  bool audit_all_operations = false;
  bool enable_audit_logging = false;
  std::string audit_log_path;
  std::vector<std::string> frameworks;
};

struct ResolvedConfig {
  GovernanceSettings governance;
  ExportSettings export_settings;
  SamplingSettings sampling;
  LimitSettings limits;
  ComplianceSettings compliance;
  bool detailed_metrics = false;
  int metrics_retention_days = 90;
  int max_concurrent_operations = 0;
  std::string ledger_url;
  std::string pricing_overrides;
  std::vector<std::string> alert_webhooks;
  bool log_alerts = true;
};

// Resolves and validates. The error message names the parameter ("daily_budget_limit: must
// not be negative, got -5") and, for environment values, the variable.
absl::StatusOr<ResolvedConfig> ResolveConfig(const AdapterConfig& config, const Environment& env);

// Attribution defaults: config first, then GENOPS_* variables, then "development" for the
// environment dimension.
Attribution ResolveAttribution(const AdapterConfig& config, const Environment& env);

}  // namespace genops::sdk

#endif  // GENOPS_SDK_RESOLVED_CONFIG_H_
