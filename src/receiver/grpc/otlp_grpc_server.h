// OtlpGrpcServer: OTLP/gRPC (opentelemetry.proto.collector.trace.v1.TraceService/Export) in
// front of an OtlpTraceReceiver, on receiver.otlp_grpc_listen.
//
// Why a generic service instead of the service grpc_cpp_plugin generates: the receiver decodes
// the request bytes itself (otlp_decoder.h: precise errors, limits, the same path as
// OTLP/HTTP) and answers with bytes it encodes (EncodeExportResponseProto), so generated
// message parsing would only add a copy. grpc::CallbackGenericService hands over raw bytes.
// (The tests call it through the generated client stub, as OpenTelemetry exporters do.)
// This header includes no gRPC header, so its users need nothing of gRPC to compile.
//
// Protocol (OTLP specification, "OTLP/gRPC"):
//   * Export: OK with an ExportTraceServiceResponse (partial_success when spans were rejected);
//     INVALID_ARGUMENT for an undecodable request (not retryable); UNAVAILABLE when overloaded
//     or out of memory (retryable); RESOURCE_EXHAUSTED for a message over
//     max_receive_message_bytes, as sent or once decompressed.
//   * Message compression gzip and deflate (grpc-encoding). The receiver decompresses, not
//     gRPC: gRPC 1.51 inflates a message whole before checking its size, so one small gzip
//     bomb would cost gigabytes; here inflation stops at max_receive_message_bytes.
//   * Any other method: UNIMPLEMENTED.
// Threading: gRPC's callback threads must not block; each request is posted to `executor`
// (the server's governance WorkerPool) and answered from there. A null executor runs it
// inline on the gRPC thread (tests only).
//
// Shutdown: gRPC waits for every call it has handed to a reactor, so Shutdown() returns only
// after the executor has run each task it accepted (WorkerPool::Shutdown runs what is queued);
// an executor that drops accepted tasks would hang it. Shut the server down before the pool:
// a pool shut down first refuses new work, and those calls get UNAVAILABLE.
//
// Address reuse: gRPC enables SO_REUSEPORT by default, which would let a second server bind a
// port already in use without an error; it is turned off, so an address in use fails Start().
//
// Example:
//   auto grpc = OtlpGrpcServer::Start({.listen = "127.0.0.1:4317"}, receiver, executor);
//   ...
//   (*grpc)->Shutdown(absl::Seconds(5));
//
// Thread safety: thread-safe.
#ifndef GENOPS_RECEIVER_GRPC_OTLP_GRPC_SERVER_H_
#define GENOPS_RECEIVER_GRPC_OTLP_GRPC_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/receiver/otlp_http_handler.h"
#include "src/receiver/trace_receiver.h"

namespace genops::receiver {

struct OtlpGrpcOptions {
  std::string listen = "127.0.0.1:4317";  // port 0 binds an ephemeral port (see port())
  // Larger messages get RESOURCE_EXHAUSTED, as sent and after decompression.
  int max_receive_message_bytes = 32 * 1024 * 1024;
};

// Monotonic counters of calls by outcome.
struct OtlpGrpcStats {
  uint64_t ok = 0;             // OK without rejections
  uint64_t partial = 0;        // OK with partial_success.rejected_spans > 0
  uint64_t invalid = 0;        // INVALID_ARGUMENT: undecodable request
  uint64_t unavailable = 0;    // UNAVAILABLE (executor refused, out of memory)
  uint64_t unimplemented = 0;  // other methods
  // Export calls that ended without a request message: gRPC refused one over
  // max_receive_message_bytes (the client sees RESOURCE_EXHAUSTED), the client cancelled or
  // its deadline passed, or it half-closed without sending one (INVALID_ARGUMENT).
  uint64_t no_message = 0;
  // RESOURCE_EXHAUSTED from the receiver: a compressed message that expands beyond
  // max_receive_message_bytes.
  uint64_t too_large = 0;
};

class OtlpGrpcServer {
 public:
  // Listens on options.listen and serves until Shutdown(). InvalidArgument for bad options
  // (no receiver, empty address); Unavailable when the address cannot be bound (invalid or in
  // use). `executor` runs each request's processing (see the file comment); null: inline.
  static absl::StatusOr<std::unique_ptr<OtlpGrpcServer>> Start(
      OtlpGrpcOptions options, std::shared_ptr<OtlpTraceReceiver> receiver, Executor executor);
  ~OtlpGrpcServer();  // Shutdown(zero grace)
  OtlpGrpcServer(const OtlpGrpcServer&) = delete;
  OtlpGrpcServer& operator=(const OtlpGrpcServer&) = delete;

  // The bound port (the real one when options.listen asked for port 0).
  int port() const { return port_; }
  // Stops accepting, waits up to `grace` for calls in flight, then cancels the rest (their
  // clients see UNAVAILABLE, which OTLP exporters retry) and waits for their tasks on the
  // executor to end. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  OtlpGrpcStats stats() const;

 private:
  struct Impl;
  OtlpGrpcServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_GRPC_OTLP_GRPC_SERVER_H_
