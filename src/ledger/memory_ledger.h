// MemoryLedger: the in-process Ledger (`memory://`).
//
// Everything lives in one process behind one mutex, so it is the reference implementation
// of the Ledger contract (tests/ledger/ledger_conformance.h) and the store used when no
// durable one is configured. It forgets everything when the process exits.
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
  size_t max_settled_ids = 100'000;  // bounds the SDK's memory (about 10 MB)
  int64_t settled_retention_nanos = 48 * 3600 * kNanosPerSecond;
};

// `clock` times the idempotency record's retention; null means Clock::Real(). It must
// outlive the ledger.
std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock);
std::unique_ptr<Ledger> NewMemoryLedger(const Clock* clock, const MemoryLedgerOptions& options);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_MEMORY_LEDGER_H_
