// Tests of the sqlite ledger store (src/ledger/sqlite_ledger.h): the conformance suite on a
// fresh file per test, plus what only a durable, shared, file-backed store must do.
#include "src/ledger/sqlite_ledger.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/ledger/sqlite_codec.h"
#include "tests/ledger/ledger_conformance.h"

namespace genops::ledger {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/genops_sqlite_XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return Cat(path_, "/", name); }

 private:
  std::string path_;
};

// The conformance suite's files: a new one per test, all in one directory that lives as
// long as the test program (a few MB at most) and is removed when it ends.
class ConformanceFiles : public ::testing::Environment {
 public:
  static std::string Next() {
    static std::atomic<int> counter{0};
    return dir_->File(Cat("conformance-", ++counter, ".db"));
  }
  void SetUp() override { dir_ = new TempDir(); }
  void TearDown() override {
    delete dir_;
    dir_ = nullptr;
  }

 private:
  static inline TempDir* dir_ = nullptr;
};
::testing::Environment* const kConformanceFiles =
    ::testing::AddGlobalTestEnvironment(new ConformanceFiles);

absl::StatusOr<std::unique_ptr<Ledger>> OpenTempSqliteLedger(const Clock* clock) {
  LedgerOpenOptions options;
  options.clock = clock;
  return OpenLedger(Cat("sqlite://", ConformanceFiles::Next()), options);
}

using testing::LedgerConformanceTest;

INSTANTIATE_TEST_SUITE_P(Sqlite, LedgerConformanceTest,
                         ::testing::Values(testing::LedgerFactory{
                             "sqlite",
                             [](const Clock* clock) { return OpenTempSqliteLedger(clock); }}),
                         testing::FactoryName);

constexpr int64_t kSecond = kNanosPerSecond;
constexpr int64_t kHour = 3600 * kSecond;
// 2026-03-04T12:00:00Z.
constexpr int64_t kStart = 1'772'625'600LL * kSecond;

Money Usd(int64_t whole) { return Money::FromNanos(whole * Money::kNanosPerUsd); }
Money Nanos(int64_t n) { return Money::FromNanos(n); }

BudgetSpec Budget(std::string name, Money limit, BudgetPeriod period = BudgetPeriod::kDay) {
  BudgetSpec spec;
  spec.name = std::move(name);
  spec.limit = limit;
  spec.period = period;
  return spec;
}

Attribution Team(std::string team) {
  Attribution a;
  a.team = std::move(team);
  a.project = "proj";
  return a;
}

ReserveRequest Req(std::string id, Money amount, int64_t now, int64_t expires = 0) {
  ReserveRequest r;
  r.operation_id = std::move(id);
  r.attribution = Team("a");
  r.amount = amount;
  r.now_unix_nanos = now;
  r.expires_at_unix_nanos = expires;
  return r;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Runs SQL on the file with a plain SQLite connection, as another program would.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class SqliteLedgerTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<Ledger>> Open(std::string_view query = "",
                                               bool create_if_missing = true) {
    LedgerOpenOptions options;
    options.clock = &clock_;
    options.create_if_missing = create_if_missing;
    return OpenLedger(Cat("sqlite://", path_, query), options);
  }

  std::unique_ptr<Ledger> MustOpen(std::string_view query = "") {
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Open(query);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? *std::move(ledger) : nullptr;
  }

  // Expects opening to fail with `code`, naming the file, and leaving its bytes unchanged.
  absl::Status ExpectRefusedUntouched(absl::StatusCode code, bool create_if_missing = true) {
    const std::string before = ReadBytes(path_);
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Open("", create_if_missing);
    EXPECT_FALSE(ledger.ok());
    if (ledger.ok()) return absl::OkStatus();
    EXPECT_EQ(ledger.status().code(), code) << ledger.status();
    EXPECT_NE(ledger.status().message().find(path_), absl::string_view::npos) << ledger.status();
    EXPECT_EQ(ReadBytes(path_), before) << "the file was modified";
    return ledger.status();
  }

  TempDir dir_;
  std::string path_ = dir_.File("ledger.db");
  ManualClock clock_{kStart};
};

