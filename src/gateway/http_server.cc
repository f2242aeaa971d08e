#include "src/gateway/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/core/text.h"
#include "src/gateway/event_loop.h"

namespace genops::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace {

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  constexpr auto kLongest = std::chrono::hours(24 * 365 * 10);
  if (d >= absl::Hours(24 * 365 * 10)) return kLongest;
  if (d < absl::ZeroDuration()) return std::chrono::nanoseconds(0);
  return absl::ToChronoNanoseconds(d);
}

std::string ToStd(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

// A deadline timer that moves lazily. A connection re-arms its timers several times per
// request (idle, read, write), and every asio re-arm is a timer-queue update, often a timerfd
// reprogramming, and the cancelled wait's handler dispatch. Here a deadline that moves later
// is only recorded: the pending wait fires at the old time, finds the deadline not reached and
// waits for the rest. Disarm() only clears the deadline. Stop() cancels for real, so the
// pending wait releases the owner it holds (call it when the owner closes).
// Thread-compatible (the owner's loop).
class LazyTimer {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Outcome { kIgnore, kWaitAgain, kFire };

  explicit LazyTimer(const asio::any_io_executor& executor) : timer_(executor) {}

  // Sets the deadline to `d` from now; true when the caller must start a wait (Wait()).
  bool Arm(std::chrono::nanoseconds d) {
    deadline_ = Clock::now() + d;
    armed_ = true;
    return !(waiting_ && expiry_ <= deadline_);
  }
  void Disarm() { armed_ = false; }
  void Stop() {
    armed_ = false;
    waiting_ = false;
    ++gen_;
    timer_.cancel();
  }

  // Waits for the deadline; `handler(gen, ec)` must pass its arguments to OnWait().
  template <typename Handler>
  void Wait(Handler handler) {
    const uint64_t gen = ++gen_;
    waiting_ = true;
    expiry_ = deadline_;
    timer_.expires_at(expiry_);  // a wait still pending completes as aborted (stale gen)
    timer_.async_wait(
        [gen, handler = std::move(handler)](const ErrorCode& ec) mutable { handler(gen, ec); });
  }

  Outcome OnWait(uint64_t gen, const ErrorCode& ec) {
    if (gen != gen_) return Outcome::kIgnore;  // replaced by a later wait, or stopped
    waiting_ = false;
    if (ec || !armed_) return Outcome::kIgnore;
    if (Clock::now() < deadline_) return Outcome::kWaitAgain;
    armed_ = false;
    return Outcome::kFire;
  }

 private:
  asio::steady_timer timer_;
  Clock::time_point deadline_{};
  Clock::time_point expiry_{};  // of the pending wait
  uint64_t gen_ = 0;
  bool armed_ = false;
  bool waiting_ = false;
};

// RFC 9110 token characters (header names).
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool ValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Rejects CR, LF and NUL so a handler cannot split the response.
bool ValidHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The Date header value (IMF-fixdate), cached per second and thread.
std::string HttpDate(const Clock* clock) {
  thread_local int64_t cached_second = -1;
  thread_local std::string cached;
  int64_t second = clock->NowUnixNanos() / kNanosPerSecond;
  if (second != cached_second) {
    cached = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromUnixSeconds(second),
                              absl::UTCTimeZone());
    cached_second = second;
  }
  return cached;
}

bool NoBodyStatus(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

std::string ErrorJson(std::string_view message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) escaped.push_back(c);
  }
  return Cat(R"({"error":{"message":")", escaped, R"(","type":"server_error"}})");
}

constexpr size_t kReadChunk = 16 * 1024;
constexpr absl::Duration kLingerTime = absl::Seconds(2);

}  // namespace

namespace server_internal {
class Connection;
}  // namespace server_internal

struct HttpServer::Core {
  Core(HttpServerOptions o, HttpHandler h, std::shared_ptr<EventLoopGroup> group, bool owned)
      : options(std::move(o)),
        handler(std::move(h)),
        loops(std::move(group)),
        owns_loops(owned),
        acceptor(loops->loop(0).io()) {}

  void Register(const std::shared_ptr<server_internal::Connection>& c) {
    absl::MutexLock lock(&mu);
    connections.emplace(c.get(), c);
  }
  void Unregister(server_internal::Connection* c) {
    absl::MutexLock lock(&mu);
    connections.erase(c);
  }
  std::vector<std::shared_ptr<server_internal::Connection>> Snapshot() {
    absl::MutexLock lock(&mu);
    std::vector<std::shared_ptr<server_internal::Connection>> out;
    out.reserve(connections.size());
    for (auto& [ptr, conn] : connections) out.push_back(conn);
    return out;
  }
  size_t OpenConnections() {
    absl::MutexLock lock(&mu);
    return connections.size();
  }

