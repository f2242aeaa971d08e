#include "src/receiver/trace_receiver.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/memory_exporter.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/telemetry/batch_span_processor.h"
#include "tests/receiver/receiver_test_util.h"
#include "tests/support/faulty_ledger.h"

namespace genops::receiver {
namespace {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::SpanData;
using testing::Harness;
using ::testing::HasSubstr;
using testing::MakeResource;
using testing::MakeSpan;

SpanData ChatSpan(uint8_t n, int64_t input = 1000, int64_t output = 200,
                  std::string model = "gpt-4o") {
  return MakeSpan(n, "chat " + model,
                  {{"gen_ai.provider.name", std::string("openai")},
                   {"gen_ai.operation.name", std::string("chat")},
                   {"gen_ai.request.model", model},
                   {"gen_ai.usage.input_tokens", input},
                   {"gen_ai.usage.output_tokens", output}});
}

SpanData HttpSpan(uint8_t n) {
  SpanData s = MakeSpan(n, "POST /v1/chat/completions",
                        {{"http.method", std::string("POST")}, {"http.status_code", int64_t{200}}},
                        telemetry::SpanKind::kServer);
  s.parent_span_id.bytes.fill(0x77);
  return s;
}

bool SameSpan(const SpanData& a, const SpanData& b) {
  if (a.attributes.size() != b.attributes.size() || a.events.size() != b.events.size()) {
    return false;
  }
  for (size_t k = 0; k < a.attributes.size(); ++k) {
    if (!(a.attributes[k].key == b.attributes[k].key) ||
        a.attributes[k].value != b.attributes[k].value) {
      return false;
    }
  }
  return a.trace_id == b.trace_id && a.span_id == b.span_id &&
         a.parent_span_id == b.parent_span_id && a.name == b.name && a.kind == b.kind &&
         a.start_unix_nanos == b.start_unix_nanos && a.end_unix_nanos == b.end_unix_nanos;
}

TEST(TraceReceiverTest, PricesChargesAndAnnotatesLlmSpansAndPassesOthersThrough) {
  Harness h;
  const auto resource = MakeResource(
      {{"service.name", std::string("checkout")}, {"genops.team", std::string("payments")}},
      "opentelemetry.instrumentation.openai", "0.40.0");
  const std::vector<SpanData> spans = {ChatSpan(1), HttpSpan(2),
                                       ChatSpan(3, 5000, 10, "gpt-4o-mini")};
  ExportOutcome out =
      h.receiver->Export(testing::ProtoBody(spans, resource), PayloadFormat::kProtobuf);
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(out.accepted_spans, 3);
  EXPECT_EQ(out.rejected_spans, 0);

  const Money c1 = h.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200});
  const Money c3 = h.Cost("openai", "gpt-4o-mini", {.input_tokens = 5000, .output_tokens = 10});
  EXPECT_EQ(h.TotalSpent(), c1 + c3);

  const std::vector<SpanData> got = h.sink->spans();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(SameSpan(got[1], spans[1])) << "non-LLM spans pass through unchanged";
  const SpanData& llm = got[0];
  EXPECT_EQ(testing::Get(llm, "genops.cost.total_nanos"), AttributeValue(c1.nanos()));
  EXPECT_EQ(testing::Get(llm, "genops.cost.priced"), AttributeValue(true));
  EXPECT_EQ(testing::Get(llm, "genops.cost.model"), AttributeValue(std::string("gpt-4o")));
  EXPECT_EQ(testing::Get(llm, "genops.team"), AttributeValue(std::string("payments")));
  EXPECT_EQ(testing::Get(llm, "genops.project"), AttributeValue(std::string("default-project")));
  EXPECT_EQ(testing::Get(llm, "genops.tokens.total"), AttributeValue(int64_t{1200}));
  EXPECT_EQ(testing::Get(llm, "genops.policy.result"), AttributeValue(std::string("allowed")));
  EXPECT_EQ(testing::Get(llm, "genops.operation.id"),
            AttributeValue("otlp-" + llm.trace_id.ToHex() + "-" + llm.span_id.ToHex()));
  // The application's own attributes are all still there, first and in order.
  for (size_t k = 0; k < spans[0].attributes.size(); ++k) {
    EXPECT_EQ(llm.attributes[k].key, spans[0].attributes[k].key);
  }
  ASSERT_FALSE(llm.events.empty());
  EXPECT_EQ(llm.events[0].name, "genops.budget.reconciliation");
  EXPECT_EQ(h.sink->resources()[0].attributes.size(), 2u);

