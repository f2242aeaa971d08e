#include "src/telemetry/sampler.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "fmt/format.h"

namespace genops::telemetry {
namespace {

constexpr uint64_t kRandomnessBits = 56;
constexpr uint64_t kMaxThreshold = uint64_t{1} << kRandomnessBits;  // keeps nothing

constexpr std::string_view kSamplerVar = "OTEL_TRACES_SAMPLER";
constexpr std::string_view kSamplerArgVar = "OTEL_TRACES_SAMPLER_ARG";
constexpr std::string_view kAcceptedKinds =
    "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, "
    "parentbased_traceidratio";

double ClampRatio(double ratio) {
  if (std::isnan(ratio) || ratio <= 0.0) return 0.0;
  if (ratio >= 1.0) return 1.0;
  return ratio;
}

bool IsValidRatio(double ratio) { return ratio >= 0.0 && ratio <= 1.0; }  // false for NaN

std::unique_ptr<Sampler> MakeBaseSampler(SamplerKind kind, double ratio) {
  switch (kind) {
    case SamplerKind::kAlwaysOn:
      return std::make_unique<AlwaysOnSampler>();
    case SamplerKind::kAlwaysOff:
      return std::make_unique<AlwaysOffSampler>();
    case SamplerKind::kTraceIdRatio:
      return std::make_unique<TraceIdRatioSampler>(ratio);
    case SamplerKind::kParentBasedAlwaysOn:
      return std::make_unique<ParentBasedSampler>(std::make_unique<AlwaysOnSampler>());
    case SamplerKind::kParentBasedAlwaysOff:
      return std::make_unique<ParentBasedSampler>(std::make_unique<AlwaysOffSampler>());
    case SamplerKind::kParentBasedTraceIdRatio:
      return std::make_unique<ParentBasedSampler>(std::make_unique<TraceIdRatioSampler>(ratio));
  }
  return std::make_unique<AlwaysOnSampler>();  // unreachable: every kind is handled above
}

}  // namespace

std::string_view SamplingReasonName(SamplingReason reason) {
  switch (reason) {
    case SamplingReason::kAlwaysOn:
      return "always_on";
    case SamplingReason::kAlwaysOff:
      return "always_off";
    case SamplingReason::kRatio:
      return "ratio";
    case SamplingReason::kParent:
      return "parent";
    case SamplingReason::kPriority:
      return "priority";
    case SamplingReason::kError:
      return "error";
  }
  return "unknown";
}

SamplingDecision AlwaysOnSampler::Sample(const SamplingInput& /*input*/) const noexcept {
  return {true, SamplingReason::kAlwaysOn};
}
std::string AlwaysOnSampler::Description() const { return "AlwaysOnSampler"; }

SamplingDecision AlwaysOffSampler::Sample(const SamplingInput& /*input*/) const noexcept {
  return {false, SamplingReason::kAlwaysOff};
}
std::string AlwaysOffSampler::Description() const { return "AlwaysOffSampler"; }

uint64_t TraceIdRatioThreshold(double ratio) noexcept {
  const double clamped = ClampRatio(ratio);
  // Scaling by a power of two is exact; llround then rounds to the nearest 2^-56 step.
  const auto keep = static_cast<uint64_t>(std::llround(std::ldexp(clamped, kRandomnessBits)));
  return kMaxThreshold - keep;
}

uint64_t TraceIdRandomness(const TraceId& trace_id) noexcept {
  uint64_t randomness = 0;
  for (size_t i = trace_id.bytes.size() - kRandomnessBits / 8; i < trace_id.bytes.size(); ++i) {
    randomness = (randomness << 8) | trace_id.bytes[i];
  }
  return randomness;
}

bool TraceIdRatioKeeps(const TraceId& trace_id, double ratio) noexcept {
  return TraceIdRandomness(trace_id) >= TraceIdRatioThreshold(ratio);
}

TraceIdRatioSampler::TraceIdRatioSampler(double ratio)
    : ratio_(ClampRatio(ratio)), threshold_(TraceIdRatioThreshold(ratio)) {}

SamplingDecision TraceIdRatioSampler::Sample(const SamplingInput& input) const noexcept {
  return {TraceIdRandomness(input.trace_id) >= threshold_, SamplingReason::kRatio};
}

std::string TraceIdRatioSampler::Description() const {
  return fmt::format("TraceIdRatioBased{{{}}}", ratio_);
}

ParentBasedSampler::ParentBasedSampler(std::unique_ptr<Sampler> root) : root_(std::move(root)) {}

SamplingDecision ParentBasedSampler::Sample(const SamplingInput& input) const noexcept {
  if (input.parent.has_value()) return {input.parent->sampled, SamplingReason::kParent};
  return root_->Sample(input);
}

std::string ParentBasedSampler::Description() const {
  return fmt::format("ParentBased{{root={}}}", root_->Description());
}

std::string_view SamplerKindName(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kAlwaysOn:
      return "always_on";
    case SamplerKind::kAlwaysOff:
      return "always_off";
    case SamplerKind::kTraceIdRatio:
      return "traceidratio";
    case SamplerKind::kParentBasedAlwaysOn:
      return "parentbased_always_on";
    case SamplerKind::kParentBasedAlwaysOff:
      return "parentbased_always_off";
    case SamplerKind::kParentBasedTraceIdRatio:
      return "parentbased_traceidratio";
  }
  return "unknown";
}

