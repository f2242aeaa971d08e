// Clock, Environment and the Decision enum names.
#include <gtest/gtest.h>

#include "genops/clock.h"
#include "genops/decision.h"
#include "src/core/environment.h"

namespace genops {
namespace {

TEST(ClockTest, RealClockReadsPlausibleTimes) {
  const Clock* clock = Clock::Real();
  ASSERT_NE(clock, nullptr);
  EXPECT_EQ(clock, Clock::Real());
  // After 2024-01-01 and before 2100-01-01.
  EXPECT_GT(clock->NowUnixNanos(), 1'704'067'200LL * kNanosPerSecond);
  EXPECT_LT(clock->NowUnixNanos(), 4'102'444'800LL * kNanosPerSecond);
  int64_t a = clock->MonotonicNanos();
  int64_t b = clock->MonotonicNanos();
  EXPECT_LE(a, b);
  clock->SleepNanos(0);  // returns at once
  clock->SleepNanos(-5);
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(1000);
  EXPECT_EQ(clock.NowUnixNanos(), 1000);
  clock.SleepNanos(500);
  EXPECT_EQ(clock.MonotonicNanos(), 1500);
  clock.Set(7);
  EXPECT_EQ(clock.NowUnixNanos(), 7);
}

TEST(EnvironmentTest, ProcessEnvironmentReadsVariables) {
  const Environment* env = Environment::Process();
  ASSERT_NE(env, nullptr);
  ASSERT_EQ(setenv("GENOPS_CORE_TEST_VAR", "hello", 1), 0);
  EXPECT_EQ(env->Get("GENOPS_CORE_TEST_VAR"), "hello");
  ASSERT_EQ(setenv("GENOPS_CORE_TEST_VAR", "", 1), 0);
  EXPECT_EQ(env->Get("GENOPS_CORE_TEST_VAR"), std::nullopt);  // empty counts as unset
  unsetenv("GENOPS_CORE_TEST_VAR");
  EXPECT_EQ(env->Get("GENOPS_CORE_TEST_VAR"), std::nullopt);
}

TEST(DecisionNamesTest, PolicyLevelsRoundTrip) {
  for (PolicyLevel level : {PolicyLevel::kAuditOnly, PolicyLevel::kAdvisory, PolicyLevel::kEnforced,
                            PolicyLevel::kStrict}) {
    absl::StatusOr<PolicyLevel> parsed = ParsePolicyLevel(PolicyLevelName(level));
    ASSERT_TRUE(parsed.ok()) << PolicyLevelName(level);
    EXPECT_EQ(*parsed, level);
  }
  EXPECT_EQ(PolicyLevelName(PolicyLevel::kAuditOnly), "audit_only");
  EXPECT_EQ(*ParsePolicyLevel("Strict"), PolicyLevel::kStrict);
  EXPECT_EQ(*ParsePolicyLevel(" enforced "), PolicyLevel::kEnforced);
  absl::StatusOr<PolicyLevel> bad = ParsePolicyLevel("enforcing");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("audit_only, advisory, enforced, strict"),
            std::string::npos);
}

TEST(DecisionNamesTest, ResultAndReasonNames) {
  EXPECT_EQ(DecisionResultName(DecisionResult::kAllowed), "allowed");
  EXPECT_EQ(DecisionResultName(DecisionResult::kWarned), "warned");
  EXPECT_EQ(DecisionResultName(DecisionResult::kBlocked), "blocked");
  EXPECT_EQ(DecisionResultName(DecisionResult::kApprovalRequired), "approval_required");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kNone), "none");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kOperationCostExceeded), "operation_cost_exceeded");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kBudgetExceeded), "budget_exceeded");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kApprovalRequired), "approval_required");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kApprovalDenied), "approval_denied");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kUnpricedModel), "unpriced_model");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kMissingAttribution), "missing_attribution");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kModelNotAllowed), "model_not_allowed");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kDataResidency), "data_residency");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kConcurrencyLimit), "concurrency_limit");
  EXPECT_EQ(DecisionReasonName(DecisionReason::kLedgerUnavailable), "ledger_unavailable");
  Decision d;
  EXPECT_TRUE(d.may_proceed());
  d.result = DecisionResult::kBlocked;
  EXPECT_FALSE(d.may_proceed());
}

}  // namespace
}  // namespace genops
