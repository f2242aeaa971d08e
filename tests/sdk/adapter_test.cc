#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/telemetry/semconv.h"
#include "tests/sdk/sdk_test_util.h"

namespace genops {
namespace {

using ::genops::testing::AttrAs;
using ::genops::testing::Harness;
using ::testing::HasSubstr;
namespace sc = telemetry::semconv;

constexpr int64_t kNanosPerDay = 86400 * kNanosPerSecond;

// An OpenAI-compatible provider on loopback that counts the calls reaching it.
class FakeProvider {
 public:
  FakeProvider() {
    server_.Post("/v1/chat/completions", [this](const httplib::Request&, httplib::Response& res) {
      calls_.fetch_add(1);
      res.set_content(
          R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18",
              "choices":[{"index":0,"message":{"role":"assistant","content":"hi"},
                          "finish_reason":"stop"}],
              "usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,
                       "prompt_tokens_details":{"cached_tokens":200},
                       "completion_tokens_details":{"reasoning_tokens":0}}})",
          "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeProvider() {
    server_.stop();
    thread_.join();
  }
  std::string Call() {
    httplib::Client client("127.0.0.1", port_);
    auto res =
        client.Post("/v1/chat/completions", R"({"model":"gpt-4o-mini"})", "application/json");
    return res ? res->body : "";
  }
  int calls() const { return calls_.load(); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> calls_{0};
};

TEST(AdapterTest, BlockedOperationNeverReachesProvider) {
  Harness h;
  FakeProvider provider;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.max_operation_cost = 0.01;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);

  Operation op = adapter->try_track_operation("chat_completion", "too_big",
                                              {.provider = "openai",
                                               .model = "gpt-4o",
                                               .estimated_input_tokens = 1000,
                                               .max_output_tokens = 100000});
  EXPECT_FALSE(op.allowed());
  EXPECT_EQ(op.decision().result, DecisionResult::kBlocked);
  EXPECT_EQ(op.decision().reason, DecisionReason::kOperationCostExceeded);
  if (op.allowed()) provider.Call();
  op.end();
  EXPECT_EQ(provider.calls(), 0);

  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(AttrAs<std::string>(spans[0], sc::kGenOpsPolicyResult), "blocked");
  EXPECT_EQ(AttrAs<std::string>(spans[0], sc::kGenOpsPolicyReason), "operation_cost_exceeded");
  EXPECT_EQ(adapter->get_metrics().blocked, 1);
}

TEST(AdapterTest, ThrowingFormRaisesPolicyViolationWithDecision) {
  Harness h;
  FakeProvider provider;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.max_operation_cost = 0.001;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  try {
    Operation op = adapter->track_operation(
        "chat_completion", "q",
        {.provider = "openai", .model = "gpt-4o", .max_output_tokens = 5000});
    provider.Call();
    FAIL() << "expected PolicyViolationError";
  } catch (const PolicyViolationError& e) {
    EXPECT_EQ(e.decision().reason, DecisionReason::kOperationCostExceeded);
    EXPECT_THAT(std::string(e.what()), HasSubstr("operation_cost_exceeded"));
  }
  EXPECT_EQ(provider.calls(), 0);
  EXPECT_EQ(h.spans->Snapshot().size(), 1u) << "a refused operation is still recorded";
}

TEST(AdapterTest, RecordedResponseIsPricedFromTheCatalog) {
  Harness h;
  FakeProvider provider;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  Operation op = adapter->track_operation(
      "chat_completion", "q",
      {.provider = "openai", .model = "gpt-4o-mini", .max_output_tokens = 500});
  ASSERT_TRUE(op.record_response("openai", provider.Call()).ok());
  op.end();

  auto catalog = pricing::Catalog::Builtin();
  ASSERT_TRUE(catalog.ok());
  const pricing::ModelPricing* model = (*catalog)->Find("openai", "gpt-4o-mini-2024-07-18");
  ASSERT_NE(model, nullptr);
  Usage usage;
  usage.input_tokens = 1200;
  usage.cache_read_tokens = 200;
  usage.output_tokens = 300;
  const Money expected = pricing::ComputeCost(*model, usage).total;
  EXPECT_GT(expected.nanos(), 0);
  EXPECT_EQ(op.get_metrics().cost, expected);
  EXPECT_EQ(op.get_metrics().usage, usage);
  EXPECT_EQ(adapter->get_metrics().total_cost, expected);

  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "chat gpt-4o-mini");
  EXPECT_EQ(spans[0].kind, telemetry::SpanKind::kClient);
  EXPECT_EQ(AttrAs<int64_t>(spans[0], sc::kGenAiUsageInputTokens), 1200);
  EXPECT_EQ(AttrAs<int64_t>(spans[0], sc::kGenAiUsageCacheReadInputTokens), 200);
  EXPECT_EQ(AttrAs<std::string>(spans[0], sc::kGenAiResponseModel), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(AttrAs<int64_t>(spans[0], "genops.cost.total_nanos"), expected.nanos());
  EXPECT_EQ(AttrAs<std::string>(spans[0], sc::kGenOpsTeam), "team-a");
  EXPECT_TRUE(AttrAs<bool>(spans[0], sc::kGenOpsCostPriced));
}

TEST(AdapterTest, MalformedResponseMarksFailureButOperationIsRecorded) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  Operation op = adapter->track_operation("chat_completion", "q",
                                          {.provider = "openai", .model = "gpt-4o-mini"});
  absl::Status s = op.record_response("openai", "{not json");
  EXPECT_FALSE(s.ok());
  op.end();
  EXPECT_TRUE(op.get_metrics().error);
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].status_code, telemetry::StatusCode::kError);
  EXPECT_EQ(adapter->get_recent_operations_summary(5).operations.size(), 1u);
}

