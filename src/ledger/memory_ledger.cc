#include "src/ledger/memory_ledger.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
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

// An operation id with its hash, computed once per call: the hash picks the stripe (its top
// bits), the slot in the stripe's reservation table and the cell of its idempotency index.
struct HashedId {
  std::string_view id;
  uint64_t hash = 0;
};

HashedId Hashed(std::string_view id) {
  return HashedId{id, absl::Hash<absl::string_view>()(Sv(id))};
}

// An operation id held inline (SDK ids are 35 characters), so keying a table by it allocates
// nothing; longer ids spill to the heap. Keeps its hash, so tables never recompute it.
struct IdKey {
  IdKey() = default;
  explicit IdKey(const HashedId& id) : hash(id.hash), chars(id.id.begin(), id.id.end()) {}
  std::string_view view() const { return std::string_view(chars.data(), chars.size()); }
  uint64_t hash = 0;
  absl::InlinedVector<char, 40> chars;
};
struct IdHash {
  using is_transparent = void;
  size_t operator()(const HashedId& id) const { return id.hash; }
  size_t operator()(const IdKey& id) const { return id.hash; }
};
struct IdEq {
  using is_transparent = void;
  static std::string_view View(const HashedId& id) { return id.id; }
  static std::string_view View(const IdKey& id) { return id.view(); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) == View(b);
  }
};

// SettledIds: one stripe's share of the idempotency record (see memory_ledger.h), built for
// one insertion and one eviction per settled operation.
//
// Which entries are still remembered is decided by the ledger (a global arrival count and
// the retention time, see MemoryLedger::PruneSettled); this structure keeps them in arrival
// order and offers the oldest for eviction. A stripe is visited once every few dozen
// operations, so the lines one eviction and one insertion touch are rarely still cached
// from the previous visit (a single unstriped ring had that for free: consecutive operations
// touched neighbouring slots, which the hardware prefetches). Hence three parts:
//  - the entry pool: arrival number, time, id and value, in reusable slots;
//  - the arrival ring: the pool slots in arrival order, each with the low 32 bits of its
//    id's hash (8 bytes a record: a line holds the next eight evictions);
//  - an open-addressing index from id to pool slot: linear probing, each cell holding the
//    slot and the same 32 hash bits (most mismatches are rejected without touching the entry,
//    and the bits give the cell's home position, so deletion never reads entries),
//    backward-shift deletion (no tombstones, no rebuild at steady state), at least twice as
//    many cells as live ids.
// After each insertion, PrefetchNextAdd() chooses the pool slot the next one will fill and
// starts loading it, the oldest entry and its index cell: by the stripe's next visit they
// are in the second-level cache instead of memory (a single caller's reserve+settle pair
// cost ~15% more without it). At steady state nothing allocates or moves; the ring, the pool
// and the index double when full.
//
// `Value` is default-constructible and has Clear().
//
// Thread safety: thread-compatible; MemoryLedger guards each one with its stripe's lock.
template <typename Value>
class SettledIds {
 public:
  struct Entry {
    uint64_t seq = 0;  // the ledger-wide arrival number
    int64_t recorded_at = 0;
    absl::InlinedVector<char, 40> id;  // inline for SDK ids (35 characters)
    Value value;
  };

  // Starts loading the index cell Find(id) will read first: the index may be large, so that
  // load is often a cache miss, which other work can overlap.
  void Prefetch(uint64_t hash) const {
    if (count_ != 0) __builtin_prefetch(&index_[hash & index_mask_]);
  }

  Entry* Find(const HashedId& id) {
    if (count_ == 0) return nullptr;
    const uint32_t tag = Tag(id.hash);
    for (size_t i = id.hash & index_mask_;; i = (i + 1) & index_mask_) {
      const Cell cell = index_[i];
      if (cell.slot_plus_one == 0) return nullptr;
      if (cell.tag != tag) continue;
      Entry& entry = pool_[cell.slot_plus_one - 1];
      if (std::string_view(entry.id.data(), entry.id.size()) == id.id) return &entry;
    }
  }

  // Adds `id`, which must not be present, as the newest entry with a cleared value for the
  // caller to fill.
  Entry& Add(const HashedId& id, uint64_t seq, int64_t recorded_at) {
    if (count_ == ring_.size()) GrowRing();
    if (2 * (count_ + 1) > index_.size()) GrowIndex();
    if (!has_spare_) TakeSpare();
    const uint32_t slot = spare_;
    has_spare_ = false;
    Entry& entry = pool_[slot];
    entry.seq = seq;
    entry.recorded_at = recorded_at;
    entry.id.assign(id.id.begin(), id.id.end());
    entry.value.Clear();
    const uint32_t tag = Tag(id.hash);
    Insert(tag, slot);
    ring_[(head_ + count_) & ring_mask_] = Arrival{slot, tag};
    ++count_;
    return entry;
  }

  const Entry* Oldest() const { return count_ == 0 ? nullptr : &pool_[ring_[head_].slot]; }

  void PopOldest() {
    if (count_ == 0) return;
    const Arrival oldest = ring_[head_];
    Erase(oldest.tag, oldest.slot);
    free_.push_back(oldest.slot);  // its entry is overwritten by a later Add()
    head_ = (head_ + 1) & ring_mask_;
    --count_;
  }

