// Helpers shared by the SDK tests: a recording exporter, a counting alert sink, and an
// adapter factory with an injected clock and environment.
#ifndef GENOPS_TESTS_SDK_SDK_TEST_UTIL_H_
#define GENOPS_TESTS_SDK_SDK_TEST_UTIL_H_

#include <memory>
#include <mutex>
#include <vector>

#include "genops/genops.h"
#include "src/core/alerts.h"
#include "src/core/environment.h"
#include "src/export/span_exporter.h"
#include "src/sdk/adapter_impl.h"

namespace genops::testing {

// Keeps every exported span; shared so the test can read after the pipeline owns it.
struct SpanStore {
  std::mutex mu;
  std::vector<telemetry::SpanData> spans;
  std::vector<telemetry::SpanData> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return spans;
  }
};

class RecordingExporter final : public exporter::SpanExporter {
 public:
  explicit RecordingExporter(std::shared_ptr<SpanStore> store) : store_(std::move(store)) {}
  exporter::ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override {
    std::lock_guard<std::mutex> lock(store_->mu);
    store_->spans.insert(store_->spans.end(), spans.begin(), spans.end());
    return exporter::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
  std::string_view name() const noexcept override { return "recording"; }

 private:
  std::shared_ptr<SpanStore> store_;
};

class CountingAlertSink final : public AlertSink {
 public:
  void Deliver(const Alert& alert) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    alerts_.push_back(alert);
  }
  std::vector<Alert> alerts() {
    std::lock_guard<std::mutex> lock(mu_);
    return alerts_;
  }

 private:
  std::mutex mu_;
  std::vector<Alert> alerts_;
};

// A test harness owning the clock, environment and sinks an adapter uses.
struct Harness {
  ManualClock clock{1'767'225'600'000'000'000};  // 2026-01-01T00:00:00Z
  MapEnvironment env;
  std::shared_ptr<SpanStore> spans = std::make_shared<SpanStore>();
  std::shared_ptr<CountingAlertSink> alerts = std::make_shared<CountingAlertSink>();

  AdapterConfig BaseConfig() {
    AdapterConfig c;
    c.team = "team-a";
    c.project = "proj-x";
    c.clock = &clock;
    c.env = &env;
    c.exporters = {"none"};
    c.enable_async_export = false;  // spans reach the store before end() returns
    c.log_alerts = false;
    return c;
  }

  std::shared_ptr<AdapterImpl> Make(const AdapterConfig& config,
                                    std::vector<std::string> providers = {}) {
    AdapterDependencies deps;
    deps.extra_exporters.push_back(std::make_unique<RecordingExporter>(spans));
    deps.extra_alert_sinks.push_back(alerts);
    deps.allowed_providers = std::move(providers);
    auto adapter = AdapterImpl::Create(config, std::move(deps));
    if (!adapter.ok()) {
      ADD_FAILURE() << adapter.status();
      return nullptr;
    }
    return *adapter;
  }
};

inline const telemetry::AttributeValue* Attr(const telemetry::SpanData& span,
                                             std::string_view key) {
  return span.FindAttribute(key);
}

template <typename T>
T AttrAs(const telemetry::SpanData& span, std::string_view key) {
  const auto* v = span.FindAttribute(key);
  if (v == nullptr || !std::holds_alternative<T>(*v)) {
    ADD_FAILURE() << "missing attribute " << key;
    return T{};
  }
  return std::get<T>(*v);
}

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SDK_SDK_TEST_UTIL_H_
