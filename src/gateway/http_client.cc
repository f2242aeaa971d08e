#include "src/gateway/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "src/core/text.h"
#include "src/gateway/event_loop.h"

namespace genops::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace {

constexpr char kErrorPayloadUrl[] = "type.genops.dev/http_client_error";
constexpr size_t kReadChunk = 16 * 1024;

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  if (d >= absl::Hours(24 * 365 * 10)) return std::chrono::hours(24 * 365 * 10);
  if (d < absl::ZeroDuration()) return std::chrono::nanoseconds(0);
  return absl::ToChronoNanoseconds(d);
}

std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

bool ParsePort(std::string_view text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > 65535) return false;
  *port = v;
  return true;
}

absl::Status MakeError(HttpErrorKind kind, std::string_view message, const HttpErrorInfo& info) {
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  switch (kind) {
    case HttpErrorKind::kInvalidRequest:
      code = absl::StatusCode::kInvalidArgument;
      break;
    case HttpErrorKind::kConnectFailed:
    case HttpErrorKind::kConnectionReset:
      code = absl::StatusCode::kUnavailable;
      break;
    case HttpErrorKind::kTls:
      code = absl::StatusCode::kFailedPrecondition;
      break;
    case HttpErrorKind::kTimeout:
      code = absl::StatusCode::kDeadlineExceeded;
      break;
    case HttpErrorKind::kProtocol:
      code = absl::StatusCode::kInternal;
      break;
    case HttpErrorKind::kCancelled:
      code = absl::StatusCode::kCancelled;
      break;
  }
  absl::Status status(code, absl::string_view(message.data(), message.size()));
  std::string payload =
      Cat("kind=", static_cast<int>(kind), ";sent=", info.request_sent ? 1 : 0,
          ";started=", info.response_started ? 1 : 0, ";reused=", info.reused_connection ? 1 : 0);
  status.SetPayload(kErrorPayloadUrl,
                    absl::Cord(absl::string_view(payload.data(), payload.size())));
  return status;
}

struct Url {
  std::string scheme;  // "http" | "https"
  std::string host;    // without brackets
  int port = 0;
  std::string target;       // "/path?query"
  std::string host_header;  // "host" or "host:port", brackets for IPv6
  bool host_is_ip = false;
};

absl::StatusOr<Url> ParseUrl(std::string_view url) {
  Url out;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("URL '", url, "' has no scheme; write http://host/path or https://host/path"));
  }
  out.scheme = LowerAscii(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    return absl::InvalidArgumentError(
        Cat("URL '", url, "': scheme '", out.scheme, "' is not supported (http or https)"));
  }
  std::string_view rest = url.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (size_t hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(Cat("URL '", url,
                                          "': credentials in the URL are not supported; send an "
                                          "Authorization header instead"));
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("URL '", url, "': unterminated IPv6 address"));
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(Cat("URL '", url, "': bad text after the IPv6 address"));
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      out.host = std::string(authority.substr(0, colon));
      port_text = authority.substr(colon + 1);
    } else {
      out.host = std::string(authority);
    }
  }
  if (out.host.empty()) return absl::InvalidArgumentError(Cat("URL '", url, "' has no host"));
  out.host = LowerAscii(out.host);
  int default_port = out.scheme == "https" ? 443 : 80;
  out.port = default_port;
  if (!port_text.empty() && !ParsePort(port_text, &out.port)) {
    return absl::InvalidArgumentError(Cat("URL '", url, "': the port must be 1..65535"));
  }
  for (char c : out.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '\\') {
      return absl::InvalidArgumentError(Cat("URL '", url, "': invalid character in the host"));
    }
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          Cat("URL '", url, "': spaces and control characters must be percent-encoded"));
    }
  }
  out.target = target.empty() || target.front() == '?' ? Cat("/", target) : std::string(target);
  ErrorCode ec;
  asio::ip::address address = asio::ip::make_address(out.host, ec);
  out.host_is_ip = !ec;
  bool v6 = !ec && address.is_v6();
  std::string host_text = v6 ? Cat("[", out.host, "]") : out.host;
  out.host_header = out.port == default_port ? host_text : Cat(host_text, ":", out.port);
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || (host.size() > 10 && host.substr(host.size() - 10) == ".localhost")) {
    return true;
  }
  ErrorCode ec;
  asio::ip::address address = asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

absl::StatusOr<ProxyEndpoint> ParseProxyUrl(std::string_view value, std::string_view variable) {
  std::string_view rest = value;
  if (size_t sep = rest.find("://"); sep != std::string_view::npos) {
    std::string scheme = LowerAscii(rest.substr(0, sep));
    if (scheme != "http") {
      return absl::InvalidArgumentError(Cat(variable, "='", value, "': only http:// proxies are ",
                                            "supported (HTTPS is tunnelled through them)"));
    }
    rest = rest.substr(sep + 3);
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  ProxyEndpoint out;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string credentials = PercentDecode(rest.substr(0, at));
    out.authorization = Cat(
        "Basic ", absl::Base64Escape(absl::string_view(credentials.data(), credentials.size())));
    rest = rest.substr(at + 1);
  }
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat(variable, "='", value, "': unterminated IPv6 address"));
    }
    out.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':') port_text = rest.substr(close + 2);
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    out.host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
  } else {
    out.host = std::string(rest);
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(Cat(variable, "='", value, "' has no host"));
  }
  out.port = 80;
  if (!port_text.empty() && !ParsePort(port_text, &out.port)) {
    return absl::InvalidArgumentError(Cat(variable, "='", value, "': the port must be 1..65535"));
  }
  return out;
}

