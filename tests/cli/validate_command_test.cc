// Runs the built `genops validate` against configuration files and a loopback collector.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace {

using ::testing::HasSubstr;

struct Result {
  int exit_code = -1;
  std::string out;
};

// Runs `env -i <vars> genops <args>` so the test's own environment cannot leak in.
Result RunGenops(const std::string& vars, const std::string& args) {
  const std::string command =
      "env -i PATH=/usr/bin:/bin " + vars + " " + GENOPS_CLI_PATH + " " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class ValidateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_validate_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ValidateCommandTest, SoundConfigPasses) {
  const std::string config = Write("ok.yaml", R"(governance:
  team: platform
  project: llm-api
  governance_policy: enforced
  daily_budget_limit: 100
export:
  exporters: [none]
)");
  Result r =
      RunGenops("OPENAI_API_KEY=sk-test", "validate --detailed --model gpt-4o --config " + config);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("PASSED"));
  EXPECT_THAT(r.out, HasSubstr("priced as openai/gpt-4o"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("sk-test"))) << "key values are never printed";
}

TEST_F(ValidateCommandTest, UnknownKeyFailsNamingKeyAndFile) {
  const std::string config = Write("bad.yaml", "governance:\n  team: a\n  dayly_budget: 5\n");
  Result r = RunGenops("", "validate --config " + config);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bad.yaml:3"));
  EXPECT_THAT(r.out, HasSubstr("governance.dayly_budget"));
}

TEST_F(ValidateCommandTest, NegativeLimitAndUnknownPolicyFail) {
  Result r = RunGenops(
      "", "validate --config " + Write("neg.yaml", "governance:\n  daily_budget_limit: -1\n"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("must not be negative"));
  r = RunGenops(
      "", "validate --config " + Write("pol.yaml", "governance:\n  governance_policy: relaxed\n"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("unknown policy level \"relaxed\""));
}

TEST_F(ValidateCommandTest, UnpricedModelFailsWithSuggestions) {
  Result r = RunGenops("GENOPS_TEAM=t GENOPS_PROJECT=p", "validate --model gpt-4o-mega");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("\"gpt-4o-mega\" has no price"));
  EXPECT_THAT(r.out, HasSubstr("did you mean"));
}

TEST_F(ValidateCommandTest, JsonOutputIsStructured) {
  Result r = RunGenops("GENOPS_TEAM=t GENOPS_PROJECT=p", "validate --json");
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(r.exit_code, 0);
  bool saw_catalog = false;
  for (const auto& f : j["findings"]) saw_catalog |= f["area"] == "catalog";
  EXPECT_TRUE(saw_catalog);
}

TEST_F(ValidateCommandTest, ConnectivityOnlyWhenAskedAndReportsTheCollector) {
  httplib::Server collector;
  std::atomic<int> posts{0};
  collector.Post("/v1/traces", [&](const httplib::Request&, httplib::Response& res) {
    posts.fetch_add(1);
    res.set_content("", "application/x-protobuf");
  });
  const int port = collector.bind_to_any_port("127.0.0.1");
  std::thread server([&] { collector.listen_after_bind(); });
  while (!collector.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string vars =
      "GENOPS_TEAM=t GENOPS_PROJECT=p OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" +
      std::to_string(port);

  Result without = RunGenops(vars, "validate --detailed");
  EXPECT_EQ(posts.load(), 0) << "no traffic without --connectivity";
  EXPECT_THAT(without.out, HasSubstr("not checked"));

  Result with = RunGenops(vars, "validate --detailed --connectivity");
  EXPECT_EQ(with.exit_code, 0) << with.out;
  EXPECT_EQ(posts.load(), 1);
  EXPECT_THAT(with.out, HasSubstr("HTTP 200"));

  collector.stop();
  server.join();
  Result down = RunGenops(vars, "validate --connectivity");
  EXPECT_EQ(down.exit_code, 1) << down.out;
}

}  // namespace