TEST_F(SqliteLedgerTest, EverythingSurvivesCloseAndReopen) {
  OperationRecord record;
  record.operation_id = "op-log-1";
  record.start_unix_nanos = kStart;
  record.attribution = Team("a");
  // Tags with bytes JSON could not carry: they must round-trip exactly.
  record.attribution.tags = {{"bin", std::string("\xff\x00\x01", 3)}, {"k", "v"}};
  record.cost = Nanos(42);
  record.model = "gpt-4o";
  {
    std::unique_ptr<Ledger> ledger = MustOpen();
    ASSERT_NE(ledger, nullptr);
    BudgetSpec team = Budget("team-a", Usd(10), BudgetPeriod::kMonth);
    team.scope = {{"team", "a"}, {"tag:k", "v"}};
    team.alert_thresholds = {0.25, 0.8, 1.0 / 3};
    ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(10))).ok());
    ASSERT_TRUE(ledger->UpsertBudget(team).ok());
    ASSERT_TRUE(ledger->Reserve(Req("settled", Usd(3), kStart))->admitted);
    ASSERT_TRUE(ledger->Settle("settled", Usd(2), kStart).ok());
    ASSERT_TRUE(ledger->Reserve(Req("held", Usd(4), kStart, kStart + 10 * kSecond))->admitted);
    ASSERT_TRUE(ledger->AppendOperations({record}).ok());
  }
  std::unique_ptr<Ledger> ledger = MustOpen();
  ASSERT_NE(ledger, nullptr);
  auto budgets = ledger->ListBudgets(kStart);
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  ASSERT_EQ(budgets->size(), 2u);
  const BudgetStatus& daily = (*budgets)[0];
  EXPECT_EQ(daily.spec->name, "daily");
  EXPECT_EQ(daily.spent, Usd(2));
  EXPECT_EQ(daily.reserved, Usd(4));
  const BudgetStatus& team = (*budgets)[1];
  EXPECT_EQ(team.spec->period, BudgetPeriod::kMonth);
  EXPECT_EQ(team.spec->scope, (Scope{{"team", "a"}, {"tag:k", "v"}}));
  EXPECT_EQ(team.spec->alert_thresholds, (std::vector<double>{0.25, 0.8, 1.0 / 3}));
  EXPECT_EQ(team.spent, Money::Zero());  // the attribution has no tag k=v
  EXPECT_EQ(*ledger->TotalSpent(), Usd(2));

  // Idempotency survived: a repeated settle is a repeat, not new spend.
  auto again = ledger->Settle("settled", Usd(9), kStart);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_settled);
  EXPECT_EQ(again->actual, Usd(2));
  // The reservation survived and can be settled.
  auto held = ledger->LookupOperation("held");
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ((*held)->state, OperationState::kReserved);
  EXPECT_EQ((*held)->reserved, Usd(4));
  EXPECT_FALSE(ledger->Reserve(Req("more", Usd(5), kStart))->admitted);
  auto expired = ledger->ExpireReservations(kStart + 10 * kSecond);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 1);

  auto records = QueryOperations(*ledger, {});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].attribution, record.attribution);
  EXPECT_EQ((*records)[0].cost, Nanos(42));
  EXPECT_EQ((*records)[0].model, "gpt-4o");
}

