// The gateway end to end, in process: a real HttpServer gateway in front of the mock
// upstream, over the real SDK governance core and a memory ledger. Every money assertion is
// exact: the catalog price of the usage the mock reported.
#include "src/gateway/gateway.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/core/text.h"
#include "src/core/usage_parser.h"
#include "src/gateway/http_client.h"
#include "src/gateway/mock_upstream.h"
#include "src/gateway/virtual_keys.h"
#include "src/ledger/lease_ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/ledger/memory_ledger.h"
#include "src/sdk/adapter_impl.h"
#include "tests/gateway/test_util.h"
#include "tests/sdk/sdk_test_util.h"

namespace genops::gateway {
namespace {

using genops::testing::RecordingExporter;
using genops::testing::SpanStore;
using nlohmann::json;

constexpr char kProviderKey[] = "sk-provider-secret-0123456789";
constexpr char kAdminToken[] = "admin-token-for-tests";

std::string ChatBody(const std::string& model, int max_tokens, bool stream = false,
                     std::optional<bool> include_usage = std::nullopt,
                     const std::string& text = "Say something deterministic, please.") {
  json j = {{"model", model},
            {"messages", json::array({{{"role", "user"}, {"content", text}}})},
            {"max_tokens", max_tokens}};
  if (stream) j["stream"] = true;
  if (include_usage.has_value()) j["stream_options"] = {{"include_usage", *include_usage}};
  return j.dump();
}

std::string MessagesBody(const std::string& model, int max_tokens, bool stream = false) {
  json j = {{"model", model},
            {"max_tokens", max_tokens},
            {"messages", json::array({{{"role", "user"}, {"content", "Hello, Claude."}}})}};
  if (stream) j["stream"] = true;
  return j.dump();
}

// Every test runs in each mode: governance on the io threads (what the memory ledger gets),
// on the worker pools (what a durable ledger gets), as chosen for the ledger, and with
// budget leases over a SQLite file (`ledger.leases`: admission from memory on the io
// threads, settlements written behind).
struct GatewayMode {
  GovernanceThreads threads = GovernanceThreads::kAuto;
  bool leases = false;
};

class GatewayTest : public ::testing::TestWithParam<GatewayMode> {
 protected:
  void SetUp() override {
    auto mock = MockUpstream::Start({.api_key = kProviderKey});
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = std::move(*mock);
    auto catalog = pricing::Catalog::Builtin();
    ASSERT_TRUE(catalog.ok());
    catalog_ = std::move(*catalog);
    auto client = HttpClient::Create({});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
  }

  void TearDown() override {
    if (gateway_) gateway_->Shutdown(absl::Seconds(5));
    if (adapter_) adapter_->shutdown();
    gateway_.reset();
    adapter_.reset();
    ledger_.reset();
    if (!ledger_dir_.empty()) std::filesystem::remove_all(ledger_dir_);
  }

  AdapterConfig BaseConfig() {
    AdapterConfig c;
    c.team = "team-a";
    c.project = "proj-x";
    c.governance_policy = PolicyLevel::kEnforced;
    c.env = &env_;
    c.exporters = {"none"};
    c.enable_async_export = false;
    c.log_alerts = false;
    return c;
  }

  GatewayOptions BaseOptions() {
    GatewayOptions o;
    o.server.listen = "127.0.0.1:0";
    o.server.io_threads = 2;
    o.providers.push_back({.name = "openai",
                           .api = ApiFamily::kOpenAI,
                           .base_url = mock_->base_url(),
                           .api_key = kProviderKey,
                           .api_key_env = "OPENAI_API_KEY"});
    o.providers.push_back({.name = "anthropic",
                           .api = ApiFamily::kAnthropic,
                           .base_url = mock_->base_url(),
                           .api_key = kProviderKey,
                           .api_key_env = "ANTHROPIC_API_KEY"});
    o.retry_base_delay = absl::Milliseconds(1);
    o.admin_token = kAdminToken;
    o.governance_workers = 4;
    o.governance_threads = GetParam().threads;
    o.clock = &clock_;
    o.virtual_key_cache_ttl = absl::ZeroDuration();
    return o;
  }

  void Start(const AdapterConfig& config, GatewayOptions options) {
    if (ledger_override_ != nullptr) {
      ledger_ = ledger_override_;
    } else if (GetParam().leases) {
      ledger_dir_ = Cat(std::filesystem::temp_directory_path().string(), "/genops-gw-leases-",
                        getpid(), "-", ::testing::UnitTest::GetInstance()->random_seed(), "-",
                        reinterpret_cast<uintptr_t>(this));
      std::filesystem::create_directories(ledger_dir_);
      auto store = ledger::OpenLedger(Cat("sqlite://", ledger_dir_, "/ledger.db"), {});
      ASSERT_TRUE(store.ok()) << store.status();
      auto leased = ledger::WrapWithBudgetLeases(std::shared_ptr<ledger::Ledger>(std::move(*store)),
                                                 {.flush_interval = absl::Milliseconds(1)});
      ASSERT_TRUE(leased.ok()) << leased.status();
      ledger_ = std::move(*leased);
    } else {
      auto ledger = ledger::OpenLedger("memory://", {});
      ASSERT_TRUE(ledger.ok());
      ledger_ = std::move(*ledger);
    }
    approvals_ = std::make_shared<ApprovalStore>();
    AdapterDependencies deps;
    deps.ledger = ledger_;
    deps.approvals = approvals_;
    deps.extra_exporters.push_back(std::make_unique<RecordingExporter>(spans_));
    auto adapter = AdapterImpl::Create(config, std::move(deps));
    ASSERT_TRUE(adapter.ok()) << adapter.status();
    adapter_ = std::move(*adapter);
    auto gateway = Gateway::Start(std::move(options), {adapter_, ledger_, approvals_});
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
  }
  void Start() { Start(BaseConfig(), BaseOptions()); }

