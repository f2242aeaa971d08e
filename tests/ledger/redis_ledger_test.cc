// The Redis ledger store (src/ledger/redis_ledger.h) against a real redis-server started on
// loopback by tests/support/redis_server.h: the conformance suite, several replicas sharing
// one server, exact money beyond 2^53, a server that stops, freezes and restarts, script
// cache loss, and URL errors. Without redis-server installed every test skips (outside CI).
#include "src/ledger/redis_ledger.h"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/ledger/memory_ledger.h"
#include "tests/ledger/ledger_conformance.h"
#include "tests/support/redis_server.h"

namespace genops::ledger {
namespace {

using genops::testing::RedisServer;
using genops::testing::RedisServerOptions;
using Steady = std::chrono::steady_clock;

// 2026-03-04T12:00:00Z
constexpr int64_t kNow = 1'772'625'600LL * kNanosPerSecond;

Money Usd(int64_t whole) { return Money::FromNanos(whole * Money::kNanosPerUsd); }
Money Nanos(int64_t n) { return Money::FromNanos(n); }

absl::StatusOr<std::unique_ptr<Ledger>> OpenFreshRedisLedger(const Clock* clock) {
  absl::StatusOr<RedisServer*> server = RedisServer::Shared();
  if (!server.ok()) return server.status();
  LedgerOpenOptions options;
  options.clock = clock;
  return OpenLedger((*server)->FreshUrl(), options);
}

using testing::LedgerConformanceTest;
INSTANTIATE_TEST_SUITE_P(Redis, LedgerConformanceTest,
                         ::testing::Values(testing::LedgerFactory{"redis", OpenFreshRedisLedger}),
                         testing::FactoryName);

BudgetSpec Budget(std::string name, Money limit, BudgetPeriod period = BudgetPeriod::kDay,
                  Scope scope = {}) {
  BudgetSpec spec;
  spec.name = std::move(name);
  spec.limit = limit;
  spec.period = period;
  spec.scope = std::move(scope);
  return spec;
}

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

using testing::StatusOf;

// Runs one raw command on the server (what an operator or another program might do).
void RawCommand(int port, const std::vector<std::string>& argv) {
  redisContext* ctx = redisConnect("127.0.0.1", port);
  ASSERT_TRUE(ctx != nullptr && ctx->err == 0);
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(args.size()), args.data(), lens.data()));
  ASSERT_NE(reply, nullptr);
  EXPECT_NE(reply->type, REDIS_REPLY_ERROR) << reply->str;
  freeReplyObject(reply);
  redisFree(ctx);
}

// Runs one raw command and returns its integer reply (-1000 on any other reply).
int64_t RawInteger(int port, const std::vector<std::string>& argv) {
  redisContext* ctx = redisConnect("127.0.0.1", port);
  if (ctx == nullptr || ctx->err != 0) return -1000;
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(args.size()), args.data(), lens.data()));
  const int64_t value =
      reply != nullptr && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1000;
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(ctx);
  return value;
}

class RedisLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RedisServer*> server = RedisServer::Shared();
    if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable) {
      GTEST_SKIP() << server.status();
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    url_ = server_->FreshUrl();
  }

  std::unique_ptr<Ledger> Open(const std::string& url) {
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = OpenLedger(url, LedgerOpenOptions{});
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? *std::move(ledger) : nullptr;
  }
  std::unique_ptr<Ledger> Open() { return Open(url_); }
  std::string Prefix() const { return ParseRedisLedgerUrl(url_, 1000)->prefix; }

  RedisServer* server_ = nullptr;
  std::string url_;
};

// --- Replicas sharing one server ---------------------------------------------------------

