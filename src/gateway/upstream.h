// Upstreams: the provider endpoints the gateway forwards to, with a circuit breaker each.
//
// A provider (`gateway.providers.<name>`) has a primary base URL and a `failover` list (the
// seed's failover_regions). Attempts walk that list in order, starting at the primary and
// skipping endpoints whose breaker is open; a failed attempt moves to the next endpoint, so a
// region that is down costs one attempt, not one per request. When every breaker is open the
// request is refused at once with 503 `genops_upstream_unavailable` instead of waiting on a
// dead host.
//
// What counts as a failure for the breaker: a connect/TLS failure, a timeout, a reset, or a
// 5xx answer (including Anthropic's 529 "overloaded"). A 429 is the provider pacing this
// caller, not an outage, so it neither opens nor closes a breaker; a 4xx is the request's
// fault and counts as a success for the endpoint.
//
// Thread safety: thread-safe (one small mutex per endpoint).
#ifndef GENOPS_GATEWAY_UPSTREAM_H_
#define GENOPS_GATEWAY_UPSTREAM_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/export/circuit_breaker.h"
#include "src/gateway/provider_protocol.h"

namespace genops::gateway {

struct UpstreamEndpoint {
  explicit UpstreamEndpoint(std::string url, int threshold, int64_t open_nanos)
      : base_url(std::move(url)), breaker(threshold, open_nanos) {}
  const std::string base_url;  // "https://api.openai.com" (no trailing slash, no /v1)
  std::mutex mu;
  exporter::CircuitBreaker breaker;  // guarded by mu
};

struct UpstreamProviderSpec {
  std::string name;  // "openai", "anthropic", "groq", ...
  ApiFamily api = ApiFamily::kOpenAI;
  std::string base_url;
  std::vector<std::string> failover;
  std::string api_key;      // the provider key (from api_key_env); empty: clients bring theirs
  std::string api_key_env;  // for messages only
};

// Thread-safe; see the file comment.
class UpstreamProvider {
 public:
  // Validates the URLs (http:// or https://, a host). A base URL ending in "/v1" has it
  // removed: the gateway appends the request's own /v1/... path.
  static absl::StatusOr<std::unique_ptr<UpstreamProvider>> Create(const UpstreamProviderSpec& spec,
                                                                  int breaker_threshold,
                                                                  int64_t breaker_open_nanos);

  const std::string& name() const { return spec_.name; }
  ApiFamily api() const { return spec_.api; }
  const std::string& api_key() const { return spec_.api_key; }
  const std::string& api_key_env() const { return spec_.api_key_env; }
  size_t endpoint_count() const { return endpoints_.size(); }
  const std::string& base_url(size_t index) const { return endpoints_[index]->base_url; }

  // The endpoint for the next attempt: the first one at or after `from` (wrapping around,
  // each considered once) whose breaker lets a request through at `now_nanos`; nullopt when
  // all are open.
  std::optional<size_t> Pick(size_t from, int64_t now_nanos);
  void RecordSuccess(size_t index);
  // True when this failure opened the endpoint's breaker.
  bool RecordFailure(size_t index, int64_t now_nanos);
  exporter::CircuitBreaker::State breaker_state(size_t index);

 private:
  explicit UpstreamProvider(UpstreamProviderSpec spec) : spec_(std::move(spec)) {}
  UpstreamProviderSpec spec_;
  std::vector<std::unique_ptr<UpstreamEndpoint>> endpoints_;
};

// Statuses that may be retried on another attempt when nothing reached the client yet.
inline bool IsRetryableStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 ||
         status == 529;
}
// Statuses that count as an endpoint failure for its breaker.
inline bool IsBreakerFailureStatus(int status) { return status >= 500; }

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_UPSTREAM_H_
