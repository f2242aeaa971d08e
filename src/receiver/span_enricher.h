// Span enrichment for the OTLP receiver: recognise an LLM span of any generation of the
// conventions, normalise its token usage, resolve its attribution, and write the governance
// attributes and events of DESIGN.md §4 onto it.
//
// Why these rules live in one place: the receiver prices spans written by instrumentations
// it does not control, of every vintage. A key read in the wrong order, or a cache token
// counted twice, charges the wrong amount silently; each rule below is tested with fixtures of
// every generation priced to the same amount.
//
// Recognition (first present wins, current key first; DESIGN.md §4):
//   provider   gen_ai.provider.name > gen_ai.system > llm.vendor
//   model      gen_ai.response.model > gen_ai.request.model > llm.response.model >
//              llm.request.model (the response model is the exact, dated id that was billed)
//   operation  gen_ai.operation.name > llm.request.type > the span name ("openai.chat" ->
//              "chat", "chat gpt-4o" -> "chat")
//   input      gen_ai.usage.input_tokens > gen_ai.usage.prompt_tokens > llm.usage.prompt_tokens
//   output     gen_ai.usage.output_tokens > gen_ai.usage.completion_tokens >
//              llm.usage.completion_tokens
//   cache read gen_ai.usage.cache_read.input_tokens > gen_ai.usage.cache_read_input_tokens
//   cache write gen_ai.usage.cache_creation.input_tokens >
//              gen_ai.usage.cache_creation_input_tokens
//   reasoning  gen_ai.usage.reasoning.output_tokens > gen_ai.usage.reasoning_tokens
//   total      gen_ai.usage.total_tokens > llm.usage.total_tokens: fills in output (total -
//              input) or input (total - output) when only one of them is reported; a total
//              alone cannot be priced.
// A span is an LLM span when it reports any token count, or a model together with a provider
// or an operation. `llm.*` keys are the first OpenLLMetry generation (2023).
//
// Token counts: integers (int, a whole double, or a decimal string). Negative, fractional,
// non-numeric or huge (> Usage::kMaxTokens) counts make the span invalid: the receiver rejects
// it (OTLP partial success) and charges nothing.
//
// Cache tokens (DESIGN.md §2: normalised input_tokens includes the cached ones). Whether a
// span's input count already includes its cache reads/writes depends on who wrote it:
//   1. input < cache_read + cache_write: it cannot include them (a subset is never larger
//      than its whole), so they are added. Whatever wrote the span, this is exact.
//   2. OpenLLMetry's Python Anthropic instrumentation (scope "opentelemetry.instrumentation.
//      anthropic"): from v0.33.4 on (traceloop/openllmetry PR #2175, 2024-10-28, "add
//      instrumentation for Anthropic prompt caching") it reports
//      prompt/input tokens = Anthropic's input_tokens + cache_read_input_tokens +
//      cache_creation_input_tokens, i.e. inclusive: used as is. Earlier versions reported
//      Anthropic's input_tokens alone and no cache attributes at all; a span from such a
//      version that does carry cache attributes is treated as exclusive (they are added).
//   3. OpenLLMetry's Python Bedrock instrumentation (scope "opentelemetry.instrumentation.
//      bedrock") reports Converse's inputTokens as is, which excludes cacheRead/WriteInputTokens
//      (traceloop/openllmetry issue #4449): exclusive, added.
//   4. Anything else: the OpenTelemetry GenAI conventions define gen_ai.usage.input_tokens as
//      all input tokens, cached ones included, and OpenAI's prompt_tokens includes
//      cached_tokens: used as is. (OpenLLMetry JS's Anthropic instrumentation reports
//      Anthropic's input_tokens and no cache attributes, so the question does not arise.)
// Reasoning tokens are a subset of output unless output < reasoning, in which case they are
// added (Gemini's candidatesTokenCount excludes thoughtsTokenCount).
//
// Provider names are mapped to the catalog's: openai; anthropic; aws.bedrock / aws_bedrock /
// bedrock / aws -> aws_bedrock; gcp.gemini / gcp.vertex_ai / gcp.gen_ai / google / gemini /
// vertexai / vertex_ai / google_genai -> google; mistral_ai / mistralai / mistral -> mistral;
// cohere; groq; deepseek; x_ai / xai -> xai (case-insensitive). Any other reported provider
// (azure.ai.openai, ollama, ...) is not priced: its prices are not the catalog's, and an
// unpriced span is better than a guessed one. A span reporting no provider is looked up by
// model alone (the catalog's any-provider rule).
//
// Attribution, lowest to highest precedence (each non-empty value replaces the one below):
//   config defaults < resource traceloop.association.properties.<dim> <
//   resource deployment.environment(.name) (environment only) < resource genops.<dim> <
//   span traceloop.association.properties.<dim> < span genops.<dim>
// for the dimensions team, project, environment, customer_id, cost_center, feature; tags from
// genops.tag.<key> (resource, then span) over the defaults' tags. Values that are not strings
// are used as text; values longer than kMaxAttributionValueBytes are ignored.
//
// Thread safety: free functions over values; safe to call concurrently.
#ifndef GENOPS_RECEIVER_SPAN_ENRICHER_H_
#define GENOPS_RECEIVER_SPAN_ENRICHER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/usage.h"
#include "src/core/alerts.h"
#include "src/ledger/ledger.h"
#include "src/receiver/spare_elements.h"
#include "src/telemetry/span_data.h"

