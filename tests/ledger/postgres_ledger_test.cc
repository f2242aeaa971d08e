// The PostgreSQL store (needs PostgreSQL 15; skipped when it is not installed, outside CI):
// the conformance suite on a fresh database per test, replicas sharing one database, a
// server outage and restart, URL and connection errors, schema versioning, idempotency
// retention, and the operations log beyond one page.
#include "src/ledger/postgres_ledger.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/ledger/ledger_factory.h"
#include "tests/ledger/ledger_conformance.h"
#include "tests/support/postgres_server.h"

namespace genops::ledger {
namespace {

using ::genops::ledger::testing::LedgerConformanceTest;
using ::genops::testing::PostgresServer;
using ::testing::HasSubstr;

constexpr int64_t kHour = 3600 * kNanosPerSecond;

// A fresh database on the shared server; kUnavailable (skip) without PostgreSQL.
absl::StatusOr<std::string> FreshDatabase() {
  absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
  if (!server.ok()) return server.status();
  return (*server)->CreateDatabase();
}

absl::StatusOr<std::unique_ptr<Ledger>> OpenFresh(const Clock* clock) {
  absl::StatusOr<std::string> url = FreshDatabase();
  if (!url.ok()) return url.status();
  LedgerOpenOptions options;
  options.clock = clock;
  return OpenPostgresLedger(*url, options);
}

INSTANTIATE_TEST_SUITE_P(Postgres, LedgerConformanceTest,
                         ::testing::Values(testing::LedgerFactory{"postgres", &OpenFresh}),
                         testing::FactoryName);

Money Usd(int64_t whole) { return Money::FromNanos(whole * Money::kNanosPerUsd); }

Attribution Team(std::string team) {
  Attribution a;
  a.team = std::move(team);
  a.project = "proj";
  return a;
}

ReserveRequest Req(std::string id, const Attribution& who, Money amount, int64_t now,
                   int64_t expires = 0) {
  ReserveRequest r;
  r.operation_id = std::move(id);
  r.attribution = who;
  r.amount = amount;
  r.now_unix_nanos = now;
  r.expires_at_unix_nanos = expires;
  return r;
}

BudgetSpec Budget(std::string name, Money limit, Scope scope = {},
                  BudgetPeriod period = BudgetPeriod::kDay) {
  BudgetSpec spec;
  spec.name = std::move(name);
  spec.limit = limit;
  spec.scope = std::move(scope);
  spec.period = period;
  return spec;
}

using testing::StatusOf;

int64_t ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

class PostgresLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
    if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable) {
      GTEST_SKIP() << server.status();
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    absl::StatusOr<std::string> url = server_->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    database_ = url_.substr(url_.rfind('/') + 1);
  }

  std::unique_ptr<Ledger> Open(const std::string& suffix = "") {
    LedgerOpenOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = OpenLedger(url_ + suffix, options);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? *std::move(ledger) : nullptr;
  }

  absl::Status OpenStatus(const std::string& url, int64_t timeout_ms = 2000) {
    LedgerOpenOptions options;
    options.clock = &clock_;
    options.timeout_ms = timeout_ms;
    return OpenLedger(url, options).status();
  }

