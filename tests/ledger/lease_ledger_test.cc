#include "src/ledger/lease_ledger.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/ledger/memory_ledger.h"
#include "src/ledger/sqlite_ledger.h"
#include "tests/ledger/ledger_conformance.h"
#include "tests/support/faulty_ledger.h"
#include "tests/support/redis_server.h"

namespace genops::ledger {
namespace {

constexpr int64_t kStart = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kTtl = 300 * kNanosPerSecond;

Money Usd(const char* text) { return Money::FromUsdString(text).value(); }

BudgetSpec TeamBudget(const std::string& name, Money limit) {
  BudgetSpec spec;
  spec.name = name;
  spec.scope = {{"team", "a"}};
  spec.limit = limit;
  spec.period = BudgetPeriod::kDay;
  return spec;
}

ReserveRequest Call(const std::string& id, Money amount, int64_t now,
                    const std::string& team = "a") {
  ReserveRequest r;
  r.operation_id = id;
  r.attribution.team = team;
  r.attribution.feature = id;  // no scope names it: calls of a team share leases regardless
  r.amount = amount;
  r.now_unix_nanos = now;
  r.expires_at_unix_nanos = now + kTtl;
  return r;
}

// The room of a default lease opened by a call of `estimate`.
Money SaturatingLease(Money estimate) {
  return Money::FromNanos(estimate.nanos() * BudgetLeaseOptions().calls_per_lease);
}

using ledger::testing::StatusOf;

// A fresh SQLite file per store (budget leases need a store that can charge from a
// reservation).
class LeaseLedgerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      absl::StatusOr<genops::testing::RedisServer*> server = genops::testing::RedisServer::Shared();
      if (!server.ok()) GTEST_SKIP() << "no redis-server: " << server.status();
      redis_ = *server;
    }
    store_ = OpenStore();
  }
  ~LeaseLedgerTest() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A fresh store of the parameter's kind: a SQLite file, or a Redis key prefix.
  std::unique_ptr<Ledger> OpenStore() {
    if (redis_ != nullptr) {
      LedgerOpenOptions options;
      options.clock = &clock_;
      return OpenLedger(redis_->FreshUrl(), options).value();
    }
    if (dir_.empty()) {
      dir_ = Cat(std::filesystem::temp_directory_path().string(), "/genops-lease-test-", getpid(),
                 "-", reinterpret_cast<uintptr_t>(this));
      std::filesystem::create_directories(dir_);
    }
    SqliteLedgerOptions options;
    options.path = Cat(dir_, "/ledger-", ++stores_, ".db");
    options.clock = &clock_;
    options.synchronous_full = false;
    return OpenSqliteLedger(options).value();
  }

  // A flush interval of 1 ms unless the test sets one.
  std::unique_ptr<Ledger> Wrap(std::shared_ptr<Ledger> store, BudgetLeaseOptions options = {}) {
    options.clock = &clock_;
    if (options.flush_interval == BudgetLeaseOptions().flush_interval) {
      options.flush_interval = absl::Milliseconds(1);
    }
    return WrapWithBudgetLeases(std::move(store), options).value();
  }

  BudgetLeaseStats Stats(const Ledger& ledger) { return GetBudgetLeaseStats(ledger).value(); }

  ManualClock clock_{kStart};
  genops::testing::RedisServer* redis_ = nullptr;
  std::string dir_;
  int stores_ = 0;
  std::shared_ptr<Ledger> store_;
};

