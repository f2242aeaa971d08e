// OtlpTraceReceiver: the protocol-independent core of the OTLP receiver (DESIGN.md §1.3, §4).
//
// One Export() call handles one ExportTraceServiceRequest body, whatever carried it (the
// OTLP/HTTP handler in otlp_http_handler.h; an OTLP/gRPC service would call ExportDecoded()):
//   decode      protobuf or OTLP/JSON -> SpanData grouped by (resource, scope)
//               (otlp_decoder.h); an undecodable body is refused whole (nothing charged).
//   validate    per span: a missing trace or span id, or an LLM span with negative,
//               fractional or huge token counts, rejects that span only (OTLP partial
//               success: rejected_spans + error_message); it is neither charged nor forwarded.
//   enrich      LLM spans (span_enricher.h): usage normalised, priced with the catalog,
//               attributed, annotated with genops.* attributes and events. Spans that a GenOps
//               SDK or gateway already governed (genops.operation.id) and non-LLM spans pass
//               through unchanged.
//   charge      the priced LLM spans of a request are charged together through
//               Governor::CompleteUnreserved() (one ledger batch: on SQLite one transaction
//               and one disk flush per request, not per span), each with the operation
//               id "otlp-<trace id hex>-<span id hex>": the ledger's idempotency by id
//               makes a redelivered batch charge once (and raise its alerts once); a
//               ledger that is down queues the charge in the governor (never lost). An
//               unpriced model is never charged or guessed: genops.cost.priced=false, counted.
//   record      one OperationRecord per LLM span (priced or not) to the record sink, so
//               `genops report` includes receiver spend; appends are idempotent by id too.
//   forward     every accepted span goes to the ReceivedSpanSink, which must not block.
//
// Policy: the calls already happened, so the receiver never blocks anything. A span's
// genops.policy.result is "allowed", or "warned" with genops.policy.reason unpriced_model or
// budget_exceeded (a matching budget's settled spend is above its limit after the charge); the
// governor's alerts (cost threshold, budget thresholds, anomalies, ledger unavailable) fire as
// for the SDK, once per operation id, and become genops.alert span events.
//
// One call, one charge: two instrumentations recording the same call (a framework span and
// the provider SDK span under it), or a container span carrying the usage of the calls below
// it, would charge the call twice. Each priced LLM span is charged its cost minus what LLM
// spans below it in its trace were charged before it (NestedSpendTracker, nested_spend.h).
//
// Known limits: attribution is read from the span and its resource only (a genops.team set on
// a parent workflow span is not inherited by its LLM children: OpenLLMetry's association
// properties are, since the SDK copies them onto every span); nested spans are netted only
// when the spans below arrive first (nested_spend.h).
//
// Blocking: Export() calls the ledger (through the governor) and may block on it. Never call
// it on an event-loop thread: the HTTP handler posts it to an executor.
//
// Time: charges land in the budget window of the receiver's clock when the batch arrives
// (Governor::Complete's `now`), not of the span's own timestamps, which come from the client's
// clock; the operation record keeps the span's start time and duration.
//
// Example:
//   auto receiver = OtlpTraceReceiver::Create(options, {.catalog = catalog,
//       .governor = governor, .sink = MakeSpanProcessorSink(processor),
//       .records = [adapter](std::unique_ptr<OperationRecord>& r) {
//           adapter->RecordExternalOperation(r); }});
//   ExportOutcome out = (*receiver)->Export(body, PayloadFormat::kProtobuf);
//
// Thread safety: thread-safe; Export() may run on any number of threads at once.
#ifndef GENOPS_RECEIVER_TRACE_RECEIVER_H_
#define GENOPS_RECEIVER_TRACE_RECEIVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "genops/operation_record.h"
#include "src/core/catalog.h"
#include "src/core/governor.h"
#include "src/receiver/nested_spend.h"
#include "src/receiver/otlp_decoder.h"
#include "src/receiver/span_enricher.h"
#include "src/telemetry/span_data.h"
#include "src/telemetry/span_processor.h"

