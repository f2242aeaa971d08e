// OTLP/gRPC receiver tests: a real gRPC server on 127.0.0.1:0 and real gRPC clients (the
// stub grpc_cpp_plugin generates from trace_service.proto, as OpenTelemetry exporters use, and
// grpc::GenericStub for bytes no generated client would send).
#include "src/receiver/grpc/otlp_grpc_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/core/text.h"
#include "src/core/worker_pool.h"
#include "tests/receiver/receiver_test_util.h"

namespace genops::receiver {
namespace {

using telemetry::AttributeValue;
using telemetry::SpanData;
using testing::Harness;
using ::testing::HasSubstr;
using testing::MakeResource;
using testing::MakeSpan;
namespace collector = opentelemetry::proto::collector::trace::v1;

constexpr char kExport[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

SpanData ChatSpan(uint8_t n, int64_t input = 1000) {
  return MakeSpan(n, "chat gpt-4o",
                  {{"gen_ai.provider.name", std::string("openai")},
                   {"gen_ai.request.model", std::string("gpt-4o")},
                   {"gen_ai.usage.input_tokens", input},
                   {"gen_ai.usage.output_tokens", int64_t{200}}});
}

collector::ExportTraceServiceRequest Request(const std::vector<SpanData>& spans) {
  collector::ExportTraceServiceRequest request;
  const std::string body = testing::ProtoBody(
      spans, MakeResource({{"service.name", std::string("checkout")}}, "openllmetry", "0.40.0"));
  EXPECT_TRUE(request.ParseFromString(body));
  return request;
}

std::string ToString(grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (buffer.Dump(&slices).ok()) {
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

// Runs each task on a pool thread after `open` is set; tells when a task is waiting.
class GatedExecutor {
 public:
  explicit GatedExecutor(WorkerPool* pool) : pool_(pool) {}
  Executor executor() {
    return [this](std::function<void()> task) {
      return pool_->Post([this, task = std::move(task)] {
        {
          std::unique_lock<std::mutex> lock(mu_);
          ++waiting_;
          cv_.notify_all();
          cv_.wait(lock, [this] { return open_; });
        }
        task();
      });
    };
  }
  void WaitForTask() {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(20), [this] { return waiting_ > 0; }));
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  WorkerPool* const pool_;
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

// A receiver behind a real OtlpGrpcServer on 127.0.0.1:0, work posted to a WorkerPool.
class OtlpGrpcTest : public ::testing::Test {
 protected:
  void Start(OtlpGrpcOptions options = {.listen = "127.0.0.1:0"}, Executor executor = nullptr) {
    pool_ = std::make_unique<WorkerPool>(WorkerPoolOptions{.threads = 2, .name = "grpc-test"});
    if (!executor) {
      executor = [pool = pool_.get()](std::function<void()> task) {
        return pool->Post(std::move(task));
      };
    }
    receiver_ = std::move(h_.receiver);
    auto server = OtlpGrpcServer::Start(std::move(options), receiver_, std::move(executor));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = Channel(GRPC_COMPRESS_NONE);
    stub_ = collector::TraceService::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(5));
    if (pool_) pool_->Shutdown();
  }

  std::shared_ptr<grpc::Channel> Channel(grpc_compression_algorithm compression) {
    grpc::ChannelArguments args;
    args.SetCompressionAlgorithm(compression);
    args.SetMaxSendMessageSize(-1);
    return grpc::CreateCustomChannel(Cat("127.0.0.1:", server_->port()),
                                     grpc::InsecureChannelCredentials(), args);
  }

  // An Export call through the generated stub.
  grpc::Status Export(const collector::ExportTraceServiceRequest& request,
                      collector::ExportTraceServiceResponse* response,
                      collector::TraceService::Stub* stub = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    return (stub != nullptr ? stub : stub_.get())->Export(&context, request, response);
  }

  // A unary call with raw bytes on any method; fills *response.
  grpc::Status RawCall(const std::string& method, const std::string& request,
                       std::string* response) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::Slice slice(request);
    grpc::ByteBuffer send(&slice, 1);
    grpc::ByteBuffer receive;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &send, &receive,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status status = done.get_future().get();
    *response = status.ok() ? ToString(receive) : "";
    return status;
  }

  Money CostOf(int64_t input) const {
    return h_.Cost("openai", "gpt-4o", {.input_tokens = input, .output_tokens = 200});
  }

  Harness h_;
  std::shared_ptr<OtlpTraceReceiver> receiver_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<OtlpGrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<collector::TraceService::Stub> stub_;
};

TEST_F(OtlpGrpcTest, PortZeroBindsARealPortAndABusyPortIsRefused) {
  Start();
  ASSERT_GT(server_->port(), 0);
  EXPECT_NE(server_->port(), 4317);
  // SO_REUSEPORT is off: a second server on the same port must fail, not share it.
  auto second =
      OtlpGrpcServer::Start({.listen = Cat("127.0.0.1:", server_->port())}, receiver_, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(Cat("127.0.0.1:", server_->port())));
  EXPECT_THAT(second.status().message(), HasSubstr("receiver.otlp_grpc_listen"));
  // The first one still serves.
  collector::ExportTraceServiceResponse response;
  EXPECT_TRUE(Export(Request({ChatSpan(1)}), &response).ok());
}

TEST_F(OtlpGrpcTest, StartRefusesBadOptions) {
  std::shared_ptr<OtlpTraceReceiver> receiver = std::move(h_.receiver);
  auto none = OtlpGrpcServer::Start({.listen = "127.0.0.1:0"}, nullptr, nullptr);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  auto empty = OtlpGrpcServer::Start({.listen = ""}, receiver, nullptr);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("receiver.otlp_grpc_listen is empty"));
  auto size = OtlpGrpcServer::Start({.listen = "127.0.0.1:0", .max_receive_message_bytes = 0},
                                    receiver, nullptr);
  EXPECT_EQ(size.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = OtlpGrpcServer::Start({.listen = "127.0.0.1:notaport"}, receiver, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"127.0.0.1:notaport\""));
}

TEST_F(OtlpGrpcTest, ExportEnrichesForwardsAndCharges) {
  Start();
  collector::ExportTraceServiceResponse response;
  grpc::Status s = Export(Request({ChatSpan(1), ChatSpan(2, 3000)}), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(response.has_partial_success());
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000) + CostOf(3000));

