#include "src/receiver/otlp_http_handler.h"

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/core/worker_pool.h"
#include "src/export/gzip.h"
#include "tests/receiver/receiver_test_util.h"

namespace genops::receiver {
namespace {

using telemetry::SpanData;
using testing::Harness;
using ::testing::HasSubstr;
using testing::MakeResource;
using testing::MakeSpan;
namespace collector = opentelemetry::proto::collector::trace::v1;

SpanData ChatSpan(uint8_t n, int64_t input = 1000) {
  return MakeSpan(n, "chat gpt-4o",
                  {{"gen_ai.provider.name", std::string("openai")},
                   {"gen_ai.request.model", std::string("gpt-4o")},
                   {"gen_ai.usage.input_tokens", input},
                   {"gen_ai.usage.output_tokens", int64_t{200}}});
}

// A receiver behind a real HttpServer on 127.0.0.1:0, work posted to a WorkerPool.
class OtlpHttpTest : public ::testing::Test {
 protected:
  void Start(OtlpHttpOptions options = {}, Executor executor = nullptr) {
    pool_ = std::make_unique<WorkerPool>(WorkerPoolOptions{.threads = 2, .name = "otlp-test"});
    if (!executor) {
      executor = [pool = pool_.get()](std::function<void()> task) {
        return pool->Post(std::move(task));
      };
    }
    std::shared_ptr<OtlpTraceReceiver> receiver = std::move(h_.receiver);
    http_ = std::make_shared<OtlpHttpReceiver>(receiver, std::move(executor), std::move(options));
    auto server =
        gateway::HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1}, http_->handler());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(10, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(5));
    if (pool_) pool_->Shutdown();
  }

  httplib::Result Post(const std::string& body, const std::string& type,
                       httplib::Headers headers = {}, const std::string& path = "/v1/traces") {
    return client_->Post(path, headers, body, type);
  }