  ManualClock clock_{1'772'625'600LL * kNanosPerSecond};
  PostgresServer* server_ = nullptr;
  std::string url_;
  std::string database_;
};

// Two replicas (two Ledger instances, each with its own pool) hammer one budget: the
// database alone keeps them within the limit, and every settled nano is accounted for.
TEST_F(PostgresLedgerTest, TwoReplicasNeverOverspend) {
  std::unique_ptr<Ledger> a = Open("?pool_size=4");
  std::unique_ptr<Ledger> b = Open("?pool_size=4");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const Money limit = Usd(40);
  ASSERT_TRUE(a->UpsertBudget(Budget("shared", limit)).ok());
  ASSERT_TRUE(b->UpsertBudget(Budget("team-x", Usd(25), {{"team", "x"}})).ok());

  constexpr int kThreadsPerReplica = 8;
  constexpr int kOpsPerThread = 120;
  std::atomic<int64_t> settled_nanos{0};
  std::atomic<int64_t> team_x_nanos{0};
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::atomic<int> failures{0};
  std::atomic<bool> overrun{false};
  const int64_t t = clock_.NowUnixNanos();
  std::vector<std::thread> threads;
  for (int replica = 0; replica < 2; ++replica) {
    Ledger* ledger = replica == 0 ? a.get() : b.get();
    for (int w = 0; w < kThreadsPerReplica; ++w) {
      threads.emplace_back([&, ledger, replica, w] {
        for (int i = 0; i < kOpsPerThread; ++i) {
          const std::string id = Cat("op-", replica, "-", w, "-", i);
          const Attribution who = Team((w + i) % 3 == 0 ? "x" : "y");
          const Money estimate = Money::FromNanos((10 + (w * 7 + i * 13) % 51) * 10'000'000LL);
          absl::StatusOr<ReserveOutcome> outcome = ledger->Reserve(Req(id, who, estimate, t));
          if (!outcome.ok()) {
            ++failures;
            ADD_FAILURE() << outcome.status();
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
          // Settle on the other replica half of the time: the reservation is shared state.
          Ledger* settler = i % 2 == 0 ? ledger : (ledger == a.get() ? b.get() : a.get());
          const Money actual = Money::FromNanos(estimate.nanos() * ((i % 4) + 1) / 4);
          absl::StatusOr<SettleOutcome> settled = settler->Settle(id, actual, t);
          if (!settled.ok() || settled->already_settled) {
            ++failures;
            ADD_FAILURE() << settled.status();
            continue;
          }
          settled_nanos += actual.nanos();
          if (who.team == "x") team_x_nanos += actual.nanos();
        }
      });
    }
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_FALSE(overrun);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(refused.load(), 0);  // the budgets really ran out under contention
  for (Ledger* ledger : {a.get(), b.get()}) {
    const BudgetStatus shared = StatusOf(*ledger, "shared", t);
    EXPECT_LE(shared.spent, limit);
    EXPECT_EQ(shared.reserved, Money::Zero());
    EXPECT_EQ(shared.spent.nanos(), settled_nanos.load());
    const BudgetStatus team_x = StatusOf(*ledger, "team-x", t);
    EXPECT_LE(team_x.spent, Usd(25));
    EXPECT_EQ(team_x.spent.nanos(), team_x_nanos.load());
    EXPECT_EQ(ledger->TotalSpent()->nanos(), settled_nanos.load());
  }
}

TEST_F(PostgresLedgerTest, ReplicasSeeEachOthersBudgetsAndOperationsAtOnce) {
  std::unique_ptr<Ledger> a = Open();
  std::unique_ptr<Ledger> b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(b->Reserve(Req("op-1", Team("a"), Usd(4), t))->admitted);
  // B has cached the spec; A lowers the limit; B's next admission must use the new one.
  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(5))).ok());
  absl::StatusOr<ReserveOutcome> refused = b->Reserve(Req("op-2", Team("a"), Usd(2), t));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused_by, "daily");
  ASSERT_EQ(refused->budgets.size(), 1u);
  EXPECT_EQ(refused->budgets[0].limit(), Usd(5));

  // A's reservation is settled by B; A sees the settled id (idempotency across processes).
  absl::StatusOr<SettleOutcome> settled = b->Settle("op-1", Usd(3), t);
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_FALSE(settled->already_settled);
  absl::StatusOr<SettleOutcome> repeat = a->Settle("op-1", Usd(9), t);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->already_settled);
  EXPECT_EQ(repeat->actual, Usd(3));
  absl::StatusOr<std::optional<OperationEntry>> entry = a->LookupOperation("op-1");
  ASSERT_TRUE(entry.ok() && entry->has_value()) << entry.status();
  EXPECT_EQ((*entry)->state, OperationState::kSettled);
  EXPECT_EQ(*a->TotalSpent(), Usd(3));

  // A deleted budget stops counting in the other replica too.
  ASSERT_TRUE(b->DeleteBudget("daily").ok());
  absl::StatusOr<ReserveOutcome> free = a->Reserve(Req("op-3", Team("a"), Usd(100), t));
  ASSERT_TRUE(free.ok());
  EXPECT_TRUE(free->admitted);
  EXPECT_TRUE(free->budgets.empty());
}

