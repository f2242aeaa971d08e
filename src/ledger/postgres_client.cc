#include "src/ledger/postgres_client.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "genops/clock.h"
#include "src/core/text.h"

namespace genops::ledger::postgres {
namespace {

constexpr std::string_view kUrlShape =
    "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?param=value&...]";

// Parameters of libpq that a URL may carry through to it. Anything that names the server
// (host, port, user, password, dbname) belongs in the URL itself, and connect_timeout is
// replaced by timeout_ms.
constexpr std::string_view kPassThrough[] = {
    "application_name",
    "channel_binding",
    "gssencmode",
    "keepalives",
    "keepalives_count",
    "keepalives_idle",
    "keepalives_interval",
    "krbsrvname",
    "options",
    "passfile",
    "ssl_max_protocol_version",
    "ssl_min_protocol_version",
    "sslcert",
    "sslcrl",
    "sslcrldir",
    "sslkey",
    "sslmode",
    "sslrootcert",
    "sslsni",
    "target_session_attrs",
    "tcp_user_timeout",
};

int64_t NowMono() { return Clock::Real()->MonotonicNanos(); }

// libpq messages end in a newline and may span lines; make them one line.
std::string OneLine(std::string_view message) {
  std::string out;
  for (char c : message) {
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out.append("; ");
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(std::string_view in, std::string_view what) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(Cat("postgresql ledger URL: bad percent-escape in ", what,
                                            " at \"", in.substr(i, 3),
                                            "\"; write %XX with two hex digits"));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

absl::StatusOr<int64_t> ParseIntParam(std::string_view name, std::string_view value, int64_t min,
                                      int64_t max) {
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n < min || n > max) {
    return absl::InvalidArgumentError(Cat("postgresql ledger URL: ", name, "=\"", value,
                                          "\" is not an integer in [", min, ", ", max, "]"));
  }
  return n;
}

// Connection-time failures carry no SQLSTATE; libpq's message is all there is.
absl::Status ConnectError(const PostgresLedgerConfig& config, std::string_view message) {
  const std::string text =
      Cat("postgresql ledger at ", config.Describe(), ": cannot connect: ", OneLine(message));
  auto has = [&message](std::string_view needle) {
    return message.find(needle) != std::string_view::npos;
  };
  if (has("password authentication failed") || has("no password supplied") ||
      (has("role \"") && has("does not exist")) || has("authentication failed")) {
    return absl::UnauthenticatedError(
        Cat(text, " (check the user and password in the ledger URL)"));
  }
  if (has("database \"") && has("does not exist")) {
    return absl::NotFoundError(
        Cat(text, " (create the database first, e.g. `createdb ", config.database, "`)"));
  }
  if (has("no pg_hba.conf entry") || has("permission denied")) {
    return absl::PermissionDeniedError(text);
  }
  return absl::UnavailableError(text);
}

std::atomic<int> next_serial{0};

}  // namespace

std::string PostgresLedgerConfig::Describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  return Cat(v6 ? "[" : "", host, v6 ? "]" : "", ":", port, "/", database);
}

absl::Span<const std::string_view> PassThroughParams() { return kPassThrough; }

absl::StatusOr<PostgresLedgerConfig> ParsePostgresUrl(std::string_view url,
                                                      int64_t default_timeout_ms) {
  PostgresLedgerConfig config;
  config.timeout_ms = default_timeout_ms;
  std::string_view rest;
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (url.substr(0, scheme.size()) == scheme) rest = url.substr(scheme.size());
  }
  if (rest.data() == nullptr) {
    return absl::InvalidArgumentError(
        Cat("postgresql ledger URL must start with postgresql:// (shape: ", kUrlShape, ")"));
  }
  if (rest.find('#') != std::string_view::npos) {
    return absl::InvalidArgumentError("postgresql ledger URL: a '#' fragment is not allowed");
  }
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest;
  std::string_view path;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    absl::StatusOr<std::string> user = PercentDecode(userinfo.substr(0, colon), "the user");
    if (!user.ok()) return user.status();
    config.user = *std::move(user);
    if (colon != std::string_view::npos) {
      absl::StatusOr<std::string> password =
          PercentDecode(userinfo.substr(colon + 1), "the password");
      if (!password.ok()) return password.status();
      config.password = *std::move(password);
    }
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat("postgresql ledger URL: unterminated IPv6 address \"", authority, "\""));
    }
    config.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError(
            Cat("postgresql ledger URL: unexpected \"", after, "\" after the IPv6 address"));
      }
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    config.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (config.host.empty()) {
    return absl::InvalidArgumentError(
        Cat("postgresql ledger URL names no host; shape: ", kUrlShape));
  }
  if (config.host.find(',') != std::string::npos) {
    return absl::InvalidArgumentError(
        "postgresql ledger URL: several hosts are not supported; name one host (a primary)");
  }
  if (!port_text.empty() || authority.find(':') != std::string_view::npos) {
    absl::StatusOr<int64_t> port = ParseIntParam("port", port_text, 1, 65535);
    if (!port.ok()) return port.status();
    config.port = static_cast<int>(*port);
  }
  absl::StatusOr<std::string> database = PercentDecode(path, "the database name");
  if (!database.ok()) return database.status();
  config.database = *std::move(database);
  if (config.database.empty() || config.database.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(Cat("postgresql ledger URL names no database (\"",
                                          config.database, "\"); shape: ", kUrlShape));
  }

  std::vector<std::string> seen;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat("postgresql ledger URL: parameter \"", key, "\" has no value; write ", key, "=..."));
    }
    absl::StatusOr<std::string> value = PercentDecode(item.substr(eq + 1), key);
    if (!value.ok()) return value.status();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return absl::InvalidArgumentError(
          Cat("postgresql ledger URL: parameter \"", key, "\" is given twice"));
    }
    seen.emplace_back(key);
    if (key == "timeout_ms") {
      absl::StatusOr<int64_t> n = ParseIntParam(key, *value, 1, 600'000);
      if (!n.ok()) return n.status();
      config.timeout_ms = *n;
    } else if (key == "pool_size") {
      absl::StatusOr<int64_t> n = ParseIntParam(key, *value, 1, 100);
      if (!n.ok()) return n.status();
      config.pool_size = static_cast<int>(*n);
    } else if (key == "settled_ttl_s") {
      absl::StatusOr<int64_t> n = ParseIntParam(key, *value, 48 * 3600, 100LL * 365 * 86400);
      if (!n.ok()) return n.status();
      config.settled_ttl_seconds = *n;
    } else if (std::find(std::begin(kPassThrough), std::end(kPassThrough), key) !=
               std::end(kPassThrough)) {
      config.libpq_params.emplace_back(std::string(key), *std::move(value));
    } else if (key == "connect_timeout") {
      return absl::InvalidArgumentError(
          "postgresql ledger URL: use timeout_ms=N (milliseconds) instead of connect_timeout; "
          "it bounds connecting and every statement");
    } else if (key == "host" || key == "hostaddr" || key == "port" || key == "user" ||
               key == "password" || key == "dbname") {
      return absl::InvalidArgumentError(Cat("postgresql ledger URL: parameter \"", key,
                                            "\" is not accepted; give it in the URL itself (",
                                            kUrlShape, ")"));
    } else {
      return absl::InvalidArgumentError(
          Cat("postgresql ledger URL: unknown parameter \"", key,
              "\"; accepted: timeout_ms, pool_size, settled_ttl_s, and the libpq parameters ",
              Join(kPassThrough, ", ")));
    }
  }
  return config;
}

