#include "src/sdk/span_pipeline.h"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "src/core/text.h"
#include "src/export/console_exporter.h"
#include "src/export/file_exporter.h"
#include "src/export/http_transport.h"
#include "src/export/otlp_http_exporter.h"
#include "src/telemetry/batch_span_processor.h"
#include "src/telemetry/resource.h"
#include "src/telemetry/sampler.h"
#include "src/telemetry/semconv.h"
#include "src/telemetry/simple_span_processor.h"
#include "src/telemetry/span_limits.h"
#include "src/telemetry/span_processor.h"

namespace genops::sdk {
namespace {

namespace sc = telemetry::semconv;
using telemetry::Attribute;
using telemetry::AttributeKey;
using telemetry::SpanEvent;

// The GenAI semantic-convention operation name for the seed's operation types.
std::string_view GenAiOperationName(std::string_view operation_type) {
  if (operation_type == "chat_completion" || operation_type == "chat") return sc::kOperationChat;
  if (operation_type == "completion" || operation_type == "text_completion") {
    return sc::kOperationTextCompletion;
  }
  if (operation_type == "embedding" || operation_type == "embeddings") {
    return sc::kOperationEmbeddings;
  }
  return operation_type;
}

void SetValue(telemetry::AttributeValue& out, std::string_view value) {
  if (auto* string = std::get_if<std::string>(&out)) {
    // Reuses the buffer. A recycled attribute's value usually has the length of the new one
    // (the same attribute of an earlier operation): then nothing but the bytes changes.
    if (string->size() != value.size()) string->resize(value.size());
    if (!value.empty()) std::memcpy(string->data(), value.data(), value.size());
  } else {
    out.emplace<std::string>(value);
  }
}
void SetValue(telemetry::AttributeValue& out, const std::vector<std::string>& value) {
  if (auto* list = std::get_if<std::vector<std::string>>(&out)) {
    *list = value;
  } else {
    out.emplace<std::vector<std::string>>(value);
  }
}
template <typename T>
[[gnu::always_inline]] inline void SetScalar(telemetry::AttributeValue& out, T value) {
  if (auto* scalar = std::get_if<T>(&out)) {
    *scalar = value;
  } else {
    out.emplace<T>(value);
  }
}

// AttributeWriter: writes the attributes of a span (or of an event) over the elements an
// earlier span left in the vector (DeferredSpanSource::Materialize says why they are there).
//
// Why: assigning a value into an element that held a string of the same attribute reuses the
// string's buffer, where clear() + push_back() freed every buffer and allocated it again, for
// every span; and it builds no temporary Attribute. Finish() erases the elements beyond the
// ones written, so the vector holds exactly what was written, in order; the destructor does
// when nobody did (an exception left the build half done: no stale element may be exported).
//
// Thread safety: not thread-safe (a local of one span build).
class AttributeWriter {
 public:
  explicit AttributeWriter(std::vector<Attribute>& attributes) : attributes_(attributes) {}
  AttributeWriter(const AttributeWriter&) = delete;
  AttributeWriter& operator=(const AttributeWriter&) = delete;
  ~AttributeWriter() { Finish(); }

  // `key` must have static storage duration (a semconv constant or a literal): it is referred
  // to, not copied. Keys built at run time go through PutOwned. Always inlined: a span takes
  // fifty of them, and as calls their frames cost more than their work.
  [[gnu::always_inline]] void Put(std::string_view key, std::string_view value) {
    SetValue(NextStatic(key), value);
  }
  [[gnu::always_inline]] void Put(std::string_view key, const std::string& value) {
    SetValue(NextStatic(key), std::string_view(value));
  }
  // Without it, a string literal would convert to bool.
  [[gnu::always_inline]] void Put(std::string_view key, const char* value) {
    SetValue(NextStatic(key), std::string_view(value));
  }
  void Put(std::string_view key, const std::vector<std::string>& value) {
    SetValue(NextStatic(key), value);
  }
  [[gnu::always_inline]] void Put(std::string_view key, bool value) {
    SetScalar(NextStatic(key), value);
  }
  [[gnu::always_inline]] void Put(std::string_view key, int64_t value) {
    SetScalar(NextStatic(key), value);
  }
  [[gnu::always_inline]] void Put(std::string_view key, double value) {
    SetScalar(NextStatic(key), value);
  }
  void PutOwned(std::string_view key, std::string_view value) {
    if (written_ < attributes_.size()) {
      Attribute& attribute = attributes_[written_++];
      attribute.key = AttributeKey(key);
      SetValue(attribute.value, value);
    } else {
      ++written_;
      attributes_.push_back({AttributeKey(key), std::string(value)});
    }
  }
  void Move(Attribute&& attribute) {
    if (written_ < attributes_.size()) {
      attributes_[written_] = std::move(attribute);
    } else {
      attributes_.push_back(std::move(attribute));
    }
    ++written_;
  }
  // Once; later additions to the vector (not through this writer) stay.
  void Finish() {
    if (std::exchange(finished_, true)) return;
    attributes_.erase(attributes_.begin() + static_cast<std::ptrdiff_t>(written_),
                      attributes_.end());
  }

