#include "src/receiver/span_enricher.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
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

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
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
      if (key == ks.key) {
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

std::string TextOf(const Attribute* a) {
  return a == nullptr ? std::string() : ScalarText(a->value);
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

template <typename V>
void Put(std::vector<Attribute>& a, std::string_view static_key, V&& value) {
  a.push_back({AttributeKey::Static(static_key), AttributeValue(std::forward<V>(value))});
}

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
  Slots slots;
  FillSlots(span.attributes, &slots);
  LlmCall call;
  call.already_governed =
      slots[kGenOpsOperationId] != nullptr || slots[kGenOpsCostTotal] != nullptr;

  call.provider_reported = TextOf(First(slots, {kProviderName, kSystem, kVendor}));
  call.request_model = TextOf(First(slots, {kRequestModel, kLlmRequestModel}));
  call.response_model = TextOf(First(slots, {kResponseModel, kLlmResponseModel}));
  call.operation = TextOf(First(slots, {kOperationName, kRequestType}));
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
  if (!call.is_llm) return call;
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
  if (!call.has_usage) return call;  // a total alone (or cache counts alone) cannot be priced

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
  return call;
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

void AnnotateLlmSpan(const LlmAnnotation& an, SpanData& span) {
  auto& attrs = span.attributes;
  attrs.erase(std::remove_if(attrs.begin(), attrs.end(),
                             [](const Attribute& a) { return IsWrittenKey(a.key.view()); }),
              attrs.end());
  const LlmCall& call = *an.call;
  attrs.reserve(attrs.size() + 32 + an.attribution.tags.size());
  const Attribution& at = an.attribution;
  const std::pair<std::string_view, const std::string*> dims[] = {
      {sc::kGenOpsTeam, &at.team},
      {sc::kGenOpsProject, &at.project},
      {sc::kGenOpsEnvironment, &at.environment},
      {sc::kGenOpsCustomerId, &at.customer_id},
      {sc::kGenOpsCostCenter, &at.cost_center},
      {sc::kGenOpsFeature, &at.feature}};
  for (const auto& [key, value] : dims) {
    if (!value->empty()) Put(attrs, key, *value);
  }
  for (const auto& [k, v] : at.tags) {
    attrs.push_back({AttributeKey(Cat(sc::kGenOpsTagPrefix, k)), AttributeValue(v)});
  }
  Put(attrs, sc::kGenOpsSource, std::string("otlp_receiver"));
  Put(attrs, sc::kGenOpsOperationId, an.operation_id);
  if (!call.operation.empty()) Put(attrs, sc::kGenOpsOperationType, call.operation);
  Put(attrs, sc::kGenOpsOperationName, span.name);
  if (an.priced) {
    Put(attrs, sc::kGenOpsCostTotal, an.cost.usd());
    Put(attrs, sc::kGenOpsCostTotalNanos, an.cost.nanos());
  }
  Put(attrs, sc::kGenOpsCostCurrency, std::string("USD"));
  if (!an.cost_provider.empty()) Put(attrs, sc::kGenOpsCostProvider, an.cost_provider);
  if (!an.cost_model.empty()) Put(attrs, sc::kGenOpsCostModel, an.cost_model);
  Put(attrs, sc::kGenOpsCostPriced, an.priced);
  if (call.has_usage) {
    Put(attrs, sc::kGenOpsTokensInput, call.usage.input_tokens);
    Put(attrs, sc::kGenOpsTokensOutput, call.usage.output_tokens);
    Put(attrs, sc::kGenOpsTokensTotal, call.usage.total_tokens());
  }
  Put(attrs, sc::kGenOpsPolicyLevel, std::string(PolicyLevelName(an.policy_level)));
  Put(attrs, sc::kGenOpsPolicyResult, std::string(DecisionResultName(an.result)));
  if (an.reason != DecisionReason::kNone) {
    Put(attrs, sc::kGenOpsPolicyReason, std::string(DecisionReasonName(an.reason)));
  }
  if (an.budget.present) {
    const BudgetSummary& b = an.budget;
    Put(attrs, sc::kGenOpsBudgetName, b.name);
    Put(attrs, sc::kGenOpsBudgetLimit, b.limit.usd());
    Put(attrs, sc::kGenOpsBudgetConsumed, (b.spent + b.reserved).usd());
    Put(attrs, sc::kGenOpsBudgetRemaining, (b.limit - b.spent - b.reserved).usd());
    const double utilization = b.limit.nanos() > 0
                                   ? static_cast<double>((b.spent + b.reserved).nanos()) /
                                         static_cast<double>(b.limit.nanos())
                                   : 0.0;
    Put(attrs, sc::kGenOpsBudgetUtilizationPercent, utilization * 100.0);
  }
  Put(attrs, sc::kGenOpsAccountingReserved, 0.0);
  Put(attrs, sc::kGenOpsAccountingActual, an.priced ? an.cost.usd() : 0.0);

  if (an.charged) {
    telemetry::SpanEvent& e = span.events.emplace_back();
    e.name = AttributeKey::Static(sc::kEventBudgetReconciliation);
    e.time_unix_nanos = span.end_unix_nanos;
    Put(e.attributes, sc::kGenOpsAccountingReserved, 0.0);
    Put(e.attributes, sc::kGenOpsAccountingActual, an.cost.usd());
    Put(e.attributes, "genops.accounting.ledger_ok", an.ledger_ok);
  }
  for (const Alert& alert : an.alerts) {
    telemetry::SpanEvent& e = span.events.emplace_back();
    e.name = AttributeKey::Static(sc::kEventAlert);
    e.time_unix_nanos = alert.time_unix_nanos != 0 ? alert.time_unix_nanos : span.end_unix_nanos;
    Put(e.attributes, "genops.alert.kind", std::string(AlertKindName(alert.kind)));
    Put(e.attributes, "genops.alert.severity", alert.severity);
    Put(e.attributes, "genops.alert.message", alert.message);
    if (!alert.budget_name.empty()) Put(e.attributes, sc::kGenOpsBudgetName, alert.budget_name);
    if (alert.amount.nanos() != 0) Put(e.attributes, "genops.alert.amount", alert.amount.usd());
  }
}

}  // namespace genops::receiver
