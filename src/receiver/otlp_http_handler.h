// OtlpHttpReceiver: OTLP/HTTP (`POST /v1/traces`) in front of an OtlpTraceReceiver, for the
// gateway's HttpServer (src/gateway/http_server.h).
//
// Protocol (OTLP specification, "OTLP/HTTP"):
//   * Content-Type application/x-protobuf (binary ExportTraceServiceRequest) or
//     application/json (OTLP/JSON); parameters such as "; charset=utf-8" are ignored.
//     Anything else: 415, text body naming the accepted types.
//   * Content-Encoding gzip (or deflate, or none/identity); any other coding: 415. The body is
//     decompressed with a size limit (max_decompressed_bytes): a gzip bomb gets 413.
//   * A body above max_body_bytes: 413 (HttpServer refuses larger ones before reading them
//     when its max_body_bytes is set to the same value).
//   * Success: 200 with an ExportTraceServiceResponse in the request's content type; when some
//     spans were rejected it carries partial_success {rejected_spans, error_message}.
//   * An undecodable body: 400 with a google.rpc.Status (code 3, INVALID_ARGUMENT) whose
//     message says what is wrong and where, in the request's content type. Not retryable.
//   * Overloaded (the executor refused the work) or out of memory: 503 with Retry-After, which
//     OTLP clients retry.
//   * Another method on /v1/traces: 405 (Allow: POST); another path: 404.
//
// Threading: HttpServer runs handlers on its io threads, which must never block, while
// processing a request blocks on the ledger. Handle() checks the method, path, content type
// and encoding on the io thread (cheap) and posts everything else (decompression, decoding,
// enrichment, charging) to the executor; the response is written from the executor's thread
// (HttpResponseWriter is thread-safe). Pass the server's governance WorkerPool, e.g.
//   [pool](std::function<void()> task) { return pool->Post(std::move(task)); }
// A null executor runs the work inline on the io thread: for tests only.
//
// Example:
//   auto http = std::make_shared<OtlpHttpReceiver>(receiver, executor, OtlpHttpOptions{});
//   auto server = gateway::HttpServer::Start({.listen = "127.0.0.1:4318"}, http->handler());
//
// Thread safety: thread-safe.
#ifndef GENOPS_RECEIVER_OTLP_HTTP_HANDLER_H_
#define GENOPS_RECEIVER_OTLP_HTTP_HANDLER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "src/gateway/http_server.h"
#include "src/receiver/trace_receiver.h"

namespace genops::receiver {

struct OtlpHttpOptions {
  std::string path = "/v1/traces";
  size_t max_body_bytes = 32 * 1024 * 1024;           // as received (compressed)
  size_t max_decompressed_bytes = 128 * 1024 * 1024;  // after Content-Encoding
};

// Runs `task` on another thread. False when it cannot (queue full, shut down); the task is
// then not run and the caller answers 503.
using Executor = std::function<bool(std::function<void()>)>;

// Monotonic counters of responses by kind.
struct OtlpHttpStats {
  uint64_t ok = 0;                 // 200 without rejections
  uint64_t partial = 0;            // 200 with partial_success.rejected_spans > 0
  uint64_t bad_request = 0;        // 400
  uint64_t unsupported_media = 0;  // 415
  uint64_t too_large = 0;          // 413
  uint64_t not_found = 0;          // 404 and 405
  uint64_t unavailable = 0;        // 503
};

class OtlpHttpReceiver : public std::enable_shared_from_this<OtlpHttpReceiver> {
 public:
  OtlpHttpReceiver(std::shared_ptr<OtlpTraceReceiver> receiver, Executor executor,
                   OtlpHttpOptions options);

  // The HttpServer handler; it keeps this object alive while requests are in flight.
  // Requires the object to be owned by a shared_ptr.
  gateway::HttpHandler handler();

  // Handles one exchange (see the file comment). Non-blocking unless the executor is null.
  void Handle(gateway::HttpRequest request, std::shared_ptr<gateway::HttpResponseWriter> writer);

  // The whole exchange, synchronously (blocks on the ledger).
  gateway::HttpResponse HandleSync(const gateway::HttpRequest& request);

  OtlpHttpStats stats() const;
  OtlpTraceReceiver& receiver() { return *receiver_; }

 private:
  enum class Encoding { kIdentity, kGzip };
  struct Checked {
    bool ok = false;
    PayloadFormat format = PayloadFormat::kProtobuf;
    Encoding encoding = Encoding::kIdentity;
    gateway::HttpResponse refusal;  // when !ok
  };

  // The cheap checks (method, path, content type, encoding, size).
  Checked Check(const gateway::HttpRequest& request);
  // Decompression, decoding, processing and the response.
  gateway::HttpResponse Process(const gateway::HttpRequest& request, const Checked& checked);
  gateway::HttpResponse Count(gateway::HttpResponse response, int64_t rejected = 0);

  const std::shared_ptr<OtlpTraceReceiver> receiver_;
  const Executor executor_;
  const OtlpHttpOptions options_;

  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> partial_{0};
  std::atomic<uint64_t> bad_request_{0};
  std::atomic<uint64_t> unsupported_media_{0};
  std::atomic<uint64_t> too_large_{0};
  std::atomic<uint64_t> not_found_{0};
  std::atomic<uint64_t> unavailable_{0};
};

// ExportTraceServiceResponse bodies, exposed for the gRPC service and tests.
// Protobuf: empty when rejected_spans == 0, else partial_success {rejected_spans, error_message}.
std::string EncodeExportResponseProto(int64_t rejected_spans, std::string_view error_message);
// OTLP/JSON: "{}" or {"partialSuccess":{"rejectedSpans":"N","errorMessage":"..."}}.
std::string EncodeExportResponseJson(int64_t rejected_spans, std::string_view error_message);

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_OTLP_HTTP_HANDLER_H_
