// Pricing hot path: model id resolution, exact cost, and response usage parsing.
//
//   cmake --build build --target pricing_benchmark && build/pricing_benchmark
//
// Find() runs once per governed call (before and after it), so it must stay allocation-free
// and sub-microsecond even for dated, region-prefixed Bedrock ids.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "genops/usage.h"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/core/usage_parser.h"

namespace {

using genops::pricing::Catalog;

const Catalog& Builtin() {
  static const Catalog* const catalog = Catalog::Builtin().value().release();
  return *catalog;
}

void BM_Find(benchmark::State& state, const char* provider, const char* model) {
  const Catalog& catalog = Builtin();
  if (catalog.Find(provider, model) == nullptr) {
    state.SkipWithError("model not in the built-in catalog");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(catalog.Find(provider, model));
  }
}
BENCHMARK_CAPTURE(BM_Find, exact_gpt4o, "openai", "gpt-4o");
BENCHMARK_CAPTURE(BM_Find, dated_gpt4o, "openai", "gpt-4o-2024-08-06");
BENCHMARK_CAPTURE(BM_Find, dated_claude, "anthropic", "claude-sonnet-4-20250514");
BENCHMARK_CAPTURE(BM_Find, any_provider_claude, "", "claude-sonnet-4-20250514");
BENCHMARK_CAPTURE(BM_Find, bedrock_region, "aws_bedrock",
                  "us.anthropic.claude-sonnet-4-20250514-v1:0");
BENCHMARK_CAPTURE(BM_Find, gemini_prefixed, "gemini", "models/gemini-2.5-flash-preview-05-20");

void BM_FindUnknown(benchmark::State& state) {
  const Catalog& catalog = Builtin();
  for (auto _ : state) {
    benchmark::DoNotOptimize(catalog.Find("openai", "no-such-model-2024-01-01"));
  }
}
BENCHMARK(BM_FindUnknown);

void BM_FindAndComputeCost(benchmark::State& state, const char* provider, const char* model) {
  const Catalog& catalog = Builtin();
  if (catalog.Find(provider, model) == nullptr) {
    state.SkipWithError("model not in the built-in catalog");
    return;
  }
  genops::Usage usage;
  usage.input_tokens = 12'000;
  usage.cache_read_tokens = 8'000;
  usage.cache_write_tokens = 1'000;
  usage.output_tokens = 900;
  usage.reasoning_tokens = 300;
  for (auto _ : state) {
    const genops::pricing::ModelPricing* m = catalog.Find(provider, model);
    benchmark::DoNotOptimize(genops::pricing::ComputeCost(*m, usage));
  }
}
BENCHMARK_CAPTURE(BM_FindAndComputeCost, gpt4o_dated, "openai", "gpt-4o-2024-08-06");
BENCHMARK_CAPTURE(BM_FindAndComputeCost, claude_dated, "anthropic", "claude-sonnet-4-20250514");
BENCHMARK_CAPTURE(BM_FindAndComputeCost, bedrock, "aws_bedrock",
                  "us.anthropic.claude-sonnet-4-20250514-v1:0");

void BM_ComputeCost(benchmark::State& state) {
  const genops::pricing::ModelPricing* m = Builtin().Find("anthropic", "claude-sonnet-4");
  if (m == nullptr) {
    state.SkipWithError("model not in the built-in catalog");
    return;
  }
  genops::Usage usage;
  usage.input_tokens = 250'000;  // long-context tier where the model has one
  usage.cache_read_tokens = 100'000;
  usage.output_tokens = 2'000;
  for (auto _ : state) {
    benchmark::DoNotOptimize(genops::pricing::ComputeCost(*m, usage));
  }
}
BENCHMARK(BM_ComputeCost);

void BM_ParseResponse(benchmark::State& state, const char* provider, const char* body) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(genops::ParseProviderResponse(provider, body));
  }
}
BENCHMARK_CAPTURE(BM_ParseResponse, openai_chat, "openai",
                  R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06",
  "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help?"},
  "finish_reason":"stop"}],"usage":{"prompt_tokens":2006,"completion_tokens":300,
  "total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920},
  "completion_tokens_details":{"reasoning_tokens":0}}})");
BENCHMARK_CAPTURE(BM_ParseResponse, anthropic_message, "anthropic",
                  R"({"id":"msg_1","type":"message","role":"assistant",
  "model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"Hi! I'm Claude."}],
  "stop_reason":"end_turn","usage":{"input_tokens":50,"cache_creation_input_tokens":2000,
  "cache_read_input_tokens":100000,"output_tokens":300}})");

void BM_LoadBuiltinCatalog(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(Catalog::Builtin());
  }
}
BENCHMARK(BM_LoadBuiltinCatalog)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
