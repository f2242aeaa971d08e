// OpenLedger: the store named by a ledger URL.
//
//   memory://                          in-process (forgets everything on exit)
//   sqlite://PATH                      embedded, durable; relative paths from the working dir
//   redis://HOST:PORT/DB               shared by many replicas (server-side scripts)
//   postgresql://USER@HOST:PORT/DB     shared by many replicas (transactions)
//
// Each store documents the query parameters it accepts (e.g. `?timeout_ms=500`); an unknown
// parameter or scheme is an error that names it. Opening validates the URL and connects, so
// a typo or an unreachable store is reported at start-up, not at the first operation.
//
// Thread safety: OpenLedger() is thread-safe; see Ledger for the store.
#ifndef GENOPS_LEDGER_LEDGER_FACTORY_H_
#define GENOPS_LEDGER_LEDGER_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "src/ledger/ledger.h"

namespace genops::ledger {

struct LedgerOpenOptions {
  // Times idempotency retention and housekeeping; null means Clock::Real(). Must outlive
  // the ledger.
  const Clock* clock = nullptr;
  // sqlite: create the database file when it does not exist. Commands that only read
  // (`genops report`) turn this off so a mistyped path is an error, not an empty report.
  bool create_if_missing = true;
  // Default network timeout for redis/postgresql when the URL does not set `timeout_ms`.
  int64_t timeout_ms = 2000;
  // The ledger will be written mostly in batches (budget leases: ChargeBatch and
  // AppendOperations of many calls at once) rather than one reserve+settle per call. A new
  // sqlite file then gets the page size that suits batches (src/ledger/sqlite_schema.h).
  bool batched_writes = false;
};

absl::StatusOr<std::unique_ptr<Ledger>> OpenLedger(std::string_view url,
                                                   const LedgerOpenOptions& options);

// The scheme of a ledger URL ("memory", "sqlite", "redis", "postgresql"), or an error that
// lists the supported ones. "postgres://" is accepted as "postgresql".
absl::StatusOr<std::string_view> LedgerScheme(std::string_view url);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_LEDGER_FACTORY_H_