// --- PgResult ----------------------------------------------------------------------------

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int PgResult::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string_view PgResult::Text(int row, int column) const {
  return std::string_view(PQgetvalue(result_, row, column),
                          static_cast<size_t>(PQgetlength(result_, row, column)));
}

int64_t PgResult::Int(int row, int column) const {
  const std::string_view text = Text(row, column);
  int64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

int64_t PgResult::AffectedRows() const {
  int64_t n = 0;
  absl::SimpleAtoi(PQcmdTuples(result_), &n);
  return n;
}

// --- PgConnection ------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const PostgresLedgerConfig& config, int64_t deadline) {
  std::vector<std::pair<std::string, std::string>> params = {
      {"host", config.host},       {"port", Cat(config.port)},     {"dbname", config.database},
      {"client_encoding", "UTF8"}, {"application_name", "genops"},
  };
  if (!config.user.empty()) params.emplace_back("user", config.user);
  if (!config.password.empty()) params.emplace_back("password", config.password);
  // The server abandons a statement nobody waits for any more.
  std::string options = Cat("-c statement_timeout=", config.timeout_ms);
  for (const auto& [key, value] : config.libpq_params) {
    if (key == "options") {
      options = Cat(value, " ", options);
    } else if (key == "application_name") {
      params[4].second = value;
    } else {
      params.emplace_back(key, value);
    }
  }
  params.emplace_back("options", options);
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [key, value] : params) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);

  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("postgresql ledger: out of memory opening a connection");
  }
  auto fail = [&](absl::Status status) {
    PQfinish(conn);
    return status;
  };
  if (PQstatus(conn) == CONNECTION_BAD) return fail(ConnectError(config, PQerrorMessage(conn)));
  PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
  while (poll_status != PGRES_POLLING_OK) {
    if (poll_status == PGRES_POLLING_FAILED) {
      return fail(ConnectError(config, PQerrorMessage(conn)));
    }
    pollfd fd{};
    fd.fd = PQsocket(conn);
    fd.events = poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    const int64_t left = deadline - NowMono();
    if (left <= 0) {
      return fail(
          absl::UnavailableError(Cat("postgresql ledger at ", config.Describe(),
                                     ": cannot connect within timeout_ms=", config.timeout_ms)));
    }
    const int ready = poll(&fd, 1, static_cast<int>((left + kNanosPerMilli - 1) / kNanosPerMilli));
    if (ready < 0 && errno != EINTR) {
      return fail(absl::UnavailableError(
          Cat("postgresql ledger at ", config.Describe(), ": poll failed while connecting")));
    }
    if (ready > 0) poll_status = PQconnectPoll(conn);
  }
  if (PQsetnonblocking(conn, 1) != 0) {
    return fail(absl::InternalError(Cat("postgresql ledger at ", config.Describe(),
                                        ": cannot make the connection non-blocking")));
  }
  return std::unique_ptr<PgConnection>(new PgConnection(
      conn, config.Describe(), next_serial.fetch_add(1, std::memory_order_relaxed)));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::ClosedByServer() const {
  pollfd fd{};
  fd.fd = PQsocket(conn_);
  if (fd.fd < 0 || broken_) return true;
  fd.events = POLLIN;
  return poll(&fd, 1, 0) != 0;
}