TEST_F(RedisLedgerTest, TwoReplicasOfEightThreadsNeverOverspend) {
  std::unique_ptr<Ledger> a = Open();
  std::unique_ptr<Ledger> b = Open(url_ + "&pool_size=1");  // all 8 threads on one connection
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const Money limit = Usd(40);
  ASSERT_TRUE(a->UpsertBudget(Budget("shared", limit)).ok());
  ASSERT_TRUE(
      b->UpsertBudget(Budget("team-a", Usd(30), BudgetPeriod::kTotal, {{"team", "a"}})).ok());
  std::atomic<int64_t> settled_nanos{0};
  std::atomic<int64_t> settled_team_a{0};
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::atomic<bool> overrun{false};
  std::vector<std::thread> threads;
  for (int replica = 0; replica < 2; ++replica) {
    Ledger* ledger = replica == 0 ? a.get() : b.get();
    for (int w = 0; w < 8; ++w) {
      threads.emplace_back([&, ledger, replica, w] {
        for (int i = 0; i < 200; ++i) {
          const std::string id = Cat("r", replica, "-", w, "-", i);
          const std::string team = (w + i) % 2 == 0 ? "a" : "b";
          const Money estimate = Nanos((10 + (w * 7 + i * 13) % 51) * 10'000'000LL);
          auto outcome = ledger->Reserve(Req(id, Team(team), estimate, kNow));
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
          const Money actual = Nanos(estimate.nanos() * ((i % 4) + 1) / 4 + (i % 3));
          const Money capped = std::min(actual, estimate);
          auto settled = ledger->Settle(id, capped, kNow);
          if (!settled.ok()) {
            ++errors;
            continue;
          }
          settled_nanos += capped.nanos();
          if (team == "a") settled_team_a += capped.nanos();
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_FALSE(overrun);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(refused.load(), 0);
  const BudgetStatus shared = StatusOf(*a, "shared", kNow);
  EXPECT_LE(shared.spent, limit);
  EXPECT_EQ(shared.reserved, Money::Zero());
  EXPECT_EQ(shared.spent.nanos(), settled_nanos.load());
  const BudgetStatus team_a = StatusOf(*b, "team-a", kNow);
  EXPECT_LE(team_a.spent, Usd(30));
  EXPECT_EQ(team_a.spent.nanos(), settled_team_a.load());
  EXPECT_EQ(a->TotalSpent()->nanos(), settled_nanos.load());
  EXPECT_EQ(b->TotalSpent()->nanos(), settled_nanos.load());
}

TEST_F(RedisLedgerTest, AReplicaNeverActsOnBudgetsAnotherReplicaChanged) {
  std::unique_ptr<Ledger> a = Open();
  std::unique_ptr<Ledger> b = Open();
  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(a->Reserve(Req("op-1", Team("x"), Usd(5), kNow))->admitted);  // a caches it

  // b lowers the limit: a's next reservation is checked against the new one.
  ASSERT_TRUE(b->UpsertBudget(Budget("daily", Usd(6))).ok());
  auto refused = a->Reserve(Req("op-2", Team("x"), Usd(2), kNow));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused_by, "daily");
  ASSERT_EQ(refused->budgets.size(), 1u);
  EXPECT_EQ(refused->budgets[0].spec->limit, Usd(6));

  // b adds a team budget: a's reservation now needs room in it too.
  ASSERT_TRUE(
      b->UpsertBudget(Budget("team-x", Nanos(999'999'999), BudgetPeriod::kDay, {{"team", "x"}}))
          .ok());
  auto by_team = a->Reserve(Req("op-3", Team("x"), Usd(1), kNow));  // "daily" has $1 room
  ASSERT_TRUE(by_team.ok());
  EXPECT_FALSE(by_team->admitted);
  EXPECT_EQ(by_team->refused_by, "team-x");

  // b deletes both: a's reservation is no longer limited.
  ASSERT_TRUE(b->DeleteBudget("daily").ok());
  ASSERT_TRUE(b->DeleteBudget("team-x").ok());
  auto free = a->Reserve(Req("op-4", Team("x"), Usd(100), kNow));
  ASSERT_TRUE(free.ok());
  EXPECT_TRUE(free->admitted);
  EXPECT_TRUE(free->budgets.empty());
  // Settling op-1, whose budget was deleted meanwhile, still records the money.
  auto settled = a->Settle("op-1", Usd(4), kNow);
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_TRUE(settled->budgets.empty());
  EXPECT_EQ(*b->TotalSpent(), Usd(4));
}

// Spend counts into the budgets that match when it is recorded (memory store semantics),
// even when they changed after the reservation; the two stores agree step by step.
TEST_F(RedisLedgerTest, SettleAfterABudgetChangeMatchesTheMemoryStore) {
  std::unique_ptr<Ledger> redis = Open();
  std::unique_ptr<Ledger> other_replica = Open();
  ManualClock clock(kNow);
  std::unique_ptr<Ledger> memory = NewMemoryLedger(&clock);
  for (Ledger* l : {redis.get(), memory.get()}) {
    ASSERT_TRUE(l->UpsertBudget(Budget("global", Usd(10))).ok());
    ASSERT_TRUE(l->UpsertBudget(Budget("weekly", Usd(10), BudgetPeriod::kWeek)).ok());
    ASSERT_TRUE(l->Reserve(Req("op", Team("a"), Usd(3), kNow))->admitted);
    ASSERT_TRUE(l->Reserve(Req("op-2", Team("a"), Usd(2), kNow))->admitted);
  }
  // Changes after the reservation: a new matching budget, a period change (counters
  // restart), a deletion.
  for (Ledger* l : {other_replica.get(), memory.get()}) {
    ASSERT_TRUE(
        l->UpsertBudget(Budget("team-a", Usd(5), BudgetPeriod::kDay, {{"team", "a"}})).ok());
    ASSERT_TRUE(l->UpsertBudget(Budget("global", Usd(10), BudgetPeriod::kMonth)).ok());
    ASSERT_TRUE(l->DeleteBudget("weekly").ok());
  }
  auto from_redis = redis->Settle("op", Usd(2), kNow);
  auto from_memory = memory->Settle("op", Usd(2), kNow);
  ASSERT_TRUE(from_redis.ok()) << from_redis.status();
  ASSERT_TRUE(from_memory.ok());
  ASSERT_EQ(from_redis->budgets.size(), from_memory->budgets.size());
  for (size_t i = 0; i < from_redis->budgets.size(); ++i) {
    EXPECT_EQ(from_redis->budgets[i].spec->name, from_memory->budgets[i].spec->name);
    EXPECT_EQ(from_redis->budgets[i].spent, from_memory->budgets[i].spent);
    EXPECT_EQ(from_redis->budgets[i].reserved, from_memory->budgets[i].reserved);
  }
  ASSERT_TRUE(redis->Release("op-2").ok());
  ASSERT_TRUE(memory->Release("op-2").ok());
  auto redis_list = redis->ListBudgets(kNow);
  auto memory_list = memory->ListBudgets(kNow);
  ASSERT_TRUE(redis_list.ok());
  ASSERT_EQ(redis_list->size(), memory_list->size());
  for (size_t i = 0; i < redis_list->size(); ++i) {
    EXPECT_EQ((*redis_list)[i].spec->name, (*memory_list)[i].spec->name);
    EXPECT_EQ((*redis_list)[i].spec->period, (*memory_list)[i].spec->period);
    EXPECT_EQ((*redis_list)[i].spent, (*memory_list)[i].spent);
    EXPECT_EQ((*redis_list)[i].reserved, (*memory_list)[i].reserved);
  }
  EXPECT_EQ(StatusOf(*redis, "team-a", kNow).spent, Usd(2));
  EXPECT_EQ(StatusOf(*redis, "global", kNow).reserved, Money::Zero());
}

TEST_F(RedisLedgerTest, IdempotencyHoldsAcrossReplicas) {
  std::unique_ptr<Ledger> a = Open();
  std::unique_ptr<Ledger> b = Open();
  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(a->Reserve(Req("op", Team("a"), Usd(5), kNow))->admitted);
  auto again = b->Reserve(Req("op", Team("a"), Usd(5), kNow));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->admitted);
  EXPECT_EQ(StatusOf(*b, "daily", kNow).reserved, Usd(5));
  ASSERT_TRUE(b->Settle("op", Usd(3), kNow).ok());
  auto repeat = a->Settle("op", Usd(9), kNow);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->already_settled);
  EXPECT_EQ(repeat->actual, Usd(3));
  EXPECT_EQ(repeat->reserved, Usd(5));
  ASSERT_EQ(repeat->budgets.size(), 1u);
  EXPECT_EQ(repeat->budgets[0].spent, Usd(3));
  EXPECT_EQ(*a->TotalSpent(), Usd(3));
}

TEST_F(RedisLedgerTest, ChargeBatchPipelinesItsItems) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(1000))).ok());
  const Attribution team = Team("x");
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back("span-" + std::to_string(i));
  std::vector<ChargeItem> items;
  for (const std::string& id : ids) items.push_back({id, &team, Usd(1), kNow});
  items.push_back({ids[7], &team, Usd(1), kNow});  // a repeat inside the batch
  items.push_back({"", &team, Usd(1), kNow});      // malformed: refused alone

  const uint64_t before = GetRedisLedgerStats(*ledger)->round_trips;
  std::vector<absl::StatusOr<SettleOutcome>> outcomes = ledger->ChargeBatch(items);
  const uint64_t round_trips = GetRedisLedgerStats(*ledger)->round_trips - before;

  ASSERT_EQ(outcomes.size(), 302u);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(outcomes[i].ok()) << i << ": " << outcomes[i].status();
    EXPECT_FALSE(outcomes[i]->already_settled);
    EXPECT_EQ(outcomes[i]->actual, Usd(1));
  }
  ASSERT_TRUE(outcomes[300].ok());
  EXPECT_TRUE(outcomes[300]->already_settled);
  EXPECT_EQ(outcomes[301].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ledger->TotalSpent(), Usd(300));
  // 301 scripts at up to 128 per round trip, instead of one round trip each.
  EXPECT_LE(round_trips, 3u);
  EXPECT_GE(round_trips, 3u);
}

