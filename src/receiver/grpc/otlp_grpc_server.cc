#include "src/receiver/grpc/otlp_grpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/text.h"
#include "src/export/gzip.h"
#include "src/receiver/otlp_http_handler.h"

namespace genops::receiver {
namespace {

constexpr char kExportMethod[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
// Messages up to this size are joined into a per-thread buffer that is kept between calls.
constexpr size_t kMaxReusedJoinBytes = 8 * 1024 * 1024;

// What every reactor shares; it outlives the server (each reactor holds a reference) so that
// a task still queued on the executor when the server object goes away stays valid.
struct Shared {
  std::shared_ptr<OtlpTraceReceiver> receiver;
  Executor executor;
  size_t max_message_bytes = 0;
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> partial{0};
  std::atomic<uint64_t> invalid{0};
  std::atomic<uint64_t> unavailable{0};
  std::atomic<uint64_t> unimplemented{0};
  std::atomic<uint64_t> no_message{0};
  std::atomic<uint64_t> too_large{0};
};

void Count(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

// How a message that reached the reactor is compressed. gRPC's own decompression is off (see
// Start()), so a compressed message arrives as the client sent it, and the flag saying so is
// not visible through the C++ API: the body is recognised by its header instead.
enum class Compression { kNone, kGzip, kMaybeZlib };

Compression Sniff(std::string_view body) {
  if (body.size() < 2) return Compression::kNone;
  const auto b0 = static_cast<uint8_t>(body[0]);
  const auto b1 = static_cast<uint8_t>(body[1]);
  // gzip (grpc-encoding gzip): 1f 8b. A protobuf message never starts with 0x1f (field 3 of
  // wire type 7, which does not exist).
  if (b0 == 0x1f && b1 == 0x8b) return Compression::kGzip;
  // zlib (grpc-encoding deflate): CM 8, a window of at most 32 KiB, no preset dictionary, and
  // a header check that is a multiple of 31 (RFC 1950). A protobuf message can start with
  // such bytes (an unknown varint field 1..15), so a body that does not inflate is decoded
  // as it is.
  if ((b0 & 0x0f) == 8 && (b0 >> 4) <= 7 && (b1 & 0x20) == 0 && ((b0 << 8) | b1) % 31 == 0) {
    return Compression::kMaybeZlib;
  }
  return Compression::kNone;
}

// One call: read the request, process it on the executor, write the response. A unary call
// reaches a generic service as a stream of one message; the client has half-closed after it,
// so no second read is needed. Deletes itself in OnDone (the callback API's ownership rule:
// OnDone comes only after Finish, so a task on the executor always finds the reactor alive).
class ExportReactor final : public grpc::ServerGenericBidiReactor {
 public:
  ExportReactor(grpc::GenericCallbackServerContext* context, std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)) {
    if (context->method() != kExportMethod) {
      Count(shared_->unimplemented);
      // Operations started in the constructor are queued by gRPC until the reactor is bound.
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          Cat("the GenOps OTLP receiver implements only ", kExportMethod,
                              " (traces), not ", context->method())));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // No message: the client half-closed without one (it gets this status), or the call
      // already failed (cancelled, deadline passed, or a message over max_receive_message_bytes
      // that gRPC refused with RESOURCE_EXHAUSTED; that status wins). Finish is owed anyway.
      Count(shared_->no_message);
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the client half-closed the Export call without sending an "
                          "ExportTraceServiceRequest message"));
      return;
    }
    if (!shared_->executor) {
      Process();
      return;
    }
    if (!shared_->executor([this] { Process(); })) {
      request_.Clear();
      Count(shared_->unavailable);
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the GenOps OTLP receiver is overloaded or shutting down (its work "
                          "queue refused the request); retry later"));
    }
  }

  void OnDone() override { delete this; }

 private:
  // Runs on the executor (or inline); calls Finish exactly once.
  void Process() noexcept {
    try {
      ProcessOrThrow();
    } catch (const std::exception&) {  // std::bad_alloc; every throw precedes Finish
      request_.Clear();
      Count(shared_->unavailable);
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the GenOps OTLP receiver ran out of memory; retry later"));
    }
  }

  void ProcessOrThrow() {
    std::vector<grpc::Slice> slices;
    if (!request_.Dump(&slices).ok()) {
      Count(shared_->invalid);
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the ExportTraceServiceRequest message could not be read"));
      return;
    }
    // A small message arrives as one slice: decode it in place. A larger one (a 512-span
    // batch is ~600 KB) is joined, into a per-thread buffer that keeps its capacity between
    // requests (up to kMaxReusedJoinBytes), rather than a new allocation of the message's size
    // (and its page faults) per request.
    thread_local std::string reused_joined;
    std::string once_joined;
    std::string& joined =
        request_.Length() <= kMaxReusedJoinBytes ? reused_joined : once_joined;
    joined.clear();
    std::string_view body;
    if (slices.size() == 1) {
      body = std::string_view(reinterpret_cast<const char*>(slices[0].begin()), slices[0].size());
    } else {
      joined.reserve(request_.Length());
      for (const grpc::Slice& slice : slices) {
        joined.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
      body = joined;
    }
    std::string inflated;
    const Compression compression = Sniff(body);
    if (compression != Compression::kNone) {
      absl::StatusOr<std::string> out = exporter::GzipDecompress(body, shared_->max_message_bytes);
      if (out.ok()) {
        inflated = std::move(*out);
        body = inflated;
      } else if (out.status().code() == absl::StatusCode::kResourceExhausted) {
        Count(shared_->too_large);
        Finish(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            Cat("the compressed ExportTraceServiceRequest expands beyond the receiver's ",
                shared_->max_message_bytes,
                "-byte message limit; send smaller batches (the exporter's batch size)")));
        return;
      } else if (compression == Compression::kGzip) {
        Count(shared_->invalid);
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            Cat("the gzip-compressed ExportTraceServiceRequest cannot be "
                                "decompressed: ",
                                out.status().message())));
        return;
      }
      // kMaybeZlib that does not inflate: an uncompressed message starting like zlib.
    }
    const ExportOutcome outcome = shared_->receiver->Export(body, PayloadFormat::kProtobuf);
    slices.clear();
    joined.clear();
    inflated.clear();
    request_.Clear();
    if (!outcome.status.ok()) {
      if (outcome.status.code() == absl::StatusCode::kInvalidArgument) {
        Count(shared_->invalid);
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            Cat("invalid ExportTraceServiceRequest: ", outcome.status.message())));
      } else {
        // Out of memory or another transient failure: OTLP clients retry UNAVAILABLE.
        Count(shared_->unavailable);
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, ToStd(outcome.status.message())));
      }
      return;
    }
    Count(outcome.rejected_spans > 0 ? shared_->partial : shared_->ok);
    const std::string bytes =
        EncodeExportResponseProto(outcome.rejected_spans, outcome.error_message);
    grpc::Slice slice(bytes);
    response_ = grpc::ByteBuffer(&slice, 1);
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }

  const std::shared_ptr<Shared> shared_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new ExportReactor(context, shared_);
  }

 private:
  const std::shared_ptr<Shared> shared_;
};

}  // namespace

