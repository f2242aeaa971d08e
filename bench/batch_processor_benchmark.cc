// Cost of BatchSpanProcessor::OnEnd on the caller's thread, with a null exporter.
//
// Compares the lock-free ring (what BatchSpanProcessor uses) with the obvious alternative, a
// ring guarded by one std::mutex with the same wake-up policy, to justify the choice.
//
// Results: 2-core VM shared with other builds (load average 3-4, so real times are noisy and
// CPU times are the better guide), GCC 12 -O2 -DNDEBUG, median of 3. Command:
//   batch_processor_benchmark --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
//   per span, CPU ns (real ns)     1 thread     2 threads
//   Burst, lock-free ring          19 (146)     28 (25)     <- what BatchSpanProcessor does
//   Burst, mutex ring              26 (138)     30 (50)
//   Saturated, lock-free ring      18 (23)      33 (22)     (~60% of calls dropped, counted)
//   Saturated, mutex ring          36 (51)      54 (56)
//   Unsampled span                 12 (12)      36 (18)
//   (BM_BuildRealisticSpan, for scale: building the span itself costs ~113 ns)
//
// Conclusion: the lock-free ring is 1.3-2x cheaper per call than the same ring under a mutex and
// does not serialise producers (2-thread real time per span halves), and either is small next to
// building the span. The single-thread Burst real time is dominated by the worker thread
// competing for the second core while the burst runs.
//
// "Burst" benchmarks time OnEnd on prebuilt realistic spans (name + 8 attributes) after the
// queue was drained, in bursts that fit in the queue: the accepting path a caller normally pays.
// "Saturated" benchmarks end minimal spans back to back, faster than the worker can drain, so
// they mostly measure the (counted) drop path under overload.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/export/span_exporter.h"
#include "src/telemetry/batch_span_processor.h"
#include "src/telemetry/span_data.h"
#include "src/telemetry/span_processor.h"

namespace genops::telemetry {
namespace {

class NullExporter final : public exporter::SpanExporter {
 public:
  exporter::ExportResult Export(std::span<const SpanData> spans) noexcept override {
    benchmark::DoNotOptimize(spans.data());
    return exporter::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::milliseconds /*timeout*/) noexcept override { return true; }
  std::string_view name() const noexcept override { return "null"; }
};

// The alternative design: the same preallocated ring and wake-up policy, under one mutex.
class MutexRingProcessor {
 public:
  MutexRingProcessor(size_t capacity, size_t batch_size)
      : slots_(capacity), batch_size_(batch_size), worker_([this] { Run(); }) {
    batch_.reserve(batch_size);
  }
  ~MutexRingProcessor() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
  }

  void OnEnd(SpanData&& span) noexcept {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (size_ == slots_.size()) {
        ++dropped_;
        return;
      }
      slots_[(head_ + size_) % slots_.size()] = std::move(span);
      ++size_;
      if (size_ >= batch_size_ && !wake_pending_) wake = wake_pending_ = true;
    }
    if (wake) cv_.notify_one();
  }
  // Waits until the worker has exported everything queued (the analogue of ForceFlush).
  void Drain() {
    std::unique_lock lock(mu_);
    wake_pending_ = true;
    cv_.notify_one();
    drained_.wait(lock, [this] { return size_ == 0 && !exporting_; });
  }
  uint64_t dropped() {
    std::lock_guard lock(mu_);
    return dropped_;
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait_for(lock, std::chrono::milliseconds(5), [this] { return stop_ || wake_pending_; });
      wake_pending_ = false;
      while (size_ > 0) {
        while (size_ > 0 && batch_.size() < batch_size_) {
          batch_.push_back(std::move(slots_[head_]));
          head_ = (head_ + 1) % slots_.size();
          --size_;
        }
        exporting_ = true;
        lock.unlock();
        exporter_.Export(batch_);
        batch_.clear();
        lock.lock();
        exporting_ = false;
      }
      drained_.notify_all();
      if (stop_) return;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_;
  std::vector<SpanData> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
  uint64_t dropped_ = 0;
  bool wake_pending_ = false;
  bool exporting_ = false;
  bool stop_ = false;
  const size_t batch_size_;
  std::vector<SpanData> batch_;
  NullExporter exporter_;
  std::thread worker_;
};

SpanData RealisticSpan() {
  SpanData span;
  span.name = "chat gpt-4o-mini";
  span.kind = SpanKind::kClient;
  span.attributes.reserve(8);
  span.attributes.push_back({"gen_ai.provider.name", std::string("openai")});
  span.attributes.push_back({"gen_ai.operation.name", std::string("chat")});
  span.attributes.push_back({"gen_ai.request.model", std::string("gpt-4o-mini")});
  span.attributes.push_back({"gen_ai.usage.input_tokens", int64_t{1200}});
  span.attributes.push_back({"gen_ai.usage.output_tokens", int64_t{350}});
  span.attributes.push_back({"genops.team", std::string("platform-engineering")});
  span.attributes.push_back({"genops.project", std::string("customer-support-bot")});
  span.attributes.push_back({"genops.cost.total", 0.000390});
  return span;
}

SpanData MinimalSpan() {
  SpanData span;
  span.name = "op";
  return span;
}

constexpr size_t kQueueSize = 2048;  // the default span_processor_queue_size
constexpr size_t kBatchSize = 512;   // the default export_batch_size
// Spans each thread ends per burst: two threads' bursts fit in the queue together, so the burst
// benchmarks never drop and measure the accepting path only.
constexpr size_t kBurst = 512;

// Shared by every thread of one benchmark run; created and destroyed by Setup/Teardown.
std::unique_ptr<BatchSpanProcessor> g_batch;
std::unique_ptr<MutexRingProcessor> g_mutex_ring;

void SetUpBatch(const benchmark::State& /*state*/) {
  g_batch = *BatchSpanProcessor::Create(std::make_unique<NullExporter>(),
                                        {.span_processor_queue_size = kQueueSize,
                                         .export_batch_size = kBatchSize,
                                         .batch_timeout = std::chrono::milliseconds(5)});
}
void TearDownBatch(const benchmark::State& /*state*/) {
  g_batch->Shutdown(std::chrono::seconds(10));
  g_batch.reset();
}
void SetUpMutexRing(const benchmark::State& /*state*/) {
  g_mutex_ring = std::make_unique<MutexRingProcessor>(kQueueSize, kBatchSize);
}
void TearDownMutexRing(const benchmark::State& /*state*/) { g_mutex_ring.reset(); }

// What the caller of OnEnd pays when the queue has room: spans are built (untimed), the queue
// is drained (untimed), then a burst of OnEnd calls is timed. Reported per span.
template <typename Processor>
void RunBursts(benchmark::State& state, Processor& on_end, void (*drain)()) {
  std::vector<SpanData> spans;
  spans.reserve(kBurst);
  for (auto _ : state) {
    state.PauseTiming();
    spans.clear();
    for (size_t i = 0; i < kBurst; ++i) spans.push_back(RealisticSpan());
    drain();
    state.ResumeTiming();
    for (SpanData& span : spans) on_end(std::move(span));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBurst));
}