bool PgConnection::WaitSocket(bool write, int64_t deadline) {
  pollfd fd{};
  fd.fd = PQsocket(conn_);
  fd.events = static_cast<short>(POLLIN | (write ? POLLOUT : 0));
  while (true) {
    const int64_t left = deadline - NowMono();
    if (left <= 0) return false;
    const int ready = poll(&fd, 1, static_cast<int>((left + kNanosPerMilli - 1) / kNanosPerMilli));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return true;  // let libpq report the socket's error
  }
}

absl::Status PgConnection::Broken(std::string_view what, std::string_view detail) {
  broken_ = true;
  return absl::UnavailableError(
      Cat("postgresql ledger at ", where_, ": ", what, ": ", OneLine(detail)));
}

absl::StatusOr<PgResult> PgConnection::AwaitResult(int64_t deadline, std::string_view what) {
  auto timed_out = [&]() {
    return Broken(what, "no reply before the deadline (timeout_ms); the statement may have run");
  };
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) return Broken(what, PQerrorMessage(conn_));
    if (!WaitSocket(true, deadline)) return timed_out();
    if (PQconsumeInput(conn_) == 0) return Broken(what, PQerrorMessage(conn_));
  }
  PgResult kept;
  ExecStatusType kept_status = PGRES_EMPTY_QUERY;
  bool have = false;
  while (true) {
    while (PQisBusy(conn_) != 0) {
      if (!WaitSocket(false, deadline)) return timed_out();
      if (PQconsumeInput(conn_) == 0) return Broken(what, PQerrorMessage(conn_));
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    const ExecStatusType status = PQresultStatus(result);
    // Keep the first result, or the first error (a script stops at its first error).
    if (!have || (status == PGRES_FATAL_ERROR && kept_status != PGRES_FATAL_ERROR)) {
      kept = PgResult(result);
      kept_status = status;
      have = true;
    } else {
      PQclear(result);
    }
  }
  if (PQstatus(conn_) == CONNECTION_BAD) return Broken(what, PQerrorMessage(conn_));
  if (!have) return absl::InternalError(Cat("postgresql ledger: ", what, ": no result"));
  if (kept_status == PGRES_COMMAND_OK || kept_status == PGRES_TUPLES_OK) return kept;

  // A statement error: the connection stays usable.
  const PGresult* raw = kept.raw();
  const char* state_ptr = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
  const std::string_view state = state_ptr != nullptr ? state_ptr : "";
  const std::string message =
      Cat("postgresql ledger at ", where_, ": ", what, ": ",
          primary != nullptr ? std::string_view(primary) : std::string_view("error"), " (SQLSTATE ",
          state, ")");
  auto cls = [&state](std::string_view prefix) { return state.substr(0, prefix.size()) == prefix; };
  if (state == "40001" || state == "40P01") return absl::AbortedError(message);
  if (state == "57014") {
    return absl::UnavailableError(Cat(message, "; the statement exceeded timeout_ms"));
  }
  if (cls("08") || cls("57P") || cls("53") || state == "55P03" || state == "25006") {
    if (cls("08") || cls("57P")) broken_ = true;
    return absl::UnavailableError(message);
  }
  if (state == "22003") return absl::OutOfRangeError(message);
  if (cls("22")) return absl::InvalidArgumentError(message);
  if (cls("28")) return absl::UnauthenticatedError(message);
  if (state == "42501") return absl::PermissionDeniedError(message);
  if (state == "3D000") return absl::NotFoundError(message);
  if (state == "42P01" || state == "42883") {
    return absl::FailedPreconditionError(
        Cat(message, "; the ledger tables or functions are missing (dropped while running?)"));
  }
  return absl::InternalError(message);
}

