#include "src/receiver/span_enricher.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "src/core/text.h"
#include "src/telemetry/semconv.h"

namespace genops::receiver {
namespace {

namespace sc = telemetry::semconv;
using telemetry::Attribute;
using telemetry::AttributeKey;
using telemetry::AttributeValue;
using telemetry::SpanData;

// ---- Reading -----------------------------------------------------------------------------

// The keys ReadLlmCall looks at, in one table so one pass over the attributes finds them all.
enum Slot : int {
  kProviderName,
  kSystem,
  kVendor,
  kRequestModel,
  kResponseModel,
  kLlmRequestModel,
  kLlmResponseModel,
  kOperationName,
  kRequestType,
  kInputTokens,
  kPromptTokens,
  kLlmPromptTokens,
  kOutputTokens,
  kCompletionTokens,
  kLlmCompletionTokens,
  kCacheRead,
  kCacheReadLegacy,
  kCacheWrite,
  kCacheWriteLegacy,
  kReasoning,
  kReasoningLegacy,
  kTotalTokens,
  kTotalTokensLegacy,
  kGenOpsOperationId,
  kGenOpsCostTotal,
  kSlotCount,
};

struct KeySlot {
  std::string_view key;
  Slot slot;
};

constexpr std::array<KeySlot, kSlotCount> kKeys = {{
    {sc::kGenAiProviderName, kProviderName},
    {sc::kGenAiSystem, kSystem},
    {"llm.vendor", kVendor},
    {sc::kGenAiRequestModel, kRequestModel},
    {sc::kGenAiResponseModel, kResponseModel},
    {"llm.request.model", kLlmRequestModel},
    {"llm.response.model", kLlmResponseModel},
    {sc::kGenAiOperationName, kOperationName},
    {sc::kLlmRequestType, kRequestType},
    {sc::kGenAiUsageInputTokens, kInputTokens},
    {sc::kGenAiUsagePromptTokens, kPromptTokens},
    {"llm.usage.prompt_tokens", kLlmPromptTokens},
    {sc::kGenAiUsageOutputTokens, kOutputTokens},
    {sc::kGenAiUsageCompletionTokens, kCompletionTokens},
    {"llm.usage.completion_tokens", kLlmCompletionTokens},
    {sc::kGenAiUsageCacheReadInputTokens, kCacheRead},
    {sc::kGenAiUsageCacheReadInputTokensLegacy, kCacheReadLegacy},
    {sc::kGenAiUsageCacheCreationInputTokens, kCacheWrite},
    {sc::kGenAiUsageCacheCreationInputTokensLegacy, kCacheWriteLegacy},
    {sc::kGenAiUsageReasoningOutputTokens, kReasoning},
    {"gen_ai.usage.reasoning_tokens", kReasoningLegacy},
    {sc::kGenAiUsageTotalTokens, kTotalTokens},
    {sc::kLlmUsageTotalTokens, kTotalTokensLegacy},
    {sc::kGenOpsOperationId, kGenOpsOperationId},
    {sc::kGenOpsCostTotal, kGenOpsCostTotal},
}};

using Slots = std::array<const Attribute*, kSlotCount>;

// Equal strings of equal length (the caller checked). The first, middle and last bytes are
// compared before the rest: keys of the same length sharing a long prefix ("gen_ai.usage.")
// mostly differ there, and this runs for every attribute of every received span.
bool SameBytes(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n == 0) return true;
  if (a[0] != b[0] || a[n / 2] != b[n / 2] || a[n - 1] != b[n - 1]) return false;
  return std::memcmp(a.data(), b.data(), n) == 0;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && SameBytes(s.substr(0, prefix.size()), prefix);
}

// kKeys grouped by key length, so an attribute is compared with the one or two keys of its
// length instead of all of them (this runs on every received span).
struct KeysByLength {
  static constexpr size_t kMaxLength = 48;
  std::array<std::array<int8_t, 6>, kMaxLength + 1> slots;  // indexes into kKeys; -1 ends

