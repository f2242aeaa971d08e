// The `genops serve` daemon in-process: the OTLP receiver alone, the gateway alone, both over
// one ledger, their listeners, /metrics, and refusals of configurations that serve nothing.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/core/text.h"
#include "src/export/gzip.h"
#include "src/gateway/http_client.h"
#include "src/gateway/mock_upstream.h"
#include "src/ledger/ledger_factory.h"
#include "src/server/config_file.h"
#include "src/server/serve.h"

namespace genops::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// gpt-4o: 1000 input tokens at $2.50/M + 200 output tokens at $10/M = $0.0045.
constexpr int64_t kChatCostNanos = 4'500'000;

// One LLM span (new conventions) and one plain HTTP span, as OTLP/JSON.
std::string JsonBatch(const std::string& span_id) {
  return Cat(R"({"resourceSpans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"support-bot"}},
      {"key":"genops.customer_id","value":{"stringValue":"acme"}}]},
    "scopeSpans":[{"scope":{"name":"@traceloop/instrumentation-openai","version":"0.27.0"},
    "spans":[
     {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":")",
             span_id, R"(","name":"chat gpt-4o","kind":3,
      "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",
      "attributes":[{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
        {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
        {"key":"gen_ai.usage.input_tokens","value":{"intValue":"1000"}},
        {"key":"gen_ai.usage.output_tokens","value":{"intValue":"200"}},
        {"key":"traceloop.association.properties.team","value":{"stringValue":"search"}}]},
     {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"aaaaaaaaaaaaaaaa",
      "name":"GET /catalog","kind":2,
      "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000",
      "attributes":[{"key":"http.method","value":{"stringValue":"GET"}}]}]}]}]})");
}

// The same LLM call in the oldest attribute generation, as protobuf.
std::string ProtoBatch() {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("legacy-app");
  auto* span = rs->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\x22'));
  span->set_span_id(std::string(8, '\x33'));
  span->set_name("openai.chat");
  span->set_start_time_unix_nano(1'700'000'000'000'000'000);
  span->set_end_time_unix_nano(1'700'000'000'700'000'000);
  const auto add = [span](const char* key, auto value) {
    auto* a = span->add_attributes();
    a->set_key(key);
    if constexpr (std::is_same_v<decltype(value), const char*>) {
      a->mutable_value()->set_string_value(value);
    } else {
      a->mutable_value()->set_int_value(value);
    }
  };
  add("gen_ai.system", "OpenAI");
  add("gen_ai.request.model", "gpt-4o");
  add("gen_ai.usage.prompt_tokens", int64_t{1000});
  add("gen_ai.usage.completion_tokens", int64_t{200});
  add("llm.usage.total_tokens", int64_t{1200});
  return request.SerializeAsString();
}

