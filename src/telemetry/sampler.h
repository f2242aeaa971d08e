// Samplers: which finished spans are EXPORTED.
//
// Sampling never touches money. An operation that is not sampled is still priced, reserved,
// settled in the ledger, counted in metrics and reports, and checked against every budget and
// policy; the decision below only says whether its span leaves the process (DESIGN.md §3).
// Nothing in src/core or src/ledger reads a SamplingDecision.
//
// Why the decision is taken when a span ENDS: GenOps keeps errors (error_sampling_rate), and
// whether an operation failed is only known at its end. Deciding late is safe for trace
// integrity because every ratio below is a deterministic function of the trace id: all spans
// of one trace see the same random bits and so reach the same ratio decision, in this process
// and in any other OpenTelemetry SDK using the same algorithm.
//
// TraceIdRatio follows the OpenTelemetry trace SDK specification (TraceIdRatioBased, consistent
// probability sampling, W3C Trace Context Level 2 randomness): the randomness R is the rightmost
// 56 bits of the trace id read big-endian, the rejection threshold is
// T = 2^56 - round(ratio * 2^56), and a trace is sampled iff R >= T. A trace kept at ratio r is
// therefore kept at every ratio >= r.
//
// Example:
//   absl::StatusOr<SamplerConfig> config =
//       SamplerConfigFromEnvironment(*Environment::Process(), config_from_yaml);
//   if (!config.ok()) return config.status();            // names the bad variable
//   absl::StatusOr<std::unique_ptr<GenOpsSampler>> sampler = GenOpsSampler::Create(*config);
//   ...at span end...
//   span.sampled = (*sampler)->Sample({.trace_id = span.trace_id, .parent = inherited,
//                                      .is_error = failed, .high_priority = priority}).sampled;
//
// Thread safety: every Sampler is immutable after construction and thread-safe.
#ifndef GENOPS_TELEMETRY_SAMPLER_H_
#define GENOPS_TELEMETRY_SAMPLER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/core/environment.h"
#include "src/telemetry/span_data.h"
#include "src/telemetry/trace_context.h"

namespace genops::telemetry {

// The sampling flag a trace inherited from outside this process.
struct ParentSamplingState {
  bool sampled = false;  // the traceparent's sampled flag
  bool remote = true;    // false: a local parent whose decision was already taken
};

// The inherited state of a parsed `traceparent` (or of a local parent whose decision is known).
inline ParentSamplingState ParentSamplingStateOf(const SpanContext& parent) {
  return {.sampled = parent.sampled, .remote = parent.remote};
}

// SamplingInput
//
// Everything a sampler may look at. Cheap to build; no strings.
struct SamplingInput {
  TraceId trace_id{};
  // The decision this trace inherited, if any. For a trace continued from an incoming
  // `traceparent`, pass the caller's flag for EVERY span of that trace (not only the local root):
  // because decisions are taken at span end, a child cannot wait for its local parent's
  // decision, and the inherited flag is what keeps the local subtree together. nullopt for a
  // trace that started in this process.
  std::optional<ParentSamplingState> parent = std::nullopt;
  bool is_error = false;       // the operation failed (status ERROR); known at span end
  bool high_priority = false;  // priority=high tag / x-genops-priority: high / SDK flag
};

// Why a decision came out the way it did (for debugging and the sampling metrics).
enum class SamplingReason {
  kAlwaysOn,   // the base sampler keeps everything
  kAlwaysOff,  // the base sampler drops everything
  kRatio,      // TraceIdRatio decided (kept or dropped)
  kParent,     // ParentBased followed the inherited flag (kept or dropped)
  kPriority,   // kept although the base dropped it: high priority and priority_sampling on
  kError,      // kept although the base dropped it: an error within error_sampling_rate
};
std::string_view SamplingReasonName(SamplingReason reason);

// SamplingDecision
//
// `sampled` is the export decision only (see the file comment: money is never affected).
struct SamplingDecision {
  bool sampled = false;
  SamplingReason reason = SamplingReason::kAlwaysOff;
};

// Sampler
//
// Thread safety: implementations are thread-safe; Sample() is noexcept and allocation-free.
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual SamplingDecision Sample(const SamplingInput& input) const noexcept = 0;
  // For logs: "TraceIdRatioBased{0.1}", "ParentBased{root=AlwaysOn}", ...
  virtual std::string Description() const = 0;
};

// Keeps everything.
class AlwaysOnSampler final : public Sampler {
 public:
  SamplingDecision Sample(const SamplingInput& input) const noexcept override;
  std::string Description() const override;
};

// Drops everything.
class AlwaysOffSampler final : public Sampler {
 public:
  SamplingDecision Sample(const SamplingInput& input) const noexcept override;
  std::string Description() const override;
};

// The rejection threshold for `ratio` (clamped to [0, 1]; NaN counts as 0), as described in the
// file comment: 0 keeps everything, 2^56 keeps nothing.
uint64_t TraceIdRatioThreshold(double ratio) noexcept;
// The rightmost 56 bits of `trace_id`, big-endian: the W3C Level 2 randomness.
uint64_t TraceIdRandomness(const TraceId& trace_id) noexcept;
// True when the trace-id ratio rule keeps `trace_id` at `ratio`.
bool TraceIdRatioKeeps(const TraceId& trace_id, double ratio) noexcept;