TEST_F(PostgresLedgerTest, StatusesOfOneSpecVersionShareOneSpec) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(10))).ok());
  auto first = ledger->Reserve(Req("op-1", Team("a"), Usd(1), t));
  auto second = ledger->Reserve(Req("op-2", Team("a"), Usd(1), t));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->budgets.size(), 1u);
  ASSERT_EQ(second->budgets.size(), 1u);
  EXPECT_EQ(first->budgets[0].spec.get(), second->budgets[0].spec.get());
  EXPECT_EQ(StatusOf(*ledger, "daily", t).spec.get(), first->budgets[0].spec.get());
}

TEST_F(PostgresLedgerTest, EmptyScopeValuesAndTagsMatchLikeTheMemoryStore) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  // A scope value "" matches a call whose dimension is empty or absent (Attribution::Dimension).
  ASSERT_TRUE(ledger->UpsertBudget(Budget("no-customer", Usd(1), {{"customer_id", ""}})).ok());
  ASSERT_TRUE(ledger->UpsertBudget(Budget("untagged", Usd(1), {{"tag:env", ""}})).ok());
  Attribution plain = Team("a");
  Attribution tagged = Team("a");
  tagged.tags["env"] = "prod";
  tagged.customer_id = "acme";
  Attribution empty_tag = Team("a");
  empty_tag.tags["env"] = "";
  auto names = [&](const Attribution& who, const std::string& id) {
    std::vector<std::string> out;
    absl::StatusOr<ReserveOutcome> r = ledger->Reserve(Req(id, who, Money::Zero(), t));
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      for (const BudgetStatus& b : r->budgets) out.push_back(b.spec->name);
    }
    return out;
  };
  EXPECT_EQ(names(plain, "p"), (std::vector<std::string>{"no-customer", "untagged"}));
  EXPECT_EQ(names(tagged, "t"), std::vector<std::string>{});
  EXPECT_EQ(names(empty_tag, "e"), (std::vector<std::string>{"no-customer", "untagged"}));
}

TEST_F(PostgresLedgerTest, ChangingAPeriodRestartsTheCounters) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  BudgetSpec spec = Budget("b", Money::FromNanos(10));
  ASSERT_TRUE(ledger->UpsertBudget(spec).ok());
  ASSERT_TRUE(ledger->Reserve(Req("held", Team("a"), Money::FromNanos(4), t))->admitted);
  ASSERT_TRUE(ledger->Charge("spent", Team("a"), Money::FromNanos(3), t).ok());
  spec.period = BudgetPeriod::kMonth;
  ASSERT_TRUE(ledger->UpsertBudget(spec).ok());
  BudgetStatus after = StatusOf(*ledger, "b", t);
  EXPECT_EQ(after.spent, Money::Zero());
  EXPECT_EQ(after.reserved, Money::Zero());
  // Releasing the old reservation must not drive the new counters negative.
  ASSERT_TRUE(ledger->Release("held").ok());
  EXPECT_EQ(StatusOf(*ledger, "b", t).reserved, Money::Zero());
  // A re-created budget starts from zero too, and old holds do not touch it.
  ASSERT_TRUE(ledger->Reserve(Req("held-2", Team("a"), Money::FromNanos(5), t))->admitted);
  ASSERT_TRUE(ledger->DeleteBudget("b").ok());
  ASSERT_TRUE(ledger->UpsertBudget(spec).ok());
  ASSERT_TRUE(ledger->Release("held-2").ok());
  EXPECT_EQ(StatusOf(*ledger, "b", t).reserved, Money::Zero());
  EXPECT_TRUE(ledger->Reserve(Req("full", Team("a"), Money::FromNanos(10), t))->admitted);
}

