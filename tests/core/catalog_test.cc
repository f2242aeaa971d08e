#include "src/core/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>

// Designated initializers name only the fields a case is about; the rest stay default.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
// The counting operator new below pairs malloc with free by design.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts allocations on this thread while armed, to prove Find() does not allocate.
namespace {
thread_local bool g_count_allocations = false;
thread_local int g_allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  if (g_count_allocations) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// Libraries allocate with the nothrow form too (simdjson's parser) and free with the
// operators below, so it must come from malloc as well.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (g_count_allocations) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace genops::pricing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A catalog shaped like the real one, small enough to reason about.
constexpr char kCatalog[] = R"json({
  "schema_version": 1,
  "_comment": "test catalog",
  "models": [
    {"provider": "aws_bedrock", "id": "gpt-oss-120b", "prices": {"input": "0.15", "output": "0.60"}},
    {"provider": "openai", "id": "gpt-4o", "kind": "chat", "aliases": ["chatgpt-4o-latest"],
     "prices": {"input": "2.50", "output": "10.00", "cache_read": "1.25"},
     "default_max_output_tokens": 16384, "as_of": "2026-11-01", "source": "https://openai.com/api/pricing"},
    {"provider": "openai", "id": "gpt-4o-mini", "prices": {"input": "0.15", "output": "0.60", "cache_read": "0.075"}},
    {"provider": "openai", "id": "gpt-4", "prices": {"input": "30.00", "output": "60.00"}},
    {"provider": "openai", "id": "o1", "prices": {"input": "15.00", "output": "60.00", "cache_read": "7.50"}},
    {"provider": "openai", "id": "gpt-oss-120b", "prices": {"input": "0.10", "output": "0.50"}},
    {"provider": "openai", "id": "text-embedding-3-small", "kind": "embedding", "prices": {"input": "0.02", "output": "0"}},
    {"provider": "anthropic", "id": "claude-sonnet-4",
     "prices": {"input": "3.00", "output": "15.00", "cache_read": "0.30", "cache_write": "3.75"},
     "tiers": [{"above_input_tokens": 200000, "input": "6.00", "output": "22.50", "cache_read": "0.60", "cache_write": "7.50"}]},
    {"provider": "anthropic", "id": "claude-3-5-sonnet", "prices": {"input": "3.00", "output": "15.00"}},
    {"provider": "aws_bedrock", "id": "anthropic.claude-sonnet-4", "prices": {"input": "3.30", "output": "16.50"}},
    {"provider": "aws_bedrock", "id": "meta.llama3-3-70b-instruct", "prices": {"input": "0.72", "output": "0.72"}},
    {"provider": "aws_bedrock", "id": "amazon.titan-embed-text-v2", "kind": "embedding", "prices": {"input": "0.02", "output": "0"}},
    {"provider": "google", "id": "gemini-2.5-pro", "prices": {"input": "1.25", "output": "10.00", "cache_read": "0.125"},
     "tiers": [{"above_input_tokens": 200000, "input": "2.50", "output": "15.00"}]},
    {"provider": "google", "id": "gemini-2.5-flash", "prices": {"input": "0.30", "output": "2.50"}},
    {"provider": "google", "id": "gemini-2.0-flash", "prices": {"input": "0.10", "output": "0.40"}},
    {"provider": "mistral", "id": "mistral-large-latest", "prices": {"input": "2.00", "output": "6.00"}},
    {"provider": "cohere", "id": "command-r", "prices": {"input": "0.15", "output": "0.60"}},
    {"provider": "xai", "id": "grok-4", "prices": {"input": "3.00", "output": "15.00", "reasoning": "15.00"}},
    {"provider": "groq", "id": "meta-llama/llama-4-scout-17b-16e-instruct", "prices": {"input": "0.11", "output": "0.34"}}
  ]
})json";

