// IdGenerator: random W3C trace and span ids.
//
// Why not std::mt19937 behind a mutex: ids are minted on the SDK hot path by many threads at
// once. Each thread keeps its own xoshiro256** state (seeded through splitmix64 from
// std::random_device), so generation is a few nanoseconds and never contends. The state is
// re-seeded in a child process after fork(), so parent and child never mint the same ids.
//
// Ids are never all-zero (the invalid id in W3C trace context and OTLP). All 128 bits of a
// trace id are random, which satisfies W3C Trace Context Level 2's "random" requirement on the
// rightmost 56 bits that ratio samplers rely on.
//
// Example:
//   TraceId trace = IdGenerator::Random().GenerateTraceId();
//   SpanId span = GenerateSpanId();
//
// Thread safety: thread-safe. Not cryptographically secure; ids are identifiers, not secrets.
#ifndef GENOPS_TELEMETRY_ID_GENERATOR_H_
#define GENOPS_TELEMETRY_ID_GENERATOR_H_

#include "src/telemetry/span_data.h"

namespace genops::telemetry {

// IdGenerator
//
// The seam through which spans get ids, so tests and embedders may supply deterministic ones.
class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A valid (not all-zero) trace id.
  virtual TraceId GenerateTraceId() noexcept = 0;
  // A valid (not all-zero) span id.
  virtual SpanId GenerateSpanId() noexcept = 0;

  // The process-wide random generator. Never null, never destroyed. Thread-safe.
  static IdGenerator& Random();
};

// Shorthands for IdGenerator::Random().
TraceId GenerateTraceId() noexcept;
SpanId GenerateSpanId() noexcept;

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_ID_GENERATOR_H_