  // Starts loading what the next insertion and the evictions before it touch: the pool slot
  // the insertion will fill (chosen here, so the prefetch is never wasted), the two oldest
  // entries, the oldest one's index cell, and the next line of the ring. Every address
  // comes from the ring, which stays cached, so no load here stalls the caller.
  void PrefetchNextAdd() {
    if (!has_spare_) TakeSpare();
    const char* spare = reinterpret_cast<const char*>(&pool_[spare_]);
    __builtin_prefetch(spare, 1);
    __builtin_prefetch(spare + sizeof(Entry) - 1, 1);
    if (count_ == 0) return;
    const Arrival& oldest = ring_[head_];
    __builtin_prefetch(&pool_[oldest.slot], 1);
    __builtin_prefetch(&index_[oldest.tag & index_mask_], 1);
    if (count_ > 1) __builtin_prefetch(&pool_[ring_[(head_ + 1) & ring_mask_].slot], 1);
    __builtin_prefetch(&ring_[(head_ + 8) & ring_mask_]);
  }

 private:
  static constexpr size_t kInitialSize = 16;
  struct Arrival {
    uint32_t slot = 0;
    uint32_t tag = 0;
  };
  struct Cell {
    uint32_t slot_plus_one = 0;  // 0: empty
    uint32_t tag = 0;            // the low 32 bits of the id's hash
  };
  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash); }

  void TakeSpare() {
    if (free_.empty()) {
      spare_ = static_cast<uint32_t>(pool_.size());
      pool_.emplace_back();
    } else {
      spare_ = free_.back();
      free_.pop_back();
    }
    has_spare_ = true;
  }

  // The index has at most 2^32 cells, so a tag's low bits are its home position.
  void Insert(uint32_t tag, uint32_t slot) {
    size_t i = tag & index_mask_;
    while (index_[i].slot_plus_one != 0) i = (i + 1) & index_mask_;
    index_[i] = Cell{slot + 1, tag};
  }

  void Erase(uint32_t tag, uint32_t slot) {
    size_t i = tag & index_mask_;
    while (index_[i].slot_plus_one != slot + 1) i = (i + 1) & index_mask_;
    // Backward-shift deletion: pull later cells of the probe run into the hole when their
    // home position allows it, so lookups never need tombstones.
    for (size_t j = (i + 1) & index_mask_;; j = (j + 1) & index_mask_) {
      if (index_[j].slot_plus_one == 0) break;
      const size_t home = index_[j].tag & index_mask_;
      // Move j to i when i lies cyclically in [home, j).
      if (((j - home) & index_mask_) >= ((j - i) & index_mask_)) {
        index_[i] = index_[j];
        i = j;
      }
    }
    index_[i] = Cell{};
  }

  // Doubles the ring, oldest record first at position 0.
  void GrowRing() {
    const size_t size = ring_.empty() ? kInitialSize : 2 * ring_.size();
    std::vector<Arrival> ring(size);
    for (size_t k = 0; k < count_; ++k) ring[k] = ring_[(head_ + k) & ring_mask_];
    ring_.swap(ring);
    ring_mask_ = size - 1;
    head_ = 0;
  }

  // Doubles the index (from the ring: every live entry has a record there).
  void GrowIndex() {
    const size_t size = index_.empty() ? 2 * kInitialSize : 2 * index_.size();
    index_.assign(size, Cell{});
    index_mask_ = size - 1;
    for (size_t k = 0; k < count_; ++k) {
      const Arrival& arrival = ring_[(head_ + k) & ring_mask_];
      Insert(arrival.tag, arrival.slot);
    }
  }

  std::vector<Entry> pool_;     // slots are stable: the index refers to them by number
  std::vector<uint32_t> free_;  // pool slots not in use, the last freed at the back
  uint32_t spare_ = 0;          // when has_spare_: the free slot the next Add() fills
  bool has_spare_ = false;
  std::vector<Arrival> ring_;  // power-of-two size; count_ records from head_
  size_t ring_mask_ = 0;
  size_t head_ = 0;
  size_t count_ = 0;
  std::vector<Cell> index_;  // power-of-two size, at least twice count_
  size_t index_mask_ = 0;
};

// Lets the core run the other hardware thread or save power while spinning.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The lock of the stripes and of the budget counters, for sections of tens to hundreds of
// nanoseconds. A waiter first spins briefly (the holder is usually running on the other
// core and about to release), then yields its core a few times (with more threads than
// cores the holder may have been preempted, and yielding lets it run again), and only then
// sleeps in the kernel until the holder wakes it (a futex; the classic three-state mutex:
// free, held, held with sleepers). std::mutex sleeps at once: every brief overlap of two
// callers then costs a sleep and a wake-up, and with 32 callers on 2 cores those pile up
// into convoys. Measured with ledger_sqlite_benchmark, 32 callers, the same build with this
// lock's spinning and yielding turned off: 3.3M pairs/s against 5.5M (1.3M against 1.9M
// while the VM's two CPUs sat far apart on the host). Unfair: a running thread may take the
// lock ahead of sleeping ones.
//
// Thread safety: thread-safe (it is a lock).
class ABSL_LOCKABLE SpinLock {
 public:
  void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    uint32_t expected = kFree;
    if (state_.compare_exchange_strong(expected, kHeld, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    LockSlow();
  }
  void unlock() noexcept ABSL_UNLOCK_FUNCTION() {
    if (state_.exchange(kFree, std::memory_order_release) == kHeldWithSleepers) Wake();
  }

 private:
  static constexpr uint32_t kFree = 0;
  static constexpr uint32_t kHeld = 1;
  static constexpr uint32_t kHeldWithSleepers = 2;
  static constexpr int kSpins = 64;
  static constexpr int kYields = 8;

  void LockSlow() noexcept;
  void Wake() noexcept;

  std::atomic<uint32_t> state_{kFree};
};

void SpinLock::LockSlow() noexcept {
  for (int round = 0; round < kSpins + kYields; ++round) {
    if (round < kSpins) {
      CpuRelax();
    } else {
      sched_yield();
    }
    uint32_t expected = kFree;
    if (state_.load(std::memory_order_relaxed) == kFree &&
        state_.compare_exchange_strong(expected, kHeld, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
  }
  // From here on, whoever holds the lock may have sleepers to wake.
  while (state_.exchange(kHeldWithSleepers, std::memory_order_acquire) != kFree) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, kHeldWithSleepers,
            nullptr, nullptr, 0);
  }
}

void SpinLock::Wake() noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}

