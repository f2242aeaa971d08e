#include "src/export/otlp_http_exporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/gzip.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "tests/export/span_fixtures.h"
#include "tests/support/fake_collector.h"

namespace genops::exporter {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kSecond = kNanosPerSecond;

// A transport answering from per-URL scripts; records every request.
class ScriptedTransport final : public HttpTransport {
 public:
  void Enqueue(const std::string& url, HttpResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    queues_[url].push_back(std::move(response));
  }
  // Answer used for `url` when its queue is empty (default: 200, empty body).
  void SetDefault(const std::string& url, HttpResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    defaults_[url] = std::move(response);
  }
  HttpResponse Post(const HttpRequest& request) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    auto& queue = queues_[request.url];
    if (!queue.empty()) {
      HttpResponse response = std::move(queue.front());
      queue.pop_front();
      return response;
    }
    if (auto it = defaults_.find(request.url); it != defaults_.end()) return it->second;
    HttpResponse ok;
    ok.status = 200;
    return ok;
  }
  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<std::string> urls() const {
    std::vector<std::string> out;
    for (const HttpRequest& request : requests()) out.push_back(request.url);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::deque<HttpResponse>> queues_;
  std::map<std::string, HttpResponse> defaults_;
  std::vector<HttpRequest> requests_;
};

// A manual clock that also records every sleep it was asked for.
class RecordingClock final : public Clock {
 public:
  int64_t NowUnixNanos() const override { return inner_.NowUnixNanos(); }
  int64_t MonotonicNanos() const override { return inner_.MonotonicNanos(); }
  void SleepNanos(int64_t nanos) const override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sleeps_.push_back(nanos);
    }
    inner_.Advance(nanos);
  }
  void Advance(int64_t nanos) const { inner_.Advance(nanos); }
  std::vector<int64_t> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  ManualClock inner_;  // starts at 2023-11-14T22:13:20Z
  mutable std::mutex mu_;
  mutable std::vector<int64_t> sleeps_;
};

HttpResponse Status(int status, std::string retry_after = "", std::string body = "") {
  HttpResponse response;
  response.status = status;
  if (!retry_after.empty()) response.headers.emplace_back("retry-after", std::move(retry_after));
  response.body = std::move(body);
  return response;
}

HttpResponse NetworkError() {
  HttpResponse response;
  response.transport_error = "Couldn't connect to server";
  return response;
}

constexpr char kPrimary[] = "https://primary.example/v1/traces";
constexpr char kSecondary[] = "https://secondary.example/v1/traces";

class OtlpHttpExporterTest : public ::testing::Test {
 protected:
  OtlpHttpExporterTest() : spans_(genops::testing::MakeGenOpsBatch(5)) {
    options_.endpoint = kPrimary;
    options_.compression = OtlpExporterOptions::Compression::kNone;
  }

  std::unique_ptr<OtlpHttpExporter> Make() {
    auto exporter =
        OtlpHttpExporter::Create(options_, genops::testing::MakeResource(), transport_, &clock_);
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    return exporter.ok() ? *std::move(exporter) : nullptr;
  }

  OtlpExporterOptions options_;
  std::shared_ptr<ScriptedTransport> transport_ = std::make_shared<ScriptedTransport>();
  RecordingClock clock_;
  std::vector<telemetry::SpanData> spans_;
};