TEST(AdapterTest, DailyBudgetBlocksThenResetsAtUtcMidnight) {
  Harness h;
  h.clock.Set(1'767'225'600'000'000'000 + kNanosPerDay - kNanosPerSecond);  // 23:59:59 UTC
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.daily_budget_limit = 1.0;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);

  auto run = [&](double cost) {
    Operation op = adapter->try_track_operation("chat_completion", "q", {.estimated_cost = cost});
    if (op.allowed()) op.update_cost(cost);
    op.end();
    return op.decision();
  };
  EXPECT_TRUE(run(0.6).may_proceed());
  Decision refused = run(0.6);
  EXPECT_EQ(refused.result, DecisionResult::kBlocked);
  EXPECT_EQ(refused.reason, DecisionReason::kBudgetExceeded);
  EXPECT_EQ(refused.budget_name, "daily");

  h.clock.Advance(2 * kNanosPerSecond);  // 00:00:01 the next day
  EXPECT_TRUE(run(0.6).may_proceed());
  auto budgets = adapter->get_budget_status();
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].spent, Money::FromUsdString("0.6").value());
}

TEST(AdapterTest, AdvisoryWarnsButNeverBlocks) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kAdvisory;
  config.max_operation_cost = 0.001;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  Operation op = adapter->track_operation("chat_completion", "q", {.estimated_cost = 1.0});
  EXPECT_EQ(op.decision().result, DecisionResult::kWarned);
  op.update_cost(0.5);
  op.end();
  EXPECT_EQ(adapter->get_metrics().total_cost, Money::FromUsdString("0.5").value());
  EXPECT_FALSE(h.alerts->alerts().empty()) << "advisory alerts on violations";
}

TEST(AdapterTest, AuditOnlyRecordsWithoutAlerting) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kAuditOnly;
  config.max_operation_cost = 0.001;
  config.cost_alert_threshold = 0.0001;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  Operation op = adapter->track_operation("chat_completion", "q", {.estimated_cost = 1.0});
  EXPECT_TRUE(op.allowed());
  op.update_cost(0.5);
  op.end();
  EXPECT_TRUE(h.alerts->alerts().empty());
  EXPECT_EQ(adapter->get_metrics().total_cost, Money::FromUsdString("0.5").value());
}

