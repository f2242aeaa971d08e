// OTLP trace decoding: the body of an OTLP ExportTraceServiceRequest (protobuf or OTLP/JSON)
// -> the project's span model (telemetry::SpanData), grouped by (resource, scope).
//
// Why a decoder of our own instead of libprotobuf's ParseFromArray + a conversion:
//  - Precise errors. A client (or an attacker) sending a truncated or malformed body gets a
//    message saying what is wrong and where, e.g.
//      otlp protobuf: truncated field at byte 1234 of 1240, in
//      resource_spans[0].scope_spans[1].spans[7].attributes[3] (key "gen_ai.prompt.0.content")
//    libprotobuf only says "failed to parse".
//  - Speed. Building libprotobuf messages and then copying them into SpanData costs two
//    allocations per string; decoding the wire format straight into SpanData costs one (and
//    none for attribute keys of up to 31 bytes, see AttributeKey).
//  - Limits. Every count and size is checked against DecodeLimits while reading, before
//    anything is allocated for it, so an absurd body is refused cheaply.
// The tests check that the decoder accepts exactly what libprotobuf serialises.
//
// What the span model cannot hold is converted or counted, never dropped silently:
//  - AnyValue arrays whose elements are not all strings become string arrays of each
//    element's text (1, 2.5, true, nested values as JSON); key-value lists become a JSON
//    object string; bytes become base64; an empty AnyValue becomes "". Each conversion is
//    counted in DecodedTraces::values_converted.
//  - Span links are skipped and counted in links_dropped; schema URLs, scope attributes and
//    dropped_attributes_count of resources, scopes and events are not kept.
//  - Every decoded span has sampled = true (the client exported it, so it was sampled).
// Strings are not checked for UTF-8 here: the exporters sanitise them (encoding_util.h).
// Unknown fields are skipped (protobuf) or ignored (JSON), as OTLP requires of receivers.
//
// OTLP/JSON follows the OTLP specification's JSON mapping, leniently as receivers should:
// field names in lowerCamelCase or in the .proto's snake_case; trace and span ids as hex
// (either case; base64, which protobuf's generic JSON mapping produces, is accepted too);
// 64-bit integers as decimal strings or numbers; enums as integers or as their names
// ("SPAN_KIND_CLIENT"); doubles as numbers or "NaN" / "Infinity" / "-Infinity"; null as absent.
//
// Example:
//   genops::receiver::DecodedTraces traces;
//   absl::Status s = genops::receiver::DecodeOtlpProto(body, {}, &traces);
//   if (!s.ok()) return Respond400(s.message());
//   for (auto& batch : traces.batches) { ... batch.resource ... batch.spans ... }
//
// Thread safety: pure functions; safe to call concurrently.
#ifndef GENOPS_RECEIVER_OTLP_DECODER_H_
#define GENOPS_RECEIVER_OTLP_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "src/receiver/spare_elements.h"
#include "src/telemetry/span_data.h"

namespace genops::receiver {

// Upper bounds on what one request may hold. Exceeding one is an InvalidArgument error naming
// the limit, the value and where it was found. The defaults are far above what any OTLP SDK
// sends (their own limits are 128 attributes and events per span) and far below what would
// hurt the process.
struct DecodeLimits {
  size_t max_spans = 200'000;      // in one request
  size_t max_attributes = 10'000;  // per resource, scope, span or event
  size_t max_events_per_span = 10'000;
  size_t max_key_bytes = 4096;               // one attribute key
  size_t max_value_bytes = 4 * 1024 * 1024;  // one string or bytes value (prompts are long)
  size_t max_array_values = 100'000;         // elements of one array or key-value list
  int max_value_depth = 16;                  // arrays / key-value lists nested in a value
};

// The spans of one (resource, instrumentation scope) pair.
struct ScopeSpansBatch {
  // Resource attributes, plus this scope's name and version in scope_name / scope_version
  // (empty when the request has none).
  telemetry::ResourceInfo resource;
  std::vector<telemetry::SpanData> spans;
};

struct DecodedTraces {
  std::vector<ScopeSpansBatch> batches;  // in request order
  size_t span_count = 0;                 // over all batches
  uint64_t links_dropped = 0;            // span links (the span model has none)
  uint64_t values_converted = 0;         // attribute values turned into strings (see above)
  // Attributes and events DecodeOtlpProto erased from the recycled spans it decoded over, for
  // the enrichment to append again (see spare_elements.h); not part of the decoded request.
  SpareElements spares;

  void Clear() {
    batches.clear();
    span_count = 0;
    links_dropped = 0;
    values_converted = 0;
    spares.Clear();
  }
};

// Decodes a binary protobuf ExportTraceServiceRequest into *out. The result is what decoding
// into an empty DecodedTraces gives, but the batches, spans, attributes and events already in
// *out are written over rather than freed and allocated again (their strings keep their
// buffers; the surplus is erased): a caller that decodes request after request into one
// DecodedTraces, whose spans a SpanProcessor's OnEndRecycling refills with exported spans'
// buffers, allocates almost nothing per span. The attributes and events erased from the
// recycled spans go to out->spares (cleared first). On error, *out holds what was decoded
// before it and must not be used. Errors are InvalidArgument,
// each message starting with "otlp protobuf: " and naming the byte offset and field path.
absl::Status DecodeOtlpProto(std::string_view body, const DecodeLimits& limits, DecodedTraces* out);

// Decodes an OTLP/JSON ExportTraceServiceRequest into *out (cleared first). Errors are
// InvalidArgument, each message starting with "otlp json: ": a syntax error names its byte
// offset, a wrongly typed field its JSON path (resourceSpans[0].scopeSpans[0].spans[3].kind).
absl::Status DecodeOtlpJson(std::string_view body, const DecodeLimits& limits, DecodedTraces* out);

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_OTLP_DECODER_H_
