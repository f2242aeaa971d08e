// ConsoleExporter: one human-readable line per span, for development and `genops` demos.
//
// Shows what an operator looks for first: when, what (span name, kind, status, duration),
// how much (genops.cost.total with currency), who (team, project, environment, customer),
// tokens, and the policy outcome. Ids are included so a line can be found in a backend. A
// span received from an application (SpanData::origin) also shows that application's
// service.name and instrumentation scope (service=... scope=...).
// Control characters in span data are replaced so a hostile prompt cannot forge log lines.
//
// Example line:
//   2023-11-14T22:13:20.000Z chat gpt-4o CLIENT OK 1250.0ms cost=$0.004250 USD
//   provider=openai model=gpt-4o team=platform project=llm-api tokens=1200/350
//   policy=allowed trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7
//
// Thread safety: thread-safe; lines from concurrent Export() calls never interleave.
#ifndef GENOPS_EXPORT_CONSOLE_EXPORTER_H_
#define GENOPS_EXPORT_CONSOLE_EXPORTER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <string>

#include "src/export/span_exporter.h"
#include "src/telemetry/span_data.h"

namespace genops::exporter {

class ConsoleExporter final : public SpanExporter {
 public:
  // `out` must outlive the exporter (typically std::cout or std::cerr).
  explicit ConsoleExporter(std::ostream& out) : out_(out) {}
  static std::unique_ptr<ConsoleExporter> Create(std::ostream& out) {
    return std::make_unique<ConsoleExporter>(out);
  }

  ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override;
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override;
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  std::string_view name() const noexcept override { return "console"; }

  // The line Export() writes for `span`, without the trailing newline.
  static std::string FormatSpan(const telemetry::SpanData& span);

 private:
  std::ostream& out_;
  std::mutex mu_;  // guards writes to out_
  std::atomic<bool> shutdown_{false};
};

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_CONSOLE_EXPORTER_H_
