#include "src/export/otlp_http_exporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/gzip.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/export/text_util.h"

namespace genops::exporter {
namespace {

using text::Av;

constexpr size_t kBodyExcerptBytes = 256;

bool IsRetryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// A printable, bounded excerpt of a response body for logs.
std::string Excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kBodyExcerptBytes)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u >= 0x20 && u < 0x7F) ? c : (c == '\n' || c == '\r' || c == '\t') ? ' ' : '?');
  }
  if (body.size() > kBodyExcerptBytes) out.append("...");
  return out;
}

int64_t ToNanos(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_unix_nanos) {
  value = text::Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return INT64_MAX;  // "wait forever"
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    if (seconds > INT64_MAX / kNanosPerSecond) return INT64_MAX;
    return seconds * kNanosPerSecond;
  }
  absl::Time when;
  std::string error;
  if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", Av(value), &when, &error)) {
    return std::nullopt;
  }
  const int64_t delay = absl::ToUnixNanos(when) - now_unix_nanos;
  return delay > 0 ? delay : 0;
}

absl::StatusOr<std::unique_ptr<OtlpHttpExporter>> OtlpHttpExporter::Create(
    OtlpExporterOptions options, telemetry::ResourceInfo resource,
    std::shared_ptr<HttpTransport> transport, const Clock* clock) {
  if (absl::Status status = options.Validate(); !status.ok()) return status;
  if (transport == nullptr) transport = MakeCurlHttpTransport();
  if (clock == nullptr) clock = Clock::Real();
  return std::unique_ptr<OtlpHttpExporter>(
      new OtlpHttpExporter(std::move(options), std::move(resource), std::move(transport), clock));
}

OtlpHttpExporter::OtlpHttpExporter(OtlpExporterOptions options, telemetry::ResourceInfo resource,
                                   std::shared_ptr<HttpTransport> transport, const Clock* clock)
    : options_(std::move(options)),
      resource_(std::move(resource)),
      transport_(std::move(transport)),
      clock_(clock),
      rng_(std::random_device{}()) {
  endpoints_.push_back(options_.endpoint);
  endpoints_.insert(endpoints_.end(), options_.failover_endpoints.begin(),
                    options_.failover_endpoints.end());
  breakers_.reserve(endpoints_.size());
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    breakers_.emplace_back(options_.circuit_breaker_threshold,
                           ToNanos(options_.circuit_breaker_timeout));
  }
}

std::string_view OtlpHttpExporter::name() const noexcept {
  return options_.protocol == OtlpExporterOptions::Protocol::kHttpJson ? "otlp_http_json"
                                                                       : "otlp_http";
}

ExporterStats OtlpHttpExporter::stats() const {
  ExporterStats s;
  s.exported_spans = exported_spans_.load();
  s.failed_spans = failed_spans_.load();
  s.rejected_spans = rejected_spans_.load();
  s.retries = retries_.load();
  s.breaker_opens = breaker_opens_.load();
  s.failovers = failovers_.load();
  s.requests = requests_.load();
  return s;
}

size_t OtlpHttpExporter::active_endpoint() const { return active_.load(); }

CircuitBreaker::State OtlpHttpExporter::breaker_state(size_t endpoint_index) const {
  std::lock_guard<std::timed_mutex> lock(export_mu_);
  return endpoint_index < breakers_.size() ? breakers_[endpoint_index].state()
                                           : CircuitBreaker::State::kClosed;
}

std::string OtlpHttpExporter::last_error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return last_error_;
}

void OtlpHttpExporter::SetLastError(std::string error) {
  std::lock_guard<std::mutex> lock(error_mu_);
  last_error_ = std::move(error);
}

bool OtlpHttpExporter::Shutdown(std::chrono::milliseconds timeout) noexcept {
  shutdown_.store(true);
  // Wait for an export in flight to finish (it stops retrying once it sees shutdown_).
  std::unique_lock<std::timed_mutex> lock(export_mu_, std::defer_lock);
  return lock.try_lock_for(timeout);
}

ExportResult OtlpHttpExporter::Export(std::span<const telemetry::SpanData> spans) noexcept {
  if (shutdown_.load()) return ExportResult::kFailure;
  if (spans.empty()) return ExportResult::kSuccess;
  try {
    std::lock_guard<std::timed_mutex> lock(export_mu_);
    return ExportLocked(spans);
  } catch (const std::exception& e) {
    failed_spans_ += spans.size();
    SetLastError(absl::StrCat("export failed: ", e.what()));
    spdlog::error("otlp exporter: {}", last_error());
    return ExportResult::kFailure;
  }
}