TEST(AdapterTest, UnsampledOperationIsStillCharged) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.sampling_rate = 0.0;
  config.priority_sampling = false;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  for (int i = 0; i < 100; ++i) {
    Operation op = adapter->track_operation("chat_completion", "q",
                                            {.provider = "openai", .model = "gpt-4o-mini"});
    op.update_token_usage(1000, 100);
  }
  AdapterMetrics m = adapter->get_metrics();
  EXPECT_TRUE(h.spans->Snapshot().empty());
  EXPECT_EQ(m.spans_unsampled, 100);
  EXPECT_EQ(m.operation_count, 100);
  auto catalog = pricing::Catalog::Builtin().value();
  Usage usage;
  usage.input_tokens = 1000;
  usage.output_tokens = 100;
  const Money one = pricing::ComputeCost(*catalog->Find("openai", "gpt-4o-mini"), usage).total;
  EXPECT_EQ(m.total_cost.nanos(), one.nanos() * 100);
}

TEST(AdapterTest, HighPriorityAndErrorsAreExportedDespiteSampling) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.sampling_rate = 0.0;
  config.priority_sampling = true;
  config.error_sampling_rate = 1.0;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  adapter->track_operation("chat_completion", "ordinary");
  adapter->track_operation("chat_completion", "vip", {.priority = "high"});
  {
    Operation failing = adapter->track_operation("chat_completion", "failing");
    failing.record_error("provider returned 500");
  }
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(AttrAs<std::string>(spans[0], sc::kGenOpsOperationName), "vip");
  EXPECT_EQ(AttrAs<std::string>(spans[1], sc::kGenOpsOperationName), "failing");
}

TEST(AdapterTest, NestedOperationsFormOneTrace) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  std::string parent_span_id;
  {
    Operation parent = adapter->track_operation("batch_processing", "bulk");
    parent_span_id = parent.span_id();
    for (int i = 0; i < 3; ++i) {
      Operation child =
          adapter->track_operation("individual_request", "req", {.parent_span = &parent});
      EXPECT_EQ(child.trace_id(), parent.trace_id());
    }
  }
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(spans[i].trace_id, spans[3].trace_id);
    EXPECT_EQ(spans[i].parent_span_id.ToHex(), parent_span_id);
  }
  EXPECT_FALSE(spans[3].parent_span_id.valid());
}

TEST(AdapterTest, TraceparentJoinsExistingTrace) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  { Operation op = adapter->track_operation("chat_completion", "q", {.traceparent = tp}); }
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].trace_id.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(spans[0].parent_span_id.ToHex(), "00f067aa0ba902b7");
}

TEST(AdapterTest, MaxSpansPerOperationDropsExtraChildrenAndCountsThem) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.max_spans_per_operation = 3;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  {
    Operation root = adapter->track_operation("batch_processing", "bulk");
    for (int i = 0; i < 5; ++i) {
      Operation child = adapter->track_operation("individual_request", "r",
                                                 {.parent_span = &root, .estimated_cost = 0.0});
      child.update_cost(0.01);
    }
  }
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 3u);  // the root and two children
  EXPECT_EQ(AttrAs<int64_t>(spans.back(), sc::kGenOpsSpansDropped), 3);
  EXPECT_EQ(adapter->get_metrics().total_cost, Money::FromUsdString("0.05").value())
      << "dropped spans never drop money";
}

TEST(AdapterTest, ApprovalHoldsThenPassesOnceApproved) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.require_cost_approval = true;
  config.cost_approval_threshold = 1.0;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  Operation held = adapter->try_track_operation("chat_completion", "big", {.estimated_cost = 2.0});
  ASSERT_EQ(held.decision().result, DecisionResult::kApprovalRequired);
  const std::string id = held.decision().approval_id;
  ASSERT_FALSE(id.empty());
  held.end();
  ASSERT_TRUE(adapter->approve(id).ok());
  Operation retry = adapter->try_track_operation("chat_completion", "big",
                                                 {.estimated_cost = 2.0, .approval_id = id});
  EXPECT_TRUE(retry.allowed());
  retry.end();
  Operation again = adapter->try_track_operation("chat_completion", "big",
                                                 {.estimated_cost = 2.0, .approval_id = id});
  EXPECT_EQ(again.decision().result, DecisionResult::kApprovalRequired) << "one use only";
}

