// Integration: real npm telemetry clients (tests/integration/node, versions pinned by its
// package-lock.json) exporting to the OTLP receiver of `genops serve`, each started as its own
// process on 127.0.0.1 port 0:
//   * Traceloop's Node SDK (@traceloop/node-server-sdk, OpenLLMetry JS) instrumenting the
//     official OpenAI SDK, whose baseURL is `genops mock-upstream` (deterministic usage), with
//     attribution through withAssociationProperties (receiver_traceloop_openai.mjs);
//   * the OpenTelemetry JS OTLP trace exporters, protobuf, JSON and gRPC, sending hand-built
//     GenAI spans in the current and the older conventions plus a plain HTTP span
//     (receiver_otel_exporters.mjs).
//
// What must come out (DESIGN.md §1.3, §4): every LLM span in the file exporter's output carries
// genops.cost.total equal to the catalog price of its usage (recomputed here with
// pricing::ComputeCost) and its attribution (span > resource > config defaults), under the
// application's own resource (service.name) and scope; spans of the older conventions cost
// exactly what the current ones do; a model the catalog does not price is marked
// genops.cost.priced=false and charged nothing; a non-LLM span comes out exactly as it went
// in. After `genops serve` stops (SIGTERM: it flushes the span exporter and the operations
// log), the ledger holds exactly those charges, once each, also when the same batch was sent
// twice.
//
// Without node or node_modules the tests skip (run scripts/install-node-deps.sh), except under
// CI=true, where they fail. The gRPC case skips when `genops serve` announces no OTLP/gRPC
// listener.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/money.h"
#include "genops/operation_record.h"
#include "genops/usage.h"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/core/text.h"
#include "src/gateway/mock_upstream.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/telemetry/semconv.h"
#include "tests/support/node_runner.h"
#include "tests/support/subprocess.h"