  HttpClientResponse Post(const std::string& path, const std::string& body,
                          HttpHeaders headers = {}) {
    HttpClientRequest r;
    r.method = "POST";
    r.url = gateway_->base_url() + path;
    r.body = body;
    r.headers = std::move(headers);
    if (!r.headers.Has("authorization") && !r.headers.Has("x-api-key")) {
      r.headers.Set("authorization", std::string("Bearer ") + kProviderKey);  // pass-through
    }
    r.headers.Set("content-type", "application/json");
    auto resp = client_->SendSync(std::move(r));
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : HttpClientResponse{};
  }

  // The catalog price of what the mock reports for this request.
  Money ExpectedCost(const std::string& path, const std::string& body, const std::string& model,
                     const std::string& provider, const HttpHeaders& headers = {}) {
    auto usage = MockUpstream::ExpectedUsage(path, body, headers);
    EXPECT_TRUE(usage.ok()) << usage.status();
    Usage u;
    if (provider == "anthropic") {
      u = NormalizeAnthropicUsage(usage->input_tokens, usage->output_tokens,
                                  usage->cache_read_tokens, usage->cache_write_tokens);
    } else {
      u = NormalizeOpenAIUsage(usage->input_tokens, usage->output_tokens, usage->cache_read_tokens,
                               usage->reasoning_tokens);
    }
    const auto* m = catalog_->Find(provider, model);
    EXPECT_NE(m, nullptr) << model;
    return m == nullptr ? Money() : pricing::ComputeCost(*m, u).total;
  }

  Money Spent() {
    auto total = ledger_->TotalSpent();
    EXPECT_TRUE(total.ok());
    return total.ok() ? *total : Money();
  }

  // Reserved now across every budget (what a released or settled reservation leaves: 0).
  // With leases, their idle room is given back first.
  Money Reserved() {
    if (ledger::HasBudgetLeases(*ledger_)) {
      EXPECT_TRUE(ledger::FlushBudgetLeases(*ledger_, /*retire_leases=*/true).ok());
    }
    auto budgets = ledger_->ListBudgets(Clock::Real()->NowUnixNanos());
    Money r;
    if (budgets.ok()) {
      for (const auto& b : *budgets) r = r + b.reserved;
    }
    return r;
  }

  void AddBudget(const std::string& name, Money limit, ledger::Scope scope = {}) {
    ASSERT_TRUE(ledger_
                    ->UpsertBudget({.name = name,
                                    .scope = std::move(scope),
                                    .limit = limit,
                                    .period = ledger::BudgetPeriod::kDay})
                    .ok());
  }

