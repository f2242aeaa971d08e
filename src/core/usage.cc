// Usage::Validate (see include/genops/usage.h).
#include "genops/usage.h"

#include <string_view>

#include "absl/status/status.h"
#include "src/core/text.h"

namespace genops {

absl::Status Usage::Validate() const {
  const std::pair<std::string_view, int64_t> fields[] = {
      {"input_tokens", input_tokens},
      {"cache_read_tokens", cache_read_tokens},
      {"cache_write_tokens", cache_write_tokens},
      {"output_tokens", output_tokens},
      {"reasoning_tokens", reasoning_tokens},
  };
  for (const auto& [name, value] : fields) {
    if (value < 0) {
      return absl::InvalidArgumentError(
          Cat("usage.", name, " is negative (", value, "); token counts must be >= 0"));
    }
    if (value > kMaxTokens) {
      return absl::InvalidArgumentError(
          Cat("usage.", name, " is ", value, ", above the sanity limit of ", kMaxTokens));
    }
  }
  if (cache_read_tokens + cache_write_tokens > input_tokens) {
    return absl::InvalidArgumentError(Cat("usage: cache_read_tokens (", cache_read_tokens,
                                          ") + cache_write_tokens (", cache_write_tokens,
                                          ") exceed input_tokens (", input_tokens,
                                          "); input_tokens must include cached tokens"));
  }
  if (reasoning_tokens > output_tokens) {
    return absl::InvalidArgumentError(Cat("usage: reasoning_tokens (", reasoning_tokens,
                                          ") exceed output_tokens (", output_tokens,
                                          "); output_tokens must include reasoning tokens"));
  }
  return absl::OkStatus();
}

}  // namespace genops