TEST_F(SqliteLedgerTest, TwoInstancesOnOneFileNeverOverspend) {
  std::unique_ptr<Ledger> a = MustOpen();
  std::unique_ptr<Ledger> b = MustOpen();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const Money limit = Usd(30);
  ASSERT_TRUE(a->UpsertBudget(Budget("shared", limit)).ok());
  constexpr int kThreadsPerInstance = 4;
  constexpr int kOpsPerThread = 150;
  std::atomic<int64_t> settled_nanos{0};
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::atomic<bool> overrun{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2 * kThreadsPerInstance; ++w) {
    Ledger* ledger = w % 2 == 0 ? a.get() : b.get();
    threads.emplace_back([&, ledger, w] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        const std::string id = Cat("op-", w, "-", i);
        const Money estimate = Nanos((10 + (w * 7 + i * 13) % 51) * 10'000'000LL);
        auto outcome = ledger->Reserve(Req(id, estimate, kStart));
        if (!outcome.ok()) {
          ++errors;
          continue;
        }
        if (!outcome->admitted) {
          ++refused;
          continue;
        }
        ++admitted;
        for (const BudgetStatus& s : outcome->budgets) {
          if (s.spent + s.reserved > s.spec->limit) overrun = true;
        }
        const Money actual = Nanos(estimate.nanos() * ((i % 4) + 1) / 4);
        auto settled = ledger->Settle(id, actual, kStart);
        if (!settled.ok()) {
          ++errors;
          continue;
        }
        settled_nanos += actual.nanos();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_FALSE(overrun);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(refused.load(), 0);  // the budget really ran out
  for (Ledger* ledger : {a.get(), b.get()}) {
    auto budgets = ledger->ListBudgets(kStart);
    ASSERT_TRUE(budgets.ok() && budgets->size() == 1u);
    EXPECT_LE((*budgets)[0].spent, limit);
    EXPECT_EQ((*budgets)[0].reserved, Money::Zero());
    EXPECT_EQ((*budgets)[0].spent.nanos(), settled_nanos.load());
    EXPECT_EQ(ledger->TotalSpent()->nanos(), settled_nanos.load());
  }
}

TEST_F(SqliteLedgerTest, BudgetChangesOfAnotherInstanceAreSeenAtOnce) {
  std::unique_ptr<Ledger> a = MustOpen();
  std::unique_ptr<Ledger> b = MustOpen();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(10))).ok());
  auto first = b->Reserve(Req("op-1", Usd(8), kStart));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->admitted);
  ASSERT_EQ(first->budgets.size(), 1u);
  EXPECT_EQ(first->budgets[0].limit(), Usd(10));

  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(5))).ok());
  auto refused = b->Reserve(Req("op-2", Nanos(1), kStart));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused_by, "daily");
  EXPECT_EQ(refused->budgets[0].limit(), Usd(5));
  EXPECT_EQ(a->ListBudgets(kStart)->at(0).reserved, Usd(8));

  ASSERT_TRUE(a->DeleteBudget("daily").ok());
  auto free = b->Reserve(Req("op-3", Usd(100), kStart));
  ASSERT_TRUE(free.ok());
  EXPECT_TRUE(free->admitted);
  EXPECT_TRUE(free->budgets.empty());
  EXPECT_TRUE(b->ListBudgets(kStart)->empty());
}

TEST_F(SqliteLedgerTest, SettledIdsAreKeptFor48HoursThenForgotten) {
  std::unique_ptr<Ledger> ledger = MustOpen();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(ledger->Charge("op-1", Team("a"), Usd(1), kStart).ok());
  clock_.Advance(47 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock_.NowUnixNanos()).ok());
  auto repeat = ledger->Charge("op-1", Team("a"), Usd(1), clock_.NowUnixNanos());
  ASSERT_TRUE(repeat.ok());
  EXPECT_TRUE(repeat->already_settled);
  clock_.Advance(2 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock_.NowUnixNanos()).ok());
  auto gone = ledger->LookupOperation("op-1");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(*ledger->TotalSpent(), Usd(1));
}

TEST_F(SqliteLedgerTest, ReservationsOfADeadProcessExpireForTheOthers) {
  {
    // A process that reserves and dies without settling or releasing.
    std::unique_ptr<Ledger> dead = MustOpen();
    ASSERT_NE(dead, nullptr);
    ASSERT_TRUE(dead->UpsertBudget(Budget("daily", Usd(10))).ok());
    ASSERT_TRUE(dead->Reserve(Req("orphan", Usd(7), kStart, kStart + 300 * kSecond))->admitted);
  }
  std::unique_ptr<Ledger> survivor = MustOpen();
  ASSERT_NE(survivor, nullptr);
  EXPECT_FALSE(survivor->Reserve(Req("op-1", Usd(4), kStart))->admitted);
  auto early = survivor->ExpireReservations(kStart + 299 * kSecond);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(*early, 0);
  auto expired = survivor->ExpireReservations(kStart + 300 * kSecond);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1);
  EXPECT_EQ(survivor->ListBudgets(kStart)->at(0).reserved, Money::Zero());
  EXPECT_TRUE(survivor->Reserve(Req("op-2", Usd(10), kStart))->admitted);
  EXPECT_EQ(survivor->Settle("orphan", Usd(1), kStart).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SqliteLedgerTest, DurableOperationsWaitForAFlushAndReservationsDoNot) {
  std::unique_ptr<Ledger> ledger = MustOpen();  // synchronous=full by default
  ASSERT_NE(ledger, nullptr);
  const int64_t start = GetSqliteLedgerStats(*ledger)->flushes;
  ASSERT_TRUE(ledger->Reserve(Req("op-1", Usd(1), kStart))->admitted);
  ASSERT_TRUE(ledger->Release("op-1").ok());
  EXPECT_EQ(GetSqliteLedgerStats(*ledger)->flushes, start);
  ASSERT_TRUE(ledger->Reserve(Req("op-2", Usd(1), kStart))->admitted);
  ASSERT_TRUE(ledger->Settle("op-2", Usd(1), kStart).ok());
  EXPECT_EQ(GetSqliteLedgerStats(*ledger)->flushes, start + 1);
  ASSERT_TRUE(ledger->Charge("op-3", Team("a"), Usd(1), kStart).ok());
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(5))).ok());
  EXPECT_EQ(GetSqliteLedgerStats(*ledger)->flushes, start + 3);
  // A refusal changes nothing, so it needs no flush.
  EXPECT_EQ(ledger->Settle("unknown", Usd(1), kStart).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetSqliteLedgerStats(*ledger)->flushes, start + 3);

  ledger.reset();
  std::unique_ptr<Ledger> normal = MustOpen("?synchronous=normal");
  ASSERT_NE(normal, nullptr);
  ASSERT_TRUE(normal->Charge("op-4", Team("a"), Usd(1), kStart).ok());
  EXPECT_EQ(GetSqliteLedgerStats(*normal)->flushes, 0);
  EXPECT_EQ(*normal->TotalSpent(), Usd(3));
}

