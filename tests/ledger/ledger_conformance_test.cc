// The conformance suite every Ledger store must pass (see ledger_conformance.h). Stores
// instantiate it; this file only defines the tests.
#include "tests/ledger/ledger_conformance.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "genops/attribution.h"
#include "genops/money.h"
#include "gtest/gtest.h"

namespace genops::ledger::testing {
namespace {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LedgerConformanceTest);

constexpr int64_t kSecond = kNanosPerSecond;
constexpr int64_t kDay = 86'400 * kSecond;

Money Usd(int64_t whole) { return Money::FromNanos(whole * Money::kNanosPerUsd); }
Money Nanos(int64_t n) { return Money::FromNanos(n); }

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

// The status of budget `name` at `now`, failing the test when it is missing.
BudgetStatus StatusOf(Ledger& ledger, const std::string& name, int64_t now) {
  absl::StatusOr<std::vector<BudgetStatus>> all = ledger.ListBudgets(now);
  EXPECT_TRUE(all.ok()) << all.status();
  if (all.ok()) {
    for (const BudgetStatus& b : *all) {
      if (b.spec->name == name) return b;
    }
  }
  ADD_FAILURE() << "no budget named " << name;
  return {};
}

TEST_P(LedgerConformanceTest, ReserveWithinLimitIsAdmittedAndHeld) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  auto outcome = ledger().Reserve(Req("op-1", Team("a"), Usd(4), now()));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->admitted);
  EXPECT_TRUE(outcome->refused_by.empty());
  ASSERT_EQ(outcome->budgets.size(), 1u);
  EXPECT_EQ(outcome->budgets[0].reserved, Usd(4));
  EXPECT_EQ(outcome->budgets[0].spent, Money::Zero());
  EXPECT_EQ(outcome->budgets[0].remaining(), Usd(6));
  EXPECT_DOUBLE_EQ(outcome->budgets[0].utilization(), 0.4);
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Usd(4));
}

TEST_P(LedgerConformanceTest, ReserveBeyondLimitIsRefusedAndNamesTheBudget) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(7), now()))->admitted);
  auto refused = ledger().Reserve(Req("op-2", Team("a"), Usd(3) + Nanos(1), now()));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused_by, "daily");
  // Exactly the remaining room still fits.
  auto exact = ledger().Reserve(Req("op-3", Team("a"), Usd(3), now()));
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->admitted);
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Usd(10));
}

TEST_P(LedgerConformanceTest, ReserveIsAllOrNothingAcrossMatchingBudgets) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("global", Usd(10))).ok());
  ASSERT_TRUE(
      ledger().UpsertBudget(Budget("team-x", Usd(3), BudgetPeriod::kDay, {{"team", "x"}})).ok());
  auto refused = ledger().Reserve(Req("op-1", Team("x"), Usd(5), now()));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused_by, "team-x");
  // The global budget, which had room, holds nothing.
  EXPECT_EQ(StatusOf(ledger(), "global", now()).reserved, Money::Zero());
  EXPECT_EQ(StatusOf(ledger(), "team-x", now()).reserved, Money::Zero());

  auto admitted = ledger().Reserve(Req("op-2", Team("x"), Usd(2), now()));
  ASSERT_TRUE(admitted.ok());
  EXPECT_TRUE(admitted->admitted);
  EXPECT_EQ(admitted->budgets.size(), 2u);
  EXPECT_EQ(StatusOf(ledger(), "global", now()).reserved, Usd(2));
  EXPECT_EQ(StatusOf(ledger(), "team-x", now()).reserved, Usd(2));
}

TEST_P(LedgerConformanceTest, BudgetsOfOtherScopesAreUntouched) {
  ASSERT_TRUE(
      ledger().UpsertBudget(Budget("team-y", Usd(1), BudgetPeriod::kDay, {{"team", "y"}})).ok());
  auto outcome = ledger().Reserve(Req("op-1", Team("x"), Usd(5), now()));
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->admitted);
  EXPECT_TRUE(outcome->budgets.empty());
  ASSERT_TRUE(ledger().Settle("op-1", Usd(5), now()).ok());
  EXPECT_EQ(StatusOf(ledger(), "team-y", now()).spent, Money::Zero());
  EXPECT_EQ(*ledger().TotalSpent(), Usd(5));
}