TEST_P(LeaseLedgerTest, AdmitsFromALeaseAndChargesEveryCallInTheStoreUnderItsOwnId) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  std::unique_ptr<Ledger> ledger = Wrap(store_);
  const Money estimate = Usd("0.001");
  const Money actual = Usd("0.0004");
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<ReserveOutcome> r = ledger->Reserve(Call(Cat("op-", i), estimate, kStart));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->admitted) << i;
    absl::StatusOr<SettleOutcome> s = ledger->Settle(Cat("op-", i), actual, kStart);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->reserved, estimate);
    EXPECT_EQ(s->actual, actual);
    ASSERT_EQ(s->budgets.size(), 1u);
    EXPECT_EQ(s->budgets[0].spent, Money::FromNanos(actual.nanos() * (i + 1)));
  }
  BudgetLeaseStats stats = Stats(*ledger);
  EXPECT_EQ(stats.leases_opened, 1);  // room for 256 calls of the first one's size; not half used
  EXPECT_EQ(stats.local_admissions, 100);
  EXPECT_EQ(stats.direct_reservations, 0);

  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  EXPECT_EQ(store_->TotalSpent().value(), Money::FromNanos(actual.nanos() * 100));
  // Each charge took its cost off the lease: the store holds the lease's room once, as spent
  // or reserved, never both.
  const BudgetStatus during = StatusOf(*store_, "team-a", kStart);
  EXPECT_EQ(during.spent + during.reserved, SaturatingLease(estimate));
  std::optional<OperationEntry> entry = store_->LookupOperation("op-42").value();
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->state, OperationState::kSettled);
  EXPECT_EQ(entry->actual, actual);
  // The lease still holds its room until it ages out; then it is released.
  EXPECT_GT(StatusOf(*store_, "team-a", kStart).reserved, Money());
  clock_.Advance(2 * kNanosPerSecond);
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  const BudgetStatus after = StatusOf(*store_, "team-a", clock_.NowUnixNanos());
  EXPECT_EQ(after.reserved, Money());
  EXPECT_EQ(after.spent, Money::FromNanos(actual.nanos() * 100));
  EXPECT_EQ(Stats(*ledger).leases_released, 1);
}

// The store's side: a charge from a reservation takes its cost off it in the same
// transaction, once per new charge, never below zero.
TEST_P(LeaseLedgerTest, ChargesFromAReservationTakeTheirCostOffItOnce) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  ReserveRequest lease = Call("lease", Usd("0.10"), kStart);
  ASSERT_TRUE(store_->Reserve(lease)->admitted);
  const Attribution who{.team = "a"};
  auto item = [&](const char* id, const char* usd) {
    return ChargeItem{.operation_id = id,
                      .attribution = &who,
                      .actual = Usd(usd),
                      .now_unix_nanos = kStart,
                      .from_reservation = "lease"};
  };
  // "x" twice in one batch: charged once, taken off once.
  std::vector<ChargeItem> batch = {item("x", "0.03"), item("y", "0.04"), item("x", "0.03")};
  std::vector<absl::StatusOr<SettleOutcome>> out = store_->ChargeBatch(batch);
  ASSERT_TRUE(out[0].ok() && out[1].ok() && out[2].ok());
  EXPECT_TRUE(out[2]->already_settled);
  BudgetStatus status = StatusOf(*store_, "team-a", kStart);
  EXPECT_EQ(status.spent, Usd("0.07"));
  EXPECT_EQ(status.reserved, Usd("0.03"));
  // More than is left: the reservation goes to zero, the spend is recorded whole.
  batch = {item("z", "0.05")};
  ASSERT_TRUE(store_->ChargeBatch(batch)[0].ok());
  status = StatusOf(*store_, "team-a", kStart);
  EXPECT_EQ(status.spent, Usd("0.12"));
  EXPECT_EQ(status.reserved, Money());
  ASSERT_TRUE(store_->Release("lease").ok());
  EXPECT_EQ(StatusOf(*store_, "team-a", kStart).reserved, Money());
  // From a reservation that is gone: a plain charge.
  batch = {item("w", "0.01")};
  ASSERT_TRUE(store_->ChargeBatch(batch)[0].ok());
  EXPECT_EQ(StatusOf(*store_, "team-a", kStart).spent, Usd("0.13"));
}

