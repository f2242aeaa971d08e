// Helpers of the integration tests that drive real npm clients (tests/integration/node) against
// GenOps processes started by the test (`genops mock-upstream`, `genops serve`).
//
// Why shared: every such test needs the same plumbing, and copies drift. It decides whether the
// node scenarios can run here (NodeMissingReason; under CI=true a missing node or
// node_modules is a failure, elsewhere a skip: see RequireNodeOrSkip), starts servers as
// processes and reads the addresses they announce on stdout (the servers are other processes
// writing files, so polling the file is the only wait there is), runs one node script that
// prints ONE JSON line, and reads that line's fields without throwing.
//
// Example:
//   TempDir dir("genops-receiver");
//   auto mock = StartServer({GENOPS_CLI_PATH, "mock-upstream", "--listen", "127.0.0.1:0"},
//                           dir.path(), "mock");
//   auto result = RunNodeScript({.node_dir = kNodeDir, .script = "openai_chat.mjs",
//                                .env = {{"GENOPS_BASE_URL", mock->url}},
//                                .output_dir = dir.path(), .tag = "chat-1"});
//
// Thread safety: not thread-safe; one test thread uses these (the functions keep no state).
#ifndef GENOPS_TESTS_SUPPORT_NODE_RUNNER_H_
#define GENOPS_TESTS_SUPPORT_NODE_RUNNER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/subprocess.h"

namespace genops::testing {

// True when the environment variable CI is "true" (CI must run what a developer may skip).
bool RunningInCi();

// The absolute path of `program` on PATH, or "" when it is not there.
std::string FindOnPath(std::string_view program);

// Why the node scenarios in `node_dir` cannot run here (node missing from PATH, or one of
// `packages` missing from node_dir/node_modules), or nullopt when they can. The reason names
// what is missing; the cure is scripts/install-node-deps.sh.
std::optional<std::string> NodeMissingReason(std::string_view node_dir,
                                             const std::vector<std::string>& packages);

// A fresh directory under the system temp dir (named `prefix`-XXXXXX), removed with its
// contents by the destructor. path() is empty when mkdtemp failed.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "genops-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A server started as a process, its output files and the URL it announced.
struct ServerProcess {
  std::unique_ptr<Subprocess> process;
  std::string url;  // "http://127.0.0.1:PORT" (StartServer); empty after StartProcess
  std::string stdout_path;
  std::string stderr_path;
};

// Starts `argv` with stdout and stderr in `dir`/`name`.{out,err}; does not wait.
absl::StatusOr<ServerProcess> StartProcess(const std::vector<std::string>& argv,
                                           const std::string& dir, const std::string& name);

// Waits until the server's stdout has a complete line containing `marker` and returns what
// follows the marker on that line. Fails when the process exits first (with its exit code and
// stderr) or after `timeout`.
absl::StatusOr<std::string> AwaitAnnounced(const ServerProcess& server, std::string_view marker,
                                           absl::Duration timeout = absl::Seconds(30));

// What follows `marker` on a complete line of the server's stdout so far, or nullopt.
std::optional<std::string> AnnouncedNow(const ServerProcess& server, std::string_view marker);

// StartProcess + AwaitAnnounced("listening on "): the first announced address, which must be
// an http:// URL, becomes `url`.
absl::StatusOr<ServerProcess> StartServer(const std::vector<std::string>& argv,
                                          const std::string& dir, const std::string& name,
                                          absl::Duration timeout = absl::Seconds(30));

// One run of a node scenario script.
struct NodeRun {
  std::string node_dir;                    // where the script and node_modules are
  std::string script;                      // file name in node_dir
  std::map<std::string, std::string> env;  // added to the environment
  std::string output_dir;                  // the script's stdout/stderr go here
  std::string tag;                         // file name stem of those files (unique per run)
  int timeout_seconds = 120;               // `timeout` kills the run after this
};

// Runs the script with node (under coreutils `timeout`) and parses its stdout as ONE JSON
// object. Errors (with the script's stdout and stderr): it could not start, it exited non-zero,
// or its output is not one JSON object.
absl::StatusOr<nlohmann::json> RunNodeScript(const NodeRun& run);

// Reads of a scenario's JSON that never throw: a missing, null or mistyped field reads as the
// fallback ("" / fallback / an empty object).
std::string StringAt(const nlohmann::json& j, const char* key);
int64_t IntOr(const nlohmann::json& j, const char* key, int64_t fallback);
bool BoolOr(const nlohmann::json& j, const char* key, bool fallback);
const nlohmann::json& ObjectAt(const nlohmann::json& j, const char* key);
const nlohmann::json& ArrayAt(const nlohmann::json& j, const char* key);

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SUPPORT_NODE_RUNNER_H_
