// SimpleSpanProcessor: exports each span synchronously, on the thread that ended it.
//
// Used when enable_async_export=false, by the CLI's one-shot commands, and by tests that want
// "span ended" to mean "span exported". Every OnEnd pays the exporter's full latency, so
// production paths use BatchSpanProcessor instead.
//
// Example:
//   SimpleSpanProcessor processor(std::make_unique<ConsoleExporter>(...));
//   processor.OnEnd(std::move(span));   // returns after Export()
//
// Thread safety: thread-safe. Export() calls are serialised under a mutex, as the
// SpanExporter contract requires (exporters need not be re-entrant).
#ifndef GENOPS_TELEMETRY_SIMPLE_SPAN_PROCESSOR_H_
#define GENOPS_TELEMETRY_SIMPLE_SPAN_PROCESSOR_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "src/export/span_exporter.h"
#include "src/telemetry/span_processor.h"

namespace genops::telemetry {

class SimpleSpanProcessor final : public SpanProcessor {
 public:
  // A null `exporter` is tolerated: every span then counts as an export failure.
  explicit SimpleSpanProcessor(std::unique_ptr<exporter::SpanExporter> exporter);
  ~SimpleSpanProcessor() override;

  SimpleSpanProcessor(const SimpleSpanProcessor&) = delete;
  SimpleSpanProcessor& operator=(const SimpleSpanProcessor&) = delete;

  // Exports the span before returning (blocking on the exporter). Counts the outcome.
  void OnEnd(SpanData&& span) noexcept override;
  // Nothing is buffered here; forwards to the exporter's ForceFlush.
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override;
  // Waits for an in-progress Export, then shuts the exporter down.
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  SpanProcessorStats stats() const noexcept override;

 private:
  std::atomic<bool> shutdown_{false};  // fast-path check; re-checked under export_mu_

  // Serialises Export/ForceFlush/Shutdown on the exporter. (std::mutex: visible to
  // ThreadSanitizer, unlike the distribution's uninstrumented absl::Mutex.)
  std::mutex export_mu_;
  const std::unique_ptr<exporter::SpanExporter> exporter_ ABSL_PT_GUARDED_BY(export_mu_);
  bool exporter_shut_down_ ABSL_GUARDED_BY(export_mu_) = false;

  std::atomic<uint64_t> enqueued_{0};
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> dropped_after_shutdown_{0};
  std::atomic<uint64_t> export_failures_{0};
  std::atomic<uint64_t> not_sampled_{0};
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_SIMPLE_SPAN_PROCESSOR_H_
