// Mutation tests for the parsers that read untrusted input (provider response bodies, catalog
// override files, configuration files): thousands of corrupted variants of valid inputs must
// each yield a value or a clear error — never a crash, hang or sanitizer report. Deterministic
// seeds keep failures reproducible; run under the asan preset for memory errors.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "src/core/catalog.h"
#include "src/core/usage_parser.h"
#include "src/server/config_file.h"

namespace genops {
namespace {

// Truncations, byte flips, deletions, duplications and insertions of JSON punctuation.
std::string Mutate(const std::string& input, std::mt19937_64& rng) {
  std::string s = input;
  const int edits = 1 + static_cast<int>(rng() % 4);
  static constexpr char kPieces[] = "{}[]\",:-0123456789eE.\\ntruefalsenull\x00\xff";
  for (int i = 0; i < edits && !s.empty(); ++i) {
    const size_t pos = rng() % s.size();
    switch (rng() % 5) {
      case 0:
        s.resize(pos);
        break;
      case 1:
        s[pos] = static_cast<char>(rng() % 256);
        break;
      case 2:
        s.erase(pos, 1 + rng() % 8);
        break;
      case 3:
        s.insert(pos, s.substr(pos, rng() % 32));
        break;
      default:
        s.insert(pos, 1, kPieces[rng() % (sizeof(kPieces) - 1)]);
        break;
    }
  }
  return s;
}

const std::vector<std::pair<std::string, std::string>>& ProviderBodies() {
  static const auto* bodies = new std::vector<std::pair<std::string, std::string>>{
      {"openai",
       R"({"id":"c1","model":"gpt-4o-2024-08-06","choices":[{"finish_reason":"stop"}],
           "usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
           "prompt_tokens_details":{"cached_tokens":50},
           "completion_tokens_details":{"reasoning_tokens":5}}})"},
      {"openai",
       R"({"id":"r1","object":"response","model":"o3","usage":{"input_tokens":10,
           "output_tokens":30,"input_tokens_details":{"cached_tokens":2},
           "output_tokens_details":{"reasoning_tokens":20}}})"},
      {"anthropic",
       R"({"id":"m1","type":"message","model":"claude-sonnet-4-20250514","stop_reason":"end_turn",
           "usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":100,
           "cache_creation_input_tokens":20}})"},
      {"google",
       R"({"modelVersion":"gemini-2.5-pro","candidates":[{"finishReason":"STOP"}],
           "usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":10,
           "thoughtsTokenCount":40,"cachedContentTokenCount":30}})"},
      {"aws_bedrock",
       R"({"output":{},"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":4,
           "cacheReadInputTokens":3,"cacheWriteInputTokens":2}})"},
  };
  return *bodies;
}

TEST(ParserRobustnessTest, ProviderResponsesNeverCrash) {
  std::mt19937_64 rng(20261123);
  int parsed = 0, rejected = 0;
  for (const auto& [provider, body] : ProviderBodies()) {
    ASSERT_TRUE(ParseProviderResponse(provider, body).ok()) << provider;
    for (int i = 0; i < 4000; ++i) {
      auto result = ParseProviderResponse(provider, Mutate(body, rng));
      if (result.ok()) {
        ++parsed;
        EXPECT_TRUE(result->usage.Validate().ok()) << "an accepted body has valid usage";
      } else {
        ++rejected;
        EXPECT_FALSE(result.status().message().empty());
      }
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(parsed + rejected, 0);
}

TEST(ParserRobustnessTest, DeeplyNestedBodiesAreRejectedNotOverflowed) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto result = ParseProviderResponse("openai", deep);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(std::string(result.status().message()).find("nested deeper"), std::string::npos);
  EXPECT_FALSE(pricing::Catalog::FromJson(deep, "deep.json").ok());
  // Brackets inside strings do not count.
  const std::string quoted = R"({"id":"x","model":")" + std::string(1000, '[') +
                             R"(","usage":{"prompt_tokens":1,"completion_tokens":1}})";
  EXPECT_TRUE(ParseProviderResponse("openai", quoted).ok());
}

TEST(ParserRobustnessTest, CatalogFilesNeverCrash) {
  const std::string catalog = R"({"schema_version":1,"models":[{"provider":"openai","id":"m",
      "kind":"chat","prices":{"input":"2.50","output":"10.00","cache_read":"1.25"},
      "tiers":[{"above_input_tokens":200000,"input":"5","output":"20"}],
      "default_max_output_tokens":100,"as_of":"2026-11-01","source":"https://example.com"}]})";
  ASSERT_TRUE(pricing::Catalog::FromJson(catalog, "t.json").ok());
  std::mt19937_64 rng(7);
  for (int i = 0; i < 4000; ++i) {
    auto result = pricing::Catalog::FromJson(Mutate(catalog, rng), "t.json");
    if (!result.ok()) {
      EXPECT_FALSE(result.status().message().empty());
    }
  }
}

TEST(ParserRobustnessTest, ConfigFilesNeverCrash) {
  const std::string config = R"(governance:
  team: a
  project: b
  governance_policy: enforced
  daily_budget_limit: 10.5
budgets:
  - {name: x, scope: {team: a}, limit_usd: 5, period: week, alert_thresholds: [0.5, 1.0]}
export:
  otlp: {endpoint: http://127.0.0.1:4318/v1/traces, headers: {k: v}}
  sampling_rate: 0.5
)";
  ASSERT_TRUE(server::ParseConfigYaml(config, "c.yaml").ok());
  std::mt19937_64 rng(11);
  for (int i = 0; i < 3000; ++i) {
    auto result = server::ParseConfigYaml(Mutate(config, rng), "c.yaml");
    if (!result.ok()) {
      EXPECT_FALSE(result.status().message().empty());
    }
  }
}

}  // namespace
}  // namespace genops
