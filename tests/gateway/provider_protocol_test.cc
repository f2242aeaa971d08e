#include "src/gateway/provider_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "src/core/text.h"
#include "src/core/usage_parser.h"
#include "src/gateway/http_client.h"
#include "src/gateway/mock_upstream.h"

namespace genops::gateway {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

RouteInfo RouteOf(Route route) {
  switch (route) {
    case Route::kModels:
      return *MatchRoute("GET", RoutePath(route));
    default:
      return *MatchRoute("POST", RoutePath(route));
  }
}

// --- Routes --------------------------------------------------------------------------------------

TEST(MatchRouteTest, EveryRoute) {
  struct Case {
    std::string_view method, path;
    Route route;
    ApiFamily family;
    std::string_view name, type;
    bool metered;
  };
  const Case cases[] = {
      {"POST", "/v1/chat/completions", Route::kChatCompletions, ApiFamily::kOpenAI, "chat",
       "chat_completion", true},
      {"POST", "/v1/completions", Route::kCompletions, ApiFamily::kOpenAI, "text_completion",
       "completion", true},
      {"POST", "/v1/embeddings", Route::kEmbeddings, ApiFamily::kOpenAI, "embeddings", "embedding",
       true},
      {"POST", "/v1/responses", Route::kResponses, ApiFamily::kOpenAI, "chat", "response", true},
      {"POST", "/v1/messages", Route::kMessages, ApiFamily::kAnthropic, "chat", "message", true},
      {"GET", "/v1/models", Route::kModels, ApiFamily::kOpenAI, "models", "list_models", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    std::optional<RouteInfo> info = MatchRoute(c.method, c.path);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->route, c.route);
    EXPECT_EQ(info->family, c.family);
    EXPECT_EQ(info->operation_name, c.name);
    EXPECT_EQ(info->operation_type, c.type);
    EXPECT_EQ(info->metered, c.metered);
    EXPECT_TRUE(IsKnownPath(c.path));
    EXPECT_EQ(RoutePath(c.route), c.path);
    // The other method on the same path is not a route (the gateway answers 405).
    EXPECT_FALSE(MatchRoute(c.method == "GET" ? "POST" : "GET", c.path).has_value());
  }
}

TEST(MatchRouteTest, OnlyExactV1Paths) {
  for (std::string_view path :
       {"/chat/completions", "/v1/chat/completions/", "/v2/messages", "/v1/chat",
        "/v1/models/gpt-4o", "", "/", "/V1/messages", "/v1/messages?beta=true"}) {
    SCOPED_TRACE(path);
    EXPECT_FALSE(MatchRoute("POST", path).has_value());
    EXPECT_FALSE(MatchRoute("GET", path).has_value());
    EXPECT_FALSE(IsKnownPath(path));
  }
  EXPECT_FALSE(MatchRoute("post", "/v1/messages").has_value());
  EXPECT_FALSE(MatchRoute("PUT", "/v1/messages").has_value());
  EXPECT_FALSE(MatchRoute("HEAD", "/v1/models").has_value());
}

TEST(UsageParserProviderTest, Names) {
  EXPECT_EQ(UsageParserProvider(ApiFamily::kOpenAI), "openai");
  EXPECT_EQ(UsageParserProvider(ApiFamily::kAnthropic), "anthropic");
  EXPECT_TRUE(ParseProviderResponse(UsageParserProvider(ApiFamily::kAnthropic),
                                    R"({"usage":{"input_tokens":1,"output_tokens":2}})")
                  .ok());
}

// --- InspectRequest: what a request asks for
// -------------------------------------------------------

InspectedRequest Inspect(Route route, std::string_view body) {
  absl::StatusOr<InspectedRequest> r = InspectRequest(RouteOf(route), body);
  EXPECT_TRUE(r.ok()) << r.status() << " for " << body;
  return r.ok() ? *std::move(r) : InspectedRequest();
}

TEST(InspectRequestTest, ChatFields) {
  std::string body =
      R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there"}],)"
      R"("max_tokens":200,"temperature":0.2})";
  InspectedRequest r = Inspect(Route::kChatCompletions, body);
  EXPECT_EQ(r.model, "gpt-4o-mini");
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.max_output_tokens, 200);
  EXPECT_EQ(r.completion_count, 1);
  EXPECT_EQ(r.estimated_input_tokens, 3);  // 11 bytes
  EXPECT_EQ(r.forward_body, body);
  EXPECT_FALSE(r.body_rewritten);
  EXPECT_FALSE(r.client_requested_stream_usage);
}

TEST(InspectRequestTest, MaxCompletionTokensWinsOverMaxTokensInEitherOrder) {
  EXPECT_EQ(Inspect(Route::kChatCompletions,
                    R"({"model":"m","messages":[],"max_tokens":10,"max_completion_tokens":30})")
                .max_output_tokens,
            30);
  EXPECT_EQ(Inspect(Route::kChatCompletions,
                    R"({"model":"m","max_completion_tokens":30,"messages":[],"max_tokens":10})")
                .max_output_tokens,
            30);
  EXPECT_EQ(Inspect(Route::kChatCompletions,
                    R"({"model":"m","messages":[],"max_completion_tokens":null,"max_tokens":7})")
                .max_output_tokens,
            7);
  EXPECT_FALSE(
      Inspect(Route::kChatCompletions, R"({"model":"m","messages":[]})").max_output_tokens);
}

TEST(InspectRequestTest, LimitsPerRoute) {
  InspectedRequest completions = Inspect(
      Route::kCompletions, R"({"model":"m","prompt":"abc","max_tokens":5,"n":2,"best_of":4})");
  EXPECT_EQ(completions.max_output_tokens, 5);
  EXPECT_EQ(completions.completion_count, 4);
  EXPECT_EQ(
      Inspect(Route::kChatCompletions, R"({"model":"m","messages":[],"n":3})").completion_count, 3);
  // Responses reads max_output_tokens only; max_tokens is not a Responses field.
  EXPECT_EQ(Inspect(Route::kResponses, R"({"model":"m","input":"x","max_output_tokens":64})")
                .max_output_tokens,
            64);
  EXPECT_FALSE(Inspect(Route::kResponses, R"({"model":"m","input":"x","max_tokens":64})")
                   .max_output_tokens.has_value());
  EXPECT_EQ(Inspect(Route::kMessages, R"({"model":"c","max_tokens":1024,"messages":[]})")
                .max_output_tokens,
            1024);
  EXPECT_EQ(
      Inspect(Route::kMessages, R"({"model":"c","max_tokens":0,"messages":[]})").max_output_tokens,
      0);
  InspectedRequest embeddings =
      Inspect(Route::kEmbeddings, R"({"model":"text-embedding-3-small","input":"abcdefgh"})");
  EXPECT_EQ(embeddings.estimated_input_tokens, 2);
  EXPECT_FALSE(embeddings.max_output_tokens.has_value());
  EXPECT_EQ(Inspect(Route::kChatCompletions,
                    Cat(R"({"model":"m","messages":[],"max_tokens":)", kMaxOutputTokenLimit, "}"))
                .max_output_tokens,
            kMaxOutputTokenLimit);
}

TEST(InspectRequestTest, StreamFlagPerRoute) {
  EXPECT_TRUE(Inspect(Route::kResponses, R"({"model":"m","input":"x","stream":true})").stream);
  EXPECT_TRUE(
      Inspect(Route::kMessages, R"({"model":"c","max_tokens":1,"messages":[],"stream":true})")
          .stream);
  EXPECT_FALSE(
      Inspect(Route::kChatCompletions, R"({"model":"m","messages":[],"stream":null})").stream);
  // Embeddings never stream; the field is not read there.
  EXPECT_FALSE(Inspect(Route::kEmbeddings, R"({"model":"m","input":"x","stream":"yes"})").stream);
}

TEST(InspectRequestTest, ModelsRouteIsNotParsed) {
  InspectedRequest r = Inspect(Route::kModels, "");
  EXPECT_EQ(r.forward_body, "");
  EXPECT_EQ(r.estimated_input_tokens, 0);
  EXPECT_EQ(Inspect(Route::kModels, "not json").forward_body, "not json");
}