  constexpr KeysByLength() : slots() {
    for (auto& bucket : slots) bucket.fill(-1);
    for (size_t k = 0; k < kKeys.size(); ++k) {
      auto& bucket = slots[kKeys[k].key.size()];
      for (auto& entry : bucket) {
        if (entry < 0) {
          entry = static_cast<int8_t>(k);
          break;
        }
      }
    }
  }
};
constexpr KeysByLength kKeysByLength;

// Fails to compile if a bucket overflowed (a new key of a crowded length needs a wider bucket).
constexpr bool EveryKeyIndexed() {
  for (size_t k = 0; k < kKeys.size(); ++k) {
    bool found = false;
    for (int8_t entry : kKeysByLength.slots[kKeys[k].key.size()])
      found |= entry == static_cast<int8_t>(k);
    if (!found) return false;
  }
  return true;
}
static_assert(EveryKeyIndexed());

void FillSlots(const std::vector<Attribute>& attributes, Slots* slots) {
  slots->fill(nullptr);
  for (const Attribute& a : attributes) {
    const std::string_view key = a.key.view();
    if (key.size() > KeysByLength::kMaxLength) continue;
    for (int8_t entry : kKeysByLength.slots[key.size()]) {
      if (entry < 0) break;
      const KeySlot& ks = kKeys[static_cast<size_t>(entry)];
      if (SameBytes(key, ks.key)) {
        if ((*slots)[ks.slot] == nullptr) (*slots)[ks.slot] = &a;  // first occurrence wins
        break;
      }
    }
  }
}

const Attribute* First(const Slots& slots, std::initializer_list<Slot> order) {
  for (Slot s : order) {
    if (slots[s] != nullptr) return slots[s];
  }
  return nullptr;
}

std::string ScalarText(const AttributeValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* i = std::get_if<int64_t>(&value)) return Cat(*i);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* d = std::get_if<double>(&value)) return Cat(*d);
  return "";
}

// *out = the text of `a` ("" when null), in *out's buffer.
void TextInto(const Attribute* a, std::string* out) {
  if (a == nullptr) {
    out->clear();
  } else if (const auto* s = std::get_if<std::string>(&a->value)) {
    out->assign(*s);
  } else {
    *out = ScalarText(a->value);
  }
}

std::string_view Describe(const AttributeValue& value, std::string* buffer) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    *buffer = Cat("\"", std::string_view(*s).substr(0, 40), s->size() > 40 ? "...\"" : "\"");
  } else if (std::holds_alternative<std::vector<std::string>>(value)) {
    *buffer = "an array";
  } else {
    *buffer = ScalarText(value);
  }
  return *buffer;
}

// A token count, or an error naming the attribute.
absl::Status ReadCount(const Attribute* a, int64_t* out) {
  const AttributeValue& v = a->value;
  bool ok = false;
  if (const auto* i = std::get_if<int64_t>(&v)) {
    *out = *i;
    ok = true;
  } else if (const auto* d = std::get_if<double>(&v)) {
    if (std::isfinite(*d) && std::nearbyint(*d) == *d && std::fabs(*d) <= 9e18) {
      *out = static_cast<int64_t>(*d);
      ok = true;
    }
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    const char* first = s->data();
    const char* last = s->data() + s->size();
    auto [ptr, ec] = std::from_chars(first, last, *out);
    ok = ec == std::errc() && ptr == last && first != last;
  }
  std::string buffer;
  if (!ok) {
    return absl::InvalidArgumentError(Cat("attribute ", a->key.view(), " is ", Describe(v, &buffer),
                                          "; a token count must be a whole number"));
  }
  if (*out < 0) {
    return absl::InvalidArgumentError(
        Cat("attribute ", a->key.view(), " is ", *out, "; a token count cannot be negative"));
  }
  if (*out > Usage::kMaxTokens) {
    return absl::InvalidArgumentError(Cat("attribute ", a->key.view(), " is ", *out,
                                          "; token counts above ", Usage::kMaxTokens,
                                          " are refused as implausible"));
  }
  return absl::OkStatus();
}

