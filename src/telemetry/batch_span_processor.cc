#include "src/telemetry/batch_span_processor.h"

#include <algorithm>
#include <new>
#include <span>
#include <system_error>
#include <utility>

#include "fmt/format.h"
#include "src/telemetry/aggregate_fields.h"

namespace genops::telemetry {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A caller's timeout as a deadline, saturating so that "wait forever" values cannot overflow.
SteadyClock::time_point DeadlineAfter(std::chrono::milliseconds timeout) {
  constexpr std::chrono::milliseconds kLongest = std::chrono::hours(24 * 365);
  return SteadyClock::now() + std::clamp(timeout, std::chrono::milliseconds(0), kLongest);
}

constexpr std::chrono::milliseconds kMaxBatchTimeout = std::chrono::hours(24);
// Every slot is preallocated (a few hundred bytes each), so the ring size is memory committed up
// front; beyond a million slots a typo is far likelier than intent.
constexpr size_t kMaxQueueSize = size_t{1} << 20;

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// `span` back to a default-constructed value, except that its attributes and events stay (and
// its strings keep their buffers): the next deferred span built in this SpanData writes over
// them (DeferredSpanSource::Materialize), reusing their buffers instead of freeing and
// allocating them again for every span. Field by field: assigning a fresh SpanData and moving
// the vectors back cost ten times as much, once per span.
void ResetKeepingElements(SpanData& span) noexcept {
  static_assert(CountFields<SpanData>() == 16, "a field was added: reset it here");
  static const SpanData* const kDefaults = new SpanData();
  span.trace_id = TraceId();
  span.span_id = SpanId();
  span.parent_span_id = SpanId();
  span.trace_state.clear();
  span.name.clear();
  span.kind = kDefaults->kind;
  span.start_unix_nanos = kDefaults->start_unix_nanos;
  span.end_unix_nanos = kDefaults->end_unix_nanos;
  // span.attributes and span.events are kept.
  span.status_code = kDefaults->status_code;
  span.status_message.clear();
  span.dropped_attributes_count = kDefaults->dropped_attributes_count;
  span.dropped_events_count = kDefaults->dropped_events_count;
  span.sampled = kDefaults->sampled;
  span.origin.reset();
}

}  // namespace

absl::Status ValidateBatchSpanProcessorOptions(const BatchSpanProcessorOptions& options) {
  if (options.span_processor_queue_size == 0 || options.span_processor_queue_size > kMaxQueueSize) {
    return absl::InvalidArgumentError(
        fmt::format("span_processor_queue_size must be between 1 and {} (default 2048); got {}",
                    kMaxQueueSize, options.span_processor_queue_size));
  }
  if (options.export_batch_size == 0) {
    return absl::InvalidArgumentError("export_batch_size must be at least 1 (default 512)");
  }
  if (options.export_batch_size > options.span_processor_queue_size) {
    return absl::InvalidArgumentError(fmt::format(
        "export_batch_size ({}) must not exceed span_processor_queue_size ({}): a batch could "
        "never fill; lower export_batch_size or raise span_processor_queue_size",
        options.export_batch_size, options.span_processor_queue_size));
  }
  if (options.batch_timeout.count() <= 0 || options.batch_timeout > kMaxBatchTimeout) {
    return absl::InvalidArgumentError(
        fmt::format("batch_timeout must be between 1 and {} milliseconds (default 5000); got {}",
                    kMaxBatchTimeout.count(), options.batch_timeout.count()));
  }
  if (options.export_timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        "export_timeout must be a positive number of milliseconds "
        "(default 30000)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BatchSpanProcessor>> BatchSpanProcessor::Create(
    std::unique_ptr<exporter::SpanExporter> exporter, const BatchSpanProcessorOptions& options) {
  if (exporter == nullptr) {
    return absl::InvalidArgumentError("BatchSpanProcessor needs an exporter, got null");
  }
  if (absl::Status status = ValidateBatchSpanProcessorOptions(options); !status.ok()) {
    return status;
  }
  std::unique_ptr<BatchSpanProcessor> processor;
  try {
    processor.reset(new BatchSpanProcessor(std::move(exporter), options));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        fmt::format("cannot allocate a span queue of {} slots; lower span_processor_queue_size",
                    options.span_processor_queue_size));
  }
  try {
    processor->worker_ = std::thread(&BatchSpanProcessor::WorkerLoop, processor.get());
  } catch (const std::system_error& error) {
    // The destructor must not wait for a worker that never started.
    std::lock_guard lock(processor->mu_);
    processor->worker_exited_ = true;
    processor->shutdown_requested_.store(true);
    return absl::ResourceExhaustedError(
        fmt::format("cannot start the span export thread: {}", error.what()));
  }
  return processor;
}