namespace genops::receiver {

inline constexpr size_t kMaxAttributionValueBytes = 1024;

// How a span's reported input count was read (see the file comment).
enum class CacheAccounting {
  kNoCacheTokens,       // no cache reads or writes reported
  kInputIncludesCache,  // input used as reported
  kInputExcludesCache,  // cache reads + writes added to the reported input
};

// What a span says about an LLM call.
struct LlmCall {
  bool is_llm = false;
  // The span carries genops.operation.id or genops.cost.total: a GenOps SDK or gateway
  // already governed and charged it; the receiver passes it through untouched.
  bool already_governed = false;
  std::string provider_reported;  // as the span spells it; empty when absent
  std::string provider;           // the catalog's name; empty when absent or unknown
  bool provider_unknown = false;  // reported, but not a provider the catalog prices
  std::string request_model;
  std::string response_model;
  std::string operation;  // "chat", "text_completion", "embeddings", ...; may be empty
  Usage usage;            // normalised (DESIGN.md §2)
  bool has_usage = false;
  CacheAccounting cache = CacheAccounting::kNoCacheTokens;

  // The model to price: the response model when reported, else the request model.
  const std::string& model() const {
    return response_model.empty() ? request_model : response_model;
  }
};

// Reads `span` (and, for the cache rule, the instrumentation scope in `resource`). An
// InvalidArgument error names the offending attribute and value (negative, fractional,
// non-numeric or huge token counts; a total smaller than its part).
absl::StatusOr<LlmCall> ReadLlmCall(const telemetry::SpanData& span,
                                    const telemetry::ResourceInfo& resource);
// The same into *call, every field written (its strings in their buffers: the receiver reads
// span after span into one LlmCall). On error, *call is unspecified.
absl::Status ReadLlmCall(const telemetry::SpanData& span, const telemetry::ResourceInfo& resource,
                         LlmCall* call);

// The catalog's provider name for a reported one ("" when unknown; see the file comment).
std::string CanonicalProvider(std::string_view reported);

// Whether OpenLLMetry-style scope version `version` ("0.33.4") is at least `major.minor.patch`.
// False when `version` does not start with a number.
bool VersionAtLeast(std::string_view version, int major, int minor, int patch);

// Attribution from the resource over `defaults` (computed once per resource).
Attribution ResourceAttribution(const telemetry::ResourceInfo& resource,
                                const Attribution& defaults);
// Attribution from the span's own attributes over `base` (the resource's).
Attribution SpanAttribution(const telemetry::SpanData& span, const Attribution& base);

// The tightest budget after a charge, for the span's genops.budget.* attributes.
struct BudgetSummary {
  bool present = false;
  std::string name;
  Money limit;
  Money spent;
  Money reserved;
};
BudgetSummary TightestBudget(const ledger::BudgetStatusList& budgets);

// What the receiver learned about one LLM span, to be written onto it.
struct LlmAnnotation {
  std::string operation_id;
  Attribution attribution;
  const LlmCall* call = nullptr;  // required
  bool priced = false;
  Money cost;                 // when priced
  std::string cost_provider;  // catalog provider of the price (or the reported one)
  std::string cost_model;     // catalog id of the price (or the reported model)
  PolicyLevel policy_level = PolicyLevel::kAdvisory;
  DecisionResult result = DecisionResult::kAllowed;
  DecisionReason reason = DecisionReason::kNone;
  BudgetSummary budget;
  bool charged = false;   // a ledger charge was attempted (priced spans)
  bool ledger_ok = true;  // the ledger took it (false: queued for retry by the governor)
  std::vector<Alert> alerts;
};

// Writes the genops.* attributes (attribution, operation, cost, tokens, policy, budget,
// accounting) and events (genops.budget.reconciliation when charged, one genops.alert per
// alert) onto `span`. genops.* keys the span already had and that are written here are
// replaced, never duplicated; other attributes are left as they were. With `spares`, the
// attributes and events are appended over spare elements (the decoder's; see
// spare_elements.h) rather than new ones: the span is the same, fewer allocations.
void AnnotateLlmSpan(const LlmAnnotation& annotation, telemetry::SpanData& span,
                     SpareElements* spares = nullptr);

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_SPAN_ENRICHER_H_