TEST_P(LedgerConformanceTest, TagAndMultiDimensionScopesMatchExactly) {
  ASSERT_TRUE(ledger()
                  .UpsertBudget(Budget("prod-acme", Usd(1), BudgetPeriod::kDay,
                                       {{"tag:env", "prod"}, {"customer_id", "acme"}}))
                  .ok());
  Attribution who = Team("a");
  who.customer_id = "acme";
  who.tags["env"] = "prod";
  Attribution other = who;
  other.tags["env"] = "dev";
  ASSERT_TRUE(ledger().Charge("op-1", who, Usd(1), now()).ok());
  ASSERT_TRUE(ledger().Charge("op-2", other, Usd(1), now()).ok());
  EXPECT_EQ(StatusOf(ledger(), "prod-acme", now()).spent, Usd(1));
  EXPECT_FALSE(ledger().Reserve(Req("op-3", who, Nanos(1), now()))->admitted);
  EXPECT_TRUE(ledger().Reserve(Req("op-4", other, Usd(100), now()))->admitted);
}

TEST_P(LedgerConformanceTest, SettleConvertsTheReservationIntoSpend) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(5), now()))->admitted);
  auto settled = ledger().Settle("op-1", Usd(3), now());
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(settled->reserved, Usd(5));
  EXPECT_EQ(settled->actual, Usd(3));
  EXPECT_FALSE(settled->already_settled);
  ASSERT_EQ(settled->budgets.size(), 1u);
  EXPECT_EQ(settled->budgets[0].spent, Usd(3));
  EXPECT_EQ(settled->budgets[0].reserved, Money::Zero());
  EXPECT_EQ(*ledger().TotalSpent(), Usd(3));
}

TEST_P(LedgerConformanceTest, SettleRecordsActualCostAboveTheReservation) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(1), now()))->admitted);
  ASSERT_TRUE(ledger().Settle("op-1", Usd(12), now()).ok());
  const BudgetStatus b = StatusOf(ledger(), "daily", now());
  EXPECT_EQ(b.spent, Usd(12));
  EXPECT_EQ(b.remaining(), Usd(-2));
  EXPECT_FALSE(ledger().Reserve(Req("op-2", Team("a"), Money::Zero() + Nanos(1), now()))->admitted);
}

TEST_P(LedgerConformanceTest, SettleIsIdempotent) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(5), now()))->admitted);
  ASSERT_TRUE(ledger().Settle("op-1", Usd(3), now()).ok());
  auto again = ledger().Settle("op-1", Usd(4), now());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_settled);
  EXPECT_EQ(again->actual, Usd(3));  // the first outcome
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).spent, Usd(3));
  EXPECT_EQ(*ledger().TotalSpent(), Usd(3));
  // A Charge() with the same id is a repeat too.
  auto charge = ledger().Charge("op-1", Team("a"), Usd(9), now());
  ASSERT_TRUE(charge.ok());
  EXPECT_TRUE(charge->already_settled);
  EXPECT_EQ(*ledger().TotalSpent(), Usd(3));
  // And a Reserve() of a settled id holds nothing.
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(5), now())).ok());
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Money::Zero());
}