TEST_F(SqliteLedgerTest, ManyConcurrentCallersShareTransactions) {
  std::unique_ptr<Ledger> ledger = MustOpen();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(1'000'000))).ok());
  const SqliteLedgerStats before = *GetSqliteLedgerStats(*ledger);
  constexpr int kThreads = 16;
  constexpr int kPairs = 100;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPairs; ++i) {
        const std::string id = Cat("op-", w, "-", i);
        if (!ledger->Reserve(Req(id, Usd(1), kStart)).ok()) ++errors;
        if (!ledger->Settle(id, Nanos(1), kStart).ok()) ++errors;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  const SqliteLedgerStats after = *GetSqliteLedgerStats(*ledger);
  const int64_t operations = after.operations - before.operations;
  const int64_t transactions = after.transactions - before.transactions;
  EXPECT_EQ(operations, 2 * kThreads * kPairs);
  EXPECT_LT(transactions, operations);  // some transactions carried several callers' ops
  EXPECT_EQ(ledger->TotalSpent()->nanos(), kThreads * kPairs);
}

TEST_F(SqliteLedgerTest, AChargeBatchIsOneTransactionAndOneFlush) {
  std::unique_ptr<Ledger> ledger = MustOpen();  // synchronous=full
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(1'000))).ok());
  constexpr int kItems = 300;
  const Attribution who = Team("a");
  std::vector<std::string> ids;
  for (int i = 0; i < kItems; ++i) ids.push_back(Cat("span-", i));
  std::vector<ChargeItem> items;
  for (const std::string& id : ids) {
    items.push_back({.operation_id = id, .attribution = &who, .actual = Nanos(3),
                     .now_unix_nanos = kStart});
  }
  const SqliteLedgerStats before = *GetSqliteLedgerStats(*ledger);
  std::vector<absl::StatusOr<SettleOutcome>> out = ledger->ChargeBatch(items);
  const SqliteLedgerStats after = *GetSqliteLedgerStats(*ledger);
  ASSERT_EQ(out.size(), items.size());
  for (const auto& o : out) ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(out.back()->budgets.at(0).spent, Nanos(3 * kItems));
  EXPECT_EQ(after.transactions - before.transactions, 1);
  EXPECT_EQ(after.flushes - before.flushes, 1);
  EXPECT_EQ(ledger->TotalSpent()->nanos(), 3 * kItems);

  // The whole batch again: every item a repeat, nothing new, still one transaction.
  out = ledger->ChargeBatch(items);
  for (const auto& o : out) {
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_TRUE(o->already_settled);
  }
  EXPECT_EQ(GetSqliteLedgerStats(*ledger)->transactions - after.transactions, 1);
  EXPECT_EQ(ledger->TotalSpent()->nanos(), 3 * kItems);
}

TEST_F(SqliteLedgerTest, AFailedCommitFailsEveryItemOfAChargeBatch) {
  std::atomic<bool> fail{false};
  SqliteLedgerOptions options;
  options.path = path_;
  options.clock = &clock_;
  options.fail_commit_for_testing = [&] { return fail.load(); };
  absl::StatusOr<std::unique_ptr<Ledger>> opened = OpenSqliteLedger(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Ledger> ledger = *std::move(opened);
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(100))).ok());
  const Attribution who = Team("a");
  const std::vector<ChargeItem> items = {
      {.operation_id = "s-1", .attribution = &who, .actual = Usd(1), .now_unix_nanos = kStart},
      {.operation_id = "s-2", .attribution = &who, .actual = Usd(2), .now_unix_nanos = kStart},
  };
  fail = true;
  std::vector<absl::StatusOr<SettleOutcome>> out = ledger->ChargeBatch(items);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) EXPECT_EQ(o.status().code(), absl::StatusCode::kAborted) << o.status();
  fail = false;
  EXPECT_EQ(*ledger->TotalSpent(), Money::Zero());
  EXPECT_EQ(*ledger->LookupOperation("s-1"), std::nullopt);
  // Retried, the same batch is charged exactly once.
  out = ledger->ChargeBatch(items);
  for (const auto& o : out) ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*ledger->TotalSpent(), Usd(3));
}

