// Small helpers shared by the example programs: section headings, money formatting, reading
// back exported spans, and comparing a display-only double attribute with exact Money.
//
// Thread safety: plain functions.
#ifndef GENOPS_EXAMPLES_SUPPORT_EXAMPLE_HELPERS_H_
#define GENOPS_EXAMPLES_SUPPORT_EXAMPLE_HELPERS_H_

#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "genops/adapter.h"
#include "genops/money.h"
#include "support/check.h"
#include "support/span_file.h"

namespace genops::examples {

inline void Section(std::string_view title) { std::cout << "\n== " << title << std::endl; }

// "$0.000123 (123000 nano-USD)"
inline std::string Usd(genops::Money amount) {
  std::string text = "$";
  text += amount.ToUsdString();
  text += " (";
  text += std::to_string(amount.nanos());
  text += " nano-USD)";
  return text;
}

// Exports everything queued, or fails the example.
inline void FlushOrDie(genops::Adapter& adapter) {
  EXPECT_OR_DIE(adapter.flush(10000), "adapter.flush() timed out with spans still queued");
}

inline std::vector<SpanRecord> ReadSpansOrDie(const std::filesystem::path& path) {
  absl::StatusOr<std::vector<SpanRecord>> spans = ReadSpanFile(path);
  EXPECT_OR_DIE(spans.ok(), "reading the exported spans: " << spans.status().ToString());
  return *std::move(spans);
}

// genops.cost.total is a double for display; it must match the exact cost to the nano-USD.
inline bool SameUsd(std::optional<double> shown, genops::Money exact) {
  return shown.has_value() && std::fabs(*shown - exact.usd()) < 1e-9;
}

// True when the JSON value (string, or array of strings) mentions `needle`.
inline bool Mentions(const nlohmann::json& value, std::string_view needle) {
  return value.dump().find(needle) != std::string::npos;
}

}  // namespace genops::examples

#endif  // GENOPS_EXAMPLES_SUPPORT_EXAMPLE_HELPERS_H_
