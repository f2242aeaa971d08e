// Gateway: zero-code governance for any application that speaks the OpenAI or Anthropic
// HTTP API (`genops serve`, DESIGN.md §5). The application changes only its base URL.
//
// Every request takes the same path:
//   1. route (OpenAI /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses,
//      Anthropic /v1/messages, GET /v1/models) and inspect the body (model, stream, output
//      limit, an input-token estimate); a malformed body is a 400 in the provider's shape;
//   2. authenticate: a virtual key (gk_...) gives attribution and a budget of its own and the
//      gateway swaps in the provider key; a client's own provider key passes through when
//      `allow_passthrough_keys`; anything else is a 401;
//   3. attribute (x-genops-* headers, then the virtual key, then config defaults), estimate
//      the worst case, decide with the four policy levels and reserve atomically against every
//      matching budget (the SDK's track_operation: one governance core for all three ways in);
//      a refusal is a 402/403/503 in the provider's error shape with `x-should-retry: false`;
//   4. forward, with retries only where the provider cannot have run the request twice or has
//      refused it (429/5xx) before any byte reached the client, failover between the
//      provider's endpoints and a circuit breaker each;
//   5. meter the answer (streamed answers event by event, see provider_protocol.h), settle,
//      record the operation and export its span (child of the caller's `traceparent`), and
//      answer with x-genops-operation-id, -cost-usd, -budget-remaining-usd and -overhead-us.
//
// Threads: an exchange runs on the io thread (event loop) of its downstream connection,
// its upstream call included, so a request is not handed between threads to be proxied.
// Admission and settlement may wait on the ledger (a SQLite commit and disk flush, a Redis or
// PostgreSQL round trip), which an io thread must never do: with such a ledger admission
// runs on a pool of governance workers and settlement on a pool of its own, after the
// answer. With the in-process memory ledger, which never waits, and with budget leases
// (src/ledger/lease_ledger.h: a call is admitted from memory and its settlement written
// behind, so only a lease's reservation waits on the store), both run on the io thread
// (GatewayOptions::governance_threads). A client that disconnects mid-stream cancels the
// upstream call and is charged for what was produced.
//
// Thread safety: thread-safe. Start() and Shutdown() from one controlling thread.
#ifndef GENOPS_GATEWAY_GATEWAY_H_
#define GENOPS_GATEWAY_GATEWAY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "genops/adapter.h"
#include "genops/clock.h"
#include "src/core/approvals.h"
#include "src/gateway/http_client.h"
#include "src/gateway/http_server.h"
#include "src/gateway/upstream.h"
#include "src/ledger/ledger.h"

namespace genops::gateway {

// Where admission (virtual-key lookup, policy decision, ledger reservation) and settlement
// run.
enum class GovernanceThreads {
  kAuto,       // on the io threads with the memory ledger or leases, else on the worker pools
  kIoThreads,  // only for a ledger that never blocks (tests of that path)
  kWorkers,    // on the worker pools whatever the ledger
};

struct GatewayOptions {
  // Listen address, io threads and request limits (max_body_bytes is the request size limit).
  HttpServerOptions server;
  // The upstream client's options (TLS, proxies from HTTPS_PROXY, pooling); its timeouts are
  // overridden by operation_timeout below.
  HttpClientOptions client;
  std::vector<UpstreamProviderSpec> providers;
  bool allow_passthrough_keys = true;
  int max_concurrent_operations = 1000;
  // Further attempts after the first, only where safe (see gateway.cc: ShouldRetry).
  int retry_attempts = 3;
  int circuit_breaker_threshold = 10;
  absl::Duration circuit_breaker_timeout = absl::Seconds(60);
  // Bounds one upstream call, body included (the reservation expires after it too).
  absl::Duration operation_timeout = absl::Seconds(300);
  // The first retry waits this long, doubling each time (with jitter); a Retry-After from the
  // provider is honoured up to max_retry_delay, and a longer one is not retried.
  absl::Duration retry_base_delay = absl::Milliseconds(100);
  absl::Duration max_retry_delay = absl::Seconds(10);
  size_t max_response_bytes = 64 * 1024 * 1024;  // non-streamed upstream answers
  // Bearer token of the admin API (/genops/admin/...); empty: the admin API answers 403.
  std::string admin_token;
  int governance_workers = 8;
  GovernanceThreads governance_threads = GovernanceThreads::kAuto;
  // How long a resolved virtual key is trusted before the ledger is asked again (revocations
  // take effect within this).
  absl::Duration virtual_key_cache_ttl = absl::Seconds(5);
  const Clock* clock = Clock::Real();
};

struct GatewayDependencies {
  std::shared_ptr<Adapter> adapter;          // governance, pricing, spans (required)
  std::shared_ptr<ledger::Ledger> ledger;    // the adapter's ledger: virtual keys (required)
  std::shared_ptr<ApprovalStore> approvals;  // the adapter's approval store (required)
};

struct GatewayStats {
  uint64_t requests = 0;            // governed requests received
  uint64_t refused = 0;             // refused by governance (402/403/503)
  uint64_t unauthorized = 0;        // 401
  uint64_t bad_requests = 0;        // 400/404/405
  uint64_t overloaded = 0;          // 429 from max_concurrent_operations
  uint64_t forwarded = 0;           // upstream attempts made
  uint64_t retries = 0;             // attempts after the first
  uint64_t upstream_errors = 0;     // answered with an upstream or gateway error
  uint64_t breaker_rejections = 0;  // 503 because every endpoint's breaker was open
  uint64_t streams = 0;
  uint64_t client_disconnects = 0;
  int64_t in_flight = 0;
  // Upstream calls whose state is still held (HttpClientStats::live_calls). An exchange
  // drops its call once the answer is complete, so an exchange that only waits for its
  // settlement (counted in in_flight) holds none.
  uint64_t upstream_calls = 0;
};

// Thread-safe; see the file comment.
class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options,
                                                        GatewayDependencies deps);
  ~Gateway();  // Shutdown(absl::ZeroDuration()) when still running
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  int port() const;
  // "http://127.0.0.1:8080" (the real port when listening on port 0).
  std::string base_url() const;

  // Stops accepting, lets in-flight requests finish within `grace`, settles everything and
  // stops the workers. Idempotent; blocks.
  void Shutdown(absl::Duration grace = absl::Seconds(30));

  GatewayStats stats() const;

  struct Core;  // implementation

 private:
  explicit Gateway(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  std::shared_ptr<Core> core_;
};

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_GATEWAY_H_
