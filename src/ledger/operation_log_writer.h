// OperationLogWriter: group commit for the operations log.
//
// The hot path (an operation finishing in the SDK, a gateway request, a received span)
// hands its OperationRecord to Add(), which only queues it. A background thread writes the
// queue to the ledger in batches (Ledger::AppendOperations, one transaction per
// max_records_per_transaction records), so no caller ever waits on a disk flush or a network
// round trip per operation. The transactions stay small because a store with one writer
// (SQLite) runs admissions and settlements behind them: a 512-record transaction held the
// writer for milliseconds, which every reservation queued behind it waited out.
//
// Nothing is dropped:
//  - A batch the store refuses (unreachable, disk full) stays at the head of the queue and
//    is retried with exponential backoff (100 ms doubling to 5 s) until it is written.
//    Appends are idempotent by operation id, so a batch whose commit outcome was unknown is
//    simply written again.
//  - While more than `max_queued` records wait (the store has been down for a while), Add()
//    blocks until the writer catches up: back-pressure instead of loss or unbounded memory.
//  - Shutdown() writes everything queued; only when the store stays unreachable past the
//    shutdown deadline are the records that remain reported (log + returned count) as
//    unwritten — the one case where the log can miss records, and it says so.
// Retention: every `purge_interval`, records that started more than `retention_days` ago
// are deleted (0 keeps everything).
//
// Example:
//   genops::ledger::OperationLogWriter writer(ledger, genops::Clock::Real(), {});
//   writer.Add(record);             // returns at once
//   writer.Flush(std::chrono::seconds(5));
//
// Thread safety: thread-safe.
#ifndef GENOPS_LEDGER_OPERATION_LOG_WRITER_H_
#define GENOPS_LEDGER_OPERATION_LOG_WRITER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "genops/clock.h"
#include "genops/operation_record.h"
#include "src/ledger/ledger.h"

namespace genops::ledger {

struct OperationLogWriterOptions {
  size_t batch_size = 512;  // records that trigger a write before flush_interval
  // Records per AppendOperations call (one transaction) at most; a batch is written as
  // several such transactions.
  size_t max_records_per_transaction = 64;
  std::chrono::milliseconds flush_interval{200};  // a partial batch waits at most this
  size_t max_queued = 100'000;                    // Add() blocks above this
  int retention_days = 90;                        // 0 = keep forever
  std::chrono::milliseconds purge_interval{std::chrono::hours(1)};
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Called (from the writer thread, no lock held) when a batch fails for the first time
  // after a success, and again when writing recovers (status OK) — for alerts.
  std::function<void(const absl::Status&)> on_store_state_change;
};

struct OperationLogWriterStats {
  int64_t written = 0;          // records committed
  int64_t batches = 0;          // successful transactions
  int64_t failed_attempts = 0;  // batch attempts the store refused
  int64_t queued = 0;           // records waiting now
  int64_t purged = 0;           // records deleted by retention
};

class OperationLogWriter {
 public:
  // `clock` dates retention; it must outlive the writer. Starts the writer thread.
  OperationLogWriter(std::shared_ptr<Ledger> ledger, const Clock* clock,
                     OperationLogWriterOptions options);
  ~OperationLogWriter();  // Shutdown(5 s)
  OperationLogWriter(const OperationLogWriter&) = delete;
  OperationLogWriter& operator=(const OperationLogWriter&) = delete;

  // Queues one record. Returns at once unless max_queued records are waiting.
  void Add(OperationRecord record);

  // Waits until every record queued before the call is written. False on timeout.
  bool Flush(std::chrono::milliseconds timeout);

  // Writes what is queued (waiting at most `timeout`), then stops the thread. Returns how
  // many records could not be written (0 normally). Idempotent.
  int64_t Shutdown(std::chrono::milliseconds timeout);

  // Copies of the records not yet committed, oldest first (so a reader can merge them with
  // what the ledger returns).
  std::vector<OperationRecord> Unwritten() const;

  OperationLogWriterStats stats() const;

 private:
  void Run();
  // Writes up to batch_size records from the head of the queue, in transactions of at most
  // max_records_per_transaction; false when the store refused one (what it refused and
  // everything after stays queued).
  bool WriteBatch();
  // One transaction's worth of WriteBatch(); false when the store refused it.
  bool WriteChunk(size_t max_records);
  void MaybePurge();

  const std::shared_ptr<Ledger> ledger_;
  const Clock* const clock_;
  const OperationLogWriterOptions options_;

  // Waiters use absl::Mutex conditions (re-evaluated on every unlock), so no condition
  // variables are needed: a commit, a flush request or a stop wakes whoever it concerns.
  mutable absl::Mutex mu_;
  std::deque<OperationRecord> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_batch_ ABSL_GUARDED_BY(mu_) = 0;    // head records the writer is committing
  int64_t added_ ABSL_GUARDED_BY(mu_) = 0;      // sequence of the last record added
  int64_t committed_ ABSL_GUARDED_BY(mu_) = 0;  // sequence of the last record committed
  int64_t flush_target_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int64_t shutdown_deadline_mono_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unwritten_at_stop_ ABSL_GUARDED_BY(mu_) = 0;
  OperationLogWriterStats stats_ ABSL_GUARDED_BY(mu_);
  bool store_failing_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_purge_mono_ = 0;  // writer thread only
  std::thread thread_;
};

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_OPERATION_LOG_WRITER_H_
