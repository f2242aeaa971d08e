// Tests of the gateway's virtual keys (src/gateway/virtual_keys.h): key generation and
// hashing, the key's own budget, revocation, the credential a request presents, and the
// resolver's cache (TTL, negative entries, bound, ledger outages), on the memory ledger.
#include "src/gateway/virtual_keys.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/gateway/http_message.h"
#include "src/ledger/ledger.h"
#include "src/ledger/memory_ledger.h"
#include "tests/support/faulty_ledger.h"

namespace genops::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 2026-03-04T12:00:00Z.
constexpr int64_t kStart = 1'772'625'600LL * kNanosPerSecond;

Money Usd(int64_t whole) { return Money::FromNanos(whole * Money::kNanosPerUsd); }

VirtualKeySpec Spec() {
  VirtualKeySpec spec;
  spec.attribution.team = "search";
  spec.attribution.project = "ranker";
  spec.attribution.customer_id = "acme";
  spec.attribution.tags["env"] = "blue";
  spec.description = "ranker in production";
  return spec;
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

class VirtualKeysTest : public ::testing::Test {
 protected:
  VirtualKeysTest()
      : faulty_(std::make_shared<testing::FaultyLedger>(ledger::NewMemoryLedger(&clock_))) {}

  ledger::Ledger& ledger() { return *faulty_; }

  std::vector<ledger::BudgetStatus> Budgets() {
    absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets = ledger().ListBudgets(kStart);
    EXPECT_TRUE(budgets.ok()) << budgets.status();
    return budgets.ok() ? *budgets : std::vector<ledger::BudgetStatus>();
  }

  std::vector<ledger::VirtualKey> Keys() {
    absl::StatusOr<std::vector<ledger::VirtualKey>> keys = ledger().ListVirtualKeys();
    EXPECT_TRUE(keys.ok()) << keys.status();
    return keys.ok() ? *keys : std::vector<ledger::VirtualKey>();
  }

  // Stores a record for a key text of our choosing (CreateVirtualKey draws its own).
  void StoreRecordFor(const std::string& key, const std::string& id) {
    ledger::VirtualKey record;
    record.id = id;
    record.secret_sha256 = HashVirtualKey(key);
    record.display_prefix = key.substr(0, 11);
    record.attribution = {.team = "t", .project = "p"};
    record.created_unix_nanos = kStart;
    ASSERT_TRUE(ledger().CreateVirtualKey(record).ok());
  }

  ManualClock clock_{kStart};
  std::shared_ptr<testing::FaultyLedger> faulty_;
};

TEST(VirtualKeyTextTest, LooksLikeAndHash) {
  EXPECT_TRUE(LooksLikeVirtualKey("gk_abc"));
  EXPECT_FALSE(LooksLikeVirtualKey("sk-proj-abc"));
  EXPECT_FALSE(LooksLikeVirtualKey("GK_abc"));
  EXPECT_FALSE(LooksLikeVirtualKey(""));
  // FIPS 180-2 test vectors.
  EXPECT_EQ(HashVirtualKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashVirtualKey("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(VirtualKeysTest, CreateMakesAWellFormedKeyAndStoresOnlyItsHash) {
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), Spec(), kStart);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string& key = created->key;
  ASSERT_EQ(key.size(), 3u + 43u);
  EXPECT_TRUE(key.starts_with("gk_"));
  for (char c : key.substr(3)) EXPECT_TRUE(IsBase62(c)) << key;

  const ledger::VirtualKey& record = created->record;
  EXPECT_TRUE(ledger::ValidateVirtualKeyId(record.id).ok()) << record.id;
  EXPECT_EQ(record.secret_sha256, HashVirtualKey(key));
  EXPECT_EQ(record.display_prefix, key.substr(0, 11));
  EXPECT_EQ(record.attribution.team, "search");
  EXPECT_EQ(record.attribution.customer_id, "acme");
  EXPECT_EQ(record.attribution.tags.at("env"), "blue");
  EXPECT_EQ(record.attribution.tags.at(std::string(kVirtualKeyTag)), record.id);
  EXPECT_EQ(record.description, "ranker in production");
  EXPECT_EQ(record.created_unix_nanos, kStart);
  EXPECT_TRUE(record.budget_name.empty());
  EXPECT_TRUE(Budgets().empty());

  const std::vector<ledger::VirtualKey> keys = Keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], record);
  // The ledger holds no part of the secret beyond the display prefix.
  EXPECT_THAT(keys[0].secret_sha256, Not(HasSubstr(key.substr(11))));
  EXPECT_EQ(keys[0].description.find(key), std::string::npos);
}

