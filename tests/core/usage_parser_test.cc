#include "src/core/usage_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace genops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ParsedResponse Parse(std::string_view provider, std::string_view body) {
  absl::StatusOr<ParsedResponse> r = ParseProviderResponse(provider, body);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : ParsedResponse{};
}

std::string ErrorOf(std::string_view provider, std::string_view body) {
  absl::StatusOr<ParsedResponse> r = ParseProviderResponse(provider, body);
  EXPECT_FALSE(r.ok()) << body;
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  return r.ok() ? "" : std::string(r.status().message());
}

Usage U(int64_t input, int64_t cache_read, int64_t cache_write, int64_t output, int64_t reasoning) {
  return Usage{.input_tokens = input,
               .cache_read_tokens = cache_read,
               .cache_write_tokens = cache_write,
               .output_tokens = output,
               .reasoning_tokens = reasoning};
}

// --- OpenAI ---------------------------------------------------------------------------------

TEST(UsageParserTest, OpenAIChatCompletionKeepsCachedAndReasoningAsSubsets) {
  ParsedResponse r = Parse("openai", R"({
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "o3-mini-2025-01-31",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null,
                 "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
    "usage": {
      "prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
      "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
      "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
                                    "accepted_prediction_tokens": 0,
                                    "rejected_prediction_tokens": 0}
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035"
  })");
  EXPECT_EQ(r.provider, "openai");
  EXPECT_EQ(r.model, "o3-mini-2025-01-31");
  EXPECT_EQ(r.response_id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
  EXPECT_TRUE(r.has_usage);
  EXPECT_EQ(r.usage, U(2006, 1920, 0, 300, 192));
  EXPECT_THAT(r.finish_reasons, ElementsAre("stop"));
}

TEST(UsageParserTest, OpenAIResponsesApi) {
  ParsedResponse r = Parse("openai", R"({
    "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
    "object": "response", "created_at": 1741476777, "status": "completed",
    "error": null, "incomplete_details": null, "model": "gpt-4o-2024-08-06",
    "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}],
    "usage": {"input_tokens": 328, "input_tokens_details": {"cached_tokens": 128},
              "output_tokens": 52, "output_tokens_details": {"reasoning_tokens": 10},
              "total_tokens": 380}
  })");
  EXPECT_EQ(r.model, "gpt-4o-2024-08-06");
  EXPECT_EQ(r.usage, U(328, 128, 0, 52, 10));
  EXPECT_THAT(r.finish_reasons, ElementsAre("completed"));
}

TEST(UsageParserTest, OpenAIResponsesApiIncomplete) {
  ParsedResponse r = Parse("openai", R"({"id": "resp_1", "object": "response",
    "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
    "model": "o4-mini", "usage": {"input_tokens": 10, "output_tokens": 100,
    "output_tokens_details": {"reasoning_tokens": 100}, "total_tokens": 110}})");
  EXPECT_EQ(r.usage, U(10, 0, 0, 100, 100));
  EXPECT_THAT(r.finish_reasons, ElementsAre("max_output_tokens"));
}

TEST(UsageParserTest, OpenAIEmbeddingsAndLegacyCompletions) {
  ParsedResponse e = Parse("openai", R"({
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8}
  })");
  EXPECT_EQ(e.model, "text-embedding-3-small");
  EXPECT_EQ(e.usage, U(8, 0, 0, 0, 0));
  EXPECT_TRUE(e.finish_reasons.empty());

  ParsedResponse c = Parse("openai", R"({"id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
    "object": "text_completion", "created": 1589478378, "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": null,
                 "finish_reason": "length"},
                {"text": "x", "index": 1, "logprobs": null, "finish_reason": null}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})");
  EXPECT_EQ(c.usage, U(5, 0, 0, 7, 0));
  EXPECT_THAT(c.finish_reasons, ElementsAre("length"));
}