  const HttpServerOptions options;
  const HttpHandler handler;
  // Each connection lives on one loop; the acceptor on the first.
  const std::shared_ptr<EventLoopGroup> loops;
  const bool owns_loops;  // false: shared with others (the gateway's HttpClient)
  std::optional<asio::ssl::context> tls;
  tcp::acceptor acceptor;  // used on loop 0 only
  std::atomic<bool> draining{false};
  // Set once every connection is closed and the loops may end: writers then complete calls
  // inline instead of posting work that would never run.
  std::atomic<bool> stopped{false};

  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> disconnects{0};

  absl::Mutex mu;
  absl::flat_hash_map<server_internal::Connection*, std::shared_ptr<server_internal::Connection>>
      connections ABSL_GUARDED_BY(mu);
  bool shutdown_started ABSL_GUARDED_BY(mu) = false;
  bool shutdown_done ABSL_GUARDED_BY(mu) = false;
};

namespace server_internal {

// One accepted connection. Every member is used on the connection's loop only, except the
// atomics read by Exchange from other threads.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Core = HttpServer::Core;

  Connection(std::shared_ptr<Core> core, EventLoop* loop, tcp::socket socket)
      : core_(std::move(core)),
        loop_(loop),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        write_timer_(socket_.get_executor()) {
    if (core_->tls.has_value()) {
      tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *core_->tls);
    }
    ErrorCode ec;
    tcp::endpoint remote = socket_.remote_endpoint(ec);
    if (!ec) {
      std::string host = remote.address().to_string();
      remote_ = remote.address().is_v6() ? Cat("[", host, "]:", remote.port())
                                         : Cat(host, ":", remote.port());
    }
  }

  asio::any_io_executor executor() { return socket_.get_executor(); }
  EventLoop* loop() const { return loop_; }
  const std::shared_ptr<Core>& core() const { return core_; }

  void Start() {
    if (core_->draining.load()) {
      Close();
      return;
    }
    if (tls_ != nullptr) {
      state_ = State::kHandshake;
      ArmTimer(core_->options.read_timeout);
      tls_->async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](const ErrorCode& ec) {
                              if (self->state_ == State::kClosed) return;
                              if (ec) {
                                self->Close();
                                return;
                              }
                              self->BeginRequest();
                            });
      return;
    }
    BeginRequest();
  }

  // Shutdown, first phase: idle connections go now, busy ones after their response.
  void Drain() {
    if (state_ == State::kWaiting || state_ == State::kHandshake) Close();
  }
  void ForceClose() { Close(); }

  // --- Exchange operations (posted to the strand) ---------------------------------------

  void DoRespond(uint64_t seq, HttpResponse response) {
    if (!IsCurrent(seq) || response_ != ResponseState::kNone) return;
    if (auto c = response.headers.Get("connection"); c && HeaderHasToken(*c, "close")) {
      keep_alive_ = false;
    }
    bool no_body = NoBodyStatus(response.status);
    framing_ = no_body ? Framing::kNone : Framing::kLength;
    response_ = ResponseState::kDone;
    std::string head = SerializeHead(response.status, response.headers, response.body.size());
    if (no_body || head_request_) {
      Queue({.data = std::move(head), .end_of_response = true});
    } else if (response.body.size() <= 8 * 1024) {
      head.append(response.body);
      Queue({.data = std::move(head), .end_of_response = true});
    } else {
      Queue({.data = std::move(head)});
      Queue({.data = std::move(response.body), .end_of_response = true});
    }
  }

  void DoStartStream(uint64_t seq, int status, HttpHeaders headers) {
    if (!IsCurrent(seq) || response_ != ResponseState::kNone) return;
    if (auto c = headers.Get("connection"); c && HeaderHasToken(*c, "close")) keep_alive_ = false;
    uint64_t length = 0;
    if (NoBodyStatus(status)) {
      framing_ = Framing::kNone;
    } else if (auto cl = headers.Get("content-length"); cl && ParseLength(*cl, &length)) {
      framing_ = Framing::kLength;
      stream_length_ = length;
    } else if (version_ == 10) {
      framing_ = Framing::kClose;
      keep_alive_ = false;
    } else {
      framing_ = Framing::kChunked;
    }
    stream_written_ = 0;
    response_ = ResponseState::kStreaming;
    Queue({.data = SerializeHead(status, headers, stream_length_)});
  }

  void DoWrite(uint64_t seq, std::string data, HttpResponseWriter::WriteDone done) {
    size_t size = data.size();
    if (!IsCurrent(seq) || response_ != ResponseState::kStreaming || state_ == State::kClosed) {
      buffered_bytes_.fetch_sub(size);
      if (done) done(false);
      return;
    }
    if (data.empty() || head_request_ || framing_ == Framing::kNone) {
      buffered_bytes_.fetch_sub(size);
      if (done) done(true);
      return;
    }
    switch (framing_) {
      case Framing::kChunked: {
        char prefix[24];
        int n = std::snprintf(prefix, sizeof(prefix), "%zx\r\n", size);
        Queue({.data = std::string(prefix, static_cast<size_t>(n))});
        Queue({.data = std::move(data), .counted = size});
        Queue({.data = "\r\n", .done = std::move(done)});
        return;
      }
      case Framing::kLength:
        if (stream_written_ + size > stream_length_) {
          // More than the promised Content-Length: send what fits, then close.
          data.resize(stream_length_ - stream_written_);
          keep_alive_ = false;
          length_mismatch_ = true;
        }
        stream_written_ += size;
        Queue({.data = std::move(data), .done = std::move(done), .counted = size});
        return;
      case Framing::kClose:
      case Framing::kNone:
        Queue({.data = std::move(data), .done = std::move(done), .counted = size});
        return;
    }
  }

  void DoEnd(uint64_t seq) {
    if (!IsCurrent(seq) || response_ != ResponseState::kStreaming) return;
    response_ = ResponseState::kDone;
    if (framing_ == Framing::kChunked && !head_request_) {
      Queue({.data = "0\r\n\r\n", .end_of_response = true});
      return;
    }
    if (framing_ == Framing::kLength && stream_written_ != stream_length_ && !head_request_) {
      keep_alive_ = false;
      length_mismatch_ = true;
    }
    if (framing_ == Framing::kClose) keep_alive_ = false;
    Queue({.end_of_response = true});
  }

  void DoAbort(uint64_t seq) {
    if (!IsCurrent(seq) || state_ == State::kClosed) return;
    ErrorCode ec;
    socket_.set_option(asio::socket_base::linger(true, 0), ec);
    aborting_ = true;
    Close();
  }

  // The handler dropped its writer without finishing.
  void DoAbandon(uint64_t seq) {
    if (!IsCurrent(seq)) return;
    if (response_ == ResponseState::kNone) {
      DoRespond(seq,
                HttpResponse::Json(500, ErrorJson("the request handler produced no response")));
    } else if (response_ == ResponseState::kStreaming) {
      Close();  // no terminating chunk: the client sees a truncated body
    }
  }

  void DoOnDisconnect(uint64_t seq, std::function<void()> callback) {
    if (disconnected_seq_.load() == seq) {
      callback();
    } else if (IsCurrent(seq)) {
      disconnect_callbacks_.push_back(std::move(callback));
    }
  }

  void DoAfter(absl::Duration delay, std::function<void(bool)> fn) {
    if (state_ == State::kClosed) {
      fn(true);
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor(), ToChrono(delay));
    auto it = after_timers_.insert(after_timers_.end(), timer);
    timer->async_wait([self = shared_from_this(), it, fn = std::move(fn)](const ErrorCode& ec) {
      self->after_timers_.erase(it);
      fn(ec == asio::error::operation_aborted || self->state_ == State::kClosed);
    });
  }

  // Runs operation `ticket` of the writer of exchange `seq` in the order the writer's
  // methods were called, whatever queue it arrived by: a call made on this loop's thread is
  // queued privately until the handler making it returns, so a call made meanwhile from
  // another thread (which happened after it) can arrive first. Operations of an exchange
  // that is over run at once (they only report that they came too late).
  template <typename F>
  void RunInOrder(uint64_t seq, uint64_t ticket, F& op) {
    if (seq != seq_) {
      op();
      return;
    }
    if (ticket != next_ticket_) {
      early_arrivals_.emplace(ticket, std::move(op));
      return;
    }
    op();
    if (seq == seq_) RunEarlyArrivals(++next_ticket_);
  }

  bool IsDisconnected(uint64_t seq) const { return disconnected_seq_.load() == seq; }
  std::atomic<size_t>& buffered_bytes() { return buffered_bytes_; }

 private:
  enum class State { kHandshake, kWaiting, kReading, kExchange, kRejecting, kLingering, kClosed };
  enum class ResponseState { kNone, kStreaming, kDone };
  enum class Framing { kNone, kLength, kChunked, kClose };

  struct Outgoing {
    std::string data;
    HttpResponseWriter::WriteDone done;
    size_t counted = 0;  // bytes counted in buffered_bytes_
    bool end_of_response = false;
  };

  static bool ParseLength(std::string_view s, uint64_t* out) {
    if (s.empty() || s.size() > 18) return false;
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
  }

  bool IsCurrent(uint64_t seq) const {
    return exchange_active_ && seq == seq_ && state_ != State::kClosed;
  }

  void RunEarlyArrivals(uint64_t next) {
    while (!early_arrivals_.empty() && early_arrivals_.begin()->first == next) {
      auto node = early_arrivals_.extract(early_arrivals_.begin());
      node.mapped()();
      next = ++next_ticket_;
    }
  }

  // --- Reading -----------------------------------------------------------------------------

  void BeginRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_->options.max_header_bytes));
    // The body limit is set once the header was checked, so an oversized Content-Length is
    // answered by CheckHeader() with the sizes in the message. (Not boost::none: Beast 1.74
    // compares the length with the optional and then rejects every body.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->eager(false);
    header_checked_ = false;
    state_ = State::kWaiting;
    ArmTimer(core_->options.idle_timeout);
    ParseBuffered();
    EnsureReading();
  }

  size_t MaxBufferedInput() const { return core_->options.max_header_bytes + kReadChunk; }

  void EnsureReading() {
    if (reading_ || peer_eof_ || state_ == State::kClosed || state_ == State::kHandshake) return;
    if (state_ != State::kLingering && state_ != State::kRejecting &&
        InputSize() >= MaxBufferedInput()) {
      return;  // backpressure on a pipelining client
    }
    reading_ = true;
    auto on_read = [self = shared_from_this()](const ErrorCode& ec, size_t n) {
      self->OnRead(ec, n);
    };
    if (tls_ != nullptr) {
      tls_->async_read_some(asio::buffer(read_buf_), std::move(on_read));
    } else {
      socket_.async_read_some(asio::buffer(read_buf_), std::move(on_read));
    }
  }

  void OnRead(const ErrorCode& ec, size_t n) {
    reading_ = false;
    if (state_ == State::kClosed) return;
    if (ec) {
      peer_eof_ = true;
      // A rejection in progress is still written; everything else ends here. While a
      // handler runs, end-of-stream means the client is gone (see the header) -- unless a
      // write is in flight: its completion may be queued behind this read's, and when it
      // ends the response the client got everything (OnWrite decides).
      if (state_ == State::kRejecting) return;
      if (state_ == State::kExchange && writing_) return;
      Close();
      return;
    }
    if (state_ == State::kLingering || state_ == State::kRejecting) {
      EnsureReading();  // discard
      return;
    }
    in_.append(read_buf_.data(), n);
    if (state_ == State::kWaiting || state_ == State::kReading) ParseBuffered();
    EnsureReading();
  }

  std::string_view Input() const { return std::string_view(in_).substr(in_off_); }
  size_t InputSize() const { return in_.size() - in_off_; }
  void Consume(size_t n) {
    in_off_ += n;
    if (in_off_ == in_.size()) {
      in_.clear();
      in_off_ = 0;
    } else if (in_off_ > 64 * 1024) {
      in_.erase(0, in_off_);
      in_off_ = 0;
    }
  }

  void ParseBuffered() {
    while (state_ == State::kWaiting || state_ == State::kReading) {
      std::string_view avail = Input();
      if (avail.empty()) return;
      if (state_ == State::kWaiting) {
        state_ = State::kReading;
        ArmTimer(core_->options.read_timeout);
      }
      ErrorCode ec;
      size_t used = parser_->put(asio::buffer(avail.data(), avail.size()), ec);
      Consume(used);
      bool need_more = ec == http::error::need_more;
      if (ec && !need_more) {
        RejectParseError(ec);
        return;
      }
      if (parser_->is_header_done() && !header_checked_) {
        header_checked_ = true;
        if (!CheckHeader()) return;
      }
      if (parser_->is_done()) {
        Dispatch();
        return;
      }
      if (need_more && used == 0) return;
    }
  }

  void RejectParseError(const ErrorCode& ec) {
    if (ec == http::error::header_limit) {
      Reject(431, Cat("request header section exceeds the limit of ",
                      core_->options.max_header_bytes, " bytes\n"));
    } else if (ec == http::error::body_limit) {
      Reject(413,
             Cat("request body exceeds the limit of ", core_->options.max_body_bytes, " bytes\n"));
    } else {
      Reject(400, Cat("malformed HTTP request: ", ec.message(), "\n"));
    }
  }

  // Limits that need the whole header; false when the request was rejected.
  bool CheckHeader() {
    const auto& header = parser_->get();
    size_t count = static_cast<size_t>(std::distance(header.begin(), header.end()));
    if (count > core_->options.max_header_count) {
      Reject(431, Cat("request has ", count, " header fields; the limit is ",
                      core_->options.max_header_count, "\n"));
      return false;
    }
    if (auto length = parser_->content_length();
        length.has_value() && *length > core_->options.max_body_bytes) {
      Reject(413, Cat("request body of ", *length, " bytes exceeds the limit of ",
                      core_->options.max_body_bytes, " bytes\n"));
      return false;
    }
    auto expect = header[http::field::expect];
    if (!expect.empty()) {
      if (!EqualsIgnoreCase(std::string_view(expect.data(), expect.size()), "100-continue")) {
        Reject(417, Cat("unsupported expectation: ", ToStd(expect), "\n"));
        return false;
      }
      if (header.version() >= 11 && !parser_->is_done()) {
        Queue({.data = "HTTP/1.1 100 Continue\r\n\r\n"});
      }
    }
    parser_->body_limit(static_cast<std::uint64_t>(core_->options.max_body_bytes));
    parser_->eager(true);
    return true;
  }

  void Dispatch() {
    CancelTimer();
    state_ = State::kExchange;
    keep_alive_ = parser_->keep_alive();
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    HttpRequest request;
    request.method = ToStd(message.method_string());
    request.target = ToStd(message.target());
    std::string_view target(request.target);
    size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.version = static_cast<int>(message.version());
    for (const auto& field : message) {
      request.headers.Add(std::string_view(field.name_string().data(), field.name_string().size()),
                          std::string_view(field.value().data(), field.value().size()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_;
    version_ = request.version;
    head_request_ = message.method() == http::verb::head;
    // A previous writer's operations still waiting for an earlier one that never came (its
    // server was stopping) run now, as late arrivals.
    for (auto& [ticket, op] : early_arrivals_) op();
    early_arrivals_.clear();
    next_ticket_ = 0;
    ++seq_;
    exchange_active_ = true;
    response_ = ResponseState::kNone;
    framing_ = Framing::kNone;
    stream_length_ = 0;
    stream_written_ = 0;
    length_mismatch_ = false;
    disconnect_callbacks_.clear();
    core_->requests.fetch_add(1);
    auto writer = MakeWriter();
    try {
      core_->handler(std::move(request), writer);
    } catch (const std::exception& e) {
      writer->Respond(
          HttpResponse::Json(500, ErrorJson(Cat("request handler failed: ", e.what()))));
    } catch (...) {
      writer->Respond(HttpResponse::Json(500, ErrorJson("request handler failed")));
    }
    EnsureReading();  // watches for the client going away
  }

  std::shared_ptr<HttpResponseWriter> MakeWriter();

  void Reject(int status, std::string message) {
    core_->rejected.fetch_add(1);
    CancelTimer();
    state_ = State::kRejecting;
    keep_alive_ = false;
    exchange_active_ = false;
    framing_ = Framing::kLength;
    HttpHeaders headers{{"Content-Type", "text/plain; charset=utf-8"}};
    std::string out = SerializeHead(status, headers, message.size());
    out.append(message);
    Queue({.data = std::move(out), .end_of_response = true});
    ArmTimer(core_->options.write_timeout);
  }

  // --- Writing -----------------------------------------------------------------------------

  std::string SerializeHead(int status, const HttpHeaders& headers, uint64_t content_length) {
    if (core_->draining.load()) keep_alive_ = false;
    std::string out;
    out.reserve(256);
    out.append(Cat("HTTP/1.1 ", status, " ", HttpReasonPhrase(status), "\r\n"));
    bool has_date = false;
    bool has_server = false;
    for (const HttpHeader& h : headers) {
      if (EqualsIgnoreCase(h.name, "content-length") ||
          EqualsIgnoreCase(h.name, "transfer-encoding") || EqualsIgnoreCase(h.name, "connection") ||
          EqualsIgnoreCase(h.name, "keep-alive")) {
        continue;
      }
      if (!ValidHeaderName(h.name) || !ValidHeaderValue(h.value)) continue;
      has_date = has_date || EqualsIgnoreCase(h.name, "date");
      has_server = has_server || EqualsIgnoreCase(h.name, "server");
      out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!has_date) out.append("Date: ").append(HttpDate(core_->options.clock)).append("\r\n");
    if (!has_server && !core_->options.server_name.empty()) {
      out.append("Server: ").append(core_->options.server_name).append("\r\n");
    }
    switch (framing_) {
      case Framing::kLength:
        out.append(Cat("Content-Length: ", content_length, "\r\n"));
        break;
      case Framing::kChunked:
        out.append("Transfer-Encoding: chunked\r\n");
        break;
      case Framing::kNone:
      case Framing::kClose:
        break;
    }
    if (!keep_alive_) {
      out.append("Connection: close\r\n");
    } else if (version_ == 10) {
      out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
    return out;
  }

  void Queue(Outgoing out) {
    if (state_ == State::kClosed) {
      buffered_bytes_.fetch_sub(out.counted);
      if (out.done) out.done(false);
      return;
    }
    queue_.push_back(std::move(out));
    Pump();
  }

  void Pump() {
    if (writing_ || queue_.empty() || state_ == State::kClosed) return;
    write_buffers_.clear();
    size_t bytes = 0;
    for (const Outgoing& o : queue_) {
      if (write_buffers_.size() == 64 || bytes >= 1024 * 1024) break;
      write_buffers_.push_back(asio::buffer(o.data));
      bytes += o.data.size();
    }
    in_flight_ = write_buffers_.size();
    writing_ = true;
    ArmWriteTimer();
    auto on_write = [self = shared_from_this()](const ErrorCode& ec, size_t) { self->OnWrite(ec); };
    if (tls_ != nullptr) {
      asio::async_write(*tls_, write_buffers_, std::move(on_write));
    } else {
      asio::async_write(socket_, write_buffers_, std::move(on_write));
    }
  }

  void OnWrite(const ErrorCode& ec) {
    writing_ = false;
    write_timer_.Disarm();
    if (state_ == State::kClosed) {
      FailQueue(0);
      return;
    }
    if (ec) {
      Close();
      return;
    }
    bool end = false;
    for (size_t i = 0; i < in_flight_; ++i) {
      Outgoing o = std::move(queue_.front());
      queue_.pop_front();
      buffered_bytes_.fetch_sub(o.counted);
      if (o.done) o.done(true);
      end = end || o.end_of_response;
    }
    in_flight_ = 0;
    if (end) {
      OnResponseComplete();
    } else if (peer_eof_ && state_ == State::kExchange) {
      Close();  // the client went away while this response was being written
      return;
    }
    Pump();
  }

  void OnResponseComplete() {
    if (state_ == State::kClosed) return;
    bool rejecting = state_ == State::kRejecting;
    exchange_active_ = false;
    if (length_mismatch_) {
      Close();
      return;
    }
    if (rejecting || !keep_alive_ || core_->draining.load() || peer_eof_) {
      GracefulClose();
      return;
    }
    BeginRequest();
  }

  // Sends FIN, then reads and discards until the client closes too (or kLingerTime), so a
  // client still sending (a rejected body) sees the response instead of a reset.
  void GracefulClose() {
    state_ = State::kLingering;
    in_.clear();
    in_off_ = 0;
    ErrorCode ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || peer_eof_) {
      Close();
      return;
    }
    ArmTimer(kLingerTime);
    EnsureReading();
  }

  void FailQueue(size_t keep_first) {
    while (queue_.size() > keep_first) {
      Outgoing o = std::move(queue_.back());
      queue_.pop_back();
      buffered_bytes_.fetch_sub(o.counted);
      if (o.done) o.done(false);
    }
  }

  // --- Timers and closing ------------------------------------------------------------------

  void ArmTimer(absl::Duration d) {
    if (timer_.Arm(ToChrono(d))) WaitTimer();
  }
  void WaitTimer() {
    timer_.Wait([self = shared_from_this()](uint64_t gen, const ErrorCode& ec) {
      switch (self->timer_.OnWait(gen, ec)) {
        case LazyTimer::Outcome::kWaitAgain:
          self->WaitTimer();
          return;
        case LazyTimer::Outcome::kFire:
          self->OnTimeout();
          return;
        case LazyTimer::Outcome::kIgnore:
          return;
      }
    });
  }
  void CancelTimer() { timer_.Disarm(); }

  void OnTimeout() {
    switch (state_) {
      case State::kReading:
        Reject(408, Cat("request not received within ",
                        absl::FormatDuration(core_->options.read_timeout), "\n"));
        return;
      case State::kRejecting:  // the client does not read the rejection
      case State::kHandshake:
      case State::kWaiting:
      case State::kLingering:
        Close();
        return;
      case State::kExchange:
      case State::kClosed:
        return;
    }
  }

  void ArmWriteTimer() {
    if (write_timer_.Arm(ToChrono(core_->options.write_timeout))) WaitWriteTimer();
  }
  void WaitWriteTimer() {
    write_timer_.Wait([self = shared_from_this()](uint64_t gen, const ErrorCode& ec) {
      switch (self->write_timer_.OnWait(gen, ec)) {
        case LazyTimer::Outcome::kWaitAgain:
          self->WaitWriteTimer();
          return;
        case LazyTimer::Outcome::kFire:
          if (self->writing_) self->Close();
          return;
        case LazyTimer::Outcome::kIgnore:
          return;
      }
    });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    bool exchange_incomplete = exchange_active_;
    state_ = State::kClosed;
    timer_.Stop();  // the pending waits hold this connection
    write_timer_.Stop();
    ErrorCode ec;
    socket_.close(ec);
    if (exchange_incomplete && !aborting_) {
      disconnected_seq_.store(seq_);
      core_->disconnects.fetch_add(1);
      std::vector<std::function<void()>> callbacks = std::move(disconnect_callbacks_);
      disconnect_callbacks_.clear();
      for (auto& callback : callbacks) callback();
    }
    exchange_active_ = false;
    FailQueue(writing_ ? in_flight_ : 0);
    for (auto& timer : after_timers_) timer->cancel();
    core_->Unregister(this);
  }

  const std::shared_ptr<Core> core_;
  EventLoop* const loop_;
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  std::string remote_;
  State state_ = State::kWaiting;

  // Reading.
  std::array<char, kReadChunk> read_buf_;
  std::string in_;  // received, not yet parsed (from in_off_)
  size_t in_off_ = 0;
  bool reading_ = false;
  bool peer_eof_ = false;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool header_checked_ = false;

  // The current exchange.
  uint64_t seq_ = 0;
  bool exchange_active_ = false;  // from Dispatch until the response is written
  bool keep_alive_ = true;
  bool head_request_ = false;
  int version_ = 11;
  ResponseState response_ = ResponseState::kNone;
  Framing framing_ = Framing::kNone;
  uint64_t stream_length_ = 0;
  uint64_t stream_written_ = 0;
  bool length_mismatch_ = false;
  bool aborting_ = false;
  std::vector<std::function<void()>> disconnect_callbacks_;
  std::atomic<uint64_t> disconnected_seq_{0};
  // The current writer's operations in call order (RunInOrder).
  uint64_t next_ticket_ = 0;
  std::map<uint64_t, absl::AnyInvocable<void()>> early_arrivals_;
  std::atomic<size_t> buffered_bytes_{0};

  // Writing.
  std::deque<Outgoing> queue_;
  std::vector<asio::const_buffer> write_buffers_;
  size_t in_flight_ = 0;
  bool writing_ = false;

  // Timers.
  LazyTimer timer_;  // handshake, idle, read, linger
  LazyTimer write_timer_;
  std::list<std::shared_ptr<asio::steady_timer>> after_timers_;
};

// The handler's handle on one exchange: forwards each call to the connection's strand.
class Exchange final : public HttpResponseWriter {
 public:
  Exchange(std::shared_ptr<Connection> connection, uint64_t seq)
      : connection_(std::move(connection)), seq_(seq) {}

  // The connection ignores this when the exchange was finished (see HttpResponseWriter).
  ~Exchange() override {
    Post([c = connection_, seq = seq_] { c->DoAbandon(seq); });
  }

  void Respond(HttpResponse response) override {
    Post([c = connection_, seq = seq_, r = std::move(response)]() mutable {
      c->DoRespond(seq, std::move(r));
    });
  }

  void StartStream(int status, HttpHeaders headers) override {
    Post([c = connection_, seq = seq_, status, h = std::move(headers)]() mutable {
      c->DoStartStream(seq, status, std::move(h));
    });
  }

  void Write(std::string data, WriteDone done) override {
    if (Stopped()) {
      if (done) done(false);
      return;
    }
    connection_->buffered_bytes().fetch_add(data.size());
    Post([c = connection_, seq = seq_, d = std::move(data), done = std::move(done)]() mutable {
      c->DoWrite(seq, std::move(d), std::move(done));
    });
  }

  void End() override {
    Post([c = connection_, seq = seq_] { c->DoEnd(seq); });
  }

  void Abort() override {
    Post([c = connection_, seq = seq_] { c->DoAbort(seq); });
  }

  void OnDisconnect(std::function<void()> callback) override {
    if (Stopped()) {
      if (disconnected()) callback();
      return;
    }
    Post([c = connection_, seq = seq_, cb = std::move(callback)]() mutable {
      c->DoOnDisconnect(seq, std::move(cb));
    });
  }

  bool disconnected() const override { return connection_->IsDisconnected(seq_); }

  void After(absl::Duration delay, std::function<void(bool cancelled)> fn) override {
    if (Stopped()) {
      fn(true);
      return;
    }
    Post([c = connection_, delay, fn = std::move(fn)]() mutable {
      c->DoAfter(delay, std::move(fn));
    });
  }

  size_t buffered_bytes() const override { return connection_->buffered_bytes().load(); }

  EventLoop* loop() const override { return connection_->loop(); }

 private:
  bool Stopped() const { return connection_->core()->stopped.load(); }

  // Every operation carries a ticket taken when the method was called; the connection runs
  // them in ticket order (Connection::RunInOrder).
  template <typename F>
  void Post(F&& f) {
    if (Stopped()) return;
    const uint64_t ticket = next_ticket_.fetch_add(1, std::memory_order_relaxed);
    asio::post(connection_->executor(),
               [c = connection_, seq = seq_, ticket, op = std::forward<F>(f)]() mutable {
                 c->RunInOrder(seq, ticket, op);
               });
  }

  const std::shared_ptr<Connection> connection_;
  const uint64_t seq_;
  std::atomic<uint64_t> next_ticket_{0};
};

std::shared_ptr<HttpResponseWriter> Connection::MakeWriter() {
  return std::make_shared<Exchange>(shared_from_this(), seq_);
}

}  // namespace server_internal

using server_internal::Connection;

namespace {

// Accepts the next connection onto the next loop in turn.
void Accept(const std::shared_ptr<HttpServer::Core>& core) {
  EventLoop* loop = &core->loops->Next();
  core->acceptor.async_accept(loop->io(), [core, loop](const ErrorCode& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !core->acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or similar: try again shortly rather than spin.
      auto timer = std::make_shared<asio::steady_timer>(core->acceptor.get_executor(),
                                                        std::chrono::milliseconds(50));
      timer->async_wait([core, timer](const ErrorCode&) { Accept(core); });
      return;
    }
    core->connections_accepted.fetch_add(1);
    if (core->draining.load() || core->OpenConnections() >= core->options.max_connections) {
      ErrorCode ignored;
      socket.close(ignored);
    } else {
      ErrorCode ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto connection = std::make_shared<Connection>(core, loop, std::move(socket));
      core->Register(connection);
      asio::post(connection->executor(), [connection] { connection->Start(); });
    }
    Accept(core);
  });
}

}  // namespace

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.Add("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view address) {
  HostPort out;
  std::string_view port_text;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          Cat("address '", address, "' is not [IPv6]:port (for example [::1]:8080)"));
    }
    out.host = std::string(address.substr(1, close - 1));
    port_text = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat("address '", address, "' has no port; write host:port (for example 127.0.0.1:8080)"));
    }
    out.host = std::string(address.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          Cat("address '", address, "': put an IPv6 host in brackets ([::1]:8080)"));
    }
    port_text = address.substr(colon + 1);
    if (out.host.empty()) out.host = "0.0.0.0";
  }
  if (port_text.empty() || port_text.size() > 5) {
    return absl::InvalidArgumentError(Cat("address '", address, "': the port must be 0..65535"));
  }
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(Cat("address '", address, "': the port must be 0..65535"));
    }
    port = port * 10 + (c - '0');
  }
  if (port > 65535) {
    return absl::InvalidArgumentError(Cat("address '", address, "': the port must be 0..65535"));
  }
  out.port = port;
  return out;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              HttpHandler handler) {
  if (!handler) return absl::InvalidArgumentError("HttpServer::Start: no handler");
  auto host_port = ParseHostPort(options.listen);
  if (!host_port.ok()) return host_port.status();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "HTTPS needs both a certificate file and a private key file (tls_cert_file, "
        "tls_key_file)");
  }
  std::shared_ptr<EventLoopGroup> loops = options.loops;
  const bool owns_loops = loops == nullptr;
  if (owns_loops) loops = EventLoopGroup::Start(options.io_threads, "http-io");
  auto core =
      std::make_shared<Core>(std::move(options), std::move(handler), std::move(loops), owns_loops);
  const HttpServerOptions& o = core->options;
  ErrorCode ec;
  if (!o.tls_cert_file.empty()) {
    core->tls.emplace(asio::ssl::context::tls_server);
    core->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1);
    core->tls->use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          Cat("cannot load the TLS certificate chain '", o.tls_cert_file, "': ", ec.message()));
    }
    core->tls->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          Cat("cannot load the TLS private key '", o.tls_key_file, "': ", ec.message()));
    }
  }
  tcp::resolver resolver(core->loops->loop(0).io());
  auto results = resolver.resolve(host_port->host, std::to_string(host_port->port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(
        Cat("cannot resolve the listen address '", o.listen, "': ", ec.message()));
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor& acceptor = core->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(Cat("cannot listen on ", o.listen, ": ", ec.message()));
  }
  tcp::endpoint bound = acceptor.local_endpoint(ec);
  int port = bound.port();
  std::string host = bound.address().to_string();
  std::string address = bound.address().is_v6() ? Cat("[", host, "]:", port) : Cat(host, ":", port);

  // The first accept is started on the acceptor's loop: the acceptor is used there only.
  asio::post(core->loops->loop(0).io(), [core] { Accept(core); });
  bool tls = core->tls.has_value();
  return std::unique_ptr<HttpServer>(
      new HttpServer(std::move(core), port, std::move(address), tls));
}

