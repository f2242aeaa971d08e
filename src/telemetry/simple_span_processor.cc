#include "src/telemetry/simple_span_processor.h"

#include <span>
#include <utility>

namespace genops::telemetry {

SimpleSpanProcessor::SimpleSpanProcessor(std::unique_ptr<exporter::SpanExporter> exporter)
    : exporter_(std::move(exporter)) {}

SimpleSpanProcessor::~SimpleSpanProcessor() { Shutdown(std::chrono::seconds(5)); }

void SimpleSpanProcessor::OnEnd(SpanData&& span) noexcept {
  if (!span.sampled) {
    not_sampled_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (shutdown_.load(std::memory_order_acquire)) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::lock_guard lock(export_mu_);
  if (exporter_shut_down_) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  enqueued_.fetch_add(1, std::memory_order_relaxed);
  const exporter::ExportResult result =
      exporter_ == nullptr ? exporter::ExportResult::kFailure
                           : exporter_->Export(std::span<const SpanData>(&span, 1));
  if (result == exporter::ExportResult::kSuccess) {
    exported_.fetch_add(1, std::memory_order_relaxed);
  } else {
    export_failures_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool SimpleSpanProcessor::ForceFlush(std::chrono::milliseconds timeout) noexcept {
  if (shutdown_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(export_mu_);
  if (exporter_shut_down_ || exporter_ == nullptr) return false;
  return exporter_->ForceFlush(timeout);
}

bool SimpleSpanProcessor::Shutdown(std::chrono::milliseconds timeout) noexcept {
  if (shutdown_.exchange(true, std::memory_order_acq_rel)) return false;
  std::lock_guard lock(export_mu_);
  exporter_shut_down_ = true;
  return exporter_ != nullptr && exporter_->Shutdown(timeout);
}

SpanProcessorStats SimpleSpanProcessor::stats() const noexcept {
  SpanProcessorStats stats;
  stats.enqueued = enqueued_.load(std::memory_order_relaxed);
  stats.exported = exported_.load(std::memory_order_relaxed);
  stats.dropped_after_shutdown = dropped_after_shutdown_.load(std::memory_order_relaxed);
  stats.export_failures = export_failures_.load(std::memory_order_relaxed);
  stats.failed_spans = stats.export_failures;  // one span per Export call
  stats.not_sampled = not_sampled_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace genops::telemetry
