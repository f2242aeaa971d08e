#include "src/gateway/mock_upstream.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "src/gateway/http_client.h"
#include "src/gateway/sse.h"
#include "tests/gateway/test_util.h"
#include "tests/support/subprocess.h"

namespace genops::gateway {
namespace {

using nlohmann::json;

class MockUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(MockUpstreamOptions options) {
    mock_.reset();
    auto mock = MockUpstream::Start(std::move(options));
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = *std::move(mock);
    auto client = HttpClient::Create({.proxy = ProxySettings{}});
    ASSERT_TRUE(client.ok());
    client_ = *std::move(client);
  }

  absl::StatusOr<HttpClientResponse> Post(std::string_view path, const json& body,
                                          HttpHeaders headers = {}) {
    return client_->SendSync({.method = "POST",
                              .url = Cat(mock_->base_url(), path),
                              .headers = std::move(headers),
                              .body = body.dump()});
  }

  json PostJson(std::string_view path, const json& body, HttpHeaders headers = {},
                int expected_status = 200) {
    auto r = Post(path, body, std::move(headers));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, expected_status) << r->body;
    return json::parse(r->body, nullptr, false);
  }

  struct Stream {
    absl::Status status;  // of the HTTP exchange
    std::string content_type;
    std::vector<SseEvent> events;
    bool partial = false;
    std::string raw;
  };

  Stream PostStream(std::string_view path, const json& body, HttpHeaders headers = {}) {
    Stream s;
    auto r = Post(path, body, std::move(headers));
    if (!r.ok()) {
      s.status = r.status();
      return s;
    }
    EXPECT_EQ(r->status, 200) << r->body;
    s.content_type = std::string(r->headers.GetOr("content-type", ""));
    s.raw = r->body;
    SseParser parser;
    EXPECT_TRUE(parser.Feed(r->body, &s.events).ok());
    s.partial = parser.HasPartialBlock();
    return s;
  }

  std::unique_ptr<MockUpstream> mock_;
  std::unique_ptr<HttpClient> client_;
};