TEST(InspectRequestTest, UnknownFieldsAndPreciseNumbersPassUntouched) {
  std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"x_big":1e400,)"
      R"("x_precise":0.1000000000000000055511151231257827,)"
      R"("x_huge":123456789012345678901234567890,"x_neg":-0.0e-7,"x_obj":{"a":[true,false,null]}})";
  InspectedRequest r = Inspect(Route::kChatCompletions, body);
  EXPECT_EQ(r.forward_body, body);
}

// The estimate follows the mock's rule exactly, whatever the shape of the text.
TEST(InspectRequestTest, EstimateMatchesMockUpstream) {
  struct Case {
    Route route;
    std::string body;
  };
  const std::vector<Case> cases = {
      {Route::kChatCompletions, R"({"model":"m","messages":[]})"},
      {Route::kChatCompletions,
       R"({"model":"m","messages":[{"role":"system","content":"You are terse."},)"
       R"({"role":"user","content":[{"type":"text","text":"Describe"},)"
       R"({"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]})"},
      {Route::kChatCompletions, R"({"model":"m","messages":[{"role":"user",)"
                                R"("content":"caf\u00e9 \ud83d\ude00 \"q\" \\ \n"}]})"},
      {Route::kChatCompletions,
       R"({"model":"m","messages":["not an object",{"role":"user"},{"content":null},)"
       R"({"content":{"text":5,"content":[1,2,"abc"]}}]})"},
      {Route::kCompletions, R"({"model":"m","prompt":"Once upon a time"})"},
      {Route::kCompletions, R"({"model":"m","prompt":[1,2,3,4,5,6,7,8,9]})"},
      {Route::kCompletions, R"({"model":"m","prompt":[[1,2],[3],"text",-4,1.5,1e2]})"},
      {Route::kCompletions, R"({"model":"m","prompt":[123456789012345678901234567890,)"
                            R"(18446744073709551615,-9223372036854775808]})"},
      {Route::kEmbeddings, R"({"model":"m","input":["first text","second, longer text"]})"},
      {Route::kEmbeddings, R"({"model":"m","input":[[101,102,103],[104]]})"},
      {Route::kResponses, R"({"model":"m","instructions":"Be brief.","input":"What is 2+2?"})"},
      {Route::kResponses,
       R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]},)"
       R"({"type":"message","role":"assistant","content":"Hello!"}]})"},
      {Route::kMessages,
       R"({"model":"c","max_tokens":5,"system":"Be kind.","messages":[{"role":"user",)"
       R"("content":"Hello, Claude"}]})"},
      {Route::kMessages,
       R"({"model":"c","max_tokens":5,"system":[{"type":"text","text":"Sys prompt"}],)"
       R"("messages":[{"role":"user","content":[{"type":"text","text":"One"},{"type":)"
       R"("tool_result","tool_use_id":"t","content":[{"type":"text","text":"42"}]}]}]})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    InspectedRequest r = Inspect(c.route, c.body);
    absl::StatusOr<MockUsage> mock = MockUpstream::ExpectedUsage(RoutePath(c.route), c.body);
    ASSERT_TRUE(mock.ok()) << mock.status();
    EXPECT_EQ(r.estimated_input_tokens, mock->input_tokens);
  }
}

// --- InspectRequest: errors name the field -------------------------------------------------------

void ExpectError(Route route, std::string_view body, std::string_view needle) {
  absl::StatusOr<InspectedRequest> r = InspectRequest(RouteOf(route), body);
  ASSERT_FALSE(r.ok()) << "accepted: " << body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(needle)) << body;
}

TEST(InspectRequestErrorTest, NotJson) {
  for (std::string_view body :
       {"{", "{\"model\":", "nope", "{\"model\":\"m\",}", "{\"model\":\"m\"}}",
        "{\"model\":\"m\"} x", "{\"model\":\"m\",\"messages\":[],\"x\":tru}",
        "{\"model\":\"m\",\"messages\":[],\"x\":\"\\q\"}", "{\"model\":\"m\",\"x\":01}",
        "{\"model\":\"m\",\"x\":1.}", "{\"model\":\"m\",\"x\":-}", "{\"model\":\"m\",\"x\":nul}",
        "{\"model\":\"m\",\"messages\":[1,]}", "{\"model\":\"m\",\"x\":\"\x01\"}",
        "{\"model\":\"\xff\"}", "{\"model\":\"m\" \"x\":1}", "{\"model\":\"m\",\"x\":\"abc}"}) {
    SCOPED_TRACE(body);
    ExpectError(Route::kChatCompletions, body, "not valid JSON");
  }
}

TEST(InspectRequestErrorTest, NotAnObjectOrEmpty) {
  ExpectError(Route::kChatCompletions, "[1,2]", "must be a JSON object, got an array");
  ExpectError(Route::kChatCompletions, "\"text\"", "must be a JSON object, got a string");
  ExpectError(Route::kChatCompletions, "42", "must be a JSON object, got a number");
  ExpectError(Route::kMessages, "", "the request body is empty");
  ExpectError(Route::kMessages, " \n ", "the request body is empty");
}

TEST(InspectRequestErrorTest, Model) {
  ExpectError(Route::kChatCompletions, R"({"messages":[]})", "\"model\" is required");
  ExpectError(Route::kChatCompletions, R"({"model":"","messages":[]})", "\"model\" is required");
  ExpectError(Route::kChatCompletions, R"({"model":null,"messages":[]})", "\"model\" is required");
  ExpectError(Route::kEmbeddings, R"({"model":5,"input":"x"})",
              "\"model\" must be a non-empty string naming the model, got 5");
  ExpectError(Route::kEmbeddings, R"({"model":["a"],"input":"x"})", "got an array");
  ExpectError(Route::kResponses, R"({"input":"x"})", "\"model\" is required: /v1/responses");
}

TEST(InspectRequestErrorTest, StreamAndStreamOptions) {
  ExpectError(Route::kChatCompletions, R"({"model":"m","messages":[],"stream":"yes"})",
              "\"stream\" must be true or false, got \"yes\"");
  ExpectError(Route::kMessages, R"({"model":"c","max_tokens":1,"messages":[],"stream":1})",
              "\"stream\" must be true or false, got 1");
  ExpectError(Route::kChatCompletions, R"({"model":"m","messages":[],"stream_options":5})",
              "\"stream_options\" must be an object, got 5");
  ExpectError(Route::kCompletions,
              R"({"model":"m","stream":true,"stream_options":{"include_usage":"yes"}})",
              "\"stream_options.include_usage\" must be true or false");
  ExpectError(Route::kChatCompletions,
              R"({"model":"m","messages":[],"stream":true,)"
              R"("stream_options":{"include_usage":false,"include_usage":true}})",
              "duplicate key \"stream_options.include_usage\"");
}

TEST(InspectRequestErrorTest, TokenLimits) {
  for (std::string_view value : {"-1", "1.5", "100.0", "1e3", "\"100\"", "true", "[1]", "{}"}) {
    SCOPED_TRACE(value);
    ExpectError(Route::kChatCompletions,
                Cat(R"({"model":"m","messages":[],"max_tokens":)", value, "}"),
                "\"max_tokens\" must be a non-negative integer");
    ExpectError(Route::kChatCompletions,
                Cat(R"({"model":"m","messages":[],"max_completion_tokens":)", value, "}"),
                "\"max_completion_tokens\" must be a non-negative integer");
    ExpectError(Route::kResponses, Cat(R"({"model":"m","max_output_tokens":)", value, "}"),
                "\"max_output_tokens\" must be a non-negative integer");
  }
  ExpectError(Route::kChatCompletions, R"({"model":"m","messages":[],"max_tokens":10000001})",
              "\"max_tokens\" is 10000001, above the limit of 10000000");
  ExpectError(Route::kCompletions, R"({"model":"m","max_tokens":99999999999999999999999})",
              "\"max_tokens\" is 99999999999999999999999, above the limit");
  ExpectError(Route::kChatCompletions,
              R"({"model":"m","messages":[],"max_tokens":-99999999999999999999999})",
              "\"max_tokens\" must be a non-negative integer");
  ExpectError(Route::kChatCompletions, R"({"model":"m","messages":[],"n":0})",
              "\"n\" must be an integer from 1 to 128, got 0");
  ExpectError(Route::kChatCompletions, R"({"model":"m","messages":[],"n":129})",
              "\"n\" is 129, above the limit of 128");
  ExpectError(Route::kCompletions, R"({"model":"m","best_of":2.5})",
              "\"best_of\" must be an integer from 1 to 128");
}

