#include "src/sdk/operation_log.h"

#include <algorithm>

#include "genops/clock.h"

namespace genops::sdk {
namespace {
constexpr int64_t kNanosPerDay = 86400 * kNanosPerSecond;
int64_t DayIndex(int64_t unix_nanos) {
  return unix_nanos >= 0 ? unix_nanos / kNanosPerDay : (unix_nanos - kNanosPerDay + 1) / kNanosPerDay;
}
constexpr size_t kDaysKept = 8;
}  // namespace

void AddTo(CostTotals& totals, const OperationRecord& record) {
  totals.operations += 1;
  totals.cost += record.cost;
  totals.usage.input_tokens += record.usage.input_tokens;
  totals.usage.cache_read_tokens += record.usage.cache_read_tokens;
  totals.usage.cache_write_tokens += record.usage.cache_write_tokens;
  totals.usage.output_tokens += record.usage.output_tokens;
  totals.usage.reasoning_tokens += record.usage.reasoning_tokens;
}

OperationLog::OperationLog(size_t capacity, int retention_days, bool detailed)
    : capacity_(std::max<size_t>(capacity, 1)),
      retention_nanos_(int64_t{retention_days} * kNanosPerDay),
      detailed_(detailed) {}

void OperationLog::Add(OperationRecord record, int64_t now_unix_nanos) {
  absl::MutexLock lock(&mu_);
  AddTo(totals_, record);
  if (!record.provider.empty()) AddTo(by_provider_[record.provider], record);
  if (detailed_) {
    if (!record.model.empty()) AddTo(by_model_[record.model], record);
    AddTo(by_team_[record.attribution.team], record);
  }
  by_day_[DayIndex(record.start_unix_nanos)] += record.cost;
  while (by_day_.size() > kDaysKept) by_day_.erase(by_day_.begin());
  recent_.push_back(std::move(record));
  TrimLocked(now_unix_nanos);
}

void OperationLog::TrimLocked(int64_t now_unix_nanos) {
  while (recent_.size() > capacity_) recent_.pop_front();
  const int64_t cutoff = now_unix_nanos - retention_nanos_;
  while (!recent_.empty() && recent_.front().start_unix_nanos < cutoff) recent_.pop_front();
}

std::vector<OperationRecord> OperationLog::Recent(size_t limit, int64_t now_unix_nanos) {
  absl::MutexLock lock(&mu_);
  TrimLocked(now_unix_nanos);
  std::vector<OperationRecord> out;
  out.reserve(std::min(limit, recent_.size()));
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < limit; ++it) {
    out.push_back(*it);
  }
  return out;
}

CostTotals OperationLog::Totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

CostTotals OperationLog::RetainedTotals(int64_t now_unix_nanos) {
  absl::MutexLock lock(&mu_);
  TrimLocked(now_unix_nanos);
  CostTotals t;
  for (const auto& r : recent_) AddTo(t, r);
  return t;
}

std::map<std::string, CostTotals> OperationLog::ByProvider() const {
  absl::MutexLock lock(&mu_);
  return by_provider_;
}
std::map<std::string, CostTotals> OperationLog::ByModel() const {
  absl::MutexLock lock(&mu_);
  return by_model_;
}
std::map<std::string, CostTotals> OperationLog::ByTeam() const {
  absl::MutexLock lock(&mu_);
  return by_team_;
}

Money OperationLog::SpentOnDay(int64_t now_unix_nanos) const {
  absl::MutexLock lock(&mu_);
  auto it = by_day_.find(DayIndex(now_unix_nanos));
  return it == by_day_.end() ? Money() : it->second;
}

}  // namespace genops::sdk
