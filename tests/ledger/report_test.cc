// The report library: grouping keys, exact sums, deterministic order, time ranges.
#include "src/ledger/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "genops/money.h"
#include "genops/operation_record.h"
#include "src/ledger/memory_ledger.h"
#include "tests/support/faulty_ledger.h"

namespace genops::ledger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kDay = 86'400 * kNanosPerSecond;
// 2026-11-01T00:00:00Z.
constexpr int64_t kNov1 = 1'793'491'200 * kNanosPerSecond;

OperationRecord Op(std::string id, int64_t start, std::string team, std::string model,
                   int64_t cost_nanos) {
  OperationRecord r;
  r.operation_id = std::move(id);
  r.start_unix_nanos = start;
  r.attribution.team = std::move(team);
  r.attribution.project = "chat";
  r.model = std::move(model);
  r.provider = r.model.rfind("claude", 0) == 0 ? "anthropic" : "openai";
  r.operation_type = "chat";
  r.usage = {.input_tokens = 1000,
             .cache_read_tokens = 200,
             .cache_write_tokens = 10,
             .output_tokens = 300,
             .reasoning_tokens = 50};
  r.cost = Money::FromNanos(cost_nanos);
  r.priced = true;
  return r;
}

ReportBuilder MustCreate(ReportSpec spec) {
  absl::StatusOr<ReportBuilder> builder = ReportBuilder::Create(std::move(spec));
  EXPECT_TRUE(builder.ok()) << builder.status();
  return *std::move(builder);
}

Report MustBuild(const ReportBuilder& builder) {
  absl::StatusOr<Report> report = builder.Build();
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *std::move(report) : Report();
}

TEST(ParseGroupByTest, AcceptsEveryKeyAndIgnoresBlanks) {
  absl::StatusOr<std::vector<std::string>> keys = ParseGroupBy(
      " team, project,environment,customer_id,cost_center,feature,model,provider,"
      "operation_type,tag:feature_flag,day ");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys,
              ElementsAre("team", "project", "environment", "customer_id", "cost_center", "feature",
                          "model", "provider", "operation_type", "tag:feature_flag", "day"));
}

TEST(ParseGroupByTest, RejectsUnknownEmptyAndRepeatedKeys) {
  absl::Status unknown = ParseGroupBy("team,teem").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("\"teem\""));
  EXPECT_THAT(unknown.message(), HasSubstr("tag:<key>"));  // lists the valid keys
  EXPECT_THAT(unknown.message(), HasSubstr("operation_type"));

  EXPECT_THAT(ParseGroupBy("tag:").status().message(), HasSubstr("names no tag"));
  EXPECT_THAT(ParseGroupBy("").status().message(), HasSubstr("empty group-by list"));
  EXPECT_THAT(ParseGroupBy("team,,model").status().message(), HasSubstr("empty key"));
  EXPECT_THAT(ParseGroupBy("team,").status().message(), HasSubstr("empty key"));
  EXPECT_THAT(ParseGroupBy("model, model").status().message(), HasSubstr("twice"));
  // Keys are case-sensitive, like scope dimensions.
  EXPECT_FALSE(ParseGroupBy("Team").ok());
}