BatchSpanProcessor::BatchSpanProcessor(std::unique_ptr<exporter::SpanExporter> exporter,
                                       const BatchSpanProcessorOptions& options)
    : options_(options),
      capacity_(options.span_processor_queue_size),
      index_mask_(IsPowerOfTwo(capacity_) ? capacity_ - 1 : 0),
      max_spares_(std::min(2 * options.export_batch_size, options.span_processor_queue_size)),
      exporter_(std::move(exporter)),
      slots_(new Slot[options.span_processor_queue_size]) {
  for (uint64_t i = 0; i < capacity_; ++i) {
    slots_[i].sequence.store(i, std::memory_order_relaxed);
  }
  batch_.reserve(options.export_batch_size);
  returned_spares_.reserve(options.export_batch_size);
  std::lock_guard lock(spares_mu_);
  spares_.reserve(max_spares_);
}

BatchSpanProcessor::~BatchSpanProcessor() {
  if (!shutdown_requested_.load(std::memory_order_acquire)) Shutdown(options_.export_timeout);
  if (worker_.joinable()) worker_.join();
  // Spans that slipped in while Shutdown was draining: accepted, never exported. Count them,
  // and hand deferred records back to their sources.
  const uint64_t end = enqueue_position_.load(std::memory_order_acquire);
  const uint64_t begin = dequeue_position_.load(std::memory_order_acquire);
  for (uint64_t position = begin; position < end; ++position) {
    Slot& slot = slots_[SlotIndex(position)];
    // A producer that claimed the slot has published it by now: OnEnd* returned before the
    // destructor could run (the caller must not destroy a processor still in use).
    if (slot.deferred.source != nullptr) {
      slot.deferred.source->Release(slot.deferred.record);
      slot.deferred = DeferredSpan{};
    }
  }
  dropped_after_shutdown_.fetch_add(end - begin, std::memory_order_relaxed);
}

void BatchSpanProcessor::OnEnd(SpanData&& span) noexcept { Enqueue(span, Filled::kMoved); }

void BatchSpanProcessor::OnEndRecycling(SpanData& span) noexcept {
  // Not queued (unsampled, ring full, shut down): the caller still gets a reset span.
  if (!Enqueue(span, Filled::kRecycling)) ResetKeepingElements(span);
}

