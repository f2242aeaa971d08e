// Throughput of the PostgreSQL ledger store: Reserve + Settle pairs per second, against a
// PostgreSQL 15 server this program starts on loopback (tests/support/postgres_server.h:
// fsync=off, synchronous_commit on), at 1 and 32 concurrent callers sharing one Ledger (one
// process, pool_size connections).
//
// Each pair is two server-side functions, two transactions. Every reservation matches two
// budgets (a global day budget and a team month budget), as a typical governed call does, so
// every caller locks the same two window rows: this measures the store's worst case, one
// hot budget, where lock hold time bounds throughput. items_per_second counts pairs.
//
// Run (Release):
//   cmake -S . -B build-pg-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DGENOPS_BUILD_EXAMPLES=OFF
//   ninja -C build-pg-rel ledger_postgres_benchmark
//   build-pg-rel/ledger_postgres_benchmark --benchmark_min_time=3
// Without PostgreSQL installed the benchmarks report an error and exit cleanly.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "tests/support/postgres_server.h"

namespace genops::ledger {
namespace {

constexpr int64_t kNow = 1'772'625'600LL * kNanosPerSecond;

struct Fixture {
  std::unique_ptr<Ledger> ledger;
  std::string error;
};

// One server for the whole program; each pool size gets its own database and ledger.
Fixture& Shared(int pool_size) {
  static std::mutex mu;
  static std::map<int, Fixture> fixtures;
  std::lock_guard<std::mutex> lock(mu);
  Fixture& f = fixtures[pool_size];
  if (f.ledger != nullptr || !f.error.empty()) return f;
  absl::StatusOr<testing::PostgresServer*> server = testing::PostgresServer::Shared();
  if (!server.ok()) {
    f.error = std::string(server.status().message());
    return f;
  }
  absl::StatusOr<std::string> url = (*server)->CreateDatabase();
  if (!url.ok()) {
    f.error = std::string(url.status().message());
    return f;
  }
  absl::StatusOr<std::unique_ptr<Ledger>> ledger =
      OpenLedger(Cat(*url, "?pool_size=", pool_size), LedgerOpenOptions{});
  if (!ledger.ok()) {
    f.error = std::string(ledger.status().message());
    return f;
  }
  // Limits no run can exhaust: the benchmark measures admission, not refusal.
  BudgetSpec daily{.name = "daily", .limit = Money::FromNanos(int64_t{1} << 62)};
  BudgetSpec team{.name = "team-bench",
                  .scope = {{"team", "bench"}},
                  .limit = Money::FromNanos(int64_t{1} << 62),
                  .period = BudgetPeriod::kMonth};
  for (const BudgetSpec& spec : {daily, team}) {
    if (absl::Status s = (*ledger)->UpsertBudget(spec); !s.ok()) {
      f.error = std::string(s.message());
      return f;
    }
  }
  f.ledger = *std::move(ledger);
  return f;
}

void BM_PostgresReserveSettle(benchmark::State& state) {
  Fixture& fixture = Shared(static_cast<int>(state.range(0)));
  if (fixture.ledger == nullptr) {
    state.SkipWithError(fixture.error.c_str());
    return;
  }
  static std::atomic<int64_t> next_id{0};
  Ledger& ledger = *fixture.ledger;
  ReserveRequest request;
  request.attribution.team = "bench";
  request.attribution.project = "throughput";
  request.amount = Money::FromNanos(2'500'000);
  request.now_unix_nanos = kNow;
  request.expires_at_unix_nanos = kNow + 300 * kNanosPerSecond;
  for (auto _ : state) {
    request.operation_id = Cat("bench-", next_id.fetch_add(1, std::memory_order_relaxed));
    absl::StatusOr<ReserveOutcome> reserved = ledger.Reserve(request);
    if (!reserved.ok() || !reserved->admitted) {
      state.SkipWithError(reserved.ok() ? "refused" : reserved.status().ToString().c_str());
      break;
    }
    absl::StatusOr<SettleOutcome> settled =
        ledger.Settle(request.operation_id, Money::FromNanos(1'234'567), kNow);
    if (!settled.ok()) {
      state.SkipWithError(settled.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Argument: pool_size (connections); 8 is the default.
BENCHMARK(BM_PostgresReserveSettle)->Arg(8)->Threads(1)->Threads(32)->UseRealTime();
BENCHMARK(BM_PostgresReserveSettle)->Arg(2)->Threads(32)->UseRealTime();
BENCHMARK(BM_PostgresReserveSettle)->Arg(32)->Threads(32)->UseRealTime();

}  // namespace
}  // namespace genops::ledger

BENCHMARK_MAIN();