namespace genops::receiver {

// Where enriched spans go. Called from the receiver's worker threads, concurrently.
//
// Thread safety: implementations must be thread-safe, and Consume() must never block (a
// backend that is down must not slow receiving): queue boundedly and count what is dropped.
class ReceivedSpanSink {
 public:
  virtual ~ReceivedSpanSink() = default;
  // Takes the accepted spans of one (resource, scope) group: their contents are the sink's.
  // It may leave in each element of `spans` a SpanData to decode a later span into, holding
  // an earlier span's buffers (SpanProcessor::OnEndRecycling), or an empty or moved-from one:
  // the receiver writes over every field before using it again.
  virtual void Consume(const telemetry::ResourceInfo& resource,
                       std::vector<telemetry::SpanData>& spans) noexcept = 0;
  // What happened to the spans after Consume (queued, exported, dropped); zeros if unknown.
  virtual telemetry::SpanProcessorStats stats() const noexcept { return {}; }
};

// A sink that hands each span to `processor` through OnEndRecycling (a BatchSpanProcessor:
// bounded ring, drops counted in its stats(), never blocks, hands back an exported span's
// buffers for the next decode), with SpanData::origin set to the group's resource
// and scope, so the exporters behind it forward each span under its application's
// service.name, resource attributes and instrumentation scope, with the genops.* enrichment
// on the span. Equal (resource, scope) pairs of successive requests share one origin (a small
// cache of recent ones), which keeps an exported batch to one OTLP ResourceSpans per
// (application, scope) rather than one per request.
std::shared_ptr<ReceivedSpanSink> MakeSpanProcessorSink(
    std::shared_ptr<telemetry::SpanProcessor> processor);

enum class PayloadFormat { kProtobuf, kJson };

struct ReceiverOptions {
  DecodeLimits limits;
  // The lowest-precedence attribution: the governor's settings().defaults (the config
  // file's governance team/project/...), with these non-empty values over them.
  Attribution defaults;
  // Operation ids are prefix + trace id hex + "-" + span id hex.
  std::string operation_id_prefix = "otlp-";
  // At most this many rejection reasons are listed in partial_success.error_message.
  int max_listed_rejections = 5;
};

// Operation records go here (e.g. AdapterImpl::RecordExternalOperation). Called on the
// Export() thread. Takes `*record` (never null) and may leave in `record` another record
// (e.g. one an operation log evicted) or null: the receiver fills the record it gets back for
// its next span, writing over its strings instead of allocating new ones.
using OperationRecordSink = std::function<void(std::unique_ptr<OperationRecord>& record)>;

struct ReceiverDependencies {
  std::shared_ptr<const pricing::Catalog> catalog;  // required
  // Required: charges the ledger idempotently, raises alerts, gives the policy level.
  std::shared_ptr<Governor> governor;
  std::shared_ptr<ReceivedSpanSink> sink;  // required
  OperationRecordSink records;             // optional
  const Clock* clock = nullptr;            // null: Clock::Real()
};

// The result of one Export().
struct ExportOutcome {
  // Not OK: the request was refused whole (undecodable: InvalidArgument; out of memory:
  // ResourceExhausted); nothing was charged or forwarded. The message says what and where.
  absl::Status status;
  int64_t accepted_spans = 0;
  int64_t rejected_spans = 0;
  // Why spans were rejected (the first few, then "and N more"); empty when none was.
  std::string error_message;
};

// Monotonic counters since Create().
struct ReceiverStats {
  uint64_t requests = 0;          // Export() calls
  uint64_t requests_refused = 0;  // refused whole (undecodable)
  uint64_t spans_received = 0;
  uint64_t spans_accepted = 0;  // forwarded to the sink
  uint64_t spans_rejected = 0;  // partial success rejections
  uint64_t llm_spans = 0;       // recognised LLM spans (accepted ones)
  uint64_t priced_spans = 0;
  uint64_t unpriced_spans = 0;       // LLM spans with usage whose model has no price
  uint64_t spans_without_usage = 0;  // LLM spans reporting no usable token counts
  uint64_t already_governed = 0;     // spans a GenOps SDK/gateway had charged (passed through)
  uint64_t ledger_errors = 0;        // charges the ledger refused (queued by the governor)
  uint64_t redelivered_spans = 0;    // priced spans the ledger had already charged (retries)
  int64_t charged_nanos = 0;         // newly charged cost (redeliveries excluded)
  uint64_t links_dropped = 0;        // span links the span model cannot carry
  uint64_t values_converted = 0;     // attribute values converted to strings by the decoder
  telemetry::SpanProcessorStats forwarding;  // the sink's own counters
};

class OtlpTraceReceiver {
 public:
  // InvalidArgument when a required dependency is missing.
  static absl::StatusOr<std::unique_ptr<OtlpTraceReceiver>> Create(ReceiverOptions options,
                                                                   ReceiverDependencies deps);

