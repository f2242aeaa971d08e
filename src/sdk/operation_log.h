// OperationLog: the adapter's in-process record of finished operations.
//
// Keeps the most recent operations (bounded by count and by metrics_retention_days) for
// get_recent_operations_summary(), and running totals that are never trimmed (per provider,
// model and team, and per UTC day) for get_metrics() and multi-provider summaries.
//
// Thread safety: thread-safe; one mutex guards everything.
#ifndef GENOPS_SDK_OPERATION_LOG_H_
#define GENOPS_SDK_OPERATION_LOG_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "genops/adapter.h"

namespace genops::sdk {

class OperationLog {
 public:
  OperationLog(size_t capacity, int retention_days, bool detailed);

  void Add(OperationRecord record, int64_t now_unix_nanos);

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

  const size_t capacity_;
  const int64_t retention_nanos_;
  const bool detailed_;

  mutable absl::Mutex mu_;
  std::deque<OperationRecord> recent_ ABSL_GUARDED_BY(mu_);  // oldest first
  CostTotals totals_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CostTotals> by_provider_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CostTotals> by_model_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CostTotals> by_team_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Money> by_day_ ABSL_GUARDED_BY(mu_);  // UTC day index -> spend
};

void AddTo(CostTotals& totals, const OperationRecord& record);

}  // namespace genops::sdk

#endif  // GENOPS_SDK_OPERATION_LOG_H_
