// Span limits: bound the memory one span, and one operation, may take.
//
// Why: attribute values come from prompts, tool names, tags and error messages chosen by
// applications and their users; an unbounded span can hold megabytes and a runaway agent loop
// can open thousands of child spans. The seed's max_attribute_length, max_events_per_span and
// max_spans_per_operation cap both, and every cut is COUNTED so a backend can show that data was
// cut rather than silently present a partial span.
//
// Money attributes are never dropped: ApplyLimits keeps the first max_attributes_per_span
// attributes in insertion order, and the SDK writes the genops.* cost and attribution keys
// before any user-supplied ones.
//
// Example:
//   SpanLimits limits{.max_attribute_length = 1000};
//   LimitsReport report = ApplyLimits(limits, span);
//
//   auto budget = std::make_shared<OperationSpanBudget>(config.max_spans_per_operation);
//   if (budget->TryRecordChild()) { ...record the child span... }
//   budget->AnnotateRoot(root_span);   // adds genops.spans.dropped when any were cut
//
// Thread safety: ApplyLimits works on a value the caller owns. OperationSpanBudget is
// thread-safe.
#ifndef GENOPS_TELEMETRY_SPAN_LIMITS_H_
#define GENOPS_TELEMETRY_SPAN_LIMITS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "src/telemetry/span_data.h"

namespace genops::telemetry {

// SpanLimits
//
// Defaults are the seed's (and OpenTelemetry's, for the attribute count).
struct SpanLimits {
  // String values (and each element of a string array) longer than this many characters
  // (Unicode code points; a byte that is not valid UTF-8 counts as one) are truncated at a code
  // point boundary. Applies to span and event attributes.
  uint32_t max_attribute_length = 1000;
  // Events beyond the first N are dropped and counted in SpanData::dropped_events_count.
  uint32_t max_events_per_span = 100;
  // Attributes beyond the first N are dropped and counted in dropped_attributes_count.
  uint32_t max_attributes_per_span = 128;
  // Per-event attribute cap; extra event attributes are dropped (counted in the report only:
  // OTLP has a per-event counter our SpanEvent does not carry).
  uint32_t max_attributes_per_event = 128;
};

// OK, or InvalidArgument naming the field that is zero (a zero limit would strip every span).
absl::Status ValidateSpanLimits(const SpanLimits& limits);

// What ApplyLimits cut from one span.
struct LimitsReport {
  uint32_t truncated_values = 0;          // strings shortened (span + event attributes)
  uint32_t dropped_attributes = 0;        // span attributes removed
  uint32_t dropped_events = 0;            // events removed
  uint32_t dropped_event_attributes = 0;  // attributes removed from kept events
  bool changed() const {
    return truncated_values + dropped_attributes + dropped_events + dropped_event_attributes > 0;
  }
};

// Enforces `limits` on `span` in place, adding to span.dropped_attributes_count and
// span.dropped_events_count. Idempotent: a second call changes nothing.
LimitsReport ApplyLimits(const SpanLimits& limits, SpanData& span) noexcept;

// Truncates `value` to at most `max_chars` code points without splitting a UTF-8 sequence.
// Returns true when it shortened the string.
bool TruncateUtf8(std::string& value, uint32_t max_chars) noexcept;

// OperationSpanBudget
//
// Counts the spans of one operation (one root span and its descendants) against
// max_spans_per_operation. The root always counts as the first span and is always recorded: it
// carries the operation's cost and governance attributes. A child that would exceed the limit is
// not recorded; the SDK asks TryRecordChild() before creating each child and, at the root's
// end, calls AnnotateRoot() so the root carries genops.spans.dropped = <count> when any were cut.
//
// Create one per root operation and share it (e.g. shared_ptr) with every child span.
//
// Thread safety: thread-safe; TryRecordChild is one atomic increment.
class OperationSpanBudget {
 public:
  // 0 means unlimited.
  explicit OperationSpanBudget(uint32_t max_spans_per_operation);

  OperationSpanBudget(const OperationSpanBudget&) = delete;
  OperationSpanBudget& operator=(const OperationSpanBudget&) = delete;

  // True (and counted as recorded) when one more child span fits; false (and counted as
  // dropped) otherwise.
  bool TryRecordChild() noexcept;

  // Spans recorded so far, the root included.
  uint32_t recorded() const noexcept;
  // Child spans refused so far.
  uint32_t dropped() const noexcept;
  uint32_t limit() const noexcept { return limit_; }

  // Starts counting afresh for a new operation with `max_spans_per_operation`. Not
  // thread-safe: only for an owner reusing a budget that nothing else refers to any more
  // (the SDK embeds one in each pooled operation state).
  void Restart(uint32_t max_spans_per_operation) noexcept;

  // When dropped() > 0, sets the int attribute genops.spans.dropped on `root` (replacing an
  // earlier value, so calling it twice is harmless). No-op otherwise.
  void AnnotateRoot(SpanData& root) const;
  // The same with a count taken earlier (the SDK reads dropped() when the root ends and builds
  // its span later, on the export thread).
  static void AnnotateDropped(SpanData& root, uint32_t dropped);

 private:
  uint32_t limit_;
  // Spans asked for, the root included (it is span #1). Recorded and dropped counts both derive
  // from this one counter, so they are always consistent with each other.
  std::atomic<uint64_t> attempts_{1};
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_SPAN_LIMITS_H_
