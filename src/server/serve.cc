#include "src/server/serve.h"

#include <utility>

#include "spdlog/spdlog.h"
#include "src/core/text.h"
#include "src/ledger/ledger_factory.h"
#include "src/sdk/adapter_impl.h"

namespace genops::server {
namespace {

struct DefaultProvider {
  const char* name;
  const char* api;
  const char* base_url;
  const char* api_key_env;
};
constexpr DefaultProvider kDefaultProviders[] = {
    {"openai", "openai", "https://api.openai.com", "OPENAI_API_KEY"},
    {"anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"},
};

}  // namespace

absl::StatusOr<gateway::GatewayOptions> GatewayOptionsFromConfig(const FileConfig& config,
                                                                 const Environment& env) {
  const GatewayConfig& g = config.gateway;
  gateway::GatewayOptions o;
  o.server.listen = g.listen;
  o.server.max_body_bytes = static_cast<size_t>(g.max_request_bytes);
  o.allow_passthrough_keys = g.allow_passthrough_keys;
  o.max_concurrent_operations = g.max_concurrent_operations;
  o.retry_attempts = g.retry_attempts;
  o.circuit_breaker_threshold = g.circuit_breaker_threshold;
  o.circuit_breaker_timeout = absl::Seconds(g.circuit_breaker_timeout);
  o.operation_timeout = absl::Seconds(config.adapter.operation_timeout);
  o.max_response_bytes = static_cast<size_t>(g.max_response_bytes);
  o.governance_workers = g.governance_workers;
  if (!g.admin_token_env.empty()) o.admin_token = env.Get(g.admin_token_env).value_or("");

  std::map<std::string, ProviderEndpointConfig> providers = g.providers;
  for (const DefaultProvider& d : kDefaultProviders) {
    if (providers.count(d.name) == 0) {
      providers[d.name] = {.api = d.api, .base_url = d.base_url, .api_key_env = d.api_key_env};
    }
  }
  for (const auto& [name, p] : providers) {
    gateway::UpstreamProviderSpec spec;
    spec.name = name;
    const std::string api = !p.api.empty() ? p.api : (name == "anthropic" ? "anthropic" : "openai");
    spec.api = api == "anthropic" ? gateway::ApiFamily::kAnthropic : gateway::ApiFamily::kOpenAI;
    if (p.base_url.empty()) {
      return absl::InvalidArgumentError(Cat(config.source, ": gateway.providers.", name,
                                            ".base_url is required (e.g. https://api.openai.com)"));
    }
    spec.base_url = p.base_url;
    spec.failover = p.failover;
    spec.api_key_env = p.api_key_env;
    if (!p.api_key_env.empty()) spec.api_key = env.Get(p.api_key_env).value_or("");
    o.providers.push_back(std::move(spec));
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const FileConfig& config,
                                                      const DaemonOverrides& overrides,
                                                      const Environment& env) {
  if (config.receiver.enabled) {
    return absl::UnimplementedError(
        Cat(config.source.empty() ? "config" : config.source,
            ": receiver.enabled: true is not supported yet (the OTLP receiver is not part of this "
            "build; see docs/roadmap.md); remove it or set it to false"));
  }
  if (!config.gateway.enabled) {
    return absl::InvalidArgumentError(
        Cat(config.source.empty() ? "config" : config.source,
            ": gateway.enabled is false and nothing else is enabled: nothing to serve"));
  }
  std::unique_ptr<Daemon> d(new Daemon());
  auto ledger = ledger::OpenLedger(config.adapter.ledger_url, {});
  if (!ledger.ok()) {
    return absl::Status(ledger.status().code(), Cat("ledger.url: ", ledger.status().message()));
  }
  d->ledger_ = std::move(*ledger);
  d->approvals_ = std::make_shared<ApprovalStore>();

  AdapterDependencies deps;
  deps.ledger = d->ledger_;
  deps.approvals = d->approvals_;
  deps.persist_operations = config.adapter.ledger_url != "memory://";
  auto adapter = AdapterImpl::Create(config.adapter, std::move(deps));
  if (!adapter.ok()) return adapter.status();
  d->adapter_ = std::move(*adapter);

  auto options = GatewayOptionsFromConfig(config, env);
  if (!options.ok()) return options.status();
  if (overrides.gateway_listen.has_value()) options->server.listen = *overrides.gateway_listen;
  for (const auto& p : options->providers) {
    if (p.api_key.empty() && !p.api_key_env.empty()) {
      spdlog::info(
          "gateway: {} is not set; requests with a virtual key reach provider '{}' "
          "without a provider key (clients may still pass their own)",
          p.api_key_env, p.name);
    }
  }
  auto gateway = gateway::Gateway::Start(
      std::move(*options),
      {.adapter = d->adapter_, .ledger = d->ledger_, .approvals = d->approvals_});
  if (!gateway.ok()) {
    return absl::Status(gateway.status().code(), Cat("gateway: ", gateway.status().message()));
  }
  d->gateway_ = std::move(*gateway);
  return d;
}

Daemon::~Daemon() { Shutdown(absl::ZeroDuration()); }

std::string Daemon::gateway_url() const { return gateway_ ? gateway_->base_url() : ""; }

void Daemon::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (gateway_) gateway_->Shutdown(grace);
  if (adapter_) {
    adapter_->flush(10000);
    adapter_->shutdown();
  }
}

}  // namespace genops::server