bool SamplerKindUsesRatio(SamplerKind kind) {
  return kind == SamplerKind::kTraceIdRatio || kind == SamplerKind::kParentBasedTraceIdRatio;
}

absl::Status ValidateSamplerConfig(const SamplerConfig& config) {
  if (!IsValidRatio(config.sampling_rate)) {
    return absl::InvalidArgumentError(
        fmt::format("sampling_rate must be a number in [0, 1] (0.1 exports 10% of traces); got {}",
                    config.sampling_rate));
  }
  if (!IsValidRatio(config.error_sampling_rate)) {
    return absl::InvalidArgumentError(fmt::format(
        "error_sampling_rate must be a number in [0, 1] (1.0 exports every error); got {}",
        config.error_sampling_rate));
  }
  return absl::OkStatus();
}

absl::StatusOr<SamplerConfig> SamplerConfigFromEnvironment(const Environment& env,
                                                           SamplerConfig base) {
  if (absl::Status status = ValidateSamplerConfig(base); !status.ok()) return status;

  if (std::optional<std::string> raw = env.Get(kSamplerVar); raw.has_value()) {
    const std::string value = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*raw));
    static constexpr SamplerKind kKinds[] = {SamplerKind::kAlwaysOn,
                                             SamplerKind::kAlwaysOff,
                                             SamplerKind::kTraceIdRatio,
                                             SamplerKind::kParentBasedAlwaysOn,
                                             SamplerKind::kParentBasedAlwaysOff,
                                             SamplerKind::kParentBasedTraceIdRatio};
    bool found = false;
    for (SamplerKind kind : kKinds) {
      if (value == SamplerKindName(kind)) {
        base.kind = kind;
        found = true;
        break;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          fmt::format("{}=\"{}\" is not a supported sampler; use one of {}", kSamplerVar, *raw,
                      kAcceptedKinds));
    }
  }

  if (SamplerKindUsesRatio(base.kind)) {
    if (std::optional<std::string> raw = env.Get(kSamplerArgVar); raw.has_value()) {
      double ratio = 0.0;
      if (!absl::SimpleAtod(absl::StripAsciiWhitespace(*raw), &ratio) || !IsValidRatio(ratio)) {
        return absl::InvalidArgumentError(fmt::format(
            "{}=\"{}\" is not a sampling probability: with {}={} it must be a decimal in "
            "[0, 1], e.g. 0.25",
            kSamplerArgVar, *raw, kSamplerVar, SamplerKindName(base.kind)));
      }
      base.sampling_rate = ratio;
    }
  }
  return base;
}

absl::StatusOr<std::unique_ptr<GenOpsSampler>> GenOpsSampler::Create(const SamplerConfig& config) {
  if (absl::Status status = ValidateSamplerConfig(config); !status.ok()) return status;
  return std::unique_ptr<GenOpsSampler>(
      new GenOpsSampler(config, MakeBaseSampler(config.kind, config.sampling_rate)));
}

GenOpsSampler::GenOpsSampler(const SamplerConfig& config, std::unique_ptr<Sampler> base)
    : config_(config),
      base_(std::move(base)),
      error_threshold_(TraceIdRatioThreshold(config.error_sampling_rate)) {}

SamplingDecision GenOpsSampler::Sample(const SamplingInput& input) const noexcept {
  if (config_.kind == SamplerKind::kAlwaysOff) return {false, SamplingReason::kAlwaysOff};
  const SamplingDecision base = base_->Sample(input);
  if (base.sampled) return base;
  if (config_.priority_sampling && input.high_priority) {
    return {true, SamplingReason::kPriority};
  }
  if (input.is_error && TraceIdRandomness(input.trace_id) >= error_threshold_) {
    return {true, SamplingReason::kError};
  }
  return base;
}

std::string GenOpsSampler::Description() const {
  return fmt::format("GenOpsSampler{{base={}, priority_sampling={}, error_sampling_rate={}}}",
                     base_->Description(), config_.priority_sampling, config_.error_sampling_rate);
}

}  // namespace genops::telemetry
