#include "src/ledger/sqlite_schema.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/core/text.h"
#include "src/ledger/sqlite_db.h"

namespace genops::ledger::sqlite_internal {
namespace {

constexpr int64_t kApplicationId = 0x47454e4f;       // "GENO" in the file header
constexpr int64_t kQuickCheckMaxBytes = 64LL << 20;  // quick_check on open up to this
// The WAL is checkpointed into the database when it reaches this size (SQLite counts it in
// pages: kWalCheckpointBytes / the file's page size).
constexpr int64_t kWalCheckpointBytes = 4 << 20;
// Page cache per connection, in KiB (a cached page costs about 1.3 times its size). The
// writer keeps its cache from one transaction to the next; what a write touches again and
// again (budget counters, reservations, the rightmost leaves of the append-mostly tables,
// the upper levels of the indexes keyed by random operation ids) fits in 2 MiB, while the
// leaves of those indexes outgrow any fixed cache as the ledger grows and come from the OS
// page cache either way (a pread of a page). Measured against 16 MiB: the gateway under load
// (bench/gateway_load.sh) stayed 14-16 MB smaller, instead of growing with the ledger until
// 16 MiB were full, and spent no more CPU per request (1 and 4 MiB: the same CPU, 4 MiB
// 3-4 MB more memory); the ledger benchmark's reserve+settle pairs at 32 callers were no
// slower.
// A reader's cache is emptied at the start of every read transaction that follows another
// connection's write (SQLite drops a connection's cache when the database changed), which
// under load is every time, so it only needs one transaction's pages; an idle reader in the
// pool keeps what it read last, so a large limit would let one report-sized scan pin that
// much memory per idle reader.
constexpr int kWriterCacheKib = 2048;
constexpr int kReaderCacheKib = 1024;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE budgets(
  name TEXT PRIMARY KEY,
  generation INTEGER NOT NULL,
  period TEXT NOT NULL,
  limit_nanos INTEGER NOT NULL,
  scope BLOB NOT NULL,
  alert_thresholds TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE budget_windows(
  generation INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  spent INTEGER NOT NULL,
  reserved INTEGER NOT NULL,
  PRIMARY KEY(generation, window_start)
) STRICT, WITHOUT ROWID;
CREATE TABLE reservations(
  operation_id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  attribution BLOB NOT NULL,
  holds BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE settled(
  operation_id TEXT PRIMARY KEY,
  reserved INTEGER NOT NULL,
  actual INTEGER NOT NULL,
  budgets BLOB NOT NULL,
  recorded_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX settled_by_recorded_at ON settled(recorded_at);
CREATE TABLE operations(
  operation_id TEXT NOT NULL UNIQUE,
  start_unix_nanos INTEGER NOT NULL,
  duration_nanos INTEGER NOT NULL,
  operation_type TEXT NOT NULL,
  operation_name TEXT NOT NULL,
  team TEXT NOT NULL,
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  cost_center TEXT NOT NULL,
  feature TEXT NOT NULL,
  tags BLOB NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  cost_nanos INTEGER NOT NULL,
  priced INTEGER NOT NULL,
  decision TEXT NOT NULL,
  reason TEXT NOT NULL,
  error INTEGER NOT NULL,
  trace_id TEXT NOT NULL
) STRICT;
CREATE INDEX operations_by_start ON operations(start_unix_nanos, operation_id);
INSERT INTO meta(key, value) VALUES
  ('schema_version', 1), ('budgets_version', 0), ('next_generation', 0);
)sql";

// Version 2: gateway virtual keys. A new database gets kSchema, then every upgrade in
// order, so a new file and an upgraded one are the same. Each upgrade runs in the
// transaction that records its version, so it applies whole or not at all.
constexpr std::string_view kUpgradeTo2 = R"sql(
CREATE TABLE virtual_keys(
  id TEXT PRIMARY KEY,
  secret_sha256 TEXT NOT NULL UNIQUE,
  display_prefix TEXT NOT NULL,
  attribution BLOB NOT NULL,
  budget_name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_unix_nanos INTEGER NOT NULL,
  revoked_unix_nanos INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX virtual_keys_by_created ON virtual_keys(created_unix_nanos, id);
UPDATE meta SET value = 2 WHERE key = 'schema_version';
)sql";

// The upgrade from version `to` - 1 to `to`, in order.
struct Upgrade {
  int64_t to;
  std::string_view sql;
};
constexpr Upgrade kUpgrades[] = {{2, kUpgradeTo2}};
static_assert(std::size(kUpgrades) == kSchemaVersion - 1, "one upgrade per version after 1");

// The tables a database must hold, with the schema version that added each.
struct Table {
  std::string_view name;
  int64_t since;
};
constexpr Table kTables[] = {{"meta", 1},         {"budgets", 1}, {"budget_windows", 1},
                             {"reservations", 1}, {"settled", 1}, {"operations", 1},
                             {"virtual_keys", 2}};

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Checks what is at `path` before SQLite touches it.
absl::Status InspectFile(const std::string& path, bool create_if_missing, bool* exists,
                         int64_t* size) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::FailedPreconditionError(
          Cat("sqlite ledger '", path, "': cannot inspect it: ", std::strerror(errno)));
    }
    *exists = false;
    if (!create_if_missing) {
      return absl::NotFoundError(
          Cat("sqlite ledger '", path,
              "' does not exist; check the path in the ledger URL (this command does not "
              "create a ledger)"));
    }
    const std::string parent = ParentDirectory(path);
    struct stat dir {};
    if (stat(parent.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode)) {
      return absl::NotFoundError(Cat("sqlite ledger '", path, "': the directory '", parent,
                                     "' does not exist; create it first"));
    }
    return absl::OkStatus();
  }
  *exists = true;
  *size = st.st_size;
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        Cat("sqlite ledger '", path, "' is not a regular file; point the URL at a database file"));
  }
  if (st.st_size == 0) return absl::OkStatus();  // an empty file is an empty database
  char header[16] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(header, sizeof(header));
  if (!in || std::memcmp(header, "SQLite format 3", 16) != 0) {
    return absl::FailedPreconditionError(
        Cat("sqlite ledger '", path,
            "' is not a SQLite database (its first bytes are not the SQLite header); point the "
            "ledger URL at a genops ledger file or at a path that does not exist yet"));
  }
  return absl::OkStatus();
}

