#include "src/receiver/otlp_decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "src/core/json_depth.h"
#include "src/core/text.h"
#include "src/export/encoding_util.h"
#include "src/telemetry/aggregate_fields.h"

namespace genops::receiver {
namespace {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::ResourceInfo;
using telemetry::SpanData;
using telemetry::SpanEvent;
using telemetry::SpanKind;
using telemetry::StatusCode;

// ---- Shared: where we are, for error messages ----------------------------------------------

// One step of the path to the value being decoded: "spans[3]", "attributes[2] (key "x")".
struct Frame {
  std::string_view field;
  int64_t index = -1;    // -1: not a repeated field
  std::string_view key;  // the attribute key, once known
};

// The path to the value being decoded. A fixed array rather than a vector: a push per
// attribute is on the hot path. Frames deeper than kCapacity are counted, not stored (the
// decoders' depth limits keep real paths far shorter).
class FrameStack {
 public:
  static constexpr size_t kCapacity = 64;

  void Push(std::string_view field, int64_t index) {
    if (size_ < kCapacity) frames_[size_] = Frame{field, index, {}};
    ++size_;
  }
  void Pop() { --size_; }
  // The innermost stored frame (a scratch frame when the stack is deeper than kCapacity).
  Frame& back() { return size_ <= kCapacity ? frames_[size_ - 1] : scratch_; }

  std::string Format() const {
    if (size_ == 0) return "the request";
    std::string path;
    for (size_t k = 0; k < std::min(size_, kCapacity); ++k) {
      const Frame& f = frames_[k];
      if (!path.empty()) path += '.';
      path += f.field;
      if (f.index >= 0) path += Cat("[", f.index, "]");
      if (!f.key.empty()) {
        std::string_view key = f.key.substr(0, 80);
        path += Cat(" (key \"", exporter::SanitizeUtf8(key), f.key.size() > 80 ? "...\")" : "\")");
      }
    }
    if (size_ > kCapacity) path += "...";
    return path;
  }

 private:
  std::array<Frame, kCapacity> frames_;
  Frame scratch_;
  size_t size_ = 0;
};

// Scoped push of a path frame.
class FrameGuard {
 public:
  FrameGuard(FrameStack& frames, std::string_view field, int64_t index = -1) : frames_(frames) {
    frames_.Push(field, index);
  }
  ~FrameGuard() { frames_.Pop(); }
  FrameGuard(const FrameGuard&) = delete;
  FrameGuard& operator=(const FrameGuard&) = delete;

 private:
  FrameStack& frames_;
};

// ---- Shared: values the span model cannot hold, as text -----------------------------------

void AppendValueJson(const AttributeValue& value, std::string* out);

void AppendJsonText(std::string_view text, std::string* out) {
  if (exporter::IsValidUtf8(text)) {
    exporter::AppendJsonString(text, out);
  } else {
    exporter::AppendJsonString(exporter::SanitizeUtf8(text), out);
  }
}

void AppendValueJson(const AttributeValue& value, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    AppendJsonText(*s, out);
  } else if (const auto* b = std::get_if<bool>(&value)) {
    out->append(*b ? "true" : "false");
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    exporter::AppendInt(*i, out);
  } else if (const auto* d = std::get_if<double>(&value)) {
    exporter::AppendJsonDouble(*d, out);
  } else if (const auto* v = std::get_if<std::vector<std::string>>(&value)) {
    out->push_back('[');
    for (size_t k = 0; k < v->size(); ++k) {
      if (k != 0) out->push_back(',');
      AppendJsonText((*v)[k], out);
    }
    out->push_back(']');
  }
}

// The text of one element of a converted array.
std::string ValueText(AttributeValue&& value) {
  if (auto* s = std::get_if<std::string>(&value)) return std::move(*s);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  std::string out;
  AppendValueJson(value, &out);
  return out;
}

// Turns decoded array elements into the span model's string array.
AttributeValue ArrayFromElements(std::vector<AttributeValue>&& elements, uint64_t* converted) {
  std::vector<std::string> strings;
  strings.reserve(elements.size());
  bool all_strings = true;
  for (AttributeValue& e : elements) {
    if (!std::holds_alternative<std::string>(e)) all_strings = false;
    strings.push_back(ValueText(std::move(e)));
  }
  if (!all_strings) ++*converted;
  return strings;
}

// A key-value list as a JSON object string.
AttributeValue KvListToJson(const std::vector<std::pair<std::string, AttributeValue>>& entries,
                            uint64_t* converted) {
  std::string json = "{";
  for (size_t k = 0; k < entries.size(); ++k) {
    if (k != 0) json.push_back(',');
    AppendJsonText(entries[k].first, &json);
    json.push_back(':');
    AppendValueJson(entries[k].second, &json);
  }
  json.push_back('}');
  ++*converted;
  return json;
}

std::string Base64(std::string_view bytes) {
  return absl::Base64Escape(absl::string_view(bytes.data(), bytes.size()));
}

int64_t ClampToInt64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

SpanKind KindFromInt(int64_t v) {
  return (v >= 1 && v <= 5) ? static_cast<SpanKind>(v) : SpanKind::kInternal;
}
StatusCode StatusFromInt(int64_t v) {
  return (v >= 0 && v <= 2) ? static_cast<StatusCode>(v) : StatusCode::kUnset;
}

// *value = std::string(text), reusing the buffer of a string *value already holds (decoding
// writes over the attributes of recycled spans, whose values keep their capacity).
void AssignString(AttributeValue* value, std::string_view text) {
  if (auto* s = std::get_if<std::string>(value)) {
    s->assign(text.data(), text.size());
  } else {
    value->emplace<std::string>(text);
  }
}

// *key = AttributeKey(text), unless it already is: the recycled spans' keys are mostly the
// ones being decoded, so this skips copying (and, above 31 bytes, allocating) them.
void AssignKey(telemetry::AttributeKey* key, std::string_view text) {
  if (key->view() != text) *key = telemetry::AttributeKey(text);
}

// The element `*used` of `items` (an existing one, to be written over, or a new one), and
// ++*used. The caller erases the elements from *used on (keeping some as spares) once the
// message is decoded.
template <typename T>
T& NextElement(std::vector<T>& items, size_t* used) {
  T& item = *used < items.size() ? items[*used] : items.emplace_back();
  ++*used;
  return item;
}

template <typename T>
void EraseFrom(std::vector<T>& items, size_t used) {
  if (used < items.size()) items.erase(items.begin() + static_cast<ptrdiff_t>(used), items.end());
}

// `span` as a default-constructed SpanData, except that its attributes and events (and the
// buffers of its strings) stay for the decoder to write over; the decoder erases the surplus.
void ResetForDecoding(SpanData& span) {
  static_assert(telemetry::CountFields<SpanData>() == 16, "a field was added: reset it here");
  span.trace_id = telemetry::TraceId();
  span.span_id = telemetry::SpanId();
  span.parent_span_id = telemetry::SpanId();
  span.trace_state.clear();
  span.name.clear();
  span.kind = SpanKind::kInternal;
  span.start_unix_nanos = 0;
  span.end_unix_nanos = 0;
  span.status_code = StatusCode::kUnset;
  span.status_message.clear();
  span.dropped_attributes_count = 0;
  span.dropped_events_count = 0;
  span.sampled = true;
  span.origin.reset();
}

// ======================================================================================
// Protobuf
// ======================================================================================

constexpr int kWireVarint = 0;
constexpr int kWireFixed64 = 1;
constexpr int kWireLen = 2;
constexpr int kWireStartGroup = 3;
constexpr int kWireEndGroup = 4;
constexpr int kWireFixed32 = 5;
constexpr int kMaxGroupDepth = 32;
// A span whose attribute vector has room for this many attributes is decoded without counting
// them first (the vector grows if it must).
constexpr size_t kRecycledAttributeCapacity = 32;

// A view of one message's bytes.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  bool done() const { return p >= end; }
};

