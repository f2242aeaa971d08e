#include "src/core/alerts.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "genops/clock.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "src/export/http_transport.h"

namespace genops {
namespace {

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Rfc3339(int64_t unix_nanos) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", absl::FromUnixNanos(unix_nanos),
                          absl::UTCTimeZone());
}

nlohmann::json AttributionJson(const Attribution& a) {
  nlohmann::json out = nlohmann::json::object();
  auto put = [&out](const char* key, const std::string& value) {
    if (!value.empty()) out[key] = value;
  };
  put("team", a.team);
  put("project", a.project);
  put("environment", a.environment);
  put("customer_id", a.customer_id);
  put("cost_center", a.cost_center);
  put("feature", a.feature);
  if (!a.tags.empty()) out["tags"] = a.tags;
  return out;
}

std::shared_ptr<exporter::HttpTransport> DefaultTransport() {
  exporter::CurlTransportOptions options;
  options.user_agent = "genops-alerts/0.1";
  options.max_response_bytes = 64 * 1024;  // webhook answers are only logged
  return exporter::MakeCurlHttpTransport(options);
}

}  // namespace

std::string_view AlertKindName(AlertKind kind) {
  switch (kind) {
    case AlertKind::kOperationCost:
      return "operation_cost";
    case AlertKind::kBudgetThreshold:
      return "budget_threshold";
    case AlertKind::kPolicyViolation:
      return "policy_violation";
    case AlertKind::kAnomaly:
      return "anomaly";
    case AlertKind::kLedgerUnavailable:
      return "ledger_unavailable";
  }
  return "unknown";
}

std::string AlertToJson(const Alert& alert) {
  nlohmann::json body = {
      {"kind", std::string(AlertKindName(alert.kind))},
      {"severity", alert.severity},
      {"message", alert.message},
      {"operation_id", alert.operation_id},
      {"attribution", AttributionJson(alert.attribution)},
      {"budget", alert.budget_name},
      {"threshold", alert.threshold},
      {"utilization", alert.utilization},
      {"amount_usd", alert.amount.usd()},
      {"time", Rfc3339(alert.time_unix_nanos)},
  };
  // Replace invalid UTF-8 (model names and messages may echo untrusted input) instead of
  // throwing.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FormatAlertLine(const Alert& alert) {
  std::string line = absl::StrCat("[", alert.severity, "] ", Sv(AlertKindName(alert.kind)));
  if (!alert.budget_name.empty()) absl::StrAppend(&line, " budget=", alert.budget_name);
  if (!alert.operation_id.empty()) absl::StrAppend(&line, " operation=", alert.operation_id);
  if (alert.amount != Money::Zero()) {
    absl::StrAppend(&line, " amount_usd=", alert.amount.ToUsdString());
  }
  absl::StrAppend(&line, ": ", alert.message);
  return line;
}

// --- LogAlertSink ----------------------------------------------------------------------------

void LogAlertSink::Deliver(const Alert& alert) noexcept {
  try {
    const std::string line = FormatAlertLine(alert);
    if (alert.severity == "critical") {
      spdlog::error("genops alert {}", line);
    } else {
      spdlog::warn("genops alert {}", line);
    }
  } catch (...) {
    // Logging must never take the caller down.
  }
}

// --- RecordingAlertSink ------------------------------------------------------------------------

void RecordingAlertSink::Deliver(const Alert& alert) noexcept {
  try {
    absl::MutexLock lock(&mu_);
    alerts_.push_back(alert);
    while (alerts_.size() > capacity_) alerts_.pop_front();
  } catch (...) {
  }
}

std::vector<Alert> RecordingAlertSink::alerts() const {
  absl::MutexLock lock(&mu_);
  return {alerts_.begin(), alerts_.end()};
}

void RecordingAlertSink::Clear() {
  absl::MutexLock lock(&mu_);
  alerts_.clear();
}

// --- WebhookAlertSink --------------------------------------------------------------------------

WebhookAlertSink::WebhookAlertSink(std::vector<std::string> urls, WebhookAlertOptions options,
                                   std::shared_ptr<exporter::HttpTransport> transport)
    : urls_(std::move(urls)),
      options_(std::move(options)),
      transport_(transport != nullptr ? std::move(transport) : DefaultTransport()) {
  worker_ = std::thread([this] { Run(); });
}

