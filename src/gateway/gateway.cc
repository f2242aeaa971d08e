#include "src/gateway/gateway.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "spdlog/spdlog.h"
#include "src/core/text.h"
#include "src/core/worker_pool.h"
#include "src/gateway/admin_api.h"
#include "src/gateway/event_loop.h"
#include "src/gateway/provider_protocol.h"
#include "src/gateway/virtual_keys.h"
#include "src/ledger/lease_ledger.h"
#include "src/ledger/memory_ledger.h"

namespace genops::gateway {
namespace {

constexpr std::string_view kOverheadHeader = "x-genops-overhead-us";

// Hop-by-hop fields (RFC 9110 §7.6.1) and the ones the gateway sets itself never travel on.
bool IsHopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection",
                                                "keep-alive",
                                                "proxy-connection",
                                                "transfer-encoding",
                                                "te",
                                                "trailer",
                                                "upgrade",
                                                "content-length",
                                                "host",
                                                "proxy-authorization"};
  for (std::string_view n : kNames) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

// Client headers that must not reach the provider: credentials (replaced by the provider
// key), GenOps' own controls, and Accept-Encoding (the gateway reads the answer to meter it,
// so it asks for identity).
bool IsStrippedRequestHeader(std::string_view name) {
  return IsHopByHop(name) || EqualsIgnoreCase(name, "authorization") ||
         EqualsIgnoreCase(name, "x-api-key") || EqualsIgnoreCase(name, "accept-encoding") ||
         StartsWithIgnoreCase(name, "x-genops-") || EqualsIgnoreCase(name, "traceparent") ||
         EqualsIgnoreCase(name, "tracestate");
}

struct Refusal {
  int status = 400;
  std::string type;  // the provider-shaped error type (OpenAI)
  std::string code;  // genops_* code
  std::string message;
};

Refusal RefusalFor(const Decision& d) {
  Refusal r;
  switch (d.reason) {
    case DecisionReason::kBudgetExceeded:
      r = {402, "insufficient_quota", "genops_budget_exceeded", ""};
      break;
    case DecisionReason::kOperationCostExceeded:
      r = {402, "insufficient_quota", "genops_operation_cost_exceeded", ""};
      break;
    case DecisionReason::kApprovalRequired:
      r = {403, "permission_error", "genops_approval_required", ""};
      break;
    case DecisionReason::kLedgerUnavailable:
      r = {503, "server_error", "genops_ledger_unavailable", ""};
      break;
    case DecisionReason::kConcurrencyLimit:
      r = {429, "rate_limit_error", "genops_concurrency_limit", ""};
      break;
    default:
      r = {403, "permission_error", "genops_policy_violation", ""};
      break;
  }
  if (d.result == DecisionResult::kApprovalRequired) {
    r.status = 403;
    r.type = "permission_error";
    r.code = "genops_approval_required";
    const bool stop = !d.message.empty() && d.message.back() == '.';
    r.message =
        Cat("GenOps: approval required (approval id ", d.approval_id, "): ", d.message,
            stop ? "" : ".", " An operator approves it with `genops approvals approve ",
            d.approval_id, "`; then retry with the header x-genops-approval: ", d.approval_id, ".");
  } else {
    r.message =
        Cat("GenOps refused this request (", DecisionReasonName(d.reason), "): ", d.message);
  }
  return r;
}

// "k=v,k2=v2" -> map; an entry without '=' or with an empty key is an error.
absl::StatusOr<std::map<std::string, std::string>> ParseTagsHeader(std::string_view value) {
  std::map<std::string, std::string> tags;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = StripBlanks(value.substr(pos, comma - pos));
    if (!item.empty()) {
      const size_t eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return absl::InvalidArgumentError(
            Cat("header x-genops-tags: \"", item, "\" is not key=value (expected k=v,k2=v2)"));
      }
      tags[std::string(StripBlanks(item.substr(0, eq)))] =
          std::string(StripBlanks(item.substr(eq + 1)));
    }
    pos = comma + 1;
  }
  return tags;
}