TEST_F(PostgresLedgerTest, SettledIdsAreRememberedForTheirTtl) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const Money one = Usd(1);
  ASSERT_TRUE(ledger->Charge("op-1", Team("a"), one, clock_.NowUnixNanos()).ok());
  clock_.Advance(47 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock_.NowUnixNanos()).ok());
  absl::StatusOr<SettleOutcome> repeat =
      ledger->Charge("op-1", Team("a"), one, clock_.NowUnixNanos());
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->already_settled);
  EXPECT_EQ(*ledger->TotalSpent(), one);

  clock_.Advance(2 * kHour);  // 49 h after it settled
  ASSERT_TRUE(ledger->ExpireReservations(clock_.NowUnixNanos()).ok());
  EXPECT_FALSE(ledger->LookupOperation("op-1")->has_value());
  absl::StatusOr<SettleOutcome> late =
      ledger->Charge("op-1", Team("a"), one, clock_.NowUnixNanos());
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->already_settled);
  EXPECT_EQ(*ledger->TotalSpent(), one + one);
}

TEST_F(PostgresLedgerTest, SettledTtlIsConfigurable) {
  std::unique_ptr<Ledger> ledger = Open("?settled_ttl_s=259200");  // 72 h
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(ledger->Charge("op-1", Team("a"), Usd(1), clock_.NowUnixNanos()).ok());
  clock_.Advance(71 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock_.NowUnixNanos()).ok());
  EXPECT_TRUE(ledger->LookupOperation("op-1")->has_value());
  clock_.Advance(2 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock_.NowUnixNanos()).ok());
  EXPECT_FALSE(ledger->LookupOperation("op-1")->has_value());
  EXPECT_EQ(OpenStatus(url_ + "?settled_ttl_s=3600").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresLedgerTest, OperationsLogPagesThroughManyRecordsInOrder) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  std::vector<OperationRecord> batch;
  for (int i = 0; i < 1300; ++i) {
    OperationRecord r;
    r.operation_id = Cat("op-", 10000 + i);
    r.start_unix_nanos = t + (i / 3) * kNanosPerSecond;  // three records per start time
    r.cost = Money::FromNanos(i);
    r.attribution.tags["i"] = Cat(i);
    batch.push_back(r);
  }
  ASSERT_TRUE(ledger->AppendOperations(batch).ok());
  absl::StatusOr<std::vector<OperationRecord>> all = QueryOperations(*ledger, {});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1300u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].operation_id, Cat("op-", 10000 + 1299 - static_cast<int>(i))) << i;
  }
  absl::StatusOr<std::vector<OperationRecord>> limited = QueryOperations(*ledger, {.limit = 700});
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 700u);
  EXPECT_EQ(limited->back().operation_id, Cat("op-", 10000 + 600));
  EXPECT_EQ(limited->back().attribution.tags.at("i"), "600");
  absl::StatusOr<int64_t> purged = ledger->PurgeOperations(t + 100 * kNanosPerSecond);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 300);
}

TEST_F(PostgresLedgerTest, TextPostgresCannotStoreIsRejectedPrecisely) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  absl::Status nul = ledger->Reserve(Req(std::string("op\0x", 4), Team("a"), Usd(1), t)).status();
  EXPECT_EQ(nul.code(), absl::StatusCode::kInvalidArgument) << nul;
  EXPECT_THAT(std::string(nul.message()), HasSubstr("NUL"));
  Attribution bad_utf8 = Team("\xff\xfe");
  absl::Status utf8 = ledger->Charge("op-utf8", bad_utf8, Usd(1), t).status();
  EXPECT_EQ(utf8.code(), absl::StatusCode::kInvalidArgument) << utf8;
  OperationRecord record;
  record.operation_id = "log-1";
  record.model = "\xc3\x28";
  EXPECT_EQ(ledger->AppendOperations({record}).code(), absl::StatusCode::kInvalidArgument);
  // Nothing was recorded, and the connection is still good.
  EXPECT_EQ(*ledger->TotalSpent(), Money::Zero());
  EXPECT_TRUE(QueryOperations(*ledger, {})->empty());
  // Non-ASCII UTF-8 and JSON-special characters round-trip.
  Attribution fancy = Team("équipe \"α\"\\\n\t");
  fancy.tags["ключ"] = "値 \x01";
  ASSERT_TRUE(ledger->UpsertBudget(Budget("fancy", Usd(5), {{"team", fancy.team}})).ok());
  absl::StatusOr<SettleOutcome> charged = ledger->Charge("op-fancy", fancy, Usd(1), t);
  ASSERT_TRUE(charged.ok()) << charged.status();
  ASSERT_EQ(charged->budgets.size(), 1u);
  EXPECT_EQ(charged->budgets[0].spec->scope.at("team"), fancy.team);
  record.model = "modèle";
  record.attribution = fancy;
  ASSERT_TRUE(ledger->AppendOperations({record}).ok());
  EXPECT_EQ(QueryOperations(*ledger, {})->at(0).attribution, fancy);
}

