// Runs the built `genops` binary (GENOPS_CLI_PATH) for `genops keys create|list|revoke`
// against a sqlite:// ledger in a temp dir, checking what it prints, what it left in the
// ledger (read back through the library) and that the key text never reaches the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "genops/clock.h"
#include "src/gateway/virtual_keys.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "tests/support/subprocess.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace ledger = ::genops::ledger;

// 2026-11-15T12:00:00Z, the pinned "now" of every command.
constexpr int64_t kNow = 1'794'744'000 * genops::kNanosPerSecond;
constexpr char kNowFlag[] = "--now=2026-11-15T12:00:00Z";

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class KeysCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_keys_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/genops.db";
    url_ = "sqlite://" + db_;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  absl::StatusOr<std::unique_ptr<ledger::Ledger>> Open() {
    ledger::LedgerOpenOptions options;
    options.create_if_missing = false;
    return ledger::OpenLedger(url_, options);
  }

  Result Run(std::vector<std::string> args) {
    args.insert(args.begin(), GENOPS_CLI_PATH);
    const std::string out_path = dir_ + "/stdout.txt";
    const std::string err_path = dir_ + "/stderr.txt";
    Result r;
    auto child = genops::testing::Subprocess::Start(
        args, {.stdout_path = out_path, .stderr_path = err_path});
    if (!child.ok()) {
      ADD_FAILURE() << child.status();
      return r;
    }
    r.exit_code = (*child)->Wait();
    r.out = genops::testing::ReadWholeFile(out_path);
    r.err = genops::testing::ReadWholeFile(err_path);
    return r;
  }

  // `keys <args> --ledger URL --now ...`.
  Result Keys(std::vector<std::string> args) {
    args.insert(args.begin(), "keys");
    args.insert(args.end(), {"--ledger", url_, kNowFlag});
    return Run(std::move(args));
  }

  std::vector<ledger::VirtualKey> StoredKeys() {
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> l = Open();
    EXPECT_TRUE(l.ok()) << l.status();
    if (!l.ok()) return {};
    absl::StatusOr<std::vector<ledger::VirtualKey>> keys = (*l)->ListVirtualKeys();
    EXPECT_TRUE(keys.ok()) << keys.status();
    return keys.ok() ? *keys : std::vector<ledger::VirtualKey>();
  }

  std::vector<std::string> BudgetNames() {
    std::vector<std::string> names;
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> l = Open();
    EXPECT_TRUE(l.ok()) << l.status();
    if (!l.ok()) return names;
    absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets = (*l)->ListBudgets(kNow);
    EXPECT_TRUE(budgets.ok()) << budgets.status();
    if (!budgets.ok()) return names;
    for (const auto& b : *budgets) names.push_back(b.spec->name);
    return names;
  }

  // Every byte the ledger wrote: the database and its write-ahead log.
  std::string LedgerBytes() {
    return genops::testing::ReadWholeFile(db_) + genops::testing::ReadWholeFile(db_ + "-wal");
  }

  // The first `prefix` followed by exactly `length` characters accepted by `allowed`. (Not
  // std::regex: GCC 12 reports a false maybe-uninitialized in it under the ASan preset.)
  static std::string Match(const std::string& text, std::string_view prefix, size_t length,
                           bool (*allowed)(char)) {
    for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
      size_t end = at + prefix.size();
      while (end < text.size() && allowed(text[end])) ++end;
      if (end - at - prefix.size() == length) return text.substr(at, end - at);
    }
    return std::string();
  }
  static bool IsBase62(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
  static bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

  std::string dir_;
  std::string db_;
  std::string url_;
};

