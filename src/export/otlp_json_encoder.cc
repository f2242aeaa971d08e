#include "src/export/otlp_json_encoder.h"

#include <optional>
#include <variant>

#include "src/export/encoding_util.h"

namespace genops::exporter {
namespace {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::ResourceInfo;
using telemetry::SpanData;
using telemetry::SpanEvent;

void AppendQuotedInt(int64_t value, std::string* out) {
  out->push_back('"');
  AppendInt(value, out);
  out->push_back('"');
}

void AppendAnyValue(const AttributeValue& value, std::string* out) {
  switch (value.index()) {
    case 0:
      out->append(std::get<bool>(value) ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
      break;
    case 1:
      out->append("{\"intValue\":");
      AppendQuotedInt(std::get<int64_t>(value), out);
      out->push_back('}');
      break;
    case 2:
      out->append("{\"doubleValue\":");
      AppendJsonDouble(std::get<double>(value), out);
      out->push_back('}');
      break;
    case 3:
      out->append("{\"stringValue\":");
      AppendJsonString(std::get<std::string>(value), out);
      out->push_back('}');
      break;
    default: {
      out->append("{\"arrayValue\":{");
      const auto& list = std::get<std::vector<std::string>>(value);
      if (!list.empty()) {
        out->append("\"values\":[");
        for (size_t i = 0; i < list.size(); ++i) {
          if (i != 0) out->push_back(',');
          out->append("{\"stringValue\":");
          AppendJsonString(list[i], out);
          out->push_back('}');
        }
        out->push_back(']');
      }
      out->append("}}");
    }
  }
}

// Appends `,"attributes":[...]` (or `"attributes":[...]` when `first`), nothing when empty.
void AppendAttributes(const std::vector<Attribute>& attributes, bool first, std::string* out) {
  if (attributes.empty()) return;
  if (!first) out->push_back(',');
  out->append("\"attributes\":[");
  for (size_t i = 0; i < attributes.size(); ++i) {
    if (i != 0) out->push_back(',');
    out->append("{\"key\":");
    AppendJsonString(attributes[i].key, out);
    out->append(",\"value\":");
    AppendAnyValue(attributes[i].value, out);
    out->push_back('}');
  }
  out->push_back(']');
}

void AppendResource(const ResourceInfo& resource, std::string* out) {
  out->push_back('{');
  AppendAttributes(resource.attributes, /*first=*/true, out);
  out->push_back('}');
}

void AppendScope(const ResourceInfo& resource, std::string* out) {
  out->push_back('{');
  bool first = true;
  if (!resource.scope_name.empty()) {
    out->append("\"name\":");
    AppendJsonString(resource.scope_name, out);
    first = false;
  }
  if (!resource.scope_version.empty()) {
    if (!first) out->push_back(',');
    out->append("\"version\":");
    AppendJsonString(resource.scope_version, out);
  }
  out->push_back('}');
}

// The span's members without the enclosing braces; starts with "traceId".
void AppendSpanMembers(const SpanData& span, std::string* out) {
  out->append("\"traceId\":\"");
  out->append(span.trace_id.ToHex());
  out->append("\",\"spanId\":\"");
  out->append(span.span_id.ToHex());
  out->push_back('"');
  if (!span.trace_state.empty()) {
    out->append(",\"traceState\":");
    AppendJsonString(span.trace_state, out);
  }
  if (span.parent_span_id.valid()) {
    out->append(",\"parentSpanId\":\"");
    out->append(span.parent_span_id.ToHex());
    out->push_back('"');
  }
  if (span.sampled) out->append(",\"flags\":1");
  if (!span.name.empty()) {
    out->append(",\"name\":");
    AppendJsonString(span.name, out);
  }
  if (const int kind = static_cast<int>(span.kind); kind != 0) {
    out->append(",\"kind\":");
    AppendInt(kind, out);
  }
  if (span.start_unix_nanos != 0) {
    out->append(",\"startTimeUnixNano\":");
    AppendQuotedInt(span.start_unix_nanos, out);
  }
  if (span.end_unix_nanos != 0) {
    out->append(",\"endTimeUnixNano\":");
    AppendQuotedInt(span.end_unix_nanos, out);
  }
  AppendAttributes(span.attributes, /*first=*/false, out);
  if (span.dropped_attributes_count != 0) {
    out->append(",\"droppedAttributesCount\":");
    AppendUint(span.dropped_attributes_count, out);
  }
  if (!span.events.empty()) {
    out->append(",\"events\":[");
    for (size_t i = 0; i < span.events.size(); ++i) {
      const SpanEvent& event = span.events[i];
      if (i != 0) out->push_back(',');
      out->push_back('{');
      bool first = true;
      if (event.time_unix_nanos != 0) {
        out->append("\"timeUnixNano\":");
        AppendQuotedInt(event.time_unix_nanos, out);
        first = false;
      }
      if (!event.name.empty()) {
        if (!first) out->push_back(',');
        out->append("\"name\":");
        AppendJsonString(event.name, out);
        first = false;
      }
      AppendAttributes(event.attributes, first, out);
      out->push_back('}');
    }
    out->push_back(']');
  }
  if (span.dropped_events_count != 0) {
    out->append(",\"droppedEventsCount\":");
    AppendUint(span.dropped_events_count, out);
  }
  if (span.status_code != telemetry::StatusCode::kUnset || !span.status_message.empty()) {
    out->append(",\"status\":{");
    bool first = true;
    if (!span.status_message.empty()) {
      out->append("\"message\":");
      AppendJsonString(span.status_message, out);
      first = false;
    }
    if (const int code = static_cast<int>(span.status_code); code != 0) {
      if (!first) out->push_back(',');
      out->append("\"code\":");
      AppendInt(code, out);
    }
    out->push_back('}');
  }
}

void AppendSpanObject(const SpanData& span, std::string* out) {
  out->push_back('{');
  AppendSpanMembers(span, out);
  out->push_back('}');
}

}  // namespace

void AppendOtlpJsonSpan(const SpanData& span, std::string* out) {
  if (SpanHasValidUtf8(span)) {
    AppendSpanObject(span, out);
  } else {
    AppendSpanObject(SanitizedSpan(span), out);
  }
}

void AppendOtlpJsonSpanLine(const SpanData& span, const ResourceInfo& resource, std::string* out) {
  std::optional<SpanData> sanitized_span;
  if (!SpanHasValidUtf8(span)) sanitized_span = SanitizedSpan(span);
  const ResourceInfo& labelled = span.origin != nullptr ? *span.origin : resource;
  std::optional<ResourceInfo> sanitized_resource;
  if (!ResourceHasValidUtf8(labelled)) sanitized_resource = SanitizedResource(labelled);
  const ResourceInfo& r = sanitized_resource ? *sanitized_resource : labelled;
  out->push_back('{');
  AppendSpanMembers(sanitized_span ? *sanitized_span : span, out);
  out->append(",\"resource\":");
  AppendResource(r, out);
  out->append(",\"scope\":");
  AppendScope(r, out);
  out->push_back('}');
}

void EncodeOtlpJson(std::span<const SpanData> spans, const ResourceInfo& resource,
                    std::string* out) {
  out->clear();
  if (spans.empty()) {
    out->append("{}");
    return;
  }
  GroupedSpans grouped;
  GroupByResource(spans, resource, &grouped);
  out->append("{\"resourceSpans\":[");
  for (size_t g = 0; g < grouped.groups.size(); ++g) {
    const ResourceGroup& group = grouped.groups[g];
    if (g != 0) out->push_back(',');
    out->append("{\"resource\":");
    AppendResource(*group.resource, out);
    out->append(",\"scopeSpans\":[{\"scope\":");
    AppendScope(*group.resource, out);
    out->append(",\"spans\":[");
    for (size_t i = group.begin; i < group.end; ++i) {
      if (i != group.begin) out->push_back(',');
      AppendOtlpJsonSpan(*grouped.spans[i], out);
    }
    out->append("]}]}");
  }
  out->append("]}");
}

std::string EncodeOtlpJson(std::span<const SpanData> spans, const ResourceInfo& resource) {
  std::string out;
  EncodeOtlpJson(spans, resource, &out);
  return out;
}

}  // namespace genops::exporter