// Reads the first present of `order` into *value; *present says whether one was there.
absl::Status ReadFirstCount(const Slots& slots, std::initializer_list<Slot> order, int64_t* value,
                            bool* present) {
  const Attribute* a = First(slots, order);
  *present = a != nullptr;
  *value = 0;
  if (a == nullptr) return absl::OkStatus();
  return ReadCount(a, value);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "openai.chat" -> "chat", "anthropic.completion" -> "text_completion", "chat gpt-4o" -> "chat".
std::string OperationFromName(std::string_view name) {
  std::string_view op;
  if (const size_t space = name.find(' '); space != std::string_view::npos) {
    op = name.substr(0, space);
  } else if (const size_t dot = name.rfind('.'); dot != std::string_view::npos) {
    op = name.substr(dot + 1);
  } else {
    return "";
  }
  if (op == "completion" || op == "completions") return std::string(sc::kOperationTextCompletion);
  if (op == "embedding") return std::string(sc::kOperationEmbeddings);
  if (op == "chat" || op == "text_completion" || op == "embeddings" || op == "generate_content" ||
      op == "responses") {
    return std::string(op);
  }
  return "";
}

bool IsAnthropicFamily(std::string_view provider, std::string_view model) {
  if (provider == "anthropic") return true;
  const std::string lower = Lower(model);
  return lower.find("claude") != std::string::npos || lower.find("anthropic.") != std::string::npos;
}

// See the file comment, "Cache tokens".
CacheAccounting DecideCacheAccounting(const LlmCall& call, const telemetry::ResourceInfo& resource,
                                      int64_t input, int64_t cache_read, int64_t cache_write) {
  if (cache_read == 0 && cache_write == 0) return CacheAccounting::kNoCacheTokens;
  if (input < cache_read + cache_write) return CacheAccounting::kInputExcludesCache;
  const std::string_view scope = resource.scope_name;
  if (scope == "opentelemetry.instrumentation.anthropic") {
    const bool known_version = !resource.scope_version.empty() &&
                               resource.scope_version[0] >= '0' && resource.scope_version[0] <= '9';
    if (known_version && !VersionAtLeast(resource.scope_version, 0, 33, 4)) {
      return CacheAccounting::kInputExcludesCache;
    }
    return CacheAccounting::kInputIncludesCache;
  }
  if (scope == "opentelemetry.instrumentation.bedrock" &&
      IsAnthropicFamily(call.provider, call.model())) {
    return CacheAccounting::kInputExcludesCache;
  }
  return CacheAccounting::kInputIncludesCache;
}

// ---- Attribution ---------------------------------------------------------------------------

constexpr std::string_view kDimensions[] = {"team",        "project",     "environment",
                                            "customer_id", "cost_center", "feature"};

std::string* DimensionField(Attribution& a, size_t index) {
  switch (index) {
    case 0:
      return &a.team;
    case 1:
      return &a.project;
    case 2:
      return &a.environment;
    case 3:
      return &a.customer_id;
    case 4:
      return &a.cost_center;
    default:
      return &a.feature;
  }
}

bool UsableValue(const AttributeValue& v, std::string* text) {
  if (std::holds_alternative<std::vector<std::string>>(v)) return false;
  *text = ScalarText(v);
  return !text->empty() && text->size() <= kMaxAttributionValueBytes;
}

// Overlays the dimensions found under `prefix` (and, for "genops.", the tags) onto *out.
void Overlay(const std::vector<Attribute>& attributes, std::string_view prefix, bool tags,
             Attribution* out) {
  std::string text;
  for (const Attribute& a : attributes) {
    const std::string_view key = a.key.view();
    if (!StartsWith(key, prefix)) continue;
    const std::string_view rest = key.substr(prefix.size());
    if (tags && StartsWith(rest, "tag.")) {
      const std::string_view tag = rest.substr(4);
      if (!tag.empty() && tag.size() <= 256 && UsableValue(a.value, &text)) {
        out->tags[std::string(tag)] = text;
      }
      continue;
    }
    for (size_t d = 0; d < std::size(kDimensions); ++d) {
      if (rest == kDimensions[d]) {
        if (UsableValue(a.value, &text)) *DimensionField(*out, d) = text;
        break;
      }
    }
  }
}

// ---- Annotation ----------------------------------------------------------------------------

// Keys AnnotateLlmSpan writes (a span's own copies are replaced). genops.tag.* too.
constexpr std::string_view kWrittenKeys[] = {
    sc::kGenOpsTeam,
    sc::kGenOpsProject,
    sc::kGenOpsEnvironment,
    sc::kGenOpsCustomerId,
    sc::kGenOpsCostCenter,
    sc::kGenOpsFeature,
    sc::kGenOpsOperationId,
    sc::kGenOpsOperationType,
    sc::kGenOpsOperationName,
    sc::kGenOpsCostTotal,
    sc::kGenOpsCostTotalNanos,
    sc::kGenOpsCostCurrency,
    sc::kGenOpsCostProvider,
    sc::kGenOpsCostModel,
    sc::kGenOpsCostPriced,
    sc::kGenOpsTokensInput,
    sc::kGenOpsTokensOutput,
    sc::kGenOpsTokensTotal,
    sc::kGenOpsPolicyLevel,
    sc::kGenOpsPolicyResult,
    sc::kGenOpsPolicyReason,
    sc::kGenOpsBudgetName,
    sc::kGenOpsBudgetLimit,
    sc::kGenOpsBudgetConsumed,
    sc::kGenOpsBudgetRemaining,
    sc::kGenOpsBudgetUtilizationPercent,
    sc::kGenOpsAccountingReserved,
    sc::kGenOpsAccountingActual,
    sc::kGenOpsSource,
};

bool IsWrittenKey(std::string_view key) {
  if (!StartsWith(key, "genops.")) return false;
  if (StartsWith(key, sc::kGenOpsTagPrefix)) return true;
  for (std::string_view k : kWrittenKeys) {
    if (key == k) return true;
  }
  return false;
}

// Appends attributes to a vector, over spare elements when there are some (see
// spare_elements.h): a string value is written into the spare's string buffer, so an
// attribute that held the same key a lap earlier costs no allocation.
class AttributeWriter {
 public:
  AttributeWriter(std::vector<Attribute>& to, SpareElements* spares) : to_(to), spares_(spares) {}

  void Text(std::string_view static_key, std::string_view text) {
    // Spare attributes (kept for their string buffers) serve string values only.
    AttributeValue& value =
        spares_ != nullptr ? spares_->AppendWithKey(to_, static_key).value : Next(static_key);
    if (auto* s = std::get_if<std::string>(&value)) {
      s->assign(text.data(), text.size());
    } else {
      value.emplace<std::string>(text);
    }
  }
  void Int(std::string_view static_key, int64_t v) { Scalar(static_key, v); }
  void Double(std::string_view static_key, double v) { Scalar(static_key, v); }
  void Bool(std::string_view static_key, bool v) { Scalar(static_key, v); }
  // An attribute with an owned key (genops.tag.<k>).
  void OwnedText(std::string key, const std::string& text) {
    to_.push_back({AttributeKey(key), AttributeValue(text)});
  }

 private:
  AttributeValue& Next(std::string_view static_key) {
    return to_.emplace_back(Attribute{AttributeKey::Static(static_key), AttributeValue()}).value;
  }
  template <typename T>
  void Scalar(std::string_view static_key, T v) {
    AttributeValue& value = Next(static_key);
    if (auto* held = std::get_if<T>(&value)) {
      *held = v;
    } else {
      value.template emplace<T>(v);
    }
  }

  std::vector<Attribute>& to_;
  SpareElements* const spares_;
};

}  // namespace

