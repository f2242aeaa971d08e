#include "src/export/memory_exporter.h"

namespace genops::exporter {

ExportResult InMemorySpanExporter::Export(std::span<const telemetry::SpanData> spans) noexcept {
  try {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++export_calls_;
      if (shutdown_ || forced_result_ != ExportResult::kSuccess) return ExportResult::kFailure;
      spans_.insert(spans_.end(), spans.begin(), spans.end());
    }
    cv_.notify_all();
    return ExportResult::kSuccess;
  } catch (...) {
    return ExportResult::kFailure;  // out of memory
  }
}

bool InMemorySpanExporter::ForceFlush(std::chrono::milliseconds) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  ++force_flush_calls_;
  return !shutdown_;
}

bool InMemorySpanExporter::Shutdown(std::chrono::milliseconds) noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
  return true;
}

std::vector<telemetry::SpanData> InMemorySpanExporter::GetSpans() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spans_;
}

size_t InMemorySpanExporter::span_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spans_.size();
}

void InMemorySpanExporter::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  spans_.clear();
}

bool InMemorySpanExporter::WaitForSpans(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return spans_.size() >= count; });
}

void InMemorySpanExporter::SetExportResult(ExportResult result) {
  std::lock_guard<std::mutex> lock(mu_);
  forced_result_ = result;
}

size_t InMemorySpanExporter::export_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return export_calls_;
}

size_t InMemorySpanExporter::force_flush_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return force_flush_calls_;
}

bool InMemorySpanExporter::is_shutdown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_;
}

}  // namespace genops::exporter
