#include "src/receiver/trace_receiver.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/cost.h"
#include "src/core/text.h"
#include "src/receiver/span_enricher.h"
#include "src/telemetry/aggregate_fields.h"

namespace genops::receiver {
namespace {

using telemetry::SpanData;

bool SameAttributes(const std::vector<telemetry::Attribute>& a,
                    const std::vector<telemetry::Attribute>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i].key == b[i].key) || a[i].value != b[i].value) return false;
  }
  return true;
}

bool SameResource(const telemetry::ResourceInfo& a, const telemetry::ResourceInfo& b) {
  return a.scope_name == b.scope_name && a.scope_version == b.scope_version &&
         SameAttributes(a.attributes, b.attributes);
}

class ProcessorSink final : public ReceivedSpanSink {
 public:
  explicit ProcessorSink(std::shared_ptr<telemetry::SpanProcessor> processor)
      : processor_(std::move(processor)) {}

  void Consume(const telemetry::ResourceInfo& resource,
               std::vector<SpanData>& spans) noexcept override {
    std::shared_ptr<const telemetry::ResourceInfo> origin;
    try {
      origin = Intern(resource);
    } catch (...) {
      // Out of memory: forwarding the spans under GenOps' resource loses less than dropping.
    }
    for (SpanData& span : spans) {
      span.origin = origin;
      // `span` comes back holding an exported span's buffers, which the receiver's next
      // decode on this thread writes over: no allocation here, no free on the export thread.
      processor_->OnEndRecycling(span);
    }
  }

  telemetry::SpanProcessorStats stats() const noexcept override { return processor_->stats(); }

 private:
  // How many distinct (resource, scope) pairs Intern() remembers: more than the applications
  // and instrumentations a receiver typically serves at once.
  static constexpr size_t kMaxRecentOrigins = 16;

  // An origin equal to `resource`: one seen recently, or a new copy. Equal (resource, scope)
  // pairs of successive requests share one pointer, so an exporter's batch holds one
  // ResourceSpans per (application, scope) rather than one per request (exporters group by
  // pointer, see GroupByResource in src/export/encoding_util.h).
  std::shared_ptr<const telemetry::ResourceInfo> Intern(const telemetry::ResourceInfo& resource) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < recent_.size(); ++i) {
      if (SameResource(*recent_[i], resource)) {
        std::rotate(recent_.begin(), recent_.begin() + static_cast<ptrdiff_t>(i),
                    recent_.begin() + static_cast<ptrdiff_t>(i) + 1);
        return recent_.front();
      }
    }
    auto origin = std::make_shared<const telemetry::ResourceInfo>(resource);
    if (recent_.size() == kMaxRecentOrigins) recent_.pop_back();
    recent_.insert(recent_.begin(), origin);
    return origin;
  }

  const std::shared_ptr<telemetry::SpanProcessor> processor_;
  std::mutex mu_;
  // Most recently used first; guarded by mu_.
  std::vector<std::shared_ptr<const telemetry::ResourceInfo>> recent_;
};

template <size_t N>
void AppendHex(const std::array<uint8_t, N>& bytes, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint8_t b : bytes) {
    out->push_back(kDigits[b >> 4]);
    out->push_back(kDigits[b & 0x0f]);
  }
}

// Requests whose body is larger than this do not keep their decoded spans for the next request
// on the thread (see Export): a rare huge request must not pin its memory on every worker.
constexpr size_t kMaxRecycledBodyBytes = 8 * 1024 * 1024;
// Process() keeps its per-thread list of LLM spans between requests up to this many entries.
constexpr size_t kMaxKeptPendingSpans = 4096;

bool AnyBudgetExceeded(const ledger::BudgetStatusList& budgets) {
  for (const ledger::BudgetStatus& b : budgets) {
    if (b.spec != nullptr && b.spent > b.limit()) return true;
  }
  return false;
}

}  // namespace

std::shared_ptr<ReceivedSpanSink> MakeSpanProcessorSink(
    std::shared_ptr<telemetry::SpanProcessor> processor) {
  return std::make_shared<ProcessorSink>(std::move(processor));
}

// Collects the reasons spans were rejected, for partial_success.error_message.
class OtlpTraceReceiver::Rejections {
 public:
  explicit Rejections(int max_listed) : max_listed_(max_listed) {}