TEST_P(LeaseLedgerTest, RepeatedCallsAreIdempotent) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  std::unique_ptr<Ledger> ledger = Wrap(store_);
  ASSERT_TRUE(ledger->Reserve(Call("op", Usd("0.01"), kStart))->admitted);
  ASSERT_TRUE(ledger->Reserve(Call("op", Usd("0.01"), kStart))->admitted);
  std::optional<OperationEntry> held = ledger->LookupOperation("op").value();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->state, OperationState::kReserved);
  absl::StatusOr<SettleOutcome> first = ledger->Settle("op", Usd("0.005"), kStart);
  absl::StatusOr<SettleOutcome> again = ledger->Settle("op", Usd("0.007"), kStart);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_FALSE(first->already_settled);
  EXPECT_TRUE(again->already_settled);
  EXPECT_EQ(again->actual, Usd("0.005"));
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  // Once written, a repeat is answered by the store, still without a second charge.
  absl::StatusOr<SettleOutcome> late = ledger->Settle("op", Usd("0.009"), kStart);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_TRUE(late->already_settled);
  EXPECT_EQ(ledger->TotalSpent().value(), Usd("0.005"));
  // A charge under a held reservation's id is refused, as by the store.
  ASSERT_TRUE(ledger->Reserve(Call("held", Usd("0.01"), kStart))->admitted);
  EXPECT_EQ(ledger->Charge("held", Attribution{.team = "a"}, Usd("0.01"), kStart).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(LeaseLedgerTest, ReleasedAndExpiredCallsGiveTheirRoomBack) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  BudgetLeaseOptions options;
  options.calls_per_lease = 4;
  std::unique_ptr<Ledger> ledger = Wrap(store_, options);
  const Money estimate = Usd("0.01");
  ASSERT_TRUE(ledger->Reserve(Call("a", estimate, kStart))->admitted);
  ASSERT_TRUE(ledger->Reserve(Call("b", estimate, kStart))->admitted);
  ASSERT_TRUE(ledger->Release("a").ok());
  EXPECT_FALSE(ledger->LookupOperation("a")->has_value());
  // "b" expires; then the lease's whole room (4 calls) serves 4 new calls.
  EXPECT_EQ(ledger->ExpireReservations(kStart + kTtl).value(), 1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ledger->Reserve(Call(Cat("c", i), estimate, kStart))->admitted);
  }
  // Reserved by callers (the flusher may have reserved the next one ahead of need).
  const auto by_callers = [&] {
    const BudgetLeaseStats s = Stats(*ledger);
    return s.leases_opened - s.leases_prefetched;
  };
  EXPECT_EQ(by_callers(), 1);
  ASSERT_TRUE(ledger->Reserve(Call("d", estimate, kStart))->admitted);
  EXPECT_EQ(Stats(*ledger).leases_opened, 2);
}

TEST_P(LeaseLedgerTest, TheFlusherReservesTheNextLeaseBeforeTheCurrentRunsOut) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("100"))).ok());
  BudgetLeaseOptions options;
  options.calls_per_lease = 8;
  std::unique_ptr<Ledger> ledger = Wrap(store_, options);
  const Money estimate = Usd("0.01");
  for (int i = 0; i < 5; ++i) {  // more than half of the first lease
    ASSERT_TRUE(ledger->Reserve(Call(Cat("a", i), estimate, kStart))->admitted);
    ASSERT_TRUE(ledger->Settle(Cat("a", i), estimate, kStart).ok());
  }
  for (int i = 0; i < 500 && Stats(*ledger).leases_prefetched == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Stats(*ledger).leases_prefetched, 1);
  for (int i = 0; i < 11; ++i) {  // the rest of the first lease, then the prefetched one
    ASSERT_TRUE(ledger->Reserve(Call(Cat("b", i), estimate, kStart))->admitted);
    ASSERT_TRUE(ledger->Settle(Cat("b", i), estimate, kStart).ok());
  }
  const BudgetLeaseStats stats = Stats(*ledger);
  EXPECT_EQ(stats.leases_opened - stats.leases_prefetched, 1);  // callers reserved only the first
  EXPECT_EQ(stats.local_admissions, 16);
  EXPECT_EQ(stats.direct_reservations, 0);
  ASSERT_TRUE(FlushBudgetLeases(*ledger, /*retire_leases=*/true).ok());
  const BudgetStatus status = StatusOf(*store_, "team-a", kStart);
  EXPECT_EQ(status.spent, Money::FromNanos(estimate.nanos() * 16));
  EXPECT_EQ(status.reserved, Money());
}