void BM_LockFreeOnEndBurst(benchmark::State& state) {
  const uint64_t dropped_before = g_batch->stats().dropped_queue_full;
  auto on_end = [](SpanData&& span) { g_batch->OnEnd(std::move(span)); };
  RunBursts(state, on_end, [] { g_batch->ForceFlush(std::chrono::seconds(10)); });
  if (state.thread_index() == 0) {
    state.counters["dropped"] =
        static_cast<double>(g_batch->stats().dropped_queue_full - dropped_before);
  }
}
BENCHMARK(BM_LockFreeOnEndBurst)
    ->Setup(SetUpBatch)
    ->Teardown(TearDownBatch)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

void BM_MutexRingOnEndBurst(benchmark::State& state) {
  const uint64_t dropped_before = g_mutex_ring->dropped();
  auto on_end = [](SpanData&& span) { g_mutex_ring->OnEnd(std::move(span)); };
  RunBursts(state, on_end, [] { g_mutex_ring->Drain(); });
  if (state.thread_index() == 0) {
    state.counters["dropped"] = static_cast<double>(g_mutex_ring->dropped() - dropped_before);
  }
}
BENCHMARK(BM_MutexRingOnEndBurst)
    ->Setup(SetUpMutexRing)
    ->Teardown(TearDownMutexRing)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// Saturation: producers end spans back to back, faster than the worker drains them, so most
// calls take the drop path. Shows the cost under overload and that it stays bounded.
void BM_LockFreeOnEndSaturated(benchmark::State& state) {
  const SpanProcessorStats before = g_batch->stats();
  for (auto _ : state) g_batch->OnEnd(MinimalSpan());
  if (state.thread_index() == 0) {
    const SpanProcessorStats after = g_batch->stats();
    const double dropped =
        static_cast<double>(after.dropped_queue_full - before.dropped_queue_full);
    const double offered = static_cast<double>(after.enqueued - before.enqueued) + dropped;
    state.counters["drop%"] = offered > 0 ? 100.0 * dropped / offered : 0.0;
  }
}
BENCHMARK(BM_LockFreeOnEndSaturated)
    ->Setup(SetUpBatch)
    ->Teardown(TearDownBatch)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

void BM_MutexRingOnEndSaturated(benchmark::State& state) {
  const uint64_t before = g_mutex_ring->dropped();
  for (auto _ : state) g_mutex_ring->OnEnd(MinimalSpan());
  if (state.thread_index() == 0) {
    state.counters["drop%"] = 100.0 * static_cast<double>(g_mutex_ring->dropped() - before) /
                              static_cast<double>(state.iterations() * state.threads());
  }
}
BENCHMARK(BM_MutexRingOnEndSaturated)
    ->Setup(SetUpMutexRing)
    ->Teardown(TearDownMutexRing)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// For scale: what building the realistic span costs the caller before OnEnd is even reached.
void BM_BuildRealisticSpan(benchmark::State& state) {
  for (auto _ : state) {
    SpanData span = RealisticSpan();
    benchmark::DoNotOptimize(span);
  }
}
BENCHMARK(BM_BuildRealisticSpan)->Threads(1)->Threads(2)->UseRealTime();

// The unsampled path: what an operation whose span is not exported costs here (a counter).
void BM_LockFreeOnEndUnsampled(benchmark::State& state) {
  for (auto _ : state) {
    SpanData span = MinimalSpan();
    span.sampled = false;
    g_batch->OnEnd(std::move(span));
  }
}
BENCHMARK(BM_LockFreeOnEndUnsampled)
    ->Setup(SetUpBatch)
    ->Teardown(TearDownBatch)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
}  // namespace genops::telemetry

BENCHMARK_MAIN();
