#include "src/ledger/memory_ledger.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace genops::ledger {
namespace {

// Debian's Abseil has its own string_view type; bridge std::string_view to it.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// a + b, false on int64 overflow (only reachable with absurd amounts).
bool CheckedAdd(Money a, Money b, Money* out) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a.nanos(), b.nanos(), &sum)) return false;
  *out = Money::FromNanos(sum);
  return true;
}

uint64_t HashId(std::string_view id) { return absl::Hash<absl::string_view>()(Sv(id)); }

// An operation id held inline (SDK ids are 35 characters), so keying a table by it allocates
// nothing; longer ids spill to the heap.
struct IdKey {
  explicit IdKey(std::string_view id) : chars(id.begin(), id.end()) {}
  std::string_view view() const { return std::string_view(chars.data(), chars.size()); }
  absl::InlinedVector<char, 40> chars;
};
struct IdHash {
  using is_transparent = void;
  size_t operator()(std::string_view id) const { return HashId(id); }
  size_t operator()(const IdKey& id) const { return HashId(id.view()); }
};
struct IdEq {
  using is_transparent = void;
  static std::string_view View(std::string_view id) { return id; }
  static std::string_view View(const IdKey& id) { return id.view(); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) == View(b);
  }
};

// SettledIds: the idempotency record (see memory_ledger.h), built for one insertion and one
// eviction per settled operation at its 100,000-id bound.
//
// Entries live in a ring of at most `capacity` slots, in arrival order, allocated in chunks
// that never move (so the ring only grows, never copies). An open-addressing index maps an
// id to its slot: linear probing, each index cell holding the slot and 32 bits of the id's
// hash (most mismatches are rejected without touching the entry), and backward-shift
// deletion, so evicting the oldest id leaves no tombstone and the index never needs a
// rebuild at steady state. It doubles (rehashing from the stored hashes) while the ring
// grows, keeping the load factor at most one half. The 32 hash bits in a cell are the low
// ones, which also give the cell's home position (the ring holds at most 2^31 ids), so
// deletion and growth never read the entries themselves: the index is the only structure
// touched at random.
//
// `Value` is default-constructible and has Clear().
//
// Thread safety: thread-compatible; MemoryLedger guards it with its mutex.
template <typename Value>
class SettledIds {
 public:
  struct Entry {
    IdKey id{std::string_view()};
    uint64_t hash = 0;
    int64_t recorded_at = 0;
    Value value;
  };

  explicit SettledIds(size_t capacity)
      : capacity_(std::clamp<size_t>(capacity, 1, size_t{1} << 31)) {}

  size_t size() const { return count_; }

  // Starts loading the index cell Find(id) will read first: the index is megabytes, so that
  // load is usually a cache miss, which other work can overlap.
  void Prefetch(std::string_view id) const {
    if (count_ != 0) __builtin_prefetch(&index_[HashId(id) & mask_]);
  }

  Entry* Find(std::string_view id) {
    if (count_ == 0) return nullptr;
    const uint64_t hash = HashId(id);
    const uint32_t tag = Tag(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Cell cell = index_[i];
      if (cell.slot_plus_one == 0) return nullptr;
      if (cell.tag != tag) continue;
      Entry& entry = At(cell.slot_plus_one - 1);
      if (entry.id.view() == id) return &entry;
    }
  }

  // Adds `id` (not present) as the newest entry with a cleared value for the caller to fill. The
  // oldest entry is evicted first when the ring is full.
  Entry& Add(std::string_view id, int64_t recorded_at) {
    if (count_ == capacity_) PopOldest();
    if (2 * (count_ + 1) > index_.size()) GrowIndex();
    const size_t slot = (head_ + count_) % capacity_;
    if (slot / kChunk >= chunks_.size()) chunks_.push_back(std::make_unique<Entry[]>(kChunk));
    Entry& entry = At(slot);
    entry.value.Clear();
    entry.id.chars.assign(id.begin(), id.end());
    entry.hash = HashId(id);
    entry.recorded_at = recorded_at;
    Insert(entry.hash, slot);
    ++count_;
    return entry;
  }