 private:
  [[gnu::always_inline]] telemetry::AttributeValue& NextStatic(std::string_view key) {
    if (written_ < attributes_.size()) [[likely]] {
      Attribute& attribute = attributes_[written_++];
      attribute.key.AssignStatic(key);
      return attribute.value;
    }
    return Append(key);
  }
  // Out of line: the common path above then needs no stack frame.
  [[gnu::noinline]] telemetry::AttributeValue& Append(std::string_view key) {
    ++written_;
    return attributes_.emplace_back(AttributeKey::Static(key), telemetry::AttributeValue()).value;
  }

  std::vector<Attribute>& attributes_;
  size_t written_ = 0;
  bool finished_ = false;
};

// EventWriter: AttributeWriter for a span's events. An event taken by Next() keeps the
// attributes an earlier span left in it, for an AttributeWriter to write over.
// Thread safety: not thread-safe (a local of one span build).
class EventWriter {
 public:
  explicit EventWriter(std::vector<SpanEvent>& events) : events_(events) {}
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;
  ~EventWriter() { Finish(); }

  // `name` must have static storage duration. The reference is valid until the next call.
  SpanEvent& Next(std::string_view name, int64_t time_unix_nanos) {
    SpanEvent& event = written_ < events_.size() ? events_[written_] : events_.emplace_back();
    ++written_;
    event.name.AssignStatic(name);
    event.time_unix_nanos = time_unix_nanos;
    return event;
  }
  void Move(SpanEvent&& event) {
    if (written_ < events_.size()) {
      events_[written_] = std::move(event);
    } else {
      events_.push_back(std::move(event));
    }
    ++written_;
  }
  void Finish() {
    if (std::exchange(finished_, true)) return;
    events_.erase(events_.begin() + static_cast<std::ptrdiff_t>(written_), events_.end());
  }

 private:
  std::vector<SpanEvent>& events_;
  size_t written_ = 0;
  bool finished_ = false;
};

// The budget with the least room, for the genops.budget.* attributes.
const ledger::BudgetStatus* Tightest(const ledger::BudgetStatusList& budgets) {
  const ledger::BudgetStatus* best = nullptr;
  for (const auto& b : budgets) {
    if (best == nullptr || b.remaining() < best->remaining()) best = &b;
  }
  return best;
}

void Summarize(const ledger::BudgetStatus* status, BudgetSummary& out) {
  out.present = status != nullptr && status->spec != nullptr;
  if (!out.present) return;
  out.name = status->spec->name;
  out.limit = status->spec->limit;
  out.spent = status->spent;
  out.reserved = status->reserved;
}

// As ledger::BudgetStatus::utilization().
double Utilization(const BudgetSummary& b) {
  if (b.limit.nanos() <= 0) return 0;
  return static_cast<double>((b.spent + b.reserved).nanos()) / static_cast<double>(b.limit.nanos());
}

void AlertEvents(const std::vector<Alert>& alerts, EventWriter& events) {
  for (const Alert& a : alerts) {
    SpanEvent& e = events.Next(sc::kEventAlert, a.time_unix_nanos);
    e.attributes.reserve(5);
    AttributeWriter attributes(e.attributes);
    attributes.Put("genops.alert.kind", AlertKindName(a.kind));
    attributes.Put("genops.alert.severity", a.severity);
    attributes.Put("genops.alert.message", a.message);
    if (!a.budget_name.empty()) attributes.Put("genops.budget.name", a.budget_name);
    if (a.amount.nanos() != 0) attributes.Put("genops.alert.amount", a.amount.usd());
    attributes.Finish();
  }
}

// Builds the deferred spans of SubmitOperation() on the processor's thread.
// Thread safety: thread-safe (immutable after construction).
class OperationSpanSource final : public telemetry::DeferredSpanSource {
 public:
  OperationSpanSource(OperationSpanSettings settings, telemetry::SpanLimits limits)
      : settings_(std::move(settings)), limits_(limits) {}

