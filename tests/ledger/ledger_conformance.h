// The Ledger conformance suite: the guarantees of src/ledger/ledger.h, checked against any
// store.
//
// The tests (TEST_P on LedgerConformanceTest) live in ledger_conformance_test.cc; a store
// runs them by instantiating the suite with a factory, in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Sqlite, LedgerConformanceTest,
//       ::testing::Values(genops::ledger::testing::LedgerFactory{
//           "sqlite", [](const genops::Clock* clock) { return OpenTempSqliteLedger(clock); }}),
//       genops::ledger::testing::FactoryName);
//
// A factory returning kUnavailable (e.g. no redis-server on this machine) skips the suite.
// Each test gets a fresh, empty store. Every test drives time through the ManualClock it
// passes to the factory and through explicit `now` arguments, never the real clock.
#ifndef GENOPS_TESTS_LEDGER_LEDGER_CONFORMANCE_H_
#define GENOPS_TESTS_LEDGER_LEDGER_CONFORMANCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "gtest/gtest.h"
#include "src/ledger/ledger.h"

namespace genops::ledger::testing {

struct LedgerFactory {
  std::string name;  // a valid test-name fragment: letters, digits, underscores
  std::function<absl::StatusOr<std::unique_ptr<Ledger>>(const Clock* clock)> make;
};

inline std::string FactoryName(const ::testing::TestParamInfo<LedgerFactory>& info) {
  return info.param.name;
}

inline void PrintTo(const LedgerFactory& factory, std::ostream* os) { *os << factory.name; }

// The status of budget `name` at `now`, failing the test when it is missing.
inline BudgetStatus StatusOf(Ledger& ledger, const std::string& name, int64_t now) {
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

class LedgerConformanceTest : public ::testing::TestWithParam<LedgerFactory> {
 protected:
  // 2026-03-04T12:00:00Z, a Wednesday.
  static constexpr int64_t kStart = 1'772'625'600LL * kNanosPerSecond;

  void SetUp() override {
    clock_ = std::make_unique<ManualClock>(kStart);
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = GetParam().make(clock_.get());
    if (!ledger.ok() && ledger.status().code() == absl::StatusCode::kUnavailable) {
      GTEST_SKIP() << GetParam().name << " store unavailable: " << ledger.status();
    }
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = *std::move(ledger);
  }

  Ledger& ledger() { return *ledger_; }
  ManualClock& clock() { return *clock_; }
  int64_t now() const { return clock_->NowUnixNanos(); }

  std::unique_ptr<ManualClock> clock_;
  std::unique_ptr<Ledger> ledger_;
};

}  // namespace genops::ledger::testing

#endif  // GENOPS_TESTS_LEDGER_LEDGER_CONFORMANCE_H_