TEST_P(LedgerConformanceTest, ChargeIsIdempotentAndCounts) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  auto first = ledger().Charge("op-1", Team("a"), Usd(6), now());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_settled);
  EXPECT_EQ(first->reserved, Money::Zero());
  EXPECT_EQ(first->actual, Usd(6));
  ASSERT_EQ(first->budgets.size(), 1u);
  EXPECT_EQ(first->budgets[0].spent, Usd(6));
  for (int i = 0; i < 3; ++i) {
    auto again = ledger().Charge("op-1", Team("a"), Usd(6), now());
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->already_settled);
  }
  auto settle = ledger().Settle("op-1", Usd(1), now());
  ASSERT_TRUE(settle.ok());
  EXPECT_TRUE(settle->already_settled);
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).spent, Usd(6));
  EXPECT_EQ(*ledger().TotalSpent(), Usd(6));
  EXPECT_FALSE(ledger().Reserve(Req("op-2", Team("a"), Usd(5), now()))->admitted);
  EXPECT_TRUE(ledger().Reserve(Req("op-3", Team("a"), Usd(4), now()))->admitted);
}

TEST_P(LedgerConformanceTest, SettleOfAnUnknownOperationIsNotFound) {
  auto settled = ledger().Settle("never-reserved", Usd(1), now());
  EXPECT_EQ(settled.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*ledger().TotalSpent(), Money::Zero());
}

TEST_P(LedgerConformanceTest, ReserveIsIdempotent) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(5))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(4), now()))->admitted);
  auto again = ledger().Reserve(Req("op-1", Team("a"), Usd(4), now()));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->admitted);
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Usd(4));
}

TEST_P(LedgerConformanceTest, ReleaseFreesTheRoomAndIsIdempotent) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(5))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(5), now()))->admitted);
  EXPECT_FALSE(ledger().Reserve(Req("op-2", Team("a"), Usd(1), now()))->admitted);
  ASSERT_TRUE(ledger().Release("op-1").ok());
  ASSERT_TRUE(ledger().Release("op-1").ok());
  ASSERT_TRUE(ledger().Release("never-seen").ok());
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Money::Zero());
  EXPECT_TRUE(ledger().Reserve(Req("op-2", Team("a"), Usd(5), now()))->admitted);
  EXPECT_EQ(ledger().Settle("op-1", Usd(1), now()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*ledger().TotalSpent(), Money::Zero());
}

TEST_P(LedgerConformanceTest, ReleaseOfASettledOperationChangesNothing) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(5))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("op-1", Team("a"), Usd(2), now()))->admitted);
  ASSERT_TRUE(ledger().Settle("op-1", Usd(2), now()).ok());
  ASSERT_TRUE(ledger().Release("op-1").ok());
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).spent, Usd(2));
  EXPECT_EQ(*ledger().TotalSpent(), Usd(2));
}

TEST_P(LedgerConformanceTest, ExpireReservationsReleasesOnlyExpiredOnes) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  const int64_t t = now();
  ASSERT_TRUE(ledger().Reserve(Req("dead", Team("a"), Usd(4), t, t + 10 * kSecond))->admitted);
  ASSERT_TRUE(ledger().Reserve(Req("alive", Team("a"), Usd(3), t, t + 100 * kSecond))->admitted);
  ASSERT_TRUE(ledger().Reserve(Req("forever", Team("a"), Usd(2), t, 0))->admitted);

  auto none = ledger().ExpireReservations(t + 9 * kSecond);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  auto one = ledger().ExpireReservations(t + 10 * kSecond);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, 1);
  EXPECT_EQ(StatusOf(ledger(), "daily", t + 10 * kSecond).reserved, Usd(5));
  EXPECT_EQ(ledger().Settle("dead", Usd(1), t).status().code(), absl::StatusCode::kNotFound);

  auto later = ledger().ExpireReservations(t + 1000 * kSecond);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, 1);  // "alive"; "forever" never expires
  EXPECT_EQ(StatusOf(ledger(), "daily", t + 1000 * kSecond).reserved, Usd(2));
  EXPECT_TRUE(ledger().Settle("forever", Usd(2), t + 1000 * kSecond).ok());
}

