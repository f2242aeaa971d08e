// Integration: the official OpenAI and Anthropic npm SDKs (tests/integration/node, versions
// pinned by its package-lock.json) against `genops serve` in front of `genops mock-upstream`,
// each started as its own process on 127.0.0.1 port 0.
//
// What a real client must see through the gateway (DESIGN.md §5): the mock's answer intact
// (streamed or not), the usage the provider reported, no usage chunk it did not ask for, and
// refusals as the SDK's APIError with the status, the genops error type and a readable
// reason, after exactly one HTTP attempt although the SDK keeps its default maxRetries (2).
// What the ledger must hold afterwards: one operation whose cost is the catalog price of the
// usage the mock returned (recomputed here from MockUpstream::ExpectedUsage of the very body
// the SDK sent), and nothing charged for a refusal.
//
// The node scripts print one JSON line each (see tests/integration/node/lib.mjs); attempts are
// counted by a fetch wrapper inside the SDK client. Without node or node_modules the tests
// skip (run scripts/install-node-deps.sh), except under CI=true, where they fail. The process
// and node plumbing is tests/support/node_runner.h, shared with receiver_clients_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/operation_record.h"
#include "genops/usage.h"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/gateway/http_message.h"
#include "src/gateway/mock_upstream.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "tests/support/node_runner.h"
#include "tests/support/subprocess.h"

namespace genops {
namespace {

using gateway::HttpHeaders;
using gateway::MockUpstream;
using gateway::MockUsage;
using genops::testing::BoolOr;
using genops::testing::IntOr;
using genops::testing::NodeMissingReason;
using genops::testing::ObjectAt;
using genops::testing::ReadWholeFile;
using genops::testing::RunningInCi;
using genops::testing::RunNodeScript;
using genops::testing::ServerProcess;
using genops::testing::StartServer;
using genops::testing::StringAt;
using genops::testing::TempDir;
using nlohmann::json;

constexpr char kNodeDir[] = GENOPS_SOURCE_DIR "/tests/integration/node";
constexpr char kChatModel[] = "gpt-4o-mini";
constexpr char kEmbeddingModel[] = "text-embedding-3-small";
constexpr char kClaudeModel[] = "claude-haiku-4-5";
// Bounds one node run (the SDK's own per-attempt timeout is 30 s, see lib.mjs).
constexpr int kNodeTimeoutSeconds = 120;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Governance settings of a test's gateway (YAML lines under `governance:`).
constexpr char kGenerousGovernance[] = R"(  daily_budget_limit: 100.0
  max_operation_cost: 10.0
)";
constexpr char kTinyBudgetGovernance[] = R"(  daily_budget_limit: 0.000001
  max_operation_cost: 10.0
)";
// One nano-USD: below even a short embedding's estimate.
constexpr char kTinyCapGovernance[] = R"(  daily_budget_limit: 100.0
  max_operation_cost: 0.000000001
)";
constexpr char kApprovalGovernance[] = R"(  daily_budget_limit: 100.0
  max_operation_cost: 10.0
  require_cost_approval: true
  cost_approval_threshold: 0.000001
)";

// The mock's usage in GenOps' normalised shape (DESIGN.md §2): Anthropic's input_tokens
// excludes cache reads and writes, OpenAI's already holds its cached tokens.
Usage Normalised(const MockUsage& m, std::string_view provider) {
  Usage u;
  u.input_tokens = m.input_tokens;
  if (provider == "anthropic") u.input_tokens += m.cache_read_tokens + m.cache_write_tokens;
  u.cache_read_tokens = m.cache_read_tokens;
  u.cache_write_tokens = m.cache_write_tokens;
  u.output_tokens = m.output_tokens;
  u.reasoning_tokens = m.reasoning_tokens;
  return u;
}

// Which usage object a scenario prints.
enum class UsageShape { kChat, kEmbeddings, kResponses, kAnthropic };

int64_t IntAt(const json& j, std::initializer_list<const char*> path) {
  const json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return 0;
    at = &(*at)[key];
  }
  return at->is_number_integer() ? at->get<int64_t>() : 0;
}