  void Add(const SpanData& span, std::string_view reason) {
    ++count_;
    if (count_ > max_listed_) return;
    if (!message_.empty()) message_ += "; ";
    std::string_view name = span.name;
    message_ += Cat("span ", span.span_id.ToHex(), " of trace ", span.trace_id.ToHex(), " (\"",
                    name.substr(0, 64), name.size() > 64 ? "...\"): " : "\"): ", reason);
  }

  int64_t count() const { return count_; }
  std::string Message() const {
    if (count_ <= max_listed_) return message_;
    return Cat(message_, "; and ", count_ - max_listed_, " more rejected spans");
  }

 private:
  const int64_t max_listed_;
  int64_t count_ = 0;
  std::string message_;
};

absl::StatusOr<std::unique_ptr<OtlpTraceReceiver>> OtlpTraceReceiver::Create(
    ReceiverOptions options, ReceiverDependencies deps) {
  if (deps.catalog == nullptr) return absl::InvalidArgumentError("otlp receiver: no catalog");
  if (deps.governor == nullptr) return absl::InvalidArgumentError("otlp receiver: no governor");
  if (deps.sink == nullptr) return absl::InvalidArgumentError("otlp receiver: no span sink");
  if (options.max_listed_rejections < 0) options.max_listed_rejections = 0;
  return std::unique_ptr<OtlpTraceReceiver>(
      new OtlpTraceReceiver(std::move(options), std::move(deps)));
}

OtlpTraceReceiver::OtlpTraceReceiver(ReceiverOptions options, ReceiverDependencies deps)
    : options_(std::move(options)),
      catalog_(std::move(deps.catalog)),
      governor_(std::move(deps.governor)),
      sink_(std::move(deps.sink)),
      records_(std::move(deps.records)),
      clock_(deps.clock != nullptr ? deps.clock : Clock::Real()),
      defaults_(governor_->settings().defaults.MergedWith(options_.defaults)) {}

ExportOutcome OtlpTraceReceiver::Export(std::string_view body, PayloadFormat format) noexcept {
  ExportOutcome outcome;
  try {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    // One DecodedTraces per thread, decoded into request after request: the sink leaves in
    // its spans the buffers of spans already exported (OnEndRecycling), which the protobuf
    // decoder writes over, so that a steady stream of requests allocates almost nothing per
    // span, and nothing allocated here is freed on the export thread (with glibc, frees from
    // a foreign thread take the allocating arena's lock: they were half the receiver's CPU).
    // It holds one request's worth of spans per worker thread between requests.
    thread_local DecodedTraces recycled;
    DecodedTraces once;
    DecodedTraces& traces = body.size() <= kMaxRecycledBodyBytes ? recycled : once;
    outcome.status = format == PayloadFormat::kProtobuf
                         ? DecodeOtlpProto(body, options_.limits, &traces)
                         : DecodeOtlpJson(body, options_.limits, &traces);
    if (!outcome.status.ok()) {
      counters_.requests_refused.fetch_add(1, std::memory_order_relaxed);
      return outcome;
    }
    return Process(traces);
  } catch (...) {
    counters_.requests_refused.fetch_add(1, std::memory_order_relaxed);
    outcome.status = absl::ResourceExhaustedError(
        "otlp receiver: out of memory while processing the request; retry later");
    return outcome;
  }
}

ExportOutcome OtlpTraceReceiver::ExportDecoded(DecodedTraces& traces) noexcept {
  try {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    return Process(traces);
  } catch (...) {
    ExportOutcome outcome;
    counters_.requests_refused.fetch_add(1, std::memory_order_relaxed);
    outcome.status = absl::ResourceExhaustedError(
        "otlp receiver: out of memory while processing the request; retry later");
    return outcome;
  }
}

// One LLM span of the request, between reading it and writing its annotation.
struct OtlpTraceReceiver::PendingSpan {
  SpanData* span = nullptr;
  LlmCall call;
  LlmAnnotation an;
  // Set for a priced span, which the governor charges: the annotation's id and attribution
  // are lent to the request meanwhile.
  bool charge = false;
  OperationRequest request;
  Completion completion;
  // When LLM spans below it were charged first: the price of its own usage, and what they
  // were charged (the span is charged the difference, an.cost).
  Money span_total;
  Money charged_below;

