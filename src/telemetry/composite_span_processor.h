// CompositeSpanProcessor: fans every span out to several processors.
//
// Why: `export.exporters: [otlp, file]` sends the same spans to two sinks, and each sink should
// keep its own queue so a slow backend only drops its own spans and never delays the other
// (DESIGN.md §4: drops are per pipeline and counted). Build one BatchSpanProcessor per exporter
// and put them behind one CompositeSpanProcessor.
//
// Cost: OnEnd copies the span for every processor but the last (which receives the original by
// move), so N pipelines cost N-1 span copies on the calling thread.
//
// Example:
//   std::vector<std::unique_ptr<SpanProcessor>> pipelines;
//   pipelines.push_back(*BatchSpanProcessor::Create(std::move(otlp), options));
//   pipelines.push_back(*BatchSpanProcessor::Create(std::move(file), options));
//   CompositeSpanProcessor processor(std::move(pipelines));
//
// Thread safety: thread-safe (the set of processors is fixed at construction; each child is
// thread-safe).
#ifndef GENOPS_TELEMETRY_COMPOSITE_SPAN_PROCESSOR_H_
#define GENOPS_TELEMETRY_COMPOSITE_SPAN_PROCESSOR_H_

#include <chrono>
#include <memory>
#include <vector>

#include "src/telemetry/span_processor.h"

namespace genops::telemetry {

class CompositeSpanProcessor final : public SpanProcessor {
 public:
  // Null entries are ignored. An empty composite discards every span (its stats stay zero).
  explicit CompositeSpanProcessor(std::vector<std::unique_ptr<SpanProcessor>> processors);
  ~CompositeSpanProcessor() override;

  CompositeSpanProcessor(const CompositeSpanProcessor&) = delete;
  CompositeSpanProcessor& operator=(const CompositeSpanProcessor&) = delete;

  // Every child sees every span. Unsampled spans are not copied: the other children get an
  // empty unsampled span, enough for their not_sampled counters to stay exact.
  void OnEnd(SpanData&& span) noexcept override;
  // Flushes the children one after another, all within one overall `timeout`; true when every
  // child flushed in time. A child that timed out does not stop the others from being flushed.
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override;
  // Shuts every child down within one overall `timeout`; true when all of them succeeded.
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  // The children's counters summed. Per-child numbers: child(i)->stats().
  SpanProcessorStats stats() const noexcept override;

  size_t size() const { return processors_.size(); }
  const SpanProcessor* child(size_t index) const { return processors_[index].get(); }

 private:
  const std::vector<std::unique_ptr<SpanProcessor>> processors_;
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_COMPOSITE_SPAN_PROCESSOR_H_
