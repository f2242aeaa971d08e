// SpanData: one finished span, the unit that processors and exporters move around.
//
// It is deliberately a plain struct: built by the SDK's span (src/sdk) or decoded by the OTLP
// receiver (src/receiver), limited by SpanLimits, sampled, queued by the batch processor and
// encoded by exporters.
//
// Thread safety: a plain value type; not synchronised.
#ifndef GENOPS_TELEMETRY_SPAN_DATA_H_
#define GENOPS_TELEMETRY_SPAN_DATA_H_

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
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
// environment or a sanitizer) is owned, so nothing can dangle. Owned keys of up to
// kInlineCapacity (31) bytes live inside the key itself, so typical user keys
// ("business.customer_tier") allocate nothing either; longer ones are copied to the heap.
//
// The key is 32 bytes (an Attribute is 72): spans carry ~50 attributes, and the vectors holding
// them are what the SDK's hot path and the export thread move around.
//
// Implicit construction from std::string / std::string_view / const char* always OWNS a copy:
// only Static() may refer to storage it does not own, and its argument must outlive every
// span (a string literal or an `inline constexpr std::string_view` such as the semconv keys).
// The view is computed on each call from the current representation, so copies and moves stay
// correct. data() is not NUL-terminated: always pair it with size().
//
// Example:
//   span.attributes.push_back({AttributeKey::Static(semconv::kGenAiRequestModel), model});
//   span.attributes.push_back({Cat("genops.tag.", tag), value});  // owned
//
// Thread safety: a value type; const methods may be called concurrently.
class AttributeKey {
 public:
  static constexpr size_t kInlineCapacity = 31;

  AttributeKey() noexcept { bytes_[kTagByte] = 0; }
  AttributeKey(const std::string& key) { Own(key); }  // NOLINT: implicit by design
  AttributeKey(std::string_view key) { Own(key); }    // NOLINT: implicit by design
  AttributeKey(const char* key) { Own(key); }         // NOLINT: implicit by design
  AttributeKey(const AttributeKey& other) { CopyFrom(other); }
  AttributeKey(AttributeKey&& other) noexcept { StealFrom(other); }
  AttributeKey& operator=(const AttributeKey& other) {
    if (this != &other) {
      AttributeKey copy(other);
      Release();
      StealFrom(copy);
    }
    return *this;
  }
  AttributeKey& operator=(AttributeKey&& other) noexcept {
    if (this != &other) {
      Release();
      StealFrom(other);
    }
    return *this;
  }
  ~AttributeKey() { Release(); }

  // Refers to `key` without copying it; `key` must have static storage duration.
  static AttributeKey Static(std::string_view key) noexcept {
    AttributeKey k;
    k.SetExternal(key.data(), key.size(), kStaticTag);
    return k;
  }

  // *this = Static(key), without building and destroying a temporary (span builders
  // overwrite recycled attributes with it).
  void AssignStatic(std::string_view key) noexcept {
    Release();
    SetExternal(key.data(), key.size(), kStaticTag);
  }

  std::string_view view() const noexcept {
    const uint8_t tag = Tag();
    if (tag <= kInlineCapacity) return std::string_view(bytes_, tag);
    return std::string_view(ExternalData(), ExternalSize());
  }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design
  std::string str() const { return std::string(view()); }
  const char* data() const noexcept { return view().data(); }
  size_t size() const noexcept { return view().size(); }
  bool empty() const noexcept { return view().empty(); }
  bool is_static() const noexcept { return Tag() == kStaticTag; }

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
  // bytes_[kTagByte] says what the other bytes hold:
  //   0..kInlineCapacity  an owned key of that many bytes, stored in bytes_ itself;
  //   kStaticTag          a pointer and a size (bytes 0-15) referring to static storage;
  //   kHeapTag            a pointer and a size referring to an owned new[] copy.
  static constexpr size_t kTagByte = 31;
  static constexpr uint8_t kStaticTag = 0x80;
  static constexpr uint8_t kHeapTag = 0x81;

  uint8_t Tag() const noexcept { return static_cast<uint8_t>(bytes_[kTagByte]); }
  const char* ExternalData() const noexcept {
    const char* p;
    std::memcpy(&p, bytes_, sizeof(p));
    return p;
  }
  size_t ExternalSize() const noexcept {
    size_t n;
    std::memcpy(&n, bytes_ + sizeof(const char*), sizeof(n));
    return n;
  }
  void SetExternal(const char* p, size_t n, uint8_t tag) noexcept {
    std::memcpy(bytes_, &p, sizeof(p));
    std::memcpy(bytes_ + sizeof(p), &n, sizeof(n));
    bytes_[kTagByte] = static_cast<char>(tag);
  }
  void Own(std::string_view key) {
    if (key.size() <= kInlineCapacity) {
      if (!key.empty()) std::memcpy(bytes_, key.data(), key.size());
      bytes_[kTagByte] = static_cast<char>(key.size());
      return;
    }
    char* copy = new char[key.size()];
    std::memcpy(copy, key.data(), key.size());
    SetExternal(copy, key.size(), kHeapTag);
  }
  void CopyFrom(const AttributeKey& other) {
    if (other.Tag() == kHeapTag) {
      Own(other.view());
    } else {
      std::memcpy(bytes_, other.bytes_, sizeof(bytes_));
    }
  }
  void StealFrom(AttributeKey& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof(bytes_));
    other.bytes_[kTagByte] = 0;  // the source is now empty and owns nothing
  }
  void Release() noexcept {
    if (Tag() == kHeapTag) delete[] ExternalData();
  }

  alignas(8) char bytes_[32];
};
static_assert(sizeof(AttributeKey) == 32, "see the class comment: spans hold ~50 keys");

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

// Writes the 2 * size lowercase hex digits of `bytes` to `out` (not NUL-terminated).
void HexEncode(const uint8_t* bytes, size_t size, char* out) noexcept;

struct TraceId {
  std::array<uint8_t, 16> bytes{};
  bool valid() const;
  std::string ToHex() const;
  void ToHex(std::string* out) const;  // reuses *out's buffer
  static bool FromHex(std::string_view hex, TraceId* out);
  bool operator==(const TraceId&) const = default;
};

struct SpanId {
  std::array<uint8_t, 8> bytes{};
  bool valid() const;
  std::string ToHex() const;
  void ToHex(std::string* out) const;  // reuses *out's buffer
  static bool FromHex(std::string_view hex, SpanId* out);
  bool operator==(const SpanId&) const = default;
};

// Describes the process emitting spans (OTLP Resource) and the library (InstrumentationScope):
// GenOps' own (telemetry/resource.h), or a received span's as SpanData::origin. Schema URLs,
// scope attributes and dropped_attributes_count are not carried (the OTLP decoder drops them).
struct ResourceInfo {
  std::vector<Attribute> attributes;  // service.name, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES
  std::string scope_name = "genops";
  std::string scope_version;
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
  // The resource and instrumentation scope of the application that produced a span received
  // from outside (the OTLP receiver); null for spans made in this process, which exporters
  // label with their own resource. Exporters keep it, so a forwarded span reaches the backend
  // under its application's service.name and scope, not GenOps'. Shared (and immutable) because
  // every span of one received (resource, scope) group points at the same one; exporters group
  // a batch into OTLP ResourceSpans by this pointer.
  std::shared_ptr<const ResourceInfo> origin;

  // First attribute with `key`, or nullptr.
  const AttributeValue* FindAttribute(std::string_view key) const;
};

}  // namespace genops::telemetry

#endif  // GENOPS_TELEMETRY_SPAN_DATA_H_