TEST(AdapterTest, ApprovalCallbackDecidesInProcess) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.require_cost_approval = true;
  config.cost_approval_threshold = 1.0;
  std::vector<Money> asked;
  config.approval_callback = [&](const ApprovalRequest& r) {
    asked.push_back(r.estimate);
    return r.estimate < Money::FromUsdString("3").value();
  };
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  EXPECT_TRUE(adapter->try_track_operation("c", "ok", {.estimated_cost = 2.0}).allowed());
  Operation denied = adapter->try_track_operation("c", "no", {.estimated_cost = 5.0});
  EXPECT_EQ(denied.decision().reason, DecisionReason::kApprovalDenied);
  EXPECT_EQ(asked.size(), 2u);
}

TEST(AdapterTest, AuditLogRecordsEveryOperationWithFrameworks) {
  Harness h;
  const std::string path = ::testing::TempDir() + "/genops-audit-test.jsonl";
  std::remove(path.c_str());
  AdapterConfig config = h.BaseConfig();
  config.enable_audit_logging = true;
  config.audit_all_operations = true;
  config.audit_log_path = path;
  config.compliance_frameworks = {"SOC2", "gdpr"};
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  adapter->track_operation("chat_completion", "one");
  adapter->track_operation("chat_completion", "two");
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_THAT(line, HasSubstr("\"compliance_frameworks\":[\"SOC2\",\"GDPR\"]"));
  }
  EXPECT_EQ(lines, 2);
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(AttrAs<std::vector<std::string>>(spans[0], sc::kGenOpsComplianceFrameworks),
            (std::vector<std::string>{"SOC2", "GDPR"}));
}

TEST(AdapterTest, DataResidencyRefusesOtherRegions) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.data_residency_requirements = {"us", "EU"};
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  EXPECT_TRUE(adapter->try_track_operation("c", "q", {.data_region = "eu"}).allowed());
  Operation op = adapter->try_track_operation("c", "q", {.data_region = "APAC"});
  EXPECT_EQ(op.decision().reason, DecisionReason::kDataResidency);
}

TEST(AdapterTest, GovernanceContextShowsInnermostOperation) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  EXPECT_FALSE(adapter->get_current_governance_context().current_operation_id.has_value());
  {
    Operation op = adapter->track_operation("c", "q", {.attribution = {.customer_id = "acme"}});
    GovernanceContext ctx = adapter->get_current_governance_context();
    ASSERT_TRUE(ctx.current_operation_id.has_value());
    EXPECT_EQ(*ctx.current_operation_id, op.operation_id());
    EXPECT_EQ(ctx.attribution.customer_id, "acme");
    EXPECT_EQ(ctx.attribution.team, "team-a");
  }
  EXPECT_FALSE(adapter->get_current_governance_context().current_operation_id.has_value());
}

TEST(AdapterTest, OperationEndedOnAnotherThreadLeavesNoDanglingContext) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  auto op = std::make_unique<Operation>(adapter->track_operation("c", "handed_off"));
  ASSERT_TRUE(adapter->get_current_governance_context().current_operation_id.has_value());
  std::thread([&] { op.reset(); }).join();  // ended and destroyed elsewhere
  EXPECT_FALSE(adapter->get_current_governance_context().current_operation_id.has_value());
  // And an operation that outlives its starting thread.
  std::unique_ptr<Operation> orphan;
  std::thread([&] {
    orphan = std::make_unique<Operation>(adapter->track_operation("c", "orphan"));
  }).join();
  orphan.reset();
  EXPECT_EQ(adapter->get_recent_operations_summary(10).operations.size(), 2u);
}

TEST(AdapterTest, EightThreadsNeverExceedTheBudget) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  config.daily_budget_limit = 1.0;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        Operation op = adapter->try_track_operation("c", "q", {.estimated_cost = 0.01});
        if (op.allowed()) {
          admitted.fetch_add(1);
          op.update_cost(0.01);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(adapter->get_metrics().total_cost, Money::FromUsdString("1").value());
  auto budgets = adapter->get_budget_status();
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].spent, Money::FromUsdString("1").value());
  EXPECT_EQ(budgets[0].reserved, Money());
}