  // As a new entry, except that the strings keep their buffers (libstdc++ keeps a string's
  // buffer when a short string is moved into it), and `call`, which the caller swaps in.
  void Reset() {
    span = nullptr;
    an = LlmAnnotation();
    charge = false;
    request = OperationRequest();
    completion = Completion();
    span_total = Money();
    charged_below = Money();
  }
};

ExportOutcome OtlpTraceReceiver::Process(DecodedTraces& traces) {
  ExportOutcome outcome;
  const int64_t now = clock_->NowUnixNanos();
  counters_.spans_received.fetch_add(traces.span_count, std::memory_order_relaxed);
  if (traces.links_dropped != 0) {
    counters_.links_dropped.fetch_add(traces.links_dropped, std::memory_order_relaxed);
  }
  if (traces.values_converted != 0) {
    counters_.values_converted.fetch_add(traces.values_converted, std::memory_order_relaxed);
  }

  // 1. Validate every span and price the LLM ones; rejected spans are marked, not moved yet
  //    (the pending spans point into the batches).
  Rejections rejections(options_.max_listed_rejections);
  std::vector<std::vector<bool>> rejected(traces.batches.size());
  // One vector per thread whose entries are kept between requests and reset in place (their
  // strings keep their buffers), reserved for every span of the request up front (the entries
  // are pointed at only after step 1). They are ~1 KB each: a deque, which the receiver used,
  // made a large malloc (and a free) per LLM span. The first pending_count are this request's.
  thread_local std::vector<PendingSpan> pending;
  thread_local LlmCall read;  // each span is read into it; an LLM span's swapped into `pending`
  size_t pending_count = 0;
  if (pending.capacity() < traces.span_count) pending.reserve(traces.span_count);
  struct TrimPending {
    ~TrimPending() {
      if (pending.size() > kMaxKeptPendingSpans) std::vector<PendingSpan>().swap(pending);
    }
  } trim_pending;
  std::string reason;
  for (size_t b = 0; b < traces.batches.size(); ++b) {
    ScopeSpansBatch& batch = traces.batches[b];
    rejected[b].assign(batch.spans.size(), false);
    std::optional<Attribution> resource_attribution;  // computed for the first LLM span
    for (size_t k = 0; k < batch.spans.size(); ++k) {
      SpanData& span = batch.spans[k];
      if (!span.trace_id.valid() || !span.span_id.valid()) {
        reason = "the span has no trace_id or span_id (missing or all zero)";
      } else {
        reason.clear();
        const absl::Status status = ReadLlmCall(span, batch.resource, &read);
        if (!status.ok()) {
          reason = std::string(status.message());
        } else if (!read.is_llm) {
          continue;  // passes through unchanged
        } else if (read.already_governed) {
          counters_.already_governed.fetch_add(1, std::memory_order_relaxed);
          continue;
        } else {
          if (!resource_attribution.has_value()) {
            resource_attribution = ResourceAttribution(batch.resource, defaults_);
          }
          if (pending_count == pending.size()) pending.emplace_back();
          PendingSpan& p = pending[pending_count++];
          p.Reset();
          std::swap(p.call, read);
          PriceLlmSpan(*resource_attribution, span, now, p);
          continue;
        }
      }
      rejections.Add(span, reason);
      rejected[b][k] = true;
    }
  }

  // 2. Charge the priced spans together: one ledger batch (one durable commit on SQLite)
  //    for the whole request instead of one per span; each is charged its cost minus what
  //    LLM spans below it were charged (one call, one charge).
  const std::span<PendingSpan> llm_spans(pending.data(), pending_count);
  NetNestedSpend(traces, rejected, llm_spans);
  std::vector<Governor::UnreservedCompletion> calls;
  calls.reserve(pending_count);
  for (const PendingSpan& p : llm_spans) {
    if (p.charge) calls.push_back({.request = &p.request, .completion = &p.completion});
  }
  std::vector<Settlement> settlements;
  if (!calls.empty()) settlements = governor_->CompleteUnreserved(calls);
  size_t next_settlement = 0;
  for (PendingSpan& p : llm_spans) {
    if (p.charge) ApplySettlement(settlements[next_settlement++], p);
    FinishLlmSpan(p, &traces.spares);
  }

  // 3. Forward what was accepted.
  for (size_t b = 0; b < traces.batches.size(); ++b) {
    ScopeSpansBatch& batch = traces.batches[b];
    size_t kept = 0;
    for (size_t k = 0; k < batch.spans.size(); ++k) {
      if (rejected[b][k]) continue;
      if (kept != k) batch.spans[kept] = std::move(batch.spans[k]);
      ++kept;
    }
    batch.spans.resize(kept);
    outcome.accepted_spans += static_cast<int64_t>(kept);
    if (kept != 0) sink_->Consume(batch.resource, batch.spans);
  }
  outcome.rejected_spans = rejections.count();
  if (outcome.rejected_spans != 0) outcome.error_message = rejections.Message();
  counters_.spans_accepted.fetch_add(static_cast<uint64_t>(outcome.accepted_spans),
                                     std::memory_order_relaxed);
  counters_.spans_rejected.fetch_add(static_cast<uint64_t>(outcome.rejected_spans),
                                     std::memory_order_relaxed);
  return outcome;
}

