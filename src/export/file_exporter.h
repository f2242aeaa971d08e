// FileExporter: appends spans to a JSON-lines file, one OTLP/JSON span object per line.
//
// Each line is self-describing (span fields plus "resource" and "scope": the exporter's own
// for GenOps' spans, the application's for spans received from one, see SpanData::origin), so
// files can be concatenated, rotated, grepped, loaded with `jq -s`, or replayed into a
// collector without any framing. The file is opened in append mode and never truncated.
// Writes go through a stdio buffer: data reaches the OS when the buffer fills, on
// ForceFlush() and on Shutdown(), so a crash can lose the tail; call ForceFlush() where
// durability matters.
//
// Example:
//   absl::StatusOr<std::unique_ptr<FileExporter>> file =
//       FileExporter::Create("./genops-spans.jsonl", resource);
//   if (!file.ok()) { std::cerr << file.status() << "\n"; }  // names the path and errno
//
// Thread safety: thread-safe (one internal mutex).
#ifndef GENOPS_EXPORT_FILE_EXPORTER_H_
#define GENOPS_EXPORT_FILE_EXPORTER_H_

#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "src/export/span_exporter.h"
#include "src/telemetry/span_data.h"

namespace genops::exporter {

class FileExporter final : public SpanExporter {
 public:
  // Opens (creating if needed) `path` for appending. Fails with a Status naming the path and
  // the OS error when it cannot be opened (missing directory, permissions, a directory ...).
  static absl::StatusOr<std::unique_ptr<FileExporter>> Create(std::string path,
                                                              telemetry::ResourceInfo resource);
  ~FileExporter() override;

  ExportResult Export(std::span<const telemetry::SpanData> spans) noexcept override;
  bool ForceFlush(std::chrono::milliseconds timeout) noexcept override;
  bool Shutdown(std::chrono::milliseconds timeout) noexcept override;
  std::string_view name() const noexcept override { return "file"; }

  const std::string& path() const { return path_; }

 private:
  FileExporter(std::string path, telemetry::ResourceInfo resource, std::FILE* file)
      : path_(std::move(path)), resource_(std::move(resource)), file_(file) {}

  const std::string path_;
  const telemetry::ResourceInfo resource_;
  std::mutex mu_;
  std::FILE* file_;              // guarded by mu_; null after Shutdown()
  std::string buffer_;           // guarded by mu_
  bool reported_error_ = false;  // guarded by mu_
};

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_FILE_EXPORTER_H_
