// OtlpExporterOptions: everything the OTLP/HTTP exporter needs, and the one place where the
// standard OTEL_EXPORTER_OTLP_* and Traceloop environment variables are read.
//
// Environment reading is an explicit step (OtlpOptionsFromEnvironment) rather than a side
// effect of constructing the options, so configuration stays visible and testable.
//
// Example:
//   OtlpExporterOptions base;                       // from the config file
//   base.compression = OtlpExporterOptions::Compression::kGzip;
//   absl::StatusOr<OtlpExporterOptions> options =
//       OtlpOptionsFromEnvironment(*Environment::Process(), base);
//   if (!options.ok()) { ... print options.status() and exit ... }
//
// Thread safety: a plain value type; the functions are pure.
#ifndef GENOPS_EXPORT_OTLP_OPTIONS_H_
#define GENOPS_EXPORT_OTLP_OPTIONS_H_

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/core/environment.h"

namespace genops::exporter {

inline constexpr std::string_view kDefaultOtlpHttpEndpoint = "http://localhost:4318/v1/traces";
inline constexpr std::string_view kDefaultTraceloopBaseUrl = "https://api.traceloop.com";

struct OtlpExporterOptions {
  enum class Protocol { kHttpProtobuf, kHttpJson };
  enum class Compression { kNone, kGzip };

  // Full URL of the traces endpoint, path included (".../v1/traces").
  std::string endpoint = std::string(kDefaultOtlpHttpEndpoint);
  // Extra request headers (authentication, tenant ids). Sent to every endpoint.
  std::map<std::string, std::string> headers;
  Protocol protocol = Protocol::kHttpProtobuf;
  Compression compression = Compression::kGzip;
  // Upper bound for one Export() call: every attempt, back-off sleep and failover included
  // (OTEL_EXPORTER_OTLP_TIMEOUT is "the maximum time to wait for each batch export").
  std::chrono::milliseconds timeout{10000};

  // Retries after the first attempt, per endpoint: an endpoint receives at most
  // 1 + retry_attempts requests per Export(). 0 disables retrying.
  int retry_attempts = 3;
  // Back-off before retry k (k = 0, 1, ...) is uniform in
  // [0, min(max_backoff, initial_backoff * backoff_multiplier^k)] ("full jitter"), unless the
  // server sent Retry-After.
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{5000};
  double backoff_multiplier = 1.5;

  // Tried in order after `endpoint` when it fails or its circuit breaker is open.
  std::vector<std::string> failover_endpoints;
  // Consecutive failed exports to one endpoint that open its breaker; <= 0 disables breakers.
  int circuit_breaker_threshold = 10;
  // How long an open breaker refuses traffic before one trial export is let through.
  std::chrono::seconds circuit_breaker_timeout{60};
  // While exporting to a failover endpoint, the primary is tried again this often.
  std::chrono::seconds health_check_interval{30};

  // Non-OK when a value is out of range or an endpoint is not an http(s) URL; names the field.
  absl::Status Validate() const;
};

// Applies the environment on top of `base`. Variables (an empty value counts as unset):
//  - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full traces URL, used as is.
//  - OTEL_EXPORTER_OTLP_ENDPOINT: a base URL; "/v1/traces" is appended.
//  - OTEL_EXPORTER_OTLP_HEADERS, then OTEL_EXPORTER_OTLP_TRACES_HEADERS (which wins per key):
//    "k1=v1,k2=v2", values percent-decoded, whitespace around items trimmed.
//  - OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL: http/protobuf | http/json (grpc: Unimplemented).
//  - OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION: gzip | none.
//  - OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT: positive integer milliseconds.
//  - TRACELOOP_API_KEY / TRACELOOP_BASE_URL / TRACELOOP_HEADERS, as the Traceloop SDK reads
//    them: used only when neither OTEL endpoint variable is set; the endpoint becomes
//    TRACELOOP_BASE_URL (default https://api.traceloop.com) + "/v1/traces" and the headers
//    TRACELOOP_HEADERS if set, else "Authorization: Bearer <TRACELOOP_API_KEY>".
// A malformed value yields InvalidArgument naming the variable and what is expected.
absl::StatusOr<OtlpExporterOptions> OtlpOptionsFromEnvironment(const Environment& env,
                                                               OtlpExporterOptions base);

// Parses the OTEL header-list format ("k1=v1,k2=v2", percent-encoded values) into `out`,
// overwriting keys already present. `variable` names the source in error messages.
absl::Status ParseOtlpHeaderList(std::string_view text, std::string_view variable,
                                 std::map<std::string, std::string>* out);

std::string_view ProtocolName(OtlpExporterOptions::Protocol protocol);

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_OTLP_OPTIONS_H_