TEST_F(OtlpHttpExporterTest, SendsProtobufWithConfiguredHeaders) {
  options_.headers["x-api-key"] = "secret";
  options_.compression = OtlpExporterOptions::Compression::kGzip;
  auto exporter = Make();
  ASSERT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const HttpRequest& request = requests[0];
  EXPECT_EQ(request.url, kPrimary);
  EXPECT_THAT(request.headers,
              ::testing::Contains(std::make_pair(std::string("Content-Type"),
                                                 std::string("application/x-protobuf"))));
  EXPECT_THAT(request.headers, ::testing::Contains(std::make_pair(std::string("Content-Encoding"),
                                                                  std::string("gzip"))));
  EXPECT_THAT(request.headers,
              ::testing::Contains(std::make_pair(std::string("x-api-key"), std::string("secret"))));
  // The body on the wire is gzip (magic 1f 8b) of exactly the encoder's output.
  ASSERT_GE(request.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(request.body[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(request.body[1]), 0x8b);
  auto plain = GzipDecompress(request.body);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, EncodeOtlpProto(spans_, genops::testing::MakeResource()));
  EXPECT_LE(request.timeout, options_.timeout);
  EXPECT_EQ(exporter->stats().exported_spans, 5u);
  EXPECT_EQ(exporter->stats().failed_spans, 0u);
}

TEST_F(OtlpHttpExporterTest, SendsJsonWhenConfigured) {
  options_.protocol = OtlpExporterOptions::Protocol::kHttpJson;
  auto exporter = Make();
  ASSERT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  const HttpRequest request = transport_->requests().at(0);
  EXPECT_THAT(request.headers, ::testing::Contains(std::make_pair(
                                   std::string("Content-Type"), std::string("application/json"))));
  EXPECT_EQ(request.body, EncodeOtlpJson(spans_, genops::testing::MakeResource()));
  EXPECT_EQ(exporter->name(), "otlp_http_json");
}

TEST_F(OtlpHttpExporterTest, RetriesOn503ThenSucceeds) {
  transport_->Enqueue(kPrimary, Status(503));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(transport_->requests().size(), 2u);
  const ExporterStats stats = exporter->stats();
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.exported_spans, 5u);
  EXPECT_EQ(stats.failed_spans, 0u);
  // Full jitter: the first back-off is uniform in [0, initial_backoff].
  ASSERT_EQ(clock_.sleeps().size(), 1u);
  EXPECT_GE(clock_.sleeps()[0], 0);
  EXPECT_LE(clock_.sleeps()[0], 1 * kSecond);
}

TEST_F(OtlpHttpExporterTest, RetriesEveryRetryableFailureKind) {
  for (const HttpResponse& failure :
       {Status(429), Status(502), Status(503), Status(504), NetworkError()}) {
    transport_ = std::make_shared<ScriptedTransport>();
    transport_->Enqueue(kPrimary, failure);
    auto exporter = Make();
    EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess) << failure.status;
    EXPECT_EQ(transport_->requests().size(), 2u) << failure.status;
  }
}

TEST_F(OtlpHttpExporterTest, HonoursRetryAfterSeconds) {
  transport_->Enqueue(kPrimary, Status(429, "2"));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_THAT(clock_.sleeps(), ElementsAre(2 * kSecond));
}

TEST_F(OtlpHttpExporterTest, HonoursRetryAfterHttpDate) {
  // The clock reads 2023-11-14T22:13:20Z (a Tuesday); the server asks for 22:13:23.
  transport_->Enqueue(kPrimary, Status(503, "Tue, 14 Nov 2023 22:13:23 GMT"));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_THAT(clock_.sleeps(), ElementsAre(3 * kSecond));
}

TEST_F(OtlpHttpExporterTest, RetryAfterBeyondTheTimeoutIsNotAwaited) {
  options_.timeout = std::chrono::seconds(5);
  transport_->Enqueue(kPrimary, Status(503, "60"));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(transport_->requests().size(), 1u);
  EXPECT_EQ(exporter->stats().failed_spans, 5u);
}

TEST_F(OtlpHttpExporterTest, DoesNotRetryOn400AndReportsTheBody) {
  transport_->SetDefault(kPrimary, Status(400, "", R"({"error":"invalid span: empty name"})"));
  options_.circuit_breaker_threshold = 2;
  auto exporter = Make();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 3u);  // one per export: never retried
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_THAT(exporter->last_error(), HasSubstr("HTTP 400"));
  EXPECT_THAT(exporter->last_error(), HasSubstr("invalid span: empty name"));
  EXPECT_EQ(exporter->stats().failed_spans, 15u);
  EXPECT_EQ(exporter->stats().retries, 0u);
  // A 4xx means the endpoint is up: the breaker stays closed.
  EXPECT_EQ(exporter->breaker_state(0), CircuitBreaker::State::kClosed);
}