  OtlpTraceReceiver(const OtlpTraceReceiver&) = delete;
  OtlpTraceReceiver& operator=(const OtlpTraceReceiver&) = delete;

  // Decodes `body` (already decompressed) and processes it. Blocks on the ledger.
  ExportOutcome Export(std::string_view body, PayloadFormat format) noexcept;
  // Processes an already decoded request. The spans' contents go to the sink; `traces` keeps
  // what the sink leaves in them (buffers to decode the next request into; see Consume).
  ExportOutcome ExportDecoded(DecodedTraces& traces) noexcept;

  ReceiverStats stats() const noexcept;
  const ReceiverOptions& options() const { return options_; }

 private:
  OtlpTraceReceiver(ReceiverOptions options, ReceiverDependencies deps);

  struct Counters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> requests_refused{0};
    std::atomic<uint64_t> spans_received{0};
    std::atomic<uint64_t> spans_accepted{0};
    std::atomic<uint64_t> spans_rejected{0};
    std::atomic<uint64_t> llm_spans{0};
    std::atomic<uint64_t> priced_spans{0};
    std::atomic<uint64_t> unpriced_spans{0};
    std::atomic<uint64_t> spans_without_usage{0};
    std::atomic<uint64_t> already_governed{0};
    std::atomic<uint64_t> ledger_errors{0};
    std::atomic<uint64_t> redelivered_spans{0};
    std::atomic<int64_t> charged_nanos{0};
    std::atomic<uint64_t> links_dropped{0};
    std::atomic<uint64_t> values_converted{0};
  };
  class Rejections;
  struct PendingSpan;

  ExportOutcome Process(DecodedTraces& traces);
  // Reads the attribution and price of one valid LLM span (read into p.call) into `p` (charge
  // set when priced).
  void PriceLlmSpan(const Attribution& resource_attribution, telemetry::SpanData& span,
                    int64_t now, PendingSpan& p);
  // Sets what each priced LLM span of the request is charged: its cost minus what LLM spans
  // below it were charged (nested_).
  void NetNestedSpend(const DecodedTraces& traces,
                      const std::vector<std::vector<bool>>& rejected,
                      std::span<PendingSpan> llm_spans);
  // Takes the governor's answer for a charged span.
  void ApplySettlement(Settlement& settlement, PendingSpan& p);
  // Annotates the span (over `spares`' elements) and records the operation.
  void FinishLlmSpan(PendingSpan& p, SpareElements* spares);

  const ReceiverOptions options_;
  const std::shared_ptr<const pricing::Catalog> catalog_;
  const std::shared_ptr<Governor> governor_;
  const std::shared_ptr<ReceivedSpanSink> sink_;
  const OperationRecordSink records_;
  const Clock* const clock_;
  const Attribution defaults_;  // governor defaults merged with options_.defaults
  NestedSpendTracker nested_;
  Counters counters_;
};

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_TRACE_RECEIVER_H_
