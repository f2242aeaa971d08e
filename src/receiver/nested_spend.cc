#include "src/receiver/nested_spend.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/hash/hash.h"

namespace genops::receiver {

NestedSpendTracker::Key NestedSpendTracker::Key::Of(const telemetry::TraceId& trace_id,
                                                    const telemetry::SpanId& span_id) {
  Key key;
  std::memcpy(&key.trace_high, trace_id.bytes.data(), 8);
  std::memcpy(&key.trace_low, trace_id.bytes.data() + 8, 8);
  std::memcpy(&key.span, span_id.bytes.data(), 8);
  return key;
}

NestedSpendTracker::NestedSpendTracker(Options options)
    : options_({.max_parents = std::max<size_t>(options.max_parents, 1)}) {}

NestedSpendTracker::Entry& NestedSpendTracker::Touch(const Key& key) {
  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted) return it->second;
  if (ring_.size() < options_.max_parents) {
    ring_.push_back(key);
    return it->second;
  }
  // Full: the oldest entry goes and `key` takes its slot. Erasing never moves the other
  // entries of a flat_hash_map, so `it` stays valid (the oldest is never `key`, just added).
  entries_.erase(ring_[next_]);
  ring_[next_] = key;
  next_ = (next_ + 1) % ring_.size();
  return it->second;
}

void NestedSpendTracker::Plan(std::span<Node> nodes) {
  const size_t n = nodes.size();
  if (n == 0) return;
  // Depth of each node in the request's own forest (its parent found by id among the
  // request's spans), so that children are planned before their parents whatever the order
  // of the request. A parent chain that loops (malformed ids) counts as depth 0.
  absl::flat_hash_map<Key, size_t> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) index.try_emplace(Key::Of(nodes[i].trace_id, nodes[i].span_id), i);
  constexpr uint32_t kUnknown = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> depth(n, kUnknown);
  std::vector<size_t> chain;
  for (size_t i = 0; i < n; ++i) {
    chain.clear();
    size_t at = i;
    uint32_t base = 0;
    while (depth[at] == kUnknown) {
      chain.push_back(at);
      if (chain.size() > n) break;  // a loop
      const Node& node = nodes[at];
      if (!node.parent_span_id.valid()) break;
      auto parent = index.find(Key::Of(node.trace_id, node.parent_span_id));
      if (parent == index.end() || parent->second == at) break;
      at = parent->second;
    }
    if (depth[at] != kUnknown && chain.size() <= n) base = depth[at] + 1;
    if (chain.size() > n) base = 0;
    // chain runs from node i up to its topmost unknown ancestor; depths count from the top.
    for (size_t k = chain.size(); k-- > 0;) {
      if (depth[chain[k]] == kUnknown) depth[chain[k]] = base++;
    }
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&depth](size_t a, size_t b) { return depth[a] > depth[b]; });

  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i : order) {
    Node& node = nodes[i];
    Money below;
    if (auto it = entries_.find(Key::Of(node.trace_id, node.span_id)); it != entries_.end()) {
      below = it->second.below;
    }
    node.below = below;
    Money subtree = below;
    if (node.charged) {
      node.charge = node.cost > below ? node.cost - below : Money();
      subtree += node.charge;
    }
    if (subtree <= Money() || !node.parent_span_id.valid() || node.parent_span_id == node.span_id) {
      continue;
    }
    Entry& parent = Touch(Key::Of(node.trace_id, node.parent_span_id));
    // This child's mark among the parent's contributors: a redelivered child passes nothing
    // on twice. Never 0, which marks a free slot.
    const uint32_t mark = static_cast<uint32_t>(absl::HashOf(Key::Of({}, node.span_id))) | 1U;
    bool repeat = false;
    for (uint32_t& slot : parent.contributors) {
      if (slot == mark) {
        repeat = true;
        break;
      }
      if (slot == 0) {
        slot = mark;
        break;
      }
    }
    if (!repeat) parent.below += subtree;
  }
}

size_t NestedSpendTracker::remembered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace genops::receiver
