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
//  - The operations log (AppendOperations/ScanOperations) keeps one OperationRecord per
//    operation id for reports; appending an id that is already there changes nothing.
//  - Gateway virtual keys (VirtualKey) are unique by id and by secret hash, even when
//    replicas create keys at the same time; a revoked key stays stored, marked revoked.
// Amounts are integers of nano-USD (genops::Money); windows are UTC (BudgetWindow).
//
// Thread safety: implementations are thread-safe.
#ifndef GENOPS_LEDGER_LEDGER_H_
#define GENOPS_LEDGER_LEDGER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "genops/attribution.h"
#include "genops/money.h"
#include "genops/operation_record.h"

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

// A gateway virtual key (DESIGN.md §5): a credential the gateway accepts instead of a
// provider key, carrying the attribution (and, through a budget scoped to its id, the limit)
// of whoever holds it. Keys live in the ledger so every gateway replica sees the same ones.
//
// Only a hash of the secret is stored. Keys are 256-bit random strings, so a plain SHA-256
// is a safe one-way hash: no salt or slow KDF is needed when nothing can be guessed (those
// defend low-entropy passwords against dictionary attacks). A stolen ledger therefore yields
// no usable key, and a lookup is one indexed read by hash.
struct VirtualKey {
  std::string id;              // "vk_" + 16 lowercase hex; public, used to list/revoke
  std::string secret_sha256;   // lowercase hex SHA-256 of the whole key text "gk_..."
  std::string display_prefix;  // first 11 chars of the key ("gk_" + 8), for lists only
  Attribution attribution;     // team, project, customer_id, ... and tags
  std::string budget_name;     // empty when the key has no budget of its own
  std::string description;
  int64_t created_unix_nanos = 0;
  int64_t revoked_unix_nanos = 0;  // 0 while active

  bool revoked() const { return revoked_unix_nanos != 0; }
  bool operator==(const VirtualKey&) const = default;
};

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

// One spend of ChargeBatch(): what Charge() takes, by reference (the caller keeps the id and
// attribution alive for the call).
struct ChargeItem {
  std::string_view operation_id;
  const Attribution* attribution = nullptr;  // required
  Money actual;
  int64_t now_unix_nanos = 0;
  // When set (stores with SupportsChargesFromReservations() only): the spend was admitted
  // from the room of this reservation (a budget lease, src/ledger/lease_ledger.h), and the
  // same transaction takes `actual` off it (down to zero; nothing when it is gone), so the
  // room is never counted as both held and spent.
  std::string_view from_reservation;
};

struct SettleOutcome {
  Money reserved;                // what had been held (zero for a direct charge)
  Money actual;                  // what was recorded
  BudgetStatusList budgets;      // matching budgets, after settlement
  bool already_settled = false;  // an idempotent repeat
};

// What the ledger remembers of one operation id (LookupOperation). A released or expired
// reservation is forgotten, and so is a settled id once the store's idempotency record
// lets it go (48 hours at least).
enum class OperationState { kReserved, kSettled };
std::string_view OperationStateName(OperationState state);  // "reserved", "settled"

struct OperationEntry {
  OperationState state = OperationState::kReserved;
  Money reserved;  // what is (kReserved) or was (kSettled) held; zero for a direct charge
  Money actual;    // what was recorded (kSettled only)
};

