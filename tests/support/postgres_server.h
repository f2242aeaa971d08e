// PostgresServer: a real PostgreSQL 15 server for tests and benchmarks, on loopback only.
//
// Start() runs /usr/lib/postgresql/15/bin/initdb into a fresh temp dir and starts `postgres`
// on it, listening only on 127.0.0.1 at a free port (no unix socket), and returns once the
// server accepts connections (about a second). The server never touches the system cluster,
// its sockets or its default port.
//
// Settings chosen for tests, and why:
//  - Authentication: `trust` for the superuser `postgres` over 127.0.0.1, `scram-sha-256`
//    for every other role, so CreateRole() gives tests a real password check.
//  - fsync=off and full_page_writes=off: a test server never survives an OS crash, and
//    skipping fsync makes CREATE DATABASE and commits several times faster. synchronous_commit
//    stays on, so a committed transaction is in the OS page cache before COMMIT returns and
//    survives a crash (SIGKILL) of the server process and Restart().
//  - The server gets SIGQUIT (immediate shutdown) if the process that started it dies, so a
//    crashed test binary does not leave servers behind (its temp dir stays in /tmp).
//
// PostgreSQL refuses to run as root: when the effective uid is 0, initdb and postgres run as
// the `postgres` user (fork, setgid/setuid, exec) and the temp dir is chowned to it.
//
// When PostgreSQL is not installed, Start() returns kUnavailable so tests can skip, except
// when the environment variable CI is "true": then it returns kFailedPrecondition, because CI
// must never skip the store tests silently.
//
// Example:
//   absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
//   if (server.status().code() == absl::StatusCode::kUnavailable) GTEST_SKIP();
//   absl::StatusOr<std::string> url = (*server)->CreateDatabase();  // fresh, empty
//   auto ledger = genops::ledger::OpenLedger(*url, {});
//
// Thread safety: thread-safe. Stop()/Restart() make concurrent CreateDatabase() calls fail
// while the server is down.
#ifndef GENOPS_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define GENOPS_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/core/environment.h"

namespace genops::testing {

class PostgresServer {
 public:
  // Where the PostgreSQL 15 programs are looked for.
  static constexpr std::string_view kBinDir = "/usr/lib/postgresql/15/bin";

  // Creates a cluster in a new temp dir and starts it. `environment` (null: the process
  // environment) is read for CI only; `bin_dir` is where initdb and postgres are looked for.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(
      const Environment* environment = nullptr, std::string_view bin_dir = kBinDir);

  // One server per process, started on the first call and stopped at exit; later calls
  // return the same server (or the same start-up error). Tests share it and isolate
  // themselves with CreateDatabase().
  static absl::StatusOr<PostgresServer*> Shared();

  // Stops the server and deletes its temp dir.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // The temp dir holding the cluster (data/) and the server log (postgres.log).
  const std::string& dir() const { return dir_; }

  // A fresh empty database owned by `postgres`; returns its URL,
  // "postgresql://postgres@127.0.0.1:PORT/genops_test_N".
  absl::StatusOr<std::string> CreateDatabase();
  // Creates a login role that must authenticate with `password` (scram-sha-256) and may
  // create tables in `database` (a name, as in the URL CreateDatabase() returned).
  absl::Status CreateRole(std::string_view role, std::string_view password,
                          std::string_view database);

  // Runs `sql` (one or more statements) as the superuser on `database`.
  absl::Status ExecuteSql(std::string_view database, std::string_view sql);

  // Sessions on `database` other than the caller's that are running a statement or hold a
  // transaction open.
  absl::StatusOr<int> BusySessions(std::string_view database);
  // Waits until BusySessions(database) is 0; kDeadlineExceeded after `timeout`. A client
  // killed with SIGKILL leaves its server sessions running: each finishes (and commits) its
  // current statement before noticing. Tests that kill a client call this before reading
  // what the client's last calls did.
  absl::Status AwaitQuiet(std::string_view database, absl::Duration timeout);

  // Fast shutdown (SIGINT: clients are disconnected, committed data kept). Idempotent.
  absl::Status Stop();
  // Stop() if running, then start again on the same port with the same data.
  absl::Status Restart();
  bool running() const;

 private:
  PostgresServer(std::string bin_dir, std::string dir, int port, uid_t uid, gid_t gid)
      : bin_dir_(std::move(bin_dir)), dir_(std::move(dir)), port_(port), uid_(uid), gid_(gid) {}
  std::string Bin(std::string_view program) const;

  absl::Status StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const std::string bin_dir_;
  const std::string dir_;
  int port_;
  const uid_t uid_;  // the user the server runs as (ours, or `postgres` when we are root)
  const gid_t gid_;

  mutable absl::Mutex mu_;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  int next_database_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SUPPORT_POSTGRES_SERVER_H_