TEST_F(SqliteLedgerTest, AFailedCommitFailsEveryOperationOfTheBatch) {
  constexpr int kCallers = 8;
  std::atomic<bool> fail{false};
  std::atomic<int> commits_refused{0};
  Ledger* raw = nullptr;
  SqliteLedgerOptions options;
  options.path = path_;
  options.clock = &clock_;
  options.fail_commit_for_testing = [&] {
    if (!fail.load()) return false;
    // Hold the first failing commit until every caller is either in it or queued behind
    // it, so the next transaction carries all the others.
    if (commits_refused.fetch_add(1) == 0) {
      const int64_t deadline = Clock::Real()->MonotonicNanos() + 10 * kSecond;
      while (GetSqliteLedgerStats(*raw)->queued < kCallers &&
             Clock::Real()->MonotonicNanos() < deadline) {
        std::this_thread::yield();
      }
    }
    return true;
  };
  absl::StatusOr<std::unique_ptr<Ledger>> opened = OpenSqliteLedger(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Ledger> ledger = *std::move(opened);
  raw = ledger.get();
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(100))).ok());
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE(ledger->Reserve(Req(Cat("op-", i), Usd(1), kStart))->admitted);
  }
  const SqliteLedgerStats before = *GetSqliteLedgerStats(*ledger);

  fail = true;
  std::vector<absl::Status> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = ledger->Settle(Cat("op-", i), Usd(1), kStart).status(); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
    EXPECT_NE(s.message().find("rolled back"), absl::string_view::npos) << s;
  }
  const SqliteLedgerStats after = *GetSqliteLedgerStats(*ledger);
  // The first batch (whoever got in before the leader took the queue), then all the rest.
  EXPECT_EQ(after.failed_transactions - before.failed_transactions, 2);
  EXPECT_EQ(after.transactions, before.transactions);

  // Nothing of the failed batches was recorded.
  fail = false;
  EXPECT_EQ(*ledger->TotalSpent(), Money::Zero());
  EXPECT_EQ(ledger->ListBudgets(kStart)->at(0).reserved, Usd(kCallers));
  for (int i = 0; i < kCallers; ++i) {
    auto entry = ledger->LookupOperation(Cat("op-", i));
    ASSERT_TRUE(entry.ok() && entry->has_value());
    EXPECT_EQ((*entry)->state, OperationState::kReserved);
  }
  // And the store works again once commits succeed.
  for (int i = 0; i < kCallers; ++i) {
    auto settled = ledger->Settle(Cat("op-", i), Usd(1), kStart);
    ASSERT_TRUE(settled.ok()) << settled.status();
    EXPECT_FALSE(settled->already_settled);
  }
  EXPECT_EQ(*ledger->TotalSpent(), Usd(kCallers));
}