TEST_P(LeaseLedgerTest, NeverAdmitsPastALimitAndLosesNoRoomForGood) {
  const Money estimate = Usd("0.02");
  ASSERT_TRUE(
      store_->UpsertBudget(TeamBudget("team-a", Money::FromNanos(estimate.nanos() * 50))).ok());
  // Two "processes" share the store.
  std::shared_ptr<Ledger> first = Wrap(store_);
  std::shared_ptr<Ledger> second = Wrap(store_);
  std::atomic<int> admitted{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 200; ++t) {
    threads.emplace_back([&, t] {
      Ledger& ledger = t % 2 == 0 ? *first : *second;
      const std::string id = Cat("op-", t);
      absl::StatusOr<ReserveOutcome> r = ledger.Reserve(Call(id, estimate, kStart));
      if (!r.ok()) {
        ++errors;
        return;
      }
      if (!r->admitted) return;
      ++admitted;
      if (!ledger.Settle(id, estimate, kStart).ok()) ++errors;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(admitted.load(), 50);
  ASSERT_TRUE(FlushBudgetLeases(*first).ok());
  ASSERT_TRUE(FlushBudgetLeases(*second).ok());
  EXPECT_EQ(store_->TotalSpent().value(), Money::FromNanos(estimate.nanos() * admitted.load()));
  // Room a lease held when the race ended is given back: sequential calls then fill the
  // budget to the last call, never past it.
  clock_.Advance(2 * kNanosPerSecond);
  const int64_t now = clock_.NowUnixNanos();
  int more = 0;
  for (int i = 0; i < 60; ++i) {
    Ledger& ledger = i % 2 == 0 ? *first : *second;
    absl::StatusOr<ReserveOutcome> r = ledger.Reserve(Call(Cat("late-", i), estimate, now));
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->admitted) continue;
    ++more;
    ASSERT_TRUE(ledger.Settle(Cat("late-", i), estimate, now).ok());
  }
  EXPECT_EQ(admitted.load() + more, 50);
  ASSERT_TRUE(FlushBudgetLeases(*first).ok());
  ASSERT_TRUE(FlushBudgetLeases(*second).ok());
  const BudgetStatus status = StatusOf(*store_, "team-a", now);
  EXPECT_EQ(status.spent, status.limit());
}

TEST_P(LeaseLedgerTest, AStoreOutageKeepsSettlementsUntilTheStoreTakesThem) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  auto faulty = std::make_shared<genops::testing::FaultyLedger>(OpenStore());
  ASSERT_TRUE(faulty->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  std::unique_ptr<Ledger> ledger = Wrap(faulty);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(ledger->Reserve(Call(Cat("op-", i), Usd("0.01"), kStart))->admitted);
  }
  faulty->down = true;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(ledger->Settle(Cat("op-", i), Usd("0.003"), kStart).ok());
  }
  EXPECT_EQ(FlushBudgetLeases(*ledger).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Stats(*ledger).pending, 10);
  EXPECT_GT(Stats(*ledger).store_errors, 0);
  faulty->down = false;
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  EXPECT_EQ(Stats(*ledger).pending, 0);
  EXPECT_EQ(faulty->TotalSpent().value(), Usd("0.03"));
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  EXPECT_EQ(faulty->TotalSpent().value(), Usd("0.03"));  // written once
}

TEST_P(LeaseLedgerTest, ALeaseAdmitsNothingAfterItsBudgetWindowEnds) {
  // One second before midnight UTC.
  const int64_t day = 86400 * kNanosPerSecond;
  const int64_t before_midnight = (kStart / day + 1) * day - kNanosPerSecond;
  clock_.Set(before_midnight);
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("100"))).ok());
  BudgetLeaseOptions options;
  options.max_age = absl::Seconds(10);
  std::unique_ptr<Ledger> ledger = Wrap(store_, options);
  ASSERT_TRUE(ledger->Reserve(Call("old-day", Usd("0.01"), before_midnight))->admitted);
  ASSERT_TRUE(ledger->Reserve(Call("new-day", Usd("0.01"), before_midnight + 2 * kNanosPerSecond))
                  ->admitted);
  EXPECT_EQ(Stats(*ledger).leases_opened, 2);
  EXPECT_EQ(Stats(*ledger).direct_reservations, 0);
}

TEST_P(LeaseLedgerTest, ABudgetChangeRetiresLeasesSizedForTheOldOne) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  std::unique_ptr<Ledger> ledger = Wrap(store_);
  ASSERT_TRUE(ledger->Reserve(Call("a", Usd("0.01"), kStart))->admitted);
  ASSERT_TRUE(ledger->Settle("a", Usd("0.01"), kStart).ok());
  // Lowered below what is already spent: nothing more may be admitted.
  ASSERT_TRUE(ledger->UpsertBudget(TeamBudget("team-a", Usd("0.005"))).ok());
  absl::StatusOr<ReserveOutcome> refused = ledger->Reserve(Call("b", Usd("0.01"), kStart));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused_by, "team-a");
}