  // Operation records for `genops report`.
  auto records = ledger::QueryOperations(*h.ledger, {});
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  Money recorded;
  for (const OperationRecord& r : *records) {
    recorded += r.cost;
    EXPECT_EQ(r.attribution.team, "payments");
    EXPECT_TRUE(r.priced);
    EXPECT_EQ(r.provider, "openai");
    EXPECT_EQ(r.operation_type, "chat");
  }
  EXPECT_EQ(recorded, c1 + c3);

  const ReceiverStats stats = h.receiver->stats();
  EXPECT_EQ(stats.spans_received, 3u);
  EXPECT_EQ(stats.spans_accepted, 3u);
  EXPECT_EQ(stats.llm_spans, 2u);
  EXPECT_EQ(stats.priced_spans, 2u);
  EXPECT_EQ(stats.charged_nanos, (c1 + c3).nanos());
}

// Fixtures of the same call in every attribute generation are charged the same amount.
TEST(TraceReceiverTest, EveryGenerationIsPricedTheSame) {
  const std::vector<std::vector<Attribute>> generations = {
      {{"gen_ai.provider.name", std::string("openai")},
       {"gen_ai.request.model", std::string("gpt-4o")},
       {"gen_ai.usage.input_tokens", int64_t{1000}},
       {"gen_ai.usage.output_tokens", int64_t{200}},
       {"gen_ai.usage.cache_read.input_tokens", int64_t{400}}},
      {{"gen_ai.system", std::string("OpenAI")},
       {"llm.request.type", std::string("chat")},
       {"gen_ai.request.model", std::string("gpt-4o")},
       {"gen_ai.usage.prompt_tokens", int64_t{1000}},
       {"gen_ai.usage.completion_tokens", int64_t{200}},
       {"gen_ai.usage.cache_read_input_tokens", int64_t{400}}},
      {{"gen_ai.system", std::string("openai")},
       {"gen_ai.request.model", std::string("gpt-4o")},
       {"gen_ai.usage.prompt_tokens", int64_t{1000}},
       {"llm.usage.total_tokens", int64_t{1200}},
       {"gen_ai.usage.cache_read_input_tokens", int64_t{400}}},
      {{"llm.vendor", std::string("OpenAI")},
       {"llm.request.model", std::string("gpt-4o")},
       {"llm.usage.prompt_tokens", int64_t{1000}},
       {"llm.usage.completion_tokens", int64_t{200}},
       {"gen_ai.usage.cache_read_input_tokens", int64_t{400}}},
  };
  Harness h;
  const Money want = h.Cost("openai", "gpt-4o",
                            {.input_tokens = 1000, .cache_read_tokens = 400, .output_tokens = 200});
  Money before;
  for (size_t g = 0; g < generations.size(); ++g) {
    SCOPED_TRACE(g);
    const SpanData span = MakeSpan(static_cast<uint8_t>(g + 1),
                                   g == 0 ? "chat gpt-4o" : "openai.chat", generations[g]);
    for (PayloadFormat format : {PayloadFormat::kProtobuf, PayloadFormat::kJson}) {
      SpanData s = span;
      s.span_id.bytes[0] = format == PayloadFormat::kJson ? 0x22 : 0x11;  // distinct ids
      const std::string body = format == PayloadFormat::kJson
                                   ? testing::JsonBody({s}, MakeResource({}))
                                   : testing::ProtoBody({s}, MakeResource({}));
      ASSERT_TRUE(h.receiver->Export(body, format).status.ok());
      const Money now = h.TotalSpent();
      EXPECT_EQ(now - before, want);
      before = now;
    }
  }
  // Anthropic with cache tokens, inclusive (OpenLLMetry >= 0.33.4) and exclusive (the
  // provider's own count), priced the same.
  const Money claude = h.Cost("anthropic", "claude-sonnet-4-5",
                              {.input_tokens = 1500,
                               .cache_read_tokens = 1000,
                               .cache_write_tokens = 400,
                               .output_tokens = 50});
  int n = 100;
  for (int64_t input : {1500, 100}) {
    const SpanData span = MakeSpan(static_cast<uint8_t>(n++), "anthropic.chat",
                                   {{"gen_ai.system", std::string("Anthropic")},
                                    {"gen_ai.request.model", std::string("claude-sonnet-4-5")},
                                    {"gen_ai.usage.prompt_tokens", input},
                                    {"gen_ai.usage.completion_tokens", int64_t{50}},
                                    {"gen_ai.usage.cache_read_input_tokens", int64_t{1000}},
                                    {"gen_ai.usage.cache_creation_input_tokens", int64_t{400}}});
    ASSERT_TRUE(h.receiver
                    ->Export(testing::ProtoBody(
                                 {span}, MakeResource({}, "opentelemetry.instrumentation.anthropic",
                                                      "0.38.7")),
                             PayloadFormat::kProtobuf)
                    .status.ok());
    const Money now = h.TotalSpent();
    EXPECT_EQ(now - before, claude);
    before = now;
  }
}