TEST_F(SqliteLedgerTest, AnUnreadableRowFailsOnlyItsOwnOperation) {
  {
    std::unique_ptr<Ledger> ledger = MustOpen();
    ASSERT_NE(ledger, nullptr);
    ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(100))).ok());
    ASSERT_TRUE(ledger->Reserve(Req("bad", Usd(1), kStart))->admitted);
    ASSERT_TRUE(ledger->Reserve(Req("good", Usd(1), kStart))->admitted);
  }
  RawExec(path_, "UPDATE reservations SET attribution = x'ff' WHERE operation_id = 'bad'");
  std::unique_ptr<Ledger> ledger = MustOpen();
  ASSERT_NE(ledger, nullptr);
  absl::Status bad;
  absl::Status good;
  std::thread t1([&] { bad = ledger->Settle("bad", Usd(1), kStart).status(); });
  std::thread t2([&] { good = ledger->Settle("good", Usd(1), kStart).status(); });
  t1.join();
  t2.join();
  EXPECT_EQ(bad.code(), absl::StatusCode::kDataLoss) << bad;
  EXPECT_NE(bad.message().find("'bad'"), absl::string_view::npos) << bad;
  EXPECT_TRUE(good.ok()) << good;
  EXPECT_EQ(*ledger->TotalSpent(), Usd(1));
}

TEST_F(SqliteLedgerTest, AnotherProcessHoldingTheLockIsReportedAfterTheBusyTimeout) {
  std::unique_ptr<Ledger> ledger = MustOpen("?busy_timeout_ms=50");
  ASSERT_NE(ledger, nullptr);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto blocked = ledger->Reserve(Req("op-1", Usd(1), kStart));
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable) << blocked.status();
  EXPECT_NE(blocked.status().message().find("busy_timeout_ms"), absl::string_view::npos)
      << blocked.status();
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  auto admitted = ledger->Reserve(Req("op-1", Usd(1), kStart));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_TRUE(admitted->admitted);
}

// --- Column encodings ------------------------------------------------------------------

TEST(SqliteCodecTest, AttributionRoundTripsAnyBytesAndRejectsDamage) {
  Attribution a = Team(
      "t\xc3\xa9"
      "am");
  a.customer_id = std::string("a\0b", 3);
  a.tags = {{"k", std::string(300, '\xff')}, {"", ""}};
  const std::string blob = sqlite_internal::EncodeAttribution(a);
  Attribution back;
  ASSERT_TRUE(sqlite_internal::DecodeAttribution(blob, &back));
  EXPECT_EQ(back, a);
  for (size_t cut = 0; cut < blob.size(); ++cut) {
    Attribution partial;
    EXPECT_FALSE(sqlite_internal::DecodeAttribution(blob.substr(0, cut), &partial)) << cut;
  }
  Attribution trailing;
  EXPECT_FALSE(sqlite_internal::DecodeAttribution(blob + "x", &trailing));
}

TEST(SqliteCodecTest, HoldsNamesAndThresholdsRoundTrip) {
  const sqlite_internal::Holds holds = {{1, -5}, {std::numeric_limits<int64_t>::max(), 0}};
  sqlite_internal::Holds holds_back;
  ASSERT_TRUE(sqlite_internal::DecodeHolds(sqlite_internal::EncodeHolds(holds), &holds_back));
  ASSERT_EQ(holds_back.size(), 2u);
  EXPECT_EQ(holds_back[0].window_start, -5);
  EXPECT_EQ(holds_back[1].generation, std::numeric_limits<int64_t>::max());
  const sqlite_internal::BudgetNames names = {"daily", "team-a"};
  sqlite_internal::BudgetNames names_back;
  ASSERT_TRUE(sqlite_internal::DecodeNames(sqlite_internal::EncodeNames(names), &names_back));
  EXPECT_EQ(names_back, names);
  const std::vector<double> thresholds = {0.5, 0.1 + 0.2, 1.0 / 3, 10};
  std::vector<double> thresholds_back;
  ASSERT_TRUE(sqlite_internal::DecodeThresholds(sqlite_internal::EncodeThresholds(thresholds),
                                                &thresholds_back));
  EXPECT_EQ(thresholds_back, thresholds);  // exact, not approximately
  std::vector<double> bad;
  EXPECT_FALSE(sqlite_internal::DecodeThresholds("0.5,,1", &bad));
  EXPECT_FALSE(sqlite_internal::DecodeThresholds("0.5,x", &bad));
}

// --- Opening: URLs and files that are not a usable ledger --------------------------------