std::string CanonicalProvider(std::string_view reported) {
  const std::string p = Lower(reported);
  if (p == "openai") return "openai";
  if (p == "anthropic") return "anthropic";
  if (p == "aws.bedrock" || p == "aws_bedrock" || p == "bedrock" || p == "aws")
    return "aws_bedrock";
  if (p == "gcp.gemini" || p == "gcp.vertex_ai" || p == "gcp.gen_ai" || p == "google" ||
      p == "gemini" || p == "vertexai" || p == "vertex_ai" || p == "google_genai") {
    return "google";
  }
  if (p == "mistral_ai" || p == "mistralai" || p == "mistral") return "mistral";
  if (p == "cohere") return "cohere";
  if (p == "groq") return "groq";
  if (p == "deepseek") return "deepseek";
  if (p == "x_ai" || p == "xai") return "xai";
  return "";
}

bool VersionAtLeast(std::string_view version, int major, int minor, int patch) {
  int parts[3] = {0, 0, 0};
  size_t pos = 0;
  for (int k = 0; k < 3; ++k) {
    const char* first = version.data() + pos;
    const char* last = version.data() + version.size();
    auto [ptr, ec] = std::from_chars(first, last, parts[k]);
    if (ec != std::errc()) {
      if (k == 0) return false;
      break;
    }
    pos = static_cast<size_t>(ptr - version.data());
    if (pos >= version.size() || version[pos] != '.') break;
    ++pos;
  }
  const int want[3] = {major, minor, patch};
  for (int k = 0; k < 3; ++k) {
    if (parts[k] != want[k]) return parts[k] > want[k];
  }
  return true;
}

