// Semantic-convention keys: every span attribute key and event name GenOps writes or reads.
//
// Why one header: the OTLP receiver reads the same keys the SDK and gateway write, and a typo in
// one place (gen_ai.usage.input_token) silently drops money from a trace. Everything names these
// constants instead of spelling the strings. The contract is DESIGN.md §4; the gen_ai.* keys
// follow the OpenTelemetry GenAI semantic conventions, and the legacy keys are the ones older
// OpenLLMetry / Traceloop SDKs still emit (the receiver reads them; see the precedence table in
// DESIGN.md §4: the current key wins when both are present).
//
// Example:
//   span.attributes.push_back({AttributeKey::Static(semconv::kGenAiRequestModel), model});
// (AttributeKey::Static refers to the constant instead of copying it: see span_data.h.)
//
// Thread safety: compile-time constants.
#ifndef GENOPS_TELEMETRY_SEMCONV_H_
#define GENOPS_TELEMETRY_SEMCONV_H_

#include <string_view>

namespace genops::telemetry::semconv {

// --- OpenTelemetry GenAI conventions (current) ---------------------------------------------
inline constexpr std::string_view kGenAiProviderName = "gen_ai.provider.name";
inline constexpr std::string_view kGenAiOperationName = "gen_ai.operation.name";
inline constexpr std::string_view kGenAiRequestModel = "gen_ai.request.model";
inline constexpr std::string_view kGenAiResponseModel = "gen_ai.response.model";
inline constexpr std::string_view kGenAiUsageInputTokens = "gen_ai.usage.input_tokens";
inline constexpr std::string_view kGenAiUsageOutputTokens = "gen_ai.usage.output_tokens";
inline constexpr std::string_view kGenAiUsageCacheReadInputTokens =
    "gen_ai.usage.cache_read.input_tokens";
inline constexpr std::string_view kGenAiUsageCacheCreationInputTokens =
    "gen_ai.usage.cache_creation.input_tokens";
inline constexpr std::string_view kGenAiUsageReasoningOutputTokens =
    "gen_ai.usage.reasoning.output_tokens";
inline constexpr std::string_view kGenAiResponseFinishReasons = "gen_ai.response.finish_reasons";

// --- Older generations, read by the OTLP receiver (first present wins, current key first) ---
inline constexpr std::string_view kGenAiSystem = "gen_ai.system";  // > gen_ai.provider.name
inline constexpr std::string_view kGenAiUsagePromptTokens = "gen_ai.usage.prompt_tokens";
inline constexpr std::string_view kGenAiUsageCompletionTokens = "gen_ai.usage.completion_tokens";
inline constexpr std::string_view kGenAiUsageCacheReadInputTokensLegacy =
    "gen_ai.usage.cache_read_input_tokens";
inline constexpr std::string_view kGenAiUsageCacheCreationInputTokensLegacy =
    "gen_ai.usage.cache_creation_input_tokens";

// --- OpenLLMetry / Traceloop legacy keys (optionally written, always read) ------------------
inline constexpr std::string_view kLlmRequestType = "llm.request.type";
inline constexpr std::string_view kLlmUsageTotalTokens = "llm.usage.total_tokens";
// The total as OpenLLMetry JS (0.2x) writes it; read before llm.usage.total_tokens.
inline constexpr std::string_view kGenAiUsageTotalTokens = "gen_ai.usage.total_tokens";
// Attribution set by Traceloop's association properties: prefix + dimension ("team", ...).
inline constexpr std::string_view kTraceloopAssociationPropertiesPrefix =
    "traceloop.association.properties.";

// --- Well-known gen_ai.operation.name values --------------------------------------------------
inline constexpr std::string_view kOperationChat = "chat";
inline constexpr std::string_view kOperationTextCompletion = "text_completion";
inline constexpr std::string_view kOperationEmbeddings = "embeddings";

// --- GenOps attribution -------------------------------------------------------------------------
inline constexpr std::string_view kGenOpsTeam = "genops.team";
inline constexpr std::string_view kGenOpsProject = "genops.project";
inline constexpr std::string_view kGenOpsEnvironment = "genops.environment";
inline constexpr std::string_view kGenOpsCustomerId = "genops.customer_id";
inline constexpr std::string_view kGenOpsCostCenter = "genops.cost_center";
inline constexpr std::string_view kGenOpsFeature = "genops.feature";
// Free-form tags: prefix + tag key ("genops.tag.release").
inline constexpr std::string_view kGenOpsTagPrefix = "genops.tag.";

// --- GenOps operation ---------------------------------------------------------------------------
inline constexpr std::string_view kGenOpsOperationId = "genops.operation.id";
inline constexpr std::string_view kGenOpsOperationType = "genops.operation.type";
inline constexpr std::string_view kGenOpsOperationName = "genops.operation.name";
// Which front end governed the span: "otlp_receiver" for spans priced by the receiver.
inline constexpr std::string_view kGenOpsSource = "genops.source";

// --- GenOps cost (USD as double, for display only; the ledger holds exact Money) ---------------
inline constexpr std::string_view kGenOpsCostTotal = "genops.cost.total";
// The exact cost in nano-USD (int), next to the display double.
inline constexpr std::string_view kGenOpsCostTotalNanos = "genops.cost.total_nanos";
inline constexpr std::string_view kGenOpsCostCurrency = "genops.cost.currency";
inline constexpr std::string_view kGenOpsCostProvider = "genops.cost.provider";
inline constexpr std::string_view kGenOpsCostModel = "genops.cost.model";
// false when the model was not in the pricing catalog (cost.total is then absent, not 0).
inline constexpr std::string_view kGenOpsCostPriced = "genops.cost.priced";

// --- GenOps tokens ------------------------------------------------------------------------------
inline constexpr std::string_view kGenOpsTokensInput = "genops.tokens.input";
inline constexpr std::string_view kGenOpsTokensOutput = "genops.tokens.output";
inline constexpr std::string_view kGenOpsTokensTotal = "genops.tokens.total";

// --- GenOps policy ------------------------------------------------------------------------------
inline constexpr std::string_view kGenOpsPolicyLevel = "genops.policy.level";
inline constexpr std::string_view kGenOpsPolicyResult = "genops.policy.result";
inline constexpr std::string_view kGenOpsPolicyReason = "genops.policy.reason";
inline constexpr std::string_view kGenOpsComplianceFrameworks = "genops.compliance.frameworks";

// Values of genops.policy.result.
inline constexpr std::string_view kPolicyResultAllowed = "allowed";
inline constexpr std::string_view kPolicyResultWarned = "warned";
inline constexpr std::string_view kPolicyResultBlocked = "blocked";
inline constexpr std::string_view kPolicyResultApprovalRequired = "approval_required";

// --- GenOps budget ------------------------------------------------------------------------------
inline constexpr std::string_view kGenOpsBudgetName = "genops.budget.name";
inline constexpr std::string_view kGenOpsBudgetLimit = "genops.budget.limit";
inline constexpr std::string_view kGenOpsBudgetConsumed = "genops.budget.consumed";
inline constexpr std::string_view kGenOpsBudgetRemaining = "genops.budget.remaining";
inline constexpr std::string_view kGenOpsBudgetUtilizationPercent =
    "genops.budget.utilization_percent";

// --- GenOps accounting (reserve before the call, actual after) ---------------------------------
inline constexpr std::string_view kGenOpsAccountingReserved = "genops.accounting.reserved";
inline constexpr std::string_view kGenOpsAccountingActual = "genops.accounting.actual";

// --- GenOps telemetry bookkeeping ---------------------------------------------------------------
// The operation's sampling priority: "high" (tag priority=high, header x-genops-priority: high,
// or the SDK's priority flag; always exported when priority_sampling is on) or "normal".
inline constexpr std::string_view kGenOpsSamplingPriority = "genops.sampling.priority";
inline constexpr std::string_view kSamplingPriorityHigh = "high";
inline constexpr std::string_view kSamplingPriorityNormal = "normal";
// On an operation's root span: child spans not recorded because of max_spans_per_operation.
inline constexpr std::string_view kGenOpsSpansDropped = "genops.spans.dropped";

// --- GenOps span event names --------------------------------------------------------------------
inline constexpr std::string_view kEventPolicyEvaluated = "genops.policy.evaluated";
inline constexpr std::string_view kEventBudgetReservation = "genops.budget.reservation";
inline constexpr std::string_view kEventBudgetReconciliation = "genops.budget.reconciliation";
inline constexpr std::string_view kEventAlert = "genops.alert";

// --- OpenTelemetry resource keys ------------------------------------------------------------
inline constexpr std::string_view kServiceName = "service.name";
inline constexpr std::string_view kTelemetrySdkName = "telemetry.sdk.name";
inline constexpr std::string_view kTelemetrySdkLanguage = "telemetry.sdk.language";
inline constexpr std::string_view kTelemetrySdkVersion = "telemetry.sdk.version";

}  // namespace genops::telemetry::semconv

#endif  // GENOPS_TELEMETRY_SEMCONV_H_