// The headers the SDK saw on its attempt number `attempt` (0-based; -1 = the last).
const json& ResponseHeaders(const json& result, int attempt) {
  static const json kEmpty = json::object();
  if (!result.is_object() || !result.contains("responses") || !result["responses"].is_array() ||
      result["responses"].empty()) {
    return kEmpty;
  }
  const json& responses = result["responses"];
  const size_t index = attempt < 0 ? responses.size() - 1 : static_cast<size_t>(attempt);
  if (index >= responses.size()) return kEmpty;
  return ObjectAt(responses[index], "headers");
}

// The usage the SDK parsed equals what the mock reports for the body the SDK sent.
void ExpectSdkUsage(const json& usage, UsageShape shape, const MockUsage& m) {
  ASSERT_TRUE(usage.is_object()) << "the SDK saw no usage: " << usage.dump();
  switch (shape) {
    case UsageShape::kChat:
      EXPECT_EQ(IntAt(usage, {"prompt_tokens"}), m.input_tokens);
      EXPECT_EQ(IntAt(usage, {"completion_tokens"}), m.output_tokens);
      EXPECT_EQ(IntAt(usage, {"prompt_tokens_details", "cached_tokens"}), m.cache_read_tokens);
      EXPECT_EQ(IntAt(usage, {"completion_tokens_details", "reasoning_tokens"}),
                m.reasoning_tokens);
      break;
    case UsageShape::kEmbeddings:
      EXPECT_EQ(IntAt(usage, {"prompt_tokens"}), m.input_tokens);
      EXPECT_EQ(IntAt(usage, {"total_tokens"}), m.input_tokens);
      break;
    case UsageShape::kResponses:
      EXPECT_EQ(IntAt(usage, {"input_tokens"}), m.input_tokens);
      EXPECT_EQ(IntAt(usage, {"output_tokens"}), m.output_tokens);
      EXPECT_EQ(IntAt(usage, {"input_tokens_details", "cached_tokens"}), m.cache_read_tokens);
      EXPECT_EQ(IntAt(usage, {"output_tokens_details", "reasoning_tokens"}), m.reasoning_tokens);
      break;
    case UsageShape::kAnthropic:
      EXPECT_EQ(IntAt(usage, {"input_tokens"}), m.input_tokens);
      EXPECT_EQ(IntAt(usage, {"output_tokens"}), m.output_tokens);
      EXPECT_EQ(IntAt(usage, {"cache_read_input_tokens"}), m.cache_read_tokens);
      EXPECT_EQ(IntAt(usage, {"cache_creation_input_tokens"}), m.cache_write_tokens);
      break;
  }
}

// One scenario: the script, the provider and model it calls, and its usage shape.
struct Scenario {
  std::string script;
  std::string provider;
  std::string model;
  UsageShape shape;
  bool stream = false;
  std::map<std::string, std::string> env;  // extra variables (GENOPS_INCLUDE_USAGE, ...)
};

const Scenario kOpenAiChat{"openai_chat.mjs", "openai", kChatModel, UsageShape::kChat};
const Scenario kOpenAiChatStream{"openai_chat_stream.mjs", "openai", kChatModel, UsageShape::kChat,
                                 true};
const Scenario kOpenAiChatStreamUsage{
    "openai_chat_stream.mjs", "openai", kChatModel,
    UsageShape::kChat,        true,     {{"GENOPS_INCLUDE_USAGE", "true"}}};
const Scenario kOpenAiEmbeddings{"openai_embeddings.mjs", "openai", kEmbeddingModel,
                                 UsageShape::kEmbeddings};
const Scenario kOpenAiResponses{"openai_responses.mjs", "openai", kChatModel,
                                UsageShape::kResponses};
const Scenario kOpenAiResponsesStream{"openai_responses_stream.mjs", "openai", kChatModel,
                                      UsageShape::kResponses, true};
const Scenario kAnthropicMessages{"anthropic_messages.mjs", "anthropic", kClaudeModel,
                                  UsageShape::kAnthropic};
const Scenario kAnthropicMessagesStream{"anthropic_messages_stream.mjs", "anthropic", kClaudeModel,
                                        UsageShape::kAnthropic, true};

class NpmClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::optional<std::string> why =
            NodeMissingReason(kNodeDir, {"openai", "@anthropic-ai/sdk"})) {
      if (RunningInCi()) {
        FAIL() << *why << "; CI=true requires them: run scripts/install-node-deps.sh";
      }
      GTEST_SKIP() << *why << " (run scripts/install-node-deps.sh)";
    }
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    auto mock = StartServer({GENOPS_CLI_PATH, "mock-upstream", "--listen", "127.0.0.1:0"},
                            dir_.path(), "mock");
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = std::move(*mock);
  }

  void TearDown() override {
    if (gateway_.process != nullptr) gateway_.process->Kill(SIGKILL);
    if (mock_.process != nullptr) mock_.process->Kill(SIGTERM);
  }

  // Starts `genops serve` on a fresh config whose governance block ends with `governance`.
  void StartGateway(std::string_view governance) {
    ledger_url_ = Cat("sqlite://", dir_.path(), "/ledger.db");
    spans_path_ = Cat(dir_.path(), "/spans.jsonl");
    const std::string config =
        Cat("governance:\n"
            "  team: npm-clients\n"
            "  project: integration\n"
            "  environment: test\n"
            "  governance_policy: enforced\n",
            governance,
            "ledger:\n"
            "  url: ",
            ledger_url_,
            "\n"
            "gateway:\n"
            "  listen: 127.0.0.1:0\n"
            "  providers:\n"
            "    openai: {base_url: \"",
            mock_.url,
            "\", api_key_env: GENOPS_NPM_TEST_OPENAI_KEY}\n"
            "    anthropic: {base_url: \"",
            mock_.url,
            "\", api_key_env: GENOPS_NPM_TEST_ANTHROPIC_KEY}\n"
            "receiver:\n"
            "  enabled: false\n"
            "export:\n"
            "  exporters: [file]\n"
            "  file: {path: \"",
            spans_path_, "\"}\n");
    const std::string config_path = Cat(dir_.path(), "/genops.yaml");
    std::ofstream(config_path) << config;
    // The provider keys the gateway swaps in; the mock accepts any key.
    auto gateway = StartServer({"/usr/bin/env", "GENOPS_NPM_TEST_OPENAI_KEY=sk-upstream-openai",
                                "GENOPS_NPM_TEST_ANTHROPIC_KEY=sk-ant-upstream", GENOPS_CLI_PATH,
                                "serve", "--config", config_path},
                               dir_.path(), "gateway");
    ASSERT_TRUE(gateway.ok()) << gateway.status() << "\nconfig:\n" << config;
    gateway_ = std::move(*gateway);
  }

  // Stops the gateway the way an operator does (SIGTERM: drain, settle, flush the operations
  // log and the span exporter), so the ledger and the span file are complete.
  void StopGateway() {
    ASSERT_NE(gateway_.process, nullptr);
    const int code = gateway_.process->Kill(SIGTERM);
    EXPECT_EQ(code, 0) << "genops serve stderr: " << ReadWholeFile(gateway_.stderr_path);
    gateway_.process.reset();
  }

  // Runs a scenario script against `base_url` with `headers` (sent by the SDK on every
  // request) and returns its JSON line.
  json RunNode(const Scenario& scenario, const std::string& base_url,
               const std::map<std::string, std::string>& headers = {},
               const std::map<std::string, std::string>& env = {}) {
    std::map<std::string, std::string> all_env = {{"GENOPS_BASE_URL", base_url},
                                                  {"GENOPS_HEADERS", json(headers).dump()},
                                                  {"GENOPS_MODEL", scenario.model}};
    for (const auto& [name, value] : scenario.env) all_env[name] = value;
    for (const auto& [name, value] : env) all_env[name] = value;
    absl::StatusOr<json> result = RunNodeScript({.node_dir = kNodeDir,
                                                 .script = scenario.script,
                                                 .env = std::move(all_env),
                                                 .output_dir = dir_.path(),
                                                 .tag = Cat(scenario.script, "-", ++runs_),
                                                 .timeout_seconds = kNodeTimeoutSeconds});
    if (!result.ok()) {
      ADD_FAILURE() << result.status();
      return json();
    }
    return *std::move(result);
  }

  // The usage the mock reports for the request the SDK sent in `result`.
  MockUsage ExpectedFor(const json& result, const std::map<std::string, std::string>& headers) {
    HttpHeaders mock_headers;
    for (const auto& [name, value] : headers) mock_headers.Add(name, value);
    const json& request = ObjectAt(result, "request");
    const std::string path = StringAt(request, "path");
    const std::string body = StringAt(request, "body");
    if (path.empty() || body.empty()) {
      ADD_FAILURE() << "no request recorded: " << result.dump();
      return {};
    }
    absl::StatusOr<MockUsage> usage = MockUpstream::ExpectedUsage(path, body, mock_headers);
    if (!usage.ok()) {
      ADD_FAILURE() << usage.status();
      return {};
    }
    return *usage;
  }

  // A successful call: the whole deterministic answer, the mock's usage as the SDK parsed it,
  // one attempt. Returns the mock's usage.
  MockUsage ExpectAnswered(const Scenario& scenario, const json& result,
                           const std::map<std::string, std::string>& headers,
                           int64_t answer_tokens = MockUpstream::kDefaultAnswerTokens) {
    EXPECT_TRUE(BoolOr(result, "ok", false)) << result.dump();
    const MockUsage usage = ExpectedFor(result, headers);
    // Reasoning tokens are billed output on top of the visible answer.
    EXPECT_EQ(usage.output_tokens - usage.reasoning_tokens,
              scenario.shape == UsageShape::kEmbeddings ? 0 : answer_tokens);
    if (scenario.shape == UsageShape::kEmbeddings) {
      EXPECT_EQ(IntOr(result, "vectors", 0), 1) << result.dump();
      EXPECT_GT(IntOr(result, "dimensions", 0), 0) << result.dump();
      EXPECT_TRUE(BoolOr(result, "all_finite", false)) << result.dump();
    } else {
      EXPECT_EQ(StringAt(result, "text"), MockUpstream::AnswerText(answer_tokens)) << result.dump();
      if (result.contains("final_text")) {
        EXPECT_EQ(StringAt(result, "final_text"), MockUpstream::AnswerText(answer_tokens))
            << result.dump();
      }
    }
    EXPECT_EQ(IntOr(result, "attempts", 0), 1) << result.dump();
    ExpectSdkUsage((result.contains("usage") ? result["usage"] : json()), scenario.shape, usage);
    return usage;
  }

  struct LedgerView {
    std::vector<OperationRecord> records;
    Money total_spent;
  };
  LedgerView ReadLedger() {
    LedgerView view;
    auto ledger = ledger::OpenLedger(ledger_url_, {.create_if_missing = false});
    if (!ledger.ok()) {
      ADD_FAILURE() << ledger.status();
      return view;
    }
    auto records = ledger::QueryOperations(**ledger, {});
    if (!records.ok()) {
      ADD_FAILURE() << records.status();
      return view;
    }
    view.records = std::move(*records);
    auto total = (*ledger)->TotalSpent();
    if (!total.ok()) {
      ADD_FAILURE() << total.status();
      return view;
    }
    view.total_spent = *total;
    return view;
  }

  // Stops the gateway and checks that the ledger charged exactly the catalog price of
  // `usage` for one operation, that its id is the one the SDK saw in x-genops-operation-id
  // (and, when not streamed, that x-genops-cost-usd is the same exact amount), and that its
  // span reached the file exporter.
  void ExpectChargedExactly(const Scenario& scenario, const json& result, const Usage& usage) {
    StopGateway();
    auto catalog = pricing::Catalog::Builtin();
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    const pricing::ModelPricing* model = (*catalog)->Find(scenario.provider, scenario.model);
    ASSERT_NE(model, nullptr) << scenario.model << " is not in the catalog";
    const Money expected = pricing::ComputeCost(*model, usage).total;
    ASSERT_GT(expected.nanos(), 0) << "a zero price proves nothing";

    LedgerView view = ReadLedger();
    ASSERT_EQ(view.records.size(), 1u) << "one call, one operation";
    const OperationRecord& record = view.records[0];
    EXPECT_EQ(record.provider, scenario.provider);
    EXPECT_EQ(record.model, scenario.model);
    EXPECT_EQ(record.usage, usage)
        << "ledger usage in=" << record.usage.input_tokens << " out=" << record.usage.output_tokens
        << " cache_read=" << record.usage.cache_read_tokens
        << " cache_write=" << record.usage.cache_write_tokens
        << " reasoning=" << record.usage.reasoning_tokens;
    EXPECT_TRUE(record.priced);
    EXPECT_FALSE(record.error);
    EXPECT_EQ(record.cost, expected)
        << record.cost.ToUsdString() << " vs " << expected.ToUsdString();
    EXPECT_EQ(view.total_spent, expected);

    const json& headers = ResponseHeaders(result, -1);
    ASSERT_TRUE(headers.contains("x-genops-operation-id")) << result.dump();
    EXPECT_EQ(StringAt(headers, "x-genops-operation-id"), record.operation_id);
    if (!scenario.stream) {
      ASSERT_TRUE(headers.contains("x-genops-cost-usd")) << result.dump();
      absl::StatusOr<Money> header_cost =
          Money::FromUsdString(StringAt(headers, "x-genops-cost-usd"));
      ASSERT_TRUE(header_cost.ok()) << header_cost.status();
      EXPECT_EQ(*header_cost, expected);
    }
    const std::string spans = ReadWholeFile(spans_path_);
    EXPECT_NE(spans.find(record.operation_id), std::string::npos)
        << "no span for the operation in " << spans_path_;
  }

  // A refusal: the SDK's APIError with `status`, the `genops_error` id and a message that
  // names the reason (`reason_word`), after exactly one attempt with x-should-retry: false;
  // then nothing is charged.
  void ExpectRefused(const json& result, int status, std::string_view genops_error,
                     std::string_view reason_word) {
    ASSERT_FALSE(BoolOr(result, "ok", true)) << result.dump();
    const json& error = ObjectAt(result, "error");
    EXPECT_TRUE(BoolOr(error, "sdk_api_error", false)) << error.dump();
    EXPECT_EQ(IntOr(error, "status", 0), status) << error.dump();
    // The genops error id: OpenAI's shape carries it as error.code (error.type keeps an
    // OpenAI type), Anthropic's, which has no code, as error.type.
    EXPECT_TRUE(StringAt(error, "code") == genops_error || StringAt(error, "type") == genops_error)
        << "want " << genops_error << ": " << error.dump();
    EXPECT_NE(Lower(StringAt(error, "message")).find(reason_word), std::string::npos)
        << "the message should name the reason (" << reason_word << "): " << error.dump();
    EXPECT_EQ(IntOr(result, "attempts", 0), 1) << "the SDK retried a refusal: " << result.dump();
    ASSERT_TRUE(result.contains("responses") && result["responses"].is_array());
    ASSERT_EQ(result["responses"].size(), 1u) << result.dump();
    EXPECT_EQ(StringAt(ResponseHeaders(result, 0), "x-should-retry"), "false") << result.dump();
  }

  void ExpectNothingCharged() {
    StopGateway();
    LedgerView view = ReadLedger();
    EXPECT_EQ(view.total_spent, Money::Zero());
    for (const OperationRecord& record : view.records) {
      EXPECT_EQ(record.cost, Money::Zero()) << record.operation_id;
      EXPECT_NE(record.decision, DecisionResult::kAllowed) << record.operation_id;
    }
  }

  // Runs `scenario` through the gateway and checks the answer and the exact charge.
  void RunThroughGateway(const Scenario& scenario,
                         const std::map<std::string, std::string>& headers = {},
                         int64_t answer_tokens = MockUpstream::kDefaultAnswerTokens) {
    StartGateway(kGenerousGovernance);
    if (IsSkipped() || HasFatalFailure()) return;
    json result = RunNode(scenario, gateway_.url, headers);
    ASSERT_TRUE(result.is_object());
    const MockUsage usage = ExpectAnswered(scenario, result, headers, answer_tokens);
    if (HasFatalFailure()) return;
    ExpectChargedExactly(scenario, result, Normalised(usage, scenario.provider));
  }

  TempDir dir_{"genops-npm"};
  ServerProcess mock_;
  ServerProcess gateway_;
  std::string ledger_url_;
  std::string spans_path_;
  int runs_ = 0;
};