bool BatchSpanProcessor::Enqueue(SpanData& span, Filled filled) noexcept {
  if (!span.sampled) {
    not_sampled_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  uint64_t position = 0;
  Slot* slot = ClaimSlot(&position);
  if (slot == nullptr) return false;
  slot->filled = filled;
  if (filled == Filled::kMoved) {
    slot->span = std::move(span);
  } else {
    // The slot holds nothing, or the reset buffers of a span exported a lap ago (TakeBatch).
    std::swap(slot->span, span);
  }
  Publish(slot, position);
  return true;
}

void BatchSpanProcessor::OnEndDeferred(DeferredSpan span) noexcept {
  uint64_t position = 0;
  Slot* slot = ClaimSlot(&position);
  if (slot == nullptr) {
    span.source->Release(span.record);
    return;
  }
  const uint64_t waiting = position - dequeue_position_.load(std::memory_order_relaxed);
  if (waiting >= 2 * options_.export_batch_size) {
    // The worker is more than two batches behind: build the span here, in the slot, so that
    // the work is shared rather than piling up records (and, once the ring is full, dropping
    // spans) when producers outpace the worker.
    BuildInSlot(*slot, span);
  } else {
    slot->deferred = span;
  }
  Publish(slot, position);
}

void BatchSpanProcessor::BuildInSlot(Slot& slot, DeferredSpan span) noexcept {
  // A slot a recycling producer used holds an exported span's buffers already; any other
  // holds none, and takes a spare's.
  if (slot.span.attributes.capacity() == 0) {
    std::lock_guard lock(spares_mu_);
    if (!spares_.empty()) {
      slot.span = std::move(spares_.back());
      spares_.pop_back();
    }
  }
  slot.filled = Filled::kBuilt;
  span.source->Materialize(span.record, slot.span);
  span.source->Release(span.record);
}

void BatchSpanProcessor::ReturnSpares() noexcept {
  if (returned_spares_.empty()) return;
  {
    std::lock_guard lock(spares_mu_);
    for (SpanData& spare : returned_spares_) {
      if (spares_.size() == max_spares_) break;
      spares_.push_back(std::move(spare));
    }
  }
  // Beyond the bound, freed here: callers that lag for long enough to need more spares than a
  // batch allocate again.
  returned_spares_.clear();
}

BatchSpanProcessor::Slot* BatchSpanProcessor::ClaimSlot(uint64_t* position_out) noexcept {
  if (shutdown_requested_.load(std::memory_order_acquire)) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  uint64_t position = enqueue_position_.load(std::memory_order_relaxed);
  for (;;) {
    Slot* slot = &slots_[SlotIndex(position)];
    const uint64_t sequence = slot->sequence.load(std::memory_order_acquire);
    const auto lag = static_cast<int64_t>(sequence - position);
    if (lag == 0) {
      if (enqueue_position_.compare_exchange_weak(position, position + 1,
                                                  std::memory_order_relaxed)) {
        *position_out = position;
        // The ring is far larger than the caches: start loading the next producer's slot
        // now rather than stall on it then.
        __builtin_prefetch(&slots_[SlotIndex(position + 1)], 1);
        return slot;
      }
      // `position` was reloaded by the failed exchange; retry with it.
    } else if (lag < 0) {
      // The slot still holds the span from one lap ago: the ring is full.
      dropped_queue_full_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    } else {
      position = enqueue_position_.load(std::memory_order_relaxed);  // another producer won
    }
  }
}

void BatchSpanProcessor::Publish(Slot* slot, uint64_t position) noexcept {
  slot->sequence.store(position + 1, std::memory_order_release);
  const uint64_t waiting = position + 1 - dequeue_position_.load(std::memory_order_relaxed);
  if (waiting >= options_.export_batch_size && !wakeup_pending_.load(std::memory_order_relaxed) &&
      !wakeup_pending_.exchange(true, std::memory_order_acq_rel)) {
    WakeWorker();
  }
}

void BatchSpanProcessor::WakeWorker() noexcept {
  // Taking the mutex orders this wake-up after the worker's predicate check, so it cannot be
  // lost between the check and the wait.
  { std::lock_guard lock(mu_); }
  worker_cv_.notify_one();
}

bool BatchSpanProcessor::ForceFlush(std::chrono::milliseconds timeout) noexcept {
  if (shutdown_requested_.load(std::memory_order_acquire)) return false;
  const SteadyClock::time_point deadline = DeadlineAfter(timeout);
  std::unique_lock lock(mu_);
  if (stop_requested_ || worker_exited_) return false;
  const uint64_t generation = ++flush_requested_;
  worker_cv_.notify_one();
  return done_cv_.wait_until(lock, deadline, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return flush_completed_ >= generation || worker_exited_;
  }) && flush_completed_ >= generation;
}

bool BatchSpanProcessor::Shutdown(std::chrono::milliseconds timeout) noexcept {
  if (shutdown_requested_.exchange(true, std::memory_order_acq_rel)) return false;
  const SteadyClock::time_point deadline = DeadlineAfter(timeout);
  std::unique_lock lock(mu_);
  stop_requested_ = true;
  worker_cv_.notify_one();
  if (!done_cv_.wait_until(
          lock, deadline, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return worker_exited_; })) {
    return false;
  }
  return exporter_shutdown_ok_;
}

SpanProcessorStats BatchSpanProcessor::stats() const noexcept {
  SpanProcessorStats stats;
  stats.enqueued = enqueue_position_.load(std::memory_order_relaxed);
  stats.exported = exported_.load(std::memory_order_relaxed);
  stats.dropped_queue_full = dropped_queue_full_.load(std::memory_order_relaxed);
  stats.dropped_after_shutdown = dropped_after_shutdown_.load(std::memory_order_relaxed);
  stats.export_failures = export_failures_.load(std::memory_order_relaxed);
  stats.failed_spans = failed_spans_.load(std::memory_order_relaxed);
  stats.not_sampled = not_sampled_.load(std::memory_order_relaxed);
  return stats;
}