  // Waits until every settlement ran (they run on workers after the answer is sent).
  void Drain() {
    for (int i = 0; i < 500 && gateway_->stats().in_flight > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(gateway_->stats().in_flight, 0);
    adapter_->flush(5000);
    if (ledger::HasBudgetLeases(*ledger_)) {  // settlements written behind reach the store
      EXPECT_TRUE(ledger::FlushBudgetLeases(*ledger_).ok());
    }
  }

  MapEnvironment env_;
  ManualClock clock_{1'767'225'600'000'000'000};
  std::shared_ptr<ledger::Ledger> ledger_override_;  // Start() uses it instead of memory://
  std::string ledger_dir_;                           // the SQLite file's, with leases
  std::unique_ptr<MockUpstream> mock_;
  std::unique_ptr<pricing::Catalog> catalog_;
  std::unique_ptr<HttpClient> client_;
  std::shared_ptr<ledger::Ledger> ledger_;
  std::shared_ptr<ApprovalStore> approvals_;
  std::shared_ptr<SpanStore> spans_ = std::make_shared<SpanStore>();
  std::shared_ptr<AdapterImpl> adapter_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_P(GatewayTest, ChatCompletionIsForwardedMeteredAndChargedExactly) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20);
  HttpClientResponse r = Post("/v1/chat/completions", body, {{"x-genops-customer-id", "acme"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json answer = json::parse(r.body);
  EXPECT_EQ(answer["choices"][0]["message"]["content"],
            MockUpstream::AnswerText(MockUpstream::kDefaultAnswerTokens));
  const Money expected = ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai");
  ASSERT_GT(expected.nanos(), 0);
  EXPECT_EQ(r.headers.GetOr("x-genops-cost-usd", ""), expected.ToUsdString());
  EXPECT_FALSE(r.headers.GetOr("x-genops-operation-id", "").empty());
  EXPECT_TRUE(r.headers.Has("x-genops-overhead-us"));
  Drain();
  EXPECT_EQ(Spent(), expected);
  EXPECT_EQ(Reserved(), Money());
  // The provider key reached the provider; the client's GenOps headers did not.
  auto requests = mock_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.GetOr("authorization", ""), std::string("Bearer ") + kProviderKey);
  EXPECT_FALSE(requests[0].headers.Has("x-genops-customer-id"));
  // The span carries the attribution.
  auto spans = spans_->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(genops::testing::AttrAs<std::string>(spans[0], "genops.customer_id"), "acme");
  EXPECT_EQ(genops::testing::AttrAs<std::string>(spans[0], "genops.team"), "team-a");
}

TEST_P(GatewayTest, StreamedChatStripsTheUsageChunkTheClientDidNotAskFor) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20, /*stream=*/true);
  HttpClientResponse r = Post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("\"usage\":{"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
  // Upstream was asked for usage.
  auto requests = mock_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(json::parse(requests[0].body)["stream_options"]["include_usage"].get<bool>());
  Drain();
  EXPECT_EQ(Spent(),
            ExpectedCost("/v1/chat/completions", requests[0].body, "gpt-4o-mini", "openai"));
  EXPECT_EQ(Reserved(), Money());
}

TEST_P(GatewayTest, StreamedChatKeepsTheUsageChunkTheClientAskedFor) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20, true, true);
  HttpClientResponse r = Post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"usage\":{"), std::string::npos) << r.body;
  Drain();
  EXPECT_EQ(Spent(), ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai"));
}

TEST_P(GatewayTest, AnthropicStreamWithCacheTokensIsChargedExactly) {
  Start();
  const std::string model = "claude-3-5-haiku-20241022";
  const std::string body = MessagesBody(model, 30, /*stream=*/true);
  HttpHeaders h = {{"x-mock-cached-tokens", "40"},
                   {"x-mock-cache-write-tokens", "8"},
                   {"x-api-key", kProviderKey},
                   {"anthropic-version", "2023-06-01"}};
  HttpClientResponse r = Post("/v1/messages", body, h);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("event: message_stop"), std::string::npos);
  Drain();
  EXPECT_EQ(Spent(), ExpectedCost("/v1/messages", body, model, "anthropic", h));
}

TEST_P(GatewayTest, EveryOpenAIRouteIsMetered) {
  Start();
  struct Case {
    std::string path, body, model;
  };
  std::vector<Case> cases = {
      {"/v1/completions",
       json({{"model", "gpt-4o-mini"}, {"prompt", "Once upon"}, {"max_tokens", 9}}).dump(),
       "gpt-4o-mini"},
      {"/v1/embeddings",
       json({{"model", "text-embedding-3-small"}, {"input", "embed these words"}}).dump(),
       "text-embedding-3-small"},
      {"/v1/responses",
       json({{"model", "gpt-4o-mini"}, {"input", "Hi there"}, {"max_output_tokens", 16}}).dump(),
       "gpt-4o-mini"},
  };
  Money expected;
  for (const auto& c : cases) {
    HttpClientResponse r = Post(c.path, c.body);
    ASSERT_EQ(r.status, 200) << c.path << " " << r.body;
    expected = expected + ExpectedCost(c.path, c.body, c.model, "openai");
  }
  Drain();
  EXPECT_EQ(Spent(), expected);
}

TEST_P(GatewayTest, BudgetRefusalIsA402InTheProvidersShapeAndNeverReachesTheProvider) {
  Start();
  AddBudget("tiny", Money::FromNanos(1));
  HttpClientResponse r = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20));
  EXPECT_EQ(r.status, 402);
  EXPECT_EQ(r.headers.GetOr("x-should-retry", ""), "false");
  json e = json::parse(r.body);
  EXPECT_EQ(e["error"]["code"], "genops_budget_exceeded");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("budget"), std::string::npos);
  HttpClientResponse a = Post("/v1/messages", MessagesBody("claude-3-5-haiku-20241022", 20),
                              {{"x-api-key", kProviderKey}});
  EXPECT_EQ(a.status, 402);
  json ae = json::parse(a.body);
  EXPECT_EQ(ae["type"], "error");
  EXPECT_EQ(ae["error"]["type"], "genops_budget_exceeded");
  EXPECT_EQ(mock_->request_count(), 0u);
  Drain();
  EXPECT_EQ(Spent(), Money());
}