std::unique_ptr<Catalog> Load(const std::string& json = kCatalog) {
  absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::FromJson(json, "test.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

std::string ErrorOf(const std::string& json) {
  absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::FromJson(json, "test.json");
  EXPECT_FALSE(c.ok()) << json;
  return c.ok() ? "" : std::string(c.status().message());
}

// One entry wrapped in a document.
std::string Doc(const std::string& entry) {
  return R"({"schema_version": 1, "models": [)" + entry + "]}";
}

TEST(CatalogTest, ParsesPricesAsExactMicros) {
  auto c = Load();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->models().size(), 19u);
  const ModelPricing* m = c->Find("openai", "gpt-4o");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->prices.input, 2'500'000);
  EXPECT_EQ(m->prices.output, 10'000'000);
  EXPECT_EQ(m->prices.cache_read, 1'250'000);
  EXPECT_EQ(m->prices.cache_write, kNoPrice);
  EXPECT_EQ(m->prices.reasoning, kNoPrice);
  EXPECT_EQ(m->kind, "chat");
  EXPECT_EQ(m->default_max_output_tokens, 16384);
  EXPECT_EQ(m->as_of, "2026-11-01");
  EXPECT_EQ(m->source, "https://openai.com/api/pricing");
  EXPECT_THAT(m->aliases, ElementsAre("chatgpt-4o-latest"));
  EXPECT_EQ(c->Find("openai", "gpt-4o-mini")->prices.cache_read, 75'000);
  EXPECT_EQ(c->Find("openai", "gpt-4")->default_max_output_tokens, 4096);
  EXPECT_EQ(c->Find("", "text-embedding-3-small")->kind, "embedding");
  const ModelPricing* sonnet = c->Find("anthropic", "claude-sonnet-4");
  ASSERT_NE(sonnet, nullptr);
  ASSERT_EQ(sonnet->tiers.size(), 1u);
  EXPECT_EQ(sonnet->tiers[0].above_input_tokens, 200000);
  EXPECT_EQ(sonnet->tiers[0].prices.cache_write, 7'500'000);
}

TEST(CatalogTest, PricesForPicksTheTierAboveItsThreshold) {
  auto c = Load();
  const ModelPricing* m = c->Find("google", "gemini-2.5-pro");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(&m->PricesFor(0), &m->prices);
  EXPECT_EQ(&m->PricesFor(200000), &m->prices);
  EXPECT_EQ(&m->PricesFor(200001), &m->tiers[0].prices);
  EXPECT_EQ(m->PricesFor(1'000'000).input, 2'500'000);
  // A tier that omits cache_read does not inherit the base price.
  EXPECT_EQ(m->tiers[0].prices.cache_read, kNoPrice);
}

TEST(CatalogTest, PriceToStringInvertsParsing) {
  EXPECT_EQ(PriceToString(2'500'000), "2.50");
  EXPECT_EQ(PriceToString(75'000), "0.075");
  EXPECT_EQ(PriceToString(10'000'000), "10.00");
  EXPECT_EQ(PriceToString(1), "0.000001");
  EXPECT_EQ(PriceToString(0), "0.00");
  EXPECT_EQ(PriceToString(kNoPrice), "");
}

struct Resolution {
  const char* provider;
  const char* query;
  const char* expected_provider;  // nullptr: not found
  const char* expected_id;
};

class CatalogResolutionTest : public ::testing::TestWithParam<Resolution> {};

TEST_P(CatalogResolutionTest, Resolves) {
  static const std::unique_ptr<Catalog> catalog = Load();
  const Resolution& r = GetParam();
  const ModelPricing* m = catalog->Find(r.provider, r.query);
  if (r.expected_provider == nullptr) {
    EXPECT_EQ(m, nullptr) << r.query << " resolved to " << m->provider << "/" << m->id;
    return;
  }
  ASSERT_NE(m, nullptr) << "(" << r.provider << ", " << r.query << ") did not resolve";
  EXPECT_EQ(m->provider, r.expected_provider) << r.query;
  EXPECT_EQ(m->id, r.expected_id) << r.query;
}

INSTANTIATE_TEST_SUITE_P(
    Ids, CatalogResolutionTest,
    ::testing::Values(
        // Exact, case-insensitive, aliases.
        Resolution{"openai", "gpt-4o", "openai", "gpt-4o"},
        Resolution{"OpenAI", "GPT-4o", "openai", "gpt-4o"},
        Resolution{"", "gpt-4o", "openai", "gpt-4o"},
        Resolution{"openai", "chatgpt-4o-latest", "openai", "gpt-4o"},
        // Dated and versioned ids.
        Resolution{"openai", "gpt-4o-2024-08-06", "openai", "gpt-4o"},
        Resolution{"openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini"},
        Resolution{"openai", "gpt-4-0613", "openai", "gpt-4"},
        Resolution{"openai", "o1-2024-12-17", "openai", "o1"},
        Resolution{"anthropic", "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4"},
        Resolution{"", "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4"},
        Resolution{"anthropic", "claude-sonnet-4-latest", "anthropic", "claude-sonnet-4"},
        Resolution{"anthropic", "claude-3-5-sonnet@20240620", "anthropic", "claude-3-5-sonnet"},
        Resolution{"anthropic", "claude-3-5-sonnet-v2@20241022", "anthropic", "claude-3-5-sonnet"},
        Resolution{"google", "gemini-2.0-flash-001", "google", "gemini-2.0-flash"},
        Resolution{"google", "gemini-2.5-flash-preview-05-20", "google", "gemini-2.5-flash"},
        Resolution{"google", "gemini-2.5-flash-preview-09-2025", "google", "gemini-2.5-flash"},
        Resolution{"mistral", "mistral-large-2411", "mistral", "mistral-large-latest"},
        Resolution{"cohere", "command-r-08-2024", "cohere", "command-r"},
        Resolution{"xai", "grok-4-0709", "xai", "grok-4"},
        // Provider prefixes and provider synonyms.
        Resolution{"openai", "openai/gpt-4o", "openai", "gpt-4o"},
        Resolution{"google", "models/gemini-2.5-pro", "google", "gemini-2.5-pro"},
        Resolution{"gemini", "gemini-2.5-pro", "google", "gemini-2.5-pro"},
        Resolution{"gcp.vertex_ai", "gemini-2.5-pro", "google", "gemini-2.5-pro"},
        Resolution{"", "google/gemini-2.5-pro", "google", "gemini-2.5-pro"},
        Resolution{"groq", "meta-llama/llama-4-scout-17b-16e-instruct", "groq",
                   "meta-llama/llama-4-scout-17b-16e-instruct"},
        // Bedrock: region prefix, vendor prefix, -v1:0.
        Resolution{"aws_bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", "aws_bedrock",
                   "anthropic.claude-sonnet-4"},
        Resolution{"aws_bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", "aws_bedrock",
                   "anthropic.claude-sonnet-4"},
        Resolution{"bedrock", "global.anthropic.claude-sonnet-4-20250514-v1:0", "aws_bedrock",
                   "anthropic.claude-sonnet-4"},
        Resolution{"aws.bedrock", "meta.llama3-3-70b-instruct-v1:0", "aws_bedrock",
                   "meta.llama3-3-70b-instruct"},
        Resolution{"", "us.anthropic.claude-sonnet-4-20250514-v1:0", "aws_bedrock",
                   "anthropic.claude-sonnet-4"},
        Resolution{"aws_bedrock", "amazon.titan-embed-text-v2:0", "aws_bedrock",
                   "amazon.titan-embed-text-v2"},
        // A direct provider wins over a reseller for provider-less lookups.
        Resolution{"", "gpt-oss-120b", "openai", "gpt-oss-120b"},
        Resolution{"aws_bedrock", "gpt-oss-120b", "aws_bedrock", "gpt-oss-120b"},
        // Never priced by guesswork.
        Resolution{"anthropic", "gpt-4o", nullptr, nullptr},
        Resolution{"openai", "gpt-5-ultra", nullptr, nullptr},
        Resolution{"openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", nullptr, nullptr},
        Resolution{"nobody", "gpt-4o", nullptr, nullptr},
        Resolution{"openai", "", nullptr, nullptr}, Resolution{"", "-2024-08-06", nullptr, nullptr},
        Resolution{"aws_bedrock", "us.", nullptr, nullptr},
        Resolution{"openai", "gpt-4o-2024-08-06-extra", nullptr, nullptr}));

TEST(CatalogTest, OverlongQueriesAreNotFound) {
  auto c = Load();
  EXPECT_EQ(c->Find("openai", std::string(Catalog::kMaxModelIdLength + 1, 'a')), nullptr);
  EXPECT_EQ(c->Find(std::string(100, 'p'), "gpt-4o"), nullptr);
}

TEST(CatalogTest, FindDoesNotAllocate) {
  auto c = Load();
  const std::string queries[][2] = {
      {"openai", "gpt-4o"},
      {"", "claude-sonnet-4-20250514"},
      {"aws_bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"},
      {"gemini", "models/gemini-2.5-flash-preview-05-20"},
      {"mistral", "mistral-large-2411"},
      {"openai", "unknown-model-2024-01-01"},
  };
  int found = 0;
  g_allocations = 0;
  g_count_allocations = true;
  for (const auto& q : queries) found += c->Find(q[0], q[1]) != nullptr;
  g_count_allocations = false;
  EXPECT_EQ(g_allocations, 0);
  EXPECT_EQ(found, 5);
  // The counter works: an allocation is seen.
  g_count_allocations = true;
  auto* probe = new std::string(100, 'x');
  g_count_allocations = false;
  delete probe;
  EXPECT_GT(g_allocations, 0);
}

TEST(CatalogTest, ClosestMatchesSuggestsNearIds) {
  auto c = Load();
  std::vector<std::string> m = c->ClosestMatches("gpt-4o-minii", 3);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0], "gpt-4o-mini");
  EXPECT_LE(m.size(), 3u);
  m = c->ClosestMatches("claude-sonet-4-20250514", 3);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0], "claude-sonnet-4");
  m = c->ClosestMatches("Gemini-2.5-pr", 1);
  EXPECT_THAT(m, ElementsAre("gemini-2.5-pro"));
  EXPECT_TRUE(c->ClosestMatches("zzzzzzzzzzzzzzzz", 3).empty());
  EXPECT_TRUE(c->ClosestMatches("gpt-4o", 0).empty());
}

