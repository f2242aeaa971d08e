// Budget leases: admission from memory, spend written behind, over any durable store.
//
// A per-call store makes every governed call pay for two store transactions on its critical
// path: the reservation before the call (a SQLite commit, a Redis or PostgreSQL round trip)
// and the durable settlement after it. A gateway fronting thousands of calls a second spends
// more on those than on proxying. With leases, one process reserves a *lease* in the store
// (an ordinary reservation, under an id of its own, of room for many calls of the same
// attribution) and admits calls against it in memory; their settlements are written to the
// store in batches by a background flusher.
//
// What stays true (the store's guarantees carry over):
//  - spent + reserved never exceeds a limit, across every process sharing the store: a call
//    is admitted only against room its lease holds in the store, and a lease's room is used
//    up by the cost its calls settle for, not only by their estimates. A call that no lease
//    can hold is reserved in the store under its own id, as without leases; near a limit
//    leases shrink (at most max_headroom_share of the room left, in whole calls) and then
//    stop, so the last calls before a limit are admitted one by one, exactly.
//  - Settled spend is never lost or counted twice: each call is charged to the store under
//    its own operation id (idempotent), in the same transaction that takes its cost off the
//    lease (ChargeItem::from_reservation), so the store never counts that room as both
//    reserved and spent; a lease is released only after every charge of its calls is in the
//    store. A charge the store refuses to take (unreachable) stays queued and is retried;
//    nothing is dropped.
//  - Only stores that charge from a reservation in one step can hold leases
//    (SupportsChargesFromReservations: sqlite:// and redis:// so far); the others are refused.
//  - Budget windows: a lease admits nothing after the end of the window it was reserved in.
//
// When a key's lease is half used, the flusher reserves the next one, so callers wait on the
// store only for a key's first lease, after a budget change, or when calls outrun the flusher.
// A fast key's leases are sized for a quarter of max_age of its calls, so that the next one
// is reserved well before it is needed even when a store commit is slow.
//
// What changes (why this is an option, `ledger.leases` in `genops serve`):
//  - Settle(), Charge() and Release() return once recorded here; the flusher makes them
//    durable within flush_interval (plus the store's commit). A crash of the process loses
//    what was recorded but not yet flushed, as a crash between a call's answer and its
//    settlement would without leases. Flush() and destruction write everything.
//  - Other processes see this process's room as reserved (the whole lease) and its spend
//    after each flush; near a limit they may be refused a little earlier than strictly
//    necessary (never later). A budget changed by another process is seen when the next
//    lease is reserved: within max_age.
//  - The budget statuses a local Reserve()/Settle() returns are those the store reported
//    when the lease was reserved, plus what this process has admitted and settled since.
//    ListBudgets() reads the store as it is (this process's spend after the next flush),
//    once per flush interval: calls within one share that read (the advisory policy level
//    lists budgets on every call); a flush round, a budget change made here and the end of
//    a listed window each make the next call read again. TotalSpent() flushes first.
//
// Thread safety: thread-safe. One background thread (the flusher).
#ifndef GENOPS_LEDGER_LEASE_LEDGER_H_
#define GENOPS_LEDGER_LEASE_LEDGER_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "genops/clock.h"
#include "src/ledger/ledger.h"

namespace genops::ledger {

struct BudgetLeaseOptions {
  // A lease holds room for at least this many calls the size of the one that opened it, or
  // for a key whose calls come faster, the room it used up in max_age / 4 at the pace its
  // last lease was used (growing at most fourfold from one lease to the next)...
  int calls_per_lease = 256;
  // ...but never more than this share of the room left in the tightest matching budget (as
  // the store last reported it). Below two calls' worth, calls are reserved one by one.
  double max_headroom_share = 0.1;
  // A lease admits no new call after this; its room is then released once its calls end.
  // Bounds how stale a budget change made by another process can be.
  absl::Duration max_age = absl::Seconds(1);
  // How often the flusher writes recorded settlements to the store.
  absl::Duration flush_interval = absl::Milliseconds(2);
  // Times leases (max_age, budget windows). Null means Clock::Real(); must outlive the ledger.
  const Clock* clock = nullptr;
};

// Checks the options (every message names the setting).
absl::Status ValidateBudgetLeaseOptions(const BudgetLeaseOptions& options);

// Wraps `store` (shared: other users of the store, such as the operations log, may keep
// it). Errors: invalid options.
absl::StatusOr<std::unique_ptr<Ledger>> WrapWithBudgetLeases(std::shared_ptr<Ledger> store,
                                                             const BudgetLeaseOptions& options);

// True when `ledger` came from WrapWithBudgetLeases(): its Settle/Charge/Release never wait
// on the store, and Reserve() waits only to reserve a lease or a call the leases cannot hold.
bool HasBudgetLeases(const Ledger& ledger);

// Counters of a leasing ledger, for tests, benchmarks and metrics.
struct BudgetLeaseStats {
  int64_t leases_opened = 0;      // every lease reserved, the prefetched ones included
  int64_t leases_prefetched = 0;  // reserved by the flusher before the current one ran out
  int64_t leases_released = 0;
  int64_t lease_refusals = 0;       // the store had no room for a lease of the size asked
  int64_t local_admissions = 0;     // calls admitted against a lease
  int64_t direct_reservations = 0;  // calls reserved in the store under their own id
  int64_t flushes = 0;              // flusher rounds that wrote something
  int64_t charges_written = 0;      // settlements and charges taken by the store
  int64_t store_errors = 0;         // writes the store failed (kept and retried)
  int64_t pending = 0;              // recorded, not yet in the store, right now
  int64_t keys = 0;                 // attribution keys tracked right now (those with a lease)
  int64_t budget_lists_shared = 0;  // ListBudgets answered from the list read for another call
};

// kInvalidArgument when `ledger` has no leases.
absl::StatusOr<BudgetLeaseStats> GetBudgetLeaseStats(const Ledger& ledger);

// Writes everything recorded so far to the store and releases the leases that are retired
// and idle; returns the first store error (what failed stays queued). `retire_leases`: every
// lease stops admitting first, so the store holds only the room of calls in flight after
// this (tests; shutdown does the same). kInvalidArgument when `ledger` has no leases.
absl::Status FlushBudgetLeases(Ledger& ledger, bool retire_leases = false);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_LEASE_LEDGER_H_