absl::StatusOr<LlmCall> ReadLlmCall(const SpanData& span, const telemetry::ResourceInfo& resource) {
  LlmCall call;
  if (absl::Status s = ReadLlmCall(span, resource, &call); !s.ok()) return s;
  return call;
}

absl::Status ReadLlmCall(const SpanData& span, const telemetry::ResourceInfo& resource,
                         LlmCall* out) {
  Slots slots;
  FillSlots(span.attributes, &slots);
  LlmCall& call = *out;
  // Every field is written (the strings in their buffers).
  call.is_llm = false;
  call.provider.clear();
  call.provider_unknown = false;
  call.usage = Usage();
  call.has_usage = false;
  call.cache = CacheAccounting::kNoCacheTokens;
  call.already_governed =
      slots[kGenOpsOperationId] != nullptr || slots[kGenOpsCostTotal] != nullptr;

  TextInto(First(slots, {kProviderName, kSystem, kVendor}), &call.provider_reported);
  TextInto(First(slots, {kRequestModel, kLlmRequestModel}), &call.request_model);
  TextInto(First(slots, {kResponseModel, kLlmResponseModel}), &call.response_model);
  TextInto(First(slots, {kOperationName, kRequestType}), &call.operation);
  if (!call.provider_reported.empty()) {
    call.provider = CanonicalProvider(call.provider_reported);
    call.provider_unknown = call.provider.empty();
  }

  const bool any_count =
      First(slots,
            {kInputTokens, kPromptTokens, kLlmPromptTokens, kOutputTokens, kCompletionTokens,
             kLlmCompletionTokens, kCacheRead, kCacheReadLegacy, kCacheWrite, kCacheWriteLegacy,
             kReasoning, kReasoningLegacy, kTotalTokens, kTotalTokensLegacy}) != nullptr;
  const bool has_model = !call.model().empty();
  call.is_llm =
      any_count || (has_model && (!call.provider_reported.empty() || !call.operation.empty()));
  if (!call.is_llm) return absl::OkStatus();
  if (call.operation.empty()) call.operation = OperationFromName(span.name);

  int64_t input = 0, output = 0, cache_read = 0, cache_write = 0, reasoning = 0, total = 0;
  bool has_input = false, has_output = false, has_cache_read = false, has_cache_write = false,
       has_reasoning = false, has_total = false;
  absl::Status s;
  if (!(s = ReadFirstCount(slots, {kInputTokens, kPromptTokens, kLlmPromptTokens}, &input,
                           &has_input))
           .ok() ||
      !(s = ReadFirstCount(slots, {kOutputTokens, kCompletionTokens, kLlmCompletionTokens}, &output,
                           &has_output))
           .ok() ||
      !(s = ReadFirstCount(slots, {kCacheRead, kCacheReadLegacy}, &cache_read, &has_cache_read))
           .ok() ||
      !(s = ReadFirstCount(slots, {kCacheWrite, kCacheWriteLegacy}, &cache_write, &has_cache_write))
           .ok() ||
      !(s = ReadFirstCount(slots, {kReasoning, kReasoningLegacy}, &reasoning, &has_reasoning))
           .ok() ||
      !(s = ReadFirstCount(slots, {kTotalTokens, kTotalTokensLegacy}, &total, &has_total)).ok()) {
    return s;
  }
  if (has_total && has_input && !has_output) {
    if (total < input) {
      return absl::InvalidArgumentError(Cat("the total token count (", sc::kGenAiUsageTotalTokens,
                                            " or ", sc::kLlmUsageTotalTokens, ") is ", total,
                                            ", less than the ", input, " input tokens"));
    }
    output = total - input;
    has_output = true;
  } else if (has_total && has_output && !has_input) {
    if (total < output) {
      return absl::InvalidArgumentError(Cat("the total token count (", sc::kGenAiUsageTotalTokens,
                                            " or ", sc::kLlmUsageTotalTokens, ") is ", total,
                                            ", less than the ", output, " output tokens"));
    }
    input = total - output;
    has_input = true;
  }
  call.has_usage = has_input || has_output;
  // A total alone (or cache counts alone) cannot be priced.
  if (!call.has_usage) return absl::OkStatus();

  call.cache = DecideCacheAccounting(call, resource, input, cache_read, cache_write);
  Usage& u = call.usage;
  u.input_tokens =
      call.cache == CacheAccounting::kInputExcludesCache ? input + cache_read + cache_write : input;
  u.cache_read_tokens = cache_read;
  u.cache_write_tokens = cache_write;
  u.output_tokens = reasoning > output ? output + reasoning : output;
  u.reasoning_tokens = reasoning;
  if (absl::Status valid = u.Validate(); !valid.ok()) {
    return absl::InvalidArgumentError(Cat("token usage is not plausible: ", valid.message()));
  }
  return absl::OkStatus();
}