TEST_P(LeaseLedgerTest, CallsOfDifferentScopesHoldSeparateLeases) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("1"))).ok());
  std::unique_ptr<Ledger> ledger = Wrap(store_);
  ASSERT_TRUE(ledger->Reserve(Call("a1", Usd("0.01"), kStart, "a"))->admitted);
  ASSERT_TRUE(ledger->Reserve(Call("b1", Usd("0.01"), kStart, "b"))->admitted);
  ASSERT_TRUE(ledger->Reserve(Call("a2", Usd("0.01"), kStart, "a"))->admitted);
  EXPECT_EQ(Stats(*ledger).leases_opened, 2);
  ASSERT_TRUE(ledger->Settle("b1", Usd("0.01"), kStart).ok());
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  // team b's spend is not team a's.
  EXPECT_EQ(StatusOf(*store_, "team-a", kStart).spent, Money());
  EXPECT_EQ(store_->TotalSpent().value(), Usd("0.01"));
}

// One key per team here (a budget scope names the team): keys whose leases aged out are
// forgotten, so a key per customer does not pile up.
// Listing budgets (which the advisory level does on every call, on an io thread) reads the
// store without waiting for a flush; TotalSpent() flushes first.
TEST_P(LeaseLedgerTest, ListingBudgetsDoesNotWaitForAFlush) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("100"))).ok());
  BudgetLeaseOptions options;
  options.flush_interval = absl::Hours(1);  // the flusher stays out of the way
  std::unique_ptr<Ledger> ledger = Wrap(store_, options);
  ASSERT_TRUE(ledger->Reserve(Call("a", Usd("0.01"), kStart))->admitted);
  ASSERT_TRUE(ledger->Settle("a", Usd("0.004"), kStart).ok());
  EXPECT_EQ(StatusOf(*ledger, "team-a", kStart).spent, Money());  // not written yet
  EXPECT_EQ(Stats(*ledger).pending, 1);
  EXPECT_EQ(ledger->TotalSpent().value(), Usd("0.004"));
  EXPECT_EQ(StatusOf(*ledger, "team-a", kStart).spent, Usd("0.004"));
}

// The advisory level lists budgets on every call: calls within a flush interval share one
// read of the store; a flush, a budget change made here, or a call outside the listed
// windows reads again.
// With calls_per_lease 8 and max_age 1 s (a 250 ms horizon), each key's first lease holds 8
// calls; at half use its pace sizes the next one, which the flusher reserves.
TEST_P(LeaseLedgerTest, AFastKeysNextLeaseHoldsAHorizonOfItsCalls) {
  const Money estimate = Usd("0.01");
  BudgetLeaseOptions options;
  options.calls_per_lease = 8;
  std::unique_ptr<Ledger> ledger = Wrap(store_, options);
  // The room a team's leases hold in the store once its second lease is reserved, when its
  // first four calls (half the first lease) took `elapsed_ms`. No call settles, so the store
  // holds both leases whole.
  auto reserved_after = [&](const std::string& team, int64_t elapsed_ms) {
    const int64_t prefetched = Stats(*ledger).leases_prefetched;
    for (int i = 0; i < 4; ++i) {
      if (i == 3) clock_.Advance(elapsed_ms * 1'000'000);
      ReserveRequest call = Call(Cat(team, "-", i), estimate, clock_.NowUnixNanos(), team);
      EXPECT_TRUE(ledger->Reserve(call)->admitted);
    }
    for (int i = 0; i < 500 && Stats(*ledger).leases_prefetched == prefetched; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(Stats(*ledger).leases_prefetched, prefetched + 1);
    return StatusOf(*store_, Cat("team-", team), clock_.NowUnixNanos()).reserved;
  };
  auto calls = [&](int64_t n) { return Money::FromNanos(estimate.nanos() * n); };
  for (const char* team : {"slow", "fast", "burst"}) {
    BudgetSpec budget = TeamBudget(Cat("team-", team), Usd("100"));
    budget.scope = {{"team", team}};
    ASSERT_TRUE(store_->UpsertBudget(budget).ok());
  }
  // 4 calls in 400 ms: 2.5 per horizon, so the next lease keeps calls_per_lease.
  EXPECT_EQ(reserved_after("slow", 400), calls(8 + 8));
  // 4 calls in 50 ms: 20 per horizon.
  EXPECT_EQ(reserved_after("fast", 50), calls(8 + 20));
  // 4 calls at once: the next lease grows at most fourfold.
  EXPECT_EQ(reserved_after("burst", 0), calls(8 + 32));
  // A key that slows down: its burst-sized lease ages out unused, and the lease after it
  // is sized by that lease's pace (none), back to calls_per_lease.
  clock_.Advance(2 * kNanosPerSecond);  // past max_age: every lease so far is retired
  ASSERT_TRUE(
      ledger->Reserve(Call("burst-late", estimate, clock_.NowUnixNanos(), "burst"))->admitted);
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());  // releases the idle retired lease
  // The first lease (its 4 calls are still in flight) and the new one; 8 + 32 before.
  EXPECT_EQ(StatusOf(*store_, "team-burst", clock_.NowUnixNanos()).reserved, calls(8 + 8));
  // ...and never past max_headroom_share of the room left: 10% of the 0.42 USD left beside
  // the first lease is 4 calls.
  BudgetSpec tight = TeamBudget("team-tight", Usd("0.5"));
  tight.scope = {{"team", "tight"}};
  ASSERT_TRUE(store_->UpsertBudget(tight).ok());
  EXPECT_EQ(reserved_after("tight", 0), calls(8 + 4));
}

