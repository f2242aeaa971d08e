// OperationLog: the adapter's in-process record of finished operations.
//
// Keeps the most recent operations (bounded by count and by metrics_retention_days) for
// get_recent_operations_summary(), and running totals that are never trimmed (per provider,
// model and team, and per UTC day) for get_metrics() and multi-provider summaries.
//
// Thread safety: thread-safe; one lock guards everything.
#ifndef GENOPS_SDK_OPERATION_LOG_H_
#define GENOPS_SDK_OPERATION_LOG_H_

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "genops/adapter.h"
#include "src/sdk/spin_lock.h"

namespace genops::sdk {

// Cache-line aligned: every operation takes its lock, so no other object may share a line
// with it (a neighbour written by another thread made the lock's exchange a cross-core miss).
class alignas(64) OperationLog {
 public:
  OperationLog(size_t capacity, int retention_days, bool detailed);

  // Copies `record` into a slot of the ring, reusing the slot's string buffers: once the ring
  // has grown, adding a record allocates nothing.
  void Add(const OperationRecord& record, int64_t now_unix_nanos);
  // Moves `record` into a slot of the ring.
  void Add(OperationRecord&& record, int64_t now_unix_nanos);
  // Takes `*record` (non-null) into the ring by exchanging pointers with the slot it takes:
  // `record` is left holding the evicted record, whose buffers a caller refilling it can
  // reuse, or null while the ring grows. The hot path: a record is a dozen strings, and
  // moving them in (what the overload above does) cost more than the rest of Add().
  void Add(std::unique_ptr<OperationRecord>& record, int64_t now_unix_nanos);

  std::vector<OperationRecord> Recent(size_t limit, int64_t now_unix_nanos);
  CostTotals Totals() const;
  CostTotals RetainedTotals(int64_t now_unix_nanos);
  std::map<std::string, CostTotals> ByProvider() const;
  std::map<std::string, CostTotals> ByModel() const;
  std::map<std::string, CostTotals> ByTeam() const;
  // Spend recorded in the UTC day containing `now`.
  Money SpentOnDay(int64_t now_unix_nanos) const;

 private:
  void TrimLocked(int64_t now_unix_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The i-th oldest retained record, i < count_.
  const OperationRecord& At(size_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return *ring_[(head_ + i) % ring_.size()].record;
  }
  // Counts `record` in the running totals.
  void CountLocked(const OperationRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A slot of the ring. The start time is kept beside the pointer: trimming reads it for the
  // oldest record, which has long left the caches (a miss per operation when read through
  // the pointer), while the slots themselves are read in order.
  struct Slot {
    std::unique_ptr<OperationRecord> record;  // null when the slot holds no record yet
    int64_t start_unix_nanos = 0;             // record->start_unix_nanos
  };
  // The slot the next record goes to, growing or wrapping the ring. Its record is null when
  // it holds none yet (the ring grew, or retention emptied it).
  Slot& NextSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t NextIndex(size_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return i + 1 == ring_.size() ? 0 : i + 1;  // not %: a division per call
  }
  void PrefetchNextSlotLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PopOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  const int64_t retention_nanos_;
  const bool detailed_;

  // Not absl::Mutex: Debian's Abseil is built with its debug-mode deadlock detection on,
  // which made each lock cost ~40 ns instead of ~5 ns on the SDK's hot path. A SpinLock
  // rather than std::mutex: one locked instruction per Add() instead of two, and Add() holds
  // it for well under a microsecond. Readers hold it for at most one pass over the retained
  // records; a waiting Add() yields meanwhile.
  mutable SpinLock mu_;
  // The retained records: a ring of at most capacity_ slots (grown on demand), the oldest at
  // head_; every slot below count_ holds a record. A ring instead of a deque so that adding
  // a record allocates nothing once the ring has grown: the hot path exchanges the caller's
  // record with the evicted one.
  std::vector<Slot> ring_ ABSL_GUARDED_BY(mu_);
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  CostTotals totals_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CostTotals> by_provider_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CostTotals> by_model_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CostTotals> by_team_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Money> by_day_ ABSL_GUARDED_BY(mu_);  // UTC day index -> spend
};

void AddTo(CostTotals& totals, const OperationRecord& record);

}  // namespace genops::sdk

#endif  // GENOPS_SDK_OPERATION_LOG_H_
