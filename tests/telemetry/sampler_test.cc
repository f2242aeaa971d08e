#include "src/telemetry/sampler.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "src/core/environment.h"

namespace genops::telemetry {
namespace {

// Reproducible "random" trace ids: the statistics below must not flake.
std::vector<TraceId> MakeTraceIds(size_t count, uint64_t seed = 42) {
  std::mt19937_64 rng(seed);
  std::vector<TraceId> ids(count);
  for (TraceId& id : ids) {
    const uint64_t hi = rng();
    const uint64_t lo = rng();
    std::memcpy(id.bytes.data(), &hi, 8);
    std::memcpy(id.bytes.data() + 8, &lo, 8);
  }
  return ids;
}

// A trace id whose rightmost 56 bits are `randomness` and whose other bytes are `filler`.
TraceId TraceIdWithRandomness(uint64_t randomness, uint8_t filler = 0xab) {
  TraceId id;
  id.bytes.fill(filler);
  for (int i = 15; i >= 9; --i) {
    id.bytes[i] = static_cast<uint8_t>(randomness & 0xff);
    randomness >>= 8;
  }
  return id;
}

double KeptFraction(const Sampler& sampler, const std::vector<TraceId>& ids,
                    SamplingInput base = {}) {
  size_t kept = 0;
  for (const TraceId& id : ids) {
    base.trace_id = id;
    kept += sampler.Sample(base).sampled ? 1 : 0;
  }
  return static_cast<double>(kept) / static_cast<double>(ids.size());
}

constexpr uint64_t k2Pow56 = uint64_t{1} << 56;

TEST(TraceIdRatioTest, ThresholdFollowsTheSpec) {
  EXPECT_EQ(TraceIdRatioThreshold(1.0), 0u);
  EXPECT_EQ(TraceIdRatioThreshold(0.0), k2Pow56);
  EXPECT_EQ(TraceIdRatioThreshold(0.5), k2Pow56 / 2);
  EXPECT_EQ(TraceIdRatioThreshold(0.25), k2Pow56 - k2Pow56 / 4);
  EXPECT_EQ(TraceIdRatioThreshold(2.0), 0u);        // clamped
  EXPECT_EQ(TraceIdRatioThreshold(-1.0), k2Pow56);  // clamped
  EXPECT_EQ(TraceIdRatioThreshold(std::numeric_limits<double>::quiet_NaN()), k2Pow56);
}

TEST(TraceIdRatioTest, ReadsOnlyTheRightmost56Bits) {
  EXPECT_EQ(TraceIdRandomness(TraceIdWithRandomness(0x0123456789abcd)), 0x0123456789abcdu);
  // Bytes 0..8 do not matter: X-Ray style ids put a timestamp there.
  for (uint8_t filler : {0x00, 0x7f, 0xff}) {
    EXPECT_EQ(TraceIdRandomness(TraceIdWithRandomness(k2Pow56 - 1, filler)), k2Pow56 - 1);
  }
}

TEST(TraceIdRatioTest, EdgeDecisions) {
  const TraceId lowest = TraceIdWithRandomness(0);
  const TraceId highest = TraceIdWithRandomness(k2Pow56 - 1);
  EXPECT_TRUE(TraceIdRatioKeeps(lowest, 1.0));
  EXPECT_FALSE(TraceIdRatioKeeps(lowest, 0.999));
  EXPECT_TRUE(TraceIdRatioKeeps(highest, 1e-9));
  EXPECT_FALSE(TraceIdRatioKeeps(highest, 0.0));
  // Exactly at the threshold is kept (R >= T).
  EXPECT_TRUE(TraceIdRatioKeeps(TraceIdWithRandomness(k2Pow56 / 2), 0.5));
  EXPECT_FALSE(TraceIdRatioKeeps(TraceIdWithRandomness(k2Pow56 / 2 - 1), 0.5));
}

TEST(TraceIdRatioTest, TenPercentOfOneHundredThousandWithinOnePercent) {
  const std::vector<TraceId> ids = MakeTraceIds(100000);
  TraceIdRatioSampler sampler(0.1);
  EXPECT_NEAR(KeptFraction(sampler, ids), 0.1, 0.01);
  EXPECT_NEAR(KeptFraction(TraceIdRatioSampler(0.5), ids), 0.5, 0.01);
  EXPECT_EQ(KeptFraction(TraceIdRatioSampler(0.0), ids), 0.0);
  EXPECT_EQ(KeptFraction(TraceIdRatioSampler(1.0), ids), 1.0);
}

TEST(TraceIdRatioTest, DeterministicPerTraceIdAndMonotonicInRatio) {
  const std::vector<TraceId> ids = MakeTraceIds(20000, 7);
  TraceIdRatioSampler a(0.1);
  TraceIdRatioSampler b(0.1);
  TraceIdRatioSampler wider(0.3);
  for (const TraceId& id : ids) {
    const bool first = a.Sample({.trace_id = id}).sampled;
    ASSERT_EQ(first, a.Sample({.trace_id = id}).sampled);
    ASSERT_EQ(first, b.Sample({.trace_id = id}).sampled);
    if (first) {
      ASSERT_TRUE(wider.Sample({.trace_id = id}).sampled);
    }
  }
}

TEST(TraceIdRatioTest, IgnoresTheParent) {
  TraceIdRatioSampler sampler(0.0);
  EXPECT_FALSE(
      sampler.Sample({.trace_id = TraceIdWithRandomness(5), .parent = ParentSamplingState{true}})
          .sampled);
}

TEST(ParentBasedTest, FollowsTheParentOtherwiseTheRoot) {
  ParentBasedSampler on(std::make_unique<AlwaysOnSampler>());
  ParentBasedSampler off(std::make_unique<AlwaysOffSampler>());
  const TraceId id = TraceIdWithRandomness(12345);

  EXPECT_TRUE(on.Sample({.trace_id = id}).sampled);
  EXPECT_FALSE(off.Sample({.trace_id = id}).sampled);

  const SamplingDecision sampled_parent =
      off.Sample({.trace_id = id, .parent = ParentSamplingState{.sampled = true}});
  EXPECT_TRUE(sampled_parent.sampled);
  EXPECT_EQ(sampled_parent.reason, SamplingReason::kParent);
  EXPECT_FALSE(
      on.Sample({.trace_id = id, .parent = ParentSamplingState{.sampled = false}}).sampled);
  EXPECT_TRUE(
      off.Sample({.trace_id = id, .parent = ParentSamplingState{.sampled = true, .remote = false}})
          .sampled);
}

TEST(ParentBasedTest, AcceptsTheStateOfAParsedTraceparent) {
  absl::StatusOr<SpanContext> unsampled =
      ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.ok());
  ParentBasedSampler sampler(std::make_unique<AlwaysOnSampler>());
  const SamplingDecision decision = sampler.Sample(
      {.trace_id = unsampled->trace_id, .parent = ParentSamplingStateOf(*unsampled)});
  EXPECT_FALSE(decision.sampled);
  EXPECT_EQ(decision.reason, SamplingReason::kParent);
  EXPECT_TRUE(ParentSamplingStateOf(*unsampled).remote);
}

TEST(ParentBasedTest, RatioRootKeepsParentAndChildrenTogether) {
  // Every span of a locally started trace gets the same decision, whatever order they end in.
  ParentBasedSampler sampler(std::make_unique<TraceIdRatioSampler>(0.3));
  for (const TraceId& id : MakeTraceIds(2000, 3)) {
    const bool root = sampler.Sample({.trace_id = id}).sampled;
    for (int child = 0; child < 3; ++child) {
      ASSERT_EQ(sampler.Sample({.trace_id = id}).sampled, root);
    }
  }
}

absl::StatusOr<std::unique_ptr<GenOpsSampler>> MakeGenOps(SamplerConfig config) {
  return GenOpsSampler::Create(config);
}

TEST(GenOpsSamplerTest, HighPriorityAlwaysKeptWhenPrioritySamplingOn) {
  auto sampler = MakeGenOps({.sampling_rate = 0.0, .priority_sampling = true});
  ASSERT_TRUE(sampler.ok());
  const std::vector<TraceId> ids = MakeTraceIds(5000);
  EXPECT_EQ(KeptFraction(**sampler, ids, {.high_priority = true}), 1.0);
  EXPECT_EQ(KeptFraction(**sampler, ids, {.high_priority = false}), 0.0);
  EXPECT_EQ((*sampler)->Sample({.trace_id = ids[0], .high_priority = true}).reason,
            SamplingReason::kPriority);
  // Even against an unsampled parent: the operator asked for these to be visible.
  EXPECT_TRUE((*sampler)
                  ->Sample({.trace_id = ids[0],
                            .parent = ParentSamplingState{.sampled = false},
                            .high_priority = true})
                  .sampled);
}

TEST(GenOpsSamplerTest, PrioritySamplingOffTreatsPriorityAsOrdinary) {
  auto sampler = MakeGenOps({.sampling_rate = 0.1, .priority_sampling = false});
  ASSERT_TRUE(sampler.ok());
  EXPECT_NEAR(KeptFraction(**sampler, MakeTraceIds(100000), {.high_priority = true}), 0.1, 0.01);
}

TEST(GenOpsSamplerTest, ErrorsKeptAtErrorSamplingRate) {
  const std::vector<TraceId> ids = MakeTraceIds(100000, 11);
  auto half = MakeGenOps({.sampling_rate = 0.0, .error_sampling_rate = 0.5});
  ASSERT_TRUE(half.ok());
  EXPECT_NEAR(KeptFraction(**half, ids, {.is_error = true}), 0.5, 0.01);
  EXPECT_EQ(KeptFraction(**half, ids, {.is_error = false}), 0.0);

  auto all = MakeGenOps({.sampling_rate = 0.0, .error_sampling_rate = 1.0});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(KeptFraction(**all, ids, {.is_error = true}), 1.0);
  EXPECT_EQ((*all)->Sample({.trace_id = ids[0], .is_error = true}).reason, SamplingReason::kError);

  // error_sampling_rate never lowers the ordinary rate: errors are at least as visible.
  auto none = MakeGenOps({.sampling_rate = 0.2, .error_sampling_rate = 0.0});
  ASSERT_TRUE(none.ok());
  EXPECT_NEAR(KeptFraction(**none, ids, {.is_error = true}), 0.2, 0.01);
}

TEST(GenOpsSamplerTest, ErrorDecisionIsConsistentWithinATrace) {
  auto sampler = MakeGenOps({.sampling_rate = 0.05, .error_sampling_rate = 0.3});
  ASSERT_TRUE(sampler.ok());
  for (const TraceId& id : MakeTraceIds(5000, 5)) {
    const bool parent_error = (*sampler)->Sample({.trace_id = id, .is_error = true}).sampled;
    const bool child_error = (*sampler)->Sample({.trace_id = id, .is_error = true}).sampled;
    ASSERT_EQ(parent_error, child_error);
    // Whenever an ordinary span of the trace is kept, its error spans are kept too.
    if ((*sampler)->Sample({.trace_id = id}).sampled) {
      ASSERT_TRUE(parent_error);
    }
  }
}

TEST(GenOpsSamplerTest, AlwaysOffExportsNothingAtAll) {
  auto sampler = MakeGenOps({.kind = SamplerKind::kAlwaysOff});
  ASSERT_TRUE(sampler.ok());
  const SamplingDecision decision =
      (*sampler)->Sample({.trace_id = TraceIdWithRandomness(k2Pow56 - 1),
                          .parent = ParentSamplingState{.sampled = true},
                          .is_error = true,
                          .high_priority = true});
  EXPECT_FALSE(decision.sampled);
  EXPECT_EQ(decision.reason, SamplingReason::kAlwaysOff);
}

TEST(GenOpsSamplerTest, ParentBasedRatioFollowsRemoteParent) {
  auto sampler = MakeGenOps({.kind = SamplerKind::kParentBasedTraceIdRatio,
                             .sampling_rate = 0.0,
                             .error_sampling_rate = 0.0});
  ASSERT_TRUE(sampler.ok());
  const TraceId id = TraceIdWithRandomness(1);
  EXPECT_TRUE((*sampler)->Sample({.trace_id = id, .parent = ParentSamplingState{true}}).sampled);
  EXPECT_FALSE((*sampler)->Sample({.trace_id = id, .parent = ParentSamplingState{false}}).sampled);
  EXPECT_FALSE((*sampler)->Sample({.trace_id = id}).sampled);
}

TEST(GenOpsSamplerTest, CreateRejectsOutOfRangeRates) {
  for (double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    auto sampling = MakeGenOps({.sampling_rate = bad});
    ASSERT_FALSE(sampling.ok());
    EXPECT_NE(sampling.status().message().find("sampling_rate"), std::string::npos);
    auto errors = MakeGenOps({.error_sampling_rate = bad});
    ASSERT_FALSE(errors.ok());
    EXPECT_NE(errors.status().message().find("error_sampling_rate"), std::string::npos);
  }
}

TEST(GenOpsSamplerTest, DescriptionNamesTheConfiguration) {
  auto sampler = MakeGenOps({.sampling_rate = 0.25});
  ASSERT_TRUE(sampler.ok());
  EXPECT_EQ((*sampler)->Description(),
            "GenOpsSampler{base=ParentBased{root=TraceIdRatioBased{0.25}}, priority_sampling=true, "
            "error_sampling_rate=1}");
}

// --- OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG ---------------------------------------------

absl::StatusOr<SamplerConfig> FromEnv(const std::map<std::string, std::string>& vars,
                                      SamplerConfig base = {}) {
  MapEnvironment env;
  for (const auto& [name, value] : vars) env.Set(name, value);
  return SamplerConfigFromEnvironment(env, base);
}

TEST(SamplerEnvironmentTest, NoVariablesKeepsTheBase) {
  absl::StatusOr<SamplerConfig> config =
      FromEnv({}, {.kind = SamplerKind::kTraceIdRatio, .sampling_rate = 0.3});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->kind, SamplerKind::kTraceIdRatio);
  EXPECT_EQ(config->sampling_rate, 0.3);
}