absl::StatusOr<PgResult> PgConnection::Execute(const PgStatement& statement,
                                               absl::Span<const std::string> params,
                                               int64_t deadline) {
  if (broken_) return absl::UnavailableError(Cat("postgresql ledger at ", where_, ": broken"));
  if (!prepared_[statement.id]) {
    if (PQsendPrepare(conn_, statement.name, statement.sql, 0, nullptr) == 0) {
      return Broken(Cat("prepare ", statement.name), PQerrorMessage(conn_));
    }
    absl::StatusOr<PgResult> prepared = AwaitResult(deadline, Cat("prepare ", statement.name));
    if (!prepared.ok()) return prepared.status();
    prepared_[statement.id] = true;
  }
  const char* values[16];
  if (params.size() > 16) return absl::InternalError("postgresql ledger: too many parameters");
  const size_t n = params.size();
  for (size_t i = 0; i < n; ++i) values[i] = params[i].c_str();
  if (PQsendQueryPrepared(conn_, statement.name, static_cast<int>(n), values, nullptr, nullptr,
                          0) == 0) {
    return Broken(statement.name, PQerrorMessage(conn_));
  }
  return AwaitResult(deadline, statement.name);
}

absl::StatusOr<PgResult> PgConnection::ExecuteScript(std::string_view sql, int64_t deadline) {
  if (broken_) return absl::UnavailableError(Cat("postgresql ledger at ", where_, ": broken"));
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) return Broken("schema", PQerrorMessage(conn_));
  return AwaitResult(deadline, "schema");
}

// --- PgPool ------------------------------------------------------------------------------

PgPool::~PgPool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgPool::Acquire(int64_t deadline) {
  std::vector<std::unique_ptr<PgConnection>> stale;  // closed outside the lock
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      while (!idle_.empty()) {
        std::unique_ptr<PgConnection> connection = std::move(idle_.back());
        idle_.pop_back();
        if (!connection->ClosedByServer()) return connection;
        stale.push_back(std::move(connection));
        --open_;
      }
      if (open_ < config_.pool_size) {
        ++open_;
        break;
      }
      const int64_t left = deadline - NowMono();
      auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || open_ < config_.pool_size;
      };
      if (left <= 0 ||
          !mu_.AwaitWithTimeout(absl::Condition(&available), absl::Nanoseconds(left))) {
        return absl::UnavailableError(Cat(
            "postgresql ledger at ", config_.Describe(), ": all ", config_.pool_size,
            " connections stayed busy for timeout_ms=", config_.timeout_ms, "; raise pool_size"));
      }
    }
  }
  stale.clear();
  absl::StatusOr<std::unique_ptr<PgConnection>> connection =
      PgConnection::Connect(config_, deadline);
  if (!connection.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
  }
  return connection;
}

void PgPool::Release(std::unique_ptr<PgConnection> connection) {
  if (connection == nullptr) return;
  if (connection->broken()) {
    connection.reset();
    absl::MutexLock lock(&mu_);
    --open_;
    return;
  }
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(connection));
}

}  // namespace genops::ledger::postgres