TEST_F(OtlpHttpExporterTest, DoesNotRetryOn500) {
  transport_->Enqueue(kPrimary, Status(500));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 1u);
}

TEST_F(OtlpHttpExporterTest, GivesUpAfterRetryAttempts) {
  options_.retry_attempts = 2;
  transport_->SetDefault(kPrimary, Status(503));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 3u);  // 1 + retry_attempts
  EXPECT_EQ(exporter->stats().retries, 2u);
  EXPECT_EQ(exporter->stats().failed_spans, 5u);
}

TEST_F(OtlpHttpExporterTest, BackoffGrowsWithinItsCapAndTheDeadlineBoundsTheExport) {
  options_.retry_attempts = 100;
  options_.initial_backoff = std::chrono::milliseconds(1000);
  options_.max_backoff = std::chrono::milliseconds(3000);
  options_.timeout = std::chrono::seconds(20);
  transport_->SetDefault(kPrimary, Status(503));
  auto exporter = Make();
  const int64_t start = clock_.MonotonicNanos();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_LE(clock_.MonotonicNanos() - start, 20 * kSecond);
  const auto sleeps = clock_.sleeps();
  ASSERT_GE(sleeps.size(), 6u);  // mean wait <= 1.5 s, so a 20 s budget allows many retries
  EXPECT_LE(sleeps[0], 1 * kSecond);
  EXPECT_LE(sleeps[1], 1500 * kNanosPerMilli);
  for (int64_t sleep : sleeps) EXPECT_LE(sleep, 3 * kSecond);
  EXPECT_EQ(transport_->requests().size(), sleeps.size() + 1);
}

TEST_F(OtlpHttpExporterTest, BreakerOpensAfterThresholdAndHalfOpensAfterTimeout) {
  options_.retry_attempts = 0;
  options_.circuit_breaker_threshold = 3;
  options_.circuit_breaker_timeout = std::chrono::seconds(60);
  transport_->SetDefault(kPrimary, Status(503));
  auto exporter = Make();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(exporter->stats().breaker_opens, 1u);
  EXPECT_EQ(exporter->breaker_state(0), CircuitBreaker::State::kOpen);
  EXPECT_EQ(transport_->requests().size(), 3u);

  // Open: the batch fails at once without a request.
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 3u);
  EXPECT_THAT(exporter->last_error(), HasSubstr("circuit breaker"));
  clock_.Advance(59 * kSecond);
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 3u);

  // After the timeout one trial goes through; its failure re-opens the breaker at once.
  clock_.Advance(1 * kSecond);
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 4u);
  EXPECT_EQ(exporter->stats().breaker_opens, 2u);
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_EQ(transport_->requests().size(), 4u);

  // Next trial succeeds: closed again, traffic flows.
  clock_.Advance(60 * kSecond);
  transport_->SetDefault(kPrimary, Status(200));
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(exporter->breaker_state(0), CircuitBreaker::State::kClosed);
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(transport_->requests().size(), 6u);
  EXPECT_EQ(exporter->stats().failed_spans, 35u);  // 7 failed exports x 5 spans
  EXPECT_EQ(exporter->stats().exported_spans, 10u);
}

TEST_F(OtlpHttpExporterTest, FailsOverToTheNextEndpointAndStaysThere) {
  options_.failover_endpoints = {kSecondary};
  options_.retry_attempts = 1;
  options_.health_check_interval = std::chrono::seconds(30);
  transport_->SetDefault(kPrimary, NetworkError());
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_THAT(transport_->urls(), ElementsAre(kPrimary, kPrimary, kSecondary));
  EXPECT_EQ(exporter->stats().failovers, 1u);
  EXPECT_EQ(exporter->active_endpoint(), 1u);

  // Sticky: the next export goes straight to the secondary.
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(transport_->urls().back(), kSecondary);
  EXPECT_EQ(transport_->requests().size(), 4u);

  // After the health-check interval the primary is probed first; healthy again -> fail back.
  clock_.Advance(31 * kSecond);
  transport_->SetDefault(kPrimary, Status(200));
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(transport_->urls().back(), kPrimary);
  EXPECT_EQ(exporter->active_endpoint(), 0u);
  EXPECT_EQ(exporter->stats().exported_spans, 15u);
}