// True when admission and settlement may run on the io threads: the in-process store
// (memory://) takes a mutex for microseconds and never waits for a disk or a network
// (compared by dynamic type, its class being private to memory_ledger.cc); a leasing ledger
// waits only to reserve a lease (once per many calls) or, near a limit, a single call.
bool LedgerRarelyBlocks(const ledger::Ledger& l) {
  if (ledger::HasBudgetLeases(l)) return true;
  static const std::type_info* const memory = [] {
    const std::unique_ptr<ledger::Ledger> probe = ledger::NewMemoryLedger(nullptr);
    const ledger::Ledger& ref = *probe;
    return &typeid(ref);
  }();
  return typeid(l) == *memory;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Core: shared by the server's handler, the workers and every exchange.

struct Gateway::Core : std::enable_shared_from_this<Gateway::Core> {
  GatewayOptions options;
  GatewayDependencies deps;
  std::map<std::string, std::unique_ptr<UpstreamProvider>> providers;  // by name
  std::unique_ptr<VirtualKeyResolver> keys;
  // The io threads, shared by the server and the client: an exchange runs on its downstream
  // connection's loop, its upstream call included. Declared before the server and the
  // client, which hold sockets of these loops, so that it is destroyed after them.
  std::shared_ptr<EventLoopGroup> loops;
  // Governance on the io threads (the ledger never blocks) or on the pools below.
  bool governance_on_io_threads = false;
  // Both pools exist only when governance is not on the io threads.
  std::unique_ptr<WorkerPool> workers;  // admission
  // Settlement: with a durable ledger a settlement waits for the disk flush of its group
  // commit. Those waits park cheap threads here instead of starving admission.
  std::unique_ptr<WorkerPool> settlers;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<HttpServer> server;
  std::atomic<bool> stopping{false};

  std::atomic<uint64_t> requests{0}, refused{0}, unauthorized{0}, bad_requests{0}, overloaded{0},
      forwarded{0}, retries{0}, upstream_errors{0}, breaker_rejections{0}, streams{0},
      client_disconnects{0};
  std::atomic<int64_t> in_flight{0};

  std::mutex rng_mu;
  std::mt19937_64 rng{std::random_device{}()};

  int64_t NowMono() const { return options.clock->MonotonicNanos(); }

  void Handle(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer);
  UpstreamProvider* ProviderFor(const RouteInfo& route, const HttpHeaders& headers,
                                std::string* error);
  absl::Duration Backoff(int attempt, std::optional<absl::Duration> retry_after);
};

namespace {

// One request from arrival to the last byte of its answer. Owned by shared_ptrs held by the
// callbacks in flight; the last one releases the in-flight slot.
struct Exchange {
  std::shared_ptr<Gateway::Core> core;
  HttpRequest request;
  std::shared_ptr<HttpResponseWriter> writer;
  RouteInfo route{};
  InspectedRequest inspected;
  UpstreamProvider* provider = nullptr;
  std::string upstream_credential;  // header value to send ("Bearer ..." or the x-api-key)
  std::string upstream_credential_header;
  std::optional<Operation> op;
  std::string operation_id;
  std::string op_traceparent;

  int64_t received_mono = 0;
  int64_t upstream_start_mono = 0;
  int64_t upstream_end_mono = 0;
  int attempt = 0;  // attempts made so far
  size_t next_endpoint = 0;
  size_t endpoint = 0;
  std::shared_ptr<HttpClientCall> call;  // written under call_mu (a disconnect reads it)
  std::mutex call_mu;
  std::unique_ptr<StreamMeter> meter;
  std::string body;  // a non-streamed answer being collected
  int upstream_status = 0;
  HttpHeaders upstream_headers;
  std::atomic<bool> finished{false};
  std::atomic<bool> client_gone{false};

  ~Exchange() { core->in_flight.fetch_sub(1, std::memory_order_relaxed); }

  ApiFamily family() const { return route.family; }
};
using ExchangePtr = std::shared_ptr<Exchange>;

void AddGenOpsHeaders(const Exchange& ex, HttpHeaders& headers) {
  if (!ex.operation_id.empty()) headers.Set("x-genops-operation-id", ex.operation_id);
}

void RespondError(const ExchangePtr& ex, int status, std::string_view type, std::string_view code,
                  std::string_view message, bool should_retry = false) {
  HttpResponse r = HttpResponse::Json(status, ErrorBody(ex->family(), type, code, message));
  if (!should_retry) r.headers.Set("x-should-retry", "false");
  AddGenOpsHeaders(*ex, r.headers);
  ex->writer->Respond(std::move(r));
}

// The upstream's own header fields worth relaying (content type, request ids, rate limits).
void CopyResponseHeaders(const HttpHeaders& from, HttpHeaders& to) {
  for (const auto& f : from) {
    if (IsHopByHop(f.name) || EqualsIgnoreCase(f.name, "content-encoding") ||
        EqualsIgnoreCase(f.name, "date") || EqualsIgnoreCase(f.name, "server")) {
      continue;
    }
    to.Add(f.name, f.value);
  }
}

std::optional<absl::Duration> RetryAfter(const HttpHeaders& headers) {
  auto v = headers.Get("retry-after");
  if (!v) return std::nullopt;
  double seconds = 0;
  if (!absl::SimpleAtod(ToAbsl(*v), &seconds) || !std::isfinite(seconds) || seconds < 0) {
    return std::nullopt;  // an HTTP date: treat as unknown
  }
  return absl::Milliseconds(static_cast<int64_t>(seconds * 1000));
}

void StartAttempt(const ExchangePtr& ex);
void Finish(const ExchangePtr& ex);
void EndOnWorker(const ExchangePtr& ex, std::function<void()> respond);

// Governance on a worker: authenticate, attribute, admit (reserve), then forward.
void Govern(const ExchangePtr& ex) {
  Gateway::Core& core = *ex->core;
  const HttpHeaders& h = ex->request.headers;

  // 1. Credentials.
  const std::string credential = PresentedCredential(h);
  Attribution attribution;
  bool have_key = false;
  if (LooksLikeVirtualKey(credential)) {
    auto key = core.keys->Resolve(credential);
    if (!key.ok()) {
      if (absl::IsUnavailable(key.status())) {
        RespondError(ex, 503, "server_error", "genops_ledger_unavailable",
                     Cat("GenOps could not check the virtual key: ", key.status().message()),
                     /*should_retry=*/true);
      } else {
        core.unauthorized.fetch_add(1, std::memory_order_relaxed);
        RespondError(
            ex, 401, "authentication_error", "genops_invalid_key",
            Cat("GenOps: ", key.status().message(), ". Create one with `genops keys create`."));
      }
      return;
    }
    attribution = key->attribution;
    have_key = true;
    if (!ex->provider->api_key().empty()) {
      if (ex->provider->api() == ApiFamily::kAnthropic) {
        ex->upstream_credential_header = "x-api-key";
        ex->upstream_credential = ex->provider->api_key();
      } else {
        ex->upstream_credential_header = "authorization";
        ex->upstream_credential = Cat("Bearer ", ex->provider->api_key());
      }
    }
  } else if (!credential.empty() && core.options.allow_passthrough_keys) {
    // The client's own provider key, passed on as the client sent it.
    if (auto v = h.Get("x-api-key")) {
      ex->upstream_credential_header = "x-api-key";
      ex->upstream_credential = std::string(*v);
    } else {
      ex->upstream_credential_header = "authorization";
      ex->upstream_credential = std::string(h.GetOr("authorization", ""));
    }
  } else {
    core.unauthorized.fetch_add(1, std::memory_order_relaxed);
    RespondError(ex, 401, "authentication_error", "genops_missing_key",
                 credential.empty()
                     ? "GenOps: no API key. Send a GenOps virtual key (Authorization: Bearer "
                       "gk_...) created with `genops keys create`."
                     : "GenOps: this gateway only accepts GenOps virtual keys (gk_...); "
                       "pass-through of provider keys is disabled (gateway."
                       "allow_passthrough_keys).");
    return;
  }

  // 2. Attribution: headers fill what the key leaves open; the key's own values win so a
  //    client cannot move its spend to another team's budget.
  Attribution from_headers;
  from_headers.team = std::string(h.GetOr("x-genops-team", ""));
  from_headers.project = std::string(h.GetOr("x-genops-project", ""));
  from_headers.environment = std::string(h.GetOr("x-genops-environment", ""));
  from_headers.customer_id = std::string(h.GetOr("x-genops-customer-id", ""));
  from_headers.cost_center = std::string(h.GetOr("x-genops-cost-center", ""));
  from_headers.feature = std::string(h.GetOr("x-genops-feature", ""));
  if (auto tags = h.Get("x-genops-tags")) {
    auto parsed = ParseTagsHeader(*tags);
    if (!parsed.ok()) {
      core.bad_requests.fetch_add(1, std::memory_order_relaxed);
      RespondError(ex, 400, "invalid_request_error", "genops_bad_header",
                   Cat("GenOps: ", parsed.status().message()));
      return;
    }
    from_headers.tags = std::move(*parsed);
  }
  attribution = have_key ? from_headers.MergedWith(attribution) : from_headers;

  TrackOptions options;
  options.attribution = std::move(attribution);
  options.provider = ex->provider->name();
  options.model = ex->inspected.model;
  options.estimated_input_tokens = ex->inspected.estimated_input_tokens;
  options.max_output_tokens = ex->inspected.max_output_tokens;
  if (options.max_output_tokens.has_value() && ex->inspected.completion_count > 1) {
    *options.max_output_tokens *= ex->inspected.completion_count;  // n answers, each that long
  }
  options.priority = std::string(h.GetOr("x-genops-priority", ""));
  options.traceparent = std::string(h.GetOr("traceparent", ""));
  options.approval_id = std::string(h.GetOr("x-genops-approval", ""));
  if (auto cap = h.Get("x-genops-max-cost")) {
    double usd = 0;
    if (!absl::SimpleAtod(ToAbsl(*cap), &usd) || !std::isfinite(usd) || usd <= 0) {
      core.bad_requests.fetch_add(1, std::memory_order_relaxed);
      RespondError(ex, 400, "invalid_request_error", "genops_bad_header",
                   Cat("GenOps: header x-genops-max-cost \"", *cap,
                       "\" must be a positive USD amount such as 0.50"));
      return;
    }
    options.max_cost = usd;
  }

  if (!ex->route.metered) {  // GET /v1/models: authenticated, no tokens, nothing to charge
    StartAttempt(ex);
    return;
  }

  // 3. Admission: estimate, caps, approvals, atomic reservation.
  ex->op.emplace(
      core.deps.adapter->try_track_operation(ex->route.operation_type, ex->request.path, options));
  ex->operation_id = ex->op->operation_id();
  if (!ex->op->allowed()) {
    core.refused.fetch_add(1, std::memory_order_relaxed);
    const Refusal r = RefusalFor(ex->op->decision());
    ex->op->end();  // records the refusal (nothing was reserved)
    RespondError(ex, r.status, r.type, r.code, r.message,
                 /*should_retry=*/r.status == 429 || r.code == "genops_ledger_unavailable");
    return;
  }
  ex->op_traceparent = ex->op->traceparent();
  if (ex->client_gone.load()) {
    ex->op->record_error("client disconnected before the request was forwarded");
    ex->op->end();
    return;
  }
  StartAttempt(ex);
}

HttpClientRequest BuildUpstreamRequest(const Exchange& ex) {
  HttpClientRequest r;
  r.method = ex.request.method;
  r.url = Cat(ex.provider->base_url(ex.endpoint), ex.request.path,
              ex.request.query.empty() ? "" : "?", ex.request.query);
  for (const auto& f : ex.request.headers) {
    if (IsStrippedRequestHeader(f.name)) continue;
    r.headers.Add(f.name, f.value);
  }
  if (!ex.upstream_credential.empty()) {
    r.headers.Set(ex.upstream_credential_header, ex.upstream_credential);
  }
  if (ex.provider->api() == ApiFamily::kAnthropic && !r.headers.Has("anthropic-version")) {
    r.headers.Set("anthropic-version", "2023-06-01");
  }
  r.headers.Set("accept-encoding", "identity");
  if (!ex.op_traceparent.empty()) r.headers.Set("traceparent", ex.op_traceparent);
  r.body = ex.inspected.forward_body.empty() && !ex.inspected.body_rewritten
               ? ex.request.body
               : ex.inspected.forward_body;
  const absl::Duration timeout = ex.core->options.operation_timeout;
  r.response_timeout = timeout;
  r.read_timeout = timeout;
  r.total_timeout = timeout;
  return r;
}

void OnHead(const ExchangePtr& ex, absl::StatusOr<HttpResponseHead> head);

void StartAttempt(const ExchangePtr& ex) {
  Gateway::Core& core = *ex->core;
  if (ex->client_gone.load()) {
    if (ex->op) ex->op->record_error("client disconnected before the request was forwarded");
    EndOnWorker(ex, nullptr);
    return;
  }
  auto endpoint = ex->provider->Pick(ex->next_endpoint, core.NowMono());
  if (!endpoint.has_value()) {
    core.breaker_rejections.fetch_add(1, std::memory_order_relaxed);
    core.upstream_errors.fetch_add(1, std::memory_order_relaxed);
    if (ex->op) ex->op->record_error("every upstream endpoint's circuit breaker is open");
    EndOnWorker(ex, [ex] {
      RespondError(ex, 503, "server_error", "genops_upstream_unavailable",
                   Cat("GenOps: provider \"", ex->provider->name(),
                       "\" is unavailable (circuit breaker open after repeated failures); "
                       "try again later."));
    });
    return;
  }
  ex->endpoint = *endpoint;
  ex->next_endpoint = *endpoint;
  ++ex->attempt;
  core.forwarded.fetch_add(1, std::memory_order_relaxed);
  if (ex->attempt > 1) core.retries.fetch_add(1, std::memory_order_relaxed);
  if (ex->upstream_start_mono == 0) ex->upstream_start_mono = core.NowMono();
  HttpClientRequest upstream = BuildUpstreamRequest(*ex);
  upstream.loop = ex->writer->loop();  // the upstream call runs where the client's connection does
  std::shared_ptr<HttpClientCall> call = core.client->Open(std::move(upstream));
  {
    std::lock_guard<std::mutex> lock(ex->call_mu);
    ex->call = call;
  }
  if (ex->client_gone.load()) call->Cancel();
  call->ReadHead([ex](absl::StatusOr<HttpResponseHead> head) { OnHead(ex, std::move(head)); });
}

// Whether another attempt may follow, and after how long.
std::optional<absl::Duration> NextAttemptDelay(const ExchangePtr& ex, int status,
                                               const absl::Status& error,
                                               const HttpHeaders* headers) {
  Gateway::Core& core = *ex->core;
  if (ex->attempt > core.options.retry_attempts) return std::nullopt;
  if (ex->client_gone.load()) return std::nullopt;
  std::optional<absl::Duration> retry_after;
  if (!error.ok()) {
    auto info = GetHttpErrorInfo(error);
    if (!info.has_value()) return std::nullopt;
    // A request the provider may have received (and billed) is never sent twice.
    if (!info->RetrySafe()) return std::nullopt;
  } else {
    if (!IsRetryableStatus(status)) return std::nullopt;
    if (headers != nullptr) retry_after = RetryAfter(*headers);
    if (retry_after.has_value() && *retry_after > core.options.max_retry_delay) {
      return std::nullopt;  // the provider asks for longer than we hold a client
    }
  }
  return core.Backoff(ex->attempt, retry_after);
}

void RetryAfterDelay(const ExchangePtr& ex, absl::Duration delay) {
  // Failover: the next attempt starts at the next endpoint.
  ex->next_endpoint = (ex->endpoint + 1) % ex->provider->endpoint_count();
  ex->writer->After(delay, [ex](bool cancelled) {
    if (cancelled) ex->client_gone.store(true);
    StartAttempt(ex);
  });
}

std::string DescribeTransportError(const absl::Status& s) {
  auto info = GetHttpErrorInfo(s);
  if (!info) return std::string(s.message());
  return Cat(HttpErrorKindName(info->kind), ": ", s.message());
}

// Frees what an exchange holds only for its upstream call, once that call is over (answered,
// failed or cancelled) and before the operation's end is queued. A durable settlement can
// wait behind hundreds of others for the ledger's disk flush (up to
// max_concurrent_operations under a backlog), and each would otherwise keep its upstream
// call (a 16 KiB read buffer, the parser, a copy of the request) and the request's body
// alive until then: tens of megabytes at a backlog of a thousand. Dropping the call here
// also destroys it on the loop that ran it rather than on a settlement thread.
void ReleaseUpstream(Exchange& ex) {
  std::shared_ptr<HttpClientCall> call;
  {
    std::lock_guard<std::mutex> lock(ex.call_mu);
    call.swap(ex.call);
  }
  call.reset();  // outside call_mu: a call that had not finished is cancelled here
  ex.request.headers = HttpHeaders();
  std::string().swap(ex.request.body);
  std::string().swap(ex.inspected.forward_body);
  ex.upstream_headers = HttpHeaders();
}

// Runs `settle` (ending the operation: settlement, operation record, span) after the
// answer: on the exchange's loop, behind the answer's bytes, when the ledger never blocks;
// else on the settlement pool (a durable settlement waits for a disk flush).
void Settle(const ExchangePtr& ex, std::function<void()> settle) {
  Gateway::Core& core = *ex->core;
  ReleaseUpstream(*ex);
  if (core.governance_on_io_threads) {
    absl::AnyInvocable<void()> work = std::move(settle);
    if (!ex->writer->loop()->Post(std::move(work))) work();
    return;
  }
  if (!core.settlers->Post(settle)) settle();
}

// Ends the operation (releasing or settling its reservation) before `respond` runs, so the
// ledger is up to date when the client sees the failure; on the settlement pool unless the
// ledger never blocks.
void EndOnWorker(const ExchangePtr& ex, std::function<void()> respond) {
  if (ex->finished.exchange(true)) return;
  ReleaseUpstream(*ex);
  auto work = [ex, respond = std::move(respond)] {
    if (ex->op) ex->op->end();
    if (respond && !ex->client_gone.load()) respond();
  };
  if (ex->core->governance_on_io_threads || !ex->core->settlers->Post(work)) work();
}

void FailTransport(const ExchangePtr& ex, const absl::Status& error) {
  Gateway::Core& core = *ex->core;
  // A cancelled call is one the gateway cancelled because its client went away (or the
  // gateway is stopping): the provider did nothing wrong.
  if (absl::IsCancelled(error)) {
    core.client_disconnects.fetch_add(1, std::memory_order_relaxed);
  } else {
    core.upstream_errors.fetch_add(1, std::memory_order_relaxed);
  }
  auto info = GetHttpErrorInfo(error);
  const bool timeout = info && info->kind == HttpErrorKind::kTimeout;
  // The provider may have run the request, but nothing says how much it used: the
  // reservation is released and the failure recorded (an estimate would be a guess).
  if (ex->op) ex->op->record_error(Cat("upstream ", DescribeTransportError(error)));
  ex->upstream_end_mono = core.NowMono();
  EndOnWorker(ex, [ex, timeout, error] {
    RespondError(
        ex, timeout ? 504 : 502, "server_error",
        timeout ? "genops_upstream_timeout" : "genops_upstream_error",
        Cat("GenOps: the provider \"", ex->provider->name(), "\" ",
            timeout ? "did not answer in time" : "could not be reached or reset the connection",
            " (", DescribeTransportError(error), ")."),
        /*should_retry=*/!timeout);
  });
}

void ReadWholeBody(const ExchangePtr& ex);
void PumpStream(const ExchangePtr& ex);

void OnHead(const ExchangePtr& ex, absl::StatusOr<HttpResponseHead> head) {
  Gateway::Core& core = *ex->core;
  const int64_t now = core.NowMono();
  if (!head.ok()) {
    if (!absl::IsCancelled(head.status())) ex->provider->RecordFailure(ex->endpoint, now);
    if (auto delay = NextAttemptDelay(ex, 0, head.status(), nullptr)) {
      RetryAfterDelay(ex, *delay);
      return;
    }
    FailTransport(ex, head.status());
    return;
  }
  if (IsBreakerFailureStatus(head->status)) {
    if (ex->provider->RecordFailure(ex->endpoint, now)) {
      spdlog::warn("gateway: circuit breaker opened for {} ({})", ex->provider->name(),
                   ex->provider->base_url(ex->endpoint));
    }
  } else if (head->status != 429) {
    ex->provider->RecordSuccess(ex->endpoint);
  }
  if (head->status >= 300) {
    if (auto delay = NextAttemptDelay(ex, head->status, absl::OkStatus(), &head->headers)) {
      ex->call->Cancel();
      RetryAfterDelay(ex, *delay);
      return;
    }
  }
  ex->upstream_status = head->status;
  ex->upstream_headers = std::move(head->headers);
  const bool sse =
      StartsWithIgnoreCase(ex->upstream_headers.GetOr("content-type", ""), "text/event-stream");
  if (head->status == 200 && sse) {
    core.streams.fetch_add(1, std::memory_order_relaxed);
    ex->upstream_end_mono = now;
    ex->meter = std::make_unique<StreamMeter>(
        ex->route, ex->inspected.stream && !ex->inspected.client_requested_stream_usage);
    HttpHeaders out;
    CopyResponseHeaders(ex->upstream_headers, out);
    AddGenOpsHeaders(*ex, out);
    out.Set(kOverheadHeader, std::to_string(std::max<int64_t>(
                                 0, (ex->upstream_start_mono - ex->received_mono) / 1000)));
    ex->writer->StartStream(200, std::move(out));
    PumpStream(ex);
    return;
  }
  ReadWholeBody(ex);
}

void ReadWholeBody(const ExchangePtr& ex) {
  ex->call->ReadBody([ex](absl::StatusOr<std::string> piece) {
    Gateway::Core& core = *ex->core;
    if (!piece.ok()) {
      if (!absl::IsCancelled(piece.status())) {
        ex->provider->RecordFailure(ex->endpoint, core.NowMono());
      }
      FailTransport(ex, piece.status());
      return;
    }
    if (!piece->empty()) {
      if (ex->body.size() + piece->size() > core.options.max_response_bytes) {
        ex->call->Cancel();
        core.upstream_errors.fetch_add(1, std::memory_order_relaxed);
        if (ex->op) {
          ex->op->record_error("upstream answer exceeds gateway.max_response_bytes");
          ex->op->update_token_usage(ex->inspected.estimated_input_tokens, 0);
        }
        EndOnWorker(ex, [ex] {
          RespondError(
              ex, 502, "server_error", "genops_upstream_response_too_large",
              Cat("GenOps: the provider's answer exceeds ", ex->core->options.max_response_bytes,
                  " bytes (gateway.max_response_bytes)"));
        });
        return;
      }
      ex->body.append(*piece);
      ReadWholeBody(ex);
      return;
    }
    ex->upstream_end_mono = core.NowMono();
    // The whole answer is here: meter and answer on this loop; Finish() leaves the
    // settlement (which may wait on the ledger) to Settle().
    Finish(ex);
  });
}

std::string StreamErrorEvent(ApiFamily family, std::string_view code, std::string_view message) {
  const std::string body = ErrorBody(family, "server_error", code, message);
  if (family == ApiFamily::kAnthropic) return Cat("event: error\ndata: ", body, "\n\n");
  return Cat("data: ", body, "\n\n");
}

void EndStream(const ExchangePtr& ex, const absl::Status& upstream_error) {
  Gateway::Core& core = *ex->core;
  if (ex->finished.exchange(true)) return;
  std::string tail = ex->meter->Finish();
  if (!ex->client_gone.load()) {
    if (!ex->meter->completed()) {
      // A cut stream: say so in the provider's own stream error shape, so the SDK raises
      // instead of returning a silently shortened answer.
      const std::string why =
          upstream_error.ok()
              ? "the provider's stream ended before it was complete"
              : Cat("the provider's stream failed: ", DescribeTransportError(upstream_error));
      if (!tail.empty() && tail.back() != '\n') tail += "\n\n";
      tail += StreamErrorEvent(ex->family(), "genops_upstream_stream_truncated",
                               Cat("GenOps: ", why, "."));
      core.upstream_errors.fetch_add(1, std::memory_order_relaxed);
    }
    if (!tail.empty()) ex->writer->Write(std::move(tail));
    ex->writer->End();
  }
  auto settle = [ex, upstream_error] {
    if (!ex->op) return;
    StreamMeter& m = *ex->meter;
    Operation& op = *ex->op;
    if (!m.model().empty()) op.set_model(ex->provider->name(), m.model());
    op.update_token_usage(m.BillableUsage(ex->inspected.estimated_input_tokens));
    if (m.usage_is_estimated(ex->inspected.estimated_input_tokens)) {
      op.add_attributes({{"genops.usage.estimated", true}});
    }
    if (ex->client_gone.load()) {
      op.add_attributes({{"genops.client.disconnected", true}});
    }
    if (!m.completed()) {
      op.record_error(upstream_error.ok() ? "stream ended before completion"
                                          : Cat("stream failed: ", upstream_error.message()));
    } else if (auto err = m.error_message()) {
      op.record_error(Cat("provider stream error: ", *err));
    }
    op.end();
  };
  Settle(ex, std::move(settle));
}

void PumpStream(const ExchangePtr& ex) {
  ex->call->ReadBody([ex](absl::StatusOr<std::string> piece) {
    Gateway::Core& core = *ex->core;
    if (!piece.ok()) {
      if (absl::IsCancelled(piece.status())) {
        core.client_disconnects.fetch_add(1, std::memory_order_relaxed);
      } else {
        ex->provider->RecordFailure(ex->endpoint, core.NowMono());
      }
      EndStream(ex, piece.status());
      return;
    }
    if (piece->empty()) {
      EndStream(ex, absl::OkStatus());
      return;
    }
    auto out = ex->meter->Feed(*piece);
    if (!out.ok()) {
      ex->call->Cancel();
      EndStream(ex, out.status());
      return;
    }
    if (out->empty()) {
      PumpStream(ex);
      return;
    }
    ex->writer->Write(std::move(*out), [ex](bool delivered) {
      if (!delivered) {
        ex->client_gone.store(true);
        ex->call->Cancel();
        EndStream(ex, absl::CancelledError("client disconnected"));
        return;
      }
      PumpStream(ex);
    });
  });
}

// Non-streamed answers: meter, answer, then settle. Runs on the exchange's loop.
void Finish(const ExchangePtr& ex) {
  Gateway::Core& core = *ex->core;
  if (ex->finished.exchange(true)) return;
  HttpResponse response;
  response.status = ex->upstream_status;
  CopyResponseHeaders(ex->upstream_headers, response.headers);
  if (!ex->op) {  // an unmetered route (GET /v1/models): relay as is
    response.body = std::move(ex->body);
    ex->writer->Respond(std::move(response));
    return;
  }
  Operation& op = *ex->op;
  if (ex->upstream_status >= 200 && ex->upstream_status < 300) {
    {
      // Only the members usage capture reads are parsed into a DOM (the same result and the
      // same errors as the whole body; see UsageProjection).
      const std::optional<std::string> projected = UsageProjection(ex->family(), ex->body);
      absl::Status parsed = op.record_response(UsageParserProvider(ex->family()),
                                               projected.has_value() ? *projected : ex->body);
      if (!parsed.ok()) {
        // The provider ran the prompt but its answer cannot be read: charge the estimated
        // input (the provider bills it) and tell the client plainly.
        op.update_token_usage(ex->inspected.estimated_input_tokens, 0);
        op.add_attributes({{"genops.usage.estimated", true}});
        core.upstream_errors.fetch_add(1, std::memory_order_relaxed);
        RespondError(
            ex, 502, "server_error", "genops_upstream_malformed_response",
            Cat("GenOps: the provider's answer is not valid JSON (", parsed.message(), ")."),
            /*should_retry=*/false);
        Settle(ex, [ex] { ex->op->end(); });
        return;
      }
    }
  } else {
    core.upstream_errors.fetch_add(1, std::memory_order_relaxed);
    op.record_error(Cat("upstream answered HTTP ", ex->upstream_status));
  }
  // Answer first, settle right after: the cost is priced now from the same usage the
  // settlement charges, and the client need not wait for the ledger's disk flush. (A crash
  // in between loses nothing more than a crash just before the settlement would: the
  // provider call happened either way, and the reservation stays until it expires.)
  const OperationMetrics m = op.get_metrics();
  AddGenOpsHeaders(*ex, response.headers);
  response.headers.Set("x-genops-cost-usd", m.cost.ToUsdString());
  if (m.budget_remaining.has_value()) {
    // The admission's view counts the reserved worst case; settling swaps it for the cost.
    const Money after =
        m.decision.may_proceed() ? *m.budget_remaining + m.estimate - m.cost : *m.budget_remaining;
    response.headers.Set("x-genops-budget-remaining-usd", after.ToUsdString());
  }
  const int64_t total = core.NowMono() - ex->received_mono;
  const int64_t upstream = ex->upstream_end_mono - ex->upstream_start_mono;
  response.headers.Set(kOverheadHeader,
                       std::to_string(std::max<int64_t>(0, total - upstream) / 1000));
  response.body = std::move(ex->body);
  ex->writer->Respond(std::move(response));
  Settle(ex, [ex] { ex->op->end(); });
}

}  // namespace

UpstreamProvider* Gateway::Core::ProviderFor(const RouteInfo& route, const HttpHeaders& headers,
                                             std::string* error) {
  std::string name = absl::AsciiStrToLower(std::string(headers.GetOr("x-genops-provider", "")));
  if (name.empty()) name = route.family == ApiFamily::kAnthropic ? "anthropic" : "openai";
  auto it = providers.find(name);
  if (it == providers.end()) {
    *error =
        Cat("GenOps: no provider \"", name, "\" is configured (gateway.providers); configured: ");
    bool first = true;
    for (const auto& [n, p] : providers) {
      *error += Cat(first ? "" : ", ", n);
      first = false;
    }
    return nullptr;
  }
  if (it->second->api() != route.family) {
    *error = Cat("GenOps: provider \"", name, "\" speaks the ",
                 it->second->api() == ApiFamily::kAnthropic ? "Anthropic" : "OpenAI",
                 " API, not this route's (",
                 route.family == ApiFamily::kAnthropic ? "Anthropic" : "OpenAI", ")");
    return nullptr;
  }
  return it->second.get();
}

absl::Duration Gateway::Core::Backoff(int attempt, std::optional<absl::Duration> retry_after) {
  if (retry_after.has_value()) return *retry_after;
  absl::Duration d = options.retry_base_delay * (int64_t{1} << std::min(attempt - 1, 10));
  d = std::min(d, options.max_retry_delay);
  std::lock_guard<std::mutex> lock(rng_mu);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return d * jitter(rng);
}

void Gateway::Core::Handle(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
  const int64_t received = NowMono();
  const std::string& path = request.path;
  if (path == "/health") {
    writer->Respond(HttpResponse::Json(200, R"({"status":"ok"})"));
    return;
  }
  if (path == "/ready") {
    if (stopping.load()) {
      writer->Respond(HttpResponse::Json(503, R"({"status":"stopping"})"));
    } else {
      writer->Respond(HttpResponse::Json(200, R"({"status":"ready"})"));
    }
    return;
  }
  if (path.starts_with("/genops/admin/")) {
    AdminContext ctx{deps.adapter.get(), deps.approvals.get(), options.admin_token};
    HandleAdminRequest(ctx, request, *writer);
    return;
  }
  std::optional<RouteInfo> route = MatchRoute(request.method, path);
  const ApiFamily family_guess =
      path == "/v1/messages" ? ApiFamily::kAnthropic : ApiFamily::kOpenAI;
  if (!route.has_value()) {
    bad_requests.fetch_add(1, std::memory_order_relaxed);
    const bool known = IsKnownPath(path);
    HttpResponse r = HttpResponse::Json(
        known ? 405 : 404,
        ErrorBody(family_guess, "invalid_request_error", known ? "method_not_allowed" : "not_found",
                  known ? Cat("GenOps: ", request.method, " is not allowed on ", path)
                        : Cat("GenOps: no route ", path,
                              " (governed routes: /v1/chat/completions, /v1/completions, "
                              "/v1/embeddings, /v1/responses, /v1/messages, GET /v1/models)")));
    r.headers.Set("x-should-retry", "false");
    writer->Respond(std::move(r));
    return;
  }
  requests.fetch_add(1, std::memory_order_relaxed);
  const int64_t now_in_flight = in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
  auto ex = std::make_shared<Exchange>();
  ex->core = shared_from_this();  // from here on ~Exchange releases the in-flight slot
  ex->route = *route;
  ex->received_mono = received;
  ex->writer = std::move(writer);
  if (now_in_flight > options.max_concurrent_operations) {
    overloaded.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r = HttpResponse::Json(
        429, ErrorBody(route->family, "rate_limit_error", "genops_concurrency_limit",
                       Cat("GenOps: more than ", options.max_concurrent_operations,
                           " requests in flight (gateway.max_concurrent_operations); retry "
                           "shortly.")));
    r.headers.Set("retry-after", "1");
    ex->writer->Respond(std::move(r));
    return;
  }
  std::string error;
  ex->provider = ProviderFor(*route, request.headers, &error);
  if (ex->provider == nullptr) {
    bad_requests.fetch_add(1, std::memory_order_relaxed);
    ex->request = std::move(request);
    RespondError(ex, 400, "invalid_request_error", "genops_unknown_provider", error);
    return;
  }
  if (route->metered || request.method == "POST") {
    auto inspected = InspectRequest(*route, request.body);
    if (!inspected.ok()) {
      bad_requests.fetch_add(1, std::memory_order_relaxed);
      ex->request = std::move(request);
      RespondError(ex, 400, "invalid_request_error", "genops_invalid_request",
                   Cat("GenOps: ", inspected.status().message()));
      return;
    }
    ex->inspected = std::move(*inspected);
  }
  ex->request = std::move(request);
  ex->writer->OnDisconnect([weak = std::weak_ptr<Exchange>(ex)] {
    if (auto e = weak.lock()) {
      e->client_gone.store(true);
      std::shared_ptr<HttpClientCall> call;
      {
        std::lock_guard<std::mutex> lock(e->call_mu);
        call = e->call;
      }
      if (call) call->Cancel();
    }
  });
  if (governance_on_io_threads) {
    Govern(ex);
  } else if (!workers->Post([ex] { Govern(ex); })) {
    RespondError(ex, 503, "server_error", "genops_overloaded", "GenOps: the gateway is stopping.",
                 true);
  }
}

// ---------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options,
                                                        GatewayDependencies deps) {
  if (deps.adapter == nullptr || deps.ledger == nullptr || deps.approvals == nullptr) {
    return absl::InvalidArgumentError("gateway: adapter, ledger and approvals are required");
  }
  auto core = std::make_shared<Core>();
  for (const UpstreamProviderSpec& spec : options.providers) {
    auto p = UpstreamProvider::Create(spec, options.circuit_breaker_threshold,
                                      absl::ToInt64Nanoseconds(options.circuit_breaker_timeout));
    if (!p.ok()) return p.status();
    core->providers[absl::AsciiStrToLower(spec.name)] = std::move(*p);
  }
  if (core->providers.empty()) {
    return absl::InvalidArgumentError("gateway: no providers configured (gateway.providers)");
  }
  core->keys = std::make_unique<VirtualKeyResolver>(deps.ledger, options.clock,
                                                    options.virtual_key_cache_ttl);
  switch (options.governance_threads) {
    case GovernanceThreads::kAuto:
      core->governance_on_io_threads = LedgerRarelyBlocks(*deps.ledger);
      break;
    case GovernanceThreads::kIoThreads:
      core->governance_on_io_threads = true;
      break;
    case GovernanceThreads::kWorkers:
      core->governance_on_io_threads = false;
      break;
  }
  core->loops = EventLoopGroup::Start(options.server.io_threads, "gw-io");
  options.server.loops = core->loops;
  if (!core->governance_on_io_threads) {
    core->workers = std::make_unique<WorkerPool>(WorkerPoolOptions{
        .threads = options.governance_workers, .max_queued = 0, .name = "gw-governance"});
    // A durable settlement holds its thread through a commit and a WAL flush (milliseconds
    // on a slow disk); at thousands of requests per second that takes dozens of threads, and
    // too few let settlements queue up until max_concurrent_operations refuses requests.
    core->settlers = std::make_unique<WorkerPool>(
        WorkerPoolOptions{.threads = std::max(64, 8 * options.governance_workers),
                          .max_queued = 0,
                          .name = "gw-settle"});
  }
  HttpClientOptions client_options = options.client;
  client_options.loops = core->loops;
  client_options.response_timeout = options.operation_timeout;
  client_options.read_timeout = options.operation_timeout;
  client_options.max_response_body_bytes = options.max_response_bytes;
  auto client = HttpClient::Create(client_options);
  if (!client.ok()) return client.status();
  core->client = std::move(*client);
  core->options = std::move(options);
  core->deps = std::move(deps);
  std::weak_ptr<Core> weak = core;
  auto server =
      HttpServer::Start(core->options.server,
                        [weak](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
                          if (auto c = weak.lock()) {
                            c->Handle(std::move(request), std::move(writer));
                          } else {
                            writer->Respond(HttpResponse::Text(503, "gateway stopping\n"));
                          }
                        });
  if (!server.ok()) return server.status();
  core->server = std::move(*server);
  return std::unique_ptr<Gateway>(new Gateway(std::move(core)));
}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