TEST_F(RedisLedgerTest, ChargeBatchAfterAnotherReplicaChangedBudgetsChargesInOrder) {
  std::unique_ptr<Ledger> a = Open();
  std::unique_ptr<Ledger> b = Open();
  ASSERT_TRUE(a->UpsertBudget(Budget("daily", Usd(100))).ok());
  const Attribution team = Team("x");
  ASSERT_TRUE(a->Charge("warm-up", team, Usd(1), kNow).ok());  // a caches the budgets
  // b adds a team budget: every script of a's next batch meets a newer version (STALE) and
  // is charged again after a reload, in order.
  ASSERT_TRUE(b->UpsertBudget(Budget("team-x", Usd(3), BudgetPeriod::kDay, {{"team", "x"}})).ok());
  const std::vector<ChargeItem> items = {
      {"one", &team, Usd(2), kNow}, {"one", &team, Usd(2), kNow}, {"two", &team, Usd(2), kNow}};
  std::vector<absl::StatusOr<SettleOutcome>> outcomes = a->ChargeBatch(items);
  ASSERT_EQ(outcomes.size(), 3u);
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].status();
  EXPECT_FALSE(outcomes[0]->already_settled);
  ASSERT_EQ(outcomes[0]->budgets.size(), 2u);  // the new budget counts the spend
  ASSERT_TRUE(outcomes[1].ok());
  EXPECT_TRUE(outcomes[1]->already_settled);
  ASSERT_TRUE(outcomes[2].ok());
  EXPECT_FALSE(outcomes[2]->already_settled);
  EXPECT_EQ(*b->TotalSpent(), Usd(5));
  absl::StatusOr<std::vector<BudgetStatus>> budgets = b->ListBudgets(kNow);
  ASSERT_TRUE(budgets.ok());
  bool found = false;
  for (const BudgetStatus& status : *budgets) {
    if (status.spec->name != "team-x") continue;
    found = true;
    EXPECT_EQ(status.spent, Usd(4));  // spend already made is recorded, even past the limit
  }
  EXPECT_TRUE(found);
}

