// HttpServer: the asynchronous HTTP/1.1 server under the gateway (`genops serve`) and the
// mock upstream.
//
// Why a server of our own on Asio rather than a thread per connection: the gateway holds one
// connection per in-flight LLM call, and a streamed answer can last minutes while it spends
// almost no CPU. An event loop on a few threads holds thousands of such connections; a
// handler therefore never blocks, it answers later through its HttpResponseWriter, from any
// thread (typically from the completion callback of an upstream call).
//
//   auto server = HttpServer::Start({.listen = "127.0.0.1:0"},
//       [](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
//         writer->Respond(HttpResponse::Json(200, R"({"ok":true})"));
//       });
//   if (!server.ok()) return server.status();
//   int port = (*server)->port();   // the port bound for ":0"
//   ...
//   (*server)->Shutdown(absl::Seconds(30));   // stop accepting, finish in-flight, stop
//
// Protocol behaviour:
//   * Keep-alive per HTTP/1.1 (and HTTP/1.0 with "Connection: keep-alive"). Pipelined
//     requests are read but handled one at a time per connection, so responses keep their
//     order; bytes of the next request wait in the connection's buffer.
//   * Limits answer with a short text body and close the connection: a header section over
//     max_header_bytes or with more than max_header_count fields gets 431; a body over
//     max_body_bytes gets 413 (from Content-Length before the body is read, or while a
//     chunked body is read). "Expect: 100-continue" is honoured (100, or 413 before the
//     body is sent). A malformed request gets 400, a request not received within
//     read_timeout gets 408.
//   * While a handler runs, the server keeps reading the connection: end-of-stream (the
//     client closed or half-closed it) or a reset means the client is gone, and the
//     writer's OnDisconnect callbacks run so a proxy can cancel its upstream call.
//   * Shutdown() stops accepting, closes idle connections, lets in-flight exchanges finish
//     (their responses carry "Connection: close") until the grace period ends, then closes
//     what is left (OnDisconnect callbacks run) and joins the io threads.
//
// Threads: the server runs on an EventLoopGroup (src/gateway/event_loop.h), its own or one
// it shares (HttpServerOptions::loops), and spreads accepted connections over its loops. A
// connection, its handler calls and every callback of its writer run on that connection's
// loop (HttpResponseWriter::loop()), so a handler that starts an HttpClient call on the same
// loop handles the whole exchange on one thread.
//
// Thread safety: HttpServer is thread-safe. HttpResponseWriter methods are thread-safe and
// never block; callbacks they take run on the connection's io thread (serialized per
// connection) and must not block either. The handler runs on an io thread.
#ifndef GENOPS_GATEWAY_HTTP_SERVER_H_
#define GENOPS_GATEWAY_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "genops/clock.h"
#include "src/gateway/http_message.h"

namespace genops::gateway {

class EventLoop;
class EventLoopGroup;

struct HttpRequest {
  std::string method;  // "POST"
  std::string target;  // as received: "/v1/chat/completions?x=1"
  std::string path;    // the target without the query: "/v1/chat/completions"
  std::string query;   // after '?', without it; empty when absent
  int version = 11;    // 10 or 11
  HttpHeaders headers;
  std::string body;            // de-chunked
  std::string remote_address;  // "127.0.0.1:51234"
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Length, Transfer-Encoding and Connection are set by the
                        // server ("Connection: close" from the handler is honoured)
  std::string body;

  static HttpResponse Text(int status, std::string body);  // text/plain; charset=utf-8
  static HttpResponse Json(int status, std::string body);  // application/json
};

// The handler's side of one exchange. A handler either calls Respond() once, or
// StartStream(), any number of Write() and then End(). Calls that do not fit that order
// (a second Respond, Write before StartStream, anything after End) are ignored; a Write
// that is ignored reports done(false). Dropping the last reference to the writer without
// finishing answers 500 (nothing sent yet) or closes the connection (a stream in progress,
// so the client sees a truncated body rather than a complete-looking one).
//
// Thread-safe; see the file comment.
class HttpResponseWriter {
 public:
  using WriteDone = std::function<void(bool delivered)>;

  virtual ~HttpResponseWriter() = default;

  // Sends a whole response.
  virtual void Respond(HttpResponse response) = 0;

  // Sends the status line and headers of a streamed response. The body is sent with
  // chunked transfer coding, unless `headers` has a Content-Length (the handler then writes
  // exactly that many bytes; a different count closes the connection at End()) or the
  // client speaks HTTP/1.0 (the body then ends when the connection closes).
  virtual void StartStream(int status, HttpHeaders headers) = 0;
  // Queues a piece of the body. `done(true)` runs once the bytes were handed to the
  // socket, `done(false)` when they never will be (the client is gone, or the call was out
  // of order). Backpressure: a producer that waits for `done` before writing more moves at
  // the client's reading pace; buffered_bytes() tells how much is queued.
  virtual void Write(std::string data, WriteDone done = nullptr) = 0;
  // Ends a streamed response.
  virtual void End() = 0;

