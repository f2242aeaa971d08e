// The memory store: the conformance suite, plus the bounds of its idempotency record.
#include "src/ledger/memory_ledger.h"

#include <memory>
#include <string>

#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "gtest/gtest.h"
#include "tests/ledger/ledger_conformance.h"

namespace genops::ledger {
namespace {

using testing::LedgerConformanceTest;

INSTANTIATE_TEST_SUITE_P(Memory, LedgerConformanceTest,
                         ::testing::Values(testing::LedgerFactory{
                             "memory",
                             [](const Clock* clock) -> absl::StatusOr<std::unique_ptr<Ledger>> {
                               return NewMemoryLedger(clock);
                             }}),
                         testing::FactoryName);

constexpr int64_t kHour = 3600 * kNanosPerSecond;

Attribution Who() {
  Attribution a;
  a.team = "a";
  return a;
}

TEST(MemoryLedgerTest, SettledIdsAreRememberedFor48Hours) {
  ManualClock clock;
  std::unique_ptr<Ledger> ledger = NewMemoryLedger(&clock);
  const Money one = Money::FromNanos(Money::kNanosPerUsd);
  ASSERT_TRUE(ledger->Charge("op-1", Who(), one, clock.NowUnixNanos()).ok());

  clock.Advance(47 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock.NowUnixNanos()).ok());
  auto repeat = ledger->Charge("op-1", Who(), one, clock.NowUnixNanos());
  ASSERT_TRUE(repeat.ok());
  EXPECT_TRUE(repeat->already_settled);
  EXPECT_EQ(*ledger->TotalSpent(), one);

  // Past the retention the id is forgotten (the record stays bounded).
  clock.Advance(2 * kHour);
  ASSERT_TRUE(ledger->ExpireReservations(clock.NowUnixNanos()).ok());
  auto late = ledger->Charge("op-1", Who(), one, clock.NowUnixNanos());
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->already_settled);
  EXPECT_EQ(*ledger->TotalSpent(), one + one);
}

TEST(MemoryLedgerTest, SettledIdRecordIsBoundedByCount) {
  ManualClock clock;
  MemoryLedgerOptions options;
  options.max_settled_ids = 3;
  std::unique_ptr<Ledger> ledger = NewMemoryLedger(&clock, options);
  const Money one = Money::FromNanos(1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ledger->Charge("op-" + std::to_string(i), Who(), one, 0).ok());
  }
  // op-1..op-3 are remembered; op-0, the oldest, was forgotten.
  EXPECT_TRUE(ledger->Charge("op-3", Who(), one, 0)->already_settled);
  EXPECT_TRUE(ledger->Charge("op-1", Who(), one, 0)->already_settled);
  EXPECT_FALSE(ledger->Charge("op-0", Who(), one, 0)->already_settled);
  EXPECT_EQ(ledger->TotalSpent()->nanos(), 5);
}

// The record keys its index by views of the ids it stores once; long (heap) ids across many
// evictions must still be found, and evicted ones forgotten.
TEST(MemoryLedgerTest, SettledIdRecordSurvivesManyLongIdsAndEvictions) {
  ManualClock clock;
  MemoryLedgerOptions options;
  options.max_settled_ids = 50;
  std::unique_ptr<Ledger> ledger = NewMemoryLedger(&clock, options);
  const Money one = Money::FromNanos(1);
  auto id = [](int i) { return "op_" + std::string(40, 'a') + std::to_string(i); };
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(ledger->Charge(id(i), Who(), one, 0).ok());
  for (int i = 950; i < 1000; ++i) {
    EXPECT_TRUE(ledger->Charge(id(i), Who(), one, 0)->already_settled) << i;
  }
  EXPECT_EQ(ledger->TotalSpent()->nanos(), 1000);
  EXPECT_FALSE(ledger->Charge(id(949), Who(), one, 0)->already_settled);
  EXPECT_EQ(ledger->TotalSpent()->nanos(), 1001);
}

TEST(MemoryLedgerTest, ChangingAPeriodRestartsTheCounters) {
  ManualClock clock;
  std::unique_ptr<Ledger> ledger = NewMemoryLedger(&clock);
  BudgetSpec spec;
  spec.name = "b";
  spec.limit = Money::FromNanos(10);
  ASSERT_TRUE(ledger->UpsertBudget(spec).ok());
  ReserveRequest r;
  r.operation_id = "held";
  r.attribution = Who();
  r.amount = Money::FromNanos(4);
  r.now_unix_nanos = clock.NowUnixNanos();
  ASSERT_TRUE(ledger->Reserve(r)->admitted);
  ASSERT_TRUE(ledger->Charge("spent", Who(), Money::FromNanos(3), clock.NowUnixNanos()).ok());
  spec.period = BudgetPeriod::kMonth;
  ASSERT_TRUE(ledger->UpsertBudget(spec).ok());
  auto list = ledger->ListBudgets(clock.NowUnixNanos());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].spent, Money::Zero());
  EXPECT_EQ((*list)[0].reserved, Money::Zero());
  // Releasing the old reservation must not drive the new counters negative.
  ASSERT_TRUE(ledger->Release("held").ok());
  EXPECT_EQ((*ledger->ListBudgets(clock.NowUnixNanos()))[0].reserved, Money::Zero());
}

}  // namespace
}  // namespace genops::ledger