TEST_F(RedisLedgerTest, SettledIdsAreRememberedForTheirTtl) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_TRUE(ledger->Charge("op", Team("a"), Usd(1), kNow).ok());
  const int64_t ttl = RawInteger(server_->port(), {"TTL", Prefix() + "o:op"});
  EXPECT_GT(ttl, 48 * 3600 - 60);
  EXPECT_LE(ttl, 48 * 3600);
  std::unique_ptr<Ledger> longer = Open(url_ + "&settled_ttl_s=604800");
  ASSERT_TRUE(longer->Charge("op-2", Team("a"), Usd(1), kNow).ok());
  EXPECT_GT(RawInteger(server_->port(), {"TTL", Prefix() + "o:op-2"}), 7 * 86400 - 60);
  // A reservation has no TTL: it lives until settled, released or expired.
  ASSERT_TRUE(ledger->Reserve(Req("held", Team("a"), Usd(1), kNow))->admitted);
  EXPECT_EQ(RawInteger(server_->port(), {"TTL", Prefix() + "o:held"}), -1);
}

TEST_F(RedisLedgerTest, EndedEmptyWindowsArePruned) {
  std::unique_ptr<Ledger> ledger = Open();
  constexpr int64_t kDay = 86'400 * kNanosPerSecond;
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger->UpsertBudget(Budget("lifetime", Usd(10), BudgetPeriod::kTotal)).ok());
  ASSERT_TRUE(ledger->Charge("day-1", Team("a"), Usd(1), kNow).ok());
  ASSERT_TRUE(ledger->Reserve(Req("held", Team("a"), Usd(1), kNow + kDay))->admitted);
  ASSERT_TRUE(ledger->Charge("day-3", Team("a"), Usd(1), kNow + 2 * kDay).ok());
  const std::string counters = Prefix() + "c";
  // daily: 3 windows x (spent, reserved) fields, some absent; lifetime: one window.
  const int64_t before = RawInteger(server_->port(), {"HLEN", counters});
  ASSERT_TRUE(ledger->ExpireReservations(kNow + 2 * kDay).ok());
  const int64_t after = RawInteger(server_->port(), {"HLEN", counters});
  EXPECT_LT(after, before);
  // Day 1 is gone, day 2 still holds a reservation, day 3 is current: nothing counted moved.
  EXPECT_EQ(StatusOf(*ledger, "daily", kNow + kDay).reserved, Usd(1));
  EXPECT_EQ(StatusOf(*ledger, "daily", kNow + 2 * kDay).spent, Usd(1));
  EXPECT_EQ(StatusOf(*ledger, "lifetime", kNow + 2 * kDay).spent, Usd(2));
  EXPECT_EQ(StatusOf(*ledger, "lifetime", kNow + 2 * kDay).reserved, Usd(1));
  ASSERT_TRUE(ledger->Settle("held", Usd(1), kNow + 2 * kDay).ok());
  EXPECT_EQ(StatusOf(*ledger, "lifetime", kNow + 2 * kDay).spent, Usd(3));
  EXPECT_EQ(*ledger->TotalSpent(), Usd(3));
}

// --- Exact money -------------------------------------------------------------------------