// --- Bad input: every error names the file, the entry and the field. -------------------

TEST(CatalogErrorsTest, NumberPriceIsRejectedWithTheExactMessage) {
  EXPECT_EQ(
      ErrorOf(Doc(
          R"({"provider": "openai", "id": "gpt-4o", "prices": {"input": 2.5, "output": "10"}})")),
      "test.json: models[0] (gpt-4o): prices.input: expected a decimal string like "
      "\"2.50\", got 2.5");
}

TEST(CatalogErrorsTest, MalformedPrices) {
  struct Case {
    const char* price;
    const char* expect;
  };
  for (const Case& c :
       {Case{R"("2.5000001")", "at most 6 decimals"}, Case{R"("-1.00")", "non-negative"},
        Case{R"("1e3")", "non-negative, digits"}, Case{R"("")", "leading digit"},
        Case{R"(".5")", "leading digit"}, Case{R"("5.")", "digits after"},
        Case{R"("1,000")", "digits and one"}, Case{R"("9999999999")", "implausibly large"},
        Case{R"(null)", "got null"}, Case{R"(true)", "got true"}}) {
    std::string error = ErrorOf(Doc(
        std::string(R"({"provider": "openai", "id": "m", "prices": {"input": "1", "output": )") +
        c.price + "}}"));
    EXPECT_THAT(error, HasSubstr("test.json: models[0] (m): prices.output: "));
    EXPECT_THAT(error, HasSubstr(c.expect)) << c.price;
  }
}