// --- Straight at the mock: the scripts and the harness themselves ---------------------------

TEST_F(NpmClientsTest, EveryScenarioGetsTheMockAnswerAndUsageDirectly) {
  for (const Scenario* scenario : {&kOpenAiChat, &kOpenAiChatStream, &kOpenAiChatStreamUsage,
                                   &kOpenAiEmbeddings, &kOpenAiResponses, &kOpenAiResponsesStream,
                                   &kAnthropicMessages, &kAnthropicMessagesStream}) {
    SCOPED_TRACE(scenario->script);
    json result = RunNode(*scenario, mock_.url);
    ASSERT_TRUE(result.is_object());
    const bool include_usage = scenario->env.count("GENOPS_INCLUDE_USAGE") > 0;
    if (scenario->script == "openai_chat_stream.mjs" && !include_usage) {
      // Without include_usage there is no usage to check, and none must arrive.
      EXPECT_EQ(IntOr(result, "usage_chunks", -1), 0) << result.dump();
      EXPECT_EQ(StringAt(result, "text"),
                MockUpstream::AnswerText(MockUpstream::kDefaultAnswerTokens));
      continue;
    }
    ExpectAnswered(*scenario, result, {});
  }
}

TEST_F(NpmClientsTest, AttemptCounterSeesSdkRetriesAndNoRetryOf402) {
  // A 503 once: the SDK retries by itself, and the fetch wrapper counts both attempts. This
  // is what makes "attempts == 1" on a refusal a measurement.
  const std::map<std::string, std::string> flaky = {{"x-mock-fault", "fail-503"},
                                                    {"x-mock-fault-times", "1"},
                                                    {"x-mock-fault-key", "npm-retry-probe"}};
  json retried = RunNode(kOpenAiChat, mock_.url, flaky);
  ASSERT_TRUE(retried.is_object());
  EXPECT_TRUE(BoolOr(retried, "ok", false)) << retried.dump();
  EXPECT_EQ(IntOr(retried, "attempts", 0), 2) << retried.dump();
  ASSERT_TRUE(retried.contains("responses") && retried["responses"].is_array() &&
              !retried["responses"].empty());
  EXPECT_EQ(IntOr(retried["responses"][0], "status", 0), 503);

  json anthropic_retried = RunNode(kAnthropicMessagesStream, mock_.url,
                                   {{"x-mock-fault", "fail-529"},
                                    {"x-mock-fault-times", "1"},
                                    {"x-mock-fault-key", "npm-retry-probe-anthropic"}});
  ASSERT_TRUE(anthropic_retried.is_object());
  EXPECT_TRUE(BoolOr(anthropic_retried, "ok", false)) << anthropic_retried.dump();
  EXPECT_EQ(IntOr(anthropic_retried, "attempts", 0), 2) << anthropic_retried.dump();

  json refused = RunNode(kOpenAiChat, mock_.url, {{"x-mock-fault", "fail-402"}});
  ASSERT_TRUE(refused.is_object());
  EXPECT_FALSE(BoolOr(refused, "ok", true));
  EXPECT_EQ(IntOr(ObjectAt(refused, "error"), "status", 0), 402);
  EXPECT_TRUE(BoolOr(ObjectAt(refused, "error"), "sdk_api_error", false));
  EXPECT_EQ(IntOr(refused, "attempts", 0), 1);
}

