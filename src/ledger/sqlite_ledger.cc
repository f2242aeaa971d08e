#include "src/ledger/sqlite_ledger.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "genops/decision.h"
#include "src/core/text.h"
#include "src/ledger/sqlite_codec.h"
#include "src/ledger/sqlite_db.h"
#include "src/ledger/sqlite_schema.h"

namespace genops::ledger {
namespace {

using sqlite_internal::BudgetNames;
using sqlite_internal::Connection;
using sqlite_internal::DecodeAttribution;
using sqlite_internal::DecodeHolds;
using sqlite_internal::DecodeNames;
using sqlite_internal::DecodeStringMap;
using sqlite_internal::DecodeThresholds;
using sqlite_internal::EncodeAttribution;
using sqlite_internal::EncodeHolds;
using sqlite_internal::EncodeNames;
using sqlite_internal::EncodeStringMap;
using sqlite_internal::EncodeThresholds;
using sqlite_internal::Hold;
using sqlite_internal::Holds;
using sqlite_internal::OpenLedgerDatabase;
using sqlite_internal::Statement;
using sqlite_internal::WalFlusher;

constexpr int64_t kHousekeepingChunk = 2000;  // rows per housekeeping transaction
constexpr size_t kMaxIdleReaders = 4;
constexpr int kMaxConsecutiveBatches = 8;  // a leader hands over after that many
// WAL flushes (see SqliteLedger::FlushThrough): at most this many at once while they are
// fast; a caller waits this long for one that began before its commit before starting its
// own. Measured on a 2-core VM: unlimited overlapping flushes cost ~15% more CPU per
// reserve+settle pair at 32 callers; strictly one at a time doubles latency on a slow disk.
constexpr int kMaxFlushesInFlight = 2;
constexpr absl::Duration kFlushPatience = absl::Microseconds(500);

// The sum of all settled spend is kept as a counter row of budget_windows under generation
// 0 (budgets start at 1), so that a settlement updates one page for all its counters.
constexpr int64_t kTotalGeneration = 0;
constexpr BudgetWindow kTotalWindow = {0, std::numeric_limits<int64_t>::max()};

// --- Validation (the same rules and messages as the memory store) ---------------------------

// a + b, false on int64 overflow (only reachable with absurd amounts).
bool CheckedAdd(Money a, Money b, Money* out) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a.nanos(), b.nanos(), &sum)) return false;
  *out = Money::FromNanos(sum);
  return true;
}

constexpr std::string_view kOperationColumns =
    "operation_id, start_unix_nanos, duration_nanos, operation_type, operation_name, team, "
    "project, environment, customer_id, cost_center, feature, tags, provider, model, "
    "input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
    "cost_nanos, priced, decision, reason, error, trace_id";

constexpr std::string_view kKeyColumns =
    "id, secret_sha256, display_prefix, attribution, budget_name, description, "
    "created_unix_nanos, revoked_unix_nanos";

// --- Store: one connection, its statements and its budget cache ----------------------------

struct CachedBudget {
  std::shared_ptr<const BudgetSpec> spec;
  int64_t generation = 0;
};

bool SameSpec(const BudgetSpec& a, const BudgetSpec& b) {
  return a.name == b.name && a.scope == b.scope && a.limit == b.limit && a.period == b.period &&
         a.alert_thresholds == b.alert_thresholds;
}

struct Counters {
  Money spent;
  Money reserved;
};

// The spend of one ChargeBatch transaction, per budget window: each window's counters are
// read once, the charges add to them in memory (so every charge still reports the counters
// as of itself), and Store::ApplySpend writes each window once at the end, instead of one
// upsert per charge and window.
struct PendingSpend {
  int64_t generation = 0;
  BudgetWindow window;
  Counters counters;  // as of the last charge added
  Money added;        // not yet written
};
using SpendBatch = absl::InlinedVector<PendingSpend, 4>;

