// The database file of the sqlite ledger store: its schema, the checks made before the
// file is touched, and the connection settings.
//
// Opening never modifies a file that is not a usable genops ledger: what is at the path is
// inspected first (missing, not a regular file, not SQLite), then read (damaged, another
// program's database, a newer schema version, quick_check for small files), and only then
// is the file switched to WAL mode and, when new, given its schema.
//
// Thread safety: functions are thread-compatible (each works on the connection it is given);
// WalFlusher is thread-safe.
#ifndef GENOPS_LEDGER_SQLITE_SCHEMA_H_
#define GENOPS_LEDGER_SQLITE_SCHEMA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/ledger/sqlite_db.h"

namespace genops::ledger::sqlite_internal {

// The tables (src/ledger/sqlite_schema.cc has the full definition); version 1:
//   meta(key, value)                 schema_version, budgets_version, next_generation
//   budgets(name, generation, period, limit_nanos, scope, alert_thresholds)
//   budget_windows(generation, window_start, window_end, spent, reserved)
//                                    counters per budget generation and window; the row of
//                                    generation 0 holds the total of all settled spend
//   reservations(operation_id, amount, expires_at, attribution, holds)
//   settled(operation_id, reserved, actual, budgets, recorded_at)    the idempotency record
//   operations(operation_id, start_unix_nanos, ... every OperationRecord field ...)
// added by version 2:
//   virtual_keys(id, secret_sha256 UNIQUE, display_prefix, attribution, budget_name,
//                description, created_unix_nanos, revoked_unix_nanos)   gateway keys
//
// Versions: a file of an older version is upgraded in place when opened (one transaction
// per open, under the write lock, so concurrent openers upgrade it once); its data is kept.
// A file of a newer version is refused and left untouched.
inline constexpr int64_t kSchemaVersion = 2;

// Page sizes of a new ledger file; an existing file keeps the one it was created with.
// A transaction writes every page it dirtied to the WAL, whole.
// - One call at a time (reserve, then settle, each its own small transaction): a
//   settlement touches about five pages (counters, reservation, idempotency record and its
//   index), so small pages write less; 1 KiB cut the CPU per reserve+settle pair by a third
//   against 4 KiB (bench/ledger_sqlite_benchmark.cc, sqlite_full/reserve_settle). Rows that
//   might outgrow them (the operations log) live in rowid tables; a reservation with very
//   many tags spills to overflow pages, which costs only speed.
// - Batches (budget leases: 64+ settlements and their operations-log rows per transaction,
//   appended at the right edge of each B-tree): larger pages mean fewer pages, frames and
//   b-tree splits for the same rows; 4 KiB cut the CPU per leased call by 13-18%
//   (sqlite_full/lease_batch) and the gateway's CPU per request by ~2 us (docs/ledger.md).
inline constexpr int kCallPageSize = 1024;
inline constexpr int kBatchPageSize = 4096;

// True for the page sizes SQLite supports: powers of two from 512 to 65536.
bool IsValidPageSize(int64_t bytes);

// wal_autocheckpoint for a file of this page size: the WAL is checkpointed at 4 MiB
// whatever the page size.
int64_t WalCheckpointPages(int64_t page_size);

// Opens (creating it when allowed) the ledger database at `path`, checked and ready: WAL
// mode, schema present, connection configured (Configure). A file created here gets
// `new_file_page_size` (IsValidPageSize, else kInvalidArgument); with `page_size_required`
// (the user asked for that size), an existing file of another page size is refused
// (kFailedPrecondition) and left untouched. Errors name the path, say what is wrong and
// what to do.
absl::StatusOr<std::unique_ptr<Connection>> OpenLedgerDatabase(const std::string& path,
                                                               bool create_if_missing,
                                                               int64_t busy_timeout_ms,
                                                               int new_file_page_size,
                                                               bool page_size_required);

// Settings every connection of the store uses (see the definition for why); reads the
// file's page size for them.
absl::Status Configure(Connection& conn);

// Flushes the WAL file to stable storage through a descriptor of its own. fdatasync() on any
// descriptor of a file flushes every write made to it, whoever made it, so one flush that
// starts after a COMMIT returned makes that transaction (and every earlier one) durable,
// while the next group-commit transaction already runs. The WAL file is never deleted
// while the store holds its connections (SQLite removes it only when the last connection to
// the database closes), so the descriptor stays valid.
//
// Thread safety: thread-safe (concurrent flushes are fine; the kernel merges them).
class WalFlusher {
 public:
  // Opens the WAL of the database at `db_path` (it must exist: open the database first).
  // `page_size` is the database's (it sizes Preallocate).
  static absl::StatusOr<std::unique_ptr<WalFlusher>> Open(const std::string& db_path,
                                                          int64_t page_size);
  WalFlusher(const WalFlusher&) = delete;
  WalFlusher& operator=(const WalFlusher&) = delete;
  ~WalFlusher();

  // Returns once everything written to the WAL before the call is on stable storage.
  absl::Status Flush();

  // Best effort: extends the WAL with zeros to the size it reaches between checkpoints, so
  // that commits overwrite blocks already allocated and a flush never waits for a file
  // system journal commit (an appending fdatasync() costs ~3.5 ms here, an overwriting one
  // ~0.1 ms). SQLite ignores bytes past the last valid frame. The caller must hold the
  // database's write lock (inside BEGIN IMMEDIATE), so no other process appends meanwhile.
  void Preallocate();

 private:
  WalFlusher(int fd, std::string path, int64_t page_size)
      : fd_(fd), path_(std::move(path)), page_size_(page_size) {}
  const int fd_;
  const std::string path_;
  const int64_t page_size_;
};

}  // namespace genops::ledger::sqlite_internal

#endif  // GENOPS_LEDGER_SQLITE_SCHEMA_H_