TEST_F(PostgresLedgerTest, APoolOfOneServesManyThreads) {
  std::unique_ptr<Ledger> ledger = Open("?pool_size=1");
  ASSERT_NE(ledger, nullptr);
  const int64_t t = clock_.NowUnixNanos();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 25; ++i) {
        if (ledger->Charge(Cat("c-", w, "-", i), Team("a"), Money::FromNanos(1), t).ok()) ++ok;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(ledger->TotalSpent()->nanos(), 100);
}

// libpq's `options` passes through: a search_path puts a second ledger in its own schema
// of the same database, sharing nothing with the first.
TEST_F(PostgresLedgerTest, OptionsPassThroughToTheServer) {
  ASSERT_TRUE(server_->ExecuteSql(database_, "CREATE SCHEMA other").ok());
  std::unique_ptr<Ledger> main = Open();
  std::unique_ptr<Ledger> other = Open("?options=-c%20search_path%3Dother&pool_size=2");
  ASSERT_NE(main, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->UpsertBudget(Budget("only-in-other", Usd(1))).ok());
  ASSERT_TRUE(other->Charge("op", Team("a"), Usd(1), clock_.NowUnixNanos()).ok());
  EXPECT_TRUE(main->ListBudgets(clock_.NowUnixNanos())->empty());
  EXPECT_EQ(*main->TotalSpent(), Money::Zero());
  EXPECT_EQ(other->ListBudgets(clock_.NowUnixNanos())->size(), 1u);
  EXPECT_TRUE(server_
                  ->ExecuteSql(database_,
                               "DO $$ BEGIN IF to_regclass('other.genops_budgets') "
                               "IS NULL THEN RAISE EXCEPTION 'missing'; END IF; END $$")
                  .ok());
}

TEST_F(PostgresLedgerTest, ConcurrentFirstOpensAllSucceed) {
  constexpr int kOpeners = 6;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kOpeners);
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] { results[i] = OpenStatus(url_); });
  }
  for (std::thread& th : threads) th.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
}

TEST_F(PostgresLedgerTest, ANewerSchemaIsRefused) {
  ASSERT_NE(Open(), nullptr);
  ASSERT_TRUE(
      server_
          ->ExecuteSql(database_, "UPDATE genops_meta SET value = 99 WHERE key = 'schema_version'")
          .ok());
  absl::Status status = OpenStatus(url_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("schema version 99"));
}

