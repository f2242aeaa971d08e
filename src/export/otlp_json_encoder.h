// OTLP/JSON encoding of a span batch, per the OTLP specification's JSON mapping.
//
// The mapping is proto3 JSON with OTLP's deviations: trace and span ids are lower-case hex
// (not base64), field names are lowerCamelCase, enums are integers, 64-bit integers
// (timestamps, intValue) are decimal strings, and fields holding their default value are
// omitted. Strings are sanitised to valid UTF-8 first (see encoding_util.h).
//
// Resources: spans made in this process (null SpanData::origin) are labelled with the
// exporter's own resource (the `resource` argument), spans received from applications with
// their origin; a batch has one ResourceSpans per resource, grouped as the protobuf encoder
// does (otlp_proto_encoder.h).
//
// Example output (abridged):
//   {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name",
//     "value":{"stringValue":"checkout"}}]},"scopeSpans":[{"scope":{"name":"genops"},
//     "spans":[{"traceId":"5b8e...","spanId":"eee1...","name":"chat gpt-4o","kind":3,
//     "startTimeUnixNano":"1700000000000000000",...}]}]}]}
//
// Thread safety: pure functions; safe from any thread.
#ifndef GENOPS_EXPORT_OTLP_JSON_ENCODER_H_
#define GENOPS_EXPORT_OTLP_JSON_ENCODER_H_

#include <span>
#include <string>

#include "src/telemetry/span_data.h"

namespace genops::exporter {

// Replaces the contents of `out` with the ExportTraceServiceRequest as OTLP/JSON. `resource`
// is the exporter's own, for the spans without an origin.
void EncodeOtlpJson(std::span<const telemetry::SpanData> spans,
                    const telemetry::ResourceInfo& resource, std::string* out);
std::string EncodeOtlpJson(std::span<const telemetry::SpanData> spans,
                           const telemetry::ResourceInfo& resource);

// Appends one Span message as an OTLP/JSON object.
void AppendOtlpJsonSpan(const telemetry::SpanData& span, std::string* out);

// Appends one self-describing span line for JSON-lines files: the Span object's fields plus
// "resource" ({"attributes":[...]}) and "scope" ({"name","version"}) of span.origin, or of
// `resource` when the span has none; no trailing newline.
void AppendOtlpJsonSpanLine(const telemetry::SpanData& span,
                            const telemetry::ResourceInfo& resource, std::string* out);

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_OTLP_JSON_ENCODER_H_
