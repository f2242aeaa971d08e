#include "src/ledger/operation_log_writer.h"

#include <algorithm>
#include <utility>

#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace genops::ledger {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t Nanos(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

OperationLogWriter::OperationLogWriter(std::shared_ptr<Ledger> ledger, const Clock* clock,
                                       OperationLogWriterOptions options)
    : ledger_(std::move(ledger)),
      clock_(clock != nullptr ? clock : Clock::Real()),
      options_(std::move(options)) {
  last_purge_mono_ = SteadyNanos() - Nanos(options_.purge_interval);  // purge soon after start
  thread_ = std::thread([this] { Run(); });
}

OperationLogWriter::~OperationLogWriter() { Shutdown(std::chrono::seconds(5)); }

void OperationLogWriter::Add(OperationRecord record) {
  absl::MutexLock lock(&mu_);
  if (stopped_) {
    // The writer is gone: write this one synchronously rather than lose it.
    mu_.Unlock();
    absl::Status s = ledger_->AppendOperations(absl::MakeConstSpan(&record, 1));
    mu_.Lock();
    if (!s.ok()) {
      ++unwritten_at_stop_;
      spdlog::error("genops: operation {} not written to the operations log after shutdown: {}",
                    record.operation_id, s.ToString());
    }
    return;
  }
  struct Room {
    const OperationLogWriter* self;
    static bool Check(Room* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return r->self->queue_.size() < r->self->options_.max_queued || r->self->stopped_;
    }
  } room{this};
  mu_.Await(absl::Condition(&Room::Check, &room));
  queue_.push_back(std::move(record));
  ++added_;
}

bool OperationLogWriter::Flush(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  const int64_t target = added_;
  flush_target_ = std::max(flush_target_, target);
  struct Done {
    const OperationLogWriter* self;
    int64_t target;
    static bool Check(Done* d) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return d->self->committed_ >= d->target || d->self->stopped_;
    }
  } done{this, target};
  mu_.AwaitWithTimeout(absl::Condition(&Done::Check, &done), absl::FromChrono(timeout));
  return committed_ >= target;
}

int64_t OperationLogWriter::Shutdown(std::chrono::milliseconds timeout) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      shutdown_deadline_mono_ = SteadyNanos() + Nanos(timeout);
    }
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return unwritten_at_stop_;
}

std::vector<OperationRecord> OperationLogWriter::Unwritten() const {
  absl::MutexLock lock(&mu_);
  return std::vector<OperationRecord>(queue_.begin(), queue_.end());
}

OperationLogWriterStats OperationLogWriter::stats() const {
  absl::MutexLock lock(&mu_);
  OperationLogWriterStats s = stats_;
  s.queued = static_cast<int64_t>(queue_.size());
  return s;
}

void OperationLogWriter::Run() {
  std::chrono::milliseconds backoff = options_.initial_backoff;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      struct Ready {
        const OperationLogWriter* self;
        static bool Check(Ready* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          const OperationLogWriter& w = *r->self;
          return w.stopping_ || w.queue_.size() >= w.options_.batch_size ||
                 w.flush_target_ > w.committed_;
        }
      } ready{this};
      mu_.AwaitWithTimeout(absl::Condition(&Ready::Check, &ready),
                           absl::FromChrono(options_.flush_interval));
      if (queue_.empty() && stopping_) {
        stopped_ = true;
        return;
      }
    }
    MaybePurge();
    if (WriteBatch()) {
      backoff = options_.initial_backoff;
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (stopping_ && SteadyNanos() >= shutdown_deadline_mono_) {
      unwritten_at_stop_ = static_cast<int64_t>(queue_.size());
      spdlog::error(
          "genops: the operations log store stayed unreachable through shutdown; {} operation "
          "records were not written (their spend is in the ledger; only the report rows are "
          "missing)",
          unwritten_at_stop_);
      stopped_ = true;
      return;
    }
    // Back off, but wake early for shutdown so its deadline is honoured.
    struct Stop {
      const OperationLogWriter* self;
      static bool Check(Stop* s) ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->self->stopping_; }
    } stop{this};
    const int64_t wait_nanos =
        stopping_ ? std::min(Nanos(backoff), shutdown_deadline_mono_ - SteadyNanos())
                  : Nanos(backoff);
    if (!stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&Stop::Check, &stop), absl::Nanoseconds(wait_nanos));
    } else {
      mu_.Unlock();
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(wait_nanos, 0)));
      mu_.Lock();
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool OperationLogWriter::WriteBatch() {
  const size_t per_transaction = std::max<size_t>(1, options_.max_records_per_transaction);
  for (size_t written = 0; written < std::max<size_t>(1, options_.batch_size);) {
    const size_t chunk =
        std::min(per_transaction, std::max<size_t>(1, options_.batch_size) - written);
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return true;
    }
    if (!WriteChunk(chunk)) return false;
    written += chunk;
  }
  return true;
}

bool OperationLogWriter::WriteChunk(size_t max_records) {
  std::vector<OperationRecord> batch;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) return true;
    const size_t n = std::min(queue_.size(), max_records);
    batch.reserve(n);
    // Copies, not moves: until the commit succeeds the records stay visible to Unwritten().
    for (size_t i = 0; i < n; ++i) batch.push_back(queue_[i]);
    in_batch_ = n;
  }
  const absl::Status status = ledger_->AppendOperations(batch);
  bool notify = false;
  {
    absl::MutexLock lock(&mu_);
    notify = status.ok() == store_failing_;  // the store's state changed
    store_failing_ = !status.ok();
  }
  // Reported before the batch counts as committed, so a Flush() that returns has seen it.
  if (!status.ok() && notify) {
    spdlog::warn("genops: writing {} operation records failed, will retry: {}", batch.size(),
                 status.ToString());
  }
  if (notify && options_.on_store_state_change) options_.on_store_state_change(status);
  absl::MutexLock lock(&mu_);
  in_batch_ = 0;
  if (status.ok()) {
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    committed_ += static_cast<int64_t>(batch.size());
    stats_.written += static_cast<int64_t>(batch.size());
    ++stats_.batches;
  } else {
    ++stats_.failed_attempts;
  }
  return status.ok();
}

void OperationLogWriter::MaybePurge() {
  if (options_.retention_days <= 0) return;
  const int64_t mono = SteadyNanos();
  if (mono - last_purge_mono_ < Nanos(options_.purge_interval)) return;
  last_purge_mono_ = mono;
  const int64_t cutoff =
      clock_->NowUnixNanos() - int64_t{options_.retention_days} * 86'400 * kNanosPerSecond;
  absl::StatusOr<int64_t> purged = ledger_->PurgeOperations(cutoff);
  if (purged.ok()) {
    absl::MutexLock lock(&mu_);
    stats_.purged += *purged;
  }
}

}  // namespace genops::ledger