// IPv4 CIDR match ("10.0.0.0/8") of an address literal.
bool CidrMatches(std::string_view cidr, std::string_view host) {
  size_t slash = cidr.find('/');
  ErrorCode ec1;
  ErrorCode ec2;
  asio::ip::address net = asio::ip::make_address(std::string(cidr.substr(0, slash)), ec1);
  asio::ip::address addr = asio::ip::make_address(std::string(host), ec2);
  if (ec1 || ec2 || net.is_v6() != addr.is_v6()) return false;
  int bits = 0;
  for (char c : cidr.substr(slash + 1)) {
    if (c < '0' || c > '9') return false;
    bits = bits * 10 + (c - '0');
    if (bits > 128) return false;
  }
  auto bytes_of = [](const asio::ip::address& a) {
    std::vector<unsigned char> out;
    if (a.is_v4()) {
      auto b = a.to_v4().to_bytes();
      out.assign(b.begin(), b.end());
    } else {
      auto b = a.to_v6().to_bytes();
      out.assign(b.begin(), b.end());
    }
    return out;
  };
  std::vector<unsigned char> n = bytes_of(net);
  std::vector<unsigned char> a = bytes_of(addr);
  if (bits > static_cast<int>(n.size() * 8)) return false;
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8;
    int mask = 0x80 >> (i % 8);
    if ((n[static_cast<size_t>(byte)] & mask) != (a[static_cast<size_t>(byte)] & mask))
      return false;
  }
  return true;
}

