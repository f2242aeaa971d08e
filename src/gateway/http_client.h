// HttpClient: the gateway's asynchronous HTTP/1.1 client towards the providers.
//
// Why not libcurl (which the OTLP exporter uses): the gateway relays a provider's answer to
// its own client chunk by chunk, reading the upstream body only as fast as the downstream
// client takes it (backpressure), and cancels the upstream call the moment the client goes
// away. That needs a pull-driven body on the same kind of event loop as the server.
//
//   auto client = HttpClient::Create({});
//   // A whole response:
//   (*client)->Send({.method = "POST", .url = "https://api.openai.com/v1/chat/completions",
//                    .headers = {{"Authorization", "Bearer ..."}}, .body = json},
//                   [](absl::StatusOr<HttpClientResponse> r) { ... });
//   // A streamed body, read at the caller's pace:
//   std::shared_ptr<HttpClientCall> call = (*client)->Open(std::move(request));
//   call->ReadHead([call](absl::StatusOr<HttpResponseHead> head) {
//     call->ReadBody([](absl::StatusOr<std::string> piece) { /* "" = end */ });
//   });
//   call->Cancel();   // at any time, e.g. when the downstream client disconnected
//
// Connections are pooled per (scheme, host, port[, proxy]) and reused while the server keeps
// them alive; a pooled connection is checked before reuse (a server that closed it is
// noticed without sending on it). HTTPS verifies the server certificate against the system
// CA store (and/or ca_file), sends SNI and checks the host name (or IP address) against the
// certificate. Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case): HTTPS
// goes through a CONNECT tunnel, plain HTTP is sent to the proxy in absolute form. Loopback
// destinations (localhost, 127.0.0.0/8, ::1) never use the proxy.
//
// Errors are absl::Status values that carry an HttpErrorInfo (GetHttpErrorInfo()): its kind
// and whether any byte of the request was sent, so a caller can tell whether a retry could
// make the provider run (and bill) the request twice.
//
// Threads: the client runs on an EventLoopGroup (src/gateway/event_loop.h), its own
// (io_threads loops) or one it shares with an HttpServer (HttpClientOptions::loops). A call
// runs on one loop: HttpClientRequest::loop when it is one of the client's, else the calling
// thread's loop, else one picked by the URL's origin. A proxy that opens its upstream call
// on the downstream connection's loop (HttpResponseWriter::loop()) so handles an exchange on
// one thread. Idle connections are pooled per loop.
//
// Thread safety: HttpClient and HttpClientCall are thread-safe. Callbacks run on the
// call's loop, at most one at a time per call, and must not block.
#ifndef GENOPS_GATEWAY_HTTP_CLIENT_H_
#define GENOPS_GATEWAY_HTTP_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "genops/clock.h"
#include "src/core/environment.h"
#include "src/gateway/http_message.h"