  const std::vector<SpanData> spans = h_.sink->spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(testing::Get(spans[0], "genops.cost.total_nanos"),
            AttributeValue(CostOf(1000).nanos()));
  EXPECT_EQ(testing::Get(spans[1], "genops.cost.total_nanos"),
            AttributeValue(CostOf(3000).nanos()));
  EXPECT_EQ(testing::Get(spans[0], "genops.cost.priced"), AttributeValue(true));
  EXPECT_EQ(testing::Get(spans[0], "genops.team"), AttributeValue(std::string("default-team")));
  EXPECT_EQ(testing::Get(spans[0], "genops.operation.id"),
            AttributeValue(std::string("otlp-ababababababababababababababab01-1111111111111101")));
  const std::vector<telemetry::ResourceInfo> resources = h_.sink->resources();
  ASSERT_EQ(resources.size(), 2u);
  EXPECT_EQ(resources[0].scope_name, "openllmetry");
  ASSERT_EQ(resources[0].attributes.size(), 1u);
  EXPECT_EQ(resources[0].attributes[0].key, "service.name");

  std::lock_guard<std::mutex> lock(h_.records_mu);
  ASSERT_EQ(h_.records.size(), 2u);
  EXPECT_EQ(server_->stats().ok, 1u);
}

TEST_F(OtlpGrpcTest, TheSameBatchTwiceChargesOnce) {
  Start();
  const collector::ExportTraceServiceRequest request = Request({ChatSpan(1), ChatSpan(2)});
  collector::ExportTraceServiceResponse response;
  ASSERT_TRUE(Export(request, &response).ok());
  const Money once = h_.TotalSpent();
  EXPECT_EQ(once, CostOf(1000) + CostOf(1000));
  ASSERT_TRUE(Export(request, &response).ok());
  EXPECT_EQ(h_.TotalSpent(), once);
  EXPECT_EQ(server_->stats().ok, 2u);
}

TEST_F(OtlpGrpcTest, RejectedSpansGivePartialSuccess) {
  Start();
  collector::ExportTraceServiceResponse response;
  grpc::Status s = Export(Request({ChatSpan(1), ChatSpan(2, -3)}), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(response.has_partial_success());
  EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  EXPECT_THAT(response.partial_success().error_message(), HasSubstr("cannot be negative"));
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000));
  EXPECT_EQ(h_.sink->spans().size(), 1u);
  EXPECT_EQ(server_->stats().partial, 1u);
  EXPECT_EQ(server_->stats().ok, 0u);
}

