// Alerts: what governance tells people about, and where it goes.
//
// The Governor raises an Alert for a policy violation, an operation above
// `cost_alert_threshold`, a budget crossing one of its alert thresholds (once per window),
// a spend anomaly, or an unreachable ledger (DESIGN.md §3). It hands each one to an
// AlertDispatcher, which fans out to sinks:
//  - LogAlertSink: one log line per alert (spdlog).
//  - WebhookAlertSink: a JSON POST per alert to each configured URL, from a background
//    thread, so a slow webhook never slows an LLM call. Its queue is bounded; alerts that do
//    not fit are dropped and counted, never silently.
//  - span events: the caller's job; Admission/Settlement carry the alerts they raised.
//  - RecordingAlertSink: keeps alerts in memory (tests, dashboards).
//
// Webhook body (AlertToJson):
//   {"kind":"budget_threshold","severity":"warning","message":"...","operation_id":"...",
//    "attribution":{"team":"a","tags":{"k":"v"}},"budget":"daily","threshold":0.8,
//    "utilization":0.83,"amount_usd":0.0123,"time":"2026-01-02T03:04:05.000000006Z"}
// Amounts are numbers for display only; the ledger keeps the exact values.
//
// Example:
//   auto dispatcher = std::make_shared<genops::AlertDispatcher>();
//   dispatcher->AddSink(std::make_shared<genops::LogAlertSink>());
//   dispatcher->AddSink(std::make_shared<genops::WebhookAlertSink>(
//       std::vector<std::string>{"https://hooks.example.com/genops"}));
//
// Thread safety: AlertDispatcher and every sink here are thread-safe.
#ifndef GENOPS_CORE_ALERTS_H_
#define GENOPS_CORE_ALERTS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "genops/attribution.h"
#include "genops/money.h"

namespace genops::exporter {
class HttpTransport;  // src/export/http_transport.h
}  // namespace genops::exporter

namespace genops {

enum class AlertKind {
  kOperationCost,      // one operation cost more than cost_alert_threshold
  kBudgetThreshold,    // a budget's utilisation crossed one of its alert thresholds
  kPolicyViolation,    // a rule was broken (blocked, or warned at a non-blocking level)
  kAnomaly,            // cost far above the model's recent mean
  kLedgerUnavailable,  // the budget ledger could not be reached
};

// "operation_cost", "budget_threshold", "policy_violation", "anomaly", "ledger_unavailable".
std::string_view AlertKindName(AlertKind kind);

struct Alert {
  AlertKind kind = AlertKind::kPolicyViolation;
  std::string severity;  // "warning" | "critical"
  std::string message;
  std::string operation_id;
  Attribution attribution;
  std::string budget_name;
  double threshold = 0;    // the crossed fraction (budget_threshold)
  double utilization = 0;  // the budget's (spent [+ reserved]) / limit
  Money amount;            // the cost or estimate concerned
  int64_t time_unix_nanos = 0;
};

// The webhook body described above.
std::string AlertToJson(const Alert& alert);
// One human-readable line: "[warning] budget_threshold budget=daily ...: message".
std::string FormatAlertLine(const Alert& alert);

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Must not block for long and must not throw: it runs on the caller's thread.
  virtual void Deliver(const Alert& alert) noexcept = 0;
};

// Logs each alert through spdlog's default logger: warnings at warn level, critical ones at
// error level.
//
// Thread safety: thread-safe (spdlog's loggers are).
class LogAlertSink final : public AlertSink {
 public:
  void Deliver(const Alert& alert) noexcept override;
};

// Keeps every delivered alert (bounded, oldest dropped first).
//
// Thread safety: thread-safe.
class RecordingAlertSink final : public AlertSink {
 public:
  explicit RecordingAlertSink(size_t capacity = 10'000) : capacity_(capacity) {}
  void Deliver(const Alert& alert) noexcept override;
  std::vector<Alert> alerts() const;
  void Clear();

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Alert> alerts_ ABSL_GUARDED_BY(mu_);
};

struct WebhookAlertOptions {
  size_t queue_capacity = 1024;                          // alerts waiting to be posted
  int64_t request_timeout_nanos = 5 * 1'000'000'000LL;   // per POST
  int max_attempts = 2;                                  // per URL; retried on 5xx/429/network
  int64_t shutdown_timeout_nanos = 5 * 1'000'000'000LL;  // to drain the queue on shutdown
  std::map<std::string, std::string> headers;            // extra headers (e.g. an auth token)
};

// POSTs AlertToJson() to every URL from one background thread, through an HttpTransport
// (libcurl by default; tests may script one).
//
// Deliver() only enqueues: when the queue is full the alert is dropped and counted in
// stats().dropped. A POST that keeps failing (non-2xx, network error) is counted in
// stats().failed. Shutdown() (also run by the destructor) posts what is queued within
// shutdown_timeout_nanos, drops (and counts) the rest, and stops the thread; Deliver()
// after Shutdown() counts a drop.
//
// Thread safety: thread-safe.
class WebhookAlertSink final : public AlertSink {
 public:
  // `transport` null: a libcurl transport (TLS verified, proxies from the environment).
  explicit WebhookAlertSink(std::vector<std::string> urls, WebhookAlertOptions options = {},
                            std::shared_ptr<exporter::HttpTransport> transport = nullptr);
  ~WebhookAlertSink() override;
  WebhookAlertSink(const WebhookAlertSink&) = delete;
  WebhookAlertSink& operator=(const WebhookAlertSink&) = delete;

  // http:// or https:// with a host; the message names the URL and what is wrong.
  static absl::Status ValidateUrl(std::string_view url);

  void Deliver(const Alert& alert) noexcept override;
  // Waits until every alert queued so far has been posted (or given up on). False on
  // timeout.
  bool Flush(int64_t timeout_nanos) noexcept;
  void Shutdown() noexcept;

  struct Stats {
    int64_t enqueued = 0;
    int64_t delivered = 0;  // POSTs answered 2xx (one per URL)
    int64_t failed = 0;     // POSTs given up on (one per URL)
    int64_t dropped = 0;    // alerts never sent: queue full or shut down
  };
  Stats stats() const;

 private:
  void Run();
  bool Post(const std::string& url, const std::string& body) noexcept;

  const std::vector<std::string> urls_;
  const WebhookAlertOptions options_;
  const std::shared_ptr<exporter::HttpTransport> transport_;

  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);  // JSON bodies
  bool busy_ ABSL_GUARDED_BY(mu_) = false;              // the worker is posting one
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t drain_deadline_monotonic_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

// Fans alerts out to every sink added.
//
// Thread safety: thread-safe. Sinks are called outside the dispatcher's lock, on the
// dispatching thread.
class AlertDispatcher {
 public:
  void AddSink(std::shared_ptr<AlertSink> sink);
  void Dispatch(const Alert& alert) noexcept;
  int64_t dispatched() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<AlertSink>> sinks_ ABSL_GUARDED_BY(mu_);
  int64_t dispatched_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genops

#endif  // GENOPS_CORE_ALERTS_H_