TEST(SamplerEnvironmentTest, EverySpecValueIsUnderstood) {
  const std::pair<const char*, SamplerKind> cases[] = {
      {"always_on", SamplerKind::kAlwaysOn},
      {"always_off", SamplerKind::kAlwaysOff},
      {"traceidratio", SamplerKind::kTraceIdRatio},
      {"parentbased_always_on", SamplerKind::kParentBasedAlwaysOn},
      {"parentbased_always_off", SamplerKind::kParentBasedAlwaysOff},
      {"parentbased_traceidratio", SamplerKind::kParentBasedTraceIdRatio},
      {"  ParentBased_TraceIdRatio ", SamplerKind::kParentBasedTraceIdRatio},
  };
  for (const auto& [value, kind] : cases) {
    absl::StatusOr<SamplerConfig> config = FromEnv({{"OTEL_TRACES_SAMPLER", value}});
    ASSERT_TRUE(config.ok()) << value << ": " << config.status();
    EXPECT_EQ(config->kind, kind) << value;
    EXPECT_EQ(SamplerKindName(kind), absl::AsciiStrToLower(absl::StripAsciiWhitespace(value)));
  }
}

TEST(SamplerEnvironmentTest, ArgSetsTheRatioForRatioKinds) {
  absl::StatusOr<SamplerConfig> config =
      FromEnv({{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "0.25"}});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->kind, SamplerKind::kTraceIdRatio);
  EXPECT_EQ(config->sampling_rate, 0.25);

  // No OTEL_TRACES_SAMPLER: the default kind (parentbased_traceidratio) takes the argument.
  config = FromEnv({{"OTEL_TRACES_SAMPLER_ARG", "0.1"}});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->sampling_rate, 0.1);

  for (const char* edge : {"0", "1", "1.0", " 0.5 "}) {
    EXPECT_TRUE(FromEnv({{"OTEL_TRACES_SAMPLER_ARG", edge}}).ok()) << edge;
  }
}

