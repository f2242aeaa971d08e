#include "src/ledger/memory_ledger.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

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

absl::Status ValidateOperationId(std::string_view operation_id) {
  if (operation_id.empty()) {
    return absl::InvalidArgumentError(
        "ledger: empty operation id; every ledger call needs the operation's unique id");
  }
  return absl::OkStatus();
}

absl::Status ValidateAmount(std::string_view what, std::string_view operation_id, Money amount) {
  if (amount < Money::Zero()) {
    return absl::InvalidArgumentError(absl::StrCat("ledger: negative ", Sv(what), " ",
                                                   amount.ToUsdString(), " USD for operation '",
                                                   Sv(operation_id), "'; amounts must be >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBudgetSpec(const BudgetSpec& spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("budget: empty name; every budget needs a unique name");
  }
  if (spec.limit < Money::Zero()) {
    return absl::InvalidArgumentError(absl::StrCat("budget '", spec.name, "': negative limit ",
                                                   spec.limit.ToUsdString(),
                                                   " USD; limits must be >= 0"));
  }
  for (const auto& [dimension, value] : spec.scope) {
    if (!Attribution::IsKnownDimension(dimension)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "budget '", spec.name, "': unknown scope dimension '", dimension,
          "'; use team, project, environment, customer_id, cost_center, feature or tag:<key>"));
    }
  }
  for (double threshold : spec.alert_thresholds) {
    if (!(threshold > 0 && threshold <= 10)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "budget '", spec.name, "': alert threshold ", threshold,
          " is outside (0, 10]; thresholds are fractions of the limit, e.g. 0.8 for 80%"));
    }
  }
  return absl::OkStatus();
}

class MemoryLedger final : public Ledger {
 public:
  MemoryLedger(const Clock* clock, const MemoryLedgerOptions& options)
      : clock_(clock != nullptr ? clock : Clock::Real()), options_(options) {}

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    absl::MutexLock lock(&mu_);
    ReserveOutcome outcome;
    auto existing = reservations_.find(request.operation_id);
    if (existing != reservations_.end()) {
      outcome.admitted = true;
      outcome.budgets = StatusesFor(existing->second.attribution, request.now_unix_nanos);
      return outcome;
    }
    if (auto settled = settled_.find(Sv(request.operation_id)); settled != settled_.end()) {
      outcome.admitted = true;
      outcome.budgets = StatusesByName(settled->second.budgets, request.now_unix_nanos);
      return outcome;
    }