  void Materialize(void* record, telemetry::SpanData& out) noexcept override {
    try {
      BuildOperationSpan(settings_, *static_cast<Operation::State*>(record), out);
    } catch (...) {
      // Out of memory while building: export what was built rather than nothing.
    }
    telemetry::ApplyLimits(limits_, out);
  }
  void Release(void* record) noexcept override { static_cast<Operation::State*>(record)->Unref(); }

  const telemetry::SpanLimits& limits() const { return limits_; }

 private:
  const OperationSpanSettings settings_;
  const telemetry::SpanLimits limits_;
};

// Hides the TRACELOOP_* variables when the configuration turns the platform off.
class WithoutTraceloop final : public Environment {
 public:
  explicit WithoutTraceloop(const Environment& base) : base_(base) {}
  std::optional<std::string> Get(std::string_view name) const override {
    if (name.substr(0, 10) == "TRACELOOP_") return std::nullopt;
    return base_.Get(name);
  }

 private:
  const Environment& base_;
};

// Exports one batch to several exporters (otlp + file, ...). Export() is called by one
// processor thread at a time, as the SpanExporter contract says.
class FanOutExporter final : public exporter::SpanExporter {
 public:
  explicit FanOutExporter(std::vector<std::unique_ptr<exporter::SpanExporter>> exporters)
      : exporters_(std::move(exporters)) {}
  exporter::ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override {
    exporter::ExportResult result = exporter::ExportResult::kSuccess;
    for (auto& e : exporters_) {
      if (e->Export(spans) != exporter::ExportResult::kSuccess) {
        result = exporter::ExportResult::kFailure;
      }
    }
    return result;
  }
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override {
    bool ok = true;
    for (auto& e : exporters_) ok = e->ForceFlush(timeout) && ok;
    return ok;
  }
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override {
    bool ok = true;
    for (auto& e : exporters_) ok = e->Shutdown(timeout) && ok;
    return ok;
  }
  std::string_view name() const noexcept override { return "fan_out"; }

 private:
  std::vector<std::unique_ptr<exporter::SpanExporter>> exporters_;
};

// Swallows spans: the pipeline when no exporter is configured.
class NullExporter final : public exporter::SpanExporter {
 public:
  exporter::ExportResult Export(std::span<const telemetry::SpanData>) noexcept override {
    return exporter::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
  std::string_view name() const noexcept override { return "none"; }
};

class SpanPipelineImpl final : public SpanPipeline {
 public:
  SpanPipelineImpl(std::unique_ptr<telemetry::GenOpsSampler> sampler, telemetry::SpanLimits limits,
                   OperationSpanSettings span_settings,
                   std::unique_ptr<telemetry::SpanProcessor> processor,
                   telemetry::ResourceInfo resource, bool exporting)
      : sampler_(std::move(sampler)),
        source_(std::move(span_settings), limits),
        processor_(std::move(processor)),
        resource_(std::move(resource)),
        exporting_(exporting) {}

  ~SpanPipelineImpl() override { Shutdown(std::chrono::milliseconds(5000)); }

  bool ShouldExport(const telemetry::TraceId& trace_id, std::optional<bool> inherited_sampled,
                    bool is_error, bool high_priority) noexcept override {
    if (!exporting_) return false;
    telemetry::SamplingInput input;
    input.trace_id = trace_id;
    if (inherited_sampled.has_value()) {
      input.parent = telemetry::ParentSamplingState{*inherited_sampled, true};
    }
    input.is_error = is_error;
    input.high_priority = high_priority;
    return sampler_->Sample(input).sampled;
  }