TEST_F(RedisLedgerTest, MoneyStaysExactBeyondTwoToThe53) {
  std::unique_ptr<Ledger> ledger = Open();
  constexpr int64_t k253 = int64_t{1} << 53;  // where doubles stop counting by one
  // Limit 2^53 + 2 is a double; spent 2^53 + 1 is not (it would round to 2^53), so a
  // double-based check would admit 2 more and overspend by one nano-USD.
  ASSERT_TRUE(
      ledger->UpsertBudget(Budget("big", Nanos(k253 + 2), BudgetPeriod::kTotal, {{"team", "a"}}))
          .ok());
  ASSERT_TRUE(ledger->Charge("c1", Team("a"), Nanos(k253 + 1), kNow).ok());
  auto two = ledger->Reserve(Req("r1", Team("a"), Nanos(2), kNow));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_FALSE(two->admitted);
  auto one = ledger->Reserve(Req("r2", Team("a"), Nanos(1), kNow));
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->admitted);
  ASSERT_EQ(one->budgets.size(), 1u);
  EXPECT_EQ(one->budgets[0].spent, Nanos(k253 + 1));
  EXPECT_EQ(one->budgets[0].reserved, Nanos(1));
  EXPECT_EQ(one->budgets[0].remaining(), Money::Zero());

  // A limit near the top of int64 and amounts of odd sizes add up to the last unit.
  const int64_t huge = std::numeric_limits<int64_t>::max() - 5;
  ASSERT_TRUE(
      ledger->UpsertBudget(Budget("huge", Nanos(huge), BudgetPeriod::kTotal, {{"team", "h"}}))
          .ok());
  const int64_t third = 3'074'457'345'618'258'601;  // about int64 max / 3
  ASSERT_TRUE(ledger->Reserve(Req("h1", Team("h"), Nanos(third), kNow))->admitted);
  ASSERT_TRUE(ledger->Reserve(Req("h2", Team("h"), Nanos(third), kNow))->admitted);
  auto h3 = ledger->Reserve(Req("h3", Team("h"), Nanos(third), kNow));
  ASSERT_TRUE(h3.ok());
  EXPECT_FALSE(h3->admitted);  // 3 * third = int64 max - 4 > huge
  EXPECT_TRUE(ledger->Reserve(Req("h4", Team("h"), Nanos(third - 1), kNow))->admitted);
  EXPECT_EQ(StatusOf(*ledger, "huge", kNow).reserved, Nanos(3 * third - 1));
  ASSERT_TRUE(ledger->Settle("h1", Nanos(third - 7), kNow).ok());
  const BudgetStatus after = StatusOf(*ledger, "huge", kNow);
  EXPECT_EQ(after.spent, Nanos(third - 7));
  EXPECT_EQ(after.reserved, Nanos(2 * third - 1));
  EXPECT_EQ(*ledger->TotalSpent(), Nanos(k253 + 1 + third - 7));
}

TEST_F(RedisLedgerTest, SpendThatWouldOverflowACounterIsRefusedWithoutEffect) {
  std::unique_ptr<Ledger> ledger = Open();
  const int64_t max = std::numeric_limits<int64_t>::max();
  ASSERT_TRUE(ledger->Charge("c1", Team("a"), Nanos(max - 10), kNow).ok());
  auto overflow = ledger->Charge("c2", Team("a"), Nanos(11), kNow);
  EXPECT_EQ(overflow.status().code(), absl::StatusCode::kOutOfRange) << overflow.status();
  EXPECT_EQ(*ledger->TotalSpent(), Nanos(max - 10));
  auto lookup = ledger->LookupOperation("c2");
  ASSERT_TRUE(lookup.ok());
  EXPECT_FALSE(lookup->has_value());
  EXPECT_TRUE(ledger->Charge("c3", Team("a"), Nanos(10), kNow).ok());
  EXPECT_EQ(*ledger->TotalSpent(), Nanos(max));
}

TEST_F(RedisLedgerTest, ExpiryIsExactToTheNanosecond) {
  std::unique_ptr<Ledger> ledger = Open();
  ASSERT_TRUE(ledger->UpsertBudget(Budget("daily", Usd(10))).ok());
  // kNow + 10 s + 1 ns is not a double: the sorted set's score rounds it.
  const int64_t expires = kNow + 10 * kNanosPerSecond + 1;
  ASSERT_TRUE(ledger->Reserve(Req("op", Team("a"), Usd(4), kNow, expires))->admitted);
  EXPECT_EQ(*ledger->ExpireReservations(expires - 1), 0);
  EXPECT_EQ(StatusOf(*ledger, "daily", kNow).reserved, Usd(4));
  EXPECT_EQ(*ledger->ExpireReservations(expires), 1);
  EXPECT_EQ(StatusOf(*ledger, "daily", kNow).reserved, Money::Zero());
  EXPECT_EQ(*ledger->ExpireReservations(expires + kNanosPerSecond), 0);
}