bool NoProxyMatches(std::string_view no_proxy, std::string_view host, int port) {
  std::string lowered_host = LowerAscii(host);
  while (!no_proxy.empty()) {
    size_t end = no_proxy.find_first_of(", \t");
    std::string entry = LowerAscii(no_proxy.substr(0, end));
    no_proxy = end == std::string_view::npos ? std::string_view() : no_proxy.substr(end + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    std::string_view e(entry);
    int entry_port = 0;
    if (!e.empty() && e.front() == '[') {
      size_t close = e.find(']');
      if (close == std::string_view::npos) continue;
      if (close + 1 < e.size() && e[close + 1] == ':' &&
          !ParsePort(e.substr(close + 2), &entry_port)) {
        continue;
      }
      e = e.substr(1, close - 1);
    } else if (std::count(e.begin(), e.end(), ':') == 1) {
      size_t colon = e.find(':');
      if (!ParsePort(e.substr(colon + 1), &entry_port)) continue;
      e = e.substr(0, colon);
    }
    if (entry_port != 0 && entry_port != port) continue;
    if (e.find('/') != std::string_view::npos) {
      if (CidrMatches(e, lowered_host)) return true;
      continue;
    }
    if (e.substr(0, 2) == "*.") e.remove_prefix(2);
    if (!e.empty() && e.front() == '.') e.remove_prefix(1);
    if (e.empty()) continue;
    std::string_view h(lowered_host);
    if (h == e) return true;
    if (h.size() > e.size() && h.substr(h.size() - e.size()) == e &&
        h[h.size() - e.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

}  // namespace

std::string_view HttpErrorKindName(HttpErrorKind kind) noexcept {
  switch (kind) {
    case HttpErrorKind::kInvalidRequest:
      return "invalid_request";
    case HttpErrorKind::kConnectFailed:
      return "connect_failed";
    case HttpErrorKind::kTls:
      return "tls";
    case HttpErrorKind::kTimeout:
      return "timeout";
    case HttpErrorKind::kConnectionReset:
      return "connection_reset";
    case HttpErrorKind::kProtocol:
      return "protocol";
    case HttpErrorKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<HttpErrorInfo> GetHttpErrorInfo(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string text(*payload);
  HttpErrorInfo info;
  int kind = -1;
  if (std::sscanf(text.c_str(), "kind=%d;", &kind) != 1 || kind < 0 ||
      kind > static_cast<int>(HttpErrorKind::kCancelled)) {
    return std::nullopt;
  }
  info.kind = static_cast<HttpErrorKind>(kind);
  info.request_sent = text.find("sent=1") != std::string::npos;
  info.response_started = text.find("started=1") != std::string::npos;
  info.reused_connection = text.find("reused=1") != std::string::npos;
  return info;
}

ProxySettings ProxySettings::FromEnvironment(const Environment& env) {
  auto first = [&env](std::string_view lower, std::string_view upper) {
    if (auto v = env.Get(lower)) return *v;
    return env.Get(upper).value_or("");
  };
  ProxySettings s;
  s.http_proxy = first("http_proxy", "HTTP_PROXY");
  s.https_proxy = first("https_proxy", "HTTPS_PROXY");
  s.no_proxy = first("no_proxy", "NO_PROXY");
  return s;
}

absl::StatusOr<std::optional<ProxyEndpoint>> SelectProxy(const ProxySettings& settings,
                                                         std::string_view scheme,
                                                         std::string_view host, int port) {
  bool https = scheme == "https";
  const std::string& value = https ? settings.https_proxy : settings.http_proxy;
  if (value.empty()) return std::optional<ProxyEndpoint>();
  auto proxy = ParseProxyUrl(value, https ? "HTTPS_PROXY" : "HTTP_PROXY");
  if (!proxy.ok()) return proxy.status();
  if (IsLoopbackHost(host) || NoProxyMatches(settings.no_proxy, host, port)) {
    return std::optional<ProxyEndpoint>();
  }
  return std::optional<ProxyEndpoint>(*std::move(proxy));
}

// --- Connections and the pool ------------------------------------------------------------

namespace client_internal {

// A TCP (and maybe TLS) connection. Used by one call at a time; idle in the pool otherwise.
struct ClientConnection {
  explicit ClientConnection(asio::io_context& io) : socket(io) {}

  // True when the peer has neither closed the connection nor sent anything since the last
  // response (anything unsolicited, such as a TLS close_notify, means it is going away).
  bool Alive() {
    if (!socket.is_open()) return false;
    char c;
    ssize_t r = ::recv(socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r >= 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }

  void Close() {
    ErrorCode ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  template <typename Buffers, typename Handler>
  void AsyncWrite(const Buffers& buffers, Handler&& handler) {
    if (tls != nullptr) {
      asio::async_write(*tls, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(socket, buffers, std::forward<Handler>(handler));
    }
  }
  template <typename Buffer, typename Handler>
  void AsyncReadSome(const Buffer& buffer, Handler&& handler) {
    if (tls != nullptr) {
      tls->async_read_some(buffer, std::forward<Handler>(handler));
    } else {
      socket.async_read_some(buffer, std::forward<Handler>(handler));
    }
  }

  tcp::socket socket;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
};

class CallImpl;

}  // namespace client_internal

using client_internal::CallImpl;
using client_internal::ClientConnection;

struct HttpClient::Core {
  Core(HttpClientOptions o, std::shared_ptr<EventLoopGroup> group, bool owned)
      : options(std::move(o)),
        tls(asio::ssl::context::tls_client),
        loops(std::move(group)),
        owns_loops(owned),
        pools(static_cast<size_t>(loops->size())) {}

  // The loop a call runs on: the one asked for, else the caller's own, else one chosen by
  // the URL's origin (so that a caller outside the loops reuses the connections its earlier
  // calls to the same host left in that loop's pool).
  EventLoop* PickLoop(const HttpClientRequest& request) {
    if (loops->Contains(request.loop)) return request.loop;
    if (EventLoop* current = loops->Current()) return current;
    std::string_view origin = request.url;
    if (size_t sep = origin.find("://"); sep != std::string_view::npos) {
      origin = origin.substr(0, origin.find_first_of("/?#", sep + 3));
    }
    const size_t h = std::hash<std::string_view>()(origin);
    return &loops->loop(static_cast<int>(h % static_cast<size_t>(loops->size())));
  }

  // Idle connections are pooled per loop: a socket belongs to the io_context of the loop
  // that opened it.
  std::shared_ptr<ClientConnection> Acquire(int loop, const std::string& key) {
    int64_t now = options_clock()->MonotonicNanos();
    Pool& p = pools[static_cast<size_t>(loop)];
    std::lock_guard<std::mutex> lock(p.mu);
    auto it = p.idle.find(key);
    if (it == p.idle.end()) return nullptr;
    std::vector<Idle>& idle = it->second;
    while (!idle.empty()) {
      Idle entry = std::move(idle.back());
      idle.pop_back();
      if (absl::Nanoseconds(now - entry.since_nanos) > options.pool_idle_timeout ||
          !entry.connection->Alive()) {
        entry.connection->Close();
        continue;
      }
      return entry.connection;
    }
    return nullptr;
  }

  void Release(int loop, const std::string& key, std::shared_ptr<ClientConnection> connection) {
    int64_t now = options_clock()->MonotonicNanos();
    Pool& p = pools[static_cast<size_t>(loop)];
    std::lock_guard<std::mutex> lock(p.mu);
    if (stopped.load() || options.max_idle_connections_per_host == 0) {
      connection->Close();
      return;
    }
    std::vector<Idle>& idle = p.idle[key];
    if (idle.size() >= options.max_idle_connections_per_host) {
      idle.front().connection->Close();
      idle.erase(idle.begin());
    }
    idle.push_back({std::move(connection), now});
  }

  const Clock* options_clock() const {
    return options.clock != nullptr ? options.clock : Clock::Real();
  }

  const HttpClientOptions options;
  ProxySettings proxy;
  asio::ssl::context tls;
  const std::shared_ptr<EventLoopGroup> loops;
  const bool owns_loops;  // false: shared (the gateway's server runs on the same loops)
  std::atomic<bool> stopped{false};

  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> connections_opened{0};
  std::atomic<uint64_t> connections_reused{0};

  struct Idle {
    std::shared_ptr<ClientConnection> connection;
    int64_t since_nanos = 0;
  };
  // std::mutex, not absl::Mutex: these are taken on every request, and Debian's Abseil
  // checks for deadlocks on every absl::Mutex operation.
  struct Pool {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::vector<Idle>> idle ABSL_GUARDED_BY(mu);
  };
  std::vector<Pool> pools;  // one per loop
  std::mutex calls_mu;
  absl::flat_hash_map<CallImpl*, std::weak_ptr<CallImpl>> calls ABSL_GUARDED_BY(calls_mu);
};

namespace client_internal {

// One request's state machine. Everything runs on its loop's thread (loop_).
class CallImpl : public std::enable_shared_from_this<CallImpl> {
 public:
  using Core = HttpClient::Core;

  CallImpl(std::shared_ptr<Core> core, HttpClientRequest request,
           std::optional<uint64_t> body_limit)
      : core_(std::move(core)),
        request_(std::move(request)),
        body_limit_(body_limit),
        loop_(core_->PickLoop(request_)),
        strand_(loop_->io().get_executor()),
        timer_(strand_),
        total_timer_(strand_),
        resolver_(strand_) {}

  ~CallImpl() {
    std::lock_guard<std::mutex> lock(core_->calls_mu);
    core_->calls.erase(this);
  }

  void Start() {
    {
      std::lock_guard<std::mutex> lock(core_->calls_mu);
      core_->calls.emplace(this, weak_from_this());
    }
    core_->requests.fetch_add(1);
    if (core_->stopped.load()) {
      Fail(HttpErrorKind::kCancelled, "the HTTP client is shutting down");
      return;
    }
    asio::post(strand_, [self = shared_from_this()] { self->Begin(); });
  }

  void ReadHead(HttpClientCall::HeadCallback callback) {
    Run([self = shared_from_this(), cb = std::move(callback)]() mutable {
      if (self->error_.has_value()) {
        cb(*self->error_);
      } else if (self->head_.has_value()) {
        cb(*self->head_);
      } else {
        self->head_cb_ = std::move(cb);
      }
    });
  }

  void ReadBody(HttpClientCall::BodyCallback callback) {
    Run([self = shared_from_this(), cb = std::move(callback)]() mutable {
      self->DoReadBody(std::move(cb));
    });
  }

  void Cancel() {
    Run([self = shared_from_this()] {
      if (self->phase_ == Phase::kDone || self->phase_ == Phase::kFailed) return;
      self->cancelled_ = true;
      self->Fail(HttpErrorKind::kCancelled, "the call was cancelled");
    });
  }

  bool finished() const { return finished_.load(); }

 private:
  enum class Phase {
    kStart,
    kResolving,
    kConnecting,
    kProxyConnect,
    kHandshake,
    kSending,
    kReadingHead,
    kBody,
    kDone,
    kFailed
  };

  // Runs `f` on the call's loop; inline when the loops are gone (it then only delivers).
  template <typename F>
  void Run(F&& f) {
    if (core_->loops->stopped()) {
      f();
      return;
    }
    asio::post(strand_, std::forward<F>(f));
  }

  bool Ended() const { return phase_ == Phase::kFailed || phase_ == Phase::kDone; }

  HttpErrorInfo Info() const {
    return {.request_sent = request_sent_,
            .response_started = response_started_,
            .reused_connection = reused_};
  }

  // --- Setup ---------------------------------------------------------------------------------

  void Begin() {
    if (Ended()) return;
    auto url = ParseUrl(request_.url);
    if (!url.ok()) {
      Fail(HttpErrorKind::kInvalidRequest, ToStd(url.status().message()));
      return;
    }
    url_ = *std::move(url);
    if (!IsToken(request_.method)) {
      Fail(HttpErrorKind::kInvalidRequest, Cat("invalid HTTP method '", request_.method, "'"));
      return;
    }
    for (const HttpHeader& h : request_.headers) {
      if (!IsToken(h.name) ||
          h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        Fail(HttpErrorKind::kInvalidRequest,
             Cat("invalid request header '", h.name, "' (names are tokens; values have no CR, LF ",
                 "or NUL)"));
        return;
      }
    }
    auto proxy = SelectProxy(core_->proxy, url_.scheme, url_.host, url_.port);
    if (!proxy.ok()) {
      Fail(HttpErrorKind::kInvalidRequest, ToStd(proxy.status().message()));
      return;
    }
    proxy_ = *std::move(proxy);
    key_ = Cat(url_.scheme, "://", url_.host, ":", url_.port);
    if (proxy_.has_value()) key_.append(Cat(" via ", proxy_->host, ":", proxy_->port));
    if (request_.total_timeout.has_value()) {
      total_timer_.expires_after(ToChrono(*request_.total_timeout));
      total_timer_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
        if (ec || self->Ended()) return;
        self->timed_out_ = true;
        self->Fail(HttpErrorKind::kTimeout,
                   Cat("the call to ", self->url_.host_header, " did not finish within ",
                       absl::FormatDuration(*self->request_.total_timeout)));
      });
    }
    if (auto pooled = core_->Acquire(loop_->index(), key_)) {
      connection_ = std::move(pooled);
      reused_ = true;
      core_->connections_reused.fetch_add(1);
      SendRequest();
      return;
    }
    Connect();
  }

  absl::Duration Timeout(const std::optional<absl::Duration>& per_call, absl::Duration fallback) {
    return per_call.value_or(fallback);
  }

  void ArmTimer(absl::Duration d, std::string what) {
    uint64_t gen = ++timer_gen_;
    timer_what_ = std::move(what);
    timer_.expires_after(ToChrono(d));
    timer_.async_wait([self = shared_from_this(), gen, d](const ErrorCode& ec) {
      if (ec || gen != self->timer_gen_ || self->Ended()) return;
      self->timed_out_ = true;
      self->Fail(HttpErrorKind::kTimeout,
                 Cat(self->timer_what_, " timed out after ", absl::FormatDuration(d)));
    });
  }
  void CancelTimer() {
    ++timer_gen_;
    timer_.cancel();
  }

  void Connect() {
    phase_ = Phase::kResolving;
    reused_ = false;
    connection_ = std::make_shared<ClientConnection>(loop_->io());
    const std::string& host = proxy_.has_value() ? proxy_->host : url_.host;
    int port = proxy_.has_value() ? proxy_->port : url_.port;
    connect_target_ = Cat(host, ":", port);
    ArmTimer(Timeout(request_.connect_timeout, core_->options.connect_timeout),
             Cat("connecting to ", proxy_.has_value() ? "proxy " : "", connect_target_));
    resolver_.async_resolve(
        host, std::to_string(port), tcp::resolver::numeric_service,
        [self = shared_from_this()](const ErrorCode& ec, tcp::resolver::results_type results) {
          self->OnResolved(ec, std::move(results));
        });
  }

  void OnResolved(const ErrorCode& ec, tcp::resolver::results_type results) {
    if (Ended()) return;
    if (ec) {
      Fail(HttpErrorKind::kConnectFailed,
           Cat("cannot resolve ", connect_target_, ": ", ec.message()));
      return;
    }
    phase_ = Phase::kConnecting;
    asio::async_connect(connection_->socket, results,
                        asio::bind_executor(strand_, [self = shared_from_this()](
                                                         const ErrorCode& e, const tcp::endpoint&) {
                          self->OnConnected(e);
                        }));
  }

  void OnConnected(const ErrorCode& ec) {
    if (Ended()) return;
    if (ec) {
      Fail(HttpErrorKind::kConnectFailed,
           Cat("cannot connect to ", proxy_.has_value() ? "proxy " : "", connect_target_, ": ",
               ec.message()));
      return;
    }
    core_->connections_opened.fetch_add(1);
    ErrorCode ignored;
    connection_->socket.set_option(tcp::no_delay(true), ignored);
    if (proxy_.has_value() && url_.scheme == "https") {
      SendConnect();
    } else if (url_.scheme == "https") {
      Handshake();
    } else {
      CancelTimer();
      SendRequest();
    }
  }

  void SendConnect() {
    phase_ = Phase::kProxyConnect;
    std::string authority = url_.host_is_ip && url_.host.find(':') != std::string::npos
                                ? Cat("[", url_.host, "]:", url_.port)
                                : Cat(url_.host, ":", url_.port);
    out_ = Cat("CONNECT ", authority, " HTTP/1.1\r\nHost: ", authority, "\r\n");
    if (!proxy_->authorization.empty()) {
      out_.append(Cat("Proxy-Authorization: ", proxy_->authorization, "\r\n"));
    }
    out_.append("\r\n");
    asio::async_write(
        connection_->socket, asio::buffer(out_),
        asio::bind_executor(strand_, [self = shared_from_this()](const ErrorCode& ec, size_t) {
          if (self->Ended()) return;
          if (ec) {
            self->Fail(
                HttpErrorKind::kConnectFailed,
                Cat("proxy ", self->connect_target_, " closed the connection: ", ec.message()));
            return;
          }
          self->proxy_parser_.emplace();
          self->proxy_parser_->skip(true);  // a CONNECT answer has no body
          self->ReadProxyAnswer();
        }));
  }

  void ReadProxyAnswer() {
    connection_->socket.async_read_some(
        asio::buffer(read_buf_),
        asio::bind_executor(strand_, [self = shared_from_this()](const ErrorCode& ec, size_t n) {
          self->OnProxyAnswer(ec, n);
        }));
  }

  void OnProxyAnswer(const ErrorCode& ec, size_t n) {
    if (Ended()) return;
    if (ec) {
      Fail(HttpErrorKind::kConnectFailed,
           Cat("proxy ", connect_target_, " closed the connection during CONNECT: ", ec.message()));
      return;
    }
    in_.append(read_buf_.data(), n);
    ErrorCode perr;
    size_t used = proxy_parser_->put(asio::buffer(in_.data(), in_.size()), perr);
    in_.erase(0, used);
    if (perr == http::error::need_more) {
      if (in_.size() > 64 * 1024) {
        Fail(HttpErrorKind::kConnectFailed,
             Cat("proxy ", connect_target_, " sent an oversized answer"));
        return;
      }
      ReadProxyAnswer();
      return;
    }
    if (perr) {
      Fail(HttpErrorKind::kConnectFailed,
           Cat("proxy ", connect_target_, " sent an invalid answer to CONNECT: ", perr.message()));
      return;
    }
    unsigned status = proxy_parser_->get().result_int();
    if (status < 200 || status > 299) {
      auto reason = proxy_parser_->get().reason();
      Fail(HttpErrorKind::kConnectFailed,
           Cat("proxy ", connect_target_, " refused CONNECT to ", url_.host, ":", url_.port, ": ",
               status, " ", std::string_view(reason.data(), reason.size())));
      return;
    }
    proxy_parser_.reset();
    in_.clear();  // nothing may follow the proxy's answer before our ClientHello
    Handshake();
  }

  void Handshake() {
    phase_ = Phase::kHandshake;
    connection_->tls =
        std::make_unique<asio::ssl::stream<tcp::socket&>>(connection_->socket, core_->tls);
    SSL* ssl = connection_->tls->native_handle();
    if (core_->options.verify_peer) {
      connection_->tls->set_verify_mode(asio::ssl::verify_peer);
      if (url_.host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
      } else {
        SSL_set1_host(ssl, url_.host.c_str());
      }
    } else {
      connection_->tls->set_verify_mode(asio::ssl::verify_none);
    }
    if (!url_.host_is_ip) {
      // SSL_set_tlsext_host_name() is a macro with a C cast; this is its expansion.
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(url_.host.c_str()));
    }
    static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl, kAlpn, sizeof(kAlpn));
    connection_->tls->async_handshake(
        asio::ssl::stream_base::client,
        asio::bind_executor(
            strand_, [self = shared_from_this()](const ErrorCode& ec) { self->OnHandshake(ec); }));
  }

  void OnHandshake(const ErrorCode& ec) {
    if (Ended()) return;
    if (ec) {
      long verify = SSL_get_verify_result(connection_->tls->native_handle());
      std::string reason = verify != X509_V_OK ? Cat("certificate verification failed: ",
                                                     X509_verify_cert_error_string(verify))
                                               : ec.message();
      Fail(HttpErrorKind::kTls,
           Cat("TLS handshake with ", url_.host, ":", url_.port, " failed: ", reason));
      return;
    }
    CancelTimer();
    SendRequest();
  }

  // --- The exchange --------------------------------------------------------------------------

  void SendRequest() {
    phase_ = Phase::kSending;
    ArmTimer(Timeout(request_.response_timeout, core_->options.response_timeout),
             Cat("waiting for the response from ", url_.host_header));
    bool absolute_form = proxy_.has_value() && url_.scheme == "http";
    out_ = Cat(request_.method, " ",
               absolute_form ? Cat("http://", url_.host_header, url_.target) : url_.target,
               " HTTP/1.1\r\nHost: ", url_.host_header, "\r\n");
    bool has_user_agent = false;
    for (const HttpHeader& h : request_.headers) {
      if (EqualsIgnoreCase(h.name, "host") || EqualsIgnoreCase(h.name, "content-length") ||
          EqualsIgnoreCase(h.name, "transfer-encoding") || EqualsIgnoreCase(h.name, "connection") ||
          EqualsIgnoreCase(h.name, "keep-alive") || EqualsIgnoreCase(h.name, "proxy-connection")) {
        continue;
      }
      has_user_agent = has_user_agent || EqualsIgnoreCase(h.name, "user-agent");
      out_.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!has_user_agent && !core_->options.user_agent.empty()) {
      out_.append(Cat("User-Agent: ", core_->options.user_agent, "\r\n"));
    }
    if (absolute_form && !proxy_->authorization.empty()) {
      out_.append(Cat("Proxy-Authorization: ", proxy_->authorization, "\r\n"));
    }
    const std::string& m = request_.method;
    if (!request_.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
      out_.append(Cat("Content-Length: ", request_.body.size(), "\r\n"));
    }
    out_.append("\r\n");
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out_), asio::buffer(request_.body)};
    connection_->AsyncWrite(
        buffers,
        asio::bind_executor(strand_, [self = shared_from_this()](const ErrorCode& ec, size_t n) {
          if (n > 0) self->request_sent_ = true;
          if (self->Ended()) return;
          if (ec) {
            self->FailIo(ec);
            return;
          }
          self->StartHead();
        }));
  }

  void StartHead() {
    phase_ = Phase::kReadingHead;
    in_.clear();
    NewParser();
    ReadMore();
  }

  void NewParser() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_->options.max_response_header_bytes));
    // The limit of Send() is enforced in Parse(): Beast 1.74 does not apply body_limit to a
    // response with Content-Length, and rejects every body when it is boost::none.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (request_.method == "HEAD") parser_->skip(true);
    parser_->eager(true);
  }

  void ReadMore() {
    if (reading_) return;
    reading_ = true;
    connection_->AsyncReadSome(
        asio::buffer(read_buf_),
        asio::bind_executor(strand_, [self = shared_from_this()](const ErrorCode& ec, size_t n) {
          self->OnRead(ec, n);
        }));
  }

  void OnRead(const ErrorCode& ec, size_t n) {
    reading_ = false;
    if (Ended()) return;
    if (ec) {
      bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
      if (eof && phase_ == Phase::kBody && parser_->need_eof()) {
        ErrorCode perr;
        parser_->put_eof(perr);
        if (!perr) {
          CloseConnection();
          body_complete_ = true;
          Deliver();
          return;
        }
      }
      FailIo(ec);
      return;
    }
    response_started_ = true;
    in_.append(read_buf_.data(), n);
    if (!Parse()) return;
    if (phase_ == Phase::kReadingHead) {
      ReadMore();
      return;
    }
    Deliver();
  }

  // Feeds in_ to the parser; false when the call failed.
  bool Parse() {
    while (!in_.empty() && !body_complete_) {
      ErrorCode perr;
      size_t used = parser_->put(asio::buffer(in_.data(), in_.size()), perr);
      in_.erase(0, used);
      bool need_more = perr == http::error::need_more;
      if (perr && !need_more) {
        if (perr == http::error::header_limit) {
          Fail(HttpErrorKind::kProtocol,
               Cat("the response header from ", url_.host_header, " exceeds ",
                   core_->options.max_response_header_bytes, " bytes"));
        } else {
          Fail(HttpErrorKind::kProtocol,
               Cat("invalid HTTP response from ", url_.host_header, ": ", perr.message()));
        }
        return false;
      }
      if (phase_ == Phase::kReadingHead && parser_->is_header_done()) {
        int status = static_cast<int>(parser_->get().result_int());
        if (status >= 100 && status < 200 && status != 101) {
          NewParser();  // an interim answer (100, 103): the real one follows
          continue;
        }
        OnHead();
      }
      if (body_limit_.has_value() && phase_ == Phase::kBody &&
          body_taken_ + parser_->get().body().size() > *body_limit_) {
        Fail(HttpErrorKind::kProtocol,
             Cat("the response body from ", url_.host_header, " exceeds ", *body_limit_, " bytes"));
        return false;
      }
      if (parser_->is_done()) {
        body_complete_ = true;
        ReleaseConnection();
      }
      // need_more comes with everything consumed: the checks above still had to run.
      if (need_more) break;
    }
    if (phase_ == Phase::kReadingHead && in_.size() > core_->options.max_response_header_bytes) {
      Fail(HttpErrorKind::kProtocol, Cat("the response header from ", url_.host_header, " exceeds ",
                                         core_->options.max_response_header_bytes, " bytes"));
      return false;
    }
    return true;
  }

  void OnHead() {
    CancelTimer();
    phase_ = Phase::kBody;
    HttpResponseHead head;
    const auto& message = parser_->get();
    head.status = static_cast<int>(message.result_int());
    head.version = static_cast<int>(message.version());
    for (const auto& field : message) {
      head.headers.Add(std::string_view(field.name_string().data(), field.name_string().size()),
                       std::string_view(field.value().data(), field.value().size()));
    }
    head.reused_connection = reused_;
    head_ = std::move(head);
    if (head_cb_) {
      auto cb = std::move(head_cb_);
      head_cb_ = nullptr;
      cb(*head_);
    }
  }

  void ReleaseConnection() {
    if (connection_ == nullptr) return;
    if (parser_->keep_alive() && in_.empty() && !cancelled_) {
      core_->Release(loop_->index(), key_, std::move(connection_));
      connection_ = nullptr;
    } else {
      CloseConnection();
    }
  }

  void CloseConnection() {
    if (connection_ != nullptr) connection_->Close();
  }

  std::string TakeBody() {
    std::string piece = std::move(parser_->get().body());
    parser_->get().body().clear();
    body_taken_ += piece.size();
    return piece;
  }

  void DoReadBody(HttpClientCall::BodyCallback cb) {
    if (error_.has_value()) {
      cb(*error_);
      return;
    }
    if (phase_ == Phase::kDone) {
      cb(std::string());
      return;
    }
    if (!head_.has_value()) {
      cb(
          absl::FailedPreconditionError("ReadBody() before the response head arrived; call "
                                        "ReadHead() first"));
      return;
    }
    if (body_cb_) {
      cb(absl::FailedPreconditionError("ReadBody() while another ReadBody() is pending"));
      return;
    }
    body_cb_ = std::move(cb);
    Deliver();
  }

  // Hands buffered body bytes (or the end) to a pending ReadBody, or reads more.
  void Deliver() {
    if (!body_cb_ || Ended()) return;
    if (parser_.has_value() && !parser_->get().body().empty()) {
      auto cb = std::move(body_cb_);
      body_cb_ = nullptr;
      CancelTimer();
      cb(TakeBody());
      return;
    }
    if (body_complete_) {
      auto cb = std::move(body_cb_);
      body_cb_ = nullptr;
      phase_ = Phase::kDone;
      finished_.store(true);
      CancelTimer();
      total_timer_.cancel();
      cb(std::string());
      return;
    }
    if (!reading_) {
      ArmTimer(Timeout(request_.read_timeout, core_->options.read_timeout),
               Cat("reading the response body from ", url_.host_header));
      ReadMore();
    }
  }

  void FailIo(const ErrorCode& ec) {
    if (timed_out_ || cancelled_) return;  // Fail() already ran
    // A pooled connection the server closed just as we reused it: try once on a new one
    // when the server cannot have acted on the request.
    if (reused_ && !response_started_ && !retried_ &&
        (!request_sent_ || IsIdempotent(request_.method))) {
      retried_ = true;
      CloseConnection();
      retired_.push_back(std::move(connection_));
      in_.clear();
      Connect();
      return;
    }
    bool tls_error = ec.category() == asio::error::get_ssl_category() &&
                     ec != asio::ssl::error::stream_truncated;
    if (tls_error) {
      Fail(HttpErrorKind::kTls, Cat("TLS error with ", url_.host_header, ": ", ec.message()));
    } else if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      Fail(HttpErrorKind::kConnectionReset,
           Cat(url_.host_header, " closed the connection before the response was complete"));
    } else {
      Fail(HttpErrorKind::kConnectionReset,
           Cat("connection to ", url_.host_header, " failed: ", ec.message()));
    }
  }

  void Fail(HttpErrorKind kind, std::string_view message) {
    if (Ended()) return;
    phase_ = Phase::kFailed;
    finished_.store(true);
    error_ = MakeError(kind, message, Info());
    CancelTimer();
    total_timer_.cancel();
    resolver_.cancel();
    CloseConnection();
    if (head_cb_) {
      auto cb = std::move(head_cb_);
      head_cb_ = nullptr;
      cb(*error_);
    }
    if (body_cb_) {
      auto cb = std::move(body_cb_);
      body_cb_ = nullptr;
      cb(*error_);
    }
  }

  const std::shared_ptr<Core> core_;
  HttpClientRequest request_;
  const std::optional<uint64_t> body_limit_;
  EventLoop* const loop_;
  // The loop's executor (named strand_ for history: a single-threaded loop serializes the
  // call's handlers as a strand did).
  asio::io_context::executor_type strand_;
  asio::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  std::string timer_what_;
  asio::steady_timer total_timer_;
  tcp::resolver resolver_;

  Phase phase_ = Phase::kStart;
  Url url_;
  std::optional<ProxyEndpoint> proxy_;
  std::string key_;
  std::string connect_target_;
  std::shared_ptr<ClientConnection> connection_;
  std::vector<std::shared_ptr<ClientConnection>> retired_;
  std::string out_;
  std::array<char, kReadChunk> read_buf_;
  std::string in_;
  std::optional<http::response_parser<http::empty_body>> proxy_parser_;
  std::optional<http::response_parser<http::string_body>> parser_;
  bool reading_ = false;
  uint64_t body_taken_ = 0;  // body bytes handed out by TakeBody()
  bool body_complete_ = false;
  bool request_sent_ = false;
  bool response_started_ = false;
  bool reused_ = false;
  bool retried_ = false;
  bool cancelled_ = false;
  bool timed_out_ = false;
  std::atomic<bool> finished_{false};
  std::optional<HttpResponseHead> head_;
  std::optional<absl::Status> error_;
  HttpClientCall::HeadCallback head_cb_;
  HttpClientCall::BodyCallback body_cb_;
};

