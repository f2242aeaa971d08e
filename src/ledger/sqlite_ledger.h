// SqliteLedger: the embedded, durable Ledger store (`sqlite://PATH`).
//
// Everything lives in one SQLite database file: budgets, their window counters,
// reservations, the idempotency record of settled ids and the operations log. Several
// processes may open the same file; they see the same budgets and counters, and every
// mutation runs in a `BEGIN IMMEDIATE` transaction, so admission stays atomic across them
// (spent + reserved never exceeds a limit). The semantics are those of the memory store
// (src/ledger/memory_ledger.h), which the conformance suite checks.
//
// URL:
//   sqlite://relative/path.db        relative to the working directory
//   sqlite:///abs/path/ledger.db     absolute
// Query parameters (anything else is an error that names it):
//   synchronous=full|normal  (default full) full: a Settle/Charge/budget change/operations-
//                            log append that returned OK survives power loss. normal: it
//                            survives a crash of the process but the last transactions may
//                            be lost on power loss (never corruption); several times faster
//                            on disks with slow flushes.
//   busy_timeout_ms=N        (default 5000) how long to wait for another process's write
//                            lock before failing with kUnavailable.
//   page_size=N              the page size of a file created here (512..65536, a power of
//                            two); an existing file of another page size is refused (the
//                            size is fixed when the file is created). Without it a new file
//                            gets 1024, or 4096 when the ledger is opened for batched
//                            writes (budget leases), and an existing one keeps its own; see
//                            kCallPageSize in src/ledger/sqlite_schema.h for why.
//
// Opening checks the file before touching it: a missing file with create_if_missing=false
// is kNotFound; a file that is not SQLite, is corrupt, is some other program's database or
// carries a newer schema version is an error naming the path, the problem and the fix, and
// the file is left unmodified. Small databases (up to 64 MiB) also get `PRAGMA quick_check`.
//
// Durability and speed: WAL journal mode, 1 KiB pages (4 KiB for batched writes). Concurrent
// callers in one process share transactions (group commit): a caller that finds nobody leading
// becomes the leader, runs the queued operations of every caller in one `BEGIN IMMEDIATE`
// transaction, each in its own savepoint (one operation's SQLite error does not undo the others;
// each sees the effects of those before it), commits once, wakes them, and goes on with the next
// batch while callers are queued. If the transaction cannot begin or commit, every operation of the
// batch gets the error: nothing is reported done that was not committed. A COMMIT does not wait for
// the disk (synchronous=NORMAL underneath); with synchronous=full, the caller of a durable
// operation (Settle, Charge, budget changes, operations-log appends and purges) then returns only
// after an fdatasync() of the WAL that started after its commit (one flush serves every caller
// committed before it; flushes overlap the next batches). Reserve, Release and expiry return at
// commit: a reservation lost to a power loss is harmless (every process using the file died with
// the machine, and an unsettled reservation ends released either way), and the next flush covers
// it, the WAL being written in order.
//
// Budgets are cached per connection and keyed by a version row that every budget change
// bumps; the version is read inside each transaction, so a change made by another process
// is seen by the very next operation. A budget's counters live in per-window rows keyed by
// a generation number that changes when the period changes, like the memory store.
//
// Virtual keys: table virtual_keys, unique by id (primary key) and by secret hash (a UNIQUE
// index, which also serves FindVirtualKey). Creating and revoking are durable writes of the
// group-commit queue; lookups and lists run on reader connections.
//
// Schema: versioned by the `meta` table (schema_version, now 2). A file of an older version
// is upgraded in place, data kept, the first time a newer genops opens it (see
// src/ledger/sqlite_schema.h); one of a newer version is refused. Amounts are INTEGER
// nano-USD in STRICT tables, so SQLite can never turn them into REAL. Tags (and budget
// scopes, key attributions) are stored as BLOBs of length-prefixed key/value pairs so that
// any bytes round-trip exactly.
//
// Housekeeping: ExpireReservations() releases expired reservations (of any process, the
// dead included), forgets ended windows that hold nothing, and deletes idempotency ids
// recorded more than 48 h ago, in bounded chunks so callers are never stalled long.
// PurgeOperations() deletes in chunks too. WAL checkpoints run in the writer after a commit
// that takes the WAL past 4000 pages (4 MiB of 1 KiB pages), a few milliseconds every few
// hundred transactions.
//
// Example:
//   auto ledger = genops::ledger::OpenLedger("sqlite:///var/lib/genops/ledger.db", {});
//
// Thread safety: thread-safe. Safe to share one file between processes.
#ifndef GENOPS_LEDGER_SQLITE_LEDGER_H_
#define GENOPS_LEDGER_SQLITE_LEDGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"

namespace genops::ledger {

struct SqliteLedgerOptions {
  std::string path;
  bool create_if_missing = true;
  // Times the idempotency record's retention; null means Clock::Real(). Must outlive the
  // ledger.
  const Clock* clock = nullptr;
  bool synchronous_full = true;  // synchronous=full (true) or normal (false)
  int64_t busy_timeout_ms = 5000;
  // The page size of a file created by this open, required of an existing file; 0 picks by
  // batched_writes for a new file and takes an existing file's.
  int page_size = 0;
  // Written in batches (LedgerOpenOptions::batched_writes): a new file gets 4 KiB pages.
  bool batched_writes = false;
  // How long a settled id is kept for idempotency (at least 48 h in production).
  int64_t settled_retention_nanos = 48 * 3600 * kNanosPerSecond;
  // Most operations one group-commit transaction runs.
  int max_batch_operations = 512;
  // Testing only: called before each COMMIT of a write transaction; returning true makes
  // the COMMIT fail (SQLite's commit hook turns it into a rollback), as an I/O error would.
  std::function<bool()> fail_commit_for_testing;
};

// Parses a `sqlite://` URL (see the top of this file) into options; `open` supplies the
// clock and create_if_missing.
absl::StatusOr<SqliteLedgerOptions> ParseSqliteLedgerUrl(std::string_view url,
                                                         const LedgerOpenOptions& open);

// Opens the store named by `url` (scheme checked by the caller).
absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(std::string_view url,
                                                         const LedgerOpenOptions& options);
absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(const SqliteLedgerOptions& options);

// Counters of one SqliteLedger, for tests and benchmarks.
struct SqliteLedgerStats {
  int64_t transactions = 0;         // write transactions committed
  int64_t operations = 0;           // operations run in committed transactions
  int64_t failed_transactions = 0;  // rolled back as a whole (failed BEGIN or COMMIT)
  int64_t flushes = 0;              // fdatasync() calls on the WAL
  int64_t queued = 0;               // operations submitted and not yet committed right now
};

// The stats of `ledger`; kInvalidArgument when it is not a SqliteLedger.
absl::StatusOr<SqliteLedgerStats> GetSqliteLedgerStats(const Ledger& ledger);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_SQLITE_LEDGER_H_