  Harness h_;
  std::unique_ptr<WorkerPool> pool_;
  std::shared_ptr<OtlpHttpReceiver> http_;
  std::unique_ptr<gateway::HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(OtlpHttpTest, ProtobufSuccessAnswersAnEmptyExportResponse) {
  Start();
  auto r = Post(testing::ProtoBody({ChatSpan(1)}, MakeResource({})), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-protobuf");
  collector::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(r->body));
  EXPECT_FALSE(response.has_partial_success());
  EXPECT_GT(h_.TotalSpent(), Money());
  EXPECT_EQ(http_->stats().ok, 1u);
}

TEST_F(OtlpHttpTest, JsonSuccessAndPartialSuccessInBothEncodings) {
  Start();
  auto r =
      Post(testing::JsonBody({ChatSpan(1)}, MakeResource({})), "application/json; charset=utf-8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->body, "{}");

  const std::vector<SpanData> spans = {ChatSpan(2), ChatSpan(3, -7)};
  r = Post(testing::JsonBody(spans, MakeResource({})), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr(R"({"partialSuccess":{"rejectedSpans":"1","errorMessage":")"));
  EXPECT_THAT(r->body, HasSubstr("cannot be negative"));

  r = Post(testing::ProtoBody({ChatSpan(4), ChatSpan(5, -7)}, MakeResource({})),
           "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  collector::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(r->body));
  EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  EXPECT_THAT(response.partial_success().error_message(),
              HasSubstr("gen_ai.usage.input_tokens is -7"));
  EXPECT_EQ(http_->stats().partial, 2u);
  EXPECT_EQ(h_.sink->spans().size(), 3u);
}

TEST_F(OtlpHttpTest, GzipBodiesAreAccepted) {
  Start();
  auto gz = exporter::GzipCompress(testing::ProtoBody({ChatSpan(1)}, MakeResource({})));
  ASSERT_TRUE(gz.ok());
  auto r = Post(*gz, "application/x-protobuf", {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(h_.sink->spans().size(), 1u);
}

TEST_F(OtlpHttpTest, GzipBombIs413AndChargesNothing) {
  OtlpHttpOptions options;
  options.max_decompressed_bytes = 1 << 20;
  Start(options);
  // 64 MiB of zeros compress to ~64 KiB.
  auto bomb = exporter::GzipCompress(std::string(64 << 20, '\0'), 9);
  ASSERT_TRUE(bomb.ok());
  ASSERT_LT(bomb->size(), 1u << 20);
  auto r = Post(*bomb, "application/x-protobuf", {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(r->body, HasSubstr("exceeds the receiver's limit of 1048576 bytes"));
  // Corrupt gzip is a 400.
  r = Post("not gzip at all", "application/json", {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("\"code\":3"));
  EXPECT_EQ(h_.TotalSpent(), Money());
}

TEST_F(OtlpHttpTest, BadInputGetsAClear4xxAndChargesNothing) {
  OtlpHttpOptions options;
  options.max_body_bytes = 64 * 1024;
  Start(options);
  const std::string body = testing::ProtoBody({ChatSpan(1), ChatSpan(2)}, MakeResource({}));

  // Truncated protobuf: 400 with a google.rpc.Status saying where.
  auto r = Post(body.substr(0, body.size() / 2), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(r->body[0], '\x08');  // Status.code = ...
  EXPECT_EQ(r->body[1], '\x03');  // ... INVALID_ARGUMENT
  EXPECT_THAT(r->body, HasSubstr("truncated"));
  EXPECT_THAT(r->body, HasSubstr("resource_spans[0]"));

  // Invalid JSON: 400 with a JSON Status naming the byte.
  r = Post(R"({"resourceSpans":[)", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr(R"({"code":3,"message":"otlp json: invalid JSON at byte)"));

  // Wrong content type / encoding: 415.
  r = Post(body, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_THAT(r->body, HasSubstr("application/x-protobuf or application/json"));
  r = Post(body, "application/x-protobuf", {{"Content-Encoding", "br"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);

  // Over the body limit: 413.
  r = Post(std::string(100 * 1024, 'x'), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);

  // Absurd attribute sizes are refused by the decoder limits (400), not processed.
  SpanData huge = ChatSpan(3);
  huge.attributes.push_back({"gen_ai.prompt.0.content", std::string(5 << 20, 'p')});
  OtlpHttpOptions big;
  big.max_body_bytes = 16 << 20;
  auto http_big = std::make_shared<OtlpHttpReceiver>(
      std::shared_ptr<OtlpTraceReceiver>(&http_->receiver(), [](OtlpTraceReceiver*) {}), nullptr,
      big);
  gateway::HttpRequest request;
  request.method = "POST";
  request.path = "/v1/traces";
  request.headers.Add("Content-Type", "application/x-protobuf");
  request.body = testing::ProtoBody({huge}, MakeResource({}));
  gateway::HttpResponse resp = http_big->HandleSync(request);
  EXPECT_EQ(resp.status, 400);
  EXPECT_THAT(resp.body, HasSubstr("exceeds the limit of 4194304 bytes"));
  EXPECT_THAT(resp.body, HasSubstr("gen_ai.prompt.0.content"));

  // Other methods and paths.
  auto g = client_->Get("/v1/traces");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 405);
  EXPECT_EQ(g->get_header_value("Allow"), "POST");
  r = Post(body, "application/x-protobuf", {}, "/v1/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_TRUE(h_.sink->spans().empty());
  const OtlpHttpStats stats = http_->stats();
  EXPECT_EQ(stats.bad_request, 2u);
  EXPECT_EQ(stats.unsupported_media, 2u);
  EXPECT_EQ(stats.too_large, 1u);
  EXPECT_EQ(stats.not_found, 2u);
}

TEST_F(OtlpHttpTest, RedeliveryOverHttpChargesOnce) {
  Start();
  const std::string body = testing::ProtoBody({ChatSpan(1), ChatSpan(2)}, MakeResource({}));
  ASSERT_EQ(Post(body, "application/x-protobuf")->status, 200);
  const Money once = h_.TotalSpent();
  ASSERT_EQ(Post(body, "application/x-protobuf")->status, 200);
  EXPECT_EQ(h_.TotalSpent(), once);
  EXPECT_EQ(once, h_.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200}) +
                      h_.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200}));
}

TEST_F(OtlpHttpTest, AFullExecutorAnswers503WithRetryAfter) {
  Start({}, [](std::function<void()>) { return false; });
  auto r = Post(testing::ProtoBody({ChatSpan(1)}, MakeResource({})), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(h_.TotalSpent(), Money());
  EXPECT_EQ(http_->stats().unavailable, 1u);
}

TEST_F(OtlpHttpTest, ConcurrentClientsAreAllCharged) {
  Start();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_->port());
      for (int k = 0; k < 10; ++k) {
        const uint8_t n = static_cast<uint8_t>(t * 10 + k + 1);
        auto r = client.Post("/v1/traces", testing::ProtoBody({ChatSpan(n)}, MakeResource({})),
                             "application/x-protobuf");
        if (r && r->status == 200) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  const Money one = h_.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200});
  EXPECT_EQ(h_.TotalSpent(), Money::FromNanos(one.nanos() * 40));
}

}  // namespace
}  // namespace genops::receiver
