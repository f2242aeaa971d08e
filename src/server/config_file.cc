#include "src/server/config_file.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "genops/decision.h"
#include "src/core/text.h"

namespace genops::server {
namespace {

// Where a value sits, for messages: "genops.yaml:12: governance.daily_budget_limit".
struct Where {
  std::string_view source;
  std::string path;
  int line = 0;
  std::string str() const { return Cat(source, ":", line, ": ", path); }
};

absl::Status Bad(const Where& w, std::string_view what) {
  return absl::InvalidArgumentError(Cat(w.str(), ": ", what));
}

Where At(std::string_view source, std::string path, const YAML::Node& node) {
  return Where{source, std::move(path), node.Mark().line + 1};
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return Cat("\"", node.Scalar(), "\"");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

absl::StatusOr<std::string> AsString(const YAML::Node& n, const Where& w, bool nullable = true) {
  if (n.IsNull() && nullable) return std::string();
  if (!n.IsScalar()) return Bad(w, Cat("expected a string, got ", Describe(n)));
  return n.Scalar();
}

absl::StatusOr<bool> AsBool(const YAML::Node& n, const Where& w) {
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
    return Bad(w, Cat("expected true or false, got ", Describe(n)));
  }
  return value;
}

absl::StatusOr<int64_t> AsInt(const YAML::Node& n, const Where& w, int64_t lo, int64_t hi) {
  int64_t value = 0;
  if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, value)) {
    return Bad(w, Cat("expected an integer, got ", Describe(n)));
  }
  if (value < lo || value > hi) {
    return Bad(w, Cat("must be between ", lo, " and ", hi, ", got ", value));
  }
  return value;
}

absl::StatusOr<double> AsDouble(const YAML::Node& n, const Where& w) {
  double value = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, value)) {
    return Bad(w, Cat("expected a number, got ", Describe(n)));
  }
  return value;
}

// USD amounts are checked exactly (decimal text), then carried as the seed's doubles.
absl::StatusOr<std::optional<double>> AsUsd(const YAML::Node& n, const Where& w) {
  if (n.IsNull()) return std::optional<double>();
  if (!n.IsScalar()) return Bad(w, Cat("expected an amount of USD, got ", Describe(n)));
  auto money = Money::FromUsdString(n.Scalar());
  if (!money.ok()) {
    return Bad(w, Cat("expected an amount of USD like 12.50, got ", Describe(n)));
  }
  if (money->nanos() < 0) return Bad(w, Cat("must not be negative, got ", n.Scalar()));
  return std::optional<double>(money->usd());
}

absl::StatusOr<double> AsFraction(const YAML::Node& n, const Where& w) {
  auto v = AsDouble(n, w);
  if (!v.ok()) return v.status();
  if (*v < 0.0 || *v > 1.0) return Bad(w, Cat("must be between 0.0 and 1.0, got ", *v));
  return *v;
}