TEST_P(LedgerConformanceTest, DayBudgetResetsAtUtcMidnight) {
  // 2026-03-04T23:59:59.9Z
  const int64_t midnight = 1'772'668'800LL * kSecond;
  clock().Set(midnight - 100 * kNanosPerMilli);
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Charge("op-1", Team("a"), Usd(10), now()).ok());
  EXPECT_FALSE(ledger().Reserve(Req("op-2", Team("a"), Nanos(1), now()))->admitted);
  const BudgetStatus before = StatusOf(ledger(), "daily", now());
  EXPECT_EQ(before.window.start_unix_nanos, midnight - kDay);
  EXPECT_EQ(before.window.end_unix_nanos, midnight);

  clock().Advance(200 * kNanosPerMilli);  // 00:00:00.1 the next day
  const BudgetStatus after = StatusOf(ledger(), "daily", now());
  EXPECT_EQ(after.window.start_unix_nanos, midnight);
  EXPECT_EQ(after.spent, Money::Zero());
  auto outcome = ledger().Reserve(Req("op-3", Team("a"), Usd(10), now()));
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->admitted);
  EXPECT_EQ(*ledger().TotalSpent(), Usd(10));
}

TEST_P(LedgerConformanceTest, ReservationStaysInItsWindowAndSpendLandsInTheSettleWindow) {
  const int64_t midnight = 1'772'668'800LL * kSecond;
  clock().Set(midnight - 100 * kNanosPerMilli);
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Reserve(Req("late", Team("a"), Usd(6), now()))->admitted);
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Usd(6));

  clock().Advance(200 * kNanosPerMilli);
  // Yesterday's reservation does not hold room in today's window.
  EXPECT_EQ(StatusOf(ledger(), "daily", now()).reserved, Money::Zero());
  ASSERT_TRUE(ledger().Reserve(Req("today", Team("a"), Usd(10), now()))->admitted);
  // Settling yesterday's reservation now counts the spend today.
  ASSERT_TRUE(ledger().Settle("late", Usd(6), now()).ok());
  const BudgetStatus today = StatusOf(ledger(), "daily", now());
  EXPECT_EQ(today.spent, Usd(6));
  EXPECT_EQ(today.reserved, Usd(10));
  EXPECT_EQ(StatusOf(ledger(), "daily", midnight - kSecond).spent, Money::Zero());
  EXPECT_EQ(StatusOf(ledger(), "daily", midnight - kSecond).reserved, Money::Zero());
}

TEST_P(LedgerConformanceTest, WeekBudgetStartsOnMonday) {
  const int64_t monday = 1'773'014'400LL * kSecond;  // 2026-03-09T00:00:00Z
  clock().Set(monday - kSecond);                     // Sunday 23:59:59
  ASSERT_TRUE(ledger().UpsertBudget(Budget("weekly", Usd(10), BudgetPeriod::kWeek)).ok());
  ASSERT_TRUE(ledger().Charge("sun", Team("a"), Usd(10), now()).ok());
  const BudgetStatus sunday = StatusOf(ledger(), "weekly", now());
  EXPECT_EQ(sunday.window.start_unix_nanos, monday - 7 * kDay);
  EXPECT_EQ(sunday.window.end_unix_nanos, monday);
  EXPECT_EQ(sunday.spent, Usd(10));
  EXPECT_FALSE(ledger().Reserve(Req("sun-2", Team("a"), Nanos(1), now()))->admitted);

  clock().Advance(kSecond);
  const BudgetStatus week = StatusOf(ledger(), "weekly", now());
  EXPECT_EQ(week.window.start_unix_nanos, monday);
  EXPECT_EQ(week.spent, Money::Zero());
  EXPECT_TRUE(ledger().Reserve(Req("mon", Team("a"), Usd(10), now()))->admitted);
  // Still the same week on Sunday evening.
  EXPECT_EQ(StatusOf(ledger(), "weekly", monday + 7 * kDay - 1).reserved, Usd(10));
}