namespace genops {
namespace {

namespace sc = telemetry::semconv;
using gateway::MockUpstream;
using gateway::MockUsage;
using genops::testing::AnnouncedNow;
using genops::testing::ArrayAt;
using genops::testing::AwaitAnnounced;
using genops::testing::BoolOr;
using genops::testing::IntOr;
using genops::testing::NodeMissingReason;
using genops::testing::ObjectAt;
using genops::testing::ReadWholeFile;
using genops::testing::RunningInCi;
using genops::testing::RunNodeScript;
using genops::testing::ServerProcess;
using genops::testing::StartProcess;
using genops::testing::StartServer;
using genops::testing::StringAt;
using genops::testing::TempDir;
using nlohmann::json;

constexpr char kNodeDir[] = GENOPS_SOURCE_DIR "/tests/integration/node";
constexpr char kHttpMarker[] = "OTLP/HTTP receiver listening on ";
constexpr char kGrpcMarker[] = "OTLP/gRPC receiver listening on ";

// The config defaults (lowest attribution precedence).
constexpr char kDefaultTeam[] = "default-team";
constexpr char kDefaultProject[] = "default-project";
constexpr char kDefaultEnvironment[] = "test";

// What receiver_otel_exporters.mjs sends (see its header): three priced spans reporting the
// same usage in three generations of keys, and one span of a model no catalog prices.
constexpr char kOtelModel[] = "gpt-4o";
constexpr char kOtelServiceName[] = "otel-exporter-app";
constexpr char kOtelResourceProject[] = "receiver-it";
constexpr char kOtelResourceEnvironment[] = "staging";
constexpr char kOtelScope[] = "genops-receiver-it";
constexpr char kUnpricedModel[] = "genops-private-model-x";
// A fixed start (2026-11-24T00:00:00Z) so that two runs with one seed send the same batch.
constexpr int64_t kOtelSpanTimeMs = 1795478400000;

Usage OtelSpanUsage() {
  Usage u;
  u.input_tokens = 1200;  // including the cached ones, as OpenAI counts them
  u.cache_read_tokens = 200;
  u.output_tokens = 300;
  return u;
}

// The exact cost in nano-USD that span_enricher.cc writes next to genops.cost.total.
constexpr char kCostTotalNanos[] = "genops.cost.total_nanos";

constexpr char kTraceloopModel[] = "gpt-4o-mini";
constexpr char kTraceloopAppName[] = "traceloop-openai-app";
constexpr char kTraceloopScope[] = "@traceloop/instrumentation-openai";

const std::vector<std::string>& NodePackages() {
  static const auto* packages = new std::vector<std::string>{
      "openai",
      "@traceloop/node-server-sdk",
      "@opentelemetry/api",
      "@opentelemetry/core",
      "@opentelemetry/resources",
      "@opentelemetry/sdk-trace-base",
      "@opentelemetry/exporter-trace-otlp-proto",
      "@opentelemetry/exporter-trace-otlp-http",
      "@opentelemetry/exporter-trace-otlp-grpc",
  };
  return *packages;
}

// --- Reading OTLP/JSON span lines ----------------------------------------------------------

// The AnyValue of attribute `key` in `owner`'s "attributes" ([{key, value}]), or nullptr.
const json* FindAttribute(const json& owner, std::string_view key) {
  for (const json& attribute : ArrayAt(owner, "attributes")) {
    if (attribute.is_object() && attribute.contains("key") && attribute["key"].is_string() &&
        attribute["key"].get<std::string>() == key && attribute.contains("value")) {
      return &attribute["value"];
    }
  }
  return nullptr;
}

std::optional<std::string> StringAttribute(const json& owner, std::string_view key) {
  const json* value = FindAttribute(owner, key);
  if (value == nullptr || !value->contains("stringValue")) return std::nullopt;
  return (*value)["stringValue"].get<std::string>();
}

// OTLP/JSON writes int64 as a string ("1200"); some encoders write a number.
std::optional<int64_t> IntValue(const json& any) {
  if (!any.is_object() || !any.contains("intValue")) return std::nullopt;
  const json& v = any["intValue"];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      size_t used = 0;
      const int64_t parsed = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return parsed;
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::optional<int64_t> IntAttribute(const json& owner, std::string_view key) {
  const json* value = FindAttribute(owner, key);
  return value == nullptr ? std::nullopt : IntValue(*value);
}

std::optional<double> DoubleAttribute(const json& owner, std::string_view key) {
  const json* value = FindAttribute(owner, key);
  if (value == nullptr || !value->contains("doubleValue") || !(*value)["doubleValue"].is_number()) {
    return std::nullopt;
  }
  return (*value)["doubleValue"].get<double>();
}

std::optional<bool> BoolAttribute(const json& owner, std::string_view key) {
  const json* value = FindAttribute(owner, key);
  if (value == nullptr || !value->contains("boolValue") || !(*value)["boolValue"].is_boolean()) {
    return std::nullopt;
  }
  return (*value)["boolValue"].get<bool>();
}

// Whether the AnyValue `any` holds the plain JSON value `sent` (as a JS client set it: string,
// integer, double, bool or array of strings); `why` says how they differ.
bool SameValue(const json& sent, const json& any, std::string* why) {
  if (sent.is_string()) {
    if (any.contains("stringValue") && any["stringValue"] == sent) return true;
  } else if (sent.is_boolean()) {
    if (any.contains("boolValue") && any["boolValue"] == sent) return true;
  } else if (sent.is_number_integer()) {
    if (std::optional<int64_t> got = IntValue(any); got && *got == sent.get<int64_t>()) {
      return true;
    }
  } else if (sent.is_number_float()) {
    if (any.contains("doubleValue") && any["doubleValue"].is_number() &&
        any["doubleValue"].get<double>() == sent.get<double>()) {
      return true;
    }
  } else if (sent.is_array()) {
    const json& values = ObjectAt(any, "arrayValue").value("values", json::array());
    if (values.size() == sent.size()) {
      bool all = true;
      for (size_t i = 0; i < sent.size() && all; ++i) all = SameValue(sent[i], values[i], why);
      if (all) return true;
    }
  }
  *why = Cat("sent ", sent.dump(), ", got ", any.dump());
  return false;
}

// Every attribute of `sent` (a {key: value} object) is on `line` with the same value.
void ExpectAttributesKept(const json& sent, const json& line) {
  for (const auto& [key, value] : sent.items()) {
    const json* got = FindAttribute(line, key);
    if (got == nullptr) {
      ADD_FAILURE() << "attribute " << key << " was lost: " << line.dump();
      continue;
    }
    std::string why;
    EXPECT_TRUE(SameValue(value, *got, &why)) << key << ": " << why;
  }
}

// The spans of the file exporter's output, by span id (a span sent twice appears twice).
std::map<std::string, std::vector<json>> ReadSpanLines(const std::string& path) {
  std::map<std::string, std::vector<json>> spans;
  std::istringstream lines(ReadWholeFile(path));
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.empty()) continue;
    json span = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!span.is_object() || !span.contains("spanId") || !span["spanId"].is_string()) {
      ADD_FAILURE() << path << ":" << number << ": not an OTLP/JSON span line: " << line;
      continue;
    }
    spans[span["spanId"].get<std::string>()].push_back(std::move(span));
  }
  return spans;
}

