// Usage: token counts of one LLM call, normalised across providers.
//
// One shape for every provider (DESIGN.md §2):
//   input_tokens        every prompt token, cached ones included
//   cache_read_tokens   subset of input_tokens served from the provider's prompt cache
//   cache_write_tokens  subset of input_tokens written to the prompt cache
//   output_tokens       every generated token, reasoning included
//   reasoning_tokens    subset of output_tokens spent on hidden reasoning
// Provider quirks (OpenAI's prompt_tokens already holding cached tokens, Anthropic's
// input_tokens excluding them, Gemini's candidates excluding thoughts) are resolved by the
// parsers in src/core/usage_parser.h, never by callers.
//
// Thread safety: a plain value type.
#ifndef GENOPS_USAGE_H_
#define GENOPS_USAGE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace genops {

struct Usage {
  int64_t input_tokens = 0;
  int64_t cache_read_tokens = 0;
  int64_t cache_write_tokens = 0;
  int64_t output_tokens = 0;
  int64_t reasoning_tokens = 0;

  int64_t total_tokens() const { return input_tokens + output_tokens; }
  // Prompt tokens billed at the plain input price.
  int64_t uncached_input_tokens() const {
    return input_tokens - cache_read_tokens - cache_write_tokens;
  }

  // Rejects negative counts, subsets larger than their whole, and counts above
  // kMaxTokens (a guard against absurd values from untrusted input).
  absl::Status Validate() const;

  static constexpr int64_t kMaxTokens = 1'000'000'000'000;  // 1e12

  bool operator==(const Usage&) const = default;
};

}  // namespace genops

#endif  // GENOPS_USAGE_H_