TEST_F(OtlpGrpcTest, UndecodableBytesAreInvalidArgumentAndChargeNothing) {
  Start();
  const std::string body = testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  std::string response;
  grpc::Status s = RawCall(kExport, body.substr(0, body.size() - 5), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("invalid ExportTraceServiceRequest"));
  EXPECT_THAT(s.error_message(), HasSubstr("truncated"));
  EXPECT_THAT(s.error_message(), HasSubstr(Cat("of ", body.size() - 5)));  // where
  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_TRUE(h_.sink->spans().empty());
  EXPECT_EQ(server_->stats().invalid, 1u);
  EXPECT_EQ(receiver_->stats().requests_refused, 1u);
}

// A server that refuses gzip-compressed messages (and answers OK to anything else): it tells
// whether a client compresses.
class AnswerOk final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { Finish(grpc::Status::OK); }
      void OnDone() override { delete this; }
    };
    return new Reactor();
  }
};

std::unique_ptr<grpc::Server> GzipRefusingServer(AnswerOk* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.RegisterCallbackGenericService(service);
  return builder.BuildAndStart();
}

// A call that half-closes without sending a message (no generated client does this).
class NoMessageCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  grpc::Status Run(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::GenericStub stub(channel);
    context_.set_deadline(Deadline());
    stub.PrepareBidiStreamingCall(&context_, kExport, grpc::StubOptions(), this);
    StartWritesDone();
    StartRead(&response_);
    StartCall();
    return done_.get_future().get();
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer response_;
  std::promise<grpc::Status> done_;
};

TEST_F(OtlpGrpcTest, ACallWithoutAMessageIsInvalidArgument) {
  Start();
  NoMessageCall call;
  grpc::Status s = call.Run(channel_);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("without sending an ExportTraceServiceRequest"));
  EXPECT_EQ(server_->stats().no_message, 1u);
  EXPECT_EQ(receiver_->stats().requests, 0u);
}

TEST_F(OtlpGrpcTest, GzipCompressedCallsAreAccepted) {
  Start();
  // The channel below really compresses: a server with gzip disabled refuses its call.
  int probe_port = 0;
  AnswerOk answer_ok;
  std::unique_ptr<grpc::Server> probe = GzipRefusingServer(&answer_ok, &probe_port);
  ASSERT_NE(probe, nullptr);
  {
    grpc::ChannelArguments args;
    args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
    auto probe_stub = collector::TraceService::NewStub(grpc::CreateCustomChannel(
        Cat("127.0.0.1:", probe_port), grpc::InsecureChannelCredentials(), args));
    collector::ExportTraceServiceResponse response;
    grpc::Status s = Export(Request({ChatSpan(1)}), &response, probe_stub.get());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_THAT(s.error_message(), HasSubstr("gzip")) << "the client did not compress";
  }
  probe->Shutdown(std::chrono::system_clock::now());
  auto gzip_stub = collector::TraceService::NewStub(Channel(GRPC_COMPRESS_GZIP));
  collector::ExportTraceServiceResponse response;
  grpc::Status s = Export(Request({ChatSpan(1), ChatSpan(2, 2000)}), &response, gzip_stub.get());
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000) + CostOf(2000));
  EXPECT_EQ(h_.sink->spans().size(), 2u);
  // Per call too: grpc::ClientContext::set_compression_algorithm.
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  context.set_compression_algorithm(GRPC_COMPRESS_DEFLATE);
  ASSERT_TRUE(stub_->Export(&context, Request({ChatSpan(3)}), &response).ok());
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000) + CostOf(2000) + CostOf(1000));
  EXPECT_EQ(server_->stats().ok, 2u);
}