TEST_F(RedisLedgerTest, ExpiryReleasesReservationsOfAnotherReplica) {
  std::unique_ptr<Ledger> dead = Open();
  std::unique_ptr<Ledger> alive = Open();
  ASSERT_TRUE(alive->UpsertBudget(Budget("daily", Usd(10))).ok());
  for (int i = 0; i < 1500; ++i) {  // more than one page of the expiry scan
    ASSERT_TRUE(
        dead->Reserve(Req(Cat("op-", i), Team("a"), Nanos(1000), kNow, kNow + kNanosPerSecond))
            ->admitted);
  }
  dead.reset();  // the owner "dies" without settling
  EXPECT_EQ(StatusOf(*alive, "daily", kNow).reserved, Nanos(1'500'000));
  auto expired = alive->ExpireReservations(kNow + 2 * kNanosPerSecond);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1500);
  EXPECT_EQ(StatusOf(*alive, "daily", kNow).reserved, Money::Zero());
  EXPECT_EQ(alive->Settle("op-7", Nanos(1), kNow).status().code(), absl::StatusCode::kNotFound);
}

// --- Operations log beyond one page ------------------------------------------------------

TEST_F(RedisLedgerTest, OperationsLogPagesInExactOrder) {
  std::unique_ptr<Ledger> ledger = Open();
  std::vector<OperationRecord> batch;
  // 700 records one nanosecond apart: a double score could not order them.
  for (int i = 0; i < 700; ++i) {
    OperationRecord r;
    r.operation_id = Cat("op-", 1000 + i);
    r.start_unix_nanos = kNow + i;
    r.attribution.tags["i"] = Cat(i);
    batch.push_back(r);
  }
  ASSERT_TRUE(ledger->AppendOperations(batch).ok());
  auto all = QueryOperations(*ledger, {});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 700u);
  for (int i = 0; i < 700; ++i) {
    EXPECT_EQ((*all)[static_cast<size_t>(i)].start_unix_nanos, kNow + 699 - i);
  }
  auto window = QueryOperations(
      *ledger, {.since_unix_nanos = kNow + 100, .until_unix_nanos = kNow + 600, .limit = 300});
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 300u);
  EXPECT_EQ(window->front().start_unix_nanos, kNow + 599);
  EXPECT_EQ(window->back().start_unix_nanos, kNow + 300);
  EXPECT_EQ(window->back().attribution.tags.at("i"), "300");
  // Negative start times order before positive ones.
  OperationRecord old;
  old.operation_id = "ancient";
  old.start_unix_nanos = -5;
  ASSERT_TRUE(ledger->AppendOperations({old}).ok());
  auto last = QueryOperations(*ledger, {.until_unix_nanos = 0});
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(last->front().operation_id, "ancient");
  auto purged = ledger->PurgeOperations(kNow + 650);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 651);
  EXPECT_EQ(QueryOperations(*ledger, {})->size(), 50u);
}

// --- Server failures ---------------------------------------------------------------------

class RedisLedgerOwnServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable) {
      GTEST_SKIP() << server.status();
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisLedgerOwnServerTest, DownServerIsUnavailableQuicklyAndNothingSettledIsLost) {
  absl::StatusOr<std::unique_ptr<Ledger>> opened =
      OpenLedger(server_->Url() + "?timeout_ms=500", LedgerOpenOptions{});
  ASSERT_TRUE(opened.ok()) << opened.status();
  Ledger& ledger = **opened;
  ASSERT_TRUE(ledger.UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger.Reserve(Req("settled", Team("a"), Usd(3), kNow))->admitted);
  ASSERT_TRUE(ledger.Settle("settled", Usd(2), kNow).ok());
  ASSERT_TRUE(ledger.Reserve(Req("held", Team("a"), Usd(1), kNow))->admitted);

  ASSERT_TRUE(server_->Stop().ok());
  const auto start = Steady::now();
  auto reserve = ledger.Reserve(Req("during", Team("a"), Usd(1), kNow));
  EXPECT_EQ(reserve.status().code(), absl::StatusCode::kUnavailable) << reserve.status();
  EXPECT_NE(reserve.status().message().find(Cat("127.0.0.1:", server_->port())), std::string::npos)
      << reserve.status();
  EXPECT_EQ(ledger.Settle("held", Usd(1), kNow).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ledger.TotalSpent().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ledger.ListBudgets(kNow).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(Steady::now() - start, std::chrono::milliseconds(2000));

  ASSERT_TRUE(server_->Restart().ok());
  // The first call after the restart works: the stale connections are replaced.
  auto total = ledger.TotalSpent();
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(*total, Usd(2));
  auto lookup = ledger.LookupOperation("settled");
  ASSERT_TRUE(lookup.ok() && lookup->has_value()) << lookup.status();
  EXPECT_EQ((*lookup)->state, OperationState::kSettled);
  EXPECT_EQ((*lookup)->actual, Usd(2));
  auto repeat = ledger.Settle("settled", Usd(5), kNow);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->already_settled);
  // The reservation held across the restart is still there and settles.
  auto held = ledger.Settle("held", Usd(1), kNow);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_FALSE(held->already_settled);
  EXPECT_TRUE(ledger.Reserve(Req("after", Team("a"), Usd(7), kNow))->admitted);
  EXPECT_FALSE(ledger.Reserve(Req("after-2", Team("a"), Nanos(1), kNow))->admitted);
  EXPECT_EQ(StatusOf(ledger, "daily", kNow).spent, Usd(3));
}

