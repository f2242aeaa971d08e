// Runs the built `genops` binary (GENOPS_CLI_PATH) for `genops budget status|set|delete`
// against a sqlite:// ledger in a temp dir, checking both what it prints and what it left in
// the ledger (read back through the library).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "tests/support/subprocess.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace ledger = ::genops::ledger;

// 2026-11-15T12:00:00Z, the pinned "now" of every command.
constexpr int64_t kNow = 1'794'744'000 * genops::kNanosPerSecond;
constexpr char kNowFlag[] = "--now=2026-11-15T12:00:00Z";

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class BudgetCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_budget_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/genops.db";
    url_ = "sqlite://" + db_;
    // Until the SQLite store exists, there is nothing to run these tests against.
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> probe = Open(/*create=*/true);
    if (!probe.ok() && probe.status().code() == absl::StatusCode::kUnimplemented) {
      GTEST_SKIP() << "sqlite ledger not available: " << probe.status();
    }
    ASSERT_TRUE(probe.ok()) << probe.status();
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  absl::StatusOr<std::unique_ptr<ledger::Ledger>> Open(bool create = false) {
    ledger::LedgerOpenOptions options;
    options.create_if_missing = create;
    return ledger::OpenLedger(url_, options);
  }

  Result Run(std::vector<std::string> args) {
    args.insert(args.begin(), GENOPS_CLI_PATH);
    const std::string out_path = dir_ + "/stdout.txt";
    const std::string err_path = dir_ + "/stderr.txt";
    Result r;
    auto child = genops::testing::Subprocess::Start(
        args, {.stdout_path = out_path, .stderr_path = err_path});
    if (!child.ok()) {
      ADD_FAILURE() << child.status();
      return r;
    }
    r.exit_code = (*child)->Wait();
    r.out = genops::testing::ReadWholeFile(out_path);
    r.err = genops::testing::ReadWholeFile(err_path);
    return r;
  }

  // `budget <args> --ledger URL --now ...`.
  Result Budget(std::vector<std::string> args) {
    args.insert(args.begin(), "budget");
    args.insert(args.end(), {"--ledger", url_, kNowFlag});
    return Run(std::move(args));
  }

  std::vector<std::string> BudgetNames() {
    std::vector<std::string> names;
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> l = Open();
    EXPECT_TRUE(l.ok()) << l.status();
    if (!l.ok()) return names;
    absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets = (*l)->ListBudgets(kNow);
    EXPECT_TRUE(budgets.ok()) << budgets.status();
    if (!budgets.ok()) return names;
    for (const auto& b : *budgets) names.push_back(b.spec->name);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::string db_;
  std::string url_;
};