json ChatRequest(std::string_view text, bool stream = false) {
  json r = {{"model", "gpt-4o-mini"},
            {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
  if (stream) r["stream"] = true;
  return r;
}

// --- Usage rules ---------------------------------------------------------------------------

TEST(MockUsageTest, Rules) {
  EXPECT_EQ(MockUpstream::TokensForText(""), 1);
  EXPECT_EQ(MockUpstream::TokensForText("abcd"), 1);
  EXPECT_EQ(MockUpstream::TokensForText("abcde"), 2);
  EXPECT_EQ(MockUpstream::AnswerText(3), "This is a");
  EXPECT_EQ(MockUpstream::AnswerText(13),
            "This is a deterministic answer from the GenOps mock "
            "upstream for testing This");
  // 5 + 13 bytes of text in two messages, one as content parts: ceil(18 / 4) = 5.
  json chat = {
      {"model", "m"},
      {"max_tokens", 20},
      {"messages",
       json::array({{{"role", "system"}, {"content", "Be ok"}},
                    {{"role", "user"},
                     {"content", json::array({{{"type", "text"}, {"text", "Hello, world!"}}})}}})}};
  auto u = MockUpstream::ExpectedUsage("/v1/chat/completions", chat.dump());
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->input_tokens, 5);
  EXPECT_EQ(u->output_tokens, 12);
  EXPECT_FALSE(u->truncated);
  chat["max_completion_tokens"] = 4;  // wins over max_tokens
  u = MockUpstream::ExpectedUsage(
      "/v1/chat/completions", chat.dump(),
      {{"x-mock-reasoning-tokens", "7"}, {"x-mock-cached-tokens", "99"}});
  EXPECT_EQ(u->output_tokens, 4 + 7);
  EXPECT_EQ(u->reasoning_tokens, 7);
  EXPECT_EQ(u->cache_read_tokens, 5);  // capped at the prompt
  EXPECT_TRUE(u->truncated);
  // Token arrays count one per integer.
  json embed = {{"model", "e"}, {"input", json::array({1, 2, 3, 4, 5, 6})}};
  EXPECT_EQ(MockUpstream::ExpectedUsage("/v1/embeddings", embed.dump())->input_tokens, 6);
  EXPECT_EQ(MockUpstream::ExpectedUsage("/v1/nope", "{}").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(MockUpstream::ExpectedUsage("/v1/embeddings", "[").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- OpenAI chat ---------------------------------------------------------------------------

TEST_F(MockUpstreamTest, ChatCompletion) {
  json body = ChatRequest("Hello, world!");  // 13 bytes -> 4 tokens
  json r = PostJson("/v1/chat/completions", body, {{"Authorization", "Bearer sk-test"}});
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["model"], "gpt-4o-mini");
  EXPECT_EQ(r["choices"][0]["message"]["content"], MockUpstream::AnswerText(12));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(r["usage"]["completion_tokens"], 12);
  EXPECT_EQ(r["usage"]["total_tokens"], 16);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  auto recorded = mock_->requests();
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].path, "/v1/chat/completions");
  EXPECT_EQ(recorded[0].headers.GetOr("authorization", ""), "Bearer sk-test");
  EXPECT_EQ(json::parse(recorded[0].body), body);
}

TEST_F(MockUpstreamTest, ChatCompletionLimitsAndExtraTokens) {
  json body = ChatRequest("12345678");
  body["max_tokens"] = 5;
  json r = PostJson("/v1/chat/completions", body,
                    {{"x-mock-cached-tokens", "1"}, {"x-mock-reasoning-tokens", "3"}});
  EXPECT_EQ(r["choices"][0]["message"]["content"], "This is a deterministic answer");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(r["usage"]["completion_tokens"], 8);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
  EXPECT_EQ(r["usage"]["completion_tokens_details"]["reasoning_tokens"], 3);
  json longer =
      PostJson("/v1/chat/completions", ChatRequest("x"), {{"x-mock-output-tokens", "30"}});
  EXPECT_EQ(longer["usage"]["completion_tokens"], 30);
}

TEST_F(MockUpstreamTest, ChatStreamWithoutUsage) {
  Stream s = PostStream("/v1/chat/completions", ChatRequest("Hi", true));
  ASSERT_TRUE(s.status.ok()) << s.status;
  EXPECT_EQ(s.content_type, "text/event-stream; charset=utf-8");
  ASSERT_EQ(s.events.size(), 1u + 12u + 1u + 1u);  // role, tokens, finish, [DONE]
  std::string content;
  for (size_t i = 0; i + 1 < s.events.size(); ++i) {
    json chunk = json::parse(s.events[i].data);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_FALSE(chunk.contains("usage"));
    content += chunk["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(content, MockUpstream::AnswerText(12));
  EXPECT_EQ(json::parse(s.events[13].data)["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(s.events.back().data, "[DONE]");
}

TEST_F(MockUpstreamTest, ChatStreamWithUsage) {
  json body = ChatRequest("Hello, world!", true);
  body["stream_options"] = {{"include_usage", true}};
  body["max_tokens"] = 3;
  Stream s = PostStream("/v1/chat/completions", body);
  ASSERT_EQ(s.events.size(), 1u + 3u + 1u + 1u + 1u);
  for (size_t i = 0; i < 5; ++i) {
    json chunk = json::parse(s.events[i].data);
    ASSERT_TRUE(chunk.contains("usage"));
    EXPECT_TRUE(chunk["usage"].is_null());
  }
  json usage_chunk = json::parse(s.events[5].data);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 3);
  EXPECT_EQ(usage_chunk["usage"]["total_tokens"], 7);
  EXPECT_EQ(s.events[6].data, "[DONE]");
}

// --- Other OpenAI routes -------------------------------------------------------------------

TEST_F(MockUpstreamTest, Completions) {
  json body = {{"model", "gpt-3.5-turbo-instruct"}, {"prompt", "Say hi"}, {"max_tokens", 2}};
  json r = PostJson("/v1/completions", body);
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["text"], "This is");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"],
            json({{"prompt_tokens", 2}, {"completion_tokens", 2}, {"total_tokens", 4}}));
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  Stream s = PostStream("/v1/completions", body);
  ASSERT_EQ(s.events.size(), 2u + 1u + 1u + 1u);
  EXPECT_EQ(json::parse(s.events[0].data)["choices"][0]["text"], "This");
  EXPECT_EQ(json::parse(s.events[3].data)["usage"]["completion_tokens"], 2);
  EXPECT_EQ(s.events[4].data, "[DONE]");
}

TEST_F(MockUpstreamTest, Embeddings) {
  json body = {{"model", "text-embedding-3-small"},
               {"input", json::array({"first text", "second"})},
               {"dimensions", 4}};
  json r = PostJson("/v1/embeddings", body);
  ASSERT_EQ(r["data"].size(), 2u);
  EXPECT_EQ(r["data"][1]["index"], 1);
  EXPECT_EQ(r["data"][0]["embedding"].size(), 4u);
  EXPECT_EQ(r["usage"], json({{"prompt_tokens", 4}, {"total_tokens", 4}}));  // ceil(16 / 4)
  body["encoding_format"] = "base64";
  json b = PostJson("/v1/embeddings", body);
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(b["data"][0]["embedding"].get<std::string>(), &bytes));
  ASSERT_EQ(bytes.size(), 16u);
  float first;
  std::memcpy(&first, bytes.data(), sizeof(float));
  EXPECT_EQ(first, r["data"][0]["embedding"][0].get<float>());
}

TEST_F(MockUpstreamTest, Responses) {
  json body = {
      {"model", "gpt-4o"},
      {"instructions", "Be brief"},  // 8 bytes
      {"input",
       json::array({{{"role", "user"},
                     {"content", json::array({{{"type", "input_text"}, {"text", "Tell me"}}})}}})}};
  json r = PostJson("/v1/responses", body, {{"x-mock-reasoning-tokens", "2"}});
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["output"][0]["content"][0]["text"], MockUpstream::AnswerText(12));
  EXPECT_EQ(r["usage"]["input_tokens"], 4);  // ceil(15 / 4)
  EXPECT_EQ(r["usage"]["output_tokens"], 14);
  EXPECT_EQ(r["usage"]["output_tokens_details"]["reasoning_tokens"], 2);
  EXPECT_EQ(r["usage"]["total_tokens"], 18);
  body["stream"] = true;
  body["max_output_tokens"] = 2;
  Stream s = PostStream("/v1/responses", body);
  std::vector<std::string> types;
  for (const SseEvent& e : s.events) {
    types.push_back(e.type);
    EXPECT_EQ(json::parse(e.data)["type"], e.type);
  }
  EXPECT_EQ(types,
            (std::vector<std::string>{"response.created", "response.in_progress",
                                      "response.output_item.added", "response.content_part.added",
                                      "response.output_text.delta", "response.output_text.delta",
                                      "response.output_text.done", "response.content_part.done",
                                      "response.output_item.done", "response.incomplete"}));
  json last = json::parse(s.events.back().data);
  EXPECT_EQ(last["response"]["usage"]["output_tokens"], 2);
  EXPECT_EQ(last["response"]["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(last["sequence_number"], 9);
}

TEST_F(MockUpstreamTest, Models) {
  auto openai = client_->SendSync({.url = mock_->base_url() + "/v1/models"});
  ASSERT_TRUE(openai.ok());
  json list = json::parse(openai->body);
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "gpt-4o");
  auto anthropic = client_->SendSync(
      {.url = mock_->base_url() + "/v1/models", .headers = {{"anthropic-version", "2023-06-01"}}});
  ASSERT_TRUE(anthropic.ok());
  EXPECT_EQ(json::parse(anthropic->body)["data"][0]["type"], "model");
}

// --- Anthropic -----------------------------------------------------------------------------

json MessagesRequest(bool stream = false) {
  json r = {{"model", "claude-3-5-sonnet-20241022"},
            {"max_tokens", 1024},
            {"system", json::array({{{"type", "text"}, {"text", "You are terse."}}})},     // 14
            {"messages", json::array({{{"role", "user"}, {"content", "Hello there"}}})}};  // 11
  if (stream) r["stream"] = true;
  return r;
}

TEST_F(MockUpstreamTest, AnthropicMessage) {
  json r = PostJson("/v1/messages", MessagesRequest(),
                    {{"x-api-key", "k"},
                     {"anthropic-version", "2023-06-01"},
                     {"x-mock-cached-tokens", "100"},
                     {"x-mock-cache-write-tokens", "50"}});
  EXPECT_EQ(r["type"], "message");
  EXPECT_EQ(r["content"][0]["text"], MockUpstream::AnswerText(12));
  EXPECT_EQ(r["stop_reason"], "end_turn");
  EXPECT_EQ(r["usage"], json({{"input_tokens", 7},  // ceil(25 / 4)
                              {"cache_creation_input_tokens", 50},
                              {"cache_read_input_tokens", 100},
                              {"output_tokens", 12}}));
}

TEST_F(MockUpstreamTest, AnthropicStream) {
  json body = MessagesRequest(true);
  body["max_tokens"] = 2;
  Stream s = PostStream("/v1/messages", body);
  std::vector<std::string> types;
  for (const SseEvent& e : s.events) types.push_back(e.type);
  EXPECT_EQ(types,
            (std::vector<std::string>{"message_start", "content_block_start", "ping",
                                      "content_block_delta", "content_block_delta",
                                      "content_block_stop", "message_delta", "message_stop"}));
  json start = json::parse(s.events[0].data);
  EXPECT_EQ(start["message"]["usage"]["input_tokens"], 7);
  EXPECT_EQ(start["message"]["usage"]["output_tokens"], 1);  // placeholder, as Anthropic does
  EXPECT_EQ(json::parse(s.events[4].data)["delta"]["text"], " is");
  json delta = json::parse(s.events[6].data);
  EXPECT_EQ(delta["usage"]["output_tokens"], 2);
  EXPECT_EQ(delta["delta"]["stop_reason"], "max_tokens");
}

// --- Request errors ------------------------------------------------------------------------

TEST_F(MockUpstreamTest, RequestErrorsUseTheProviderShape) {
  auto missing = Post("/v1/messages", {{"model", "claude"}, {"messages", json::array()}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 400);
  json error = json::parse(missing->body);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["error"]["type"], "invalid_request_error");

  auto bad_json = client_->SendSync(
      {.method = "POST", .url = mock_->base_url() + "/v1/chat/completions", .body = "{nope"});
  ASSERT_TRUE(bad_json.ok());
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_EQ(json::parse(bad_json->body)["error"]["type"], "invalid_request_error");

  auto unknown = Post("/v2/other", json::object());
  EXPECT_EQ(unknown->status, 404);
  auto wrong_method = client_->SendSync({.url = mock_->base_url() + "/v1/chat/completions"});
  EXPECT_EQ(wrong_method->status, 405);
  auto bad_fault = Post("/v1/chat/completions", ChatRequest("x"), {{"x-mock-fault", "explode"}});
  EXPECT_EQ(bad_fault->status, 400);
  EXPECT_NE(bad_fault->body.find("unknown x-mock-fault"), std::string::npos);
}

TEST_F(MockUpstreamTest, ApiKeyIsChecked) {
  Start({.api_key = "sk-right"});
  auto none = Post("/v1/chat/completions", ChatRequest("x"));
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["code"], "invalid_api_key");
  auto wrong = Post("/v1/messages", MessagesRequest(), {{"x-api-key", "sk-wrong"}});
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(json::parse(wrong->body)["error"]["type"], "authentication_error");
  EXPECT_EQ(Post("/v1/chat/completions", ChatRequest("x"), {{"Authorization", "Bearer sk-right"}})
                ->status,
            200);
  EXPECT_EQ(Post("/v1/messages", MessagesRequest(), {{"x-api-key", "sk-right"}})->status, 200);
}