    // Check every matching budget first, then apply: all or nothing.
    absl::InlinedVector<std::pair<BudgetState*, int64_t>, 4> holds;
    for (auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, request.attribution)) continue;
      const BudgetWindow window =
          BudgetWindow::Containing(budget.spec->period, request.now_unix_nanos);
      const WindowCounters counters = CountersAt(budget, window.start_unix_nanos);
      Money used;
      Money wanted;
      if (!CheckedAdd(counters.spent, counters.reserved, &used) ||
          !CheckedAdd(used, request.amount, &wanted) || wanted > budget.spec->limit) {
        outcome.admitted = false;
        outcome.refused_by = name;
        outcome.budgets = StatusesFor(request.attribution, request.now_unix_nanos);
        return outcome;
      }
      holds.emplace_back(&budget, window.start_unix_nanos);
    }
    Reservation reservation;
    reservation.attribution = request.attribution;
    reservation.amount = request.amount;
    reservation.expires_at_unix_nanos = request.expires_at_unix_nanos;
    for (auto& [budget, window_start] : holds) {
      budget->windows[window_start].reserved += request.amount;
      reservation.holds.push_back({budget->spec->name, budget->generation, window_start});
    }
    reservations_.emplace(request.operation_id, std::move(reservation));
    outcome.admitted = true;
    outcome.budgets = StatusesFor(request.attribution, request.now_unix_nanos);
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    if (auto repeat = RepeatOutcome(operation_id, now_unix_nanos); repeat.has_value()) {
      return *std::move(repeat);
    }
    auto it = reservations_.find(Sv(operation_id));
    if (it == reservations_.end()) {
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
    absl::MutexLock lock(&mu_);
    if (auto repeat = RepeatOutcome(operation_id, now_unix_nanos); repeat.has_value()) {
      return *std::move(repeat);
    }
    if (reservations_.contains(Sv(operation_id))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger: operation '", Sv(operation_id),
          "' holds a reservation; settle it with Settle() (or Release() it) instead of Charge()"));
    }
    return RecordSpend(operation_id, attribution, Money::Zero(), actual, now_unix_nanos);
  }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    auto it = reservations_.find(Sv(operation_id));
    if (it == reservations_.end()) return absl::OkStatus();  // released, settled or unknown
    DropHolds(it->second);
    reservations_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    absl::MutexLock lock(&mu_);
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
    PruneSettled();
    return expired;
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    if (absl::Status s = ValidateBudgetSpec(spec); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    auto it = budgets_.find(spec.name);
    if (it == budgets_.end()) {
      BudgetState state;
      state.spec = std::make_shared<const BudgetSpec>(spec);
      state.generation = ++next_generation_;
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
    absl::MutexLock lock(&mu_);
    auto it = budgets_.find(name);
    if (it == budgets_.end()) {
      return absl::NotFoundError(absl::StrCat("ledger: no budget named '", Sv(name), "'"));
    }
    budgets_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    absl::MutexLock lock(&mu_);
    std::vector<BudgetStatus> out;
    out.reserve(budgets_.size());
    for (const auto& [name, budget] : budgets_) out.push_back(StatusOf(budget, now_unix_nanos));
    return out;
  }

  absl::StatusOr<Money> TotalSpent() override {
    absl::MutexLock lock(&mu_);
    return total_spent_;
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    absl::MutexLock lock(&mu_);
    if (auto it = reservations_.find(Sv(operation_id)); it != reservations_.end()) {
      return OperationEntry{.state = OperationState::kReserved, .reserved = it->second.amount};
    }
    if (auto it = settled_.find(Sv(operation_id)); it != settled_.end()) {
      return OperationEntry{.state = OperationState::kSettled,
                            .reserved = it->second.reserved,
                            .actual = it->second.actual};
    }
    return std::optional<OperationEntry>();
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    for (const OperationRecord& record : records) {
      if (absl::Status s = ValidateOperationId(record.operation_id); !s.ok()) return s;
    }
    absl::MutexLock lock(&log_mu_);
    for (const OperationRecord& record : records) {
      if (!log_ids_.insert(record.operation_id).second) continue;
      log_.emplace(LogKey{record.start_unix_nanos, record.operation_id}, record);
    }
    return absl::OkStatus();
  }

  absl::Status ScanOperations(
      const OperationQuery& query,
      const std::function<bool(const OperationRecord&)>& visit) override {
    absl::MutexLock lock(&log_mu_);
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

  absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) override {
    absl::MutexLock lock(&log_mu_);
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
    std::map<int64_t, WindowCounters> windows;  // by window start
  };
  struct Hold {
    std::string budget;
    int64_t generation = 0;
    int64_t window_start = 0;
  };
  // Inline storage for the usual one or two matching budgets: no allocation per operation.
  using BudgetNames = absl::InlinedVector<std::string, 2>;
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
    for (const std::string& name : names) {
      auto it = budgets_.find(name);
      if (it != budgets_.end()) out.push_back(StatusOf(it->second, now_unix_nanos));
    }
    return out;
  }

  std::optional<SettleOutcome> RepeatOutcome(std::string_view operation_id, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = settled_.find(Sv(operation_id));
    if (it == settled_.end()) return std::nullopt;
    SettleOutcome outcome;
    outcome.reserved = it->second.reserved;
    outcome.actual = it->second.actual;
    outcome.budgets = StatusesByName(it->second.budgets, now_unix_nanos);
    outcome.already_settled = true;
    return outcome;
  }

  void DropHolds(const Reservation& reservation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const Hold& hold : reservation.holds) {
      auto budget = budgets_.find(hold.budget);
      if (budget == budgets_.end() || budget->second.generation != hold.generation) continue;
      auto window = budget->second.windows.find(hold.window_start);
      if (window == budget->second.windows.end()) continue;
      window->second.reserved -= reservation.amount;
    }
  }

  SettleOutcome RecordSpend(std::string_view operation_id, const Attribution& attribution,
                            Money reserved, Money actual, int64_t now_unix_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SettledRecord record;
    record.reserved = reserved;
    record.actual = actual;
    for (auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, attribution)) continue;
      const BudgetWindow window = BudgetWindow::Containing(budget.spec->period, now_unix_nanos);
      budget.windows[window.start_unix_nanos].spent += actual;
      record.budgets.push_back(name);
    }
    total_spent_ += actual;
    SettleOutcome outcome;
    outcome.reserved = reserved;
    outcome.actual = actual;
    outcome.budgets = StatusesByName(record.budgets, now_unix_nanos);
    // The id is stored once, in settled_order_; settled_ is keyed by a view of it.
    const std::string& id =
        settled_order_.emplace_back(clock_->NowUnixNanos(), operation_id).second;
    settled_.emplace(Sv(id), std::move(record));
    PruneSettled();
    return outcome;
  }

  // Keeps the idempotency record within its documented bounds.
  void PruneSettled() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t now = clock_->NowUnixNanos();
    while (!settled_order_.empty() &&
           (settled_order_.size() > options_.max_settled_ids ||
            now - settled_order_.front().first > options_.settled_retention_nanos)) {
      settled_.erase(Sv(settled_order_.front().second));
      settled_order_.pop_front();
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

  absl::Mutex mu_;
  // Ordered by name so the budget named in a refusal is deterministic.
  std::map<std::string, BudgetState, std::less<>> budgets_ ABSL_GUARDED_BY(mu_);
  int64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Reservation> reservations_ ABSL_GUARDED_BY(mu_);
  // (recorded at, id) in arrival order: the eviction order of `settled_`, and the owner of
  // the ids. A deque never moves its elements on push_back/pop_front, so the views that key
  // `settled_` stay valid until PruneSettled() erases the entry, then pops the id.
  std::deque<std::pair<int64_t, std::string>> settled_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, SettledRecord> settled_ ABSL_GUARDED_BY(mu_);
  Money total_spent_ ABSL_GUARDED_BY(mu_);

  // The operations log has its own lock: report queries never stall admission.
  absl::Mutex log_mu_;
  std::map<LogKey, OperationRecord> log_ ABSL_GUARDED_BY(log_mu_);
  absl::flat_hash_set<std::string> log_ids_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace

std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock) {
  return NewMemoryLedger(clock, MemoryLedgerOptions{});
}

std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock, const MemoryLedgerOptions& options) {
  return std::make_unique<MemoryLedger>(clock, options);
}

}  // namespace genops::ledger