void OtlpTraceReceiver::PriceLlmSpan(const Attribution& resource_attribution, SpanData& span,
                                     int64_t now, PendingSpan& p) {
  counters_.llm_spans.fetch_add(1, std::memory_order_relaxed);
  p.span = &span;
  LlmAnnotation& an = p.an;
  an.attribution = SpanAttribution(span, resource_attribution);
  an.operation_id.reserve(options_.operation_id_prefix.size() + 49);
  an.operation_id = options_.operation_id_prefix;
  AppendHex(span.trace_id.bytes, &an.operation_id);
  an.operation_id += '-';
  AppendHex(span.span_id.bytes, &an.operation_id);
  an.policy_level = governor_->settings().level;
  an.cost_provider = !p.call.provider.empty() ? p.call.provider : p.call.provider_reported;
  an.cost_model = p.call.model();

  const pricing::ModelPricing* pricing = nullptr;
  if (p.call.has_usage && !p.call.provider_unknown) {
    if (!p.call.response_model.empty()) {
      pricing = catalog_->Find(p.call.provider, p.call.response_model);
    }
    if (pricing == nullptr && !p.call.request_model.empty()) {
      pricing = catalog_->Find(p.call.provider, p.call.request_model);
    }
  }
  if (!p.call.has_usage) {
    counters_.spans_without_usage.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (pricing == nullptr) {
    counters_.unpriced_spans.fetch_add(1, std::memory_order_relaxed);
    an.result = DecisionResult::kWarned;
    an.reason = DecisionReason::kUnpricedModel;
    return;
  }
  const pricing::CostBreakdown cost = pricing::ComputeCost(*pricing, p.call.usage);
  an.priced = true;
  an.cost = cost.total;
  an.cost_provider = pricing->provider;
  an.cost_model = pricing->id;
  p.charge = true;
  // The id and attribution are lent to the request and taken back (no copies).
  p.request.operation_id = std::move(an.operation_id);
  p.request.attribution = std::move(an.attribution);
  p.request.provider = pricing->provider;
  p.request.model = pricing->id;
  p.completion.usage = p.call.usage;
  p.completion.cost_override = cost.total;
  p.completion.now_unix_nanos = now;
}

void OtlpTraceReceiver::NetNestedSpend(const DecodedTraces& traces,
                                       const std::vector<std::vector<bool>>& rejected,
                                       std::span<PendingSpan> llm_spans) {
  // Every accepted span of the request, in order; the LLM spans are llm_spans, in the same
  // order (step 1 appended them as it met them).
  thread_local std::vector<NestedSpendTracker::Node> nodes;
  thread_local std::vector<PendingSpan*> pending_of;  // per node, null for other spans
  nodes.clear();
  pending_of.clear();
  size_t next_llm = 0;
  for (size_t b = 0; b < traces.batches.size(); ++b) {
    const ScopeSpansBatch& batch = traces.batches[b];
    for (size_t k = 0; k < batch.spans.size(); ++k) {
      const SpanData& span = batch.spans[k];
      PendingSpan* p = nullptr;
      if (next_llm < llm_spans.size() && llm_spans[next_llm].span == &span) {
        p = &llm_spans[next_llm++];
      }
      if (rejected[b][k]) continue;
      NestedSpendTracker::Node& node = nodes.emplace_back();
      node.trace_id = span.trace_id;
      node.span_id = span.span_id;
      node.parent_span_id = span.parent_span_id;
      if (p != nullptr && p->charge) {
        node.charged = true;
        node.cost = p->an.cost;
      }
      pending_of.push_back(p);
    }
  }
  nested_.Plan(nodes);
  for (size_t i = 0; i < nodes.size(); ++i) {
    PendingSpan* p = pending_of[i];
    if (p == nullptr || !p->charge || nodes[i].below <= Money()) continue;
    p->span_total = p->an.cost;
    p->charged_below = nodes[i].below;
    p->an.cost = nodes[i].charge;
    p->completion.cost_override = nodes[i].charge;
  }
}

void OtlpTraceReceiver::ApplySettlement(Settlement& settlement, PendingSpan& p) {
  LlmAnnotation& an = p.an;
  an.operation_id = std::move(p.request.operation_id);
  an.attribution = std::move(p.request.attribution);
  an.charged = true;
  an.ledger_ok = settlement.ledger_status.ok();
  if (!an.ledger_ok) counters_.ledger_errors.fetch_add(1, std::memory_order_relaxed);
  an.budget = TightestBudget(settlement.budgets);
  if (AnyBudgetExceeded(settlement.budgets)) {
    an.result = DecisionResult::kWarned;
    an.reason = DecisionReason::kBudgetExceeded;
  }
  an.alerts = std::move(settlement.alerts);
  counters_.priced_spans.fetch_add(1, std::memory_order_relaxed);
  if (settlement.already_settled) {
    counters_.redelivered_spans.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.charged_nanos.fetch_add(an.cost.nanos(), std::memory_order_relaxed);
  }
}

void OtlpTraceReceiver::FinishLlmSpan(PendingSpan& p, SpareElements* spares) {
  LlmAnnotation& an = p.an;
  an.call = &p.call;
  SpanData& span = *p.span;
  AnnotateLlmSpan(an, span, spares);
  if (p.charged_below > Money()) {
    // genops.cost.total (above) is what this span was charged; these say why it is less.
    span.attributes.push_back({"genops.cost.span_total", p.span_total.usd()});
    span.attributes.push_back({"genops.cost.charged_below", p.charged_below.usd()});
  }
  if (!records_) return;
  // One record per thread, filled span after span: every field is assigned (copied, so that
  // the record's strings keep their buffers, and so do the annotation's for the next span),
  // and the sink hands back the record it evicted, or null.
  thread_local std::unique_ptr<OperationRecord> reused;
  if (reused == nullptr) reused = std::make_unique<OperationRecord>();
  static_assert(telemetry::CountFields<OperationRecord>() == 15,
                "a field was added to OperationRecord: assign it here (the record is reused)");
  OperationRecord& record = *reused;
  record.operation_id = an.operation_id;
  record.start_unix_nanos = span.start_unix_nanos;
  record.duration_nanos =
      span.end_unix_nanos > span.start_unix_nanos ? span.end_unix_nanos - span.start_unix_nanos : 0;
  record.operation_type = p.call.operation;
  record.operation_name = span.name;
  record.attribution = an.attribution;
  record.provider = an.cost_provider;
  record.model = an.cost_model;
  record.usage = p.call.usage;
  record.cost = an.cost;
  record.priced = an.priced;
  record.decision = an.result;
  record.reason = an.reason;
  record.error = span.status_code == telemetry::StatusCode::kError;
  span.trace_id.ToHex(&record.trace_id);
  records_(reused);
}

ReceiverStats OtlpTraceReceiver::stats() const noexcept {
  ReceiverStats s;
  const auto load = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };
  s.requests = load(counters_.requests);
  s.requests_refused = load(counters_.requests_refused);
  s.spans_received = load(counters_.spans_received);
  s.spans_accepted = load(counters_.spans_accepted);
  s.spans_rejected = load(counters_.spans_rejected);
  s.llm_spans = load(counters_.llm_spans);
  s.priced_spans = load(counters_.priced_spans);
  s.unpriced_spans = load(counters_.unpriced_spans);
  s.spans_without_usage = load(counters_.spans_without_usage);
  s.already_governed = load(counters_.already_governed);
  s.ledger_errors = load(counters_.ledger_errors);
  s.redelivered_spans = load(counters_.redelivered_spans);
  s.charged_nanos = load(counters_.charged_nanos);
  s.links_dropped = load(counters_.links_dropped);
  s.values_converted = load(counters_.values_converted);
  s.forwarding = sink_->stats();
  return s;
}

}  // namespace genops::receiver