// --- Faults --------------------------------------------------------------------------------

TEST_F(MockUpstreamTest, FailStatusesByModelOrHeader) {
  json body = ChatRequest("x");
  body["model"] = "fail-500";
  auto by_model = Post("/v1/chat/completions", body);
  EXPECT_EQ(by_model->status, 500);
  EXPECT_EQ(json::parse(by_model->body)["error"]["type"], "server_error");
  auto rate = Post("/v1/chat/completions", ChatRequest("x"),
                   {{"x-mock-fault", "fail-429"}, {"x-mock-retry-after", "7"}});
  EXPECT_EQ(rate->status, 429);
  EXPECT_EQ(rate->headers.GetOr("retry-after", ""), "7");
  EXPECT_EQ(json::parse(rate->body)["error"]["code"], "rate_limit_exceeded");
  json anthropic = MessagesRequest();
  anthropic["model"] = "fail-529";
  auto overloaded = Post("/v1/messages", anthropic);
  EXPECT_EQ(overloaded->status, 529);
  EXPECT_EQ(json::parse(overloaded->body)["error"]["type"], "overloaded_error");
}

TEST_F(MockUpstreamTest, FaultTimesThenSuccess) {
  HttpHeaders h{
      {"x-mock-fault", "fail-503"}, {"x-mock-fault-times", "2"}, {"x-mock-fault-key", "a"}};
  EXPECT_EQ(Post("/v1/chat/completions", ChatRequest("x"), h)->status, 503);
  EXPECT_EQ(Post("/v1/chat/completions", ChatRequest("x"), h)->status, 503);
  EXPECT_EQ(Post("/v1/chat/completions", ChatRequest("x"), h)->status, 200);
  h.Set("x-mock-fault-key", "b");  // a separate counter
  EXPECT_EQ(Post("/v1/chat/completions", ChatRequest("x"), h)->status, 503);
}

