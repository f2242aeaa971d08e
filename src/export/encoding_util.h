// Small helpers shared by the OTLP encoders and the text exporters: UTF-8 checks and
// sanitising, JSON text, and grouping a batch by resource (GroupByResource).
//
// Why they exist: protobuf `string` fields and JSON text must be valid UTF-8, but span
// attributes come from LLM prompts and responses and are truncated to a byte limit by
// SpanLimits, which can cut a multi-byte character in half. A receiver that finds invalid
// UTF-8 rejects the whole batch (libprotobuf fails to parse it), so every encoder sanitises
// strings first: invalid sequences become U+FFFD. Valid text passes through untouched.
//
// Thread safety: pure functions; safe from any thread (GroupedSpans: see below).
#ifndef GENOPS_EXPORT_ENCODING_UTIL_H_
#define GENOPS_EXPORT_ENCODING_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "src/telemetry/span_data.h"

namespace genops::exporter {

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF), the
// same rule libprotobuf applies to proto3 strings. ASCII text takes an 8-bytes-at-a-time path.
bool IsValidUtf8(std::string_view text) noexcept;

// `text` with every maximal invalid subsequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

// True when every string in the span (name, trace_state, status message, attribute keys and
// string values, event names and their attributes) is valid UTF-8.
bool SpanHasValidUtf8(const telemetry::SpanData& span) noexcept;
bool ResourceHasValidUtf8(const telemetry::ResourceInfo& resource) noexcept;

// Copies with every string sanitised (the rare path; encoders call it only when needed).
telemetry::SpanData SanitizedSpan(const telemetry::SpanData& span);
telemetry::ResourceInfo SanitizedResource(const telemetry::ResourceInfo& resource);

// The spans of one batch grouped by the resource they are exported under, one OTLP
// ResourceSpans (with one ScopeSpans) per group: spans made in this process (null
// SpanData::origin) under the exporter's own resource, received spans under their origin.
// Groups appear in the order of their first span and keep the batch order of their spans.
//
// Spans share a group when their origin *pointers* are equal: comparing resources by value
// would cost more than the encoding, and the receiver's sink makes equal origins share one
// pointer. A batch whose spans all share one origin (the common case: only GenOps' own spans)
// is a single group found in one pass, with no allocation beyond the span pointers.
//
// Every group's resource is valid UTF-8: a resource that is not is replaced by a sanitised
// copy owned by the GroupedSpans.
//
// Thread safety: a value type; not synchronised.
struct ResourceGroup {
  const telemetry::ResourceInfo* resource = nullptr;
  size_t begin = 0;  // [begin, end) of GroupedSpans::spans
  size_t end = 0;
};
struct GroupedSpans {
  std::vector<const telemetry::SpanData*> spans;  // in group order
  absl::InlinedVector<ResourceGroup, 1> groups;
  std::vector<std::unique_ptr<telemetry::ResourceInfo>> sanitized_resources;
};

// Fills *out (replacing its contents) from `spans` and `own`, which must outlive it.
void GroupByResource(std::span<const telemetry::SpanData> spans, const telemetry::ResourceInfo& own,
                     GroupedSpans* out);

// Appends `text` as a JSON string literal (quotes included). `text` must be valid UTF-8;
// control characters, quote and backslash are escaped, everything else is copied.
void AppendJsonString(std::string_view text, std::string* out);

// Appends the decimal form of `value`.
void AppendInt(int64_t value, std::string* out);
void AppendUint(uint64_t value, std::string* out);

// Appends `value` as a JSON value following the proto3 JSON mapping: the shortest decimal
// that round-trips, or the strings "NaN", "Infinity", "-Infinity".
void AppendJsonDouble(double value, std::string* out);

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_ENCODING_UTIL_H_
