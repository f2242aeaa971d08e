#include "src/export/encoding_util.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <variant>

#include "absl/container/flat_hash_map.h"

namespace genops::exporter {
namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is invalid.
size_t ValidSequenceLength(std::string_view text, size_t i) noexcept {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  const size_t left = text.size() - i;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return (left >= 2 && (byte(i + 1) & 0xC0) == 0x80) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (left < 3) return 0;
    const unsigned char b1 = byte(i + 1);
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;  // no overlongs
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;  // no surrogates
    if (b1 < lo || b1 > hi) return 0;
    return (byte(i + 2) & 0xC0) == 0x80 ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (left < 4) return 0;
    const unsigned char b1 = byte(i + 1);
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;  // no overlongs
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;  // <= U+10FFFF
    if (b1 < lo || b1 > hi) return 0;
    return ((byte(i + 2) & 0xC0) == 0x80 && (byte(i + 3) & 0xC0) == 0x80) ? 4 : 0;
  }
  return 0;
}

bool AttributesValid(const std::vector<telemetry::Attribute>& attributes) noexcept {
  for (const telemetry::Attribute& attribute : attributes) {
    if (!IsValidUtf8(attribute.key)) return false;
    if (const auto* s = std::get_if<std::string>(&attribute.value)) {
      if (!IsValidUtf8(*s)) return false;
    } else if (const auto* list = std::get_if<std::vector<std::string>>(&attribute.value)) {
      for (const std::string& item : *list) {
        if (!IsValidUtf8(item)) return false;
      }
    }
  }
  return true;
}

// `resource`, or a sanitised copy owned by `out` when it is not valid UTF-8.
const telemetry::ResourceInfo* ValidResource(const telemetry::ResourceInfo& resource,
                                             GroupedSpans* out) {
  if (ResourceHasValidUtf8(resource)) return &resource;
  out->sanitized_resources.push_back(
      std::make_unique<telemetry::ResourceInfo>(SanitizedResource(resource)));
  return out->sanitized_resources.back().get();
}

void SanitizeAttributes(std::vector<telemetry::Attribute>* attributes) {
  for (telemetry::Attribute& attribute : *attributes) {
    attribute.key = SanitizeUtf8(attribute.key);
    if (auto* s = std::get_if<std::string>(&attribute.value)) {
      *s = SanitizeUtf8(*s);
    } else if (auto* list = std::get_if<std::vector<std::string>>(&attribute.value)) {
      for (std::string& item : *list) item = SanitizeUtf8(item);
    }
  }
}

}  // namespace

bool IsValidUtf8(std::string_view text) noexcept {
  // Almost all span text is ASCII: OR every byte together (branch-free, vectorisable) and
  // only walk the sequences when some byte has its high bit set.
  {
    uint64_t any_high = 0;
    size_t k = 0;
    for (; k + 8 <= text.size(); k += 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + k, 8);
      any_high |= word;
    }
    for (; k < text.size(); ++k) any_high |= static_cast<unsigned char>(text[k]);
    if ((any_high & kHighBits) == 0) return true;
  }
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    // Fast path: skip 8 ASCII bytes at a time.
    while (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & kHighBits) != 0) break;
      i += 8;
    }
    if (i >= n) break;
    const size_t length = ValidSequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = ValidSequenceLength(text, i);
    if (length == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
      // Skip the continuation bytes that belonged to the broken sequence.
      while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

bool SpanHasValidUtf8(const telemetry::SpanData& span) noexcept {
  if (!IsValidUtf8(span.name) || !IsValidUtf8(span.trace_state) ||
      !IsValidUtf8(span.status_message) || !AttributesValid(span.attributes)) {
    return false;
  }
  for (const telemetry::SpanEvent& event : span.events) {
    if (!IsValidUtf8(event.name) || !AttributesValid(event.attributes)) return false;
  }
  return true;
}

bool ResourceHasValidUtf8(const telemetry::ResourceInfo& resource) noexcept {
  return AttributesValid(resource.attributes) && IsValidUtf8(resource.scope_name) &&
         IsValidUtf8(resource.scope_version);
}

telemetry::SpanData SanitizedSpan(const telemetry::SpanData& span) {
  telemetry::SpanData copy = span;
  copy.name = SanitizeUtf8(copy.name);
  copy.trace_state = SanitizeUtf8(copy.trace_state);
  copy.status_message = SanitizeUtf8(copy.status_message);
  SanitizeAttributes(&copy.attributes);
  for (telemetry::SpanEvent& event : copy.events) {
    event.name = SanitizeUtf8(event.name);
    SanitizeAttributes(&event.attributes);
  }
  return copy;
}

telemetry::ResourceInfo SanitizedResource(const telemetry::ResourceInfo& resource) {
  telemetry::ResourceInfo copy = resource;
  SanitizeAttributes(&copy.attributes);
  copy.scope_name = SanitizeUtf8(copy.scope_name);
  copy.scope_version = SanitizeUtf8(copy.scope_version);
  return copy;
}

void GroupByResource(std::span<const telemetry::SpanData> spans, const telemetry::ResourceInfo& own,
                     GroupedSpans* out) {
  out->spans.clear();
  out->groups.clear();
  out->sanitized_resources.clear();
  if (spans.empty()) return;
  out->spans.reserve(spans.size());
  const telemetry::ResourceInfo* const first = spans[0].origin.get();
  bool uniform = true;
  for (const telemetry::SpanData& span : spans) {
    out->spans.push_back(&span);
    uniform &= span.origin.get() == first;
  }
  if (uniform) {
    out->groups.push_back({ValidResource(first != nullptr ? *first : own, out), 0, spans.size()});
    return;
  }

  // Several origins: number the groups in order of first appearance, then place the spans
  // with a stable counting sort.
  absl::flat_hash_map<const telemetry::ResourceInfo*, uint32_t> group_index;
  std::vector<const telemetry::ResourceInfo*> origins;  // per group; nullptr for `own`
  std::vector<size_t> group_sizes;
  std::vector<uint32_t> group_of(spans.size());
  const telemetry::ResourceInfo* previous = nullptr;
  uint32_t previous_group = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const telemetry::ResourceInfo* origin = spans[i].origin.get();
    if (i == 0 || origin != previous) {
      const auto [it, inserted] =
          group_index.try_emplace(origin, static_cast<uint32_t>(origins.size()));
      if (inserted) {
        origins.push_back(origin);
        group_sizes.push_back(0);
      }
      previous = origin;
      previous_group = it->second;
    }
    group_of[i] = previous_group;
    ++group_sizes[previous_group];
  }
  std::vector<size_t> next(origins.size());  // where each group's next span goes
  size_t begin = 0;
  for (size_t g = 0; g < origins.size(); ++g) {
    next[g] = begin;
    out->groups.push_back({nullptr, begin, begin + group_sizes[g]});
    begin += group_sizes[g];
  }
  for (size_t i = 0; i < spans.size(); ++i) out->spans[next[group_of[i]]++] = &spans[i];
  for (size_t g = 0; g < origins.size(); ++g) {
    out->groups[g].resource = ValidResource(origins[g] != nullptr ? *origins[g] : own, out);
  }
}

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default: {
        const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0F]};
        out->append(escaped, sizeof(escaped));
      }
    }
  }
  out->append(text.data() + run_start, text.size() - run_start);
  out->push_back('"');
}

void AppendInt(int64_t value, std::string* out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, result.ptr);
}

void AppendUint(uint64_t value, std::string* out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, result.ptr);
}

void AppendJsonDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out->append(buffer, result.ptr);
  }
}

}  // namespace genops::exporter