TEST(InspectRequestErrorTest, AnthropicNeedsMaxTokens) {
  ExpectError(Route::kMessages, R"({"model":"c","messages":[]})", "\"max_tokens\" is required");
  ExpectError(Route::kMessages, R"({"model":"c","max_tokens":null,"messages":[]})",
              "\"max_tokens\" is required");
  ExpectError(Route::kMessages, R"({"model":"c","max_tokens":-3,"messages":[]})",
              "\"max_tokens\" must be a non-negative integer, got -3");
}

TEST(InspectRequestErrorTest, Messages) {
  ExpectError(Route::kChatCompletions, R"({"model":"m"})", "\"messages\" is required");
  ExpectError(Route::kMessages, R"({"model":"c","max_tokens":1})", "\"messages\" is required");
  ExpectError(Route::kChatCompletions, R"({"model":"m","messages":"hi"})",
              "\"messages\" must be an array of messages, got \"hi\"");
  ExpectError(Route::kMessages, R"({"model":"c","max_tokens":1,"messages":{"role":"user"}})",
              "\"messages\" must be an array of messages, got an object");
}

TEST(InspectRequestErrorTest, DuplicateMoneyKeys) {
  ExpectError(Route::kChatCompletions, R"({"model":"cheap","messages":[],"model":"expensive"})",
              "duplicate key \"model\"");
  ExpectError(Route::kChatCompletions,
              R"({"model":"m","messages":[],"max_tokens":1,"max_tokens":100000})",
              "duplicate key \"max_tokens\"");
  // An escaped key is the same key.
  ExpectError(Route::kChatCompletions,
              R"({"model":"m","messages":[],"str\u0065am":true,"stream":false})",
              "duplicate key \"stream\"");
  // Unknown keys may repeat: they are not the gateway's business.
  Inspect(Route::kChatCompletions, R"({"model":"m","messages":[],"user":"a","user":"b"})");
}

TEST(InspectRequestErrorTest, DeepNesting) {
  std::string deep = Cat(R"({"model":"m","messages":[],"metadata":)", std::string(300, '['),
                         std::string(300, ']'), "}");
  ExpectError(Route::kChatCompletions, deep, "deeper than 256 levels");
  std::string deep_content = Cat(R"({"model":"m","messages":[{"content":)", std::string(300, '['),
                                 std::string(300, ']'), "}]}");
  ExpectError(Route::kChatCompletions, deep_content, "deeper than 256 levels");
  std::string fine = Cat(R"({"model":"m","messages":[],"metadata":)", std::string(200, '['),
                         std::string(200, ']'), "}");
  Inspect(Route::kChatCompletions, fine);
}

// --- InspectRequest: stream_options.include_usage for OpenAI streams -----------------------------

constexpr std::string_view kIncludeUsage = R"("stream_options":{"include_usage":true})";

TEST(IncludeUsageTest, AppendedWhenAbsentKeepingEveryOtherByte) {
  // Big and precise numbers, unicode escapes, nested objects and odd spacing must survive.
  std::string body =
      "{ \"model\" : \"gpt-4o\",\n  \"messages\": [{\"role\":\"user\",\"content\":"
      "\"caf\\u00e9 \\ud83d\\ude00 \\\"quoted\\\"\"}],\n  \"stream\": true,\n"
      "  \"temperature\": 0.1000000000000000055511151231257827,\n"
      "  \"logit_bias\": {\"50256\": -100, \"big\": 1e400, \"huge\": "
      "123456789012345678901234567890},\n"
      "  \"tools\": [{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
      "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\",\"minimum\":-1.5E-300}}}}}]"
      "\n"
      "}\n";
  InspectedRequest r = Inspect(Route::kChatCompletions, body);
  ASSERT_TRUE(r.body_rewritten);
  EXPECT_FALSE(r.client_requested_stream_usage);
  size_t close = body.rfind('}');
  EXPECT_EQ(r.forward_body, Cat(body.substr(0, close), ",", kIncludeUsage, body.substr(close)));
  // Still one valid JSON object whose other members are unchanged (nlohmann cannot hold 1e400,
  // which is why the body is spliced rather than re-serialised: compare without it).
  auto without_big = [](std::string s) { return s.replace(s.find("1e400"), 5, "1"); };
  json original = json::parse(without_big(body));
  json forwarded = json::parse(without_big(r.forward_body));
  EXPECT_EQ(forwarded["stream_options"], json({{"include_usage", true}}));
  forwarded.erase("stream_options");
  EXPECT_EQ(forwarded, original);
  // And it is itself accepted, now as a client that asked for usage.
  InspectedRequest again = Inspect(Route::kChatCompletions, r.forward_body);
  EXPECT_FALSE(again.body_rewritten);
  EXPECT_TRUE(again.client_requested_stream_usage);
  EXPECT_EQ(again.forward_body, r.forward_body);
}

TEST(IncludeUsageTest, CompletionsToo) {
  std::string body = R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","stream":true})";
  InspectedRequest r = Inspect(Route::kCompletions, body);
  EXPECT_TRUE(r.body_rewritten);
  EXPECT_EQ(r.forward_body,
            Cat(R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","stream":true,)",
                kIncludeUsage, "}"));
}

TEST(IncludeUsageTest, InsertedIntoExistingStreamOptions) {
  InspectedRequest empty = Inspect(
      Route::kChatCompletions, R"({"model":"m","messages":[],"stream":true,"stream_options":{ }})");
  EXPECT_EQ(
      empty.forward_body,
      R"({"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true }})");
  InspectedRequest other =
      Inspect(Route::kChatCompletions,
              R"({"stream_options":{"x_flag":1.50},"model":"m","messages":[],"stream":true})");
  EXPECT_EQ(other.forward_body, R"({"stream_options":{"include_usage":true,"x_flag":1.50},)"
                                R"("model":"m","messages":[],"stream":true})");
  EXPECT_TRUE(other.body_rewritten);
  EXPECT_FALSE(other.client_requested_stream_usage);
}

TEST(IncludeUsageTest, ExplicitFalseOrNullBecomesTrue) {
  InspectedRequest f =
      Inspect(Route::kChatCompletions, R"({"model":"m","messages":[],"stream":true,)"
                                       R"("stream_options":{"include_usage": false ,"y":2}})");
  EXPECT_EQ(f.forward_body, R"({"model":"m","messages":[],"stream":true,)"
                            R"("stream_options":{"include_usage": true ,"y":2}})");
  EXPECT_TRUE(f.body_rewritten);
  EXPECT_FALSE(f.client_requested_stream_usage);  // so the meter strips the chunk again

  InspectedRequest n = Inspect(
      Route::kChatCompletions,
      R"({"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":null}})");
  EXPECT_EQ(n.forward_body,
            R"({"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}})");

  InspectedRequest null_options =
      Inspect(Route::kChatCompletions,
              R"({"model":"m","messages":[],"stream":true,"stream_options":null})");
  EXPECT_EQ(null_options.forward_body,
            Cat(R"({"model":"m","messages":[],"stream":true,)", kIncludeUsage, "}"));

  // An escaped key is still stream_options.
  InspectedRequest escaped = Inspect(
      Route::kChatCompletions,
      R"({"model":"m","messages":[],"stream":true,"stream\u005foptions":{"include_usage":false}})");
  EXPECT_EQ(
      escaped.forward_body,
      R"({"model":"m","messages":[],"stream":true,"stream\u005foptions":{"include_usage":true}})");
}

TEST(IncludeUsageTest, ClientTrueIsLeftAlone) {
  std::string body =
      R"({"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}})";
  InspectedRequest r = Inspect(Route::kChatCompletions, body);
  EXPECT_FALSE(r.body_rewritten);
  EXPECT_TRUE(r.client_requested_stream_usage);
  EXPECT_EQ(r.forward_body, body);
}

