// Operation states are pooled and reused (src/sdk/operation.cc). Nothing of one operation may
// leak into the next one's span or record: attributes, events, errors, usage, cost.
#include <string>
#include <vector>

#include "gtest/gtest.h"
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

INSTANTIATE_TEST_SUITE_P(SyncAndAsyncExport, StateReuseTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("Async") : std::string("Sync");
                         });

}  // namespace
}  // namespace genops::testing
