// PostgresLedger: the `postgresql://` store, shared by any number of GenOps processes
// (replicas) through one PostgreSQL database (written for 9.5+; tested with 15 only).
//
// URL:  postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?PARAM=VALUE&...]
//       (postgres:// is accepted too)
//   HOST       name or IPv4 address; an IPv6 address in brackets ([::1]). One host only.
//   PORT       default 5432.
//   USER       default: libpq's (the OS user name). PASSWORD: also read by libpq from
//              ~/.pgpass or PGPASSWORD when absent. Percent-escapes (%40 for @) are decoded in
//              USER, PASSWORD, DATABASE and parameter values.
//   Parameters of this store:
//   timeout_ms=N     bound on connecting and on every statement, 1..600000; default
//                    LedgerOpenOptions::timeout_ms. Also sent as the session's
//                    statement_timeout. A down or wedged server makes calls return
//                    kUnavailable within about this time, never hang.
//   pool_size=N      connections, 1..100, default 8, opened on demand. A caller waits (up to
//                    timeout_ms) for a free one.
//   settled_ttl_s=N  how long a settled operation id is remembered for idempotency, in
//                    seconds, at least 172800 (48 h, the contract's minimum); default 172800.
//   libpq parameters passed through unchanged: application_name (default "genops"),
//   channel_binding, gssencmode, keepalives, keepalives_count, keepalives_idle,
//   keepalives_interval, krbsrvname, options (our statement_timeout is appended), passfile,
//   ssl_max_protocol_version, ssl_min_protocol_version, sslcert, sslcrl, sslcrldir, sslkey,
//   sslmode, sslrootcert, sslsni, target_session_attrs, tcp_user_timeout.
//   Anything else (connect_timeout, host=, user=, a typo) is kInvalidArgument naming it.
//   The tables go into the first schema of the search_path, so
//   `?options=-c%20search_path%3Dteam_a` keeps a ledger in its own schema.
//
// Opening parses the URL, connects and creates the tables and functions when the database
// has none (src/ledger/postgres_schema.h), so a typo, an unreachable server or a bad
// password is reported at start-up: unreachable/timed out -> kUnavailable naming host:port;
// bad password or unknown role -> kUnauthenticated; no such database -> kNotFound;
// rejected by pg_hba.conf -> kPermissionDenied; a database written by a newer GenOps (schema
// version above ours) -> kFailedPrecondition. Concurrent first opens by several processes
// serialise on an advisory lock; exactly one creates the schema.
//
// Semantics: exactly those of the memory store (src/ledger/memory_ledger.h), which the
// conformance suite checks, with these store-specific facts:
//  - Atomicity: every mutation is one call of a server-side function, one transaction.
//    Reserve() locks the window rows of every matching budget (SELECT ... FOR UPDATE, in
//    name order, so concurrent callers never deadlock), checks all, then holds the amount in
//    all or none. It is atomic against every other client of the database, in any process.
//    Serialization failures and deadlocks (not expected) are retried transparently.
//  - Budgets live in the database and every admission reads them inside its transaction.
//    Each process caches only the parsed specs, keyed by a version the database bumps on
//    every upsert (so BudgetStatus::spec pointers are shared), never the decision inputs.
//    An UpsertBudget() that commits while a Reserve() is running may or may not apply to
//    that Reserve(), as if it had happened just after it.
//  - Money is BIGINT nano-USD everywhere; the admission test is computed in NUMERIC, so it
//    cannot overflow. A spend that would overflow a 64-bit counter is kOutOfRange and
//    changes nothing.
//  - Idempotency: a settled id is remembered for settled_ttl_s after it settled (by the
//    ledger's clock); ExpireReservations() forgets older ones. Same-id calls from different
//    processes are serialised by an advisory lock on the id, so they see each other.
//  - A call whose reply was lost (connection dropped or timed out after the statement was
//    sent) returns kUnavailable; it may have run. Retrying it with the same operation id is
//    safe: a repeated Reserve holds nothing more, a repeated Settle/Charge reports
//    already_settled.
//  - Text (ids, attribution, operation records) must be valid UTF-8 without NUL characters,
//    as PostgreSQL requires; anything else is kInvalidArgument.
//  - Operations log: table genops_operations, one row per id (tags as jsonb), indexed by
//    (start time, id); AppendOperations() is one INSERT ... ON CONFLICT DO NOTHING.
//  - Virtual keys: table genops_virtual_keys, unique by id and by secret hash (the
//    constraints make concurrent creates from several replicas safe: one wins, the other is
//    kAlreadyExists). A database of schema version 1 gains the table when first opened by
//    this version (the schema script is idempotent), keeping its data.
//  - TotalSpent() is the sum of 64 counter rows, so spend outside any budget does not queue
//    on one hot row.
//
// Thread safety: thread-safe.
#ifndef GENOPS_LEDGER_POSTGRES_LEDGER_H_
#define GENOPS_LEDGER_POSTGRES_LEDGER_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"

namespace genops::ledger {

// Opens the store named by `url` (scheme checked by the caller).
absl::StatusOr<std::unique_ptr<Ledger>> OpenPostgresLedger(std::string_view url,
                                                           const LedgerOpenOptions& options);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_POSTGRES_LEDGER_H_