TEST(IncludeUsageTest, NotAddedWithoutStreamingOrOutsideOpenAIChat) {
  for (auto [route, body] : std::vector<std::pair<Route, std::string>>{
           {Route::kChatCompletions, R"({"model":"m","messages":[]})"},
           {Route::kChatCompletions, R"({"model":"m","messages":[],"stream":false})"},
           {Route::kChatCompletions, R"({"model":"m","messages":[],"stream":false,)"
                                     R"("stream_options":{"include_usage":false}})"},
           {Route::kResponses, R"({"model":"m","input":"x","stream":true})"},
           {Route::kMessages, R"({"model":"c","max_tokens":9,"messages":[],"stream":true})"},
       }) {
    SCOPED_TRACE(body);
    InspectedRequest r = Inspect(route, body);
    EXPECT_FALSE(r.body_rewritten);
    EXPECT_EQ(r.forward_body, body);
  }
}

// --- ErrorBody ---------------------------------------------------------------------------------

TEST(ErrorBodyTest, OpenAIShape) {
  json body = json::parse(ErrorBody(ApiFamily::kOpenAI, "insufficient_quota",
                                    "genops_budget_exceeded", "Budget \"team-a\" exceeded"));
  EXPECT_EQ(body, json::parse(R"({"error":{"message":"Budget \"team-a\" exceeded",)"
                              R"("type":"insufficient_quota","param":null,)"
                              R"("code":"genops_budget_exceeded"}})"));
  json no_code = json::parse(ErrorBody(ApiFamily::kOpenAI, "invalid_request_error", "", "bad"));
  EXPECT_TRUE(no_code["error"]["code"].is_null());
}

TEST(ErrorBodyTest, AnthropicShapeUsesGenopsCodeAsType) {
  EXPECT_EQ(ErrorBody(ApiFamily::kAnthropic, "permission_error", "genops_approval_required",
                      "approval apr_1 required"),
            R"({"type":"error","error":{"type":"genops_approval_required",)"
            R"("message":"approval apr_1 required"}})");
  EXPECT_EQ(ErrorBody(ApiFamily::kAnthropic, "invalid_request_error", "invalid_json", "x"),
            R"({"type":"error","error":{"type":"invalid_request_error","message":"x"}})");
}

TEST(ErrorBodyTest, AlwaysValidJson) {
  std::string nasty =
      "line1\nline2\t\"q\" \\ \x01\x1f caf\xc3\xa9 \xff\xfe \xe2\x82 end \xf0\x9f\x98\x80";
  for (ApiFamily family : {ApiFamily::kOpenAI, ApiFamily::kAnthropic}) {
    json body = json::parse(ErrorBody(family, "t\"ype", "c\nde", nasty), nullptr, false);
    ASSERT_FALSE(body.is_discarded());
    std::string message = body["error"]["message"];
    EXPECT_EQ(message,
              "line1\nline2\t\"q\" \\ \x01\x1f caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd "
              "\xef\xbf\xbd\xef\xbf\xbd end \xf0\x9f\x98\x80");
  }
}

// --- StreamMeter: helpers ----------------------------------------------------------------------

struct Metered {
  std::string forwarded;
  std::unique_ptr<StreamMeter> meter;
};

// Feeds `raw` in pieces of `piece` bytes (0: all at once) and finishes.
Metered Meter(Route route, bool strip, std::string_view raw, size_t piece = 0) {
  Metered m{"", std::make_unique<StreamMeter>(RouteOf(route), strip)};
  if (piece == 0) piece = raw.size() + 1;
  for (size_t i = 0; i < raw.size(); i += piece) {
    absl::StatusOr<std::string> out = m.meter->Feed(raw.substr(i, piece));
    EXPECT_TRUE(out.ok()) << out.status();
    if (out.ok()) m.forwarded += *out;
  }
  m.forwarded += m.meter->Finish();
  return m;
}

void ExpectSameState(const StreamMeter& a, const StreamMeter& b) {
  EXPECT_EQ(a.model(), b.model());
  EXPECT_EQ(a.finish_reasons(), b.finish_reasons());
  EXPECT_EQ(a.completed(), b.completed());
  EXPECT_EQ(a.error_message(), b.error_message());
  EXPECT_EQ(a.generated_text_bytes(), b.generated_text_bytes());
  EXPECT_EQ(a.malformed_events(), b.malformed_events());
  EXPECT_EQ(a.has_usage(), b.has_usage());
  EXPECT_EQ(a.usage_chunk_stripped(), b.usage_chunk_stripped());
  EXPECT_EQ(a.BillableUsage(77), b.BillableUsage(77));
}

// The stream's blocks (the mock ends each with a blank line, "\n\n").
std::vector<std::string> Blocks(std::string_view raw) {
  std::vector<std::string> blocks;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find("\n\n", start);
    end = end == std::string_view::npos ? raw.size() : end + 2;
    blocks.emplace_back(raw.substr(start, end - start));
    start = end;
  }
  return blocks;
}

// `raw` without the OpenAI usage-only chunk.
std::string WithoutUsageChunk(std::string_view raw) {
  std::string out;
  int removed = 0;
  for (const std::string& block : Blocks(raw)) {
    if (block.find("\"choices\":[]") != std::string::npos &&
        block.find("\"usage\":{") != std::string::npos) {
      ++removed;
      continue;
    }
    out += block;
  }
  EXPECT_EQ(removed, 1);
  return out;
}

Usage Normalized(Route route, const MockUsage& m) {
  if (route == Route::kMessages) {
    return NormalizeAnthropicUsage(m.input_tokens, m.output_tokens, m.cache_read_tokens,
                                   m.cache_write_tokens);
  }
  return NormalizeOpenAIUsage(m.input_tokens, m.output_tokens, m.cache_read_tokens,
                              m.reasoning_tokens);
}

// --- StreamMeter over the mock upstream's real streams -----------------------------------------

class StreamMeterMockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto mock = MockUpstream::Start({});
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
    auto client = HttpClient::Create({.proxy = ProxySettings{}});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = client->release();
  }
  static void TearDownTestSuite() {
    delete client_;
    delete mock_;
  }

  struct Exchange {
    InspectedRequest request;
    std::string raw;  // the upstream's stream bytes
    MockUsage expected;
  };

  // Inspects `body`, sends the forward body to the mock and returns its stream.
  static Exchange Fetch(Route route, std::string_view body, HttpHeaders headers = {}) {
    Exchange x;
    absl::StatusOr<InspectedRequest> inspected = InspectRequest(RouteOf(route), body);
    EXPECT_TRUE(inspected.ok()) << inspected.status();
    if (!inspected.ok()) return x;
    x.request = *std::move(inspected);
    if (route == Route::kMessages) headers.Add("anthropic-version", "2023-06-01");
    auto expected = MockUpstream::ExpectedUsage(RoutePath(route), x.request.forward_body, headers);
    EXPECT_TRUE(expected.ok()) << expected.status();
    if (expected.ok()) x.expected = *expected;
    auto response = client_->SendSync({.method = "POST",
                                       .url = Cat(mock_->base_url(), RoutePath(route)),
                                       .headers = headers,
                                       .body = x.request.forward_body});
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return x;
    EXPECT_EQ(response->status, 200) << response->body;
    x.raw = response->body;
    std::vector<RecordedRequest> seen = mock_->requests();
    EXPECT_FALSE(seen.empty());
    if (!seen.empty()) {
      EXPECT_EQ(seen.back().body, x.request.forward_body);
    }
    return x;
  }

  // Meters `x.raw` whole, in 7-byte pieces and byte by byte; all must agree. Returns the whole.
  static Metered MeterAllWays(Route route, const Exchange& x) {
    bool strip = !x.request.client_requested_stream_usage;
    Metered whole = Meter(route, strip, x.raw);
    for (size_t piece : {size_t{1}, size_t{7}}) {
      SCOPED_TRACE(Cat("piece ", piece));
      Metered pieces = Meter(route, strip, x.raw, piece);
      EXPECT_EQ(pieces.forwarded, whole.forwarded);
      ExpectSameState(*pieces.meter, *whole.meter);
    }
    return whole;
  }

  static std::string Body(Route route, std::string_view extra) {
    switch (route) {
      case Route::kChatCompletions:
        return Cat(R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Tell me )"
                   R"(a story about caf\u00e9s"}],"stream":true)",
                   extra, "}");
      case Route::kCompletions:
        return Cat(R"({"model":"gpt-3.5-turbo-instruct","prompt":"Once upon","stream":true)", extra,
                   "}");
      case Route::kResponses:
        return Cat(R"({"model":"o3-mini","instructions":"Be brief","input":"Why?","stream":true)",
                   extra, "}");
      case Route::kMessages:
        return Cat(R"({"model":"claude-3-5-haiku-20241022","max_tokens":100,"system":"Sys",)"
                   R"("messages":[{"role":"user","content":"Hi Claude"}],"stream":true)",
                   extra, "}");
      default:
        return "";
    }
  }

  static MockUpstream* mock_;
  static HttpClient* client_;
};

