// BatchSpanProcessor: hands finished spans to one background thread that exports them in
// batches, so the thread that ended a span never waits for the network.
//
// How it works: OnEnd moves the span into a bounded ring of preallocated slots (a Vyukov-style
// multi-producer ring: one compare-and-swap to claim a slot, one release store to publish it;
// no lock and no allocation on the caller's thread). One worker thread exports a batch when
// `export_batch_size` spans are waiting, when `batch_timeout` has passed since the last timed
// export, on ForceFlush, and on Shutdown. When the ring is full, OnEnd drops the span and counts
// it (dropped_queue_full): the application is never blocked and never loses data silently.
// Money is unaffected by any of this; the ledger is charged before a span is ever built.
// OnEndDeferred queues a DeferredSpan in the same ring; the worker materializes it just before
// exporting it, so building the span costs the caller nothing. When the worker is more than two
// batches behind, the caller builds the span itself instead (in its slot): producers that
// outpace the worker share its work rather than fill the ring and lose spans.
//
// Memory is recycled, not freed, wherever a span's buffers would otherwise be allocated on one
// thread and freed on another (with glibc, a free from a foreign thread takes the allocating
// arena's lock, and a producer and the worker doing that to each other slowed both by 2-3x):
// - the worker keeps its batch's spans between exports and builds deferred spans over them;
// - a caller that builds a span because the worker lags builds it over a spare span's
//   buffers, and the worker returns the buffers it swaps out for it to the spares (at most
//   two batches' worth: as many spans as callers build while the worker is behind by up to
//   a queue of 2048 slots, the default);
// - OnEndRecycling swaps the caller's span with its slot's, so the caller gets back the buffers
//   of a span exported earlier. The ring then holds up to one span's buffers per slot: the
//   memory a full queue takes anyway.
//
// Why lock-free rather than mutex + deque: OnEnd runs on the SDK and gateway hot paths from many
// threads. bench/batch_processor_benchmark.cc compares this ring with a mutex-guarded ring; see
// the numbers recorded at the top of that file.
//
// Timing: batch_timeout is a real-time wait of the worker on a condition variable (it affects
// only WHEN spans are exported, never what is exported or charged), so it does not read the
// injectable Clock. Tests use a short batch_timeout and wait on conditions.
//
// Example:
//   absl::StatusOr<std::unique_ptr<BatchSpanProcessor>> processor =
//       BatchSpanProcessor::Create(std::move(exporter), {.export_batch_size = 512});
//   if (!processor.ok()) return processor.status();
//   (*processor)->OnEnd(std::move(span));
//   ...
//   (*processor)->Shutdown(std::chrono::seconds(5));   // exports what is left
//
// Thread safety: thread-safe. See SpanProcessor for each method's rules.
#ifndef GENOPS_TELEMETRY_BATCH_SPAN_PROCESSOR_H_
#define GENOPS_TELEMETRY_BATCH_SPAN_PROCESSOR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/export/span_exporter.h"
#include "src/telemetry/span_processor.h"

namespace genops::telemetry {

// BatchSpanProcessorOptions
//
// Field names are the seed's configuration keys.
struct BatchSpanProcessorOptions {
  // Capacity of the ring. Spans that arrive while it is full are dropped and counted.
  size_t span_processor_queue_size = 2048;
  // Most spans per Export() call; reaching it wakes the worker early. At most the queue size.
  size_t export_batch_size = 512;
  // The scheduled delay: spans never wait longer than this (plus an export) to be exported.
  std::chrono::milliseconds batch_timeout{5000};
  // Passed to the exporter's ForceFlush and Shutdown. Export() itself is bounded by the
  // exporter's own timeout, as the SpanExporter contract requires.
  std::chrono::milliseconds export_timeout{30000};
};

// OK, or InvalidArgument naming the offending field: a zero queue size, batch size or timeout,
// a queue above 2^20 slots, export_batch_size > span_processor_queue_size, or batch_timeout
// above 24 hours.
absl::Status ValidateBatchSpanProcessorOptions(const BatchSpanProcessorOptions& options);

class BatchSpanProcessor final : public SpanProcessor {
 public:
  // Allocates the ring and starts the worker thread. InvalidArgument for a null exporter or
  // invalid options; ResourceExhausted when the ring cannot be allocated or the thread started.
  static absl::StatusOr<std::unique_ptr<BatchSpanProcessor>> Create(
      std::unique_ptr<exporter::SpanExporter> exporter, const BatchSpanProcessorOptions& options);

  // Calls Shutdown (bounded by export_timeout) if nobody did, then joins the worker. Spans whose
  // OnEnd raced with Shutdown and were never exported are counted in dropped_after_shutdown.
  ~BatchSpanProcessor() override;

  BatchSpanProcessor(const BatchSpanProcessor&) = delete;
  BatchSpanProcessor& operator=(const BatchSpanProcessor&) = delete;

  // Lock-free and allocation-free on the caller's thread: moves the span into a preallocated
  // slot, or drops it (counted) when the ring is full. Occasionally (once per
  // export_batch_size spans) takes the worker's mutex for a moment to wake it.
  void OnEnd(SpanData&& span) noexcept override;
  // As OnEnd; `span` comes back with the buffers of a span exported earlier once the ring has
  // gone round (empty before that). Allocation-free on the caller's thread.
  void OnEndRecycling(SpanData& span) noexcept override;
  // Queues the record as OnEnd queues a span (same ring, same counters); the worker
  // materializes it just before exporting the batch that holds it, then releases it. With
  // more than 2 * export_batch_size spans waiting, materializes it here instead.
  void OnEndDeferred(DeferredSpan span) noexcept override;
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override;
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  SpanProcessorStats stats() const noexcept override;