struct WindowCounters {
  Money spent;
  Money reserved;
};

// The counters of one budget generation, window by window. Shared by every BudgetSet in
// which the budget keeps its period (a new period starts a new generation with fresh
// counters).
//
// The current window (the one used last: nearly every call is in it) is reached without a
// map lookup. For up to kHotSlots budgets it lives in a slot of the ledger's hot line (the
// cache line of the counters lock itself) and not in the map: a check-and-add over such
// budgets then moves one line between the cores instead of one per budget plus the lock's.
//
// Thread safety: guarded by MemoryLedger's counters lock (every member and method).
struct BudgetCounters {
  std::map<int64_t, WindowCounters> windows;  // by window start; not the current one if hot
  WindowCounters* hot = nullptr;              // this budget's slot in the hot line, or null
  int hot_index = -1;
  bool has_current = false;
  int64_t current_start = 0;
  WindowCounters* current = nullptr;  // `hot`, or a map node (nodes never move)

  WindowCounters& At(int64_t start) {
    if (has_current && current_start == start) return *current;
    if (hot == nullptr) {
      current = &windows[start];
    } else {
      if (has_current) windows[current_start] = *hot;  // the old window leaves the slot
      auto it = windows.find(start);
      if (it == windows.end()) {
        *hot = WindowCounters{};
      } else {
        *hot = it->second;
        windows.erase(it);
      }
      current = hot;
    }
    current_start = start;
    has_current = true;
    return *current;
  }
  WindowCounters* Find(int64_t start) {
    if (has_current && current_start == start) return current;
    auto it = windows.find(start);
    return it == windows.end() ? nullptr : &it->second;
  }
  WindowCounters Read(int64_t start) {
    const WindowCounters* counters = Find(start);
    return counters != nullptr ? *counters : WindowCounters{};
  }
  // Forgets the windows that ended at or before `now` and hold no reservation.
  void Prune(BudgetPeriod period, int64_t now) {
    auto ended = [&](int64_t start, const WindowCounters& counters) {
      return BudgetWindow::Containing(period, start).end_unix_nanos <= now &&
             counters.reserved == Money::Zero();
    };
    for (auto it = windows.begin(); it != windows.end();) {
      if (!ended(it->first, it->second)) {
        ++it;
        continue;
      }
      if (current == &it->second) has_current = false;
      it = windows.erase(it);
    }
    if (hot != nullptr && has_current && ended(current_start, *hot)) has_current = false;
  }
};

// How many budgets keep their current window in the hot line.
constexpr int kHotSlots = 3;

// The one cache line every admission writes: the counters lock, the idempotency record's
// arrival count, and the current-window counters of kHotSlots budgets (BudgetCounters::hot).
struct alignas(64) HotLine {
  SpinLock lock;
  // Written under `lock`, read without it (MemoryLedger::IsLive).
  std::atomic<uint64_t> settled_count{0};
  std::array<WindowCounters, kHotSlots> slots;  // guarded by `lock`
};
static_assert(sizeof(HotLine) == 64, "the hot line must be one cache line");

// One (dimension, value) pair of a scope, with the attribution field it reads resolved once
// (ScopeMatches looks the dimension up by name on every call).
struct ScopeTerm {
  const std::string Attribution::*field = nullptr;  // null: a tag, read with Dimension()
  std::string dimension;
  std::string value;
};

std::vector<ScopeTerm> CompileScope(const Scope& scope) {
  static constexpr std::pair<std::string_view, std::string Attribution::*> kFields[] = {
      {"team", &Attribution::team},
      {"project", &Attribution::project},
      {"environment", &Attribution::environment},
      {"customer_id", &Attribution::customer_id},
      {"cost_center", &Attribution::cost_center},
      {"feature", &Attribution::feature},
  };
  std::vector<ScopeTerm> terms;
  for (const auto& [dimension, value] : scope) {
    ScopeTerm term;
    for (const auto& [name, field] : kFields) {
      if (dimension == name) term.field = field;
    }
    term.dimension = dimension;
    term.value = value;
    terms.push_back(std::move(term));
  }
  return terms;
}

// Exactly ScopeMatches(scope, attribution) for the scope the terms were compiled from.
bool TermsMatch(const std::vector<ScopeTerm>& terms, const Attribution& attribution) {
  for (const ScopeTerm& term : terms) {
    if (term.field != nullptr) {
      if (attribution.*term.field != term.value) return false;
      continue;
    }
    const std::optional<std::string_view> actual = attribution.Dimension(term.dimension);
    if (!actual.has_value() || *actual != term.value) return false;
  }
  return true;
}

// The deleter of a stripe's handle on a spec: it holds the installed spec alive. Its padding
// makes each handle's control block (reference counts, then this deleter) longer than a cache
// line, so the counts of two stripes' handles never share one.
struct KeepAlive {
  std::shared_ptr<const BudgetSpec> spec;
  std::array<char, 64> padding{};
  void operator()(const BudgetSpec*) const {}
};

