#include "src/telemetry/span_limits.h"

#include <algorithm>
#include <variant>
#include <vector>

#include "src/telemetry/semconv.h"

namespace genops::telemetry {
namespace {

// Length of the UTF-8 sequence starting at `pos`, or 1 for a byte that does not start a valid
// sequence (such bytes count as one character each and are never split from anything).
size_t Utf8SequenceLength(const std::string& s, size_t pos) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  size_t length = 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
  }
  if (pos + length > s.size()) return 1;
  for (size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(s[pos + i]);
    if (next < 0x80 || next > 0xBF) return 1;
  }
  return length;
}

uint32_t TruncateValue(AttributeValue& value, uint32_t max_chars) {
  uint32_t truncated = 0;
  if (auto* text = std::get_if<std::string>(&value)) {
    // The size test first, inline: almost every value is short, and this runs for each one.
    if (text->size() > max_chars) truncated += TruncateUtf8(*text, max_chars) ? 1 : 0;
  } else if (auto* texts = std::get_if<std::vector<std::string>>(&value)) {
    for (std::string& element : *texts) truncated += TruncateUtf8(element, max_chars) ? 1 : 0;
  }
  return truncated;
}

template <typename T>
uint32_t DropBeyond(std::vector<T>& items, uint32_t max_items) {
  if (items.size() <= max_items) return 0;
  const auto dropped = static_cast<uint32_t>(items.size() - max_items);
  items.erase(items.begin() + max_items, items.end());
  return dropped;
}

}  // namespace

absl::Status ValidateSpanLimits(const SpanLimits& limits) {
  if (limits.max_attribute_length == 0) {
    return absl::InvalidArgumentError("max_attribute_length must be at least 1 (default 1000)");
  }
  if (limits.max_events_per_span == 0) {
    return absl::InvalidArgumentError("max_events_per_span must be at least 1 (default 100)");
  }
  if (limits.max_attributes_per_span == 0) {
    return absl::InvalidArgumentError("max_attributes_per_span must be at least 1 (default 128)");
  }
  if (limits.max_attributes_per_event == 0) {
    return absl::InvalidArgumentError("max_attributes_per_event must be at least 1 (default 128)");
  }
  return absl::OkStatus();
}

bool TruncateUtf8(std::string& value, uint32_t max_chars) noexcept {
  if (value.size() <= max_chars) return false;  // bytes >= code points: nothing to cut
  size_t pos = 0;
  uint32_t chars = 0;
  while (pos < value.size()) {
    if (chars == max_chars) {
      value.resize(pos);
      return true;
    }
    pos += Utf8SequenceLength(value, pos);
    ++chars;
  }
  return false;
}

LimitsReport ApplyLimits(const SpanLimits& limits, SpanData& span) noexcept {
  LimitsReport report;
  report.dropped_attributes = DropBeyond(span.attributes, limits.max_attributes_per_span);
  span.dropped_attributes_count += report.dropped_attributes;
  for (Attribute& attribute : span.attributes) {
    report.truncated_values += TruncateValue(attribute.value, limits.max_attribute_length);
  }
  report.dropped_events = DropBeyond(span.events, limits.max_events_per_span);
  span.dropped_events_count += report.dropped_events;
  for (SpanEvent& event : span.events) {
    report.dropped_event_attributes +=
        DropBeyond(event.attributes, limits.max_attributes_per_event);
    for (Attribute& attribute : event.attributes) {
      report.truncated_values += TruncateValue(attribute.value, limits.max_attribute_length);
    }
  }
  return report;
}

OperationSpanBudget::OperationSpanBudget(uint32_t max_spans_per_operation)
    : limit_(max_spans_per_operation) {}

void OperationSpanBudget::Restart(uint32_t max_spans_per_operation) noexcept {
  limit_ = max_spans_per_operation;
  attempts_.store(1, std::memory_order_relaxed);
}

bool OperationSpanBudget::TryRecordChild() noexcept {
  const uint64_t span_number = attempts_.fetch_add(1, std::memory_order_relaxed) + 1;
  return limit_ == 0 || span_number <= limit_;
}

uint32_t OperationSpanBudget::recorded() const noexcept {
  const uint64_t attempts = attempts_.load(std::memory_order_relaxed);
  const uint64_t recorded = limit_ == 0 ? attempts : std::min<uint64_t>(attempts, limit_);
  return static_cast<uint32_t>(std::min<uint64_t>(recorded, UINT32_MAX));
}

uint32_t OperationSpanBudget::dropped() const noexcept {
  const uint64_t attempts = attempts_.load(std::memory_order_relaxed);
  if (limit_ == 0 || attempts <= limit_) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(attempts - limit_, UINT32_MAX));
}

void OperationSpanBudget::AnnotateRoot(SpanData& root) const { AnnotateDropped(root, dropped()); }

void OperationSpanBudget::AnnotateDropped(SpanData& root, uint32_t count) {
  if (count == 0) return;
  const AttributeValue value = static_cast<int64_t>(count);
  for (Attribute& attribute : root.attributes) {
    if (attribute.key == semconv::kGenOpsSpansDropped) {
      attribute.value = value;
      return;
    }
  }
  root.attributes.push_back({AttributeKey::Static(semconv::kGenOpsSpansDropped), value});
}

}  // namespace genops::telemetry