TEST_P(GatewayTest, PerRequestCapRefusesExpensiveCalls) {
  Start();
  HttpClientResponse r =
      Post("/v1/chat/completions", ChatBody("gpt-4o", 4000), {{"x-genops-max-cost", "0.000001"}});
  EXPECT_EQ(r.status, 402);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "genops_operation_cost_exceeded");
  HttpClientResponse bad =
      Post("/v1/chat/completions", ChatBody("gpt-4o", 10), {{"x-genops-max-cost", "lots"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("x-genops-max-cost"), std::string::npos);
  EXPECT_EQ(mock_->request_count(), 0u);
}

TEST_P(GatewayTest, ApprovalFlowHoldsApprovesAndAdmitsTheRetryOnce) {
  AdapterConfig config = BaseConfig();
  config.require_cost_approval = true;
  config.cost_approval_threshold = 0.000001;
  Start(config, BaseOptions());
  const std::string body = ChatBody("gpt-4o-mini", 20);
  HttpClientResponse held = Post("/v1/chat/completions", body);
  ASSERT_EQ(held.status, 403) << held.body;
  json e = json::parse(held.body);
  EXPECT_EQ(e["error"]["code"], "genops_approval_required");
  auto list = approvals_->List();
  ASSERT_EQ(list.size(), 1u);
  const std::string id = list[0].request.approval_id;
  EXPECT_NE(e["error"]["message"].get<std::string>().find(id), std::string::npos);

  // The admin API needs the token.
  HttpClientRequest approve;
  approve.method = "POST";
  approve.url = gateway_->base_url() + "/genops/admin/approvals/" + id + "/approve";
  auto denied = client_->SendSync(approve);
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->status, 401);
  approve.headers.Set("authorization", std::string("Bearer ") + kAdminToken);
  auto ok = client_->SendSync(approve);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << ok->body;

  HttpClientResponse retried = Post("/v1/chat/completions", body, {{"x-genops-approval", id}});
  EXPECT_EQ(retried.status, 200) << retried.body;
  HttpClientResponse again = Post("/v1/chat/completions", body, {{"x-genops-approval", id}});
  EXPECT_EQ(again.status, 403) << "an approval admits one retry only";
  Drain();
  EXPECT_EQ(Spent(), ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai"));
}

TEST_P(GatewayTest, VirtualKeysAuthenticateAttributeAndCarryTheirOwnBudget) {
  GatewayOptions options = BaseOptions();
  options.allow_passthrough_keys = false;
  Start(BaseConfig(), options);
  // max_tokens = what the mock answers, so the worst-case estimate equals the actual cost.
  const std::string body = ChatBody("gpt-4o-mini", MockUpstream::kDefaultAnswerTokens);
  const Money one_call = ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai");
  auto key = CreateVirtualKey(*ledger_,
                              {.attribution = {.team = "search", .project = "ranker"},
                               .budget_limit = one_call,
                               .period = ledger::BudgetPeriod::kDay},
                              clock_.NowUnixNanos());
  ASSERT_TRUE(key.ok()) << key.status();

  EXPECT_EQ(Post("/v1/chat/completions", body, {{"authorization", "Bearer "}}).status, 401);
  EXPECT_EQ(Post("/v1/chat/completions", body, {{"authorization", "Bearer sk-own-key"}}).status,
            401);
  HttpClientResponse unknown =
      Post("/v1/chat/completions", body, {{"authorization", "Bearer gk_unknownunknown"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body.find("gk_unknownunknown"), std::string::npos);

  HttpHeaders with_key = {{"authorization", "Bearer " + key->key},
                          {"x-genops-team", "someone-else"}};
  HttpClientResponse first = Post("/v1/chat/completions", body, with_key);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.headers.GetOr("x-genops-budget-remaining-usd", ""), Money().ToUsdString());
  // The provider got the provider key, not the virtual key.
  auto requests = mock_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.GetOr("authorization", ""), std::string("Bearer ") + kProviderKey);
  // The key's budget is spent: the next call is refused.
  EXPECT_EQ(Post("/v1/chat/completions", body, with_key).status, 402);
  Drain();
  auto spans = spans_->Snapshot();
  ASSERT_FALSE(spans.empty());
  EXPECT_EQ(genops::testing::AttrAs<std::string>(spans[0], "genops.team"), "search")
      << "the key's team wins over the header";
  // Revoked keys stop working.
  ASSERT_TRUE(RevokeVirtualKey(*ledger_, key->record.id, clock_.NowUnixNanos()).ok());
  EXPECT_EQ(Post("/v1/chat/completions", body, with_key).status, 401);
}

TEST_P(GatewayTest, RetriesTransientUpstreamFailuresAndChargesOnce) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20);
  HttpClientResponse r = Post("/v1/chat/completions", body,
                              {{"x-mock-fault", "fail-503"}, {"x-mock-fault-times", "2"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(mock_->request_count(), 3u);
  EXPECT_EQ(gateway_->stats().retries, 2u);
  Drain();
  EXPECT_EQ(Spent(), ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai"));
  EXPECT_EQ(Reserved(), Money());
}

TEST_P(GatewayTest, PersistentUpstreamErrorsAreRelayedAndReleaseTheReservation) {
  Start();
  AddBudget("daily", Money::FromNanos(1'000'000'000));
  for (const char* fault : {"fail-500", "fail-429", "fail-400"}) {
    HttpClientResponse r =
        Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20), {{"x-mock-fault", fault}});
    EXPECT_EQ(r.status, std::atoi(fault + 5)) << fault;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << r.body;
    EXPECT_TRUE(e.contains("error")) << r.body;
  }
  Drain();
  EXPECT_EQ(Spent(), Money());
  EXPECT_EQ(Reserved(), Money());
  // 500 and 429 were retried (1 + 3 attempts each); 400 was not.
  EXPECT_EQ(mock_->request_count(), 4u + 4u + 1u);
}

TEST_P(GatewayTest, ResetsMalformedAnswersAndTimeoutsGetClearErrors) {
  GatewayOptions options = BaseOptions();
  options.operation_timeout = absl::Milliseconds(300);
  options.retry_attempts = 0;
  Start(BaseConfig(), options);
  AddBudget("daily", Money::FromNanos(1'000'000'000));
  HttpClientResponse reset =
      Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20), {{"x-mock-fault", "reset"}});
  EXPECT_EQ(reset.status, 502) << reset.body;
  EXPECT_EQ(json::parse(reset.body)["error"]["code"], "genops_upstream_error");
  HttpClientResponse malformed = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20),
                                      {{"x-mock-fault", "malformed-json"}});
  EXPECT_EQ(malformed.status, 502);
  EXPECT_EQ(json::parse(malformed.body)["error"]["code"], "genops_upstream_malformed_response");
  HttpClientResponse slow = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20),
                                 {{"x-mock-fault", "slow"}, {"x-mock-delay-ms", "2000"}});
  EXPECT_EQ(slow.status, 504);
  EXPECT_EQ(json::parse(slow.body)["error"]["code"], "genops_upstream_timeout");
  Drain();
  EXPECT_EQ(Reserved(), Money()) << "every reservation was settled or released";
}

