// A thin RAII layer over the SQLite C API, used by the sqlite ledger store.
//
// Why not use the C API directly: every call site of the store must turn an SQLite result
// code into an absl::Status that names the database file and says what to do, and must
// never leak a prepared statement or leave one un-reset (a statement left stepping keeps a
// read snapshot open, which stops WAL checkpoints). Statement::Scope and Connection::Fail
// make both automatic.
//
// Thread safety: not thread-safe. A Connection (and its statements) is used by one thread
// at a time; the store serialises access with its own locks.
#ifndef GENOPS_LEDGER_SQLITE_DB_H_
#define GENOPS_LEDGER_SQLITE_DB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace genops::ledger::sqlite_internal {

// The canonical code for an SQLite result code: BUSY/LOCKED -> kUnavailable, FULL ->
// kResourceExhausted, CORRUPT/NOTADB -> kDataLoss, READONLY/PERM -> kFailedPrecondition,
// IOERR/CANTOPEN -> kUnavailable, commit-hook rollback -> kAborted, others -> kInternal.
absl::StatusCode CodeForSqlite(int rc);

// "what to do" advice for an SQLite result code, appended to error messages.
std::string_view AdviceForSqlite(int rc, int64_t busy_timeout_ms);

// A prepared statement. Binds are by 1-based index. Text and blob binds do not copy: the
// bytes must stay alive until the statement is reset (Scope does that).
class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  void BindInt64(int index, int64_t value);
  void BindText(int index, std::string_view value);
  void BindBlob(int index, std::string_view value);
  void BindNull(int index);

  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step();
  void Reset();

  int64_t ColumnInt64(int index) const;
  std::string_view ColumnText(int index) const;
  std::string_view ColumnBlob(int index) const;
  bool ColumnIsNull(int index) const;

  sqlite3_stmt* get() const { return stmt_; }

  // Resets the statement when the scope ends, whatever path leaves it.
  class Scope {
   public:
    explicit Scope(Statement& stmt) : stmt_(stmt) {}
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() { stmt_.Reset(); }

   private:
    Statement& stmt_;
  };

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One open database handle.
class Connection {
 public:
  // Opens `path` with sqlite3_open_v2 in multi-thread mode (the store does its own
  // locking). `create` adds SQLITE_OPEN_CREATE. The busy handler waits up to
  // `busy_timeout_ms` of real time for another process's lock, polling at sub-millisecond
  // intervals first (SQLite's default handler sleeps whole milliseconds, which caps a
  // contended writer at a few hundred transactions per second).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, bool create,
                                                          int64_t busy_timeout_ms);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }
  int64_t busy_timeout_ms() const { return busy_timeout_ms_; }

  // Runs one or more statements that return no rows of interest.
  absl::Status Exec(std::string_view sql, std::string_view what);
  // Prepares a statement meant to be kept for the connection's lifetime.
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  // Runs a query expected to return one integer (PRAGMA x, SELECT count(*)).
  absl::StatusOr<int64_t> QueryInt(std::string_view sql, std::string_view what);

  // The status for result code `rc` while doing `what`: names the file, carries SQLite's
  // own message and code, and says what to do.
  absl::Status Fail(int rc, std::string_view what) const;
  // SQLite's message, the code and the advice for `rc`, without the file name.
  std::string Detail(int rc) const;

  // True while a transaction is open (sqlite3_get_autocommit is false).
  bool InTransaction() const;

 private:
  Connection(sqlite3* db, std::string path, int64_t busy_timeout_ms);
  static int BusyHandler(void* self, int attempts);

  sqlite3* db_;
  const std::string path_;
  const int64_t busy_timeout_ms_;
  int64_t busy_started_nanos_ = 0;  // monotonic time of the first retry of the current wait
};

}  // namespace genops::ledger::sqlite_internal

#endif  // GENOPS_LEDGER_SQLITE_DB_H_
