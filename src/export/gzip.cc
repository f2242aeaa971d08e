#include "src/export/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace genops::exporter {
namespace {

constexpr int kGzipWindowBits = 15 + 16;        // 32 KiB window, gzip header
constexpr int kAutoDetectWindowBits = 15 + 32;  // accept gzip or zlib headers

Bytef* ToBytef(const char* data) { return reinterpret_cast<Bytef*>(const_cast<char*>(data)); }

}  // namespace

absl::StatusOr<std::string> GzipCompress(std::string_view data, int level) {
  if (level < 1 || level > 9) {
    return absl::InvalidArgumentError(absl::StrCat("gzip level must be 1..9, got ", level));
  }
  if (data.size() > std::numeric_limits<uInt>::max()) {
    return absl::InvalidArgumentError("gzip input larger than 4 GiB");
  }
  z_stream stream{};
  if (deflateInit2(&stream, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("zlib deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&stream, static_cast<uLong>(data.size())));
  stream.next_in = ToBytef(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = ToBytef(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  const size_t written = stream.total_out;
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) {
    return absl::InternalError(absl::StrCat("zlib deflate failed with code ", rc));
  }
  out.resize(written);
  return out;
}

absl::StatusOr<std::string> GzipDecompress(std::string_view data, size_t max_output_bytes) {
  if (data.size() > std::numeric_limits<uInt>::max()) {
    return absl::InvalidArgumentError("gzip input larger than 4 GiB");
  }
  z_stream stream{};
  if (inflateInit2(&stream, kAutoDetectWindowBits) != Z_OK) {
    return absl::InternalError("zlib inflateInit2 failed");
  }
  stream.next_in = ToBytef(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof(chunk);
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      const bool truncated = rc == Z_BUF_ERROR;
      return absl::InvalidArgumentError(
          truncated ? "gzip data is truncated"
                    : absl::StrCat("gzip data is corrupt (zlib code ", rc, ")"));
    }
    const size_t produced = sizeof(chunk) - stream.avail_out;
    if (out.size() + produced > max_output_bytes) {
      inflateEnd(&stream);
      return absl::ResourceExhaustedError(
          absl::StrCat("gzip data expands beyond the ", max_output_bytes, "-byte limit"));
    }
    out.append(chunk, produced);
  }
  inflateEnd(&stream);
  return out;
}

}  // namespace genops::exporter
