#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/core/text.h"

namespace genops::testing {
namespace {

using Steady = std::chrono::steady_clock;

// A port that was free a moment ago (the kernel's pick for port 0). Another process could
// take it before redis-server binds it; Start() retries with a new one when that happens.
absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("redis test server: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("redis test server: could not pick a free loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// One command on a short-lived connection; the reply as text ("PONG", "OK", or the error).
absl::StatusOr<std::string> Command(int port, const std::vector<std::string>& argv,
                                    int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (ctx == nullptr || ctx->err != 0) {
    std::string err = ctx != nullptr ? ctx->errstr : "out of memory";
    if (ctx != nullptr) redisFree(ctx);
    return absl::UnavailableError(Cat("redis test server on port ", port, ": ", err));
  }
  redisSetTimeout(ctx, tv);
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(args.size()), args.data(), lens.data()));
  if (reply == nullptr) {
    std::string err = ctx->errstr;
    redisFree(ctx);
    return absl::UnavailableError(Cat("redis test server on port ", port, ": ", err));
  }
  std::string text = reply->str != nullptr ? std::string(reply->str, reply->len) : "";
  const bool error = reply->type == REDIS_REPLY_ERROR;
  freeReplyObject(reply);
  redisFree(ctx);
  if (error) return absl::FailedPreconditionError(Cat("redis test server: ", text));
  return text;
}

// Starts `argv` as a child process that receives SIGTERM when this process ends, however it
// ends (PR_SET_PDEATHSIG). The signal follows the death of the *thread* that forked, so every
// fork happens on one thread that lives as long as the process, never on a test's thread
// (which may be a short-lived worker).
absl::StatusOr<pid_t> SpawnWithDeathSignal(std::vector<std::string> argv) {
  struct Job {
    std::vector<std::string> argv;
    pid_t pid = -1;
    bool done = false;
  };
  // Never destroyed: the helper thread waits on them until the process exits.
  static auto* const mu = new std::mutex();
  static auto* const cv = new std::condition_variable();
  static auto* const jobs = new std::deque<Job*>();
  static std::once_flag started;
  std::call_once(started, [] {
    std::thread([] {
      while (true) {
        std::unique_lock<std::mutex> lock(*mu);
        cv->wait(lock, [] { return !jobs->empty(); });
        Job* job = jobs->front();
        jobs->pop_front();
        std::vector<char*> args;
        for (std::string& a : job->argv) args.push_back(a.data());
        args.push_back(nullptr);
        const pid_t parent = getpid();
        const pid_t pid = fork();
        if (pid == 0) {
          // Only async-signal-safe calls between fork and exec.
          prctl(PR_SET_PDEATHSIG, SIGTERM);
          if (getppid() != parent) _exit(127);
          execv(args[0], args.data());
          _exit(127);
        }
        job->pid = pid;
        job->done = true;
        cv->notify_all();
      }
    }).detach();
  });
  Job job;
  job.argv = std::move(argv);
  std::unique_lock<std::mutex> lock(*mu);
  jobs->push_back(&job);
  cv->notify_all();
  cv->wait(lock, [&job] { return job.done; });
  if (job.pid < 0) return absl::InternalError("redis test server: fork failed");
  return job.pid;
}

std::string LogTail(const std::string& dir) {
  std::ifstream in(dir + "/redis.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start() {
  return Start(RedisServerOptions{});
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const RedisServerOptions& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    const Environment* env =
        options.environment != nullptr ? options.environment : Environment::Process();
    const std::string message =
        Cat("redis-server not found at ", options.binary,
            "; install it (apt-get install redis-server, or scripts/install-deps.sh) to run the "
            "Redis ledger tests");
    if (env->Get("CI") == "true") {
      return absl::FailedPreconditionError(
          Cat(message, " (CI=true: the Redis tests must run in CI, not be skipped)"));
    }
    return absl::UnavailableError(message);
  }
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    char tmpl[] = "/tmp/genops_redis_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      return absl::InternalError("redis test server: mkdtemp failed under /tmp");
    }
    absl::StatusOr<int> port = PickFreePort();
    if (!port.ok()) return port.status();
    std::unique_ptr<RedisServer> server(new RedisServer(options, tmpl, *port));
    last = server->Launch();
    if (last.ok()) return server;
    // The destructor removes the dir; try another port (it may have been taken meanwhile).
  }
  return last;
}

absl::StatusOr<RedisServer*> RedisServer::Shared() {
  static std::mutex mu;
  static std::unique_ptr<RedisServer> server;  // stopped and cleaned up at exit
  static absl::Status error;
  static bool tried = false;
  std::lock_guard<std::mutex> lock(mu);
  if (!tried) {
    tried = true;
    absl::StatusOr<std::unique_ptr<RedisServer>> started = Start();
    if (started.ok()) {
      server = *std::move(started);
    } else {
      error = started.status();
    }
  }
  if (server == nullptr) return error;
  return server.get();
}

RedisServer::~RedisServer() {
  (void)Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::Url(int db) const { return Cat("redis://127.0.0.1:", port_, "/", db); }

std::string RedisServer::FreshUrl(int db) {
  return Cat(Url(db), "?prefix=t", next_prefix_.fetch_add(1), "-", getpid(), ":");
}

absl::Status RedisServer::FlushAll() {
  absl::StatusOr<std::string> reply = Command(port_, {"FLUSHALL"}, 5000);
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::Status RedisServer::Launch() {
  std::vector<std::string> args = {options_.binary,
                                   "--port",
                                   Cat(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--daemonize",
                                   "no",
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   options_.appendfsync,
                                   "--save",
                                   "",
                                   "--logfile",
                                   dir_ + "/redis.log",
                                   "--loglevel",
                                   "notice"};
  absl::StatusOr<pid_t> pid = SpawnWithDeathSignal(std::move(args));
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  const auto deadline = Steady::now() + std::chrono::milliseconds(options_.startup_timeout_ms);
  absl::Status last = absl::UnavailableError("not started");
  while (Steady::now() < deadline) {
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = 0;
      return absl::InternalError(Cat("redis test server exited during start-up on port ", port_,
                                     "; its log ends with:\n", LogTail(dir_)));
    }
    absl::StatusOr<std::string> pong = Command(port_, {"PING"}, 1000);
    if (pong.ok() && *pong == "PONG") return absl::OkStatus();
    last = pong.ok() ? absl::UnavailableError(*pong) : pong.status();
    // A child process has no condition to wait on: poll its port.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (void)Stop();
  return absl::DeadlineExceededError(Cat("redis test server on port ", port_,
                                         " did not answer PING within ",
                                         options_.startup_timeout_ms, " ms (", last.ToString(),
                                         "); its log ends with:\n", LogTail(dir_)));
}

absl::Status RedisServer::Stop() {
  if (pid_ == 0) return absl::OkStatus();
  kill(pid_, SIGTERM);
  const auto deadline = Steady::now() + std::chrono::seconds(10);
  while (true) {
    int wstatus = 0;
    const pid_t done = waitpid(pid_, &wstatus, WNOHANG);
    if (done == pid_ || done < 0) break;
    if (Steady::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wstatus, 0);
      pid_ = 0;
      return absl::DeadlineExceededError(
          Cat("redis test server on port ", port_, " ignored SIGTERM for 10 s; killed it"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = 0;
  return absl::OkStatus();
}

absl::Status RedisServer::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Launch();
}

}  // namespace genops::testing
