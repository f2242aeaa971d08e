#include "src/export/otlp_proto_encoder.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/encoding_util.h"

namespace genops::exporter {
namespace {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::ResourceInfo;
using telemetry::SpanData;
using telemetry::SpanEvent;

static_assert(std::endian::native == std::endian::little,
              "the wire encoder writes fixed-width fields with memcpy");

// ---- Field tags (field_number << 3 | wire_type), from the OTLP .proto files --------------
constexpr uint8_t Tag(uint32_t field, uint32_t wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLen = 2;

// ExportTraceServiceRequest / ResourceSpans / ScopeSpans
constexpr uint8_t kRequestResourceSpans = Tag(1, kLen);
constexpr uint8_t kResourceSpansResource = Tag(1, kLen);
constexpr uint8_t kResourceSpansScopeSpans = Tag(2, kLen);
constexpr uint8_t kScopeSpansScope = Tag(1, kLen);
constexpr uint8_t kScopeSpansSpans = Tag(2, kLen);
// Resource / InstrumentationScope
constexpr uint8_t kResourceAttributes = Tag(1, kLen);
constexpr uint8_t kScopeName = Tag(1, kLen);
constexpr uint8_t kScopeVersion = Tag(2, kLen);
// Span
constexpr uint8_t kSpanTraceId = Tag(1, kLen);
constexpr uint8_t kSpanSpanId = Tag(2, kLen);
constexpr uint8_t kSpanTraceState = Tag(3, kLen);
constexpr uint8_t kSpanParentSpanId = Tag(4, kLen);
constexpr uint8_t kSpanName = Tag(5, kLen);
constexpr uint8_t kSpanKind = Tag(6, kVarint);
constexpr uint8_t kSpanStart = Tag(7, kFixed64);
constexpr uint8_t kSpanEnd = Tag(8, kFixed64);
constexpr uint8_t kSpanAttributes = Tag(9, kLen);
constexpr uint8_t kSpanDroppedAttributes = Tag(10, kVarint);
constexpr uint8_t kSpanEvents = Tag(11, kLen);
constexpr uint8_t kSpanDroppedEvents = Tag(12, kVarint);
constexpr uint8_t kSpanStatus = Tag(15, kLen);
// Span.flags is field 16, wire type fixed32: the tag (16 << 3 | 5 = 133) needs two bytes.
constexpr uint8_t kSpanFlagsTag[2] = {0x85, 0x01};
// Span.Event
constexpr uint8_t kEventTime = Tag(1, kFixed64);
constexpr uint8_t kEventName = Tag(2, kLen);
constexpr uint8_t kEventAttributes = Tag(3, kLen);
// Status
constexpr uint8_t kStatusMessage = Tag(2, kLen);
constexpr uint8_t kStatusCode = Tag(3, kVarint);
// KeyValue / AnyValue / ArrayValue
constexpr uint8_t kKeyValueKey = Tag(1, kLen);
constexpr uint8_t kKeyValueValue = Tag(2, kLen);
constexpr uint8_t kAnyString = Tag(1, kLen);
constexpr uint8_t kAnyBool = Tag(2, kVarint);
constexpr uint8_t kAnyInt = Tag(3, kVarint);
constexpr uint8_t kAnyDouble = Tag(4, kFixed64);
constexpr uint8_t kAnyArray = Tag(5, kLen);
constexpr uint8_t kArrayValues = Tag(1, kLen);

constexpr uint32_t kSampledFlag = 0x01;  // W3C trace-flags bit, SPAN_FLAGS_TRACE_FLAGS_MASK

// ---- Sizes --------------------------------------------------------------------------------
inline size_t VarintSize(uint64_t value) {
  return static_cast<size_t>((std::bit_width(value | 1) + 6) / 7);
}
// A length-delimited field with a one-byte tag and a body of `length` bytes.
inline size_t LenFieldSize(size_t length) { return 1 + VarintSize(length) + length; }
inline size_t OptionalStringSize(std::string_view s) {
  return s.empty() ? 0 : LenFieldSize(s.size());
}

size_t StringListBodySize(const std::vector<std::string>& list) {
  size_t size = 0;
  for (const std::string& item : list) size += LenFieldSize(LenFieldSize(item.size()));
  return size;
}

// The variant's alternatives, by index (see telemetry::AttributeValue).
enum ValueIndex : size_t { kBoolIndex = 0, kIntIndex = 1, kDoubleIndex = 2, kStringIndex = 3 };

// Unchecked access: every caller has switched on value.index() first.
template <typename T>
inline const T& Get(const AttributeValue& value) {
  return *std::get_if<T>(&value);
}

inline size_t AnyValueBodySize(const AttributeValue& value) {
  switch (value.index()) {
    case kBoolIndex:
      return 2;
    case kIntIndex:
      return 1 + VarintSize(static_cast<uint64_t>(Get<int64_t>(value)));
    case kDoubleIndex:
      return 9;
    case kStringIndex:
      return LenFieldSize(Get<std::string>(value).size());
    default:
      return LenFieldSize(StringListBodySize(Get<std::vector<std::string>>(value)));
  }
}

inline size_t KeyValueBodySize(const Attribute& attribute) {
  return OptionalStringSize(attribute.key) + LenFieldSize(AnyValueBodySize(attribute.value));
}

size_t AttributesSize(const std::vector<Attribute>& attributes) {
  size_t size = 0;
  for (const Attribute& attribute : attributes) size += LenFieldSize(KeyValueBodySize(attribute));
  return size;
}

size_t EventBodySize(const SpanEvent& event) {
  return (event.time_unix_nanos != 0 ? 9 : 0) + OptionalStringSize(event.name) +
         AttributesSize(event.attributes);
}

inline bool HasStatus(const SpanData& span) {
  return span.status_code != telemetry::StatusCode::kUnset || !span.status_message.empty();
}

size_t StatusBodySize(const SpanData& span) {
  const auto code = static_cast<uint64_t>(span.status_code);
  return OptionalStringSize(span.status_message) + (code != 0 ? 1 + VarintSize(code) : 0);
}

inline uint32_t SpanFlags(const SpanData& span) { return span.sampled ? kSampledFlag : 0; }

size_t SpanBodySize(const SpanData& span) {
  size_t size = LenFieldSize(16) + LenFieldSize(8);  // trace_id, span_id
  size += OptionalStringSize(span.trace_state);
  if (span.parent_span_id.valid()) size += LenFieldSize(8);
  size += OptionalStringSize(span.name);
  const auto kind = static_cast<uint64_t>(span.kind);
  if (kind != 0) size += 1 + VarintSize(kind);
  if (span.start_unix_nanos != 0) size += 9;
  if (span.end_unix_nanos != 0) size += 9;
  size += AttributesSize(span.attributes);
  if (span.dropped_attributes_count != 0) size += 1 + VarintSize(span.dropped_attributes_count);
  for (const SpanEvent& event : span.events) size += LenFieldSize(EventBodySize(event));
  if (span.dropped_events_count != 0) size += 1 + VarintSize(span.dropped_events_count);
  if (HasStatus(span)) size += LenFieldSize(StatusBodySize(span));
  if (SpanFlags(span) != 0) size += 2 + 4;
  return size;
}

size_t ScopeBodySize(const ResourceInfo& resource) {
  return OptionalStringSize(resource.scope_name) + OptionalStringSize(resource.scope_version);
}

// ---- Writer -------------------------------------------------------------------------------
// Writes into a buffer sized exactly by the functions above; no bounds checks on the hot path
// (the final position is checked once per batch).
class WireWriter {
 public:
  explicit WireWriter(char* out) : p_(out) {}
  char* position() const { return p_; }

  void Byte(uint8_t b) { *p_++ = static_cast<char>(b); }
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      *p_++ = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    *p_++ = static_cast<char>(value);
  }
  void Fixed64(uint64_t value) {
    std::memcpy(p_, &value, 8);
    p_ += 8;
  }
  void Fixed32(uint32_t value) {
    std::memcpy(p_, &value, 4);
    p_ += 4;
  }
  void Raw(const void* data, size_t size) {
    std::memcpy(p_, data, size);
    p_ += size;
  }
  void Header(uint8_t tag, size_t length) {
    Byte(tag);
    Varint(length);
  }
  void Bytes(uint8_t tag, const void* data, size_t size) {
    Header(tag, size);
    Raw(data, size);
  }
  void String(uint8_t tag, std::string_view s) { Bytes(tag, s.data(), s.size()); }
  void OptionalString(uint8_t tag, std::string_view s) {
    if (!s.empty()) String(tag, s);
  }

  void AnyValue(const AttributeValue& value) {
    switch (value.index()) {
      case kBoolIndex:
        Byte(kAnyBool);
        Byte(Get<bool>(value) ? 1 : 0);
        break;
      case kIntIndex:
        Byte(kAnyInt);
        Varint(static_cast<uint64_t>(Get<int64_t>(value)));
        break;
      case kDoubleIndex:
        Byte(kAnyDouble);
        Fixed64(std::bit_cast<uint64_t>(Get<double>(value)));
        break;
      case kStringIndex:
        String(kAnyString, Get<std::string>(value));
        break;
      default: {
        const auto& list = Get<std::vector<std::string>>(value);
        Header(kAnyArray, StringListBodySize(list));
        for (const std::string& item : list) {
          Header(kArrayValues, LenFieldSize(item.size()));
          String(kAnyString, item);
        }
      }
    }
  }

  void Attributes(uint8_t tag, const std::vector<Attribute>& attributes) {
    for (const Attribute& attribute : attributes) {
      const size_t value_size = AnyValueBodySize(attribute.value);
      Header(tag, OptionalStringSize(attribute.key) + LenFieldSize(value_size));
      OptionalString(kKeyValueKey, attribute.key);
      Header(kKeyValueValue, value_size);
      AnyValue(attribute.value);
    }
  }

  void Span(const SpanData& span, size_t body_size) {
    Header(kScopeSpansSpans, body_size);
    Bytes(kSpanTraceId, span.trace_id.bytes.data(), 16);
    Bytes(kSpanSpanId, span.span_id.bytes.data(), 8);
    OptionalString(kSpanTraceState, span.trace_state);
    if (span.parent_span_id.valid()) Bytes(kSpanParentSpanId, span.parent_span_id.bytes.data(), 8);
    OptionalString(kSpanName, span.name);
    const auto kind = static_cast<uint64_t>(span.kind);
    if (kind != 0) {
      Byte(kSpanKind);
      Varint(kind);
    }
    if (span.start_unix_nanos != 0) {
      Byte(kSpanStart);
      Fixed64(static_cast<uint64_t>(span.start_unix_nanos));
    }
    if (span.end_unix_nanos != 0) {
      Byte(kSpanEnd);
      Fixed64(static_cast<uint64_t>(span.end_unix_nanos));
    }
    Attributes(kSpanAttributes, span.attributes);
    if (span.dropped_attributes_count != 0) {
      Byte(kSpanDroppedAttributes);
      Varint(span.dropped_attributes_count);
    }
    for (const SpanEvent& event : span.events) {
      Header(kSpanEvents, EventBodySize(event));
      if (event.time_unix_nanos != 0) {
        Byte(kEventTime);
        Fixed64(static_cast<uint64_t>(event.time_unix_nanos));
      }
      OptionalString(kEventName, event.name);
      Attributes(kEventAttributes, event.attributes);
    }
    if (span.dropped_events_count != 0) {
      Byte(kSpanDroppedEvents);
      Varint(span.dropped_events_count);
    }
    if (HasStatus(span)) {
      Header(kSpanStatus, StatusBodySize(span));
      OptionalString(kStatusMessage, span.status_message);
      const auto code = static_cast<uint64_t>(span.status_code);
      if (code != 0) {
        Byte(kStatusCode);
        Varint(code);
      }
    }
    if (const uint32_t flags = SpanFlags(span); flags != 0) {
      Raw(kSpanFlagsTag, 2);
      Fixed32(flags);
    }
  }

 private:
  char* p_;
};

// The batch grouped by resource (encoding_util.h). Spans whose strings are all valid UTF-8 are
// encoded in place; the others through a sanitised copy kept alive in `storage`.
struct PreparedBatch {
  GroupedSpans grouped;
  std::vector<SpanData> storage;
};

void Prepare(std::span<const SpanData> spans, const ResourceInfo& own, PreparedBatch* batch) {
  GroupByResource(spans, own, &batch->grouped);
  std::vector<const SpanData*>& grouped = batch->grouped.spans;
  size_t invalid = 0;
  for (const SpanData* span : grouped) {
    if (!SpanHasValidUtf8(*span)) ++invalid;
  }
  if (invalid == 0) return;
  batch->storage.reserve(invalid);  // pointers into storage must stay stable
  for (const SpanData*& span : grouped) {
    if (!SpanHasValidUtf8(*span)) {
      batch->storage.push_back(SanitizedSpan(*span));
      span = &batch->storage.back();
    }
  }
}

// ---- Arena builder helpers ----------------------------------------------------------------
namespace otlp_common = ::opentelemetry::proto::common::v1;
namespace otlp_trace = ::opentelemetry::proto::trace::v1;

void FillAnyValue(const AttributeValue& value, otlp_common::AnyValue* out) {
  switch (value.index()) {
    case 0:
      out->set_bool_value(std::get<bool>(value));
      break;
    case 1:
      out->set_int_value(std::get<int64_t>(value));
      break;
    case 2:
      out->set_double_value(std::get<double>(value));
      break;
    case 3:
      out->set_string_value(std::get<std::string>(value));
      break;
    default: {
      otlp_common::ArrayValue* array = out->mutable_array_value();
      for (const std::string& item : std::get<std::vector<std::string>>(value)) {
        array->add_values()->set_string_value(item);
      }
    }
  }
}

void FillAttributes(const std::vector<Attribute>& attributes,
                    google::protobuf::RepeatedPtrField<otlp_common::KeyValue>* out) {
  out->Reserve(static_cast<int>(attributes.size()));
  for (const Attribute& attribute : attributes) {
    otlp_common::KeyValue* kv = out->Add();
    kv->set_key(attribute.key.data(), attribute.key.size());
    FillAnyValue(attribute.value, kv->mutable_value());
  }
}

void FillSpan(const SpanData& span, otlp_trace::Span* out) {
  out->set_trace_id(span.trace_id.bytes.data(), 16);
  out->set_span_id(span.span_id.bytes.data(), 8);
  out->set_trace_state(span.trace_state);
  if (span.parent_span_id.valid()) out->set_parent_span_id(span.parent_span_id.bytes.data(), 8);
  out->set_name(span.name);
  out->set_kind(static_cast<otlp_trace::Span::SpanKind>(span.kind));
  out->set_start_time_unix_nano(static_cast<uint64_t>(span.start_unix_nanos));
  out->set_end_time_unix_nano(static_cast<uint64_t>(span.end_unix_nanos));
  FillAttributes(span.attributes, out->mutable_attributes());
  out->set_dropped_attributes_count(span.dropped_attributes_count);
  for (const SpanEvent& event : span.events) {
    otlp_trace::Span::Event* e = out->add_events();
    e->set_time_unix_nano(static_cast<uint64_t>(event.time_unix_nanos));
    e->set_name(event.name.data(), event.name.size());
    FillAttributes(event.attributes, e->mutable_attributes());
  }
  out->set_dropped_events_count(span.dropped_events_count);
  if (HasStatus(span)) {
    otlp_trace::Status* status = out->mutable_status();
    status->set_message(span.status_message);
    status->set_code(static_cast<otlp_trace::Status::StatusCode>(span.status_code));
  }
  out->set_flags(SpanFlags(span));
}

}  // namespace

void EncodeOtlpProto(std::span<const SpanData> spans, const ResourceInfo& resource,
                     std::string* out) {
  if (spans.empty()) {
    out->clear();
    return;
  }
  PreparedBatch batch;
  Prepare(spans, resource, &batch);
  const std::vector<const SpanData*>& grouped = batch.grouped.spans;

  // Sizes first: every length prefix must be known before its message is written.
  struct GroupSizes {
    size_t resource = 0;        // Resource body
    size_t scope_spans = 0;     // ScopeSpans body
    size_t resource_spans = 0;  // ResourceSpans body
  };
  absl::InlinedVector<GroupSizes, 1> group_sizes(batch.grouped.groups.size());
  std::vector<size_t> span_sizes(grouped.size());
  size_t total = 0;
  for (size_t g = 0; g < batch.grouped.groups.size(); ++g) {
    const ResourceGroup& group = batch.grouped.groups[g];
    GroupSizes& sizes = group_sizes[g];
    sizes.scope_spans = LenFieldSize(ScopeBodySize(*group.resource));
    for (size_t i = group.begin; i < group.end; ++i) {
      span_sizes[i] = SpanBodySize(*grouped[i]);
      sizes.scope_spans += LenFieldSize(span_sizes[i]);
    }
    sizes.resource = AttributesSize(group.resource->attributes);
    sizes.resource_spans = LenFieldSize(sizes.resource) + LenFieldSize(sizes.scope_spans);
    total += LenFieldSize(sizes.resource_spans);
  }

  // Every byte is overwritten below. Not clearing first means a buffer reused across batches
  // (the exporter's) only zero-fills the part by which it grows.
  out->resize(total);
  WireWriter w(out->data());
  for (size_t g = 0; g < batch.grouped.groups.size(); ++g) {
    const ResourceGroup& group = batch.grouped.groups[g];
    const ResourceInfo& r = *group.resource;
    const GroupSizes& sizes = group_sizes[g];
    w.Header(kRequestResourceSpans, sizes.resource_spans);
    w.Header(kResourceSpansResource, sizes.resource);
    w.Attributes(kResourceAttributes, r.attributes);
    w.Header(kResourceSpansScopeSpans, sizes.scope_spans);
    w.Header(kScopeSpansScope, ScopeBodySize(r));
    w.OptionalString(kScopeName, r.scope_name);
    w.OptionalString(kScopeVersion, r.scope_version);
    for (size_t i = group.begin; i < group.end; ++i) w.Span(*grouped[i], span_sizes[i]);
  }
  // A mismatch between the size and write passes is a programming error, never input-driven.
  if (w.position() != out->data() + total) std::abort();
}

std::string EncodeOtlpProto(std::span<const SpanData> spans, const ResourceInfo& resource) {
  std::string out;
  EncodeOtlpProto(spans, resource, &out);
  return out;
}

opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* BuildOtlpProtoRequest(
    std::span<const SpanData> spans, const ResourceInfo& resource, google::protobuf::Arena* arena) {
  using Request = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
  Request* request = google::protobuf::Arena::CreateMessage<Request>(arena);
  if (spans.empty()) return request;
  PreparedBatch batch;
  Prepare(spans, resource, &batch);
  request->mutable_resource_spans()->Reserve(static_cast<int>(batch.grouped.groups.size()));
  for (const ResourceGroup& group : batch.grouped.groups) {
    const ResourceInfo& r = *group.resource;
    otlp_trace::ResourceSpans* resource_spans = request->add_resource_spans();
    FillAttributes(r.attributes, resource_spans->mutable_resource()->mutable_attributes());
    otlp_trace::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
    scope_spans->mutable_scope()->set_name(r.scope_name);
    scope_spans->mutable_scope()->set_version(r.scope_version);
    scope_spans->mutable_spans()->Reserve(static_cast<int>(group.end - group.begin));
    for (size_t i = group.begin; i < group.end; ++i) {
      FillSpan(*batch.grouped.spans[i], scope_spans->add_spans());
    }
  }
  return request;
}

}  // namespace genops::exporter
