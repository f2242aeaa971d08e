// Alerts: the JSON body, the dispatcher, and the webhook sink against a loopback server.
#include "src/core/alerts.h"

#include <httplib.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/export/http_transport.h"

namespace genops {
namespace {

constexpr int64_t kFiveSeconds = 5'000'000'000LL;

Alert SampleAlert() {
  Alert a;
  a.kind = AlertKind::kBudgetThreshold;
  a.severity = "warning";
  a.message = "budget 'daily' reached 80%";
  a.operation_id = "op-42";
  a.attribution.team = "ml";
  a.attribution.customer_id = "acme";
  a.attribution.tags["tier"] = "gold";
  a.budget_name = "daily";
  a.threshold = 0.8;
  a.utilization = 0.83;
  a.amount = Money::FromNanos(12'500'000);          // $0.0125
  a.time_unix_nanos = 1'772'625'600'000'000'006LL;  // 2026-03-04T12:00:00.000000006Z
  return a;
}

TEST(AlertsTest, KindNames) {
  EXPECT_EQ(AlertKindName(AlertKind::kOperationCost), "operation_cost");
  EXPECT_EQ(AlertKindName(AlertKind::kBudgetThreshold), "budget_threshold");
  EXPECT_EQ(AlertKindName(AlertKind::kPolicyViolation), "policy_violation");
  EXPECT_EQ(AlertKindName(AlertKind::kAnomaly), "anomaly");
  EXPECT_EQ(AlertKindName(AlertKind::kLedgerUnavailable), "ledger_unavailable");
}

void ExpectSampleJson(const nlohmann::json& j) {
  EXPECT_EQ(j.at("kind"), "budget_threshold");
  EXPECT_EQ(j.at("severity"), "warning");
  EXPECT_EQ(j.at("message"), "budget 'daily' reached 80%");
  EXPECT_EQ(j.at("operation_id"), "op-42");
  EXPECT_EQ(j.at("attribution").at("team"), "ml");
  EXPECT_EQ(j.at("attribution").at("customer_id"), "acme");
  EXPECT_EQ(j.at("attribution").at("tags").at("tier"), "gold");
  EXPECT_FALSE(j.at("attribution").contains("project"));  // empty dimensions are left out
  EXPECT_EQ(j.at("budget"), "daily");
  EXPECT_DOUBLE_EQ(j.at("threshold").get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(j.at("utilization").get<double>(), 0.83);
  EXPECT_DOUBLE_EQ(j.at("amount_usd").get<double>(), 0.0125);
  EXPECT_EQ(j.at("time"), "2026-03-04T12:00:00.000000006Z");
}

TEST(AlertsTest, JsonBodyHasEveryField) {
  ExpectSampleJson(nlohmann::json::parse(AlertToJson(SampleAlert())));
}

TEST(AlertsTest, JsonSurvivesInvalidUtf8) {
  Alert a = SampleAlert();
  a.message = "model \xff\xfe";
  auto j = nlohmann::json::parse(AlertToJson(a));
  EXPECT_TRUE(j.at("message").get<std::string>().starts_with("model "));
}

TEST(AlertsTest, LogLineNamesKindBudgetAndAmount) {
  EXPECT_EQ(FormatAlertLine(SampleAlert()),
            "[warning] budget_threshold budget=daily operation=op-42 amount_usd=0.0125: "
            "budget 'daily' reached 80%");
}

TEST(AlertsTest, DispatcherFansOutToEverySink) {
  AlertDispatcher dispatcher;
  auto a = std::make_shared<RecordingAlertSink>();
  auto b = std::make_shared<RecordingAlertSink>();
  dispatcher.AddSink(a);
  dispatcher.AddSink(b);
  dispatcher.AddSink(nullptr);  // ignored
  dispatcher.Dispatch(SampleAlert());
  dispatcher.Dispatch(SampleAlert());
  EXPECT_EQ(dispatcher.dispatched(), 2);
  ASSERT_EQ(a->alerts().size(), 2u);
  EXPECT_EQ(b->alerts().size(), 2u);
  EXPECT_EQ(a->alerts()[0].operation_id, "op-42");
}

TEST(AlertsTest, RecordingSinkIsBounded) {
  RecordingAlertSink sink(2);
  for (int i = 0; i < 5; ++i) {
    Alert a = SampleAlert();
    a.operation_id = std::to_string(i);
    sink.Deliver(a);
  }
  auto kept = sink.alerts();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].operation_id, "3");
  EXPECT_EQ(kept[1].operation_id, "4");
}

TEST(AlertsTest, WebhookUrlValidation) {
  EXPECT_TRUE(WebhookAlertSink::ValidateUrl("https://hooks.example.com/x").ok());
  EXPECT_TRUE(WebhookAlertSink::ValidateUrl("http://127.0.0.1:9/x").ok());
  EXPECT_FALSE(WebhookAlertSink::ValidateUrl("ftp://example.com").ok());
  EXPECT_FALSE(WebhookAlertSink::ValidateUrl("https://").ok());
  EXPECT_FALSE(WebhookAlertSink::ValidateUrl("https://exa mple.com").ok());
  absl::Status s = WebhookAlertSink::ValidateUrl("hooks.example.com");
  EXPECT_NE(s.message().find("hooks.example.com"), std::string::npos);
}

// A loopback HTTP server recording POSTed bodies; `status` is what it answers.
class WebhookServer {
 public:
  explicit WebhookServer(int status = 200) : status_(status) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock<std::mutex> lock(mu_);
      bodies_.push_back(req.body);
      content_types_.push_back(req.get_header_value("Content-Type"));
      auth_.push_back(req.get_header_value("Authorization"));
      ++hits_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return !hold_; });
      res.status = status_;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // The socket already listens: connections queue until the accept loop starts.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebhookServer() {
    Release();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  bool WaitForHits(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return hits_ >= n; });
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::vector<std::string> content_types() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_types_;
  }
  std::vector<std::string> auth() {
    std::lock_guard<std::mutex> lock(mu_);
    return auth_;
  }
  int hits() {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }

 private:
  const int status_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> bodies_;
  std::vector<std::string> content_types_;
  std::vector<std::string> auth_;
  int hits_ = 0;
  bool hold_ = false;
};