// Read-only checks of an existing database: readable, ours, not newer, intact.
// `*empty` is set when it has no tables at all; `*version_out` to its schema version otherwise.
absl::Status CheckExisting(Connection& conn, int64_t size, bool* empty, int64_t* version_out) {
  const std::string& path = conn.path();
  {
    // The first read of the file: a damaged header or schema page shows up here.
    sqlite3_stmt* stmt = nullptr;
    int rc =
        sqlite3_prepare_v2(conn.db(), "SELECT count(*) FROM sqlite_schema", -1, &stmt, nullptr);
    Statement tables(stmt);
    if (rc == SQLITE_OK) rc = tables.Step();
    if (rc != SQLITE_ROW) {
      return absl::Status(
          sqlite_internal::CodeForSqlite(rc),
          Cat("sqlite ledger '", path, "' is not a usable SQLite database: ", conn.Detail(rc)));
    }
    *empty = tables.ColumnInt64(0) == 0;
  }
  if (*empty) return absl::OkStatus();
  absl::StatusOr<int64_t> app_id = conn.QueryInt("PRAGMA application_id", "reading the header");
  if (!app_id.ok()) return app_id.status();
  absl::StatusOr<int64_t> has_meta =
      conn.QueryInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
                    "reading the schema");
  if (!has_meta.ok()) return has_meta.status();
  if (*app_id != kApplicationId || *has_meta == 0) {
    return absl::FailedPreconditionError(
        Cat("sqlite ledger '", path,
            "' is a SQLite database but not a genops ledger (no genops application id or meta "
            "table); point the ledger URL at a genops ledger or at a new file"));
  }
  absl::StatusOr<int64_t> version = conn.QueryInt(
      "SELECT value FROM meta WHERE key = 'schema_version'", "reading the schema version");
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        Cat("sqlite ledger '", path, "' has schema version ", *version,
            ", newer than this genops understands (", kSchemaVersion,
            "); upgrade genops to open it (the file was left untouched)"));
  }
  if (*version < 1) {
    return absl::DataLossError(Cat("sqlite ledger '", path, "' has an invalid schema version ",
                                   *version, "; restore the file from a backup"));
  }
  *version_out = *version;
  for (const Table& table : kTables) {
    if (table.since > *version) continue;  // added by an upgrade still to run
    absl::StatusOr<int64_t> present =
        conn.QueryInt(Cat("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '",
                          table.name, "'"),
                      "reading the schema");
    if (!present.ok()) return present.status();
    if (*present == 0) {
      return absl::DataLossError(Cat("sqlite ledger '", path, "' lacks the table '", table.name,
                                     "'; the file is damaged; restore it from a backup"));
    }
  }
  if (size <= kQuickCheckMaxBytes) {
    absl::StatusOr<Statement> check = conn.Prepare("PRAGMA quick_check(5)");
    if (!check.ok()) return check.status();
    std::vector<std::string> problems;
    int rc;
    while ((rc = check->Step()) == SQLITE_ROW) {
      std::string line(check->ColumnText(0));
      if (line != "ok") problems.push_back(std::move(line));
    }
    if (rc != SQLITE_DONE) {
      return absl::DataLossError(Cat("sqlite ledger '", path, "' is corrupt: ", conn.Detail(rc)));
    }
    if (!problems.empty()) {
      return absl::DataLossError(
          Cat("sqlite ledger '", path, "' is corrupt (", Join(problems, "; "),
              "); restore it from a backup or move it aside ('sqlite3 FILE .recover' can salvage "
              "what is readable)"));
    }
  }
  return absl::OkStatus();
}