// The value of the series `series` (name and labels as printed) in a Prometheus text, or -1.
int64_t MetricValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + series.size() + 2));
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           Cat("genops-daemon-", ::getpid(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto client = gateway::HttpClient::Create({});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  void TearDown() override {
    daemon_.reset();
    fs::remove_all(dir_);
  }

  std::string LedgerUrl() const { return Cat("sqlite://", (dir_ / "ledger.db").string()); }
  std::string SpansPath() const { return (dir_ / "spans.jsonl").string(); }

  // A configuration with the receiver on ephemeral ports, an SQLite ledger and a span file.
  std::string Yaml(const std::string& gateway, const std::string& extra = "") const {
    return Cat("governance:\n  team: platform\n  project: assistants\n", extra,
               "ledger:\n  url: ", LedgerUrl(), "\n", gateway,
               "receiver:\n  enabled: true\n  otlp_http_listen: 127.0.0.1:0\n"
               "  otlp_grpc_listen: 127.0.0.1:0\n",
               "export:\n  exporters: [file]\n  file: {path: ", SpansPath(), "}\n");
  }

  void Start(const std::string& yaml) {
    auto config = ParseConfigYaml(yaml, "test.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto daemon = Daemon::Start(*config, {});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }

  gateway::HttpClientResponse Send(
      const std::string& method, const std::string& url, const std::string& body = "",
      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    gateway::HttpClientRequest r;
    r.method = method;
    r.url = url;
    r.body = body;
    for (const auto& [k, v] : headers) r.headers.Set(k, v);
    auto response = client_->SendSync(std::move(r));
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : gateway::HttpClientResponse{};
  }

  std::string BaseUrl() const { return daemon_->otlp_http_base_url(); }

  // Stops the daemon (flushing spans and the operations log) and reads what it left behind.
  void Stop() {
    daemon_->Shutdown(absl::Seconds(5));
    daemon_.reset();
  }
  std::vector<OperationRecord> Operations() {
    auto ledger = ledger::OpenLedger(LedgerUrl(), {});
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    std::vector<OperationRecord> out;
    if (!ledger.ok()) return out;
    EXPECT_TRUE((*ledger)
                    ->ScanOperations({},
                                     [&out](const OperationRecord& r) {
                                       out.push_back(r);
                                       return true;
                                     })
                    .ok());
    return out;
  }
  std::vector<nlohmann::json> Spans() {
    std::vector<nlohmann::json> out;
    std::ifstream in(SpansPath());
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  static const nlohmann::json* Attribute(const nlohmann::json& span, const std::string& key) {
    for (const auto& a : span["attributes"]) {
      if (a["key"] == key) return &a["value"];
    }
    return nullptr;
  }

  fs::path dir_;
  std::unique_ptr<gateway::HttpClient> client_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, ReceiverPricesChargesOnceAndForwardsEverything) {
  Start(Yaml("gateway:\n  enabled: false\n"));
  EXPECT_EQ(daemon_->gateway_url(), "");
  EXPECT_THAT(daemon_->otlp_http_url(), ::testing::StartsWith("http://127.0.0.1:"));
  EXPECT_THAT(daemon_->otlp_grpc_address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(daemon_->otlp_grpc_address(), "127.0.0.1:0");

  // The client's exporter retries the same batch: it is charged once.
  for (int i = 0; i < 2; ++i) {
    auto r = Send("POST", daemon_->otlp_http_url(), JsonBatch("0102030405060708"),
                  {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "{}");
    EXPECT_EQ(r.headers.GetOr("content-type", ""), "application/json");
  }
  const std::string metrics = Send("GET", BaseUrl() + "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("genops_receiver_spans_received_total 4\n"));
  EXPECT_THAT(metrics, HasSubstr("genops_receiver_llm_spans_priced_total 2\n"));
  EXPECT_THAT(metrics, HasSubstr("genops_receiver_llm_spans_redelivered_total 1\n"));
  EXPECT_THAT(metrics, HasSubstr("genops_receiver_charged_usd_total 0.0045\n"));
  EXPECT_THAT(metrics, HasSubstr("genops_receiver_http_responses_total{result=\"ok\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE genops_export_spans_dropped_total counter\n"));
  EXPECT_EQ(Send("GET", BaseUrl() + "/health").status, 200);
  Stop();

  const std::vector<OperationRecord> ops = Operations();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].operation_id, "otlp-0102030405060708090a0b0c0d0e0f10-0102030405060708");
  EXPECT_EQ(ops[0].cost.nanos(), kChatCostNanos);
  // Association properties over resource attributes over the config's defaults.
  EXPECT_EQ(ops[0].attribution.team, "search");
  EXPECT_EQ(ops[0].attribution.customer_id, "acme");
  EXPECT_EQ(ops[0].attribution.project, "assistants");

  // Both deliveries were forwarded (at-least-once, like any collector), enriched.
  const std::vector<nlohmann::json> spans = Spans();
  ASSERT_EQ(spans.size(), 4u);
  int llm = 0;
  for (const auto& span : spans) {
    // The application's resource and scope travel with its spans, not GenOps' own.
    const nlohmann::json* service = Attribute(span["resource"], "service.name");
    ASSERT_NE(service, nullptr) << span.dump();
    EXPECT_EQ((*service)["stringValue"], "support-bot");
    EXPECT_EQ(span["scope"]["name"], "@traceloop/instrumentation-openai");
    EXPECT_EQ(span["scope"]["version"], "0.27.0");
    const nlohmann::json* cost = Attribute(span, "genops.cost.total_nanos");
    if (span["name"] == "chat gpt-4o") {
      ++llm;
      ASSERT_NE(cost, nullptr) << span.dump();
      EXPECT_EQ((*cost)["intValue"], std::to_string(kChatCostNanos));
    } else {
      EXPECT_EQ(cost, nullptr) << "a non-LLM span is passed through unchanged: " << span.dump();
      EXPECT_EQ(span["attributes"].size(), 1u) << span.dump();
    }
  }
  EXPECT_EQ(llm, 2);
}

TEST_F(DaemonTest, GzipProtobufInTheOldestConventionsIsPricedTheSame) {
  Start(Yaml("gateway:\n  enabled: false\n"));
  auto body = exporter::GzipCompress(ProtoBatch());
  ASSERT_TRUE(body.ok());
  auto r = Send("POST", daemon_->otlp_http_url(), *body,
                {{"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "gzip"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.GetOr("content-type", ""), "application/x-protobuf");
  EXPECT_EQ(r.body, "");  // an empty ExportTraceServiceResponse: nothing rejected

  // Undecodable and wrongly typed bodies are refused whole and charge nothing.
  auto bad = Send("POST", daemon_->otlp_http_url(), "\x0a\xff\xff",
                  {{"Content-Type", "application/x-protobuf"}});
  EXPECT_EQ(bad.status, 400);
  auto wrong_type = Send("POST", daemon_->otlp_http_url(), "{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_THAT(wrong_type.body, HasSubstr("application/x-protobuf"));
  Stop();

  const std::vector<OperationRecord> ops = Operations();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].cost.nanos(), kChatCostNanos);
  EXPECT_EQ(ops[0].attribution.team, "platform");  // the config's default
}

TEST_F(DaemonTest, GatewayAndReceiverChargeOneBudget) {
  auto mock = gateway::MockUpstream::Start({});
  ASSERT_TRUE(mock.ok());
  Start(Yaml(Cat("gateway:\n  listen: 127.0.0.1:0\n  providers:\n    openai: {base_url: \"",
                 (*mock)->base_url(), "\"}\n"),
             "budgets:\n  - {name: platform-day, scope: {team: platform}, limit_usd: 100, "
             "period: day}\n"));
  ASSERT_FALSE(daemon_->gateway_url().empty());
  auto chat = Send("POST", daemon_->gateway_url() + "/v1/chat/completions",
                   R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],)"
                   R"("max_tokens":16})",
                   {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-test"}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  // A span without association properties: the config's team, the same budget.
  std::string batch = JsonBatch("0202020202020202");
  const std::string association =
      R"(,
        {"key":"traceloop.association.properties.team","value":{"stringValue":"search"}})";
  batch.erase(batch.find(association), association.size());
  auto r = Send("POST", daemon_->otlp_http_url(), batch, {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string metrics = Send("GET", BaseUrl() + "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("genops_gateway_requests_total 1\n"));
  Stop();

  const std::vector<OperationRecord> ops = Operations();
  ASSERT_EQ(ops.size(), 2u);
  int64_t total = 0;
  for (const auto& op : ops) total += op.cost.nanos();
  auto ledger = ledger::OpenLedger(LedgerUrl(), {});
  ASSERT_TRUE(ledger.ok());
  // Charges land in the window of the daemon's clock (now), not of the span's timestamps.
  auto budgets = (*ledger)->ListBudgets(absl::ToUnixNanos(absl::Now()));
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  const ledger::BudgetStatus* platform = nullptr;
  for (const auto& b : *budgets) {
    if (b.spec->name == "platform-day") platform = &b;
  }
  ASSERT_NE(platform, nullptr);
  EXPECT_GT(total, kChatCostNanos);  // the gateway's call cost something too
  EXPECT_EQ(platform->spent.nanos(), total);
}

// A backend that accepts connections and never answers: receiving and charging go on at full
// speed, and what cannot be forwarded is dropped and counted, never queued without bound.
TEST_F(DaemonTest, AHungBackendDoesNotBlockReceivingAndDropsAreCounted) {
  const int backend = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(backend, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(backend, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(backend, 64), 0);  // never accepted: every export hangs until its timeout
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(backend, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string endpoint = Cat("http://127.0.0.1:", ntohs(addr.sin_port), "/v1/traces");

  std::string yaml = Yaml("gateway:\n  enabled: false\n");
  yaml.replace(yaml.find("export:\n"), std::string::npos,
               Cat("export:\n  exporters: [otlp]\n  otlp: {endpoint: \"", endpoint,
                   "\", timeout_ms: 300, retry_attempts: 0}\n  export_batch_size: 16\n"
                   "  span_processor_queue_size: 32\n  batch_timeout: 10\n"));
  Start(yaml);
  constexpr int kRequests = 60;
  for (int i = 0; i < kRequests; ++i) {
    char span_id[17];
    std::snprintf(span_id, sizeof(span_id), "%016x", i + 1);
    auto r = Send("POST", daemon_->otlp_http_url(), JsonBatch(span_id),
                  {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  const std::string metrics = Send("GET", BaseUrl() + "/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr(Cat("genops_receiver_spans_accepted_total ", 2 * kRequests, "\n")));
  EXPECT_GT(MetricValue(metrics, "genops_export_spans_dropped_total{reason=\"queue_full\"}"), 0)
      << metrics;
  Stop();
  ::close(backend);
  EXPECT_EQ(Operations().size(), static_cast<size_t>(kRequests)) << "every LLM span is charged";
}

TEST_F(DaemonTest, RefusesConfigurationsThatServeNothing) {
  auto none = ParseConfigYaml(
      "governance: {team: a, project: b}\ngateway: {enabled: false}\nreceiver: {enabled: false}\n",
      "none.yaml");
  ASSERT_TRUE(none.ok());
  auto d = Daemon::Start(*none, {});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("nothing to serve"));

  auto no_listener = ParseConfigYaml(
      "governance: {team: a, project: b}\ngateway: {enabled: false}\n"
      "receiver: {enabled: true, otlp_http_listen: '', otlp_grpc_listen: ''}\n",
      "quiet.yaml");
  ASSERT_TRUE(no_listener.ok());
  d = Daemon::Start(*no_listener, {});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("receiver.otlp_http_listen"));

  auto listen_without_gateway = ParseConfigYaml(
      "governance: {team: a, project: b}\ngateway: {enabled: false}\n"
      "receiver: {enabled: true, otlp_http_listen: '127.0.0.1:0', otlp_grpc_listen: ''}\n",
      "rcv.yaml");
  ASSERT_TRUE(listen_without_gateway.ok());
  d = Daemon::Start(*listen_without_gateway, {.gateway_listen = "127.0.0.1:0"});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("gateway.enabled: false"));
}

// ledger.leases over the daemon's SQLite file: calls are admitted from a lease (as /metrics
// shows), each is charged exactly, and shutdown writes everything and gives the room back.
TEST_F(DaemonTest, GatewayWithBudgetLeasesChargesEveryCallExactly) {
  auto mock = gateway::MockUpstream::Start({});
  ASSERT_TRUE(mock.ok());
  Start(Yaml(Cat("  leases: {enabled: true}\n",
                 "gateway:\n  listen: 127.0.0.1:0\n  providers:\n    openai: {base_url: \"",
                 (*mock)->base_url(), "\"}\n"),
             "  governance_policy: enforced\n"  // reserves before each call
             "budgets:\n  - {name: platform-day, scope: {team: platform}, limit_usd: 100, "
             "period: day}\n"));
  constexpr int kCalls = 5;
  for (int i = 0; i < kCalls; ++i) {
    auto chat = Send("POST", daemon_->gateway_url() + "/v1/chat/completions",
                     R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],)"
                     R"("max_tokens":16})",
                     {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-test"}});
    ASSERT_EQ(chat.status, 200) << chat.body;
  }
  const std::string metrics = Send("GET", BaseUrl() + "/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr(Cat("genops_ledger_admissions_total{from=\"lease\"} ", kCalls, "\n")));
  EXPECT_THAT(metrics, HasSubstr("genops_ledger_leases_opened_total 1\n"));
  EXPECT_THAT(metrics, HasSubstr("genops_ledger_budget_lists_shared_total "));
  Stop();

  const std::vector<OperationRecord> ops = Operations();
  ASSERT_EQ(ops.size(), static_cast<size_t>(kCalls));
  int64_t total = 0;
  for (const auto& op : ops) total += op.cost.nanos();
  EXPECT_GT(total, 0);
  auto ledger = ledger::OpenLedger(LedgerUrl(), {});
  ASSERT_TRUE(ledger.ok());
  EXPECT_EQ((*ledger)->TotalSpent()->nanos(), total);
  auto budgets = (*ledger)->ListBudgets(absl::ToUnixNanos(absl::Now()));
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  for (const auto& b : *budgets) {
    EXPECT_EQ(b.reserved.nanos(), 0) << b.spec->name;  // the lease was given back at shutdown
    if (b.spec->name == "platform-day") {
      EXPECT_EQ(b.spent.nanos(), total);
    }
  }
  for (const auto& op : ops) {  // each call is in the ledger under its own id
    auto entry = (*ledger)->LookupOperation(op.operation_id);
    ASSERT_TRUE(entry.ok() && entry->has_value()) << op.operation_id;
    EXPECT_EQ((*entry)->actual, op.cost);
  }
}

TEST_F(DaemonTest, BudgetLeasesNeedADurableLedger) {
  auto leased_memory = ParseConfigYaml(
      "governance: {team: a, project: b}\nledger: {url: 'memory://', leases: {enabled: true}}\n"
      "gateway: {listen: '127.0.0.1:0'}\n",
      "leases.yaml");
  ASSERT_TRUE(leased_memory.ok()) << leased_memory.status();
  auto d = Daemon::Start(*leased_memory, {});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("ledger.leases.enabled needs a durable ledger"));
}

// A new SQLite ledger gets pages sized for how the daemon writes it: batches with budget
// leases, one call at a time without (src/ledger/sqlite_schema.h, kBatchPageSize).
TEST_F(DaemonTest, ANewLedgerFileGetsThePagesOfItsWriteMode) {
  auto page_size = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    unsigned char header[18] = {};
    in.read(reinterpret_cast<char*>(header), sizeof(header));
    return (header[16] << 8) | header[17];
  };
  std::string leased = Yaml("gateway:\n  enabled: false\n");
  const std::string url_line = Cat("  url: ", LedgerUrl(), "\n");
  leased.replace(leased.find(url_line), url_line.size(),
                 Cat(url_line, "  leases: {enabled: true}\n"));
  Start(leased);
  Stop();
  EXPECT_EQ(page_size(dir_ / "ledger.db"), 4096);
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  Start(Yaml("gateway:\n  enabled: false\n"));
  Stop();
  EXPECT_EQ(page_size(dir_ / "ledger.db"), 1024);
}

TEST_F(DaemonTest, ABusyReceiverAddressIsAStartError) {
  Start(Yaml("gateway:\n  enabled: false\n"));
  const std::string taken = daemon_->otlp_http_url().substr(std::string("http://").size());
  auto config =
      ParseConfigYaml(Cat("governance: {team: a, project: b}\ngateway: {enabled: false}\n"
                          "receiver: {enabled: true, otlp_grpc_listen: '', otlp_http_listen: '",
                          taken.substr(0, taken.find('/')), "'}\n"),
                      "busy.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto d = Daemon::Start(*config, {});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("receiver.otlp_http_listen"));
}

}  // namespace
}  // namespace genops::server