// --- Through the gateway: answers intact, exact charge ---------------------------------------

TEST_F(NpmClientsTest, OpenAiChatThroughGatewayIsChargedExactly) { RunThroughGateway(kOpenAiChat); }

TEST_F(NpmClientsTest, OpenAiChatLongerAnswerIsChargedExactly) {
  RunThroughGateway(kOpenAiChat, {{"x-mock-output-tokens", "40"}}, 40);
}

TEST_F(NpmClientsTest, OpenAiChatCachedAndReasoningTokensAreChargedExactly) {
  // Cached tokens are part of prompt_tokens and reasoning part of completion_tokens: the
  // charge must count neither twice.
  RunThroughGateway(kOpenAiChat, {{"x-mock-cached-tokens", "4"}, {"x-mock-reasoning-tokens", "3"}});
}

TEST_F(NpmClientsTest, OpenAiChatStreamWithIncludeUsageSeesOneUsageChunk) {
  StartGateway(kGenerousGovernance);
  if (IsSkipped() || HasFatalFailure()) return;
  json result = RunNode(kOpenAiChatStreamUsage, gateway_.url);
  ASSERT_TRUE(result.is_object());
  const MockUsage usage = ExpectAnswered(kOpenAiChatStreamUsage, result, {});
  EXPECT_EQ(IntOr(result, "usage_chunks", -1), 1) << result.dump();
  EXPECT_EQ(IntOr(result, "empty_choice_chunks", -1), 1) << result.dump();
  ExpectChargedExactly(kOpenAiChatStreamUsage, result, Normalised(usage, "openai"));
}