class ProtoDecoder {
 public:
  ProtoDecoder(std::string_view body, const DecodeLimits& limits, DecodedTraces* out)
      : begin_(reinterpret_cast<const uint8_t*>(body.data())),
        size_(body.size()),
        limits_(limits),
        out_(out) {}

  absl::Status Run() {
    Cursor c{begin_, begin_ + size_};
    int64_t index = 0;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return status_;
      if (field == 1 && wt == kWireLen) {
        FrameGuard g(frames_, "resource_spans", index++);
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return status_;
        if (!ResourceSpans(sub)) return status_;
      } else if (!Skip(c, field, wt)) {
        return status_;
      }
    }
    EraseFrom(out_->batches, batches_used_);
    return absl::OkStatus();
  }

 private:
  bool Fail(const uint8_t* at, std::string_view what) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(Cat("otlp protobuf: ", what, " at byte ", at - begin_,
                                               " of ", size_, ", in ", frames_.Format()));
    }
    return false;
  }

  bool Varint(Cursor& c, uint64_t* v) {
    uint64_t result = 0;
    const uint8_t* start = c.p;
    for (int shift = 0; shift < 64; shift += 7) {
      if (c.p >= c.end) return Fail(start, "truncated varint");
      const uint8_t byte = *c.p++;
      // Like libprotobuf, bits beyond the 64th in the tenth byte are dropped.
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return Fail(start, "varint longer than 10 bytes");
  }

  bool Tag(Cursor& c, uint32_t* field, int* wire_type) {
    const uint8_t* start = c.p;
    uint64_t v = 0;
    if (!Varint(c, &v)) return false;
    // Like libprotobuf, a tag is the low 32 bits of its varint.
    const uint32_t tag = static_cast<uint32_t>(v);
    if ((tag >> 3) == 0) return Fail(start, Cat("invalid field tag ", tag, " (field number 0)"));
    *field = tag >> 3;
    *wire_type = static_cast<int>(tag & 7);
    return true;
  }

  bool Len(Cursor& c, Cursor* sub) {
    const uint8_t* start = c.p;
    uint64_t n = 0;
    if (!Varint(c, &n)) return false;
    const uint64_t remaining = static_cast<uint64_t>(c.end - c.p);
    if (n > remaining) {
      return Fail(start, Cat("truncated length-delimited field (declares ", n, " bytes, ",
                             remaining, " remain)"));
    }
    sub->p = c.p;
    sub->end = c.p + n;
    c.p += n;
    return true;
  }

  bool Fixed64(Cursor& c, uint64_t* v) {
    if (c.end - c.p < 8) return Fail(c.p, "truncated fixed64");
    std::memcpy(v, c.p, 8);
    c.p += 8;
    return true;
  }

  bool Fixed32(Cursor& c, uint32_t* v) {
    if (c.end - c.p < 4) return Fail(c.p, "truncated fixed32");
    std::memcpy(v, c.p, 4);
    c.p += 4;
    return true;
  }

  // Skips a field whose number this decoder does not use (or whose wire type is not the one
  // the .proto declares: libprotobuf keeps such a field as unknown, and so do we).
  bool Skip(Cursor& c, uint32_t field, int wt, int depth = 0) {
    switch (wt) {
      case kWireVarint: {
        uint64_t v = 0;
        return Varint(c, &v);
      }
      case kWireFixed64: {
        uint64_t v = 0;
        return Fixed64(c, &v);
      }
      case kWireLen: {
        Cursor sub{nullptr, nullptr};
        return Len(c, &sub);
      }
      case kWireFixed32: {
        uint32_t v = 0;
        return Fixed32(c, &v);
      }
      case kWireStartGroup: {
        if (depth >= kMaxGroupDepth) return Fail(c.p, "groups nested too deeply");
        while (true) {
          if (c.done()) return Fail(c.p, Cat("unterminated group (field ", field, ")"));
          uint32_t inner = 0;
          int inner_wt = 0;
          if (!Tag(c, &inner, &inner_wt)) return false;
          if (inner_wt == kWireEndGroup) {
            if (inner != field) return Fail(c.p, "mismatched end of group");
            return true;
          }
          if (!Skip(c, inner, inner_wt, depth + 1)) return false;
        }
      }
      case kWireEndGroup:
        return Fail(c.p, Cat("unexpected end of group (field ", field, ")"));
      default:
        return Fail(c.p, Cat("invalid wire type ", wt, " (field ", field, ")"));
    }
  }

  // How many length-delimited fields numbered `field` the message in `c` holds at its top
  // level (a pre-scan to size vectors). Stops quietly at malformed input, which the decoding
  // pass then reports.
  // With `other`, also counts the fields numbered `other` into *other_count.
  static size_t CountFields(Cursor c, uint32_t field, uint32_t other = 0,
                            size_t* other_count = nullptr) {
    size_t count = 0;
    while (c.p < c.end) {
      uint64_t tag = 0;
      if (!QuickVarint(c, &tag)) break;
      const int wt = static_cast<int>(tag & 7);
      if (wt == kWireLen) {
        uint64_t n = 0;
        if (!QuickVarint(c, &n) || n > static_cast<uint64_t>(c.end - c.p)) break;
        c.p += n;
        if ((tag >> 3) == field) {
          ++count;
        } else if (other_count != nullptr && (tag >> 3) == other) {
          ++*other_count;
        }
      } else if (wt == kWireVarint) {
        uint64_t v = 0;
        if (!QuickVarint(c, &v)) break;
      } else if (wt == kWireFixed64) {
        if (c.end - c.p < 8) break;
        c.p += 8;
      } else if (wt == kWireFixed32) {
        if (c.end - c.p < 4) break;
        c.p += 4;
      } else {
        break;  // groups and invalid wire types: leave them to the decoding pass
      }
    }
    return count;
  }

  static bool QuickVarint(Cursor& c, uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && c.p < c.end; shift += 7) {
      const uint8_t byte = *c.p++;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }

  bool CheckString(const Cursor& sub, size_t limit, std::string_view what) {
    const size_t n = static_cast<size_t>(sub.end - sub.p);
    if (n > limit) {
      return Fail(sub.p, Cat(what, " of ", n, " bytes exceeds the limit of ", limit, " bytes"));
    }
    return true;
  }

  static std::string_view View(const Cursor& sub) {
    return std::string_view(reinterpret_cast<const char*>(sub.p),
                            static_cast<size_t>(sub.end - sub.p));
  }

  template <size_t N>
  bool Id(const Cursor& sub, std::array<uint8_t, N>* out, std::string_view what) {
    const size_t n = static_cast<size_t>(sub.end - sub.p);
    if (n == 0) {
      out->fill(0);
      return true;
    }
    if (n != N) return Fail(sub.p, Cat(what, " has ", n, " bytes; it must have ", N));
    std::memcpy(out->data(), sub.p, N);
    return true;
  }

  bool ResourceSpans(Cursor c) {
    const size_t first_batch = batches_used_;
    std::vector<Attribute> resource_attributes;
    size_t resource_attributes_used = 0;
    int64_t scope_index = 0;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireLen) {  // resource
        FrameGuard g(frames_, "resource");
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!Resource(sub, &resource_attributes, &resource_attributes_used)) return false;
      } else if (field == 2 && wt == kWireLen) {  // scope_spans
        FrameGuard g(frames_, "scope_spans", scope_index++);
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!ScopeSpans(sub)) return false;
      } else if (!Skip(c, field, wt)) {  // schema_url and unknown fields
        return false;
      }
    }
    // The resource may come after its scope spans on the wire: attach it at the end.
    for (size_t k = first_batch; k < batches_used_; ++k) {
      if (k + 1 == batches_used_) {
        out_->batches[k].resource.attributes = std::move(resource_attributes);
      } else {
        out_->batches[k].resource.attributes = resource_attributes;
      }
    }
    return true;
  }

  bool Resource(Cursor c, std::vector<Attribute>* attributes, size_t* used) {
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireLen) {
        if (!KeyValueInto(c, attributes, used)) return false;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    return true;
  }

  bool ScopeSpans(Cursor c) {
    // A batch of an earlier request is written over (its spans' buffers reused).
    ScopeSpansBatch& batch = NextElement(out_->batches, &batches_used_);
    batch.resource.scope_name.clear();
    batch.resource.scope_version.clear();
    batch.resource.attributes.clear();  // ResourceSpans sets them
    // out_->batches may reallocate while spans are decoded below: keep the index.
    const size_t batch_index = batches_used_ - 1;
    batch.spans.reserve(std::min(CountFields(c, 2), limits_.max_spans));
    size_t spans_used = 0;
    int64_t span_index = 0;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireLen) {  // scope
        FrameGuard g(frames_, "scope");
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!Scope(sub, &out_->batches[batch_index].resource)) return false;
      } else if (field == 2 && wt == kWireLen) {  // spans
        FrameGuard g(frames_, "spans", span_index++);
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (out_->span_count >= limits_.max_spans) {
          return Fail(sub.p, Cat("more than ", limits_.max_spans, " spans in one request"));
        }
        std::vector<SpanData>& spans = out_->batches[batch_index].spans;
        SpanData& span = NextElement(spans, &spans_used);
        ResetForDecoding(span);
        ++out_->span_count;
        if (!Span(sub, &span)) return false;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    EraseFrom(out_->batches[batch_index].spans, spans_used);
    return true;
  }

  bool Scope(Cursor c, ResourceInfo* resource) {
    size_t attributes = 0;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if ((field == 1 || field == 2) && wt == kWireLen) {
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!CheckString(sub, limits_.max_key_bytes, field == 1 ? "scope name" : "scope version")) {
          return false;
        }
        (field == 1 ? resource->scope_name : resource->scope_version).assign(View(sub));
      } else if (field == 3 && wt == kWireLen) {
        // Scope attributes are not kept (the span model has no room for them); count them.
        if (++attributes > limits_.max_attributes) {
          return Fail(c.p, Cat("more than ", limits_.max_attributes, " scope attributes"));
        }
        if (!Skip(c, field, wt)) return false;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    return true;
  }

  bool Span(Cursor c, SpanData* span) {
    span->sampled = true;
    if (span->attributes.capacity() < kRecycledAttributeCapacity) {
      // Reserve the attribute and event vectors: growing them one by one was a tenth of the
      // decoding time (each growth moves every attribute). A recycled span (see
      // DecodeOtlpProto) mostly has the room already, and the pre-scan costs a pass.
      size_t events = 0;
      const size_t attributes = CountFields(c, 9, 11, &events);
      span->attributes.reserve(std::min(attributes, limits_.max_attributes));
      span->events.reserve(std::min(events, limits_.max_events_per_span));
    }
    // The span's attributes and events are written over, then the surplus erased.
    size_t attributes_used = 0;
    size_t events_used = 0;
    int64_t event_index = 0;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      switch (field) {
        case 1:  // trace_id
        case 2:  // span_id
        case 3:  // trace_state
        case 4:  // parent_span_id
        case 5:  // name
          if (wt == kWireLen) {
            Cursor sub{nullptr, nullptr};
            if (!Len(c, &sub)) return false;
            if (field == 1) {
              FrameGuard g(frames_, "trace_id");
              if (!Id(sub, &span->trace_id.bytes, "trace_id")) return false;
            } else if (field == 2) {
              FrameGuard g(frames_, "span_id");
              if (!Id(sub, &span->span_id.bytes, "span_id")) return false;
            } else if (field == 4) {
              FrameGuard g(frames_, "parent_span_id");
              if (!Id(sub, &span->parent_span_id.bytes, "parent_span_id")) return false;
            } else {
              FrameGuard g(frames_, field == 3 ? "trace_state" : "name");
              if (!CheckString(sub, limits_.max_value_bytes, field == 3 ? "trace_state" : "name")) {
                return false;
              }
              (field == 3 ? span->trace_state : span->name).assign(View(sub));
            }
            continue;
          }
          break;
        case 6:  // kind
          if (wt == kWireVarint) {
            uint64_t v = 0;
            if (!Varint(c, &v)) return false;
            span->kind = KindFromInt(static_cast<int64_t>(v));
            continue;
          }
          break;
        case 7:  // start_time_unix_nano
        case 8:  // end_time_unix_nano
          if (wt == kWireFixed64) {
            uint64_t v = 0;
            if (!Fixed64(c, &v)) return false;
            (field == 7 ? span->start_unix_nanos : span->end_unix_nanos) = ClampToInt64(v);
            continue;
          }
          break;
        case 9:  // attributes
          if (wt == kWireLen) {
            if (attributes_used >= limits_.max_attributes) {
              return Fail(c.p, Cat("more than ", limits_.max_attributes, " span attributes"));
            }
            if (!KeyValueInto(c, &span->attributes, &attributes_used)) return false;
            continue;
          }
          break;
        case 10:  // dropped_attributes_count
        case 12:  // dropped_events_count
          if (wt == kWireVarint) {
            uint64_t v = 0;
            if (!Varint(c, &v)) return false;
            const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX));
            (field == 10 ? span->dropped_attributes_count : span->dropped_events_count) = n;
            continue;
          }
          break;
        case 11:  // events
          if (wt == kWireLen) {
            FrameGuard g(frames_, "events", event_index++);
            Cursor sub{nullptr, nullptr};
            if (!Len(c, &sub)) return false;
            if (events_used >= limits_.max_events_per_span) {
              return Fail(sub.p, Cat("more than ", limits_.max_events_per_span, " events"));
            }
            if (!Event(sub, &NextElement(span->events, &events_used))) return false;
            continue;
          }
          break;
        case 13:  // links: the span model has none
          if (wt == kWireLen) {
            Cursor sub{nullptr, nullptr};
            if (!Len(c, &sub)) return false;
            ++out_->links_dropped;
            continue;
          }
          break;
        case 15:  // status
          if (wt == kWireLen) {
            FrameGuard g(frames_, "status");
            Cursor sub{nullptr, nullptr};
            if (!Len(c, &sub)) return false;
            if (!Status(sub, span)) return false;
            continue;
          }
          break;
        default:
          break;
      }
      if (!Skip(c, field, wt)) return false;  // flags (16), dropped_links_count, unknown
    }
    out_->spares.Keep(span->attributes, attributes_used);
    out_->spares.Keep(span->events, events_used);
    return true;
  }

  bool Status(Cursor c, SpanData* span) {
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 2 && wt == kWireLen) {
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!CheckString(sub, limits_.max_value_bytes, "status message")) return false;
        span->status_message.assign(View(sub));
      } else if (field == 3 && wt == kWireVarint) {
        uint64_t v = 0;
        if (!Varint(c, &v)) return false;
        span->status_code = StatusFromInt(static_cast<int64_t>(v));
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    return true;
  }

  bool Event(Cursor c, SpanEvent* event) {
    // Possibly an earlier span's event: every field is written, its attributes over.
    event->time_unix_nanos = 0;
    std::string_view name;
    size_t attributes_used = 0;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireFixed64) {
        uint64_t v = 0;
        if (!Fixed64(c, &v)) return false;
        event->time_unix_nanos = ClampToInt64(v);
      } else if (field == 2 && wt == kWireLen) {
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!CheckString(sub, limits_.max_key_bytes, "event name")) return false;
        name = View(sub);
      } else if (field == 3 && wt == kWireLen) {
        if (attributes_used >= limits_.max_attributes) {
          return Fail(c.p, Cat("more than ", limits_.max_attributes, " event attributes"));
        }
        if (!KeyValueInto(c, &event->attributes, &attributes_used)) return false;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    AssignKey(&event->name, name);
    out_->spares.Keep(event->attributes, attributes_used);
    return true;
  }

  // Reads one length-delimited KeyValue at `c` into element *used of `attributes` (written
  // over when it exists, appended otherwise), and ++*used.
  bool KeyValueInto(Cursor& c, std::vector<Attribute>* attributes, size_t* used) {
    FrameGuard g(frames_, "attributes", static_cast<int64_t>(*used));
    Cursor sub{nullptr, nullptr};
    if (!Len(c, &sub)) return false;
    Attribute& attribute = NextElement(*attributes, used);
    std::string_view key;
    if (!KeyValue(sub, &key, &attribute.value, 0)) return false;
    AssignKey(&attribute.key, key);
    return true;
  }

  bool KeyValue(Cursor c, std::string_view* key, AttributeValue* value, int depth) {
    bool has_value = false;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireLen) {
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!CheckString(sub, limits_.max_key_bytes, "attribute key")) return false;
        *key = View(sub);
        frames_.back().key = *key;
      } else if (field == 2 && wt == kWireLen) {
        FrameGuard g(frames_, "value");
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!AnyValue(sub, value, depth)) return false;
        has_value = true;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    if (!has_value) {
      AssignString(value, {});
      ++out_->values_converted;
    }
    return true;
  }

  bool AnyValue(Cursor c, AttributeValue* value, int depth) {
    bool set = false;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      const uint8_t* at = c.p;
      if ((field == 1 || field == 7) && wt == kWireLen) {  // string_value, bytes_value
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (!CheckString(sub, limits_.max_value_bytes,
                         field == 1 ? "string value" : "bytes value")) {
          return false;
        }
        if (field == 1) {
          AssignString(value, View(sub));
        } else {
          *value = Base64(View(sub));
          ++out_->values_converted;
        }
        set = true;
      } else if ((field == 2 || field == 3) && wt == kWireVarint) {  // bool_value, int_value
        uint64_t v = 0;
        if (!Varint(c, &v)) return false;
        if (field == 2) {
          *value = v != 0;
        } else {
          *value = static_cast<int64_t>(v);
        }
        set = true;
      } else if (field == 4 && wt == kWireFixed64) {  // double_value
        uint64_t bits = 0;
        if (!Fixed64(c, &bits)) return false;
        double d = 0;
        std::memcpy(&d, &bits, sizeof(d));
        *value = d;
        set = true;
      } else if ((field == 5 || field == 6) && wt == kWireLen) {  // array_value, kvlist_value
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (depth + 1 > limits_.max_value_depth) {
          return Fail(at, Cat("values nested more than ", limits_.max_value_depth, " levels deep"));
        }
        if (!(field == 5 ? Array(sub, value, depth + 1) : KvList(sub, value, depth + 1))) {
          return false;
        }
        set = true;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    if (!set) {
      AssignString(value, {});  // an empty AnyValue
      ++out_->values_converted;
    }
    return true;
  }

  bool Array(Cursor c, AttributeValue* value, int depth) {
    std::vector<AttributeValue> elements;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireLen) {
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (elements.size() >= limits_.max_array_values) {
          return Fail(sub.p, Cat("more than ", limits_.max_array_values, " array values"));
        }
        FrameGuard g(frames_, "values", static_cast<int64_t>(elements.size()));
        if (!AnyValue(sub, &elements.emplace_back(), depth)) return false;
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    *value = ArrayFromElements(std::move(elements), &out_->values_converted);
    return true;
  }

  bool KvList(Cursor c, AttributeValue* value, int depth) {
    std::vector<std::pair<std::string, AttributeValue>> entries;
    while (!c.done()) {
      uint32_t field = 0;
      int wt = 0;
      if (!Tag(c, &field, &wt)) return false;
      if (field == 1 && wt == kWireLen) {
        Cursor sub{nullptr, nullptr};
        if (!Len(c, &sub)) return false;
        if (entries.size() >= limits_.max_array_values) {
          return Fail(sub.p, Cat("more than ", limits_.max_array_values, " key-value entries"));
        }
        FrameGuard g(frames_, "values", static_cast<int64_t>(entries.size()));
        auto& entry = entries.emplace_back();
        std::string_view key;
        if (!KeyValue(sub, &key, &entry.second, depth)) return false;
        entry.first = std::string(key);
      } else if (!Skip(c, field, wt)) {
        return false;
      }
    }
    *value = KvListToJson(entries, &out_->values_converted);
    return true;
  }

  const uint8_t* const begin_;
  const size_t size_;
  const DecodeLimits& limits_;
  DecodedTraces* const out_;
  size_t batches_used_ = 0;  // out_->batches written so far; the rest is erased at the end
  FrameStack frames_;
  absl::Status status_;
};

