// NestedSpendTracker: keeps one LLM call from being charged twice by the OTLP receiver.
//
// Why: applications often record one call in two LLM spans. Two instrumentations are on at
// once (a LangChain or LlamaIndex span with the provider SDK's span under it, both carrying
// the same gen_ai.usage.*), or a container span carries the usage of the calls below it (an
// agent span summing its chat spans). Charging every span with usage would charge such calls
// twice; charging only leaves would lose the spend of a container whose calls below were not
// instrumented (or carried no usage).
//
// Rule: a priced LLM span is charged its own cost minus what the LLM spans below it in its
// trace were charged before it, floored at zero. A framework span over the SDK span of the same
// call is then charged nothing; an agent span is charged only what its chat spans do not
// account for; a lone span is charged in full. Spans end (and are exported) children first,
// so when a span arrives, what was charged below it is known: this tracker remembers, per
// span id, the spend charged in the subtree under it, and passes each span's subtree total on
// to its parent, through spans of any kind (an LLM span's child is often a plain HTTP span's
// parent). Within one request, spans are planned children first whatever their order.
//
// Limits (docs/receiver.md): an ancestor that arrived BEFORE a descendant was charged without
// knowing it, and that descendant is then charged in full (children first is what SDKs do;
// the reverse needs a span to end before its child). The memory is bounded: the subtree totals
// of the last `max_parents` spans that had something passed on to them are kept, oldest
// forgotten first (about 64 bytes each; the default 65,536 is minutes of a busy application's
// traffic), so a container arriving later than that is charged in full. Each receiver process
// has its own tracker: spans of one trace split across replicas are not netted.
//
// Redelivery: a parent remembers which children passed it something (the first
// kMaxContributors of them; beyond that a child is counted again), so a batch delivered twice
// does not inflate what its parents see, and the same plan comes out again (the ledger's
// idempotency by operation id then charges once).
//
// Cost: about three hash-table probes per LLM span (its own entry, its parent's, and the
// entry it evicts) and one per other span, plus ordering the request's spans.
//
// Thread safety: thread-safe; Plan() takes a mutex for the whole request.
#ifndef GENOPS_RECEIVER_NESTED_SPEND_H_
#define GENOPS_RECEIVER_NESTED_SPEND_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "genops/money.h"
#include "src/telemetry/span_data.h"

namespace genops::receiver {

class NestedSpendTracker {
 public:
  struct Options {
    // Parents whose subtree totals are remembered.
    size_t max_parents = 65'536;
  };

  // One span of a request. The caller fills in the identity, `charged` and `cost`; Plan()
  // fills in `charge` and `below`.
  struct Node {
    telemetry::TraceId trace_id;
    telemetry::SpanId span_id;
    telemetry::SpanId parent_span_id;  // invalid for a root
    bool charged = false;              // a priced LLM span, to be charged
    Money cost;                        // its priced cost, when charged
    Money charge;                      // out: what to charge, when charged
    Money below;                       // out: what LLM spans below it were charged
  };

  NestedSpendTracker() : NestedSpendTracker(Options{}) {}
  explicit NestedSpendTracker(Options options);

  NestedSpendTracker(const NestedSpendTracker&) = delete;
  NestedSpendTracker& operator=(const NestedSpendTracker&) = delete;

  // Plans the charges of one request's spans (every accepted span, LLM or not), children
  // before parents, and remembers what each passes on to its parent.
  void Plan(std::span<Node> nodes);

  // How many spans' subtree totals are remembered now (for tests and metrics).
  size_t remembered() const;

 private:
  // A span's identity as three words: compared and hashed without byte loops.
  struct Key {
    uint64_t trace_high = 0;
    uint64_t trace_low = 0;
    uint64_t span = 0;
    static Key Of(const telemetry::TraceId& trace_id, const telemetry::SpanId& span_id);
    bool operator==(const Key&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& key) {
      return H::combine(std::move(h), key.trace_high, key.trace_low, key.span);
    }
  };
  static constexpr size_t kMaxContributors = 6;
  struct Entry {
    Money below;  // charged in the subtree under this span so far
    // Hashes of the children that passed something on (0: free), against redelivery.
    std::array<uint32_t, kMaxContributors> contributors{};
  };

  // The entry of `key`, created (and the oldest forgotten beyond max_parents) when missing.
  Entry& Touch(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable std::mutex mu_;
  absl::flat_hash_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // The keys of entries_ in creation order: a ring of max_parents slots, oldest at next_.
  std::vector<Key> ring_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_NESTED_SPEND_H_