MockUpstream* StreamMeterMockTest::mock_ = nullptr;
HttpClient* StreamMeterMockTest::client_ = nullptr;

TEST_F(StreamMeterMockTest, EveryRouteUsageAndBytes) {
  struct Case {
    Route route;
    HttpHeaders headers;
    std::string_view model;
    std::string_view finish;
  };
  const std::vector<Case> cases = {
      {Route::kChatCompletions,
       {{"x-mock-cached-tokens", "3"}, {"x-mock-reasoning-tokens", "5"}},
       "gpt-4o-mini",
       "stop"},
      {Route::kCompletions, {{"x-mock-output-tokens", "20"}}, "gpt-3.5-turbo-instruct", "stop"},
      {Route::kResponses,
       {{"x-mock-cached-tokens", "1"}, {"x-mock-reasoning-tokens", "4"}},
       "o3-mini",
       "completed"},
      {Route::kMessages,
       {{"x-mock-cached-tokens", "40"}, {"x-mock-cache-write-tokens", "7"}},
       "claude-3-5-haiku-20241022",
       "end_turn"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(RoutePath(c.route));
    Exchange x = Fetch(c.route, Body(c.route, ""), c.headers);
    ASSERT_FALSE(x.raw.empty());
    Metered m = MeterAllWays(c.route, x);
    const StreamMeter& meter = *m.meter;
    EXPECT_TRUE(meter.has_usage());
    EXPECT_FALSE(meter.usage_is_estimated());
    EXPECT_EQ(meter.BillableUsage(x.request.estimated_input_tokens),
              Normalized(c.route, x.expected));
    EXPECT_EQ(meter.BillableUsage(1'000'000), Normalized(c.route, x.expected));
    EXPECT_EQ(meter.model(), c.model);
    EXPECT_THAT(meter.finish_reasons(), ElementsAre(c.finish));
    EXPECT_TRUE(meter.completed());
    EXPECT_FALSE(meter.error_message().has_value());
    EXPECT_EQ(meter.malformed_events(), 0);
    int64_t answer_tokens = x.expected.output_tokens - x.expected.reasoning_tokens;
    EXPECT_EQ(meter.generated_text_bytes(),
              static_cast<int64_t>(MockUpstream::AnswerText(answer_tokens).size()));
    // The estimate the request carried is the mock's input count.
    EXPECT_EQ(x.request.estimated_input_tokens, x.expected.input_tokens);
    if (c.route == Route::kChatCompletions || c.route == Route::kCompletions) {
      EXPECT_TRUE(x.request.body_rewritten);
      EXPECT_TRUE(meter.usage_chunk_stripped());
      EXPECT_EQ(m.forwarded, WithoutUsageChunk(x.raw));
    } else {
      EXPECT_FALSE(meter.usage_chunk_stripped());
      EXPECT_EQ(m.forwarded, x.raw);
    }
  }
}

TEST_F(StreamMeterMockTest, ClientThatAskedForUsageKeepsTheChunk) {
  for (Route route : {Route::kChatCompletions, Route::kCompletions}) {
    SCOPED_TRACE(RoutePath(route));
    Exchange x = Fetch(route, Body(route, R"(,"stream_options":{"include_usage":true})"));
    EXPECT_TRUE(x.request.client_requested_stream_usage);
    EXPECT_FALSE(x.request.body_rewritten);
    Metered m = MeterAllWays(route, x);
    EXPECT_EQ(m.forwarded, x.raw);
    EXPECT_FALSE(m.meter->usage_chunk_stripped());
    EXPECT_EQ(m.meter->BillableUsage(0), Normalized(route, x.expected));
  }
}

TEST_F(StreamMeterMockTest, ClientThatRefusedUsageGetsItStripped) {
  Exchange x = Fetch(Route::kChatCompletions,
                     Body(Route::kChatCompletions, R"(,"stream_options":{"include_usage":false})"));
  EXPECT_TRUE(x.request.body_rewritten);
  EXPECT_FALSE(x.request.client_requested_stream_usage);
  Metered m = MeterAllWays(Route::kChatCompletions, x);
  EXPECT_EQ(m.forwarded, WithoutUsageChunk(x.raw));
  EXPECT_TRUE(m.meter->has_usage());
  EXPECT_EQ(m.meter->BillableUsage(0), Normalized(Route::kChatCompletions, x.expected));
}

TEST_F(StreamMeterMockTest, OutputLimitCutsTheAnswer) {
  struct Case {
    Route route;
    std::string_view extra;
    std::string_view finish;
  };
  const std::vector<Case> cases = {
      {Route::kChatCompletions, R"(,"max_completion_tokens":4)", "length"},
      {Route::kCompletions, R"(,"max_tokens":4)", "length"},
      {Route::kResponses, R"(,"max_output_tokens":4)", "max_output_tokens"},
      {Route::kMessages, "", "max_tokens"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(RoutePath(c.route));
    std::string body = Body(c.route, c.extra);
    if (c.route == Route::kMessages) body.replace(body.find("100"), 3, "4");
    Exchange x = Fetch(c.route, body);
    EXPECT_EQ(x.request.max_output_tokens, 4);
    EXPECT_TRUE(x.expected.truncated);
    Metered m = MeterAllWays(c.route, x);
    EXPECT_THAT(m.meter->finish_reasons(), ElementsAre(c.finish));
    EXPECT_EQ(m.meter->BillableUsage(0).output_tokens, 4);
    EXPECT_TRUE(m.meter->completed());
  }
}

TEST_F(StreamMeterMockTest, TruncatedStreamReachesTheClientCutAndIsEstimated) {
  for (Route route :
       {Route::kChatCompletions, Route::kCompletions, Route::kResponses, Route::kMessages}) {
    SCOPED_TRACE(RoutePath(route));
    Exchange x = Fetch(route, Body(route, ""), {{"x-mock-fault", "truncated-sse"}});
    Metered m = MeterAllWays(route, x);
    const StreamMeter& meter = *m.meter;
    EXPECT_EQ(m.forwarded, x.raw);  // cut exactly where the upstream cut it
    EXPECT_FALSE(meter.completed());
    EXPECT_FALSE(meter.has_usage());
    EXPECT_TRUE(meter.usage_is_estimated());
    EXPECT_GT(meter.generated_text_bytes(), 0);
    Usage billed = meter.BillableUsage(x.request.estimated_input_tokens);
    EXPECT_EQ(billed.output_tokens, (meter.generated_text_bytes() + 3) / 4);
    if (route == Route::kMessages) {
      // message_start already reported the input; it is exact, so it is kept.
      EXPECT_EQ(billed.input_tokens, x.expected.input_tokens);
    } else {
      EXPECT_EQ(billed.input_tokens, x.request.estimated_input_tokens);
    }
    // The unfinished last block is what Finish() hands back.
    StreamMeter fresh(RouteOf(route), true);
    absl::StatusOr<std::string> first = fresh.Feed(x.raw);
    ASSERT_TRUE(first.ok());
    std::string rest = fresh.Finish();
    EXPECT_FALSE(rest.empty());
    EXPECT_EQ(*first + rest, x.raw);
    EXPECT_EQ(rest.find("\n\n"), std::string::npos);
  }
}

TEST_F(StreamMeterMockTest, NoUsageStreamIsEstimated) {
  for (Route route :
       {Route::kChatCompletions, Route::kCompletions, Route::kResponses, Route::kMessages}) {
    SCOPED_TRACE(RoutePath(route));
    Exchange x = Fetch(route, Body(route, ""), {{"x-mock-fault", "no-usage-stream"}});
    Metered m = MeterAllWays(route, x);
    const StreamMeter& meter = *m.meter;
    EXPECT_EQ(m.forwarded, x.raw);  // nothing to strip
    EXPECT_TRUE(meter.completed());
    EXPECT_FALSE(meter.has_usage());
    EXPECT_TRUE(meter.usage_is_estimated(x.request.estimated_input_tokens));
    Usage billed = meter.BillableUsage(x.request.estimated_input_tokens);
    EXPECT_EQ(billed.input_tokens, x.expected.input_tokens);
    int64_t text = static_cast<int64_t>(MockUpstream::AnswerText(x.expected.output_tokens).size());
    EXPECT_EQ(billed.output_tokens, (text + 3) / 4);
    EXPECT_EQ(billed.cache_read_tokens, 0);
  }
}

TEST_F(StreamMeterMockTest, MalformedEventIsForwardedAndCounted) {
  for (Route route :
       {Route::kChatCompletions, Route::kCompletions, Route::kResponses, Route::kMessages}) {
    SCOPED_TRACE(RoutePath(route));
    Exchange x = Fetch(route, Body(route, ""), {{"x-mock-fault", "malformed-json"}});
    Metered m = MeterAllWays(route, x);
    EXPECT_EQ(m.meter->malformed_events(), 1);
    EXPECT_TRUE(m.meter->has_usage());
    EXPECT_EQ(m.meter->BillableUsage(0), Normalized(route, x.expected));
    bool stripped = route == Route::kChatCompletions || route == Route::kCompletions;
    EXPECT_EQ(m.forwarded, stripped ? WithoutUsageChunk(x.raw) : x.raw);
    EXPECT_NE(m.forwarded.find("broken"), std::string::npos);
  }
}

TEST_F(StreamMeterMockTest, ClientGoneMidStreamIsChargedForWhatWasProduced) {
  // The gateway stops feeding when the client leaves: meter a prefix of the stream.
  Exchange x = Fetch(Route::kMessages, Body(Route::kMessages, ""),
                     {{"x-mock-output-tokens", "40"}, {"x-mock-cached-tokens", "8"}});
  std::vector<std::string> blocks = Blocks(x.raw);
  ASSERT_GT(blocks.size(), 20u);
  std::string prefix;
  for (size_t i = 0; i < 20; ++i) prefix += blocks[i];
  Metered m = Meter(Route::kMessages, true, prefix);
  EXPECT_EQ(m.forwarded, prefix);
  EXPECT_FALSE(m.meter->has_usage());
  Usage billed = m.meter->BillableUsage(x.request.estimated_input_tokens);
  EXPECT_EQ(billed.input_tokens, x.expected.input_tokens + 8);  // Anthropic: cache on top
  EXPECT_EQ(billed.cache_read_tokens, 8);
  // 17 text deltas (blocks 3..19) of the 40 words.
  std::string text = MockUpstream::AnswerText(17);
  EXPECT_EQ(m.meter->generated_text_bytes(), static_cast<int64_t>(text.size()));
  EXPECT_EQ(billed.output_tokens, static_cast<int64_t>((text.size() + 3) / 4));
}

// --- StreamMeter over hand-built streams --------------------------------------------------------

TEST(StreamMeterTest, OpenAIErrorChunk) {
  std::string raw =
      "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":"
      "{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
      "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
  Metered m = Meter(Route::kChatCompletions, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_EQ(m.meter->error_message(), "server_error: The server had an error");
  EXPECT_FALSE(m.meter->completed());
  EXPECT_EQ(m.meter->generated_text_bytes(), 3);
  EXPECT_EQ(m.meter->BillableUsage(10), (Usage{.input_tokens = 10, .output_tokens = 1}));
}

TEST(StreamMeterTest, AnthropicErrorEvent) {
  std::string raw =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\","
      "\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":100,"
      "\"cache_creation_input_tokens\":50,\"output_tokens\":1}}}\n\n"
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n";
  Metered m = Meter(Route::kMessages, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_EQ(m.meter->error_message(), "overloaded_error: Overloaded");
  EXPECT_EQ(m.meter->model(), "claude-x");
  EXPECT_FALSE(m.meter->has_usage());
  EXPECT_EQ(m.meter->BillableUsage(3), NormalizeAnthropicUsage(25, 1, 100, 50));
}

TEST(StreamMeterTest, AnthropicCumulativeMessageDeltaUsageAndContentKinds) {
  std::string raw =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"c\","
      "\"usage\":{\"input_tokens\":10,\"cache_creation\":{\"ephemeral_5m_input_tokens\":3,"
      "\"ephemeral_1h_input_tokens\":4},\"output_tokens\":1}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
      "{\"type\":\"signature_delta\",\"signature\":\"abcdefgh\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
      "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
      "event: content_block_delta\ndata: {\"delta\":{\"text\":\"ok\",\"type\":\"text_delta\"},"
      "\"type\":\"content_block_delta\",\"index\":2}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"tool_use\"},\"usage\":{\"output_tokens\":5}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":"
      "{\"input_tokens\":12,\"cache_read_input_tokens\":2,\"output_tokens\":9}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  Metered m = Meter(Route::kMessages, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_TRUE(m.meter->has_usage());
  EXPECT_TRUE(m.meter->completed());
  EXPECT_EQ(m.meter->generated_text_bytes(), 3 + 5 + 2);  // thinking, partial_json, text
  EXPECT_THAT(m.meter->finish_reasons(), ElementsAre("tool_use"));
  // The last report wins field by field; the 5m+1h breakdown is the cache write.
  EXPECT_EQ(m.meter->BillableUsage(0), NormalizeAnthropicUsage(12, 9, 2, 7));
}

TEST(StreamMeterTest, ResponsesErrorsAndFailure) {
  std::string error_event =
      "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":"
      "\"Slow down\",\"param\":null,\"sequence_number\":1}\n\n";
  Metered e = Meter(Route::kResponses, true, error_event);
  EXPECT_EQ(e.meter->error_message(), "rate_limit_exceeded: Slow down");
  EXPECT_FALSE(e.meter->completed());

  std::string failed =
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
      "\"delta\":\"abcd\"}\n\n"
      "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\","
      "\"model\":\"gpt-4.1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
      "\"message\":\"boom\"},\"usage\":{\"input_tokens\":7,\"output_tokens\":2,"
      "\"input_tokens_details\":{\"cached_tokens\":3}}}}\n\n";
  Metered f = Meter(Route::kResponses, true, failed);
  EXPECT_EQ(f.forwarded, failed);
  EXPECT_EQ(f.meter->error_message(), "server_error: boom");
  EXPECT_TRUE(f.meter->completed());
  EXPECT_THAT(f.meter->finish_reasons(), ElementsAre("failed"));
  EXPECT_EQ(f.meter->model(), "gpt-4.1");
  EXPECT_EQ(f.meter->generated_text_bytes(), 4);
  EXPECT_EQ(f.meter->BillableUsage(0), NormalizeOpenAIUsage(7, 2, 3, 0));
}

TEST(StreamMeterTest, OpenAIToolCallsRefusalAndReasoningCountAsGenerated) {
  std::string raw =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\","
      "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"q\\\":1}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no\",\"reasoning_content\":"
      "\"think\"}},{\"index\":1,\"delta\":{\"content\":\"\\u00e9\"},\"finish_reason\":\"stop\"}]}"
      "\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  Metered m = Meter(Route::kChatCompletions, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_EQ(m.meter->generated_text_bytes(), 7 + 2 + 5 + 2);
  EXPECT_THAT(m.meter->finish_reasons(), ElementsAre("stop", "tool_calls"));
  EXPECT_TRUE(m.meter->completed());
  EXPECT_EQ(m.meter->malformed_events(), 0);
}

TEST(StreamMeterTest, UsageReadLikeNonStreamedAnswers) {
  // xAI reports reasoning outside completion_tokens (total = prompt + completion + reasoning);
  // ParseProviderResponse detects it, and so must the stream.
  std::string raw =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
      "\"total_tokens\":20,\"completion_tokens_details\":{\"reasoning_tokens\":5}}}\n\n"
      "data: [DONE]\n\n";
  Metered m = Meter(Route::kChatCompletions, false, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_EQ(m.meter->BillableUsage(0), NormalizeOpenAIUsage(10, 10, 0, 5));
}

TEST(StreamMeterTest, InvalidUsageCountsAreMalformedButTheChunkIsStillWithheld) {
  std::string content = "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\n";
  std::string usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-4}}\n\n";
  Metered m = Meter(Route::kChatCompletions, true, content + usage + std::string(kSseDoneBlock));
  EXPECT_EQ(m.forwarded, content + std::string(kSseDoneBlock));
  EXPECT_EQ(m.meter->malformed_events(), 1);
  EXPECT_FALSE(m.meter->has_usage());
  EXPECT_EQ(m.meter->BillableUsage(6), (Usage{.input_tokens = 6, .output_tokens = 2}));
}

TEST(StreamMeterTest, UsageInAContentChunkIsReadButNotWithheld) {
  std::string raw =
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n"
      "data: [DONE]\n\n";
  Metered m = Meter(Route::kChatCompletions, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_FALSE(m.meter->usage_chunk_stripped());
  EXPECT_EQ(m.meter->BillableUsage(0), NormalizeOpenAIUsage(3, 1, 0, 0));
}

TEST(StreamMeterTest, NonJsonDataOddFieldsCommentsAndCrLf) {
  std::string raw =
      ": keep-alive\r\n\r\n"
      "data: hello\r\n\r\n"
      "data: [1,2]\r\n\r\n"
      "data: "
      "{\"model\":7,\"choices\":[{\"delta\":{\"content\":5},\"finish_reason\":false}]}\r\n\r\n"
      "retry: 100\r\n\r\n"
      "data: {\"model\":\"gpt\",\r\ndata: \"choices\":[]}\r\n\r\n"
      "data: [DONE]\r\n\r\n";
  Metered m = Meter(Route::kChatCompletions, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_EQ(m.meter->malformed_events(), 2);  // "hello" and the array
  EXPECT_EQ(m.meter->model(), "gpt");         // from the two-line event; 7 is ignored
  EXPECT_THAT(m.meter->finish_reasons(), IsEmpty());
  EXPECT_TRUE(m.meter->completed());
  Metered bytewise = Meter(Route::kChatCompletions, true, raw, 1);
  EXPECT_EQ(bytewise.forwarded, raw);
  ExpectSameState(*bytewise.meter, *m.meter);
}

TEST(StreamMeterTest, ByteOrderMarkIsForwarded) {
  std::string raw = Cat("\xEF\xBB\xBF", "data: {\"choices\":[]}\n\n", kSseDoneBlock);
  for (size_t piece : {size_t{0}, size_t{1}, size_t{2}}) {
    Metered m = Meter(Route::kChatCompletions, true, raw, piece);
    EXPECT_EQ(m.forwarded, raw);
    EXPECT_TRUE(m.meter->completed());
  }
  // A stream that ends inside a would-be BOM hands its bytes back at the end.
  Metered partial = Meter(Route::kChatCompletions, true, "\xEF\xBB");
  EXPECT_EQ(partial.forwarded, "\xEF\xBB");
  // Bytes that only start like a BOM are content.
  std::string not_bom =
      "\xEF"
      "data: x\n\n";
  EXPECT_EQ(Meter(Route::kChatCompletions, true, not_bom, 1).forwarded, not_bom);
}

TEST(StreamMeterTest, LoneCrTerminatorIsCompletedAtFinish) {
  std::string raw = "data: {\"model\":\"m\",\"choices\":[]}\r\r";
  StreamMeter meter(RouteOf(Route::kChatCompletions), true);
  absl::StatusOr<std::string> out = meter.Feed(raw);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "");  // the next byte could still be the LF of CR LF
  EXPECT_EQ(meter.Finish(), raw);
  EXPECT_EQ(meter.model(), "m");
  EXPECT_EQ(meter.Finish(), "");  // once
}

TEST(StreamMeterTest, StripOnlyAppliesToOpenAIChatAndCompletions) {
  std::string raw = "event: x\ndata: {\"type\":\"x\",\"choices\":[],\"usage\":{}}\n\n";
  for (Route route : {Route::kResponses, Route::kMessages}) {
    Metered m = Meter(route, true, raw);
    EXPECT_EQ(m.forwarded, raw);
    EXPECT_FALSE(m.meter->usage_chunk_stripped());
  }
}

TEST(StreamMeterTest, OversizedBlockFails) {
  StreamMeter meter(RouteOf(Route::kChatCompletions), true);
  std::string big(17 * 1024 * 1024, 'a');
  absl::StatusOr<std::string> out = meter.Feed(Cat("data: ", big));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(meter.Feed("\n\n").ok());
  EXPECT_EQ(meter.Finish(), "");
}

TEST(StreamMeterTest, LargeEventsAreMetered) {
  // Above the size where a private parser is used.
  std::string text(2 * 1024 * 1024, 'x');
  std::string raw = Cat("data: {\"choices\":[{\"delta\":{\"content\":\"", text, "\"}}]}\n\n");
  Metered m = Meter(Route::kChatCompletions, true, raw);
  EXPECT_EQ(m.forwarded, raw);
  EXPECT_EQ(m.meter->generated_text_bytes(), static_cast<int64_t>(text.size()));
}

// --- UsageProjection -----------------------------------------------------------------------------

// Everything ParseProviderResponse() returns, as one comparable string.
std::string Describe(const absl::StatusOr<ParsedResponse>& r) {
  if (!r.ok()) {
    return Cat("error ", static_cast<int>(r.status().code()), ": ", r.status().message());
  }
  return Cat("provider=", r->provider, " model=", r->model, " id=", r->response_id,
             " has_usage=", r->has_usage, " in=", r->usage.input_tokens,
             " out=", r->usage.output_tokens, " cache_read=", r->usage.cache_read_tokens,
             " cache_write=", r->usage.cache_write_tokens, " reasoning=", r->usage.reasoning_tokens,
             " finish=[", Join(r->finish_reasons, ","), "]");
}

enum class Path { kProjected, kWholeBody };

struct ProjectionCase {
  ApiFamily family;
  std::string body;
  Path path;  // whether the projection is expected to vouch for the body
};

// The gateway parses UsageProjection(body) instead of the body when there is one: the result
// (or the error) must be exactly the one of the whole body, for well-formed and hostile bodies.
TEST(UsageProjectionTest, ParsesLikeTheWholeBody) {
  const std::string deep40 = std::string(40, '[') + std::string(40, ']');
  const std::string deep70 = std::string(70, '[') + std::string(70, ']');
  const std::vector<ProjectionCase> cases = {
      // Typical answers.
      {ApiFamily::kOpenAI,
       R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",)"
       R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello \"there\"\n",)"
       R"("refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":31,)"
       R"("completion_tokens":64,"total_tokens":95,"prompt_tokens_details":{"cached_tokens":3,)"
       R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":10,)"
       R"("audio_tokens":0}},"system_fingerprint":"fp_mock"})",
       Path::kProjected},
      {ApiFamily::kOpenAI,
       R"({"id":"resp_1","object":"response","status":"incomplete","model":"o3",)"
       R"("incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message"}],)"
       R"("usage":{"input_tokens":10,"output_tokens":20,"input_tokens_details":)"
       R"({"cached_tokens":4},"output_tokens_details":{"reasoning_tokens":7}}})",
       Path::kProjected},
      {ApiFamily::kOpenAI,
       R"({"object":"response","status":"completed","incomplete_details":null,"usage":null})",
       Path::kProjected},
      {ApiFamily::kOpenAI,  // DeepSeek cache hits, xAI reasoning outside completion_tokens
       R"({"usage":{"prompt_tokens":10,"prompt_cache_hit_tokens":6,"completion_tokens":5,)"
       R"("completion_tokens_details":{"reasoning_tokens":3},"total_tokens":18}})",
       Path::kProjected},
      {ApiFamily::kOpenAI,  // embeddings: a large array of floats left out
       R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":)"
       R"([0.1,-0.25,1e-3,2E+2,0]}],"model":"text-embedding-3-small",)"
       R"("usage":{"prompt_tokens":8,"total_tokens":8}})",
       Path::kProjected},
      {ApiFamily::kAnthropic,
       R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4",)"
       R"("content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn",)"
       R"("usage":{"input_tokens":12,"output_tokens":30,"cache_read_input_tokens":100,)"
       R"("cache_creation_input_tokens":50,"service_tier":"standard"}})",
       Path::kProjected},
      {ApiFamily::kAnthropic,  // only the per-TTL cache breakdown
       R"({"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":2,)"
       R"("cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":6}}})",
       Path::kProjected},
      {ApiFamily::kAnthropic, R"({"type":"message","content":[]})", Path::kProjected},
      // Duplicate members: nlohmann keeps the last one; every occurrence is projected.
      {ApiFamily::kOpenAI,
       R"({"model":"a","model":"b","usage":{"prompt_tokens":1},)"
       R"("usage":{"prompt_tokens":2,"completion_tokens":3,"completion_tokens":4}})",
       Path::kProjected},
      {ApiFamily::kOpenAI,
       R"({"choices":[1,"x",null,{"finish_reason":"stop","finish_reason":"length"},)"
       R"({"finish_reason":null},{"finish_reason":""},{"message":{}},{"finish_reason":7}]})",
       Path::kProjected},
      {ApiFamily::kOpenAI, R"({"choices":{"finish_reason":"stop"},"model":["x"],"id":{}})",
       Path::kProjected},
      {ApiFamily::kOpenAI, R"({"us\u0061ge":{"prompt_tokens":5},"m\u006fdel":"esc"})",
       Path::kProjected},
      {ApiFamily::kOpenAI, R"({"object":"response","incomplete_details":{"reason":null}})",
       Path::kProjected},
      // Bad counts: the same error, naming the same field and value.
      {ApiFamily::kOpenAI, R"({"usage":"lots"})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":[1,2]})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":-1}})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1.5}})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":5.0,"completion_tokens":2e1}})",
       Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1e30}})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":"12"}})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":123456789012345678901234567890}})",
       Path::kProjected},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens_details":[],"prompt_tokens":1}})",
       Path::kProjected},
      {ApiFamily::kAnthropic, R"({"usage":{"input_tokens":-5,"output_tokens":1}})",
       Path::kProjected},
      {ApiFamily::kAnthropic, R"({"usage":true})", Path::kProjected},
      {ApiFamily::kOpenAI, R"({"note":123456789012345678901234567890,"usage":{}})",
       Path::kProjected},
      // What only the whole-body parse may judge: numbers nlohmann refuses or reads as 0,
      // escaped surrogates (paired or not), deep nesting, invalid JSON and non-objects.
      {ApiFamily::kOpenAI, R"({"note":1e400,"usage":{"prompt_tokens":1}})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":-1e400})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":1e-400,"usage":{"prompt_tokens":1}})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1e400}})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":"\ud800","usage":{"prompt_tokens":1}})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":"\udc00x","usage":{"prompt_tokens":1}})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":"\uD83D\uDE00","usage":{"prompt_tokens":1}})",
       Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":)" + deep40 + R"(,"usage":{"prompt_tokens":1}})",
       Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":)" + deep70 + "}", Path::kWholeBody},
      {ApiFamily::kOpenAI, "{\"note\":\"a\x01b\",\"usage\":{}}", Path::kWholeBody},
      {ApiFamily::kOpenAI, "{\"note\":\"a\xC3\x28\",\"usage\":{}}", Path::kWholeBody},
      {ApiFamily::kOpenAI, "{\"n\x01ote\":1}", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":"\x"})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":01})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":1.})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"note":tru})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1}} x)", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1}}{})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"({"usage":{"prompt_tokens":1},})", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"([{"usage":{}}])", Path::kWholeBody},
      {ApiFamily::kOpenAI, R"("usage")", Path::kWholeBody},
      {ApiFamily::kOpenAI, "", Path::kWholeBody},
      {ApiFamily::kOpenAI, "   ", Path::kWholeBody},
      {ApiFamily::kAnthropic, "<html>Bad Gateway</html>", Path::kWholeBody},
  };
  for (const ProjectionCase& c : cases) {
    SCOPED_TRACE(c.body);
    const std::string_view provider = UsageParserProvider(c.family);
    const std::optional<std::string> projected = UsageProjection(c.family, c.body);
    EXPECT_EQ(projected.has_value(), c.path == Path::kProjected);
    const std::string whole = Describe(ParseProviderResponse(provider, c.body));
    const std::string used =
        Describe(ParseProviderResponse(provider, projected.has_value() ? *projected : c.body));
    EXPECT_EQ(used, whole);
  }
}