// One budget as the hot path sees it: immutable once installed, except for the counters it
// points to.
struct BudgetEntry {
  std::shared_ptr<const BudgetSpec> spec;
  std::shared_ptr<BudgetCounters> counters;  // guarded by MemoryLedger::hot_.lock
  Money limit;                               // spec->limit, kept beside the counters' key
  BudgetPeriod period = BudgetPeriod::kDay;  // spec->period
  int64_t generation = 0;                    // bumped when the counters restart
  uint32_t name_id = 0;                      // the name's index in MemoryLedger::names_
  std::shared_ptr<const std::vector<ScopeTerm>> scope;
};

// Every budget, as of one UpsertBudget()/DeleteBudget(). Immutable: a change installs a new
// set (see MemoryLedger::Install), so a caller reads a consistent set for a whole call.
struct BudgetSet {
  uint64_t version = 0;              // differs between any two installed sets
  std::vector<BudgetEntry> entries;  // by name, so the budget named in a refusal is stable
  std::vector<int32_t> by_name_id;   // name id -> index in entries, -1 when absent

  const BudgetEntry* ByNameId(uint32_t name_id) const {
    if (name_id >= by_name_id.size() || by_name_id[name_id] < 0) return nullptr;
    return &entries[static_cast<size_t>(by_name_id[name_id])];
  }
};