TEST_F(SqliteLedgerTest, UrlParameters) {
  LedgerOpenOptions open;
  auto parsed =
      ParseSqliteLedgerUrl("sqlite:///abs/x.db?synchronous=normal&busy_timeout_ms=250", open);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->path, "/abs/x.db");
  EXPECT_FALSE(parsed->synchronous_full);
  EXPECT_EQ(parsed->busy_timeout_ms, 250);
  auto relative = ParseSqliteLedgerUrl("sqlite://data/ledger.db", open);
  ASSERT_TRUE(relative.ok());
  EXPECT_EQ(relative->path, "data/ledger.db");
  EXPECT_TRUE(relative->synchronous_full);

  auto unknown = Open("?synchronus=full");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("\"synchronus\""), absl::string_view::npos)
      << unknown.status();
  auto bad_value = Open("?synchronous=sometimes");
  EXPECT_EQ(bad_value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_value.status().message().find("sometimes"), absl::string_view::npos);
  auto bad_number = Open("?busy_timeout_ms=-3");
  EXPECT_EQ(bad_number.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenLedger("sqlite://", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenLedger("sqlite://:memory:", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path_));  // a rejected URL creates nothing
}

// The page size a file was created with, read from its header as any program would.
int64_t FilePageSize(const std::string& path) {
  const std::string header = ReadBytes(path).substr(0, 100);
  if (header.size() < 18) return -1;
  const int64_t raw =
      (static_cast<unsigned char>(header[16]) << 8) | static_cast<unsigned char>(header[17]);
  return raw == 1 ? 65536 : raw;
}

TEST_F(SqliteLedgerTest, NewFilesGetThePageSizeOfTheirWriteMode) {
  // One call at a time (the SDK, genops serve without leases): small pages.
  ASSERT_NE(MustOpen(), nullptr);
  EXPECT_EQ(FilePageSize(path_), 1024);

  // Budget leases write in batches: larger pages.
  const std::string batched_path = dir_.File("batched.db");
  {
    absl::StatusOr<std::unique_ptr<Ledger>> batched =
        OpenLedger(Cat("sqlite://", batched_path), {.clock = &clock_, .batched_writes = true});
    ASSERT_TRUE(batched.ok()) << batched.status();
    const Attribution team = Team("a");
    std::vector<ChargeItem> items(2);
    items[0].operation_id = "op-batched-1";
    items[0].attribution = &team;
    items[0].actual = Nanos(70);
    items[0].now_unix_nanos = kStart;
    items[1] = items[0];
    items[1].operation_id = "op-batched-2";
    for (const auto& outcome : (*batched)->ChargeBatch(items)) ASSERT_TRUE(outcome.ok());
  }
  EXPECT_EQ(FilePageSize(batched_path), 4096);

  // An existing file keeps its page size whatever the mode that reopens it, and works.
  {
    absl::StatusOr<std::unique_ptr<Ledger>> reopened =
        OpenLedger(Cat("sqlite://", path_), {.clock = &clock_, .batched_writes = true});
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    ASSERT_TRUE((*reopened)->Reserve(Req("op-reopened", Nanos(10), kStart)).ok());
    ASSERT_TRUE((*reopened)->Settle("op-reopened", Nanos(7), kStart).ok());
  }
  EXPECT_EQ(FilePageSize(path_), 1024);
  {
    absl::StatusOr<std::unique_ptr<Ledger>> reopened =
        OpenLedger(Cat("sqlite://", batched_path), {.clock = &clock_});
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    absl::StatusOr<std::vector<BudgetStatus>> budgets = (*reopened)->ListBudgets(kStart);
    ASSERT_TRUE(budgets.ok()) << budgets.status();
  }
  EXPECT_EQ(FilePageSize(batched_path), 4096);

  // The URL chooses for a new file, and an existing file must match what it asks for.
  const std::string chosen = dir_.File("chosen.db");
  ASSERT_TRUE(OpenLedger(Cat("sqlite://", chosen, "?page_size=8192"), {}).ok());
  EXPECT_EQ(FilePageSize(chosen), 8192);
  ASSERT_TRUE(OpenLedger(Cat("sqlite://", chosen, "?page_size=8192"), {}).ok());
  const std::string before = ReadBytes(path_);
  absl::StatusOr<std::unique_ptr<Ledger>> mismatch =
      OpenLedger(Cat("sqlite://", path_, "?page_size=4096"), {});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatch.status().message().find("1024-byte pages"), absl::string_view::npos)
      << mismatch.status();
  EXPECT_NE(mismatch.status().message().find(path_), absl::string_view::npos);
  EXPECT_EQ(ReadBytes(path_), before) << "the refused file was modified";
  for (std::string_view bad : {"1000", "256", "131072", "-4096", "4k"}) {
    const std::string never = dir_.File("never.db");
    absl::StatusOr<std::unique_ptr<Ledger>> refused =
        OpenLedger(Cat("sqlite://", never, "?page_size=", bad), {});
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(refused.status().message().find("page_size"), absl::string_view::npos)
        << refused.status();
    EXPECT_FALSE(fs::exists(never)) << bad;
  }
}

