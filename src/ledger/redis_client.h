// RedisClient: a small pipelining connection pool over hiredis, for the Redis ledger store.
//
// Why pipelining and not one connection per caller: a ledger call is one short server-side
// script, so its cost is dominated by the round trip and the two system calls on each side.
// Concurrent callers are combined: each lane (connection) has a queue; the first caller to
// find its lane idle becomes the leader, writes every queued command in one write, reads
// the replies in order, hands them out and passes leadership to the next waiter. Under load
// a lane carries tens of commands per round trip; a lone caller pays one plain round trip.
// Several lanes keep more than one batch in flight. A waiting caller sleeps on a futex word
// of its own (Linux), which the leader sets and wakes directly: a wake-up takes no lock and
// wakes nobody else, which matters with dozens of callers on two cores.
//
// Failure handling:
//  - Every socket read/write and connect is bounded by `timeout_ms`; a dead or unreachable
//    server makes calls return kUnavailable within about that time, never hang.
//  - A connection that fails is dropped; the next call on its lane reconnects, so service
//    resumes as soon as the server is back. Before a batch is written, the connection is
//    checked for a pending close (the server restarted), so a stale connection is replaced
//    instead of failing a call.
//  - A command whose reply was lost (I/O error after it was written) returns kUnavailable:
//    it may or may not have run. Callers make such commands idempotent.
//  - Scripts run with EVALSHA; a NOSCRIPT reply (server restarted, SCRIPT FLUSH) is answered
//    by sending the script body with EVAL, transparently.
//
// Thread safety: thread-safe.
#ifndef GENOPS_LEDGER_REDIS_CLIENT_H_
#define GENOPS_LEDGER_REDIS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct redisReply;

namespace genops::ledger::redis {

struct ReplyDeleter {
  void operator()(redisReply* reply) const;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A Lua script known by its SHA-1, so it can be run with EVALSHA.
class Script {
 public:
  explicit Script(std::string body);
  const std::string& body() const { return body_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string body_;
  std::string sha1_;  // lowercase hex
};

// One command: argv, or a script with its ARGV (no KEYS; see redis_ledger.h).
struct Command {
  const Script* script = nullptr;
  std::vector<std::string> args;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string username;  // empty: AUTH with the password alone (Redis < 6 style)
  std::string password;  // empty: no AUTH
  int64_t timeout_ms = 2000;
  int pool_size = 2;
};

class Client {
 public:
  // Connects one lane to check that the server is reachable and accepts AUTH/SELECT.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs `command`. Error replies become statuses: LOADING/BUSY/MASTERDOWN -> kUnavailable,
  // NOAUTH/WRONGPASS/NOPERM -> kPermissionDenied, OOM -> kResourceExhausted, READONLY ->
  // kFailedPrecondition, anything else -> kInternal. I/O failures -> kUnavailable.
  absl::StatusOr<ReplyPtr> Run(const Command& command) noexcept;
  // Runs `commands` in order on one connection, pipelined (up to 128 per round trip), and
  // returns their results in the same order, each as Run() would. A lost connection fails the
  // commands whose replies it lost (they may or may not have run), not the ones before.
  std::vector<absl::StatusOr<ReplyPtr>> RunMany(std::span<const Command> commands) noexcept;

  // Batches written so far over every connection (a command alone counts one), for tests.
  uint64_t round_trips() const;

  // "host:port", for messages.
  const std::string& address() const { return address_; }

 private:
  class Lane;
  explicit Client(const ClientOptions& options);
  Lane& PickLane() noexcept;

  const ClientOptions options_;
  const std::string address_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::atomic<uint32_t> next_lane_{0};
};

// Reply helpers.
bool IsArray(const redisReply* reply);
size_t ArraySize(const redisReply* reply);
const redisReply* Element(const redisReply* reply, size_t i);
// The bytes of a string/status reply ("" for nil); an integer reply as its decimal text.
std::string Text(const redisReply* reply);
bool IsNil(const redisReply* reply);

}  // namespace genops::ledger::redis

#endif  // GENOPS_LEDGER_REDIS_CLIENT_H_