TEST_P(LeaseLedgerTest, ListingBudgetsIsOneStoreReadPerFlushInterval) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("100"))).ok());
  BudgetLeaseOptions options;
  options.flush_interval = absl::Minutes(1);
  std::unique_ptr<Ledger> ledger = Wrap(store_, options);
  EXPECT_EQ(StatusOf(*ledger, "team-a", kStart).spent, Money());
  // Another process charges; within the interval this process still shows the shared list.
  ASSERT_TRUE(
      store_->Charge("elsewhere-1", Call("x", Usd("1"), kStart).attribution, Usd("1"), kStart)
          .ok());
  EXPECT_EQ(StatusOf(*ledger, "team-a", kStart).spent, Money());
  EXPECT_EQ(Stats(*ledger).budget_lists_shared, 1);
  clock_.Advance(2 * 60 * kNanosPerSecond);  // past the interval
  const int64_t later = clock_.NowUnixNanos();
  EXPECT_EQ(StatusOf(*ledger, "team-a", later).spent, Usd("1"));
  EXPECT_EQ(Stats(*ledger).budget_lists_shared, 1);

  // A flush round drops the list: this process's settlement shows at once after it.
  ASSERT_TRUE(ledger->Reserve(Call("a", Usd("0.01"), later))->admitted);
  ASSERT_TRUE(ledger->Settle("a", Usd("0.004"), later).ok());
  EXPECT_EQ(StatusOf(*ledger, "team-a", later).spent, Usd("1"));  // shared, not yet written
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  EXPECT_EQ(StatusOf(*ledger, "team-a", later).spent, Usd("1.004"));

  // A budget change made here drops it too.
  ASSERT_TRUE(ledger->UpsertBudget(TeamBudget("team-a", Usd("50"))).ok());
  EXPECT_EQ(StatusOf(*ledger, "team-a", later).limit(), Usd("50"));

  // A call after the listed day reads the new day's window.
  const int64_t next_day = later + 24 * 3600 * kNanosPerSecond;
  EXPECT_EQ(StatusOf(*ledger, "team-a", next_day).spent, Money());
  EXPECT_EQ(StatusOf(*ledger, "team-a", later).spent, Usd("1.004"));
}

TEST_P(LeaseLedgerTest, KeysWhoseLeasesAgedOutAreForgotten) {
  ASSERT_TRUE(store_->UpsertBudget(TeamBudget("team-a", Usd("100"))).ok());
  std::unique_ptr<Ledger> ledger = Wrap(store_);
  for (int i = 0; i < 20; ++i) {
    const std::string id = Cat("op-", i);
    ASSERT_TRUE(ledger->Reserve(Call(id, Usd("0.01"), kStart, Cat("team-", i)))->admitted);
    ASSERT_TRUE(ledger->Settle(id, Usd("0.01"), kStart).ok());
  }
  EXPECT_EQ(Stats(*ledger).keys, 20);
  clock_.Advance(2 * kNanosPerSecond);  // past max_age
  ASSERT_TRUE(FlushBudgetLeases(*ledger).ok());
  const BudgetLeaseStats stats = Stats(*ledger);
  EXPECT_EQ(stats.keys, 0);
  EXPECT_EQ(stats.leases_released, stats.leases_opened);
  EXPECT_EQ(store_->TotalSpent().value(), Usd("0.2"));
}

