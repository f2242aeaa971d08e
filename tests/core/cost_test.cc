#include "src/core/cost.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

// Designated initializers name only the fields a case is about; the rest stay default.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace genops::pricing {
namespace {

constexpr int64_t kMicro = 1'000'000;  // one USD per 1M tokens

ModelPricing Gpt4o() {
  ModelPricing m;
  m.provider = "openai";
  m.id = "gpt-4o";
  m.prices = {.input = 2'500'000, .output = 10'000'000, .cache_read = 1'250'000};
  m.default_max_output_tokens = 16384;
  return m;
}

ModelPricing ClaudeWithTier() {
  ModelPricing m;
  m.provider = "anthropic";
  m.id = "claude-sonnet-4";
  m.prices = {
      .input = 3 * kMicro, .output = 15 * kMicro, .cache_read = 300'000, .cache_write = 3'750'000};
  m.tiers = {{.above_input_tokens = 200'000,
              .prices = {.input = 6 * kMicro, .output = 22'500'000, .cache_read = 600'000}}};
  return m;
}

TEST(CostTest, OpenAIWithCachedInput) {
  Usage u{.input_tokens = 1000, .cache_read_tokens = 400, .output_tokens = 500};
  CostBreakdown c = ComputeCost(Gpt4o(), u);
  EXPECT_EQ(c.input.nanos(), 1'500'000);     // 600 × $2.50/1M = $0.0015
  EXPECT_EQ(c.cache_read.nanos(), 500'000);  // 400 × $1.25/1M
  EXPECT_EQ(c.cache_write.nanos(), 0);
  EXPECT_EQ(c.output.nanos(), 5'000'000);  // 500 × $10/1M
  EXPECT_EQ(c.reasoning.nanos(), 0);
  EXPECT_EQ(c.total.nanos(), 7'000'000);
  EXPECT_EQ(c.total_picos, 7'000'000'000);
  EXPECT_FALSE(c.long_context_tier);
}

TEST(CostTest, ReasoningIsBilledAsOutputWithoutItsOwnPrice) {
  Usage u{.input_tokens = 0, .output_tokens = 1000, .reasoning_tokens = 800};
  CostBreakdown c = ComputeCost(Gpt4o(), u);
  EXPECT_EQ(c.output.nanos(), 10'000'000);
  EXPECT_EQ(c.reasoning.nanos(), 0);
  EXPECT_EQ(c.total.nanos(), 10'000'000);
}

TEST(CostTest, DistinctReasoningPrice) {
  ModelPricing m = Gpt4o();
  m.prices.reasoning = 20 * kMicro;
  Usage u{.output_tokens = 1000, .reasoning_tokens = 800};
  CostBreakdown c = ComputeCost(m, u);
  EXPECT_EQ(c.output.nanos(), 2'000'000);      // 200 × $10/1M
  EXPECT_EQ(c.reasoning.nanos(), 16'000'000);  // 800 × $20/1M
  EXPECT_EQ(c.total.nanos(), 18'000'000);
}

TEST(CostTest, CacheWritesAndReadsUseTheirPrices) {
  Usage u{.input_tokens = 102'050,
          .cache_read_tokens = 100'000,
          .cache_write_tokens = 2'000,
          .output_tokens = 300};
  CostBreakdown c = ComputeCost(ClaudeWithTier(), u);
  EXPECT_EQ(c.input.nanos(), 150'000);          // 50 × $3/1M
  EXPECT_EQ(c.cache_read.nanos(), 30'000'000);  // 100k × $0.30/1M
  EXPECT_EQ(c.cache_write.nanos(), 7'500'000);  // 2k × $3.75/1M
  EXPECT_EQ(c.output.nanos(), 4'500'000);       // 300 × $15/1M
  EXPECT_EQ(c.total.nanos(), 42'150'000);
}

TEST(CostTest, MissingCachePricesFallBackToTheInputPrice) {
  ModelPricing m = Gpt4o();
  m.prices.cache_read = kNoPrice;
  Usage u{.input_tokens = 1000, .cache_read_tokens = 400, .cache_write_tokens = 100};
  CostBreakdown c = ComputeCost(m, u);
  EXPECT_EQ(c.cache_read.nanos(), 1'000'000);  // 400 × $2.50/1M
  EXPECT_EQ(c.cache_write.nanos(), 250'000);   // 100 × $2.50/1M
  EXPECT_EQ(c.total.nanos(), 2'500'000);       // exactly 1000 uncached tokens
}

TEST(CostTest, LongContextTierAppliesAboveTheThreshold) {
  const ModelPricing m = ClaudeWithTier();
  CostBreakdown at = ComputeCost(m, Usage{.input_tokens = 200'000, .output_tokens = 1000});
  EXPECT_FALSE(at.long_context_tier);
  EXPECT_EQ(at.total.nanos(), 600'000'000 + 15'000'000);

  CostBreakdown above = ComputeCost(
      m, Usage{.input_tokens = 200'001, .cache_write_tokens = 1, .output_tokens = 1000});
  EXPECT_TRUE(above.long_context_tier);
  EXPECT_EQ(above.input.nanos(), 1'200'000'000);  // 200000 × $6/1M
  // The tier lists no cache_write price: billed at the tier's input price, not the base one.
  EXPECT_EQ(above.cache_write.nanos(), 6'000);
  EXPECT_EQ(above.output.nanos(), 22'500'000);
}

TEST(CostTest, TotalIsRoundedUpOnceNotSummedFromRoundedParts) {
  ModelPricing m;
  m.prices = {.input = 1, .output = 1};  // one pico-USD per token
  CostBreakdown c = ComputeCost(m, Usage{.input_tokens = 1, .output_tokens = 1});
  EXPECT_EQ(c.input.nanos(), 1);  // each part rounds 1 pico up to 1 nano
  EXPECT_EQ(c.output.nanos(), 1);
  EXPECT_EQ(c.total_picos, 2);
  EXPECT_EQ(c.total.nanos(), 1);  // 2 picos round up to 1 nano, once

  c = ComputeCost(m, Usage{.input_tokens = 1000, .output_tokens = 0});
  EXPECT_EQ(c.total.nanos(), 1);  // exactly 1000 picos: no rounding
  c = ComputeCost(m, Usage{.input_tokens = 1001, .output_tokens = 0});
  EXPECT_EQ(c.total.nanos(), 2);  // never under-counted
  c = ComputeCost(m, Usage{});
  EXPECT_EQ(c.total.nanos(), 0);
}

TEST(CostTest, ExactTotalsAddUpAcrossManyOperations) {
  // The ledger sums rounded totals; their sum must equal the sum of ceil(picos / 1000) exactly.
  const ModelPricing m = ClaudeWithTier();
  std::mt19937_64 rng(42);
  int64_t ledger = 0;
  __extension__ __int128 expected = 0;
  for (int i = 0; i < 10000; ++i) {
    Usage u;
    u.input_tokens = static_cast<int64_t>(rng() % 300'000);
    u.cache_read_tokens = static_cast<int64_t>(rng() % (u.input_tokens + 1));
    u.cache_write_tokens = static_cast<int64_t>(rng() % (u.input_tokens - u.cache_read_tokens + 1));
    u.output_tokens = static_cast<int64_t>(rng() % 20'000);
    ASSERT_TRUE(u.Validate().ok());
    CostBreakdown c = ComputeCost(m, u);
    ledger += c.total.nanos();
    expected += (c.total_picos + 999) / 1000;
    ASSERT_GE(c.total.nanos() * 1000, c.total_picos);
    ASSERT_LT(c.total.nanos() * 1000 - c.total_picos, 1000);
  }
  EXPECT_EQ(ledger, static_cast<int64_t>(expected));
}

TEST(CostTest, InvalidUsageIsClampedNeverNegative) {
  CostBreakdown c =
      ComputeCost(Gpt4o(), Usage{.input_tokens = 10, .cache_read_tokens = 50, .output_tokens = -5});
  EXPECT_GE(c.input.nanos(), 0);
  EXPECT_EQ(c.cache_read.nanos(), 12'500);  // clamped to the 10 input tokens
  EXPECT_EQ(c.output.nanos(), 0);
  EXPECT_EQ(c.total.nanos(), 12'500);
}

TEST(CostTest, HugeUsageSaturatesInsteadOfOverflowing) {
  ModelPricing m;
  m.prices = {.input = 999'999'999 * kMicro, .output = 999'999'999 * kMicro};
  CostBreakdown c =
      ComputeCost(m, Usage{.input_tokens = Usage::kMaxTokens, .output_tokens = Usage::kMaxTokens});
  EXPECT_EQ(c.total_picos, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(c.total.nanos(), std::numeric_limits<int64_t>::max());
  EXPECT_GT(c.input.nanos(), 0);
}

TEST(CostTest, EstimateWorstCase) {
  const ModelPricing m = Gpt4o();
  // 1000 × $2.50/1M + 500 × $10/1M.
  EXPECT_EQ(EstimateWorstCase(m, 1000, 500).nanos(), 2'500'000 + 5'000'000);
  // No max_tokens: the model's default output budget.
  EXPECT_EQ(EstimateWorstCase(m, 0, 0).nanos(), 16384 * 10'000);
  EXPECT_EQ(EstimateWorstCase(m, -5, -1).nanos(), 16384 * 10'000);
  // The tier is chosen by the prompt size.
  const ModelPricing claude = ClaudeWithTier();
  EXPECT_EQ(EstimateWorstCase(claude, 300'000, 1000).nanos(), 1'800'000'000 + 22'500'000);
  // The estimate bounds the actual cost of any call with the same prompt and max_tokens.
  Usage u{.input_tokens = 1000, .cache_read_tokens = 900, .output_tokens = 500};
  EXPECT_GE(EstimateWorstCase(m, 1000, 500), ComputeCost(m, u).total);
  // Prompt tokens are bounded by the cache-write price where it is the higher one, so a call
  // that writes its whole prompt to the cache still settles within its reservation.
  EXPECT_EQ(EstimateWorstCase(claude, 1000, 100).nanos(), 3'750'000 + 1'500'000);
  Usage writes{.input_tokens = 1000, .cache_write_tokens = 1000, .output_tokens = 100};
  EXPECT_GE(EstimateWorstCase(claude, 1000, 100), ComputeCost(claude, writes).total);
}

}  // namespace
}  // namespace genops::pricing