TEST_F(VirtualKeysTest, KeysAreDistinctAndUseTheWholeAlphabet) {
  std::set<std::string> keys;
  std::set<std::string> ids;
  std::set<char> seen;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), Spec(), kStart + i);
    ASSERT_TRUE(created.ok()) << created.status();
    keys.insert(created->key);
    ids.insert(created->record.id);
    for (char c : created->key.substr(3)) seen.insert(c);
  }
  EXPECT_EQ(keys.size(), 100u);
  EXPECT_EQ(ids.size(), 100u);
  // 4300 uniform draws from 62 characters miss one with probability ~1e-29.
  EXPECT_EQ(seen.size(), 62u);
}

TEST_F(VirtualKeysTest, ABudgetLimitGivesTheKeyABudgetOfItsOwn) {
  VirtualKeySpec spec = Spec();
  spec.budget_limit = Usd(5);
  spec.period = ledger::BudgetPeriod::kWeek;
  spec.alert_thresholds = {0.9};
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), spec, kStart);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string& id = created->record.id;
  EXPECT_EQ(created->record.budget_name, Cat("key:", id));

  const std::vector<ledger::BudgetStatus> budgets = Budgets();
  ASSERT_EQ(budgets.size(), 1u);
  const ledger::BudgetSpec& budget = *budgets[0].spec;
  EXPECT_EQ(budget.name, Cat("key:", id));
  EXPECT_EQ(budget.scope, (ledger::Scope{{"tag:virtual_key", id}}));
  EXPECT_EQ(budget.limit, Usd(5));
  EXPECT_EQ(budget.period, ledger::BudgetPeriod::kWeek);
  EXPECT_EQ(budget.alert_thresholds, std::vector<double>{0.9});

  // Calls made with the key (its attribution) count against it; others do not.
  ledger::ReserveRequest with_key{.operation_id = "op-1",
                                  .attribution = created->record.attribution,
                                  .amount = Usd(4),
                                  .now_unix_nanos = kStart};
  ASSERT_TRUE(ledger().Reserve(with_key)->admitted);
  with_key.operation_id = "op-2";
  absl::StatusOr<ledger::ReserveOutcome> over = ledger().Reserve(with_key);
  ASSERT_TRUE(over.ok()) << over.status();
  EXPECT_FALSE(over->admitted);
  EXPECT_EQ(over->refused_by, Cat("key:", id));
  ledger::ReserveRequest without_key = with_key;
  without_key.operation_id = "op-3";
  without_key.attribution = Spec().attribution;  // same team, no key tag
  EXPECT_TRUE(ledger().Reserve(without_key)->admitted);
}

TEST_F(VirtualKeysTest, BadSpecsAreRefusedBeforeAnythingIsWritten) {
  auto expect_refused = [&](const VirtualKeySpec& spec, std::string_view mentions) {
    absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), spec, kStart);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument) << created.status();
    EXPECT_THAT(std::string(created.status().message()), HasSubstr(mentions));
  };
  VirtualKeySpec spec = Spec();
  spec.attribution.team.clear();
  expect_refused(spec, "team");
  spec = Spec();
  spec.attribution.project.clear();
  expect_refused(spec, "project");
  spec = Spec();
  spec.attribution.tags["virtual_key"] = "vk_0000000000000000";
  expect_refused(spec, "reserved");
  spec = Spec();
  spec.budget_limit = Money::FromNanos(-1);
  expect_refused(spec, "negative");
  spec = Spec();
  spec.budget_limit = Usd(1);
  spec.alert_thresholds = {0.5, 11};
  expect_refused(spec, "alert threshold");
  EXPECT_TRUE(Keys().empty());
  EXPECT_TRUE(Budgets().empty());
}

TEST_F(VirtualKeysTest, AFailedKeyStoreRemovesTheBudgetItInstalled) {
  VirtualKeySpec spec = Spec();
  spec.budget_limit = Usd(5);
  faulty_->fail_virtual_key_creates = true;
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), spec, kStart);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable) << created.status();
  faulty_->fail_virtual_key_creates = false;
  EXPECT_TRUE(Keys().empty());
  EXPECT_TRUE(Budgets().empty());
}

