// Provider response bodies to normalised usage (see src/core/usage_parser.h).
#include "src/core/usage_parser.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "simdjson.h"
#include "src/core/json_depth.h"
#include "src/core/text.h"

namespace genops {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kSaturated = Usage::kMaxTokens + 1;
// Bodies up to this size are parsed by a per-thread parser that keeps its buffers (sized for
// the largest body it saw, a few times its size); a larger one gets a parser of its own,
// freed after it. Small, because every application thread that records a response keeps
// one; the gateway hands it only the usage projection of an answer (a few hundred bytes).
constexpr size_t kMaxReusedParserBytes = 64 * 1024;

int64_t NonNegative(int64_t v) { return v < 0 ? 0 : v; }

// a + b for non-negative counts, saturating just above the Validate() limit.
int64_t SatAdd(int64_t a, int64_t b) {
  a = std::min(NonNegative(a), kSaturated);
  b = std::min(NonNegative(b), kSaturated);
  return std::min(a + b, kSaturated);
}

// A value of the parsed body, or none (a member that is absent).
class Value {
 public:
  Value() = default;
  explicit Value(dom::element element) : element_(element), present_(true) {}

  bool present() const { return present_; }
  bool is(dom::element_type type) const { return present_ && element_.type() == type; }
  bool is_object() const { return is(dom::element_type::OBJECT); }
  bool is_array() const { return is(dom::element_type::ARRAY); }
  bool is_null() const { return is(dom::element_type::NULL_VALUE); }
  bool is_string() const { return is(dom::element_type::STRING); }
  dom::element element() const { return element_; }

  // The member `key` of an object, none when absent or when this is not an object. A key
  // given twice yields its last value, as most JSON readers take it.
  Value operator[](std::string_view key) const {
    Value found;
    if (!is_object()) return found;
    for (dom::key_value_pair field : dom::object(element_)) {
      if (field.key == key) found = Value(field.value);
    }
    return found;
  }

  std::string_view str() const { return is_string() ? std::string_view(element_) : ""; }

 private:
  dom::element element_;
  bool present_ = false;
};

std::string Shown(const Value& value) {
  std::string s = simdjson::minify(value.element());
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// Reads token counts, remembering the first error so call sites stay linear.
class CountReader {
 public:
  explicit CountReader(std::string_view provider) : provider_(provider) {}

  // The count at `object[key]`; 0 when the object or key is absent or null. `path` names
  // the field in errors ("usage.prompt_tokens").
  int64_t Get(const Value& object, std::string_view key, std::string_view path) {
    const Value v = object[key];
    if (!v.present() || v.is_null()) return 0;
    const dom::element e = v.element();
    switch (e.type()) {
      case dom::element_type::UINT64:
        if (uint64_t(e) <= static_cast<uint64_t>(Usage::kMaxTokens)) {
          return static_cast<int64_t>(uint64_t(e));
        }
        break;
      case dom::element_type::INT64:
        if (int64_t(e) >= 0 && int64_t(e) <= Usage::kMaxTokens) return int64_t(e);
        break;
      case dom::element_type::DOUBLE: {
        const double d = double(e);
        if (d >= 0 && d <= static_cast<double>(Usage::kMaxTokens) && std::floor(d) == d) {
          return static_cast<int64_t>(d);
        }
        break;
      }
      default:
        break;
    }
    Fail(path, Cat("expected a non-negative integer token count (at most ", Usage::kMaxTokens,
                   "), got ", Shown(v)));
    return 0;
  }

  bool Has(const Value& object, std::string_view key) const {
    const Value v = object[key];
    return v.present() && !v.is_null();
  }

  void Fail(std::string_view field, std::string_view message) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(Cat(provider_, " response: ", field, ": ", message));
    }
  }

  const absl::Status& status() const { return status_; }

 private:
  std::string provider_;
  absl::Status status_;
};

// object[key] when it is a JSON object, else none.
Value Child(const Value& object, std::string_view key) {
  Value v = object[key];
  return v.is_object() ? v : Value();
}

std::string StringField(const Value& object, std::string_view key) {
  return std::string(object[key].str());
}