TEST_F(BudgetCommandTest, SetThenStatusShowsTheBudgetWithItsSpend) {
  Result set = Budget({"set", "--name", "acme-monthly", "--scope", "customer_id=acme",
                       "--limit-usd", "1000", "--period", "month"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_THAT(set.out, HasSubstr("Budget 'acme-monthly' created in " + url_));
  EXPECT_THAT(set.out, HasSubstr("customer_id=acme, $1000 per month (alerts at 50%, 80%, 100%)"));

  // Spend recorded by an application sharing the ledger.
  {
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> l = Open();
    ASSERT_TRUE(l.ok()) << l.status();
    genops::Attribution acme{.team = "search", .customer_id = "acme"};
    ASSERT_TRUE((*l)->Charge("op-1", acme, genops::Money::FromNanos(250'000'000'001), kNow).ok());
    ledger::ReserveRequest hold{.operation_id = "op-2",
                                .attribution = acme,
                                .amount = genops::Money::FromNanos(1'500'000'000),
                                .now_unix_nanos = kNow,
                                .expires_at_unix_nanos = kNow + 3600 * genops::kNanosPerSecond};
    absl::StatusOr<ledger::ReserveOutcome> reserved = (*l)->Reserve(hold);
    ASSERT_TRUE(reserved.ok() && reserved->admitted) << reserved.status();
  }

  Result status = Budget({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("NAME"));
  EXPECT_THAT(status.out, HasSubstr("WINDOW (UTC)"));
  EXPECT_THAT(status.out, HasSubstr("acme-monthly"));
  EXPECT_THAT(status.out, HasSubstr("2026-11-01..2026-11-30"));
  EXPECT_THAT(status.out, HasSubstr("$1000"));
  EXPECT_THAT(status.out, HasSubstr("$250.000000001"));
  EXPECT_THAT(status.out, HasSubstr("$1.5"));
  EXPECT_THAT(status.out, HasSubstr("$748.499999999"));
  EXPECT_THAT(status.out, HasSubstr("25.2%"));
  EXPECT_THAT(status.out, HasSubstr("1 budget(s) in " + url_ + " at 2026-11-15T12:00:00Z"));

  Result json = Budget({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["ledger"], url_);
  EXPECT_EQ(j["at"], "2026-11-15T12:00:00Z");
  ASSERT_EQ(j["budgets"].size(), 1u);
  const nlohmann::json& b = j["budgets"][0];
  EXPECT_EQ(b["name"], "acme-monthly");
  EXPECT_EQ(b["scope"], nlohmann::json({{"customer_id", "acme"}}));
  EXPECT_EQ(b["scope_text"], "customer_id=acme");
  EXPECT_EQ(b["period"], "month");
  EXPECT_EQ(b["window_start"], "2026-11-01T00:00:00Z");
  EXPECT_EQ(b["window_end"], "2026-12-01T00:00:00Z");
  EXPECT_EQ(b["limit_usd"], "1000");
  EXPECT_EQ(b["limit_nanos"], 1'000'000'000'000);
  EXPECT_EQ(b["spent_usd"], "250.000000001");
  EXPECT_EQ(b["spent_nanos"], 250'000'000'001);
  EXPECT_EQ(b["reserved_usd"], "1.5");
  EXPECT_EQ(b["remaining_usd"], "748.499999999");
  EXPECT_EQ(b["remaining_nanos"], 748'499'999'999);
  EXPECT_NEAR(b["used_percent"].get<double>(), 25.15, 1e-6);
  EXPECT_EQ(b["alert_thresholds"], nlohmann::json({0.5, 0.8, 1.0}));
}

TEST_F(BudgetCommandTest, StatusAtAnotherTimeShowsThatWindow) {
  ASSERT_EQ(Budget({"set", "--name", "daily", "--scope", "team=search", "--limit-usd", "0.5",
                    "--period", "day"})
                .exit_code,
            0);
  {
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> l = Open();
    ASSERT_TRUE(l.ok());
    ASSERT_TRUE(
        (*l)->Charge("op-1", {.team = "search"}, genops::Money::FromNanos(100'000'000), kNow).ok());
  }
  Result today = Budget({"status", "--json"});
  ASSERT_EQ(today.exit_code, 0) << today.err;
  EXPECT_EQ(nlohmann::json::parse(today.out)["budgets"][0]["spent_usd"], "0.1");
  // 24h before now is the previous UTC day, which has no spend.
  Result yesterday = Budget({"status", "--json", "--at", "24h"});
  ASSERT_EQ(yesterday.exit_code, 0) << yesterday.err;
  nlohmann::json y = nlohmann::json::parse(yesterday.out);
  EXPECT_EQ(y["at"], "2026-11-14T12:00:00Z");
  EXPECT_EQ(y["budgets"][0]["window_start"], "2026-11-14T00:00:00Z");
  EXPECT_EQ(y["budgets"][0]["spent_usd"], "0");
  Result table = Budget({"status", "--at", "2026-11-14"});
  EXPECT_THAT(table.out, HasSubstr("2026-11-14  "));
}

TEST_F(BudgetCommandTest, GlobalTotalBudgetWithCustomThresholds) {
  Result set = Budget({"set", "--name", "everything", "--scope", "global", "--limit-usd",
                       "12.345678901", "--period", "total", "--alert-thresholds", "1,0.25"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  Result json = Budget({"status", "--json"});
  nlohmann::json b = nlohmann::json::parse(json.out)["budgets"][0];
  EXPECT_EQ(b["scope"], nlohmann::json::object());
  EXPECT_EQ(b["scope_text"], "global");
  EXPECT_EQ(b["period"], "total");
  EXPECT_TRUE(b["window_start"].is_null());
  EXPECT_EQ(b["limit_nanos"], 12'345'678'901);
  EXPECT_EQ(b["alert_thresholds"], nlohmann::json({0.25, 1.0}));
  EXPECT_THAT(Budget({"status"}).out, HasSubstr("all time"));

  ASSERT_EQ(Budget({"set", "--name", "quiet", "--scope", "tag:tier=free", "--limit-usd", "0",
                    "--period", "week", "--alert-thresholds", "none"})
                .exit_code,
            0);
  nlohmann::json quiet = nlohmann::json::parse(Budget({"status", "--json"}).out)["budgets"][1];
  EXPECT_EQ(quiet["name"], "quiet");
  EXPECT_EQ(quiet["scope"], nlohmann::json({{"tag:tier", "free"}}));
  EXPECT_EQ(quiet["alert_thresholds"], nlohmann::json::array());
  EXPECT_TRUE(quiet["used_percent"].is_null());              // a zero limit has no percentage
  EXPECT_EQ(quiet["window_start"], "2026-11-09T00:00:00Z");  // the Monday
}

TEST_F(BudgetCommandTest, SetAgainReplacesAndSaysWhatItWas) {
  ASSERT_EQ(
      Budget({"set", "--name", "b", "--scope", "team=a", "--limit-usd", "10", "--period", "day"})
          .exit_code,
      0);
  Result again = Budget({"set", "--name", "b", "--scope", "team=a,project=p", "--limit-usd", "20",
                         "--period", "day", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  nlohmann::json j = nlohmann::json::parse(again.out);
  EXPECT_EQ(j["action"], "updated");
  EXPECT_EQ(j["budget"]["limit_usd"], "20");
  EXPECT_EQ(j["budget"]["scope_text"], "team=a,project=p");
  Result text =
      Budget({"set", "--name", "b", "--scope", "team=a", "--limit-usd", "30", "--period", "month"});
  EXPECT_THAT(text.out, HasSubstr("Budget 'b' updated"));
  EXPECT_THAT(text.out, HasSubstr("was: team=a,project=p, $20 per day"));
  EXPECT_THAT(text.out, HasSubstr("the period changed"));
  EXPECT_EQ(BudgetNames(), std::vector<std::string>{"b"});
}

TEST_F(BudgetCommandTest, DeleteRemovesAndAMissingNameFails) {
  ASSERT_EQ(
      Budget({"set", "--name", "keep", "--scope", "global", "--limit-usd", "1", "--period", "day"})
          .exit_code,
      0);
  ASSERT_EQ(
      Budget({"set", "--name", "drop", "--scope", "global", "--limit-usd", "1", "--period", "day"})
          .exit_code,
      0);
  Result del = Budget({"delete", "--name", "drop"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_THAT(del.out, HasSubstr("Budget 'drop' deleted from " + url_));
  EXPECT_EQ(BudgetNames(), std::vector<std::string>{"keep"});
  EXPECT_THAT(Budget({"status"}).out, Not(HasSubstr("drop")));

  Result again = Budget({"delete", "--name", "drop"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("genops budget delete: no budget named 'drop' in " + url_));
  EXPECT_THAT(again.err, HasSubstr("genops budget status"));
  EXPECT_EQ(BudgetNames(), std::vector<std::string>{"keep"});
}

TEST_F(BudgetCommandTest, BadInputIsAUsageErrorAndLeavesTheLedgerUntouched) {
  ASSERT_EQ(Budget({"set", "--name", "existing", "--scope", "team=a", "--limit-usd", "5",
                    "--period", "week"})
                .exit_code,
            0);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--scope", "teem=a", "--limit-usd", "1", "--period", "day"},
       "unknown key \"teem\"; valid keys: team, project, environment, customer_id, cost_center, "
       "feature, tag:<key>"},
      {{"--scope", "", "--limit-usd", "1", "--period", "day"}, "write --scope global"},
      {{"--scope", "team", "--limit-usd", "1", "--period", "day"}, "is not key=value"},
      {{"--scope", "team=", "--limit-usd", "1", "--period", "day"}, "has an empty value"},
      {{"--scope", "team=a,team=b", "--limit-usd", "1", "--period", "day"}, "twice"},
      {{"--scope", "global", "--limit-usd", "-1", "--period", "day"}, "is negative"},
      {{"--scope", "global", "--limit-usd", "ten", "--period", "day"}, "--limit-usd \"ten\""},
      {{"--scope", "global", "--limit-usd", "1e3", "--period", "day"}, "--limit-usd \"1e3\""},
      {{"--scope", "global", "--limit-usd", "0.0000000001", "--period", "day"}, "decimal"},
      {{"--scope", "global", "--limit-usd", "1", "--period", "year"},
       "--period: unknown budget period 'year'"},
      {{"--scope", "global", "--limit-usd", "1", "--period", "day", "--alert-thresholds", "0.5,x"},
       "\"x\" is not a number"},
      {{"--scope", "global", "--limit-usd", "1", "--period", "day", "--alert-thresholds", "0"},
       "outside (0, 10]"},
      {{"--scope", "global", "--limit-usd", "1", "--period", "day", "--alert-thresholds", "11"},
       "outside (0, 10]"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"set", "--name", "new"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Result r = Budget(args);
    EXPECT_EQ(r.exit_code, 2) << c.message << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("genops budget set: ")) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_EQ(r.out, "");
  }
  Result blank_name =
      Budget({"set", "--name", " x", "--scope", "global", "--limit-usd", "1", "--period", "day"});
  EXPECT_EQ(blank_name.exit_code, 2);
  EXPECT_THAT(blank_name.err, HasSubstr("blank"));
  // A missing required flag is CLI11's usage error.
  EXPECT_EQ(Budget({"set", "--name", "new", "--scope", "global", "--limit-usd", "1"}).exit_code, 2);
  EXPECT_EQ(BudgetNames(), std::vector<std::string>{"existing"});
}

TEST_F(BudgetCommandTest, InvalidSetNeverCreatesADatabase) {
  const std::string fresh = dir_ + "/fresh.db";
  Result r = Run({"budget", "set", "--name", "x", "--scope", "teem=a", "--limit-usd", "1",
                  "--period", "day", "--ledger", "sqlite://" + fresh});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(access(fresh.c_str(), F_OK), 0) << "the bad command created " << fresh;
  // A valid one creates it.
  Result ok = Run({"budget", "set", "--name", "x", "--scope", "team=a", "--limit-usd", "1",
                   "--period", "day", "--ledger", "sqlite://" + fresh});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(access(fresh.c_str(), F_OK), 0);
}

TEST_F(BudgetCommandTest, ReadingAMissingDatabaseFailsWithoutCreatingIt) {
  const std::string typo = dir_ + "/genosp.db";
  for (std::string command : {"status", "delete"}) {
    std::vector<std::string> args = {"budget", command, "--ledger", "sqlite://" + typo};
    if (command == "delete") args.insert(args.end(), {"--name", "x"});
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("cannot open the ledger sqlite://" + typo));
    EXPECT_NE(access(typo.c_str(), F_OK), 0) << command << " created " << typo;
  }
}

TEST_F(BudgetCommandTest, LedgerMustBeNamedOnceAndDurably) {
  Result neither = Run({"budget", "status"});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_THAT(neither.err, HasSubstr("no ledger given"));
  EXPECT_THAT(neither.err, HasSubstr("--ledger URL"));
  EXPECT_THAT(neither.err, HasSubstr("--config FILE"));

  Result both = Run({"budget", "status", "--ledger", url_, "--config", dir_ + "/x.yaml"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("both --ledger and --config"));

  Result memory = Run({"budget", "status", "--ledger", "memory://"});
  EXPECT_EQ(memory.exit_code, 2);
  EXPECT_THAT(memory.err, HasSubstr("a memory ledger lives inside one process"));

  Result scheme = Run({"budget", "status", "--ledger", "mysql://db"});
  EXPECT_EQ(scheme.exit_code, 2);
  EXPECT_THAT(scheme.err, HasSubstr("unknown scheme \"mysql\""));

  // A config file that sets no ledger means memory://: refused, naming the file.
  const std::string empty = dir_ + "/empty.yaml";
  std::ofstream(empty) << "governance:\n  team: a\n";
  Result defaulted = Run({"budget", "status", "--config", empty});
  EXPECT_EQ(defaulted.exit_code, 2);
  EXPECT_THAT(defaulted.err, HasSubstr(empty + " has ledger.url memory://"));

  Result missing = Run({"budget", "status", "--config", dir_ + "/nope.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("nope.yaml"));
}

TEST_F(BudgetCommandTest, ConfigFileNamesTheLedgerAndItsBudgetsAreFlagged) {
  const std::string config = dir_ + "/genops.yaml";
  std::ofstream(config) << "ledger:\n  url: " << url_
                        << "\nbudgets:\n  - name: acme-monthly\n    scope: {customer_id: acme}\n"
                           "    limit_usd: 1000\n    period: month\n";
  Result set = Run({"budget", "set", "--name", "acme-monthly", "--scope", "customer_id=acme",
                    "--limit-usd", "2000", "--period", "month", "--config", config});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_THAT(set.err, HasSubstr("note: " + config + " also defines budget 'acme-monthly'"));
  Result other = Run({"budget", "set", "--name", "other", "--scope", "global", "--limit-usd", "1",
                      "--period", "day", "--config", config});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(other.err, "");
  Result status = Run({"budget", "status", "--json", "--config", config});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(nlohmann::json::parse(status.out)["budgets"][0]["limit_usd"], "2000");
}

TEST_F(BudgetCommandTest, EmptyLedgerSaysHowToAddABudget) {
  Result status = Budget({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("No budgets in " + url_));
  EXPECT_THAT(status.out, HasSubstr("genops budget set"));
  Result json = Budget({"status", "--json"});
  EXPECT_EQ(nlohmann::json::parse(json.out)["budgets"], nlohmann::json::array());
}

TEST_F(BudgetCommandTest, RelativeNowIsRejected) {
  Result r = Run({"budget", "status", "--ledger", url_, "--now", "24h"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--now \"24h\": must be an absolute time"));
}

}  // namespace