// Runs the upgrades from `version` to kSchemaVersion, in the caller's transaction.
absl::Status ApplyUpgrades(Connection& conn, int64_t version) {
  for (const Upgrade& upgrade : kUpgrades) {
    if (upgrade.to <= version) continue;
    if (absl::Status s =
            conn.Exec(upgrade.sql, Cat("upgrading the schema to version ", upgrade.to));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Initialize(Connection& conn) {
  if (absl::Status s = conn.Exec("BEGIN IMMEDIATE", "starting schema creation"); !s.ok()) {
    return s;
  }
  // Another process may have created the schema while we waited for the lock.
  absl::StatusOr<int64_t> tables =
      conn.QueryInt("SELECT count(*) FROM sqlite_schema", "reading the schema");
  absl::Status s = tables.status();
  if (s.ok() && *tables == 0) {
    s = conn.Exec(kSchema, "creating the schema");
    if (s.ok()) s = ApplyUpgrades(conn, 1);
    if (s.ok()) {
      s = conn.Exec(Cat("PRAGMA application_id = ", kApplicationId), "writing the header");
    }
  }
  if (s.ok()) s = conn.Exec("COMMIT", "committing the schema");
  if (!s.ok()) conn.Exec("ROLLBACK", "rolling back").IgnoreError();
  return s;
}

// Upgrades an older ledger in place, keeping its data. Another process may be doing the
// same: the version is read again under the write lock, so exactly one of them upgrades.
absl::Status UpgradeInPlace(Connection& conn) {
  if (absl::Status s = conn.Exec("BEGIN IMMEDIATE", "starting the schema upgrade"); !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> version = conn.QueryInt(
      "SELECT value FROM meta WHERE key = 'schema_version'", "reading the schema version");
  absl::Status s = version.status();
  if (s.ok() && *version < kSchemaVersion) s = ApplyUpgrades(conn, *version);
  if (s.ok()) s = conn.Exec("COMMIT", "committing the schema upgrade");
  if (!s.ok()) {
    conn.Exec("ROLLBACK", "rolling back").IgnoreError();
    return absl::Status(
        s.code(), Cat(s.message(), " (upgrading the ledger file to schema version ", kSchemaVersion,
                      " failed and was rolled back; the file is unchanged; "
                      "the process needs write access to the file and its directory)"));
  }
  return s;
}

absl::Status EnableWal(Connection& conn) {
  absl::StatusOr<Statement> mode = conn.Prepare("PRAGMA journal_mode=WAL");
  if (!mode.ok()) return mode.status();
  const int rc = mode->Step();
  if (rc != SQLITE_ROW) return conn.Fail(rc, "switching to WAL mode");
  if (mode->ColumnText(0) != "wal") {
    return absl::FailedPreconditionError(
        Cat("sqlite ledger '", conn.path(), "': cannot use WAL mode (journal_mode is '",
            mode->ColumnText(0),
            "'); the file system may not support shared memory (e.g. a network share); keep "
            "the ledger on a local disk"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> OpenLedgerDatabase(const std::string& path,
                                                               bool create_if_missing,
                                                               int64_t busy_timeout_ms,
                                                               int new_file_page_size,
                                                               bool page_size_required) {
  if (!IsValidPageSize(new_file_page_size)) {
    return absl::InvalidArgumentError(Cat("sqlite ledger: page size ", new_file_page_size,
                                          " is not supported; use a power of two from 512 to "
                                          "65536"));
  }
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "sqlite ledger: empty path; use sqlite://genops.db or sqlite:///abs/path/ledger.db");
  }
  if (path == ":memory:" || path.starts_with("file:")) {
    return absl::InvalidArgumentError(
        Cat("sqlite ledger: '", path,
            "' is not a file path; use memory:// for an in-process ledger, or a file path"));
  }
  bool exists = false;
  int64_t size = 0;
  if (absl::Status s = InspectFile(path, create_if_missing, &exists, &size); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      Connection::Open(path, create_if_missing, busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  bool empty = true;
  int64_t existing_version = kSchemaVersion;
  if (exists) {
    if (absl::Status s = CheckExisting(**conn, size, &empty, &existing_version); !s.ok()) {
      return s;
    }
  }
  if (empty && !create_if_missing) {
    return absl::FailedPreconditionError(
        Cat("sqlite ledger '", path,
            "' is an empty database, not a genops ledger; check the path in the ledger URL"));
  }
  if (!empty && page_size_required) {
    absl::StatusOr<int64_t> existing = (*conn)->QueryInt("PRAGMA page_size", "reading the header");
    if (!existing.ok()) return existing.status();
    if (*existing != new_file_page_size) {
      return absl::FailedPreconditionError(
          Cat("sqlite ledger '", path, "' has ", *existing,
              "-byte pages, but the ledger URL asks for page_size=", new_file_page_size,
              "; the page size is chosen when a ledger file is created: remove page_size from "
              "the URL to use this file, or give a new path"));
    }
  }
  // Only now is the file modified.
  if (empty) {
    // Before the first write; see kCallPageSize and kBatchPageSize.
    if (absl::Status s =
            (*conn)->Exec(Cat("PRAGMA page_size=", new_file_page_size), "setting the page size");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = EnableWal(**conn); !s.ok()) return s;
  if (empty) {
    if (absl::Status s = Initialize(**conn); !s.ok()) return s;
  } else if (existing_version < kSchemaVersion) {
    if (absl::Status s = UpgradeInPlace(**conn); !s.ok()) return s;
  }
  if (absl::Status s = Configure(**conn); !s.ok()) return s;
  // This connection is the store's writer (readers are opened with Configure alone).
  if (absl::Status s = (*conn)->Exec(Cat("PRAGMA cache_size=-", kWriterCacheKib),
                                     "configuring the writer's page cache");
      !s.ok()) {
    return s;
  }
  // A read opens (and if need be creates) the WAL file, which WalFlusher::Open needs.
  if (absl::StatusOr<int64_t> version = (*conn)->QueryInt(
          "SELECT value FROM meta WHERE key = 'schema_version'", "reading the schema version");
      !version.ok()) {
    return version.status();
  }
  return conn;
}

// Pragmas every connection of the store uses. synchronous=NORMAL: a COMMIT does not flush
// the WAL (checkpoints still flush both files, which keeps the database consistent after a
// power loss); the ledger flushes the WAL itself, outside the write lock, for the operations
// that must be durable (see WalFlusher). The page cache is a reader's (see kReaderCacheKib);
// OpenLedgerDatabase gives the writer its own.
absl::Status Configure(Connection& conn) {
  absl::StatusOr<int64_t> page_size = conn.QueryInt("PRAGMA page_size", "reading the page size");
  if (!page_size.ok()) return page_size.status();
  return conn.Exec(
      Cat("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=", WalCheckpointPages(*page_size),
          "; PRAGMA cache_size=-", kReaderCacheKib, "; PRAGMA temp_store=MEMORY"),
      "configuring the connection");
}

bool IsValidPageSize(int64_t bytes) {
  return bytes >= 512 && bytes <= 65536 && (bytes & (bytes - 1)) == 0;
}

int64_t WalCheckpointPages(int64_t page_size) {
  return kWalCheckpointBytes / std::max<int64_t>(page_size, 512);
}

absl::StatusOr<std::unique_ptr<WalFlusher>> WalFlusher::Open(const std::string& db_path,
                                                             int64_t page_size) {
  const std::string wal = db_path + "-wal";
  const int fd = open(wal.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(Cat("sqlite ledger '", db_path, "': cannot open its WAL '", wal,
                                      "' to flush it: ", std::strerror(errno)));
  }
  auto flusher = std::unique_ptr<WalFlusher>(new WalFlusher(fd, db_path, page_size));
  // The directory entry of the WAL must be durable too, or a power loss could drop the
  // whole file; once is enough, as the file lives as long as the store.
  const int dir = open(ParentDirectory(db_path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  if (absl::Status s = flusher->Flush(); !s.ok()) return s;
  return flusher;
}

WalFlusher::~WalFlusher() { close(fd_); }

void WalFlusher::Preallocate() {
  // A WAL frame is a 24-byte header and a page; the WAL header is 32 bytes. A batch may take
  // the WAL somewhat past the checkpoint threshold before the checkpoint runs.
  const int64_t target = 32 + (WalCheckpointPages(page_size_) + 1000) * (24 + page_size_);
  struct stat st {};
  if (fstat(fd_, &st) != 0 || st.st_size >= target) return;
  static const std::vector<char> zeros(256 * 1024, 0);
  int64_t offset = st.st_size;
  while (offset < target) {
    const size_t n =
        static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(zeros.size()), target - offset));
    const ssize_t written = pwrite(fd_, zeros.data(), n, offset);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // e.g. a full disk: commits will then just extend the file
    offset += written;
  }
  Flush().IgnoreError();  // a failure shows up again at the next durable commit
}

absl::Status WalFlusher::Flush() {
  if (fdatasync(fd_) != 0) {
    return absl::UnavailableError(
        Cat("sqlite ledger '", path_,
            "': the transaction was committed but flushing the WAL to disk failed (",
            std::strerror(errno),
            "), so it may not survive a power loss; check the disk; a retry is safe (operations "
            "are idempotent)"));
  }
  return absl::OkStatus();
}

}  // namespace genops::ledger::sqlite_internal