TEST(AdapterTest, MultiProviderSummaryIsPerProviderAndExact) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.governance_policy = PolicyLevel::kEnforced;
  auto tracker = multi_provider_cost_tracking({"openai", "anthropic", "gemini"}, config);
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  Adapter& adapter = (*tracker)->adapter();
  adapter.track_operation("c", "a", {.provider = "openai", .model = "gpt-4o"})
      .update_token_usage(1000, 100);
  adapter.track_operation("c", "b", {.provider = "anthropic", .model = "claude-sonnet-4"})
      .update_token_usage(2000, 200);
  Operation other = adapter.try_track_operation("c", "x", {.provider = "cohere"});
  EXPECT_EQ(other.decision().result, DecisionResult::kBlocked);
  auto summary = (*tracker)->summary();
  EXPECT_EQ(summary.by_provider.at("openai").operations, 1);
  EXPECT_EQ(summary.by_provider.at("anthropic").operations, 1);
  EXPECT_EQ(summary.by_provider.at("google").operations, 0);
  EXPECT_GT(summary.by_provider.at("anthropic").cost.nanos(), 0);
  EXPECT_EQ(summary.total.cost,
            summary.by_provider.at("openai").cost + summary.by_provider.at("anthropic").cost);
  EXPECT_THAT(summary.ToString(), HasSubstr("anthropic"));
}

TEST(AdapterTest, RecentOperationsNewestFirstAndDetailedMetrics) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.enable_detailed_metrics = true;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  for (const char* name : {"first", "second", "third"}) {
    adapter->track_operation("c", name, {.provider = "openai", .model = "gpt-4o-mini"})
        .update_token_usage(10, 10);
  }
  OperationsSummary s = adapter->get_recent_operations_summary(2);
  ASSERT_EQ(s.operations.size(), 2u);
  EXPECT_EQ(s.operations[0].operation_name, "third");
  EXPECT_EQ(s.totals.operations, 3);
  AdapterMetrics m = adapter->get_metrics();
  EXPECT_EQ(m.by_model.at("gpt-4o-mini").operations, 3);
  EXPECT_EQ(m.by_team.at("team-a").operations, 3);
  EXPECT_THAT(m.ToJson(), HasSubstr("\"operation_count\": 3"));
}