TEST(UsageParserTest, OpenAIErrorBodyHasNoUsage) {
  ParsedResponse r = Parse("openai", R"({"error": {"message": "Rate limit reached",
    "type": "requests", "param": null, "code": "rate_limit_exceeded"}})");
  EXPECT_FALSE(r.has_usage);
  EXPECT_EQ(r.usage, Usage{});
  r = Parse("openai", R"({"id": "x", "model": "gpt-4o", "usage": null})");
  EXPECT_FALSE(r.has_usage);
}

// --- OpenAI-compatible providers --------------------------------------------------------------

TEST(UsageParserTest, DeepSeekCacheHitTokens) {
  ParsedResponse r = Parse("deepseek", R"({
    "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e", "object": "chat.completion",
    "created": 1705651092, "model": "deepseek-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 16, "completion_tokens": 10, "total_tokens": 26,
              "prompt_tokens_details": {"cached_tokens": 0},
              "prompt_cache_hit_tokens": 12, "prompt_cache_miss_tokens": 4},
    "system_fingerprint": "fp_44709d6fcb"
  })");
  EXPECT_EQ(r.provider, "deepseek");
  EXPECT_EQ(r.usage, U(16, 12, 0, 10, 0));
}

TEST(UsageParserTest, DeepSeekReasonerCountsReasoningInsideCompletion) {
  ParsedResponse r = Parse("deepseek", R"({"id": "x", "model": "deepseek-reasoner",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                 "content": "4", "reasoning_content": "2+2"}}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 300, "total_tokens": 320,
              "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 20,
              "completion_tokens_details": {"reasoning_tokens": 250}}})");
  EXPECT_EQ(r.usage, U(20, 0, 0, 300, 250));
}

TEST(UsageParserTest, XaiReportsReasoningOutsideCompletionTokens) {
  // xAI: total_tokens = prompt + completion + reasoning.
  ParsedResponse r = Parse("xai", R"({
    "id": "a3d1008e-4544-40d4-d075-11527e794e4a", "object": "chat.completion",
    "created": 1752854522, "model": "grok-3-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "101 multiplied by 3 is 303.",
                 "reasoning_content": "..."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135,
              "prompt_tokens_details": {"text_tokens": 32, "audio_tokens": 0, "image_tokens": 0,
                                        "cached_tokens": 6},
              "completion_tokens_details": {"reasoning_tokens": 94, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0},
              "num_sources_used": 0},
    "system_fingerprint": "fp_11a9d8b2e5"
  })");
  EXPECT_EQ(r.usage, U(32, 6, 0, 103, 94));

  // Without total_tokens, xAI's known convention applies.
  r = Parse("xai", R"({"model": "grok-4", "usage": {"prompt_tokens": 10,
    "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 50}}})");
  EXPECT_EQ(r.usage, U(10, 0, 0, 55, 50));

  // Should xAI ever count reasoning inside completion_tokens, total_tokens says so.
  r = Parse("xai", R"({"model": "grok-4", "usage": {"prompt_tokens": 10,
    "completion_tokens": 55, "total_tokens": 65,
    "completion_tokens_details": {"reasoning_tokens": 50}}})");
  EXPECT_EQ(r.usage, U(10, 0, 0, 55, 50));
}

TEST(UsageParserTest, GroqAndMistralUseTheOpenAIShape) {
  ParsedResponse g = Parse("groq", R"({
    "id": "chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22", "object": "chat.completion",
    "created": 1730241104, "model": "llama-3.3-70b-versatile",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Fast"},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"queue_time": 0.037493756, "prompt_tokens": 18, "prompt_time": 0.000680594,
              "completion_tokens": 556, "completion_time": 0.463333333, "total_tokens": 574,
              "total_time": 0.464013927},
    "system_fingerprint": "fp_179b0f92c9", "x_groq": {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"}
  })");
  EXPECT_EQ(g.provider, "groq");
  EXPECT_EQ(g.usage, U(18, 0, 0, 556, 0));

  ParsedResponse m = Parse("Mistral", R"({"id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
    "object": "chat.completion", "model": "mistral-small-latest", "created": 1702256327,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "tool_calls": null},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50}})");
  EXPECT_EQ(m.provider, "mistral");
  EXPECT_EQ(m.model, "mistral-small-latest");
  EXPECT_EQ(m.usage, U(16, 0, 0, 34, 0));
}