  void Submit(telemetry::SpanData&& span) noexcept override {
    telemetry::ApplyLimits(source_.limits(), span);
    processor_->OnEnd(std::move(span));
  }

  void SubmitOperation(Operation::State& state) noexcept override {
    PrepareOperationSpan(state);
    state.Ref();
    processor_->OnEndDeferred(telemetry::DeferredSpan{&source_, &state});
  }

  void CountUnsampled() noexcept override { unsampled_.fetch_add(1, std::memory_order_relaxed); }

  bool Flush(std::chrono::milliseconds timeout) noexcept override {
    return processor_->ForceFlush(timeout);
  }

  void Shutdown(std::chrono::milliseconds timeout) noexcept override {
    if (shut_down_.exchange(true)) return;
    processor_->Shutdown(timeout);
  }

  PipelineStats stats() const noexcept override {
    PipelineStats s;
    const telemetry::SpanProcessorStats p = processor_->stats();
    s.unsampled = unsampled_.load(std::memory_order_relaxed);
    s.exported = static_cast<int64_t>(p.exported);
    s.dropped =
        static_cast<int64_t>(p.dropped_queue_full + p.dropped_after_shutdown + p.failed_spans);
    return s;
  }

  const telemetry::ResourceInfo& resource() const noexcept override { return resource_; }
  telemetry::SpanProcessor& processor() noexcept override { return *processor_; }

