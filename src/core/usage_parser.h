// Usage parser: turns a provider's response body into normalised genops::Usage.
//
// Each provider counts tokens its own way; getting the rules wrong double-counts or drops
// money (DESIGN.md §2), so they live here, once, with a test per shape:
//   openai (and groq, deepseek, xai, mistral: the OpenAI shape)
//       chat.completions / completions: prompt_tokens already holds
//       prompt_tokens_details.cached_tokens; completion_tokens holds
//       completion_tokens_details.reasoning_tokens. DeepSeek reports cache hits as
//       prompt_cache_hit_tokens. xAI reports reasoning_tokens *outside* completion_tokens
//       (its total_tokens = prompt + completion + reasoning), which is detected and added.
//       Responses API: usage.input_tokens / output_tokens with
//       input_tokens_details.cached_tokens / output_tokens_details.reasoning_tokens.
//       Embeddings: prompt_tokens only.
//   anthropic  input_tokens EXCLUDES cache_read_input_tokens and
//       cache_creation_input_tokens, so normalised input is the sum of the three.
//   google / gemini  usageMetadata.promptTokenCount includes cachedContentTokenCount;
//       candidatesTokenCount EXCLUDES thoughtsTokenCount, so output = candidates + thoughts;
//       toolUsePromptTokenCount is prompt input too.
//   aws_bedrock  Converse: usage.inputTokens EXCLUDES cacheReadInputTokens and
//       cacheWriteInputTokens. InvokeModel bodies in the Anthropic Messages shape and the
//       Meta Llama shape (prompt_token_count / generation_token_count) are read too.
//   cohere  v2 chat: usage.billed_units (else usage.tokens); embed: meta.billed_units.
// A body without any usage is not an error (has_usage = false): error responses and some
// streaming chunks carry none. Malformed JSON, a non-object body, and negative,
// fractional or absurd counts are errors that name the field.
//
// Example:
//   absl::StatusOr<ParsedResponse> r = ParseProviderResponse("anthropic", body);
//   if (r.ok() && r->has_usage) cost = ComputeCost(*model, r->usage);
//
// Thread safety: free functions; safe to call concurrently. Each calling thread keeps a
// parser of its own for bodies up to 64 KiB (its buffers stay allocated with the thread).
#ifndef GENOPS_CORE_USAGE_PARSER_H_
#define GENOPS_CORE_USAGE_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/usage.h"

namespace genops {

struct ParsedResponse {
  std::string provider;     // canonical: openai, anthropic, google, aws_bedrock, ...
  std::string model;        // as the response reports it (empty when the body has none)
  std::string response_id;  // "id" / "responseId" (empty when absent)
  Usage usage;
  std::vector<std::string> finish_reasons;  // as the provider spells them
  bool has_usage = false;
};

// Parses a complete (non-streaming) response body of `provider`: "openai", "anthropic",
// "google" or "gemini", "aws_bedrock" (or "bedrock"), "groq", "deepseek", "xai", "mistral",
// "cohere" (case-insensitive). An unknown provider is an InvalidArgument error.
absl::StatusOr<ParsedResponse> ParseProviderResponse(std::string_view provider,
                                                     std::string_view body);

// Normalisers for counts already extracted (streaming events, OTLP attributes). Negative
// inputs are treated as zero; sums saturate at Usage::kMaxTokens + 1 so Validate() fails.
Usage NormalizeOpenAIUsage(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens,
                           int64_t reasoning_tokens);
Usage NormalizeAnthropicUsage(int64_t input_tokens, int64_t output_tokens,
                              int64_t cache_read_input_tokens, int64_t cache_creation_input_tokens);
Usage NormalizeGeminiUsage(int64_t prompt_token_count, int64_t candidates_token_count,
                           int64_t cached_content_token_count, int64_t thoughts_token_count);

}  // namespace genops

#endif  // GENOPS_CORE_USAGE_PARSER_H_