  const Entry* Oldest() const { return count_ == 0 ? nullptr : &At(head_); }

  void PopOldest() {
    if (count_ == 0) return;
    Entry& oldest = At(head_);
    Erase(oldest.hash, head_);
    oldest.id.chars.clear();
    oldest.value.Clear();
    head_ = (head_ + 1) % capacity_;
    --count_;
    // The next eviction will probe from the next-oldest id's home cell: load it now, so that
    // the miss is not paid by the next operation.
    if (count_ != 0) {
      __builtin_prefetch(&index_[At(head_).hash & mask_]);
      if (count_ > 2) __builtin_prefetch(&At((head_ + 2) % capacity_));  // keeps entries warm
    }
  }

 private:
  static constexpr size_t kChunk = 4096;
  struct Cell {
    uint32_t slot_plus_one = 0;  // 0: empty
    uint32_t tag = 0;            // the low 32 bits of the id's hash
  };
  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash); }

  Entry& At(size_t slot) { return chunks_[slot / kChunk][slot % kChunk]; }
  const Entry& At(size_t slot) const { return chunks_[slot / kChunk][slot % kChunk]; }

  void Insert(uint64_t hash, size_t slot) {
    size_t i = hash & mask_;
    while (index_[i].slot_plus_one != 0) i = (i + 1) & mask_;
    index_[i] = Cell{static_cast<uint32_t>(slot + 1), Tag(hash)};
  }

  void Erase(uint64_t hash, size_t slot) {
    size_t i = hash & mask_;
    while (index_[i].slot_plus_one != slot + 1) i = (i + 1) & mask_;
    // Backward-shift deletion: pull later cells of the probe run into the hole when their
    // home position allows it, so lookups never need tombstones.
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (index_[j].slot_plus_one == 0) break;
      const size_t home = index_[j].tag & mask_;
      // Move j to i when i lies cyclically in [home, j).
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        index_[i] = index_[j];
        i = j;
      }
    }
    index_[i] = Cell{};
  }

  void GrowIndex() {
    const size_t size = index_.empty() ? 64 : 2 * index_.size();
    std::vector<Cell> old(size, Cell{});
    old.swap(index_);
    mask_ = size - 1;
    for (const Cell& cell : old) {
      if (cell.slot_plus_one == 0) continue;
      size_t i = cell.tag & mask_;
      while (index_[i].slot_plus_one != 0) i = (i + 1) & mask_;
      index_[i] = cell;
    }
  }

  const size_t capacity_;
  std::vector<std::unique_ptr<Entry[]>> chunks_;
  size_t head_ = 0;  // slot of the oldest entry
  size_t count_ = 0;
  std::vector<Cell> index_;  // power-of-two size, at least twice count_
  size_t mask_ = 0;
};