TEST_P(GatewayTest, TruncatedAndUsageLessStreamsAreStillMetered) {
  Start();
  HttpClientResponse cut = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20, true),
                                {{"x-mock-fault", "truncated-sse"}});
  ASSERT_EQ(cut.status, 200);
  EXPECT_NE(cut.body.find("genops_upstream_stream_truncated"), std::string::npos) << cut.body;
  Drain();
  const Money after_cut = Spent();
  EXPECT_GT(after_cut.nanos(), 0) << "the prompt was processed: the estimate is charged";
  HttpClientResponse no_usage = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20, true),
                                     {{"x-mock-fault", "no-usage-stream"}});
  ASSERT_EQ(no_usage.status, 200);
  EXPECT_NE(no_usage.body.find("[DONE]"), std::string::npos);
  Drain();
  EXPECT_GT(Spent().nanos(), after_cut.nanos());
  EXPECT_EQ(Reserved(), Money());
}

TEST_P(GatewayTest, CircuitBreakerOpensThenClosesAfterItsTimeout) {
  GatewayOptions options = BaseOptions();
  options.retry_attempts = 0;
  options.circuit_breaker_threshold = 2;
  options.circuit_breaker_timeout = absl::Seconds(30);
  Start(BaseConfig(), options);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(
        Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5), {{"x-mock-fault", "fail-503"}})
            .status,
        503);
  }
  HttpClientResponse open = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5));
  EXPECT_EQ(open.status, 503);
  EXPECT_EQ(json::parse(open.body)["error"]["code"], "genops_upstream_unavailable");
  EXPECT_EQ(mock_->request_count(), 2u) << "an open breaker sends nothing";
  clock_.Advance(31 * kNanosPerSecond);
  EXPECT_EQ(Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5)).status, 200);
  EXPECT_EQ(Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5)).status, 200);
  EXPECT_EQ(mock_->request_count(), 4u);
}

TEST_P(GatewayTest, FailsOverToTheNextEndpointWhenThePrimaryIsDown) {
  GatewayOptions options = BaseOptions();
  // A port nothing listens on: bind one, close it.
  int dead_port = 0;
  {
    auto probe = HttpServer::Start({.listen = "127.0.0.1:0"},
                                   [](HttpRequest, std::shared_ptr<HttpResponseWriter>) {});
    ASSERT_TRUE(probe.ok());
    dead_port = (*probe)->port();
    (*probe)->Shutdown(absl::ZeroDuration());
  }
  options.providers[0].base_url = "http://127.0.0.1:" + std::to_string(dead_port);
  options.providers[0].failover = {mock_->base_url()};
  Start(BaseConfig(), options);
  HttpClientResponse r = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(mock_->request_count(), 1u);
}

