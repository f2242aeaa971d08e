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
#include "src/core/text.h"

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

using testing::StatusOf;

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

TEST_P(LedgerConformanceTest, ChargeBatchIsChargePerItemInOrder) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(100))).ok());
  ASSERT_TRUE(ledger().Charge("before", Team("a"), Usd(2), now()).ok());
  ASSERT_TRUE(ledger().Reserve(Req("held", Team("a"), Usd(3), now()))->admitted);
  const Attribution a = Team("a");
  const Attribution b = Team("b");
  const std::vector<ChargeItem> items = {
      {.operation_id = "b-1", .attribution = &a, .actual = Usd(5), .now_unix_nanos = now()},
      {.operation_id = "", .attribution = &a, .actual = Usd(7), .now_unix_nanos = now()},
      {.operation_id = "before", .attribution = &a, .actual = Usd(9), .now_unix_nanos = now()},
      {.operation_id = "held", .attribution = &a, .actual = Usd(9), .now_unix_nanos = now()},
      {.operation_id = "b-2", .attribution = &b, .actual = Usd(-1), .now_unix_nanos = now()},
      {.operation_id = "b-3", .attribution = &b, .actual = Usd(4), .now_unix_nanos = now()},
      {.operation_id = "b-1", .attribution = &a, .actual = Usd(5), .now_unix_nanos = now()},
  };
  std::vector<absl::StatusOr<SettleOutcome>> out = ledger().ChargeBatch(items);
  ASSERT_EQ(out.size(), items.size());
  ASSERT_TRUE(out[0].ok()) << out[0].status();
  EXPECT_FALSE(out[0]->already_settled);
  EXPECT_EQ(out[0]->actual, Usd(5));
  ASSERT_EQ(out[0]->budgets.size(), 1u);
  EXPECT_EQ(out[0]->budgets[0].spent, Usd(7));  // "before" + b-1, in order
  EXPECT_EQ(out[1].status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(out[2].ok()) << out[2].status();
  EXPECT_TRUE(out[2]->already_settled);  // charged before the batch: nothing new
  ASSERT_EQ(out[2]->budgets.size(), 1u);
  EXPECT_EQ(out[2]->budgets[0].spent, Usd(7));  // a repeat sees the batch's charges so far
  EXPECT_EQ(out[3].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(out[4].status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(out[5].ok()) << out[5].status();
  EXPECT_EQ(out[5]->budgets[0].spent, Usd(11));
  ASSERT_TRUE(out[6].ok()) << out[6].status();
  EXPECT_TRUE(out[6]->already_settled);  // a repeat inside the batch charges once
  ASSERT_EQ(out[6]->budgets.size(), 1u);
  EXPECT_EQ(out[6]->budgets[0].spent, Usd(11));
  EXPECT_EQ(*ledger().TotalSpent(), Usd(11));
  const BudgetStatus daily = StatusOf(ledger(), "daily", now());
  EXPECT_EQ(daily.spent, Usd(11));
  EXPECT_EQ(daily.reserved, Usd(3));  // the reservation under "held" is untouched
  EXPECT_TRUE(ledger().ChargeBatch({}).empty());
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

// --- LookupOperation -------------------------------------------------------------------

TEST_P(LedgerConformanceTest, LookupFollowsAnOperationThroughItsLife) {
  ASSERT_TRUE(ledger().UpsertBudget(Budget("daily", Usd(10))).ok());
  auto unknown = ledger().LookupOperation("op");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->has_value());

  ASSERT_TRUE(ledger().Reserve(Req("op", Team("a"), Usd(2), now())).ok());
  auto reserved = ledger().LookupOperation("op");
  ASSERT_TRUE(reserved.ok() && reserved->has_value()) << reserved.status();
  EXPECT_EQ((*reserved)->state, OperationState::kReserved);
  EXPECT_EQ((*reserved)->reserved, Usd(2));

  ASSERT_TRUE(ledger().Settle("op", Nanos(1'500'000'001), now()).ok());
  auto settled = ledger().LookupOperation("op");
  ASSERT_TRUE(settled.ok() && settled->has_value()) << settled.status();
  EXPECT_EQ((*settled)->state, OperationState::kSettled);
  EXPECT_EQ((*settled)->reserved, Usd(2));
  EXPECT_EQ((*settled)->actual, Nanos(1'500'000'001));

  ASSERT_TRUE(ledger().Charge("direct", Team("a"), Nanos(7), now()).ok());
  auto charged = ledger().LookupOperation("direct");
  ASSERT_TRUE(charged.ok() && charged->has_value()) << charged.status();
  EXPECT_EQ((*charged)->state, OperationState::kSettled);
  EXPECT_EQ((*charged)->reserved, Money());
  EXPECT_EQ((*charged)->actual, Nanos(7));

  ASSERT_TRUE(ledger().Reserve(Req("gone", Team("a"), Usd(1), now())).ok());
  ASSERT_TRUE(ledger().Release("gone").ok());
  auto released = ledger().LookupOperation("gone");
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_FALSE(released->has_value());
}

// --- The operations log ------------------------------------------------------------------

OperationRecord Record(std::string id, int64_t start, std::string team, int64_t cost_nanos) {
  OperationRecord r;
  r.operation_id = std::move(id);
  r.start_unix_nanos = start;
  r.duration_nanos = 1'234'567;
  r.operation_type = "chat_completion";
  r.operation_name = "answer";
  r.attribution.team = std::move(team);
  r.attribution.project = "proj";
  r.provider = "openai";
  r.model = "gpt-4o";
  r.usage.input_tokens = 1200;
  r.usage.cache_read_tokens = 200;
  r.usage.output_tokens = 300;
  r.usage.reasoning_tokens = 100;
  r.cost = Nanos(cost_nanos);
  r.priced = true;
  return r;
}

std::vector<std::string> Ids(const std::vector<OperationRecord>& records) {
  std::vector<std::string> ids;
  for (const OperationRecord& r : records) ids.push_back(r.operation_id);
  return ids;
}

TEST_P(LedgerConformanceTest, OperationsLogRoundTripsEveryField) {
  OperationRecord full = Record("op-1", now(), "a", 123'456'789'012);
  full.attribution.environment = "production";
  full.attribution.customer_id = "acme";
  full.attribution.cost_center = "cc-7";
  full.attribution.feature = "search";
  full.attribution.tags = {{"region", "eu-west-1"}, {"tier", "gold, \"quoted\"=x"}};
  full.usage.cache_write_tokens = 50;
  full.decision = DecisionResult::kWarned;
  full.reason = DecisionReason::kBudgetExceeded;
  full.error = true;
  full.trace_id = "0af7651916cd43dd8448eb211c80319c";
  OperationRecord unpriced = Record("op-2", now() - 1, "b", 0);
  unpriced.priced = false;
  unpriced.model = "mystery-model";
  ASSERT_TRUE(ledger().AppendOperations({full, unpriced}).ok());

  auto records = QueryOperations(ledger(), {});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  const OperationRecord& got = (*records)[0];
  EXPECT_EQ(got.operation_id, full.operation_id);
  EXPECT_EQ(got.start_unix_nanos, full.start_unix_nanos);
  EXPECT_EQ(got.duration_nanos, full.duration_nanos);
  EXPECT_EQ(got.operation_type, full.operation_type);
  EXPECT_EQ(got.operation_name, full.operation_name);
  EXPECT_EQ(got.attribution, full.attribution);
  EXPECT_EQ(got.provider, full.provider);
  EXPECT_EQ(got.model, full.model);
  EXPECT_EQ(got.usage, full.usage);
  EXPECT_EQ(got.cost, full.cost);
  EXPECT_EQ(got.priced, true);
  EXPECT_EQ(got.decision, DecisionResult::kWarned);
  EXPECT_EQ(got.reason, DecisionReason::kBudgetExceeded);
  EXPECT_EQ(got.error, true);
  EXPECT_EQ(got.trace_id, full.trace_id);
  EXPECT_EQ((*records)[1].priced, false);
  EXPECT_EQ((*records)[1].model, "mystery-model");
}

TEST_P(LedgerConformanceTest, OperationsLogSkipsIdsAlreadyThere) {
  ASSERT_TRUE(ledger().AppendOperations({Record("op-1", now(), "a", 10)}).ok());
  // A retried batch: the first record again (with other values) and a new one.
  ASSERT_TRUE(ledger()
                  .AppendOperations(
                      {Record("op-1", now() + 5, "other", 99), Record("op-2", now() + 1, "a", 20)})
                  .ok());
  auto records = QueryOperations(ledger(), {});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ(Ids(*records), (std::vector<std::string>{"op-2", "op-1"}));
  EXPECT_EQ((*records)[1].attribution.team, "a");
  EXPECT_EQ((*records)[1].cost, Nanos(10));
}

TEST_P(LedgerConformanceTest, OperationsLogQueriesNewestFirstWithinTheRange) {
  std::vector<OperationRecord> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Record(Cat("op-", i), now() + i * kSecond, "a", i));
  // Same start time as op-5: ties order by id, descending.
  batch.push_back(Record("op-5b", now() + 5 * kSecond, "a", 0));
  ASSERT_TRUE(ledger().AppendOperations(batch).ok());

  auto all = QueryOperations(ledger(), {});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{"op-9", "op-8", "op-7", "op-6", "op-5b", "op-5",
                                                 "op-4", "op-3", "op-2", "op-1", "op-0"}));
  auto newest3 = QueryOperations(ledger(), {.limit = 3});
  ASSERT_TRUE(newest3.ok());
  EXPECT_EQ(Ids(*newest3), (std::vector<std::string>{"op-9", "op-8", "op-7"}));
  // [since, until): start times 3 s .. 5 s inclusive.
  auto range = QueryOperations(
      ledger(), {.since_unix_nanos = now() + 3 * kSecond, .until_unix_nanos = now() + 6 * kSecond});
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(Ids(*range), (std::vector<std::string>{"op-5b", "op-5", "op-4", "op-3"}));
  // A visitor may stop early.
  int visited = 0;
  ASSERT_TRUE(ledger()
                  .ScanOperations({}, [&visited](const OperationRecord&) { return ++visited < 2; })
                  .ok());
  EXPECT_EQ(visited, 2);
}

TEST_P(LedgerConformanceTest, OperationsLogPurgesByAge) {
  std::vector<OperationRecord> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(Record(Cat("op-", i), now() - i * kDay, "a", i));
  ASSERT_TRUE(ledger().AppendOperations(batch).ok());
  auto purged = ledger().PurgeOperations(now() - 3 * kDay);  // keeps ages 0..3 days
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 2);
  auto left = QueryOperations(ledger(), {});
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(Ids(*left), (std::vector<std::string>{"op-0", "op-1", "op-2", "op-3"}));
  // A purged id may be appended again (retention is over; it is a new record).
  ASSERT_TRUE(ledger().AppendOperations({Record("op-5", now(), "a", 5)}).ok());
  EXPECT_EQ(QueryOperations(ledger(), {})->size(), 5u);
}

TEST_P(LedgerConformanceTest, OperationsLogRejectsABatchWithAnEmptyIdWhole) {
  absl::Status bad =
      ledger().AppendOperations({Record("op-1", now(), "a", 1), Record("", now(), "a", 1)});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_TRUE(QueryOperations(ledger(), {})->empty());
}

}  // namespace
}  // namespace genops::ledger::testing