// --- Anthropic ------------------------------------------------------------------------------

TEST(UsageParserTest, AnthropicInputExcludesCacheTokens) {
  ParsedResponse r = Parse("anthropic", R"({
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn", "stop_sequence": null,
    "usage": {"input_tokens": 50, "cache_creation_input_tokens": 2000,
              "cache_read_input_tokens": 100000, "output_tokens": 300,
              "service_tier": "standard",
              "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0}}
  })");
  EXPECT_EQ(r.provider, "anthropic");
  EXPECT_EQ(r.model, "claude-sonnet-4-20250514");
  EXPECT_EQ(r.response_id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
  EXPECT_EQ(r.usage, U(102'050, 100'000, 2'000, 300, 0));
  EXPECT_EQ(r.usage.uncached_input_tokens(), 50);
  EXPECT_THAT(r.finish_reasons, ElementsAre("end_turn"));
}

TEST(UsageParserTest, AnthropicWithoutCacheFieldsAndWithTtlBreakdownOnly) {
  ParsedResponse r = Parse("anthropic", R"({"id": "msg_1", "type": "message",
    "model": "claude-3-5-haiku-20241022", "stop_reason": "max_tokens",
    "usage": {"input_tokens": 12, "output_tokens": 6}})");
  EXPECT_EQ(r.usage, U(12, 0, 0, 6, 0));
  EXPECT_THAT(r.finish_reasons, ElementsAre("max_tokens"));

  r = Parse("anthropic", R"({"id": "msg_2", "type": "message", "model": "claude-opus-4-1",
    "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5,
              "cache_creation": {"ephemeral_5m_input_tokens": 100,
                                 "ephemeral_1h_input_tokens": 40}}})");
  EXPECT_EQ(r.usage, U(155, 5, 140, 1, 0));
}

TEST(UsageParserTest, AnthropicErrorBodyHasNoUsage) {
  ParsedResponse r = Parse("anthropic", R"({"type": "error", "error": {"type": "overloaded_error",
    "message": "Overloaded"}})");
  EXPECT_FALSE(r.has_usage);
}

// --- Gemini ---------------------------------------------------------------------------------

TEST(UsageParserTest, GeminiCandidatesExcludeThoughts) {
  ParsedResponse r = Parse("google", R"({
    "candidates": [{"content": {"parts": [{"text": "The answer is 42."}], "role": "model"},
                    "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 200,
                      "totalTokenCount": 2000, "cachedContentTokenCount": 600,
                      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
                      "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 600}],
                      "thoughtsTokenCount": 800},
    "modelVersion": "gemini-2.5-pro",
    "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"
  })");
  EXPECT_EQ(r.provider, "google");
  EXPECT_EQ(r.model, "gemini-2.5-pro");
  EXPECT_EQ(r.response_id, "mAitaLmkHPPlz7IPvtfUqQ4");
  EXPECT_EQ(r.usage, U(1000, 600, 0, 1000, 800));
  EXPECT_THAT(r.finish_reasons, ElementsAre("STOP"));
}

TEST(UsageParserTest, GeminiToolUsePromptTokensAreInput) {
  ParsedResponse r = Parse("gemini", R"({"candidates": [{"finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                      "toolUsePromptTokenCount": 50, "totalTokenCount": 170},
    "modelVersion": "gemini-2.5-flash"})");
  EXPECT_EQ(r.provider, "google");
  EXPECT_EQ(r.usage, U(150, 0, 0, 20, 0));
}