// Runs the ledger's operations on one connection. Every method except the transaction
// controls expects to run inside a transaction the caller opened.
//
// Thread safety: not thread-safe; the ledger hands a Store to one thread at a time.
class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Create(std::unique_ptr<Connection> conn,
                                                       const Clock* clock) {
    std::unique_ptr<Store> store(new Store(std::move(conn), clock));
    if (absl::Status s = store->PrepareAll(); !s.ok()) return s;
    return store;
  }

  Connection& conn() { return *conn_; }

  // An SQLite error happened since the last ClearError() (as opposed to a refusal of the
  // request, which leaves the database untouched).
  bool sqlite_error() const { return sqlite_error_; }
  void ClearError() { sqlite_error_ = false; }

  // --- Transactions ----------------------------------------------------------------------
  absl::Status Begin(bool immediate) {
    return Run(immediate ? begin_immediate_ : begin_, "starting a transaction");
  }
  absl::Status Commit() { return Run(commit_, "committing"); }
  void Rollback() {
    if (conn_->InTransaction()) {
      rollback_.Step();
      rollback_.Reset();
    }
  }
  absl::Status Savepoint() { return Run(savepoint_, "opening a savepoint"); }
  absl::Status ReleaseSavepoint() { return Run(release_, "releasing a savepoint"); }
  absl::Status RollbackToSavepoint() {
    absl::Status s = Run(rollback_to_, "rolling back a savepoint");
    if (!s.ok()) return s;
    return Run(release_, "releasing a savepoint");
  }
  // --- Budget cache ----------------------------------------------------------------------
  // Reloads the budgets when another transaction (of any process) changed them.
  absl::Status RefreshBudgets() {
    absl::StatusOr<int64_t> version = GetMeta("budgets_version");
    if (!version.ok()) return version.status();
    if (*version == budgets_version_) return absl::OkStatus();
    std::map<std::string, CachedBudget, std::less<>> loaded;
    Statement& s = list_budgets_;
    Statement::Scope scope(s);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      BudgetSpec spec;
      spec.name = std::string(s.ColumnText(0));
      absl::StatusOr<BudgetPeriod> period = ParseBudgetPeriod(s.ColumnText(2));
      if (!period.ok()) return Damaged(Cat("budget '", spec.name, "' has an unknown period"));
      spec.period = *period;
      spec.limit = Money::FromNanos(s.ColumnInt64(3));
      spec.alert_thresholds.clear();
      if (!DecodeStringMap(s.ColumnBlob(4), &spec.scope) ||
          !DecodeThresholds(s.ColumnText(5), &spec.alert_thresholds)) {
        return Damaged(Cat("budget '", spec.name, "' has an unreadable scope or thresholds"));
      }
      CachedBudget budget;
      budget.generation = s.ColumnInt64(1);
      // Keep the same shared spec while it is unchanged (BudgetStatus::spec in ledger.h).
      auto old = budgets_.find(spec.name);
      if (old != budgets_.end() && SameSpec(*old->second.spec, spec)) {
        budget.spec = old->second.spec;
      } else {
        budget.spec = std::make_shared<const BudgetSpec>(std::move(spec));
      }
      loaded.emplace(budget.spec->name, std::move(budget));
    }
    if (rc != SQLITE_DONE) return Fail(rc, "reading budgets");
    budgets_ = std::move(loaded);
    budgets_version_ = *version;
    return absl::OkStatus();
  }

  void InvalidateBudgets() { budgets_version_ = -1; }

  // --- Ledger operations -----------------------------------------------------------------
  absl::Status Reserve(const ReserveRequest& request, ReserveOutcome* outcome) {
    {
      Statement& s = get_reservation_;
      Statement::Scope scope(s);
      s.BindText(1, request.operation_id);
      const int rc = s.Step();
      if (rc == SQLITE_ROW) {
        Attribution holder;
        if (!DecodeAttribution(s.ColumnBlob(2), &holder)) {
          return Damaged(Cat("reservation '", request.operation_id, "' is unreadable"));
        }
        outcome->admitted = true;
        return StatusesFor(holder, request.now_unix_nanos, &outcome->budgets);
      }
      if (rc != SQLITE_DONE) return Fail(rc, "reading a reservation");
    }
    {
      std::optional<SettledRow> settled;
      if (absl::Status s = GetSettled(request.operation_id, &settled); !s.ok()) return s;
      if (settled.has_value()) {
        outcome->admitted = true;
        return StatusesByName(settled->budgets, request.now_unix_nanos, &outcome->budgets);
      }
    }
    // Check every matching budget first, then apply: all or nothing.
    struct Pending {
      const CachedBudget* budget;
      BudgetWindow window;
    };
    absl::InlinedVector<Pending, 2> pending;
    for (const auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, request.attribution)) continue;
      const BudgetWindow window =
          BudgetWindow::Containing(budget.spec->period, request.now_unix_nanos);
      Counters counters;
      if (absl::Status s = ReadCounters(budget.generation, window.start_unix_nanos, &counters);
          !s.ok()) {
        return s;
      }
      Money used;
      Money wanted;
      if (!CheckedAdd(counters.spent, counters.reserved, &used) ||
          !CheckedAdd(used, request.amount, &wanted) || wanted > budget.spec->limit) {
        outcome->admitted = false;
        outcome->refused_by = name;
        return StatusesFor(request.attribution, request.now_unix_nanos, &outcome->budgets);
      }
      pending.push_back({&budget, window});
    }
    Holds holds;
    for (const Pending& p : pending)
      holds.push_back({p.budget->generation, p.window.start_unix_nanos});
    const std::string attribution = EncodeAttribution(request.attribution);
    const std::string hold_blob = EncodeHolds(holds);
    {
      Statement& s = insert_reservation_;
      Statement::Scope scope(s);
      s.BindText(1, request.operation_id);
      s.BindInt64(2, request.amount.nanos());
      s.BindInt64(3, request.expires_at_unix_nanos);
      s.BindBlob(4, attribution);
      s.BindBlob(5, hold_blob);
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "inserting a reservation");
    }
    for (const Pending& p : pending) {
      Counters after;
      if (absl::Status s =
              AddToWindow(p.budget->generation, p.window, Money::Zero(), request.amount, &after);
          !s.ok()) {
        return s;
      }
      outcome->budgets.push_back(MakeStatus(*p.budget, p.window, after));
    }
    outcome->admitted = true;
    return absl::OkStatus();
  }

  absl::Status Settle(std::string_view operation_id, Money actual, int64_t now,
                      SettleOutcome* outcome) {
    bool repeat = false;
    if (absl::Status s = RepeatOutcome(operation_id, now, outcome, &repeat); !s.ok() || repeat) {
      return s;
    }
    std::optional<ReservationRow> reservation;
    if (absl::Status s = GetReservation(operation_id, &reservation); !s.ok()) return s;
    if (!reservation.has_value()) {
      return absl::NotFoundError(
          Cat("ledger: no reservation for operation '", operation_id,
              "' (never reserved, released, or expired); record its spend with Charge()"));
    }
    if (absl::Status s = DropReservation(operation_id, *reservation); !s.ok()) return s;
    return RecordSpend(operation_id, reservation->attribution, reservation->amount, actual, now,
                       outcome);
  }

  // With `batch`, the spend is added to the batch's windows (ApplySpend writes them) and
  // the idempotency record is inserted first, its conflict telling a repeat: a new id costs
  // one read fewer. An id is never both reserved and settled (Reserve() of a settled id
  // holds nothing), so the order of the two checks does not matter.
  absl::Status Charge(std::string_view operation_id, const Attribution& attribution, Money actual,
                      int64_t now, SettleOutcome* outcome, SpendBatch* batch = nullptr) {
    if (batch == nullptr) {
      bool repeat = false;
      if (absl::Status s = RepeatOutcome(operation_id, now, outcome, &repeat); !s.ok() || repeat) {
        return s;
      }
    }
    std::optional<ReservationRow> reservation;
    if (absl::Status s = GetReservation(operation_id, &reservation); !s.ok()) return s;
    if (reservation.has_value()) {
      return absl::FailedPreconditionError(Cat(
          "ledger: operation '", operation_id,
          "' holds a reservation; settle it with Settle() (or Release() it) instead of Charge()"));
    }
    return RecordSpend(operation_id, attribution, Money::Zero(), actual, now, outcome, batch);
  }

  // Writes what the charges of a batch added to each budget window so far.
  absl::Status ApplySpend(SpendBatch& batch) {
    for (PendingSpend& p : batch) {
      if (p.added == Money::Zero()) continue;
      Counters after;
      if (absl::Status s = AddToWindow(p.generation, p.window, p.added, Money::Zero(), &after);
          !s.ok()) {
        return s;
      }
      if (after.spent != p.counters.spent) {
        return Damaged(
            Cat("budget counters of generation ", p.generation, " changed during a charge batch"));
      }
      p.added = Money::Zero();
    }
    return absl::OkStatus();
  }

  // Takes `amount` (down to zero) off a reservation whose room was spent by charges
  // (ChargeItem::from_reservation). One that is gone (released, expired) holds nothing.
  absl::Status TakeFromReservation(std::string_view operation_id, Money amount) {
    std::optional<ReservationRow> source;
    if (absl::Status s = GetReservation(operation_id, &source); !s.ok()) return s;
    if (!source.has_value()) return absl::OkStatus();
    return ShrinkReservation(operation_id, *source, std::min(amount, source->amount));
  }

  absl::Status Release(std::string_view operation_id) {
    std::optional<ReservationRow> reservation;
    if (absl::Status s = GetReservation(operation_id, &reservation); !s.ok()) return s;
    if (!reservation.has_value()) return absl::OkStatus();  // released, settled or unknown
    return DropReservation(operation_id, *reservation);
  }

  // Releases up to `limit` reservations expired at `now`; when fewer were found (the last
  // chunk), also forgets ended windows that hold nothing, like the memory store.
  absl::Status ExpireChunk(int64_t now, int64_t limit, int64_t* expired) {
    struct Expired {
      std::string id;
      ReservationRow row;
    };
    std::vector<Expired> found;
    {
      Statement& s = expired_reservations_;
      Statement::Scope scope(s);
      s.BindInt64(1, now);
      s.BindInt64(2, limit);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        Expired e;
        e.id = std::string(s.ColumnText(0));
        e.row.amount = Money::FromNanos(s.ColumnInt64(1));
        if (!DecodeHolds(s.ColumnBlob(2), &e.row.holds)) {
          return Damaged(Cat("reservation '", e.id, "' is unreadable"));
        }
        found.push_back(std::move(e));
      }
      if (rc != SQLITE_DONE) return Fail(rc, "finding expired reservations");
    }
    for (const Expired& e : found) {
      if (absl::Status s = DropReservation(e.id, e.row); !s.ok()) return s;
    }
    *expired = static_cast<int64_t>(found.size());
    if (*expired < limit) {
      Statement& s = prune_windows_;
      Statement::Scope scope(s);
      s.BindInt64(1, now);
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "pruning ended windows");
    }
    return absl::OkStatus();
  }

  absl::Status PurgeSettledChunk(int64_t before, int64_t limit, int64_t* purged) {
    Statement& s = purge_settled_;
    Statement::Scope scope(s);
    s.BindInt64(1, before);
    s.BindInt64(2, limit);
    if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "purging settled ids");
    *purged = sqlite3_changes64(conn_->db());
    return absl::OkStatus();
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) {
    int64_t generation = 0;
    bool restart = true;  // a new budget, or a new period: counters start from zero
    {
      Statement& s = get_budget_;
      Statement::Scope scope(s);
      s.BindText(1, spec.name);
      const int rc = s.Step();
      if (rc == SQLITE_ROW) {
        generation = s.ColumnInt64(0);
        restart = s.ColumnText(1) != BudgetPeriodName(spec.period);
      } else if (rc != SQLITE_DONE) {
        return Fail(rc, "reading a budget");
      }
    }
    if (restart) {
      if (generation != 0) {
        // Window starts of another period mean nothing; reservations holding the old
        // generation no longer touch this budget.
        if (absl::Status s = DeleteWindowsOf(generation); !s.ok()) return s;
      }
      absl::StatusOr<int64_t> next = AddMeta("next_generation", 1);
      if (!next.ok()) return next.status();
      generation = *next;
    }
    const std::string scope_blob = EncodeStringMap(spec.scope);
    const std::string thresholds = EncodeThresholds(spec.alert_thresholds);
    {
      Statement& s = upsert_budget_;
      Statement::Scope scope(s);
      s.BindText(1, spec.name);
      s.BindInt64(2, generation);
      s.BindText(3, BudgetPeriodName(spec.period));
      s.BindInt64(4, spec.limit.nanos());
      s.BindBlob(5, scope_blob);
      s.BindText(6, thresholds);
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "writing a budget");
    }
    absl::StatusOr<int64_t> version = AddMeta("budgets_version", 1);
    if (!version.ok()) return version.status();
    if (budgets_version_ == *version - 1) {
      // Install a new spec (statuses already handed out keep the old one).
      budgets_[spec.name] = CachedBudget{std::make_shared<const BudgetSpec>(spec), generation};
      budgets_version_ = *version;
      return absl::OkStatus();
    }
    InvalidateBudgets();
    return RefreshBudgets();
  }

  absl::Status DeleteBudget(std::string_view name) {
    int64_t generation = 0;
    {
      Statement& s = get_budget_;
      Statement::Scope scope(s);
      s.BindText(1, name);
      const int rc = s.Step();
      if (rc == SQLITE_DONE) {
        return absl::NotFoundError(Cat("ledger: no budget named '", name, "'"));
      }
      if (rc != SQLITE_ROW) return Fail(rc, "reading a budget");
      generation = s.ColumnInt64(0);
    }
    {
      Statement& s = delete_budget_;
      Statement::Scope scope(s);
      s.BindText(1, name);
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "deleting a budget");
    }
    if (absl::Status s = DeleteWindowsOf(generation); !s.ok()) return s;
    absl::StatusOr<int64_t> version = AddMeta("budgets_version", 1);
    if (!version.ok()) return version.status();
    if (budgets_version_ == *version - 1) {
      if (auto it = budgets_.find(name); it != budgets_.end()) budgets_.erase(it);
      budgets_version_ = *version;
      return absl::OkStatus();
    }
    InvalidateBudgets();
    return RefreshBudgets();
  }

  absl::Status ListBudgets(int64_t now, std::vector<BudgetStatus>* out) {
    if (absl::Status s = RefreshBudgets(); !s.ok()) return s;
    out->reserve(budgets_.size());
    for (const auto& [name, budget] : budgets_) {
      BudgetStatus status;
      if (absl::Status s = StatusOf(budget, now, &status); !s.ok()) return s;
      out->push_back(std::move(status));
    }
    return absl::OkStatus();
  }

  absl::Status TotalSpent(Money* out) {
    Counters total;
    if (absl::Status s = ReadCounters(kTotalGeneration, kTotalWindow.start_unix_nanos, &total);
        !s.ok()) {
      return s;
    }
    *out = total.spent;
    return absl::OkStatus();
  }

  absl::Status Lookup(std::string_view operation_id, std::optional<OperationEntry>* out) {
    std::optional<ReservationRow> reservation;
    if (absl::Status s = GetReservation(operation_id, &reservation); !s.ok()) return s;
    if (reservation.has_value()) {
      *out = OperationEntry{.state = OperationState::kReserved, .reserved = reservation->amount};
      return absl::OkStatus();
    }
    std::optional<SettledRow> settled;
    if (absl::Status s = GetSettled(operation_id, &settled); !s.ok()) return s;
    if (settled.has_value()) {
      *out = OperationEntry{.state = OperationState::kSettled,
                            .reserved = settled->reserved,
                            .actual = settled->actual};
    }
    return absl::OkStatus();
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) {
    Statement& s = insert_operation_;
    for (const OperationRecord& r : records) {
      Statement::Scope scope(s);
      const std::string tags = EncodeStringMap(r.attribution.tags);
      int i = 0;
      s.BindText(++i, r.operation_id);
      s.BindInt64(++i, r.start_unix_nanos);
      s.BindInt64(++i, r.duration_nanos);
      s.BindText(++i, r.operation_type);
      s.BindText(++i, r.operation_name);
      s.BindText(++i, r.attribution.team);
      s.BindText(++i, r.attribution.project);
      s.BindText(++i, r.attribution.environment);
      s.BindText(++i, r.attribution.customer_id);
      s.BindText(++i, r.attribution.cost_center);
      s.BindText(++i, r.attribution.feature);
      s.BindBlob(++i, tags);
      s.BindText(++i, r.provider);
      s.BindText(++i, r.model);
      s.BindInt64(++i, r.usage.input_tokens);
      s.BindInt64(++i, r.usage.cache_read_tokens);
      s.BindInt64(++i, r.usage.cache_write_tokens);
      s.BindInt64(++i, r.usage.output_tokens);
      s.BindInt64(++i, r.usage.reasoning_tokens);
      s.BindInt64(++i, r.cost.nanos());
      s.BindInt64(++i, r.priced ? 1 : 0);
      s.BindText(++i, DecisionResultName(r.decision));
      s.BindText(++i, DecisionReasonName(r.reason));
      s.BindInt64(++i, r.error ? 1 : 0);
      s.BindText(++i, r.trace_id);
      if (const int rc = s.Step(); rc != SQLITE_DONE) {
        return Fail(rc, Cat("appending operation '", r.operation_id, "' to the operations log"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ScanOperations(const OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) {
    Statement& s = scan_operations_;
    Statement::Scope scope(s);
    s.BindInt64(1, query.since_unix_nanos);
    s.BindInt64(2, query.until_unix_nanos);
    s.BindInt64(3, query.limit == 0 ? -1 : static_cast<int64_t>(query.limit));
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      OperationRecord r;
      int i = 0;
      r.operation_id = std::string(s.ColumnText(i++));
      r.start_unix_nanos = s.ColumnInt64(i++);
      r.duration_nanos = s.ColumnInt64(i++);
      r.operation_type = std::string(s.ColumnText(i++));
      r.operation_name = std::string(s.ColumnText(i++));
      r.attribution.team = std::string(s.ColumnText(i++));
      r.attribution.project = std::string(s.ColumnText(i++));
      r.attribution.environment = std::string(s.ColumnText(i++));
      r.attribution.customer_id = std::string(s.ColumnText(i++));
      r.attribution.cost_center = std::string(s.ColumnText(i++));
      r.attribution.feature = std::string(s.ColumnText(i++));
      const bool tags_ok = DecodeStringMap(s.ColumnBlob(i++), &r.attribution.tags);
      r.provider = std::string(s.ColumnText(i++));
      r.model = std::string(s.ColumnText(i++));
      r.usage.input_tokens = s.ColumnInt64(i++);
      r.usage.cache_read_tokens = s.ColumnInt64(i++);
      r.usage.cache_write_tokens = s.ColumnInt64(i++);
      r.usage.output_tokens = s.ColumnInt64(i++);
      r.usage.reasoning_tokens = s.ColumnInt64(i++);
      r.cost = Money::FromNanos(s.ColumnInt64(i++));
      r.priced = s.ColumnInt64(i++) != 0;
      absl::StatusOr<DecisionResult> decision = ParseDecisionResult(s.ColumnText(i++));
      absl::StatusOr<DecisionReason> reason = ParseDecisionReason(s.ColumnText(i++));
      r.error = s.ColumnInt64(i++) != 0;
      r.trace_id = std::string(s.ColumnText(i++));
      if (!tags_ok || !decision.ok() || !reason.ok()) {
        return absl::DataLossError(
            Cat("sqlite ledger '", conn_->path(), "': operations log row '", r.operation_id,
                "' is unreadable (tags, decision or reason); it may have been written by a "
                "newer genops, or the file is damaged"));
      }
      r.decision = *decision;
      r.reason = *reason;
      if (!visit(r)) return absl::OkStatus();
    }
    if (rc != SQLITE_DONE) return Fail(rc, "reading the operations log");
    return absl::OkStatus();
  }

  absl::Status PurgeOperationsChunk(int64_t before, int64_t limit, int64_t* purged) {
    Statement& s = purge_operations_;
    Statement::Scope scope(s);
    s.BindInt64(1, before);
    s.BindInt64(2, limit);
    if (const int rc = s.Step(); rc != SQLITE_DONE) {
      return Fail(rc, "purging the operations log");
    }
    *purged = sqlite3_changes64(conn_->db());
    return absl::OkStatus();
  }

  absl::Status CreateVirtualKey(const VirtualKey& key) {
    const std::string attribution = EncodeAttribution(key.attribution);
    {
      Statement& s = insert_key_;
      Statement::Scope scope(s);
      s.BindText(1, key.id);
      s.BindText(2, key.secret_sha256);
      s.BindText(3, key.display_prefix);
      s.BindBlob(4, attribution);
      s.BindText(5, key.budget_name);
      s.BindText(6, key.description);
      s.BindInt64(7, key.created_unix_nanos);
      s.BindInt64(8, key.revoked_unix_nanos);
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "storing a virtual key");
    }
    if (sqlite3_changes64(conn_->db()) == 1) return absl::OkStatus();
    // Nothing was written: the id or the hash is taken. Say which.
    Statement& s = key_id_exists_;
    Statement::Scope scope(s);
    s.BindText(1, key.id);
    const int rc = s.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Fail(rc, "reading a virtual key");
    return VirtualKeyExistsError(key.id, /*id_taken=*/rc == SQLITE_ROW);
  }

  absl::Status FindVirtualKey(std::string_view secret_sha256, std::optional<VirtualKey>* out) {
    Statement& s = find_key_;
    Statement::Scope scope(s);
    s.BindText(1, secret_sha256);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if (rc != SQLITE_ROW) return Fail(rc, "reading a virtual key");
    VirtualKey key;
    if (absl::Status st = KeyFromRow(s, &key); !st.ok()) return st;
    *out = std::move(key);
    return absl::OkStatus();
  }

  absl::Status ListVirtualKeys(std::vector<VirtualKey>* out) {
    Statement& s = list_keys_;
    Statement::Scope scope(s);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      VirtualKey key;
      if (absl::Status st = KeyFromRow(s, &key); !st.ok()) return st;
      out->push_back(std::move(key));
    }
    if (rc != SQLITE_DONE) return Fail(rc, "listing virtual keys");
    return absl::OkStatus();
  }

  absl::Status RevokeVirtualKey(std::string_view id, int64_t now) {
    Statement& s = revoke_key_;
    Statement::Scope scope(s);
    s.BindText(1, id);
    s.BindInt64(2, now);
    if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "revoking a virtual key");
    if (sqlite3_changes64(conn_->db()) == 0) return VirtualKeyNotFoundError(id);
    return absl::OkStatus();
  }

 private:
  struct ReservationRow {
    Money amount;
    Attribution attribution;
    Holds holds;
  };
  struct SettledRow {
    Money reserved;
    Money actual;
    BudgetNames budgets;
  };

  Store(std::unique_ptr<Connection> conn, const Clock* clock)
      : conn_(std::move(conn)), clock_(clock) {}

  absl::Status PrepareAll() {
    const std::pair<Statement*, std::string> statements[] = {
        {&begin_immediate_, "BEGIN IMMEDIATE"},
        {&begin_, "BEGIN"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&savepoint_, "SAVEPOINT op"},
        {&release_, "RELEASE op"},
        {&rollback_to_, "ROLLBACK TO op"},
        {&get_meta_, "SELECT value FROM meta WHERE key = ?1"},
        {&add_meta_, "UPDATE meta SET value = value + ?2 WHERE key = ?1 RETURNING value"},
        {&list_budgets_,
         "SELECT name, generation, period, limit_nanos, scope, alert_thresholds FROM budgets "
         "ORDER BY name"},
        {&get_budget_, "SELECT generation, period FROM budgets WHERE name = ?1"},
        {&upsert_budget_,
         "INSERT INTO budgets(name, generation, period, limit_nanos, scope, alert_thresholds) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO UPDATE SET "
         "generation = excluded.generation, period = excluded.period, "
         "limit_nanos = excluded.limit_nanos, scope = excluded.scope, "
         "alert_thresholds = excluded.alert_thresholds"},
        {&delete_budget_, "DELETE FROM budgets WHERE name = ?1"},
        {&delete_windows_of_, "DELETE FROM budget_windows WHERE generation = ?1"},
        {&get_window_,
         "SELECT spent, reserved FROM budget_windows WHERE generation = ?1 AND window_start = ?2"},
        {&add_window_,
         "INSERT INTO budget_windows(generation, window_start, window_end, spent, reserved) "
         "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(generation, window_start) DO UPDATE SET "
         "spent = spent + excluded.spent, reserved = reserved + excluded.reserved "
         "RETURNING spent, reserved"},
        {&release_hold_,
         "UPDATE budget_windows SET reserved = reserved - ?3 "
         "WHERE generation = ?1 AND window_start = ?2"},
        {&prune_windows_, "DELETE FROM budget_windows WHERE reserved = 0 AND window_end <= ?1"},
        {&get_reservation_,
         "SELECT amount, expires_at, attribution, holds FROM reservations "
         "WHERE operation_id = ?1"},
        {&insert_reservation_,
         "INSERT INTO reservations(operation_id, amount, expires_at, attribution, holds) "
         "VALUES(?1, ?2, ?3, ?4, ?5)"},
        {&delete_reservation_, "DELETE FROM reservations WHERE operation_id = ?1"},
        {&shrink_reservation_,
         "UPDATE reservations SET amount = amount - ?2 WHERE operation_id = ?1"},
        {&expired_reservations_,
         "SELECT operation_id, amount, holds FROM reservations "
         "WHERE expires_at != 0 AND expires_at <= ?1 LIMIT ?2"},
        {&get_settled_, "SELECT reserved, actual, budgets FROM settled WHERE operation_id = ?1"},
        {&insert_settled_,
         "INSERT INTO settled(operation_id, reserved, actual, budgets, recorded_at) "
         "VALUES(?1, ?2, ?3, ?4, ?5)"},
        {&insert_settled_if_new_,
         "INSERT INTO settled(operation_id, reserved, actual, budgets, recorded_at) "
         "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(operation_id) DO NOTHING"},
        {&purge_settled_,
         "DELETE FROM settled WHERE operation_id IN (SELECT operation_id FROM settled "
         "WHERE recorded_at < ?1 ORDER BY recorded_at LIMIT ?2)"},
        {&insert_operation_,
         Cat("INSERT INTO operations(", kOperationColumns,
             ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
             "?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) "
             "ON CONFLICT(operation_id) DO NOTHING")},
        {&scan_operations_,
         Cat("SELECT ", kOperationColumns,
             " FROM operations WHERE start_unix_nanos >= ?1 AND start_unix_nanos < ?2 "
             "ORDER BY start_unix_nanos DESC, operation_id DESC LIMIT ?3")},
        {&purge_operations_,
         "DELETE FROM operations WHERE rowid IN (SELECT rowid FROM operations "
         "WHERE start_unix_nanos < ?1 LIMIT ?2)"},
        {&insert_key_, Cat("INSERT INTO virtual_keys(", kKeyColumns,
                           ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING")},
        {&key_id_exists_, "SELECT 1 FROM virtual_keys WHERE id = ?1"},
        {&find_key_, Cat("SELECT ", kKeyColumns, " FROM virtual_keys WHERE secret_sha256 = ?1")},
        {&list_keys_,
         Cat("SELECT ", kKeyColumns, " FROM virtual_keys ORDER BY created_unix_nanos, id")},
        {&revoke_key_,
         "UPDATE virtual_keys SET revoked_unix_nanos = CASE WHEN revoked_unix_nanos = 0 "
         "THEN ?2 ELSE revoked_unix_nanos END WHERE id = ?1"},
    };
    for (const auto& [stmt, sql] : statements) {
      absl::StatusOr<Statement> prepared = conn_->Prepare(sql);
      if (!prepared.ok()) return prepared.status();
      *stmt = *std::move(prepared);
    }
    return absl::OkStatus();
  }

  absl::Status Fail(int rc, std::string_view what) {
    sqlite_error_ = true;
    return conn_->Fail(rc, what);
  }

  absl::Status Damaged(std::string_view what) {
    sqlite_error_ = true;
    return absl::DataLossError(Cat("sqlite ledger '", conn_->path(), "': ", what,
                                   "; the file is damaged or was written by a newer genops"));
  }

  // Steps a statement that returns no rows.
  absl::Status Run(Statement& s, std::string_view what) {
    Statement::Scope scope(s);
    if (const int rc = s.Step(); rc != SQLITE_DONE && rc != SQLITE_ROW) return Fail(rc, what);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> GetMeta(std::string_view key) {
    Statement& s = get_meta_;
    Statement::Scope scope(s);
    s.BindText(1, key);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return s.ColumnInt64(0);
    if (rc == SQLITE_DONE) return Damaged(Cat("the meta row '", key, "' is missing"));
    return Fail(rc, "reading the meta table");
  }

  absl::StatusOr<int64_t> AddMeta(std::string_view key, int64_t delta) {
    Statement& s = add_meta_;
    Statement::Scope scope(s);
    s.BindText(1, key);
    s.BindInt64(2, delta);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return s.ColumnInt64(0);
    if (rc == SQLITE_DONE) return Damaged(Cat("the meta row '", key, "' is missing"));
    return Fail(rc, "updating the meta table");
  }

  absl::Status ReadCounters(int64_t generation, int64_t window_start, Counters* out) {
    Statement& s = get_window_;
    Statement::Scope scope(s);
    s.BindInt64(1, generation);
    s.BindInt64(2, window_start);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) {
      out->spent = Money::FromNanos(s.ColumnInt64(0));
      out->reserved = Money::FromNanos(s.ColumnInt64(1));
      return absl::OkStatus();
    }
    if (rc == SQLITE_DONE) {
      *out = Counters{};
      return absl::OkStatus();
    }
    return Fail(rc, "reading budget counters");
  }

  absl::Status AddToWindow(int64_t generation, const BudgetWindow& window, Money spent,
                           Money reserved, Counters* after) {
    Statement& s = add_window_;
    Statement::Scope scope(s);
    s.BindInt64(1, generation);
    s.BindInt64(2, window.start_unix_nanos);
    s.BindInt64(3, window.end_unix_nanos);
    s.BindInt64(4, spent.nanos());
    s.BindInt64(5, reserved.nanos());
    const int rc = s.Step();
    if (rc != SQLITE_ROW) return Fail(rc, "updating budget counters");
    after->spent = Money::FromNanos(s.ColumnInt64(0));
    after->reserved = Money::FromNanos(s.ColumnInt64(1));
    return absl::OkStatus();
  }

  absl::Status DeleteWindowsOf(int64_t generation) {
    Statement& s = delete_windows_of_;
    Statement::Scope scope(s);
    s.BindInt64(1, generation);
    if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "deleting budget counters");
    return absl::OkStatus();
  }

  static BudgetStatus MakeStatus(const CachedBudget& budget, const BudgetWindow& window,
                                 const Counters& counters) {
    BudgetStatus status;
    status.spec = budget.spec;
    status.window = window;
    status.spent = counters.spent;
    status.reserved = counters.reserved;
    return status;
  }

  absl::Status StatusOf(const CachedBudget& budget, int64_t now, BudgetStatus* out) {
    const BudgetWindow window = BudgetWindow::Containing(budget.spec->period, now);
    Counters counters;
    if (absl::Status s = ReadCounters(budget.generation, window.start_unix_nanos, &counters);
        !s.ok()) {
      return s;
    }
    *out = MakeStatus(budget, window, counters);
    return absl::OkStatus();
  }

  absl::Status StatusesFor(const Attribution& attribution, int64_t now, BudgetStatusList* out) {
    for (const auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, attribution)) continue;
      BudgetStatus status;
      if (absl::Status s = StatusOf(budget, now, &status); !s.ok()) return s;
      out->push_back(std::move(status));
    }
    return absl::OkStatus();
  }

  absl::Status StatusesByName(const BudgetNames& names, int64_t now, BudgetStatusList* out) {
    for (const std::string& name : names) {
      auto it = budgets_.find(name);
      if (it == budgets_.end()) continue;
      BudgetStatus status;
      if (absl::Status s = StatusOf(it->second, now, &status); !s.ok()) return s;
      out->push_back(std::move(status));
    }
    return absl::OkStatus();
  }

  absl::Status GetReservation(std::string_view operation_id, std::optional<ReservationRow>* out) {
    Statement& s = get_reservation_;
    Statement::Scope scope(s);
    s.BindText(1, operation_id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if (rc != SQLITE_ROW) return Fail(rc, "reading a reservation");
    ReservationRow row;
    row.amount = Money::FromNanos(s.ColumnInt64(0));
    if (!DecodeAttribution(s.ColumnBlob(2), &row.attribution) ||
        !DecodeHolds(s.ColumnBlob(3), &row.holds)) {
      return Damaged(Cat("reservation '", operation_id, "' is unreadable"));
    }
    *out = std::move(row);
    return absl::OkStatus();
  }

  absl::Status GetSettled(std::string_view operation_id, std::optional<SettledRow>* out) {
    Statement& s = get_settled_;
    Statement::Scope scope(s);
    s.BindText(1, operation_id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if (rc != SQLITE_ROW) return Fail(rc, "reading the idempotency record");
    SettledRow row;
    row.reserved = Money::FromNanos(s.ColumnInt64(0));
    row.actual = Money::FromNanos(s.ColumnInt64(1));
    if (!DecodeNames(s.ColumnBlob(2), &row.budgets)) {
      return Damaged(Cat("settled operation '", operation_id, "' is unreadable"));
    }
    *out = std::move(row);
    return absl::OkStatus();
  }

  // A row of kKeyColumns.
  absl::Status KeyFromRow(const Statement& s, VirtualKey* key) {
    key->id = std::string(s.ColumnText(0));
    key->secret_sha256 = std::string(s.ColumnText(1));
    key->display_prefix = std::string(s.ColumnText(2));
    if (!DecodeAttribution(s.ColumnBlob(3), &key->attribution)) {
      return Damaged(Cat("virtual key ", key->id, " has an unreadable attribution"));
    }
    key->budget_name = std::string(s.ColumnText(4));
    key->description = std::string(s.ColumnText(5));
    key->created_unix_nanos = s.ColumnInt64(6);
    key->revoked_unix_nanos = s.ColumnInt64(7);
    return absl::OkStatus();
  }

  absl::Status RepeatOutcome(std::string_view operation_id, int64_t now, SettleOutcome* outcome,
                             bool* repeat) {
    std::optional<SettledRow> settled;
    if (absl::Status s = GetSettled(operation_id, &settled); !s.ok()) return s;
    if (!settled.has_value()) return absl::OkStatus();
    *repeat = true;
    outcome->reserved = settled->reserved;
    outcome->actual = settled->actual;
    outcome->already_settled = true;
    return StatusesByName(settled->budgets, now, &outcome->budgets);
  }

  absl::Status DropReservation(std::string_view operation_id, const ReservationRow& row) {
    {
      Statement& s = delete_reservation_;
      Statement::Scope scope(s);
      s.BindText(1, operation_id);
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "deleting a reservation");
    }
    return ReleaseHolds(row.holds, row.amount);
  }

  // Takes `amount` off the reserved counter of every budget window in `holds`.
  absl::Status ReleaseHolds(const Holds& holds, Money amount) {
    for (const Hold& hold : holds) {
      Statement& s = release_hold_;
      Statement::Scope scope(s);
      s.BindInt64(1, hold.generation);
      s.BindInt64(2, hold.window_start);
      s.BindInt64(3, amount.nanos());
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "releasing a hold");
    }
    return absl::OkStatus();
  }

  // Takes `off` (at most the amount) off a reservation and off each budget window it holds.
  absl::Status ShrinkReservation(std::string_view operation_id, const ReservationRow& row,
                                 Money off) {
    if (off <= Money()) return absl::OkStatus();
    {
      Statement& s = shrink_reservation_;
      Statement::Scope scope(s);
      s.BindText(1, operation_id);
      s.BindInt64(2, off.nanos());
      if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(rc, "shrinking a reservation");
    }
    return ReleaseHolds(row.holds, off);
  }

  // Adds `actual` to a window: in the database, or to `batch` (read once per window).
  absl::Status AddSpend(int64_t generation, const BudgetWindow& window, Money actual,
                        SpendBatch* batch, Counters* after) {
    if (batch == nullptr) return AddToWindow(generation, window, actual, Money::Zero(), after);
    auto it = std::find_if(batch->begin(), batch->end(), [&](const PendingSpend& p) {
      return p.generation == generation && p.window.start_unix_nanos == window.start_unix_nanos;
    });
    if (it == batch->end()) {
      PendingSpend p;
      p.generation = generation;
      p.window = window;
      if (absl::Status s = ReadCounters(generation, window.start_unix_nanos, &p.counters);
          !s.ok()) {
        return s;
      }
      batch->push_back(p);
      it = batch->end() - 1;
    }
    if (!CheckedAdd(it->counters.spent, actual, &it->counters.spent) ||
        !CheckedAdd(it->added, actual, &it->added)) {
      // The idempotency record is already in: undo the whole task, as the upsert's own
      // overflow (an SQLite error) does without a batch.
      sqlite_error_ = true;
      return absl::OutOfRangeError(
          Cat("ledger: the spent counter of budget generation ", generation, " would overflow"));
    }
    *after = it->counters;
    return absl::OkStatus();
  }

  absl::Status RecordSpend(std::string_view operation_id, const Attribution& attribution,
                           Money reserved, Money actual, int64_t now, SettleOutcome* outcome,
                           SpendBatch* batch = nullptr) {
    BudgetNames names;
    absl::InlinedVector<std::pair<const CachedBudget*, BudgetWindow>, 4> matching;
    for (const auto& [name, budget] : budgets_) {
      if (!ScopeMatches(budget.spec->scope, attribution)) continue;
      matching.emplace_back(&budget, BudgetWindow::Containing(budget.spec->period, now));
      names.push_back(name);
    }
    const std::string names_blob = EncodeNames(names);
    {
      Statement& s = batch != nullptr ? insert_settled_if_new_ : insert_settled_;
      Statement::Scope scope(s);
      s.BindText(1, operation_id);
      s.BindInt64(2, reserved.nanos());
      s.BindInt64(3, actual.nanos());
      s.BindBlob(4, names_blob);
      s.BindInt64(5, clock_->NowUnixNanos());
      if (const int rc = s.Step(); rc != SQLITE_DONE) {
        return Fail(rc, "recording the settled operation");
      }
    }
    if (batch != nullptr && sqlite3_changes64(conn_->db()) == 0) {
      // A repeat reports the counters as they are now, the batch's charges so far included.
      if (absl::Status s = ApplySpend(*batch); !s.ok()) return s;
      bool repeat = false;
      if (absl::Status s = RepeatOutcome(operation_id, now, outcome, &repeat); !s.ok()) return s;
      if (repeat) return absl::OkStatus();
      return Damaged(Cat("settled operation '", operation_id, "' conflicts but cannot be read"));
    }
    for (const auto& [budget, window] : matching) {
      Counters after;
      if (absl::Status s = AddSpend(budget->generation, window, actual, batch, &after); !s.ok()) {
        return s;
      }
      outcome->budgets.push_back(MakeStatus(*budget, window, after));
    }
    Counters total;
    if (absl::Status s = AddSpend(kTotalGeneration, kTotalWindow, actual, batch, &total); !s.ok()) {
      return s;
    }
    outcome->reserved = reserved;
    outcome->actual = actual;
    return absl::OkStatus();
  }

  std::unique_ptr<Connection> conn_;
  const Clock* const clock_;
  bool sqlite_error_ = false;

  // The budgets as of meta.budgets_version == budgets_version_ (-1: not loaded).
  int64_t budgets_version_ = -1;
  // Ordered by name so the budget named in a refusal is deterministic.
  std::map<std::string, CachedBudget, std::less<>> budgets_;

  Statement begin_immediate_, begin_, commit_, rollback_, savepoint_, release_, rollback_to_;
  Statement get_meta_, add_meta_;
  Statement list_budgets_, get_budget_, upsert_budget_, delete_budget_, delete_windows_of_;
  Statement get_window_, add_window_, release_hold_, prune_windows_;
  Statement get_reservation_, insert_reservation_, delete_reservation_, expired_reservations_;
  Statement shrink_reservation_;
  Statement get_settled_, insert_settled_, insert_settled_if_new_, purge_settled_;
  Statement insert_operation_, scan_operations_, purge_operations_;
  Statement insert_key_, key_id_exists_, find_key_, list_keys_, revoke_key_;
};

