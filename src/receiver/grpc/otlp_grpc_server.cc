#include "src/receiver/grpc/otlp_grpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "src/core/text.h"

namespace genops::receiver {
namespace {

constexpr char kExportMethod[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct Shared {
  std::shared_ptr<OtlpTraceReceiver> receiver;
  Executor executor;
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> partial{0};
  std::atomic<uint64_t> invalid{0};
  std::atomic<uint64_t> unavailable{0};
  std::atomic<uint64_t> unimplemented{0};
};

// One Export call: read the request, process it on the executor, write the response.
// Deletes itself in OnDone (the callback API's ownership rule).
class ExportReactor final : public grpc::ServerGenericBidiReactor {
 public:
  ExportReactor(grpc::GenericCallbackServerContext* context, std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)) {
    if (context->method() != kExportMethod) {
      shared_->unimplemented.fetch_add(1, std::memory_order_relaxed);
      Finish(grpc::Status(
          grpc::StatusCode::UNIMPLEMENTED,
          Cat("the OTLP receiver implements only ", kExportMethod, ", not ", context->method())));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      shared_->invalid.fetch_add(1, std::memory_order_relaxed);
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the client sent no ExportTraceServiceRequest message"));
      return;
    }
    if (!shared_->executor) {
      Process();
      return;
    }
    if (!shared_->executor([this] { Process(); })) {
      shared_->unavailable.fetch_add(1, std::memory_order_relaxed);
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the receiver is overloaded (its work queue is full); retry later"));
    }
  }

  void OnDone() override { delete this; }

 private:
  void Process() {
    std::vector<grpc::Slice> slices;
    std::string body;
    if (request_.Dump(&slices).ok()) {
      body.reserve(request_.Length());
      for (const grpc::Slice& slice : slices) {
        body.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
    }
    request_.Clear();
    const ExportOutcome outcome = shared_->receiver->Export(body, PayloadFormat::kProtobuf);
    if (!outcome.status.ok()) {
      const bool invalid = outcome.status.code() == absl::StatusCode::kInvalidArgument;
      (invalid ? shared_->invalid : shared_->unavailable).fetch_add(1, std::memory_order_relaxed);
      const absl::string_view message = outcome.status.message();
      Finish(
          grpc::Status(invalid ? grpc::StatusCode::INVALID_ARGUMENT : grpc::StatusCode::UNAVAILABLE,
                       std::string(message.data(), message.size())));
      return;
    }
    (outcome.rejected_spans > 0 ? shared_->partial : shared_->ok)
        .fetch_add(1, std::memory_order_relaxed);
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
  if (receiver == nullptr) return absl::InvalidArgumentError("otlp grpc: no receiver");
  auto impl = std::make_unique<Impl>();
  impl->shared = std::make_shared<Shared>();
  impl->shared->receiver = std::move(receiver);
  impl->shared->executor = std::move(executor);
  impl->service = std::make_unique<Service>(impl->shared);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterCallbackGenericService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || port == 0) {
    return absl::UnavailableError(Cat("otlp grpc: cannot listen on ", options.listen,
                                      " (receiver.otlp_grpc_listen): the address is invalid or "
                                      "in use"));
  }
  return std::unique_ptr<OtlpGrpcServer>(new OtlpGrpcServer(std::move(impl), port));
}

OtlpGrpcServer::OtlpGrpcServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

OtlpGrpcServer::~OtlpGrpcServer() { Shutdown(absl::ZeroDuration()); }

void OtlpGrpcServer::Shutdown(absl::Duration grace) {
  if (impl_->stopped.exchange(true)) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::microseconds(absl::ToInt64Microseconds(grace)));
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
  return out;
}

}  // namespace genops::receiver