TEST(WebhookAlertSinkTest, PostsTheAlertAsJson) {
  WebhookServer server;
  WebhookAlertOptions options;
  options.headers["Authorization"] = "Bearer secret";
  WebhookAlertSink sink({server.url()}, options);
  sink.Deliver(SampleAlert());
  ASSERT_TRUE(sink.Flush(kFiveSeconds));
  ASSERT_EQ(server.bodies().size(), 1u);
  ExpectSampleJson(nlohmann::json::parse(server.bodies()[0]));
  EXPECT_EQ(server.content_types()[0], "application/json");
  EXPECT_EQ(server.auth()[0], "Bearer secret");
  const auto stats = sink.stats();
  EXPECT_EQ(stats.enqueued, 1);
  EXPECT_EQ(stats.delivered, 1);
  EXPECT_EQ(stats.failed, 0);
  EXPECT_EQ(stats.dropped, 0);
}

TEST(WebhookAlertSinkTest, PostsToEveryUrlThroughTheDispatcher) {
  WebhookServer first;
  WebhookServer second;
  auto sink =
      std::make_shared<WebhookAlertSink>(std::vector<std::string>{first.url(), second.url()});
  AlertDispatcher dispatcher;
  dispatcher.AddSink(sink);
  for (int i = 0; i < 3; ++i) dispatcher.Dispatch(SampleAlert());
  ASSERT_TRUE(sink->Flush(kFiveSeconds));
  EXPECT_EQ(first.bodies().size(), 3u);
  EXPECT_EQ(second.bodies().size(), 3u);
  EXPECT_EQ(sink->stats().delivered, 6);
}

TEST(WebhookAlertSinkTest, FailuresAreRetriedThenCounted) {
  WebhookServer server(500);
  WebhookAlertOptions options;
  options.max_attempts = 2;
  WebhookAlertSink sink({server.url()}, options);
  sink.Deliver(SampleAlert());
  ASSERT_TRUE(sink.Flush(kFiveSeconds));
  EXPECT_EQ(server.hits(), 2);
  EXPECT_EQ(sink.stats().failed, 1);
  EXPECT_EQ(sink.stats().delivered, 0);
}