TEST(UsageProjectionTest, LeavesTheGeneratedTextOut) {
  const std::string body =
      R"({"id":"chatcmpl-9","object":"chat.completion","model":"gpt-4o-mini","choices":[)"
      R"({"index":0,"message":{"role":"assistant","content":"a long answer"},)"
      R"("finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,)"
      R"("total_tokens":7,"prompt_tokens_details":{"cached_tokens":1,"audio_tokens":0}}})";
  std::optional<std::string> projected = UsageProjection(ApiFamily::kOpenAI, body);
  ASSERT_TRUE(projected.has_value());
  EXPECT_EQ(*projected, R"({"id":"chatcmpl-9","object":"chat.completion","model":"gpt-4o-mini",)"
                        R"("choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":3,)"
                        R"("completion_tokens":4,"total_tokens":7,"prompt_tokens_details":)"
                        R"({"cached_tokens":1}}})");
}

// The mock upstream's own non-streamed answers (what the load benchmark gets back).
TEST_F(StreamMeterMockTest, NonStreamedAnswersProjectToTheSameUsage) {
  struct Case {
    Route route;
    std::string body;
  };
  const std::vector<Case> cases = {
      {Route::kChatCompletions,
       R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Tell me a story"}]})"},
      {Route::kCompletions, R"({"model":"gpt-3.5-turbo-instruct","prompt":"Once upon"})"},
      {Route::kEmbeddings, R"({"model":"text-embedding-3-small","input":"hello"})"},
      {Route::kResponses, R"({"model":"o3-mini","instructions":"Be brief","input":"Why?"})"},
      {Route::kMessages, R"({"model":"claude-3-5-haiku-20241022","max_tokens":100,"system":"Sys",)"
                         R"("messages":[{"role":"user","content":"Hi Claude"}]})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(RoutePath(c.route));
    HttpHeaders headers{{"x-mock-cached-tokens", "2"}};
    if (c.route == Route::kMessages) headers.Add("anthropic-version", "2023-06-01");
    auto response = client_->SendSync({.method = "POST",
                                       .url = Cat(mock_->base_url(), RoutePath(c.route)),
                                       .headers = headers,
                                       .body = c.body});
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->status, 200) << response->body;
    const ApiFamily family = RouteOf(c.route).family;
    std::optional<std::string> projected = UsageProjection(family, response->body);
    ASSERT_TRUE(projected.has_value()) << response->body;
    EXPECT_LT(projected->size(), response->body.size());
    const std::string_view provider = UsageParserProvider(family);
    absl::StatusOr<ParsedResponse> whole = ParseProviderResponse(provider, response->body);
    ASSERT_TRUE(whole.ok()) << whole.status();
    EXPECT_TRUE(whole->has_usage);
    EXPECT_EQ(Describe(ParseProviderResponse(provider, *projected)), Describe(whole));
  }
}

}  // namespace
}  // namespace genops::gateway