TEST(ReportBuilderTest, CreateRejectsBadSpecs) {
  EXPECT_EQ(ReportBuilder::Create({.group_by = {"team", "colour"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ReportBuilder::Create({.group_by = {"team", "team"}}).status().message(),
              HasSubstr("twice"));
  EXPECT_THAT(
      ReportBuilder::Create({.group_by = {}, .since_unix_nanos = kNov1, .until_unix_nanos = kNov1})
          .status()
          .message(),
      HasSubstr("empty time range"));
}

TEST(ReportBuilderTest, GroupsByTeamWithExactSumsSortedByCost) {
  ReportBuilder builder = MustCreate({.group_by = {"team"}});
  // 0.1 + 0.2 USD style amounts: exact in nanos, not in doubles.
  builder.Add(Op("1", kNov1, "search", "gpt-4o", 100'000'001));
  builder.Add(Op("2", kNov1 + 1, "search", "gpt-4o", 200'000'002));
  builder.Add(Op("3", kNov1 + 2, "ads", "gpt-4o-mini", 700'000'000));
  builder.Add(Op("4", kNov1 + 3, "infra", "gpt-4o-mini", 1));
  Report report = MustBuild(builder);

  ASSERT_EQ(report.rows.size(), 3u);
  EXPECT_THAT(report.rows[0].key, ElementsAre("ads"));
  EXPECT_THAT(report.rows[1].key, ElementsAre("search"));
  EXPECT_THAT(report.rows[2].key, ElementsAre("infra"));
  EXPECT_EQ(report.rows[1].totals.cost, Money::FromNanos(300'000'003));
  EXPECT_EQ(report.rows[1].totals.operations, 2);
  EXPECT_EQ(report.rows[1].totals.input_tokens, 2000);
  EXPECT_EQ(report.rows[1].totals.cache_read_tokens, 400);
  EXPECT_EQ(report.rows[1].totals.cache_write_tokens, 20);
  EXPECT_EQ(report.rows[1].totals.output_tokens, 600);
  EXPECT_EQ(report.rows[1].totals.reasoning_tokens, 100);
  EXPECT_EQ(report.total.cost, Money::FromNanos(1'000'000'004));
  EXPECT_EQ(report.total.operations, 4);
  EXPECT_EQ(report.total.cost.ToUsdString(), "1.000000004");

  double shares = 0;
  for (const ReportRow& row : report.rows) shares += report.CostShare(row);
  EXPECT_NEAR(shares, 1.0, 1e-12);
  EXPECT_NEAR(report.CostShare(report.rows[0]), 0.7, 1e-8);
}

TEST(ReportBuilderTest, TiesAreOrderedByOperationsThenKey) {
  ReportBuilder builder = MustCreate({.group_by = {"team"}});
  builder.Add(Op("1", kNov1, "zeta", "m", 500));
  builder.Add(Op("2", kNov1, "beta", "m", 500));
  builder.Add(Op("3", kNov1, "alpha", "m", 250));
  builder.Add(Op("4", kNov1, "alpha", "m", 250));
  builder.Add(Op("5", kNov1, "omega", "m", 0));
  Report report = MustBuild(builder);
  ASSERT_EQ(report.rows.size(), 4u);
  // alpha: 500 in 2 operations; beta and zeta: 500 in 1, by name; omega: nothing.
  EXPECT_THAT(report.rows[0].key, ElementsAre("alpha"));
  EXPECT_THAT(report.rows[1].key, ElementsAre("beta"));
  EXPECT_THAT(report.rows[2].key, ElementsAre("zeta"));
  EXPECT_THAT(report.rows[3].key, ElementsAre("omega"));
}

TEST(ReportBuilderTest, SameRecordsInAnyOrderGiveTheSameReport) {
  std::vector<OperationRecord> records = {Op("1", kNov1, "a", "x", 5), Op("2", kNov1, "b", "y", 5),
                                          Op("3", kNov1, "c", "x", 7), Op("4", kNov1, "a", "y", 1),
                                          Op("5", kNov1, "b", "x", 5)};
  ReportBuilder forward = MustCreate({.group_by = {"team", "model"}});
  ReportBuilder backward = MustCreate({.group_by = {"team", "model"}});
  for (const OperationRecord& r : records) forward.Add(r);
  for (auto it = records.rbegin(); it != records.rend(); ++it) backward.Add(*it);
  Report a = MustBuild(forward);
  Report b = MustBuild(backward);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].key, b.rows[i].key) << i;
    EXPECT_EQ(a.rows[i].totals, b.rows[i].totals) << i;
  }
  EXPECT_THAT(a.rows[0].key, ElementsAre("c", "x"));
  EXPECT_THAT(a.rows[1].key, ElementsAre("a", "x"));  // 5, then a < b
}

TEST(ReportBuilderTest, GroupsByModelProviderTypeAndAttribution) {
  ReportBuilder builder =
      MustCreate({.group_by = {"provider", "model", "operation_type", "project", "customer_id",
                               "environment", "cost_center", "feature"}});
  OperationRecord r = Op("1", kNov1, "search", "claude-sonnet-4", 10);
  r.operation_type = "embedding";
  r.attribution.customer_id = "acme";
  r.attribution.environment = "prod";
  r.attribution.cost_center = "cc-7";
  r.attribution.feature = "summaries";
  builder.Add(r);
  Report report = MustBuild(builder);
  ASSERT_EQ(report.rows.size(), 1u);
  EXPECT_THAT(report.rows[0].key, ElementsAre("anthropic", "claude-sonnet-4", "embedding", "chat",
                                              "acme", "prod", "cc-7", "summaries"));
}

TEST(ReportBuilderTest, GroupsByTagWithUntaggedOperationsTogether) {
  ReportBuilder builder = MustCreate({.group_by = {"tag:flag"}});
  OperationRecord on = Op("1", kNov1, "t", "m", 30);
  on.attribution.tags = {{"flag", "on"}, {"other", "x"}};
  OperationRecord off = Op("2", kNov1, "t", "m", 20);
  off.attribution.tags = {{"flag", "off"}};
  OperationRecord untagged = Op("3", kNov1, "t", "m", 5);
  OperationRecord other_tag = Op("4", kNov1, "t", "m", 5);
  other_tag.attribution.tags = {{"other", "y"}};
  for (const auto& r : {on, off, untagged, other_tag}) builder.Add(r);
  Report report = MustBuild(builder);
  ASSERT_EQ(report.rows.size(), 3u);
  EXPECT_THAT(report.rows[0].key, ElementsAre("on"));
  EXPECT_THAT(report.rows[1].key, ElementsAre("off"));
  EXPECT_THAT(report.rows[2].key, ElementsAre(""));
  EXPECT_EQ(report.rows[2].totals.operations, 2);
  EXPECT_EQ(report.rows[2].totals.cost, Money::FromNanos(10));
}

TEST(ReportBuilderTest, GroupsByUtcDay) {
  ReportBuilder builder = MustCreate({.group_by = {"day", "team"}});
  builder.Add(Op("1", kNov1 - 1, "a", "m", 1));          // 2026-10-31T23:59:59.999999999Z
  builder.Add(Op("2", kNov1, "a", "m", 2));              // midnight belongs to Nov 1
  builder.Add(Op("3", kNov1 + kDay - 1, "a", "m", 4));   // last nanosecond of Nov 1
  builder.Add(Op("4", kNov1 + 30 * kDay, "a", "m", 8));  // 2026-12-01
  builder.Add(Op("5", -1, "a", "m", 16));                // before the epoch
  Report report = MustBuild(builder);
  ASSERT_EQ(report.rows.size(), 4u);
  EXPECT_THAT(report.rows[0].key, ElementsAre("1969-12-31", "a"));
  EXPECT_THAT(report.rows[1].key, ElementsAre("2026-12-01", "a"));
  EXPECT_THAT(report.rows[2].key, ElementsAre("2026-11-01", "a"));
  EXPECT_EQ(report.rows[2].totals.cost, Money::FromNanos(6));
  EXPECT_THAT(report.rows[3].key, ElementsAre("2026-10-31", "a"));
}

TEST(ReportBuilderTest, NoKeysGivesOneGroup) {
  ReportBuilder builder = MustCreate({});
  builder.Add(Op("1", kNov1, "a", "m", 1));
  builder.Add(Op("2", kNov1, "b", "m", 2));
  Report report = MustBuild(builder);
  ASSERT_EQ(report.rows.size(), 1u);
  EXPECT_TRUE(report.rows[0].key.empty());
  EXPECT_EQ(report.rows[0].totals, report.total);
}

TEST(ReportBuilderTest, SinceIsInclusiveUntilExclusive) {
  ReportBuilder builder = MustCreate(
      {.group_by = {"team"}, .since_unix_nanos = kNov1, .until_unix_nanos = kNov1 + kDay});
  EXPECT_FALSE(builder.Add(Op("1", kNov1 - 1, "a", "m", 1)));
  EXPECT_TRUE(builder.Add(Op("2", kNov1, "a", "m", 2)));
  EXPECT_TRUE(builder.Add(Op("3", kNov1 + kDay - 1, "a", "m", 4)));
  EXPECT_FALSE(builder.Add(Op("4", kNov1 + kDay, "a", "m", 8)));
  Report report = MustBuild(builder);
  EXPECT_EQ(report.total.operations, 2);
  EXPECT_EQ(report.total.cost, Money::FromNanos(6));
}

TEST(ReportBuilderTest, CountsUnpricedBlockedAndFailedOperations) {
  ReportBuilder builder = MustCreate({.group_by = {"team"}});
  OperationRecord unpriced = Op("1", kNov1, "a", "mystery", 0);
  unpriced.priced = false;
  OperationRecord blocked = Op("2", kNov1, "a", "m", 0);
  blocked.decision = DecisionResult::kBlocked;
  blocked.reason = DecisionReason::kBudgetExceeded;
  OperationRecord held = Op("3", kNov1, "a", "m", 0);
  held.decision = DecisionResult::kApprovalRequired;
  OperationRecord warned = Op("4", kNov1, "a", "m", 3);
  warned.decision = DecisionResult::kWarned;
  warned.error = true;
  for (const auto& r : {unpriced, blocked, held, warned}) builder.Add(r);
  Report report = MustBuild(builder);
  EXPECT_EQ(report.total.operations, 4);
  EXPECT_EQ(report.total.unpriced, 1);
  EXPECT_EQ(report.total.blocked, 2);
  EXPECT_EQ(report.total.errors, 1);
  EXPECT_EQ(report.total.cost, Money::FromNanos(3));
}

TEST(ReportBuilderTest, ZeroTotalGivesZeroShares) {
  ReportBuilder builder = MustCreate({.group_by = {"team"}});
  builder.Add(Op("1", kNov1, "a", "m", 0));
  Report report = MustBuild(builder);
  ASSERT_EQ(report.rows.size(), 1u);
  EXPECT_EQ(report.CostShare(report.rows[0]), 0.0);
}

TEST(ReportBuilderTest, OverflowingSumsAreAnErrorNotAWrongTotal) {
  ReportBuilder builder = MustCreate({.group_by = {"team"}});
  builder.Add(Op("1", kNov1, "a", "m", std::numeric_limits<int64_t>::max()));
  builder.Add(Op("2", kNov1, "b", "m", 1));
  absl::StatusOr<Report> report = builder.Build();
  EXPECT_EQ(report.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(report.status().message(), HasSubstr("corrupt"));
}

class BuildReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_ = NewMemoryLedger(&clock_);
    std::vector<OperationRecord> records;
    for (int i = 0; i < 10; ++i) {
      records.push_back(Op("op-" + std::to_string(i), kNov1 + i * kDay / 2, i % 2 ? "odd" : "even",
                           "gpt-4o", 1'000'000 * (i + 1)));
    }
    ASSERT_TRUE(ledger_->AppendOperations(records).ok());
  }
  ManualClock clock_{kNov1};
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(BuildReportTest, ReadsTheLogWithinTheRange) {
  // Nov 2 and Nov 3: operations 2..5 (12h apart from Nov 1 00:00).
  absl::StatusOr<Report> report = BuildReport(*ledger_, {.group_by = {"team"},
                                                         .since_unix_nanos = kNov1 + kDay,
                                                         .until_unix_nanos = kNov1 + 3 * kDay});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.operations, 4);
  // 3 + 4 + 5 + 6 millionths of a dollar.
  EXPECT_EQ(report->total.cost, Money::FromNanos(18'000'000));
  ASSERT_EQ(report->rows.size(), 2u);
  EXPECT_THAT(report->rows[0].key, ElementsAre("odd"));  // ops 3, 5: 4 + 6
  EXPECT_EQ(report->rows[0].totals.cost, Money::FromNanos(10'000'000));
  EXPECT_EQ(report->rows[1].totals.cost, Money::FromNanos(8'000'000));
}

TEST_F(BuildReportTest, WholeLogWithoutRange) {
  absl::StatusOr<Report> report = BuildReport(*ledger_, {.group_by = {"day"}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.operations, 10);
  EXPECT_EQ(report->total.cost, Money::FromNanos(55'000'000));
  EXPECT_EQ(report->rows.size(), 5u);
  EXPECT_THAT(report->rows[0].key, ElementsAre("2026-11-05"));  // ops 8 and 9: the dearest
}

TEST_F(BuildReportTest, RejectsBadKeysBeforeReading) {
  testing::FaultyLedger faulty(std::move(ledger_));
  faulty.down = true;
  absl::StatusOr<Report> report = BuildReport(faulty, {.group_by = {"bogus"}});
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(faulty.calls_while_down.load(), 0);
}

TEST_F(BuildReportTest, PropagatesStoreFailures) {
  testing::FaultyLedger faulty(std::move(ledger_));
  faulty.down = true;
  absl::StatusOr<Report> report = BuildReport(faulty, {.group_by = {"team"}});
  EXPECT_EQ(report.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace genops::ledger
