// RedisLedger: the `redis://` store, shared by any number of GenOps processes (replicas).
//
// URL:  redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?PARAM=VALUE&...]
//   HOST        name or IPv4 address; an IPv6 address in brackets ([::1]).
//   PORT        default 6379.       DB   database index, default 0.
//   PASSWORD    AUTH password (`redis://:secret@host`); with USER, Redis 6 ACL AUTH.
//               Percent-escapes (%40 for @) are decoded in USER and PASSWORD.
//   Parameters (anything else is an error naming it):
//   timeout_ms=N     connect and per-command socket timeout, 1..600000; default
//                    LedgerOpenOptions::timeout_ms. A down server makes calls return
//                    kUnavailable within about this time.
//   pool_size=N      connections, 1..64, default 2. Concurrent callers are pipelined onto
//                    them (src/ledger/redis_client.h), so few carry many threads: the
//                    server, not the connection count, bounds throughput, and fewer
//                    connections make bigger batches. More than one keeps a slow command
//                    (a large AppendOperations) from delaying every caller.
//   prefix=P         key prefix, default "genops:"; letters, digits and _ - . : only, at
//                    most 64 characters. Stores with different prefixes share nothing, so one
//                    server can hold several ledgers (and tests get an empty store each).
//   settled_ttl_s=N  how long a settled operation id is remembered for idempotency, in
//                    seconds, at least 172800 (48 h, the contract's minimum); default 172800.
// Opening parses the URL, connects (an unreachable server is kUnavailable naming host:port)
// and reads the budgets.
//
// Semantics: exactly those of the memory store (src/ledger/memory_ledger.h), which the
// conformance suite checks, with these store-specific facts:
//  - Atomicity: every mutation is one Lua script run by the server (EVALSHA, falling back to
//    EVAL on NOSCRIPT), so Reserve() is all-or-nothing across every matching budget and
//    atomic against every other client of the server, in any process.
//  - Budgets live in Redis. Each process caches the specs (matching a call to budgets is
//    done client-side), tagged with the budgets version that every UpsertBudget() and
//    DeleteBudget() increments. Every Reserve/Settle/Charge script checks that version
//    first and answers STALE when the cache is out of date; the client reloads and retries.
//    So a cached spec is never acted upon after another replica changed it.
//  - Money is exact over the whole int64 range of nano-USD, never a double. Lua numbers in
//    Redis are doubles (exact only to 2^53 nano-USD, about $9M), so the scripts never hold
//    an amount in one: counters are stored as decimal strings and compared, added and
//    subtracted as (high, low) pairs split at 10^9, each part exact (src/ledger/
//    redis_scripts.h). No limit or amount is rejected for size; a spend that would overflow a
//    64-bit counter (a budget window or the total above ~$9.2e9) is refused with kOutOfRange
//    before anything is written.
//  - Idempotency: the record of a settled/charged id is a key with a TTL of settled_ttl_s
//    (48 h by default) set when it settles; repeats within that time return the first
//    outcome. It costs the server about 170 bytes per operation settled in that window
//    (measured with 12-byte ids; 100 operations/s for 48 h is about 3 GB). The TTL runs on
//    the server's clock, so LedgerOpenOptions::clock is not used by this store.
//  - Reservations with an expiry are indexed by a field in the counters hash;
//    ExpireReservations() walks those fields (HSCAN, a few hundred per script run, so the
//    server is never blocked for long) and releases the reservations whose exact nanosecond
//    expiry is due. Not a sorted set by expiry: the index holds only reservations in flight,
//    and keeping it in the hash the scripts write anyway costs the hot path no extra command.
//    ExpireReservations() also drops ended, empty budget windows.
//  - Operations log: one hash of encoded records keyed by operation id, and a sorted set
//    ordered by (start time, id) (lexicographic members, so nanosecond start times order
//    exactly). AppendOperations() is one script: all or nothing, ids already present skipped.
//  - A call whose reply was lost (connection dropped after the command was sent) returns
//    kUnavailable; it may have run. Retrying it with the same operation id is safe: a
//    repeated Reserve holds nothing more, a repeated Settle/Charge reports already_settled.
//  - PurgeOperations() and ExpireReservations() work in steps of a few hundred records, so
//    they never block the server for long; each step is atomic, the whole call is not.
//  - Virtual keys: a hash per key, an index from secret hash to id and a sorted set for the
//    list order. CreateVirtualKey() is one script that checks both the id and the hash before
//    writing anything, so two replicas racing with the same id or hash cannot both succeed.
//  - Standalone Redis only (the primary: a replica refuses writes, kFailedPrecondition): the
//    scripts compute key names, which Redis Cluster does not allow.
//  - Outcome details that differ from the memory store (money and admission never do): the
//    budgets reported by a repeated Reserve() of an id still reserved are those matching the
//    repeated request's attribution (the memory store uses the first request's; a retry
//    carries the same one); those reported by a repeat of a settled id leave out a budget
//    whose period changed since (the memory store reports its restarted counters).
//
// Keys (P = prefix; details in src/ledger/redis_scripts.h): P"ver" budgets version;
// P"gen" generation counter; P"budgets" hash name -> spec; P"c" hash of the counters (budget
// windows, the total, the expiry of reservations in flight); P"o:"ID reservation or settled
// record; P"log" and P"logidx" the operations log; P"vk:"ID, P"vkh" and P"vkidx" the
// virtual keys.
//
// Thread safety: thread-safe.
#ifndef GENOPS_LEDGER_REDIS_LEDGER_H_
#define GENOPS_LEDGER_REDIS_LEDGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"

namespace genops::ledger {

// A parsed redis:// URL.
struct RedisLedgerConfig {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string username;
  std::string password;
  int64_t timeout_ms = 2000;
  int pool_size = 2;
  std::string prefix = "genops:";
  int64_t settled_ttl_seconds = 48 * 3600;
};

// Parses `url` (see above); `default_timeout_ms` applies when it has no timeout_ms. Errors
// are kInvalidArgument naming the offending part.
absl::StatusOr<RedisLedgerConfig> ParseRedisLedgerUrl(std::string_view url,
                                                      int64_t default_timeout_ms);

// Opens the store named by `url` (scheme checked by the caller).
absl::StatusOr<std::unique_ptr<Ledger>> OpenRedisLedger(std::string_view url,
                                                        const LedgerOpenOptions& options);

// Counters of one Redis ledger, for tests and benchmarks.
struct RedisLedgerStats {
  uint64_t round_trips = 0;  // pipelined batches written to the server so far
};

// The stats of `ledger`; kInvalidArgument when it is not a Redis ledger.
absl::StatusOr<RedisLedgerStats> GetRedisLedgerStats(const Ledger& ledger);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_REDIS_LEDGER_H_
