// A shared ledger (real redis-server / PostgreSQL) that goes down mid-run (DESIGN.md §3):
// enforced fails open with an alert, strict refuses, and when the store comes back every
// settlement made meanwhile reaches it: nothing settled is lost, nothing is counted twice.
#include <stdlib.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "src/ledger/ledger_factory.h"
#include "tests/sdk/sdk_test_util.h"
#include "tests/support/shared_stores.h"

namespace genops::testing {
namespace {

using ledger::SharedStoreFactory;
using ledger::StoreUnderTest;

Money Usd(const char* usd) { return Money::FromUsdString(usd).value(); }

class LedgerOutageTest : public ::testing::TestWithParam<SharedStoreFactory> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_outage_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = GetParam().start(dir_);
    if (!store.ok() && store.status().code() == absl::StatusCode::kUnavailable) {
      GTEST_SKIP() << store.status();
    }
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    // A short timeout keeps the outage half of the test fast.
    url_ = store_->url() + (store_->url().find('?') == std::string::npos ? "?" : "&") +
           "timeout_ms=300";
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  AdapterConfig Config(PolicyLevel level) {
    AdapterConfig c = harness_.BaseConfig();
    c.ledger_url = url_;
    c.governance_policy = level;
    c.daily_budget_limit = 10.0;
    return c;
  }

  Money LedgerTotal() {
    auto ledger = ledger::OpenLedger(url_, {});
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    if (!ledger.ok()) return Money();
    auto total = (*ledger)->TotalSpent();
    EXPECT_TRUE(total.ok()) << total.status();
    return total.ok() ? *total : Money();
  }

  Harness harness_;
  std::string dir_;
  std::unique_ptr<StoreUnderTest> store_;
  std::string url_;
};

TEST_P(LedgerOutageTest, EnforcedFailsOpenWithAnAlertAndLosesNothing) {
  std::shared_ptr<AdapterImpl> adapter = harness_.Make(Config(PolicyLevel::kEnforced));
  ASSERT_NE(adapter, nullptr);
  auto spend = [&](const char* name) {
    Operation op = adapter->track_operation("chat_completion", name, {.estimated_cost = 0.2});
    op.update_cost(Usd("0.10"));
    return op.decision();
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(spend("before").result, DecisionResult::kAllowed);

  ASSERT_TRUE(store_->Stop().ok());
  for (int i = 0; i < 4; ++i) {
    const Decision d = spend("during");
    EXPECT_EQ(d.result, DecisionResult::kWarned);
    EXPECT_EQ(d.reason, DecisionReason::kLedgerUnavailable);
  }
  EXPECT_GT(adapter->get_metrics().pending_settlements, 0);
  bool alerted = false;
  for (const Alert& a : harness_.alerts->alerts()) {
    alerted |= a.kind == AlertKind::kLedgerUnavailable;
  }
  EXPECT_TRUE(alerted);
  EXPECT_FALSE(adapter->flush(1000)) << "flush cannot succeed while the ledger is down";

  ASSERT_TRUE(store_->Restart().ok());
  ASSERT_TRUE(adapter->flush(10'000));
  EXPECT_EQ(adapter->get_metrics().pending_settlements, 0);
  EXPECT_EQ(LedgerTotal(), Usd("0.70"));
  OperationsSummary summary = adapter->get_recent_operations_summary(100);
  EXPECT_EQ(summary.operations.size(), 7u);
  EXPECT_EQ(summary.totals.cost, Usd("0.70"));
  // A second flush changes nothing: settlements are idempotent.
  ASSERT_TRUE(adapter->flush(10'000));
  EXPECT_EQ(LedgerTotal(), Usd("0.70"));
}

TEST_P(LedgerOutageTest, StrictRefusesWhileTheLedgerIsDown) {
  std::shared_ptr<AdapterImpl> adapter = harness_.Make(Config(PolicyLevel::kStrict));
  ASSERT_NE(adapter, nullptr);
  ASSERT_TRUE(store_->Stop().ok());
  Operation refused =
      adapter->try_track_operation("chat_completion", "during", {.estimated_cost = 0.2});
  EXPECT_EQ(refused.decision().result, DecisionResult::kBlocked);
  EXPECT_EQ(refused.decision().reason, DecisionReason::kLedgerUnavailable);
  refused.end();

  ASSERT_TRUE(store_->Restart().ok());
  Operation op = adapter->try_track_operation("chat_completion", "after", {.estimated_cost = 0.2});
  EXPECT_TRUE(op.allowed()) << op.decision().message;
  op.update_cost(Usd("0.05"));
  op.end();
  ASSERT_TRUE(adapter->flush(10'000));
  EXPECT_EQ(LedgerTotal(), Usd("0.05"));
}

std::string StoreName(const ::testing::TestParamInfo<SharedStoreFactory>& param) {
  return param.param.name;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LedgerOutageTest);
INSTANTIATE_TEST_SUITE_P(ServerStores, LedgerOutageTest,
                         ::testing::ValuesIn(ledger::ServerStores()), StoreName);

}  // namespace
}  // namespace genops::testing
