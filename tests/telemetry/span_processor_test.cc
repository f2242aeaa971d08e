#include "src/telemetry/span_processor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "src/export/span_exporter.h"
#include "src/telemetry/batch_span_processor.h"
#include "src/telemetry/composite_span_processor.h"
#include "src/telemetry/simple_span_processor.h"

namespace genops::telemetry {
namespace {

using std::chrono::milliseconds;

constexpr std::chrono::seconds kWait(20);  // generous: only hit when a test fails
constexpr milliseconds kLongDelay = std::chrono::hours(1);

// What a RecordingExporter saw. Shared with the test, because the processor owns the exporter.
// std::mutex (not absl::Mutex) so the tsan preset can see the synchronisation.
struct Recording {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<std::string> names;        // guarded by mu, as is everything below
  std::vector<size_t> attribute_counts;  // one per exported span, like names
  std::vector<size_t> batch_sizes;
  int force_flushes = 0;
  int shutdowns = 0;
  int exports_in_progress = 0;
  bool fail = false;
  bool gate_open = true;  // Export blocks while false

  size_t span_count() {
    std::lock_guard lock(mu);
    return names.size();
  }
  // Waits (on a condition, not a sleep) until at least `n` spans were exported.
  bool WaitForSpans(size_t n) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, kWait, [&] { return names.size() >= n; });
  }
  bool WaitForExportInProgress() {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, kWait, [&] { return exports_in_progress > 0; });
  }
  void SetGate(bool open) {
    {
      std::lock_guard lock(mu);
      gate_open = open;
    }
    changed.notify_all();
  }
  void SetFail(bool value) {
    std::lock_guard lock(mu);
    fail = value;
  }
};

class RecordingExporter final : public exporter::SpanExporter {
 public:
  explicit RecordingExporter(std::shared_ptr<Recording> recording)
      : recording_(std::move(recording)) {}

  exporter::ExportResult Export(std::span<const SpanData> spans) noexcept override {
    Recording& r = *recording_;
    std::unique_lock lock(r.mu);
    if (shut_down_) return exporter::ExportResult::kFailure;
    ++r.exports_in_progress;
    r.changed.notify_all();
    r.changed.wait(lock, [&r] { return r.gate_open; });
    --r.exports_in_progress;
    if (r.fail) return exporter::ExportResult::kFailure;
    r.batch_sizes.push_back(spans.size());
    for (const SpanData& span : spans) {
      r.names.push_back(span.name);
      r.attribute_counts.push_back(span.attributes.size());
    }
    r.changed.notify_all();
    return exporter::ExportResult::kSuccess;
  }
  bool ForceFlush(milliseconds /*timeout*/) noexcept override {
    std::lock_guard lock(recording_->mu);
    ++recording_->force_flushes;
    return true;
  }
  bool Shutdown(milliseconds /*timeout*/) noexcept override {
    std::lock_guard lock(recording_->mu);
    ++recording_->shutdowns;
    shut_down_ = true;
    return true;
  }
  std::string_view name() const noexcept override { return "recording"; }

 private:
  std::shared_ptr<Recording> recording_;
  bool shut_down_ = false;  // guarded by recording_->mu
};

SpanData NamedSpan(std::string name, bool sampled = true) {
  SpanData span;
  span.name = std::move(name);
  span.sampled = sampled;
  span.attributes.push_back({"genops.team", std::string("platform")});
  return span;
}

std::unique_ptr<BatchSpanProcessor> MakeBatch(std::shared_ptr<Recording> recording,
                                              BatchSpanProcessorOptions options) {
  auto processor = BatchSpanProcessor::Create(
      std::make_unique<RecordingExporter>(std::move(recording)), options);
  EXPECT_TRUE(processor.ok()) << processor.status();
  return processor.ok() ? *std::move(processor) : nullptr;
}

// --- BatchSpanProcessor ------------------------------------------------------------------------