TEST(TraceReceiverTest, RedeliveredBatchChargesOnce) {
  Harness h;
  const std::string body =
      testing::ProtoBody({ChatSpan(1), ChatSpan(2, 10, 10), HttpSpan(3)}, MakeResource({}));
  ASSERT_TRUE(h.receiver->Export(body, PayloadFormat::kProtobuf).status.ok());
  const Money once = h.TotalSpent();
  EXPECT_GT(once, Money());
  ASSERT_TRUE(h.receiver->Export(body, PayloadFormat::kProtobuf).status.ok());
  // The same spans as JSON (a client that switched protocol on retry) charge nothing either.
  ASSERT_TRUE(h.receiver
                  ->Export(testing::JsonBody({ChatSpan(1), ChatSpan(2, 10, 10)}, MakeResource({})),
                           PayloadFormat::kJson)
                  .status.ok());
  EXPECT_EQ(h.TotalSpent(), once);
  auto records = ledger::QueryOperations(*h.ledger, {});
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 2u);
  const ReceiverStats stats = h.receiver->stats();
  EXPECT_EQ(stats.priced_spans, 6u);
  EXPECT_EQ(stats.redelivered_spans, 4u);
  EXPECT_EQ(stats.charged_nanos, once.nanos()) << "redeliveries add nothing to the charged total";
}

// A LangChain-style span over the OpenAI SDK's span of the same call (same usage), then, in a
// later request, an agent span over them reporting that call and one more: each call is
// charged once, and genops.cost.total sums to the trace's spend.
TEST(TraceReceiverTest, NestedLlmSpansChargeEachCallOnce) {
  Harness h;
  SpanData agent = ChatSpan(1, 3000, 600);  // this call (1000/200) plus one of 2000/400
  SpanData framework = ChatSpan(2);         // 1000/200
  SpanData sdk = ChatSpan(3);               // 1000/200: the same call, one level down
  SpanData http = HttpSpan(4);              // the SDK's HTTP span under it
  for (SpanData* s : {&framework, &sdk, &http}) s->trace_id = agent.trace_id;
  framework.parent_span_id = agent.span_id;
  sdk.parent_span_id = framework.span_id;
  http.parent_span_id = sdk.span_id;
  Usage call;
  call.input_tokens = 1000;
  call.output_tokens = 200;
  Usage all;
  all.input_tokens = 3000;
  all.output_tokens = 600;
  const Money call_cost = h.Cost("openai", "gpt-4o", call);
  const Money all_cost = h.Cost("openai", "gpt-4o", all);

  // Parent listed before its child: the request is netted children first anyway.
  const std::string first = testing::ProtoBody({framework, sdk, http}, MakeResource({}));
  ASSERT_TRUE(h.receiver->Export(first, PayloadFormat::kProtobuf).status.ok());
  EXPECT_EQ(h.TotalSpent(), call_cost);
  std::vector<SpanData> out = h.sink->spans();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(testing::Get(out[0], "genops.cost.total"), AttributeValue(0.0));
  EXPECT_EQ(testing::Get(out[0], "genops.cost.span_total"), AttributeValue(call_cost.usd()));
  EXPECT_EQ(testing::Get(out[0], "genops.cost.charged_below"), AttributeValue(call_cost.usd()));
  EXPECT_EQ(testing::Get(out[1], "genops.cost.total"), AttributeValue(call_cost.usd()));
  EXPECT_FALSE(testing::Get(out[1], "genops.cost.charged_below").has_value());

  const std::string second = testing::ProtoBody({agent}, MakeResource({}));
  ASSERT_TRUE(h.receiver->Export(second, PayloadFormat::kProtobuf).status.ok());
  EXPECT_EQ(h.TotalSpent(), all_cost);
  out = h.sink->spans();
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(testing::Get(out[3], "genops.cost.total"),
            AttributeValue((all_cost - call_cost).usd()));
  EXPECT_EQ(testing::Get(out[3], "genops.cost.charged_below"), AttributeValue(call_cost.usd()));

  // Redelivered, both requests charge nothing more; the records add up to the spend.
  ASSERT_TRUE(h.receiver->Export(first, PayloadFormat::kProtobuf).status.ok());
  ASSERT_TRUE(h.receiver->Export(second, PayloadFormat::kProtobuf).status.ok());
  EXPECT_EQ(h.TotalSpent(), all_cost);
  auto records = ledger::QueryOperations(*h.ledger, {});
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 3u);
  Money recorded;
  for (const OperationRecord& r : *records) recorded += r.cost;
  EXPECT_EQ(recorded, all_cost);
  EXPECT_EQ(h.receiver->stats().charged_nanos, all_cost.nanos());
}