Attribution ResourceAttribution(const telemetry::ResourceInfo& resource,
                                const Attribution& defaults) {
  Attribution a = defaults;
  Overlay(resource.attributes, sc::kTraceloopAssociationPropertiesPrefix, false, &a);
  std::string text;
  for (std::string_view key : {"deployment.environment", "deployment.environment.name"}) {
    for (const Attribute& attr : resource.attributes) {
      if (attr.key == key && UsableValue(attr.value, &text)) a.environment = text;
    }
  }
  Overlay(resource.attributes, "genops.", true, &a);
  return a;
}

Attribution SpanAttribution(const SpanData& span, const Attribution& base) {
  Attribution a = base;
  Overlay(span.attributes, sc::kTraceloopAssociationPropertiesPrefix, false, &a);
  Overlay(span.attributes, "genops.", true, &a);
  return a;
}

BudgetSummary TightestBudget(const ledger::BudgetStatusList& budgets) {
  BudgetSummary summary;
  const ledger::BudgetStatus* best = nullptr;
  for (const ledger::BudgetStatus& b : budgets) {
    if (b.spec == nullptr) continue;
    if (best == nullptr || b.remaining() < best->remaining()) best = &b;
  }
  if (best != nullptr) {
    summary.present = true;
    summary.name = best->spec->name;
    summary.limit = best->limit();
    summary.spent = best->spent;
    summary.reserved = best->reserved;
  }
  return summary;
}