void BatchSpanProcessor::WorkerLoop() noexcept {
  SteadyClock::time_point next_timed_export = SteadyClock::now() + options_.batch_timeout;
  for (;;) {
    bool stop = false;
    bool flush = false;
    bool timed_out = false;
    uint64_t flush_generation = 0;
    {
      std::unique_lock lock(mu_);
      timed_out = !worker_cv_.wait_until(
          lock, next_timed_export, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stop_requested_ || flush_requested_ != flush_completed_ ||
                   wakeup_pending_.load(std::memory_order_acquire);
          });
      stop = stop_requested_;
      flush = flush_requested_ != flush_completed_;
      flush_generation = flush_requested_;
      // Cleared before draining, so a producer that fills another batch meanwhile wakes us again.
      wakeup_pending_.store(false, std::memory_order_release);
    }

    if (stop || flush || timed_out) {
      // Everything whose OnEnd returned before the request (or before the timer fired).
      ExportUntil(enqueue_position_.load(std::memory_order_acquire));
      if (timed_out) next_timed_export = SteadyClock::now() + options_.batch_timeout;
    } else {
      ExportFullBatches();
    }

    if (stop) {
      const bool shutdown_ok = exporter_->Shutdown(options_.export_timeout);
      {
        std::lock_guard lock(mu_);
        exporter_shutdown_ok_ = shutdown_ok;
        worker_exited_ = true;
        flush_completed_ = flush_requested_;  // Shutdown drained everything a flush asked for
      }
      done_cv_.notify_all();
      return;
    }
    if (flush) {
      exporter_->ForceFlush(options_.export_timeout);
      {
        std::lock_guard lock(mu_);
        flush_completed_ = flush_generation;
      }
      done_cv_.notify_all();
    }
  }
}

size_t BatchSpanProcessor::TakeBatch(size_t max_spans, uint64_t limit) noexcept {
  uint64_t position = dequeue_position_.load(std::memory_order_relaxed);
  size_t taken = 0;
  while (taken < max_spans && position < limit) {
    Slot& slot = slots_[SlotIndex(position)];
    if (slot.sequence.load(std::memory_order_acquire) != position + 1) break;  // not published
    // Within the reserved capacity: growing batch_ never reallocates.
    if (batch_size_ == batch_.size()) batch_.emplace_back();
    SpanData& span = batch_[batch_size_++];
    if (slot.deferred.source != nullptr) {
      // Built here, on the worker, off the thread that ended the span.
      const DeferredSpan deferred = std::exchange(slot.deferred, DeferredSpan{});
      deferred.source->Materialize(deferred.record, span);
      deferred.source->Release(deferred.record);
    } else {
      switch (slot.filled) {
        case Filled::kMoved:
          span = std::move(slot.span);
          break;
        case Filled::kRecycling:
          // `span` holds the buffers of a span this worker exported (reset) or none: the slot
          // keeps them for the producer that claims it a lap from now.
          std::swap(span, slot.span);
          break;
        case Filled::kBuilt:
          std::swap(span, slot.span);
          if (slot.span.attributes.capacity() != 0) {
            returned_spares_.push_back(std::move(slot.span));
          }
          slot.span = SpanData();
          break;
      }
    }
    slot.sequence.store(position + capacity_, std::memory_order_release);
    ++position;
    ++taken;
  }
  dequeue_position_.store(position, std::memory_order_release);
  ReturnSpares();
  return taken;
}

void BatchSpanProcessor::ExportBatch() noexcept {
  if (batch_size_ == 0) return;
  const exporter::ExportResult result =
      exporter_->Export(std::span<const SpanData>(batch_.data(), batch_size_));
  if (result == exporter::ExportResult::kSuccess) {
    exported_.fetch_add(batch_size_, std::memory_order_relaxed);
  } else {
    export_failures_.fetch_add(1, std::memory_order_relaxed);
    failed_spans_.fetch_add(batch_size_, std::memory_order_relaxed);
  }
  // Keeps the spans' elements for the next batch's deferred spans to write over (a batch's
  // memory is what an export holds anyway; keeping it between exports does not raise the
  // peak). A span moved in from a slot replaces them.
  for (size_t i = 0; i < batch_size_; ++i) ResetKeepingElements(batch_[i]);
  batch_size_ = 0;
}

void BatchSpanProcessor::ExportUntil(uint64_t target) noexcept {
  for (;;) {
    const uint64_t position = dequeue_position_.load(std::memory_order_relaxed);
    if (position >= target) return;
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(options_.export_batch_size, target - position));
    if (TakeBatch(want, target) == 0) {
      // A producer claimed this slot and is still moving its span in: a matter of nanoseconds.
      std::this_thread::yield();
      continue;
    }
    ExportBatch();
  }
}

void BatchSpanProcessor::ExportFullBatches() noexcept {
  // Whole batches among the spans claimed so far; ExportUntil waits for any still being
  // published, so a wake-up is never wasted on a slot a producer is filling right now.
  const uint64_t start = dequeue_position_.load(std::memory_order_relaxed);
  const uint64_t claimed = enqueue_position_.load(std::memory_order_acquire) - start;
  const uint64_t whole = claimed - claimed % options_.export_batch_size;
  if (whole > 0) ExportUntil(start + whole);
}

}  // namespace genops::telemetry