TEST(TraceReceiverTest, ARequestIsChargedInOneLedgerBatchAcrossItsResources) {
  ManualClock clock;
  auto counting = std::make_shared<genops::testing::FaultyLedger>(ledger::NewMemoryLedger(&clock));
  Harness h(Harness::DefaultSettings(), {}, counting);
  DecodedTraces traces;
  ScopeSpansBatch& a = traces.batches.emplace_back();
  a.resource = MakeResource({{"genops.team", std::string("a")}});
  a.spans = {ChatSpan(1), HttpSpan(2), ChatSpan(3, 10, 10)};
  SpanData bad = ChatSpan(4);
  bad.span_id = {};
  ScopeSpansBatch& b = traces.batches.emplace_back();
  b.resource = MakeResource({{"genops.team", std::string("b")}});
  b.spans = {bad, ChatSpan(5, 7, 7, "gpt-4o-mini"), ChatSpan(6, 10, 10, "no-such-model")};
  traces.span_count = 6;
  ExportOutcome out = h.receiver->ExportDecoded(traces);
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_EQ(out.accepted_spans, 5);
  EXPECT_EQ(out.rejected_spans, 1);
  // Three priced spans over two resources: one ChargeBatch of three items.
  EXPECT_EQ(counting->charge_batches.load(), 1);
  EXPECT_EQ(counting->charge_batch_items.load(), 3);
  const Money c1 = h.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200});
  const Money c3 = h.Cost("openai", "gpt-4o", {.input_tokens = 10, .output_tokens = 10});
  const Money c5 = h.Cost("openai", "gpt-4o-mini", {.input_tokens = 7, .output_tokens = 7});
  EXPECT_EQ(h.TotalSpent(), c1 + c3 + c5);
  // Forwarded in request order, each with its own price and its resource's team.
  const std::vector<SpanData> got = h.sink->spans();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(testing::Get(got[0], "genops.cost.total_nanos"), AttributeValue(c1.nanos()));
  EXPECT_EQ(testing::Get(got[0], "genops.team"), AttributeValue(std::string("a")));
  EXPECT_EQ(testing::Get(got[2], "genops.cost.total_nanos"), AttributeValue(c3.nanos()));
  EXPECT_EQ(testing::Get(got[3], "genops.cost.total_nanos"), AttributeValue(c5.nanos()));
  EXPECT_EQ(testing::Get(got[3], "genops.team"), AttributeValue(std::string("b")));
  EXPECT_EQ(testing::Get(got[4], "genops.cost.priced"), AttributeValue(false));
  auto records = ledger::QueryOperations(*h.ledger, {});
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 4u);  // every valid LLM span, the unpriced one included
}

TEST(TraceReceiverTest, AlertsFireOnceAndBecomeSpanEvents) {
  GovernanceSettings settings = Harness::DefaultSettings();
  settings.cost_alert_threshold = Money::FromNanos(1);  // everything is above it
  Harness h(settings);
  const std::string body = testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  ASSERT_TRUE(h.receiver->Export(body, PayloadFormat::kProtobuf).status.ok());
  ASSERT_TRUE(h.receiver->Export(body, PayloadFormat::kProtobuf).status.ok());
  EXPECT_EQ(h.alert_sink->alerts().size(), 1u) << "a redelivery raises no second alert";
  const std::vector<SpanData> spans = h.sink->spans();
  ASSERT_EQ(spans.size(), 2u);
  int alert_events = 0;
  for (const auto& e : spans[0].events) alert_events += e.name == "genops.alert" ? 1 : 0;
  EXPECT_EQ(alert_events, 1);
}

TEST(TraceReceiverTest, BadTokenCountsRejectTheSpanOnly) {
  Harness h;
  std::vector<SpanData> spans = {ChatSpan(1), ChatSpan(2, -5), ChatSpan(3, 10, 5'000'000'000'000),
                                 HttpSpan(4)};
  SpanData no_ids = ChatSpan(5);
  no_ids.span_id = {};
  spans.push_back(no_ids);
  ExportOutcome out =
      h.receiver->Export(testing::ProtoBody(spans, MakeResource({})), PayloadFormat::kProtobuf);
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.accepted_spans, 2);
  EXPECT_EQ(out.rejected_spans, 3);
  EXPECT_THAT(out.error_message, HasSubstr("gen_ai.usage.input_tokens is -5"));
  EXPECT_THAT(out.error_message, HasSubstr("implausible"));
  EXPECT_THAT(out.error_message, HasSubstr("no trace_id or span_id"));
  EXPECT_THAT(out.error_message, HasSubstr(spans[1].span_id.ToHex()));
  // Only the valid LLM span is charged; rejected spans are neither charged nor forwarded.
  EXPECT_EQ(h.TotalSpent(),
            h.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200}));
  EXPECT_EQ(h.sink->spans().size(), 2u);
  EXPECT_EQ(h.receiver->stats().spans_rejected, 3u);
}