namespace genops::gateway {

class EventLoop;
class EventLoopGroup;

// What went wrong; each value says whether the request can have reached the server.
enum class HttpErrorKind {
  // The request is invalid (bad URL, header with CR/LF). Nothing was sent.
  kInvalidRequest,
  // Name resolution, TCP connect or the proxy's CONNECT failed. Nothing was sent.
  kConnectFailed,
  // The TLS handshake failed, including certificate verification. Nothing was sent.
  kTls,
  // A timeout expired (connect, response head, body inactivity or the total deadline).
  // request_sent tells whether the request went out.
  kTimeout,
  // The connection was closed or reset by the peer before the response was complete.
  kConnectionReset,
  // The server's bytes are not valid HTTP/1.1, or the response exceeds a size limit.
  kProtocol,
  // The caller cancelled the call (or destroyed the client).
  kCancelled,
};

std::string_view HttpErrorKindName(HttpErrorKind kind) noexcept;

struct HttpErrorInfo {
  HttpErrorKind kind = HttpErrorKind::kProtocol;
  bool request_sent = false;       // some bytes of the request were written to the socket
  bool response_started = false;   // some bytes of the response were received
  bool reused_connection = false;  // the call ran on a pooled connection
  // True when the server cannot have seen the request, so sending it again cannot make it
  // run twice. (An idempotent request may also be retried when !response_started.)
  bool RetrySafe() const { return !request_sent; }
};

// The details attached to an error returned by HttpClient; nullopt for other statuses.
std::optional<HttpErrorInfo> GetHttpErrorInfo(const absl::Status& status);

// Where proxies are configured; FromEnvironment() is the usual source.
struct ProxySettings {
  std::string http_proxy;   // for http:// URLs
  std::string https_proxy;  // for https:// URLs
  std::string no_proxy;     // comma-separated exclusions
  // Reads http_proxy/HTTP_PROXY, https_proxy/HTTPS_PROXY, no_proxy/NO_PROXY (lowercase wins).
  static ProxySettings FromEnvironment(const Environment& env);
};

struct ProxyEndpoint {
  std::string host;
  int port = 0;
  std::string authorization;  // "Basic ..." from user:password in the proxy URL, or empty
};

// The proxy to use for scheme://host:port, or nullopt for a direct connection. NO_PROXY
// entries: "*" (everything), a host name (matching it and its subdomains; a leading "." or
// "*." is allowed), an IP address, an IPv4 CIDR block ("10.0.0.0/8"); each may end in
// ":port" to match only that port. Errors: a proxy URL that cannot be parsed or is not
// http:// (kInvalidArgument, naming the variable's value).
absl::StatusOr<std::optional<ProxyEndpoint>> SelectProxy(const ProxySettings& settings,
                                                         std::string_view scheme,
                                                         std::string_view host, int port);

struct HttpClientOptions {
  int io_threads = 1;  // event loops of its own; ignored when `loops` is set
  // Run on these loops (shared with an HttpServer) instead. Whoever owns them stops them
  // after the client is destroyed.
  std::shared_ptr<EventLoopGroup> loops;
  // Connect covers name resolution, TCP, the proxy's CONNECT and the TLS handshake.
  absl::Duration connect_timeout = absl::Seconds(10);
  // From the start of sending the request until the response head is complete (LLM
  // providers may think for minutes before the first byte).
  absl::Duration response_timeout = absl::Minutes(10);
  // The longest wait for more body bytes while a ReadBody() is pending.
  absl::Duration read_timeout = absl::Minutes(5);
  // Pooling. The idle cap must cover the calls in flight to one host: below that, every
  // burst of completions closes connections the next burst has to open again.
  size_t max_idle_connections_per_host = 256;
  // A pooled connection idle longer than this is closed instead of reused (servers drop
  // idle connections after a while; reusing one they are about to drop fails the request).
  absl::Duration pool_idle_timeout = absl::Seconds(50);
  const Clock* clock = Clock::Real();  // measures pool idleness
  // Limits on what the server sends.
  size_t max_response_header_bytes = 64 * 1024;
  size_t max_response_body_bytes = 64 * 1024 * 1024;  // Send() only; streams are unbounded
  // TLS.
  bool verify_peer = true;    // false only for tests against self-signed servers
  bool use_system_ca = true;  // the system's default CA store
  std::string ca_file;        // extra trusted CA certificates (PEM)
  // Proxies: `proxy` when set, else ProxySettings::FromEnvironment(*environment).
  std::optional<ProxySettings> proxy;
  const Environment* environment = Environment::Process();
  std::string user_agent = "genops-gateway";  // sent when the request has none
};

struct HttpClientRequest {
  std::string method = "GET";
  std::string url;      // http://host[:port]/path?query or https://...
  HttpHeaders headers;  // Host and Content-Length are set by the client
  std::string body;
  // Overrides of the client's timeouts for this call; total_timeout bounds the whole call
  // including the body (none by default).
  std::optional<absl::Duration> connect_timeout;
  std::optional<absl::Duration> response_timeout;
  std::optional<absl::Duration> read_timeout;
  std::optional<absl::Duration> total_timeout;
  // The loop to run the call on (its callbacks run there); ignored unless it is one of the
  // client's loops. Null: the calling thread's loop, else one chosen by the URL's origin.
  EventLoop* loop = nullptr;
};

struct HttpResponseHead {
  int status = 0;
  int version = 11;
  HttpHeaders headers;
  bool reused_connection = false;
};

struct HttpClientResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  bool reused_connection = false;
};

// One request in flight. Thread-safe; callbacks run on an io thread.
class HttpClientCall {
 public:
  using HeadCallback = std::function<void(absl::StatusOr<HttpResponseHead>)>;
  using BodyCallback = std::function<void(absl::StatusOr<std::string>)>;

  virtual ~HttpClientCall() = default;
  // Delivers the response head (once it arrived) or the error that ended the call. Call at
  // most once.
  virtual void ReadHead(HeadCallback callback) = 0;
  // Delivers the next piece of the body: a non-empty string, "" at the end of the body, or
  // the error. At most one ReadBody may be pending; bytes are read from the socket only
  // while one is (backpressure).
  virtual void ReadBody(BodyCallback callback) = 0;
  // Ends the call: the connection is closed (never pooled) and a pending callback completes
  // with kCancelled. No effect once the body was read to its end.
  virtual void Cancel() = 0;
};

struct HttpClientStats {
  uint64_t requests = 0;
  uint64_t connections_opened = 0;
  uint64_t connections_reused = 0;
  uint64_t idle_connections = 0;  // now in the pool
  // Calls whose state still exists: in flight, or ended but still referenced by a caller.
  // Each holds a read buffer of 16 KiB; a count that keeps growing is a leak.
  uint64_t live_calls = 0;
};

// Thread-safe; see the file comment.
class HttpClient {
 public:
  using ResponseCallback = std::function<void(absl::StatusOr<HttpClientResponse>)>;

  // Errors: ca_file cannot be loaded, or the proxy environment cannot be parsed
  // (kInvalidArgument).
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(HttpClientOptions options = {});
  // Cancels calls in flight (their callbacks complete with kCancelled) and joins the io
  // threads. Must not run on an io thread (inside a callback).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a request whose body is read through the returned call. Dropping the last
  // reference to the call before the body ended cancels it.
  std::shared_ptr<HttpClientCall> Open(HttpClientRequest request);

  // Sends a request and delivers the whole response (bounded by max_response_body_bytes).
  // The returned call can cancel it; dropping it does not.
  std::shared_ptr<HttpClientCall> Send(HttpClientRequest request, ResponseCallback done);

  // Blocking Send(). Must not run on an io thread.
  absl::StatusOr<HttpClientResponse> SendSync(HttpClientRequest request);

  HttpClientStats stats() const;

  struct Core;  // implementation, shared with the calls

 private:
  explicit HttpClient(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_HTTP_CLIENT_H_