TEST(CatalogErrorsTest, DocumentLevelErrors) {
  EXPECT_THAT(ErrorOf("{"), HasSubstr("test.json: malformed JSON at byte"));
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("test.json: expected a JSON object"));
  EXPECT_THAT(ErrorOf(R"({"models": []})"), HasSubstr("test.json: schema_version: missing"));
  EXPECT_THAT(ErrorOf(R"({"schema_version": 2, "models": []})"),
              HasSubstr("test.json: schema_version: unsupported version 2"));
  EXPECT_THAT(ErrorOf(R"({"schema_version": 1})"), HasSubstr("test.json: models: missing"));
  EXPECT_THAT(ErrorOf(R"({"schema_version": 1, "models": {}})"),
              HasSubstr("test.json: models: expected an array"));
  EXPECT_THAT(ErrorOf(R"({"schema_version": 1, "models": [], "extra": 1})"),
              HasSubstr("test.json: extra: unknown top-level field"));
  EXPECT_THAT(ErrorOf(R"({"schema_version": 1, "models": [7]})"),
              HasSubstr("test.json: models[0]: expected an object, got 7"));
}

TEST(CatalogErrorsTest, EntryLevelErrors) {
  const std::string ok_prices = R"("prices": {"input": "1", "output": "2"})";
  struct Case {
    std::string entry;
    const char* expect;
  };
  const Case cases[] = {
      {R"({"id": "m", )" + ok_prices + "}", "models[0] (m): provider: missing required field"},
      {R"({"provider": "openai", )" + ok_prices + "}", "models[0]: id: missing required field"},
      {R"({"provider": "openai", "id": "m"})", "models[0] (m): prices: missing required field"},
      {R"({"provider": "openai", "id": "m", "price": {}, )" + ok_prices + "}",
       "models[0] (m): price: unknown field; allowed fields are provider, id, kind"},
      {R"({"provider": "openai", "id": "m", "prices": {"input": "1", "output": "2", "cached": "1"}})",
       "models[0] (m): prices.cached: unknown field"},
      {R"({"provider": "openai", "id": "m", "prices": {"input": "1"}})",
       "models[0] (m): prices.output: missing"},
      {R"({"provider": "openai", "id": "m", "prices": []})", "prices: expected an object"},
      {R"({"provider": "OpenAI", "id": "m", )" + ok_prices + "}",
       "provider: \"OpenAI\" is not a provider name"},
      {R"({"provider": "openai", "id": "", )" + ok_prices + "}", "id: must not be empty"},
      {R"({"provider": "openai", "id": 5, )" + ok_prices + "}", "models[0]: id: expected a string"},
      {R"({"provider": "openai", "id": "m", "kind": "image", )" + ok_prices + "}",
       "kind: expected \"chat\" or \"embedding\""},
      {R"({"provider": "openai", "id": "m", "aliases": "x", )" + ok_prices + "}",
       "aliases: expected an array of strings"},
      {R"({"provider": "openai", "id": "m", "aliases": ["a", 3], )" + ok_prices + "}",
       "aliases[1]: expected a string"},
      {R"({"provider": "openai", "id": "m", "as_of": "Nov 2026", )" + ok_prices + "}",
       "as_of: expected a date YYYY-MM-DD"},
      {R"({"provider": "openai", "id": "m", "default_max_output_tokens": -1, )" + ok_prices + "}",
       "default_max_output_tokens: expected a non-negative integer, got -1"},
      {R"({"provider": "openai", "id": "m", "default_max_output_tokens": 1.5, )" + ok_prices + "}",
       "default_max_output_tokens: expected a non-negative integer, got 1.5"},
      {R"({"provider": "openai", "id": "m", "tiers": {}, )" + ok_prices + "}",
       "tiers: expected an array"},
      {R"({"provider": "openai", "id": "m", "tiers": [{"input": "1", "output": "2"}], )" +
           ok_prices + "}",
       "tiers[0].above_input_tokens: missing"},
      {R"({"provider": "openai", "id": "m", "tiers": [{"above_input_tokens": "200k", "input": "1", "output": "2"}], )" +
           ok_prices + "}",
       "tiers[0].above_input_tokens: expected a positive integer"},
      {R"({"provider": "openai", "id": "m", "tiers": [{"above_input_tokens": 5, "input": "1", "output": "2", "extra": 1}], )" +
           ok_prices + "}",
       "tiers[0].extra: unknown field"},
      {R"({"provider": "openai", "id": "m", "tiers": [{"above_input_tokens": 5, "input": 1, "output": "2"}], )" +
           ok_prices + "}",
       "models[0] (m): tiers[0].input: expected a decimal string"},
      {R"({"provider": "openai", "id": "m", "tiers": [{"above_input_tokens": 9, "input": "1", "output": "2"}, {"above_input_tokens": 9, "input": "1", "output": "2"}], )" +
           ok_prices + "}",
       "tiers[1].above_input_tokens: tiers must be in strictly ascending order"},
  };
  for (const Case& c : cases) {
    std::string error = ErrorOf(Doc(c.entry));
    EXPECT_THAT(error, HasSubstr("test.json: "));
    EXPECT_THAT(error, HasSubstr(c.expect)) << c.entry;
  }
}