TEST_P(LedgerConformanceTest, MonthBudgetResetsOnTheFirst) {
  const int64_t april = 1'775'001'600LL * kSecond;  // 2026-04-01T00:00:00Z
  clock().Set(april - kSecond);
  ASSERT_TRUE(ledger().UpsertBudget(Budget("monthly", Usd(10), BudgetPeriod::kMonth)).ok());
  ASSERT_TRUE(ledger().Charge("mar", Team("a"), Usd(10), now()).ok());
  const BudgetStatus march = StatusOf(ledger(), "monthly", now());
  EXPECT_EQ(march.window.start_unix_nanos, april - 31 * kDay);
  EXPECT_EQ(march.window.end_unix_nanos, april);
  clock().Advance(kSecond);
  const BudgetStatus apr = StatusOf(ledger(), "monthly", now());
  EXPECT_EQ(apr.window.start_unix_nanos, april);
  EXPECT_EQ(apr.window.end_unix_nanos, april + 30 * kDay);
  EXPECT_EQ(apr.spent, Money::Zero());
}

TEST_P(LedgerConformanceTest, TotalBudgetNeverResets) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("lifetime", Usd(10), BudgetPeriod::kTotal)).ok());
  ASSERT_TRUE(ledger().Charge("op-1", Team("a"), Usd(7), now()).ok());
  clock().Advance(400 * kDay);
  ASSERT_TRUE(ledger().ExpireReservations(now()).ok());
  const BudgetStatus b = StatusOf(ledger(), "lifetime", now());
  EXPECT_EQ(b.spent, Usd(7));
  EXPECT_FALSE(ledger().Reserve(Req("op-2", Team("a"), Usd(4), now()))->admitted);
  EXPECT_TRUE(ledger().Reserve(Req("op-3", Team("a"), Usd(3), now()))->admitted);
}

TEST_P(LedgerConformanceTest, ZeroLimitRefusesAnySpend) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("frozen", Money::Zero())).ok());
  EXPECT_FALSE(ledger().Reserve(Req("op-1", Team("a"), Nanos(1), now()))->admitted);
  EXPECT_TRUE(ledger().Reserve(Req("op-2", Team("a"), Money::Zero(), now()))->admitted);
  EXPECT_DOUBLE_EQ(StatusOf(ledger(), "frozen", now()).utilization(), 0.0);
}

TEST_P(LedgerConformanceTest, UpsertKeepsCountersAndDeleteRemoves) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  ASSERT_TRUE(ledger().Charge("op-1", Team("a"), Usd(8), now()).ok());
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(20))).ok());
  const BudgetStatus raised = StatusOf(ledger(), "daily", now());
  EXPECT_EQ(raised.spec->limit, Usd(20));
  EXPECT_EQ(raised.spent, Usd(8));
  EXPECT_TRUE(ledger().Reserve(Req("op-2", Team("a"), Usd(12), now()))->admitted);

  ASSERT_TRUE(ledger().UpsertBudget(Budget("other", Usd(1), BudgetPeriod::kMonth)).ok());
  EXPECT_EQ(ledger().ListBudgets(now())->size(), 2u);
  ASSERT_TRUE(ledger().DeleteBudget("daily").ok());
  EXPECT_EQ(ledger().DeleteBudget("daily").code(), absl::StatusCode::kNotFound);
  auto left = ledger().ListBudgets(now());
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].spec->name, "other");
  EXPECT_EQ((*left)[0].spec->period, BudgetPeriod::kMonth);
  // The settled money is still on record.
  EXPECT_TRUE(ledger().Settle("op-2", Usd(1), now()).ok());
  EXPECT_EQ(*ledger().TotalSpent(), Usd(9));
}

