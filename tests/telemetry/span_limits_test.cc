#include "src/telemetry/span_limits.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/telemetry/semconv.h"

namespace genops::telemetry {
namespace {

SpanData SpanWith(size_t attributes, size_t events, size_t value_length) {
  SpanData span;
  for (size_t i = 0; i < attributes; ++i) {
    span.attributes.push_back({"k" + std::to_string(i), std::string(value_length, 'x')});
  }
  for (size_t i = 0; i < events; ++i) {
    span.events.push_back({"e" + std::to_string(i), static_cast<int64_t>(i), {}});
  }
  return span;
}

TEST(TruncateUtf8Test, CutsAtCodePointBoundaries) {
  std::string ascii = "abcdef";
  EXPECT_TRUE(TruncateUtf8(ascii, 3));
  EXPECT_EQ(ascii, "abc");
  EXPECT_FALSE(TruncateUtf8(ascii, 3));  // idempotent

  std::string euro = "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";  // "€€€": 3 chars, 9 bytes
  EXPECT_FALSE(TruncateUtf8(euro, 3));  // 3 characters fit although 9 bytes > 3
  EXPECT_EQ(euro.size(), 9u);
  EXPECT_TRUE(TruncateUtf8(euro, 2));
  EXPECT_EQ(euro, "\xE2\x82\xAC\xE2\x82\xAC");

  std::string emoji =
      "a\xF0\x9F\x98\x80"
      "b";  // a😀b
  EXPECT_TRUE(TruncateUtf8(emoji, 2));
  EXPECT_EQ(emoji, "a\xF0\x9F\x98\x80");

  std::string broken =
      "\xFF\xFE"
      "abc";  // invalid bytes count as one character each
  EXPECT_TRUE(TruncateUtf8(broken, 3));
  EXPECT_EQ(broken,
            "\xFF\xFE"
            "a");

  std::string truncated_sequence = "ab\xE2\x82";  // a sequence cut short: two lone bytes
  EXPECT_TRUE(TruncateUtf8(truncated_sequence, 3));
  EXPECT_EQ(truncated_sequence, "ab\xE2");
}

TEST(ApplyLimitsTest, TruncatesLongStringsAndCountsThem) {
  SpanData span = SpanWith(3, 0, 1500);
  span.attributes.push_back({"short", std::string("ok")});
  span.attributes.push_back({"number", int64_t{12345}});
  span.attributes.push_back(
      {"list", std::vector<std::string>{std::string(2000, 'y'), "fine", std::string(1001, 'z')}});
  const LimitsReport report = ApplyLimits(SpanLimits{}, span);
  EXPECT_EQ(report.truncated_values, 5u);  // 3 attributes + 2 list elements
  EXPECT_EQ(report.dropped_attributes, 0u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::get<std::string>(span.attributes[i].value).size(), 1000u);
  }
  EXPECT_EQ(std::get<std::string>(*span.FindAttribute("short")), "ok");
  const auto& list = std::get<std::vector<std::string>>(*span.FindAttribute("list"));
  EXPECT_EQ(list[0].size(), 1000u);
  EXPECT_EQ(list[1], "fine");
  EXPECT_EQ(list[2].size(), 1000u);
  EXPECT_EQ(span.dropped_attributes_count, 0u);
  EXPECT_TRUE(report.changed());
}

TEST(ApplyLimitsTest, DropsEventsBeyondTheLimitAndCountsThem) {
  SpanData span = SpanWith(0, 130, 0);
  span.dropped_events_count = 2;  // already dropped upstream, e.g. by the SDK's own cap
  const LimitsReport report = ApplyLimits(SpanLimits{}, span);
  EXPECT_EQ(report.dropped_events, 30u);
  ASSERT_EQ(span.events.size(), 100u);
  EXPECT_EQ(span.events.front().name, "e0");  // the first events are kept
  EXPECT_EQ(span.events.back().name, "e99");
  EXPECT_EQ(span.dropped_events_count, 32u);
}

TEST(ApplyLimitsTest, DropsAttributesBeyondTheLimitKeepingTheFirst) {
  SpanData span = SpanWith(200, 0, 4);
  const LimitsReport report = ApplyLimits(SpanLimits{}, span);
  EXPECT_EQ(report.dropped_attributes, 72u);
  ASSERT_EQ(span.attributes.size(), 128u);
  EXPECT_EQ(span.attributes.front().key, "k0");
  EXPECT_EQ(span.attributes.back().key, "k127");
  EXPECT_EQ(span.dropped_attributes_count, 72u);
}

TEST(ApplyLimitsTest, LimitsEventAttributesToo) {
  SpanData span;
  SpanEvent event{"genops.alert", 1, {}};
  for (int i = 0; i < 5; ++i)
    event.attributes.push_back({"a" + std::to_string(i), std::string(50, 'q')});
  span.events.push_back(event);
  const SpanLimits limits{.max_attribute_length = 10, .max_attributes_per_event = 3};
  const LimitsReport report = ApplyLimits(limits, span);
  EXPECT_EQ(report.dropped_event_attributes, 2u);
  EXPECT_EQ(report.truncated_values, 3u);
  ASSERT_EQ(span.events[0].attributes.size(), 3u);
  EXPECT_EQ(std::get<std::string>(span.events[0].attributes[0].value), std::string(10, 'q'));
}

TEST(ApplyLimitsTest, IsIdempotentAndNoOpWithinLimits) {
  SpanData span = SpanWith(10, 10, 10);
  EXPECT_FALSE(ApplyLimits(SpanLimits{}, span).changed());
  SpanData big = SpanWith(300, 300, 3000);
  EXPECT_TRUE(ApplyLimits(SpanLimits{}, big).changed());
  const uint32_t dropped_attributes = big.dropped_attributes_count;
  const uint32_t dropped_events = big.dropped_events_count;
  EXPECT_FALSE(ApplyLimits(SpanLimits{}, big).changed());
  EXPECT_EQ(big.dropped_attributes_count, dropped_attributes);
  EXPECT_EQ(big.dropped_events_count, dropped_events);
}

TEST(SpanLimitsTest, ValidationNamesTheField) {
  EXPECT_TRUE(ValidateSpanLimits(SpanLimits{}).ok());
  absl::Status status = ValidateSpanLimits({.max_attribute_length = 0});
  EXPECT_NE(status.message().find("max_attribute_length"), std::string::npos);
  status = ValidateSpanLimits({.max_events_per_span = 0});
  EXPECT_NE(status.message().find("max_events_per_span"), std::string::npos);
  status = ValidateSpanLimits({.max_attributes_per_span = 0});
  EXPECT_NE(status.message().find("max_attributes_per_span"), std::string::npos);
}

TEST(OperationSpanBudgetTest, RootCountsAndChildrenBeyondTheLimitAreRefused) {
  OperationSpanBudget budget(50);
  EXPECT_EQ(budget.recorded(), 1u);  // the root
  int accepted = 0;
  for (int i = 0; i < 60; ++i) accepted += budget.TryRecordChild() ? 1 : 0;
  EXPECT_EQ(accepted, 49);
  EXPECT_EQ(budget.recorded(), 50u);
  EXPECT_EQ(budget.dropped(), 11u);

  SpanData root;
  root.attributes.push_back({"genops.team", std::string("platform")});
  budget.AnnotateRoot(root);
  const AttributeValue* dropped = root.FindAttribute(semconv::kGenOpsSpansDropped);
  ASSERT_NE(dropped, nullptr);
  EXPECT_EQ(std::get<int64_t>(*dropped), 11);

  EXPECT_FALSE(budget.TryRecordChild());
  budget.AnnotateRoot(root);  // updates, does not duplicate
  EXPECT_EQ(std::get<int64_t>(*root.FindAttribute(semconv::kGenOpsSpansDropped)), 12);
  size_t count = 0;
  for (const Attribute& attribute : root.attributes) {
    count += attribute.key == semconv::kGenOpsSpansDropped ? 1 : 0;
  }
  EXPECT_EQ(count, 1u);
}

TEST(OperationSpanBudgetTest, NothingDroppedMeansNoAttribute) {
  OperationSpanBudget budget(5);
  EXPECT_TRUE(budget.TryRecordChild());
  SpanData root;
  budget.AnnotateRoot(root);
  EXPECT_EQ(root.FindAttribute(semconv::kGenOpsSpansDropped), nullptr);
}

TEST(OperationSpanBudgetTest, ZeroMeansUnlimited) {
  OperationSpanBudget budget(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(budget.TryRecordChild());
  EXPECT_EQ(budget.dropped(), 0u);
  EXPECT_EQ(budget.recorded(), 1001u);
}

TEST(OperationSpanBudgetTest, ExactUnderConcurrency) {
  OperationSpanBudget budget(1000);
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        if (budget.TryRecordChild()) accepted.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 999);
  EXPECT_EQ(budget.recorded(), 1000u);
  EXPECT_EQ(budget.dropped(), 20000u - 999u);
}

}  // namespace
}  // namespace genops::telemetry
