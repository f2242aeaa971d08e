// OtlpGrpcServer: OTLP/gRPC (opentelemetry.proto.collector.trace.v1.TraceService/Export) in
// front of an OtlpTraceReceiver, on receiver.otlp_grpc_listen.
//
// Why a generic service instead of protoc-generated stubs: the receiver decodes the request
// bytes itself (otlp_decoder.h, precise errors and limits) and answers with bytes it encodes
// (EncodeExportResponseProto), so the generated message classes and the grpc_cpp_plugin step
// would only add a build dependency. grpc::CallbackGenericService hands over the raw bytes.
//
// Protocol (OTLP specification, "OTLP/gRPC"):
//   * Export: OK with an ExportTraceServiceResponse (partial_success when spans were rejected);
//     INVALID_ARGUMENT for an undecodable request (not retryable); UNAVAILABLE when overloaded
//     or out of memory (retryable). gzip message compression is handled by gRPC itself; the
//     message size limit (max_receive_message_bytes) applies to the decompressed message.
//   * Any other method: UNIMPLEMENTED.
// Threading: gRPC's callback threads must not block; each request is posted to `executor`
// (the server's governance WorkerPool) and answered from there. A null executor runs it
// inline on the gRPC thread (tests only).
//
// This file lives in src/receiver/grpc/ (outside the library's src/receiver/*.cc glob) because
// it needs libgrpc++-dev; CMake builds it only when gRPC is found.
//
// Example:
//   auto grpc = OtlpGrpcServer::Start({.listen = "127.0.0.1:4317"}, receiver, executor);
//   ...
//   (*grpc)->Shutdown(absl::Seconds(5));
//
// Thread safety: thread-safe.
#ifndef GENOPS_RECEIVER_GRPC_OTLP_GRPC_SERVER_H_
#define GENOPS_RECEIVER_GRPC_OTLP_GRPC_SERVER_H_

#include <atomic>
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
  int max_receive_message_bytes = 32 * 1024 * 1024;
};

struct OtlpGrpcStats {
  uint64_t ok = 0;
  uint64_t partial = 0;
  uint64_t invalid = 0;        // INVALID_ARGUMENT
  uint64_t unavailable = 0;    // UNAVAILABLE
  uint64_t unimplemented = 0;  // other methods
};

class OtlpGrpcServer {
 public:
  static absl::StatusOr<std::unique_ptr<OtlpGrpcServer>> Start(
      OtlpGrpcOptions options, std::shared_ptr<OtlpTraceReceiver> receiver, Executor executor);
  ~OtlpGrpcServer();  // Shutdown(zero grace)
  OtlpGrpcServer(const OtlpGrpcServer&) = delete;
  OtlpGrpcServer& operator=(const OtlpGrpcServer&) = delete;

  int port() const { return port_; }
  // Stops accepting, waits up to `grace` for calls in flight, then cancels the rest.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  OtlpGrpcStats stats() const;

  struct Impl;

 private:
  OtlpGrpcServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace genops::receiver

#endif  // GENOPS_RECEIVER_GRPC_OTLP_GRPC_SERVER_H_
