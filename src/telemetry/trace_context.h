// W3C Trace Context: the `traceparent` and `tracestate` headers.
//
// The gateway reads `traceparent` from a client so its span becomes a child of the caller's
// trace, and every outgoing call carries one so the provider hop stays in the same trace.
// Parsing follows https://www.w3.org/TR/trace-context/ §3.2 strictly, because a lenient parser
// would silently start a new trace (or join the wrong one) on a malformed header; the caller
// gets a Status that says what was wrong and treats the request as a new root.
//
// `tracestate` is vendor data we do not interpret: it is passed through as received, with only
// the structural checks the specification requires of every participant.
//
// Example:
//   absl::StatusOr<SpanContext> parent =
//       ParseTraceContext(headers["traceparent"], headers["tracestate"]);
//   if (parent.ok()) span.parent = *parent;   // else: log parent.status(), start a new trace
//   out_headers["traceparent"] = FormatTraceparent(child_context);
//
// Thread safety: free functions on values; thread-safe.
#ifndef GENOPS_TELEMETRY_TRACE_CONTEXT_H_
#define GENOPS_TELEMETRY_TRACE_CONTEXT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/telemetry/span_data.h"

namespace genops::telemetry {

// SpanContext
//
// The identity of a span as it travels between processes.
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;       // W3C trace-flags bit 0
  std::string trace_state{};  // opaque vendor data, passed through
  bool remote = false;        // true when it came from a carrier (header), not from this process

  // Both ids non-zero.
  bool valid() const { return trace_id.valid() && span_id.valid(); }
  bool operator==(const SpanContext&) const = default;
};

// The longest `tracestate` the W3C spec asks participants to propagate.
inline constexpr size_t kMaxTracestateLength = 512;
// The most list members a `tracestate` may have.
inline constexpr size_t kMaxTracestateMembers = 32;

// Parses `traceparent` ("00-<32 hex>-<16 hex>-<2 hex>"). Lowercase hex only. Rejects (with
// InvalidArgument naming the offending field): version "ff" or non-hex, version 00 with any
// length other than 55, a higher version whose header is shorter than 55 or not followed by
// '-', misplaced dashes, uppercase or non-hex digits, an all-zero trace id or parent id. Higher
// versions (01..fe) are parsed by the version-00 layout, as the spec requires. Surrounding
// spaces/tabs are ignored. The result has remote = true and an empty trace_state.
absl::StatusOr<SpanContext> ParseTraceparent(std::string_view traceparent);

// ParseTraceparent plus `tracestate` pass-through (see NormalizeTracestate). A missing or
// invalid `tracestate` never invalidates a valid `traceparent`; it is just dropped.
absl::StatusOr<SpanContext> ParseTraceContext(std::string_view traceparent,
                                              std::string_view tracestate);

// The `traceparent` value for `context`, version 00: "00-<trace>-<span>-01" (or "-00" when not
// sampled). The caller must not format an invalid context (both ids are required).
std::string FormatTraceparent(const SpanContext& context);

// `tracestate` as it should be propagated (W3C §3.3): optional whitespace around members and
// empty members removed, members otherwise kept byte for byte and in order. Returns "" (drop
// the header) when it has more than 32 members or a member whose key or value breaks the
// grammar. When the result would exceed 512 characters, members longer than 128 characters are
// removed first, then members from the right, as §3.3.1.5 suggests.
std::string NormalizeTracestate(std::string_view tracestate);

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_TRACE_CONTEXT_H_
