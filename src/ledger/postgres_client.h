// The libpq layer of the PostgreSQL ledger store: URL parsing, connections that never block
// past a deadline, and a small pool.
//
// Why asynchronous libpq calls: a blocking PQexec() on a dead or wedged server waits for the
// kernel's TCP timeouts (minutes), and libpq's own connect_timeout has a two-second floor.
// Every connect and statement here is PQconnectStart/PQsendQueryPrepared plus poll() on the
// socket with a monotonic deadline, so a call returns within its timeout, whatever the
// server does. The server also gets `statement_timeout` so it stops work nobody waits for.
//
// Failure policy:
//  - A connection that fails at the transport level is dropped; the pool opens a new one on
//    the next call, so service resumes as soon as the server is back.
//  - Before an idle pooled connection is used, its socket is checked: an idle PostgreSQL
//    connection receives nothing, so a readable socket means the server closed it (restart,
//    fast shutdown, idle timeout) and the connection is replaced without failing the call.
//  - A statement whose reply was lost after it was sent returns kUnavailable: it may or may
//    not have run. The ledger's statements are idempotent by operation id, so retrying is
//    safe (a repeated Settle reports already_settled).
//
// Thread safety: PgPool is thread-safe; a PgConnection is used by one thread at a time (the
// pool hands it out exclusively).
#ifndef GENOPS_LEDGER_POSTGRES_CLIENT_H_
#define GENOPS_LEDGER_POSTGRES_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

struct pg_conn;
struct pg_result;

namespace genops::ledger::postgres {

// A parsed postgresql:// URL (see src/ledger/postgres_ledger.h for the syntax).
struct PostgresLedgerConfig {
  std::string host;
  int port = 5432;
  std::string user;  // empty: libpq's default (the OS user name)
  std::string password;
  std::string database;
  int64_t timeout_ms = 2000;
  int pool_size = 8;
  int64_t settled_ttl_seconds = 48 * 3600;
  // Standard libpq parameters given in the URL, passed through unchanged.
  std::vector<std::pair<std::string, std::string>> libpq_params;

  // "host:port/database", for messages (never the password).
  std::string Describe() const;
};

// The libpq parameters a URL may pass through (sslmode, application_name, ...).
absl::Span<const std::string_view> PassThroughParams();

// Parses `url`; `default_timeout_ms` applies when it has no timeout_ms. Errors are
// kInvalidArgument naming the offending part.
absl::StatusOr<PostgresLedgerConfig> ParsePostgresUrl(std::string_view url,
                                                      int64_t default_timeout_ms);

// A statement prepared once per connection, on first use. `id` indexes the connection's
// prepared flags and must be below kMaxStatements.
struct PgStatement {
  int id;
  const char* name;
  const char* sql;
};
inline constexpr int kMaxStatements = 32;

// A query result; rows and columns of text values.
//
// Thread safety: thread-compatible (an owned, immutable result).
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
  PgResult& operator=(PgResult&& other) noexcept;
  ~PgResult();

  int rows() const;
  bool IsNull(int row, int column) const;
  std::string_view Text(int row, int column) const;
  // An integer column; 0 for NULL. A malformed value (never sent by the server) is 0 too.
  int64_t Int(int row, int column) const;
  // Rows affected by INSERT/UPDATE/DELETE.
  int64_t AffectedRows() const;
  pg_result* raw() const { return result_; }

 private:
  pg_result* result_ = nullptr;
};

// One libpq connection in non-blocking mode.
//
// Thread safety: not thread-safe; one caller at a time (the pool guarantees it).
class PgConnection {
 public:
  // Connects, authenticates and sets the session up before `deadline` (monotonic nanos of
  // Clock::Real()). Errors: kUnavailable (unreachable, timed out, server starting/stopping),
  // kUnauthenticated (bad password, unknown role), kNotFound (no such database),
  // kPermissionDenied (pg_hba.conf rejects the connection).
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const PostgresLedgerConfig& config,
                                                               int64_t deadline);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `statement` with text parameters. Server errors map by SQLSTATE: serialization
  // failure and deadlock -> kAborted (retry), data exceptions -> kInvalidArgument
  // (kOutOfRange for numeric overflow), statement timeout and connection loss ->
  // kUnavailable, others -> kInternal.
  absl::StatusOr<PgResult> Execute(const PgStatement& statement,
                                   absl::Span<const std::string> params, int64_t deadline);
  // Runs one or more SQL statements with the simple protocol (schema set-up).
  absl::StatusOr<PgResult> ExecuteScript(std::string_view sql, int64_t deadline);

  // True once the connection failed at the transport level or timed out; it is then useless.
  bool broken() const { return broken_; }
  // Makes the pool close this connection instead of reusing it (e.g. after a failed
  // transaction left it in an unknown state).
  void MarkBroken() { broken_ = true; }
  // True when the idle connection's socket has something to read, meaning the server closed
  // it or is closing it.
  bool ClosedByServer() const;
  // A small number distinct per connection of this process (for spreading hot rows).
  int serial() const { return serial_; }

 private:
  PgConnection(pg_conn* conn, std::string where, int serial)
      : conn_(conn), where_(std::move(where)), serial_(serial) {}
  // Sends nothing; waits for the result of what was sent.
  absl::StatusOr<PgResult> AwaitResult(int64_t deadline, std::string_view what);
  // Waits until the socket is readable (or writable too, when `write`). False on timeout.
  bool WaitSocket(bool write, int64_t deadline);
  absl::Status Broken(std::string_view what, std::string_view detail);

  pg_conn* conn_;
  const std::string where_;  // for messages
  const int serial_;
  bool broken_ = false;
  bool prepared_[kMaxStatements] = {};
};

// Up to `config.pool_size` connections, opened on demand.
//
// Thread safety: thread-safe.
class PgPool {
 public:
  explicit PgPool(PostgresLedgerConfig config) : config_(std::move(config)) {}
  ~PgPool();

  // An idle connection, or a new one when fewer than pool_size are open; waits for one to
  // be returned otherwise. kUnavailable when none is to be had before `deadline`.
  absl::StatusOr<std::unique_ptr<PgConnection>> Acquire(int64_t deadline);
  // Returns a connection; a broken one is closed.
  void Release(std::unique_ptr<PgConnection> connection);

  const PostgresLedgerConfig& config() const { return config_; }

 private:
  const PostgresLedgerConfig config_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + handed out + being connected
};

}  // namespace genops::ledger::postgres

#endif  // GENOPS_LEDGER_POSTGRES_CLIENT_H_