absl::StatusOr<std::vector<std::string>> AsStringList(const YAML::Node& n, const Where& w) {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (!n.IsSequence()) return Bad(w, Cat("expected a list, got ", Describe(n)));
  for (size_t i = 0; i < n.size(); ++i) {
    Where item{w.source, Cat(w.path, "[", i, "]"), n[i].Mark().line + 1};
    auto s = AsString(n[i], item, /*nullable=*/false);
    if (!s.ok()) return s.status();
    out.push_back(*s);
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> AsStringMap(const YAML::Node& n,
                                                               const Where& w) {
  std::map<std::string, std::string> out;
  if (n.IsNull()) return out;
  if (!n.IsMap()) return Bad(w, Cat("expected a mapping, got ", Describe(n)));
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    Where item{w.source, Cat(w.path, ".", key), kv.second.Mark().line + 1};
    auto s = AsString(kv.second, item, /*nullable=*/false);
    if (!s.ok()) return s.status();
    out[key] = *s;
  }
  return out;
}

// Checks that a mapping holds only `allowed` keys.
absl::Status OnlyKeys(const YAML::Node& n, const Where& w, const std::set<std::string>& allowed) {
  if (!n.IsMap()) return Bad(w, Cat("expected a mapping, got ", Describe(n)));
  for (const auto& kv : n) {
    if (!allowed.count(kv.first.Scalar())) {
      return Bad(At(w.source, Cat(w.path, ".", kv.first.Scalar()), kv.first),
                 Cat("unknown key; allowed here: ", Join(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

using Apply = std::function<absl::Status(const YAML::Node&, const Where&, FileConfig&)>;

struct KeySpec {
  ConfigKeyDoc doc;
  Apply apply;
};

template <typename Get>
Apply Str(Get get) {
  return [get](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsString(n, w);
    if (!v.ok()) return v.status();
    get(c) = *v;
    return absl::OkStatus();
  };
}
template <typename Get>
Apply Bool(Get get) {
  return [get](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsBool(n, w);
    if (!v.ok()) return v.status();
    get(c) = *v;
    return absl::OkStatus();
  };
}
template <typename Get>
Apply Int(Get get, int64_t lo, int64_t hi) {
  return [get, lo, hi](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsInt(n, w, lo, hi);
    if (!v.ok()) return v.status();
    get(c) = static_cast<std::remove_reference_t<decltype(get(c))>>(*v);
    return absl::OkStatus();
  };
}
template <typename Get>
Apply Usd(Get get) {
  return [get](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsUsd(n, w);
    if (!v.ok()) return v.status();
    get(c) = *v;
    return absl::OkStatus();
  };
}
template <typename Get>
Apply Fraction(Get get) {
  return [get](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsFraction(n, w);
    if (!v.ok()) return v.status();
    get(c) = *v;
    return absl::OkStatus();
  };
}
template <typename Get>
Apply List(Get get) {
  return [get](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsStringList(n, w);
    if (!v.ok()) return v.status();
    get(c) = *v;
    return absl::OkStatus();
  };
}
template <typename Get>
Apply StrMap(Get get) {
  return [get](const YAML::Node& n, const Where& w, FileConfig& c) -> absl::Status {
    auto v = AsStringMap(n, w);
    if (!v.ok()) return v.status();
    get(c) = *v;
    return absl::OkStatus();
  };
}

#define GENOPS_FIELD(expr) \
  [](FileConfig & c) -> auto& { return expr; }

absl::Status ApplyPolicy(const YAML::Node& n, const Where& w, FileConfig& c) {
  auto v = AsString(n, w, /*nullable=*/false);
  if (!v.ok()) return v.status();
  auto level = ParsePolicyLevel(*v);
  if (!level.ok()) {
    return Bad(
        w, Cat("unknown policy level \"", *v, "\"; use audit_only, advisory, enforced or strict"));
  }
  c.adapter.governance_policy = *level;
  return absl::OkStatus();
}

absl::Status ApplyBudgets(const YAML::Node& n, const Where& w, FileConfig& c) {
  if (n.IsNull()) return absl::OkStatus();
  if (!n.IsSequence()) return Bad(w, Cat("expected a list of budgets, got ", Describe(n)));
  static const std::set<std::string> kKeys = {"name", "scope", "limit_usd", "period",
                                              "alert_thresholds"};
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node& b = n[i];
    Where bw = At(w.source, Cat("budgets[", i, "]"), b);
    if (auto s = OnlyKeys(b, bw, kKeys); !s.ok()) return s;
    BudgetConfig budget;
    auto field = [&](const char* key) { return At(w.source, Cat(bw.path, ".", key), b[key]); };
    if (!b["name"]) return Bad(bw, "name is required");
    auto name = AsString(b["name"], field("name"), false);
    if (!name.ok()) return name.status();
    budget.name = *name;
    if (b["scope"]) {
      auto scope = AsStringMap(b["scope"], field("scope"));
      if (!scope.ok()) return scope.status();
      for (const auto& [key, value] : *scope) {
        if (!Attribution::IsKnownDimension(key)) {
          return Bad(field("scope"), Cat("unknown scope key \"", key,
                                         "\"; use team, project, environment, customer_id, "
                                         "cost_center, feature or tag:<key>"));
        }
      }
      budget.scope = *scope;
    }
    if (!b["limit_usd"]) return Bad(bw, "limit_usd is required");
    auto limit = AsUsd(b["limit_usd"], field("limit_usd"));
    if (!limit.ok()) return limit.status();
    if (!limit->has_value()) return Bad(field("limit_usd"), "must be an amount, not null");
    budget.limit_usd = **limit;
    if (b["period"]) {
      auto period = AsString(b["period"], field("period"), false);
      if (!period.ok()) return period.status();
      if (*period != "day" && *period != "week" && *period != "month" && *period != "total") {
        return Bad(field("period"), Cat("\"", *period, "\" is not one of day, week, month, total"));
      }
      budget.period = *period;
    }
    if (b["alert_thresholds"]) {
      const YAML::Node& t = b["alert_thresholds"];
      if (!t.IsSequence()) return Bad(field("alert_thresholds"), "expected a list of fractions");
      budget.alert_thresholds.clear();
      for (size_t j = 0; j < t.size(); ++j) {
        Where tw = At(w.source, Cat(bw.path, ".alert_thresholds[", j, "]"), t[j]);
        auto v = AsDouble(t[j], tw);
        if (!v.ok()) return v.status();
        if (!(*v > 0.0 && *v <= 10.0)) {
          return Bad(tw, Cat("a fraction of the limit in (0, 10], got ", *v));
        }
        budget.alert_thresholds.push_back(*v);
      }
    }
    c.adapter.budgets.push_back(std::move(budget));
  }
  return absl::OkStatus();
}

absl::Status ApplyProviders(const YAML::Node& n, const Where& w, FileConfig& c) {
  if (n.IsNull()) return absl::OkStatus();
  if (!n.IsMap()) return Bad(w, Cat("expected a mapping of providers, got ", Describe(n)));
  static const std::set<std::string> kKeys = {"api", "base_url", "api_key_env", "failover"};
  for (const auto& kv : n) {
    const std::string name = kv.first.Scalar();
    Where pw = At(w.source, Cat(w.path, ".", name), kv.second);
    if (auto s = OnlyKeys(kv.second, pw, kKeys); !s.ok()) return s;
    ProviderEndpointConfig p;
    if (kv.second["api"]) {
      Where aw = At(w.source, pw.path + ".api", kv.second["api"]);
      auto v = AsString(kv.second["api"], aw);
      if (!v.ok()) return v.status();
      if (*v != "openai" && *v != "anthropic") {
        return Bad(aw, Cat("unknown api \"", *v, "\": use openai (any OpenAI-compatible API) or anthropic"));
      }
      p.api = *v;
    }
    if (kv.second["base_url"]) {
      auto v = AsString(kv.second["base_url"],
                        At(w.source, pw.path + ".base_url", kv.second["base_url"]));
      if (!v.ok()) return v.status();
      p.base_url = *v;
    }
    if (kv.second["api_key_env"]) {
      auto v = AsString(kv.second["api_key_env"],
                        At(w.source, pw.path + ".api_key_env", kv.second["api_key_env"]));
      if (!v.ok()) return v.status();
      p.api_key_env = *v;
    }
    if (kv.second["failover"]) {
      auto v = AsStringList(kv.second["failover"],
                            At(w.source, pw.path + ".failover", kv.second["failover"]));
      if (!v.ok()) return v.status();
      p.failover = *v;
    }
    c.gateway.providers[name] = std::move(p);
  }
  return absl::OkStatus();
}

absl::Status ApplyOtlpFailover(const YAML::Node& n, const Where& w, FileConfig& c) {
  auto v = AsStringList(n, w);
  if (!v.ok()) return v.status();
  c.adapter.failover_regions = *v;
  c.adapter.enable_ha = !v->empty();
  return absl::OkStatus();
}

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec>* const kSchema = new std::vector<KeySpec>{
      // governance: the seed's adapter parameters.
      {{"governance.team", "string", "$GENOPS_TEAM", "Team the spend is attributed to."},
       Str(GENOPS_FIELD(c.adapter.team))},
      {{"governance.project", "string", "$GENOPS_PROJECT", "Project the spend is attributed to."},
       Str(GENOPS_FIELD(c.adapter.project))},
      {{"governance.environment", "string", "$GENOPS_ENVIRONMENT or development",
        "Environment (development, staging, production...)."},
       Str(GENOPS_FIELD(c.adapter.environment))},
      {{"governance.customer_id", "string", "$GENOPS_CUSTOMER_ID",
        "Customer for per-customer attribution."},
       Str(GENOPS_FIELD(c.adapter.customer_id))},
      {{"governance.cost_center", "string", "$GENOPS_COST_CENTER",
        "Cost center for financial reporting."},
       Str(GENOPS_FIELD(c.adapter.cost_center))},
      {{"governance.feature", "string", "null", "Product feature the spend belongs to."},
       Str(GENOPS_FIELD(c.adapter.feature))},
      {{"governance.tags", "map of strings", "{}", "Default tags on every operation."},
       StrMap(GENOPS_FIELD(c.adapter.tags))},
      {{"governance.enable_governance", "bool", "true",
        "false: operations are priced and recorded but never checked or blocked."},
       Bool(GENOPS_FIELD(c.adapter.enable_governance))},
      {{"governance.governance_policy", "audit_only | advisory | enforced | strict", "advisory",
        "How hard governance pushes back (see docs/governance.md)."},
       ApplyPolicy},
      {{"governance.daily_budget_limit", "USD amount", "null",
        "A budget per UTC day on this scope (team, project, environment, customer, cost center)."},
       Usd(GENOPS_FIELD(c.adapter.daily_budget_limit))},
      {{"governance.max_operation_cost", "USD amount", "null",
        "Cap on one operation's worst-case cost."},
       Usd(GENOPS_FIELD(c.adapter.max_operation_cost))},
      {{"governance.enable_cost_alerts", "bool", "true",
        "Raise alerts (log, webhooks, span events)."},
       Bool(GENOPS_FIELD(c.adapter.enable_cost_alerts))},
      {{"governance.cost_alert_threshold", "USD amount", "null",
        "An operation costing more than this raises an alert."},
       Usd(GENOPS_FIELD(c.adapter.cost_alert_threshold))},
      {{"governance.require_cost_approval", "bool", "false",
        "Hold operations whose estimate exceeds cost_approval_threshold until approved."},
       Bool(GENOPS_FIELD(c.adapter.require_cost_approval))},
      {{"governance.cost_approval_threshold", "USD amount", "null",
        "Estimate above which approval is needed."},
       Usd(GENOPS_FIELD(c.adapter.cost_approval_threshold))},
      {{"governance.operation_timeout", "seconds", "300",
        "Longest operation; reservations of operations older than this expire."},
       Int(GENOPS_FIELD(c.adapter.operation_timeout), 1, 86400)},
      {{"governance.allowed_models", "list of strings", "[]",
        "strict only: the models that may be called."},
       List(GENOPS_FIELD(c.adapter.allowed_models))},
      {{"governance.default_max_output_tokens", "integer", "4096",
        "Output allowance for worst-case estimates when a call gives no max_tokens and the model "
        "has no default."},
       Int(GENOPS_FIELD(c.adapter.default_max_output_tokens), 1, 10'000'000)},
      {{"governance.audit_all_operations", "bool", "false",
        "Audit every operation, not only warnings, refusals and failures (needs "
        "enable_audit_logging)."},
       Bool(GENOPS_FIELD(c.adapter.audit_all_operations))},
      {{"governance.enable_audit_logging", "bool", "false",
        "Write the audit trail to audit_log_path."},
       Bool(GENOPS_FIELD(c.adapter.enable_audit_logging))},
      {{"governance.audit_log_path", "path", "genops-audit.jsonl",
        "Audit trail file (JSON lines)."},
       Str(GENOPS_FIELD(c.adapter.audit_log_path))},
      {{"governance.compliance_frameworks", "list of strings", "[]",
        "Frameworks the operations fall under (SOC2, GDPR, HIPAA, ...); stamped on spans and audit "
        "records."},
       List(GENOPS_FIELD(c.adapter.compliance_frameworks))},
      {{"governance.data_residency_requirements", "list of strings", "[]",
        "Allowed data regions; an operation declaring another region is a policy violation."},
       List(GENOPS_FIELD(c.adapter.data_residency_requirements))},
      {{"governance.alert_on_anomalies", "bool", "false",
        "Alert when an operation costs far more than the model's recent mean."},
       Bool(GENOPS_FIELD(c.adapter.alert_on_anomalies))},
      {{"governance.enable_detailed_metrics", "bool", "false",
        "Per-provider, model and team breakdowns in metrics."},
       Bool(GENOPS_FIELD(c.adapter.enable_detailed_metrics))},
      {{"governance.metrics_retention_days", "days", "90", "How long operation records are kept."},
       Int(GENOPS_FIELD(c.adapter.metrics_retention_days), 1, 3650)},
      {{"governance.encrypt_sensitive_data", "bool", "false",
        "Not supported yet: true is rejected."},
       Bool(GENOPS_FIELD(c.adapter.encrypt_sensitive_data))},
      {{"budgets", "list of budgets", "[]",
        "Further budgets: {name, scope: {team: x}, limit_usd, period: day|week|month|total, "
        "alert_thresholds: [0.5, 0.8, 1.0]}. scope {} is global."},
       ApplyBudgets},
      {{"ledger.url", "URL", "memory://",
        "Where budgets, spend and the operations log live: memory:// (in-process), "
        "sqlite://PATH, redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DB. "
        "See docs/ledger.md."},
       Str(GENOPS_FIELD(c.adapter.ledger_url))},
      {{"ledger.leases.enabled", "bool", "false",
        "genops serve with a sqlite:// or redis:// ledger: admit calls against budget leases held "
        "in "
        "memory and write their spend to the ledger in batches (far fewer store transactions "
        "per call). Settlements become durable within flush_interval_ms; other processes see "
        "a lease's unused room as reserved. See docs/ledger.md."},
       Bool(GENOPS_FIELD(c.leases.enabled))},
      {{"ledger.leases.calls_per_lease", "integer", "256",
        "A lease holds room for at least this many calls the size of the one that opened it "
        "(more for a key whose calls come faster: a quarter of max_age_ms of them)."},
       Int(GENOPS_FIELD(c.leases.calls_per_lease), 2, 1'000'000)},
      {{"ledger.leases.max_headroom_share", "fraction", "0.1",
        "At most this share of the room left in a budget goes into one lease; near a limit "
        "calls are reserved one by one."},
       Fraction(GENOPS_FIELD(c.leases.max_headroom_share))},
      {{"ledger.leases.max_age_ms", "milliseconds", "1000",
        "A lease admits no call after this (how soon a budget changed elsewhere applies)."},
       Int(GENOPS_FIELD(c.leases.max_age_ms), 1, 3'600'000)},
      {{"ledger.leases.flush_interval_ms", "milliseconds", "2",
        "How often recorded settlements are written to the ledger."},
       Int(GENOPS_FIELD(c.leases.flush_interval_ms), 1, 60'000)},
      // gateway and receiver: read by `genops serve`.
      {{"gateway.enabled", "bool", "true", "Run the OpenAI/Anthropic-compatible gateway."},
       Bool(GENOPS_FIELD(c.gateway.enabled))},
      {{"gateway.listen", "host:port", "127.0.0.1:8080", "Gateway listen address."},
       Str(GENOPS_FIELD(c.gateway.listen))},
      {{"gateway.allow_passthrough_keys", "bool", "true",
        "Clients may use their own provider key."},
       Bool(GENOPS_FIELD(c.gateway.allow_passthrough_keys))},
      {{"gateway.providers", "map", "openai, anthropic",
        "Upstreams: <name>: {api: openai|anthropic, base_url, api_key_env, failover: [urls]}."},
       ApplyProviders},
      {{"gateway.max_concurrent_operations", "integer", "1000", "In-flight requests before 429."},
       Int(GENOPS_FIELD(c.gateway.max_concurrent_operations), 1, 10'000'000)},
      {{"gateway.retry_attempts", "integer", "3", "Upstream retries where safe."},
       Int(GENOPS_FIELD(c.gateway.retry_attempts), 0, 10)},
      {{"gateway.circuit_breaker_threshold", "integer", "10",
        "Consecutive upstream failures that open the breaker."},
       Int(GENOPS_FIELD(c.gateway.circuit_breaker_threshold), 1, 1'000'000)},
      {{"gateway.circuit_breaker_timeout", "seconds", "60", "Open-breaker time before a probe."},
       Int(GENOPS_FIELD(c.gateway.circuit_breaker_timeout), 1, 86400)},
      {{"gateway.admin_token_env", "string", "GENOPS_ADMIN_TOKEN",
        "Variable holding the admin API's bearer token (approvals, metrics); the admin API "
        "answers 403 while it is unset."},
       Str(GENOPS_FIELD(c.gateway.admin_token_env))},
      {{"gateway.max_request_bytes", "bytes", "33554432", "Larger request bodies get 413."},
       Int(GENOPS_FIELD(c.gateway.max_request_bytes), 1024, int64_t{1} << 32)},
      {{"gateway.max_response_bytes", "bytes", "67108864",
        "Larger non-streamed upstream answers get 502."},
       Int(GENOPS_FIELD(c.gateway.max_response_bytes), 1024, int64_t{1} << 34)},
      {{"gateway.governance_workers", "integer", "8",
        "Threads running admission with a durable ledger (they wait on it); settlement runs "
        "on max(64, 8x this) threads. With memory:// governance runs on the io threads."},
       Int(GENOPS_FIELD(c.gateway.governance_workers), 1, 256)},
      {{"receiver.enabled", "bool", "false",
        "Run the OTLP receiver: applications instrumented with OpenLLMetry/OpenTelemetry "
        "export to it; LLM spans are priced, attributed and charged, everything is forwarded "
        "to export.exporters. See docs/receiver.md."},
       Bool(GENOPS_FIELD(c.receiver.enabled))},
      {{"receiver.otlp_http_listen", "host:port", "127.0.0.1:4318",
        "OTLP/HTTP listen address (POST /v1/traces, protobuf or JSON); empty turns it off."},
       Str(GENOPS_FIELD(c.receiver.otlp_http_listen))},
      {{"receiver.otlp_grpc_listen", "host:port", "127.0.0.1:4317",
        "OTLP/gRPC listen address (TraceService/Export); empty turns it off."},
       Str(GENOPS_FIELD(c.receiver.otlp_grpc_listen))},
      {{"receiver.workers", "integer", "4",
        "Threads decoding, enriching and charging export requests (they wait on the ledger)."},
       Int(GENOPS_FIELD(c.receiver.workers), 1, 256)},
      {{"receiver.max_queued_requests", "integer", "256",
        "Export requests waiting for a worker; beyond, 503 / UNAVAILABLE (clients retry)."},
       Int(GENOPS_FIELD(c.receiver.max_queued_requests), 1, 1'000'000)},
      {{"receiver.max_request_bytes", "bytes", "33554432",
        "Larger export requests (as received) get 413 / RESOURCE_EXHAUSTED."},
       Int(GENOPS_FIELD(c.receiver.max_request_bytes), 1024, int64_t{1} << 30)},
      {{"receiver.max_decompressed_bytes", "bytes", "134217728",
        "Limit on a gzip body once decompressed (gzip bombs get 413)."},
       Int(GENOPS_FIELD(c.receiver.max_decompressed_bytes), 1024, int64_t{1} << 34)},
      {{"receiver.max_spans_per_request", "integer", "200000",
        "Export requests with more spans are refused whole (400)."},
       Int(GENOPS_FIELD(c.receiver.max_spans_per_request), 1, 100'000'000)},
      // export: the span pipeline.
      {{"export.exporters", "list of otlp | otlp_json | console | file | none",
        "[otlp] when an endpoint is set", "Where spans go."},
       List(GENOPS_FIELD(c.adapter.exporters))},
      {{"export.otlp.endpoint", "URL", "$OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTLP/HTTP traces endpoint."},
       Str(GENOPS_FIELD(c.adapter.otlp_endpoint))},
      {{"export.otlp.headers", "map of strings", "{}",
        "Extra headers (merged over OTEL_EXPORTER_OTLP_HEADERS)."},
       StrMap(GENOPS_FIELD(c.adapter.otlp_headers))},
      {{"export.otlp.compression", "gzip | none", "gzip", "Request body compression."},
       Str(GENOPS_FIELD(c.adapter.otlp_compression))},
      {{"export.otlp.timeout_ms", "milliseconds", "10000", "Per export, retries included."},
       Int(GENOPS_FIELD(c.adapter.export_timeout), 1, 600'000)},
      {{"export.otlp.failover_endpoints", "list of URLs", "[]",
        "Endpoints tried in order when the primary fails (the seed's failover_regions)."},
       ApplyOtlpFailover},
      {{"export.otlp.retry_attempts", "integer", "3",
        "Export retries on 429/502/503/504 and network errors."},
       Int(GENOPS_FIELD(c.adapter.retry_attempts), 0, 10)},
      {{"export.otlp.circuit_breaker_threshold", "integer", "10",
        "Failed exports that open an endpoint's breaker."},
       Int(GENOPS_FIELD(c.adapter.circuit_breaker_threshold), 1, 1'000'000)},
      {{"export.otlp.circuit_breaker_timeout", "seconds", "60",
        "Open-breaker time before a probe."},
       Int(GENOPS_FIELD(c.adapter.circuit_breaker_timeout), 1, 86400)},
      {{"export.otlp.health_check_interval", "seconds", "30",
        "Fail-back probe interval of the primary."},
       Int(GENOPS_FIELD(c.adapter.health_check_interval), 1, 86400)},
      {{"export.file.path", "path", "./genops-spans.jsonl",
        "JSON-lines span file of the file exporter."},
       Str(GENOPS_FIELD(c.adapter.file_path))},
      {{"export.service_name", "string", "$OTEL_SERVICE_NAME or the project",
        "service.name resource attribute."},
       Str(GENOPS_FIELD(c.adapter.service_name))},
      {{"export.sampling_rate", "fraction", "1.0",
        "Share of ordinary operations whose spans are exported."},
       Fraction(GENOPS_FIELD(c.adapter.sampling_rate))},
      {{"export.priority_sampling", "bool", "true",
        "High-priority operations are always exported."},
       Bool(GENOPS_FIELD(c.adapter.priority_sampling))},
      {{"export.error_sampling_rate", "fraction", "1.0", "Share of failed operations exported."},
       Fraction(GENOPS_FIELD(c.adapter.error_sampling_rate))},
      {{"export.enable_async_export", "bool", "true",
        "false: export synchronously when a span ends."},
       Bool(GENOPS_FIELD(c.adapter.enable_async_export))},
      {{"export.enable_batching", "bool", "true", "false: one span per export request."},
       Bool(GENOPS_FIELD(c.adapter.enable_batching))},
      {{"export.export_batch_size", "integer", "512", "Spans per export request."},
       Int(GENOPS_FIELD(c.adapter.export_batch_size), 1, 10'000'000)},
      {{"export.batch_timeout", "milliseconds", "5000",
        "Longest wait before a partial batch is exported."},
       Int(GENOPS_FIELD(c.adapter.batch_timeout), 1, 3'600'000)},
      {{"export.span_processor_queue_size", "integer", "2048",
        "Spans queued for export; beyond, drops are counted."},
       Int(GENOPS_FIELD(c.adapter.span_processor_queue_size), 1, 1 << 20)},
      {{"export.max_attribute_length", "integer", "1000",
        "Longer string attribute values are truncated."},
       Int(GENOPS_FIELD(c.adapter.max_attribute_length), 1, 1'000'000)},
      {{"export.max_events_per_span", "integer", "100", "Further events are dropped and counted."},
       Int(GENOPS_FIELD(c.adapter.max_events_per_span), 0, 100'000)},
      {{"export.max_spans_per_operation", "integer", "50", "Spans one root operation may produce."},
       Int(GENOPS_FIELD(c.adapter.max_spans_per_operation), 1, 1'000'000)},
      {{"pricing.overrides", "path", "null", "Catalog file merged over the built-in prices."},
       Str(GENOPS_FIELD(c.adapter.pricing_overrides))},
      {{"alerts.webhooks", "list of URLs", "[]", "Each alert is POSTed as JSON to every URL."},
       List(GENOPS_FIELD(c.adapter.alert_webhooks))},
      {{"alerts.log", "bool", "true", "Alerts are also written to the log."},
       Bool(GENOPS_FIELD(c.adapter.log_alerts))},
  };
  return *kSchema;
}

#undef GENOPS_FIELD

const std::set<std::string>& Sections() {
  static const std::set<std::string>* const kSections =
      new std::set<std::string>{"governance", "ledger",      "ledger.leases", "gateway", "receiver",
                                "export",     "export.otlp", "export.file",   "pricing", "alerts"};
  return *kSections;
}

const KeySpec* FindSpec(const std::string& path) {
  for (const auto& spec : Schema()) {
    if (spec.doc.path == path) return &spec;
  }
  return nullptr;
}

std::vector<std::string> ChildrenOf(const std::string& prefix) {
  std::set<std::string> out;
  const std::string p = prefix.empty() ? "" : prefix + ".";
  auto consider = [&](const std::string& path) {
    if (path.rfind(p, 0) != 0) return;
    std::string rest = path.substr(p.size());
    out.insert(rest.substr(0, rest.find('.')));
  };
  for (const auto& spec : Schema()) consider(spec.doc.path);
  for (const auto& s : Sections()) consider(s);
  return {out.begin(), out.end()};
}

absl::Status Walk(const YAML::Node& node, const std::string& prefix, std::string_view source,
                  FileConfig& config) {
  if (node.IsNull()) return absl::OkStatus();
  Where here = At(source, prefix.empty() ? "(top level)" : prefix, node);
  if (!node.IsMap()) return Bad(here, Cat("expected a mapping, got ", Describe(node)));
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Bad(here, "keys must be plain strings");
    const std::string key = kv.first.Scalar();
    const std::string path = prefix.empty() ? key : Cat(prefix, ".", key);
    if (const KeySpec* spec = FindSpec(path)) {
      if (auto s = spec->apply(kv.second, At(source, path, kv.second), config); !s.ok()) return s;
    } else if (Sections().count(path)) {
      if (auto s = Walk(kv.second, path, source, config); !s.ok()) return s;
    } else {
      return Bad(
          At(source, path, kv.first),
          Cat("unknown key; allowed ", prefix.empty() ? "at the top level" : Cat("in ", prefix),
              ": ", Join(ChildrenOf(prefix), ", ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FileConfig> ParseConfigYaml(std::string_view yaml, std::string_view source) {
  FileConfig config;
  config.source = std::string(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        Cat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
  try {
    if (auto s = Walk(root, "", source, config); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Cat(source, ":", e.mark.line + 1, ": ", e.msg));
  }
  return config;
}

absl::StatusOr<FileConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        Cat("config file \"", path, "\" cannot be read; check the path given to --config"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseConfigYaml(buffer.str(), path);
}

const std::vector<ConfigKeyDoc>& ConfigReference() {
  static const std::vector<ConfigKeyDoc>* const kDocs = [] {
    auto* docs = new std::vector<ConfigKeyDoc>;
    for (const auto& spec : Schema()) docs->push_back(spec.doc);
    return docs;
  }();
  return *kDocs;
}

std::string ConfigReferenceMarkdown() {
  std::string out =
      "# Configuration reference\n\n"
      "Generated by `genops config-reference` from the schema the parser uses "
      "(src/server/config_file.cc), so it cannot drift from the code. Every key is optional; "
      "an empty file is valid. Unknown keys are an error naming the file and line.\n\n"
      "| key | type | default | meaning |\n|---|---|---|---|\n";
  // A '|' inside a cell would end it; Markdown tables take it escaped.
  auto cell = [](std::string_view text) {
    std::string escaped;
    for (char c : text) {
      if (c == '|') escaped.push_back('\\');
      escaped.push_back(c);
    }
    return escaped;
  };
  for (const auto& d : ConfigReference()) {
    out += Cat("| `", d.path, "` | ", cell(d.type), " | `", cell(d.default_value), "` | ",
               cell(d.description), " |\n");
  }
  return out;
}

}  // namespace genops::server