TEST(TraceReceiverTest, ManyRejectionsAreSummarised) {
  ReceiverOptions options;
  options.max_listed_rejections = 2;
  Harness h(Harness::DefaultSettings(), options);
  std::vector<SpanData> spans;
  for (uint8_t k = 1; k <= 6; ++k) spans.push_back(ChatSpan(k, -1));
  ExportOutcome out =
      h.receiver->Export(testing::ProtoBody(spans, MakeResource({})), PayloadFormat::kProtobuf);
  EXPECT_EQ(out.rejected_spans, 6);
  EXPECT_THAT(out.error_message, HasSubstr("and 4 more rejected spans"));
}

TEST(TraceReceiverTest, UnpricedModelsAreMarkedCountedAndNeverCharged) {
  Harness h;
  const std::vector<SpanData> spans = {
      ChatSpan(1, 100, 100, "gpt-nonexistent-9"),
      MakeSpan(2, "chat llama3",
               {{"gen_ai.provider.name", std::string("ollama")},
                {"gen_ai.request.model", std::string("gpt-4o")},
                {"gen_ai.usage.input_tokens", int64_t{100}},
                {"gen_ai.usage.output_tokens", int64_t{100}}}),
  };
  ASSERT_TRUE(
      h.receiver->Export(testing::ProtoBody(spans, MakeResource({})), PayloadFormat::kProtobuf)
          .status.ok());
  EXPECT_EQ(h.TotalSpent(), Money());
  const ReceiverStats stats = h.receiver->stats();
  EXPECT_EQ(stats.unpriced_spans, 2u);
  EXPECT_EQ(stats.priced_spans, 0u);
  for (const SpanData& s : h.sink->spans()) {
    EXPECT_EQ(testing::Get(s, "genops.cost.priced"), AttributeValue(false));
    EXPECT_EQ(s.FindAttribute("genops.cost.total"), nullptr);
    EXPECT_EQ(testing::Get(s, "genops.policy.reason"),
              AttributeValue(std::string("unpriced_model")));
  }
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_FALSE(h.records[0].priced);
}

TEST(TraceReceiverTest, SpansGenOpsAlreadyChargedPassThrough) {
  Harness h;
  SpanData governed = ChatSpan(1);
  governed.attributes.push_back({"genops.operation.id", std::string("sdk-op-1")});
  governed.attributes.push_back({"genops.cost.total", 0.01});
  ASSERT_TRUE(
      h.receiver->Export(testing::ProtoBody({governed}, MakeResource({})), PayloadFormat::kProtobuf)
          .status.ok());
  EXPECT_EQ(h.TotalSpent(), Money());
  ASSERT_EQ(h.sink->spans().size(), 1u);
  EXPECT_TRUE(SameSpan(h.sink->spans()[0], governed));
  EXPECT_EQ(h.receiver->stats().already_governed, 1u);
}

TEST(TraceReceiverTest, UndecodableRequestsChargeNothing) {
  Harness h;
  const std::string body = testing::ProtoBody({ChatSpan(1), ChatSpan(2)}, MakeResource({}));
  ExportOutcome out = h.receiver->Export(std::string_view(body).substr(0, body.size() - 3),
                                         PayloadFormat::kProtobuf);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument);
  out = h.receiver->Export("{not json", PayloadFormat::kJson);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.TotalSpent(), Money());
  EXPECT_TRUE(h.sink->spans().empty());
  EXPECT_EQ(h.receiver->stats().requests_refused, 2u);
}

