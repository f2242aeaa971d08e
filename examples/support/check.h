// check.h: the assertions the examples make about what the seed says they achieve.
//
// An example is a program that demonstrates one section of the seed and proves it: every
// claim it prints is checked with EXPECT_OR_DIE, which prints `FAILED: <message>` (with the
// condition and its location) and exits with status 1. tests/examples/examples_test.cc runs
// every example and requires status 0 and the final `example <name>: OK` line.
//
// Example:
//   EXPECT_OR_DIE(op.get_metrics().cost > genops::Money::Zero(),
//                 "the operation was priced, cost=" << op.get_metrics().cost.ToUsdString());
//   auto adapter = genops::examples::ValueOrDie(genops::instrument_traceloop(config),
//                                               "instrument_traceloop");
//
// Thread safety: the macro and helpers may be used from any thread; a failure ends the
// process.
#ifndef GENOPS_EXAMPLES_SUPPORT_CHECK_H_
#define GENOPS_EXAMPLES_SUPPORT_CHECK_H_

#include <cstdlib>
#include <iostream>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace genops::examples {

// Prints the failure and ends the process with status 1. Never returns.
[[noreturn]] inline void DieWithFailure(std::string_view file, int line, std::string_view condition,
                                        const std::string& message) {
  std::cout << "FAILED: " << message << "\n  (" << condition << " at " << file << ":" << line << ")"
            << std::endl;
  std::exit(1);
}

// The value of `result`, or the failure `what: <status>` (located at the caller).
template <typename T>
T ValueOrDie(absl::StatusOr<T> result, std::string_view what,
             std::source_location where = std::source_location::current()) {
  if (!result.ok()) {
    DieWithFailure(where.file_name(), static_cast<int>(where.line()), what,
                   std::string(what) + ": " + result.status().ToString());
  }
  return *std::move(result);
}

inline void OkOrDie(const absl::Status& status, std::string_view what,
                    std::source_location where = std::source_location::current()) {
  if (!status.ok()) {
    DieWithFailure(where.file_name(), static_cast<int>(where.line()), what,
                   std::string(what) + ": " + status.ToString());
  }
}

}  // namespace genops::examples

// `msg` is anything that can be streamed: EXPECT_OR_DIE(a == b, "a=" << a << " b=" << b).
#define EXPECT_OR_DIE(cond, msg)                                                                  \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::ostringstream genops_check_message_;                                                   \
      genops_check_message_ << msg;                                                               \
      ::genops::examples::DieWithFailure(__FILE__, __LINE__, #cond, genops_check_message_.str()); \
    }                                                                                             \
  } while (0)

#endif  // GENOPS_EXAMPLES_SUPPORT_CHECK_H_
