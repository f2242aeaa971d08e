// OTLP receiver throughput: spans per second through
//   decode -> enrich -> charge (memory ledger, through the Governor) -> re-encode -> export
// on the calling thread(s). The "export" is a null exporter fed by a sink that re-encodes every
// accepted span with the exporters' own wire encoder (EncodeOtlpProto) and drops the bytes, so
// the figure covers all the CPU work the receiver adds per span, with none of it hidden on a
// background thread. Anchor: the OpenTelemetry Collector's published ~12k spans/s per core for
// OTLP; target >= 250k spans/s per core.
//
// Requests are 512-span batches (bench/otlp_load_batches.h, shared with the over-the-socket
// load tool tests/tools/otlp_load_tool.cc) shaped like OpenLLMetry
// traces: an LLM span carries ~20 attributes (model, provider, usage, a 600-byte prompt and a
// 300-byte completion, association properties); the others are HTTP/workflow spans with ~8.
//   BM_ReceiveProto/<llm percent>     OTLP/HTTP protobuf body
//   BM_ReceiveJson/<llm percent>      OTLP/JSON body
//   BM_DecodeProtoOnly, BM_DecodeJsonOnly   decoding alone, for the breakdown
// Every iteration rewrites the trace ids in the body (a few bytes per span), so every span is
// a new operation id, as in production; a redelivery would take the ledger's cheaper
// idempotent path. Threads(2) runs two clients against one receiver, governor and ledger.
//
// Run: build-release/receiver_benchmark --benchmark_min_time=1
//      (read spans_per_second; with 2 threads it is the total of both)
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/otlp_load_batches.h"
#include "genops/clock.h"
#include "src/core/catalog.h"
#include "src/core/governor.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/ledger/memory_ledger.h"
#include "src/receiver/otlp_decoder.h"
#include "src/receiver/trace_receiver.h"

namespace {

using genops::bench::kLoadBatchSize;
using genops::bench::LoadRequest;
using genops::bench::MakeLoadRequest;
using genops::bench::Renumber;
using genops::telemetry::Attribute;
using genops::telemetry::ResourceInfo;
using genops::telemetry::SpanData;

constexpr size_t kBatchSize = kLoadBatchSize;

// Re-encodes what it is given and drops it: the null exporter at the end of the pipeline. It
// leaves the spans in `spans`, so the receiver decodes its next request over them, as it does
// over the buffers a BatchSpanProcessor hands back in `genops serve`.
class EncodingNullSink final : public genops::receiver::ReceivedSpanSink {
 public:
  void Consume(const ResourceInfo& resource, std::vector<SpanData>& spans) noexcept override {
    thread_local std::string buffer;
    genops::exporter::EncodeOtlpProto(spans, resource, &buffer);
    bytes_.fetch_add(buffer.size(), std::memory_order_relaxed);
  }
  std::atomic<uint64_t> bytes_{0};
};

struct Pipeline {
  Pipeline() {
    catalog = std::shared_ptr<const genops::pricing::Catalog>(
        genops::pricing::Catalog::Builtin().value());
    ledger = std::shared_ptr<genops::ledger::Ledger>(genops::ledger::NewMemoryLedger(&clock));
    genops::GovernanceSettings settings;
    settings.level = genops::PolicyLevel::kAdvisory;
    settings.defaults.team = "platform";
    settings.defaults.project = "answers";
    settings.daily_budget_limit = genops::Money::FromUsdString("1000000").value();
    governor = std::shared_ptr<genops::Governor>(
        genops::Governor::Create(settings, catalog, ledger, nullptr, nullptr, &clock).value());
    sink = std::make_shared<EncodingNullSink>();
    genops::receiver::ReceiverDependencies deps;
    deps.catalog = catalog;
    deps.governor = governor;
    deps.sink = sink;
    deps.clock = &clock;
    // Records are built (their cost counts) and dropped; production hands them to the
    // operations-log writer, which writes them on its own thread.
    deps.records = [](std::unique_ptr<genops::OperationRecord>& record) {
      benchmark::DoNotOptimize(record->cost);
    };
    receiver = genops::receiver::OtlpTraceReceiver::Create({}, std::move(deps)).value();
  }
  genops::ManualClock clock;
  std::shared_ptr<const genops::pricing::Catalog> catalog;
  std::shared_ptr<genops::ledger::Ledger> ledger;
  std::shared_ptr<genops::Governor> governor;
  std::shared_ptr<EncodingNullSink> sink;
  std::unique_ptr<genops::receiver::OtlpTraceReceiver> receiver;
};

// Iteration numbers: distinct across threads and runs, so every span is a new operation id.
std::atomic<uint64_t> next_iteration{1};

// The pipeline every benchmark shares, warmed up: the memory ledger's idempotency record
// (100,000 ids) is filled first, so the figures are the steady state of a long-running
// receiver rather than its first second (which is ~25% slower while that record grows).
Pipeline* SharedPipeline() {
  static Pipeline* pipeline = [] {
    auto* p = new Pipeline();
    LoadRequest warmup = MakeLoadRequest(100, false, 99);
    for (int k = 0; k < 200; ++k) {
      Renumber(warmup, next_iteration.fetch_add(1, std::memory_order_relaxed));
      (void)p->receiver->Export(warmup.body, genops::receiver::PayloadFormat::kProtobuf);
    }
    return p;
  }();
  return pipeline;
}

void Receive(benchmark::State& state, bool json) {
  Pipeline* p = SharedPipeline();
  const int llm_percent = static_cast<int>(state.range(0));
  LoadRequest request = MakeLoadRequest(llm_percent, json, state.thread_index());
  const auto format =
      json ? genops::receiver::PayloadFormat::kJson : genops::receiver::PayloadFormat::kProtobuf;
  int64_t rejected = 0;
  for (auto _ : state) {
    Renumber(request, next_iteration.fetch_add(1, std::memory_order_relaxed));
    const genops::receiver::ExportOutcome out = p->receiver->Export(request.body, format);
    rejected += out.rejected_spans + (out.status.ok() ? 0 : 1);
  }
  state.counters["spans_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatchSize), benchmark::Counter::kIsRate);
  state.counters["body_bytes"] = static_cast<double>(request.body.size());
  state.counters["rejected"] = static_cast<double>(rejected);  // must stay 0
}

void BM_ReceiveProto(benchmark::State& state) { Receive(state, false); }
void BM_ReceiveJson(benchmark::State& state) { Receive(state, true); }
BENCHMARK(BM_ReceiveProto)->Arg(100)->Arg(50)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ReceiveProto)->Arg(50)->Threads(2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ReceiveProto)->Arg(100)->Threads(2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ReceiveJson)->Arg(50)->Unit(benchmark::kMicrosecond)->UseRealTime();

void Decode(benchmark::State& state, bool json) {
  const LoadRequest request = MakeLoadRequest(50, json, 0);
  genops::receiver::DecodedTraces traces;
  for (auto _ : state) {
    const absl::Status s = json ? genops::receiver::DecodeOtlpJson(request.body, {}, &traces)
                                : genops::receiver::DecodeOtlpProto(request.body, {}, &traces);
    benchmark::DoNotOptimize(s.ok());
  }
  state.counters["spans_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatchSize), benchmark::Counter::kIsRate);
}
void BM_DecodeProtoOnly(benchmark::State& state) { Decode(state, false); }
void BM_DecodeJsonOnly(benchmark::State& state) { Decode(state, true); }
BENCHMARK(BM_DecodeProtoOnly)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeJsonOnly)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
