// SpanProcessor: what happens to a span once it has ended.
//
// The SDK, the gateway and the OTLP receiver hand every finished span to one processor. The
// processor decides how it reaches the exporters: synchronously (SimpleSpanProcessor, for
// enable_async_export=false and for tests), through a bounded queue and a background thread
// (BatchSpanProcessor, the default), or to several pipelines at once (CompositeSpanProcessor).
//
// The contract mirrors opentelemetry-cpp's SpanProcessor, with GenOps additions: counters for
// everything that did not reach a backend (drops are counted, never silent), and unsampled spans
// are skipped here rather than upstream, so callers can hand over every finished span.
//
// Thread safety: every implementation is thread-safe; see each method for its rules.
#ifndef GENOPS_TELEMETRY_SPAN_PROCESSOR_H_
#define GENOPS_TELEMETRY_SPAN_PROCESSOR_H_

#include <chrono>
#include <cstdint>
#include <utility>

#include "src/telemetry/span_data.h"

namespace genops::telemetry {

// What a processor did with the spans it was given. Monotonic counters since construction.
struct SpanProcessorStats {
  uint64_t enqueued = 0;                // accepted for export (sampled, before Shutdown, room left)
  uint64_t exported = 0;                // in batches the exporter reported as kSuccess
  uint64_t dropped_queue_full = 0;      // refused because the queue was full
  uint64_t dropped_after_shutdown = 0;  // given to OnEnd after (or racing with) Shutdown
  uint64_t export_failures = 0;         // Export() calls that returned kFailure
  uint64_t failed_spans = 0;            // spans in those failed batches (lost: no retry here)
  uint64_t not_sampled = 0;             // skipped because SpanData::sampled was false

  SpanProcessorStats& operator+=(const SpanProcessorStats& other);
};

inline SpanProcessorStats& SpanProcessorStats::operator+=(const SpanProcessorStats& other) {
  enqueued += other.enqueued;
  exported += other.exported;
  dropped_queue_full += other.dropped_queue_full;
  dropped_after_shutdown += other.dropped_after_shutdown;
  export_failures += other.export_failures;
  failed_spans += other.failed_spans;
  not_sampled += other.not_sampled;
  return *this;
}

// DeferredSpanSource / DeferredSpan: a finished span whose SpanData is built later.
//
// Why: building a span (about fifty attributes, their strings, a few kilobytes of vectors) was
// most of what ending a governed operation cost the application's thread. The span's content is
// fixed when it ends, so an asynchronous processor can build it on its export thread instead:
// the caller hands over a pointer to its own compact record of the span, and the source turns
// that record into a SpanData when the processor gets to it.
//
// Contract: for every DeferredSpan given to OnEndDeferred, the processor calls
// source->Release(record) exactly once, after at most one Materialize(record, ...) (never,
// when the span is dropped: queue full, after Shutdown). The record must stay valid and
// unchanged (as far as Materialize reads it) until Release. The source must outlive every
// record it was given, i.e. the processor's Shutdown or destruction.
//
// Thread safety: Materialize and Release may be called on any thread (the processor's worker
// for BatchSpanProcessor, the caller's for SimpleSpanProcessor), concurrently for different
// records.
class DeferredSpanSource {
 public:
  virtual ~DeferredSpanSource() = default;
  // Builds the span of `record` into `out`, a SpanData equal to a default-constructed one
  // except that its attributes and events may still hold an earlier span's elements (and its
  // empty strings an earlier span's buffers): the source writes over them (reusing their
  // buffers) and erases the elements it does not need, so that `out` holds exactly its span.
  virtual void Materialize(void* record, SpanData& out) noexcept = 0;
  // The processor is done with `record`.
  virtual void Release(void* record) noexcept = 0;
};

struct DeferredSpan {
  DeferredSpanSource* source = nullptr;
  void* record = nullptr;
};

// SpanProcessor
class SpanProcessor {
 public:
  virtual ~SpanProcessor() = default;

  // Takes ownership of a finished span. Spans with `sampled == false` are counted
  // (not_sampled) and discarded.
  //
  // Concurrency: may be called from any number of threads at once, concurrently with
  // ForceFlush and Shutdown. Never blocks on export I/O in the asynchronous processors (it may
  // in SimpleSpanProcessor, which is synchronous by definition). Never throws.
  // After Shutdown: the span is discarded and counted in dropped_after_shutdown.
  virtual void OnEnd(SpanData&& span) noexcept = 0;

  // As OnEnd, and hands back in `span` a SpanData to build the caller's next span into: equal
  // to a default-constructed one except that its attributes and events may hold an earlier
  // span's elements and its empty strings an earlier span's buffers, like the `out` of
  // DeferredSpanSource::Materialize (write over them and erase the surplus). For producers
  // that end span after span (the OTLP receiver): BatchSpanProcessor hands back the buffers
  // of a span it has exported, so such a producer allocates nothing at steady state and
  // frees nothing another thread allocated. This default hands back an empty span.
  virtual void OnEndRecycling(SpanData& span) noexcept {
    OnEnd(std::move(span));
    span = SpanData();
  }

  // As OnEnd, for a span built later (see DeferredSpanSource); deferred spans count as
  // sampled. Processors that export on the caller's thread materialize it right away (this
  // default); BatchSpanProcessor queues the record and materializes it on its worker.
  virtual void OnEndDeferred(DeferredSpan span) noexcept {
    SpanData data;
    span.source->Materialize(span.record, data);
    span.source->Release(span.record);
    OnEnd(std::move(data));
  }

  // Exports every span whose OnEnd returned before this call started, then flushes the
  // exporter. Blocks up to `timeout`; returns true when all of that completed in time.
  //
  // Concurrency: may be called from any thread, concurrently with OnEnd and with other
  // ForceFlush calls. After Shutdown: returns false immediately.
  virtual bool ForceFlush(std::chrono::milliseconds timeout) noexcept = 0;

  // Exports everything still queued, shuts the exporter down and releases the processor's
  // thread(s). Blocks up to `timeout`; returns true when all of that completed in time.
  //
  // Concurrency: may be called from any thread, concurrently with OnEnd and ForceFlush. Only
  // the first call does the work; later calls return false immediately. The destructor calls
  // Shutdown if nobody did.
  virtual bool Shutdown(std::chrono::milliseconds timeout) noexcept = 0;

  // A snapshot of the counters (each read atomically; the set is not one atomic snapshot).
  // Concurrency: any thread, any time, also after Shutdown.
  virtual SpanProcessorStats stats() const noexcept = 0;
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_SPAN_PROCESSOR_H_