// The receiver's operation id of a span: "otlp-<trace id hex>-<span id hex>".
std::string OperationIdOf(std::string_view trace_id, std::string_view span_id) {
  return Cat("otlp-", trace_id, "-", span_id);
}

// The catalog price of `usage` for `model`, exactly as the receiver must compute it.
Money CatalogPrice(std::string_view provider, std::string_view model, const Usage& usage) {
  auto catalog = pricing::Catalog::Builtin();
  if (!catalog.ok()) {
    ADD_FAILURE() << catalog.status();
    return Money::Zero();
  }
  const pricing::ModelPricing* pricing = (*catalog)->Find(provider, model);
  if (pricing == nullptr) {
    ADD_FAILURE() << provider << "/" << model << " is not in the catalog";
    return Money::Zero();
  }
  return pricing::ComputeCost(*pricing, usage).total;
}

std::string UsageText(const Usage& u) {
  return Cat("in=", u.input_tokens, " cache_read=", u.cache_read_tokens,
             " cache_write=", u.cache_write_tokens, " out=", u.output_tokens,
             " reasoning=", u.reasoning_tokens);
}

// The attribution a span line must carry.
struct ExpectedAttribution {
  std::string team;
  std::string project;
  std::string environment;
  std::string customer_id;  // "" = none
  std::string feature;      // "" = none
};

void ExpectSpanAttribution(const json& line, const ExpectedAttribution& want) {
  EXPECT_EQ(StringAttribute(line, sc::kGenOpsTeam).value_or("<absent>"), want.team);
  EXPECT_EQ(StringAttribute(line, sc::kGenOpsProject).value_or("<absent>"), want.project);
  EXPECT_EQ(StringAttribute(line, sc::kGenOpsEnvironment).value_or("<absent>"), want.environment);
  EXPECT_EQ(StringAttribute(line, sc::kGenOpsCustomerId).value_or(""), want.customer_id);
  EXPECT_EQ(StringAttribute(line, sc::kGenOpsFeature).value_or(""), want.feature);
}

void ExpectRecordAttribution(const Attribution& got, const ExpectedAttribution& want) {
  EXPECT_EQ(got.team, want.team);
  EXPECT_EQ(got.project, want.project);
  EXPECT_EQ(got.environment, want.environment);
  EXPECT_EQ(got.customer_id, want.customer_id);
  EXPECT_EQ(got.feature, want.feature);
}

// The line came out under the application's resource and scope, not GenOps' own.
void ExpectOriginResource(const json& line, std::string_view service_name,
                          std::string_view scope_name) {
  const json& resource = ObjectAt(line, "resource");
  EXPECT_EQ(StringAttribute(resource, sc::kServiceName).value_or("<absent>"), service_name)
      << "the application's resource was not forwarded: " << resource.dump();
  EXPECT_EQ(StringAt(ObjectAt(line, "scope"), "name"), scope_name)
      << "the application's scope was not forwarded: " << ObjectAt(line, "scope").dump();
}

// A priced LLM span line: cost, currency, priced flag and the normalised tokens.
void ExpectPricedSpan(const json& line, Money expected, const Usage& usage) {
  std::optional<double> cost = DoubleAttribute(line, sc::kGenOpsCostTotal);
  ASSERT_TRUE(cost.has_value()) << "no " << sc::kGenOpsCostTotal << ": " << line.dump();
  EXPECT_DOUBLE_EQ(*cost, expected.usd()) << "expected " << expected.ToUsdString();
  // The receiver also writes the exact amount in nano-USD (not a semconv.h key yet).
  if (FindAttribute(line, kCostTotalNanos) != nullptr) {
    EXPECT_EQ(IntAttribute(line, kCostTotalNanos), expected.nanos());
  }
  EXPECT_EQ(StringAttribute(line, sc::kGenOpsCostCurrency).value_or(""), "USD");
  EXPECT_EQ(BoolAttribute(line, sc::kGenOpsCostPriced), std::optional<bool>(true));
  EXPECT_EQ(IntAttribute(line, sc::kGenOpsTokensInput), usage.input_tokens);
  EXPECT_EQ(IntAttribute(line, sc::kGenOpsTokensOutput), usage.output_tokens);
  EXPECT_EQ(IntAttribute(line, sc::kGenOpsTokensTotal), usage.total_tokens());
}