 private:
  std::unique_ptr<telemetry::GenOpsSampler> sampler_;
  // Declared before processor_: the processor hands deferred records back to it until it is
  // destroyed.
  OperationSpanSource source_;
  std::unique_ptr<telemetry::SpanProcessor> processor_;
  telemetry::ResourceInfo resource_;
  const bool exporting_;
  std::atomic<int64_t> unsampled_{0};
  std::atomic<bool> shut_down_{false};
};

}  // namespace

void PrepareOperationSpan(Operation::State& state) {
  state.spans_dropped =
      state.is_root && state.tree != nullptr ? state.tree->dropped() : uint32_t{0};
  const ledger::BudgetStatusList& budgets =
      state.settlement.budgets.empty() ? state.admission.budgets : state.settlement.budgets;
  Summarize(Tightest(budgets), state.span_budget);
  Summarize(state.admission.reserved ? Tightest(state.admission.budgets) : nullptr,
            state.reservation_budget);
}

void BuildOperationSpan(const OperationSpanSettings& settings, Operation::State& s,
                        telemetry::SpanData& span) {
  const Decision& d = s.admission.decision;
  // What the operation record says (AdapterImpl::FillRecord), read from the state itself: the
  // record may already have gone to the operation log.
  const std::string& model = s.response_model.empty() ? s.request.model : s.response_model;
  const Money cost = s.settlement.cost;
  span.trace_id = s.trace_id;
  span.span_id = s.span_id;
  span.parent_span_id = s.parent_span_id;
  span.trace_state = s.trace_state;
  const std::string_view op_name = GenAiOperationName(s.operation_type);
  const bool llm_call = !s.request.model.empty() || !model.empty();
  // Assigned piecewise: `span` may hold an earlier span's name buffer.
  span.name.assign(op_name);
  span.name += ' ';
  span.name += llm_call ? (s.request.model.empty() ? model : s.request.model) : s.operation_name;
  span.kind = llm_call ? telemetry::SpanKind::kClient : telemetry::SpanKind::kInternal;
  span.start_unix_nanos = s.start_unix_nanos;
  span.end_unix_nanos = s.start_unix_nanos + s.duration_nanos;
  if (s.error) {
    span.status_code = telemetry::StatusCode::kError;
    span.status_message = s.error_message;
  } else if (!d.may_proceed()) {
    span.status_code = telemetry::StatusCode::kError;
    span.status_message = d.message;
  }

  span.attributes.reserve(48 + s.request.attribution.tags.size() + s.custom_attributes.size());
  AttributeWriter a(span.attributes);
  // GenAI semantic conventions (current and the legacy OpenLLMetry keys).
  if (llm_call) {
    if (!s.request.provider.empty()) {
      a.Put(sc::kGenAiProviderName, s.request.provider);
      a.Put(sc::kGenAiSystem, s.request.provider);
    }
    a.Put(sc::kGenAiOperationName, op_name);
    a.Put(sc::kLlmRequestType, op_name);
    if (!s.request.model.empty()) a.Put(sc::kGenAiRequestModel, s.request.model);
    if (!s.response_model.empty()) a.Put(sc::kGenAiResponseModel, s.response_model);
    if (s.request.max_output_tokens) {
      a.Put("gen_ai.request.max_tokens", *s.request.max_output_tokens);
    }
    if (!s.response_id.empty()) a.Put("gen_ai.response.id", s.response_id);
  }
  if (s.has_usage) {
    a.Put(sc::kGenAiUsageInputTokens, s.usage.input_tokens);
    a.Put(sc::kGenAiUsageOutputTokens, s.usage.output_tokens);
    if (s.usage.cache_read_tokens) {
      a.Put(sc::kGenAiUsageCacheReadInputTokens, s.usage.cache_read_tokens);
    }
    if (s.usage.cache_write_tokens) {
      a.Put(sc::kGenAiUsageCacheCreationInputTokens, s.usage.cache_write_tokens);
    }
    if (s.usage.reasoning_tokens) {
      a.Put(sc::kGenAiUsageReasoningOutputTokens, s.usage.reasoning_tokens);
    }
    a.Put(sc::kLlmUsageTotalTokens, s.usage.total_tokens());
  }
  if (!s.finish_reasons.empty()) a.Put(sc::kGenAiResponseFinishReasons, s.finish_reasons);

  // Governance.
  const Attribution& at = s.request.attribution;
  a.Put(sc::kGenOpsTeam, at.team);
  a.Put(sc::kGenOpsProject, at.project);
  a.Put(sc::kGenOpsEnvironment, at.environment);
  if (!at.customer_id.empty()) a.Put(sc::kGenOpsCustomerId, at.customer_id);
  if (!at.cost_center.empty()) a.Put(sc::kGenOpsCostCenter, at.cost_center);
  if (!at.feature.empty()) a.Put(sc::kGenOpsFeature, at.feature);
  for (const auto& [k, v] : at.tags) a.PutOwned(Cat(sc::kGenOpsTagPrefix, k), v);
  a.Put(sc::kGenOpsOperationId, s.request.operation_id);
  a.Put(sc::kGenOpsOperationType, s.operation_type);
  a.Put(sc::kGenOpsOperationName, s.operation_name);
  a.Put(sc::kGenOpsCostTotal, cost.usd());
  a.Put(sc::kGenOpsCostTotalNanos, cost.nanos());
  a.Put(sc::kGenOpsCostCurrency, "USD");
  if (!s.request.provider.empty()) a.Put(sc::kGenOpsCostProvider, s.request.provider);
  if (!model.empty()) a.Put(sc::kGenOpsCostModel, model);
  a.Put(sc::kGenOpsCostPriced, s.settlement.priced);
  a.Put(sc::kGenOpsTokensInput, s.usage.input_tokens);
  a.Put(sc::kGenOpsTokensOutput, s.usage.output_tokens);
  a.Put(sc::kGenOpsTokensTotal, s.usage.total_tokens());
  a.Put(sc::kGenOpsPolicyLevel, PolicyLevelName(settings.level));
  a.Put(sc::kGenOpsPolicyResult, DecisionResultName(d.result));
  if (d.reason != DecisionReason::kNone) {
    a.Put(sc::kGenOpsPolicyReason, DecisionReasonName(d.reason));
  }
  if (!d.approval_id.empty()) a.Put("genops.approval.id", d.approval_id);
  if (const BudgetSummary& b = s.span_budget; b.present) {
    a.Put(sc::kGenOpsBudgetName, b.name);
    a.Put(sc::kGenOpsBudgetLimit, b.limit.usd());
    a.Put(sc::kGenOpsBudgetConsumed, (b.spent + b.reserved).usd());
    a.Put(sc::kGenOpsBudgetRemaining, (b.limit - b.spent - b.reserved).usd());
    a.Put(sc::kGenOpsBudgetUtilizationPercent, Utilization(b) * 100.0);
  }
  const double reserved = s.admission.reserved ? d.estimate.usd() : 0.0;
  a.Put(sc::kGenOpsAccountingReserved, reserved);
  a.Put(sc::kGenOpsAccountingActual, cost.usd());
  if (!settings.compliance_frameworks.empty()) {
    a.Put(sc::kGenOpsComplianceFrameworks, settings.compliance_frameworks);
  }
  if (s.high_priority) a.Put(sc::kGenOpsSamplingPriority, sc::kSamplingPriorityHigh);
  // The operation has ended: its custom attributes move into the span (the State keeps the
  // vector's buffer for its next operation).
  for (Attribute& attr : s.custom_attributes) a.Move(std::move(attr));
  s.custom_attributes.clear();
  a.Finish();
  if (s.is_root) telemetry::OperationSpanBudget::AnnotateDropped(span, s.spans_dropped);

  // Events: admission, then the application's, then settlement.
  span.events.reserve(3 + s.admission.alerts.size() + s.events.size() +
                      s.settlement.alerts.size());
  EventWriter events(span.events);
  {
    SpanEvent& evaluated = events.Next(sc::kEventPolicyEvaluated, s.start_unix_nanos);
    evaluated.attributes.reserve(4);
    AttributeWriter e(evaluated.attributes);
    e.Put(sc::kGenOpsPolicyLevel, PolicyLevelName(settings.level));
    e.Put(sc::kGenOpsPolicyResult, DecisionResultName(d.result));
    e.Put(sc::kGenOpsPolicyReason, DecisionReasonName(d.reason));
    e.Put("genops.cost.estimate", d.estimate.usd());
    e.Finish();
  }
  if (s.admission.reserved) {
    SpanEvent& reservation = events.Next(sc::kEventBudgetReservation, s.start_unix_nanos);
    reservation.attributes.reserve(3);
    AttributeWriter e(reservation.attributes);
    e.Put(sc::kGenOpsAccountingReserved, d.estimate.usd());
    if (const BudgetSummary& b = s.reservation_budget; b.present) {
      e.Put(sc::kGenOpsBudgetName, b.name);
      e.Put(sc::kGenOpsBudgetRemaining, (b.limit - b.spent - b.reserved).usd());
    }
    e.Finish();
  }
  AlertEvents(s.admission.alerts, events);
  for (SpanEvent& event : s.events) events.Move(std::move(event));
  s.events.clear();
  if (d.may_proceed()) {
    SpanEvent& reconciliation = events.Next(sc::kEventBudgetReconciliation, span.end_unix_nanos);
    reconciliation.attributes.reserve(3);
    AttributeWriter e(reconciliation.attributes);
    e.Put(sc::kGenOpsAccountingReserved, reserved);
    e.Put(sc::kGenOpsAccountingActual, cost.usd());
    e.Put("genops.accounting.ledger_ok", s.settlement.ledger_status.ok());
    e.Finish();
  }
  AlertEvents(s.settlement.alerts, events);
  events.Finish();
}

absl::StatusOr<exporter::OtlpExporterOptions> OtlpOptionsFor(const ResolvedConfig& settings,
                                                             const Environment& env) {
  const ExportSettings& e = settings.export_settings;
  WithoutTraceloop no_traceloop(env);
  // An explicitly configured endpoint is not the Traceloop platform: its key (a credential)
  // must not be sent there.
  const bool platform_off =
      (e.traceloop_platform.has_value() && !*e.traceloop_platform) || !e.otlp_endpoint.empty();
  const Environment& source = platform_off ? static_cast<const Environment&>(no_traceloop) : env;
  exporter::OtlpExporterOptions base;
  base.timeout = e.export_timeout;
  base.compression = e.otlp_gzip ? exporter::OtlpExporterOptions::Compression::kGzip
                                 : exporter::OtlpExporterOptions::Compression::kNone;
  auto options = exporter::OtlpOptionsFromEnvironment(source, base);
  if (!options.ok()) return options.status();
  // Explicit configuration wins over the environment.
  if (!e.otlp_endpoint.empty()) options->endpoint = e.otlp_endpoint;
  for (const auto& [k, v] : e.otlp_headers) options->headers[k] = v;
  options->retry_attempts = e.retry_attempts;
  options->failover_endpoints = e.failover_endpoints;
  options->circuit_breaker_threshold = e.circuit_breaker_threshold;
  options->circuit_breaker_timeout = e.circuit_breaker_timeout;
  options->health_check_interval = e.health_check_interval;
  if (auto s = options->Validate(); !s.ok()) return s;
  return options;
}

absl::StatusOr<std::unique_ptr<SpanPipeline>> SpanPipeline::Create(
    const ResolvedConfig& settings, const Environment& env, const Clock* clock,
    std::vector<std::unique_ptr<exporter::SpanExporter>> extra) {
  const ExportSettings& e = settings.export_settings;

  telemetry::SamplerConfig sampler_config;
  sampler_config.sampling_rate = settings.sampling.sampling_rate;
  sampler_config.priority_sampling = settings.sampling.priority_sampling;
  sampler_config.error_sampling_rate = settings.sampling.error_sampling_rate;
  auto from_env = telemetry::SamplerConfigFromEnvironment(env, sampler_config);
  if (!from_env.ok()) return from_env.status();
  auto sampler = telemetry::GenOpsSampler::Create(*from_env);
  if (!sampler.ok()) return sampler.status();

  auto resource = telemetry::BuildResource(env, e.service_name);
  if (!resource.ok()) return resource.status();
  if (!e.service_name.empty()) {
    for (auto& attr : resource->attributes) {
      if (attr.key == "service.name") attr.value = e.service_name;
    }
  }

  std::vector<std::unique_ptr<exporter::SpanExporter>> exporters;
  for (const std::string& name : e.exporters) {
    if (name == "otlp" || name == "otlp_json") {
      auto options = OtlpOptionsFor(settings, env);
      if (!options.ok()) return options.status();
      if (name == "otlp_json") {
        options->protocol = exporter::OtlpExporterOptions::Protocol::kHttpJson;
      }
      auto otlp =
          exporter::OtlpHttpExporter::Create(*std::move(options), *resource, nullptr, clock);
      if (!otlp.ok()) return otlp.status();
      exporters.push_back(*std::move(otlp));
    } else if (name == "console") {
      exporters.push_back(std::make_unique<exporter::ConsoleExporter>(std::cout));
    } else if (name == "file") {
      auto file = exporter::FileExporter::Create(e.file_path, *resource);
      if (!file.ok()) {
        return absl::InvalidArgumentError(Cat("file_path: ", file.status().message()));
      }
      exporters.push_back(*std::move(file));
    }
  }
  for (auto& x : extra) exporters.push_back(std::move(x));
  const bool exporting = !exporters.empty();

  std::unique_ptr<exporter::SpanExporter> sink;
  if (exporters.empty()) {
    sink = std::make_unique<NullExporter>();
  } else if (exporters.size() == 1) {
    sink = std::move(exporters.front());
  } else {
    sink = std::make_unique<FanOutExporter>(std::move(exporters));
  }

  std::unique_ptr<telemetry::SpanProcessor> processor;
  if (e.async) {
    telemetry::BatchSpanProcessorOptions options;
    options.span_processor_queue_size = static_cast<size_t>(e.queue_size);
    options.export_batch_size = static_cast<size_t>(e.batch_size);
    options.batch_timeout = e.batch_timeout;
    options.export_timeout = e.export_timeout;
    auto batch = telemetry::BatchSpanProcessor::Create(std::move(sink), options);
    if (!batch.ok()) return batch.status();
    processor = *std::move(batch);
  } else {
    processor = std::make_unique<telemetry::SimpleSpanProcessor>(std::move(sink));
  }

  telemetry::SpanLimits limits;
  limits.max_attribute_length = static_cast<uint32_t>(settings.limits.max_attribute_length);
  limits.max_events_per_span = static_cast<uint32_t>(settings.limits.max_events_per_span);
  OperationSpanSettings span_settings;
  span_settings.level = settings.governance.level;
  span_settings.compliance_frameworks = settings.compliance.frameworks;
  return std::unique_ptr<SpanPipeline>(
      new SpanPipelineImpl(*std::move(sampler), limits, std::move(span_settings),
                           std::move(processor), *std::move(resource), exporting));
}

}  // namespace genops::sdk