TEST_F(RedisLedgerOwnServerTest, FrozenServerTimesOutAndARetryIsIdempotent) {
  absl::StatusOr<std::unique_ptr<Ledger>> opened =
      OpenLedger(server_->Url() + "?timeout_ms=300&pool_size=1", LedgerOpenOptions{});
  ASSERT_TRUE(opened.ok()) << opened.status();
  Ledger& ledger = **opened;
  ASSERT_TRUE(ledger.UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_EQ(kill(server_->pid(), SIGSTOP), 0);
  const auto start = Steady::now();
  auto frozen = ledger.Reserve(Req("op", Team("a"), Usd(4), kNow));
  const auto waited = Steady::now() - start;
  ASSERT_EQ(kill(server_->pid(), SIGCONT), 0);
  EXPECT_EQ(frozen.status().code(), absl::StatusCode::kUnavailable) << frozen.status();
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
  // The command may have run once the server thawed; retrying with the same id holds the
  // amount exactly once either way.
  auto retry = ledger.Reserve(Req("op", Team("a"), Usd(4), kNow));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->admitted);
  EXPECT_EQ(StatusOf(ledger, "daily", kNow).reserved, Usd(4));
}

TEST_F(RedisLedgerOwnServerTest, LostScriptCacheIsReloadedTransparently) {
  absl::StatusOr<std::unique_ptr<Ledger>> opened = OpenLedger(server_->Url(), LedgerOpenOptions{});
  ASSERT_TRUE(opened.ok()) << opened.status();
  Ledger& ledger = **opened;
  ASSERT_TRUE(ledger.UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger.Reserve(Req("op-1", Team("a"), Usd(1), kNow))->admitted);
  RawCommand(server_->port(), {"SCRIPT", "FLUSH"});
  auto outcome = ledger.Reserve(Req("op-2", Team("a"), Usd(1), kNow));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->admitted);
  EXPECT_EQ(StatusOf(ledger, "daily", kNow).reserved, Usd(2));
}

TEST_F(RedisLedgerOwnServerTest, DatabasesAndPrefixesAreSeparateStores) {
  auto db0 = OpenLedger(server_->Url(0), LedgerOpenOptions{});
  auto db3 = OpenLedger(server_->Url(3), LedgerOpenOptions{});
  auto other = OpenLedger(server_->Url(0) + "?prefix=other:", LedgerOpenOptions{});
  ASSERT_TRUE(db0.ok() && db3.ok() && other.ok());
  ASSERT_TRUE((*db0)->Charge("op", Team("a"), Usd(1), kNow).ok());
  EXPECT_EQ(*(*db3)->TotalSpent(), Money::Zero());
  EXPECT_EQ(*(*other)->TotalSpent(), Money::Zero());
  ASSERT_TRUE(server_->FlushAll().ok());
  EXPECT_EQ(*(*db0)->TotalSpent(), Money::Zero());
  // A store emptied under a running client (version back to 0) is followed, not fought.
  ASSERT_TRUE((*db0)->UpsertBudget(Budget("daily", Usd(1))).ok());
  EXPECT_FALSE((*db0)->Reserve(Req("op-2", Team("a"), Usd(2), kNow))->admitted);
}

// --- URLs --------------------------------------------------------------------------------

TEST(RedisLedgerUrlTest, ParsesEveryPart) {
  auto config = ParseRedisLedgerUrl(
      "redis://:p%40ss@cache.internal:6380/3?timeout_ms=50&pool_size=2&prefix=app1:&"
      "settled_ttl_s=259200",
      2000);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->host, "cache.internal");
  EXPECT_EQ(config->port, 6380);
  EXPECT_EQ(config->db, 3);
  EXPECT_EQ(config->username, "");
  EXPECT_EQ(config->password, "p@ss");
  EXPECT_EQ(config->timeout_ms, 50);
  EXPECT_EQ(config->pool_size, 2);
  EXPECT_EQ(config->prefix, "app1:");
  EXPECT_EQ(config->settled_ttl_seconds, 259200);

  auto defaults = ParseRedisLedgerUrl("redis://localhost", 1234);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->port, 6379);
  EXPECT_EQ(defaults->db, 0);
  EXPECT_EQ(defaults->timeout_ms, 1234);
  EXPECT_EQ(defaults->prefix, "genops:");
  EXPECT_EQ(defaults->settled_ttl_seconds, 172800);

  auto v6 = ParseRedisLedgerUrl("redis://admin:secret@[::1]:7000/", 10);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(v6->username, "admin");
  EXPECT_EQ(v6->password, "secret");
}

