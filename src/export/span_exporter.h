// SpanExporter: the interface every span sink implements (OTLP, console, file, memory).
//
// Contract (mirrors opentelemetry-cpp's):
//  - Export() is called by one thread at a time (the batch processor's worker, or the
//    simple processor under its lock); implementations need not be re-entrant.
//  - Export() never throws and never blocks longer than the exporter's own timeout,
//    retries included.
//  - After Shutdown(), Export() returns kFailure without doing I/O.
#ifndef GENOPS_EXPORT_SPAN_EXPORTER_H_
#define GENOPS_EXPORT_SPAN_EXPORTER_H_

#include <chrono>
#include <span>
#include <string_view>

#include "src/telemetry/span_data.h"

namespace genops::exporter {

enum class ExportResult { kSuccess, kFailure };

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  virtual ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept = 0;
  virtual bool ForceFlush(std::chrono::milliseconds timeout) noexcept {
    (void)timeout;
    return true;
  }
  virtual bool Shutdown(std::chrono::milliseconds timeout) noexcept = 0;
  // Short name for logs and metrics: "otlp_http", "console", ...
  virtual std::string_view name() const noexcept = 0;
};

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_SPAN_EXPORTER_H_