TEST_P(GatewayTest, TwoHundredClientsAgainstFiftyRequestsOfBudgetSpendExactlyTheLimit) {
  GatewayOptions options = BaseOptions();
  options.governance_workers = 8;
  Start(BaseConfig(), options);
  const std::string body = ChatBody("gpt-4o-mini", MockUpstream::kDefaultAnswerTokens);
  const Money one = ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai");
  AddBudget("fifty", Money::FromNanos(one.nanos() * 50));
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 200; ++i) {
    clients.emplace_back([&] {
      HttpClientResponse r = Post("/v1/chat/completions", body);
      if (r.status == 200) {
        ok.fetch_add(1);
      } else if (r.status == 402) {
        refused.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  Drain();
  EXPECT_EQ(ok.load(), 50);
  EXPECT_EQ(refused.load(), 150);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Spent(), Money::FromNanos(one.nanos() * 50));
  EXPECT_EQ(Reserved(), Money());
}

TEST_P(GatewayTest, ConcurrencyLimitAnswers429) {
  GatewayOptions options = BaseOptions();
  options.max_concurrent_operations = 1;
  Start(BaseConfig(), options);
  std::thread slow([&] {
    Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5), {{"x-mock-latency-ms", "800"}});
  });
  for (int i = 0; i < 100 && mock_->request_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  HttpClientResponse r = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "genops_concurrency_limit");
  slow.join();
}

// A chat completion request as raw HTTP/1.1 bytes, with the provider key and `extra_headers`
// (each line ending in \r\n), for tests that drive the socket themselves.
std::string RawChatRequest(std::string_view body, std::string_view extra_headers) {
  return Cat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
             kProviderKey, "\r\nContent-Type: application/json\r\n", extra_headers,
             "Content-Length: ", body.size(), "\r\n\r\n", body);
}

TEST_P(GatewayTest, ClientDisconnectMidStreamCancelsUpstreamAndChargesWhatWasProduced) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 200, true);
  testing::RawSocket socket(gateway_->port());
  ASSERT_TRUE(socket.connected());
  ASSERT_TRUE(socket.Send(
      RawChatRequest(body, "x-mock-output-tokens: 200\r\nx-mock-stream-chunk-ms: 20\r\n")));
  std::string received;
  while (received.find("delta") == std::string::npos) {
    auto some = socket.RecvSome();
    ASSERT_TRUE(some.has_value() && !some->empty());
    received += *some;
  }
  socket.Close();
  Drain();
  const Money full = ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai",
                                  {{"x-mock-output-tokens", "200"}});
  const Money spent = Spent();
  EXPECT_GT(spent.nanos(), 0) << "what was produced is charged";
  EXPECT_LT(spent.nanos(), full.nanos()) << "but not the answer that was never produced";
  EXPECT_EQ(Reserved(), Money());
  EXPECT_EQ(gateway_->stats().client_disconnects, 1u);
}

// A client that leaves before the answer: its upstream call is cancelled, the reservation
// released, and the counters say the client left, not that the provider failed.
TEST_P(GatewayTest, ClientGoneBeforeTheAnswerIsADisconnectNotAnUpstreamError) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20);
  testing::RawSocket socket(gateway_->port());
  ASSERT_TRUE(socket.connected());
  ASSERT_TRUE(socket.Send(RawChatRequest(body, "x-mock-latency-ms: 2000\r\n")));
  for (int i = 0; i < 200 && mock_->request_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(mock_->request_count(), 1u);
  socket.Close();
  Drain();
  EXPECT_EQ(Reserved(), Money());
  EXPECT_EQ(gateway_->stats().client_disconnects, 1u);
  EXPECT_EQ(gateway_->stats().upstream_errors, 0u);
}

TEST_P(GatewayTest, FirstStreamedByteArrivesBeforeTheUpstreamFinishes) {
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20, true);
  testing::RawSocket socket(gateway_->port(), absl::Seconds(10));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(socket.Send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
      "Authorization: Bearer " +
      std::string(kProviderKey) + "\r\nx-mock-stream-chunk-ms: 150\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body));
  std::string received;
  while (received.find("delta") == std::string::npos) {
    auto some = socket.RecvSome();
    ASSERT_TRUE(some.has_value() && !some->empty());
    received += *some;
  }
  const auto first = std::chrono::steady_clock::now() - start;
  while (received.find("[DONE]") == std::string::npos) {
    auto some = socket.RecvSome();
    ASSERT_TRUE(some.has_value() && !some->empty());
    received += *some;
  }
  const auto total = std::chrono::steady_clock::now() - start;
  // ~20 events 150 ms apart: the whole stream takes seconds, the first delta one interval.
  EXPECT_LT(first * 4, total);
}