TEST_F(PostgresLedgerTest, BadUrlsAreRejectedPrecisely) {
  const std::string base = Cat("postgresql://postgres@127.0.0.1:", server_->port(), "/");
  struct Case {
    std::string url;
    std::string mentions;
  };
  const Case cases[] = {
      {base + database_ + "?pool_sise=2", "pool_sise"},
      {base + database_ + "?timeout_ms=0", "timeout_ms"},
      {base + database_ + "?pool_size=abc", "pool_size"},
      {base + database_ + "?connect_timeout=5", "timeout_ms"},
      {base + database_ + "?user=x", "user"},
      {base + database_ + "?sslmode", "sslmode"},
      {base + database_ + "?timeout_ms=5&timeout_ms=6", "twice"},
      {base, "no database"},
      {"postgresql://postgres@:5432/db", "no host"},
      {"postgresql://postgres@127.0.0.1:99999/db", "port"},
      {"postgresql://postgres@127.0.0.1:54x/db", "port"},
      {"postgresql://a%zzb@127.0.0.1/db", "percent-escape"},
      {"postgresql://h1,h2/db", "several hosts"},
      {"postgresql://[::1/db", "IPv6"},
  };
  for (const Case& c : cases) {
    absl::Status status = OpenStatus(c.url);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.url << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.mentions)) << c.url;
  }
  // Pass-through parameters and the postgres:// spelling are accepted.
  EXPECT_TRUE(OpenStatus(Cat("postgres://postgres@127.0.0.1:", server_->port(), "/", database_,
                             "?sslmode=disable&application_name=genops%20test&keepalives=1"))
                  .ok());
}

TEST_F(PostgresLedgerTest, CredentialsAndDatabaseErrorsArePrecise) {
  // Roles are per server, not per database: name it after this test's database.
  const std::string role = Cat("user_", database_);
  absl::Status created = server_->CreateRole(role, "s3cret@/:", database_);
  ASSERT_TRUE(created.ok()) << created;
  const std::string host = Cat("127.0.0.1:", server_->port());
  // The password's reserved characters are percent-escaped in the URL.
  std::unique_ptr<Ledger> good;
  {
    LedgerOpenOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<Ledger>> ledger =
        OpenLedger(Cat("postgresql://", role, ":s3cret%40%2F%3A@", host, "/", database_), options);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    good = *std::move(ledger);
    EXPECT_TRUE(good->Charge("op", Team("a"), Usd(1), clock_.NowUnixNanos()).ok());
  }
  absl::Status wrong = OpenStatus(Cat("postgresql://", role, ":wrong@", host, "/", database_));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated) << wrong;
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("password authentication failed"));
  EXPECT_THAT(std::string(wrong.message()), ::testing::Not(HasSubstr("wrong")));
  absl::Status missing = OpenStatus(Cat("postgresql://", role, "@", host, "/", database_));
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated) << missing;
  absl::Status no_role = OpenStatus(Cat("postgresql://nobody:x@", host, "/", database_));
  EXPECT_EQ(no_role.code(), absl::StatusCode::kUnauthenticated) << no_role;
  absl::Status no_db = OpenStatus(Cat("postgresql://postgres@", host, "/no_such_db"));
  EXPECT_EQ(no_db.code(), absl::StatusCode::kNotFound) << no_db;
  EXPECT_THAT(std::string(no_db.message()), HasSubstr("no_such_db"));
}

