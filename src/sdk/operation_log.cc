#include "src/sdk/operation_log.h"

#include <algorithm>
#include <utility>

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

void OperationLog::Add(const OperationRecord& record, int64_t now_unix_nanos) {
  std::lock_guard<SpinLock> lock(mu_);
  CountLocked(record);
  Slot& slot = NextSlotLocked();
  if (slot.record == nullptr) {
    slot.record = std::make_unique<OperationRecord>(record);
  } else {
    *slot.record = record;
  }
  slot.start_unix_nanos = record.start_unix_nanos;
  TrimLocked(now_unix_nanos);
  PrefetchNextSlotLocked();
}

void OperationLog::Add(OperationRecord&& record, int64_t now_unix_nanos) {
  std::lock_guard<SpinLock> lock(mu_);
  CountLocked(record);
  Slot& slot = NextSlotLocked();
  slot.start_unix_nanos = record.start_unix_nanos;
  if (slot.record == nullptr) {
    slot.record = std::make_unique<OperationRecord>(std::move(record));
  } else {
    *slot.record = std::move(record);
  }
  TrimLocked(now_unix_nanos);
  PrefetchNextSlotLocked();
}

void OperationLog::Add(std::unique_ptr<OperationRecord>& record, int64_t now_unix_nanos) {
  std::lock_guard<SpinLock> lock(mu_);
  CountLocked(*record);
  Slot& slot = NextSlotLocked();
  slot.start_unix_nanos = record->start_unix_nanos;
  slot.record.swap(record);
  TrimLocked(now_unix_nanos);
  PrefetchNextSlotLocked();
}

void OperationLog::CountLocked(const OperationRecord& record) {
  AddTo(totals_, record);
  if (!record.provider.empty()) {
    // Usually an existing provider: look it up without building a key.
    auto it = by_provider_.find(record.provider);
    if (it == by_provider_.end()) it = by_provider_.emplace(record.provider, CostTotals{}).first;
    AddTo(it->second, record);
  }
  if (detailed_) {
    if (!record.model.empty()) AddTo(by_model_[record.model], record);
    AddTo(by_team_[record.attribution.team], record);
  }
  const int64_t day = DayIndex(record.start_unix_nanos);
  if (!by_day_.empty() && by_day_.rbegin()->first == day) {
    by_day_.rbegin()->second += record.cost;  // the common case: today
  } else {
    by_day_[day] += record.cost;
    while (by_day_.size() > kDaysKept) by_day_.erase(by_day_.begin());
  }
}

void OperationLog::PrefetchNextSlotLocked() const {
  if (ring_.size() < capacity_ || count_ < ring_.size()) return;  // growing: slots are warm
  // At capacity the next record takes the oldest slot, and trimming then reads the slot
  // after it; both have long left the caches.
  __builtin_prefetch(&ring_[head_], 1);
  __builtin_prefetch(&ring_[NextIndex(head_)], 1);
}

OperationLog::Slot& OperationLog::NextSlotLocked() {
  if (count_ < ring_.size()) {
    ++count_;
    return ring_[(head_ + count_ - 1) % ring_.size()];
  }
  if (ring_.size() < capacity_) {
    // Full but allowed to grow: make the ring linear (oldest first), then append.
    std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(head_), ring_.end());
    head_ = 0;
    ++count_;
    return ring_.emplace_back();
  }
  // At capacity: the newest record replaces the oldest.
  Slot& slot = ring_[head_];
  head_ = NextIndex(head_);
  return slot;
}

void OperationLog::PopOldestLocked() {
  ring_[head_].record.reset();  // release it now, not when the slot is reused
  head_ = NextIndex(head_);
  --count_;
}

void OperationLog::TrimLocked(int64_t now_unix_nanos) {
  while (count_ > capacity_) PopOldestLocked();
  const int64_t cutoff = now_unix_nanos - retention_nanos_;
  while (count_ > 0 && ring_[head_].start_unix_nanos < cutoff) PopOldestLocked();
}

std::vector<OperationRecord> OperationLog::Recent(size_t limit, int64_t now_unix_nanos) {
  std::lock_guard<SpinLock> lock(mu_);
  TrimLocked(now_unix_nanos);
  std::vector<OperationRecord> out;
  out.reserve(std::min(limit, count_));
  for (size_t i = count_; i > 0 && out.size() < limit; --i) out.push_back(At(i - 1));
  return out;
}

CostTotals OperationLog::Totals() const {
  std::lock_guard<SpinLock> lock(mu_);
  return totals_;
}

CostTotals OperationLog::RetainedTotals(int64_t now_unix_nanos) {
  std::lock_guard<SpinLock> lock(mu_);
  TrimLocked(now_unix_nanos);
  CostTotals t;
  for (size_t i = 0; i < count_; ++i) AddTo(t, At(i));
  return t;
}

std::map<std::string, CostTotals> OperationLog::ByProvider() const {
  std::lock_guard<SpinLock> lock(mu_);
  return by_provider_;
}
std::map<std::string, CostTotals> OperationLog::ByModel() const {
  std::lock_guard<SpinLock> lock(mu_);
  return by_model_;
}
std::map<std::string, CostTotals> OperationLog::ByTeam() const {
  std::lock_guard<SpinLock> lock(mu_);
  return by_team_;
}

Money OperationLog::SpentOnDay(int64_t now_unix_nanos) const {
  std::lock_guard<SpinLock> lock(mu_);
  auto it = by_day_.find(DayIndex(now_unix_nanos));
  return it == by_day_.end() ? Money() : it->second;
}

}  // namespace genops::sdk