// ======================================================================================
// JSON
// ======================================================================================

namespace dom = simdjson::dom;

constexpr int kMaxJsonDepth = 64;
// Documents up to this size reuse a per-thread parser (its buffers keep the largest size seen).
constexpr size_t kMaxReusedParserBytes = 16 * 1024 * 1024;

// Both spellings of a field: OTLP/JSON's lowerCamelCase and the .proto's snake_case.
bool FieldIs(std::string_view name, std::string_view camel, std::string_view snake) {
  return name == camel || name == snake;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view TypeName(dom::element v) {
  switch (v.type()) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

class JsonDecoder {
 public:
  JsonDecoder(const DecodeLimits& limits, DecodedTraces* out) : limits_(limits), out_(out) {}

  absl::Status Run(dom::element root) {
    dom::object object;
    if (root.get_object().get(object))
      return Fail("the request body is not a JSON object"), status_;
    for (dom::key_value_pair member : object) {
      if (!FieldIs(member.key, "resourceSpans", "resource_spans") || member.value.is_null()) {
        continue;
      }
      dom::array list;
      if (member.value.get_array().get(list))
        return Fail("resourceSpans must be an array"), status_;
      int64_t index = 0;
      for (dom::element rs : list) {
        FrameGuard g(frames_, "resourceSpans", index++);
        if (!ResourceSpans(rs)) return status_;
      }
    }
    return absl::OkStatus();
  }

 private:
  bool Fail(std::string_view what) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(Cat("otlp json: ", what, ", in ", frames_.Format()));
    }
    return false;
  }

  bool Object(dom::element v, std::string_view what, dom::object* out) {
    if (!v.get_object().get(*out)) return true;
    return Fail(Cat(what, " must be a JSON object, not ", TypeName(v)));
  }

  bool Array(dom::element v, std::string_view what, dom::array* out) {
    if (!v.get_array().get(*out)) return true;
    return Fail(Cat(what, " must be an array, not ", TypeName(v)));
  }

  bool StringView(dom::element v, size_t limit, std::string_view what, std::string_view* out) {
    if (v.get_string().get(*out)) return Fail(Cat(what, " must be a string, not ", TypeName(v)));
    if (out->size() > limit) {
      return Fail(Cat(what, " of ", out->size(), " bytes exceeds the limit of ", limit, " bytes"));
    }
    return true;
  }

  bool String(dom::element v, size_t limit, std::string_view what, std::string* out) {
    if (v.is_null()) return true;
    std::string_view text;
    if (!StringView(v, limit, what, &text)) return false;
    out->assign(text);
    return true;
  }

  // int64 as a number or a decimal string.
  bool Int64(dom::element v, std::string_view what, int64_t* out) {
    switch (v.type()) {
      case dom::element_type::INT64:
        *out = v.get_int64().value_unsafe();
        return true;
      case dom::element_type::UINT64:
        *out = ClampToInt64(v.get_uint64().value_unsafe());
        return true;
      case dom::element_type::DOUBLE: {
        const double d = v.get_double().value_unsafe();
        if (std::nearbyint(d) == d && std::fabs(d) < 9.2e18) {
          *out = static_cast<int64_t>(d);
          return true;
        }
        return Fail(Cat(what, " must be an integer, not ", d));
      }
      case dom::element_type::STRING: {
        const std::string_view s = v.get_string().value_unsafe();
        const char* first = s.data();
        const char* last = s.data() + s.size();
        if (first != last && *first == '+') ++first;
        auto [ptr, ec] = std::from_chars(first, last, *out);
        if (ec == std::errc() && ptr == last && first != last) return true;
        uint64_t u = 0;
        auto [uptr, uec] = std::from_chars(first, last, u);
        if (uec == std::errc() && uptr == last && first != last) {
          *out = ClampToInt64(u);
          return true;
        }
        return Fail(Cat(what, " must be a decimal integer, not \"", s.substr(0, 40), "\""));
      }
      default:
        return Fail(Cat(what, " must be an integer or a decimal string, not ", TypeName(v)));
    }
  }

  bool Uint32(dom::element v, std::string_view what, uint32_t* out) {
    int64_t n = 0;
    if (!Int64(v, what, &n)) return false;
    *out = static_cast<uint32_t>(std::clamp<int64_t>(n, 0, UINT32_MAX));
    return true;
  }

  // An enum as its number or its name (with or without the prefix).
  bool Enum(dom::element v, std::string_view what, std::string_view prefix,
            std::initializer_list<std::string_view> names, int64_t* out) {
    if (v.type() == dom::element_type::STRING) {
      std::string_view s = v.get_string().value_unsafe();
      const std::string_view full = s;
      if (s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0) {
        s.remove_prefix(prefix.size());
      }
      int64_t k = 0;
      for (std::string_view name : names) {
        if (s == name) {
          *out = k;
          return true;
        }
        ++k;
      }
      // A number in a string ("3"), as some exporters send every integer.
      if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos &&
          std::from_chars(s.data(), s.data() + s.size(), *out).ec == std::errc()) {
        return true;
      }
      return Fail(Cat(what, " \"", full.substr(0, 40), "\" is not a known value"));
    }
    return Int64(v, what, out);
  }

  template <size_t N>
  bool Id(dom::element v, std::string_view what, std::array<uint8_t, N>* out) {
    std::string_view s;
    if (v.get_string().get(s)) return Fail(Cat(what, " must be a hex string, not ", TypeName(v)));
    if (s.empty()) {
      out->fill(0);
      return true;
    }
    if (s.size() == 2 * N) {
      bool ok = true;
      for (size_t k = 0; k < N && ok; ++k) {
        const int hi = HexDigit(s[2 * k]);
        const int lo = HexDigit(s[2 * k + 1]);
        if (hi < 0 || lo < 0) {
          ok = false;
        } else {
          (*out)[k] = static_cast<uint8_t>(hi << 4 | lo);
        }
      }
      if (ok) return true;
    }
    // protobuf's generic JSON mapping writes bytes as base64: accept it too.
    std::string raw;
    if (absl::Base64Unescape(absl::string_view(s.data(), s.size()), &raw) && raw.size() == N) {
      std::memcpy(out->data(), raw.data(), N);
      return true;
    }
    return Fail(Cat(what, " \"", s.substr(0, 64), "\" is not ", 2 * N, " hex digits"));
  }

  bool ResourceSpans(dom::element rs) {
    dom::object object;
    if (!Object(rs, "a resourceSpans entry", &object)) return false;
    const size_t first_batch = out_->batches.size();
    std::vector<Attribute> resource_attributes;
    for (dom::key_value_pair member : object) {
      if (member.value.is_null()) continue;
      if (member.key == "resource") {
        FrameGuard g(frames_, "resource");
        dom::object resource;
        if (!Object(member.value, "resource", &resource)) return false;
        for (dom::key_value_pair r : resource) {
          if (r.key == "attributes" && !Attributes(r.value, &resource_attributes)) return false;
        }
      } else if (FieldIs(member.key, "scopeSpans", "scope_spans")) {
        dom::array list;
        if (!Array(member.value, "scopeSpans", &list)) return false;
        int64_t index = 0;
        for (dom::element ss : list) {
          FrameGuard g(frames_, "scopeSpans", index++);
          if (!ScopeSpans(ss)) return false;
        }
      }
    }
    for (size_t k = first_batch; k < out_->batches.size(); ++k) {
      if (k + 1 == out_->batches.size()) {
        out_->batches[k].resource.attributes = std::move(resource_attributes);
      } else {
        out_->batches[k].resource.attributes = resource_attributes;
      }
    }
    return true;
  }

  bool ScopeSpans(dom::element ss) {
    dom::object object;
    if (!Object(ss, "a scopeSpans entry", &object)) return false;
    ScopeSpansBatch& batch = out_->batches.emplace_back();
    batch.resource.scope_name.clear();
    const size_t batch_index = out_->batches.size() - 1;
    for (dom::key_value_pair member : object) {
      if (member.value.is_null()) continue;
      if (member.key == "scope") {
        FrameGuard g(frames_, "scope");
        dom::object scope;
        if (!Object(member.value, "scope", &scope)) return false;
        ResourceInfo& resource = out_->batches[batch_index].resource;
        for (dom::key_value_pair sm : scope) {
          if (sm.key == "name") {
            if (!String(sm.value, limits_.max_key_bytes, "scope name", &resource.scope_name)) {
              return false;
            }
          } else if (sm.key == "version") {
            if (!String(sm.value, limits_.max_key_bytes, "scope version",
                        &resource.scope_version)) {
              return false;
            }
          }
        }
      } else if (member.key == "spans") {
        dom::array list;
        if (!Array(member.value, "spans", &list)) return false;
        std::vector<SpanData>& spans = out_->batches[batch_index].spans;
        spans.reserve(std::min<size_t>(list.size(), limits_.max_spans));
        int64_t index = 0;
        for (dom::element span : list) {
          FrameGuard g(frames_, "spans", index++);
          if (out_->span_count >= limits_.max_spans) {
            return Fail(Cat("more than ", limits_.max_spans, " spans in one request"));
          }
          SpanData& data = spans.emplace_back();
          ++out_->span_count;
          if (!Span(span, &data)) return false;
        }
      }
    }
    return true;
  }

  bool Span(dom::element js, SpanData* span) {
    dom::object object;
    if (!Object(js, "a span", &object)) return false;
    span->sampled = true;
    for (dom::key_value_pair member : object) {
      const std::string_view name = member.key;
      const dom::element value = member.value;
      if (value.is_null()) continue;
      if (name == "attributes") {
        if (!Attributes(value, &span->attributes)) return false;
        continue;
      }
      FrameGuard g(frames_, name);
      if (FieldIs(name, "traceId", "trace_id")) {
        if (!Id(value, "traceId", &span->trace_id.bytes)) return false;
      } else if (FieldIs(name, "spanId", "span_id")) {
        if (!Id(value, "spanId", &span->span_id.bytes)) return false;
      } else if (FieldIs(name, "parentSpanId", "parent_span_id")) {
        if (!Id(value, "parentSpanId", &span->parent_span_id.bytes)) return false;
      } else if (FieldIs(name, "traceState", "trace_state")) {
        if (!String(value, limits_.max_value_bytes, "traceState", &span->trace_state)) return false;
      } else if (name == "name") {
        if (!String(value, limits_.max_value_bytes, "name", &span->name)) return false;
      } else if (name == "kind") {
        int64_t kind = 0;
        if (!Enum(value, "kind", "SPAN_KIND_",
                  {"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"}, &kind)) {
          return false;
        }
        span->kind = KindFromInt(kind);
      } else if (FieldIs(name, "startTimeUnixNano", "start_time_unix_nano")) {
        if (!Int64(value, name, &span->start_unix_nanos)) return false;
      } else if (FieldIs(name, "endTimeUnixNano", "end_time_unix_nano")) {
        if (!Int64(value, name, &span->end_unix_nanos)) return false;
      } else if (FieldIs(name, "droppedAttributesCount", "dropped_attributes_count")) {
        if (!Uint32(value, name, &span->dropped_attributes_count)) return false;
      } else if (FieldIs(name, "droppedEventsCount", "dropped_events_count")) {
        if (!Uint32(value, name, &span->dropped_events_count)) return false;
      } else if (name == "events") {
        dom::array list;
        if (!Array(value, "events", &list)) return false;
        if (list.size() > limits_.max_events_per_span) {
          return Fail(
              Cat(list.size(), " events exceed the limit of ", limits_.max_events_per_span));
        }
        span->events.reserve(list.size());
        int64_t index = 0;
        for (dom::element e : list) {
          frames_.back().index = index++;
          if (!Event(e, &span->events.emplace_back())) return false;
        }
      } else if (name == "links") {
        dom::array list;
        if (!Array(value, "links", &list)) return false;
        out_->links_dropped += list.size();
      } else if (name == "status") {
        dom::object status;
        if (!Object(value, "status", &status)) return false;
        for (dom::key_value_pair sm : status) {
          if (sm.value.is_null()) continue;
          if (sm.key == "message") {
            if (!String(sm.value, limits_.max_value_bytes, "status message",
                        &span->status_message)) {
              return false;
            }
          } else if (sm.key == "code") {
            int64_t code = 0;
            if (!Enum(sm.value, "status code", "STATUS_CODE_", {"UNSET", "OK", "ERROR"}, &code)) {
              return false;
            }
            span->status_code = StatusFromInt(code);
          }
        }
      }
    }
    return true;
  }

  bool Event(dom::element je, SpanEvent* event) {
    dom::object object;
    if (!Object(je, "an event", &object)) return false;
    for (dom::key_value_pair member : object) {
      if (member.value.is_null()) continue;
      if (FieldIs(member.key, "timeUnixNano", "time_unix_nano")) {
        if (!Int64(member.value, member.key, &event->time_unix_nanos)) return false;
      } else if (member.key == "name") {
        std::string_view text;
        if (!StringView(member.value, limits_.max_key_bytes, "event name", &text)) return false;
        event->name = telemetry::EventName(text);
      } else if (member.key == "attributes") {
        if (!Attributes(member.value, &event->attributes)) return false;
      }
    }
    return true;
  }

  bool Attributes(dom::element value, std::vector<Attribute>* out) {
    if (value.is_null()) return true;
    dom::array list;
    if (!Array(value, "attributes", &list)) return false;
    const size_t count = list.size();
    if (count + out->size() > limits_.max_attributes) {
      return Fail(
          Cat(count + out->size(), " attributes exceed the limit of ", limits_.max_attributes));
    }
    out->reserve(out->size() + count);
    int64_t index = 0;
    for (dom::element kv : list) {
      FrameGuard g(frames_, "attributes", index++);
      Attribute& attribute = out->emplace_back();
      std::string_view key;
      if (!KeyValue(kv, &key, &attribute.value, 0)) return false;
      attribute.key = telemetry::AttributeKey(key);
    }
    return true;
  }

  bool KeyValue(dom::element kv, std::string_view* key, AttributeValue* value, int depth) {
    dom::object object;
    if (!Object(kv, "a key-value entry", &object)) return false;
    bool has_value = false;
    dom::element member;
    if (!object["key"].get(member) && !member.is_null()) {
      if (!StringView(member, limits_.max_key_bytes, "attribute key", key)) return false;
      frames_.back().key = *key;
    }
    if (!object["value"].get(member) && !member.is_null()) {
      FrameGuard g(frames_, "value");
      if (!AnyValue(member, value, depth)) return false;
      has_value = true;
    }
    if (!has_value) {
      *value = std::string();
      ++out_->values_converted;
    }
    return true;
  }

  bool AnyValue(dom::element v, AttributeValue* value, int depth) {
    dom::object object;
    if (!Object(v, "an attribute value", &object)) return false;
    bool set = false;
    for (dom::key_value_pair member : object) {
      const std::string_view name = member.key;
      const dom::element field = member.value;
      if (field.is_null()) continue;
      if (FieldIs(name, "stringValue", "string_value")) {
        std::string_view s;
        if (!StringView(field, limits_.max_value_bytes, "stringValue", &s)) return false;
        *value = std::string(s);
      } else if (FieldIs(name, "boolValue", "bool_value")) {
        bool b = false;
        if (field.get_bool().get(b)) {
          return Fail(Cat("boolValue must be a boolean, not ", TypeName(field)));
        }
        *value = b;
      } else if (FieldIs(name, "intValue", "int_value")) {
        int64_t n = 0;
        if (!Int64(field, "intValue", &n)) return false;
        *value = n;
      } else if (FieldIs(name, "doubleValue", "double_value")) {
        double d = 0;
        if (!Double(field, &d)) return false;
        *value = d;
      } else if (FieldIs(name, "bytesValue", "bytes_value")) {
        std::string_view s;
        if (!StringView(field, limits_.max_value_bytes, "bytesValue", &s)) return false;
        std::string raw;
        if (!absl::Base64Unescape(absl::string_view(s.data(), s.size()), &raw)) {
          return Fail("bytesValue is not valid base64");
        }
        *value = std::string(s);  // kept as the base64 text
        ++out_->values_converted;
      } else if (FieldIs(name, "arrayValue", "array_value") ||
                 FieldIs(name, "kvlistValue", "kvlist_value")) {
        if (!ListValue(name, field, value, depth)) return false;
      } else {
        continue;  // unknown member
      }
      set = true;
    }
    if (!set) {
      *value = std::string();
      ++out_->values_converted;
    }
    return true;
  }

  bool ListValue(std::string_view name, dom::element field, AttributeValue* value, int depth) {
    const bool array = name[0] == 'a';
    if (depth + 1 > limits_.max_value_depth) {
      return Fail(Cat("values nested more than ", limits_.max_value_depth, " levels deep"));
    }
    dom::object object;
    if (!Object(field, name, &object)) return false;
    dom::element values_element;
    dom::array values;
    const bool has_values = !object["values"].get(values_element) && !values_element.is_null();
    if (has_values && !Array(values_element, "values", &values)) return false;
    const size_t count = has_values ? values.size() : 0;
    if (count > limits_.max_array_values) {
      return Fail(Cat(count, " values exceed the limit of ", limits_.max_array_values));
    }
    int64_t index = 0;
    if (array) {
      std::vector<AttributeValue> elements;
      elements.reserve(count);
      if (has_values) {
        for (dom::element e : values) {
          FrameGuard g(frames_, "values", index++);
          if (!AnyValue(e, &elements.emplace_back(), depth + 1)) return false;
        }
      }
      *value = ArrayFromElements(std::move(elements), &out_->values_converted);
    } else {
      std::vector<std::pair<std::string, AttributeValue>> entries;
      entries.reserve(count);
      if (has_values) {
        for (dom::element e : values) {
          FrameGuard g(frames_, "values", index++);
          auto& entry = entries.emplace_back();
          std::string_view key;
          if (!KeyValue(e, &key, &entry.second, depth + 1)) return false;
          entry.first = std::string(key);
        }
      }
      *value = KvListToJson(entries, &out_->values_converted);
    }
    return true;
  }

  bool Double(dom::element v, double* out) {
    if (v.is_number()) {
      *out = v.get_double().value_unsafe();
      return true;
    }
    std::string_view s;
    if (!v.get_string().get(s)) {
      if (s == "NaN") {
        *out = std::numeric_limits<double>::quiet_NaN();
      } else if (s == "Infinity") {
        *out = std::numeric_limits<double>::infinity();
      } else if (s == "-Infinity") {
        *out = -std::numeric_limits<double>::infinity();
      } else {
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
        if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
          return Fail(Cat("doubleValue \"", s.substr(0, 40), "\" is not a number"));
        }
      }
      return true;
    }
    return Fail(Cat("doubleValue must be a number, not ", TypeName(v)));
  }

  const DecodeLimits& limits_;
  DecodedTraces* const out_;
  FrameStack frames_;
  absl::Status status_;
};

