// Adapters sharing one durable ledger (ledger_url sqlite://...) as two processes would:
// budgets, spend and the operations log are the ledger's, so each sees the other's.
#include <stdlib.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sdk/sdk_test_util.h"

namespace genops::testing {
namespace {

class SharedLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_shared_ledger_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  AdapterConfig Config() {
    AdapterConfig c = harness_.BaseConfig();
    c.ledger_url = "sqlite://" + dir_ + "/ledger.db";
    c.governance_policy = PolicyLevel::kEnforced;
    c.daily_budget_limit = 1.0;
    return c;
  }

  Harness harness_;
  std::string dir_;
};

Money Usd(const char* usd) { return Money::FromUsdString(usd).value(); }

TEST_F(SharedLedgerTest, TwoAdaptersSeeEachOthersSpendAndOperations) {
  std::shared_ptr<AdapterImpl> a = harness_.Make(Config());
  std::shared_ptr<AdapterImpl> b = harness_.Make(Config());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  {
    Operation op = a->track_operation("chat_completion", "from-a", {.estimated_cost = 0.5});
    op.update_cost(Usd("0.30"));
  }
  ASSERT_TRUE(a->flush(10'000));

  bool found = false;
  for (const BudgetStatusView& v : b->get_budget_status()) {
    if (v.period != "day") continue;
    found = true;
    EXPECT_EQ(v.spent, Usd("0.30"));
    EXPECT_EQ(v.remaining, Usd("0.70"));
  }
  EXPECT_TRUE(found);
  OperationsSummary summary = b->get_recent_operations_summary(10);
  ASSERT_EQ(summary.operations.size(), 1u);
  EXPECT_EQ(summary.operations[0].operation_name, "from-a");
  EXPECT_EQ(summary.operations[0].cost, Usd("0.30"));
  EXPECT_EQ(summary.totals.cost, Usd("0.30"));

  // The budget is enforced across adapters: B cannot reserve what A has already spent.
  Operation refused = b->try_track_operation("chat_completion", "from-b", {.estimated_cost = 0.8});
  EXPECT_FALSE(refused.allowed());
  EXPECT_EQ(refused.decision().reason, DecisionReason::kBudgetExceeded);
}

TEST_F(SharedLedgerTest, SpendAndOperationsSurviveARestart) {
  {
    std::shared_ptr<AdapterImpl> a = harness_.Make(Config());
    ASSERT_NE(a, nullptr);
    for (int i = 0; i < 3; ++i) {
      Operation op = a->track_operation("chat_completion", "before-restart");
      op.update_cost(Usd("0.125"));
    }
    a->shutdown();  // writes the operations log
  }
  std::shared_ptr<AdapterImpl> again = harness_.Make(Config());
  ASSERT_NE(again, nullptr);
  OperationsSummary summary = again->get_recent_operations_summary(10);
  EXPECT_EQ(summary.operations.size(), 3u);
  EXPECT_EQ(summary.totals.cost, Usd("0.375"));
  for (const BudgetStatusView& v : again->get_budget_status()) {
    if (v.period == "day") {
      EXPECT_EQ(v.spent, Usd("0.375"));
    }
  }
}

TEST_F(SharedLedgerTest, AnUnopenableLedgerIsAClearError) {
  AdapterConfig c = Config();
  c.ledger_url = "sqlite://" + dir_ + "/no/such/dir/ledger.db";
  auto adapter = AdapterImpl::Create(c, {});
  ASSERT_FALSE(adapter.ok());
  EXPECT_THAT(std::string(adapter.status().message()), ::testing::HasSubstr("ledger_url"));
}

}  // namespace
}  // namespace genops::testing