// The caller's handle. `cancel_on_release` for Open(): dropping a stream that was not read
// to its end must free the connection.
class CallHandle final : public HttpClientCall {
 public:
  CallHandle(std::shared_ptr<CallImpl> impl, bool cancel_on_release)
      : impl_(std::move(impl)), cancel_on_release_(cancel_on_release) {}
  ~CallHandle() override {
    if (cancel_on_release_ && !impl_->finished()) impl_->Cancel();
  }
  void ReadHead(HeadCallback callback) override { impl_->ReadHead(std::move(callback)); }
  void ReadBody(BodyCallback callback) override { impl_->ReadBody(std::move(callback)); }
  void Cancel() override { impl_->Cancel(); }

 private:
  const std::shared_ptr<CallImpl> impl_;
  const bool cancel_on_release_;
};

}  // namespace client_internal

using client_internal::CallHandle;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  std::shared_ptr<EventLoopGroup> loops = options.loops;
  const bool owns_loops = loops == nullptr;
  if (owns_loops) loops = EventLoopGroup::Start(std::max(1, options.io_threads), "http-client");
  auto core = std::make_shared<Core>(std::move(options), std::move(loops), owns_loops);
  const HttpClientOptions& o = core->options;
  core->proxy = o.proxy.has_value()
                    ? *o.proxy
                    : ProxySettings::FromEnvironment(
                          o.environment != nullptr ? *o.environment : *Environment::Process());
  for (std::string_view scheme : {"http", "https"}) {
    auto proxy = SelectProxy(core->proxy, scheme, "example.invalid", 443);
    if (!proxy.ok()) return proxy.status();
  }
  core->tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
  ErrorCode ec;
  if (o.use_system_ca) {
    core->tls.set_default_verify_paths(ec);
    if (ec) {
      return absl::InvalidArgumentError(Cat("cannot load the system CA store: ", ec.message()));
    }
  }
  if (!o.ca_file.empty()) {
    core->tls.load_verify_file(o.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(Cat("cannot load the CA file '", o.ca_file,
                                            "': ", ec.message(), " (expected PEM certificates)"));
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(core)));
}