  const BatchSpanProcessorOptions& options() const { return options_; }

 private:
  // How the span of a slot got there, which decides what the worker leaves in the slot.
  enum class Filled : uint8_t {
    kMoved,      // OnEnd: the worker moves the span out, the slot keeps nothing
    kRecycling,  // OnEndRecycling: swapped; the slot keeps the batch's old buffers for the
                 // next recycling producer
    kBuilt,      // built by a lagging caller over a spare: swapped; the slot's new buffers
                 // go back to the spares
  };

  struct Slot {
    // Vyukov's sequence number: == position when free for the producer claiming `position`,
    // == position + 1 once that producer has published its span.
    std::atomic<uint64_t> sequence{0};
    // source != nullptr: the slot holds a deferred span, not `span`. Next to `sequence`, so
    // queuing a deferred span writes one cache line of the slot.
    DeferredSpan deferred;
    Filled filled = Filled::kMoved;
    SpanData span;
  };

  BatchSpanProcessor(std::unique_ptr<exporter::SpanExporter> exporter,
                     const BatchSpanProcessorOptions& options);

  size_t SlotIndex(uint64_t position) const {
    return static_cast<size_t>(index_mask_ != 0 ? (position & index_mask_)
                                                : (position % capacity_));
  }
  // Claims the next free slot for a producer, or returns nullptr (counted) when the span must be
  // dropped: after Shutdown or with the ring full. On success, *position is the slot's position.
  Slot* ClaimSlot(uint64_t* position) noexcept;
  // Publishes a claimed slot and wakes the worker when a batch is waiting.
  void Publish(Slot* slot, uint64_t position) noexcept;
  void WakeWorker() noexcept;
  void WorkerLoop() noexcept;
  // Worker only: moves up to `max_spans` published spans with positions < `limit` into batch_.
  size_t TakeBatch(size_t max_spans, uint64_t limit) noexcept;
  // OnEnd and OnEndRecycling: queues `span` (moved or swapped into its slot, as `filled`
  // says) or counts why not; true when queued.
  bool Enqueue(SpanData& span, Filled filled) noexcept;
  // A caller's: builds `span` into `slot` over a spare span's buffers (see the top).
  void BuildInSlot(Slot& slot, DeferredSpan span) noexcept;
  // Worker only: hands returned_spares_ to the spares, as far as there is room.
  void ReturnSpares() noexcept;
  // Worker only: exports batch_ and clears it.
  void ExportBatch() noexcept;
  // Worker only: exports every span whose position is below `target`, waiting for slots whose
  // producers have claimed but not yet published them.
  void ExportUntil(uint64_t target) noexcept;
  // Worker only: exports the whole batches among the spans claimed so far.
  void ExportFullBatches() noexcept;

  const BatchSpanProcessorOptions options_;
  const uint64_t capacity_;
  const uint64_t index_mask_;  // capacity_ - 1 when capacity_ is a power of two, else 0
  const size_t max_spares_;    // 2 * export_batch_size, at most the capacity

  // Touched by the worker only (and by the destructor after the worker has exited).
  const std::unique_ptr<exporter::SpanExporter> exporter_;
  const std::unique_ptr<Slot[]> slots_;
  // The batch being exported: its first batch_size_ spans. The spans are cleared after each
  // export but not destroyed, so their vectors' buffers serve the next batch (a batch's memory
  // is what an export holds anyway; keeping it between exports does not raise the peak).
  std::vector<SpanData> batch_;
  size_t batch_size_ = 0;
  // Buffers swapped out of batch_ for spans built by callers, on their way to spares_
  // (reserved to export_batch_size, so collecting them never allocates).
  std::vector<SpanData> returned_spares_;

  // Producers' side. enqueue_position_ doubles as the `enqueued` counter: every successful claim
  // is one accepted span.
  alignas(64) std::atomic<uint64_t> enqueue_position_{0};
  // Written by the worker only; read by producers to estimate the queue length.
  alignas(64) std::atomic<uint64_t> dequeue_position_{0};
  // Set by the producer that first sees a full batch waiting; cleared by the worker when it wakes.
  alignas(64) std::atomic<bool> wakeup_pending_{false};
  std::atomic<bool> shutdown_requested_{false};

  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> dropped_queue_full_{0};
  std::atomic<uint64_t> dropped_after_shutdown_{0};
  std::atomic<uint64_t> export_failures_{0};
  std::atomic<uint64_t> failed_spans_{0};
  std::atomic<uint64_t> not_sampled_{0};

  // Coordination between the worker and ForceFlush/Shutdown callers. std::mutex rather than
  // absl::Mutex: the distribution's prebuilt Abseil is not ThreadSanitizer-instrumented, and
  // this handshake is exactly what the tsan preset must be able to check.
  // Spans exported earlier, reset, whose buffers lagging callers build over (BuildInSlot).
  // At most max_spares_; reserved up front so that moving one in never allocates.
  std::mutex spares_mu_;
  std::vector<SpanData> spares_ ABSL_GUARDED_BY(spares_mu_);

  std::mutex mu_;
  std::condition_variable worker_cv_;                  // the worker waits here
  std::condition_variable done_cv_;                    // ForceFlush / Shutdown callers wait here
  uint64_t flush_requested_ ABSL_GUARDED_BY(mu_) = 0;  // generation asked for
  uint64_t flush_completed_ ABSL_GUARDED_BY(mu_) = 0;  // generation done
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool worker_exited_ ABSL_GUARDED_BY(mu_) = false;
  bool exporter_shutdown_ok_ ABSL_GUARDED_BY(mu_) = false;

  std::thread worker_;
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_BATCH_SPAN_PROCESSOR_H_