// BudgetStatus::spec is shared and immutable (ledger.h): an update installs a new spec and
// leaves the statuses already handed out as they were.
TEST_P(LedgerConformanceTest, StatusKeepsTheSpecItWasTakenWith) {
  ASSERT_TRUE(
      ledger().UpsertBudget(Budget("daily", Usd(10), BudgetPeriod::kDay, {{"team", "a"}})).ok());
  absl::StatusOr<ReserveOutcome> reserved = ledger().Reserve(Req("op-1", Team("a"), Usd(1), now()));
  ASSERT_TRUE(reserved.ok());
  ASSERT_EQ(reserved->budgets.size(), 1u);
  const BudgetStatus before = reserved->budgets[0];
  ASSERT_NE(before.spec, nullptr);
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(20))).ok());
  EXPECT_EQ(before.spec->limit, Usd(10));
  EXPECT_EQ(before.limit(), Usd(10));
  EXPECT_EQ(ScopeToString(before.spec->scope), "team=a");
  const BudgetStatus after = StatusOf(ledger(), "daily", now());
  ASSERT_NE(after.spec, nullptr);
  EXPECT_EQ(after.spec->limit, Usd(20));
  EXPECT_EQ(ScopeToString(after.spec->scope), "global");
  EXPECT_EQ(after.reserved, Usd(1));
}

TEST_P(LedgerConformanceTest, BadInputIsRejectedPrecisely) {
  EXPECT_EQ(ledger().Reserve(Req("", Team("a"), Usd(1), now())).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger().Reserve(Req("op", Team("a"), Usd(-1), now())).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger().Charge("op", Team("a"), Usd(-1), now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(ledger().Reserve(Req("op", Team("a"), Usd(1), now())).ok());
  EXPECT_EQ(ledger().Settle("op", Usd(-1), now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger().UpsertBudget(Budget("", Usd(1))).code(), absl::StatusCode::kInvalidArgument);
  absl::Status negative = ledger().UpsertBudget(Budget("neg", Usd(-1)));
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.message().find("neg"), std::string::npos) << negative;
  absl::Status dimension =
      ledger().UpsertBudget(Budget("bad", Usd(1), BudgetPeriod::kDay, {{"tean", "x"}}));
  EXPECT_EQ(dimension.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dimension.message().find("tean"), std::string::npos) << dimension;
  BudgetSpec threshold = Budget("thr", Usd(1));
  threshold.alert_thresholds = {0.5, 0};
  EXPECT_EQ(ledger().UpsertBudget(threshold).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ledger().ListBudgets(now())->empty());
}

TEST_P(LedgerConformanceTest, ConcurrentReserveAndSettleNeverExceedTheLimit) {
  const Money limit = Usd(50);
  ASSERT_TRUE(ledger().UpsertBudget(Budget("shared", limit)).ok());
  constexpr int kThreads = 8;
  constexpr int kOpsPerThread = 250;
  std::atomic<int64_t> settled_nanos{0};
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::atomic<bool> overrun{false};
  std::vector<std::thread> threads;
  const int64_t t = now();
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kOpsPerThread; ++i) {
        const std::string id = "op-" + std::to_string(w) + "-" + std::to_string(i);
        // Estimates of $0.10..$0.60; actual cost a deterministic fraction of it.
        const Money estimate = Nanos((10 + (w * 7 + i * 13) % 51) * 10'000'000LL);
        auto outcome = ledger().Reserve(Req(id, Team("a"), estimate, t));
        if (!outcome.ok()) {
          overrun = true;
          continue;
        }
        if (!outcome->admitted) {
          ++refused;
          continue;
        }
        ++admitted;
        for (const BudgetStatus& b : outcome->budgets) {
          if (b.spent + b.reserved > b.spec->limit) overrun = true;
        }
        const Money actual = Nanos(estimate.nanos() * ((i % 4) + 1) / 4 + (i % 3));
        const Money capped = std::min(actual, estimate);
        auto settled = ledger().Settle(id, capped, t);
        if (!settled.ok()) {
          overrun = true;
          continue;
        }
        settled_nanos += capped.nanos();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overrun);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(refused.load(), 0);  // the budget really ran out under contention
  const BudgetStatus b = StatusOf(ledger(), "shared", t);
  EXPECT_LE(b.spent, limit);
  EXPECT_EQ(b.reserved, Money::Zero());
  EXPECT_EQ(b.spent.nanos(), settled_nanos.load());
  EXPECT_EQ(ledger().TotalSpent()->nanos(), settled_nanos.load());
}

}  // namespace
}  // namespace genops::ledger::testing
