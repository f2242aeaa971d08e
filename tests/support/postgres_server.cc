#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "genops/clock.h"
#include "src/core/text.h"

namespace genops::testing {
namespace {

constexpr int64_t kReadyTimeoutNanos = 60 * kNanosPerSecond;
constexpr int64_t kStopTimeoutNanos = 30 * kNanosPerSecond;
constexpr int64_t kPollNanos = 10 * kNanosPerMilli;

std::string ErrnoText(std::string_view what) { return Cat(what, ": ", std::strerror(errno)); }

std::string Tail(const std::string& path, size_t max_chars = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > max_chars) text = "..." + text.substr(text.size() - max_chars);
  return text;
}

// A port on 127.0.0.1 nobody listens on right now (the kernel's pick for port 0).
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(ErrnoText("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = ErrnoText("bind 127.0.0.1:0");
    close(fd);
    return absl::InternalError(error);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// A thread that lives as long as the process, which forks every server. The parent-death
// signal is tied to the thread that forked, not the process: a server forked by a
// short-lived thread (a benchmark's worker, a test's helper) would get SIGQUIT when that
// thread ends.
//
// Thread safety: thread-safe; tasks run one at a time, in submission order.
class ForkThread {
 public:
  static ForkThread& Instance() {
    static ForkThread* const instance = new ForkThread();  // never destroyed
    return *instance;
  }

  // Runs `fn` on the fork thread and waits for it.
  void Run(const std::function<void()>& fn) {
    Task task{&fn};
    absl::MutexLock lock(&mu_);
    queue_.push_back(&task);
    mu_.Await(absl::Condition(&task.done));
  }

 private:
  struct Task {
    const std::function<void()>* fn;
    bool done = false;
  };

  ForkThread() {
    std::thread([this] { Loop(); }).detach();
  }

  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty(); }

  void Loop() {
    absl::MutexLock lock(&mu_);
    while (true) {
      mu_.Await(absl::Condition(this, &ForkThread::HasWork));
      Task* task = queue_.front();
      queue_.pop_front();
      mu_.Unlock();
      (*task->fn)();
      mu_.Lock();
      task->done = true;
    }
  }

  absl::Mutex mu_;
  std::deque<Task*> queue_ ABSL_GUARDED_BY(mu_);
};

// Forks and execs `argv` as uid/gid (when they differ from ours), stdout and stderr appended
// to `log_path`. The child gets SIGQUIT when this process dies.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                            uid_t uid, gid_t gid) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // A fixed, minimal environment: the server must not pick up PG* settings of the caller.
  std::string path_var = "PATH=/usr/bin:/bin";
  std::string locale_var = "LC_ALL=C";
  std::vector<char*> env = {path_var.data(), locale_var.data(), nullptr};
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError(ErrnoText(Cat("open ", log_path)));
  if (fchown(log, uid, gid) != 0 && geteuid() == 0) {
    close(log);
    return absl::InternalError(ErrnoText(Cat("chown ", log_path)));
  }
  const pid_t parent = getpid();
  const bool switch_user = uid != geteuid();
  pid_t pid = -1;
  ForkThread::Instance().Run([&] {
    pid = fork();
    if (pid != 0) return;
    // The child. Only async-signal-safe calls from here on.
    if (dup2(log, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0) _exit(126);
    const int null_in = open("/dev/null", O_RDONLY);
    if (null_in >= 0) dup2(null_in, STDIN_FILENO);
    setpgid(0, 0);  // a Ctrl-C aimed at the test does not hit the server first
    if (switch_user) {
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(125);
    }
    // After setuid: a credential change clears the parent-death signal.
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != parent) _exit(124);
    if (chdir("/") != 0) _exit(123);
    execve(args[0], args.data(), env.data());
    _exit(127);
  });
  if (pid < 0) {
    close(log);
    return absl::InternalError(ErrnoText("fork"));
  }
  close(log);
  return pid;
}

// Waits for `pid` to end, up to `timeout_nanos`. True when it ended (and was reaped).
bool WaitForExit(pid_t pid, int64_t timeout_nanos, int* status) {
  const Clock* clock = Clock::Real();
  const int64_t deadline = clock->MonotonicNanos() + timeout_nanos;
  while (true) {
    const pid_t done = waitpid(pid, status, WNOHANG);
    if (done == pid) return true;
    if (done < 0 && errno != EINTR) return true;  // not our child any more
    if (clock->MonotonicNanos() >= deadline) return false;
    // No way to block on a child with a timeout short of pidfds; poll briefly.
    clock->SleepNanos(kPollNanos);
  }
}

std::string ConnInfo(int port, std::string_view database) {
  return Cat("host=127.0.0.1 port=", port, " user=postgres dbname=", database,
             " connect_timeout=10 application_name=genops_test_harness");
}

std::string QuoteIdentifier(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace

std::string PostgresServer::Bin(std::string_view program) const {
  return Cat(bin_dir_, "/", program);
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    const Environment* environment, std::string_view bin_dir) {
  if (environment == nullptr) environment = Environment::Process();
  const std::string postgres = Cat(bin_dir, "/postgres");
  const std::string initdb_path = Cat(bin_dir, "/initdb");
  if (access(postgres.c_str(), X_OK) != 0 || access(initdb_path.c_str(), X_OK) != 0) {
    const std::string message =
        Cat("PostgreSQL 15 is not installed (no ", postgres, " / ", initdb_path,
            "); install the Debian package postgresql-15 to run the PostgreSQL ledger tests");
    if (environment->Get("CI").value_or("") == "true") {
      return absl::FailedPreconditionError(Cat(message, " (CI=true: refusing to skip)"));
    }
    return absl::UnavailableError(message);
  }

  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, and PostgreSQL refuses root, but there is no `postgres` user to "
          "run the test server as; create one (the postgresql package does) or run as non-root");
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }

  std::error_code ec;
  const std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
  std::string pattern = Cat(ec ? std::string("/tmp") : tmp.string(), "/genops-pg-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(ErrnoText(Cat("mkdtemp ", pattern)));
  }
  const std::string dir = pattern;
  if (chown(dir.c_str(), uid, gid) != 0) {
    std::filesystem::remove_all(dir, ec);
    return absl::InternalError(ErrnoText(Cat("chown ", dir)));
  }
  // From here on the server object owns the dir: an early return deletes it.
  auto server =
      std::unique_ptr<PostgresServer>(new PostgresServer(std::string(bin_dir), dir, 0, uid, gid));

  const std::string data = Cat(dir, "/data");
  absl::StatusOr<pid_t> initdb =
      Spawn({initdb_path, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
             "--no-instructions", "--encoding=UTF8", "--locale=C"},
            Cat(dir, "/initdb.log"), uid, gid);
  if (!initdb.ok()) return initdb.status();
  int status = 0;
  if (!WaitForExit(*initdb, kReadyTimeoutNanos, &status)) {
    kill(*initdb, SIGKILL);
    WaitForExit(*initdb, kStopTimeoutNanos, &status);
    return absl::DeadlineExceededError(Cat("initdb did not finish: ", Tail(dir + "/initdb.log")));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        Cat("initdb failed (status ", status, "): ", Tail(dir + "/initdb.log")));
  }
  {
    // First match wins: the superuser needs no password, every other role does.
    const std::string hba = Cat(data, "/pg_hba.conf");
    std::ofstream out(hba, std::ios::trunc);
    out << "host all postgres 127.0.0.1/32 trust\n"
        << "host all all 127.0.0.1/32 scram-sha-256\n";
    out.close();
    if (!out || chown(hba.c_str(), uid, gid) != 0) {
      return absl::InternalError(Cat("could not write ", hba));
    }
  }

  // The port is free when picked, but another process may take it before postgres binds
  // it: pick again a few times.
  absl::Status started;
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    server->port_ = *port;
    absl::MutexLock lock(&server->mu_);
    started = server->StartLocked();
    if (started.ok()) return server;
    if (started.message().find("Address already in use") == std::string_view::npos) break;
  }
  return started;
}

absl::StatusOr<PostgresServer*> PostgresServer::Shared() {
  // Destroyed at exit, which stops the server and deletes its dir.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> shared = Start();
  if (!shared.ok()) return shared.status();
  return shared->get();
}

PostgresServer::~PostgresServer() {
  {
    absl::MutexLock lock(&mu_);
    (void)StopLocked();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

absl::Status PostgresServer::StartLocked() {
  const std::string log = Cat(dir_, "/postgres.log");
  const std::vector<std::string> argv = {Bin("postgres"),
                                         "-D",
                                         Cat(dir_, "/data"),
                                         "-c",
                                         "listen_addresses=127.0.0.1",
                                         "-c",
                                         Cat("port=", port_),
                                         "-c",
                                         "unix_socket_directories=",
                                         "-c",
                                         "fsync=off",
                                         "-c",
                                         "full_page_writes=off",
                                         "-c",
                                         "max_connections=300",
                                         "-c",
                                         "shared_buffers=64MB",
                                         "-c",
                                         "logging_collector=off"};
  absl::StatusOr<pid_t> pid = Spawn(argv, log, uid_, gid_);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;

  const Clock* clock = Clock::Real();
  const int64_t deadline = clock->MonotonicNanos() + kReadyTimeoutNanos;
  const std::string conninfo = ConnInfo(port_, "postgres");
  while (true) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          Cat("postgres exited during start-up (status ", status, "): ", Tail(log)));
    }
    if (clock->MonotonicNanos() >= deadline) {
      (void)StopLocked();
      return absl::DeadlineExceededError(Cat(
          "postgres did not accept connections on 127.0.0.1:", port_, " within 60 s: ", Tail(log)));
    }
    // Readiness of another process has no event to wait on; poll briefly.
    clock->SleepNanos(kPollNanos);
  }
}