TEST(RedisLedgerUrlTest, BadUrlsNameWhatIsWrong) {
  struct Case {
    std::string url;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"redis://127.0.0.1:abc/0", "port \"abc\""},
      {"redis://127.0.0.1:0/0", "port \"0\""},
      {"redis://127.0.0.1:65536", "port \"65536\""},
      {"redis://127.0.0.1:/0", "empty port"},
      {"redis://127.0.0.1:6379/x", "database \"x\""},
      {"redis://127.0.0.1:6379/-1", "database \"-1\""},
      {"redis://127.0.0.1:6379/0/1", "database \"0/1\""},
      {"redis://127.0.0.1/0?timeout=5", "unknown parameter \"timeout\""},
      {"redis://127.0.0.1/0?timeout_ms=0", "timeout_ms"},
      {"redis://127.0.0.1/0?timeout_ms=5&timeout_ms=6", "given twice"},
      {"redis://127.0.0.1/0?pool_size=1000", "pool_size"},
      {"redis://127.0.0.1/0?prefix=a b", "prefix"},
      {"redis://127.0.0.1/0?settled_ttl_s=60", "settled_ttl_s"},
      {"redis:///0", "no host"},
      {"redis://secret@host/0", "colon"},
  };
  for (const Case& c : cases) {
    auto config = ParseRedisLedgerUrl(c.url, 2000);
    ASSERT_FALSE(config.ok()) << c.url;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(config.status().message().find(c.mentions), std::string::npos)
        << c.url << " -> " << config.status();
  }
  // The password never appears in an error.
  auto secret = ParseRedisLedgerUrl("redis://:hunter2@host:99999/0", 2000);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("hunter2"), std::string::npos) << secret.status();
  // Through the factory too.
  auto opened = OpenLedger("redis://127.0.0.1:6379/0?colour=blue", LedgerOpenOptions{});
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("colour"), std::string::npos) << opened.status();
}

TEST_F(RedisLedgerTest, UnreachableServerIsUnavailableWithTheAddress) {
  // A port that was just free: nothing listens there.
  absl::StatusOr<std::unique_ptr<RedisServer>> gone = RedisServer::Start();
  ASSERT_TRUE(gone.ok()) << gone.status();
  const int port = (*gone)->port();
  gone->reset();
  const auto start = Steady::now();
  auto opened = OpenLedger(Cat("redis://127.0.0.1:", port, "/0?timeout_ms=500"), {});
  EXPECT_LT(Steady::now() - start, std::chrono::milliseconds(1500));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kUnavailable) << opened.status();
  EXPECT_NE(opened.status().message().find(Cat("127.0.0.1:", port)), std::string::npos)
      << opened.status();
  EXPECT_NE(opened.status().message().find("redis-server is running"), std::string::npos)
      << opened.status();
}

TEST_F(RedisLedgerTest, ServerSideRefusalsArePrecise) {
  // A database index the server does not have.
  auto db = OpenLedger(server_->Url(99), LedgerOpenOptions{});
  EXPECT_EQ(db.status().code(), absl::StatusCode::kInvalidArgument) << db.status();
  EXPECT_NE(db.status().message().find("database 99"), std::string::npos) << db.status();
  // A password the server does not expect.
  auto auth =
      OpenLedger(Cat("redis://:wrong@127.0.0.1:", server_->port(), "/0"), LedgerOpenOptions{});
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kPermissionDenied) << auth.status();
  EXPECT_EQ(auth.status().message().find("wrong"), std::string::npos) << auth.status();
}

// --- The harness -------------------------------------------------------------------------

TEST(RedisServerHarnessTest, MissingBinarySkipsLocallyButFailsInCi) {
  MapEnvironment local;
  RedisServerOptions options;
  options.binary = "/nonexistent/redis-server";
  options.environment = &local;
  auto skipped = RedisServer::Start(options);
  EXPECT_EQ(skipped.status().code(), absl::StatusCode::kUnavailable) << skipped.status();
  MapEnvironment ci{{"CI", "true"}};
  options.environment = &ci;
  auto failed = RedisServer::Start(options);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition) << failed.status();
  EXPECT_NE(failed.status().message().find("/nonexistent/redis-server"), std::string::npos);
}

}  // namespace
}  // namespace genops::ledger