TEST_F(OtlpHttpExporterTest, FailedHealthCheckFallsThroughToTheActiveEndpoint) {
  options_.failover_endpoints = {kSecondary};
  options_.retry_attempts = 0;
  transport_->SetDefault(kPrimary, Status(503));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);  // primary, then secondary
  clock_.Advance(31 * kSecond);
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);  // probe primary, secondary
  EXPECT_THAT(transport_->urls(), ElementsAre(kPrimary, kSecondary, kPrimary, kSecondary));
  EXPECT_EQ(exporter->active_endpoint(), 1u);
}

TEST_F(OtlpHttpExporterTest, OpenBreakerRoutesToFailoverWithoutTouchingThePrimary) {
  options_.failover_endpoints = {kSecondary};
  options_.retry_attempts = 0;
  options_.circuit_breaker_threshold = 1;
  options_.health_check_interval = std::chrono::seconds(0);  // probe the primary every export
  transport_->SetDefault(kPrimary, Status(502));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(exporter->breaker_state(0), CircuitBreaker::State::kOpen);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_THAT(transport_->urls(),
              ElementsAre(kPrimary, kSecondary, kSecondary, kSecondary, kSecondary));
}

TEST_F(OtlpHttpExporterTest, AllEndpointsDownFailsTheBatch) {
  options_.failover_endpoints = {kSecondary};
  options_.retry_attempts = 0;
  transport_->SetDefault(kPrimary, NetworkError());
  transport_->SetDefault(kSecondary, Status(504));
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_THAT(transport_->urls(), ElementsAre(kPrimary, kSecondary));
  EXPECT_EQ(exporter->stats().failed_spans, 5u);
  EXPECT_THAT(exporter->last_error(), HasSubstr("504"));
}

TEST_F(OtlpHttpExporterTest, PartialSuccessCountsRejectedSpans) {
  ExportTraceServiceResponse partial;
  partial.mutable_partial_success()->set_rejected_spans(2);
  partial.mutable_partial_success()->set_error_message("2 spans had no name");
  HttpResponse response = Status(200, "", partial.SerializeAsString());
  response.headers.emplace_back("content-type", "application/x-protobuf");
  transport_->Enqueue(kPrimary, response);
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(exporter->stats().rejected_spans, 2u);
  EXPECT_EQ(exporter->stats().exported_spans, 3u);
  EXPECT_EQ(transport_->requests().size(), 1u);  // never retried
}

TEST_F(OtlpHttpExporterTest, PartialSuccessInJson) {
  options_.protocol = OtlpExporterOptions::Protocol::kHttpJson;
  HttpResponse response =
      Status(200, "", R"({"partialSuccess":{"rejectedSpans":"4","errorMessage":"too old"}})");
  response.headers.emplace_back("content-type", "application/json");
  transport_->Enqueue(kPrimary, response);
  auto exporter = Make();
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kSuccess);
  EXPECT_EQ(exporter->stats().rejected_spans, 4u);
  EXPECT_EQ(exporter->stats().exported_spans, 1u);
}

TEST_F(OtlpHttpExporterTest, AfterShutdownExportFailsWithoutIo) {
  auto exporter = Make();
  EXPECT_TRUE(exporter->Shutdown(std::chrono::seconds(1)));
  EXPECT_EQ(exporter->Export(spans_), ExportResult::kFailure);
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(OtlpHttpExporterTest, CreateRejectsInvalidOptions) {
  options_.endpoint = "not a url";
  auto exporter =
      OtlpHttpExporter::Create(options_, genops::testing::MakeResource(), transport_, &clock_);
  ASSERT_FALSE(exporter.ok());
  EXPECT_THAT(std::string(exporter.status().message()), HasSubstr("not a url"));
}

TEST(ParseRetryAfterTest, SecondsAndDates) {
  const int64_t now = 1'700'000'000 * kSecond;  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_EQ(ParseRetryAfter("120", now), 120 * kSecond);
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), 0);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:14:20 GMT", now), 60 * kSecond);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);  // in the past
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", now), INT64_MAX);
}