void AddFinishReason(ParsedResponse& out, const Value& object, std::string_view key) {
  const std::string_view reason = object[key].str();
  if (!reason.empty()) out.finish_reasons.emplace_back(reason);
}

// A usage member that exists must be an object (or null).
Value UsageObject(CountReader& r, const Value& doc, std::string_view key) {
  const Value v = doc[key];
  if (!v.present() || v.is_null()) return Value();
  if (!v.is_object()) {
    r.Fail(key, Cat("expected an object, got ", Shown(v)));
    return Value();
  }
  return v;
}

// The elements of an array value (none when it is not an array).
template <typename Fn>
void ForEachElement(const Value& array, Fn&& fn) {
  if (!array.is_array()) return;
  for (dom::element e : dom::array(array.element())) fn(Value(e));
}

// --- OpenAI shape (also groq, deepseek, xai, mistral) -----------------------------------

void ParseOpenAI(CountReader& r, const Value& doc, ParsedResponse& out) {
  out.model = StringField(doc, "model");
  out.response_id = StringField(doc, "id");
  ForEachElement(doc["choices"],
                 [&](const Value& choice) { AddFinishReason(out, choice, "finish_reason"); });
  if (StringField(doc, "object") == "response") {  // Responses API
    const Value incomplete = Child(doc, "incomplete_details");
    if (incomplete["reason"].present()) {
      AddFinishReason(out, incomplete, "reason");
    } else {
      AddFinishReason(out, doc, "status");
    }
  }
  const Value usage = UsageObject(r, doc, "usage");
  if (!usage.present()) return;
  out.has_usage = true;
  if (r.Has(usage, "input_tokens") || r.Has(usage, "output_tokens")) {
    // Responses API: input_tokens holds the cached ones, output_tokens the reasoning ones.
    out.usage =
        NormalizeOpenAIUsage(r.Get(usage, "input_tokens", "usage.input_tokens"),
                             r.Get(usage, "output_tokens", "usage.output_tokens"),
                             r.Get(Child(usage, "input_tokens_details"), "cached_tokens",
                                   "usage.input_tokens_details.cached_tokens"),
                             r.Get(Child(usage, "output_tokens_details"), "reasoning_tokens",
                                   "usage.output_tokens_details.reasoning_tokens"));
    return;
  }
  int64_t prompt = r.Get(usage, "prompt_tokens", "usage.prompt_tokens");
  int64_t completion = r.Get(usage, "completion_tokens", "usage.completion_tokens");
  int64_t cached = r.Get(Child(usage, "prompt_tokens_details"), "cached_tokens",
                         "usage.prompt_tokens_details.cached_tokens");
  if (cached == 0) {
    // DeepSeek: prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens.
    cached = r.Get(usage, "prompt_cache_hit_tokens", "usage.prompt_cache_hit_tokens");
  }
  int64_t reasoning = r.Get(Child(usage, "completion_tokens_details"), "reasoning_tokens",
                            "usage.completion_tokens_details.reasoning_tokens");
  if (reasoning > 0) {
    // OpenAI counts reasoning inside completion_tokens; xAI does not (its total_tokens is
    // prompt + completion + reasoning). Trust total_tokens when given.
    bool excluded = out.provider == "xai";
    if (r.Has(usage, "total_tokens")) {
      int64_t total = r.Get(usage, "total_tokens", "usage.total_tokens");
      if (total == SatAdd(SatAdd(prompt, completion), reasoning)) excluded = true;
      if (total == SatAdd(prompt, completion)) excluded = false;
    }
    if (excluded) completion = SatAdd(completion, reasoning);
  }
  out.usage = NormalizeOpenAIUsage(prompt, completion, cached, reasoning);
}

// --- Anthropic Messages shape (also Bedrock InvokeModel with Claude) --------------------

