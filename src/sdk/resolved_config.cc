#include "src/sdk/resolved_config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"

namespace genops::sdk {
namespace {

absl::Status Invalid(std::string_view param, std::string_view what) {
  return absl::InvalidArgumentError(Cat(param, ": ", what));
}

absl::StatusOr<std::optional<Money>> OptionalUsd(std::string_view param,
                                                 const std::optional<double>& usd) {
  if (!usd.has_value()) return std::optional<Money>();
  if (!std::isfinite(*usd) || *usd < 0) {
    return Invalid(param, Cat("must be a non-negative amount of USD, got ", *usd));
  }
  auto money = Money::FromUsdDouble(*usd);
  if (!money.ok()) return Invalid(param, std::string(money.status().message()));
  return std::optional<Money>(*money);
}

absl::Status CheckRange(std::string_view param, int64_t value, int64_t lo, int64_t hi,
                        std::string_view hint = "") {
  if (value < lo || value > hi) {
    return Invalid(param, Cat("must be between ", lo, " and ", hi, ", got ", value,
                              hint.empty() ? "" : "; ", hint));
  }
  return absl::OkStatus();
}

absl::Status CheckFraction(std::string_view param, double value) {
  if (!(value >= 0.0 && value <= 1.0)) {
    return Invalid(param, Cat("must be a fraction between 0.0 and 1.0, got ", value));
  }
  return absl::OkStatus();
}

bool IsHttpUrl(std::string_view url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

std::string FirstNonEmpty(const std::string& a, const std::optional<std::string>& b) {
  if (!a.empty()) return a;
  return b.value_or("");
}

constexpr std::string_view kKnownFrameworks[] = {"SOC2",        "GDPR",     "HIPAA",   "PCI-DSS",
                                                 "ISO27001",    "CCPA",     "FedRAMP", "SOX",
                                                 "NIST-800-53", "EU-AI-ACT"};

absl::Status ResolveBudgets(const AdapterConfig& config, GovernanceSettings& out) {
  std::set<std::string> names;
  for (size_t i = 0; i < config.budgets.size(); ++i) {
    const BudgetConfig& b = config.budgets[i];
    const std::string where = Cat("budgets[", i, "]");
    if (b.name.empty()) return Invalid(where, "name is required");
    if (b.name == "daily") {
      return Invalid(where, "the name \"daily\" is reserved for daily_budget_limit");
    }
    if (!names.insert(b.name).second) {
      return Invalid(where, Cat("duplicate budget name \"", b.name, "\""));
    }
    ledger::BudgetSpec spec;
    spec.name = b.name;
    for (const auto& [key, value] : b.scope) {
      if (!Attribution::IsKnownDimension(key)) {
        return Invalid(Cat(where, ".scope"), Cat("unknown dimension \"", key,
                                                 "\"; use team, project, environment, customer_id, "
                                                 "cost_center, feature or tag:<key>"));
      }
      if (value.empty()) {
        return Invalid(Cat(where, ".scope.", key), "value must not be empty");
      }
    }
    spec.scope = ledger::Scope(b.scope.begin(), b.scope.end());
    auto limit = OptionalUsd(Cat(where, ".limit_usd"), b.limit_usd);
    if (!limit.ok()) return limit.status();
    spec.limit = **limit;
    auto period = ledger::ParseBudgetPeriod(b.period);
    if (!period.ok()) {
      return Invalid(Cat(where, ".period"),
                     Cat("\"", b.period, "\" is not one of day, week, month, total"));
    }
    spec.period = *period;
    for (double t : b.alert_thresholds) {
      if (!(t > 0.0 && t <= 10.0)) {
        return Invalid(Cat(where, ".alert_thresholds"),
                       Cat("each threshold is a fraction of the limit in (0, 10], got ", t));
      }
    }
    spec.alert_thresholds = b.alert_thresholds;
    std::sort(spec.alert_thresholds.begin(), spec.alert_thresholds.end());
    out.budgets.push_back(std::move(spec));
  }
  return absl::OkStatus();
}

absl::Status ResolveGovernance(const AdapterConfig& config, const Environment& env,
                               ResolvedConfig& out) {
  GovernanceSettings& g = out.governance;
  g.defaults = ResolveAttribution(config, env);
  if (g.defaults.team.empty()) {
    return Invalid("team", "is required for cost attribution; set it or GENOPS_TEAM");
  }
  if (g.defaults.project.empty()) {
    return Invalid("project", "is required for cost attribution; set it or GENOPS_PROJECT");
  }
  g.level = config.governance_policy;
  g.enable_governance = config.enable_governance;
  auto daily = OptionalUsd("daily_budget_limit", config.daily_budget_limit);
  if (!daily.ok()) return daily.status();
  g.daily_budget_limit = *daily;
  auto max_op = OptionalUsd("max_operation_cost", config.max_operation_cost);
  if (!max_op.ok()) return max_op.status();
  g.max_operation_cost = *max_op;
  g.enable_cost_alerts = config.enable_cost_alerts;
  auto alert = OptionalUsd("cost_alert_threshold", config.cost_alert_threshold);
  if (!alert.ok()) return alert.status();
  g.cost_alert_threshold = *alert;
  g.require_cost_approval = config.require_cost_approval;
  auto approval = OptionalUsd("cost_approval_threshold", config.cost_approval_threshold);
  if (!approval.ok()) return approval.status();
  g.cost_approval_threshold = *approval;
  if (g.require_cost_approval && !g.cost_approval_threshold.has_value()) {
    return Invalid("cost_approval_threshold",
                   "is required when require_cost_approval is true (USD above which an "
                   "operation is held for approval)");
  }
  if (auto s = CheckRange("operation_timeout", config.operation_timeout, 1, 86400, "seconds");
      !s.ok()) {
    return s;
  }
  g.operation_timeout_nanos = int64_t{config.operation_timeout} * kNanosPerSecond;
  if (auto s = CheckRange("max_concurrent_operations", config.max_concurrent_operations, 0,
                          10'000'000, "0 means unlimited");
      !s.ok()) {
    return s;
  }
  g.max_concurrent_operations = config.max_concurrent_operations;
  out.max_concurrent_operations = config.max_concurrent_operations;
  for (size_t i = 0; i < config.allowed_models.size(); ++i) {
    if (config.allowed_models[i].empty()) {
      return Invalid(Cat("allowed_models[", i, "]"), "must not be empty");
    }
  }
  if (!config.allowed_models.empty() && config.governance_policy != PolicyLevel::kStrict) {
    return Invalid("allowed_models",
                   "model allowlists are enforced only with governance_policy=strict; set "
                   "strict or remove the list");
  }
  g.allowed_models = config.allowed_models;
  for (size_t i = 0; i < config.data_residency_requirements.size(); ++i) {
    std::string region = absl::AsciiStrToUpper(config.data_residency_requirements[i]);
    if (region.empty()) {
      return Invalid(Cat("data_residency_requirements[", i, "]"), "must not be empty");
    }
    g.data_residency.push_back(std::move(region));
  }
  g.alert_on_anomalies = config.alert_on_anomalies;
  if (auto s =
          CheckRange("default_max_output_tokens", config.default_max_output_tokens, 1, 10'000'000);
      !s.ok()) {
    return s;
  }
  g.default_max_output_tokens = config.default_max_output_tokens;
  return ResolveBudgets(config, g);
}

absl::Status ResolveCompliance(const AdapterConfig& config, ResolvedConfig& out) {
  if (config.encrypt_sensitive_data) {
    return Invalid("encrypt_sensitive_data",
                   "not supported yet. GenOps never records prompt or completion content; "
                   "set it to false");
  }
  if (config.enable_advanced_analytics) {
    return Invalid("enable_advanced_analytics",
                   "not supported: a feature of the Traceloop commercial platform, enabled in "
                   "the platform itself; set it to false");
  }
  if (config.enable_team_collaboration) {
    return Invalid("enable_team_collaboration",
                   "not supported: a feature of the Traceloop commercial platform, enabled in "
                   "the platform itself; set it to false");
  }
  if (config.enable_model_experimentation) {
    return Invalid("enable_model_experimentation",
                   "not supported: a feature of the Traceloop commercial platform, enabled in "
                   "the platform itself; set it to false");
  }
  ComplianceSettings& c = out.compliance;
  c.audit_all_operations = config.audit_all_operations;
  c.enable_audit_logging = config.enable_audit_logging;
  c.audit_log_path = config.audit_log_path;
  if (c.enable_audit_logging && c.audit_log_path.empty()) {
    return Invalid("audit_log_path", "is required when enable_audit_logging is true");
  }
  if (c.audit_all_operations && !c.enable_audit_logging) {
    return Invalid("audit_all_operations",
                   "needs enable_audit_logging=true (the audit trail it fills is written only "
                   "when audit logging is on)");
  }
  for (size_t i = 0; i < config.compliance_frameworks.size(); ++i) {
    const std::string name = absl::AsciiStrToUpper(config.compliance_frameworks[i]);
    auto it = std::find_if(
        std::begin(kKnownFrameworks), std::end(kKnownFrameworks), [&](std::string_view known) {
          return absl::AsciiStrToUpper(absl::string_view(known.data(), known.size())) == name;
        });
    if (it == std::end(kKnownFrameworks)) {
      return Invalid(Cat("compliance_frameworks[", i, "]"),
                     Cat("unknown framework \"", config.compliance_frameworks[i],
                         "\"; known: ", Join(kKnownFrameworks, ", ")));
    }
    c.frameworks.emplace_back(*it);
  }
  return absl::OkStatus();
}

absl::Status ResolveExport(const AdapterConfig& config, const Environment& env,
                           ResolvedConfig& out) {
  ExportSettings& e = out.export_settings;
  if (auto s = CheckRange("retry_attempts", config.retry_attempts, 0, 10); !s.ok()) return s;
  e.retry_attempts = config.retry_attempts;
  if (auto s =
          CheckRange("circuit_breaker_threshold", config.circuit_breaker_threshold, 1, 1'000'000);
      !s.ok()) {
    return s;
  }
  e.circuit_breaker_threshold = config.circuit_breaker_threshold;
  if (auto s = CheckRange("circuit_breaker_timeout", config.circuit_breaker_timeout, 1, 86400,
                          "seconds");
      !s.ok()) {
    return s;
  }
  e.circuit_breaker_timeout = std::chrono::seconds(config.circuit_breaker_timeout);
  if (auto s =
          CheckRange("health_check_interval", config.health_check_interval, 1, 86400, "seconds");
      !s.ok()) {
    return s;
  }
  e.health_check_interval = std::chrono::seconds(config.health_check_interval);

  if (config.enable_ha && config.failover_regions.empty()) {
    return Invalid("failover_regions",
                   "enable_ha=true needs at least one failover endpoint (the OTLP/HTTP URL of "
                   "another region's collector)");
  }
  if (!config.enable_ha && !config.failover_regions.empty()) {
    return Invalid("failover_regions", "is only used with enable_ha=true; set enable_ha");
  }
  for (size_t i = 0; i < config.failover_regions.size(); ++i) {
    const std::string& url = config.failover_regions[i];
    if (!IsHttpUrl(url)) {
      return Invalid(Cat("failover_regions[", i, "]"),
                     Cat("\"", url,
                         "\" is not an http(s) URL. GenOps fails over between OTLP "
                         "endpoints: give the URL of that region's collector, e.g. "
                         "https://otel.eu-west-1.example.com/v1/traces"));
    }
    e.failover_endpoints.push_back(url);
  }

  if (auto s = CheckRange("export_timeout", config.export_timeout, 1, 600'000, "milliseconds");
      !s.ok()) {
    return s;
  }
  e.export_timeout = std::chrono::milliseconds(config.export_timeout);
  e.async = config.enable_async_export;
  int batch = config.export_batch_size;
  if (config.batch_size.has_value()) {
    if (batch != AdapterConfig{}.export_batch_size && batch != *config.batch_size) {
      return Invalid("batch_size",
                     Cat("conflicts with export_batch_size (", batch, " vs ", *config.batch_size,
                         "); they are the same setting, give one"));
    }
    batch = *config.batch_size;
  }
  if (auto s =
          CheckRange("span_processor_queue_size", config.span_processor_queue_size, 1, 1 << 20);
      !s.ok()) {
    return s;
  }
  e.queue_size = config.span_processor_queue_size;
  if (auto s = CheckRange("export_batch_size", batch, 1, e.queue_size,
                          "and at most span_processor_queue_size");
      !s.ok()) {
    return s;
  }
  if (!config.enable_batching) {
    if (config.batch_size.has_value() && *config.batch_size > 1) {
      return Invalid("batch_size", "is set but enable_batching=false; remove one of them");
    }
    batch = 1;
  }
  e.batch_size = batch;
  if (auto s = CheckRange("batch_timeout", config.batch_timeout, 1, 3'600'000, "milliseconds");
      !s.ok()) {
    return s;
  }
  e.batch_timeout = std::chrono::milliseconds(config.batch_timeout);

  if (config.otlp_compression != "gzip" && config.otlp_compression != "none") {
    return Invalid("otlp_compression",
                   Cat("\"", config.otlp_compression, "\" is not gzip or none"));
  }
  e.otlp_gzip = config.otlp_compression == "gzip";
  e.file_path = config.file_path;
  e.service_name = FirstNonEmpty(config.service_name, env.Get("OTEL_SERVICE_NAME"));
  if (e.service_name.empty()) e.service_name = out.governance.defaults.project;

  // OTLP endpoint: explicit > OTEL_* > Traceloop platform.
  e.otlp_endpoint = config.otlp_endpoint;
  e.traceloop_platform = config.enable_traceloop_platform;
  e.otlp_headers = config.otlp_headers;
  const bool traceloop_key = env.Get("TRACELOOP_API_KEY").has_value();
  if (config.enable_traceloop_platform.value_or(false) && !traceloop_key) {
    return Invalid("enable_traceloop_platform",
                   "needs TRACELOOP_API_KEY in the environment (and optionally "
                   "TRACELOOP_BASE_URL)");
  }

  std::set<std::string> seen;
  for (size_t i = 0; i < config.exporters.size(); ++i) {
    const std::string& name = config.exporters[i];
    static const std::set<std::string> kKnown = {"otlp", "otlp_json", "console", "file", "none"};
    if (!kKnown.count(name)) {
      return Invalid(
          Cat("exporters[", i, "]"),
          Cat("unknown exporter \"", name, "\"; use otlp, otlp_json, console, file or none"));
    }
    if (name == "none" || !seen.insert(name).second) continue;
    e.exporters.push_back(name);
  }
  if (e.exporters.empty() && std::find(config.exporters.begin(), config.exporters.end(), "none") ==
                                 config.exporters.end()) {
    const bool has_endpoint = !e.otlp_endpoint.empty() ||
                              env.Get("OTEL_EXPORTER_OTLP_ENDPOINT").has_value() ||
                              env.Get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").has_value() ||
                              (traceloop_key && config.enable_traceloop_platform.value_or(true));
    if (has_endpoint) e.exporters.push_back("otlp");
  }
  if (std::find(e.exporters.begin(), e.exporters.end(), "file") != e.exporters.end() &&
      e.file_path.empty()) {
    return Invalid("file_path", "is required with the file exporter");
  }
  return absl::OkStatus();
}

}  // namespace

Attribution ResolveAttribution(const AdapterConfig& config, const Environment& env) {
  Attribution a;
  a.team = FirstNonEmpty(config.team, env.Get("GENOPS_TEAM"));
  a.project = FirstNonEmpty(config.project, env.Get("GENOPS_PROJECT"));
  a.environment = FirstNonEmpty(config.environment, env.Get("GENOPS_ENVIRONMENT"));
  if (a.environment.empty()) a.environment = "development";
  a.customer_id = FirstNonEmpty(config.customer_id, env.Get("GENOPS_CUSTOMER_ID"));
  a.cost_center = FirstNonEmpty(config.cost_center, env.Get("GENOPS_COST_CENTER"));
  a.feature = config.feature;
  a.tags = config.tags;
  return a;
}

absl::StatusOr<ResolvedConfig> ResolveConfig(const AdapterConfig& config, const Environment& env) {
  ResolvedConfig out;
  if (auto s = ResolveGovernance(config, env, out); !s.ok()) return s;
  if (auto s = ResolveCompliance(config, out); !s.ok()) return s;
  if (auto s = ResolveExport(config, env, out); !s.ok()) return s;

  if (auto s = CheckFraction("sampling_rate", config.sampling_rate); !s.ok()) return s;
  if (auto s = CheckFraction("error_sampling_rate", config.error_sampling_rate); !s.ok()) {
    return s;
  }
  out.sampling = {config.sampling_rate, config.priority_sampling, config.error_sampling_rate};

  if (auto s = CheckRange("max_spans_per_operation", config.max_spans_per_operation, 1, 1'000'000);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckRange("max_attribute_length", config.max_attribute_length, 1, 1'000'000);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckRange("max_events_per_span", config.max_events_per_span, 0, 100'000); !s.ok()) {
    return s;
  }
  out.limits = {config.max_spans_per_operation, config.max_attribute_length,
                config.max_events_per_span};

  out.detailed_metrics = config.enable_detailed_metrics;
  if (auto s = CheckRange("metrics_retention_days", config.metrics_retention_days, 1, 3650);
      !s.ok()) {
    return s;
  }
  out.metrics_retention_days = config.metrics_retention_days;

  // The scheme is checked here; the store itself is opened (and reached) by the adapter.
  if (absl::StatusOr<std::string_view> scheme = ledger::LedgerScheme(config.ledger_url);
      !scheme.ok()) {
    return Invalid("ledger_url", std::string(scheme.status().message()));
  }
  out.ledger_url = config.ledger_url;
  out.pricing_overrides = config.pricing_overrides;
  for (size_t i = 0; i < config.alert_webhooks.size(); ++i) {
    if (!IsHttpUrl(config.alert_webhooks[i])) {
      return Invalid(Cat("alert_webhooks[", i, "]"),
                     Cat("\"", config.alert_webhooks[i], "\" is not an http(s) URL"));
    }
  }
  out.alert_webhooks = config.alert_webhooks;
  out.log_alerts = config.log_alerts;
  return out;
}

}  // namespace genops::sdk
