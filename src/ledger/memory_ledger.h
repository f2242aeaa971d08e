// MemoryLedger: the in-process Ledger (`memory://`).
//
// Everything lives in one process, so it is the reference implementation of the Ledger
// contract (tests/ledger/ledger_conformance.h) and the store used when no durable one is
// configured (the SDK calls it on every operation). It forgets everything when the process
// exits.
//
// Concurrency: the state kept per operation id (reservations, the idempotency record) is
// split into 64 stripes by a hash of the id, each behind its own lock; the budget counters
// sit behind one more lock that every admission shares, held only for the check-and-add over
// the matching budgets (matching, windows and statuses are computed outside it, from an
// immutable snapshot of the budgets), and sharing its cache line with the current window's
// counters of the first three budgets. So concurrent callers mostly take different locks,
// and the shared one briefly, which also keeps a caller preempted while holding it rare
// (with many more threads than cores, that is what made a single mutex slow: 32 callers on
// 2 cores made 0.84M pairs/s with it, against 2.7M for one caller). The locks spin, then
// yield, then sleep (SpinLock in memory_ledger.cc). Lock order: budget changes (admin), then
// stripes in index order, then the counters. Budget changes swap the snapshot in every
// stripe at once, so the next call of any thread sees them.
//
// Semantics beyond src/ledger/ledger.h, shared by every store:
//  - Budget counters accumulate from the moment a budget exists: spend recorded before a
//    budget is created does not count against it. Updating a budget's limit, scope or
//    thresholds keeps its counters; changing its period restarts them.
//  - Spend is counted into the window that contains the settle/charge time; a reservation
//    counts against the window it was made in until it is settled, released or expired.
//  - A refused Reserve() changes nothing and is not remembered: repeating it re-evaluates.
//  - A released or expired reservation is forgotten: Settle() of it is kNotFound (the
//    caller then records the spend with Charge()).
//  - expires_at_unix_nanos == 0 means the reservation never expires.
//
// Idempotency record: the ids of settled/charged operations are remembered so a repeated
// Settle()/Charge()/Reserve() returns the first outcome. The record is bounded: an id is
// kept for `settled_retention_nanos` (48 h) after it was recorded, unless more than
// `max_settled_ids` (100,000) ids arrive within that time, in which case the oldest are
// forgotten first. Retries arrive seconds to minutes after the original, far inside both.
// (Both bounds are exact across stripes: ids are numbered in one ledger-wide arrival order.
// A forgotten id's memory is reclaimed by its stripe's next settlement or by
// ExpireReservations().)
//
// Example:
//   std::unique_ptr<genops::ledger::Ledger> ledger =
//       genops::ledger::NewMemoryLedger(genops::Clock::Real());
//   ledger->UpsertBudget({.name = "daily", .limit = genops::Money::FromNanos(5e9)});
//
// Thread safety: thread-safe.
#ifndef GENOPS_LEDGER_MEMORY_LEDGER_H_
#define GENOPS_LEDGER_MEMORY_LEDGER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "genops/clock.h"
#include "src/ledger/ledger.h"

namespace genops::ledger {

struct MemoryLedgerOptions {
  size_t max_settled_ids = 100'000;  // bounds the SDK's memory (about 17 MB when full)
  int64_t settled_retention_nanos = 48 * 3600 * kNanosPerSecond;
};

// `clock` times the idempotency record's retention; null means Clock::Real(). It must
// outlive the ledger.
std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock);
std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock, const MemoryLedgerOptions& options);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_MEMORY_LEDGER_H_