void ParseAnthropic(CountReader& r, const Value& doc, ParsedResponse& out) {
  out.model = StringField(doc, "model");
  out.response_id = StringField(doc, "id");
  AddFinishReason(out, doc, "stop_reason");
  const Value usage = UsageObject(r, doc, "usage");
  if (!usage.present()) return;
  out.has_usage = true;
  int64_t cache_creation =
      r.Get(usage, "cache_creation_input_tokens", "usage.cache_creation_input_tokens");
  if (!r.Has(usage, "cache_creation_input_tokens")) {
    // Newer bodies may carry only the per-TTL breakdown.
    const Value detail = Child(usage, "cache_creation");
    cache_creation = SatAdd(r.Get(detail, "ephemeral_5m_input_tokens",
                                  "usage.cache_creation.ephemeral_5m_input_tokens"),
                            r.Get(detail, "ephemeral_1h_input_tokens",
                                  "usage.cache_creation.ephemeral_1h_input_tokens"));
  }
  out.usage = NormalizeAnthropicUsage(
      r.Get(usage, "input_tokens", "usage.input_tokens"),
      r.Get(usage, "output_tokens", "usage.output_tokens"),
      r.Get(usage, "cache_read_input_tokens", "usage.cache_read_input_tokens"), cache_creation);
}

// --- Gemini generateContent -------------------------------------------------------------

void ParseGeminiObject(CountReader& r, const Value& doc, ParsedResponse& out) {
  out.model = StringField(doc, "modelVersion");
  out.response_id = StringField(doc, "responseId");
  out.finish_reasons.clear();
  ForEachElement(doc["candidates"],
                 [&](const Value& candidate) { AddFinishReason(out, candidate, "finishReason"); });
  const Value meta = UsageObject(r, doc, "usageMetadata");
  if (!meta.present()) return;
  out.has_usage = true;
  int64_t prompt =
      SatAdd(r.Get(meta, "promptTokenCount", "usageMetadata.promptTokenCount"),
             r.Get(meta, "toolUsePromptTokenCount", "usageMetadata.toolUsePromptTokenCount"));
  out.usage = NormalizeGeminiUsage(
      prompt, r.Get(meta, "candidatesTokenCount", "usageMetadata.candidatesTokenCount"),
      r.Get(meta, "cachedContentTokenCount", "usageMetadata.cachedContentTokenCount"),
      r.Get(meta, "thoughtsTokenCount", "usageMetadata.thoughtsTokenCount"));
}

void ParseGemini(CountReader& r, const Value& doc, ParsedResponse& out) {
  if (!doc.is_array()) {
    ParseGeminiObject(r, doc, out);
    return;
  }
  // streamGenerateContent without SSE returns an array of chunks; the last usageMetadata
  // is cumulative.
  for (dom::element element : dom::array(doc.element())) {
    const Value chunk(element);
    if (!chunk.is_object()) {
      r.Fail("[]", Cat("expected an array of objects, got an element ", Shown(chunk)));
      return;
    }
    ParsedResponse piece;
    ParseGeminiObject(r, chunk, piece);
    if (!piece.model.empty()) out.model = piece.model;
    if (!piece.response_id.empty()) out.response_id = piece.response_id;
    if (!piece.finish_reasons.empty()) out.finish_reasons = piece.finish_reasons;
    if (piece.has_usage) {
      out.usage = piece.usage;
      out.has_usage = true;
    }
  }
}

// --- AWS Bedrock --------------------------------------------------------------------------

