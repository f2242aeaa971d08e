#include "src/sdk/operation_log.h"

#include <algorithm>

#include "genops/clock.h"

namespace genops::sdk {
namespace {
constexpr int64_t kNanosPerDay = 86400 * kNanosPerSecond;
int64_t DayIndex(int64_t unix_nanos) {
  return unix_nanos >= 0 ? unix_nanos / kNanosPerDay
                         : (unix_nanos - kNanosPerDay + 1) / kNanosPerDay;
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
  PushLocked(std::move(record));
  TrimLocked(now_unix_nanos);
}

void OperationLog::PushLocked(OperationRecord record) {
  if (count_ < ring_.size()) {
    ring_[(head_ + count_) % ring_.size()] = std::move(record);
    ++count_;
    return;
  }
  if (ring_.size() < capacity_) {
    // Full but allowed to grow: make the ring linear (oldest first), then append.
    std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(head_), ring_.end());
    head_ = 0;
    ring_.push_back(std::move(record));
    ++count_;
    return;
  }
  // At capacity: the newest record replaces the oldest.
  ring_[head_] = std::move(record);
  head_ = (head_ + 1) % ring_.size();
}

void OperationLog::PopOldestLocked() {
  ring_[head_] = OperationRecord{};  // release its strings now, not when the slot is reused
  head_ = (head_ + 1) % ring_.size();
  --count_;
}

void OperationLog::TrimLocked(int64_t now_unix_nanos) {
  while (count_ > capacity_) PopOldestLocked();
  const int64_t cutoff = now_unix_nanos - retention_nanos_;
  while (count_ > 0 && At(0).start_unix_nanos < cutoff) PopOldestLocked();
}

std::vector<OperationRecord> OperationLog::Recent(size_t limit, int64_t now_unix_nanos) {
  absl::MutexLock lock(&mu_);
  TrimLocked(now_unix_nanos);
  std::vector<OperationRecord> out;
  out.reserve(std::min(limit, count_));
  for (size_t i = count_; i > 0 && out.size() < limit; --i) out.push_back(At(i - 1));
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
  for (size_t i = 0; i < count_; ++i) AddTo(t, At(i));
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
