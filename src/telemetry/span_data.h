// SpanData: one finished span, the unit that processors and exporters move around.
//
// It is deliberately a plain struct: built by the SDK's span (src/sdk), limited by
// SpanLimits, sampled, queued by the batch processor and encoded by exporters.
//
// Thread safety: a plain value type; not synchronised.
#ifndef GENOPS_TELEMETRY_SPAN_DATA_H_
#define GENOPS_TELEMETRY_SPAN_DATA_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace genops::telemetry {

using AttributeValue =
    std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

struct Attribute {
  std::string key;
  AttributeValue value;
};

struct SpanEvent {
  std::string name;
  int64_t time_unix_nanos = 0;
  std::vector<Attribute> attributes;
};

// Values match the OTLP Span.SpanKind enum.
enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
// Values match the OTLP Status.StatusCode enum.
enum class StatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

struct TraceId {
  std::array<uint8_t, 16> bytes{};
  bool valid() const;
  std::string ToHex() const;
  static bool FromHex(std::string_view hex, TraceId* out);
  bool operator==(const TraceId&) const = default;
};

struct SpanId {
  std::array<uint8_t, 8> bytes{};
  bool valid() const;
  std::string ToHex() const;
  static bool FromHex(std::string_view hex, SpanId* out);
  bool operator==(const SpanId&) const = default;
};

struct SpanData {
  TraceId trace_id;
  SpanId span_id;
  SpanId parent_span_id;  // all zero for a root span
  std::string trace_state;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  std::vector<Attribute> attributes;
  std::vector<SpanEvent> events;
  StatusCode status_code = StatusCode::kUnset;
  std::string status_message;
  uint32_t dropped_attributes_count = 0;
  uint32_t dropped_events_count = 0;
  bool sampled = true;

  // First attribute with `key`, or nullptr.
  const AttributeValue* FindAttribute(std::string_view key) const;
};

// Describes the process emitting spans (OTLP Resource) and the library (InstrumentationScope).
struct ResourceInfo {
  std::vector<Attribute> attributes;  // service.name, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES
  std::string scope_name = "genops";
  std::string scope_version;
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_SPAN_DATA_H_