HttpClient::HttpClient(std::shared_ptr<Core> core) : core_(std::move(core)) {}

HttpClient::~HttpClient() {
  core_->stopped.store(true);
  std::vector<std::shared_ptr<CallImpl>> calls;
  {
    std::lock_guard<std::mutex> lock(core_->calls_mu);
    for (auto& [ptr, weak] : core_->calls) {
      if (auto call = weak.lock()) calls.push_back(std::move(call));
    }
  }
  for (Core::Pool& pool : core_->pools) {
    std::lock_guard<std::mutex> lock(pool.mu);
    for (auto& [key, idle] : pool.idle) {
      for (auto& entry : idle) entry.connection->Close();
    }
    pool.idle.clear();
  }
  for (auto& call : calls) call->Cancel();
  calls.clear();
  // Shared loops run on: the cancellations are delivered there.
  if (core_->owns_loops) core_->loops->Stop();
}

std::shared_ptr<HttpClientCall> HttpClient::Open(HttpClientRequest request) {
  auto impl = std::make_shared<CallImpl>(core_, std::move(request), std::nullopt);
  impl->Start();
  return std::make_shared<CallHandle>(std::move(impl), /*cancel_on_release=*/true);
}

namespace {

void ReadWholeBody(std::shared_ptr<CallImpl> impl, std::shared_ptr<HttpClientResponse> response,
                   HttpClient::ResponseCallback done) {
  CallImpl* raw = impl.get();
  raw->ReadBody([impl = std::move(impl), response = std::move(response),
                 done = std::move(done)](absl::StatusOr<std::string> piece) mutable {
    if (!piece.ok()) {
      done(piece.status());
    } else if (piece->empty()) {
      done(std::move(*response));
    } else {
      response->body.append(*piece);
      ReadWholeBody(std::move(impl), std::move(response), std::move(done));
    }
  });
}

}  // namespace