std::vector<size_t> OtlpHttpExporter::CandidateOrder(int64_t now_nanos) {
  std::vector<size_t> order;
  const size_t active = active_.load();
  if (active != 0 &&
      now_nanos - last_primary_probe_nanos_ >= ToNanos(options_.health_check_interval)) {
    order.push_back(0);  // health check: try to fail back to the primary
    last_primary_probe_nanos_ = now_nanos;
  }
  order.push_back(active);
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (std::find(order.begin(), order.end(), i) == order.end()) order.push_back(i);
  }
  return order;
}

ExportResult OtlpHttpExporter::ExportLocked(std::span<const telemetry::SpanData> spans) {
  const bool json = options_.protocol == OtlpExporterOptions::Protocol::kHttpJson;
  // request_ and body_ persist across exports so their buffers are reused, not reallocated.
  HttpRequest& request = request_;
  request.headers.clear();
  std::string& encoded =
      options_.compression == OtlpExporterOptions::Compression::kGzip ? body_ : request.body;
  if (json) {
    EncodeOtlpJson(spans, resource_, &encoded);
  } else {
    EncodeOtlpProto(spans, resource_, &encoded);
  }
  request.headers.emplace_back("Content-Type",
                               json ? "application/json" : "application/x-protobuf");
  if (options_.compression == OtlpExporterOptions::Compression::kGzip) {
    absl::StatusOr<std::string> compressed = GzipCompress(body_);
    if (!compressed.ok()) {
      failed_spans_ += spans.size();
      SetLastError(absl::StrCat("gzip failed: ", compressed.status().ToString()));
      spdlog::error("otlp exporter: {}", last_error());
      return ExportResult::kFailure;
    }
    request.body = *std::move(compressed);
    request.headers.emplace_back("Content-Encoding", "gzip");
  }
  for (const auto& [key, value] : options_.headers) request.headers.emplace_back(key, value);

  const int64_t start = clock_->MonotonicNanos();
  const int64_t deadline = start + ToNanos(options_.timeout);
  bool attempted_any = false;
  for (size_t index : CandidateOrder(start)) {
    const int64_t now = clock_->MonotonicNanos();
    if (shutdown_.load() || (attempted_any && now >= deadline)) break;
    if (!breakers_[index].Allow(now)) continue;  // open: skip without I/O
    if (attempted_any) {
      ++failovers_;
      spdlog::warn("otlp exporter: failing over to {}", endpoints_[index]);
    }
    attempted_any = true;

    const EndpointResult result = SendToEndpoint(index, &request, deadline, spans.size());
    if (result.outcome == Outcome::kSuccess) {
      breakers_[index].RecordSuccess();
      if (index != active_.load()) {
        if (index == 0) {
          spdlog::info("otlp exporter: primary endpoint {} is healthy again", endpoints_[0]);
        } else {
          last_primary_probe_nanos_ = clock_->MonotonicNanos();
        }
        active_.store(index);
      }
      const auto rejected =
          static_cast<uint64_t>(std::clamp<int64_t>(result.rejected_spans, 0, spans.size()));
      rejected_spans_ += rejected;
      exported_spans_ += spans.size() - rejected;
      return ExportResult::kSuccess;
    }
    // 4xx means the endpoint is up and refused this payload; it says nothing about health.
    const bool client_error = result.status >= 400 && result.status < 500;
    if (!client_error && breakers_[index].RecordFailure(clock_->MonotonicNanos())) {
      ++breaker_opens_;
      spdlog::warn("otlp exporter: circuit breaker for {} opened after {} consecutive failures",
                   endpoints_[index], breakers_[index].consecutive_failures());
    }
    if (result.outcome == Outcome::kPermanentFailure) break;
  }
  if (!attempted_any) {
    SetLastError("every OTLP endpoint's circuit breaker is open; batch dropped");
  }
  failed_spans_ += spans.size();
  return ExportResult::kFailure;
}