TEST_F(VirtualKeysTest, RevokeMarksTheKeyAndDeletesItsBudget) {
  VirtualKeySpec spec = Spec();
  spec.budget_limit = Usd(5);
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), spec, kStart);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(CreateVirtualKey(ledger(), Spec(), kStart + 1).ok());  // another, unbudgeted
  ASSERT_EQ(Budgets().size(), 1u);

  ASSERT_TRUE(RevokeVirtualKey(ledger(), created->record.id, kStart + 60).ok());
  EXPECT_TRUE(Budgets().empty());
  std::vector<ledger::VirtualKey> keys = Keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].revoked_unix_nanos, kStart + 60);
  EXPECT_FALSE(keys[1].revoked());
  // Again: fine, nothing changes (the budget is already gone).
  EXPECT_TRUE(RevokeVirtualKey(ledger(), created->record.id, kStart + 120).ok());
  EXPECT_EQ(Keys()[0].revoked_unix_nanos, kStart + 60);

  absl::Status unknown = RevokeVirtualKey(ledger(), "vk_00000000000000ff", kStart);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
}

TEST(PresentedCredentialTest, ReadsBearerTokensAndApiKeys) {
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearer gk_abc"}}), "gk_abc");
  EXPECT_EQ(PresentedCredential({{"authorization", "bearer   gk_abc  "}}), "gk_abc");
  EXPECT_EQ(PresentedCredential({{"x-api-key", " gk_xyz "}}), "gk_xyz");
  EXPECT_EQ(PresentedCredential({{"X-Api-Key", "sk-ant-1"}}), "sk-ant-1");
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearer sk-proj-1"}}), "sk-proj-1");
  // A virtual key wins over a provider key in the other header.
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearer sk-proj-1"}, {"x-api-key", "gk_k"}}),
            "gk_k");
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearer gk_b"}, {"x-api-key", "gk_k"}}), "gk_b");
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearer sk-1"}, {"x-api-key", "sk-2"}}), "sk-1");
  // Not a bearer token, or nothing at all.
  EXPECT_EQ(PresentedCredential({{"Authorization", "Basic dXNlcjpwYXNz"}}), "");
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearer"}}), "");
  EXPECT_EQ(PresentedCredential({{"Authorization", "Bearergk_abc"}}), "");
  EXPECT_EQ(PresentedCredential({}), "");
}

TEST_F(VirtualKeysTest, ResolverFindsKeysAndRefusesOthersWithoutLeakingThem) {
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), Spec(), kStart);
  ASSERT_TRUE(created.ok()) << created.status();
  VirtualKeyResolver resolver(faulty_, &clock_);

  absl::StatusOr<ledger::VirtualKey> found = resolver.Resolve(created->key);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, created->record);

  const std::string unknown = "gk_" + std::string(43, 'Z');
  absl::StatusOr<ledger::VirtualKey> refused = resolver.Resolve(unknown);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(refused.status().message(), "unknown virtual key");

  // Malformed text never reaches the ledger (it is down here, yet the answer is 401).
  faulty_->down = true;
  for (std::string bad :
       {std::string("gk_short"), "gk_" + std::string(44, 'a'), "gk_" + std::string(42, 'a') + "-",
        std::string("sk-proj-1"), std::string()}) {
    absl::StatusOr<ledger::VirtualKey> r = resolver.Resolve(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  EXPECT_EQ(faulty_->calls_while_down.load(), 0);
}

TEST_F(VirtualKeysTest, ResolverCachesForTheTtlSoARevocationTakesEffectWithinIt) {
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), Spec(), kStart);
  ASSERT_TRUE(created.ok()) << created.status();
  VirtualKeyResolver resolver(faulty_, &clock_, absl::Seconds(5));
  ASSERT_TRUE(resolver.Resolve(created->key).ok());

  ASSERT_TRUE(ledger().RevokeVirtualKey(created->record.id, kStart + 1).ok());
  clock_.Advance(4 * kNanosPerSecond);
  EXPECT_TRUE(resolver.Resolve(created->key).ok());  // still cached
  clock_.Advance(1 * kNanosPerSecond);               // the TTL is over
  absl::StatusOr<ledger::VirtualKey> revoked = resolver.Resolve(created->key);
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(revoked.status().message(), Cat("virtual key ", created->record.id, " was revoked"));
  EXPECT_THAT(std::string(revoked.status().message()),
              Not(HasSubstr(created->record.display_prefix)));
}

