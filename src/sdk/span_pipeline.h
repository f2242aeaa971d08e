// SpanPipeline: sampler, span limits, processor and exporters, built from the resolved
// configuration (the seed's sampling, batching, limits and HA knobs).
//
// The adapter asks ShouldExport() *before* building a span, so an unsampled operation costs
// no span construction; money never depends on the answer (DESIGN.md §3).
//
// SubmitOperation() does not build the span at all on the caller's thread: it queues the
// operation's State, and the batch processor's worker builds the span (BuildOperationSpan) and
// applies the limits just before exporting it. Ending an operation then costs the application
// a queue slot instead of ~50 attributes (docs/performance.md). With enable_async_export=false
// the span is built at once, on the caller's thread.
//
// Thread safety: thread-safe.
#ifndef GENOPS_SDK_SPAN_PIPELINE_H_
#define GENOPS_SDK_SPAN_PIPELINE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "src/core/environment.h"
#include "src/export/otlp_options.h"
#include "src/export/span_exporter.h"
#include "src/sdk/operation_state.h"
#include "src/sdk/resolved_config.h"
#include "src/telemetry/span_data.h"
#include "src/telemetry/span_processor.h"

namespace genops::sdk {

struct PipelineStats {
  int64_t unsampled = 0;
  int64_t exported = 0;
  int64_t dropped = 0;  // queue full or failed exports
};

class SpanPipeline {
 public:
  virtual ~SpanPipeline() = default;

  // Builds exporters named in settings.export_settings.exporters. `extra` exporters (tests,
  // embedding) are added as given.
  static absl::StatusOr<std::unique_ptr<SpanPipeline>> Create(
      const ResolvedConfig& settings, const Environment& env, const Clock* clock,
      std::vector<std::unique_ptr<exporter::SpanExporter>> extra = {});

  // Whether a span of this trace should be exported. Errors and high-priority operations
  // follow error_sampling_rate / priority_sampling.
  // `inherited_sampled` is the sampled flag of a trace continued from outside the process
  // (W3C traceparent), nullopt for a trace that started here.
  virtual bool ShouldExport(const telemetry::TraceId& trace_id,
                            std::optional<bool> inherited_sampled, bool is_error,
                            bool high_priority) noexcept = 0;
  // Applies limits and hands the span to the processor. Never blocks on I/O.
  virtual void Submit(telemetry::SpanData&& span) noexcept = 0;
  // The span of an ended operation, built later by BuildOperationSpan (see above). Takes a
  // reference to `state` (Operation::State::Ref) and drops it once the span is built or
  // dropped; reads the state's dropped-children count now. Never blocks on I/O.
  virtual void SubmitOperation(Operation::State& state) noexcept = 0;
  virtual void CountUnsampled() noexcept = 0;
  virtual bool Flush(std::chrono::milliseconds timeout) noexcept = 0;
  virtual void Shutdown(std::chrono::milliseconds timeout) noexcept = 0;
  virtual PipelineStats stats() const noexcept = 0;
  virtual const telemetry::ResourceInfo& resource() const noexcept = 0;
  // The processor behind Submit(), for spans that need neither limits nor sampling (spans
  // received from other processes, forwarded as they came).
  virtual telemetry::SpanProcessor& processor() noexcept = 0;
};

// What BuildOperationSpan takes from the configuration.
struct OperationSpanSettings {
  PolicyLevel level = PolicyLevel::kAdvisory;
  std::vector<std::string> compliance_frameworks;
};

// The span of an ended operation (DESIGN.md §4): GenAI semantic conventions, the governance
// attributes (attribution, cost, tokens, policy, tightest budget, accounting), the custom
// attributes after them, and the events genops.policy.evaluated, genops.budget.reservation
// (when reserved), admission alerts, add_event() events, genops.budget.reconciliation (when
// it ran) and settlement alerts, in that order. Reads the state's fields, not `state.record`
// (which may have gone to the operation log), and needs PrepareOperationSpan() to have run on
// it. Moves the custom attributes and events out of `state`. Does not apply span limits.
// `span` is default-constructed, or recycled as DeferredSpanSource::Materialize describes:
// the attributes and events an earlier span left in it are written over or erased.
void BuildOperationSpan(const OperationSpanSettings& settings, Operation::State& state,
                        telemetry::SpanData& span);

// Takes what the span needs from outside the state (the tree's dropped children, copies of
// the tightest budgets) when the operation ends; SubmitOperation() calls it.
void PrepareOperationSpan(Operation::State& state);

// The OTLP exporter options of a resolved configuration: explicit settings over the
// OTEL_EXPORTER_OTLP_* / TRACELOOP_* environment over defaults. TRACELOOP_* is ignored when
// the configuration turns the Traceloop platform off.
absl::StatusOr<exporter::OtlpExporterOptions> OtlpOptionsFor(const ResolvedConfig& settings,
                                                             const Environment& env);

}  // namespace genops::sdk

#endif  // GENOPS_SDK_SPAN_PIPELINE_H_