TEST_F(NpmClientsTest, OpenAiChatStreamWithoutIncludeUsageSeesNoUsageYetIsCharged) {
  // The gateway asks the provider for usage itself and must remove the extra chunk again.
  StartGateway(kGenerousGovernance);
  if (IsSkipped() || HasFatalFailure()) return;
  json result = RunNode(kOpenAiChatStream, gateway_.url);
  ASSERT_TRUE(result.is_object());
  EXPECT_TRUE(BoolOr(result, "ok", false)) << result.dump();
  EXPECT_EQ(StringAt(result, "text"), MockUpstream::AnswerText(MockUpstream::kDefaultAnswerTokens));
  EXPECT_EQ(IntOr(result, "usage_chunks", -1), 0) << result.dump();
  EXPECT_EQ(IntOr(result, "empty_choice_chunks", -1), 0) << result.dump();
  EXPECT_EQ(IntOr(result, "attempts", 0), 1);
  ExpectChargedExactly(kOpenAiChatStream, result, Normalised(ExpectedFor(result, {}), "openai"));
}

TEST_F(NpmClientsTest, OpenAiEmbeddingsThroughGatewayIsChargedExactly) {
  RunThroughGateway(kOpenAiEmbeddings);
}

TEST_F(NpmClientsTest, OpenAiResponsesThroughGatewayIsChargedExactly) {
  RunThroughGateway(kOpenAiResponses);
}