TEST(BatchSpanProcessorTest, ExportsWhenABatchFills) {
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(
      recording,
      {.span_processor_queue_size = 100, .export_batch_size = 10, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  for (int i = 0; i < 10; ++i) processor->OnEnd(NamedSpan("s" + std::to_string(i)));
  ASSERT_TRUE(recording->WaitForSpans(10));  // no flush, no timer: the full batch did it

  for (int i = 10; i < 35; ++i) processor->OnEnd(NamedSpan("s" + std::to_string(i)));
  ASSERT_TRUE(recording->WaitForSpans(30));
  {
    std::lock_guard lock(recording->mu);
    for (size_t size : recording->batch_sizes) EXPECT_EQ(size, 10u);  // only whole batches
    for (size_t i = 0; i < recording->names.size(); ++i) {
      EXPECT_EQ(recording->names[i], "s" + std::to_string(i));  // FIFO
    }
    EXPECT_EQ(recording->force_flushes, 0);
  }
  EXPECT_TRUE(processor->Shutdown(milliseconds(10000)));
  EXPECT_EQ(recording->span_count(), 35u);
  const SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.enqueued, 35u);
  EXPECT_EQ(stats.exported, 35u);
}

TEST(BatchSpanProcessorTest, ExportsAPartialBatchWhenTheDelayPasses) {
  auto recording = std::make_shared<Recording>();
  auto processor =
      MakeBatch(recording, {.export_batch_size = 100, .batch_timeout = milliseconds(30)});
  ASSERT_NE(processor, nullptr);
  for (int i = 0; i < 3; ++i) processor->OnEnd(NamedSpan("late" + std::to_string(i)));
  ASSERT_TRUE(recording->WaitForSpans(3));  // no flush, batch far from full: the timer did it
  std::lock_guard lock(recording->mu);
  EXPECT_EQ(recording->force_flushes, 0);
  EXPECT_EQ(recording->names.front(), "late0");
}

TEST(BatchSpanProcessorTest, ForceFlushExportsEverythingAndFlushesTheExporter) {
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(recording, {.batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  for (int i = 0; i < 7; ++i) processor->OnEnd(NamedSpan("f"));
  EXPECT_TRUE(processor->ForceFlush(milliseconds(10000)));
  EXPECT_EQ(recording->span_count(), 7u);  // returned only after the export
  {
    std::lock_guard lock(recording->mu);
    EXPECT_EQ(recording->force_flushes, 1);
  }
  EXPECT_TRUE(processor->ForceFlush(milliseconds(10000)));  // nothing queued: still fine
}

TEST(BatchSpanProcessorTest, ShutdownExportsEverythingThenRefuses) {
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(recording, {.export_batch_size = 512, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  for (int i = 0; i < 1000; ++i) processor->OnEnd(NamedSpan("x"));
  EXPECT_TRUE(processor->Shutdown(milliseconds(10000)));
  EXPECT_EQ(recording->span_count(), 1000u);
  {
    std::lock_guard lock(recording->mu);
    EXPECT_EQ(recording->shutdowns, 1);
    for (size_t size : recording->batch_sizes) EXPECT_LE(size, 512u);
  }
  processor->OnEnd(NamedSpan("too late"));
  EXPECT_FALSE(processor->ForceFlush(milliseconds(100)));
  EXPECT_FALSE(processor->Shutdown(milliseconds(100)));  // only the first call does the work
  const SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.exported, 1000u);
  EXPECT_EQ(stats.dropped_after_shutdown, 1u);
  EXPECT_EQ(recording->span_count(), 1000u);
}

TEST(BatchSpanProcessorTest, DestructorShutsDownAndExportsWhatIsQueued) {
  auto recording = std::make_shared<Recording>();
  {
    auto processor = MakeBatch(recording, {.batch_timeout = kLongDelay});
    ASSERT_NE(processor, nullptr);
    for (int i = 0; i < 5; ++i) processor->OnEnd(NamedSpan("d"));
  }
  EXPECT_EQ(recording->span_count(), 5u);
  std::lock_guard lock(recording->mu);
  EXPECT_EQ(recording->shutdowns, 1);
}

TEST(BatchSpanProcessorTest, QueueFullDropsAreCountedAndNeverBlock) {
  auto recording = std::make_shared<Recording>();
  recording->SetGate(false);  // the exporter hangs, like a dead backend
  auto processor = MakeBatch(
      recording,
      {.span_processor_queue_size = 10, .export_batch_size = 5, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  for (int i = 0; i < 5; ++i) processor->OnEnd(NamedSpan("first"));
  // The worker has taken those 5 out of the ring and is stuck in Export.
  ASSERT_TRUE(recording->WaitForExportInProgress());
  for (int i = 0; i < 20; ++i) processor->OnEnd(NamedSpan("more"));  // returns: never blocks
  SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.enqueued, 15u);
  EXPECT_EQ(stats.dropped_queue_full, 10u);
  EXPECT_EQ(stats.exported, 0u);

  recording->SetGate(true);
  EXPECT_TRUE(processor->Shutdown(milliseconds(10000)));
  stats = processor->stats();
  EXPECT_EQ(stats.exported, 15u);
  EXPECT_EQ(stats.dropped_queue_full, 10u);
  EXPECT_EQ(recording->span_count(), 15u);
}

TEST(BatchSpanProcessorTest, ConcurrentProducersLoseNothingWithARoomyQueue) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(recording, {.span_processor_queue_size = kThreads * kPerThread,
                                         .export_batch_size = 512,
                                         .batch_timeout = milliseconds(5)});
  ASSERT_NE(processor, nullptr);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&processor, t] {
      for (int i = 0; i < kPerThread; ++i) {
        processor->OnEnd(NamedSpan(std::to_string(t) + ":" + std::to_string(i)));
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  EXPECT_TRUE(processor->Shutdown(milliseconds(30000)));

  const SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.enqueued, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.exported, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.dropped_queue_full, 0u);
  std::lock_guard lock(recording->mu);
  ASSERT_EQ(recording->names.size(), static_cast<size_t>(kThreads * kPerThread));
  const std::set<std::string> unique(recording->names.begin(), recording->names.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kPerThread));  // no duplicates
  // Per producer, spans come out in the order they went in.
  std::vector<int> next(kThreads, 0);
  for (const std::string& name : recording->names) {
    const int t = std::stoi(name.substr(0, name.find(':')));
    const int i = std::stoi(name.substr(name.find(':') + 1));
    ASSERT_EQ(i, next[t]) << name;
    ++next[t];
  }
}

TEST(BatchSpanProcessorTest, ConcurrentProducersWithASmallQueueAccountForEverySpan) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(recording, {.span_processor_queue_size = 256,
                                         .export_batch_size = 64,
                                         .batch_timeout = milliseconds(5)});
  ASSERT_NE(processor, nullptr);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&processor] {
      for (int i = 0; i < kPerThread; ++i) processor->OnEnd(NamedSpan("s"));
    });
  }
  for (std::thread& producer : producers) producer.join();
  EXPECT_TRUE(processor->Shutdown(milliseconds(30000)));
  const SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.enqueued + stats.dropped_queue_full,
            static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.exported, stats.enqueued);
  EXPECT_EQ(recording->span_count(), stats.exported);
}