TEST_P(GatewayTest, ProviderKeysNeverLeakAndOversizedRequestsAreRefused) {
  GatewayOptions options = BaseOptions();
  options.server.max_body_bytes = 64 * 1024;
  options.server.max_header_count = 50;
  options.allow_passthrough_keys = false;
  Start(BaseConfig(), options);
  auto key = CreateVirtualKey(*ledger_, {.attribution = {.team = "t", .project = "p"}},
                              clock_.NowUnixNanos());
  ASSERT_TRUE(key.ok());
  HttpHeaders auth = {{"authorization", "Bearer " + key->key}};
  std::vector<HttpClientResponse> responses;
  responses.push_back(Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5), auth));
  HttpHeaders fault = auth;
  fault.Set("x-mock-fault", "fail-400");
  responses.push_back(Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5), fault));
  responses.push_back(Post("/v1/chat/completions", "{not json", auth));
  for (const auto& r : responses) {
    EXPECT_EQ(r.body.find(kProviderKey), std::string::npos) << r.body;
    for (const auto& f : r.headers) EXPECT_EQ(f.value.find(kProviderKey), std::string::npos);
  }
  Drain();
  for (const auto& span : spans_->Snapshot()) {
    for (const auto& a : span.attributes) {
      if (const auto* s = std::get_if<std::string>(&a.value)) {
        EXPECT_EQ(s->find(kProviderKey), std::string::npos) << a.key;
        EXPECT_EQ(s->find(key->key), std::string::npos) << a.key;
      }
    }
  }
  // Oversized body: 413; header flood: 431.
  HttpClientResponse big = Post("/v1/chat/completions", std::string(100 * 1024, 'x'), auth);
  EXPECT_EQ(big.status, 413);
  HttpHeaders flood = auth;
  for (int i = 0; i < 80; ++i) flood.Add("x-flood-" + std::to_string(i), "1");
  HttpClientResponse flooded = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5), flood);
  EXPECT_EQ(flooded.status, 431);
}

TEST_P(GatewayTest, TraceparentMakesTheSpanAChildOfTheCallersTrace) {
  Start();
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  HttpClientResponse r = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 5),
                              {{"traceparent", "00-" + trace + "-00f067aa0ba902b7-01"}});
  ASSERT_EQ(r.status, 200);
  Drain();
  auto spans = spans_->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].trace_id.ToHex(), trace);
  EXPECT_EQ(spans[0].parent_span_id.ToHex(), "00f067aa0ba902b7");
  // The provider sees the gateway's span as its parent.
  auto requests = mock_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_NE(std::string(requests[0].headers.GetOr("traceparent", "")).find(trace),
            std::string::npos);
}

TEST_P(GatewayTest, HealthReadinessAndUnknownRoutes) {
  Start();
  auto get = [&](const std::string& method, const std::string& path) {
    HttpClientRequest r;
    r.method = method;
    r.url = gateway_->base_url() + path;
    auto resp = client_->SendSync(r);
    EXPECT_TRUE(resp.ok());
    return resp.ok() ? *resp : HttpClientResponse{};
  };
  EXPECT_EQ(get("GET", "/health").status, 200);
  EXPECT_EQ(get("GET", "/ready").status, 200);
  EXPECT_EQ(get("GET", "/v2/nothing").status, 404);
  EXPECT_EQ(get("GET", "/v1/chat/completions").status, 405);
  HttpClientResponse models = Post("/v1/models", "");
  EXPECT_EQ(models.status, 405);
  HttpClientRequest list;
  list.url = gateway_->base_url() + "/v1/models";
  list.headers.Set("authorization", std::string("Bearer ") + kProviderKey);
  auto listed = client_->SendSync(list);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->status, 200) << listed->body;
  EXPECT_NE(listed->body.find("gpt"), std::string::npos);
}

// A ledger that records the name of the thread each Reserve() and Settle() ran on, and can
// hold settlements (as a durable ledger's disk flush does) until released. Being no memory
// ledger, it counts as one that may block.
class ThreadRecordingLedger final : public ledger::Ledger {
 public:
  ThreadRecordingLedger() : inner_(ledger::NewMemoryLedger(nullptr)) {}

  // From now on Settle() waits until ReleaseSettlements().
  void HoldSettlements() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void ReleaseSettlements() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = false;
    }
    changed_.notify_all();
  }
  // Waits (up to 10 s) until `n` settlements are held; false on timeout.
  bool WaitForHeldSettlements(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return held_ >= n; });
  }

  std::vector<std::string> reserve_threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return reserve_threads_;
  }
  std::vector<std::string> settle_threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return settle_threads_;
  }

  absl::StatusOr<ledger::ReserveOutcome> Reserve(const ledger::ReserveRequest& r) override {
    Record(reserve_threads_);
    return inner_->Reserve(r);
  }
  absl::StatusOr<ledger::SettleOutcome> Settle(std::string_view id, Money actual,
                                               int64_t now) override {
    Record(settle_threads_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++held_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !hold_; });
      --held_;
    }
    return inner_->Settle(id, actual, now);
  }
  absl::StatusOr<ledger::SettleOutcome> Charge(std::string_view id, const Attribution& a,
                                               Money actual, int64_t now) override {
    return inner_->Charge(id, a, actual, now);
  }
  absl::Status Release(std::string_view id) override { return inner_->Release(id); }
  absl::StatusOr<int> ExpireReservations(int64_t now) override {
    return inner_->ExpireReservations(now);
  }
  absl::Status UpsertBudget(const ledger::BudgetSpec& spec) override {
    return inner_->UpsertBudget(spec);
  }
  absl::Status DeleteBudget(std::string_view name) override { return inner_->DeleteBudget(name); }
  absl::StatusOr<std::vector<ledger::BudgetStatus>> ListBudgets(int64_t now) override {
    return inner_->ListBudgets(now);
  }
  absl::Status CreateVirtualKey(const ledger::VirtualKey& key) override {
    return inner_->CreateVirtualKey(key);
  }
  absl::StatusOr<std::optional<ledger::VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    return inner_->FindVirtualKey(secret_sha256);
  }
  absl::StatusOr<std::vector<ledger::VirtualKey>> ListVirtualKeys() override {
    return inner_->ListVirtualKeys();
  }
  absl::Status RevokeVirtualKey(std::string_view id, int64_t now) override {
    return inner_->RevokeVirtualKey(id, now);
  }
  absl::StatusOr<Money> TotalSpent() override { return inner_->TotalSpent(); }
  absl::StatusOr<std::optional<ledger::OperationEntry>> LookupOperation(
      std::string_view id) override {
    return inner_->LookupOperation(id);
  }
  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    return inner_->AppendOperations(records);
  }
  absl::Status ScanOperations(const ledger::OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    return inner_->ScanOperations(query, visit);
  }
  absl::StatusOr<int64_t> PurgeOperations(int64_t before) override {
    return inner_->PurgeOperations(before);
  }

 private:
  void Record(std::vector<std::string>& into) {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    std::lock_guard<std::mutex> lock(mu_);
    into.push_back(name);
  }

  std::unique_ptr<ledger::Ledger> inner_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool hold_ = false;
  int held_ = 0;  // Settle() calls waiting on hold_
  std::vector<std::string> reserve_threads_;
  std::vector<std::string> settle_threads_;
};