  // Resets the connection at once (TCP RST; queued bytes are dropped). For fault
  // injection and for giving up on a client.
  virtual void Abort() = 0;

  // Registers `callback` to run once if the connection ends before this exchange's
  // response was completely written (the client closed or reset it, a write timed out, or
  // the server shut down). Runs right away (on the io thread) when that already happened;
  // never runs when the response completed. Typical use: cancel the upstream call.
  virtual void OnDisconnect(std::function<void()> callback) = 0;
  // True once the connection ended before the response completed.
  virtual bool disconnected() const = 0;

  // Runs `fn` on this connection's io thread after `delay`, with cancelled=false; or
  // earlier with cancelled=true when the connection closes or the server stops. Runs exactly
  // once either way (so a handler that waits on it is always resumed).
  virtual void After(absl::Duration delay, std::function<void(bool cancelled)> fn) = 0;

  // Bytes queued and not yet handed to the socket.
  virtual size_t buffered_bytes() const = 0;

  // The event loop this connection lives on (where every callback above runs); work posted
  // to it runs after what the writer already queued there.
  virtual EventLoop* loop() const = 0;
};

// Runs for each request on an io thread. Must not block; may finish asynchronously by
// keeping `writer`.
using HttpHandler =
    std::function<void(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer)>;

struct HttpServerOptions {
  // "host:port"; port 0 binds an ephemeral port (see HttpServer::port()). "[::1]:8080" for
  // IPv6; a name ("localhost:0") is resolved and its first address used.
  std::string listen = "127.0.0.1:0";
  // io threads (one event loop each); 0 = std::thread::hardware_concurrency(). Ignored when
  // `loops` is set.
  int io_threads = 0;
  // Run on these loops (shared, e.g. with the HttpClient of a proxy) instead of starting
  // io_threads of its own. Whoever owns them stops them after Shutdown().
  std::shared_ptr<EventLoopGroup> loops;
  size_t max_header_bytes = 64 * 1024;  // request line + header fields
  size_t max_header_count = 100;
  size_t max_body_bytes = 32 * 1024 * 1024;
  // Time to receive one whole request once its first byte arrived (and the TLS handshake).
  absl::Duration read_timeout = absl::Seconds(30);
  // A keep-alive connection waiting for its next request is closed after this.
  absl::Duration idle_timeout = absl::Seconds(60);
  // A write that makes no progress for this long closes the connection (a client that
  // stopped reading).
  absl::Duration write_timeout = absl::Seconds(60);
  // Connections beyond this are closed as soon as they are accepted.
  size_t max_connections = 10000;
  // Both set: serve HTTPS with this PEM certificate chain and private key.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The Server header; empty sends none.
  std::string server_name = "genops";
  // Read for the Date header only (timeouts run on the io_context's steady clock).
  const Clock* clock = Clock::Real();
};

struct HttpServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t requests = 0;     // requests handed to the handler
  uint64_t rejected = 0;     // answered by the server itself (400, 408, 413, 431, 417)
  uint64_t disconnects = 0;  // exchanges whose connection ended before the response
};

// Thread-safe; see the file comment.
class HttpServer {
 public:
  // Binds, listens and starts the io threads. Errors: the address cannot be parsed or
  // bound (kInvalidArgument / kUnavailable), the TLS files cannot be loaded
  // (kInvalidArgument naming the file).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           HttpHandler handler);
  // Shutdown(absl::ZeroDuration()) when still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port and "host:port" (with the real port when listening on port 0).
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  bool tls() const { return tls_; }

  // Stops accepting, waits up to `grace` for in-flight exchanges, closes the rest and joins
  // the io threads. Idempotent; blocks; must not be called from an io thread (a handler).
  void Shutdown(absl::Duration grace = absl::Seconds(30));

  HttpServerStats stats() const;

  struct Core;  // implementation, shared with the connections

 private:
  HttpServer(std::shared_ptr<Core> core, int port, std::string address, bool tls);

  std::shared_ptr<Core> core_;
  int port_;
  std::string address_;
  bool tls_;
};

struct HostPort {
  std::string host;  // without brackets for IPv6
  int port = 0;
};
// Parses "host:port", "[v6]:port" or ":port" (host "0.0.0.0"). The port must be 0..65535.
absl::StatusOr<HostPort> ParseHostPort(std::string_view address);

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_HTTP_SERVER_H_