TEST_F(MockUpstreamTest, SlowFaultTriggersAClientTimeout) {
  json body = ChatRequest("x");
  body["model"] = "slow";
  auto r = client_->SendSync({.method = "POST",
                              .url = mock_->base_url() + "/v1/chat/completions",
                              .headers = {{"x-mock-delay-ms", "2000"}},
                              .body = body.dump(),
                              .response_timeout = absl::Milliseconds(100)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(GetHttpErrorInfo(r.status())->kind, HttpErrorKind::kTimeout);
  absl::Time start = absl::Now();
  auto ok = Post("/v1/chat/completions", body, {{"x-mock-delay-ms", "150"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
}

TEST_F(MockUpstreamTest, ResetFault) {
  for (bool stream : {false, true}) {
    auto r = Post("/v1/chat/completions", ChatRequest("x", stream), {{"x-mock-fault", "reset"}});
    ASSERT_FALSE(r.ok()) << stream;
    HttpErrorInfo info = *GetHttpErrorInfo(r.status());
    EXPECT_EQ(info.kind, HttpErrorKind::kConnectionReset) << r.status();
    EXPECT_TRUE(info.response_started);
  }
}

TEST_F(MockUpstreamTest, MalformedJsonFault) {
  auto r = Post("/v1/chat/completions", ChatRequest("x"), {{"x-mock-fault", "malformed-json"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(json::parse(r->body, nullptr, false).is_discarded());
  Stream s = PostStream("/v1/chat/completions", ChatRequest("x", true),
                        {{"x-mock-fault", "malformed-json"}});
  int broken = 0;
  for (const SseEvent& e : s.events) {
    if (e.data != "[DONE]" && json::parse(e.data, nullptr, false).is_discarded()) ++broken;
  }
  EXPECT_EQ(broken, 1);
  EXPECT_EQ(s.events.back().data, "[DONE]");
}

TEST_F(MockUpstreamTest, TruncatedSseFault) {
  json body = ChatRequest("x", true);
  body["stream_options"] = {{"include_usage", true}};
  Stream s = PostStream("/v1/chat/completions", body, {{"x-mock-fault", "truncated-sse"}});
  ASSERT_TRUE(s.status.ok()) << s.status;  // a clean end at the HTTP level
  EXPECT_TRUE(s.partial);
  for (const SseEvent& e : s.events) {
    EXPECT_NE(e.data, "[DONE]");
    EXPECT_EQ(json::parse(e.data).value("usage", json()), json());
  }
  Stream a = PostStream("/v1/messages", MessagesRequest(true), {{"x-mock-fault", "truncated-sse"}});
  EXPECT_TRUE(a.partial);
  EXPECT_NE(a.events.back().type, "message_stop");
}

TEST_F(MockUpstreamTest, NoUsageFault) {
  json body = ChatRequest("x", true);
  body["stream_options"] = {{"include_usage", true}};
  Stream s = PostStream("/v1/chat/completions", body, {{"x-mock-fault", "no-usage-stream"}});
  EXPECT_EQ(s.events.size(), 1u + 12u + 1u + 1u);  // no usage chunk
  EXPECT_EQ(s.events.back().data, "[DONE]");
  Stream a =
      PostStream("/v1/messages", MessagesRequest(true), {{"x-mock-fault", "no-usage-stream"}});
  for (const SseEvent& e : a.events) EXPECT_EQ(e.data.find("usage"), std::string::npos) << e.data;
  json whole = PostJson("/v1/messages", MessagesRequest(), {{"x-mock-fault", "no-usage-stream"}});
  EXPECT_FALSE(whole.contains("usage"));
}

TEST_F(MockUpstreamTest, LatencyAndChunkInterval) {
  Start({.latency = absl::Milliseconds(100), .stream_chunk_interval = absl::Milliseconds(20)});
  absl::Time start = absl::Now();
  json body = ChatRequest("x", true);
  body["max_tokens"] = 3;  // 6 events: 5 gaps of 20 ms after 100 ms
  Stream s = PostStream("/v1/chat/completions", body);
  EXPECT_EQ(s.events.size(), 6u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  start = absl::Now();
  Stream fast = PostStream("/v1/chat/completions", body,
                           {{"x-mock-latency-ms", "0"}, {"x-mock-stream-chunk-ms", "0"}});
  EXPECT_EQ(fast.events.size(), 6u);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
}

TEST_F(MockUpstreamTest, ServesTls) {
  testing::TempDir dir;
  auto certs = testing::MakeTestCerts(dir.path(), "DNS:localhost,IP:127.0.0.1");
  ASSERT_TRUE(certs.ok()) << certs.status();
  Start({.tls_cert_file = certs->server_cert, .tls_key_file = certs->server_key});
  EXPECT_EQ(mock_->base_url().substr(0, 8), "https://");
  auto client = HttpClient::Create(
      {.use_system_ca = false, .ca_file = certs->ca_cert, .proxy = ProxySettings{}});
  ASSERT_TRUE(client.ok());
  auto r = (*client)->SendSync({.method = "POST",
                                .url = mock_->base_url() + "/v1/chat/completions",
                                .body = ChatRequest("x").dump()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

// --- The command ---------------------------------------------------------------------------

TEST(MockUpstreamCommandTest, ServesUntilSigterm) {
  testing::TempDir dir;
  std::string help_path = dir.path() + "/help.txt";
  {
    auto help =
        genops::testing::Subprocess::Start({GENOPS_CLI_PATH, "mock-upstream", "--help"},
                                           {.stdout_path = help_path, .stderr_path = help_path});
    ASSERT_TRUE(help.ok());
    EXPECT_EQ((*help)->Wait(), 0);
  }
  std::string help = genops::testing::ReadWholeFile(help_path);
  if (help.find("mock-upstream") == std::string::npos) {
    GTEST_SKIP() << "`genops mock-upstream` is not registered in this build";
  }
  EXPECT_NE(help.find("truncated-sse"), std::string::npos);
  EXPECT_NE(help.find("--stream-chunk-ms"), std::string::npos);
  std::string out = dir.path() + "/out.txt";
  auto process = genops::testing::Subprocess::Start(
      {GENOPS_CLI_PATH, "mock-upstream", "--listen", "127.0.0.1:0", "--latency-ms", "1"},
      {.stdout_path = out, .stderr_path = dir.path() + "/err.txt"});
  ASSERT_TRUE(process.ok());
  std::string line;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (line.find('\n') == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    line = genops::testing::ReadWholeFile(out);
  }
  std::string prefix = "genops mock-upstream listening on ";
  ASSERT_EQ(line.substr(0, prefix.size()), prefix) << line;
  std::string base = line.substr(prefix.size(), line.find('\n') - prefix.size());
  auto client = HttpClient::Create({.proxy = ProxySettings{}});
  auto r = (*client)->SendSync(
      {.method = "POST", .url = base + "/v1/chat/completions", .body = ChatRequest("x").dump()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 12);
  EXPECT_EQ((*process)->Kill(SIGTERM), 0);
}

}  // namespace
}  // namespace genops::gateway