TEST(BatchSpanProcessorTest, ConcurrentFlushesAndProducers) {
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(
      recording,
      {.span_processor_queue_size = 100000, .export_batch_size = 100, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  std::atomic<bool> flush_failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        processor->OnEnd(NamedSpan("c"));
        if (i % 1000 == 999 && !processor->ForceFlush(milliseconds(20000))) flush_failed = true;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(flush_failed.load());
  EXPECT_TRUE(processor->ForceFlush(milliseconds(20000)));
  EXPECT_EQ(recording->span_count(), 10000u);  // everything ended before the flush is out
}

TEST(BatchSpanProcessorTest, UnsampledSpansAreCountedNotExported) {
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(recording, {.batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  processor->OnEnd(NamedSpan("kept"));
  processor->OnEnd(NamedSpan("skipped", /*sampled=*/false));
  EXPECT_TRUE(processor->ForceFlush(milliseconds(10000)));
  EXPECT_EQ(recording->span_count(), 1u);
  EXPECT_EQ(processor->stats().not_sampled, 1u);
  EXPECT_EQ(processor->stats().enqueued, 1u);
}

TEST(BatchSpanProcessorTest, ExportFailuresAreCounted) {
  auto recording = std::make_shared<Recording>();
  recording->SetFail(true);
  auto processor = MakeBatch(recording, {.export_batch_size = 4, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  for (int i = 0; i < 10; ++i) processor->OnEnd(NamedSpan("f"));
  EXPECT_TRUE(processor->ForceFlush(milliseconds(10000)));
  const SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.exported, 0u);
  EXPECT_EQ(stats.failed_spans, 10u);
  EXPECT_GE(stats.export_failures, 3u);  // at least ceil(10 / 4) batches
}

TEST(BatchSpanProcessorTest, CreateValidatesItsInputs) {
  auto null_exporter = BatchSpanProcessor::Create(nullptr, {});
  ASSERT_FALSE(null_exporter.ok());
  EXPECT_NE(null_exporter.status().message().find("exporter"), std::string::npos);

  const std::pair<BatchSpanProcessorOptions, const char*> cases[] = {
      {{.span_processor_queue_size = 0}, "span_processor_queue_size"},
      {{.span_processor_queue_size = size_t{1} << 40}, "span_processor_queue_size"},
      {{.export_batch_size = 0}, "export_batch_size"},
      {{.span_processor_queue_size = 100, .export_batch_size = 200}, "export_batch_size (200)"},
      {{.batch_timeout = milliseconds(0)}, "batch_timeout"},
      {{.batch_timeout = std::chrono::hours(25)}, "batch_timeout"},
      {{.export_timeout = milliseconds(-1)}, "export_timeout"},
  };
  for (const auto& [options, field] : cases) {
    auto processor = BatchSpanProcessor::Create(
        std::make_unique<RecordingExporter>(std::make_shared<Recording>()), options);
    ASSERT_FALSE(processor.ok()) << field;
    EXPECT_EQ(processor.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(processor.status().message().find(field), std::string::npos) << processor.status();
  }
}

TEST(BatchSpanProcessorTest, DefaultsMatchTheSeed) {
  const BatchSpanProcessorOptions options;
  EXPECT_EQ(options.span_processor_queue_size, 2048u);
  EXPECT_EQ(options.export_batch_size, 512u);
  EXPECT_EQ(options.batch_timeout, milliseconds(5000));
  EXPECT_TRUE(ValidateBatchSpanProcessorOptions(options).ok());
}

// Builds span `i` into `span` the way a recycling producer must: over whatever elements the
// processor handed back, erasing the surplus. Span i has i % 3 + 1 attributes.
void BuildRecycled(int i, SpanData& span) {
  span.name.assign("r");
  span.name += std::to_string(i);
  const size_t wanted = static_cast<size_t>(i % 3 + 1);
  for (size_t k = 0; k < wanted; ++k) {
    if (k < span.attributes.size()) {
      span.attributes[k].value = static_cast<int64_t>(k);
    } else {
      span.attributes.push_back({"genops.k", static_cast<int64_t>(k)});
    }
  }
  span.attributes.resize(wanted);
}

TEST(BatchSpanProcessorTest, OnEndRecyclingHandsBackTheBuffersOfExportedSpans) {
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(
      recording,
      {.span_processor_queue_size = 4, .export_batch_size = 2, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  SpanData span;
  int next = 0;
  // Lap 1 fills the ring's slots; lap 2 swaps them with the batch's exported spans; from
  // lap 3 on, every span handed back holds an exported span's buffers, reset.
  for (int lap = 0; lap < 4; ++lap) {
    for (int i = 0; i < 4; ++i) {
      BuildRecycled(next++, span);
      processor->OnEndRecycling(span);
      if (lap >= 2) {
        EXPECT_GT(span.attributes.capacity(), 0u) << "lap " << lap << " span " << i;
        EXPECT_FALSE(span.attributes.empty());  // stale elements, to be written over
        EXPECT_TRUE(span.name.empty());
        EXPECT_EQ(span.trace_id, TraceId());
        EXPECT_TRUE(span.sampled);
        EXPECT_EQ(span.origin, nullptr);
      }
    }
    ASSERT_TRUE(processor->ForceFlush(kWait));
  }
  // Not queued (unsampled): counted, and the span still comes back reset.
  BuildRecycled(99, span);
  span.sampled = false;
  processor->OnEndRecycling(span);
  EXPECT_TRUE(span.name.empty());
  EXPECT_TRUE(span.sampled);
  EXPECT_EQ(processor->stats().not_sampled, 1u);
  ASSERT_TRUE(processor->Shutdown(milliseconds(10000)));
  std::lock_guard lock(recording->mu);
  ASSERT_EQ(recording->names.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(recording->names[i], "r" + std::to_string(i));
    EXPECT_EQ(recording->attribute_counts[i], static_cast<size_t>(i % 3 + 1)) << i;
  }
}

TEST(BatchSpanProcessorTest, ConcurrentRecyclingProducersNeverTearOrDuplicateSpans) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  auto recording = std::make_shared<Recording>();
  auto processor = MakeBatch(recording, {.span_processor_queue_size = 256,
                                         .export_batch_size = 32,
                                         .batch_timeout = milliseconds(5)});
  ASSERT_NE(processor, nullptr);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&processor, t] {
      SpanData span;
      for (int i = 0; i < kPerThread; ++i) {
        BuildRecycled(i, span);  // name "r<i>", i % 3 + 1 attributes
        span.name += "-t" + std::to_string(t);
        processor->OnEndRecycling(span);
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_TRUE(processor->Shutdown(milliseconds(20000)));
  const SpanProcessorStats stats = processor->stats();
  EXPECT_EQ(stats.enqueued + stats.dropped_queue_full, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(stats.exported, stats.enqueued);
  std::lock_guard lock(recording->mu);
  ASSERT_EQ(recording->names.size(), stats.exported);
  std::set<std::string> seen;
  for (size_t k = 0; k < recording->names.size(); ++k) {
    const std::string& name = recording->names[k];
    EXPECT_TRUE(seen.insert(name).second) << "exported twice: " << name;
    // Each span carries exactly what its producer wrote: i % 3 + 1 attributes for "r<i>-t<t>".
    const int i = std::stoi(name.substr(1, name.find('-') - 1));
    EXPECT_EQ(recording->attribute_counts[k], static_cast<size_t>(i % 3 + 1)) << name;
  }
}

TEST(SimpleSpanProcessorTest, OnEndRecyclingHandsBackAnEmptySpan) {
  auto recording = std::make_shared<Recording>();
  SimpleSpanProcessor processor(std::make_unique<RecordingExporter>(recording));
  SpanData span = NamedSpan("once");
  processor.OnEndRecycling(span);
  EXPECT_EQ(recording->span_count(), 1u);
  EXPECT_TRUE(span.name.empty());
  EXPECT_TRUE(span.attributes.empty());
}

// A DeferredSpanSource whose records are span numbers; it notes which thread built each span
// and whether the SpanData it was given already had buffers (a recycled one).
class NumberedSpanSource final : public DeferredSpanSource {
 public:
  void Materialize(void* record, SpanData& out) noexcept override {
    const auto number = reinterpret_cast<uintptr_t>(record);
    {
      std::lock_guard lock(mu_);
      if (std::this_thread::get_id() == producer_) {
        built_by_producer_.push_back(number);
        if (out.attributes.capacity() > 0) ++producer_builds_over_buffers_;
      }
    }
    BuildRecycled(static_cast<int>(number), out);
  }
  void Release(void*) noexcept override { releases_.fetch_add(1); }

  void set_producer(std::thread::id id) {
    std::lock_guard lock(mu_);
    producer_ = id;
  }
  std::vector<uintptr_t> built_by_producer() {
    std::lock_guard lock(mu_);
    return built_by_producer_;
  }
  int producer_builds_over_buffers() {
    std::lock_guard lock(mu_);
    return producer_builds_over_buffers_;
  }
  int releases() const { return releases_.load(); }

 private:
  std::mutex mu_;
  std::thread::id producer_;
  std::vector<uintptr_t> built_by_producer_;
  int producer_builds_over_buffers_ = 0;
  std::atomic<int> releases_{0};
};

TEST(BatchSpanProcessorTest, LaggingProducersBuildSpansOverRecycledBuffers) {
  auto recording = std::make_shared<Recording>();
  NumberedSpanSource source;
  source.set_producer(std::this_thread::get_id());
  auto processor = MakeBatch(
      recording,
      {.span_processor_queue_size = 64, .export_batch_size = 4, .batch_timeout = kLongDelay});
  ASSERT_NE(processor, nullptr);
  uintptr_t next = 0;
  auto end_one = [&] {
    processor->OnEndDeferred(DeferredSpan{&source, reinterpret_cast<void*>(next++)});
  };
  // Round 1: the exporter hangs on the first batch, so the worker falls behind; once more
  // than two batches (8) wait, the producer builds spans itself.
  recording->SetGate(false);
  for (int i = 0; i < 4; ++i) end_one();
  ASSERT_TRUE(recording->WaitForExportInProgress());
  for (int i = 0; i < 20; ++i) end_one();  // positions 4..23; 12..23 wait behind 8 others
  std::vector<uintptr_t> built = source.built_by_producer();
  ASSERT_EQ(built.size(), 12u);
  EXPECT_EQ(built.front(), 12u);
  EXPECT_EQ(built.back(), 23u);
  EXPECT_EQ(source.producer_builds_over_buffers(), 0);  // nothing exported yet to recycle
  recording->SetGate(true);
  ASSERT_TRUE(processor->ForceFlush(kWait));

  // Round 2: the same again. The worker gave the buffers it swapped out for the 12 spans
  // built in round 1 to the spares (up to two batches: 8), and the producer builds over
  // those first.
  recording->SetGate(false);
  for (int i = 0; i < 4; ++i) end_one();
  ASSERT_TRUE(recording->WaitForExportInProgress());
  for (int i = 0; i < 20; ++i) end_one();
  EXPECT_EQ(source.built_by_producer().size(), 24u);
  EXPECT_EQ(source.producer_builds_over_buffers(), 8);
  recording->SetGate(true);
  ASSERT_TRUE(processor->Shutdown(milliseconds(10000)));

  EXPECT_EQ(source.releases(), 48);
  std::lock_guard lock(recording->mu);
  ASSERT_EQ(recording->names.size(), 48u);
  for (int i = 0; i < 48; ++i) {
    EXPECT_EQ(recording->names[i], "r" + std::to_string(i));  // in order, whoever built it
    EXPECT_EQ(recording->attribute_counts[i], static_cast<size_t>(i % 3 + 1)) << i;
  }
}

// --- SimpleSpanProcessor -------------------------------------------------------------------

TEST(SimpleSpanProcessorTest, ExportsBeforeOnEndReturns) {
  auto recording = std::make_shared<Recording>();
  SimpleSpanProcessor processor(std::make_unique<RecordingExporter>(recording));
  processor.OnEnd(NamedSpan("now"));
  EXPECT_EQ(recording->span_count(), 1u);
  processor.OnEnd(NamedSpan("unsampled", false));
  EXPECT_EQ(recording->span_count(), 1u);
  EXPECT_TRUE(processor.ForceFlush(milliseconds(1000)));
  EXPECT_TRUE(processor.Shutdown(milliseconds(1000)));
  processor.OnEnd(NamedSpan("after"));
  EXPECT_FALSE(processor.ForceFlush(milliseconds(1000)));
  EXPECT_FALSE(processor.Shutdown(milliseconds(1000)));
  const SpanProcessorStats stats = processor.stats();
  EXPECT_EQ(stats.exported, 1u);
  EXPECT_EQ(stats.not_sampled, 1u);
  EXPECT_EQ(stats.dropped_after_shutdown, 1u);
  std::lock_guard lock(recording->mu);
  EXPECT_EQ(recording->shutdowns, 1);
}

TEST(SimpleSpanProcessorTest, CountsFailuresAndToleratesANullExporter) {
  auto recording = std::make_shared<Recording>();
  recording->SetFail(true);
  SimpleSpanProcessor failing(std::make_unique<RecordingExporter>(recording));
  failing.OnEnd(NamedSpan("x"));
  EXPECT_EQ(failing.stats().export_failures, 1u);
  EXPECT_EQ(failing.stats().exported, 0u);

  SimpleSpanProcessor null_exporter(nullptr);
  null_exporter.OnEnd(NamedSpan("x"));
  EXPECT_EQ(null_exporter.stats().export_failures, 1u);
  EXPECT_FALSE(null_exporter.ForceFlush(milliseconds(10)));
}

TEST(SimpleSpanProcessorTest, SerialisesConcurrentExports) {
  auto recording = std::make_shared<Recording>();
  SimpleSpanProcessor processor(std::make_unique<RecordingExporter>(recording));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&processor] {
      for (int i = 0; i < 1000; ++i) processor.OnEnd(NamedSpan("c"));
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(recording->span_count(), 4000u);
  EXPECT_EQ(processor.stats().exported, 4000u);
}

// --- CompositeSpanProcessor -------------------------------------------------------------------

TEST(CompositeSpanProcessorTest, FansOutToEveryChild) {
  auto first = std::make_shared<Recording>();
  auto second = std::make_shared<Recording>();
  std::vector<std::unique_ptr<SpanProcessor>> children;
  children.push_back(
      std::make_unique<SimpleSpanProcessor>(std::make_unique<RecordingExporter>(first)));
  children.push_back(nullptr);  // ignored
  children.push_back(MakeBatch(second, {.batch_timeout = kLongDelay}));
  CompositeSpanProcessor processor(std::move(children));
  ASSERT_EQ(processor.size(), 2u);

  processor.OnEnd(NamedSpan("a"));
  processor.OnEnd(NamedSpan("b"));
  processor.OnEnd(NamedSpan("hidden", false));
  EXPECT_TRUE(processor.ForceFlush(milliseconds(10000)));
  {
    std::lock_guard lock1(first->mu);
    std::lock_guard lock2(second->mu);
    EXPECT_EQ(first->names, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(second->names, (std::vector<std::string>{"a", "b"}));
  }
  const SpanProcessorStats stats = processor.stats();
  EXPECT_EQ(stats.exported, 4u);
  EXPECT_EQ(stats.not_sampled, 2u);
  EXPECT_EQ(processor.child(0)->stats().not_sampled, 1u);

  EXPECT_TRUE(processor.Shutdown(milliseconds(10000)));
  std::lock_guard lock1(first->mu);
  std::lock_guard lock2(second->mu);
  EXPECT_EQ(first->shutdowns, 1);
  EXPECT_EQ(second->shutdowns, 1);
}

TEST(CompositeSpanProcessorTest, EmptyCompositeIsHarmless) {
  CompositeSpanProcessor processor({});
  processor.OnEnd(NamedSpan("nowhere"));
  EXPECT_TRUE(processor.ForceFlush(milliseconds(10)));
  EXPECT_TRUE(processor.Shutdown(milliseconds(10)));
  EXPECT_EQ(processor.stats().exported, 0u);
}

}  // namespace
}  // namespace genops::telemetry