class ReceiverClientsTest : public ::testing::Test {
 protected:
  ReceiverClientsTest() : dir_("genops-receiver-clients") {}

  void SetUp() override {
    if (std::optional<std::string> why = NodeMissingReason(kNodeDir, NodePackages())) {
      if (RunningInCi()) {
        FAIL() << *why << "; CI=true requires them: run scripts/install-node-deps.sh";
      }
      GTEST_SKIP() << *why << " (run scripts/install-node-deps.sh)";
    }
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    ledger_url_ = Cat("sqlite://", dir_.path(), "/ledger.db");
    spans_path_ = Cat(dir_.path(), "/spans.jsonl");
  }

  void TearDown() override {
    if (serve_.process != nullptr) serve_.process->Kill(SIGKILL);
    if (mock_.process != nullptr) mock_.process->Kill(SIGTERM);
  }

  void StartMock() {
    auto mock = StartServer({GENOPS_CLI_PATH, "mock-upstream", "--listen", "127.0.0.1:0"},
                            dir_.path(), "mock");
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = std::move(*mock);
  }

  // Starts `genops serve` with only the receiver (both listeners on port 0), a sqlite ledger
  // and the file exporter, and reads the announced addresses.
  void StartServe() {
    const std::string governance =
        Cat("governance: {team: ", kDefaultTeam, ", project: ", kDefaultProject,
            ", environment: ", kDefaultEnvironment, ", daily_budget_limit: 100.0}\n");
    const std::string config =
        Cat(governance, "ledger: {url: \"", ledger_url_, "\"}\n",
            R"(gateway: {enabled: false}
receiver:
  enabled: true
  otlp_http_listen: 127.0.0.1:0
  otlp_grpc_listen: 127.0.0.1:0
)",
            "export: {exporters: [file], file: {path: \"", spans_path_, "\"}}\n");
    const std::string config_path = Cat(dir_.path(), "/genops.yaml");
    std::ofstream(config_path) << config;
    auto serve = StartProcess({GENOPS_CLI_PATH, "serve", "--config", config_path, "--quiet"},
                              dir_.path(), "serve");
    ASSERT_TRUE(serve.ok()) << serve.status();
    serve_ = std::move(*serve);
    absl::StatusOr<std::string> http = AwaitAnnounced(serve_, kHttpMarker);
    ASSERT_TRUE(http.ok()) << http.status() << "\nconfig:\n" << config;
    constexpr std::string_view kPath = "/v1/traces";
    ASSERT_TRUE(http->size() > kPath.size() && http->rfind("http://", 0) == 0 &&
                http->compare(http->size() - kPath.size(), kPath.size(), kPath) == 0)
        << "unexpected OTLP/HTTP address: " << *http;
    receiver_root_ = http->substr(0, http->size() - kPath.size());
    // serve prints all its listening lines, then flushes once: the gRPC line, if any, is
    // already there.
    grpc_address_ = AnnouncedNow(serve_, kGrpcMarker).value_or("");
  }

  // Stops serve the way an operator does (SIGTERM: drain, flush the span exporter and the
  // operations log), so the span file and the ledger are complete.
  void StopServe() {
    ASSERT_NE(serve_.process, nullptr);
    const int code = serve_.process->Kill(SIGTERM);
    EXPECT_EQ(code, 0) << "genops serve stderr: " << ReadWholeFile(serve_.stderr_path);
    serve_.process.reset();
  }

  json RunNode(const std::string& script, std::map<std::string, std::string> env) {
    auto result = RunNodeScript({.node_dir = kNodeDir,
                                 .script = script,
                                 .env = std::move(env),
                                 .output_dir = dir_.path(),
                                 .tag = Cat(script, "-", ++runs_)});
    if (!result.ok()) {
      ADD_FAILURE() << result.status();
      return json();
    }
    return *result;
  }

  // Runs receiver_otel_exporters.mjs with `exporter` (proto, json, grpc) and `processor`
  // (batch, simple); `seed` picks the trace ids.
  json RunOtelExporters(std::string_view exporter, std::string_view processor, int seed) {
    return RunNode("receiver_otel_exporters.mjs",
                   {{"GENOPS_EXPORTER", std::string(exporter)},
                    {"GENOPS_PROCESSOR", std::string(processor)},
                    {"GENOPS_RECEIVER_URL", receiver_root_},
                    {"GENOPS_RECEIVER_GRPC", grpc_address_},
                    {"GENOPS_SERVICE_NAME", kOtelServiceName},
                    {"GENOPS_MODEL", kOtelModel},
                    {"GENOPS_UNPRICED_MODEL", kUnpricedModel},
                    {"GENOPS_ID_SEED", std::to_string(seed)},
                    {"GENOPS_SPAN_TIME_MS", std::to_string(kOtelSpanTimeMs)}});
  }

  struct LedgerView {
    std::map<std::string, OperationRecord> records;  // by operation id
    size_t record_count = 0;
    Money total_spent;
    std::unique_ptr<ledger::Ledger> ledger;
  };
  LedgerView ReadLedger() {
    LedgerView view;
    auto ledger = ledger::OpenLedger(ledger_url_, {.create_if_missing = false});
    if (!ledger.ok()) {
      ADD_FAILURE() << ledger.status();
      return view;
    }
    auto records = ledger::QueryOperations(**ledger, {});
    if (!records.ok()) {
      ADD_FAILURE() << records.status();
      return view;
    }
    view.record_count = records->size();
    for (OperationRecord& record : *records) {
      std::string id = record.operation_id;
      view.records.emplace(std::move(id), std::move(record));
    }
    auto total = (*ledger)->TotalSpent();
    if (!total.ok()) {
      ADD_FAILURE() << total.status();
      return view;
    }
    view.total_spent = *total;
    view.ledger = std::move(*ledger);
    return view;
  }

  // The ledger charged `operation_id` exactly `amount` (settled).
  void ExpectCharged(LedgerView& view, const std::string& operation_id, Money amount) {
    ASSERT_NE(view.ledger, nullptr);
    auto entry = view.ledger->LookupOperation(operation_id);
    ASSERT_TRUE(entry.ok()) << entry.status();
    ASSERT_TRUE(entry->has_value()) << operation_id << " was never charged";
    EXPECT_EQ((*entry)->state, ledger::OperationState::kSettled) << operation_id;
    EXPECT_EQ((*entry)->actual, amount)
        << operation_id << ": " << (*entry)->actual.ToUsdString() << " vs " << amount.ToUsdString();
  }

  // The checks common to every run of receiver_otel_exporters.mjs whose `result` came through
  // the receiver (after StopServe()): the span lines, the ledger, once each.
  void ExpectOtelBatchGoverned(const json& result) {
    ASSERT_TRUE(result.is_object());
    EXPECT_TRUE(BoolOr(result, "ok", false)) << result.dump();
    EXPECT_TRUE(ArrayAt(result, "export_errors").empty()) << result.dump();
    const json& sent_spans = ArrayAt(result, "spans");
    ASSERT_EQ(sent_spans.size(), 5u) << result.dump();

    const Usage usage = OtelSpanUsage();
    const Money price = CatalogPrice("openai", kOtelModel, usage);
    ASSERT_GT(price.nanos(), 0) << "a zero price proves nothing";

    const std::map<std::string, std::vector<json>> lines = ReadSpanLines(spans_path_);
    LedgerView view = ReadLedger();
    if (HasFatalFailure()) return;
    const std::map<std::string, ExpectedAttribution> attribution = {
        {"new", {"ml-platform", kOtelResourceProject, kOtelResourceEnvironment, "globex", ""}},
        {"old", {kDefaultTeam, kOtelResourceProject, kOtelResourceEnvironment, "", ""}},
        {"old_total",
         {"legacy-team", kOtelResourceProject, kOtelResourceEnvironment, "initech", ""}},
        {"unpriced", {kDefaultTeam, kOtelResourceProject, kOtelResourceEnvironment, "", ""}},
    };

    for (const json& described : sent_spans) {
      const std::string role = StringAt(described, "role");
      const std::string span_id = StringAt(described, "span_id");
      const std::string trace_id = StringAt(described, "trace_id");
      SCOPED_TRACE(Cat(role, " span ", span_id));
      const json& sent_copies = ArrayAt(described, "sent");
      ASSERT_FALSE(sent_copies.empty()) << "the exporter never got it: " << described.dump();
      const json& sent = sent_copies[0];
      auto found = lines.find(span_id);
      ASSERT_TRUE(found != lines.end()) << "not in the file exporter's output " << spans_path_;
      for (const json& line : found->second) {
        EXPECT_EQ(StringAt(line, "traceId"), trace_id);
        EXPECT_EQ(StringAt(line, "name"), StringAt(sent, "name"));
        EXPECT_EQ(IntOr(line, "kind", -1), IntOr(sent, "kind", -2));
        EXPECT_EQ(StringAt(line, "startTimeUnixNano"), StringAt(sent, "start_time_unix_nano"));
        EXPECT_EQ(StringAt(line, "endTimeUnixNano"), StringAt(sent, "end_time_unix_nano"));
        EXPECT_EQ(StringAt(line, "parentSpanId"), StringAt(sent, "parent_span_id"));
        EXPECT_EQ(IntOr(ObjectAt(line, "status"), "code", 0), IntOr(sent, "status_code", -1));
        ExpectOriginResource(line, kOtelServiceName, kOtelScope);
        // The whole application resource, as sent.
        EXPECT_EQ(ArrayAt(ObjectAt(line, "resource"), "attributes").size(),
                  ObjectAt(result, "resource").size())
            << ObjectAt(line, "resource").dump();
        ExpectAttributesKept(ObjectAt(result, "resource"), ObjectAt(line, "resource"));
        EXPECT_EQ(StringAt(ObjectAt(line, "scope"), "version"), "1.0.0");
        ExpectAttributesKept(ObjectAt(sent, "attributes"), line);
        if (role == "plain") {
          // Exactly what was sent: no attribute added, none lost, the event intact.
          EXPECT_EQ(ArrayAt(line, "attributes").size(), ObjectAt(sent, "attributes").size())
              << line.dump();
          const json& events = ArrayAt(line, "events");
          const json& sent_events = ArrayAt(sent, "events");
          ASSERT_EQ(events.size(), sent_events.size()) << line.dump();
          for (size_t i = 0; i < events.size(); ++i) {
            EXPECT_EQ(StringAt(events[i], "name"), StringAt(sent_events[i], "name"));
            EXPECT_EQ(StringAt(events[i], "timeUnixNano"),
                      StringAt(sent_events[i], "time_unix_nano"));
            EXPECT_EQ(ArrayAt(events[i], "attributes").size(),
                      ObjectAt(sent_events[i], "attributes").size());
            ExpectAttributesKept(ObjectAt(sent_events[i], "attributes"), events[i]);
          }
          continue;
        }
        ExpectSpanAttribution(line, attribution.at(role));
        if (role == "unpriced") {
          EXPECT_EQ(BoolAttribute(line, sc::kGenOpsCostPriced), std::optional<bool>(false));
          EXPECT_EQ(FindAttribute(line, sc::kGenOpsCostTotal), nullptr)
              << "an unpriced span must carry no cost: " << line.dump();
        } else {
          ExpectPricedSpan(line, price, usage);
        }
      }

      const std::string operation_id = OperationIdOf(trace_id, span_id);
      auto record = view.records.find(operation_id);
      if (role == "plain") {
        EXPECT_TRUE(record == view.records.end()) << "a non-LLM span was recorded as an operation";
        continue;
      }
      ASSERT_TRUE(record != view.records.end()) << operation_id << " is not in the operations log";
      ExpectRecordAttribution(record->second.attribution, attribution.at(role));
      EXPECT_EQ(record->second.provider, "openai");
      EXPECT_EQ(record->second.trace_id, trace_id);
      if (role == "unpriced") {
        EXPECT_EQ(record->second.model, kUnpricedModel);
        EXPECT_FALSE(record->second.priced);
        EXPECT_EQ(record->second.cost, Money::Zero());
        auto entry = view.ledger->LookupOperation(operation_id);
        ASSERT_TRUE(entry.ok()) << entry.status();
        EXPECT_FALSE(entry->has_value()) << "an unpriced span was charged";
      } else {
        EXPECT_EQ(record->second.model, kOtelModel);
        EXPECT_TRUE(record->second.priced);
        EXPECT_EQ(record->second.usage, usage) << UsageText(record->second.usage);
        EXPECT_EQ(record->second.cost, price)
            << record->second.cost.ToUsdString() << " vs " << price.ToUsdString();
        ExpectCharged(view, operation_id, price);
      }
    }
    // Four LLM spans, three of them priced, each once.
    EXPECT_EQ(view.record_count, 4u);
    EXPECT_EQ(view.total_spent, price + price + price)
        << view.total_spent.ToUsdString() << " vs 3 x " << price.ToUsdString();
  }

  TempDir dir_;
  ServerProcess mock_;
  ServerProcess serve_;
  std::string ledger_url_;
  std::string spans_path_;
  std::string receiver_root_;  // http://HOST:PORT
  std::string grpc_address_;   // HOST:PORT, or "" when serve announced no gRPC listener
  int runs_ = 0;
};