HttpServer::HttpServer(std::shared_ptr<Core> core, int port, std::string address, bool tls)
    : core_(std::move(core)), port_(port), address_(std::move(address)), tls_(tls) {}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

void HttpServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&core_->mu);
    if (core_->shutdown_started) {
      core_->mu.Await(absl::Condition(&core_->shutdown_done));
      return;
    }
    core_->shutdown_started = true;
  }
  core_->draining.store(true);
  asio::post(core_->acceptor.get_executor(), [core = core_] {
    ErrorCode ignored;
    core->acceptor.close(ignored);
  });
  for (auto& connection : core_->Snapshot()) {
    asio::post(connection->executor(), [connection] { connection->Drain(); });
  }
  auto no_connections = [](Core* core) ABSL_EXCLUSIVE_LOCKS_REQUIRED(core->mu) {
    return core->connections.empty();
  };
  {
    absl::MutexLock lock(&core_->mu);
    core_->mu.AwaitWithTimeout(absl::Condition(+no_connections, core_.get()), grace);
  }
  for (auto& connection : core_->Snapshot()) {
    asio::post(connection->executor(), [connection] { connection->ForceClose(); });
  }
  {
    absl::MutexLock lock(&core_->mu);
    core_->mu.AwaitWithTimeout(absl::Condition(+no_connections, core_.get()), absl::Seconds(10));
  }
  core_->stopped.store(true);
  if (core_->owns_loops) core_->loops->Stop();
  absl::MutexLock lock(&core_->mu);
  core_->shutdown_done = true;
}

HttpServerStats HttpServer::stats() const {
  HttpServerStats s;
  s.connections_accepted = core_->connections_accepted.load();
  s.connections_open = core_->OpenConnections();
  s.requests = core_->requests.load();
  s.rejected = core_->rejected.load();
  s.disconnects = core_->disconnects.load();
  return s;
}

}  // namespace genops::gateway