WebhookAlertSink::~WebhookAlertSink() { Shutdown(); }

absl::Status WebhookAlertSink::ValidateUrl(std::string_view url) {
  const std::string lower = absl::AsciiStrToLower(Sv(url));
  size_t host_start = 0;
  if (lower.rfind("http://", 0) == 0) {
    host_start = 7;
  } else if (lower.rfind("https://", 0) == 0) {
    host_start = 8;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "alert webhook '", Sv(url), "': only http:// and https:// URLs are supported"));
  }
  if (host_start >= lower.size() || lower[host_start] == '/' || lower[host_start] == ':') {
    return absl::InvalidArgumentError(
        absl::StrCat("alert webhook '", Sv(url), "': the URL has no host"));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(absl::StrCat(
          "alert webhook '", Sv(url), "': the URL contains spaces or control characters"));
    }
  }
  return absl::OkStatus();
}

void WebhookAlertSink::Deliver(const Alert& alert) noexcept {
  try {
    std::string body = AlertToJson(alert);
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      return;
    }
    queue_.push_back(std::move(body));
    ++stats_.enqueued;
  } catch (...) {
    absl::MutexLock lock(&mu_);
    ++stats_.dropped;
  }
}

bool WebhookAlertSink::Flush(int64_t timeout_nanos) noexcept {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !busy_; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), absl::Nanoseconds(timeout_nanos));
}

void WebhookAlertSink::Shutdown() noexcept {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      drain_deadline_monotonic_ = Clock::Real()->MonotonicNanos() + options_.shutdown_timeout_nanos;
    }
  }
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

WebhookAlertSink::Stats WebhookAlertSink::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void WebhookAlertSink::Run() {
  while (true) {
    std::string body;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, nothing left
      if (stopping_ && Clock::Real()->MonotonicNanos() >= drain_deadline_monotonic_) {
        stats_.dropped += static_cast<int64_t>(queue_.size());
        queue_.clear();
        return;
      }
      body = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    int64_t delivered = 0;
    int64_t failed = 0;
    for (const std::string& url : urls_) {
      (Post(url, body) ? delivered : failed) += 1;
    }
    absl::MutexLock lock(&mu_);
    stats_.delivered += delivered;
    stats_.failed += failed;
    busy_ = false;
  }
}

bool WebhookAlertSink::Post(const std::string& url, const std::string& body) noexcept {
  try {
    exporter::HttpRequest request;
    request.url = url;
    request.headers.emplace_back("Content-Type", "application/json");
    for (const auto& [name, value] : options_.headers) request.headers.emplace_back(name, value);
    request.body = body;
    request.timeout =
        std::chrono::milliseconds(std::max<int64_t>(1, options_.request_timeout_nanos / 1'000'000));
    exporter::HttpResponse response;
    for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
      response = transport_->Post(request);
      if (response.ok()) return true;
      const bool retryable =
          !response.transport_error.empty() || response.status == 429 || response.status >= 500;
      if (!retryable) break;
    }
    spdlog::warn("genops: alert webhook {} failed: {}", url,
                 response.transport_error.empty() ? absl::StrCat("HTTP ", response.status)
                                                  : response.transport_error);
  } catch (...) {
  }
  return false;
}

// --- AlertDispatcher ---------------------------------------------------------------------------

void AlertDispatcher::AddSink(std::shared_ptr<AlertSink> sink) {
  if (sink == nullptr) return;
  absl::MutexLock lock(&mu_);
  sinks_.push_back(std::move(sink));
}

void AlertDispatcher::Dispatch(const Alert& alert) noexcept {
  std::vector<std::shared_ptr<AlertSink>> sinks;
  try {
    absl::MutexLock lock(&mu_);
    ++dispatched_;
    sinks = sinks_;
  } catch (...) {
    return;
  }
  for (const auto& sink : sinks) sink->Deliver(alert);
}

int64_t AlertDispatcher::dispatched() const {
  absl::MutexLock lock(&mu_);
  return dispatched_;
}

}  // namespace genops