std::vector<SpanData> ManySpans(int count) {
  std::vector<SpanData> spans;
  for (int i = 0; i < count; ++i) {
    SpanData span = ChatSpan(static_cast<uint8_t>(i));
    span.span_id.bytes[0] = static_cast<uint8_t>(i >> 8);
    span.attributes.push_back({"padding", std::string(200, 'x')});
    spans.push_back(std::move(span));
  }
  return spans;
}

TEST_F(OtlpGrpcTest, MessagesOverTheLimitAreResourceExhausted) {
  Start({.listen = "127.0.0.1:0", .max_receive_message_bytes = 64 * 1024});
  const collector::ExportTraceServiceRequest big = Request(ManySpans(400));
  ASSERT_GT(big.ByteSizeLong(), 64u * 1024);
  collector::ExportTraceServiceResponse response;
  grpc::Status s = Export(big, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // Compressed it is far below the limit on the wire; the limit applies once inflated.
  auto gzip_stub = collector::TraceService::NewStub(Channel(GRPC_COMPRESS_GZIP));
  s = Export(big, &response, gzip_stub.get());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_TRUE(h_.sink->spans().empty());
  EXPECT_EQ(receiver_->stats().requests, 0u);
  EXPECT_EQ(server_->stats().no_message, 1u);  // refused by gRPC before the reactor read it
  EXPECT_EQ(server_->stats().too_large, 1u);   // inflated by the reactor up to the limit
  EXPECT_EQ(server_->stats().invalid, 0u);
  // Below the limit, the same server accepts.
  ASSERT_TRUE(Export(Request({ChatSpan(1)}), &response).ok());
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000));
}

// 16 MiB of zeros compress to ~16 KiB: inflation must stop at the limit, not allocate it all.
TEST_F(OtlpGrpcTest, AGzipBombIsRefusedWithoutInflatingIt) {
  Start({.listen = "127.0.0.1:0", .max_receive_message_bytes = 64 * 1024});
  grpc::ChannelArguments args;
  args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  args.SetMaxSendMessageSize(-1);
  channel_ = grpc::CreateCustomChannel(Cat("127.0.0.1:", server_->port()),
                                       grpc::InsecureChannelCredentials(), args);
  std::string response;
  grpc::Status s = RawCall(kExport, std::string(16 << 20, '\0'), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("expands beyond the receiver's 65536-byte"));
  EXPECT_EQ(server_->stats().too_large, 1u);
  EXPECT_EQ(receiver_->stats().requests, 0u);
}

TEST_F(OtlpGrpcTest, CompressionIsRecognisedByItsHeader) {
  Start();
  // Uncompressed bytes with a gzip header: the message cannot be a protobuf either.
  std::string response;
  grpc::Status s = RawCall(kExport, std::string("\x1f\x8b\x08\x00garbage", 11), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("gzip-compressed ExportTraceServiceRequest cannot"));
  // An uncompressed request that starts like a zlib stream (78 9c: an unknown varint field
  // 15 = 156) is decoded as it is.
  const std::string body =
      std::string("\x78\x9c\x01", 3) + testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  s = RawCall(kExport, body, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000));
}