TEST(TraceReceiverTest, LedgerOutageQueuesTheChargeAndStillForwards) {
  ManualClock clock;
  auto faulty = std::make_shared<genops::testing::FaultyLedger>(ledger::NewMemoryLedger(&clock));
  Harness h(Harness::DefaultSettings(), {}, faulty);
  faulty->down = true;
  const std::string body = testing::ProtoBody({ChatSpan(1)}, MakeResource({}));
  ExportOutcome out = h.receiver->Export(body, PayloadFormat::kProtobuf);
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.accepted_spans, 1);
  ASSERT_EQ(h.sink->spans().size(), 1u);
  EXPECT_EQ(h.receiver->stats().ledger_errors, 1u);
  bool ledger_ok = true;
  const std::vector<SpanData> forwarded = h.sink->spans();
  for (const auto& e : forwarded[0].events) {
    for (const auto& a : e.attributes) {
      if (a.key == "genops.accounting.ledger_ok") {
        ASSERT_TRUE(std::holds_alternative<bool>(a.value)) << a.value.index();
        ledger_ok = std::get<bool>(a.value);
      }
    }
  }
  EXPECT_FALSE(ledger_ok);
  faulty->down = false;
  ASSERT_TRUE(h.governor->FlushPending().ok());
  const Money once = h.TotalSpent();
  EXPECT_EQ(once, h.Cost("openai", "gpt-4o", {.input_tokens = 1000, .output_tokens = 200}));
  // The client retries the batch it may think failed: still charged once.
  ASSERT_TRUE(h.receiver->Export(body, PayloadFormat::kProtobuf).status.ok());
  EXPECT_EQ(h.TotalSpent(), once);
}

