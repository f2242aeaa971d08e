// InMemorySpanExporter: keeps exported spans in memory, a real sink for tests and embedding.
//
// Tests of processors, the SDK, the gateway and the receiver assert on what was exported
// through this class rather than mocking the SpanExporter interface. It can also be told to
// fail (SetExportResult) to exercise error paths, and waited on with WaitForSpans() when
// spans are exported from another thread (a condition variable, not a sleep loop).
//
// Example:
//   auto memory = std::make_shared<InMemorySpanExporter>();
//   ... run code that exports through `memory` ...
//   ASSERT_TRUE(memory->WaitForSpans(1, std::chrono::seconds(5)));
//   EXPECT_EQ(memory->GetSpans()[0].name, "chat gpt-4o");
//
// Thread safety: thread-safe.
#ifndef GENOPS_EXPORT_MEMORY_EXPORTER_H_
#define GENOPS_EXPORT_MEMORY_EXPORTER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <vector>

#include "src/export/span_exporter.h"
#include "src/telemetry/span_data.h"

namespace genops::exporter {

class InMemorySpanExporter final : public SpanExporter {
 public:
  InMemorySpanExporter() = default;

  // Stores copies of `spans` (each keeping its origin) and returns kSuccess, or returns the
  // forced result without storing anything (see SetExportResult). kFailure after Shutdown().
  ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override;
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override;
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  std::string_view name() const noexcept override { return "memory"; }

  std::vector<telemetry::SpanData> GetSpans() const;
  size_t span_count() const;
  void Clear();
  // Blocks until at least `count` spans are stored or `timeout` passed; true on success.
  bool WaitForSpans(size_t count, std::chrono::milliseconds timeout) const;

  // kFailure makes every later Export() fail (spans are not stored) until set back to
  // kSuccess.
  void SetExportResult(ExportResult result);
  // Export() calls so far, successful or not.
  size_t export_calls() const;
  size_t force_flush_calls() const;
  bool is_shutdown() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<telemetry::SpanData> spans_;               // guarded by mu_
  ExportResult forced_result_ = ExportResult::kSuccess;  // guarded by mu_
  size_t export_calls_ = 0;                              // guarded by mu_
  size_t force_flush_calls_ = 0;                         // guarded by mu_
  bool shutdown_ = false;                                // guarded by mu_
};

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_MEMORY_EXPORTER_H_