// --- The ledger -------------------------------------------------------------------------------

class SqliteLedger final : public Ledger {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteLedger>> Open(const SqliteLedgerOptions& options) {
    const std::string& path = options.path;
    int new_file_page_size = options.page_size;
    if (new_file_page_size == 0) {
      new_file_page_size =
          options.batched_writes ? sqlite_internal::kBatchPageSize : sqlite_internal::kCallPageSize;
    }
    absl::StatusOr<std::unique_ptr<Connection>> conn =
        OpenLedgerDatabase(path, options.create_if_missing, options.busy_timeout_ms,
                           new_file_page_size, /*page_size_required=*/options.page_size != 0);
    if (!conn.ok()) return conn.status();
    std::unique_ptr<WalFlusher> flusher;
    if (options.synchronous_full) {
      absl::StatusOr<int64_t> page_size =
          (*conn)->QueryInt("PRAGMA page_size", "reading the page size");
      if (!page_size.ok()) return page_size.status();
      absl::StatusOr<std::unique_ptr<WalFlusher>> opened = WalFlusher::Open(path, *page_size);
      if (!opened.ok()) return opened.status();
      flusher = *std::move(opened);
    }
    const Clock* clock = options.clock != nullptr ? options.clock : Clock::Real();
    absl::StatusOr<std::unique_ptr<Store>> writer = Store::Create(*std::move(conn), clock);
    if (!writer.ok()) return writer.status();
    if (flusher != nullptr && (*writer)->Begin(/*immediate=*/true).ok()) {
      flusher->Preallocate();  // under the write lock, which BEGIN IMMEDIATE holds
      (*writer)->Rollback();
    }
    std::unique_ptr<SqliteLedger> ledger(
        new SqliteLedger(options, clock, *std::move(writer), std::move(flusher)));
    sqlite3_commit_hook(ledger->writer_->conn().db(), &SqliteLedger::CommitHook, ledger.get());
    return ledger;
  }

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    ReserveOutcome outcome;
    absl::Status s = Write(/*durable=*/false, [&](Store& store) {
      outcome = ReserveOutcome();
      return store.Reserve(request, &outcome);
    });
    if (!s.ok()) return s;
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    SettleOutcome outcome;
    absl::Status s = Write(/*durable=*/true, [&](Store& store) {
      outcome = SettleOutcome();
      return store.Settle(operation_id, actual, now_unix_nanos, &outcome);
    });
    if (!s.ok()) return s;
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                       const Attribution& attribution, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("charge", operation_id, actual); !s.ok()) return s;
    SettleOutcome outcome;
    absl::Status s = Write(/*durable=*/true, [&](Store& store) {
      outcome = SettleOutcome();
      return store.Charge(operation_id, attribution, actual, now_unix_nanos, &outcome);
    });
    if (!s.ok()) return s;
    return outcome;
  }

  // Up to max_batch_operations items go to the group-commit queue as one task: one
  // savepoint, one transaction (shared with whoever else is queued) and one flush for all of
  // them. An item's own refusal (a reservation under its id) stays its own; an SQLite error
  // rolls the task back and fails each of its items.
  std::vector<absl::StatusOr<SettleOutcome>> ChargeBatch(
      absl::Span<const ChargeItem> items) override {
    std::vector<absl::StatusOr<SettleOutcome>> outcomes(items.size(), SettleOutcome());
    std::vector<size_t> valid;
    valid.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const ChargeItem& item = items[i];
      absl::Status s = ValidateOperationId(item.operation_id);
      if (s.ok()) s = ValidateAmount("charge", item.operation_id, item.actual);
      if (s.ok() && item.attribution == nullptr) {
        s = absl::InvalidArgumentError(
            Cat("ledger: charge of '", item.operation_id, "' has no attribution"));
      }
      if (s.ok()) {
        valid.push_back(i);
      } else {
        outcomes[i] = std::move(s);
      }
    }
    const size_t chunk = static_cast<size_t>(std::max(1, options_.max_batch_operations));
    for (size_t begin = 0; begin < valid.size(); begin += chunk) {
      const absl::Span<const size_t> part =
          absl::MakeConstSpan(valid).subspan(begin, std::min(chunk, valid.size() - begin));
      absl::Status s = Write(/*durable=*/true, [&](Store& store) {
        // What the new charges take off each reservation they came from, applied once per
        // reservation after the charges (a lease serves a whole batch): capping the sum at
        // the reservation's amount is what capping each charge in turn would give.
        absl::InlinedVector<std::pair<std::string_view, Money>, 4> taken;
        SpendBatch spend;
        for (size_t i : part) {
          const ChargeItem& item = items[i];
          SettleOutcome outcome;
          absl::Status charged = store.Charge(item.operation_id, *item.attribution, item.actual,
                                              item.now_unix_nanos, &outcome, &spend);
          if (store.sqlite_error()) return charged;  // the savepoint is rolled back
          if (charged.ok()) {
            if (!item.from_reservation.empty() && !outcome.already_settled) {
              auto it = std::find_if(taken.begin(), taken.end(), [&](const auto& t) {
                return t.first == item.from_reservation;
              });
              if (it == taken.end()) {
                taken.emplace_back(item.from_reservation, item.actual);
              } else {
                it->second += item.actual;
              }
            }
            outcomes[i] = std::move(outcome);
          } else {
            outcomes[i] = std::move(charged);
          }
        }
        if (absl::Status applied = store.ApplySpend(spend); !applied.ok()) return applied;
        for (const auto& [reservation, amount] : taken) {
          absl::Status shrunk = store.TakeFromReservation(reservation, amount);
          if (!shrunk.ok()) return shrunk;
        }
        return absl::OkStatus();
      });
      if (!s.ok()) {
        for (size_t i : part) outcomes[i] = s;
      }
    }
    return outcomes;
  }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    return Write(/*durable=*/false, [&](Store& store) { return store.Release(operation_id); });
  }

  bool SupportsChargesFromReservations() const override { return true; }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    int64_t total = 0;
    for (;;) {
      int64_t expired = 0;
      absl::Status s = Write(/*durable=*/false, [&](Store& store) {
        return store.ExpireChunk(now_unix_nanos, kHousekeepingChunk, &expired);
      });
      if (!s.ok()) return s;
      total += expired;
      if (expired < kHousekeepingChunk) break;
    }
    const int64_t forget_before = clock_->NowUnixNanos() - options_.settled_retention_nanos;
    for (;;) {
      int64_t purged = 0;
      absl::Status s = Write(/*durable=*/false, [&](Store& store) {
        return store.PurgeSettledChunk(forget_before, kHousekeepingChunk, &purged);
      });
      if (!s.ok()) return s;
      if (purged < kHousekeepingChunk) break;
    }
    return static_cast<int>(std::min<int64_t>(total, std::numeric_limits<int>::max()));
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    if (absl::Status s = ValidateBudgetSpec(spec); !s.ok()) return s;
    return Write(/*durable=*/true, [&](Store& store) { return store.UpsertBudget(spec); });
  }

  absl::Status DeleteBudget(std::string_view name) override {
    return Write(/*durable=*/true, [&](Store& store) { return store.DeleteBudget(name); });
  }

  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    std::vector<BudgetStatus> out;
    absl::Status s = Read([&](Store& store) {
      out.clear();
      return store.ListBudgets(now_unix_nanos, &out);
    });
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<Money> TotalSpent() override {
    Money total;
    absl::Status s = Read([&](Store& store) { return store.TotalSpent(&total); });
    if (!s.ok()) return s;
    return total;
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    std::optional<OperationEntry> entry;
    absl::Status s = Read([&](Store& store) { return store.Lookup(operation_id, &entry); });
    if (!s.ok()) return s;
    return entry;
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    for (const OperationRecord& record : records) {
      if (absl::Status s = ValidateOperationId(record.operation_id); !s.ok()) return s;
    }
    if (records.empty()) return absl::OkStatus();
    return Write(/*durable=*/true, [&](Store& store) { return store.AppendOperations(records); });
  }

  absl::Status ScanOperations(const OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    return Read([&](Store& store) { return store.ScanOperations(query, visit); });
  }

  absl::Status CreateVirtualKey(const VirtualKey& key) override {
    if (absl::Status s = ValidateNewVirtualKey(key); !s.ok()) return s;
    return Write(/*durable=*/true, [&](Store& store) { return store.CreateVirtualKey(key); });
  }

  absl::StatusOr<std::optional<VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    if (absl::Status s = ValidateVirtualKeyHash(secret_sha256); !s.ok()) return s;
    std::optional<VirtualKey> key;
    absl::Status s = Read([&](Store& store) {
      key.reset();
      return store.FindVirtualKey(secret_sha256, &key);
    });
    if (!s.ok()) return s;
    return key;
  }

  absl::StatusOr<std::vector<VirtualKey>> ListVirtualKeys() override {
    std::vector<VirtualKey> keys;
    absl::Status s = Read([&](Store& store) {
      keys.clear();
      return store.ListVirtualKeys(&keys);
    });
    if (!s.ok()) return s;
    return keys;
  }

  absl::Status RevokeVirtualKey(std::string_view id, int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateVirtualKeyRevocation(id, now_unix_nanos); !s.ok()) return s;
    return Write(/*durable=*/true,
                 [&](Store& store) { return store.RevokeVirtualKey(id, now_unix_nanos); });
  }

  absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) override {
    int64_t total = 0;
    for (;;) {
      int64_t purged = 0;
      absl::Status s = Write(/*durable=*/true, [&](Store& store) {
        return store.PurgeOperationsChunk(before_unix_nanos, kHousekeepingChunk, &purged);
      });
      if (!s.ok()) return s;
      total += purged;
      if (purged < kHousekeepingChunk) break;
    }
    return total;
  }

  SqliteLedgerStats stats() const ABSL_LOCKS_EXCLUDED(mu_) {
    SqliteLedgerStats out;
    out.transactions = transactions_.load(std::memory_order_relaxed);
    out.operations = operations_.load(std::memory_order_relaxed);
    out.failed_transactions = failed_transactions_.load(std::memory_order_relaxed);
    out.flushes = flushes_.load(std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    out.queued = static_cast<int64_t>(queue_.size()) + in_batch_;
    return out;
  }

 private:
  // One caller's operation waiting in the group-commit queue.
  struct Task {
    absl::FunctionRef<absl::Status(Store&)> fn;
    bool durable = false;
    absl::Status status;
    bool taken = false;     // a leader has taken it into a batch
    bool done = false;      // its transaction is over; status is final
    int64_t flush_seq = 0;  // when non-zero: committed by commit number flush_seq, which the
                            // caller must see flushed before it returns
  };

  SqliteLedger(const SqliteLedgerOptions& options, const Clock* clock,
               std::unique_ptr<Store> writer, std::unique_ptr<WalFlusher> flusher)
      : options_(options), clock_(clock), flusher_(std::move(flusher)), writer_(std::move(writer)) {
    batch_.reserve(static_cast<size_t>(std::max(1, options_.max_batch_operations)));
  }

  static int CommitHook(void* self) {
    auto* ledger = static_cast<SqliteLedger*>(self);
    const auto& fail = ledger->options_.fail_commit_for_testing;
    return fail && fail() ? 1 : 0;
  }

  struct WaitArgs {
    SqliteLedger* ledger;
    Task* task;
  };
  // The caller may return, or must lead: its task is still queued and nobody leads.
  static bool DoneOrMustLead(WaitArgs* args) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return args->task->done || (!args->task->taken && !args->ledger->leading_);
  }

  // Group commit: queues `fn`, then either waits for a leader to run it or leads.
  //
  // The leader takes the queue, runs it in one transaction and commits, and keeps leading
  // while callers are queued (up to kMaxConsecutiveBatches, then it hands over): a running
  // thread starts the next batch at once, instead of waking another. It never waits for
  // the disk: a caller whose durable operation was committed flushes the WAL itself, or
  // waits for a flush that started after its commit (FlushThrough), so flushes overlap
  // with the next transactions and with each other.
  absl::Status Write(bool durable, absl::FunctionRef<absl::Status(Store&)> fn) {
    Task task{fn, durable};
    WaitArgs args{this, &task};
    absl::MutexLock lock(&mu_);
    queue_.push_back(&task);
    mu_.Await(absl::Condition(&DoneOrMustLead, &args));
    if (!task.done) Lead(task);
    if (task.flush_seq == 0) return task.status;
    return FlushThrough(task.flush_seq);
  }

  // Runs batches until the queue is empty (or the caller has waited long enough).
  void Lead(const Task& own) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    leading_ = true;
    for (int led = 0; !queue_.empty(); ++led) {
      if (own.done && led >= kMaxConsecutiveBatches) break;
      const size_t take =
          std::min(queue_.size(), static_cast<size_t>(std::max(1, options_.max_batch_operations)));
      batch_.assign(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(take));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(take));
      for (Task* t : batch_) t->taken = true;
      in_batch_ = static_cast<int64_t>(batch_.size());
      mu_.Unlock();
      const bool committed = RunBatch();
      mu_.Lock();
      in_batch_ = 0;
      const int64_t seq = ++commit_seq_;
      for (Task* t : batch_) {
        if (committed && flusher_ != nullptr && t->durable && t->status.ok()) t->flush_seq = seq;
        t->done = true;
      }
    }
    leading_ = false;
  }

  struct FlushWaitArgs {
    SqliteLedger* ledger;
    int64_t seq;
  };
  // The WAL is flushed through `seq`, or no flush covering it is under way any more.
  static bool FlushedOrUncovered(FlushWaitArgs* args) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const SqliteLedger& l = *args->ledger;
    return l.flushed_seq_ >= args->seq || l.flush_started_seq_ < args->seq;
  }
  // Flushed, covered by a flush under way, or a flush may start.
  static bool FlushedCoveredOrStartable(FlushWaitArgs* args) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const SqliteLedger& l = *args->ledger;
    return l.flushed_seq_ >= args->seq || l.flush_started_seq_ >= args->seq ||
           l.flushes_in_flight_ < kMaxFlushesInFlight;
  }

  // Returns once a WAL flush that started after commit number `seq` has completed.
  //
  // One flush serves every commit made before it starts, so a caller first waits for a
  // flush under way to cover it. When flushes are fast, fewer of them in flight save CPU
  // (kMaxFlushesInFlight); when the disk is slow, a caller that has waited
  // kFlushPatience for a flush that began before its commit starts its own: overlapping
  // flushes then cut the latency every durable caller sees.
  absl::Status FlushThrough(int64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FlushWaitArgs args{this, seq};
    bool patient = true;
    while (flushed_seq_ < seq) {
      if (flush_started_seq_ >= seq) {
        mu_.Await(absl::Condition(&FlushedOrUncovered, &args));
        continue;
      }
      if (patient && flushes_in_flight_ >= kMaxFlushesInFlight) {
        patient = false;
        mu_.AwaitWithTimeout(absl::Condition(&FlushedCoveredOrStartable, &args), kFlushPatience);
        continue;
      }
      const int64_t target = commit_seq_;  // everything committed so far
      flush_started_seq_ = std::max(flush_started_seq_, target);
      ++flushes_in_flight_;
      mu_.Unlock();
      const absl::Status flushed = flusher_->Flush();
      flushes_.fetch_add(1, std::memory_order_relaxed);
      mu_.Lock();
      --flushes_in_flight_;
      if (!flushed.ok()) {
        // Whoever waited on this flush must try again for itself.
        flush_started_seq_ = flushed_seq_;
        return flushed;
      }
      flushed_seq_ = std::max(flushed_seq_, target);
    }
    return absl::OkStatus();
  }

  // Runs batch_ in one transaction; false when it was rolled back (every task then holds
  // the error). Called by the leader only, without mu_.
  bool RunBatch() {
    Store& store = *writer_;
    absl::Status s = store.Begin(/*immediate=*/true);
    if (s.ok()) s = store.RefreshBudgets();
    if (!s.ok()) return AbortBatch(s);
    // A lone operation needs no savepoint: the transaction is its own.
    const bool savepoints = batch_.size() > 1;
    for (Task* t : batch_) {
      store.ClearError();
      if (savepoints) {
        if (absl::Status sp = store.Savepoint(); !sp.ok()) return AbortBatch(sp);
      }
      t->status = t->fn(store);
      if (!store.sqlite_error()) {
        if (!savepoints) continue;
        if (absl::Status r = store.ReleaseSavepoint(); !r.ok()) return AbortBatch(r);
        continue;
      }
      if (!savepoints) return AbortBatch(t->status);
      // This operation hit an SQLite error: undo it alone, unless SQLite already rolled the
      // whole transaction back (I/O errors, a full disk), in which case the batch is lost.
      if (!store.conn().InTransaction()) return AbortBatch(t->status);
      if (absl::Status r = store.RollbackToSavepoint(); !r.ok()) return AbortBatch(r);
    }
    if (absl::Status c = store.Commit(); !c.ok()) return AbortBatch(c);
    transactions_.fetch_add(1, std::memory_order_relaxed);
    operations_.fetch_add(static_cast<int64_t>(batch_.size()), std::memory_order_relaxed);
    return true;
  }

  // Every operation of the batch fails: none of it was committed. Returns false.
  bool AbortBatch(const absl::Status& cause) {
    writer_->Rollback();
    writer_->InvalidateBudgets();  // a rolled-back budget change may be in the cache
    failed_transactions_.fetch_add(1, std::memory_order_relaxed);
    const absl::Status status(
        cause.code(), Cat(cause.message(), " (the whole group-commit transaction of ",
                          batch_.size(), " operation(s) was rolled back; nothing was recorded)"));
    for (Task* t : batch_) t->status = status;
    return false;
  }

  // Runs `fn` in a read transaction on an idle reader connection (WAL readers never block
  // the writer, and a long ScanOperations never stalls admission).
  absl::Status Read(absl::FunctionRef<absl::Status(Store&)> fn) {
    std::unique_ptr<Store> reader;
    {
      absl::MutexLock lock(&readers_mu_);
      if (!idle_readers_.empty()) {
        reader = std::move(idle_readers_.back());
        idle_readers_.pop_back();
      }
    }
    if (reader == nullptr) {
      absl::StatusOr<std::unique_ptr<Connection>> conn =
          Connection::Open(options_.path, /*create=*/false, options_.busy_timeout_ms);
      if (!conn.ok()) return conn.status();
      if (absl::Status s = sqlite_internal::Configure(**conn); !s.ok()) return s;
      absl::StatusOr<std::unique_ptr<Store>> store = Store::Create(*std::move(conn), clock_);
      if (!store.ok()) return store.status();
      reader = *std::move(store);
    }
    absl::Status s = reader->Begin(/*immediate=*/false);
    if (s.ok()) s = reader->RefreshBudgets();
    if (s.ok()) s = fn(*reader);
    if (s.ok()) {
      s = reader->Commit();
    } else {
      reader->Rollback();
    }
    absl::MutexLock lock(&readers_mu_);
    if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(reader));
    return s;
  }

  const SqliteLedgerOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<WalFlusher> flusher_;  // null with synchronous=normal

  mutable absl::Mutex mu_;
  std::vector<Task*> queue_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  int64_t in_batch_ ABSL_GUARDED_BY(mu_) = 0;  // operations of the batch being run
  // Write transactions are numbered; a flush that starts after commit n makes 1..n durable.
  int64_t commit_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t flush_started_seq_ ABSL_GUARDED_BY(mu_) = 0;  // target of the latest flush begun
  int64_t flushed_seq_ ABSL_GUARDED_BY(mu_) = 0;        // all commits up to it are durable
  int flushes_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Used only by the current leader (leading_ hands them over under mu_).
  std::unique_ptr<Store> writer_;
  std::vector<Task*> batch_;

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<Store>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);

  std::atomic<int64_t> transactions_{0};
  std::atomic<int64_t> operations_{0};
  std::atomic<int64_t> failed_transactions_{0};
  std::atomic<int64_t> flushes_{0};
};