TEST_F(OtlpGrpcTest, OtherMethodsAreUnimplemented) {
  Start();
  const std::string body = testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  std::string response;
  grpc::Status s =
      RawCall("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", body, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(s.error_message(), HasSubstr("MetricsService/Export"));
  EXPECT_THAT(s.error_message(), HasSubstr(kExport));
  s = RawCall("/opentelemetry.proto.collector.trace.v1.TraceService/Other", body, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_EQ(server_->stats().unimplemented, 2u);
}

TEST_F(OtlpGrpcTest, ARefusingExecutorGivesUnavailable) {
  std::atomic<int> offered{0};
  Start({.listen = "127.0.0.1:0"}, [&offered](std::function<void()>) {
    offered.fetch_add(1);
    return false;
  });
  collector::ExportTraceServiceResponse response;
  grpc::Status s = Export(Request({ChatSpan(1)}), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("retry later"));
  EXPECT_EQ(offered.load(), 1);
  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_TRUE(h_.sink->spans().empty());
  EXPECT_EQ(server_->stats().unavailable, 1u);
}

TEST_F(OtlpGrpcTest, AnInlineExecutorWorks) {
  receiver_ = std::move(h_.receiver);
  auto server = OtlpGrpcServer::Start({.listen = "127.0.0.1:0"}, receiver_, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  auto stub = collector::TraceService::NewStub(Channel(GRPC_COMPRESS_NONE));
  collector::ExportTraceServiceResponse response;
  ASSERT_TRUE(Export(Request({ChatSpan(1)}), &response, stub.get()).ok());
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000));
}

TEST_F(OtlpGrpcTest, ConcurrentClientsChargeEverySpanOnce) {
  Start();
  constexpr int kThreads = 4;
  constexpr int kBatches = 5;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto stub = collector::TraceService::NewStub(Channel(GRPC_COMPRESS_NONE));
      for (int b = 0; b < kBatches; ++b) {
        // Every thread sends every batch: each distinct span is charged once in total.
        std::vector<SpanData> spans;
        for (int i = 0; i < 3; ++i) spans.push_back(ChatSpan(static_cast<uint8_t>(b * 3 + i)));
        collector::ExportTraceServiceResponse response;
        if (!Export(Request(spans), &response, stub.get()).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  Money expected;
  for (int i = 0; i < kBatches * 3; ++i) expected += CostOf(1000);
  EXPECT_EQ(h_.TotalSpent(), expected);
  EXPECT_EQ(server_->stats().ok, uint64_t{kThreads * kBatches});
}

TEST_F(OtlpGrpcTest, ShutdownWithACallInFlightWaitsForItsTask) {
  auto gate_pool = std::make_unique<WorkerPool>(WorkerPoolOptions{.threads = 1, .name = "gate"});
  GatedExecutor gate(gate_pool.get());
  // Whatever fails below, the held task is released before the server and pools shut down.
  struct OpenOnExit {
    GatedExecutor& gate;
    ~OpenOnExit() { gate.Open(); }
  } open_on_exit{gate};
  Start({.listen = "127.0.0.1:0"}, gate.executor());

  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  const std::string body = testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  grpc::Slice slice(body);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer receive;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, kExport, grpc::StubOptions(), &send, &receive,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  gate.WaitForTask();  // the call is in flight, its task held on the executor

  std::atomic<bool> shut_down{false};
  std::thread stopper([&] {
    server_->Shutdown(absl::ZeroDuration());
    shut_down = true;
  });
  // Zero grace: the call is cancelled while its task still waits, and the client is told so;
  // Shutdown() meanwhile waits for the task gRPC handed over.
  std::future<grpc::Status> status = done.get_future();
  const bool told = status.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  const bool returned_before_task = shut_down.load();
  gate.Open();
  stopper.join();
  EXPECT_TRUE(told) << "the client was not told of the shutdown";
  EXPECT_FALSE(returned_before_task);
  // gRPC ends the cancelled call with UNAVAILABLE, which OTLP exporters retry.
  EXPECT_EQ(status.get().error_code(), grpc::StatusCode::UNAVAILABLE);
  // Shutdown() returned after the task had run (its charge is there). It ran after the
  // cancellation: the charge is idempotent, so the client's retry charges nothing more.
  EXPECT_EQ(h_.TotalSpent(), CostOf(1000));
  EXPECT_EQ(h_.sink->spans().size(), 1u);
}

}  // namespace
}  // namespace genops::receiver