TEST(CatalogErrorsTest, ErrorsNameTheRightEntryIndex) {
  std::string json =
      Doc(R"({"provider": "openai", "id": "a", "prices": {"input": "1", "output": "2"}},
                            {"provider": "openai", "id": "b", "prices": {"input": "1", "output": "2"}},
                            {"provider": "openai", "id": "c", "prices": {"input": "1", "output": "x"}})");
  EXPECT_THAT(ErrorOf(json), HasSubstr("test.json: models[2] (c): prices.output: "));
}

TEST(CatalogErrorsTest, DuplicateProviderAndIdIsAnError) {
  std::string json =
      Doc(R"({"provider": "openai", "id": "gpt-4o", "prices": {"input": "1", "output": "2"}},
                            {"provider": "anthropic", "id": "gpt-4o", "prices": {"input": "1", "output": "2"}},
                            {"provider": "openai", "id": "GPT-4o", "prices": {"input": "1", "output": "2"}})");
  EXPECT_THAT(ErrorOf(json),
              HasSubstr("test.json: models[2] (GPT-4o): id: duplicate of models[0]: provider "
                        "\"openai\" already lists \"gpt-4o\""));
}

TEST(CatalogErrorsTest, AliasCollidingWithAnotherIdIsAnError) {
  std::string json =
      Doc(R"({"provider": "openai", "id": "a", "prices": {"input": "1", "output": "2"}},
                            {"provider": "openai", "id": "b", "aliases": ["A"], "prices": {"input": "1", "output": "2"}})");
  EXPECT_THAT(ErrorOf(json), HasSubstr("test.json: provider \"openai\": \"A\" (of \"b\") is "
                                       "already an id or alias of \"a\""));
}

