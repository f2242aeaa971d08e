// Reserve + Settle pairs per second through the Ledger interface: memory:// (the reference)
// and sqlite:// (durable, synchronous=full; and synchronous=normal for comparison), with 1
// and 32 concurrent callers. Each pair is one operation's admission and settlement against
// two matching budgets (a global day budget and a team month budget); items/s = pairs/s.
// The sqlite file lives in a fresh directory under $TMPDIR (default /tmp) for every run, so
// the figure is for that file system.
//
//   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DGENOPS_BUILD_TESTS=OFF
//   cmake --build build-rel --target ledger_sqlite_benchmark
//   build-rel/ledger_sqlite_benchmark
//
// Counters: ops_per_txn is how many operations one sqlite transaction carried on average
// (group commit), flushes/s how many WAL flushes durable operations waited for.
//
// sqlite_full/lease_batch is what `genops serve` with budget leases writes behind each
// request: every 64 calls, one ChargeBatch of 64 charges taken off a lease (one
// reservation) and one AppendOperations of their 64 operation-log rows. Time and CPU are
// per call (items/s = calls/s). It runs on a file created for batched writes (4 KiB pages);
// sqlite_full/lease_batch_1k_pages runs it on the pages of the one-call-at-a-time mode.
//
// sqlite_floor/rows/PAGE_SIZE/INDEXES is the floor under any per-call SQLite record: plain
// sqlite3 calls, no ledger, inserting 64 rows of ~260 bytes (a time-ordered id, a time and a
// 220-byte blob: about an operations-log row) per transaction into a table with 0, 1 (the
// id, unique) or 2 (and the time) indexes, WAL mode, no flush. CPU per row = 1 / items/s.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "genops/operation_record.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/ledger/sqlite_ledger.h"