TEST(UsageParserTest, GeminiStreamArrayUsesTheLastUsage) {
  ParsedResponse r = Parse("google", R"([
    {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
     "modelVersion": "gemini-2.0-flash", "responseId": "r1"},
    {"candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"},
                     "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
     "modelVersion": "gemini-2.0-flash", "responseId": "r1"}
  ])");
  EXPECT_EQ(r.model, "gemini-2.0-flash");
  EXPECT_EQ(r.usage, U(9, 0, 0, 4, 0));
  EXPECT_THAT(r.finish_reasons, ElementsAre("STOP"));
}

// --- AWS Bedrock ----------------------------------------------------------------------------

TEST(UsageParserTest, BedrockConverseInputExcludesCacheTokens) {
  ParsedResponse r = Parse("aws_bedrock", R"({
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 20, "outputTokens": 100, "totalTokens": 1620,
              "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 500},
    "metrics": {"latencyMs": 1143}
  })");
  EXPECT_EQ(r.provider, "aws_bedrock");
  EXPECT_EQ(r.model, "");  // Converse responses do not name the model
  EXPECT_EQ(r.usage, U(1520, 1000, 500, 100, 0));
  EXPECT_THAT(r.finish_reasons, ElementsAre("end_turn"));
}

TEST(UsageParserTest, BedrockInvokeModelBodies) {
  ParsedResponse claude = Parse("bedrock", R"({"id": "msg_bdrk_01", "type": "message",
    "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
    "stop_sequence": null, "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 30, "output_tokens": 5}})");
  EXPECT_EQ(claude.provider, "aws_bedrock");
  EXPECT_EQ(claude.usage, U(40, 30, 0, 5, 0));

  ParsedResponse llama = Parse("aws_bedrock", R"({"generation": "Hello there",
    "prompt_token_count": 12, "generation_token_count": 34, "stop_reason": "stop"})");
  EXPECT_EQ(llama.usage, U(12, 0, 0, 34, 0));
  EXPECT_THAT(llama.finish_reasons, ElementsAre("stop"));

  ParsedResponse titan = Parse("aws_bedrock", R"({"inputTextTokenCount": 7,
    "results": [{"tokenCount": 21, "outputText": "x", "completionReason": "FINISH"}]})");
  EXPECT_EQ(titan.usage, U(7, 0, 0, 21, 0));

  ParsedResponse nova = Parse("aws_bedrock", R"({"output": {"message": {"content": [{"text": "x"}],
    "role": "assistant"}}, "stopReason": "end_turn", "usage": {"inputTokens": 5,
    "outputTokens": 6, "totalTokens": 11, "cacheReadInputTokenCount": 2,
    "cacheWriteInputTokenCount": 0}})");
  EXPECT_EQ(nova.usage, U(7, 2, 0, 6, 0));
}

// --- Cohere ---------------------------------------------------------------------------------

TEST(UsageParserTest, CohereBilledUnits) {
  ParsedResponse r = Parse("cohere", R"({"id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE", "message": {"role": "assistant",
    "content": [{"type": "text", "text": "LLMs are..."}]},
    "usage": {"billed_units": {"input_tokens": 17, "output_tokens": 12},
              "tokens": {"input_tokens": 215, "output_tokens": 12}}})");
  EXPECT_EQ(r.usage, U(17, 0, 0, 12, 0));
  EXPECT_THAT(r.finish_reasons, ElementsAre("COMPLETE"));
  ParsedResponse embed = Parse("cohere", R"({"id": "e1", "embeddings": {"float": [[0.1]]},
    "texts": ["hi"], "meta": {"api_version": {"version": "2"},
    "billed_units": {"input_tokens": 3}}})");
  EXPECT_EQ(embed.usage, U(3, 0, 0, 0, 0));
}

// --- Bad input ------------------------------------------------------------------------------

