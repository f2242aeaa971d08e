#include "src/receiver/nested_spend.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace genops::receiver {
namespace {

using Node = NestedSpendTracker::Node;

Money Usd(int64_t cents) { return Money::FromNanos(cents * 10'000'000); }  // cents

telemetry::TraceId Trace(uint8_t n) {
  telemetry::TraceId id;
  id.bytes[15] = n;
  return id;
}
telemetry::SpanId Span(uint8_t n) {
  telemetry::SpanId id;
  if (n != 0) id.bytes[7] = n;
  return id;
}

// A span of trace 1: `id` under `parent` (0: a root); charged with `cents` when given.
Node At(uint8_t id, uint8_t parent, int64_t cents = -1, uint8_t trace = 1) {
  Node node;
  node.trace_id = Trace(trace);
  node.span_id = Span(id);
  node.parent_span_id = Span(parent);
  if (cents >= 0) {
    node.charged = true;
    node.cost = Usd(cents);
  }
  return node;
}

TEST(NestedSpendTrackerTest, ALoneLlmSpanIsChargedInFull) {
  NestedSpendTracker tracker;
  std::vector<Node> nodes = {At(1, 0, 120)};
  tracker.Plan(nodes);
  EXPECT_EQ(nodes[0].charge, Usd(120));
  EXPECT_EQ(nodes[0].below, Money());
}

// LangChain's span over the OpenAI SDK's span of the same call, both with the same usage:
// one request, parent listed first.
TEST(NestedSpendTrackerTest, AFrameworkSpanOverTheSdkSpanOfTheSameCallIsChargedNothing) {
  NestedSpendTracker tracker;
  std::vector<Node> nodes = {At(1, 0, 50), At(2, 1, 50)};
  tracker.Plan(nodes);
  EXPECT_EQ(nodes[1].charge, Usd(50));  // the SDK span: the call itself
  EXPECT_EQ(nodes[0].charge, Money());  // the framework span: nothing more
  EXPECT_EQ(nodes[0].below, Usd(50));
}

// An agent span (usage of two chat calls plus one uninstrumented call) over plain spans over
// the chat spans, across three requests in the order SDKs export them (children first).
TEST(NestedSpendTrackerTest, AContainerIsChargedWhatItsCallsBelowDoNotAccountFor) {
  NestedSpendTracker tracker;
  // trace: agent(1) -> step(2) -> chat(3), agent(1) -> step(4) -> chat(5)
  std::vector<Node> first = {At(3, 2, 30), At(2, 1)};
  tracker.Plan(first);
  EXPECT_EQ(first[0].charge, Usd(30));
  std::vector<Node> second = {At(5, 4, 20), At(4, 1)};
  tracker.Plan(second);
  EXPECT_EQ(second[0].charge, Usd(20));
  std::vector<Node> third = {At(1, 0, 65)};  // 30 + 20 + 15 made by an uninstrumented client
  tracker.Plan(third);
  EXPECT_EQ(third[0].below, Usd(50));
  EXPECT_EQ(third[0].charge, Usd(15));
}

TEST(NestedSpendTrackerTest, AContainerReportingLessThanItsCallsIsChargedNothing) {
  NestedSpendTracker tracker;
  std::vector<Node> nodes = {At(2, 1, 80), At(1, 0, 60)};
  tracker.Plan(nodes);
  EXPECT_EQ(nodes[0].charge, Usd(80));
  EXPECT_EQ(nodes[1].charge, Money());  // never negative
}

// A container whose calls below carried no usage (not priced, so not charged) keeps its own.
TEST(NestedSpendTrackerTest, UnchargedSpansBelowLeaveTheContainerItsCharge) {
  NestedSpendTracker tracker;
  std::vector<Node> nodes = {At(2, 1), At(3, 2), At(1, 0, 40)};
  tracker.Plan(nodes);
  EXPECT_EQ(nodes[2].charge, Usd(40));
}

TEST(NestedSpendTrackerTest, ARedeliveredRequestPlansTheSameChargesAndPassesNothingOnTwice) {
  NestedSpendTracker tracker;
  std::vector<Node> child = {At(3, 2, 25), At(2, 1)};
  tracker.Plan(child);
  std::vector<Node> again = {At(3, 2, 25), At(2, 1)};
  tracker.Plan(again);
  EXPECT_EQ(again[0].charge, Usd(25));  // the ledger's idempotency charges it once
  std::vector<Node> parent = {At(1, 0, 40)};
  tracker.Plan(parent);
  EXPECT_EQ(parent[0].below, Usd(25));  // not 50
  EXPECT_EQ(parent[0].charge, Usd(15));
  std::vector<Node> parent_again = {At(1, 0, 40)};
  tracker.Plan(parent_again);
  EXPECT_EQ(parent_again[0].charge, Usd(15));
}

TEST(NestedSpendTrackerTest, TracesAreSeparate) {
  NestedSpendTracker tracker;
  std::vector<Node> nodes = {At(2, 1, 10, /*trace=*/1), At(1, 0, 10, /*trace=*/2)};
  tracker.Plan(nodes);
  EXPECT_EQ(nodes[0].charge, Usd(10));
  EXPECT_EQ(nodes[1].charge, Usd(10));  // span 1 of another trace: not the parent
}

// Spans end children first; a parent that arrived first was charged in full, and so is the
// child that follows (the documented limit). Nothing is ever charged less than zero.
TEST(NestedSpendTrackerTest, AParentArrivingBeforeItsChildIsChargedInFull) {
  NestedSpendTracker tracker;
  std::vector<Node> parent = {At(1, 0, 50)};
  tracker.Plan(parent);
  EXPECT_EQ(parent[0].charge, Usd(50));
  std::vector<Node> child = {At(2, 1, 50)};
  tracker.Plan(child);
  EXPECT_EQ(child[0].charge, Usd(50));
}

TEST(NestedSpendTrackerTest, ParentLoopsAndSelfParentsDoNotHang) {
  NestedSpendTracker tracker;
  std::vector<Node> nodes = {At(1, 2, 10), At(2, 1, 10), At(3, 3, 10)};
  tracker.Plan(nodes);
  for (const Node& node : nodes) EXPECT_LE(node.charge, Usd(10));
  EXPECT_EQ(nodes[2].charge, Usd(10));
}

TEST(NestedSpendTrackerTest, MemoryIsBoundedOldestForgottenFirst) {
  NestedSpendTracker tracker({.max_parents = 4});
  std::vector<Node> old_child = {At(2, 1, 10)};  // remembers parent 1
  tracker.Plan(old_child);
  for (uint8_t t = 2; t < 6; ++t) {  // four more parents
    std::vector<Node> other = {At(2, 1, 10, t)};
    tracker.Plan(other);
  }
  EXPECT_LE(tracker.remembered(), 4u);
  std::vector<Node> late_parent = {At(1, 0, 10)};
  tracker.Plan(late_parent);
  EXPECT_EQ(late_parent[0].charge, Usd(10));  // forgotten: charged in full
}

}  // namespace
}  // namespace genops::receiver