TEST_F(SqliteLedgerTest, MissingFileWithoutCreateIsNotFound) {
  auto ledger = Open("", /*create_if_missing=*/false);
  EXPECT_EQ(ledger.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ledger.status().message().find(path_), absl::string_view::npos) << ledger.status();
  EXPECT_FALSE(fs::exists(path_));

  const std::string nested = dir_.File("no/such/dir/ledger.db");
  auto missing_dir = OpenLedger(Cat("sqlite://", nested), {});
  EXPECT_EQ(missing_dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing_dir.status().message().find(dir_.File("no/such/dir")), absl::string_view::npos)
      << missing_dir.status();
}

TEST_F(SqliteLedgerTest, NotADatabaseIsRefusedAndLeftAlone) {
  WriteBytes(path_, "team,cost\nplatform,12.5\n");
  absl::Status s = ExpectRefusedUntouched(absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("not a SQLite database"), absl::string_view::npos) << s;
  EXPECT_FALSE(fs::exists(path_ + "-wal"));
}

TEST_F(SqliteLedgerTest, GarbageAfterAValidHeaderIsRefusedAndLeftAlone) {
  std::string bytes("SQLite format 3\0", 16);
  bytes.append(8192, '\x5a');
  WriteBytes(path_, bytes);
  absl::Status s = ExpectRefusedUntouched(absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("not a usable SQLite database"), absl::string_view::npos) << s;
}

TEST_F(SqliteLedgerTest, CorruptPagesAreRefusedAndLeftAlone) {
  {
    std::unique_ptr<Ledger> ledger = MustOpen();
    ASSERT_NE(ledger, nullptr);
    std::vector<OperationRecord> records(300);
    for (int i = 0; i < 300; ++i) {
      records[i].operation_id = Cat("op-", i);
      records[i].start_unix_nanos = kStart + i;
      records[i].model = std::string(200, 'm');
    }
    ASSERT_TRUE(ledger->AppendOperations(records).ok());
  }
  std::string bytes = ReadBytes(path_);
  ASSERT_GT(bytes.size(), 8u * 4096);
  // Scribble over every page but the first (the schema stays readable).
  for (size_t i = 4096; i < bytes.size(); i += 97) bytes[i] = '\x33';
  WriteBytes(path_, bytes);
  absl::Status s = ExpectRefusedUntouched(absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("restore"), absl::string_view::npos) << s;
}

TEST_F(SqliteLedgerTest, AnotherProgramsDatabaseIsRefusedAndLeftAlone) {
  RawExec(path_,
          "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
          "INSERT INTO customers(name) VALUES('acme');");
  absl::Status s = ExpectRefusedUntouched(absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("not a genops ledger"), absl::string_view::npos) << s;
}

TEST_F(SqliteLedgerTest, ANewerSchemaVersionIsRefusedAndLeftAlone) {
  {
    std::unique_ptr<Ledger> ledger = MustOpen();
    ASSERT_NE(ledger, nullptr);
    ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(1))).ok());
  }
  RawExec(path_, "UPDATE meta SET value = 99 WHERE key = 'schema_version'");
  absl::Status s = ExpectRefusedUntouched(absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("schema version 99"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("upgrade genops"), absl::string_view::npos) << s;
}

TEST_F(SqliteLedgerTest, AnEmptyFileIsALedgerOnlyWhenCreatingIsAllowed) {
  WriteBytes(path_, "");
  auto refused = Open("", /*create_if_missing=*/false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(fs::file_size(path_), 0u);
  std::unique_ptr<Ledger> ledger = MustOpen();
  ASSERT_NE(ledger, nullptr);
  EXPECT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(1))).ok());
}

}  // namespace
}  // namespace genops::ledger