std::shared_ptr<HttpClientCall> HttpClient::Send(HttpClientRequest request, ResponseCallback done) {
  auto impl =
      std::make_shared<CallImpl>(core_, std::move(request), core_->options.max_response_body_bytes);
  impl->Start();
  impl->ReadHead([impl, done = std::move(done)](absl::StatusOr<HttpResponseHead> head) mutable {
    if (!head.ok()) {
      done(head.status());
      return;
    }
    auto response = std::make_shared<HttpClientResponse>();
    response->status = head->status;
    response->headers = std::move(head->headers);
    response->reused_connection = head->reused_connection;
    ReadWholeBody(std::move(impl), std::move(response), std::move(done));
  });
  return std::make_shared<CallHandle>(std::move(impl), /*cancel_on_release=*/false);
}

absl::StatusOr<HttpClientResponse> HttpClient::SendSync(HttpClientRequest request) {
  std::promise<absl::StatusOr<HttpClientResponse>> promise;
  auto future = promise.get_future();
  Send(std::move(request),
       [&promise](absl::StatusOr<HttpClientResponse> r) { promise.set_value(std::move(r)); });
  return future.get();
}

HttpClientStats HttpClient::stats() const {
  HttpClientStats s;
  s.requests = core_->requests.load();
  s.connections_opened = core_->connections_opened.load();
  s.connections_reused = core_->connections_reused.load();
  for (Core::Pool& pool : core_->pools) {
    std::lock_guard<std::mutex> lock(pool.mu);
    for (const auto& [key, idle] : pool.idle) s.idle_connections += idle.size();
  }
  std::lock_guard<std::mutex> lock(core_->calls_mu);
  s.live_calls = core_->calls.size();
  return s;
}

}  // namespace genops::gateway
