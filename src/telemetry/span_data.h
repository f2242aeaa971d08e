// SpanData: one finished span, the unit that processors and exporters move around.
//
// It is deliberately a plain struct: built by the SDK's span (src/sdk), limited by
// SpanLimits, sampled, queued by the batch processor and encoded by exporters.
//
// Thread safety: a plain value type; not synchronised.
#ifndef GENOPS_TELEMETRY_SPAN_DATA_H_
#define GENOPS_TELEMETRY_SPAN_DATA_H_

#include <array>
#include <compare>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace genops::telemetry {

using AttributeValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

// AttributeKey: an attribute key (or event name) that either refers to a string with static
// storage duration or owns a copy.
//
// Why: one governed operation writes ~40 attribute keys and a few event names, almost all of
// them semantic-convention constants (semconv.h) longer than std::string's small buffer. Owning
// copies of them was a fifth of every allocation on the SDK's hot path. Static() keys cost a
// pointer and a length; everything else (user keys, "genops.tag.<k>", keys parsed from the
// environment or a sanitizer) is owned, so nothing can dangle.
//
// Implicit construction from std::string / std::string_view / const char* always OWNS a copy:
// only Static() may refer to storage it does not own, and its argument must outlive every
// span (a string literal or an `inline constexpr std::string_view` such as the semconv keys).
// The view is computed on each call from the owned string, so copies and moves stay correct.
//
// Example:
//   span.attributes.push_back({AttributeKey::Static(semconv::kGenAiRequestModel), model});
//   span.attributes.push_back({Cat("genops.tag.", tag), value});  // owned
//
// Thread safety: a value type; const methods may be called concurrently.
class AttributeKey {
 public:
  AttributeKey() = default;
  AttributeKey(std::string key) : owned_(std::move(key)) {}  // NOLINT: implicit by design
  AttributeKey(std::string_view key) : owned_(key) {}        // NOLINT: implicit by design
  AttributeKey(const char* key) : owned_(key) {}             // NOLINT: implicit by design

  // Refers to `key` without copying it; `key` must have static storage duration.
  static AttributeKey Static(std::string_view key) noexcept {
    AttributeKey k;
    k.static_ = key;
    k.is_static_ = true;
    return k;
  }

  std::string_view view() const noexcept { return is_static_ ? static_ : std::string_view(owned_); }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design
  std::string str() const { return std::string(view()); }
  const char* data() const noexcept { return view().data(); }
  size_t size() const noexcept { return view().size(); }
  bool empty() const noexcept { return view().empty(); }
  bool is_static() const noexcept { return is_static_; }

  friend bool operator==(const AttributeKey& a, const AttributeKey& b) noexcept {
    return a.view() == b.view();
  }
  friend bool operator==(const AttributeKey& a, std::string_view b) noexcept {
    return a.view() == b;
  }
  friend bool operator==(const AttributeKey& a, const std::string& b) noexcept {
    return a.view() == std::string_view(b);
  }
  friend bool operator==(const AttributeKey& a, const char* b) noexcept {
    return a.view() == std::string_view(b);
  }
  friend auto operator<=>(const AttributeKey& a, const AttributeKey& b) noexcept {
    return a.view() <=> b.view();
  }
  friend std::ostream& operator<<(std::ostream& os, const AttributeKey& key) {
    return os << key.view();
  }

 private:
  std::string owned_;
  std::string_view static_;
  bool is_static_ = false;
};

struct Attribute {
  AttributeKey key;
  AttributeValue value;
};

// Event names are mostly semantic-convention constants too (semconv::kEvent*).
using EventName = AttributeKey;

struct SpanEvent {
  EventName name;
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