// Where admission and settlement run, per mode: kAuto gives a ledger that may block (any
// but the memory store) the worker pools, so that an io thread never waits on it.
TEST_P(GatewayTest, GovernanceRunsOnTheThreadsItsModeNames) {
  auto recording = std::make_shared<ThreadRecordingLedger>();
  ledger_override_ = recording;
  Start();
  for (int i = 0; i < 3; ++i) {
    HttpClientResponse r = Post("/v1/chat/completions", ChatBody("gpt-4o-mini", 20));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  Drain();
  const bool io = GetParam().threads == GovernanceThreads::kIoThreads;
  const std::string admitting = io ? "gw-io-" : "gw-governan";
  const std::string settling = io ? "gw-io-" : "gw-settle";
  ASSERT_EQ(recording->reserve_threads().size(), 3u);
  for (const std::string& name : recording->reserve_threads()) {
    EXPECT_TRUE(name.starts_with(admitting)) << name;
  }
  ASSERT_EQ(recording->settle_threads().size(), 3u);
  for (const std::string& name : recording->settle_threads()) {
    EXPECT_TRUE(name.starts_with(settling)) << name;
  }
}

// Answered requests whose settlement waits on the ledger (a durable store's disk flush; under
// load hundreds queue up) keep their operation, but no longer their upstream call, whose
// buffers are most of an exchange's memory.
TEST_P(GatewayTest, AnsweredRequestsWaitingForTheirSettlementHoldNoUpstreamCall) {
  if (GetParam().threads == GovernanceThreads::kIoThreads) {
    GTEST_SKIP() << "settlement runs on the io loop in this mode; holding it would stall the loop";
  }
  auto ledger = std::make_shared<ThreadRecordingLedger>();
  ledger->HoldSettlements();
  struct ReleaseAtExit {
    ThreadRecordingLedger* ledger;
    ~ReleaseAtExit() { ledger->ReleaseSettlements(); }  // also when an assertion fails
  } release_at_exit{ledger.get()};
  ledger_override_ = ledger;
  Start();
  const std::string body = ChatBody("gpt-4o-mini", 20);
  for (int i = 0; i < 3; ++i) {
    HttpClientResponse r = Post("/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_TRUE(ledger->WaitForHeldSettlements(3));
  const GatewayStats held = gateway_->stats();
  EXPECT_EQ(held.in_flight, 3);        // the operations are not over yet...
  EXPECT_EQ(held.upstream_calls, 0u);  // ...but their upstream calls are freed
  ledger->ReleaseSettlements();
  Drain();
  EXPECT_EQ(Spent(), ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai") +
                         ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai") +
                         ExpectedCost("/v1/chat/completions", body, "gpt-4o-mini", "openai"));
  EXPECT_EQ(Reserved(), Money());
}

INSTANTIATE_TEST_SUITE_P(Modes, GatewayTest,
                         ::testing::Values(GatewayMode{GovernanceThreads::kIoThreads, false},
                                           GatewayMode{GovernanceThreads::kWorkers, false},
                                           GatewayMode{GovernanceThreads::kAuto, false},
                                           GatewayMode{GovernanceThreads::kAuto, true}),
                         [](const ::testing::TestParamInfo<GatewayMode>& param_info) {
                           if (param_info.param.leases) return std::string("LeasesOverSqlite");
                           switch (param_info.param.threads) {
                             case GovernanceThreads::kIoThreads:
                               return std::string("OnIoThreads");
                             case GovernanceThreads::kWorkers:
                               return std::string("OnWorkers");
                             case GovernanceThreads::kAuto:
                               break;
                           }
                           return std::string("Auto");
                         });

}  // namespace
}  // namespace genops::gateway
