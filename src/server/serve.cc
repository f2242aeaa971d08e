#include "src/server/serve.h"

#include <utility>

#include "genops/money.h"
#include "spdlog/spdlog.h"
#include "src/core/text.h"
#include "src/ledger/lease_ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/sdk/adapter_impl.h"
#include "src/server/prometheus_text.h"

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

receiver::ReceiverOptions ReceiverOptionsFromConfig(const FileConfig& config) {
  receiver::ReceiverOptions o;
  o.limits.max_spans = static_cast<size_t>(config.receiver.max_spans_per_request);
  return o;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const FileConfig& config,
                                                      const DaemonOverrides& overrides,
                                                      const Environment& env) {
  const std::string source = config.source.empty() ? "config" : config.source;
  if (!config.gateway.enabled && !config.receiver.enabled) {
    return absl::InvalidArgumentError(
        Cat(source, ": gateway.enabled and receiver.enabled are both false: nothing to serve"));
  }
  if (config.receiver.enabled && config.receiver.otlp_http_listen.empty() &&
      config.receiver.otlp_grpc_listen.empty()) {
    return absl::InvalidArgumentError(
        Cat(source,
            ": receiver.enabled is true but receiver.otlp_http_listen and "
            "receiver.otlp_grpc_listen are both empty: give at least one address"));
  }
  std::unique_ptr<Daemon> d(new Daemon());
  auto ledger =
      ledger::OpenLedger(config.adapter.ledger_url, {.batched_writes = config.leases.enabled});
  if (!ledger.ok()) {
    return absl::Status(ledger.status().code(), Cat("ledger.url: ", ledger.status().message()));
  }
  d->ledger_ = std::move(*ledger);
  if (config.leases.enabled) {
    if (config.adapter.ledger_url == "memory://") {
      return absl::InvalidArgumentError(
          Cat(source,
              ": ledger.leases.enabled needs a durable ledger (sqlite://, redis://, "
              "postgresql://); memory:// already admits calls in memory"));
    }
    ledger::BudgetLeaseOptions lease_options;
    lease_options.calls_per_lease = config.leases.calls_per_lease;
    lease_options.max_headroom_share = config.leases.max_headroom_share;
    lease_options.max_age = absl::Milliseconds(config.leases.max_age_ms);
    lease_options.flush_interval = absl::Milliseconds(config.leases.flush_interval_ms);
    auto leased = ledger::WrapWithBudgetLeases(d->ledger_, lease_options);
    if (!leased.ok())
      return absl::Status(leased.status().code(), Cat(source, ": ", leased.status().message()));
    d->ledger_ = std::move(*leased);
  }
  d->approvals_ = std::make_shared<ApprovalStore>();

  AdapterDependencies deps;
  deps.ledger = d->ledger_;
  deps.approvals = d->approvals_;
  deps.persist_operations = config.adapter.ledger_url != "memory://";
  auto adapter = AdapterImpl::Create(config.adapter, std::move(deps));
  if (!adapter.ok()) return adapter.status();
  d->adapter_ = std::move(*adapter);

  if (config.gateway.enabled) {
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
  } else if (overrides.gateway_listen.has_value()) {
    return absl::InvalidArgumentError(
        Cat("--listen sets the gateway's address, but ", source, " has gateway.enabled: false"));
  }

  if (config.receiver.enabled) {
    if (absl::Status s = d->StartReceiver(config, *d->adapter_); !s.ok()) return s;
  }
  return d;
}