TEST(TraceReceiverTest, BudgetsAreChargedAndReported) {
  GovernanceSettings settings = Harness::DefaultSettings();
  ledger::BudgetSpec budget;
  budget.name = "payments-day";
  budget.scope = {{"team", "payments"}};
  budget.limit = Money::FromNanos(1'000);  // far below one call: exceeded after it
  budget.period = ledger::BudgetPeriod::kDay;
  settings.budgets = {budget};
  Harness h(settings);
  SpanData span = ChatSpan(1);
  span.attributes.push_back({"traceloop.association.properties.team", std::string("payments")});
  ASSERT_TRUE(
      h.receiver->Export(testing::ProtoBody({span}, MakeResource({})), PayloadFormat::kProtobuf)
          .status.ok());
  auto budgets = h.ledger->ListBudgets(h.clock.NowUnixNanos());
  ASSERT_TRUE(budgets.ok());
  ASSERT_EQ(budgets->size(), 1u);
  EXPECT_EQ((*budgets)[0].spent, h.TotalSpent());
  const SpanData got = h.sink->spans()[0];
  EXPECT_EQ(testing::Get(got, "genops.budget.name"), AttributeValue(std::string("payments-day")));
  EXPECT_EQ(testing::Get(got, "genops.policy.result"), AttributeValue(std::string("warned")));
  EXPECT_EQ(testing::Get(got, "genops.policy.reason"),
            AttributeValue(std::string("budget_exceeded")));
  EXPECT_FALSE(h.alert_sink->alerts().empty());  // the 50/80/100% thresholds
}

// The sink the lead wires: a BatchSpanProcessor behind MakeSpanProcessorSink.
class CountingExporter final : public exporter::SpanExporter {
 public:
  exporter::ExportResult Export(std::span<const SpanData> spans) noexcept override {
    exported += spans.size();
    return exporter::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
  std::string_view name() const noexcept override { return "counting"; }
  std::atomic<size_t> exported{0};
};

TEST(TraceReceiverTest, ProcessorSinkForwardsAndCountsDrops) {
  auto exporter = std::make_unique<CountingExporter>();
  CountingExporter* counting = exporter.get();
  telemetry::BatchSpanProcessorOptions options;
  options.span_processor_queue_size = 4;
  options.export_batch_size = 4;
  options.batch_timeout = std::chrono::milliseconds(10'000);
  auto processor = telemetry::BatchSpanProcessor::Create(std::move(exporter), options);
  ASSERT_TRUE(processor.ok());
  std::shared_ptr<telemetry::SpanProcessor> shared = std::move(*processor);
  Harness h(Harness::DefaultSettings(), {}, nullptr, MakeSpanProcessorSink(shared));
  ASSERT_NE(h.receiver, nullptr);
  OtlpTraceReceiver* receiver = h.receiver.get();
  std::vector<SpanData> spans;
  for (uint8_t k = 1; k <= 10; ++k) spans.push_back(HttpSpan(k));
  ExportOutcome out =
      receiver->Export(testing::ProtoBody(spans, MakeResource({})), PayloadFormat::kProtobuf);
  EXPECT_EQ(out.accepted_spans, 10);  // accepted even when the forwarding queue overflows
  ASSERT_TRUE(shared->ForceFlush(std::chrono::seconds(10)));
  const ReceiverStats stats = receiver->stats();
  EXPECT_EQ(stats.forwarding.enqueued + stats.forwarding.dropped_queue_full, 10u);
  EXPECT_EQ(stats.forwarding.exported, counting->exported.load());
  EXPECT_GE(stats.forwarding.enqueued, 4u);
  shared->Shutdown(std::chrono::seconds(5));
}

// The processor sink hands every span to OnEndRecycling, which gives back the buffers of spans
// exported earlier; the receiver decodes its next requests over them. What reaches the
// exporter must be exactly what a sink that keeps fresh spans receives.
TEST(TraceReceiverTest, RecyclingProcessorSinkForwardsWhatAPlainSinkReceives) {
  auto memory = std::make_shared<exporter::InMemorySpanExporter>();
  struct Forward final : exporter::SpanExporter {
    explicit Forward(std::shared_ptr<exporter::InMemorySpanExporter> m) : memory(std::move(m)) {}
    exporter::ExportResult Export(std::span<const SpanData> spans) noexcept override {
      return memory->Export(spans);
    }
    bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
    std::string_view name() const noexcept override { return "forward"; }
    std::shared_ptr<exporter::InMemorySpanExporter> memory;
  };
  telemetry::BatchSpanProcessorOptions options;
  options.span_processor_queue_size = 16;  // small: the ring goes round several times
  options.export_batch_size = 4;
  auto processor =
      telemetry::BatchSpanProcessor::Create(std::make_unique<Forward>(memory), options);
  ASSERT_TRUE(processor.ok());
  std::shared_ptr<telemetry::SpanProcessor> shared = std::move(*processor);
  Harness recycling(Harness::DefaultSettings(), {}, nullptr, MakeSpanProcessorSink(shared));
  Harness plain;
  ASSERT_NE(recycling.receiver, nullptr);
  ASSERT_NE(plain.receiver, nullptr);

  const auto resource = MakeResource({{"service.name", std::string("app")}},
                                     "opentelemetry.instrumentation.openai", "0.40.0");
  // Requests of varying size and shape: LLM spans (enriched: ~25 attributes and an event
  // added), plain spans, a span the receiver rejects.
  std::vector<std::string> bodies;
  uint8_t next_id = 1;
  for (int request = 0; request < 8; ++request) {
    std::vector<SpanData> spans;
    const int count = 3 + (request * 5) % 9;
    for (int k = 0; k < count; ++k) {
      const uint8_t id = next_id++;
      if ((k + request) % 3 == 0) {
        spans.push_back(HttpSpan(id));
      } else {
        spans.push_back(
            ChatSpan(id, 100 * (k + 1), 10 + request, k % 2 != 0 ? "gpt-4o" : "gpt-4o-mini"));
      }
    }
    if (request == 5) spans[1].span_id = {};  // rejected
    bodies.push_back(testing::ProtoBody(spans, resource));
  }
  // All through one receiver, then all through the other: both decode on this thread, into
  // its one recycled DecodedTraces.
  std::vector<ExportOutcome> outcomes;
  for (const std::string& body : bodies) {
    outcomes.push_back(recycling.receiver->Export(body, PayloadFormat::kProtobuf));
    ASSERT_TRUE(outcomes.back().status.ok()) << outcomes.back().status;
    ASSERT_TRUE(shared->ForceFlush(std::chrono::seconds(10)));
  }
  for (size_t r = 0; r < bodies.size(); ++r) {
    const ExportOutcome plain_outcome = plain.receiver->Export(bodies[r], PayloadFormat::kProtobuf);
    EXPECT_EQ(outcomes[r].accepted_spans, plain_outcome.accepted_spans);
    EXPECT_EQ(outcomes[r].rejected_spans, plain_outcome.rejected_spans);
    EXPECT_EQ(outcomes[r].error_message, plain_outcome.error_message);
  }
  ASSERT_TRUE(shared->Shutdown(std::chrono::seconds(5)));
  const std::vector<SpanData> exported = memory->GetSpans();
  const std::vector<SpanData> received = plain.sink->spans();
  ASSERT_EQ(exported.size(), received.size());
  ASSERT_GT(exported.size(), 3 * options.span_processor_queue_size);
  for (size_t k = 0; k < received.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "span " << k);
    ASSERT_NE(exported[k].origin, nullptr);
    EXPECT_EQ(exported[k].origin->attributes.size(), 1u);
    SpanData want = received[k];
    want.origin = exported[k].origin;
    testing::ExpectIdenticalSpans(want, exported[k]);
  }
  EXPECT_EQ(recycling.TotalSpent(), plain.TotalSpent());
  EXPECT_EQ(recycling.receiver->stats().priced_spans, plain.receiver->stats().priced_spans);
}

// Spans reach the exporters under the resource and scope their application sent, not GenOps'.
TEST(TraceReceiverTest, ProcessorSinkForwardsTheApplicationsResourceAndScope) {
  auto memory = std::make_shared<exporter::InMemorySpanExporter>();
  struct Forward final : exporter::SpanExporter {  // the processor wants to own its exporter
    explicit Forward(std::shared_ptr<exporter::InMemorySpanExporter> m) : memory(std::move(m)) {}
    exporter::ExportResult Export(std::span<const SpanData> spans) noexcept override {
      return memory->Export(spans);
    }
    bool Shutdown(std::chrono::milliseconds) noexcept override { return true; }
    std::string_view name() const noexcept override { return "forward"; }
    std::shared_ptr<exporter::InMemorySpanExporter> memory;
  };
  auto processor = telemetry::BatchSpanProcessor::Create(std::make_unique<Forward>(memory), {});
  ASSERT_TRUE(processor.ok());
  std::shared_ptr<telemetry::SpanProcessor> shared = std::move(*processor);
  Harness h(Harness::DefaultSettings(), {}, nullptr, MakeSpanProcessorSink(shared));
  ASSERT_NE(h.receiver, nullptr);
  OtlpTraceReceiver* receiver = h.receiver.get();

  // One request with two (resource, scope) groups: app-x's OpenAI instrumentation (an LLM span
  // and an HTTP span) and app-y's. The encoder writes one ResourceSpans per origin.
  const auto app_x = std::make_shared<const telemetry::ResourceInfo>(
      MakeResource({{"service.name", std::string("app-x")},
                    {"service.version", std::string("2.1.0")},
                    {"telemetry.sdk.language", std::string("nodejs")}},
                   "@traceloop/instrumentation-openai", "0.11.0"));
  const auto app_y = std::make_shared<const telemetry::ResourceInfo>(MakeResource(
      {{"service.name", std::string("app-y")}}, "opentelemetry.instrumentation.httpx"));
  std::vector<SpanData> spans = {ChatSpan(1), HttpSpan(2), HttpSpan(3)};
  spans[0].origin = app_x;
  spans[1].origin = app_x;
  spans[2].origin = app_y;
  ExportOutcome out = receiver->Export(exporter::EncodeOtlpProto(spans, MakeResource({})),
                                       PayloadFormat::kProtobuf);
  ASSERT_TRUE(out.status.ok()) << out.status;
  ASSERT_EQ(out.accepted_spans, 3);
  // A second request from app-x: its origin is shared with the first one's.
  std::vector<SpanData> later = {HttpSpan(4)};
  later[0].origin = app_x;
  out = receiver->Export(exporter::EncodeOtlpProto(later, MakeResource({})),
                         PayloadFormat::kProtobuf);
  ASSERT_EQ(out.accepted_spans, 1);
  ASSERT_TRUE(shared->ForceFlush(std::chrono::seconds(10)));

  const std::vector<SpanData> got = memory->GetSpans();
  ASSERT_EQ(got.size(), 4u);
  for (const SpanData& span : got) ASSERT_NE(span.origin, nullptr) << span.name;
  const telemetry::ResourceInfo& x = *got[0].origin;
  EXPECT_EQ(testing::Get(got[0], "genops.cost.priced"), AttributeValue(true));  // enriched
  ASSERT_EQ(x.attributes.size(), 3u);
  EXPECT_EQ(x.attributes[0].key, "service.name");
  EXPECT_EQ(x.attributes[0].value, AttributeValue(std::string("app-x")));
  EXPECT_EQ(x.attributes[2].value, AttributeValue(std::string("nodejs")));
  EXPECT_EQ(x.scope_name, "@traceloop/instrumentation-openai");
  EXPECT_EQ(x.scope_version, "0.11.0");
  EXPECT_EQ(got[1].origin, got[0].origin);  // one origin per (resource, scope) group
  EXPECT_EQ(got[3].origin, got[0].origin);  // and across requests
  EXPECT_EQ(got[2].origin->attributes[0].value, AttributeValue(std::string("app-y")));
  EXPECT_EQ(got[2].origin->scope_name, "opentelemetry.instrumentation.httpx");
  EXPECT_TRUE(got[2].origin->scope_version.empty());

  // What an OTLP exporter behind the processor sends: the applications' resources, no GenOps'.
  telemetry::ResourceInfo genops_resource =
      MakeResource({{"service.name", std::string("genops-serve")}}, "genops", "0.1.0");
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  ASSERT_TRUE(request.ParseFromString(exporter::EncodeOtlpProto(got, genops_resource)));
  ASSERT_EQ(request.resource_spans_size(), 2);
  EXPECT_EQ(request.resource_spans(0).resource().attributes(0).value().string_value(), "app-x");
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).scope().name(),
            "@traceloop/instrumentation-openai");
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).spans_size(), 3);
  EXPECT_EQ(request.resource_spans(1).resource().attributes(0).value().string_value(), "app-y");
  EXPECT_EQ(request.resource_spans(1).scope_spans(0).spans_size(), 1);
  shared->Shutdown(std::chrono::seconds(5));
}

}  // namespace
}  // namespace genops::receiver