void ParseBedrock(CountReader& r, const Value& doc, ParsedResponse& out) {
  const Value usage = Child(doc, "usage");
  if (usage.present() && (r.Has(usage, "inputTokens") || r.Has(usage, "outputTokens"))) {
    // Converse (and Nova InvokeModel): inputTokens excludes cache reads and writes.
    AddFinishReason(out, doc, "stopReason");
    out.has_usage = true;
    int64_t cache_read =
        r.Has(usage, "cacheReadInputTokens")
            ? r.Get(usage, "cacheReadInputTokens", "usage.cacheReadInputTokens")
            : r.Get(usage, "cacheReadInputTokenCount", "usage.cacheReadInputTokenCount");
    int64_t cache_write =
        r.Has(usage, "cacheWriteInputTokens")
            ? r.Get(usage, "cacheWriteInputTokens", "usage.cacheWriteInputTokens")
            : r.Get(usage, "cacheWriteInputTokenCount", "usage.cacheWriteInputTokenCount");
    out.usage = NormalizeAnthropicUsage(r.Get(usage, "inputTokens", "usage.inputTokens"),
                                        r.Get(usage, "outputTokens", "usage.outputTokens"),
                                        cache_read, cache_write);
    return;
  }
  if (usage.present() || StringField(doc, "type") == "message") {
    ParseAnthropic(r, doc, out);  // InvokeModel with an Anthropic Claude body
    return;
  }
  if (r.Has(doc, "prompt_token_count") || r.Has(doc, "generation_token_count")) {
    // InvokeModel with a Meta Llama body.
    AddFinishReason(out, doc, "stop_reason");
    out.has_usage = true;
    out.usage =
        NormalizeOpenAIUsage(r.Get(doc, "prompt_token_count", "prompt_token_count"),
                             r.Get(doc, "generation_token_count", "generation_token_count"), 0, 0);
    return;
  }
  if (r.Has(doc, "inputTextTokenCount")) {
    // InvokeModel with an Amazon Titan body (text or embeddings).
    out.has_usage = true;
    int64_t output = 0;
    size_t i = 0;
    ForEachElement(doc["results"], [&](const Value& result) {
      output = SatAdd(output, r.Get(result, "tokenCount", Cat("results[", i++, "].tokenCount")));
      AddFinishReason(out, result, "completionReason");
    });
    out.usage = NormalizeOpenAIUsage(r.Get(doc, "inputTextTokenCount", "inputTextTokenCount"),
                                     output, 0, 0);
  }
}

// --- Cohere -------------------------------------------------------------------------------

void ParseCohere(CountReader& r, const Value& doc, ParsedResponse& out) {
  out.response_id = StringField(doc, "id");
  AddFinishReason(out, doc, "finish_reason");
  const Value usage = UsageObject(r, doc, "usage");
  Value units = Child(usage, "billed_units");
  std::string path = "usage.billed_units";
  if (!units.present()) {
    units = Child(usage, "tokens");
    path = "usage.tokens";
  }
  if (!units.present()) {
    units = Child(Child(doc, "meta"), "billed_units");
    path = "meta.billed_units";
  }
  if (!units.present()) return;
  out.has_usage = true;
  out.usage =
      NormalizeOpenAIUsage(r.Get(units, "input_tokens", Cat(path, ".input_tokens")),
                           r.Get(units, "output_tokens", Cat(path, ".output_tokens")), 0, 0);
}

enum class Shape { kOpenAI, kAnthropic, kGemini, kBedrock, kCohere, kUnknown };

Shape ShapeOf(std::string_view provider, std::string& canonical) {
  struct Entry {
    std::string_view name, canonical;
    Shape shape;
  };
  static constexpr Entry kProviders[] = {
      {"openai", "openai", Shape::kOpenAI},
      {"groq", "groq", Shape::kOpenAI},
      {"deepseek", "deepseek", Shape::kOpenAI},
      {"xai", "xai", Shape::kOpenAI},
      {"mistral", "mistral", Shape::kOpenAI},
      {"anthropic", "anthropic", Shape::kAnthropic},
      {"google", "google", Shape::kGemini},
      {"gemini", "google", Shape::kGemini},
      {"aws_bedrock", "aws_bedrock", Shape::kBedrock},
      {"bedrock", "aws_bedrock", Shape::kBedrock},
      {"cohere", "cohere", Shape::kCohere},
  };
  for (const Entry& e : kProviders) {
    if (EqualsIgnoreCase(provider, e.name)) {
      canonical = std::string(e.canonical);
      return e.shape;
    }
  }
  return Shape::kUnknown;
}

constexpr int kMaxJsonDepth = 64;

// `json` with every integer too long for 64 bits written as a decimal ("1e30" stays,
// "123456789012345678901234567890" becomes "123456789012345678901234567890.0"). JSON allows
// such integers and readers take them as doubles; simdjson refuses the whole document, so a
// body with one anywhere (an unrelated member) is parsed again after this. Strings are left
// alone; malformed JSON stays malformed. (simdjson 3.0 reports such an integer as
// NUMBER_ERROR, as it does a malformed number.)
std::string BigIntegersAsDecimals(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[i + 1]);
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    if (c != '-' && (c < '0' || c > '9')) {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t end = i + 1;
    bool integer = true;
    while (end < json.size()) {
      const char d = json[end];
      if (d == '.' || d == 'e' || d == 'E' || d == '+') {
        integer = false;
      } else if ((d < '0' || d > '9') && d != '-') {
        break;
      }
      ++end;
    }
    out.append(json.substr(i, end - i));
    if (integer && end - i > 19) out.append(".0");
    i = end;
  }
  return out;
}

}  // namespace