TEST_F(KeysCommandTest, CreateListRevokeKeepsTheKeyOutOfTheLedger) {
  Result created = Keys({"create", "--team", "search", "--project", "ranker", "--customer", "acme",
                         "--environment", "production", "--tag", "tier=gold", "--budget-usd",
                         "25.5", "--period", "week", "--description", "ranker in prod"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string key = Match(created.out, "gk_", 43, &IsBase62);
  const std::string id = Match(created.out, "vk_", 16, &IsLowerHex);
  ASSERT_FALSE(key.empty()) << created.out;
  ASSERT_FALSE(id.empty()) << created.out;
  EXPECT_THAT(created.out, HasSubstr("Store it now, it cannot be shown again"));
  EXPECT_THAT(created.out, HasSubstr("Virtual key " + id + " created in " + url_));
  EXPECT_THAT(created.out, HasSubstr("team=search, project=ranker, environment=production, "
                                     "customer_id=acme, tag:tier=gold"));
  EXPECT_THAT(created.out, HasSubstr("$25.5 per week (budget 'key:" + id + "'"));
  EXPECT_THAT(created.out, HasSubstr("ranker in prod"));

  // What the ledger holds: the record and its budget, the key only as a hash.
  const std::vector<ledger::VirtualKey> keys = StoredKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].id, id);
  EXPECT_EQ(keys[0].secret_sha256, genops::gateway::HashVirtualKey(key));
  EXPECT_EQ(keys[0].display_prefix, key.substr(0, 11));
  EXPECT_EQ(keys[0].attribution.tags.at("tier"), "gold");
  EXPECT_EQ(keys[0].attribution.tags.at("virtual_key"), id);
  EXPECT_EQ(keys[0].created_unix_nanos, kNow);
  EXPECT_EQ(BudgetNames(), std::vector<std::string>{"key:" + id});
  const std::string bytes = LedgerBytes();
  EXPECT_NE(bytes.find(keys[0].secret_sha256), std::string::npos);  // the search works...
  EXPECT_EQ(bytes.find(key), std::string::npos);                    // ...and finds no key
  EXPECT_EQ(bytes.find(key.substr(11)), std::string::npos);         // nor its secret part

  Result list = Keys({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  for (const char* header :
       {"ID", "PREFIX", "TEAM", "PROJECT", "CUSTOMER", "BUDGET", "CREATED (UTC)", "STATUS"}) {
    EXPECT_THAT(list.out, HasSubstr(header));
  }
  EXPECT_THAT(list.out, HasSubstr(id));
  EXPECT_THAT(list.out, HasSubstr(key.substr(0, 11) + "..."));
  EXPECT_THAT(list.out, HasSubstr("$25.5/week"));
  EXPECT_THAT(list.out, HasSubstr("2026-11-15T12:00:00Z"));
  EXPECT_THAT(list.out, HasSubstr("active"));
  EXPECT_THAT(list.out, HasSubstr("1 key(s) in " + url_ + ", 1 active"));
  EXPECT_THAT(list.out, Not(HasSubstr(key)));
  EXPECT_THAT(list.out, Not(HasSubstr(key.substr(11))));
  EXPECT_THAT(list.out, Not(HasSubstr(keys[0].secret_sha256)));

  Result revoke = Keys({"revoke", id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("Virtual key " + id + " revoked in " + url_));
  EXPECT_THAT(revoke.out, HasSubstr("its budget 'key:" + id + "' was deleted"));
  EXPECT_TRUE(BudgetNames().empty());

  list = Keys({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("revoked 2026-11-15T12:00:00Z"));
  EXPECT_THAT(list.out, HasSubstr("1 key(s) in " + url_ + ", 0 active"));
  ASSERT_EQ(StoredKeys().size(), 1u);
  EXPECT_EQ(StoredKeys()[0].revoked_unix_nanos, kNow);

  Result again = Keys({"revoke", id});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("was already revoked"));
}

TEST_F(KeysCommandTest, JsonOutputsCarryTheKeyOnlyAtCreation) {
  Result created = Keys({"create", "--team", "t", "--project", "p", "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const nlohmann::json j = nlohmann::json::parse(created.out);
  const std::string key = j.at("key");
  const std::string id = j.at("id");
  EXPECT_EQ(key.size(), 46u);
  EXPECT_EQ(j.at("display_prefix"), key.substr(0, 11));
  EXPECT_EQ(j.at("attribution").at("team"), "t");
  EXPECT_EQ(j.at("attribution").at("tags").at("virtual_key"), id);
  EXPECT_TRUE(j.at("budget").is_null());
  EXPECT_EQ(j.at("created"), "2026-11-15T12:00:00Z");
  EXPECT_THAT(j.at("note").get<std::string>(), HasSubstr("cannot be shown again"));

  Result list = Keys({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const nlohmann::json l = nlohmann::json::parse(list.out);
  ASSERT_EQ(l.at("keys").size(), 1u);
  EXPECT_EQ(l.at("keys")[0].at("id"), id);
  EXPECT_EQ(l.at("keys")[0].at("status"), "active");
  EXPECT_TRUE(l.at("keys")[0].at("revoked").is_null());
  EXPECT_THAT(list.out, Not(HasSubstr(key)));
  EXPECT_THAT(list.out, Not(HasSubstr(genops::gateway::HashVirtualKey(key))));
  EXPECT_THAT(list.out, Not(HasSubstr("sha256")));

  Result revoke = Keys({"revoke", id, "--json"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  const nlohmann::json r = nlohmann::json::parse(revoke.out);
  EXPECT_EQ(r.at("action"), "revoked");
  EXPECT_EQ(r.at("revoked"), "2026-11-15T12:00:00Z");
}

TEST_F(KeysCommandTest, BadInputIsAClearUsageErrorAndCreatesNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"create", "--project", "p"}, "--team is required"},
      {{"create", "--team", "t"}, "--project is required"},
      {{"create", "--team", " ", "--project", "p"}, "--team is required"},
      {{"create", "--team", "t", "--project", "p", "--budget-usd", "lots"},
       "--budget-usd \"lots\""},
      {{"create", "--team", "t", "--project", "p", "--budget-usd=-1"}, "negative"},
      {{"create", "--team", "t", "--project", "p", "--period", "day"},
       "--period without --budget-usd"},
      {{"create", "--team", "t", "--project", "p", "--budget-usd", "5", "--period", "fortnight"},
       "--period: unknown budget period 'fortnight'"},
      {{"create", "--team", "t", "--project", "p", "--tag", "novalue"}, "is not key=value"},
      {{"create", "--team", "t", "--project", "p", "--tag", "virtual_key=x"}, "reserved"},
      {{"create", "--team", "t", "--project", "p", "--tag", "a=1", "--tag", "a=2"}, "twice"},
      {{"revoke", "key-1"}, "malformed"},
  };
  for (const Case& c : cases) {
    Result r = Keys(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[1] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.mentions)) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // Every create was refused before the ledger was opened: no database was made.
  EXPECT_NE(access(db_.c_str(), F_OK), 0);

  // Without --ledger/--config: a usage error too.
  Result no_ledger = Run({"keys", "list"});
  EXPECT_EQ(no_ledger.exit_code, 2);
  EXPECT_THAT(no_ledger.err, HasSubstr("no ledger given"));
}

TEST_F(KeysCommandTest, UnknownIdsAndEmptyLedgersAreReported) {
  ASSERT_EQ(Keys({"create", "--team", "t", "--project", "p"}).exit_code, 0);
  Result unknown = Keys({"revoke", "vk_00000000000000ff"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no virtual key with id vk_00000000000000ff in " + url_ +
                                     "; `genops keys list` lists the keys there"));
  ASSERT_EQ(StoredKeys().size(), 1u);
  EXPECT_FALSE(StoredKeys()[0].revoked());

  // A list of a ledger without keys says how to make one.
  std::system(("rm -f '" + db_ + "'*").c_str());
  ledger::LedgerOpenOptions options;
  ASSERT_TRUE(ledger::OpenLedger(url_, options).ok());
  Result empty = Keys({"list"});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_THAT(empty.out, HasSubstr("No virtual keys in " + url_));
  // A missing ledger file is not created by list or revoke.
  std::system(("rm -f '" + db_ + "'*").c_str());
  EXPECT_EQ(Keys({"list"}).exit_code, 1);
  EXPECT_NE(access(db_.c_str(), F_OK), 0);
}

}  // namespace