absl::Status Daemon::StartReceiver(const FileConfig& config, AdapterImpl& adapter) {
  const ReceiverConfig& rc = config.receiver;
  receiver_workers_ = std::make_unique<WorkerPool>(
      WorkerPoolOptions{.threads = rc.workers,
                        .max_queued = static_cast<size_t>(rc.max_queued_requests),
                        .name = "otlp-receiver"});
  auto created = receiver::OtlpTraceReceiver::Create(
      ReceiverOptionsFromConfig(config),
      {.catalog = adapter.catalog(),
       .governor = adapter.shared_governor(),
       .sink = receiver::MakeSpanProcessorSink(adapter.shared_span_processor()),
       .records = [a = adapter_](std::unique_ptr<OperationRecord>& r) {
         a->RecordExternalOperation(r);
       },
       .clock = &adapter.clock()});
  if (!created.ok()) return created.status();
  receiver_ = std::move(*created);
  receiver::Executor executor = [pool = receiver_workers_.get()](std::function<void()> task) {
    return pool->Post(std::move(task));
  };

  if (!rc.otlp_http_listen.empty()) {
    otlp_http_ = std::make_shared<receiver::OtlpHttpReceiver>(
        receiver_, executor,
        receiver::OtlpHttpOptions{
            .max_body_bytes = static_cast<size_t>(rc.max_request_bytes),
            .max_decompressed_bytes = static_cast<size_t>(rc.max_decompressed_bytes)});
    gateway::HttpServerOptions server;
    server.listen = rc.otlp_http_listen;
    server.max_body_bytes = static_cast<size_t>(rc.max_request_bytes);
    auto http = gateway::HttpServer::Start(
        std::move(server),
        [this](gateway::HttpRequest request, std::shared_ptr<gateway::HttpResponseWriter> writer) {
          HandleReceiverHttp(std::move(request), std::move(writer));
        });
    if (!http.ok()) {
      return absl::Status(http.status().code(),
                          Cat("receiver.otlp_http_listen: ", http.status().message()));
    }
    otlp_http_server_ = std::move(*http);
  }
  if (!rc.otlp_grpc_listen.empty()) {
    auto grpc = receiver::OtlpGrpcServer::Start(
        {.listen = rc.otlp_grpc_listen,
         .max_receive_message_bytes = static_cast<int>(
             rc.max_decompressed_bytes > INT32_MAX ? INT32_MAX : rc.max_decompressed_bytes)},
        receiver_, executor);
    if (!grpc.ok()) {
      return absl::Status(grpc.status().code(),
                          Cat("receiver.otlp_grpc_listen: ", grpc.status().message()));
    }
    otlp_grpc_server_ = std::move(*grpc);
    const std::string& listen = rc.otlp_grpc_listen;
    const size_t colon = listen.rfind(':');
    otlp_grpc_address_ = Cat(colon == std::string::npos ? listen : listen.substr(0, colon), ":",
                             otlp_grpc_server_->port());
  }
  return absl::OkStatus();
}

void Daemon::HandleReceiverHttp(gateway::HttpRequest request,
                                std::shared_ptr<gateway::HttpResponseWriter> writer) {
  if (request.method == "GET" && request.path == "/metrics") {
    gateway::HttpResponse response = gateway::HttpResponse::Text(200, MetricsText());
    response.headers.Set("Content-Type", PrometheusText::kContentType);
    writer->Respond(std::move(response));
    return;
  }
  if (request.method == "GET" && request.path == "/health") {
    writer->Respond(gateway::HttpResponse::Text(200, "ok\n"));
    return;
  }
  otlp_http_->Handle(std::move(request), std::move(writer));
}

Daemon::~Daemon() { Shutdown(absl::ZeroDuration()); }

std::string Daemon::gateway_url() const { return gateway_ ? gateway_->base_url() : ""; }

std::string Daemon::otlp_http_base_url() const {
  if (otlp_http_server_ == nullptr) return "";
  return Cat("http://", otlp_http_server_->address());
}

std::string Daemon::otlp_http_url() const {
  if (otlp_http_server_ == nullptr) return "";
  return Cat(otlp_http_base_url(), receiver::OtlpHttpOptions{}.path);
}

std::string Daemon::otlp_grpc_address() const { return otlp_grpc_address_; }