struct OtlpGrpcServer::Impl {
  std::shared_ptr<Shared> shared;
  std::unique_ptr<Service> service;
  std::unique_ptr<grpc::Server> server;
  std::atomic<bool> stopped{false};
};

absl::StatusOr<std::unique_ptr<OtlpGrpcServer>> OtlpGrpcServer::Start(
    OtlpGrpcOptions options, std::shared_ptr<OtlpTraceReceiver> receiver, Executor executor) {
  if (receiver == nullptr) {
    return absl::InvalidArgumentError("OTLP/gRPC receiver: no OtlpTraceReceiver was given");
  }
  if (options.listen.empty()) {
    return absl::InvalidArgumentError(
        "receiver.otlp_grpc_listen is empty (an empty value turns the gRPC listener off; do not "
        "start it)");
  }
  if (options.max_receive_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        Cat("OTLP/gRPC receiver: max_receive_message_bytes must be positive, not ",
            options.max_receive_message_bytes));
  }
  auto impl = std::make_unique<Impl>();
  impl->shared = std::make_shared<Shared>();
  impl->shared->receiver = std::move(receiver);
  impl->shared->executor = std::move(executor);
  impl->shared->max_message_bytes = static_cast<size_t>(options.max_receive_message_bytes);
  impl->service = std::make_unique<Service>(impl->shared);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // gRPC 1.51 inflates a compressed message whole before it checks the size limit (a 400 KB
  // gzip bomb cost 440 MB of memory in a test): the reactor inflates with a bound instead.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterCallbackGenericService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || port == 0) {
    if (impl->server != nullptr) impl->server->Shutdown();
    return absl::UnavailableError(Cat("receiver.otlp_grpc_listen: cannot listen on \"",
                                      options.listen,
                                      "\": the address is invalid (expected HOST:PORT, e.g. "
                                      "127.0.0.1:4317) or already in use"));
  }
  return std::unique_ptr<OtlpGrpcServer>(new OtlpGrpcServer(std::move(impl), port));
}

OtlpGrpcServer::OtlpGrpcServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

OtlpGrpcServer::~OtlpGrpcServer() { Shutdown(absl::ZeroDuration()); }

void OtlpGrpcServer::Shutdown(absl::Duration grace) {
  if (impl_->stopped.exchange(true)) return;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::microseconds(absl::ToInt64Microseconds(grace));
  impl_->server->Shutdown(deadline);
  impl_->server->Wait();
}

OtlpGrpcStats OtlpGrpcServer::stats() const {
  const Shared& s = *impl_->shared;
  OtlpGrpcStats out;
  out.ok = s.ok.load(std::memory_order_relaxed);
  out.partial = s.partial.load(std::memory_order_relaxed);
  out.invalid = s.invalid.load(std::memory_order_relaxed);
  out.unavailable = s.unavailable.load(std::memory_order_relaxed);
  out.unimplemented = s.unimplemented.load(std::memory_order_relaxed);
  out.no_message = s.no_message.load(std::memory_order_relaxed);
  out.too_large = s.too_large.load(std::memory_order_relaxed);
  return out;
}

}  // namespace genops::receiver
