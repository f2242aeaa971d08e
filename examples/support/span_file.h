// SpanRecord: a span as the examples read it back from what GenOps exported.
//
// The examples prove their claims on the exported telemetry, not on in-memory state: they
// configure `exporters = {"file"}` (JSON lines) or an OTLP/JSON collector, then read the
// spans back here and look at their attributes. Both OTLP JSON envelopes
// (`{"resourceSpans":[{"scopeSpans":[{"spans":[...]}]}]}`, one per line or per request) and
// one-span-per-line objects are understood; attribute values are normalised to plain JSON
// values (OTLP's `{"stringValue": ...}` / `{"intValue": "42"}` wrappers are removed).
//
// Example:
//   auto spans = genops::examples::ReadSpanFile(dir.path() / "spans.jsonl").value();
//   const nlohmann::json* team = spans[0].Find("genops.team");
//
// Thread safety: plain functions and value types.
#ifndef GENOPS_EXAMPLES_SUPPORT_SPAN_FILE_H_
#define GENOPS_EXAMPLES_SUPPORT_SPAN_FILE_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace genops::examples {

struct SpanRecord {
  std::string trace_id;        // lowercase hex, 32 digits
  std::string span_id;         // lowercase hex, 16 digits
  std::string parent_span_id;  // "" for a root span
  std::string name;
  int status_code = 0;  // OTLP: 0 unset, 1 ok, 2 error
  std::map<std::string, nlohmann::json> attributes;
  std::vector<std::string> event_names;

  // The attribute's value, or nullptr.
  const nlohmann::json* Find(std::string_view key) const;
  // The attribute as text ("" when absent; numbers and booleans are printed).
  std::string Text(std::string_view key) const;
  // The attribute as a number (nullopt when absent or not numeric).
  std::optional<double> Number(std::string_view key) const;
  bool IsError() const { return status_code == 2; }
};

// Parses one JSON document holding spans (an OTLP JSON export request or a single span).
absl::StatusOr<std::vector<SpanRecord>> ParseSpans(std::string_view json_text);
// Reads a JSON-lines file written by the file exporter. A missing file is NOT_FOUND.
absl::StatusOr<std::vector<SpanRecord>> ReadSpanFile(const std::filesystem::path& path);

// Filters.
std::vector<SpanRecord> SpansWithAttribute(const std::vector<SpanRecord>& spans,
                                           std::string_view key, std::string_view value);
std::optional<SpanRecord> SpanWithId(const std::vector<SpanRecord>& spans,
                                     std::string_view span_id);

}  // namespace genops::examples

#endif  // GENOPS_EXAMPLES_SUPPORT_SPAN_FILE_H_