class MemoryLedger final : public Ledger {
 public:
  MemoryLedger(const Clock* clock, const MemoryLedgerOptions& options)
      : clock_(clock != nullptr ? clock : Clock::Real()),
        max_settled_ids_(std::min<uint64_t>(options.max_settled_ids, uint64_t{1} << 31)),
        settled_retention_nanos_(options.settled_retention_nanos),
        budgets_(std::make_shared<const BudgetSet>()) {
    for (size_t s = 0; s < kStripes; ++s) {
      std::lock_guard<SpinLock> lock(stripes_[s].mu);
      stripes_[s].budgets = budgets_;
      stripe_sets_[s] = budgets_;
    }
  }

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    const HashedId id = Hashed(request.operation_id);
    Stripe& stripe = StripeOf(id);
    std::lock_guard<SpinLock> lock(stripe.mu);
    stripe.settled.Prefetch(id.hash);
    const BudgetSet& set = *stripe.budgets;
    ReserveOutcome outcome;
    if (auto existing = stripe.reservations.find(id); existing != stripe.reservations.end()) {
      MatchedList matched = MatchReservation(stripe, set, existing->second, request.now_unix_nanos);
      ReadCounters(matched);
      outcome.admitted = true;
      outcome.budgets = Statuses(matched);
      return outcome;
    }
    // Matched before the idempotency record is read, so that its cache miss, prefetched
    // above, overlaps this work.
    MatchedList matched = Match(stripe, set, request.attribution, request.now_unix_nanos);
    if (const auto* settled = stripe.settled.Find(id);
        settled != nullptr && IsLive(stripe, *settled)) {
      outcome.admitted = true;
      outcome.budgets = StatusesByName(stripe, set, settled->value.budgets, request.now_unix_nanos);
      return outcome;
    }
    // Check every matching budget, then apply: all or nothing, in one short section.
    size_t refused = matched.size();
    {
      std::lock_guard<SpinLock> counters_lock(hot_.lock);
      for (size_t k = 0; k < matched.size(); ++k) {
        Matched& m = matched[k];
        m.live = &m.entry->counters->At(m.window.start_unix_nanos);
        Money used;
        Money wanted;
        if (!CheckedAdd(m.live->spent, m.live->reserved, &used) ||
            !CheckedAdd(used, request.amount, &wanted) || wanted > m.entry->limit) {
          refused = k;
          break;
        }
      }
      for (size_t k = 0; k < matched.size(); ++k) {
        Matched& m = matched[k];
        if (refused == matched.size()) {
          // Built from scalar reads and stored whole: reading the counters back right after
          // an add in memory would stall on store forwarding.
          const WindowCounters updated{m.live->spent, m.live->reserved + request.amount};
          *m.live = updated;
          m.counters = updated;
        } else {
          m.counters = k <= refused ? *m.live : m.entry->counters->Read(m.window.start_unix_nanos);
        }
      }
    }
    outcome.budgets = Statuses(matched);
    if (refused != matched.size()) {
      outcome.admitted = false;
      outcome.refused_by = matched[refused].entry->spec->name;
      return outcome;
    }
    Reservation& reservation = stripe.reservations.try_emplace(IdKey(id)).first->second;
    std::vector<std::unique_ptr<Attribution>>& spares = SpareAttributions();
    if (spares.empty()) {
      reservation.attribution = std::make_unique<Attribution>(request.attribution);
    } else {
      // Copy-assigned into a recycled one: its strings' buffers are reused, not allocated.
      reservation.attribution = std::move(spares.back());
      spares.pop_back();
      *reservation.attribution = request.attribution;
    }
    reservation.amount = request.amount;
    reservation.expires_at_unix_nanos = request.expires_at_unix_nanos;
    reservation.set_version = set.version;
    for (const Matched& m : matched) {
      reservation.holds.push_back(
          {m.index, m.entry->name_id, m.entry->generation, m.window.start_unix_nanos});
    }
    outcome.admitted = true;
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    const HashedId id = Hashed(operation_id);
    Stripe& stripe = StripeOf(id);
    std::lock_guard<SpinLock> lock(stripe.mu);
    const BudgetSet& set = *stripe.budgets;
    // An id is never both reserved and remembered as settled (Reserve() of a settled id
    // reserves nothing, settling removes the reservation, Charge() refuses a reserved id), so
    // the idempotency record needs consulting only when there is no reservation.
    auto it = stripe.reservations.find(id);
    if (it == stripe.reservations.end()) {
      if (auto repeat = RepeatOutcome(stripe, set, id, now_unix_nanos); repeat.has_value()) {
        return *std::move(repeat);
      }
      return absl::NotFoundError(
          absl::StrCat("ledger: no reservation for operation '", Sv(operation_id),
                       "' (never reserved, released, or expired); record its spend with Charge()"));
    }
    if (max_settled_ids_ > 0) stripe.settled.PrefetchNextAdd();
    MatchedList matched = MatchReservation(stripe, set, it->second, now_unix_nanos);
    SettleOutcome outcome =
        RecordSpend(stripe, set, id, matched, &it->second, it->second.amount, actual);
    EraseReservation(stripe, it);
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                       const Attribution& attribution, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("charge", operation_id, actual); !s.ok()) return s;
    const HashedId id = Hashed(operation_id);
    Stripe& stripe = StripeOf(id);
    std::lock_guard<SpinLock> lock(stripe.mu);
    const BudgetSet& set = *stripe.budgets;
    if (auto repeat = RepeatOutcome(stripe, set, id, now_unix_nanos); repeat.has_value()) {
      return *std::move(repeat);
    }
    if (stripe.reservations.contains(id)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger: operation '", Sv(operation_id),
          "' holds a reservation; settle it with Settle() (or Release() it) instead of Charge()"));
    }
    if (max_settled_ids_ > 0) stripe.settled.PrefetchNextAdd();
    MatchedList matched = Match(stripe, set, attribution, now_unix_nanos);
    return RecordSpend(stripe, set, id, matched, nullptr, Money::Zero(), actual);
  }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    const HashedId id = Hashed(operation_id);
    Stripe& stripe = StripeOf(id);
    std::lock_guard<SpinLock> lock(stripe.mu);
    auto it = stripe.reservations.find(id);
    if (it == stripe.reservations.end()) return absl::OkStatus();  // released, settled, unknown
    {
      std::lock_guard<SpinLock> counters_lock(hot_.lock);
      DropHolds(*stripe.budgets, it->second);
    }
    EraseReservation(stripe, it);
    return absl::OkStatus();
  }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    std::lock_guard<std::mutex> admin_lock(admin_mu_);
    int expired = 0;
    for (Stripe& stripe : stripes_) {
      std::lock_guard<SpinLock> lock(stripe.mu);
      const BudgetSet& set = *stripe.budgets;
      for (auto it = stripe.reservations.begin(); it != stripe.reservations.end();) {
        const int64_t expires = it->second.expires_at_unix_nanos;
        if (expires != 0 && expires <= now_unix_nanos) {
          {
            // Per reservation: the hot path never waits for a whole stripe's scan.
            std::lock_guard<SpinLock> counters_lock(hot_.lock);
            DropHolds(set, it->second);
          }
          EraseReservation(stripe, it++);
          ++expired;
        } else {
          ++it;
        }
      }
      PruneSettled(stripe, StripeNow(stripe), hot_.settled_count.load(std::memory_order_acquire));
    }
    PruneWindows(*budgets_, now_unix_nanos);
    return expired;
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    if (absl::Status s = ValidateBudgetSpec(spec); !s.ok()) return s;
    std::lock_guard<std::mutex> admin_lock(admin_mu_);
    std::vector<BudgetEntry> entries = budgets_->entries;
    auto it = std::lower_bound(
        entries.begin(), entries.end(), spec.name,
        [](const BudgetEntry& entry, const std::string& name) { return entry.spec->name < name; });
    if (it == entries.end() || it->spec->name != spec.name) {
      BudgetEntry entry;
      entry.counters = NewCounters();
      entry.generation = ++next_generation_;
      entry.name_id = InternName(spec.name);
      it = entries.insert(it, std::move(entry));
    } else if (it->period != spec.period) {
      // Window starts of another period mean nothing: restart the counters. Reservations
      // holding the old generation no longer touch this budget.
      it->counters = NewCounters();
      it->generation = ++next_generation_;
    }
    it->spec = std::make_shared<const BudgetSpec>(spec);  // statuses keep the old one
    it->limit = spec.limit;
    it->period = spec.period;
    it->scope = std::make_shared<const std::vector<ScopeTerm>>(CompileScope(spec.scope));
    Install(std::move(entries));
    return absl::OkStatus();
  }

  absl::Status DeleteBudget(std::string_view name) override {
    std::lock_guard<std::mutex> admin_lock(admin_mu_);
    std::vector<BudgetEntry> entries = budgets_->entries;
    auto it = std::find_if(entries.begin(), entries.end(),
                           [name](const BudgetEntry& entry) { return entry.spec->name == name; });
    if (it == entries.end()) {
      return absl::NotFoundError(absl::StrCat("ledger: no budget named '", Sv(name), "'"));
    }
    entries.erase(it);
    Install(std::move(entries));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    // Any stripe holds the current set; spread callers over them.
    Stripe& stripe = stripes_[ThreadStripe()];
    std::lock_guard<SpinLock> lock(stripe.mu);
    const BudgetSet& set = *stripe.budgets;
    MatchedList all;
    for (uint32_t k = 0; k < set.entries.size(); ++k) {
      const BudgetEntry& entry = set.entries[k];
      all.push_back(Matched(&entry, k, WindowAt(stripe, entry.period, now_unix_nanos)));
    }
    ReadCounters(all);
    std::vector<BudgetStatus> out;
    out.reserve(all.size());
    for (const Matched& m : all) out.push_back(StatusOf(m));
    return out;
  }

  absl::StatusOr<Money> TotalSpent() override {
    // Every stripe held at once: the sum of one instant.
    for (Stripe& stripe : stripes_) stripe.mu.lock();
    Money total;
    for (Stripe& stripe : stripes_) total += stripe.total_spent;
    for (Stripe& stripe : stripes_) stripe.mu.unlock();
    return total;
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    const HashedId id = Hashed(operation_id);
    Stripe& stripe = StripeOf(id);
    std::lock_guard<SpinLock> lock(stripe.mu);
    if (auto it = stripe.reservations.find(id); it != stripe.reservations.end()) {
      return OperationEntry{.state = OperationState::kReserved, .reserved = it->second.amount};
    }
    if (const auto* settled = stripe.settled.Find(id);
        settled != nullptr && IsLive(stripe, *settled)) {
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
  // 64 stripes: two callers running at once (one per core here) rarely meet on one, and a
  // caller preempted while holding one stalls only the calls whose ids fall in it. 16 and 32
  // stripes measured the same on 2 cores; more cores want more.
  static constexpr int kStripeBits = 6;
  static constexpr size_t kStripes = size_t{1} << kStripeBits;

  // Operations-log order: newest first, ties by id descending.
  struct LogKey {
    int64_t start = 0;
    std::string id;
    bool operator<(const LogKey& other) const {
      if (start != other.start) return start > other.start;
      return id > other.id;
    }
  };

  // A reservation's claim on one budget's window.
  struct Hold {
    uint32_t index = 0;    // in the BudgetSet of Reservation::set_version
    uint32_t name_id = 0;  // to find the budget in a later set
    int64_t generation = 0;
    int64_t window_start = 0;
  };
  struct Reservation {
    std::unique_ptr<Attribution> attribution;  // never null once reserved
    Money amount;
    int64_t expires_at_unix_nanos = 0;
    uint64_t set_version = 0;  // the BudgetSet the holds' indices refer to
    absl::InlinedVector<Hold, 2> holds;
  };
  // Names of budgets as ids into names_. Inline storage for the usual one or two matching
  // budgets: no allocation per operation.
  using BudgetNames = absl::InlinedVector<uint32_t, 2>;
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

  using ReservationMap = absl::flat_hash_map<IdKey, Reservation, IdHash, IdEq>;

  // A budget matching a call, the window of the call's time, and its counters there.
  struct Matched {
    Matched(const BudgetEntry* e, uint32_t i, const BudgetWindow& w)
        : entry(e), index(i), window(w) {}
    const BudgetEntry* entry = nullptr;
    uint32_t index = 0;  // of entry in its set
    BudgetWindow window;
    WindowCounters counters;         // a copy, read under hot_.lock
    WindowCounters* live = nullptr;  // valid only while hot_.lock is held
  };
  using MatchedList = absl::InlinedVector<Matched, 4>;

  // The state of the operation ids whose hash falls in this stripe, and the stripe's view of
  // the budgets. Aligned to a cache line so stripes never share one.
  struct alignas(64) Stripe {
    SpinLock mu;
    std::shared_ptr<const BudgetSet> budgets ABSL_GUARDED_BY(mu);
    // The last window computed for each period: computing a month's bounds costs more than
    // the rest of the check.
    std::array<BudgetWindow, 4> windows ABSL_GUARDED_BY(mu);
    // The latest idempotency-record time this stripe saw: its time for retention never goes
    // back, so its ring stays ordered by time and expired ids are always a prefix of it.
    int64_t now ABSL_GUARDED_BY(mu) = 0;
    Money total_spent ABSL_GUARDED_BY(mu);  // of the ids of this stripe
    ReservationMap reservations ABSL_GUARDED_BY(mu);
    SettledIds<SettledRecord> settled ABSL_GUARDED_BY(mu);
  };

  // Attributions of erased reservations, for the calling thread's next ones (at most
  // kSpareAttributions). Per thread rather than per stripe: a thread mostly reserves and
  // settles on one core, so the attribution it copies stays in that core's cache.
  static constexpr size_t kSpareAttributions = 8;
  static std::vector<std::unique_ptr<Attribution>>& SpareAttributions() {
    thread_local std::vector<std::unique_ptr<Attribution>> spares;
    return spares;
  }

  static void EraseReservation(Stripe& stripe, ReservationMap::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    std::vector<std::unique_ptr<Attribution>>& spares = SpareAttributions();
    if (spares.size() < kSpareAttributions) spares.push_back(std::move(it->second.attribution));
    stripe.reservations.erase(it);
  }

  Stripe& StripeOf(const HashedId& id) { return stripes_[id.hash >> (64 - kStripeBits)]; }

  // A stripe for calls that are not about one id, fixed per thread.
  static size_t ThreadStripe() {
    static std::atomic<size_t> next{0};
    thread_local const size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return mine;
  }

  static BudgetWindow WindowAt(Stripe& stripe, BudgetPeriod period, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    BudgetWindow& cached = stripe.windows[static_cast<size_t>(period)];
    if (now_unix_nanos < cached.start_unix_nanos || now_unix_nanos >= cached.end_unix_nanos) {
      cached = BudgetWindow::Containing(period, now_unix_nanos);
    }
    return cached;
  }

  int64_t StripeNow(Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    stripe.now = std::max(stripe.now, clock_->NowUnixNanos());
    return stripe.now;
  }

  // The budgets of `set` matching `attribution`, with their windows at `now_unix_nanos`.
  static MatchedList Match(Stripe& stripe, const BudgetSet& set, const Attribution& attribution,
                           int64_t now_unix_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    MatchedList out;
    for (uint32_t k = 0; k < set.entries.size(); ++k) {
      const BudgetEntry& entry = set.entries[k];
      if (!TermsMatch(*entry.scope, attribution)) continue;
      out.push_back(Matched(&entry, k, WindowAt(stripe, entry.period, now_unix_nanos)));
    }
    return out;
  }

  // The budgets matching a reservation's attribution. While the set is the one it was made
  // with, those are exactly its holds (it was admitted by all of them).
  static MatchedList MatchReservation(Stripe& stripe, const BudgetSet& set,
                                      const Reservation& reservation, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    if (reservation.set_version != set.version) {
      return Match(stripe, set, *reservation.attribution, now_unix_nanos);
    }
    MatchedList out;
    for (const Hold& hold : reservation.holds) {
      const BudgetEntry& entry = set.entries[hold.index];
      out.push_back(Matched(&entry, hold.index, WindowAt(stripe, entry.period, now_unix_nanos)));
    }
    return out;
  }

  void ReadCounters(MatchedList& matched) {
    if (matched.empty()) return;
    std::lock_guard<SpinLock> counters_lock(hot_.lock);
    for (Matched& m : matched) m.counters = m.entry->counters->Read(m.window.start_unix_nanos);
  }

  static BudgetStatus StatusOf(const Matched& m) {
    BudgetStatus status;
    status.spec = m.entry->spec;
    status.window = m.window;
    status.spent = m.counters.spent;
    status.reserved = m.counters.reserved;
    return status;
  }

  static BudgetStatusList Statuses(const MatchedList& matched) {
    BudgetStatusList out;
    for (const Matched& m : matched) out.push_back(StatusOf(m));
    return out;
  }

  BudgetStatusList StatusesByName(Stripe& stripe, const BudgetSet& set, const BudgetNames& names,
                                  int64_t now_unix_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    MatchedList matched;
    for (uint32_t name : names) {
      const BudgetEntry* entry = set.ByNameId(name);
      if (entry == nullptr) continue;
      matched.push_back(Matched(entry, static_cast<uint32_t>(entry - set.entries.data()),
                                WindowAt(stripe, entry->period, now_unix_nanos)));
    }
    ReadCounters(matched);
    return Statuses(matched);
  }

  // The id of a budget name; names are never forgotten (there are as many as budgets ever
  // configured, not one per operation).
  uint32_t InternName(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_) {
    auto [it, inserted] = name_ids_.try_emplace(name, static_cast<uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
  }

  // Fresh counters for a new budget generation, in a free hot slot when there is one.
  std::shared_ptr<BudgetCounters> NewCounters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_) {
    auto counters = std::make_shared<BudgetCounters>();
    for (int k = 0; k < kHotSlots; ++k) {
      if (hot_used_[k]) continue;
      hot_used_[k] = true;  // until Install() recounts
      counters->hot = &hot_.slots[k];
      counters->hot_index = k;
      break;
    }
    return counters;
  }

  // Makes `entries` (by name) the budgets of every later call. Every stripe switches under
  // its lock, all stripes held at once, so no call sees the new set while a later-starting
  // one still sees the old.
  //
  // Each stripe gets its own copy of the set whose specs are the same objects under the
  // stripe's own reference counts (aliasing shared_ptrs that keep the installed one alive).
  // Every status a call returns copies a spec pointer, and the caller later drops it: with
  // one count shared by all, the two cores would pass its cache line back and forth on every
  // call (50-250 ns a trip on this 2-core VM). A stripe keeps the counts of the specs that
  // did not change.
  void Install(std::vector<BudgetEntry> entries) ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_) {
    // A hot slot is free once no installed counters use it (the old set dies below, and only
    // this thread installs).
    hot_used_ = {};
    for (const BudgetEntry& entry : entries) {
      if (entry.counters->hot_index >= 0) hot_used_[entry.counters->hot_index] = true;
    }
    auto master = std::make_shared<BudgetSet>();
    master->version = ++next_set_version_;
    master->entries = std::move(entries);
    master->by_name_id.assign(names_.size(), -1);
    for (size_t k = 0; k < master->entries.size(); ++k) {
      master->by_name_id[master->entries[k].name_id] = static_cast<int32_t>(k);
    }
    std::array<std::shared_ptr<const BudgetSet>, kStripes> sets;
    for (size_t s = 0; s < kStripes; ++s) {
      auto set = std::make_shared<BudgetSet>(*master);
      const BudgetSet& previous = *stripe_sets_[s];
      for (BudgetEntry& entry : set->entries) {
        const BudgetEntry* old = previous.ByNameId(entry.name_id);
        if (old != nullptr && old->spec.get() == entry.spec.get()) {
          entry.spec = old->spec;
        } else {
          entry.spec = std::shared_ptr<const BudgetSpec>(entry.spec.get(), KeepAlive{entry.spec});
        }
      }
      sets[s] = std::move(set);
    }
    for (Stripe& stripe : stripes_) stripe.mu.lock();  // in index order (the lock order)
    for (size_t s = 0; s < kStripes; ++s) stripes_[s].budgets = sets[s];
    for (Stripe& stripe : stripes_) stripe.mu.unlock();
    // The old sets are freed here, outside the stripes' locks.
    stripe_sets_.swap(sets);
    budgets_ = std::move(master);
  }

  std::optional<SettleOutcome> RepeatOutcome(Stripe& stripe, const BudgetSet& set,
                                             const HashedId& id, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    const auto* settled = stripe.settled.Find(id);
    if (settled == nullptr || !IsLive(stripe, *settled)) return std::nullopt;
    SettleOutcome outcome;
    outcome.reserved = settled->value.reserved;
    outcome.actual = settled->value.actual;
    outcome.budgets = StatusesByName(stripe, set, settled->value.budgets, now_unix_nanos);
    outcome.already_settled = true;
    return outcome;
  }

  // Whether the idempotency record still remembers `entry`: fewer than max_settled_ids ids
  // arrived after it, within the retention.
  bool IsLive(Stripe& stripe, const SettledIds<SettledRecord>::Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    if (hot_.settled_count.load(std::memory_order_acquire) - entry.seq > max_settled_ids_) {
      return false;
    }
    return StripeNow(stripe) - entry.recorded_at <= settled_retention_nanos_;
  }

  // Evicts the entries IsLive() no longer accepts for time `now` and arrival count `count`.
  // They form a prefix of the ring: arrival numbers and stripe times only grow along it.
  void PruneSettled(Stripe& stripe, int64_t now, uint64_t count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    for (const auto* oldest = stripe.settled.Oldest();
         oldest != nullptr && (count - oldest->seq > max_settled_ids_ ||
                               now - oldest->recorded_at > settled_retention_nanos_);
         oldest = stripe.settled.Oldest()) {
      stripe.settled.PopOldest();
    }
  }

  // Takes a reservation's amount off the windows it holds, in budgets that still have the
  // generation it was made against.
  void DropHolds(const BudgetSet& set, const Reservation& reservation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(hot_.lock) {
    for (const Hold& hold : reservation.holds) {
      const BudgetEntry* entry = reservation.set_version == set.version
                                     ? &set.entries[hold.index]
                                     : set.ByNameId(hold.name_id);
      if (entry == nullptr || entry->generation != hold.generation) continue;
      WindowCounters* window = entry->counters->Find(hold.window_start);
      if (window != nullptr) window->reserved -= reservation.amount;
    }
  }

  // Records `actual` against the `matched` budgets (windows at the settle/charge time),
  // dropping `reservation`'s holds in the same section, and remembers the id as settled.
  SettleOutcome RecordSpend(Stripe& stripe, const BudgetSet& set, const HashedId& id,
                            MatchedList& matched, const Reservation* reservation, Money reserved,
                            Money actual) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    const int64_t recorded_at = StripeNow(stripe);
    stripe.total_spent += actual;
    uint64_t seq = 0;
    {
      std::lock_guard<SpinLock> counters_lock(hot_.lock);
      if (reservation != nullptr) DropHolds(set, *reservation);
      for (Matched& m : matched) {
        WindowCounters& window = m.entry->counters->At(m.window.start_unix_nanos);
        const WindowCounters updated{window.spent + actual, window.reserved};
        window = updated;
        m.counters = updated;
      }
      seq = hot_.settled_count.load(std::memory_order_relaxed);
      hot_.settled_count.store(seq + 1, std::memory_order_release);
    }
    if (max_settled_ids_ > 0) {
      // Evicted first; then `id` is not in the ring: it had no live entry (the callers
      // checked), and an expired one is in the evicted prefix.
      PruneSettled(stripe, recorded_at, seq + 1);
      SettledRecord& record = stripe.settled.Add(id, seq, recorded_at).value;
      record.reserved = reserved;
      record.actual = actual;
      for (const Matched& m : matched) record.budgets.push_back(m.entry->name_id);
      // For the stripe's next settlement, a few dozen operations from now: by then these
      // lines are in the second-level cache rather than in memory.
      stripe.settled.PrefetchNextAdd();
    }
    SettleOutcome outcome;
    outcome.reserved = reserved;
    outcome.actual = actual;
    outcome.budgets = Statuses(matched);
    return outcome;
  }

  // Forgets windows that have ended and hold no reservation.
  void PruneWindows(const BudgetSet& set, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_) {
    std::lock_guard<SpinLock> counters_lock(hot_.lock);
    for (const BudgetEntry& entry : set.entries)
      entry.counters->Prune(entry.period, now_unix_nanos);
  }

  const Clock* const clock_;
  const uint64_t max_settled_ids_;
  const int64_t settled_retention_nanos_;

  // Lock order: admin_mu_, then stripe locks in index order, then hot_.lock. The log and
  // key locks are never held with another.
  //
  // std::mutex, not absl::Mutex: Debian's Abseil is built with its debug-mode deadlock
  // detection on, which made each lock cost ~40 ns instead of ~5 ns on the SDK's hot path.

  // Serializes budget changes and expiry sweeps (never taken by Reserve/Settle/Charge).
  std::mutex admin_mu_;
  std::shared_ptr<const BudgetSet> budgets_ ABSL_GUARDED_BY(admin_mu_);  // the installed set
  // The stripes' copies of it (Stripe::budgets), kept to carry their spec handles over.
  std::array<std::shared_ptr<const BudgetSet>, kStripes> stripe_sets_ ABSL_GUARDED_BY(admin_mu_);
  uint64_t next_set_version_ ABSL_GUARDED_BY(admin_mu_) = 0;
  int64_t next_generation_ ABSL_GUARDED_BY(admin_mu_) = 0;
  std::vector<std::string> names_ ABSL_GUARDED_BY(admin_mu_);  // budget names by id
  absl::flat_hash_map<std::string, uint32_t> name_ids_ ABSL_GUARDED_BY(admin_mu_);

  std::array<Stripe, kStripes> stripes_;

  // Its lock is the one every admission shares: budget counters (BudgetCounters of every set)
  // and the idempotency record's arrival count. Held for a check-and-add over the matching
  // budgets only (their matching, windows and statuses are computed outside).
  HotLine hot_;
  // Which hot slots the installed set's counters use.
  std::array<bool, kHotSlots> hot_used_ ABSL_GUARDED_BY(admin_mu_) = {};

  // The operations log has its own lock: report queries never stall admission.
  alignas(64) std::mutex log_mu_;
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
