// Subprocess: a child program started by a test (multi-process and crash tests).
//
// Start() forks and execs `argv[0]` with `argv`; the child's stdout and stderr go to the files
// named in the options (or are inherited). The destructor kills (SIGKILL) and reaps a child
// still running, so a failing test never leaves a process behind.
//
// Thread safety: not thread-safe; one test thread owns a Subprocess.
#ifndef GENOPS_TESTS_SUPPORT_SUBPROCESS_H_
#define GENOPS_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace genops::testing {

struct SubprocessOptions {
  std::string stdout_path;  // empty: inherit
  std::string stderr_path;  // empty: inherit
};

class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const SubprocessOptions& options = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Waits for the child to end. Returns its exit code, or 128 + signal when a signal
  // ended it.
  int Wait();
  // Sends `signal` (e.g. SIGKILL) and waits for the child to end; returns as Wait().
  int Kill(int signal);

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
};

// The whole contents of a file ("" when it does not exist).
std::string ReadWholeFile(const std::string& path);

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SUPPORT_SUBPROCESS_H_