TEST(UsageParserErrorsTest, MalformedBodies) {
  EXPECT_THAT(ErrorOf("openai", "{\"usage\": "), HasSubstr("openai response: malformed JSON"));
  EXPECT_THAT(ErrorOf("openai", ""), HasSubstr("malformed JSON"));
  EXPECT_THAT(ErrorOf("openai", "[1, 2]"), HasSubstr("openai response: expected a JSON object"));
  EXPECT_THAT(ErrorOf("anthropic", "\"text\""), HasSubstr("expected a JSON object"));
  EXPECT_THAT(ErrorOf("google", "[1]"), HasSubstr("google response: []: expected an array of"));
  EXPECT_THAT(ErrorOf("openai", R"({"usage": [1]})"),
              HasSubstr("openai response: usage: expected an object"));
  EXPECT_FALSE(Parse("openai", "{}").has_usage);  // an empty object is not an error
}

TEST(UsageParserErrorsTest, BadCountsNameTheField) {
  struct Case {
    const char* provider;
    const char* body;
    const char* expect;
  };
  const Case cases[] = {
      {"openai", R"({"usage": {"prompt_tokens": -5, "completion_tokens": 1}})",
       "openai response: usage.prompt_tokens: expected a non-negative integer token count"},
      {"openai", R"({"usage": {"prompt_tokens": 5, "completion_tokens": 1.5}})",
       "usage.completion_tokens: expected a non-negative integer token count (at most "
       "1000000000000), got 1.5"},
      {"openai", R"({"usage": {"prompt_tokens": "12"}})", "usage.prompt_tokens"},
      {"openai", R"({"usage": {"prompt_tokens": 10000000000000}})", "usage.prompt_tokens"},
      {"openai", R"({"usage": {"prompt_tokens": 18446744073709551615}})", "usage.prompt_tokens"},
      {"openai",
       R"({"usage": {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": -1}}})",
       "usage.prompt_tokens_details.cached_tokens"},
      {"openai", R"({"usage": {"input_tokens": 5, "output_tokens": true}})", "usage.output_tokens"},
      {"anthropic", R"({"usage": {"input_tokens": 5, "cache_read_input_tokens": -2}})",
       "anthropic response: usage.cache_read_input_tokens"},
      {"google", R"({"usageMetadata": {"thoughtsTokenCount": -1}})",
       "google response: usageMetadata.thoughtsTokenCount"},
      {"google", R"({"usageMetadata": 5})", "google response: usageMetadata: expected an object"},
      {"aws_bedrock", R"({"usage": {"inputTokens": 5, "cacheWriteInputTokens": "x"}})",
       "aws_bedrock response: usage.cacheWriteInputTokens"},
      {"cohere", R"({"usage": {"billed_units": {"input_tokens": -3}}})",
       "cohere response: usage.billed_units.input_tokens"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ErrorOf(c.provider, c.body), HasSubstr(c.expect)) << c.body;
  }
}

TEST(UsageParserTest, IntegersBeyond64BitsAreNumbersNotMalformedJson) {
  // A member the parser does not read may hold any JSON number; the usage still counts.
  ParsedResponse r = Parse("openai", R"({"seed": 123456789012345678901234567890,
      "note": "12345678901234567890123 in a string", "model": "gpt-4o",
      "usage": {"prompt_tokens": 7, "completion_tokens": 3}})");
  EXPECT_TRUE(r.has_usage);
  EXPECT_EQ(r.model, "gpt-4o");
  EXPECT_EQ(r.usage.input_tokens, 7);
  EXPECT_EQ(r.usage.output_tokens, 3);
  // One that is a count is out of range, and says so.
  EXPECT_THAT(ErrorOf("openai", R"({"usage": {"prompt_tokens": -123456789012345678901234}})"),
              HasSubstr("usage.prompt_tokens: expected a non-negative integer token count"));
  EXPECT_THAT(ErrorOf("openai", R"({"usage": {"prompt_tokens": 123456789012345678901234}})"),
              HasSubstr("usage.prompt_tokens"));
  EXPECT_THAT(ErrorOf("openai", R"({"usage": 123456789012345678901234})"),
              HasSubstr("usage: expected an object"));
}

