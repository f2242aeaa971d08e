// OTLP encoding throughput for a 512-span batch of realistic GenOps spans (~32 attributes,
// 2 events each), the exporter's default batch size.
//
//   BM_EncodeOtlpProtoDirect   the wire-format encoder exporters use
//   BM_EncodeOtlpProtoArena    libprotobuf messages built on an Arena, then serialised
//   BM_EncodeOtlpJson          OTLP/JSON
//   BM_EncodeOtlpProtoGzip     direct encoder + gzip level 6 (the default OTLP/HTTP body)
//   BM_EncodeOtlpProtoDirectMixedOrigins / BM_EncodeOtlpJsonMixedOrigins
//                              a batch the OTLP receiver forwards: a quarter GenOps' own spans,
//                              the rest from three applications (SpanData::origin),
//                              interleaved, so four ResourceSpans
//
// Run: build-release/otlp_encode_benchmark   (read the spans_per_second counter)
#include <benchmark/benchmark.h>
#include <google/protobuf/arena.h>

#include <memory>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/gzip.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "tests/export/span_fixtures.h"

namespace {

constexpr size_t kBatchSize = 512;

void SetCounters(benchmark::State& state, size_t bytes) {
  state.counters["spans_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatchSize), benchmark::Counter::kIsRate);
  state.counters["bytes_per_batch"] = static_cast<double>(bytes);
}

void BM_EncodeOtlpProtoDirect(benchmark::State& state) {
  const auto spans = genops::testing::MakeGenOpsBatch(kBatchSize);
  const auto resource = genops::testing::MakeResource();
  std::string out;
  for (auto _ : state) {
    genops::exporter::EncodeOtlpProto(spans, resource, &out);
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, out.size());
}
BENCHMARK(BM_EncodeOtlpProtoDirect)->Unit(benchmark::kMicrosecond);

void BM_EncodeOtlpProtoArena(benchmark::State& state) {
  const auto spans = genops::testing::MakeGenOpsBatch(kBatchSize);
  const auto resource = genops::testing::MakeResource();
  std::string out;
  for (auto _ : state) {
    google::protobuf::Arena arena;
    const auto* request = genops::exporter::BuildOtlpProtoRequest(spans, resource, &arena);
    out.clear();
    request->SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, out.size());
}
BENCHMARK(BM_EncodeOtlpProtoArena)->Unit(benchmark::kMicrosecond);

void BM_EncodeOtlpJson(benchmark::State& state) {
  const auto spans = genops::testing::MakeGenOpsBatch(kBatchSize);
  const auto resource = genops::testing::MakeResource();
  std::string out;
  for (auto _ : state) {
    genops::exporter::EncodeOtlpJson(spans, resource, &out);
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, out.size());
}
BENCHMARK(BM_EncodeOtlpJson)->Unit(benchmark::kMicrosecond);

void BM_EncodeOtlpProtoGzip(benchmark::State& state) {
  const auto spans = genops::testing::MakeGenOpsBatch(kBatchSize);
  const auto resource = genops::testing::MakeResource();
  std::string out;
  size_t compressed_size = 0;
  for (auto _ : state) {
    genops::exporter::EncodeOtlpProto(spans, resource, &out);
    auto compressed = genops::exporter::GzipCompress(out);
    compressed_size = compressed.ok() ? compressed->size() : 0;
    benchmark::DoNotOptimize(compressed_size);
  }
  SetCounters(state, compressed_size);
}
BENCHMARK(BM_EncodeOtlpProtoGzip)->Unit(benchmark::kMicrosecond);

// Span i belongs to GenOps (i % 4 == 0) or to one of three applications.
std::vector<genops::telemetry::SpanData> MakeMixedOriginBatch() {
  auto spans = genops::testing::MakeGenOpsBatch(kBatchSize);
  const std::shared_ptr<const genops::telemetry::ResourceInfo> origins[] = {
      genops::testing::MakeOrigin("app-a", "@traceloop/instrumentation-openai", "0.11.0"),
      genops::testing::MakeOrigin("app-b", "opentelemetry.instrumentation.openai", "0.40.0"),
      genops::testing::MakeOrigin("app-c", "openinference.instrumentation.langchain", "0.1.2"),
  };
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i % 4 != 0) spans[i].origin = origins[i % 4 - 1];
  }
  return spans;
}

void BM_EncodeOtlpProtoDirectMixedOrigins(benchmark::State& state) {
  const auto spans = MakeMixedOriginBatch();
  const auto resource = genops::testing::MakeResource();
  std::string out;
  for (auto _ : state) {
    genops::exporter::EncodeOtlpProto(spans, resource, &out);
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, out.size());
}
BENCHMARK(BM_EncodeOtlpProtoDirectMixedOrigins)->Unit(benchmark::kMicrosecond);

void BM_EncodeOtlpJsonMixedOrigins(benchmark::State& state) {
  const auto spans = MakeMixedOriginBatch();
  const auto resource = genops::testing::MakeResource();
  std::string out;
  for (auto _ : state) {
    genops::exporter::EncodeOtlpJson(spans, resource, &out);
    benchmark::DoNotOptimize(out.data());
  }
  SetCounters(state, out.size());
}
BENCHMARK(BM_EncodeOtlpJsonMixedOrigins)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