// A port where nothing listens.
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(PostgresLedgerTest, UnreachableAndSilentServersAreUnavailableWithinTheTimeout) {
  auto start = std::chrono::steady_clock::now();
  absl::Status refused = OpenStatus(Cat("postgresql://postgres@127.0.0.1:", DeadPort(), "/db"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("127.0.0.1:"));
  EXPECT_LT(ElapsedMs(start), 1000);

  // A listener that never answers (the kernel completes the handshake; nobody speaks).
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  start = std::chrono::steady_clock::now();
  absl::Status silent = OpenStatus(
      Cat("postgresql://postgres@127.0.0.1:", ntohs(addr.sin_port), "/db?timeout_ms=300"));
  const int64_t elapsed = ElapsedMs(start);
  close(fd);
  EXPECT_EQ(silent.code(), absl::StatusCode::kUnavailable) << silent;
  EXPECT_GE(elapsed, 250);
  EXPECT_LT(elapsed, 1500);
}

// The server goes away under load and comes back: every failed call fails fast with
// kUnavailable, the store works again after the restart, and no settled spend is lost.
TEST(PostgresOutageTest, ServerStoppedMidRunThenRestarted) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> started = PostgresServer::Start();
  if (!started.ok() && started.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << started.status();
  }
  ASSERT_TRUE(started.ok()) << started.status();
  PostgresServer& server = **started;
  absl::StatusOr<std::string> url = server.CreateDatabase();
  ASSERT_TRUE(url.ok()) << url.status();
  ManualClock clock;
  LedgerOpenOptions options;
  options.clock = &clock;
  constexpr int64_t kTimeoutMs = 1000;
  absl::StatusOr<std::unique_ptr<Ledger>> opened =
      OpenLedger(Cat(*url, "?timeout_ms=", kTimeoutMs), options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Ledger& ledger = **opened;
  const int64_t t = clock.NowUnixNanos();
  ASSERT_TRUE(ledger.UpsertBudget(Budget("daily", Usd(1'000'000))).ok());

  // Shared with the workers under `mu`; the test thread waits on it with Await, no sleeps.
  absl::Mutex mu;
  std::map<std::string, int64_t> confirmed;  // settled, reply received
  std::map<std::string, int64_t> pending;    // maybe reserved; not known to be settled
  int completed = 0;
  int unavailable = 0;
  bool stop = false;
  std::atomic<int> wrong_code{0};
  std::atomic<int64_t> slowest_failure_ms{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0;; ++i) {
        const std::string id = Cat("op-", w, "-", i);
        const int64_t amount = 1'000 + i;
        {
          absl::MutexLock lock(&mu);
          if (stop) return;
          pending[id] = amount;  // a lost reply may have committed the reservation
        }
        auto note_failure = [&](const absl::Status& s, std::chrono::steady_clock::time_point at) {
          const int64_t ms = ElapsedMs(at);
          int64_t prev = slowest_failure_ms.load();
          while (ms > prev && !slowest_failure_ms.compare_exchange_weak(prev, ms)) {
          }
          if (s.code() != absl::StatusCode::kUnavailable) {
            ++wrong_code;
            ADD_FAILURE() << s;
          }
          absl::MutexLock lock(&mu);
          ++unavailable;
        };
        auto at = std::chrono::steady_clock::now();
        absl::StatusOr<ReserveOutcome> reserved =
            ledger.Reserve(Req(id, Team("a"), Money::FromNanos(amount), t));
        if (!reserved.ok()) {
          note_failure(reserved.status(), at);
          continue;
        }
        at = std::chrono::steady_clock::now();
        absl::StatusOr<SettleOutcome> settled = ledger.Settle(id, Money::FromNanos(amount), t);
        if (!settled.ok()) {
          note_failure(settled.status(), at);
          continue;
        }
        absl::MutexLock lock(&mu);
        pending.erase(id);
        confirmed[id] = amount;
        ++completed;
      }
    });
  }
  // Waits (bounded) until `done` holds; false on timeout.
  auto await = [&mu](const std::function<bool()>& done) {
    absl::MutexLock lock(&mu);
    return mu.AwaitWithTimeout(absl::Condition(&done, &std::function<bool()>::operator()),
                               absl::Seconds(30));
  };
  EXPECT_TRUE(await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return completed >= 50; }));
  ASSERT_TRUE(server.Stop().ok());
  int failures_before = 0;
  {
    absl::MutexLock lock(&mu);
    failures_before = unavailable;
  }
  // The workers keep calling the stopped server: each call must fail, fast.
  EXPECT_TRUE(
      await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return unavailable >= failures_before + 20; }));
  int completed_while_down = 0;
  {
    absl::MutexLock lock(&mu);
    completed_while_down = completed;
  }
  ASSERT_TRUE(server.Restart().ok());
  EXPECT_TRUE(await(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return completed >= completed_while_down + 50; }));
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong_code.load(), 0);
  EXPECT_GE(completed, completed_while_down + 50);  // it works again after the restart
  EXPECT_LT(slowest_failure_ms.load(), kTimeoutMs + 500);

  // Finish what was in doubt: each pending id is settled now (a repeat if it had been), or
  // was never reserved.
  int64_t expected = 0;
  for (const auto& [id, amount] : confirmed) expected += amount;
  for (const auto& [id, amount] : pending) {
    absl::StatusOr<SettleOutcome> settled = ledger.Settle(id, Money::FromNanos(amount), t);
    if (settled.ok()) {
      expected += amount;
    } else {
      EXPECT_EQ(settled.status().code(), absl::StatusCode::kNotFound) << settled.status();
    }
  }
  EXPECT_EQ(ledger.TotalSpent()->nanos(), expected);
  const BudgetStatus daily = StatusOf(ledger, "daily", t);
  EXPECT_EQ(daily.spent.nanos(), expected);
  EXPECT_EQ(daily.reserved, Money::Zero());
}