absl::StatusOr<int64_t> ParseNonNegative(std::string_view url, std::string_view key,
                                         std::string_view value) {
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || out < 0) {
    return absl::InvalidArgumentError(
        Cat("ledger URL \"", url, "\": ", key, "=", value, " is not a non-negative integer"));
  }
  return out;
}

}  // namespace

absl::StatusOr<SqliteLedgerOptions> ParseSqliteLedgerUrl(std::string_view url,
                                                         const LedgerOpenOptions& open) {
  constexpr std::string_view kPrefix = "sqlite://";
  if (!url.starts_with(kPrefix)) {
    return absl::InvalidArgumentError(
        Cat("ledger URL \"", url, "\" is not a sqlite:// URL; use sqlite://PATH"));
  }
  std::string_view rest = url.substr(kPrefix.size());
  std::string_view params;
  if (const size_t question = rest.find('?'); question != std::string_view::npos) {
    params = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  SqliteLedgerOptions options;
  options.path = std::string(rest);
  options.clock = open.clock;
  options.create_if_missing = open.create_if_missing;
  options.batched_writes = open.batched_writes;
  if (options.path.empty()) {
    return absl::InvalidArgumentError(
        Cat("ledger URL \"", url,
            "\" has no path; use sqlite://genops.db (relative) or sqlite:///abs/path/ledger.db"));
  }
  while (!params.empty()) {
    const size_t amp = params.find('&');
    const std::string_view param = params.substr(0, amp);
    params = amp == std::string_view::npos ? std::string_view() : params.substr(amp + 1);
    if (param.empty()) continue;
    const size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (key == "synchronous") {
      if (value == "full" || value == "FULL") {
        options.synchronous_full = true;
      } else if (value == "normal" || value == "NORMAL") {
        options.synchronous_full = false;
      } else {
        return absl::InvalidArgumentError(Cat("ledger URL \"", url, "\": synchronous=", value,
                                              " is not supported; use full or normal"));
      }
    } else if (key == "busy_timeout_ms") {
      absl::StatusOr<int64_t> ms = ParseNonNegative(url, key, value);
      if (!ms.ok()) return ms.status();
      options.busy_timeout_ms = *ms;
    } else if (key == "page_size") {
      absl::StatusOr<int64_t> bytes = ParseNonNegative(url, key, value);
      if (!bytes.ok()) return bytes.status();
      if (!sqlite_internal::IsValidPageSize(*bytes)) {
        return absl::InvalidArgumentError(
            Cat("ledger URL \"", url, "\": page_size=", value,
                " is not supported; use a power of two from 512 to 65536 (bytes)"));
      }
      options.page_size = static_cast<int>(*bytes);
    } else {
      return absl::InvalidArgumentError(
          Cat("ledger URL \"", url, "\": unknown parameter \"", key,
              "\"; sqlite:// supports synchronous=full|normal, busy_timeout_ms=N and "
              "page_size=N"));
    }
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(std::string_view url,
                                                         const LedgerOpenOptions& options) {
  absl::StatusOr<SqliteLedgerOptions> parsed = ParseSqliteLedgerUrl(url, options);
  if (!parsed.ok()) return parsed.status();
  return OpenSqliteLedger(*parsed);
}

absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(const SqliteLedgerOptions& options) {
  absl::StatusOr<std::unique_ptr<SqliteLedger>> ledger = SqliteLedger::Open(options);
  if (!ledger.ok()) return ledger.status();
  return std::unique_ptr<Ledger>(*std::move(ledger));
}

absl::StatusOr<SqliteLedgerStats> GetSqliteLedgerStats(const Ledger& ledger) {
  const auto* sqlite = dynamic_cast<const SqliteLedger*>(&ledger);
  if (sqlite == nullptr) {
    return absl::InvalidArgumentError("GetSqliteLedgerStats: the ledger is not a sqlite one");
  }
  return sqlite->stats();
}

}  // namespace genops::ledger
