#include "src/receiver/span_enricher.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/receiver/receiver_test_util.h"

namespace genops::receiver {
namespace {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::ResourceInfo;
using telemetry::SpanData;
using ::testing::HasSubstr;
using testing::MakeResource;
using testing::MakeSpan;

LlmCall Read(const SpanData& span, const ResourceInfo& resource = {}) {
  absl::StatusOr<LlmCall> call = ReadLlmCall(span, resource);
  EXPECT_TRUE(call.ok()) << call.status();
  return call.ok() ? *call : LlmCall{};
}

// The same OpenAI call (1000 prompt tokens of which 400 cached, 200 completion tokens) in
// every generation of the conventions.
std::vector<SpanData> OpenAiGenerations() {
  return {
      // Current OpenTelemetry GenAI conventions.
      MakeSpan(1, "chat gpt-4o",
               {{"gen_ai.provider.name", std::string("openai")},
                {"gen_ai.operation.name", std::string("chat")},
                {"gen_ai.request.model", std::string("gpt-4o")},
                {"gen_ai.response.model", std::string("gpt-4o-2024-08-06")},
                {"gen_ai.usage.input_tokens", int64_t{1000}},
                {"gen_ai.usage.output_tokens", int64_t{200}},
                {"gen_ai.usage.cache_read.input_tokens", int64_t{400}}}),
      // OpenLLMetry 0.2x-0.4x: gen_ai.system, prompt/completion tokens, llm.request.type.
      MakeSpan(2, "openai.chat",
               {{"gen_ai.system", std::string("OpenAI")},
                {"llm.request.type", std::string("chat")},
                {"gen_ai.request.model", std::string("gpt-4o")},
                {"gen_ai.usage.prompt_tokens", int64_t{1000}},
                {"gen_ai.usage.completion_tokens", int64_t{200}},
                {"gen_ai.usage.cache_read_input_tokens", int64_t{400}},
                {"llm.usage.total_tokens", int64_t{1200}}}),
      // Only prompt + total reported (the completion count derived from llm.usage.total_tokens),
      // counts as strings and whole doubles (what JavaScript exporters produce).
      MakeSpan(3, "openai.chat",
               {{"gen_ai.system", std::string("openai")},
                {"gen_ai.request.model", std::string("gpt-4o")},
                {"gen_ai.usage.prompt_tokens", std::string("1000")},
                {"llm.usage.total_tokens", 1200.0},
                {"gen_ai.usage.cache_read_input_tokens", int64_t{400}}}),
      // OpenLLMetry JS 0.2x's total key, here with the completion count missing (and a
      // contradicting legacy total that must lose to it).
      MakeSpan(5, "chat gpt-4o",
               {{"gen_ai.provider.name", std::string("openai")},
                {"gen_ai.request.model", std::string("gpt-4o")},
                {"gen_ai.usage.input_tokens", int64_t{1000}},
                {"gen_ai.usage.total_tokens", int64_t{1200}},
                {"llm.usage.total_tokens", int64_t{1500}},
                {"gen_ai.usage.cache_read.input_tokens", int64_t{400}}}),
      // The first OpenLLMetry generation (llm.* keys).
      MakeSpan(4, "openai.chat",
               {{"llm.vendor", std::string("OpenAI")},
                {"llm.request.type", std::string("chat")},
                {"llm.request.model", std::string("gpt-4o")},
                {"llm.usage.prompt_tokens", int64_t{1000}},
                {"llm.usage.completion_tokens", int64_t{200}},
                {"gen_ai.usage.cache_read_input_tokens", int64_t{400}}}),
  };
}

TEST(SpanEnricherTest, EveryGenerationReadsTheSameUsage) {
  const Usage want{.input_tokens = 1000, .cache_read_tokens = 400, .output_tokens = 200};
  for (const SpanData& span : OpenAiGenerations()) {
    SCOPED_TRACE(span.span_id.ToHex());
    const LlmCall call = Read(span);
    EXPECT_TRUE(call.is_llm);
    EXPECT_FALSE(call.already_governed);
    EXPECT_TRUE(call.has_usage);
    EXPECT_EQ(call.usage, want);
    EXPECT_EQ(call.provider, "openai");
    EXPECT_EQ(call.operation, "chat");
    EXPECT_EQ(call.cache, CacheAccounting::kInputIncludesCache);
  }
  // The response model (the dated id that was billed) wins over the request model.
  EXPECT_EQ(Read(OpenAiGenerations()[0]).model(), "gpt-4o-2024-08-06");
}

TEST(SpanEnricherTest, CurrentKeysWinOverLegacyOnes) {
  const LlmCall call = Read(MakeSpan(1, "x",
                                     {{"gen_ai.usage.prompt_tokens", int64_t{5}},
                                      {"gen_ai.usage.input_tokens", int64_t{50}},
                                      {"gen_ai.system", std::string("anthropic")},
                                      {"gen_ai.provider.name", std::string("openai")},
                                      {"llm.request.type", std::string("completion")},
                                      {"gen_ai.operation.name", std::string("chat")},
                                      {"gen_ai.request.model", std::string("gpt-4o")}}));
  EXPECT_EQ(call.usage.input_tokens, 50);
  EXPECT_EQ(call.provider, "openai");
  EXPECT_EQ(call.operation, "chat");
}

// Anthropic: 100 uncached input tokens, 1000 read from the cache, 400 written to it.
TEST(SpanEnricherTest, AnthropicCacheTokensPerInstrumentationVersion) {
  const Usage want{.input_tokens = 1500,
                   .cache_read_tokens = 1000,
                   .cache_write_tokens = 400,
                   .output_tokens = 50};
  const auto span = [](int64_t input, bool legacy_keys) {
    return MakeSpan(
        1, "anthropic.chat",
        {{legacy_keys ? "gen_ai.system" : "gen_ai.provider.name", std::string("Anthropic")},
         {"gen_ai.request.model", std::string("claude-sonnet-4-5")},
         {legacy_keys ? "gen_ai.usage.prompt_tokens" : "gen_ai.usage.input_tokens", input},
         {legacy_keys ? "gen_ai.usage.completion_tokens" : "gen_ai.usage.output_tokens",
          int64_t{50}},
         {legacy_keys ? "gen_ai.usage.cache_read_input_tokens"
                      : "gen_ai.usage.cache_read.input_tokens",
          int64_t{1000}},
         {legacy_keys ? "gen_ai.usage.cache_creation_input_tokens"
                      : "gen_ai.usage.cache_creation.input_tokens",
          int64_t{400}}});
  };
  // OpenLLMetry >= 0.33.4 reports the sum (inclusive).
  LlmCall call =
      Read(span(1500, true), MakeResource({}, "opentelemetry.instrumentation.anthropic", "0.33.4"));
  EXPECT_EQ(call.usage, want);
  EXPECT_EQ(call.cache, CacheAccounting::kInputIncludesCache);
  call =
      Read(span(1500, true), MakeResource({}, "opentelemetry.instrumentation.anthropic", "0.47.3"));
  EXPECT_EQ(call.usage, want);
  // The current conventions are inclusive too.
  EXPECT_EQ(Read(span(1500, false)).usage, want);
  // Anthropic's own input_tokens (uncached only) cannot include 1400 cache tokens: added,
  // whoever wrote it.
  call = Read(span(100, true));
  EXPECT_EQ(call.usage, want);
  EXPECT_EQ(call.cache, CacheAccounting::kInputExcludesCache);
  call =
      Read(span(100, false), MakeResource({}, "opentelemetry.instrumentation.anthropic", "0.40.0"));
  EXPECT_EQ(call.usage, want);
  // Before 0.33.4 prompt tokens were Anthropic's input_tokens alone: exclusive even when large.
  call =
      Read(span(1500, true), MakeResource({}, "opentelemetry.instrumentation.anthropic", "0.33.3"));
  EXPECT_EQ(call.usage.input_tokens, 2900);
  EXPECT_EQ(call.cache, CacheAccounting::kInputExcludesCache);
  // OpenLLMetry's Bedrock instrumentation passes Converse's exclusive inputTokens through.
  SpanData bedrock = span(1500, true);
  bedrock.attributes[0].value = std::string("AWS");
  bedrock.attributes[1].value = std::string("anthropic.claude-sonnet-4-5-20250929-v1:0");
  call = Read(bedrock, MakeResource({}, "opentelemetry.instrumentation.bedrock", "0.40.0"));
  EXPECT_EQ(call.usage.input_tokens, 2900);
  EXPECT_EQ(call.provider, "aws_bedrock");
}

TEST(SpanEnricherTest, ReasoningOutsideOutputIsAdded) {
  LlmCall call = Read(MakeSpan(1, "x",
                               {{"gen_ai.provider.name", std::string("gcp.gemini")},
                                {"gen_ai.request.model", std::string("gemini-2.5-pro")},
                                {"gen_ai.usage.input_tokens", int64_t{10}},
                                {"gen_ai.usage.output_tokens", int64_t{5}},
                                {"gen_ai.usage.reasoning.output_tokens", int64_t{20}}}));
  EXPECT_EQ(call.usage.output_tokens, 25);
  EXPECT_EQ(call.usage.reasoning_tokens, 20);
  EXPECT_EQ(call.provider, "google");
  call = Read(MakeSpan(1, "x",
                       {{"gen_ai.request.model", std::string("o3")},
                        {"gen_ai.usage.input_tokens", int64_t{10}},
                        {"gen_ai.usage.output_tokens", int64_t{50}},
                        {"gen_ai.usage.reasoning_tokens", int64_t{20}}}));
  EXPECT_EQ(call.usage.output_tokens, 50);
  EXPECT_EQ(call.usage.reasoning_tokens, 20);
}

TEST(SpanEnricherTest, BadTokenCountsAreErrorsNamingTheAttribute) {
  const struct {
    AttributeValue value;
    const char* message;
  } cases[] = {
      {int64_t{-5}, "cannot be negative"},
      {int64_t{5'000'000'000'000}, "implausible"},
      {2.5, "whole number"},
      {std::string("12 tokens"), "whole number"},
      {true, "whole number"},
      {std::vector<std::string>{"1"}, "an array"},
      {std::nan(""), "whole number"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<LlmCall> call =
        ReadLlmCall(MakeSpan(1, "x",
                             {{"gen_ai.request.model", std::string("gpt-4o")},
                              {"gen_ai.usage.output_tokens", int64_t{1}},
                              {"gen_ai.usage.input_tokens", c.value}}),
                    {});
    ASSERT_FALSE(call.ok());
    EXPECT_THAT(std::string(call.status().message()), HasSubstr("gen_ai.usage.input_tokens"));
    EXPECT_THAT(std::string(call.status().message()), HasSubstr(c.message));
  }
  absl::StatusOr<LlmCall> call = ReadLlmCall(MakeSpan(1, "x",
                                                      {{"gen_ai.usage.prompt_tokens", int64_t{100}},
                                                       {"llm.usage.total_tokens", int64_t{10}}}),
                                             {});
  EXPECT_THAT(std::string(call.status().message()), HasSubstr("less than the 100 input tokens"));
  // A cache count larger than the input and the sum beyond the plausible maximum.
  call = ReadLlmCall(
      MakeSpan(1, "x",
               {{"gen_ai.usage.input_tokens", int64_t{999'999'999'999}},
                {"gen_ai.usage.cache_read.input_tokens", int64_t{999'999'999'999}},
                {"gen_ai.usage.cache_creation.input_tokens", int64_t{999'999'999'999}}}),
      {});
  EXPECT_FALSE(call.ok());
}

TEST(SpanEnricherTest, RecognitionAndPassThrough) {
  // HTTP spans, workflow spans: not LLM spans.
  EXPECT_FALSE(Read(MakeSpan(1, "GET /", {{"http.method", std::string("GET")}})).is_llm);
  EXPECT_FALSE(Read(MakeSpan(1, "wf",
                             {{"traceloop.span.kind", std::string("workflow")},
                              {"gen_ai.request.model", std::string("gpt-4o")}}))
                   .is_llm);
  // A model with a provider but no usage: an LLM span without usage.
  LlmCall call = Read(MakeSpan(
      1, "openai.chat",
      {{"gen_ai.system", std::string("openai")}, {"gen_ai.request.model", std::string("gpt-4o")}}));
  EXPECT_TRUE(call.is_llm);
  EXPECT_FALSE(call.has_usage);
  EXPECT_EQ(call.operation, "chat");  // from the span name
  // A total alone cannot be split into input and output.
  call = Read(MakeSpan(1, "x", {{"llm.usage.total_tokens", int64_t{10}}}));
  EXPECT_TRUE(call.is_llm);
  EXPECT_FALSE(call.has_usage);
  // Spans GenOps already governed.
  EXPECT_TRUE(Read(MakeSpan(1, "x",
                            {{"gen_ai.usage.input_tokens", int64_t{1}},
                             {"genops.operation.id", std::string("op")}}))
                  .already_governed);
  // Unknown providers are flagged, not mapped.
  call = Read(MakeSpan(1, "x",
                       {{"gen_ai.provider.name", std::string("azure.ai.openai")},
                        {"gen_ai.request.model", std::string("gpt-4o")},
                        {"gen_ai.usage.input_tokens", int64_t{1}}}));
  EXPECT_TRUE(call.provider_unknown);
  EXPECT_EQ(call.provider, "");
}

TEST(SpanEnricherTest, ProviderNamesAndVersions) {
  EXPECT_EQ(CanonicalProvider("OpenAI"), "openai");
  EXPECT_EQ(CanonicalProvider("aws.bedrock"), "aws_bedrock");
  EXPECT_EQ(CanonicalProvider("AWS"), "aws_bedrock");
  EXPECT_EQ(CanonicalProvider("VertexAI"), "google");
  EXPECT_EQ(CanonicalProvider("gcp.gemini"), "google");
  EXPECT_EQ(CanonicalProvider("MistralAI"), "mistral");
  EXPECT_EQ(CanonicalProvider("x_ai"), "xai");
  EXPECT_EQ(CanonicalProvider("ollama"), "");
  EXPECT_TRUE(VersionAtLeast("0.33.4", 0, 33, 4));
  EXPECT_TRUE(VersionAtLeast("0.34", 0, 33, 4));
  EXPECT_TRUE(VersionAtLeast("1.0.0rc1", 0, 33, 4));
  EXPECT_FALSE(VersionAtLeast("0.33.3", 0, 33, 4));
  EXPECT_FALSE(VersionAtLeast("0.9.99", 0, 33, 4));
  EXPECT_FALSE(VersionAtLeast("dev", 0, 0, 0));
}

TEST(SpanEnricherTest, AttributionPrecedence) {
  Attribution defaults{.team = "d-team",
                       .project = "d-project",
                       .environment = "d-env",
                       .customer_id = "d-cust",
                       .cost_center = "d-cc",
                       .feature = "d-feat",
                       .tags = {{"tier", "d"}, {"keep", "d"}}};
  const ResourceInfo resource = MakeResource({
      {"traceloop.association.properties.team", std::string("r-tl-team")},
      {"traceloop.association.properties.project", std::string("r-tl-project")},
      {"traceloop.association.properties.cost_center", std::string("r-tl-cc")},
      {"deployment.environment.name", std::string("r-deploy-env")},
      {"genops.project", std::string("r-project")},
      {"genops.tag.tier", std::string("r")},
  });
  const Attribution from_resource = ResourceAttribution(resource, defaults);
  EXPECT_EQ(from_resource.team, "r-tl-team");
  EXPECT_EQ(from_resource.project, "r-project");  // genops.* over association properties
  EXPECT_EQ(from_resource.environment, "r-deploy-env");
  EXPECT_EQ(from_resource.cost_center, "r-tl-cc");
  EXPECT_EQ(from_resource.customer_id, "d-cust");
  EXPECT_EQ(from_resource.tags.at("tier"), "r");

  const SpanData span = MakeSpan(
      1, "x",
      {
          {"genops.team", std::string("s-team")},
          {"traceloop.association.properties.team", std::string("s-tl-team")},
          {"traceloop.association.properties.customer_id", std::string("s-tl-cust")},
          {"traceloop.association.properties.feature", int64_t{42}},
          {"genops.environment", std::string("")},  // empty: ignored
          {"genops.tag.tier", std::string("s")},
          {"genops.tag.release", std::string("v2")},
          {"genops.cost_center", std::string(kMaxAttributionValueBytes + 1, 'x')},  // too long
      });
  const Attribution a = SpanAttribution(span, from_resource);
  EXPECT_EQ(a.team, "s-team");
  EXPECT_EQ(a.project, "r-project");
  EXPECT_EQ(a.environment, "r-deploy-env");
  EXPECT_EQ(a.customer_id, "s-tl-cust");
  EXPECT_EQ(a.cost_center, "r-tl-cc");
  EXPECT_EQ(a.feature, "42");
  EXPECT_EQ(a.tags,
            (std::map<std::string, std::string>{{"tier", "s"}, {"keep", "d"}, {"release", "v2"}}));
}

TEST(SpanEnricherTest, AnnotationReplacesGenOpsKeysAndKeepsTheRest) {
  SpanData span = MakeSpan(1, "chat gpt-4o",
                           {{"gen_ai.request.model", std::string("gpt-4o")},
                            {"genops.team", std::string("from-span")},
                            {"genops.tag.x", std::string("1")},
                            {"genops.custom", std::string("kept")},
                            {"gen_ai.usage.input_tokens", int64_t{10}}});
  const LlmCall call = Read(span);
  LlmAnnotation an;
  an.call = &call;
  an.operation_id = "otlp-abc";
  an.attribution.team = "resolved";
  an.attribution.tags = {{"x", "2"}};
  an.priced = true;
  an.cost = Money::FromNanos(1234);
  an.cost_provider = "openai";
  an.cost_model = "gpt-4o";
  an.charged = true;
  an.alerts.push_back(
      Alert{.kind = AlertKind::kOperationCost, .severity = "warning", .message = "expensive"});
  AnnotateLlmSpan(an, span);
  EXPECT_EQ(testing::CountKey(span, "genops.team"), 1);
  EXPECT_EQ(testing::Get(span, "genops.team"), AttributeValue(std::string("resolved")));
  EXPECT_EQ(testing::CountKey(span, "genops.tag.x"), 1);
  EXPECT_EQ(testing::Get(span, "genops.tag.x"), AttributeValue(std::string("2")));
  EXPECT_EQ(testing::Get(span, "genops.custom"), AttributeValue(std::string("kept")));
  EXPECT_EQ(testing::Get(span, "gen_ai.usage.input_tokens"), AttributeValue(int64_t{10}));
  EXPECT_EQ(testing::Get(span, "genops.cost.total_nanos"), AttributeValue(int64_t{1234}));
  EXPECT_EQ(testing::Get(span, "genops.cost.priced"), AttributeValue(true));
  EXPECT_EQ(testing::Get(span, "genops.operation.id"), AttributeValue(std::string("otlp-abc")));
  ASSERT_EQ(span.events.size(), 2u);
  EXPECT_EQ(span.events[0].name, "genops.budget.reconciliation");
  EXPECT_EQ(span.events[1].name, "genops.alert");
}

}  // namespace
}  // namespace genops::receiver