int Gateway::port() const { return core_->server->port(); }

std::string Gateway::base_url() const {
  return Cat(core_->server->tls() ? "https://" : "http://", core_->server->address());
}

void Gateway::Shutdown(absl::Duration grace) {
  if (core_->stopping.exchange(true)) return;
  // Every downstream connection closes (cancelling its upstream call); queued admissions
  // run (and find their client gone); the loops then run out of work, settlements posted
  // to them included; the settlement pool runs what it still holds.
  core_->server->Shutdown(grace);
  if (core_->workers) core_->workers->Shutdown();
  core_->loops->Stop();
  if (core_->settlers) core_->settlers->Shutdown();
}

GatewayStats Gateway::stats() const {
  const Core& c = *core_;
  GatewayStats s;
  s.requests = c.requests.load();
  s.refused = c.refused.load();
  s.unauthorized = c.unauthorized.load();
  s.bad_requests = c.bad_requests.load();
  s.overloaded = c.overloaded.load();
  s.forwarded = c.forwarded.load();
  s.retries = c.retries.load();
  s.upstream_errors = c.upstream_errors.load();
  s.breaker_rejections = c.breaker_rejections.load();
  s.streams = c.streams.load();
  s.client_disconnects = c.client_disconnects.load();
  s.in_flight = c.in_flight.load();
  if (c.client) s.upstream_calls = c.client->stats().live_calls;
  return s;
}

}  // namespace genops::gateway