class MemoryLedger final : public Ledger {
 public:
  MemoryLedger(const Clock* clock, const MemoryLedgerOptions& options)
      : clock_(clock != nullptr ? clock : Clock::Real()),
        options_(options),
        settled_(options.max_settled_ids) {}

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    std::lock_guard<std::mutex> lock(mu_);
    settled_.Prefetch(request.operation_id);
    ReserveOutcome outcome;
    auto existing = reservations_.find(std::string_view(request.operation_id));
    if (existing != reservations_.end()) {
      outcome.admitted = true;
      outcome.budgets = StatusesFor(existing->second.attribution, request.now_unix_nanos);
      return outcome;
    }
    // Check every matching budget first, then apply: all or nothing. (Checked before the
    // idempotency record, though a settled id wins, so that the record's cache miss, prefetched
    // above, overlaps this work.)
    absl::InlinedVector<std::pair<BudgetState*, int64_t>, 4> holds;
    const std::string* refused_by = nullptr;
    for (auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, request.attribution)) continue;
      const BudgetWindow window =
          BudgetWindow::Containing(budget.spec->period, request.now_unix_nanos);
      const WindowCounters counters = CountersAt(budget, window.start_unix_nanos);
      Money used;
      Money wanted;
      if (!CheckedAdd(counters.spent, counters.reserved, &used) ||
          !CheckedAdd(used, request.amount, &wanted) || wanted > budget.spec->limit) {
        refused_by = &name;
        break;
      }
      holds.emplace_back(&budget, window.start_unix_nanos);
    }
    if (auto* settled = settled_.Find(request.operation_id); settled != nullptr) {
      outcome.admitted = true;
      outcome.budgets = StatusesByName(settled->value.budgets, request.now_unix_nanos);
      return outcome;
    }
    if (refused_by != nullptr) {
      outcome.admitted = false;
      outcome.refused_by = *refused_by;
      outcome.budgets = StatusesFor(request.attribution, request.now_unix_nanos);
      return outcome;
    }
    Reservation& reservation = reservations_.try_emplace(IdKey(request.operation_id)).first->second;
    reservation.attribution = request.attribution;
    reservation.amount = request.amount;
    reservation.expires_at_unix_nanos = request.expires_at_unix_nanos;
    for (auto& [budget, window_start] : holds) {
      budget->windows[window_start].reserved += request.amount;
      reservation.holds.push_back({budget->name_id, budget->generation, window_start});
    }
    outcome.admitted = true;
    // The budgets just checked are exactly those matching the call, in name order.
    for (auto& [budget, window_start] : holds) {
      outcome.budgets.push_back(StatusOf(*budget, request.now_unix_nanos));
    }
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    // An id is never both reserved and settled (Reserve() of a settled id reserves nothing,
    // settling removes the reservation, Charge() refuses a reserved id), so the idempotency
    // record needs consulting only when there is no reservation.
    auto it = reservations_.find(operation_id);
    if (it == reservations_.end()) {
      if (auto repeat = RepeatOutcome(operation_id, now_unix_nanos); repeat.has_value()) {
        return *std::move(repeat);
      }
      return absl::NotFoundError(
          absl::StrCat("ledger: no reservation for operation '", Sv(operation_id),
                       "' (never reserved, released, or expired); record its spend with Charge()"));
    }
    Reservation reservation = std::move(it->second);
    reservations_.erase(it);
    DropHolds(reservation);
    return RecordSpend(operation_id, reservation.attribution, reservation.amount, actual,
                       now_unix_nanos);
  }

  absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                       const Attribution& attribution, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("charge", operation_id, actual); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto repeat = RepeatOutcome(operation_id, now_unix_nanos); repeat.has_value()) {
      return *std::move(repeat);
    }
    if (reservations_.contains(operation_id)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger: operation '", Sv(operation_id),
          "' holds a reservation; settle it with Settle() (or Release() it) instead of Charge()"));
    }
    return RecordSpend(operation_id, attribution, Money::Zero(), actual, now_unix_nanos);
  }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = reservations_.find(operation_id);
    if (it == reservations_.end()) return absl::OkStatus();  // released, settled or unknown
    DropHolds(it->second);
    reservations_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    std::lock_guard<std::mutex> lock(mu_);
    int expired = 0;
    for (auto it = reservations_.begin(); it != reservations_.end();) {
      const int64_t expires = it->second.expires_at_unix_nanos;
      if (expires != 0 && expires <= now_unix_nanos) {
        DropHolds(it->second);
        reservations_.erase(it++);
        ++expired;
      } else {
        ++it;
      }
    }
    PruneWindows(now_unix_nanos);
    PruneSettled(clock_->NowUnixNanos());
    return expired;
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    if (absl::Status s = ValidateBudgetSpec(spec); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = budgets_.find(spec.name);
    if (it == budgets_.end()) {
      BudgetState state;
      state.spec = std::make_shared<const BudgetSpec>(spec);
      state.generation = ++next_generation_;
      state.name_id = InternName(spec.name);
      budgets_.emplace(spec.name, std::move(state));
      return absl::OkStatus();
    }
    if (it->second.spec->period != spec.period) {
      // Window starts of another period mean nothing: restart the counters. Reservations
      // holding the old generation no longer touch this budget.
      it->second.windows.clear();
      it->second.generation = ++next_generation_;
    }
    it->second.spec = std::make_shared<const BudgetSpec>(spec);  // statuses keep the old one
    return absl::OkStatus();
  }

  absl::Status DeleteBudget(std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = budgets_.find(name);
    if (it == budgets_.end()) {
      return absl::NotFoundError(absl::StrCat("ledger: no budget named '", Sv(name), "'"));
    }
    budgets_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<BudgetStatus> out;
    out.reserve(budgets_.size());
    for (const auto& [name, budget] : budgets_) out.push_back(StatusOf(budget, now_unix_nanos));
    return out;
  }

  absl::StatusOr<Money> TotalSpent() override {
    std::lock_guard<std::mutex> lock(mu_);
    return total_spent_;
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = reservations_.find(operation_id); it != reservations_.end()) {
      return OperationEntry{.state = OperationState::kReserved, .reserved = it->second.amount};
    }
    if (auto* settled = settled_.Find(operation_id); settled != nullptr) {
      return OperationEntry{.state = OperationState::kSettled,
                            .reserved = settled->value.reserved,
                            .actual = settled->value.actual};
    }
    return std::optional<OperationEntry>();
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    for (const OperationRecord& record : records) {
      if (absl::Status s = ValidateOperationId(record.operation_id); !s.ok()) return s;
    }
    std::lock_guard<std::mutex> lock(log_mu_);
    for (const OperationRecord& record : records) {
      if (!log_ids_.insert(record.operation_id).second) continue;
      log_.emplace(LogKey{record.start_unix_nanos, record.operation_id}, record);
    }
    return absl::OkStatus();
  }

  absl::Status ScanOperations(const OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    std::lock_guard<std::mutex> lock(log_mu_);
    size_t visited = 0;
    // log_ is ordered newest first; skip to the first record starting before `until`.
    for (auto it = log_.lower_bound(LogKey{query.until_unix_nanos, ""});
         it != log_.end() && it->first.start >= query.since_unix_nanos; ++it) {
      if (it->first.start >= query.until_unix_nanos) continue;
      if (query.limit != 0 && visited == query.limit) break;
      ++visited;
      if (!visit(it->second)) break;
    }
    return absl::OkStatus();
  }

  absl::Status CreateVirtualKey(const VirtualKey& key) override {
    if (absl::Status s = ValidateNewVirtualKey(key); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(keys_mu_);
    if (keys_by_id_.contains(key.id)) return VirtualKeyExistsError(key.id, /*id_taken=*/true);
    if (!id_by_hash_.emplace(key.secret_sha256, key.id).second) {
      return VirtualKeyExistsError(key.id, /*id_taken=*/false);
    }
    keys_by_id_.emplace(key.id, key);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    if (absl::Status s = ValidateVirtualKeyHash(secret_sha256); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(keys_mu_);
    auto id = id_by_hash_.find(Sv(secret_sha256));
    if (id == id_by_hash_.end()) return std::optional<VirtualKey>();
    return std::optional<VirtualKey>(keys_by_id_.find(id->second)->second);
  }

  absl::StatusOr<std::vector<VirtualKey>> ListVirtualKeys() override {
    std::vector<VirtualKey> out;
    {
      std::lock_guard<std::mutex> lock(keys_mu_);
      out.reserve(keys_by_id_.size());
      for (const auto& [id, key] : keys_by_id_) out.push_back(key);
    }
    // keys_by_id_ is in id order; stable_sort keeps it for equal creation times.
    std::stable_sort(out.begin(), out.end(), [](const VirtualKey& a, const VirtualKey& b) {
      return a.created_unix_nanos < b.created_unix_nanos;
    });
    return out;
  }

  absl::Status RevokeVirtualKey(std::string_view id, int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateVirtualKeyRevocation(id, now_unix_nanos); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(keys_mu_);
    auto it = keys_by_id_.find(id);
    if (it == keys_by_id_.end()) return VirtualKeyNotFoundError(id);
    if (it->second.revoked_unix_nanos == 0) it->second.revoked_unix_nanos = now_unix_nanos;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) override {
    std::lock_guard<std::mutex> lock(log_mu_);
    int64_t purged = 0;
    for (auto it = log_.lower_bound(LogKey{before_unix_nanos, ""}); it != log_.end();) {
      if (it->first.start >= before_unix_nanos) {
        ++it;
        continue;
      }
      log_ids_.erase(it->first.id);
      it = log_.erase(it);
      ++purged;
    }
    return purged;
  }

 private:
  // Operations-log order: newest first, ties by id descending.
  struct LogKey {
    int64_t start = 0;
    std::string id;
    bool operator<(const LogKey& other) const {
      if (start != other.start) return start > other.start;
      return id > other.id;
    }
  };

  struct WindowCounters {
    Money spent;
    Money reserved;
  };
  struct BudgetState {
    // Immutable once installed: UpsertBudget() replaces it (see BudgetStatus in ledger.h).
    std::shared_ptr<const BudgetSpec> spec;
    // Bumped when the counters restart, so stale reservation holds are recognised.
    int64_t generation = 0;
    uint32_t name_id = 0;                       // the name's index in names_
    std::map<int64_t, WindowCounters> windows;  // by window start
  };
  struct Hold {
    uint32_t budget = 0;  // name id (names_)
    int64_t generation = 0;
    int64_t window_start = 0;
  };
  // Names of budgets as ids into names_. Inline storage for the usual one or two matching
  // budgets: no allocation per operation.
  using BudgetNames = absl::InlinedVector<uint32_t, 2>;
  struct Reservation {
    Attribution attribution;
    Money amount;
    int64_t expires_at_unix_nanos = 0;
    absl::InlinedVector<Hold, 2> holds;
  };
  struct SettledRecord {
    Money reserved;
    Money actual;
    BudgetNames budgets;  // names of the budgets charged, for repeat outcomes
    void Clear() {
      reserved = Money();
      actual = Money();
      budgets.clear();
    }
  };

  static WindowCounters CountersAt(const BudgetState& budget, int64_t window_start) {
    auto it = budget.windows.find(window_start);
    return it == budget.windows.end() ? WindowCounters{} : it->second;
  }

  static BudgetStatus StatusOf(const BudgetState& budget, int64_t now_unix_nanos) {
    BudgetStatus status;
    status.spec = budget.spec;
    status.window = BudgetWindow::Containing(budget.spec->period, now_unix_nanos);
    const WindowCounters counters = CountersAt(budget, status.window.start_unix_nanos);
    status.spent = counters.spent;
    status.reserved = counters.reserved;
    return status;
  }

  BudgetStatusList StatusesFor(const Attribution& attribution, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    BudgetStatusList out;
    for (const auto& [name, budget] : budgets_) {
      if (ScopeMatches(budget.spec->scope, attribution)) {
        out.push_back(StatusOf(budget, now_unix_nanos));
      }
    }
    return out;
  }

  BudgetStatusList StatusesByName(const BudgetNames& names, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    BudgetStatusList out;
    for (uint32_t name : names) {
      auto it = budgets_.find(names_[name]);
      if (it != budgets_.end()) out.push_back(StatusOf(it->second, now_unix_nanos));
    }
    return out;
  }

  // The id of a budget name; names are never forgotten (there are as many as budgets ever
  // configured, not one per operation).
  uint32_t InternName(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, inserted] = name_ids_.try_emplace(name, static_cast<uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
  }

  std::optional<SettleOutcome> RepeatOutcome(std::string_view operation_id, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto* settled = settled_.Find(operation_id);
    if (settled == nullptr) return std::nullopt;
    SettleOutcome outcome;
    outcome.reserved = settled->value.reserved;
    outcome.actual = settled->value.actual;
    outcome.budgets = StatusesByName(settled->value.budgets, now_unix_nanos);
    outcome.already_settled = true;
    return outcome;
  }

  void DropHolds(const Reservation& reservation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const Hold& hold : reservation.holds) {
      auto budget = budgets_.find(names_[hold.budget]);
      if (budget == budgets_.end() || budget->second.generation != hold.generation) continue;
      auto window = budget->second.windows.find(hold.window_start);
      if (window == budget->second.windows.end()) continue;
      window->second.reserved -= reservation.amount;
    }
  }

  SettleOutcome RecordSpend(std::string_view operation_id, const Attribution& attribution,
                            Money reserved, Money actual, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Evicted first, so the new entry's slot is never one being pruned.
    const int64_t recorded_at = clock_->NowUnixNanos();
    PruneSettled(recorded_at);
    SettledRecord* record = nullptr;  // none with max_settled_ids == 0
    if (options_.max_settled_ids > 0) {
      record = &settled_.Add(operation_id, recorded_at).value;
      record->reserved = reserved;
      record->actual = actual;
    }
    SettleOutcome outcome;
    outcome.reserved = reserved;
    outcome.actual = actual;
    for (auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, attribution)) continue;
      const BudgetWindow window = BudgetWindow::Containing(budget.spec->period, now_unix_nanos);
      budget.windows[window.start_unix_nanos].spent += actual;
      if (record != nullptr) record->budgets.push_back(budget.name_id);
      outcome.budgets.push_back(StatusOf(budget, now_unix_nanos));
    }
    total_spent_ += actual;
    return outcome;
  }

  // Keeps the idempotency record within its documented bounds: the id count is enforced by
  // SettledIds itself (it evicts the oldest when full); this drops ids past their retention.
  void PruneSettled(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto* oldest = settled_.Oldest();
         oldest != nullptr && now - oldest->recorded_at > options_.settled_retention_nanos;
         oldest = settled_.Oldest()) {
      settled_.PopOldest();
    }
  }

  // Forgets windows that have ended and hold no reservation.
  void PruneWindows(int64_t now_unix_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& [name, budget] : budgets_) {
      for (auto it = budget.windows.begin(); it != budget.windows.end();) {
        const BudgetWindow window = BudgetWindow::Containing(budget.spec->period, it->first);
        if (window.end_unix_nanos <= now_unix_nanos && it->second.reserved == Money::Zero()) {
          it = budget.windows.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  const Clock* const clock_;
  const MemoryLedgerOptions options_;

  // std::mutex, not absl::Mutex: Debian's Abseil is built with its debug-mode deadlock
  // detection on, which made each lock cost ~40 ns instead of ~5 ns on the SDK's hot path.
  std::mutex mu_;
  // Ordered by name so the budget named in a refusal is deterministic.
  std::map<std::string, BudgetState, std::less<>> budgets_ ABSL_GUARDED_BY(mu_);
  int64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);  // budget names by id
  absl::flat_hash_map<std::string, uint32_t> name_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<IdKey, Reservation, IdHash, IdEq> reservations_ ABSL_GUARDED_BY(mu_);
  SettledIds<SettledRecord> settled_ ABSL_GUARDED_BY(mu_);
  Money total_spent_ ABSL_GUARDED_BY(mu_);

  // The operations log has its own lock: report queries never stall admission.
  std::mutex log_mu_;
  std::map<LogKey, OperationRecord> log_ ABSL_GUARDED_BY(log_mu_);
  absl::flat_hash_set<std::string> log_ids_ ABSL_GUARDED_BY(log_mu_);

  // Virtual keys have their own lock too: the gateway's key lookups never wait on admission.
  std::mutex keys_mu_;
  std::map<std::string, VirtualKey, std::less<>> keys_by_id_ ABSL_GUARDED_BY(keys_mu_);
  absl::flat_hash_map<std::string, std::string> id_by_hash_ ABSL_GUARDED_BY(keys_mu_);
};

}  // namespace

std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock) {
  return NewMemoryLedger(clock, MemoryLedgerOptions{});
}

std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock, const MemoryLedgerOptions& options) {
  return std::make_unique<MemoryLedger>(clock, options);
}

}  // namespace genops::ledger
