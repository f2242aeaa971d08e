// The conformance suite's virtual-key tests (see ledger_conformance.h): every store that
// instantiates LedgerConformanceTest runs these too.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "genops/attribution.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "tests/ledger/ledger_conformance.h"

namespace genops::ledger::testing {
namespace {

// "vk_" + 16 hex digits of n.
std::string Id(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "vk_%016llx", static_cast<unsigned long long>(n));
  return buf;
}

// 64 hex digits of n (a stand-in for a SHA-256; the ledger only checks the form).
std::string Hash(uint64_t n) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%064llx", static_cast<unsigned long long>(n));
  return buf;
}

VirtualKey Key(uint64_t n, int64_t created) {
  VirtualKey key;
  key.id = Id(n);
  key.secret_sha256 = Hash(n);
  key.display_prefix = "gk_AbCd1234";
  key.attribution.team = "platform";
  key.attribution.project = "chat";
  key.attribution.tags["virtual_key"] = key.id;
  key.description = Cat("key ", n);
  key.created_unix_nanos = created;
  return key;
}

std::optional<VirtualKey> Find(Ledger& ledger, const std::string& hash) {
  absl::StatusOr<std::optional<VirtualKey>> found = ledger.FindVirtualKey(hash);
  EXPECT_TRUE(found.ok()) << found.status();
  return found.ok() ? *found : std::nullopt;
}

std::vector<VirtualKey> List(Ledger& ledger) {
  absl::StatusOr<std::vector<VirtualKey>> keys = ledger.ListVirtualKeys();
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *keys : std::vector<VirtualKey>();
}

TEST_P(LedgerConformanceTest, VirtualKeysAreCreatedFoundListedAndRevoked) {
  EXPECT_TRUE(List(ledger()).empty());
  VirtualKey first = Key(1, now());
  first.budget_name = Cat("key:", first.id);
  first.attribution.customer_id = "acme";
  first.attribution.environment = "prod";
  first.attribution.cost_center = "cc-7";
  first.attribution.feature = "search";
  const VirtualKey second = Key(2, now() + 1);
  ASSERT_TRUE(ledger().CreateVirtualKey(first).ok());
  ASSERT_TRUE(ledger().CreateVirtualKey(second).ok());

  std::optional<VirtualKey> found = Find(ledger(), first.secret_sha256);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, first);
  EXPECT_FALSE(found->revoked());
  EXPECT_FALSE(Find(ledger(), Hash(99)).has_value());

  std::vector<VirtualKey> keys = List(ledger());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], first);
  EXPECT_EQ(keys[1], second);

  const int64_t revoked_at = now() + 5 * kNanosPerSecond;
  ASSERT_TRUE(ledger().RevokeVirtualKey(first.id, revoked_at).ok());
  // A revoked key is still found (so the gateway can say "revoked"), with its time.
  found = Find(ledger(), first.secret_sha256);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->revoked());
  EXPECT_EQ(found->revoked_unix_nanos, revoked_at);
  EXPECT_EQ(found->attribution, first.attribution);
  keys = List(ledger());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].revoked_unix_nanos, revoked_at);
  EXPECT_EQ(keys[1].revoked_unix_nanos, 0);  // the other key is untouched
}

TEST_P(LedgerConformanceTest, RevokingTwiceKeepsTheFirstTimeAndUnknownIdsAreNotFound) {
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(1, now())).ok());
  ASSERT_TRUE(ledger().RevokeVirtualKey(Id(1), now() + 10).ok());
  ASSERT_TRUE(ledger().RevokeVirtualKey(Id(1), now() + 20).ok());
  std::optional<VirtualKey> found = Find(ledger(), Hash(1));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->revoked_unix_nanos, now() + 10);

  absl::Status unknown = ledger().RevokeVirtualKey(Id(2), now());
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_NE(unknown.message().find(Id(2)), absl::string_view::npos) << unknown;
  EXPECT_EQ(List(ledger()).size(), 1u);
}

TEST_P(LedgerConformanceTest, DuplicateVirtualKeyIdsAndHashesAreRefusedWritingNothing) {
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(1, now())).ok());

  VirtualKey same_id = Key(2, now() + 1);
  same_id.id = Id(1);
  absl::Status s = ledger().CreateVirtualKey(same_id);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_NE(s.message().find("id"), absl::string_view::npos) << s;
  EXPECT_FALSE(Find(ledger(), Hash(2)).has_value());  // its hash was not indexed

  VirtualKey same_hash = Key(3, now() + 2);
  same_hash.secret_sha256 = Hash(1);
  s = ledger().CreateVirtualKey(same_hash);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_NE(s.message().find("hash"), absl::string_view::npos) << s;
  EXPECT_EQ(ledger().RevokeVirtualKey(Id(3), now()).code(), absl::StatusCode::kNotFound);

  const std::vector<VirtualKey> keys = List(ledger());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], Key(1, now()));
  std::optional<VirtualKey> found = Find(ledger(), Hash(1));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, Id(1));
}

