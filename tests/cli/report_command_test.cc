// Runs the built `genops` binary (GENOPS_CLI_PATH) for `genops report` and
// `genops operations` against a sqlite:// ledger whose operations log the test fills through
// the library.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genops/clock.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/operation_record.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "tests/support/subprocess.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace ledger = ::genops::ledger;

// 2026-11-15T12:00:00Z, the pinned "now" of every command.
constexpr int64_t kNow = 1'794'744'000 * genops::kNanosPerSecond;
constexpr int64_t kMinute = 60 * genops::kNanosPerSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr char kNowFlag[] = "--now=2026-11-15T12:00:00Z";
const char* const kOddTeam = "R&D, \"core\"";

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

genops::OperationRecord Record(std::string id, int64_t start, std::string team,
                               std::string provider, std::string model, int64_t cost_nanos) {
  genops::OperationRecord r;
  r.operation_id = std::move(id);
  r.start_unix_nanos = start;
  r.duration_nanos = 1'234 * genops::kNanosPerMilli;
  r.operation_type = "chat";
  r.attribution.team = std::move(team);
  r.attribution.project = "assistant";
  r.provider = std::move(provider);
  r.model = std::move(model);
  r.usage = {.input_tokens = 1000, .cache_read_tokens = 200, .output_tokens = 100};
  r.cost = genops::Money::FromNanos(cost_nanos);
  r.priced = true;
  return r;
}

class ReportCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_report_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/genops.db";
    url_ = "sqlite://" + db_;
    ledger::LedgerOpenOptions options;
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> l = ledger::OpenLedger(url_, options);
    if (!l.ok() && l.status().code() == absl::StatusCode::kUnimplemented) {
      GTEST_SKIP() << "sqlite ledger not available: " << l.status();
    }
    ASSERT_TRUE(l.ok()) << l.status();

    genops::OperationRecord r1 =
        Record("op-1", kNow - kHour, "search", "openai", "gpt-4o", 1'000'000'001);
    r1.attribution.tags = {{"flag", "on"}};
    r1.usage.reasoning_tokens = 40;
    r1.trace_id = "0af7651916cd43dd8448eb211c80319c";
    genops::OperationRecord r2 =
        Record("op-2", kNow - 2 * kHour, "search", "anthropic", "claude-sonnet-4", 500'000'000);
    r2.attribution.tags = {{"flag", "off"}};
    genops::OperationRecord r3 =
        Record("op-3", kNow - 30 * kHour, kOddTeam, "openai", "gpt-4o", 2'250'000'000);
    genops::OperationRecord r4 =
        Record("op-4", kNow - 72 * kHour, "ads", "openai", "gpt-4o-mini", 1);
    genops::OperationRecord r5 = Record("op-5", kNow - 10 * kMinute, "", "acme", "mystery", 0);
    r5.priced = false;
    r5.error = true;
    genops::OperationRecord r6 = Record("op-6", kNow - 5 * kMinute, "ads", "openai", "o3", 0);
    r6.decision = genops::DecisionResult::kBlocked;
    r6.reason = genops::DecisionReason::kBudgetExceeded;
    r6.usage = {};
    std::vector<genops::OperationRecord> records = {r1, r2, r3, r4, r5, r6};
    ASSERT_TRUE((*l)->AppendOperations(records).ok());
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

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

  // `<args> --ledger URL --now ...`.
  Result OnLedger(std::vector<std::string> args) {
    args.insert(args.end(), {"--ledger", url_, kNowFlag});
    return Run(std::move(args));
  }

  nlohmann::json Json(std::vector<std::string> args) {
    Result r = OnLedger(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }

  std::string dir_;
  std::string db_;
  std::string url_;
};

TEST_F(ReportCommandTest, TableIsSortedByCostWithATotal) {
  Result r = OnLedger({"report", "--group-by", "team"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Spend by team, all time (UTC), from " + url_));
  const size_t header = r.out.find("\nTEAM");  // past the title, which names the temp dir
  ASSERT_NE(header, std::string::npos) << r.out;
  const size_t odd = r.out.find(kOddTeam, header);
  const size_t search = r.out.find("search", header);
  const size_t ads = r.out.find("ads", header);
  const size_t none = r.out.find("(none)", header);
  const size_t total = r.out.find("total", header);
  ASSERT_NE(odd, std::string::npos) << r.out;
  EXPECT_LT(odd, search);
  EXPECT_LT(search, ads);
  EXPECT_LT(ads, none);
  EXPECT_LT(none, total);
  EXPECT_THAT(r.out, HasSubstr("TEAM"));
  EXPECT_THAT(r.out, HasSubstr("SHARE"));
  EXPECT_THAT(r.out, HasSubstr("$2.25"));
  EXPECT_THAT(r.out, HasSubstr("60.0%"));
  EXPECT_THAT(r.out, HasSubstr("$1.500000001"));
  EXPECT_THAT(r.out, HasSubstr("$0.000000001"));
  EXPECT_THAT(r.out, HasSubstr("$3.750000002"));
  EXPECT_THAT(r.out, HasSubstr("100.0%"));
  EXPECT_THAT(r.out, HasSubstr("5,000"));  // input tokens of the five non-blocked operations
  EXPECT_THAT(r.out, HasSubstr("1 operation(s) had no price"));
  EXPECT_THAT(r.out, HasSubstr("1 operation(s) were blocked"));
  EXPECT_THAT(r.out, HasSubstr("4 group(s)"));
}

TEST_F(ReportCommandTest, JsonHasExactAmountsAndStableShape) {
  nlohmann::json j = Json({"report", "--group-by", "team", "--format", "json"});
  EXPECT_EQ(j["ledger"], url_);
  EXPECT_EQ(j["group_by"], nlohmann::json({"team"}));
  EXPECT_TRUE(j["since"].is_null());
  EXPECT_TRUE(j["until"].is_null());
  ASSERT_EQ(j["rows"].size(), 4u);
  EXPECT_EQ(j["rows"][0]["key"], nlohmann::json({{"team", kOddTeam}}));
  EXPECT_EQ(j["rows"][0]["cost_usd"], "2.25");
  EXPECT_EQ(j["rows"][0]["cost_nanos"], 2'250'000'000);
  EXPECT_NEAR(j["rows"][0]["share"].get<double>(), 0.6, 1e-6);
  const nlohmann::json& search = j["rows"][1];
  EXPECT_EQ(search["key"]["team"], "search");
  EXPECT_EQ(search["operations"], 2);
  EXPECT_EQ(search["input_tokens"], 2000);
  EXPECT_EQ(search["cache_read_tokens"], 400);
  EXPECT_EQ(search["cache_write_tokens"], 0);
  EXPECT_EQ(search["output_tokens"], 200);
  EXPECT_EQ(search["reasoning_tokens"], 40);
  EXPECT_EQ(search["cost_usd"], "1.500000001");
  EXPECT_EQ(j["rows"][2]["key"]["team"], "ads");
  EXPECT_EQ(j["rows"][2]["blocked"], 1);
  EXPECT_EQ(j["rows"][3]["key"]["team"], "");
  EXPECT_EQ(j["rows"][3]["unpriced"], 1);
  EXPECT_EQ(j["rows"][3]["errors"], 1);
  const nlohmann::json& total = j["total"];
  EXPECT_EQ(total["operations"], 6);
  EXPECT_EQ(total["cost_usd"], "3.750000002");
  EXPECT_EQ(total["cost_nanos"], 3'750'000'002);
  EXPECT_EQ(total["share"], 1.0);
  EXPECT_EQ(total["unpriced"], 1);
  EXPECT_EQ(total["blocked"], 1);
  EXPECT_EQ(total["errors"], 1);
  // --json is --format json.
  EXPECT_EQ(Json({"report", "--group-by", "team", "--json"}), j);
}

TEST_F(ReportCommandTest, CsvIsQuotedAndHasATotalRow) {
  Result r = OnLedger({"report", "--group-by", "team,model", "--format", "csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  for (size_t start = 0; start < r.out.size();) {
    const size_t end = r.out.find('\n', start);
    lines.push_back(r.out.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), 8u) << r.out;  // header, 6 groups, total
  EXPECT_EQ(lines[0],
            "row,team,model,operations,input_tokens,cache_read_tokens,cache_write_tokens,"
            "output_tokens,reasoning_tokens,cost_usd,cost_nanos,share,unpriced,blocked,errors");
  EXPECT_EQ(lines[1],
            "group,\"R&D, \"\"core\"\"\",gpt-4o,1,1000,200,0,100,0,2.25,2250000000,0.600000,0,0,0");
  EXPECT_EQ(lines[2],
            "group,search,gpt-4o,1,1000,200,0,100,40,1.000000001,1000000001,0.266667,0,0,0");
  EXPECT_EQ(lines[7], "total,,,6,5000,1000,0,500,40,3.750000002,3750000002,1.000000,1,1,1");
}

TEST_F(ReportCommandTest, SinceAndUntilAcceptDatesDurationsAndRfc3339) {
  nlohmann::json day = Json({"report", "--json", "--since", "24h"});
  EXPECT_EQ(day["since"], "2026-11-14T12:00:00Z");
  EXPECT_EQ(day["total"]["operations"], 4);
  EXPECT_EQ(day["total"]["cost_usd"], "1.500000001");

  nlohmann::json from_date = Json({"report", "--json", "--since", "2026-11-14"});
  EXPECT_EQ(from_date["since"], "2026-11-14T00:00:00Z");
  EXPECT_EQ(from_date["total"]["cost_usd"], "3.750000001");

  nlohmann::json before = Json({"report", "--json", "--until", "2026-11-15T00:00:00Z"});
  EXPECT_TRUE(before["since"].is_null());
  EXPECT_EQ(before["total"]["operations"], 2);
  EXPECT_EQ(before["total"]["cost_usd"], "2.250000001");

  // An offset is honoured: 13:00+02:00 is 11:00 UTC.
  nlohmann::json offset =
      Json({"report", "--json", "--since", "2026-11-12T13:00:00+02:00", "--until", "2d"});
  EXPECT_EQ(offset["since"], "2026-11-12T11:00:00Z");
  EXPECT_EQ(offset["until"], "2026-11-13T12:00:00Z");
  EXPECT_EQ(offset["total"]["operations"], 1);

  Result table = OnLedger({"report", "--since", "7d", "--until", "1h"});
  EXPECT_THAT(table.out, HasSubstr("2026-11-08T12:00:00Z to 2026-11-15T11:00:00Z"));
}

TEST_F(ReportCommandTest, GroupsByTagAndDay) {
  nlohmann::json j = Json({"report", "--json", "--group-by", "tag:flag,day"});
  ASSERT_EQ(j["rows"].size(), 5u);
  EXPECT_EQ(j["group_by"], nlohmann::json({"tag:flag", "day"}));
  EXPECT_EQ(j["rows"][0]["key"], nlohmann::json({{"tag:flag", ""}, {"day", "2026-11-14"}}));
  EXPECT_EQ(j["rows"][1]["key"], nlohmann::json({{"tag:flag", "on"}, {"day", "2026-11-15"}}));
  EXPECT_EQ(j["rows"][2]["key"], nlohmann::json({{"tag:flag", "off"}, {"day", "2026-11-15"}}));
  EXPECT_EQ(j["rows"][3]["key"], nlohmann::json({{"tag:flag", ""}, {"day", "2026-11-12"}}));
  EXPECT_EQ(j["rows"][4]["key"], nlohmann::json({{"tag:flag", ""}, {"day", "2026-11-15"}}));
  EXPECT_EQ(j["rows"][4]["operations"], 2);

  nlohmann::json by_provider = Json({"report", "--json", "--group-by", "provider"});
  EXPECT_EQ(by_provider["rows"][0]["key"]["provider"], "openai");
  EXPECT_EQ(by_provider["rows"][0]["cost_usd"], "3.250000002");
}

TEST_F(ReportCommandTest, BadArgumentsAreUsageErrors) {
  Result unknown = OnLedger({"report", "--group-by", "team,colour"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("genops report: --group-by: unknown group-by key \"colour\""));
  EXPECT_THAT(unknown.err, HasSubstr("valid keys: team, project, environment, customer_id, "
                                     "cost_center, feature, model, provider, operation_type, "
                                     "tag:<key>, day"));
  EXPECT_EQ(unknown.out, "");

  Result since = OnLedger({"report", "--since", "last week"});
  EXPECT_EQ(since.exit_code, 2);
  EXPECT_THAT(since.err, HasSubstr("--since \"last week\": not a time"));
  EXPECT_THAT(since.err, HasSubstr("24h"));

  Result zone = OnLedger({"report", "--since", "2026-11-01T00:00:00"});
  EXPECT_EQ(zone.exit_code, 2);
  EXPECT_THAT(zone.err, HasSubstr("append Z for UTC"));

  Result date = OnLedger({"report", "--until", "2026-13-01"});
  EXPECT_EQ(date.exit_code, 2);
  EXPECT_THAT(date.err, HasSubstr("not a calendar date"));

  Result range = OnLedger({"report", "--since", "1h", "--until", "2h"});
  EXPECT_EQ(range.exit_code, 2);
  EXPECT_THAT(range.err, HasSubstr("is not before --until"));

  EXPECT_EQ(OnLedger({"report", "--format", "xml"}).exit_code, 2);
  Result contradiction = OnLedger({"report", "--format", "csv", "--json"});
  EXPECT_EQ(contradiction.exit_code, 2);
  EXPECT_THAT(contradiction.err, HasSubstr("contradict"));
}

TEST_F(ReportCommandTest, MissingDatabaseIsAnErrorNotAnEmptyReport) {
  const std::string typo = dir_ + "/gneops.db";
  for (std::string command : {"report", "operations"}) {
    Result r = Run({command, "--ledger", "sqlite://" + typo});
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.err;
    EXPECT_THAT(r.err,
                HasSubstr("genops " + command + ": cannot open the ledger sqlite://" + typo));
    EXPECT_EQ(r.out, "");
    EXPECT_NE(access(typo.c_str(), F_OK), 0) << command << " created " << typo;
  }
}

TEST_F(ReportCommandTest, PasswordsInTheUrlAreNeverPrinted) {
  // Port 1 on loopback: nothing listens, so opening fails and the error quotes the URL.
  Result r = Run({"report", "--ledger",
                  "postgresql://app:s3cret@127.0.0.1:1/genops?password=s3cret&timeout_ms=200"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("postgresql://app:***@127.0.0.1:1/genops?password=***"));
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
}

TEST_F(ReportCommandTest, HelpHidesTheTestOnlyClock) {
  Result r = Run({"report", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--group-by"));
  EXPECT_THAT(r.out, HasSubstr("--ledger"));
  EXPECT_THAT(r.out, Not(HasSubstr("--now")));
}

TEST_F(ReportCommandTest, EmptyRangeSaysSo) {
  Result r = OnLedger({"report", "--since", "2027-01-01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("No operations in this range."));
  nlohmann::json j = Json({"report", "--json", "--since", "2027-01-01"});
  EXPECT_EQ(j["rows"], nlohmann::json::array());
  EXPECT_EQ(j["total"]["cost_usd"], "0");
  EXPECT_EQ(j["total"]["share"], 0.0);
}

TEST_F(ReportCommandTest, OperationsListsTheNewestFirst) {
  Result r = OnLedger({"operations", "--limit", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("TIME (UTC)"));
  EXPECT_THAT(r.out, HasSubstr("LATENCY"));
  const size_t op6 = r.out.find("op-6");
  const size_t op5 = r.out.find("op-5");
  ASSERT_NE(op6, std::string::npos) << r.out;
  ASSERT_NE(op5, std::string::npos) << r.out;
  EXPECT_LT(op6, op5);
  EXPECT_THAT(r.out, Not(HasSubstr("op-1")));
  EXPECT_THAT(r.out, HasSubstr("2026-11-15T11:55:00Z"));
  EXPECT_THAT(r.out, HasSubstr("blocked"));
  EXPECT_THAT(r.out, HasSubstr("budget_exceeded"));
  EXPECT_THAT(r.out, HasSubstr("unpriced"));
  EXPECT_THAT(r.out, HasSubstr("error"));
  EXPECT_THAT(r.out, HasSubstr("1,234 ms"));
  EXPECT_THAT(r.out, HasSubstr("1,000/100"));
  EXPECT_THAT(r.out, HasSubstr("2 operation(s), newest first; older ones left out (--limit 2"));

  Result all = OnLedger({"operations", "--limit", "0"});
  EXPECT_THAT(all.out, HasSubstr("6 operation(s), newest first\n"));
}

TEST_F(ReportCommandTest, OperationsJson) {
  nlohmann::json j = Json({"operations", "--json", "--since", "2h"});
  EXPECT_EQ(j["truncated"], false);
  ASSERT_EQ(j["operations"].size(), 4u);
  EXPECT_EQ(j["operations"][0]["operation_id"], "op-6");
  EXPECT_EQ(j["operations"][3]["operation_id"], "op-2");  // exactly 2h ago: included
  const nlohmann::json& op1 = j["operations"][2];
  EXPECT_EQ(op1["operation_id"], "op-1");
  EXPECT_EQ(op1["start_time"], "2026-11-15T11:00:00Z");
  EXPECT_EQ(op1["start_unix_nanos"], kNow - kHour);
  EXPECT_EQ(op1["duration_nanos"], 1'234'000'000);
  EXPECT_EQ(op1["attribution"]["team"], "search");
  EXPECT_EQ(op1["attribution"]["tags"]["flag"], "on");
  EXPECT_EQ(op1["provider"], "openai");
  EXPECT_EQ(op1["model"], "gpt-4o");
  EXPECT_EQ(op1["usage"]["input_tokens"], 1000);
  EXPECT_EQ(op1["usage"]["reasoning_tokens"], 40);
  EXPECT_EQ(op1["cost_usd"], "1.000000001");
  EXPECT_EQ(op1["cost_nanos"], 1'000'000'001);
  EXPECT_EQ(op1["priced"], true);
  EXPECT_EQ(op1["decision"], "allowed");
  EXPECT_EQ(op1["reason"], "none");
  EXPECT_EQ(op1["error"], false);
  EXPECT_EQ(op1["trace_id"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(Json({"operations", "--json", "--limit", "1"})["truncated"], true);
}

}  // namespace
