// Runs the built `genops` binary (GENOPS_CLI_PATH) for the cost and prices commands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "src/core/catalog.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_cli_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    overrides_ = dir_ + "/prices.json";
    std::ofstream(overrides_) << R"({"schema_version": 1, "models": [
      {"provider": "acme", "id": "acme-large", "aliases": ["acme-l"],
       "prices": {"input": "2.50", "output": "10.00", "cache_read": "1.25"},
       "as_of": "2026-11-01", "source": "https://acme.example/pricing"},
      {"provider": "acme", "id": "acme-think",
       "prices": {"input": "1.00", "output": "4.00", "reasoning": "8.00", "cache_write": "1.25"},
       "tiers": [{"above_input_tokens": 100000, "input": "2.00", "output": "8.00"}],
       "as_of": "2026-11-02", "source": "https://acme.example/pricing"}
    ]})";
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  Result Run(const std::string& args) {
    const std::string err_path = dir_ + "/stderr.txt";
    const std::string cmd = std::string(GENOPS_CLI_PATH) + " " + args + " 2>" + err_path;
    Result r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, n);
    int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream err(err_path);
    std::stringstream ss;
    ss << err.rdbuf();
    r.err = ss.str();
    return r;
  }

  std::string Ov() const { return " --pricing-overrides " + overrides_; }

  std::string dir_;
  std::string overrides_;
};

TEST_F(CliTest, CostJsonIsExactAndResolvesDatedIds) {
  Result r =
      Run("cost --model acme-large-2026-01-15 --provider acme --input 1000 "
          "--cache-read 400 --output 500 --json" +
          Ov());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["provider"], "acme");
  EXPECT_EQ(j["model"], "acme-large-2026-01-15");
  EXPECT_EQ(j["resolved_model"], "acme-large");
  EXPECT_EQ(j["cost_nanos"], 7'000'000);  // 600×2.50 + 400×1.25 + 500×10 per 1M
  EXPECT_DOUBLE_EQ(j["cost_usd"].get<double>(), 0.007);
  EXPECT_EQ(j["breakdown"]["input"]["tokens"], 600);
  EXPECT_EQ(j["breakdown"]["input"]["cost_nanos"], 1'500'000);
  EXPECT_EQ(j["breakdown"]["cache_read"]["price_per_million_usd"], "1.25");
  EXPECT_EQ(j["breakdown"]["output"]["cost_nanos"], 5'000'000);
  EXPECT_EQ(j["long_context_tier"], false);
  EXPECT_EQ(j["as_of"], "2026-11-01");
  EXPECT_EQ(j["source"], "https://acme.example/pricing");
}

TEST_F(CliTest, CostJsonWithReasoningPriceAndLongContextTier) {
  Result r = Run("cost -m acme-think --input 150000 --output 1000 --reasoning 600 --json" + Ov());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["long_context_tier"], true);
  // 150000×$2 + 400×$8 + 600×$8 (the tier has no reasoning price: billed as output) per 1M.
  EXPECT_EQ(j["cost_nanos"], 300'000'000 + 3'200'000 + 4'800'000);
  r = Run("cost -m acme-think --input 1000 --output 1000 --reasoning 600 --json" + Ov());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["breakdown"]["reasoning"]["tokens"], 600);
  EXPECT_EQ(j["breakdown"]["reasoning"]["cost_nanos"], 4'800'000);  // 600 × $8/1M
  EXPECT_EQ(j["breakdown"]["output"]["tokens"], 400);
  EXPECT_EQ(j["cost_nanos"], 1'000'000 + 1'600'000 + 4'800'000);
}

