// OperationLog (src/sdk/operation_log.h): the bounded ring of recent operations.
#include "src/sdk/operation_log.h"

#include <memory>
#include <string>
#include <vector>

#include "genops/clock.h"
#include "gtest/gtest.h"

namespace genops::sdk {
namespace {

constexpr int64_t kDay = 86400 * kNanosPerSecond;

OperationRecord Record(int n, int64_t start) {
  OperationRecord r;
  r.operation_id = "op_" + std::to_string(n) + std::string(40, 'x');  // beyond the SSO buffer
  r.start_unix_nanos = start;
  r.provider = "openai";
  r.cost = Money::FromNanos(n);
  return r;
}

std::vector<std::string> Ids(const std::vector<OperationRecord>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(r.operation_id.substr(0, r.operation_id.find('x')));
  return ids;
}

TEST(OperationLogTest, KeepsTheNewestUpToCapacityNewestFirst) {
  OperationLog log(3, 30, false);
  const int64_t now = 100 * kDay;
  for (int i = 1; i <= 7; ++i) log.Add(Record(i, now), now);
  EXPECT_EQ(Ids(log.Recent(10, now)), (std::vector<std::string>{"op_7", "op_6", "op_5"}));
  EXPECT_EQ(Ids(log.Recent(2, now)), (std::vector<std::string>{"op_7", "op_6"}));
  EXPECT_EQ(log.RetainedTotals(now).operations, 3);
  EXPECT_EQ(log.RetainedTotals(now).cost, Money::FromNanos(5 + 6 + 7));
  EXPECT_EQ(log.Totals().operations, 7);  // running totals are never trimmed
}

TEST(OperationLogTest, RetentionTrimsTheOldestAndTheRingKeepsWorking) {
  OperationLog log(4, 1, false);
  const int64_t t0 = 100 * kDay;
  log.Add(Record(1, t0), t0);
  log.Add(Record(2, t0 + 10), t0 + 10);
  log.Add(Record(3, t0 + kDay / 2), t0 + kDay / 2);
  // op_1 and op_2 are older than one day now.
  const int64_t later = t0 + kDay + 20;
  EXPECT_EQ(Ids(log.Recent(10, later)), (std::vector<std::string>{"op_3"}));
  for (int i = 4; i <= 9; ++i) log.Add(Record(i, later), later);
  EXPECT_EQ(Ids(log.Recent(10, later)), (std::vector<std::string>{"op_9", "op_8", "op_7", "op_6"}));
  EXPECT_EQ(log.RetainedTotals(later).cost, Money::FromNanos(6 + 7 + 8 + 9));
  // Everything expires.
  EXPECT_TRUE(log.Recent(10, later + 2 * kDay).empty());
  log.Add(Record(10, later + 2 * kDay), later + 2 * kDay);
  EXPECT_EQ(Ids(log.Recent(10, later + 2 * kDay)), (std::vector<std::string>{"op_10"}));
}

// The hot path's Add() exchanges records by pointer: the caller gets the evicted record back
// (null while the ring grows) to refill for its next operation.
TEST(OperationLogTest, AddingByPointerHandsBackTheEvictedRecord) {
  OperationLog log(3, 30, false);
  const int64_t now = 100 * kDay;
  std::vector<const OperationRecord*> added;
  for (int i = 1; i <= 3; ++i) {
    auto record = std::make_unique<OperationRecord>(Record(i, now));
    added.push_back(record.get());
    log.Add(record, now);
    EXPECT_EQ(record, nullptr) << "the ring was still growing";
  }
  auto record = std::make_unique<OperationRecord>(Record(4, now));
  log.Add(record, now);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record.get(), added[0]);  // the oldest, op_1, with its buffers
  EXPECT_EQ(Ids({*record}), (std::vector<std::string>{"op_1"}));
  // Refilled and added again, it is the newest; the log kept copies of nothing.
  *record = Record(5, now);
  log.Add(record, now);
  EXPECT_EQ(record.get(), added[1]);
  EXPECT_EQ(Ids(log.Recent(10, now)), (std::vector<std::string>{"op_5", "op_4", "op_3"}));
  EXPECT_EQ(log.Totals().operations, 5);
  EXPECT_EQ(log.RetainedTotals(now).cost, Money::FromNanos(3 + 4 + 5));
  // Retention still applies to records added by pointer, and the ring keeps working after it
  // emptied slots.
  const int64_t later = now + 31 * kDay;
  EXPECT_TRUE(log.Recent(10, later).empty());
  auto late = std::make_unique<OperationRecord>(Record(6, later));
  log.Add(late, later);
  EXPECT_EQ(Ids(log.Recent(10, later)), (std::vector<std::string>{"op_6"}));
}

}  // namespace
}  // namespace genops::sdk