TEST(PostgresServerTest, HarnessGivesFreshDatabasesAndRestartsOnTheSamePort) {
  // Started from a thread that ends at once: the server must outlive it.
  absl::StatusOr<std::unique_ptr<PostgresServer>> started = absl::UnavailableError("not started");
  std::thread([&started] { started = PostgresServer::Start(); }).join();
  if (!started.ok() && started.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << started.status();
  }
  ASSERT_TRUE(started.ok()) << started.status();
  PostgresServer& server = **started;
  const int port = server.port();
  absl::StatusOr<std::string> first = server.CreateDatabase();
  absl::StatusOr<std::string> second = server.CreateDatabase();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_THAT(*first, HasSubstr(Cat("127.0.0.1:", port)));
  ASSERT_TRUE(server
                  .ExecuteSql(first->substr(first->rfind('/') + 1),
                              "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
                  .ok());
  ASSERT_TRUE(server.Restart().ok());
  EXPECT_EQ(server.port(), port);
  EXPECT_TRUE(server.running());
  EXPECT_TRUE(server
                  .ExecuteSql(first->substr(first->rfind('/') + 1),
                              "DO $$ BEGIN IF (SELECT x FROM kept) <> 7 THEN "
                              "RAISE EXCEPTION 'lost'; END IF; END $$")
                  .ok());
  ASSERT_TRUE(server.Stop().ok());
  EXPECT_FALSE(server.running());
  EXPECT_FALSE(server.CreateDatabase().ok());
  const std::string dir = server.dir();
  started->reset();
  EXPECT_NE(access(dir.c_str(), F_OK), 0);  // the temp dir is gone
}

TEST(PostgresServerTest, AwaitQuietWaitsForRunningStatements) {
  absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
  if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << server.status();
  }
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> url = (*server)->CreateDatabase();
  ASSERT_TRUE(url.ok()) << url.status();
  const std::string database = url->substr(url->rfind('/') + 1);
  EXPECT_EQ(*(*server)->BusySessions(database), 0);
  std::atomic<bool> finished{false};
  std::thread sleeper([&] {
    EXPECT_TRUE((*server)->ExecuteSql(database, "SELECT pg_sleep(0.5)").ok());
    finished = true;
  });
  // Wait (bounded) for the statement to show up as running.
  bool seen = false;
  for (int i = 0; i < 400 && !seen && !finished; ++i) {
    seen = *(*server)->BusySessions(database) > 0;
  }
  ASSERT_TRUE(seen);
  EXPECT_EQ((*server)->AwaitQuiet(database, absl::Milliseconds(10)).code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE((*server)->AwaitQuiet(database, absl::Seconds(10)).ok());
  EXPECT_EQ(*(*server)->BusySessions(database), 0);
  sleeper.join();
}

TEST(PostgresServerTest, MissingPostgresIsUnavailableExceptInCi) {
  const std::string nowhere = "/nonexistent/postgresql/bin";
  MapEnvironment ci{{"CI", "true"}};
  absl::Status in_ci = PostgresServer::Start(&ci, nowhere).status();
  EXPECT_EQ(in_ci.code(), absl::StatusCode::kFailedPrecondition) << in_ci;
  EXPECT_THAT(std::string(in_ci.message()), HasSubstr(nowhere));
  MapEnvironment local{{"CI", "false"}};
  EXPECT_EQ(PostgresServer::Start(&local, nowhere).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace genops::ledger
