// One governed operation through the SDK, end to end:
//   start (policy check + atomic reservation) -> 5 attributes -> usage -> cost ->
//   end (settlement, operation log) -> span handed to the batch processor, which builds and
//   exports it on its own thread.
// The exporter behind the processor drops batches, so the figure is GenOps' own overhead.
//
// Counters: allocs_per_op counts the heap allocations of every thread (the export thread's
// included) per operation, caller_allocs_per_op those of the threads running operations;
// spans_dropped must stay 0 (a processor that fell behind and dropped spans would hide the cost
// of building them). With GENOPS_BENCH_LONG=1, also checks that the live heap does not grow
// across 10M operations.
//
//   build/release/operation_benchmark
//   GENOPS_BENCH_LONG=1 build/release/operation_benchmark --benchmark_filter=SteadyState
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <new>

#include "genops/genops.h"
#include "src/sdk/adapter_impl.h"

namespace {

std::atomic<int64_t> g_allocations{0};
std::atomic<int64_t> g_live_bytes{0};
thread_local int64_t t_allocations = 0;  // this thread's

}  // namespace

// Counting allocator: every allocation of the process goes through here. It pairs malloc
// with free by design.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  ++t_allocations;
  g_live_bytes.fetch_add(static_cast<int64_t>(size), std::memory_order_relaxed);
  void* p = std::malloc(size + 16);
  if (p == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(p) = size;
  return static_cast<char*>(p) + 16;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - 16;
  g_live_bytes.fetch_sub(static_cast<int64_t>(*reinterpret_cast<size_t*>(base)),
                         std::memory_order_relaxed);
  std::free(base);
}
void operator delete(void* p, size_t) noexcept { operator delete(p); }

namespace {

class DroppingExporter final : public genops::exporter::SpanExporter {
 public:
  genops::exporter::ExportResult Export(
      std::span<const genops::telemetry::SpanData> spans) noexcept override {
    benchmark::DoNotOptimize(spans.data());
    return genops::exporter::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
  std::string_view name() const noexcept override { return "dropping"; }
};

std::shared_ptr<genops::AdapterImpl> MakeAdapter() {
  genops::AdapterConfig config;
  config.team = "platform";
  config.project = "bench";
  config.governance_policy = genops::PolicyLevel::kEnforced;
  config.daily_budget_limit = 1e9;
  config.max_operation_cost = 100.0;
  config.exporters = {"none"};
  config.log_alerts = false;
  config.span_processor_queue_size = 65536;
  genops::AdapterDependencies deps;
  deps.extra_exporters.push_back(std::make_unique<DroppingExporter>());
  return genops::AdapterImpl::Create(config, std::move(deps)).value();
}

void RunOne(genops::Adapter& adapter) {
  genops::Operation op = adapter.try_track_operation("chat_completion", "customer_query",
                                                     {.provider = "openai",
                                                      .model = "gpt-4o-2024-08-06",
                                                      .estimated_input_tokens = 1200,
                                                      .max_output_tokens = 300});
  op.add_attributes({{"business.customer_tier", "enterprise"},
                     {"business.revenue_impact", 5000.0},
                     {"quality.satisfaction_score", 0.95},
                     {"request.retries", int64_t{0}},
                     {"request.cached", true}});
  genops::Usage usage;
  usage.input_tokens = 1200;
  usage.cache_read_tokens = 256;
  usage.output_tokens = 280;
  op.update_token_usage(usage);
  op.end();
}

std::shared_ptr<genops::AdapterImpl>& Shared() {
  static std::shared_ptr<genops::AdapterImpl> adapter;
  return adapter;
}

// CPU time of every thread of the process (the export thread's included), in nanoseconds.
int64_t ProcessCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void BM_TrackedOperation(benchmark::State& state) {
  if (state.thread_index() == 0) Shared() = MakeAdapter();
  // Other threads wait for thread 0's setup at the first iteration (benchmark barrier).
  int64_t allocations_before = 0;
  int64_t caller_allocations_before = 0;
  int64_t process_cpu_before = 0;
  for (auto _ : state) {
    if (allocations_before == 0) {
      allocations_before = g_allocations.load();
      caller_allocations_before = t_allocations;
      process_cpu_before = ProcessCpuNanos();
    }
    RunOne(*Shared());
  }
  const int64_t caller_allocations = t_allocations - caller_allocations_before;
  if (state.thread_index() == 0) {
    state.counters["allocs_per_op"] =
        benchmark::Counter(static_cast<double>(g_allocations.load() - allocations_before) /
                           static_cast<double>(state.iterations() * state.threads()));
    state.counters["caller_allocs_per_op"] = benchmark::Counter(
        static_cast<double>(caller_allocations) / static_cast<double>(state.iterations()));
    Shared()->flush();
    // Includes the spans built on the export thread: the whole cost of an operation.
    state.counters["process_cpu_ns_per_op"] =
        benchmark::Counter(static_cast<double>(ProcessCpuNanos() - process_cpu_before) /
                           static_cast<double>(state.iterations() * state.threads()));
    state.counters["spans_dropped"] =
        benchmark::Counter(static_cast<double>(Shared()->get_metrics().spans_dropped));
    Shared()->shutdown();
    Shared().reset();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TrackedOperation)->Threads(1)->Threads(2)->UseRealTime();

// Live heap after warm-up vs after the full run: growth means a leak or an unbounded table.
void BM_SteadyStateMemory(benchmark::State& state) {
  auto adapter = MakeAdapter();
  const int64_t total = state.range(0);
  int64_t live_after_warmup = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < total; ++i) {
      RunOne(*adapter);
      if (i == total / 10) {
        adapter->flush();
        live_after_warmup = g_live_bytes.load();
      }
    }
  }
  adapter->flush();
  state.counters["live_heap_mb_after_10pct"] = static_cast<double>(live_after_warmup) / 1e6;
  state.counters["live_heap_mb_at_end"] = static_cast<double>(g_live_bytes.load()) / 1e6;
  adapter->shutdown();
}

struct LongRegistration {
  LongRegistration() {
    const char* long_runs = std::getenv("GENOPS_BENCH_LONG");
    if (long_runs != nullptr && std::string_view(long_runs) == "1") {
      benchmark::RegisterBenchmark("BM_SteadyStateMemory/10M", BM_SteadyStateMemory)
          ->Arg(10'000'000)
          ->Iterations(1)
          ->Unit(benchmark::kSecond);
    }
  }
} long_registration;

}  // namespace

BENCHMARK_MAIN();