// The receiver's way to record operations governed elsewhere: by exchange, filling the same
// record again for the next operation.
TEST(AdapterTest, ExternalOperationsRecordedByExchangeReachTheSummaryAndTotals) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  auto record = std::make_unique<OperationRecord>();
  for (int i = 0; i < 3; ++i) {
    if (record == nullptr) record = std::make_unique<OperationRecord>();
    record->operation_id = "otlp-" + std::to_string(i);
    record->operation_type = "chat";
    record->operation_name = "external " + std::to_string(i);
    record->attribution.team = "team-r";
    record->provider = "openai";
    record->model = "gpt-4o";
    record->cost = Money::FromNanos(1'000 * (i + 1));
    record->priced = true;
    record->start_unix_nanos = h.clock.NowUnixNanos();
    adapter->RecordExternalOperation(record);
  }
  OperationsSummary s = adapter->get_recent_operations_summary(10);
  ASSERT_EQ(s.operations.size(), 3u);
  EXPECT_EQ(s.operations[0].operation_id, "otlp-2");
  EXPECT_EQ(s.operations[2].operation_name, "external 0");
  EXPECT_EQ(s.totals.operations, 3);
  EXPECT_EQ(s.totals.cost, Money::FromNanos(6'000));
  EXPECT_EQ(s.operations[1].cost, Money::FromNanos(2'000));
  EXPECT_EQ(s.operations[1].attribution.team, "team-r");
}

TEST(AdapterTest, RetentionDropsOldRecordsButNotTotals) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.metrics_retention_days = 1;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  adapter->track_operation("c", "old").update_cost(0.5);
  h.clock.Advance(2 * kNanosPerDay);
  adapter->track_operation("c", "new").update_cost(0.25);
  OperationsSummary s = adapter->get_recent_operations_summary(10);
  ASSERT_EQ(s.operations.size(), 1u);
  EXPECT_EQ(s.operations[0].operation_name, "new");
  EXPECT_EQ(adapter->get_metrics().total_cost, Money::FromUsdString("0.75").value());
}

TEST(AdapterTest, AttributeLimitsTruncateLongValues) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.max_attribute_length = 10;
  auto adapter = h.Make(config);
  ASSERT_NE(adapter, nullptr);
  adapter->track_operation("c", "q").add_attributes({{"note", std::string(100, 'x')}});
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(AttrAs<std::string>(spans[0], "note").size(), 10u);
}

TEST(AdapterTest, CustomAttributesAndEventsAreExported) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  {
    Operation op = adapter->track_operation("chat_completion", "customer_query",
                                            {.tags = {{"priority", "high"}}});
    op.add_attributes({{"business.customer_tier", "enterprise"},
                       {"business.revenue_impact", 5000.0},
                       {"quality.satisfaction_score", 0.95}});
    op.add_event("retrieval.done", {{"documents", int64_t{4}}});
  }
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(AttrAs<std::string>(spans[0], "business.customer_tier"), "enterprise");
  EXPECT_DOUBLE_EQ(AttrAs<double>(spans[0], "business.revenue_impact"), 5000.0);
  EXPECT_EQ(AttrAs<std::string>(spans[0], "genops.tag.priority"), "high");
  bool found = false;
  for (const auto& e : spans[0].events) found |= e.name == "retrieval.done";
  EXPECT_TRUE(found);
  bool evaluated = false;
  for (const auto& e : spans[0].events) evaluated |= e.name == sc::kEventPolicyEvaluated;
  EXPECT_TRUE(evaluated);
}

// Semantic-convention keys refer to the constants (no copy per span); keys built at run
// time (tags, user attributes) are owned by the span and outlive the strings they came from.
TEST(AdapterTest, SemanticConventionKeysAreStaticAndRuntimeKeysOwned) {
  Harness h;
  auto adapter = h.Make(h.BaseConfig());
  ASSERT_NE(adapter, nullptr);
  {
    std::string tag_key = "region";
    std::string user_key = "business.customer_tier";
    Operation op = adapter->track_operation(
        "chat_completion", "q",
        {.tags = {{tag_key, "eu"}}, .provider = "openai", .model = "gpt-4o"});
    op.add_attributes(std::map<std::string, AttributeValue>{{user_key, std::string("gold")}});
    tag_key.assign(40, '?');
    user_key.assign(40, '?');
  }
  auto spans = h.spans->Snapshot();
  ASSERT_EQ(spans.size(), 1u);
  int checked = 0;
  for (const telemetry::Attribute& a : spans[0].attributes) {
    if (a.key == sc::kGenAiRequestModel || a.key == sc::kGenOpsTeam) {
      // Static: the key refers to the constant's characters instead of owning a copy. (Not
      // compared by address: each translation unit may hold its own copy of a literal, and
      // AddressSanitizer never merges them.)
      EXPECT_TRUE(a.key.is_static()) << a.key;
      ++checked;
    }
    if (a.key == "genops.tag.region" || a.key == "business.customer_tier") {
      EXPECT_FALSE(a.key.is_static()) << a.key;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4);
  EXPECT_EQ(AttrAs<std::string>(spans[0], "genops.tag.region"), "eu");
  EXPECT_EQ(AttrAs<std::string>(spans[0], "business.customer_tier"), "gold");
  ASSERT_FALSE(spans[0].events.empty());
  EXPECT_EQ(spans[0].events[0].name, sc::kEventPolicyEvaluated);
  EXPECT_TRUE(spans[0].events[0].name.is_static());
}

TEST(AdapterTest, GlobalAdapterServesFreeFunctions) {
  Harness h;
  AdapterConfig config = h.BaseConfig();
  config.daily_budget_limit = 10.0;
  auto adapter = auto_instrument("global-team", "global-project", config);
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  EXPECT_EQ(get_current_governance_context().attribution.team, "global-team");
  global_adapter()->track_operation("c", "q").update_cost(1.0);
  auto summary = get_recent_operations_summary(10);
  EXPECT_EQ(summary.operations.size(), 1u);
  auto budgets = get_budget_status();
  ASSERT_EQ(budgets.size(), 1u);
  EXPECT_EQ(budgets[0].spent, Money::FromUsdString("1").value());
  reset_global_adapter();
  EXPECT_EQ(global_adapter(), nullptr);
  EXPECT_TRUE(get_budget_status().empty());
}

}  // namespace
}  // namespace genops