TEST_F(CliTest, CostTableIsAligned) {
  Result r = Run("cost --model acme-l --input 12000 --cache-read 4000 --output 800" + Ov());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("acme/acme-large (requested \"acme-l\")"));
  EXPECT_THAT(r.out, HasSubstr("as of 2026-11-01"));
  EXPECT_THAT(r.out, Not(HasSubstr("cache_write")));  // unused cache rows are omitted
  // Every table line ends at the same column (right-aligned cost).
  std::istringstream lines(r.out.substr(r.out.find("component")));
  std::string line;
  size_t width = 0;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (width == 0) width = line.size();
    EXPECT_EQ(line.size(), width) << "misaligned: [" << line << "]";
    ++rows;
  }
  EXPECT_EQ(rows, 6);  // header, input, cache_read, output, rule, total
  EXPECT_THAT(r.out, HasSubstr("12,800"));
  // 8000×2.50 + 4000×1.25 + 800×10 per 1M = $0.033.
  EXPECT_THAT(r.out, HasSubstr("$0.033\n"));
}

TEST_F(CliTest, UnknownModelExitsTwoAndSuggestsCloseMatches) {
  Result r = Run("cost --model acme-lrage --input 10 --output 10" + Ov());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_THAT(r.err, HasSubstr("unknown model \"acme-lrage\""));
  EXPECT_THAT(r.err, HasSubstr("Did you mean: acme-large"));
  r = Run("cost --model acme-large --provider openai --input 10" + Ov());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("for provider \"openai\""));
}

TEST_F(CliTest, InconsistentUsageExitsTwo) {
  Result r = Run("cost --model acme-large --input 10 --cache-read 20" + Ov());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("exceed input_tokens"));
}

TEST_F(CliTest, BadOverridesFileExitsOneAndNamesTheFile) {
  std::ofstream(overrides_) << R"({"schema_version": 1, "models": [{"provider": "acme",
    "id": "x", "prices": {"input": 2.5, "output": "1"}}]})";
  Result r = Run("cost --model x --input 1" + Ov());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(overrides_ + ": models[0] (x): prices.input: expected a decimal"));
  r = Run("prices --pricing-overrides " + dir_ + "/missing.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(dir_ + "/missing.json"));
}

TEST_F(CliTest, PricesJsonListsTheOverrides) {
  Result r = Run("prices --provider acme --json" + Ov());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["id"], "acme-large");
  EXPECT_EQ(j[0]["prices"]["input"], "2.50");
  EXPECT_EQ(j[0]["prices"]["cache_write"], nullptr);
  EXPECT_EQ(j[0]["aliases"][0], "acme-l");
  EXPECT_EQ(j[1]["tiers"][0]["above_input_tokens"], 100000);
  EXPECT_EQ(j[1]["prices"]["reasoning"], "8.00");
}

TEST_F(CliTest, PricesTableIsAligned) {
  Result r = Run("prices --provider ACME" + Ov());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, row1, row2;
  std::getline(lines, header);  // the unit note
  std::getline(lines, header);
  std::getline(lines, row1);
  std::getline(lines, row2);
  EXPECT_THAT(header, HasSubstr("PROVIDER"));
  EXPECT_THAT(row1, HasSubstr("acme-large"));
  EXPECT_THAT(row2, HasSubstr("acme-think *"));  // has tiers
  // Right-aligned price columns: OUTPUT ends where each row's output price ends.
  size_t output_end = header.find("OUTPUT") + 6;
  EXPECT_EQ(row1.substr(output_end - 5, 5), "10.00");
  EXPECT_EQ(row2.substr(output_end - 4, 4), "4.00");
  EXPECT_THAT(r.out, HasSubstr("2 models"));
}

TEST_F(CliTest, PricesUnknownProviderExitsTwo) {
  Result r = Run("prices --provider nobody" + Ov());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no models for provider \"nobody\""));
  EXPECT_THAT(r.err, HasSubstr("acme"));
}

TEST_F(CliTest, BuiltinCatalogPricesADatedModel) {
  auto builtin = genops::pricing::Catalog::Builtin();
  ASSERT_TRUE(builtin.ok()) << builtin.status();
  if ((*builtin)->Find("openai", "gpt-4o") == nullptr) GTEST_SKIP() << "no gpt-4o in the data yet";
  Result r =
      Run("cost --model gpt-4o-2024-08-06 --provider openai --input 1000 --output 100 "
          "--json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resolved_model"], "gpt-4o");
  EXPECT_GT(j["cost_nanos"].get<int64_t>(), 0);
}

}  // namespace