TEST_F(NpmClientsTest, OpenAiResponsesStreamThroughGatewayIsChargedExactly) {
  RunThroughGateway(kOpenAiResponsesStream);
}

TEST_F(NpmClientsTest, AnthropicMessagesThroughGatewayIsChargedExactly) {
  RunThroughGateway(kAnthropicMessages);
}

TEST_F(NpmClientsTest, AnthropicMessagesStreamFinalMessageIsChargedExactly) {
  RunThroughGateway(kAnthropicMessagesStream);
}

TEST_F(NpmClientsTest, AnthropicCacheTokensAreChargedExactly) {
  // Anthropic's input_tokens excludes cache reads and writes: the charge adds them, each at
  // its own price.
  RunThroughGateway(kAnthropicMessagesStream,
                    {{"x-mock-cached-tokens", "100"}, {"x-mock-cache-write-tokens", "50"}});
}

// --- Refusals: the SDK's APIError, one attempt, nothing charged --------------------------------

TEST_F(NpmClientsTest, BudgetRefusalIs402WithoutRetry) {
  StartGateway(kTinyBudgetGovernance);
  if (IsSkipped() || HasFatalFailure()) return;
  for (const Scenario* scenario : {&kOpenAiChat, &kAnthropicMessagesStream}) {
    SCOPED_TRACE(scenario->script);
    json result = RunNode(*scenario, gateway_.url);
    ASSERT_TRUE(result.is_object());
    ExpectRefused(result, 402, "genops_budget_exceeded", "budget");
  }
  ExpectNothingCharged();
}

TEST_F(NpmClientsTest, OperationCostCapRefusalIs402WithoutRetry) {
  StartGateway(kTinyCapGovernance);
  if (IsSkipped() || HasFatalFailure()) return;
  for (const Scenario* scenario : {&kOpenAiChatStream, &kOpenAiEmbeddings, &kAnthropicMessages}) {
    SCOPED_TRACE(scenario->script);
    json result = RunNode(*scenario, gateway_.url);
    ASSERT_TRUE(result.is_object());
    ExpectRefused(result, 402, "genops_operation_cost_exceeded", "max_operation_cost");
  }
  ExpectNothingCharged();
}

TEST_F(NpmClientsTest, PerCallMaxCostHeaderRefusalIs402WithoutRetry) {
  StartGateway(kGenerousGovernance);
  if (IsSkipped() || HasFatalFailure()) return;
  json result = RunNode(kOpenAiResponses, gateway_.url, {{"x-genops-max-cost", "0.000001"}});
  ASSERT_TRUE(result.is_object());
  ExpectRefused(result, 402, "genops_operation_cost_exceeded", "cost");
  ExpectNothingCharged();
}

TEST_F(NpmClientsTest, ApprovalRefusalIs403WithoutRetry) {
  StartGateway(kApprovalGovernance);
  if (IsSkipped() || HasFatalFailure()) return;
  for (const Scenario* scenario : {&kOpenAiResponsesStream, &kAnthropicMessages}) {
    SCOPED_TRACE(scenario->script);
    json result = RunNode(*scenario, gateway_.url);
    ASSERT_TRUE(result.is_object());
    ExpectRefused(result, 403, "genops_approval_required", "approval");
  }
  ExpectNothingCharged();
}

}  // namespace
}  // namespace genops