INSTANTIATE_TEST_SUITE_P(Stores, LeaseLedgerTest, ::testing::Values("sqlite", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

TEST(LeaseLedgerOptionsTest, RejectsSettingsThatCannotWork) {
  BudgetLeaseOptions options;
  options.calls_per_lease = 1;
  EXPECT_NE(ValidateBudgetLeaseOptions(options).message().find("calls_per_lease"),
            std::string::npos);
  options = {};
  options.max_headroom_share = 0;
  EXPECT_FALSE(ValidateBudgetLeaseOptions(options).ok());
  options = {};
  options.flush_interval = absl::ZeroDuration();
  EXPECT_FALSE(ValidateBudgetLeaseOptions(options).ok());
  EXPECT_FALSE(WrapWithBudgetLeases(nullptr, {}).ok());
  std::shared_ptr<Ledger> plain = NewMemoryLedger(Clock::Real());
  EXPECT_FALSE(HasBudgetLeases(*plain));
  EXPECT_FALSE(GetBudgetLeaseStats(*plain).ok());
  // A store that cannot take a charge's cost off a lease in the same step is refused, not
  // wrapped into one that would count a lease's room twice.
  absl::StatusOr<std::unique_ptr<Ledger>> unsupported = WrapWithBudgetLeases(plain, {});
  EXPECT_EQ(unsupported.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(unsupported.status().message().find("sqlite://"), std::string::npos);
  // And such a store refuses a charge from a reservation instead of ignoring it.
  const Attribution who{.team = "a"};
  std::vector<ChargeItem> items = {{.operation_id = "x",
                                    .attribution = &who,
                                    .actual = Usd("0.01"),
                                    .now_unix_nanos = kStart,
                                    .from_reservation = "lease"}};
  EXPECT_EQ(plain->ChargeBatch(items)[0].status().code(), absl::StatusCode::kUnimplemented);
}

// Over SQLite, from several threads: every call's spend is in the file once the wrapper is
// gone, and no lease is left holding room.
TEST(LeaseLedgerSqliteTest, EverySettlementIsInTheFileAfterShutdown) {
  const std::string dir =
      Cat(std::filesystem::temp_directory_path().string(), "/genops-lease-", getpid());
  std::filesystem::create_directories(dir);
  const std::string url = Cat("sqlite://", dir, "/ledger.db");
  std::shared_ptr<Ledger> store = OpenSqliteLedger(url, {}).value();
  const int64_t now = Clock::Real()->NowUnixNanos();
  ASSERT_TRUE(store->UpsertBudget(TeamBudget("team-a", Usd("100"))).ok());
  {
    std::unique_ptr<Ledger> ledger = WrapWithBudgetLeases(store, {}).value();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) {
          const std::string id = Cat("op-", t, "-", i);
          ASSERT_TRUE(ledger->Reserve(Call(id, Usd("0.002"), now))->admitted);
          ASSERT_TRUE(ledger->Settle(id, Usd("0.001"), now).ok());
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const BudgetLeaseStats stats = GetBudgetLeaseStats(*ledger).value();
    EXPECT_EQ(stats.local_admissions + stats.direct_reservations, 2000);
    EXPECT_LT(stats.leases_opened, 20);
  }
  store.reset();
  std::unique_ptr<Ledger> reopened = OpenSqliteLedger(url, {}).value();
  EXPECT_EQ(reopened->TotalSpent().value(), Usd("2"));
  const BudgetStatus status = StatusOf(*reopened, "team-a", now);
  EXPECT_EQ(status.spent, Usd("2"));
  EXPECT_EQ(status.reserved, Money());
  std::optional<OperationEntry> entry = reopened->LookupOperation("op-7-249").value();
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->state, OperationState::kSettled);
  reopened.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace genops::ledger