TEST_P(LedgerConformanceTest, MalformedVirtualKeyInputIsRejected) {
  auto expect_invalid = [](const absl::Status& s, const char* mentions) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(mentions), absl::string_view::npos) << s;
  };
  VirtualKey key = Key(1, now());
  key.id = "vk_0123";
  expect_invalid(ledger().CreateVirtualKey(key), "id");
  key = Key(1, now());
  key.id = "vk_0123456789ABCDEF";  // uppercase
  expect_invalid(ledger().CreateVirtualKey(key), "id");
  key = Key(1, now());
  key.secret_sha256 = std::string(64, 'A');
  expect_invalid(ledger().CreateVirtualKey(key), "hash");
  key = Key(1, now());
  key.secret_sha256 = "abc";
  expect_invalid(ledger().CreateVirtualKey(key), "hash");
  key = Key(1, now());
  key.display_prefix = "gk_AbCd1234xyz";  // more than the first 11 characters
  expect_invalid(ledger().CreateVirtualKey(key), "display prefix");
  key = Key(1, now());
  key.created_unix_nanos = 0;
  expect_invalid(ledger().CreateVirtualKey(key), "creation time");
  key = Key(1, now());
  key.revoked_unix_nanos = now();
  expect_invalid(ledger().CreateVirtualKey(key), "active");
  expect_invalid(ledger().FindVirtualKey("not-a-hash").status(), "hash");
  expect_invalid(ledger().RevokeVirtualKey("key-1", now()), "id");
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(1, now())).ok());
  expect_invalid(ledger().RevokeVirtualKey(Id(1), 0), "revocation time");
  // None of the refusals wrote anything, and the valid key is still active.
  const std::vector<VirtualKey> keys = List(ledger());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_FALSE(keys[0].revoked());
}

TEST_P(LedgerConformanceTest, VirtualKeyTextAndTagsRoundTripExactly) {
  VirtualKey key = Key(7, now());
  key.attribution.team = "équipe \"données\" — 数据";
  key.attribution.project = "it's a 'project'; DROP TABLE x; --";
  key.attribution.customer_id = "back\\slash and \ttab";
  key.attribution.environment = "staging\nsecond line";
  key.attribution.cost_center = "{\"json\": [1,2]}";
  key.attribution.feature = "emoji 🚀";
  key.attribution.tags = {{"virtual_key", key.id},
                          {"k=v,with", "commas=and,equals"},
                          {"ключ", "значение"},
                          {"quote\"s", "it's"},
                          {"empty", ""}};
  key.budget_name = "key:\"odd\" name ✓";
  key.description = "Ünïcödé description with \"quotes\", 'apostrophes' and \\ backslashes";
  ASSERT_TRUE(ledger().CreateVirtualKey(key).ok());

  std::optional<VirtualKey> found = Find(ledger(), key.secret_sha256);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, key);
  const std::vector<VirtualKey> keys = List(ledger());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], key);
  EXPECT_EQ(keys[0].attribution.tags, key.attribution.tags);
}

TEST_P(LedgerConformanceTest, VirtualKeysListOldestFirstThenById) {
  // Created out of order; two share a creation time.
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(3, now() + 30)).ok());
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(2, now() + 10)).ok());
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(5, now() + 20)).ok());
  ASSERT_TRUE(ledger().CreateVirtualKey(Key(4, now() + 20)).ok());
  std::vector<std::string> ids;
  for (const VirtualKey& key : List(ledger())) ids.push_back(key.id);
  EXPECT_EQ(ids, (std::vector<std::string>{Id(2), Id(4), Id(5), Id(3)}));
}

TEST_P(LedgerConformanceTest, ConcurrentVirtualKeyCreatesAreAllStoredAndDistinct) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 12;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t n = static_cast<uint64_t>(t * 1000 + i + 1);
        if (!ledger().CreateVirtualKey(Key(n, now() + static_cast<int64_t>(n))).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::vector<VirtualKey> keys = List(ledger());
  ASSERT_EQ(keys.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  std::set<std::string> hashes;
  for (const VirtualKey& key : keys) {
    ids.insert(key.id);
    hashes.insert(key.secret_sha256);
  }
  EXPECT_EQ(ids.size(), keys.size());
  EXPECT_EQ(hashes.size(), keys.size());
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.created_unix_nanos < b.created_unix_nanos;
  }));
  for (int t = 0; t < kThreads; ++t) {
    std::optional<VirtualKey> found = Find(ledger(), Hash(static_cast<uint64_t>(t * 1000 + 1)));
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, Id(static_cast<uint64_t>(t * 1000 + 1)));
  }
}

TEST_P(LedgerConformanceTest, RacingCreatesOfOneIdOrOneHashLetExactlyOneWin) {
  constexpr int kThreads = 8;
  for (bool same_id : {true, false}) {
    SCOPED_TRACE(same_id ? "same id" : "same hash");
    const uint64_t base = same_id ? 100 : 200;
    std::atomic<int> created{0};
    std::atomic<int> refused{0};
    std::atomic<int> other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        VirtualKey key = Key(base + static_cast<uint64_t>(t), now());
        if (same_id) key.id = Id(base);
        if (!same_id) key.secret_sha256 = Hash(base);
        const absl::Status s = ledger().CreateVirtualKey(key);
        if (s.ok()) {
          ++created;
        } else if (s.code() == absl::StatusCode::kAlreadyExists) {
          ++refused;
        } else {
          ++other;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(refused.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
  }
  // One key per race; every losing hash/id left no trace.
  const std::vector<VirtualKey> keys = List(ledger());
  ASSERT_EQ(keys.size(), 2u);
  int found_hashes = 0;
  for (uint64_t n = 100; n < 100 + kThreads; ++n) found_hashes += Find(ledger(), Hash(n)) ? 1 : 0;
  EXPECT_EQ(found_hashes, 1);
}

}  // namespace
}  // namespace genops::ledger::testing