// Keeps a deterministic `ratio` of traces, by trace id. Ignores any parent.
class TraceIdRatioSampler final : public Sampler {
 public:
  explicit TraceIdRatioSampler(double ratio);  // clamped to [0, 1]
  SamplingDecision Sample(const SamplingInput& input) const noexcept override;
  std::string Description() const override;
  double ratio() const { return ratio_; }

 private:
  double ratio_;
  uint64_t threshold_;
};

// Follows the inherited decision when there is one; asks `root` otherwise. As in the
// OpenTelemetry default, a sampled parent (remote or local) means keep and an unsampled one
// means drop.
class ParentBasedSampler final : public Sampler {
 public:
  explicit ParentBasedSampler(std::unique_ptr<Sampler> root);
  SamplingDecision Sample(const SamplingInput& input) const noexcept override;
  std::string Description() const override;

 private:
  std::unique_ptr<Sampler> root_;
};

// The OTEL_TRACES_SAMPLER values, as the base of the GenOps sampler.
enum class SamplerKind {
  kAlwaysOn,                // always_on
  kAlwaysOff,               // always_off
  kTraceIdRatio,            // traceidratio
  kParentBasedAlwaysOn,     // parentbased_always_on (the OpenTelemetry default)
  kParentBasedAlwaysOff,    // parentbased_always_off
  kParentBasedTraceIdRatio  // parentbased_traceidratio (the GenOps default)
};
// The OTEL_TRACES_SAMPLER spelling of `kind`.
std::string_view SamplerKindName(SamplerKind kind);
// True for the kinds that read a ratio (sampling_rate / OTEL_TRACES_SAMPLER_ARG).
bool SamplerKindUsesRatio(SamplerKind kind);

// SamplerConfig
//
// The export-sampling knobs of the seed's adapter (sampling_rate, priority_sampling,
// error_sampling_rate) plus the OpenTelemetry base sampler kind.
struct SamplerConfig {
  SamplerKind kind = SamplerKind::kParentBasedTraceIdRatio;
  // Ratio of ordinary traces exported, in [0, 1]. Used by the *traceidratio kinds only.
  double sampling_rate = 1.0;
  // High-priority operations are always exported (unless kind is always_off).
  bool priority_sampling = true;
  // Errors the base dropped are still exported when the trace-id rule keeps them at this ratio,
  // in [0, 1]. Both ratios read the same trace-id bits, so an error's trace is exported with
  // probability max(sampling_rate, error_sampling_rate), and all error spans of one trace agree.
  double error_sampling_rate = 1.0;
};

// OK, or InvalidArgument naming the field (sampling_rate, error_sampling_rate) that is NaN or
// outside [0, 1].
absl::Status ValidateSamplerConfig(const SamplerConfig& config);

// `base` (from the config file) overridden by the standard variables:
//  - OTEL_TRACES_SAMPLER: one of always_on, always_off, traceidratio, parentbased_always_on,
//    parentbased_always_off, parentbased_traceidratio (case-insensitive, surrounding spaces
//    ignored). Replaces base.kind. Any other value (jaeger_remote, xray, a typo) is an error:
//    we would rather refuse to start than silently export everything or nothing.
//  - OTEL_TRACES_SAMPLER_ARG: the ratio, a decimal in [0, 1]; replaces base.sampling_rate when
//    the resulting kind uses a ratio, and is ignored (as the OpenTelemetry spec says) otherwise.
//    Unset: base.sampling_rate stays (1.0 unless the config says otherwise).
// Errors are InvalidArgument and name the variable, its value and the accepted values; an
// invalid `base` is reported as by ValidateSamplerConfig.
absl::StatusOr<SamplerConfig> SamplerConfigFromEnvironment(const Environment& env,
                                                           SamplerConfig base);

// GenOpsSampler
//
// The sampler the SDK, gateway and receiver use. Decision, in order:
//  1. kind always_off: drop (the standard switch that turns span export off entirely).
//  2. the base sampler (kind, sampling_rate) keeps it: keep.
//  3. priority_sampling and high_priority: keep (kPriority).
//  4. is_error and TraceIdRatioKeeps(trace_id, error_sampling_rate): keep (kError).
//  5. otherwise drop, with the base's reason.
//
// Thread safety: immutable, thread-safe.
class GenOpsSampler final : public Sampler {
 public:
  // InvalidArgument when `config` fails ValidateSamplerConfig.
  static absl::StatusOr<std::unique_ptr<GenOpsSampler>> Create(const SamplerConfig& config);

  SamplingDecision Sample(const SamplingInput& input) const noexcept override;
  std::string Description() const override;
  const SamplerConfig& config() const { return config_; }

 private:
  GenOpsSampler(const SamplerConfig& config, std::unique_ptr<Sampler> base);

  SamplerConfig config_;
  std::unique_ptr<Sampler> base_;
  uint64_t error_threshold_;
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_SAMPLER_H_
