// RedisServer: a real redis-server on a loopback port, started and owned by a test or
// benchmark.
//
// Start() runs /usr/bin/redis-server in the foreground (no daemonize) bound to 127.0.0.1 on
// a free port, with its data in a fresh temp dir and persistence on (appendonly yes), and
// returns once the server answers PING with PONG (not merely accepts connections: after a
// restart it answers LOADING until the append-only file is read back). Restart() stops it
// and starts it again on the same port with the same data, which is how tests check that
// nothing settled is lost and that clients reconnect. The destructor stops the server and
// deletes the temp dir. The server also gets SIGTERM when the test process dies in any way
// (PR_SET_PDEATHSIG, from a fork on a helper thread that lives as long as the process), so a
// crashed test binary does not leave a server behind.
//
// When redis-server is not installed, Start() returns kUnavailable so tests skip (the ledger
// conformance suite skips on kUnavailable) -- unless the environment variable CI is "true",
// in which case it returns kFailedPrecondition: a CI machine must not silently skip the
// Redis tests because an install step was forgotten.
//
// A fresh, empty store per test, two ways:
//  - FreshUrl(): a URL with a key prefix no other call in this process got
//    (`redis://127.0.0.1:PORT/0?prefix=t17-4242:`); stores with different prefixes share
//    nothing, so tests never interfere and no flush is needed. Preferred.
//  - FlushAll(): empties every database of the server.
// Shared() gives one process-wide server, started on first use and stopped at exit, so a
// test binary pays the start-up once.
//
// Example:
//   absl::StatusOr<RedisServer*> server = genops::testing::RedisServer::Shared();
//   if (!server.ok()) GTEST_SKIP() << server.status();  // only kUnavailable reaches here
//   auto ledger = genops::ledger::OpenLedger((*server)->FreshUrl(), {});
//
// Thread safety: Url(), FreshUrl(), port() and FlushAll() are thread-safe; Stop() and
// Restart() must not race with each other (a test thread owns them). Shared() is
// thread-safe.
#ifndef GENOPS_TESTS_SUPPORT_REDIS_SERVER_H_
#define GENOPS_TESTS_SUPPORT_REDIS_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/core/environment.h"

namespace genops::testing {

struct RedisServerOptions {
  std::string binary = "/usr/bin/redis-server";
  // Read for CI; null means Environment::Process().
  const Environment* environment = nullptr;
  // How long Start()/Restart() wait for PONG before giving up.
  int64_t startup_timeout_ms = 20'000;
  // appendfsync: "everysec" (Redis' default; Stop() is a clean shutdown that loses nothing)
  // or "always" (survives SIGKILL of the server too, slower).
  std::string appendfsync = "everysec";
};

class RedisServer {
 public:
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start();
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const RedisServerOptions& options);
  // The process-wide server (default options), started on first call. Returns the same error
  // on every call when it could not start.
  static absl::StatusOr<RedisServer*> Shared();

  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // 0 while stopped
  const std::string& dir() const { return dir_; }
  // "redis://127.0.0.1:PORT/DB".
  std::string Url(int db = 0) const;
  // Url(db) plus `?prefix=` a key prefix unique in this process: an empty store.
  std::string FreshUrl(int db = 0);
  // FLUSHALL: empties every database.
  absl::Status FlushAll();

  // Clean shutdown (SIGTERM; redis-server writes out the append-only file), waits for the
  // process to end. Stopping a stopped server is OK.
  absl::Status Stop();
  // Stop() if running, then start again on the same port and data dir; waits for PONG.
  absl::Status Restart();

 private:
  RedisServer(RedisServerOptions options, std::string dir, int port)
      : options_(std::move(options)), dir_(std::move(dir)), port_(port) {}
  absl::Status Launch();  // starts the process and waits for PONG

  const RedisServerOptions options_;
  const std::string dir_;
  const int port_;
  pid_t pid_ = 0;
  std::atomic<int> next_prefix_{0};
};

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SUPPORT_REDIS_SERVER_H_