// ---- Against a real HTTP server on loopback, through libcurl ------------------------------

TEST(OtlpHttpExporterNetworkTest, DeliversGzipProtobufWithHeadersToACollector) {
  genops::testing::FakeCollector collector;
  OtlpExporterOptions options;
  options.endpoint = collector.traces_url();
  options.headers["Authorization"] = "Bearer tl_key";
  options.compression = OtlpExporterOptions::Compression::kGzip;
  RecordingClock clock;
  auto exporter =
      OtlpHttpExporter::Create(options, genops::testing::MakeResource(), nullptr, &clock);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  const auto spans = genops::testing::MakeGenOpsBatch(20);
  ASSERT_EQ((*exporter)->Export(spans), ExportResult::kSuccess) << (*exporter)->last_error();

  const auto requests = collector.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/v1/traces");
  EXPECT_EQ(requests[0].Header("content-type"), "application/x-protobuf");
  EXPECT_EQ(requests[0].Header("content-encoding"), "gzip");
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer tl_key");
  ExportTraceServiceRequest received;
  ASSERT_TRUE(received.ParseFromString(requests[0].body));
  ASSERT_EQ(received.resource_spans_size(), 1);
  EXPECT_EQ(received.resource_spans(0).scope_spans(0).spans_size(), 20);
  EXPECT_EQ(requests[0].body, EncodeOtlpProto(spans, genops::testing::MakeResource()));
}

TEST(OtlpHttpExporterNetworkTest, RetriesAfterServerRetryAfter) {
  genops::testing::FakeCollector collector;
  genops::testing::ScriptedResponse busy;
  busy.status = 503;
  busy.retry_after = "1";
  busy.body = "overloaded";
  collector.Enqueue(busy);
  OtlpExporterOptions options;
  options.endpoint = collector.traces_url();
  options.protocol = OtlpExporterOptions::Protocol::kHttpJson;
  RecordingClock clock;
  auto exporter =
      OtlpHttpExporter::Create(options, genops::testing::MakeResource(), nullptr, &clock);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  const auto spans = genops::testing::MakeGenOpsBatch(3);
  EXPECT_EQ((*exporter)->Export(spans), ExportResult::kSuccess) << (*exporter)->last_error();
  EXPECT_THAT(clock.sleeps(), ElementsAre(1 * kSecond));
  const auto requests = collector.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].Header("content-type"), "application/json");
  const auto json = nlohmann::json::parse(requests[1].body);
  EXPECT_EQ(json["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 3u);
}

TEST(OtlpHttpExporterNetworkTest, FailsOverWhenThePrimaryRefusesConnections) {
  genops::testing::FakeCollector down;
  genops::testing::FakeCollector backup;  // bound first, so it cannot reuse down's port
  const std::string down_url = down.traces_url();
  down.Stop();  // the port now refuses connections
  OtlpExporterOptions options;
  options.endpoint = down_url;
  options.failover_endpoints = {backup.traces_url()};
  options.retry_attempts = 1;
  RecordingClock clock;
  auto exporter =
      OtlpHttpExporter::Create(options, genops::testing::MakeResource(), nullptr, &clock);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  const auto spans = genops::testing::MakeGenOpsBatch(2);
  EXPECT_EQ((*exporter)->Export(spans), ExportResult::kSuccess) << (*exporter)->last_error();
  EXPECT_EQ(backup.request_count(), 1u);
  EXPECT_EQ((*exporter)->stats().failovers, 1u);
  EXPECT_EQ((*exporter)->stats().retries, 1u);
  EXPECT_EQ((*exporter)->active_endpoint(), 1u);
}

}  // namespace
}  // namespace genops::exporter