absl::Status PostgresServer::StopLocked() {
  if (pid_ < 0) return absl::OkStatus();
  int status = 0;
  kill(pid_, SIGINT);  // fast shutdown
  if (!WaitForExit(pid_, kStopTimeoutNanos, &status)) {
    kill(pid_, SIGKILL);
    WaitForExit(pid_, kStopTimeoutNanos, &status);
    pid_ = -1;
    return absl::DeadlineExceededError("postgres did not shut down within 30 s; killed it");
  }
  pid_ = -1;
  return absl::OkStatus();
}

absl::Status PostgresServer::Stop() {
  absl::MutexLock lock(&mu_);
  return StopLocked();
}

absl::Status PostgresServer::Restart() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = StopLocked(); !s.ok()) return s;
  return StartLocked();
}

bool PostgresServer::running() const {
  absl::MutexLock lock(&mu_);
  return pid_ >= 0;
}

absl::Status PostgresServer::ExecuteSql(std::string_view database, std::string_view sql) {
  const std::string conninfo = ConnInfo(port_, database);
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        Cat("test server 127.0.0.1:", port_, ": ", PQerrorMessage(conn.get())));
  }
  const std::string query(sql);
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), query.c_str()),
                                                        &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(Cat("test server: ", sql, ": ", PQerrorMessage(conn.get())));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PostgresServer::BusySessions(std::string_view database) {
  const std::string conninfo = ConnInfo(port_, database);
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        Cat("test server 127.0.0.1:", port_, ": ", PQerrorMessage(conn.get())));
  }
  const std::string query =
      Cat("SELECT count(*) FROM pg_stat_activity WHERE datname = ", QuoteLiteral(database),
          " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
          " AND state IS DISTINCT FROM 'idle'");
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), query.c_str()),
                                                        &PQclear);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) != 1) {
    return absl::InternalError(Cat("test server: ", PQerrorMessage(conn.get())));
  }
  return std::atoi(PQgetvalue(result.get(), 0, 0));
}

absl::Status PostgresServer::AwaitQuiet(std::string_view database, absl::Duration timeout) {
  const Clock* clock = Clock::Real();
  const int64_t deadline = clock->MonotonicNanos() + absl::ToInt64Nanoseconds(timeout);
  while (true) {
    absl::StatusOr<int> busy = BusySessions(database);
    if (!busy.ok()) return busy.status();
    if (*busy == 0) return absl::OkStatus();
    if (clock->MonotonicNanos() >= deadline) {
      return absl::DeadlineExceededError(Cat(*busy, " session(s) on ", database,
                                             " still busy after ", absl::FormatDuration(timeout)));
    }
    // Sessions of other processes have no event to wait on; poll briefly.
    clock->SleepNanos(kPollNanos);
  }
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() {
  int n = 0;
  {
    absl::MutexLock lock(&mu_);
    if (pid_ < 0) return absl::FailedPreconditionError("the test server is stopped");
    n = ++next_database_;
  }
  const std::string name = Cat("genops_test_", n);
  if (absl::Status s = ExecuteSql("postgres", Cat("CREATE DATABASE ", name)); !s.ok()) return s;
  return Cat("postgresql://postgres@127.0.0.1:", port_, "/", name);
}

absl::Status PostgresServer::CreateRole(std::string_view role, std::string_view password,
                                        std::string_view database) {
  if (absl::Status s = ExecuteSql("postgres", Cat("CREATE ROLE ", QuoteIdentifier(role),
                                                  " LOGIN PASSWORD ", QuoteLiteral(password)));
      !s.ok()) {
    return s;
  }
  return ExecuteSql("postgres", Cat("ALTER DATABASE ", QuoteIdentifier(database), " OWNER TO ",
                                    QuoteIdentifier(role)));
}

}  // namespace genops::testing
