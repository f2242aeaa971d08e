// OtlpHttpExporter: sends span batches to an OTLP/HTTP collector (POST .../v1/traces) as
// protobuf or JSON, optionally gzip-compressed, with retries, a circuit breaker per endpoint
// and failover endpoints.
//
// Delivery policy, and why:
//  - Retry only what may succeed later: HTTP 429, 502, 503, 504 and transport errors
//    (connect/DNS/TLS/timeouts), as the OTLP specification lists. Any other status fails the
//    batch at once; a 4xx is logged with an excerpt of the response body the first time each
//    (endpoint, status) pair is seen, so a misconfigured key does not flood the log.
//  - Wait before a retry: the server's Retry-After (delta-seconds or HTTP-date) when given,
//    else exponential back-off with full jitter. A wait that would overrun the export timeout
//    is not taken; the endpoint counts as failed and failover gets the remaining time.
//  - One deadline per Export(): options.timeout bounds every attempt, sleep and failover.
//  - Per-endpoint circuit breaker (circuit_breaker.h): a failed export (retries exhausted, or
//    a 5xx) counts against the endpoint; 4xx answers do not (the endpoint is up).
//  - Failover: endpoints are [endpoint] + failover_endpoints. An export starts with the
//    active endpoint and moves down the list when it fails or its breaker is open. Once a
//    failover endpoint succeeded it stays active (no ping-pong); the primary is retried at
//    most every health_check_interval and becomes active again on its first success.
//  - A 2xx with partial_success.rejected_spans > 0 is a success: the rejected spans are
//    counted (stats().rejected_spans) and logged, never retried (the server will not change
//    its mind).
//
// Example:
//   absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> exporter =
//       OtlpHttpExporter::Create(options, resource);   // libcurl transport, real clock
//   if (!exporter.ok()) { ... }
//   (*exporter)->Export(spans);
//
// Thread safety: thread-safe. Export() calls are serialised internally (the SpanExporter
// contract has one caller at a time anyway); stats(), active_endpoint() and Shutdown() may
// be called from any thread. After Shutdown(), Export() fails without I/O; Shutdown() waits up
// to its timeout for an export in flight, which stops retrying once it sees the flag (a
// back-off sleep already started is not interrupted).
#ifndef GENOPS_EXPORT_OTLP_HTTP_EXPORTER_H_
#define GENOPS_EXPORT_OTLP_HTTP_EXPORTER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "src/export/circuit_breaker.h"
#include "src/export/http_transport.h"
#include "src/export/otlp_options.h"
#include "src/export/span_exporter.h"
#include "src/telemetry/span_data.h"

namespace genops::exporter {

// Monotonic counters since construction.
struct ExporterStats {
  uint64_t exported_spans = 0;  // accepted by a collector (partial rejections excluded)
  uint64_t failed_spans = 0;    // in batches that could not be delivered
  uint64_t rejected_spans = 0;  // refused through partial_success.rejected_spans
  uint64_t retries = 0;         // requests re-sent after a retryable failure
  uint64_t breaker_opens = 0;   // transitions of any endpoint's breaker to open
  uint64_t failovers = 0;       // times an export moved on to the next endpoint
  uint64_t requests = 0;        // HTTP requests attempted
};

// Parses a Retry-After value: delta-seconds ("120") or an IMF-fixdate HTTP-date
// ("Wed, 21 Oct 2015 07:28:00 GMT"), the latter relative to `now_unix_nanos`. Returns the
// delay in nanoseconds (0 for a date in the past), or nullopt when unparseable.
std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_unix_nanos);

class OtlpHttpExporter final : public SpanExporter {
 public:
  // Validates `options`. A null `transport` means libcurl; a null `clock` the real clock.
  static absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> Create(
      OtlpExporterOptions options, telemetry::ResourceInfo resource,
      std::shared_ptr<HttpTransport> transport = nullptr, const Clock* clock = nullptr);

  ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override;
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  std::string_view name() const noexcept override;

  ExporterStats stats() const;
  // Index into [endpoint] + failover_endpoints of the endpoint exports start with.
  size_t active_endpoint() const;
  CircuitBreaker::State breaker_state(size_t endpoint_index) const;
  // The most recent delivery failure, for diagnostics ("" when none yet).
  std::string last_error() const;

 private:
  enum class Outcome { kSuccess, kRetryableFailure, kPermanentFailure };
  struct EndpointResult {
    Outcome outcome = Outcome::kRetryableFailure;
    int status = 0;
    int64_t rejected_spans = 0;
  };

  OtlpHttpExporter(OtlpExporterOptions options, telemetry::ResourceInfo resource,
                   std::shared_ptr<HttpTransport> transport, const Clock* clock);

  ExportResult ExportLocked(std::span<const telemetry::SpanData> spans);
  std::vector<size_t> CandidateOrder(int64_t now_nanos);
  // Sends `request` (url and timeout are set here) with retries until `deadline`.
  EndpointResult SendToEndpoint(size_t index, HttpRequest* request, int64_t deadline,
                                size_t span_count);
  int64_t BackoffNanos(int retry_index);
  int64_t RejectedSpansIn(const HttpResponse& response) const;
  void SetLastError(std::string error);

  const OtlpExporterOptions options_;
  const telemetry::ResourceInfo resource_;
  const std::shared_ptr<HttpTransport> transport_;
  const Clock* const clock_;
  std::vector<std::string> endpoints_;  // [endpoint] + failover_endpoints

  std::atomic<bool> shutdown_{false};

  // Export state; guarded by export_mu_.
  mutable std::timed_mutex export_mu_;
  std::vector<CircuitBreaker> breakers_;
  std::atomic<size_t> active_{0};  // written under export_mu_, read anywhere
  int64_t last_primary_probe_nanos_ = 0;
  std::set<std::pair<size_t, int>> logged_statuses_;
  std::mt19937_64 rng_;
  HttpRequest request_;  // reused across exports
  std::string body_;     // uncompressed encoding when gzip is on

  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_

  std::atomic<uint64_t> exported_spans_{0};
  std::atomic<uint64_t> failed_spans_{0};
  std::atomic<uint64_t> rejected_spans_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> breaker_opens_{0};
  std::atomic<uint64_t> failovers_{0};
  std::atomic<uint64_t> requests_{0};
};

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_OTLP_HTTP_EXPORTER_H_