std::string Daemon::MetricsText() const {
  PrometheusText t;
  if (receiver_ != nullptr) {
    const receiver::ReceiverStats r = receiver_->stats();
    t.Counter("genops_receiver_requests_total", "OTLP export requests received", r.requests);
    t.Counter("genops_receiver_requests_refused_total",
              "Export requests refused whole (undecodable, too large)", r.requests_refused);
    t.Counter("genops_receiver_spans_received_total", "Spans in export requests", r.spans_received);
    t.Counter("genops_receiver_spans_accepted_total", "Spans accepted and queued for forwarding",
              r.spans_accepted);
    t.Counter("genops_receiver_spans_rejected_total",
              "Spans rejected (OTLP partial success): not charged, not forwarded",
              r.spans_rejected);
    t.Counter("genops_receiver_llm_spans_total", "Accepted spans recognised as LLM calls",
              r.llm_spans);
    t.Counter("genops_receiver_llm_spans_priced_total", "LLM spans priced and charged",
              r.priced_spans);
    t.Counter("genops_receiver_llm_spans_unpriced_total",
              "LLM spans whose model has no price (genops.cost.priced=false, not charged)",
              r.unpriced_spans);
    t.Counter("genops_receiver_llm_spans_without_usage_total",
              "LLM spans without usable token counts", r.spans_without_usage);
    t.Counter("genops_receiver_spans_already_governed_total",
              "Spans a GenOps SDK or gateway had already charged (passed through)",
              r.already_governed);
    t.Counter("genops_receiver_ledger_errors_total",
              "Charges the ledger refused (queued and retried by the governor)", r.ledger_errors);
    t.Counter("genops_receiver_llm_spans_redelivered_total",
              "Priced LLM spans the ledger had already charged (an exporter's retry)",
              r.redelivered_spans);
    t.CounterText("genops_receiver_charged_usd_total",
                  "Cost newly charged to the ledger by the receiver (USD)",
                  Money::FromNanos(r.charged_nanos).ToUsdString());
    if (otlp_http_ != nullptr) {
      const receiver::OtlpHttpStats h = otlp_http_->stats();
      const char* kHelp = "OTLP/HTTP responses by result";
      t.Counter("genops_receiver_http_responses_total", kHelp, h.ok, {{"result", "ok"}});
      t.Counter("genops_receiver_http_responses_total", kHelp, h.partial, {{"result", "partial"}});
      t.Counter("genops_receiver_http_responses_total", kHelp, h.bad_request,
                {{"result", "bad_request"}});
      t.Counter("genops_receiver_http_responses_total", kHelp, h.unsupported_media,
                {{"result", "unsupported_media_type"}});
      t.Counter("genops_receiver_http_responses_total", kHelp, h.too_large,
                {{"result", "too_large"}});
      t.Counter("genops_receiver_http_responses_total", kHelp, h.not_found,
                {{"result", "not_found"}});
      t.Counter("genops_receiver_http_responses_total", kHelp, h.unavailable,
                {{"result", "unavailable"}});
    }
    if (otlp_grpc_server_ != nullptr) {
      const receiver::OtlpGrpcStats g = otlp_grpc_server_->stats();
      const char* kHelp = "OTLP/gRPC responses by status";
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.ok, {{"result", "ok"}});
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.partial, {{"result", "partial"}});
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.invalid,
                {{"result", "invalid_argument"}});
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.unavailable,
                {{"result", "unavailable"}});
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.unimplemented,
                {{"result", "unimplemented"}});
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.too_large,
                {{"result", "too_large"}});
      t.Counter("genops_receiver_grpc_responses_total", kHelp, g.no_message,
                {{"result", "no_message"}});
    }
    t.Gauge("genops_receiver_queued_requests", "Export requests waiting for a receiver worker",
            static_cast<int64_t>(receiver_workers_->queued()));
  }
  if (gateway_ != nullptr) {
    const gateway::GatewayStats g = gateway_->stats();
    t.Counter("genops_gateway_requests_total", "Governed requests received", g.requests);
    t.Counter("genops_gateway_refused_total", "Requests refused by governance (402/403/503)",
              g.refused);
    t.Counter("genops_gateway_unauthorized_total", "Requests refused with 401", g.unauthorized);
    t.Counter("genops_gateway_bad_requests_total", "Requests answered 400/404/405", g.bad_requests);
    t.Counter("genops_gateway_overloaded_total", "Requests refused with 429 (concurrency)",
              g.overloaded);
    t.Counter("genops_gateway_upstream_attempts_total", "Upstream attempts made", g.forwarded);
    t.Counter("genops_gateway_upstream_retries_total", "Upstream attempts after the first",
              g.retries);
    t.Counter("genops_gateway_upstream_errors_total",
              "Requests answered with an upstream or gateway error", g.upstream_errors);
    t.Counter("genops_gateway_breaker_rejections_total",
              "Requests refused because every endpoint's breaker was open", g.breaker_rejections);
    t.Counter("genops_gateway_streams_total", "Streamed answers relayed", g.streams);
    t.Counter("genops_gateway_client_disconnects_total", "Clients gone before the answer ended",
              g.client_disconnects);
    t.Gauge("genops_gateway_in_flight", "Requests in flight", g.in_flight);
  }
  if (absl::StatusOr<ledger::BudgetLeaseStats> l = ledger::GetBudgetLeaseStats(*ledger_); l.ok()) {
    t.Counter("genops_ledger_leases_opened_total", "Budget leases reserved in the ledger",
              l->leases_opened);
    t.Counter("genops_ledger_leases_prefetched_total",
              "Budget leases reserved ahead, before the current one ran out", l->leases_prefetched);
    t.Counter("genops_ledger_leases_released_total", "Budget leases given back",
              l->leases_released);
    t.Counter("genops_ledger_lease_refusals_total",
              "Leases the ledger had no room for (calls then reserved one by one)",
              l->lease_refusals);
    const char* kAdmitHelp = "Calls admitted, by where their room came from";
    t.Counter("genops_ledger_admissions_total", kAdmitHelp, l->local_admissions,
              {{"from", "lease"}});
    t.Counter("genops_ledger_admissions_total", kAdmitHelp, l->direct_reservations,
              {{"from", "ledger"}});
    t.Counter("genops_ledger_lease_writes_total",
              "Settlements and charges written to the ledger by the lease flusher",
              l->charges_written);
    t.Counter("genops_ledger_lease_write_errors_total",
              "Lease flusher writes the ledger failed (kept and retried)", l->store_errors);
    t.Gauge("genops_ledger_lease_pending_writes",
            "Settlements recorded and not yet written to the ledger", l->pending);
    t.Gauge("genops_ledger_lease_keys", "Attribution keys holding a budget lease", l->keys);
    t.Counter("genops_ledger_budget_lists_shared_total",
              "Budget listings (advisory level) answered from a read made for an earlier call",
              l->budget_lists_shared);
  }
  const telemetry::SpanProcessorStats p = adapter_->shared_span_processor()->stats();
  t.Counter("genops_export_spans_enqueued_total", "Spans queued for export", p.enqueued);
  t.Counter("genops_export_spans_exported_total", "Spans the exporters accepted", p.exported);
  const char* kDropHelp = "Spans dropped before reaching a backend, by reason";
  t.Counter("genops_export_spans_dropped_total", kDropHelp, p.dropped_queue_full,
            {{"reason", "queue_full"}});
  t.Counter("genops_export_spans_dropped_total", kDropHelp, p.dropped_after_shutdown,
            {{"reason", "shutdown"}});
  t.Counter("genops_export_spans_dropped_total", kDropHelp, p.failed_spans,
            {{"reason", "export_failed"}});
  t.Counter("genops_export_failures_total", "Export calls that failed", p.export_failures);
  return t.Finish();
}

void Daemon::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  // Front ends first (each drains what it accepted), then the receiver's queued work, then
  // what is owed downstream: settlements, the operations log, spans.
  if (gateway_) gateway_->Shutdown(grace);
  if (otlp_http_server_) otlp_http_server_->Shutdown(grace);
  if (otlp_grpc_server_) otlp_grpc_server_->Shutdown(grace);
  if (receiver_workers_) receiver_workers_->Shutdown();
  if (adapter_) {
    adapter_->flush(10000);
    adapter_->shutdown();
  }
}

}  // namespace genops::server
