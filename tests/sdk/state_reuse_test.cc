// Operation states are pooled and reused (src/sdk/operation.cc). Nothing of one operation may
// leak into the next one's span or record: attributes, events, errors, usage, cost.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/core/text.h"
#include "tests/sdk/sdk_test_util.h"

namespace genops::testing {
namespace {

class StateReuseTest : public ::testing::TestWithParam<bool> {};

TEST_P(StateReuseTest, NothingOfOneOperationLeaksIntoTheNext) {
  Harness harness;
  AdapterConfig config = harness.BaseConfig();
  config.enable_async_export = GetParam();
  std::shared_ptr<AdapterImpl> adapter = harness.Make(config);
  ASSERT_NE(adapter, nullptr);
  constexpr int kRounds = 50;
  for (int i = 0; i < kRounds; ++i) {
    Operation op = adapter->track_operation("chat_completion", "round-" + std::to_string(i),
                                            {.provider = "openai", .model = "gpt-4o"});
    if (i % 2 == 0) {
      // Even rounds carry everything; odd rounds carry nothing, so a leak shows up there.
      op.add_attributes({{"leak.marker", std::string("round-") + std::to_string(i)}});
      op.add_event("leak.event");
      op.update_token_usage(1000, 100);
      op.record_error("boom " + std::to_string(i));
    }
  }
  ASSERT_TRUE(adapter->flush(10'000));
  const std::vector<telemetry::SpanData> spans = harness.spans->Snapshot();
  ASSERT_EQ(spans.size(), static_cast<size_t>(kRounds));
  int leaky = 0;
  int odd = 0;
  for (const telemetry::SpanData& span : spans) {
    const auto* name = span.FindAttribute("genops.operation.name");
    ASSERT_NE(name, nullptr);
    const std::string round = std::get<std::string>(*name);
    const int i = std::stoi(round.substr(round.find('-') + 1));
    if (i % 2 == 0) {
      EXPECT_NE(span.FindAttribute("leak.marker"), nullptr) << round;
      EXPECT_EQ(span.status_code, telemetry::StatusCode::kError) << round;
      continue;
    }
    ++odd;
    if (span.FindAttribute("leak.marker") != nullptr) ++leaky;
    for (const telemetry::SpanEvent& event : span.events) {
      EXPECT_NE(event.name, "leak.event") << round;
    }
    EXPECT_NE(span.status_code, telemetry::StatusCode::kError) << round;
  }
  EXPECT_EQ(odd, kRounds / 2);
  EXPECT_EQ(leaky, 0);
  // The records agree: odd rounds cost nothing and carry no error.
  for (const OperationRecord& r : adapter->get_recent_operations_summary(kRounds).operations) {
    const int i = std::stoi(r.operation_name.substr(r.operation_name.find('-') + 1));
    EXPECT_EQ(r.error, i % 2 == 0) << r.operation_name;
    EXPECT_EQ(r.usage.input_tokens, i % 2 == 0 ? 1000 : 0) << r.operation_name;
    if (i % 2 == 1) {
      EXPECT_EQ(r.cost, Money()) << r.operation_name;
    }
  }
}

// A recycled State keeps a few strings of its last operation (operation type and name, model,
// attribution) and assigns them only when they differ; nothing may carry over into an
// operation that asks for something else, also across adapters sharing the pool.
TEST_P(StateReuseTest, KeptFieldsNeverCarryIntoAnOperationThatDiffers) {
  Harness harness;
  AdapterConfig config_a = harness.BaseConfig();
  config_a.enable_async_export = GetParam();
  AdapterConfig config_b = config_a;
  config_b.team = "team-b";
  config_b.project = "proj-y";
  std::shared_ptr<AdapterImpl> a = harness.Make(config_a);
  std::shared_ptr<AdapterImpl> b = harness.Make(config_b);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  struct Expected {
    std::string name;
    std::string team;
    std::string customer;  // empty: none
    std::string model;
    std::string type;
  };
  std::vector<Expected> expected;
  for (int i = 0; i < 24; ++i) {
    AdapterImpl& adapter = i % 3 == 1 ? *b : *a;
    TrackOptions options;
    options.provider = "openai";
    options.model = i % 2 == 0 ? "gpt-4o" : "gpt-4o-mini";
    if (i % 4 == 3) options.attribution.customer_id = "customer-" + std::to_string(i);
    const std::string type = i % 5 == 0 ? "embedding" : "chat_completion";
    const std::string name = "op-" + std::to_string(i);
    { Operation op = adapter.track_operation(type, name, options); }
    expected.push_back({name, i % 3 == 1 ? "team-b" : "team-a",
                        options.attribution.customer_id, options.model, type});
  }
  ASSERT_TRUE(a->flush(10'000));
  ASSERT_TRUE(b->flush(10'000));
  const std::vector<telemetry::SpanData> spans = harness.spans->Snapshot();
  ASSERT_EQ(spans.size(), expected.size());
  for (const telemetry::SpanData& span : spans) {
    const std::string name = AttrAs<std::string>(span, "genops.operation.name");
    const int i = std::stoi(name.substr(3));
    const Expected& e = expected[static_cast<size_t>(i)];
    EXPECT_EQ(AttrAs<std::string>(span, "genops.team"), e.team) << name;
    EXPECT_EQ(AttrAs<std::string>(span, "genops.project"),
              e.team == "team-b" ? "proj-y" : "proj-x")
        << name;
    if (e.customer.empty()) {
      EXPECT_EQ(Attr(span, "genops.customer_id"), nullptr) << name;
    } else {
      EXPECT_EQ(AttrAs<std::string>(span, "genops.customer_id"), e.customer) << name;
    }
    EXPECT_EQ(AttrAs<std::string>(span, "gen_ai.request.model"), e.model) << name;
    EXPECT_EQ(AttrAs<std::string>(span, "genops.operation.type"), e.type) << name;
  }
  for (AdapterImpl* adapter : {a.get(), b.get()}) {
    for (const OperationRecord& r : adapter->get_recent_operations_summary(100).operations) {
      const Expected& e = expected[static_cast<size_t>(std::stoi(r.operation_name.substr(3)))];
      EXPECT_EQ(r.attribution.team, e.team) << r.operation_name;
      EXPECT_EQ(r.attribution.customer_id, e.customer) << r.operation_name;
      EXPECT_EQ(r.model, e.model) << r.operation_name;
      EXPECT_EQ(r.operation_type, e.type) << r.operation_name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SyncAndAsyncExport, StateReuseTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("Async") : std::string("Sync");
                         });

// The export thread builds each span in a SpanData of its batch that still holds the
// attributes and events of the span exported there before, writing over them
// (DeferredSpanSource::Materialize). A span must come out exactly as if built from scratch:
// same attributes in the same order with the same value types, same events, no status of
// the earlier span.
TEST(RecycledSpanTest, ASpanBuiltOverAnEarlierOneHoldsNothingOfIt) {
  Harness harness;
  AdapterConfig config = harness.BaseConfig();
  config.enable_async_export = true;
  config.export_batch_size = 1;  // every span is built in the same SpanData of the batch
  std::shared_ptr<AdapterImpl> adapter = harness.Make(config);
  ASSERT_NE(adapter, nullptr);
  auto shape = [](const telemetry::SpanData& span) {
    std::vector<std::string> out;
    for (const telemetry::Attribute& a : span.attributes) {
      out.push_back(Cat(a.key.view(), ":", a.value.index()));
    }
    for (const telemetry::SpanEvent& e : span.events) {
      out.push_back(Cat("event ", e.name.view()));
      for (const telemetry::Attribute& a : e.attributes) {
        out.push_back(Cat("  ", a.key.view(), ":", a.value.index()));
      }
    }
    out.push_back(Cat("status ", static_cast<int>(span.status_code), " ",
                      span.status_message.substr(0, span.status_message.find_last_of(' '))));
    out.push_back(Cat("dropped ", span.dropped_attributes_count, " ", span.dropped_events_count));
    return out;
  };
  constexpr int kRounds = 12;
  for (int i = 0; i < kRounds; ++i) {
    {
      Operation op = adapter->track_operation("chat_completion", "round-" + std::to_string(i),
                                              {.provider = "openai", .model = "gpt-4o"});
      if (i % 2 == 1) {
        // Heavy rounds: more attributes (one with the type a light round has there as a
        // number), events with attributes, an error and a long attribute key.
        op.add_attributes({{"custom.value", std::string("text")},
                           {"custom.extra", int64_t{7}},
                           {std::string(40, 'k'), true}});
        op.add_event("heavy.event", {{"heavy.attribute", std::string(64, 'x')}});
        op.record_error("heavy round " + std::to_string(i));
      } else {
        op.add_attributes({{"custom.value", int64_t{1}}});
      }
      op.update_token_usage(1000, 100);
    }
    ASSERT_TRUE(adapter->flush(10'000));  // one span per export: the next one is built over it
  }
  const std::vector<telemetry::SpanData> spans = harness.spans->Snapshot();
  ASSERT_EQ(spans.size(), static_cast<size_t>(kRounds));
  // Round 0 was built in an empty SpanData, round 1 over round 0's, and so on.
  const std::vector<std::string> light = shape(spans[0]);
  const std::vector<std::string> heavy = shape(spans[1]);
  EXPECT_NE(light, heavy);
  for (int i = 2; i < kRounds; ++i) {
    EXPECT_EQ(shape(spans[static_cast<size_t>(i)]), i % 2 == 0 ? light : heavy) << "round " << i;
    EXPECT_EQ(AttrAs<std::string>(spans[static_cast<size_t>(i)], "genops.operation.name"),
              "round-" + std::to_string(i));
  }
  EXPECT_EQ(spans[2].status_code, telemetry::StatusCode::kUnset);
  EXPECT_EQ(AttrAs<int64_t>(spans[2], "custom.value"), 1);
  EXPECT_EQ(AttrAs<std::string>(spans[3], "custom.value"), "text");
}

}  // namespace
}  // namespace genops::testing
