#include "tests/support/node_runner.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "src/core/environment.h"
#include "src/core/text.h"

namespace genops::testing {
namespace {

using nlohmann::json;

// True when the child has ended (it stays reapable: WNOWAIT).
bool HasExited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// What follows `marker` on the first complete line of `text` containing it.
std::optional<std::string> AfterMarker(const std::string& text, std::string_view marker) {
  const size_t at = text.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const size_t end = text.find('\n', at);
  if (end == std::string::npos) return std::nullopt;
  std::string rest = text.substr(at + marker.size(), end - at - marker.size());
  while (!rest.empty() && (rest.back() == '\r' || rest.back() == ' ')) rest.pop_back();
  return rest;
}

}  // namespace

bool RunningInCi() {
  std::optional<std::string> ci = Environment::Process()->Get("CI");
  return ci.has_value() && *ci == "true";
}

std::string FindOnPath(std::string_view program) {
  std::optional<std::string> path = Environment::Process()->Get("PATH");
  if (!path.has_value()) return "";
  size_t begin = 0;
  while (begin <= path->size()) {
    size_t end = path->find(':', begin);
    if (end == std::string::npos) end = path->size();
    if (end > begin) {
      std::filesystem::path candidate =
          std::filesystem::path(path->substr(begin, end - begin)) / program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    begin = end + 1;
  }
  return "";
}

std::optional<std::string> NodeMissingReason(std::string_view node_dir,
                                             const std::vector<std::string>& packages) {
  if (FindOnPath("node").empty()) return "node is not on PATH";
  std::vector<std::string> missing;
  for (const std::string& package : packages) {
    if (!std::filesystem::exists(Cat(node_dir, "/node_modules/", package, "/package.json"))) {
      missing.push_back(package);
    }
  }
  if (missing.empty()) return std::nullopt;
  return Cat(node_dir, "/node_modules is missing ", Join(missing, ", "));
}

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / Cat(prefix, "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<ServerProcess> StartProcess(const std::vector<std::string>& argv,
                                           const std::string& dir, const std::string& name) {
  ServerProcess server;
  server.stdout_path = Cat(dir, "/", name, ".out");
  server.stderr_path = Cat(dir, "/", name, ".err");
  auto process = Subprocess::Start(
      argv, {.stdout_path = server.stdout_path, .stderr_path = server.stderr_path});
  if (!process.ok()) return process.status();
  server.process = std::move(*process);
  return server;
}

std::optional<std::string> AnnouncedNow(const ServerProcess& server, std::string_view marker) {
  return AfterMarker(ReadWholeFile(server.stdout_path), marker);
}

absl::StatusOr<std::string> AwaitAnnounced(const ServerProcess& server, std::string_view marker,
                                           absl::Duration timeout) {
  if (server.process == nullptr) return absl::FailedPreconditionError("no process");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (std::optional<std::string> found = AnnouncedNow(server, marker)) return *found;
    if (HasExited(server.process->pid())) {
      // It may have printed the line just before ending.
      if (std::optional<std::string> found = AnnouncedNow(server, marker)) return *found;
      const int code = server.process->Wait();
      return absl::InternalError(Cat(server.stdout_path, ": the process exited with code ", code,
                                     " before announcing \"", marker,
                                     "\"; stderr: ", ReadWholeFile(server.stderr_path)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(Cat(server.stdout_path, ": no line with \"", marker,
                                             "\" within ", absl::FormatDuration(timeout),
                                             "; stdout: ", ReadWholeFile(server.stdout_path),
                                             "; stderr: ", ReadWholeFile(server.stderr_path)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::StatusOr<ServerProcess> StartServer(const std::vector<std::string>& argv,
                                          const std::string& dir, const std::string& name,
                                          absl::Duration timeout) {
  absl::StatusOr<ServerProcess> server = StartProcess(argv, dir, name);
  if (!server.ok()) return server.status();
  absl::StatusOr<std::string> url = AwaitAnnounced(*server, "listening on ", timeout);
  if (!url.ok()) return url.status();
  if (url->rfind("http://", 0) != 0) {
    return absl::InternalError(Cat(name, " announced an unexpected address: ", *url));
  }
  server->url = std::move(*url);
  return server;
}

absl::StatusOr<json> RunNodeScript(const NodeRun& run) {
  const std::string out = Cat(run.output_dir, "/", run.tag, ".out");
  const std::string err = Cat(run.output_dir, "/", run.tag, ".err");
  std::vector<std::string> argv = {"/usr/bin/env"};
  for (const auto& [name, value] : run.env) argv.push_back(Cat(name, "=", value));
  for (const char* arg : {"timeout", "-k", "5"}) argv.push_back(arg);
  argv.push_back(std::to_string(run.timeout_seconds));
  argv.push_back("node");
  argv.push_back(Cat(run.node_dir, "/", run.script));
  auto node = Subprocess::Start(argv, {.stdout_path = out, .stderr_path = err});
  if (!node.ok()) return node.status();
  const int code = (*node)->Wait();
  const std::string text = ReadWholeFile(out);
  if (code != 0) {
    return absl::InternalError(Cat(run.script, " exited with ", code, "\nstdout: ", text,
                                   "\nstderr: ", ReadWholeFile(err)));
  }
  json result = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!result.is_object()) {
    return absl::InternalError(Cat(run.script, " did not print one JSON object: ", text,
                                   "\nstderr: ", ReadWholeFile(err)));
  }
  return result;
}

std::string StringAt(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

int64_t IntOr(const json& j, const char* key, int64_t fallback) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_integer()) return fallback;
  return j[key].get<int64_t>();
}

bool BoolOr(const json& j, const char* key, bool fallback) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_boolean()) return fallback;
  return j[key].get<bool>();
}

const json& ObjectAt(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object() || !j.contains(key) || !j[key].is_object()) return kEmpty;
  return j[key];
}

const json& ArrayAt(const json& j, const char* key) {
  static const json kEmpty = json::array();
  if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return kEmpty;
  return j[key];
}

}  // namespace genops::testing
