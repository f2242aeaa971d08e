// Multi-process guarantees of the shared ledger stores, checked with real processes
// (tests/tools/ledger_load_tool.cc):
//  - 2 processes x 8 threads reserving against one budget: spent + reserved never exceeds
//    the limit (sampled throughout the run), and the settled operations the processes
//    report add up to the ledger total exactly.
//  - A process killed with SIGKILL mid-load: after reopening, the ledger total equals the sum
//    of the operations reported settled before the kill, plus those the kill caught between
//    the commit and the report (resolved one by one with LookupOperation, never guessed);
//    the dead process's reservations expire.
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "tests/support/shared_stores.h"
#include "tests/support/subprocess.h"

namespace genops::ledger {
namespace {

using testing::ReadWholeFile;
using testing::Subprocess;

constexpr int64_t kAmount = 1'000'000;  // $0.001 per reservation
const char* const kBudget = "load-total";

struct Journal {
  std::map<std::string, int64_t> settled;   // S lines
  std::map<std::string, int64_t> in_doubt;  // P lines without an S line
  int64_t settled_sum = 0;
};

Journal ParseJournal(const std::string& text) {
  Journal j;
  std::istringstream in(text);
  std::string kind, id;
  int64_t actual = 0;
  while (in >> kind >> id >> actual) {
    if (kind == "P") {
      j.in_doubt[id] = actual;
    } else if (kind == "S") {
      j.settled[id] = actual;
      j.in_doubt.erase(id);
      j.settled_sum += actual;
    }
  }
  return j;
}

std::string ToolPath() { return std::string(GENOPS_TOOLS_DIR) + "/ledger_load_tool"; }

class MultiProcessTest : public ::testing::TestWithParam<SharedStoreFactory> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_multiprocess_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    absl::StatusOr<std::unique_ptr<StoreUnderTest>> store = GetParam().start(dir_);
    if (!store.ok() && store.status().code() == absl::StatusCode::kUnavailable) {
      GTEST_SKIP() << GetParam().name << " unavailable: " << store.status();
    }
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    url_ = store_->url();
    ledger_ = Open();
    ASSERT_NE(ledger_, nullptr);
  }
  void TearDown() override {
    ledger_.reset();
    store_.reset();
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  std::unique_ptr<Ledger> Open() {
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = OpenLedger(url_, LedgerOpenOptions{});
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? *std::move(ledger) : nullptr;
  }

  std::unique_ptr<Subprocess> StartLoad(const std::string& name, int threads, int ops,
                                        int64_t expires_ms) {
    auto process = Subprocess::Start(
        {ToolPath(), "--url", url_, "--journal", dir_ + "/" + name + ".journal", "--prefix", name,
         "--threads", Cat(threads), "--ops", Cat(ops), "--amount-nanos", Cat(kAmount),
         "--expires-ms", Cat(expires_ms)},
        {.stdout_path = dir_ + "/" + name + ".out", .stderr_path = dir_ + "/" + name + ".err"});
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  std::string Output(const std::string& name) {
    return ReadWholeFile(dir_ + "/" + name + ".out") + ReadWholeFile(dir_ + "/" + name + ".err");
  }

  BudgetStatus Status() {
    auto budgets = ledger_->ListBudgets(Clock::Real()->NowUnixNanos());
    EXPECT_TRUE(budgets.ok()) << budgets.status();
    if (budgets.ok()) {
      for (const BudgetStatus& b : *budgets) {
        if (b.spec->name == kBudget) return b;
      }
    }
    ADD_FAILURE() << "budget " << kBudget << " missing";
    return {};
  }

  std::string dir_;
  std::unique_ptr<StoreUnderTest> store_;
  std::string url_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_P(MultiProcessTest, TwoProcessesOfEightThreadsNeverOverspendAndAddUpExactly) {
  const Money limit = Money::FromNanos(150 * kAmount);
  ASSERT_TRUE(ledger_
                  ->UpsertBudget({.name = kBudget,
                                  .scope = {{"team", "load"}},
                                  .limit = limit,
                                  .period = BudgetPeriod::kTotal})
                  .ok());

  // Sample the budget throughout the run from a third connection.
  std::atomic<bool> done{false};
  std::atomic<int> samples{0};
  std::atomic<int64_t> worst_nanos{0};
  std::thread monitor([&] {
    std::unique_ptr<Ledger> watcher = Open();
    while (watcher != nullptr && !done.load()) {
      auto budgets = watcher->ListBudgets(Clock::Real()->NowUnixNanos());
      if (!budgets.ok()) continue;
      for (const BudgetStatus& b : *budgets) {
        const int64_t used = (b.spent + b.reserved).nanos();
        if (used > worst_nanos.load()) worst_nanos = used;
      }
      ++samples;
    }
  });

  // 2 x 8 x 25 = 400 attempts of $0.001 against $0.15: most are refused.
  std::unique_ptr<Subprocess> a = StartLoad("a", 8, 25, 600'000);
  std::unique_ptr<Subprocess> b = StartLoad("b", 8, 25, 600'000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->Wait(), 0) << Output("a");
  EXPECT_EQ(b->Wait(), 0) << Output("b");
  done = true;
  monitor.join();

  const Journal ja = ParseJournal(ReadWholeFile(dir_ + "/a.journal"));
  const Journal jb = ParseJournal(ReadWholeFile(dir_ + "/b.journal"));
  EXPECT_TRUE(ja.in_doubt.empty());
  EXPECT_TRUE(jb.in_doubt.empty());
  const int64_t reported = ja.settled_sum + jb.settled_sum;

  EXPECT_GT(samples.load(), 0);
  EXPECT_LE(worst_nanos.load(), limit.nanos()) << "spent + reserved exceeded the limit";
  const BudgetStatus status = Status();
  EXPECT_EQ(status.reserved, Money());
  EXPECT_LE(status.spent, limit);
  EXPECT_EQ(status.spent.nanos(), reported);
  auto total = ledger_->TotalSpent();
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(total->nanos(), reported);
  // The budget really was the constraint: both processes were refused some operations, and
  // the limit was all but used up (less than one reservation of room left).
  EXPECT_NE(Output("a").find("refused="), std::string::npos);
  EXPECT_EQ(Output("a").find("refused=0 "), std::string::npos) << Output("a");
  EXPECT_EQ(Output("b").find("refused=0 "), std::string::npos) << Output("b");
  EXPECT_GT(status.spent.nanos(), limit.nanos() - kAmount);
}

TEST_P(MultiProcessTest, SigkillMidLoadLosesNothingAndItsReservationsExpire) {
  ASSERT_TRUE(ledger_
                  ->UpsertBudget({.name = kBudget,
                                  .scope = {{"team", "load"}},
                                  .limit = Money::FromNanos(1'000'000'000 * kAmount),
                                  .period = BudgetPeriod::kTotal})
                  .ok());
  const std::string journal = dir_ + "/victim.journal";
  std::unique_ptr<Subprocess> victim = StartLoad("victim", 8, 1'000'000, 1'000);
  ASSERT_NE(victim, nullptr);
  // Let it commit a few hundred operations, then kill it without warning.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ParseJournal(ReadWholeFile(journal)).settled.size() < 300) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << Output("victim");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(victim->Kill(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(store_->AwaitQuiet().ok());

  // "Restart": a fresh connection to the store.
  ledger_ = Open();
  ASSERT_NE(ledger_, nullptr);
  const Journal j = ParseJournal(ReadWholeFile(journal));
  int64_t expected = j.settled_sum;
  for (const auto& [id, actual] : j.in_doubt) {
    auto entry = ledger_->LookupOperation(id);
    ASSERT_TRUE(entry.ok()) << entry.status();
    if (entry->has_value() && (*entry)->state == OperationState::kSettled) {
      EXPECT_EQ((*entry)->actual.nanos(), actual) << id;
      expected += actual;
    }
  }
  for (const auto& [id, actual] : j.settled) {
    auto entry = ledger_->LookupOperation(id);
    ASSERT_TRUE(entry.ok()) << entry.status();
    ASSERT_TRUE(entry->has_value()) << id << " was reported settled but the ledger lost it";
    EXPECT_EQ((*entry)->state, OperationState::kSettled) << id;
    EXPECT_EQ((*entry)->actual.nanos(), actual) << id;
  }
  auto total = ledger_->TotalSpent();
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(total->nanos(), expected);
  EXPECT_EQ(Status().spent.nanos(), expected);

  // The dead process's holds (1 s expiry) are released by expiry, and spend is untouched.
  auto expired = ledger_->ExpireReservations(Clock::Real()->NowUnixNanos() + 5 * kNanosPerSecond);
  ASSERT_TRUE(expired.ok()) << expired.status();
  const BudgetStatus after = Status();
  EXPECT_EQ(after.reserved, Money());
  EXPECT_EQ(after.spent.nanos(), expected);
}

std::string StoreName(const ::testing::TestParamInfo<SharedStoreFactory>& param) {
  return param.param.name;
}

INSTANTIATE_TEST_SUITE_P(SharedStores, MultiProcessTest, ::testing::ValuesIn(SharedStores()),
                         StoreName);

}  // namespace
}  // namespace genops::ledger
