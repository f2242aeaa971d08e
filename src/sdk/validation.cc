// validate_setup(): checks a GenOps setup without making any LLM call.
#include "genops/validation.h"

#include <chrono>
#include <iostream>

#include "genops/adapter.h"
#include "nlohmann/json.hpp"
#include "src/core/catalog.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/export/http_transport.h"
#include "src/export/otlp_options.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/sdk/resolved_config.h"
#include "src/sdk/span_pipeline.h"
#include "src/server/config_file.h"
#include "src/telemetry/resource.h"
#include "src/telemetry/sampler.h"

namespace genops {
namespace {

class Report {
 public:
  explicit Report(ValidationResult& r) : r_(r) {}
  void Add(FindingSeverity severity, std::string area, std::string check, std::string message,
           std::string fix = "") {
    r_.findings.push_back(
        {severity, std::move(area), std::move(check), std::move(message), std::move(fix)});
  }

 private:
  ValidationResult& r_;
};

std::string_view SeverityWord(FindingSeverity s) {
  switch (s) {
    case FindingSeverity::kOk:
      return "ok";
    case FindingSeverity::kInfo:
      return "info";
    case FindingSeverity::kWarning:
      return "warning";
    case FindingSeverity::kError:
      return "error";
  }
  return "?";
}

void CheckEnvironment(const AdapterConfig& config, const Environment& env, Report& report) {
  const Attribution a = sdk::ResolveAttribution(config, env);
  if (a.team.empty() || a.project.empty()) {
    report.Add(FindingSeverity::kError, "environment", "attribution",
               "team and/or project are not set",
               "set governance.team/project in the config, or export GENOPS_TEAM and "
               "GENOPS_PROJECT");
  } else {
    report.Add(FindingSeverity::kOk, "environment", "attribution",
               Cat("team=", a.team, " project=", a.project, " environment=", a.environment));
  }
  std::vector<std::string> keys;
  for (const char* var :
       {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
        "MISTRAL_API_KEY", "COHERE_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY"}) {
    if (env.Get(var)) keys.push_back(var);
  }
  if (keys.empty()) {
    report.Add(FindingSeverity::kWarning, "environment", "provider keys",
               "No LLM provider API keys found (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...)",
               "export the key of each provider the application calls, e.g. "
               "export OPENAI_API_KEY=...");
  } else {
    report.Add(FindingSeverity::kOk, "environment", "provider keys",
               Cat("present: ", Join(keys, ", "), " (values never printed)"));
  }
  auto sampler = telemetry::SamplerConfigFromEnvironment(env, {});
  if (!sampler.ok()) {
    report.Add(FindingSeverity::kError, "environment", "OTEL_TRACES_SAMPLER",
               std::string(sampler.status().message()), "fix or unset the variable");
  }
  auto resource = telemetry::BuildResource(env, "genops");
  if (!resource.ok()) {
    report.Add(FindingSeverity::kError, "environment", "OTEL_RESOURCE_ATTRIBUTES",
               std::string(resource.status().message()), "fix or unset the variable");
  }
}

void CheckCatalog(const AdapterConfig& config, const std::vector<std::string>& models,
                  Report& report) {
  auto catalog = config.pricing_overrides.empty()
                     ? pricing::Catalog::Builtin()
                     : pricing::Catalog::BuiltinWithOverrides(config.pricing_overrides);
  if (!catalog.ok()) {
    report.Add(FindingSeverity::kError, "catalog", "load", std::string(catalog.status().message()),
               config.pricing_overrides.empty() ? "rebuild GenOps; the built-in catalog is broken"
                                                : "fix the file named by pricing.overrides");
    return;
  }
  report.Add(FindingSeverity::kOk, "catalog", "load",
             Cat((*catalog)->models().size(), " priced models",
                 config.pricing_overrides.empty() ? "" : " (with overrides)"));
  std::vector<std::string> wanted = models;
  wanted.insert(wanted.end(), config.allowed_models.begin(), config.allowed_models.end());
  for (const auto& model : wanted) {
    const auto* m = (*catalog)->Find("", model);
    if (m == nullptr) {
      auto close = (*catalog)->ClosestMatches(model, 3);
      report.Add(FindingSeverity::kError, "catalog", Cat("model ", model),
                 Cat("\"", model,
                     "\" has no price: its operations are unpriced (and blocked "
                     "under strict)"),
                 close.empty() ? "add it with a pricing.overrides file"
                               : Cat("did you mean ", Join(close, ", "),
                                     "? Or add it with a pricing.overrides file"));
    } else {
      report.Add(FindingSeverity::kOk, "catalog", Cat("model ", model),
                 Cat("priced as ", m->provider, "/", m->id, " (as of ", m->as_of, ")"));
    }
  }
}

void CheckExporters(const sdk::ResolvedConfig& rc, const Environment& env, bool connectivity,
                    Report& report) {
  const auto& exporters = rc.export_settings.exporters;
  if (exporters.empty()) {
    report.Add(FindingSeverity::kWarning, "exporters", "configured",
               "no span exporter: operations are governed and charged, but no spans leave the "
               "process",
               "set OTEL_EXPORTER_OTLP_ENDPOINT (or TRACELOOP_API_KEY), or export.exporters");
    return;
  }
  report.Add(FindingSeverity::kOk, "exporters", "configured", Join(exporters, ", "));
  const bool wants_otlp =
      std::find(exporters.begin(), exporters.end(), "otlp") != exporters.end() ||
      std::find(exporters.begin(), exporters.end(), "otlp_json") != exporters.end();
  if (!wants_otlp) return;
  auto options = sdk::OtlpOptionsFor(rc, env);
  if (!options.ok()) {
    report.Add(FindingSeverity::kError, "exporters", "otlp",
               std::string(options.status().message()),
               "fix the endpoint/headers settings or the OTEL_EXPORTER_OTLP_* variables");
    return;
  }
  report.Add(FindingSeverity::kOk, "exporters", "otlp endpoint", options->endpoint);
  if (!connectivity) {
    report.Add(FindingSeverity::kInfo, "exporters", "reachability", "not checked",
               "run with --connectivity to send an empty export to each endpoint");
    return;
  }
  auto transport = exporter::MakeCurlHttpTransport();
  std::vector<std::string> endpoints = {options->endpoint};
  endpoints.insert(endpoints.end(), options->failover_endpoints.begin(),
                   options->failover_endpoints.end());
  const std::string empty_request = exporter::EncodeOtlpProto({}, telemetry::ResourceInfo{});
  for (const auto& url : endpoints) {
    exporter::HttpRequest req;
    req.url = url;
    req.body = empty_request;
    req.timeout = std::chrono::milliseconds(5000);
    req.headers.push_back({"Content-Type", "application/x-protobuf"});
    for (const auto& [k, v] : options->headers) req.headers.push_back({k, v});
    exporter::HttpResponse resp = transport->Post(req);
    if (resp.ok()) {
      report.Add(FindingSeverity::kOk, "exporters", Cat("reach ", url), Cat("HTTP ", resp.status));
    } else {
      report.Add(FindingSeverity::kError, "exporters", Cat("reach ", url),
                 resp.transport_error.empty() ? Cat("HTTP ", resp.status) : resp.transport_error,
                 "check the collector is running and the URL ends in /v1/traces");
    }
  }
}

void CheckPerformance(const AdapterConfig& base, Report& report) {
  AdapterConfig config = base;
  config.exporters = {"none"};
  config.enable_audit_logging = false;
  config.audit_all_operations = false;
  config.alert_webhooks.clear();
  config.log_alerts = false;
  config.governance_policy = PolicyLevel::kEnforced;
  config.daily_budget_limit = 1e9;
  auto adapter = instrument_traceloop(config);
  if (!adapter.ok()) return;
  constexpr int kOps = 20000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kOps; ++i) {
    Operation op = (*adapter)->try_track_operation(
        "chat_completion", "validate",
        {.provider = "openai", .model = "gpt-4o-mini", .max_output_tokens = 100});
    op.update_token_usage(120, 40);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double ns =
      std::chrono::duration<double, std::nano>(elapsed).count() / static_cast<double>(kOps);
  report.Add(FindingSeverity::kInfo, "performance", "overhead",
             Cat(static_cast<int64_t>(ns), " ns per governed operation (", kOps,
                 " operations, in-process, no export)"));
  (*adapter)->shutdown();
}

}  // namespace

bool ValidationResult::ok() const { return errors() == 0; }
int ValidationResult::errors() const {
  int n = 0;
  for (const auto& f : findings) n += f.severity == FindingSeverity::kError;
  return n;
}
int ValidationResult::warnings() const {
  int n = 0;
  for (const auto& f : findings) n += f.severity == FindingSeverity::kWarning;
  return n;
}

std::string ValidationResult::ToJson() const {
  nlohmann::json j = {{"ok", ok()}, {"errors", errors()}, {"warnings", warnings()}};
  j["findings"] = nlohmann::json::array();
  for (const auto& f : findings) {
    j["findings"].push_back({{"severity", std::string(SeverityWord(f.severity))},
                             {"area", f.area},
                             {"check", f.check},
                             {"message", f.message},
                             {"fix", f.fix}});
  }
  return j.dump(2);
}

ValidationResult validate_setup(const ValidationOptions& options) {
  ValidationResult result;
  Report report(result);
  const Environment& env = *Environment::Process();
  AdapterConfig config = options.config.value_or(AdapterConfig{});
  std::string source = "configuration";
  if (!options.config_file.empty()) {
    auto file = server::LoadConfigFile(options.config_file);
    if (!file.ok()) {
      report.Add(FindingSeverity::kError, "configuration", "parse",
                 std::string(file.status().message()),
                 "fix the key named above; `genops config-reference` lists every key");
      return result;
    }
    config = file->adapter;
    source = options.config_file;
    report.Add(FindingSeverity::kOk, "configuration", "parse", Cat(source, " parsed"));
  }
  const Environment* effective_env = config.env != nullptr ? config.env : &env;
  auto resolved = sdk::ResolveConfig(config, *effective_env);
  if (!resolved.ok()) {
    report.Add(FindingSeverity::kError, "configuration", "values",
               Cat(source, ": ", resolved.status().message()), "correct the parameter named above");
  } else {
    report.Add(
        FindingSeverity::kOk, "configuration", "values",
        Cat("policy ", PolicyLevelName(resolved->governance.level), ", ",
            resolved->governance.budgets.size() + (resolved->governance.daily_budget_limit ? 1 : 0),
            " budget(s)"));
  }
  CheckEnvironment(config, *effective_env, report);
  CheckCatalog(config, options.models, report);
  if (resolved.ok()) {
    CheckExporters(*resolved, *effective_env, options.include_connectivity_tests, report);
    if (options.include_performance_tests) CheckPerformance(config, report);
  }
  return result;
}

void print_validation_result(const ValidationResult& result, bool detailed) {
  print_validation_result(result, detailed, std::cout);
}

void print_validation_result(const ValidationResult& result, bool detailed, std::ostream& out) {
  out << "GenOps setup validation\n";
  std::string area;
  for (const auto& f : result.findings) {
    if (!detailed && f.severity == FindingSeverity::kOk) continue;
    if (f.area != area) {
      area = f.area;
      out << "\n" << area << "\n";
    }
    const char* mark = f.severity == FindingSeverity::kOk        ? "  [ok]   "
                       : f.severity == FindingSeverity::kInfo    ? "  [info] "
                       : f.severity == FindingSeverity::kWarning ? "  [warn] "
                                                                 : "  [FAIL] ";
    out << mark << f.check << ": " << f.message << "\n";
    if (!f.fix.empty() && f.severity != FindingSeverity::kOk)
      out << "         fix: " << f.fix << "\n";
  }
  out << "\n"
      << (result.ok() ? "PASSED" : "FAILED") << ": " << result.errors() << " error(s), "
      << result.warnings() << " warning(s)\n";
}

}  // namespace genops
