// The tables and server-side functions of the PostgreSQL ledger store.
//
// Why functions (plpgsql) rather than client-side transactions: every ledger mutation is one
// statement, hence one round trip and one transaction, and row locks are held for the few
// microseconds the function runs instead of across several round trips. With one hot budget
// window row shared by every caller, lock hold time is what bounds throughput.
//
// Tables (all names prefixed genops_, in the first schema of the search_path):
//   meta            key -> value; 'schema_version'
//   budgets         one row per budget: spec (scope as jsonb, plus the two derived forms the
//                   matcher uses), `generation` (a new one when the period changes or the
//                   budget is re-created, so old counters and holds stop counting) and
//                   `spec_version` (new on every upsert; clients cache parsed specs by it)
//   budget_windows  (budget, generation, window_start) -> spent, reserved; BIGINT nano-USD
//   reservations    operation id -> attribution dimensions (jsonb), amount, expiry, and the
//                   windows it holds room in (parallel arrays)
//   settled         operation id -> reserved, actual, budgets charged, recorded_at (the
//                   idempotency record, pruned after settled_ttl_s)
//   total_spent     64 shards of the all-time total (so spend without budgets does not
//                   serialise on one row); TotalSpent() sums them
//   operations      the operations log, one row per operation id, indexed by (start, id)
//   virtual_keys    (version 2) gateway keys: id, secret_sha256 (unique), display prefix,
//                   attribution (a column per dimension, tags as jsonb), budget name,
//                   description, created/revoked times
//
// Concurrency rules the functions follow:
//  - Every mutation of an operation id first takes a transaction-scoped advisory lock on a
//    hash of the id, so two replicas working on the same id run one after the other and each
//    sees the other's committed outcome.
//  - Budget-window rows are locked (SELECT ... FOR UPDATE, or created with INSERT ... ON
//    CONFLICT DO NOTHING) one at a time in (budget, generation, window_start) order, "C"
//    collation, so two transactions never wait on each other in a cycle. The shard of
//    total_spent is always locked last.
//  - Housekeeping (expiry, pruning) locks with SKIP LOCKED and never waits on callers.
//  - Matching a call to budgets: a scope {dimension: value} matches when the call's
//    dimensions (a jsonb object of its non-empty dimensions, tags as "tag:KEY") contain every
//    non-empty pair (`@>`) and hold none of the dimensions the scope requires to be empty.
//
// Thread safety: constants only.
#ifndef GENOPS_LEDGER_POSTGRES_SCHEMA_H_
#define GENOPS_LEDGER_POSTGRES_SCHEMA_H_

#include <cstdint>
#include <string_view>

namespace genops::ledger::postgres {

// Bumped whenever the tables or functions change. A database holding a newer version is
// refused at open; an older one is upgraded in place, data kept, by SchemaScript() (every
// statement in it is idempotent: CREATE ... IF NOT EXISTS, CREATE OR REPLACE).
// 1: budgets, reservations, idempotency record, operations log. 2: + virtual keys.
inline constexpr int64_t kSchemaVersion = 2;

// Advisory-lock namespace (first key of the two-key form): "geno" and "genp".
inline constexpr int32_t kOperationLockSpace = 0x67656E6F;
inline constexpr int32_t kSchemaLockSpace = 0x67656E70;

// Creates or upgrades everything, idempotently; run inside a transaction holding the
// schema advisory lock. Ends by recording kSchemaVersion in genops_meta.
std::string_view SchemaScript();

}  // namespace genops::ledger::postgres

#endif  // GENOPS_LEDGER_POSTGRES_SCHEMA_H_
