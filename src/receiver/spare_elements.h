// SpareElements: span attributes and events that the OTLP decoder erased from recycled spans,
// kept (with the buffers of their strings and vectors) for the receiver's enrichment to append
// to the decoded spans instead of allocating new ones.
//
// Why: the receiver decodes each request over the spans the span processor hands back
// (SpanProcessor::OnEndRecycling): spans it enriched a lap earlier, whose ~25 genops.*
// attributes and genops.budget.reconciliation event are not in the request and so are erased
// by the decoder, only for the enrichment to append the same ~25 attributes and event again.
// Erasing freed their strings (the operation id, the priced model, the event's attribute
// vector) and appending allocated them again, once per LLM span. Only what owns memory is
// kept: attributes whose value is a string longer than the small-string buffer (the others
// cost nothing to destroy and build again), and events. Spare events are handed out in the
// order they were kept; a spare attribute goes to the next attribute appended with the same
// (static) key, looked for among the next few spares, so the operation id's buffer serves
// the next operation id.
//
// At most kMaxAttributes attributes and kMaxEvents events are kept; beyond, erased elements
// are destroyed as before. Whoever decodes calls Clear() first.
//
// Example (the decoder, then the enrichment):
//   spares.Keep(span.attributes, used);             // instead of erasing from `used` on
//   telemetry::Attribute& a = spares.AppendWithKey(span.attributes, kKey);  // write the value
//
// Thread safety: a value type; not synchronised (one per decoding thread).
#ifndef GENOPS_RECEIVER_SPARE_ELEMENTS_H_
#define GENOPS_RECEIVER_SPARE_ELEMENTS_H_

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "src/telemetry/span_data.h"

namespace genops::receiver {

class SpareElements {
 public:
  static constexpr size_t kMaxAttributes = 8192;
  static constexpr size_t kMaxEvents = 2048;
  // How many spares past the next one AppendWithKey looks at.
  static constexpr size_t kLookahead = 8;

  // Forgets the spares not handed out (destroying them) and starts a new round.
  void Clear() {
    attributes_.clear();
    next_attribute_ = 0;
    events_.clear();
    next_event_ = 0;
  }

  // Moves the elements of `items` from index `used` on into the spares (as far as there is
  // room; the rest are destroyed), then erases them from `items`.
  // Only the attributes whose value owns a heap buffer are kept.
  void Keep(std::vector<telemetry::Attribute>& items, size_t used) {
    if (used >= items.size()) return;
    static const size_t kInlineCapacity = std::string().capacity();
    for (size_t k = used; k < items.size() && attributes_.size() < kMaxAttributes; ++k) {
      const auto* s = std::get_if<std::string>(&items[k].value);
      if (s != nullptr && s->capacity() > kInlineCapacity && items[k].key.is_static()) {
        attributes_.push_back(std::move(items[k]));
      }
    }
    items.erase(items.begin() + static_cast<std::ptrdiff_t>(used), items.end());
  }
  void Keep(std::vector<telemetry::SpanEvent>& items, size_t used) {
    if (used >= items.size()) return;
    for (size_t k = used; k < items.size() && events_.size() < kMaxEvents; ++k) {
      events_.push_back(std::move(items[k]));
    }
    items.erase(items.begin() + static_cast<std::ptrdiff_t>(used), items.end());
  }

  // Appends to `to` an attribute with the key AttributeKey::Static(static_key) and returns
  // it: a spare that had that key when there is one among the next few (its value an earlier
  // one, to write over), else a new one (its value false).
  telemetry::Attribute& AppendWithKey(std::vector<telemetry::Attribute>& to,
                                      std::string_view static_key) {
    const size_t end = std::min(attributes_.size(), next_attribute_ + kLookahead);
    for (size_t k = next_attribute_; k < end; ++k) {
      const std::string_view key = attributes_[k].key.view();
      if (key.data() == static_key.data() && key.size() == static_key.size()) {
        if (k != next_attribute_) std::swap(attributes_[k], attributes_[next_attribute_]);
        return to.emplace_back(std::move(attributes_[next_attribute_++]));
      }
    }
    telemetry::Attribute& a = to.emplace_back();
    a.key.AssignStatic(static_key);
    return a;
  }
  // Appends a spare event (or a new one when none is left) to `to` and returns it. Its name,
  // time and attributes are an earlier event's: the caller writes over them.
  telemetry::SpanEvent& Append(std::vector<telemetry::SpanEvent>& to) {
    if (next_event_ < events_.size()) return to.emplace_back(std::move(events_[next_event_++]));
    return to.emplace_back();
  }

  size_t attributes_left() const { return attributes_.size() - next_attribute_; }
  size_t events_left() const { return events_.size() - next_event_; }

 private:
  // Handed out from the front (the order they were kept in).
  std::vector<telemetry::Attribute> attributes_;
  size_t next_attribute_ = 0;
  std::vector<telemetry::SpanEvent> events_;
  size_t next_event_ = 0;
};

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_SPARE_ELEMENTS_H_
