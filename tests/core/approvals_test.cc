// ApprovalStore: the pending -> approved -> consumed life cycle, once-only use, bounds.
#include "src/core/approvals.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "genops/clock.h"
#include "gtest/gtest.h"

namespace genops {
namespace {

ApprovalRequest Ask(std::string operation_id) {
  ApprovalRequest r;
  r.operation_id = std::move(operation_id);
  r.attribution.team = "ml";
  r.provider = "openai";
  r.model = "gpt-4o";
  r.estimate = Money::FromNanos(30 * Money::kNanosPerUsd);
  return r;
}

TEST(ApprovalStoreTest, PendingApprovedConsumedOnce) {
  ManualClock clock(1000);
  ApprovalStore store(&clock);
  const std::string id = store.Create(Ask("op-1"));
  EXPECT_EQ(store.Get(id), ApprovalStore::State::kPending);
  auto entry = store.Find(id);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->request.approval_id, id);
  EXPECT_EQ(entry->request.operation_id, "op-1");
  EXPECT_EQ(entry->created_unix_nanos, 1000);
  EXPECT_EQ(entry->decided_unix_nanos, 0);

  // Not usable while pending.
  absl::Status early = store.Consume(id);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.message().find("pending"), std::string::npos);

  clock.Advance(5);
  ASSERT_TRUE(store.Approve(id).ok());
  ASSERT_TRUE(store.Approve(id).ok());  // idempotent
  EXPECT_EQ(store.Get(id), ApprovalStore::State::kApproved);
  EXPECT_EQ(store.Find(id)->decided_unix_nanos, 1005);

  EXPECT_TRUE(store.Consume(id).ok());
  EXPECT_EQ(store.Get(id), ApprovalStore::State::kConsumed);
  absl::Status again = store.Consume(id);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("consumed"), std::string::npos);
  EXPECT_EQ(store.Deny(id).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ApprovalStoreTest, DeniedCannotBeApprovedOrUsed) {
  ApprovalStore store;
  const std::string id = store.Create(Ask("op-1"));
  ASSERT_TRUE(store.Deny(id).ok());
  ASSERT_TRUE(store.Deny(id).ok());
  EXPECT_EQ(store.Get(id), ApprovalStore::State::kDenied);
  EXPECT_EQ(store.Approve(id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.Consume(id).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ApprovalStoreTest, UnknownIdsAreNotFound) {
  ApprovalStore store;
  EXPECT_EQ(store.Approve("apr_nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Deny("apr_nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Consume("apr_nope").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store.Get("apr_nope").has_value());
  EXPECT_FALSE(store.Find("apr_nope").has_value());
}

TEST(ApprovalStoreTest, IdsAreRandomAndWellFormed) {
  ApprovalStore store;
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    const std::string id = store.Create(Ask("op"));
    ASSERT_EQ(id.size(), 4u + 32u) << id;
    EXPECT_EQ(id.substr(0, 4), "apr_");
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 200u);
}

TEST(ApprovalStoreTest, ListIsOldestFirst) {
  ApprovalStore store;
  const std::string a = store.Create(Ask("a"));
  const std::string b = store.Create(Ask("b"));
  ASSERT_TRUE(store.Approve(b).ok());
  auto list = store.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].request.approval_id, a);
  EXPECT_EQ(list[1].request.approval_id, b);
  EXPECT_EQ(list[1].state, ApprovalStore::State::kApproved);
  EXPECT_EQ(ApprovalStateName(list[0].state), "pending");
}

TEST(ApprovalStoreTest, BoundedStoreForgetsDecidedEntriesFirst) {
  ApprovalStore store(nullptr, 3);
  const std::string pending1 = store.Create(Ask("p1"));
  const std::string decided = store.Create(Ask("d"));
  ASSERT_TRUE(store.Deny(decided).ok());
  const std::string pending2 = store.Create(Ask("p2"));
  const std::string pending3 = store.Create(Ask("p3"));  // evicts the denied one
  EXPECT_EQ(store.size(), 3u);
  EXPECT_FALSE(store.Get(decided).has_value());
  EXPECT_TRUE(store.Get(pending1).has_value());
  store.Create(Ask("p4"));  // only pending left: the oldest goes
  EXPECT_FALSE(store.Get(pending1).has_value());
  EXPECT_TRUE(store.Get(pending2).has_value());
  EXPECT_TRUE(store.Get(pending3).has_value());
}

TEST(ApprovalStoreTest, RacingConsumersSpendAnApprovalOnce) {
  ApprovalStore store;
  const std::string id = store.Create(Ask("op"));
  ASSERT_TRUE(store.Approve(id).ok());
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (store.Consume(id).ok()) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

}  // namespace
}  // namespace genops