namespace {

using genops::Money;
using genops::ledger::Ledger;

// The ledger of the current run, created by Setup before the run's threads start and
// destroyed by Teardown after they stop.
std::unique_ptr<Ledger> g_ledger;
std::string g_dir;
genops::ledger::SqliteLedgerStats g_stats_before;

void OpenRun(const std::string& url_query, bool sqlite, bool batched_writes = false) {
  genops::ledger::LedgerOpenOptions options;
  options.batched_writes = batched_writes;
  std::string url = "memory://";
  if (sqlite) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = genops::Cat(tmp != nullptr ? tmp : "/tmp", "/genops_bench_XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) abort();
    g_dir = tmpl;
    url = genops::Cat("sqlite://", g_dir, "/ledger.db", url_query);
  }
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = genops::ledger::OpenLedger(url, options);
  if (!ledger.ok()) {
    fprintf(stderr, "cannot open %s: %s\n", url.c_str(), ledger.status().ToString().c_str());
    abort();
  }
  g_ledger = *std::move(ledger);
  genops::ledger::BudgetSpec daily;
  daily.name = "daily";
  daily.limit = Money::FromNanos(int64_t{1} << 60);
  genops::ledger::BudgetSpec team;
  team.name = "team-a";
  team.scope = {{"team", "a"}};
  team.period = genops::ledger::BudgetPeriod::kMonth;
  team.limit = Money::FromNanos(int64_t{1} << 60);
  if (!g_ledger->UpsertBudget(daily).ok() || !g_ledger->UpsertBudget(team).ok()) abort();
  if (sqlite) g_stats_before = *genops::ledger::GetSqliteLedgerStats(*g_ledger);
}

void SetupMemory(const benchmark::State&) { OpenRun("", false); }
void SetupSqliteFull(const benchmark::State&) { OpenRun("", true); }
void SetupSqliteNormal(const benchmark::State&) { OpenRun("?synchronous=normal", true); }
// As `genops serve` opens its ledger with budget leases (4 KiB pages for a new file).
void SetupSqliteBatched(const benchmark::State&) { OpenRun("", true, /*batched_writes=*/true); }
// The same with the pages of the one-call-at-a-time mode: what the batch page size saves.
void SetupSqliteBatchedCallPages(const benchmark::State&) {
  OpenRun("?page_size=1024", true, /*batched_writes=*/true);
}

void Teardown(const benchmark::State&) {
  g_ledger.reset();
  if (!g_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(g_dir, ignored);
    g_dir.clear();
  }
}

// The attribution of a typical gateway call (team "a" matches the team budget).
genops::Attribution RealisticAttribution() {
  genops::Attribution attribution;
  attribution.team = "a";
  attribution.project = "llm-api";
  attribution.environment = "production";
  attribution.customer_id = "acme-corporation";
  attribution.feature = "chat-assistant";
  attribution.tags = {{"region", "eu-west-1"}};
  return attribution;
}

void BM_ReserveSettle(benchmark::State& state) {
  Ledger& ledger = *g_ledger;
  const int64_t now = genops::Clock::Real()->NowUnixNanos();
  genops::ledger::ReserveRequest request;
  // A realistic attribution and a UUID-sized id: what the rows really hold.
  request.attribution = RealisticAttribution();
  request.amount = Money::FromNanos(5'000'000);
  request.now_unix_nanos = now;
  request.expires_at_unix_nanos = now + 300 * genops::kNanosPerSecond;
  const std::string prefix = genops::Cat("3f2b8c1e-9d4a-4e7b-a1c2-", state.thread_index(), "-");
  int64_t i = 0;
  for (auto _ : state) {
    request.operation_id = prefix;
    request.operation_id += std::to_string(i++);
    auto reserved = ledger.Reserve(request);
    if (!reserved.ok() || !reserved->admitted) {
      state.SkipWithError("reserve failed");
      break;
    }
    auto settled = ledger.Settle(request.operation_id, Money::FromNanos(3'000'000), now);
    if (!settled.ok()) {
      state.SkipWithError("settle failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    absl::StatusOr<genops::ledger::SqliteLedgerStats> stats =
        genops::ledger::GetSqliteLedgerStats(ledger);
    if (stats.ok()) {
      const double transactions =
          static_cast<double>(stats->transactions - g_stats_before.transactions);
      const double operations = static_cast<double>(stats->operations - g_stats_before.operations);
      state.counters["ops_per_txn"] = transactions > 0 ? operations / transactions : 0;
      state.counters["flushes"] =
          benchmark::Counter(static_cast<double>(stats->flushes - g_stats_before.flushes),
                             benchmark::Counter::kIsRate);
    }
  }
}

void BM_LeaseBatch(benchmark::State& state) {
  constexpr int kBatch = 64;
  Ledger& ledger = *g_ledger;
  const int64_t now = genops::Clock::Real()->NowUnixNanos();
  const genops::Attribution attribution = RealisticAttribution();
  const Money cost = Money::FromNanos(9'000);
  genops::ledger::ReserveRequest lease;
  lease.operation_id = "genops-lease-bench-1";
  lease.attribution = attribution;
  lease.amount = Money::FromNanos(int64_t{1} << 50);
  lease.now_unix_nanos = now;
  lease.expires_at_unix_nanos = now + 3600 * genops::kNanosPerSecond;
  auto reserved = ledger.Reserve(lease);
  if (!reserved.ok() || !reserved->admitted) {
    state.SkipWithError("lease reserve failed");
    return;
  }
  // Time-ordered ids, as the SDK makes them: op_ + the start in ms + a counter.
  std::vector<std::string> ids(kBatch);
  std::vector<genops::ledger::ChargeItem> items(kBatch);
  std::vector<genops::OperationRecord> records(kBatch);
  for (int k = 0; k < kBatch; ++k) {
    genops::OperationRecord& r = records[k];
    r.operation_type = "chat_completion";
    r.operation_name = "/v1/chat/completions";
    r.attribution = attribution;
    r.provider = "openai";
    r.model = "gpt-4o-mini";
    r.usage.input_tokens = 12;
    r.usage.output_tokens = 12;
    r.cost = cost;
    r.priced = true;
    r.duration_nanos = 3'000'000;
    r.trace_id = "d39f180083d7720f9f82c113134e4482";
  }
  int64_t n = 0;
  for (auto _ : state) {
    for (int k = 0; k < kBatch; ++k, ++n) {
      char id[40];
      snprintf(id, sizeof(id), "op_%012llx%020lld",
               static_cast<unsigned long long>(now / 1'000'000), static_cast<long long>(n));
      ids[k] = id;
      items[k] = {.operation_id = ids[k],
                  .attribution = &attribution,
                  .actual = cost,
                  .now_unix_nanos = now,
                  .from_reservation = lease.operation_id};
      records[k].operation_id = ids[k];
      records[k].start_unix_nanos = now + n;
    }
    for (const auto& outcome : ledger.ChargeBatch(items)) {
      if (!outcome.ok()) state.SkipWithError("charge failed");
    }
    if (!ledger.AppendOperations(records).ok()) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_BareRows(benchmark::State& state) {
  const int page_size = static_cast<int>(state.range(0));
  const int indexes = static_cast<int>(state.range(1));
  const char* tmp = getenv("TMPDIR");
  std::string dir = genops::Cat(tmp != nullptr ? tmp : "/tmp", "/genops_floor_XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) abort();
  sqlite3* db = nullptr;
  if (sqlite3_open(genops::Cat(dir, "/floor.db").c_str(), &db) != SQLITE_OK) abort();
  auto exec = [&](const std::string& sql) {
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) abort();
  };
  exec(genops::Cat("PRAGMA page_size=", page_size));
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-2048");
  exec("CREATE TABLE rows(id TEXT NOT NULL, start INTEGER NOT NULL, payload BLOB NOT NULL)");
  if (indexes >= 1) exec("CREATE UNIQUE INDEX rows_by_id ON rows(id)");
  if (indexes >= 2) exec("CREATE INDEX rows_by_start ON rows(start, id)");
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO rows VALUES(?, ?, ?)", -1, &insert, nullptr) !=
      SQLITE_OK) {
    abort();
  }
  const std::string payload(220, 'x');
  const int64_t now = genops::Clock::Real()->NowUnixNanos();
  int64_t n = 0;
  for (auto _ : state) {
    exec("BEGIN");
    for (int k = 0; k < 64; ++k, ++n) {
      char id[40];
      snprintf(id, sizeof(id), "op_%012llx%020lld",
               static_cast<unsigned long long>(now / 1'000'000), static_cast<long long>(n));
      sqlite3_bind_text(insert, 1, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert, 2, now + n);
      sqlite3_bind_blob(insert, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) abort();
      sqlite3_reset(insert);
    }
    exec("COMMIT");
  }
  state.SetItemsProcessed(state.iterations() * 64);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

BENCHMARK(BM_BareRows)->Name("sqlite_floor/rows")->ArgsProduct({{1024, 4096}, {0, 1, 2}});

BENCHMARK(BM_LeaseBatch)
    ->Name("sqlite_full/lease_batch")
    ->Setup(SetupSqliteBatched)
    ->Teardown(Teardown)
    ->MinTime(2);
BENCHMARK(BM_LeaseBatch)
    ->Name("sqlite_full/lease_batch_1k_pages")
    ->Setup(SetupSqliteBatchedCallPages)
    ->Teardown(Teardown)
    ->MinTime(2);

BENCHMARK(BM_ReserveSettle)
    ->Name("memory/reserve_settle")
    ->Setup(SetupMemory)
    ->Teardown(Teardown)
    ->Threads(1)
    ->Threads(32)
    ->UseRealTime();
BENCHMARK(BM_ReserveSettle)
    ->Name("sqlite_full/reserve_settle")
    ->Setup(SetupSqliteFull)
    ->Teardown(Teardown)
    ->Threads(1)
    ->Threads(32)
    ->UseRealTime();
BENCHMARK(BM_ReserveSettle)
    ->Name("sqlite_normal/reserve_settle")
    ->Setup(SetupSqliteNormal)
    ->Teardown(Teardown)
    ->Threads(1)
    ->Threads(32)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
