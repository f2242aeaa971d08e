#include "src/export/file_exporter.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/export/otlp_json_encoder.h"

namespace genops::exporter {
namespace {

constexpr size_t kWriteChunkBytes = 64 * 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<FileExporter>> FileExporter::Create(
    std::string path, telemetry::ResourceInfo resource) {
  if (path.empty()) {
    return absl::InvalidArgumentError("span file path is empty; set export.file.path");
  }
  std::FILE* file = std::fopen(path.c_str(), "ae");  // append, close-on-exec
  if (file == nullptr) {
    const int error = errno;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open span file '", path, "' for appending: ", std::strerror(error),
                     "; check that the directory exists and is writable"));
  }
  return std::unique_ptr<FileExporter>(
      new FileExporter(std::move(path), std::move(resource), file));
}

FileExporter::~FileExporter() {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_ != nullptr) std::fclose(file_);
}

ExportResult FileExporter::Export(std::span<const telemetry::SpanData> spans) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_ == nullptr) return ExportResult::kFailure;
    // Written in chunks: the buffer stays at about 64 KB instead of growing to a whole
    // 512-span batch (about 2 MB of JSON) and keeping that capacity.
    buffer_.clear();
    for (size_t i = 0; i < spans.size(); ++i) {
      AppendOtlpJsonSpanLine(spans[i], resource_, &buffer_);
      buffer_.push_back('\n');
      if (buffer_.size() < kWriteChunkBytes && i + 1 < spans.size()) continue;
      if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
        const int error = errno;
        std::clearerr(file_);
        if (!reported_error_) {
          reported_error_ = true;
          spdlog::error("file exporter: writing to '{}' failed: {}", path_, std::strerror(error));
        }
        return ExportResult::kFailure;
      }
      buffer_.clear();
    }
    return ExportResult::kSuccess;
  } catch (...) {
    return ExportResult::kFailure;
  }
}

bool FileExporter::ForceFlush(std::chrono::milliseconds) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return file_ != nullptr && std::fflush(file_) == 0;
}

bool FileExporter::Shutdown(std::chrono::milliseconds) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_ == nullptr) return true;
  const bool ok = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  return ok && closed;
}

}  // namespace genops::exporter