void AnnotateLlmSpan(const LlmAnnotation& an, SpanData& span, SpareElements* spares) {
  auto& attrs = span.attributes;
  attrs.erase(std::remove_if(attrs.begin(), attrs.end(),
                             [](const Attribute& a) { return IsWrittenKey(a.key.view()); }),
              attrs.end());
  const LlmCall& call = *an.call;
  attrs.reserve(attrs.size() + 32 + an.attribution.tags.size());
  AttributeWriter put(attrs, spares);
  const Attribution& at = an.attribution;
  const std::pair<std::string_view, const std::string*> dims[] = {
      {sc::kGenOpsTeam, &at.team},
      {sc::kGenOpsProject, &at.project},
      {sc::kGenOpsEnvironment, &at.environment},
      {sc::kGenOpsCustomerId, &at.customer_id},
      {sc::kGenOpsCostCenter, &at.cost_center},
      {sc::kGenOpsFeature, &at.feature}};
  for (const auto& [key, value] : dims) {
    if (!value->empty()) put.Text(key, *value);
  }
  for (const auto& [k, v] : at.tags) put.OwnedText(Cat(sc::kGenOpsTagPrefix, k), v);
  put.Text(sc::kGenOpsSource, "otlp_receiver");
  put.Text(sc::kGenOpsOperationId, an.operation_id);
  if (!call.operation.empty()) put.Text(sc::kGenOpsOperationType, call.operation);
  put.Text(sc::kGenOpsOperationName, span.name);
  if (an.priced) {
    put.Double(sc::kGenOpsCostTotal, an.cost.usd());
    put.Int(sc::kGenOpsCostTotalNanos, an.cost.nanos());
  }
  put.Text(sc::kGenOpsCostCurrency, "USD");
  if (!an.cost_provider.empty()) put.Text(sc::kGenOpsCostProvider, an.cost_provider);
  if (!an.cost_model.empty()) put.Text(sc::kGenOpsCostModel, an.cost_model);
  put.Bool(sc::kGenOpsCostPriced, an.priced);
  if (call.has_usage) {
    put.Int(sc::kGenOpsTokensInput, call.usage.input_tokens);
    put.Int(sc::kGenOpsTokensOutput, call.usage.output_tokens);
    put.Int(sc::kGenOpsTokensTotal, call.usage.total_tokens());
  }
  put.Text(sc::kGenOpsPolicyLevel, PolicyLevelName(an.policy_level));
  put.Text(sc::kGenOpsPolicyResult, DecisionResultName(an.result));
  if (an.reason != DecisionReason::kNone) {
    put.Text(sc::kGenOpsPolicyReason, DecisionReasonName(an.reason));
  }
  if (an.budget.present) {
    const BudgetSummary& b = an.budget;
    put.Text(sc::kGenOpsBudgetName, b.name);
    put.Double(sc::kGenOpsBudgetLimit, b.limit.usd());
    put.Double(sc::kGenOpsBudgetConsumed, (b.spent + b.reserved).usd());
    put.Double(sc::kGenOpsBudgetRemaining, (b.limit - b.spent - b.reserved).usd());
    const double utilization = b.limit.nanos() > 0
                                   ? static_cast<double>((b.spent + b.reserved).nanos()) /
                                         static_cast<double>(b.limit.nanos())
                                   : 0.0;
    put.Double(sc::kGenOpsBudgetUtilizationPercent, utilization * 100.0);
  }
  put.Double(sc::kGenOpsAccountingReserved, 0.0);
  put.Double(sc::kGenOpsAccountingActual, an.priced ? an.cost.usd() : 0.0);

  // A spare event comes with an earlier event's attributes: cleared (their vector's buffer
  // stays), then written.
  const auto new_event = [&]() -> telemetry::SpanEvent& {
    telemetry::SpanEvent& e =
        spares != nullptr ? spares->Append(span.events) : span.events.emplace_back();
    e.attributes.clear();
    return e;
  };
  if (an.charged) {
    telemetry::SpanEvent& e = new_event();
    e.name.AssignStatic(sc::kEventBudgetReconciliation);
    e.time_unix_nanos = span.end_unix_nanos;
    AttributeWriter event_put(e.attributes, nullptr);
    event_put.Double(sc::kGenOpsAccountingReserved, 0.0);
    event_put.Double(sc::kGenOpsAccountingActual, an.cost.usd());
    event_put.Bool("genops.accounting.ledger_ok", an.ledger_ok);
  }
  for (const Alert& alert : an.alerts) {
    telemetry::SpanEvent& e = new_event();
    e.name.AssignStatic(sc::kEventAlert);
    e.time_unix_nanos = alert.time_unix_nanos != 0 ? alert.time_unix_nanos : span.end_unix_nanos;
    AttributeWriter event_put(e.attributes, nullptr);
    event_put.Text("genops.alert.kind", AlertKindName(alert.kind));
    event_put.Text("genops.alert.severity", alert.severity);
    event_put.Text("genops.alert.message", alert.message);
    if (!alert.budget_name.empty()) event_put.Text(sc::kGenOpsBudgetName, alert.budget_name);
    if (alert.amount.nanos() != 0) event_put.Double("genops.alert.amount", alert.amount.usd());
  }
}

}  // namespace genops::receiver