// --- Traceloop (OpenLLMetry JS) instrumenting the OpenAI SDK -----------------------------------

TEST_F(ReceiverClientsTest, TraceloopOpenAiSpansArePricedAttributedAndChargedOnce) {
  StartMock();
  if (HasFatalFailure()) return;
  StartServe();
  if (HasFatalFailure()) return;
  // The receiver root goes in TRACELOOP_BASE_URL, as `genops serve` tells users to set it.
  const json result =
      RunNode("receiver_traceloop_openai.mjs",
              {{"GENOPS_BASE_URL", mock_.url},
               {"TRACELOOP_BASE_URL", receiver_root_},
               {"GENOPS_MODEL", kTraceloopModel},
               {"GENOPS_APP_NAME", kTraceloopAppName},
               {"GENOPS_ASSOCIATION", R"({"team":"search","customer_id":"acme"})"}});
  ASSERT_TRUE(result.is_object());
  EXPECT_TRUE(BoolOr(result, "ok", false)) << result.dump();
  EXPECT_EQ(StringAt(result, "base_url"), receiver_root_) << result.dump();
  EXPECT_TRUE(ArrayAt(result, "export_errors").empty()) << result.dump();
  const json& calls = ArrayAt(result, "calls");
  ASSERT_EQ(calls.size(), 2u) << result.dump();

  // What the mock billed each call (the SDK saw the same usage).
  std::map<std::string, MockUsage> billed;  // by feature
  for (const json& call : calls) {
    SCOPED_TRACE(StringAt(call, "call"));
    EXPECT_TRUE(BoolOr(call, "ok", false)) << call.dump();
    EXPECT_EQ(StringAt(call, "text"), MockUpstream::AnswerText(MockUpstream::kDefaultAnswerTokens));
    const json& request = ObjectAt(call, "request");
    absl::StatusOr<MockUsage> usage =
        MockUpstream::ExpectedUsage(StringAt(request, "path"), StringAt(request, "body"));
    ASSERT_TRUE(usage.ok()) << usage.status() << ": " << call.dump();
    EXPECT_EQ(IntOr(ObjectAt(call, "usage"), "prompt_tokens", -1), usage->input_tokens);
    EXPECT_EQ(IntOr(ObjectAt(call, "usage"), "completion_tokens", -1), usage->output_tokens);
    billed[StringAt(call, "feature")] = *usage;
  }
  StopServe();

  // Exactly the two OpenAI spans came through, told apart by their `feature` property.
  const std::map<std::string, std::vector<json>> lines = ReadSpanLines(spans_path_);
  ASSERT_EQ(lines.size(), 2u) << ReadWholeFile(spans_path_);
  LedgerView view = ReadLedger();
  if (HasFatalFailure()) return;
  Money total = Money::Zero();
  for (const auto& [span_id, copies] : lines) {
    ASSERT_EQ(copies.size(), 1u) << "span " << span_id << " was forwarded more than once";
    const json& line = copies[0];
    const std::string feature =
        StringAttribute(line, Cat(sc::kTraceloopAssociationPropertiesPrefix, "feature"))
            .value_or("");
    SCOPED_TRACE(Cat(feature, " span ", span_id));
    ASSERT_EQ(billed.count(feature), 1u) << "an unexpected span: " << line.dump();
    ExpectOriginResource(line, kTraceloopAppName, kTraceloopScope);
    EXPECT_EQ(StringAttribute(line, sc::kGenAiRequestModel).value_or(""), kTraceloopModel);

    // The usage Traceloop put on the span. For the plain completion it is the provider's usage
    // as OpenAI returned it. For the stream, Traceloop 0.27 ignores the usage chunk
    // (stream_options.include_usage) and counts tokens itself with tiktoken
    // (TRACELOOP_ENRICH_TOKENS, on by default), so the counts are its estimate: the receiver
    // can only price what the span reports.
    Usage usage;
    usage.input_tokens = IntAttribute(line, sc::kGenAiUsageInputTokens).value_or(-1);
    usage.output_tokens = IntAttribute(line, sc::kGenAiUsageOutputTokens).value_or(-1);
    ASSERT_GT(usage.input_tokens, 0) << line.dump();
    ASSERT_GT(usage.output_tokens, 0) << line.dump();
    if (feature == "traceloop-chat") {
      EXPECT_EQ(usage.input_tokens, billed[feature].input_tokens);
      EXPECT_EQ(usage.output_tokens, billed[feature].output_tokens);
    }
    const Money expected = CatalogPrice("openai", kTraceloopModel, usage);
    ASSERT_GT(expected.nanos(), 0);
    ExpectPricedSpan(line, expected, usage);
    ExpectSpanAttribution(line, {"search", kDefaultProject, kDefaultEnvironment, "acme", feature});

    const std::string operation_id = OperationIdOf(StringAt(line, "traceId"), span_id);
    auto record = view.records.find(operation_id);
    ASSERT_TRUE(record != view.records.end()) << operation_id << " is not in the operations log";
    EXPECT_EQ(record->second.provider, "openai");
    EXPECT_EQ(record->second.model, kTraceloopModel);
    EXPECT_EQ(record->second.usage, usage) << UsageText(record->second.usage);
    EXPECT_TRUE(record->second.priced);
    EXPECT_EQ(record->second.cost, expected)
        << record->second.cost.ToUsdString() << " vs " << expected.ToUsdString();
    ExpectRecordAttribution(record->second.attribution,
                            {"search", kDefaultProject, kDefaultEnvironment, "acme", feature});
    ExpectCharged(view, operation_id, expected);
    total += expected;
  }
  EXPECT_EQ(view.record_count, 2u);
  EXPECT_EQ(view.total_spent, total)
      << view.total_spent.ToUsdString() << " vs " << total.ToUsdString();
}

