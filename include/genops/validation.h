// validate_setup: the seed's setup validation, in C++ (also `genops validate`).
//
// Checks, without ever making a paid LLM call:
//   configuration   every parameter valid (the same checks as instrument_traceloop)
//   environment     GENOPS_* attribution defaults, provider API keys present, OTEL_* parse
//   catalog         the built-in catalog (and overrides) load; configured models are priced
//   exporters       endpoints well formed; reachable only with include_connectivity_tests
//   performance     with include_performance_tests: a short in-process run of tracked
//                   operations against a null exporter, reporting the overhead per operation
// Each finding says what is wrong and what to do about it.
//
// Example:
//   auto result = genops::validate_setup({.include_connectivity_tests = true});
//   genops::print_validation_result(result, /*detailed=*/true);
//   return result.ok() ? 0 : 1;
//
// Thread safety: the functions are thread-safe; results are plain values.
#ifndef GENOPS_VALIDATION_H_
#define GENOPS_VALIDATION_H_

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "genops/config.h"

namespace genops {

enum class FindingSeverity { kOk, kInfo, kWarning, kError };

struct ValidationFinding {
  FindingSeverity severity = FindingSeverity::kOk;
  std::string area;     // configuration | environment | catalog | exporters | performance
  std::string check;    // short name of the check
  std::string message;  // what was found
  std::string fix;      // what to do (empty when nothing is needed)
};

struct ValidationResult {
  std::vector<ValidationFinding> findings;
  bool ok() const;  // no kError finding
  int errors() const;
  int warnings() const;
  std::string ToJson() const;
};

struct ValidationOptions {
  // The configuration to check; unset means the environment's defaults.
  std::optional<AdapterConfig> config;
  // A YAML configuration file (DESIGN.md §6) to load and check instead of `config`.
  std::string config_file;
  // Further models the application will call, checked against the catalog.
  std::vector<std::string> models;
  bool include_connectivity_tests = false;
  bool include_performance_tests = false;
};

ValidationResult validate_setup(const ValidationOptions& options = {});
// Prints a readable report to stdout (or `out`). `detailed` also lists passed checks.
void print_validation_result(const ValidationResult& result, bool detailed = false);
void print_validation_result(const ValidationResult& result, bool detailed, std::ostream& out);

}  // namespace genops

#endif  // GENOPS_VALIDATION_H_
