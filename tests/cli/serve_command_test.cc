// `genops serve` and `genops approvals` as an operator runs them: real processes, a config
// file, the mock provider, an SQLite ledger; SIGTERM drains and exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "nlohmann/json.hpp"
#include "src/gateway/http_client.h"
#include "src/gateway/mock_upstream.h"
#include "tests/support/subprocess.h"

namespace genops {
namespace {

using genops::testing::ReadWholeFile;
using genops::testing::Subprocess;
namespace fs = std::filesystem;

// The first run of characters from `allowed` that follows `prefix` in `text` (with the
// prefix), or "" (std::regex trips a false GCC 12 warning under the sanitizer build).
std::string FindToken(const std::string& text, const std::string& prefix,
                      const std::string& allowed) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  size_t end = at + prefix.size();
  while (end < text.size() && allowed.find(text[end]) != std::string::npos) ++end;
  return end > at + prefix.size() ? text.substr(at, end - at) : "";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunCli(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + " " + GENOPS_CLI_PATH + " " + args + " 2>&1";
  CommandResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class ServeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("genops-serve-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto mock = gateway::MockUpstream::Start({});
    ASSERT_TRUE(mock.ok());
    mock_ = std::move(*mock);
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  std::string WriteConfig(const std::string& extra_governance = "") {
    const std::string path = (dir_ / "genops.yaml").string();
    std::ofstream(path) << "governance:\n  team: ops\n  project: serve-test\n"
                        << "  governance_policy: enforced\n"
                        << extra_governance << "ledger:\n  url: sqlite://"
                        << (dir_ / "l.db").string()
                        << "\ngateway:\n  listen: 127.0.0.1:0\n  providers:\n"
                        << "    openai: {base_url: \"" << mock_->base_url() << "\"}\n"
                        << "receiver:\n  enabled: false\n"
                        << "export:\n  exporters: [file]\n  file: {path: "
                        << (dir_ / "spans.jsonl").string() << "}\n";
    return path;
  }

  // Starts `genops serve` and waits for its listening line; returns the gateway URL.
  std::string StartServer(const std::string& config) {
    out_ = (dir_ / "serve.out").string();
    err_ = (dir_ / "serve.err").string();
    setenv("GENOPS_ADMIN_TOKEN", "t0ken", 1);
    auto p =
        Subprocess::Start({GENOPS_CLI_PATH, "serve", "--config", config, "--grace-seconds", "5"},
                          {.stdout_path = out_, .stderr_path = err_});
    unsetenv("GENOPS_ADMIN_TOKEN");
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return "";
    server_ = std::move(*p);
    for (int i = 0; i < 500; ++i) {
      const std::string url = FindToken(ReadWholeFile(out_), "http://", "0123456789.:");
      if (ReadWholeFile(out_).find("gateway listening on") != std::string::npos && !url.empty()) {
        return url;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "no listening line; stderr: " << ReadWholeFile(err_);
    return "";
  }

  gateway::HttpClientResponse Post(const std::string& url, const std::string& body) {
    auto client = gateway::HttpClient::Create({});
    gateway::HttpClientRequest r;
    r.method = "POST";
    r.url = url + "/v1/chat/completions";
    r.headers.Set("authorization", "Bearer sk-client-key");
    r.body = body;
    auto resp = (*client)->SendSync(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : gateway::HttpClientResponse{};
  }

  fs::path dir_;
  std::string out_, err_;
  std::unique_ptr<gateway::MockUpstream> mock_;
  std::unique_ptr<Subprocess> server_;
};

constexpr char kChat[] =
    R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":12})";

TEST_F(ServeCommandTest, ServesRecordsAndDrainsOnSigterm) {
  const std::string url = StartServer(WriteConfig());
  ASSERT_FALSE(url.empty());
  auto r = Post(url, kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(std::string(r.headers.GetOr("x-genops-cost-usd", "")).empty());
  EXPECT_EQ(server_->Kill(SIGTERM), 0) << ReadWholeFile(err_);
  EXPECT_NE(ReadWholeFile(err_).find("stopped after 1 requests"), std::string::npos)
      << ReadWholeFile(err_);
  // The operation reached the durable ledger before the process exited.
  CommandResult ops = RunCli("operations --json --ledger sqlite://" + (dir_ / "l.db").string());
  ASSERT_EQ(ops.exit_code, 0) << ops.output;
  auto j = nlohmann::json::parse(ops.output);
  ASSERT_EQ(j["operations"].size(), 1u) << ops.output;
  EXPECT_EQ(j["operations"][0]["attribution"]["team"], "ops");
}

TEST_F(ServeCommandTest, ApprovalsCommandListsAndApprovesHeldRequests) {
  const std::string url = StartServer(
      WriteConfig("  require_cost_approval: true\n  cost_approval_threshold: 0.0000001\n"));
  ASSERT_FALSE(url.empty());
  auto held = Post(url, kChat);
  ASSERT_EQ(held.status, 403) << held.body;
  const std::string env = "GENOPS_ADMIN_TOKEN=t0ken";
  CommandResult list = RunCli("approvals list --gateway " + url, env);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  const std::string id = FindToken(list.output, "apr_", "0123456789abcdef");
  ASSERT_FALSE(id.empty()) << list.output;
  EXPECT_NE(list.output.find("pending"), std::string::npos) << list.output;
  EXPECT_NE(
      RunCli("approvals approve " + id + " --gateway " + url, "GENOPS_ADMIN_TOKEN=wrong").exit_code,
      0);
  CommandResult approve = RunCli("approvals approve " + id + " --gateway " + url, env);
  EXPECT_EQ(approve.exit_code, 0) << approve.output;
  EXPECT_NE(approve.output.find("x-genops-approval: " + id), std::string::npos);
  CommandResult again = RunCli("approvals approve apr_doesnotexist --gateway " + url, env);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("404"), std::string::npos) << again.output;
}

TEST_F(ServeCommandTest, RunsTheGatewayAndTheReceiverTogether) {
  std::string config = ReadWholeFile(WriteConfig());
  config.replace(config.find("receiver:\n  enabled: false\n"),
                 std::string("receiver:\n  enabled: false\n").size(),
                 "receiver:\n  enabled: true\n  otlp_http_listen: 127.0.0.1:0\n"
                 "  otlp_grpc_listen: 127.0.0.1:0\n");
  const std::string path = (dir_ / "both.yaml").string();
  std::ofstream(path) << config;
  const std::string url = StartServer(path);
  ASSERT_FALSE(url.empty());
  std::string out;
  for (int i = 0; i < 500 && out.find("OTLP/gRPC receiver listening on 127.0.0.1:") ==
                                 std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    out = ReadWholeFile(out_);
  }
  const std::string otlp = FindToken(out, "OTLP/HTTP receiver listening on http://",
                                     "0123456789.:/abcdefghijklmnopqrstuvwxyz");
  ASSERT_FALSE(otlp.empty()) << out;
  EXPECT_NE(out.find("OTLP/gRPC receiver listening on 127.0.0.1:"), std::string::npos) << out;
  EXPECT_NE(out.find("TRACELOOP_BASE_URL=http://127.0.0.1:"), std::string::npos) << out;
  const std::string traces_url = otlp.substr(otlp.find("http://"));
  EXPECT_EQ(traces_url.substr(traces_url.size() - 10), "/v1/traces");

  ASSERT_EQ(Post(url, kChat).status, 200);
  auto client = gateway::HttpClient::Create({});
  gateway::HttpClientRequest bad;
  bad.method = "POST";
  bad.url = traces_url;
  bad.headers.Set("content-type", "application/json");
  bad.body = "{\"resourceSpans\": [";
  auto refused = (*client)->SendSync(bad);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 400) << refused->body;

  EXPECT_EQ(server_->Kill(SIGTERM), 0) << ReadWholeFile(err_);
  const std::string err = ReadWholeFile(err_);
  EXPECT_NE(err.find("stopped after 1 requests"), std::string::npos) << err;
  EXPECT_NE(err.find("receiver took 1 export requests, 0 spans"), std::string::npos) << err;
}

TEST_F(ServeCommandTest, BadConfigurationsAreRefusedWithTheReason) {
  const std::string bad = (dir_ / "bad.yaml").string();
  std::ofstream(bad) << "gateway:\n  lisen: 1\n";
  CommandResult r = RunCli("serve --config " + bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("lisen"), std::string::npos) << r.output;

  const std::string nothing = (dir_ / "nothing.yaml").string();
  std::ofstream(nothing) << "governance: {team: a, project: b}\ngateway:\n  enabled: false\n"
                            "receiver:\n  enabled: false\n";
  r = RunCli("serve --config " + nothing);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("nothing to serve"), std::string::npos) << r.output;

  const std::string bad_provider = (dir_ / "prov.yaml").string();
  std::ofstream(bad_provider)
      << "governance: {team: a, project: b}\ngateway:\n  listen: 127.0.0.1:0\n  providers:\n"
         "    openai: {base_url: ftp://x}\nreceiver:\n  enabled: false\n";
  r = RunCli("serve --config " + bad_provider);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("ftp://x"), std::string::npos) << r.output;

  const std::string busy = (dir_ / "busy.yaml").string();
  std::ofstream(busy) << "governance: {team: a, project: b}\ngateway:\n  listen: 127.0.0.1:"
                      << mock_->port() << "\nreceiver:\n  enabled: false\n";
  r = RunCli("serve --config " + busy);
  EXPECT_EQ(r.exit_code, 1) << r.output;
}

}  // namespace
}  // namespace genops