TEST(UsageParserTest, ALargeBodyIsReadLikeASmallOne) {
  // Past 64 KiB a body gets a parser of its own instead of the thread's; same answer, and
  // the thread's parser still works after it.
  const std::string content(200 * 1024, 'x');
  ParsedResponse big =
      Parse("openai", R"({"model": "gpt-4o", "choices": [{"message": {"content": ")" + content +
                          R"("}, "finish_reason": "length"}],
      "usage": {"prompt_tokens": 11, "completion_tokens": 4096}})");
  EXPECT_TRUE(big.has_usage);
  EXPECT_EQ(big.usage.input_tokens, 11);
  EXPECT_EQ(big.usage.output_tokens, 4096);
  EXPECT_THAT(big.finish_reasons, ::testing::ElementsAre("length"));
  ParsedResponse small =
      Parse("openai", R"({"usage": {"prompt_tokens": 2, "completion_tokens": 1}})");
  EXPECT_EQ(small.usage.input_tokens, 2);
}

TEST(UsageParserTest, ARepeatedKeyCountsItsLastValue) {
  ParsedResponse r = Parse("openai", R"({"usage": {"prompt_tokens": 1, "completion_tokens": 2},
      "usage": {"prompt_tokens": 5, "completion_tokens": 6}})");
  EXPECT_EQ(r.usage.input_tokens, 5);
  EXPECT_EQ(r.usage.output_tokens, 6);
}

TEST(UsageParserErrorsTest, InconsistentCountsAreRejected) {
  // OpenAI's cached tokens are part of prompt_tokens; more cached than prompt is nonsense.
  EXPECT_THAT(ErrorOf("openai", R"({"usage": {"prompt_tokens": 5, "completion_tokens": 1,
    "prompt_tokens_details": {"cached_tokens": 9}}})"),
              HasSubstr("openai response: inconsistent usage: usage: cache_read_tokens (9)"));
  EXPECT_THAT(ErrorOf("openai", R"({"usage": {"prompt_tokens": 5, "completion_tokens": 1,
    "total_tokens": 6, "completion_tokens_details": {"reasoning_tokens": 3}}})"),
              HasSubstr("reasoning_tokens (3) exceed output_tokens (1)"));
}

TEST(UsageParserErrorsTest, UnknownProvider) {
  EXPECT_THAT(ErrorOf("acme", "{}"), HasSubstr("unknown provider \"acme\""));
}

// --- Normalisers ----------------------------------------------------------------------------

TEST(UsageNormalizeTest, ProviderRules) {
  EXPECT_EQ(NormalizeOpenAIUsage(100, 50, 40, 20), U(100, 40, 0, 50, 20));
  EXPECT_EQ(NormalizeAnthropicUsage(10, 50, 200, 30), U(240, 200, 30, 50, 0));
  EXPECT_EQ(NormalizeGeminiUsage(100, 20, 60, 80), U(100, 60, 0, 100, 80));
  EXPECT_TRUE(NormalizeAnthropicUsage(10, 50, 200, 30).Validate().ok());
  EXPECT_TRUE(NormalizeGeminiUsage(100, 20, 60, 80).Validate().ok());
}

TEST(UsageNormalizeTest, NegativeAndHugeInputsNeverWrap) {
  EXPECT_EQ(NormalizeOpenAIUsage(-1, -2, -3, -4), Usage{});
  Usage u = NormalizeAnthropicUsage(INT64_MAX, 1, INT64_MAX, INT64_MAX);
  EXPECT_GT(u.input_tokens, 0);
  EXPECT_FALSE(u.Validate().ok());
}

}  // namespace
}  // namespace genops
