#include "src/ledger/sqlite_db.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "src/core/text.h"

namespace genops::ledger::sqlite_internal {

absl::StatusCode CodeForSqlite(int rc) {
  if (rc == SQLITE_CONSTRAINT_COMMITHOOK) return absl::StatusCode::kAborted;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

std::string_view AdviceForSqlite(int rc, int64_t /*busy_timeout_ms*/) {
  if (rc == SQLITE_CONSTRAINT_COMMITHOOK) return "the transaction was rolled back; retry";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another process held the database lock for longer than busy_timeout_ms; "
             "retry, or raise ?busy_timeout_ms= in the ledger URL";
    case SQLITE_FULL:
      return "the disk (or the database size limit) is full; free space and retry";
    case SQLITE_NOMEM:
      return "out of memory";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "the file is damaged; restore it from a backup or move it aside ("
             "'sqlite3 FILE .recover' can salvage what is readable)";
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return "the file or its directory is not writable by this process; fix the "
             "permissions or point the ledger URL at a writable path";
    case SQLITE_IOERR:
      return "an I/O error from the file system; check the disk and retry";
    case SQLITE_CANTOPEN:
      return "check that the path and its directory exist and are accessible";
    default:
      return "this is unexpected; report it with the message above";
  }
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::BindInt64(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Statement::BindText(int index, std::string_view value) {
  // A null data pointer would bind NULL; an empty string must stay an empty string.
  sqlite3_bind_text(stmt_, index, value.data() != nullptr ? value.data() : "",
                    static_cast<int>(value.size()), SQLITE_STATIC);
}

void Statement::BindBlob(int index, std::string_view value) {
  sqlite3_bind_blob(stmt_, index, value.data() != nullptr ? value.data() : "",
                    static_cast<int>(value.size()), SQLITE_STATIC);
}

void Statement::BindNull(int index) { sqlite3_bind_null(stmt_, index); }

int Statement::Step() { return sqlite3_step(stmt_); }

void Statement::Reset() {
  if (stmt_ != nullptr) sqlite3_reset(stmt_);
}

int64_t Statement::ColumnInt64(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string_view Statement::ColumnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  const int size = sqlite3_column_bytes(stmt_, index);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<size_t>(size)};
}

std::string_view Statement::ColumnBlob(int index) const {
  const void* blob = sqlite3_column_blob(stmt_, index);
  const int size = sqlite3_column_bytes(stmt_, index);
  if (blob == nullptr) return {};
  return {static_cast<const char*>(blob), static_cast<size_t>(size)};
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

Connection::Connection(sqlite3* db, std::string path, int64_t busy_timeout_ms)
    : db_(db), path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {}

Connection::~Connection() {
  // Statements are owned by the caller and must be finalized first; sqlite3_close_v2
  // defers the close until they are, rather than failing.
  sqlite3_close_v2(db_);
}

namespace {

// Turns off SQLite's memory statistics before its first use in the process. With them on
// (the library's default), every allocation SQLite makes takes one process-wide mutex to
// count itself; the ledger's writer and readers allocate on every statement, so under load
// that mutex showed up as ~6% of the store's CPU. Nothing here reads the statistics.
// sqlite3_config() only works before sqlite3_initialize(): if something in the process
// already used SQLite, the call fails harmlessly and the statistics stay on.
void ConfigureSqliteOnce() {
  static const bool configured = [] {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  }();
  (void)configured;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path, bool create,
                                                             int64_t busy_timeout_ms) {
  ConfigureSqliteOnce();
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = Cat("sqlite ledger '", path, "': cannot open the database: ",
                              db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc), " (code ",
                              rc, "); ", AdviceForSqlite(rc, busy_timeout_ms));
    sqlite3_close_v2(db);
    return absl::Status(CodeForSqlite(rc), message);
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<Connection> connection(new Connection(db, path, busy_timeout_ms));
  sqlite3_busy_handler(db, &Connection::BusyHandler, connection.get());
  return connection;
}

int Connection::BusyHandler(void* self, int attempts) {
  auto* connection = static_cast<Connection*>(self);
  const Clock* clock = Clock::Real();  // a lock wait is real time, whatever the store's clock
  const int64_t now = clock->MonotonicNanos();
  if (attempts == 0) connection->busy_started_nanos_ = now;
  if (now - connection->busy_started_nanos_ >= connection->busy_timeout_ms_ * kNanosPerMilli) {
    return 0;  // give up: the caller sees SQLITE_BUSY
  }
  // Short polls first (a peer's transaction usually lasts well under a millisecond), then
  // back off so a long-held lock does not burn a core.
  int64_t sleep_nanos = 20'000;
  if (attempts >= 50) sleep_nanos = 200'000;
  if (attempts >= 100) sleep_nanos = 1'000'000;
  clock->SleepNanos(sleep_nanos);
  return 1;
}

namespace {

// The extended code when it refines `rc` (SQLite reports the last error of the connection).
int ExtendedCode(sqlite3* db, int rc) {
  const int extended = sqlite3_extended_errcode(db);
  return extended != SQLITE_OK && (extended & 0xff) == (rc & 0xff) ? extended : rc;
}

}  // namespace

std::string Connection::Detail(int rc) const {
  const int code = ExtendedCode(db_, rc);
  return Cat(sqlite3_errmsg(db_), " (code ", code, "); ", AdviceForSqlite(code, busy_timeout_ms_));
}

absl::Status Connection::Fail(int rc, std::string_view what) const {
  return absl::Status(CodeForSqlite(ExtendedCode(db_, rc)),
                      Cat("sqlite ledger '", path_, "': ", what, " failed: ", Detail(rc)));
}

absl::Status Connection::Exec(std::string_view sql, std::string_view what) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Fail(rc, what);
  return absl::OkStatus();
}

absl::StatusOr<Statement> Connection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Fail(rc, Cat("preparing \"", sql, "\""));
  return Statement(stmt);
}

absl::StatusOr<int64_t> Connection::QueryInt(std::string_view sql, std::string_view what) {
  absl::StatusOr<Statement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  const int rc = stmt->Step();
  if (rc == SQLITE_ROW) return stmt->ColumnInt64(0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return Fail(rc, what);
}

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace genops::ledger::sqlite_internal