TEST_F(VirtualKeysTest, ResolverCachesUnknownKeysToo) {
  const std::string key = "gk_" + std::string(43, 'q');
  VirtualKeyResolver resolver(faulty_, &clock_, absl::Seconds(5));
  EXPECT_EQ(resolver.Resolve(key).status().code(), absl::StatusCode::kUnauthenticated);

  // Within the TTL the negative entry answers, without the ledger.
  faulty_->down = true;
  EXPECT_EQ(resolver.Resolve(key).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(faulty_->calls_while_down.load(), 0);
  faulty_->down = false;

  // A key stored meanwhile is seen once the entry expires.
  StoreRecordFor(key, "vk_00000000000000a1");
  EXPECT_EQ(resolver.Resolve(key).status().code(), absl::StatusCode::kUnauthenticated);
  clock_.Advance(5 * kNanosPerSecond);
  absl::StatusOr<ledger::VirtualKey> found = resolver.Resolve(key);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->id, "vk_00000000000000a1");
}

TEST_F(VirtualKeysTest, ResolverUsesExpiredEntriesWhileTheLedgerIsDown) {
  absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger(), Spec(), kStart);
  ASSERT_TRUE(created.ok()) << created.status();
  VirtualKeyResolver resolver(faulty_, &clock_, absl::Seconds(5));
  ASSERT_TRUE(resolver.Resolve(created->key).ok());

  faulty_->down = true;
  clock_.Advance(60 * kNanosPerSecond);
  absl::StatusOr<ledger::VirtualKey> stale = resolver.Resolve(created->key);
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->id, created->record.id);
  EXPECT_EQ(faulty_->calls_while_down.load(), 1);  // it did ask

  // Nothing cached: unavailable, not "unknown".
  absl::StatusOr<ledger::VirtualKey> never_seen = resolver.Resolve("gk_" + std::string(43, 'n'));
  EXPECT_EQ(never_seen.status().code(), absl::StatusCode::kUnavailable) << never_seen.status();
  EXPECT_THAT(std::string(never_seen.status().message()), Not(HasSubstr("gk_")));
}

TEST_F(VirtualKeysTest, ResolverCacheIsBoundedAndDropsTheLeastRecentlyUsed) {
  VirtualKeyResolver resolver(faulty_, &clock_, absl::Seconds(5), /*max_entries=*/3);
  auto key = [](char c) { return "gk_" + std::string(43, c); };
  for (char c : {'a', 'b', 'c'}) ASSERT_FALSE(resolver.Resolve(key(c)).ok());
  EXPECT_EQ(resolver.cached_entries(), 3u);
  ASSERT_FALSE(resolver.Resolve(key('a')).ok());  // a hit: 'a' is now the most recent
  ASSERT_FALSE(resolver.Resolve(key('d')).ok());  // evicts 'b'
  EXPECT_EQ(resolver.cached_entries(), 3u);

  faulty_->down = true;
  EXPECT_EQ(resolver.Resolve(key('a')).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(resolver.Resolve(key('c')).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(resolver.Resolve(key('d')).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(faulty_->calls_while_down.load(), 0);
  EXPECT_EQ(resolver.Resolve(key('b')).status().code(), absl::StatusCode::kUnavailable);

  for (char c = 'e'; c <= 'z'; ++c) resolver.Resolve(key(c)).IgnoreError();
  EXPECT_LE(resolver.cached_entries(), 3u);
}

TEST_F(VirtualKeysTest, ResolverIsSafeToShareBetweenThreads) {
  std::vector<CreatedVirtualKey> created;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<CreatedVirtualKey> c = CreateVirtualKey(ledger(), Spec(), kStart + i);
    ASSERT_TRUE(c.ok()) << c.status();
    created.push_back(*std::move(c));
  }
  VirtualKeyResolver resolver(faulty_, &clock_, absl::Milliseconds(1), /*max_entries=*/3);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const CreatedVirtualKey& c = created[static_cast<size_t>((t + i) % 4)];
        absl::StatusOr<ledger::VirtualKey> r = resolver.Resolve(c.key);
        if (!r.ok() || r->id != c.record.id) ++wrong;
        const std::string unknown = "gk_" + std::string(43, static_cast<char>('a' + t));
        if (resolver.Resolve(unknown).status().code() != absl::StatusCode::kUnauthenticated) {
          ++wrong;
        }
        if (i % 50 == 0) clock_.Advance(kNanosPerMilli);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(resolver.cached_entries(), 3u);
}

}  // namespace
}  // namespace genops::gateway