// --- Overrides ------------------------------------------------------------------------------

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/genops_catalog_test_XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CatalogMergeTest, OverridesReplaceSameProviderAndIdAndAddOthers) {
  auto base = Load();
  auto overrides = Catalog::FromJson(
      Doc(R"({"provider": "openai", "id": "GPT-4O", "prices": {"input": "2.00", "output": "8.00"}},
             {"provider": "acme", "id": "acme-large", "prices": {"input": "1.00", "output": "2.00"}})"),
      "overrides.json");
  ASSERT_TRUE(overrides.ok()) << overrides.status();
  auto merged = Catalog::Merge(*base, **overrides);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)->models().size(), base->models().size() + 1);
  const ModelPricing* m = (*merged)->Find("openai", "gpt-4o-2024-08-06");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->prices.input, 2'000'000);
  EXPECT_EQ(m->prices.cache_read, kNoPrice);  // replaced whole, not field by field
  ASSERT_NE((*merged)->Find("acme", "acme-large-20250101"), nullptr);
  // The old alias belonged to the replaced entry and went with it.
  EXPECT_EQ((*merged)->Find("openai", "chatgpt-4o-latest"), nullptr);
  // The base is unchanged.
  EXPECT_EQ(base->Find("openai", "gpt-4o")->prices.input, 2'500'000);
}

TEST(CatalogMergeTest, BuiltinWithOverridesReadsTheFile) {
  TempFile file(Doc(
      R"({"provider": "acme", "id": "acme-large", "prices": {"input": "1.00", "output": "2.00"}})"));
  auto merged = Catalog::BuiltinWithOverrides(file.path());
  ASSERT_TRUE(merged.ok()) << merged.status();
  const ModelPricing* m = (*merged)->Find("acme", "acme-large");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->prices.output, 2'000'000);
}

TEST(CatalogMergeTest, OverrideErrorsNameTheFile) {
  TempFile file(
      Doc(R"({"provider": "acme", "id": "acme-large", "prices": {"input": 1, "output": "2.00"}})"));
  auto merged = Catalog::BuiltinWithOverrides(file.path());
  ASSERT_FALSE(merged.ok());
  EXPECT_THAT(std::string(merged.status().message()),
              HasSubstr(file.path() + ": models[0] (acme-large): prices.input"));

  auto missing = Catalog::BuiltinWithOverrides("/nonexistent/dir/prices.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/dir/prices.json"));
}

// --- The built-in catalog -------------------------------------------------------------------

TEST(BuiltinCatalogTest, ParsesAndResolvesKeyModels) {
  auto builtin = Catalog::Builtin();
  ASSERT_TRUE(builtin.ok()) << builtin.status();
  const Catalog& c = **builtin;
  if (c.models().empty()) GTEST_SKIP() << "data/pricing_catalog.json has no models yet";
  for (const ModelPricing& m : c.models()) {
    EXPECT_FALSE(m.as_of.empty()) << m.provider << "/" << m.id << " has no as_of";
    EXPECT_FALSE(m.source.empty()) << m.provider << "/" << m.id << " has no source";
    EXPECT_GT(m.prices.input, 0) << m.provider << "/" << m.id;
  }
  const ModelPricing* gpt4o = c.Find("openai", "gpt-4o-2024-08-06");
  ASSERT_NE(gpt4o, nullptr);
  EXPECT_EQ(gpt4o->id, "gpt-4o");
  const ModelPricing* sonnet = c.Find("anthropic", "claude-sonnet-4-20250514");
  ASSERT_NE(sonnet, nullptr);
  EXPECT_EQ(sonnet->id, "claude-sonnet-4");
  const ModelPricing* bedrock = c.Find("aws_bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0");
  ASSERT_NE(bedrock, nullptr);
  EXPECT_EQ(bedrock->provider, "aws_bedrock");
  EXPECT_EQ(c.Find("", "claude-sonnet-4-20250514")->provider, "anthropic");
}

}  // namespace
}  // namespace genops::pricing
