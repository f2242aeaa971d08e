// Ledger: where budgets, reservations and settled spend live.
//
// Every store (memory here; SQLite, Redis, PostgreSQL behind the same interface) gives the
// same guarantees, which the conformance suite in tests/ledger checks:
//  - Reserve() is all-or-nothing across every budget whose scope matches the call, and
//    atomic with respect to every other caller sharing the store: spent + reserved never
//    exceeds a limit.
//  - Every mutation is idempotent by operation id: a repeated Reserve/Settle/Release/Charge
//    with the same id changes nothing and returns the first outcome.
//  - Settle() always records the actual cost, even above the reservation (the money was
//    spent; losing it would be worse than a budget overrun the estimate did not foresee).
//  - A reservation older than its expiry is released by ExpireReservations().
// Amounts are integers of nano-USD (genops::Money); windows are UTC (BudgetWindow).
//
// Thread safety: implementations are thread-safe.
#ifndef GENOPS_LEDGER_LEDGER_H_
#define GENOPS_LEDGER_LEDGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/money.h"

namespace genops::ledger {

enum class BudgetPeriod { kDay, kWeek, kMonth, kTotal };
std::string_view BudgetPeriodName(BudgetPeriod period);  // "day", "week", "month", "total"
absl::StatusOr<BudgetPeriod> ParseBudgetPeriod(std::string_view name);

// [start, end) of the window containing `unix_nanos`, in UTC. Weeks start on Monday.
// kTotal is [INT64_MIN, INT64_MAX).
struct BudgetWindow {
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  static BudgetWindow Containing(BudgetPeriod period, int64_t unix_nanos);
};

// A scope matches a call when every (dimension, value) pair equals the call's attribution.
// The empty scope is global. Dimensions are those of Attribution::Dimension().
using Scope = std::map<std::string, std::string>;
bool ScopeMatches(const Scope& scope, const Attribution& attribution);
std::string ScopeToString(const Scope& scope);  // "team=a,customer_id=b" or "global"

struct BudgetSpec {
  std::string name;
  Scope scope;
  Money limit;
  BudgetPeriod period = BudgetPeriod::kDay;
  std::vector<double> alert_thresholds = {0.5, 0.8, 1.0};  // fractions of the limit
};

// A snapshot of one budget: its spec and its counters in the window containing the time asked.
//
// `spec` is shared and immutable. A ledger keeps one `shared_ptr<const BudgetSpec>` per budget
// and hands the same pointer to every status it returns; UpsertBudget() installs a new spec
// instead of modifying the old one, so a status taken before an update keeps the spec it was
// taken with. This is what keeps Reserve()/Settle() cheap on the SDK's hot path: a status
// costs a reference count, not a copy of the name, scope map and thresholds. Every status a
// ledger returns has a non-null spec; a default-constructed one has none (limit() is zero).
struct BudgetStatus {
  std::shared_ptr<const BudgetSpec> spec;
  BudgetWindow window;
  Money spent;     // settled in the current window
  Money reserved;  // held by reservations in the current window
  Money limit() const { return spec != nullptr ? spec->limit : Money(); }
  Money remaining() const { return limit() - spent - reserved; }
  double utilization() const;  // (spent + reserved) / limit; 0 when limit is 0
};

// The budgets matching one call. Inline storage for two: a call usually matches one or two
// budgets (daily, plus a team's or customer's), so Reserve()/Settle() allocate nothing for it.
using BudgetStatusList = absl::InlinedVector<BudgetStatus, 2>;

struct ReserveRequest {
  std::string operation_id;
  Attribution attribution;
  Money amount;
  int64_t now_unix_nanos = 0;
  int64_t expires_at_unix_nanos = 0;  // ExpireReservations() releases it after this
};

struct ReserveOutcome {
  bool admitted = false;
  std::string refused_by;    // the first budget lacking room
  BudgetStatusList budgets;  // matching budgets, after the reservation
};

struct SettleOutcome {
  Money reserved;                // what had been held (zero for a direct charge)
  Money actual;                  // what was recorded
  BudgetStatusList budgets;      // matching budgets, after settlement
  bool already_settled = false;  // an idempotent repeat
};

class Ledger {
 public:
  virtual ~Ledger() = default;

  virtual absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) = 0;
  // Converts the reservation into spend of `actual`. An unknown id is kNotFound.
  virtual absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                               int64_t now_unix_nanos) = 0;
  // Records spend that had no reservation (OTLP input, audit-only mode). Idempotent by id.
  virtual absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                               const Attribution& attribution, Money actual,
                                               int64_t now_unix_nanos) = 0;
  // Drops a reservation without spend (the call failed before costing anything).
  virtual absl::Status Release(std::string_view operation_id) = 0;
  // Releases reservations whose expiry is at or before `now`; returns how many.
  virtual absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) = 0;

  virtual absl::Status UpsertBudget(const BudgetSpec& spec) = 0;
  virtual absl::Status DeleteBudget(std::string_view name) = 0;
  virtual absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) = 0;

  // Sum of all settled spend ever recorded (for reconciliation checks).
  virtual absl::StatusOr<Money> TotalSpent() = 0;
};

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_LEDGER_H_