TEST(WebhookAlertSinkTest, ClientErrorsAreNotRetried) {
  WebhookServer server(400);
  WebhookAlertOptions options;
  options.max_attempts = 3;
  WebhookAlertSink sink({server.url()}, options);
  sink.Deliver(SampleAlert());
  ASSERT_TRUE(sink.Flush(kFiveSeconds));
  EXPECT_EQ(server.hits(), 1);
  EXPECT_EQ(sink.stats().failed, 1);
}

TEST(WebhookAlertSinkTest, AFullQueueDropsAndCounts) {
  WebhookServer server;
  server.Hold();  // the first POST hangs until released
  WebhookAlertOptions options;
  options.queue_capacity = 2;
  WebhookAlertSink sink({server.url()}, options);
  sink.Deliver(SampleAlert());
  ASSERT_TRUE(server.WaitForHits(1));  // the worker is now busy with it
  for (int i = 0; i < 5; ++i) sink.Deliver(SampleAlert());
  EXPECT_EQ(sink.stats().dropped, 3);
  EXPECT_EQ(sink.stats().enqueued, 3);
  server.Release();
  ASSERT_TRUE(sink.Flush(kFiveSeconds));
  EXPECT_EQ(sink.stats().delivered, 3);
  EXPECT_EQ(server.bodies().size(), 3u);
}

TEST(WebhookAlertSinkTest, UnreachableEndpointFailsWithoutBlockingTheCaller) {
  // Port 1 on loopback refuses connections.
  WebhookAlertOptions options;
  options.max_attempts = 1;
  WebhookAlertSink sink({"http://127.0.0.1:1/hook"}, options);
  sink.Deliver(SampleAlert());
  ASSERT_TRUE(sink.Flush(kFiveSeconds));
  EXPECT_EQ(sink.stats().failed, 1);
}

TEST(WebhookAlertSinkTest, DeliverAfterShutdownIsCountedAsDropped) {
  WebhookServer server;
  WebhookAlertSink sink({server.url()});
  sink.Deliver(SampleAlert());
  sink.Shutdown();  // drains what was queued
  EXPECT_EQ(sink.stats().delivered, 1);
  sink.Deliver(SampleAlert());
  EXPECT_EQ(sink.stats().dropped, 1);
  EXPECT_EQ(server.bodies().size(), 1u);
}

// A transport answering from a script, recording what it was asked.
class ScriptedTransport final : public exporter::HttpTransport {
 public:
  explicit ScriptedTransport(std::vector<exporter::HttpResponse> script)
      : script_(std::move(script)) {}
  exporter::HttpResponse Post(const exporter::HttpRequest& request) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (next_ < script_.size()) return script_[next_++];
    exporter::HttpResponse ok;
    ok.status = 204;
    return ok;
  }
  std::vector<exporter::HttpRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<exporter::HttpResponse> script_;
  size_t next_ = 0;
  std::vector<exporter::HttpRequest> requests_;
};

TEST(WebhookAlertSinkTest, RetriesNetworkErrorsAnd503ThroughTheTransport) {
  exporter::HttpResponse down;
  down.transport_error = "connection refused";
  exporter::HttpResponse busy;
  busy.status = 503;
  auto transport =
      std::make_shared<ScriptedTransport>(std::vector<exporter::HttpResponse>{down, busy});
  WebhookAlertOptions options;
  options.max_attempts = 3;
  options.request_timeout_nanos = 2'000'000'000;
  WebhookAlertSink sink({"https://hooks.example.com/genops"}, options, transport);
  sink.Deliver(SampleAlert());
  ASSERT_TRUE(sink.Flush(kFiveSeconds));
  const auto requests = transport->requests();
  ASSERT_EQ(requests.size(), 3u);  // two failures, then 204
  EXPECT_EQ(requests[2].url, "https://hooks.example.com/genops");
  EXPECT_EQ(requests[2].timeout, std::chrono::milliseconds(2000));
  ExpectSampleJson(nlohmann::json::parse(requests[2].body));
  EXPECT_EQ(sink.stats().delivered, 1);
  EXPECT_EQ(sink.stats().failed, 0);
}

}  // namespace
}  // namespace genops