absl::StatusOr<ParsedResponse> ParseProviderResponse(std::string_view provider,
                                                     std::string_view body) {
  ParsedResponse out;
  Shape shape = ShapeOf(provider, out.provider);
  if (shape == Shape::kUnknown) {
    return absl::InvalidArgumentError(
        Cat("unknown provider \"", provider,
            "\" for usage parsing; supported: openai, anthropic, google (gemini), "
            "aws_bedrock, groq, deepseek, xai, mistral, cohere"));
  }
  if (JsonNestsDeeperThan(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(Cat(out.provider, " response: JSON nested deeper than ",
                                          kMaxJsonDepth, " levels; refusing to parse it"));
  }
  thread_local dom::parser reused;
  std::optional<dom::parser> once;
  dom::parser& parser = body.size() <= kMaxReusedParserBytes ? reused : once.emplace();
  dom::element root;
  simdjson::error_code code = parser.parse(body.data(), body.size()).get(root);
  std::string rewritten;
  if (code == simdjson::NUMBER_ERROR) {
    rewritten = BigIntegersAsDecimals(body);
    code = parser.parse(rewritten.data(), rewritten.size()).get(root);
  }
  if (code != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat(out.provider, " response: malformed JSON (", body.size(), " bytes)"));
  }
  const Value doc(root);
  if (!doc.is_object() && !(shape == Shape::kGemini && doc.is_array())) {
    return absl::InvalidArgumentError(
        Cat(out.provider, " response: expected a JSON object, got ", Shown(doc)));
  }
  CountReader reader(out.provider);
  switch (shape) {
    case Shape::kOpenAI:
      ParseOpenAI(reader, doc, out);
      break;
    case Shape::kAnthropic:
      ParseAnthropic(reader, doc, out);
      break;
    case Shape::kGemini:
      ParseGemini(reader, doc, out);
      break;
    case Shape::kBedrock:
      ParseBedrock(reader, doc, out);
      break;
    case Shape::kCohere:
      ParseCohere(reader, doc, out);
      break;
    case Shape::kUnknown:
      break;
  }
  if (!reader.status().ok()) return reader.status();
  if (out.has_usage) {
    if (absl::Status s = out.usage.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          Cat(out.provider, " response: inconsistent usage: ", s.message()));
    }
  }
  return out;
}

Usage NormalizeOpenAIUsage(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens,
                           int64_t reasoning_tokens) {
  Usage u;
  u.input_tokens = SatAdd(prompt_tokens, 0);
  u.cache_read_tokens = SatAdd(cached_tokens, 0);
  u.output_tokens = SatAdd(completion_tokens, 0);
  u.reasoning_tokens = SatAdd(reasoning_tokens, 0);
  return u;
}

Usage NormalizeAnthropicUsage(int64_t input_tokens, int64_t output_tokens,
                              int64_t cache_read_input_tokens,
                              int64_t cache_creation_input_tokens) {
  Usage u;
  u.input_tokens =
      SatAdd(SatAdd(input_tokens, cache_read_input_tokens), cache_creation_input_tokens);
  u.cache_read_tokens = SatAdd(cache_read_input_tokens, 0);
  u.cache_write_tokens = SatAdd(cache_creation_input_tokens, 0);
  u.output_tokens = SatAdd(output_tokens, 0);
  return u;
}

Usage NormalizeGeminiUsage(int64_t prompt_token_count, int64_t candidates_token_count,
                           int64_t cached_content_token_count, int64_t thoughts_token_count) {
  Usage u;
  u.input_tokens = SatAdd(prompt_token_count, 0);
  u.cache_read_tokens = SatAdd(cached_content_token_count, 0);
  u.output_tokens = SatAdd(candidates_token_count, thoughts_token_count);
  u.reasoning_tokens = SatAdd(thoughts_token_count, 0);
  return u;
}

}  // namespace genops