// The syntax error in `body`, located by nlohmann::json (simdjson says what, not where).
absl::Status JsonSyntaxError(std::string_view body, simdjson::error_code code) {
  try {
    const nlohmann::json parsed = nlohmann::json::parse(body.begin(), body.end());
    static_cast<void>(parsed);
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ..."
    std::string_view what = e.what();
    if (const size_t close = what.find("] "); close != std::string_view::npos) {
      what.remove_prefix(close + 2);
    }
    return absl::InvalidArgumentError(
        Cat("otlp json: invalid JSON at byte ", e.byte, " of ", body.size(), ": ", what));
  } catch (const std::exception&) {
  }
  return absl::InvalidArgumentError(
      Cat("otlp json: invalid JSON: ", std::string_view(simdjson::error_message(code))));
}

}  // namespace

absl::Status DecodeOtlpProto(std::string_view body, const DecodeLimits& limits,
                             DecodedTraces* out) {
  // Not Clear(): the batches and spans already in *out are written over (see the header).
  out->span_count = 0;
  out->links_dropped = 0;
  out->values_converted = 0;
  out->spares.Clear();
  try {
    return ProtoDecoder(body, limits, out).Run();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("otlp protobuf: out of memory while decoding the request");
  }
}

absl::Status DecodeOtlpJson(std::string_view body, const DecodeLimits& limits, DecodedTraces* out) {
  out->Clear();
  if (JsonNestsDeeperThan(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(
        Cat("otlp json: the body nests arrays/objects deeper than ", kMaxJsonDepth, " levels"));
  }
  try {
    thread_local dom::parser reused;
    dom::parser once;
    dom::parser& parser = body.size() <= kMaxReusedParserBytes ? reused : once;
    dom::element root;
    if (const simdjson::error_code code = parser.parse(body.data(), body.size()).get(root)) {
      return JsonSyntaxError(body, code);
    }
    return JsonDecoder(limits, out).Run(root);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("otlp json: out of memory while decoding the request");
  }
}

}  // namespace genops::receiver