// --- The OpenTelemetry JS OTLP exporters -------------------------------------------------------

TEST_F(ReceiverClientsTest, OtlpProtoExporterSpansOfEveryGenerationArePricedTheSame) {
  StartServe();
  if (HasFatalFailure()) return;
  // One request per span (SimpleSpanProcessor), protobuf.
  const json result = RunOtelExporters("proto", "simple", 1);
  ASSERT_TRUE(result.is_object());
  EXPECT_EQ(ArrayAt(result, "exports").size(), 5u) << result.dump();
  StopServe();
  ExpectOtelBatchGoverned(result);
}

TEST_F(ReceiverClientsTest, OtlpJsonExporterBatchSentTwiceIsChargedOnce) {
  StartServe();
  if (HasFatalFailure()) return;
  // The whole trace in one OTLP/JSON request (BatchSpanProcessor + forceFlush), then the very
  // same batch again: a client retrying after a lost response.
  const json first = RunOtelExporters("json", "batch", 2);
  const json second = RunOtelExporters("json", "batch", 2);
  ASSERT_TRUE(first.is_object() && second.is_object());
  EXPECT_EQ(ArrayAt(first, "exports").size(), 1u) << first.dump();
  EXPECT_EQ(ArrayAt(second, "exports").size(), 1u) << second.dump();
  EXPECT_EQ(ArrayAt(first, "spans"), ArrayAt(second, "spans")) << "the two runs differ";
  StopServe();
  // Both deliveries are forwarded (the backend sees what the client sent); the ledger holds
  // each charge once.
  for (const auto& [span_id, copies] : ReadSpanLines(spans_path_)) {
    EXPECT_EQ(copies.size(), 2u) << "span " << span_id;
  }
  ExpectOtelBatchGoverned(second);
}

TEST_F(ReceiverClientsTest, OtlpGrpcExporterSpansArePricedTheSame) {
  StartServe();
  if (HasFatalFailure()) return;
  if (grpc_address_.empty()) {
    GTEST_SKIP() << "genops serve announced no OTLP/gRPC listener (no line \"" << kGrpcMarker
                 << "\" in " << serve_.stdout_path << "): " << ReadWholeFile(serve_.stdout_path);
  }
  const json result = RunOtelExporters("grpc", "batch", 3);
  ASSERT_TRUE(result.is_object());
  EXPECT_EQ(ArrayAt(result, "exports").size(), 1u) << result.dump();
  StopServe();
  ExpectOtelBatchGoverned(result);
}

}  // namespace
}  // namespace genops