// Which records ScanOperations() visits: start time in [since, until), newest first (ties
// by operation id, descending), at most `limit` of them (0 = no limit).
struct OperationQuery {
  int64_t since_unix_nanos = std::numeric_limits<int64_t>::min();
  int64_t until_unix_nanos = std::numeric_limits<int64_t>::max();
  size_t limit = 0;
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
  // Charge() of every item, in order: outcome i is item i's, exactly as Charge() would have
  // returned it (each item is idempotent by its own id; an item that fails validation fails
  // alone). What batching buys is the store's: SQLite commits the whole batch in one
  // transaction and, with synchronous=full, waits for one disk flush instead of one per item.
  // A store error (the database unreachable, a failed commit) may fail every item of the
  // batch, never a part of one item. The default implementation calls Charge() per item.
  virtual std::vector<absl::StatusOr<SettleOutcome>> ChargeBatch(
      absl::Span<const ChargeItem> items);
  // True when ChargeBatch() honours ChargeItem::from_reservation. A store that does not must
  // refuse such items (the default ChargeBatch does, with kUnimplemented).
  virtual bool SupportsChargesFromReservations() const { return false; }
  // Drops a reservation without spend (the call failed before costing anything).
  virtual absl::Status Release(std::string_view operation_id) = 0;
  // Releases reservations whose expiry is at or before `now`; returns how many.
  virtual absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) = 0;

  virtual absl::Status UpsertBudget(const BudgetSpec& spec) = 0;
  virtual absl::Status DeleteBudget(std::string_view name) = 0;
  virtual absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) = 0;

  // --- Gateway virtual keys -------------------------------------------------------------
  // Stores a new key. kAlreadyExists when the id or the hash is already stored; nothing is
  // written then. A key is created active (revoked_unix_nanos must be 0).
  virtual absl::Status CreateVirtualKey(const VirtualKey& key) = 0;
  // By hash; nullopt when unknown (a revoked key IS returned, with revoked_unix_nanos set, so
  // the gateway can say "revoked" rather than "unknown").
  virtual absl::StatusOr<std::optional<VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) = 0;
  // Every key, revoked ones included, oldest first (by created_unix_nanos, then id).
  virtual absl::StatusOr<std::vector<VirtualKey>> ListVirtualKeys() = 0;
  // kNotFound for an unknown id; revoking a revoked key keeps the first time and is OK.
  virtual absl::Status RevokeVirtualKey(std::string_view id, int64_t now_unix_nanos) = 0;

  // Sum of all settled spend ever recorded (for reconciliation checks).
  virtual absl::StatusOr<Money> TotalSpent() = 0;

  // The state of one operation id, or nullopt when the ledger holds nothing for it.
  virtual absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) = 0;

  // --- The operations log --------------------------------------------------------------
  // Appends finished operations, all or nothing. A record whose operation_id is already in
  // the log is skipped (a retried batch never duplicates a row).
  virtual absl::Status AppendOperations(absl::Span<const OperationRecord> records) = 0;
  // Calls `visit` for each record matching `query`, in the query's order, until it returns
  // false. `visit` must not call back into the ledger.
  virtual absl::Status ScanOperations(const OperationQuery& query,
                                      const std::function<bool(const OperationRecord&)>& visit) = 0;
  // Deletes records that started before `before_unix_nanos` (retention); returns how many.
  virtual absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) = 0;
};

// Input checks every store applies before touching anything, with the same messages:
// a non-empty operation id, a non-negative amount ("reservation", "settlement", "charge"),
// and a budget spec with a name, a non-negative limit, known scope dimensions and alert
// thresholds in (0, 10].
absl::Status ValidateOperationId(std::string_view operation_id);
absl::Status ValidateAmount(std::string_view what, std::string_view operation_id, Money amount);
absl::Status ValidateBudgetSpec(const BudgetSpec& spec);

// Virtual-key checks, shared by every store the same way: an id is "vk_" + 16 lowercase hex
// digits; a hash is 64 lowercase hex digits; a new key has a valid id and hash, a display
// prefix of "gk_" + 8 letters or digits, a creation time > 0 and no revocation time.
absl::Status ValidateVirtualKeyId(std::string_view id);
absl::Status ValidateVirtualKeyHash(std::string_view secret_sha256);
absl::Status ValidateNewVirtualKey(const VirtualKey& key);
// A valid id and a revocation time > 0 (0 would mean "active").
absl::Status ValidateVirtualKeyRevocation(std::string_view id, int64_t now_unix_nanos);
// The errors every store returns for a duplicate (`id_taken`: the id, else the hash) and for
// an unknown id.
absl::Status VirtualKeyExistsError(std::string_view id, bool id_taken);
absl::Status VirtualKeyNotFoundError(std::string_view id);

// The records matching `query`, collected into a vector.
absl::StatusOr<std::vector<OperationRecord>> QueryOperations(Ledger& ledger,
                                                             const OperationQuery& query);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_LEDGER_H_
