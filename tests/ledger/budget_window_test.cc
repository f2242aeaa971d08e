// Budget periods, UTC windows and scopes (src/ledger/ledger.h).
#include <cstdint>
#include <limits>
#include <memory>

#include "genops/attribution.h"
#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/ledger/ledger.h"

namespace genops::ledger {
namespace {

constexpr int64_t kSecond = kNanosPerSecond;
constexpr int64_t kDay = 86'400 * kSecond;

TEST(BudgetPeriodTest, NamesRoundTrip) {
  for (BudgetPeriod p :
       {BudgetPeriod::kDay, BudgetPeriod::kWeek, BudgetPeriod::kMonth, BudgetPeriod::kTotal}) {
    auto parsed = ParseBudgetPeriod(BudgetPeriodName(p));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(BudgetPeriodName(BudgetPeriod::kWeek), "week");
  EXPECT_EQ(*ParseBudgetPeriod("Month"), BudgetPeriod::kMonth);
  auto bad = ParseBudgetPeriod("fortnight");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("fortnight"), std::string::npos);
  EXPECT_NE(bad.status().message().find("day, week, month, total"), std::string::npos);
}

TEST(BudgetWindowTest, DayIsUtcMidnightToMidnight) {
  const int64_t midnight = 1'772'668'800LL * kSecond;  // 2026-03-05T00:00:00Z
  const BudgetWindow before = BudgetWindow::Containing(BudgetPeriod::kDay, midnight - 1);
  EXPECT_EQ(before.start_unix_nanos, midnight - kDay);
  EXPECT_EQ(before.end_unix_nanos, midnight);
  const BudgetWindow at = BudgetWindow::Containing(BudgetPeriod::kDay, midnight);
  EXPECT_EQ(at.start_unix_nanos, midnight);
  EXPECT_EQ(at.end_unix_nanos, midnight + kDay);
}

TEST(BudgetWindowTest, WeekStartsOnMonday) {
  const int64_t monday = 1'773'014'400LL * kSecond;  // 2026-03-09T00:00:00Z, a Monday
  for (int64_t offset : {int64_t{0}, kDay + 5, 3 * kDay, 7 * kDay - 1}) {
    const BudgetWindow w = BudgetWindow::Containing(BudgetPeriod::kWeek, monday + offset);
    EXPECT_EQ(w.start_unix_nanos, monday) << offset;
    EXPECT_EQ(w.end_unix_nanos, monday + 7 * kDay) << offset;
  }
  const BudgetWindow sunday = BudgetWindow::Containing(BudgetPeriod::kWeek, monday - 1);
  EXPECT_EQ(sunday.start_unix_nanos, monday - 7 * kDay);
  EXPECT_EQ(sunday.end_unix_nanos, monday);
  // 1970-01-01 was a Thursday: its week began on Monday 1969-12-29.
  const BudgetWindow epoch = BudgetWindow::Containing(BudgetPeriod::kWeek, 0);
  EXPECT_EQ(epoch.start_unix_nanos, -3 * kDay);
  // A week spanning new year: 2025-12-29 (Monday) .. 2026-01-05.
  const int64_t new_year = 1'767'225'600LL * kSecond;
  EXPECT_EQ(BudgetWindow::Containing(BudgetPeriod::kWeek, new_year).start_unix_nanos,
            1'766'966'400LL * kSecond);
}

TEST(BudgetWindowTest, MonthFollowsTheCalendarIncludingLeapYears) {
  const int64_t feb29_2024 = 1'709'164'800LL * kSecond;
  const int64_t mar1_2024 = 1'709'251'200LL * kSecond;
  const BudgetWindow feb = BudgetWindow::Containing(BudgetPeriod::kMonth, feb29_2024 + 5);
  EXPECT_EQ(feb.start_unix_nanos, mar1_2024 - 29 * kDay);
  EXPECT_EQ(feb.end_unix_nanos, mar1_2024);
  const BudgetWindow mar = BudgetWindow::Containing(BudgetPeriod::kMonth, mar1_2024);
  EXPECT_EQ(mar.start_unix_nanos, mar1_2024);
  EXPECT_EQ(mar.end_unix_nanos, mar1_2024 + 31 * kDay);
  // December rolls into the next year.
  const int64_t jan1_2026 = 1'767'225'600LL * kSecond;
  const BudgetWindow dec = BudgetWindow::Containing(BudgetPeriod::kMonth, jan1_2026 - 1);
  EXPECT_EQ(dec.start_unix_nanos, jan1_2026 - 31 * kDay);
  EXPECT_EQ(dec.end_unix_nanos, jan1_2026);
  // Before the epoch: December 1969.
  const BudgetWindow dec69 = BudgetWindow::Containing(BudgetPeriod::kMonth, -1);
  EXPECT_EQ(dec69.start_unix_nanos, -31 * kDay);
  EXPECT_EQ(dec69.end_unix_nanos, 0);
}

TEST(BudgetWindowTest, TotalSpansEverythingAndExtremesDoNotOverflow) {
  const BudgetWindow total = BudgetWindow::Containing(BudgetPeriod::kTotal, 12345);
  EXPECT_EQ(total.start_unix_nanos, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(total.end_unix_nanos, std::numeric_limits<int64_t>::max());
  const int64_t max = std::numeric_limits<int64_t>::max();
  for (BudgetPeriod p : {BudgetPeriod::kDay, BudgetPeriod::kWeek, BudgetPeriod::kMonth}) {
    const BudgetWindow w = BudgetWindow::Containing(p, max);
    EXPECT_LE(w.start_unix_nanos, max);
    EXPECT_GE(w.end_unix_nanos, w.start_unix_nanos);
    const BudgetWindow lo = BudgetWindow::Containing(p, std::numeric_limits<int64_t>::min());
    EXPECT_GE(lo.end_unix_nanos, lo.start_unix_nanos);
  }
}

TEST(ScopeTest, MatchesEveryDimensionExactly) {
  Attribution a;
  a.team = "ml";
  a.customer_id = "acme";
  a.tags["env"] = "prod";
  EXPECT_TRUE(ScopeMatches({}, a));
  EXPECT_TRUE(ScopeMatches({{"team", "ml"}}, a));
  EXPECT_TRUE(ScopeMatches({{"team", "ml"}, {"customer_id", "acme"}, {"tag:env", "prod"}}, a));
  EXPECT_FALSE(ScopeMatches({{"team", "ml"}, {"customer_id", "other"}}, a));
  EXPECT_FALSE(ScopeMatches({{"team", "ML"}}, a));
  EXPECT_FALSE(ScopeMatches({{"tag:env", "dev"}}, a));
  EXPECT_FALSE(ScopeMatches({{"bogus", "x"}}, a));
  EXPECT_FALSE(ScopeMatches({{"project", "p"}}, a));
}

TEST(ScopeTest, PrintsInCanonicalOrder) {
  EXPECT_EQ(ScopeToString({}), "global");
  EXPECT_EQ(ScopeToString({{"customer_id", "b"}, {"team", "a"}}), "team=a,customer_id=b");
  EXPECT_EQ(ScopeToString({{"tag:env", "prod"}, {"project", "p"}}), "project=p,tag:env=prod");
}

TEST(BudgetStatusTest, UtilizationCountsSpentAndReserved) {
  BudgetStatus s;
  BudgetSpec spec;
  spec.limit = Money::FromNanos(200);
  s.spec = std::make_shared<const BudgetSpec>(spec);
  s.spent = Money::FromNanos(50);
  s.reserved = Money::FromNanos(100);
  EXPECT_DOUBLE_EQ(s.utilization(), 0.75);
  EXPECT_EQ(s.remaining(), Money::FromNanos(50));
  spec.limit = Money::Zero();
  s.spec = std::make_shared<const BudgetSpec>(spec);
  EXPECT_DOUBLE_EQ(s.utilization(), 0.0);
}

TEST(BudgetStatusTest, WithoutSpecHasNoLimit) {
  BudgetStatus s;
  s.spent = Money::FromNanos(50);
  EXPECT_EQ(s.limit(), Money::Zero());
  EXPECT_EQ(s.remaining(), Money::FromNanos(-50));
  EXPECT_DOUBLE_EQ(s.utilization(), 0.0);
}

}  // namespace
}  // namespace genops::ledger
