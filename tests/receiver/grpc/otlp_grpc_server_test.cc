// OTLP/gRPC receiver tests. Built only when gRPC is available (see src/receiver/grpc/).
#include "src/receiver/grpc/otlp_grpc_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/core/worker_pool.h"
#include "tests/receiver/receiver_test_util.h"

namespace genops::receiver {
namespace {

using telemetry::SpanData;
using testing::Harness;
using ::testing::HasSubstr;
using testing::MakeResource;
using testing::MakeSpan;

constexpr char kExport[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

SpanData ChatSpan(uint8_t n, int64_t input = 1000) {
  return MakeSpan(n, "chat gpt-4o",
                  {{"gen_ai.provider.name", std::string("openai")},
                   {"gen_ai.request.model", std::string("gpt-4o")},
                   {"gen_ai.usage.input_tokens", input},
                   {"gen_ai.usage.output_tokens", int64_t{200}}});
}

class OtlpGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<WorkerPool>(WorkerPoolOptions{.threads = 2, .name = "grpc-test"});
    std::shared_ptr<OtlpTraceReceiver> receiver = std::move(h_.receiver);
    auto server = OtlpGrpcServer::Start(
        {.listen = "127.0.0.1:0"}, receiver,
        [pool = pool_.get()](std::function<void()> task) { return pool->Post(std::move(task)); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(5));
    if (pool_) pool_->Shutdown();
  }

  // A unary call with raw bytes; returns the status and fills *response.
  grpc::Status Call(const std::string& method, const std::string& request, std::string* response,
                    bool gzip = false) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    grpc::Slice slice(request);
    grpc::ByteBuffer send(&slice, 1);
    grpc::ByteBuffer receive;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &send, &receive,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status status = done.get_future().get();
    std::vector<grpc::Slice> slices;
    response->clear();
    if (status.ok() && receive.Dump(&slices).ok()) {
      for (const auto& s : slices)
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return status;
  }

  Harness h_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<OtlpGrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(OtlpGrpcTest, ExportChargesOnceAndAnswersPartialSuccess) {
  const std::string body = testing::ProtoBody({ChatSpan(1), ChatSpan(2, -3)}, MakeResource({}));
  std::string response;
  grpc::Status s = Call(kExport, body, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(response));
  EXPECT_EQ(parsed.partial_success().rejected_spans(), 1);
  EXPECT_THAT(parsed.partial_success().error_message(), HasSubstr("cannot be negative"));
  const Money once = h_.TotalSpent();
  EXPECT_EQ(once, h_.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200}));
  // Redelivered, gzip-compressed this time: charged once.
  ASSERT_TRUE(Call(kExport, body, &response, /*gzip=*/true).ok());
  EXPECT_EQ(h_.TotalSpent(), once);
  EXPECT_EQ(server_->stats().partial, 2u);
}

TEST_F(OtlpGrpcTest, BadRequestsAndOtherMethods) {
  const std::string body = testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  std::string response;
  grpc::Status s = Call(kExport, body.substr(0, body.size() - 5), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("truncated"));
  s = Call("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", body, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_EQ(server_->stats().invalid, 1u);
  EXPECT_EQ(server_->stats().unimplemented, 1u);
}

}  // namespace
}  // namespace genops::receiver