OtlpHttpExporter::EndpointResult OtlpHttpExporter::SendToEndpoint(size_t index,
                                                                  HttpRequest* request,
                                                                  int64_t deadline,
                                                                  size_t span_count) {
  const std::string& url = endpoints_[index];
  EndpointResult result;
  for (int attempt = 0;; ++attempt) {
    const int64_t remaining = deadline - clock_->MonotonicNanos();
    if (remaining <= 0) {
      SetLastError(absl::StrCat("POST ", url, ": export timeout of ", options_.timeout.count(),
                                " ms exhausted"));
      result.outcome = Outcome::kRetryableFailure;
      return result;
    }
    request->url = url;
    request->timeout = std::chrono::milliseconds(std::max<int64_t>(1, remaining / kNanosPerMilli));
    ++requests_;
    const HttpResponse response = transport_->Post(*request);
    result.status = response.status;
    if (response.ok()) {
      result.outcome = Outcome::kSuccess;
      result.rejected_spans = RejectedSpansIn(response);
      return result;
    }
    const bool retryable = !response.transport_error.empty() || IsRetryableStatus(response.status);
    if (!retryable) {
      SetLastError(absl::StrCat("POST ", url, " returned HTTP ", response.status, ": ",
                                Excerpt(response.body)));
      if (logged_statuses_.insert({index, response.status}).second) {
        spdlog::error("otlp exporter: {} (batch of {} spans dropped, not retried)", last_error(),
                      span_count);
      }
      result.outcome = Outcome::kPermanentFailure;
      return result;
    }
    SetLastError(response.transport_error.empty()
                     ? absl::StrCat("POST ", url, " returned HTTP ", response.status)
                     : response.transport_error);
    result.outcome = Outcome::kRetryableFailure;
    if (attempt >= options_.retry_attempts || shutdown_.load()) return result;

    int64_t delay = -1;
    if (std::optional<std::string> retry_after = response.Header("retry-after")) {
      if (std::optional<int64_t> parsed = ParseRetryAfter(*retry_after, clock_->NowUnixNanos())) {
        delay = *parsed;
      }
    }
    if (delay < 0) delay = BackoffNanos(attempt);
    if (delay >= deadline - clock_->MonotonicNanos()) {
      // Waiting would overrun the export timeout: give the remaining time to failover.
      spdlog::debug("otlp exporter: not retrying {} (wait of {} ms exceeds the deadline)", url,
                    delay / kNanosPerMilli);
      return result;
    }
    ++retries_;
    spdlog::debug("otlp exporter: {}; retry {} in {} ms", last_error(), attempt + 1,
                  delay / kNanosPerMilli);
    if (delay > 0) clock_->SleepNanos(delay);
  }
}

int64_t OtlpHttpExporter::BackoffNanos(int retry_index) {
  const double initial = static_cast<double>(ToNanos(options_.initial_backoff));
  const double cap = static_cast<double>(ToNanos(options_.max_backoff));
  const double ceiling =
      std::min(cap, initial * std::pow(options_.backoff_multiplier, retry_index));
  if (ceiling <= 0) return 0;
  std::uniform_real_distribution<double> jitter(0.0, ceiling);
  return static_cast<int64_t>(jitter(rng_));
}

int64_t OtlpHttpExporter::RejectedSpansIn(const HttpResponse& response) const {
  if (response.body.empty()) return 0;
  const std::string content_type = text::Lower(response.Header("content-type").value_or(""));
  const bool json = content_type.empty()
                        ? options_.protocol == OtlpExporterOptions::Protocol::kHttpJson
                        : content_type.find("json") != std::string::npos;
  int64_t rejected = 0;
  std::string message;
  if (json) {
    const nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
    if (!parsed.is_object()) return 0;
    const auto partial = parsed.find("partialSuccess");
    if (partial == parsed.end() || !partial->is_object()) return 0;
    if (const auto count = partial->find("rejectedSpans"); count != partial->end()) {
      if (count->is_number_integer()) {
        rejected = count->get<int64_t>();
      } else if (count->is_string()) {
        const std::string& s = count->get_ref<const std::string&>();
        std::from_chars(s.data(), s.data() + s.size(), rejected);
      }
    }
    if (const auto msg = partial->find("errorMessage"); msg != partial->end() && msg->is_string()) {
      message = msg->get<std::string>();
    }
  } else {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse parsed;
    if (!parsed.ParseFromString(response.body) || !parsed.has_partial_success()) return 0;
    rejected = parsed.partial_success().rejected_spans();
    message = parsed.partial_success().error_message();
  }
  if (rejected > 0 || !message.empty()) {
    spdlog::warn("otlp exporter: collector rejected {} span(s): {}", rejected, Excerpt(message));
  }
  return std::max<int64_t>(rejected, 0);
}

}  // namespace genops::exporter