TEST(SamplerEnvironmentTest, ArgIsIgnoredForKindsWithoutARatio) {
  absl::StatusOr<SamplerConfig> config =
      FromEnv({{"OTEL_TRACES_SAMPLER", "always_on"}, {"OTEL_TRACES_SAMPLER_ARG", "nonsense"}},
              {.sampling_rate = 0.7});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kind, SamplerKind::kAlwaysOn);
  EXPECT_EQ(config->sampling_rate, 0.7);
}

TEST(SamplerEnvironmentTest, UnknownSamplerIsAnErrorNamingTheVariable) {
  for (const char* bad : {"jaeger_remote", "xray", "always-on", "ratio"}) {
    absl::StatusOr<SamplerConfig> config = FromEnv({{"OTEL_TRACES_SAMPLER", bad}});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find("OTEL_TRACES_SAMPLER="), std::string::npos);
    EXPECT_NE(config.status().message().find(bad), std::string::npos);
    EXPECT_NE(config.status().message().find("parentbased_traceidratio"), std::string::npos);
  }
}

TEST(SamplerEnvironmentTest, BadArgIsAnErrorNamingTheVariable) {
  for (const char* bad : {"abc", "1.5", "-0.1", "nan", "inf", "10%"}) {
    absl::StatusOr<SamplerConfig> config =
        FromEnv({{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", bad}});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find("OTEL_TRACES_SAMPLER_ARG"), std::string::npos);
    EXPECT_NE(config.status().message().find(bad), std::string::npos);
  }
}

TEST(SamplerEnvironmentTest, InvalidBaseIsReported) {
  absl::StatusOr<SamplerConfig> config = FromEnv({}, {.error_sampling_rate = 2.0});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("error_sampling_rate"), std::string::npos);
}

TEST(SamplingReasonTest, EveryReasonHasAName) {
  for (SamplingReason reason :
       {SamplingReason::kAlwaysOn, SamplingReason::kAlwaysOff, SamplingReason::kRatio,
        SamplingReason::kParent, SamplingReason::kPriority, SamplingReason::kError}) {
    EXPECT_NE(SamplingReasonName(reason), "unknown");
  }
}

}  // namespace
}  // namespace genops::telemetry
