// Schema version 2 (virtual keys) upgrades a ledger of version 1 in place, keeping its data:
// a SQLite file built with the exact version-1 DDL, and a PostgreSQL database brought back
// to version 1. Newer versions are still refused (tests in sqlite_ledger_test.cc and
// postgres_ledger_test.cc).
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "gtest/gtest.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/ledger/sqlite_codec.h"
#include "tests/support/postgres_server.h"

namespace genops::ledger {
namespace {

namespace fs = std::filesystem;

// 2026-03-04T12:00:00Z.
constexpr int64_t kStart = 1'772'625'600LL * kNanosPerSecond;

Money Usd(int64_t whole) { return Money::FromNanos(whole * Money::kNanosPerUsd); }

VirtualKey Key(int64_t created) {
  VirtualKey key;
  key.id = "vk_00000000000000aa";
  key.secret_sha256 = std::string(64, 'a');
  key.display_prefix = "gk_Upgraded";
  key.attribution.team = "platform";
  key.attribution.project = "chat";
  key.attribution.tags["virtual_key"] = key.id;
  key.created_unix_nanos = created;
  return key;
}

// The schema genops wrote before virtual keys (version 1), verbatim: what files made by the
// previous release hold.
constexpr char kVersion1Schema[] = R"sql(
PRAGMA page_size=1024;
PRAGMA journal_mode=WAL;
BEGIN;
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE budgets(
  name TEXT PRIMARY KEY,
  generation INTEGER NOT NULL,
  period TEXT NOT NULL,
  limit_nanos INTEGER NOT NULL,
  scope BLOB NOT NULL,
  alert_thresholds TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE budget_windows(
  generation INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  spent INTEGER NOT NULL,
  reserved INTEGER NOT NULL,
  PRIMARY KEY(generation, window_start)
) STRICT, WITHOUT ROWID;
CREATE TABLE reservations(
  operation_id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  attribution BLOB NOT NULL,
  holds BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE settled(
  operation_id TEXT PRIMARY KEY,
  reserved INTEGER NOT NULL,
  actual INTEGER NOT NULL,
  budgets BLOB NOT NULL,
  recorded_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX settled_by_recorded_at ON settled(recorded_at);
CREATE TABLE operations(
  operation_id TEXT NOT NULL UNIQUE,
  start_unix_nanos INTEGER NOT NULL,
  duration_nanos INTEGER NOT NULL,
  operation_type TEXT NOT NULL,
  operation_name TEXT NOT NULL,
  team TEXT NOT NULL,
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  customer_id TEXT NOT NULL,
  cost_center TEXT NOT NULL,
  feature TEXT NOT NULL,
  tags BLOB NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  cost_nanos INTEGER NOT NULL,
  priced INTEGER NOT NULL,
  decision TEXT NOT NULL,
  reason TEXT NOT NULL,
  error INTEGER NOT NULL,
  trace_id TEXT NOT NULL
) STRICT;
CREATE INDEX operations_by_start ON operations(start_unix_nanos, operation_id);
INSERT INTO meta(key, value) VALUES
  ('schema_version', 1), ('budgets_version', 0), ('next_generation', 0);
PRAGMA application_id = 1195724367;
COMMIT;
)sql";

// Runs `sql` on the file with the SQLite C API (as another program would).
absl::Status RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return absl::InternalError(Cat("cannot open ", path));
  }
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  absl::Status status =
      rc == SQLITE_OK ? absl::OkStatus() : absl::InternalError(error != nullptr ? error : "error");
  sqlite3_free(error);
  sqlite3_close(db);
  return status;
}

// The rows `sql` returns, each row's columns joined by '|', rows by '\n'.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
          if (i > 0) out += '|';
          const unsigned char* text = sqlite3_column_text(stmt, i);
          out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
        }
        out += '\n';
      }
    } else {
      out = Cat("error: ", sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

// A blob literal for SQL: X'0a1b...'.
std::string BlobLiteral(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "X'";
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  }
  out += "'";
  return out;
}

class SqliteSchemaUpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/genops_vk_upgrade_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/old.db";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // A version-1 ledger holding a $10 daily budget with $3 spent today through operation
  // "op-1", and that operation in the operations log.
  void MakeVersion1File() {
    ASSERT_TRUE(RawExec(path_, kVersion1Schema).ok());
    const BudgetWindow day = BudgetWindow::Containing(BudgetPeriod::kDay, kStart);
    sqlite_internal::BudgetNames names;
    names.push_back("daily");
    const std::string sql =
        Cat("BEGIN;"
            "UPDATE meta SET value = 1 WHERE key IN ('budgets_version', 'next_generation');"
            "INSERT INTO budgets VALUES('daily', 1, 'day', ",
            Usd(10).nanos(), ", ", BlobLiteral(sqlite_internal::EncodeStringMap({})), ", '",
            sqlite_internal::EncodeThresholds({0.5, 0.8, 1.0}),
            "');"
            "INSERT INTO budget_windows VALUES(1, ",
            day.start_unix_nanos, ", ", day.end_unix_nanos, ", ", Usd(3).nanos(),
            ", 0);"
            "INSERT INTO budget_windows VALUES(0, 0, ",
            std::numeric_limits<int64_t>::max(), ", ", Usd(3).nanos(),
            ", 0);"
            "INSERT INTO settled VALUES('op-1', 0, ",
            Usd(3).nanos(), ", ", BlobLiteral(sqlite_internal::EncodeNames(names)), ", ", kStart,
            ");"
            "INSERT INTO operations VALUES('op-1', ",
            kStart, ", 5, 'chat', 'answer', 'platform', 'chat', '', '', '', '', ",
            BlobLiteral(sqlite_internal::EncodeStringMap({})),
            ", 'openai', 'gpt-4o', 10, 0, 0, 20, 0, ", Usd(3).nanos(),
            ", 1, 'allowed', 'none', 0, '');", "COMMIT;");
    ASSERT_TRUE(RawExec(path_, sql).ok()) << RawExec(path_, sql);
    ASSERT_EQ(SchemaVersion(), "1\n");
  }

  absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path,
                                               bool create_if_missing = true) {
    LedgerOpenOptions options;
    options.clock = &clock_;
    options.create_if_missing = create_if_missing;
    return OpenLedger(Cat("sqlite://", path), options);
  }

  std::string SchemaVersion() const {
    return RawQuery(path_, "SELECT value FROM meta WHERE key = 'schema_version'");
  }

  // What a file's schema consists of, comparable between files.
  static std::string SchemaOf(const std::string& path) {
    return RawQuery(path, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name");
  }

  ManualClock clock_{kStart};
  std::string dir_;
  std::string path_;
};

TEST_F(SqliteSchemaUpgradeTest, AVersion1FileIsUpgradedInPlaceAndKeepsItsData) {
  MakeVersion1File();
  // Opened by a command that must not create anything: upgrading is still allowed.
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Open(path_, /*create_if_missing=*/false);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  EXPECT_EQ(SchemaVersion(), "2\n");

  // The old data is all there and behaves as before.
  absl::StatusOr<std::vector<BudgetStatus>> budgets = (*ledger)->ListBudgets(kStart);
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  ASSERT_EQ(budgets->size(), 1u);
  EXPECT_EQ((*budgets)[0].spec->name, "daily");
  EXPECT_EQ((*budgets)[0].limit(), Usd(10));
  EXPECT_EQ((*budgets)[0].spent, Usd(3));
  EXPECT_EQ(*(*ledger)->TotalSpent(), Usd(3));
  absl::StatusOr<SettleOutcome> repeat = (*ledger)->Charge("op-1", {}, Usd(3), kStart);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->already_settled);
  absl::StatusOr<std::vector<OperationRecord>> log = QueryOperations(**ledger, {});
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].model, "gpt-4o");
  EXPECT_EQ((*log)[0].cost, Usd(3));

  // The new table works.
  ASSERT_TRUE((*ledger)->CreateVirtualKey(Key(kStart)).ok());
  absl::StatusOr<std::optional<VirtualKey>> found =
      (*ledger)->FindVirtualKey(Key(kStart).secret_sha256);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, Key(kStart));
  ledger->reset();

  // An upgraded file is exactly what a new file is, and reopening it changes nothing.
  const std::string fresh = dir_ + "/fresh.db";
  ASSERT_TRUE(Open(fresh).ok());
  EXPECT_EQ(SchemaOf(path_), SchemaOf(fresh));
  absl::StatusOr<std::unique_ptr<Ledger>> again = Open(path_);
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<std::vector<VirtualKey>> keys = (*again)->ListVirtualKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(*(*again)->TotalSpent(), Usd(3));
}

TEST_F(SqliteSchemaUpgradeTest, ConcurrentOpenersUpgradeOnce) {
  MakeVersion1File();
  constexpr int kOpeners = 4;
  std::vector<absl::Status> results(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<Ledger>> ledger = Open(path_);
      results[static_cast<size_t>(i)] = ledger.status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(SchemaVersion(), "2\n");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM sqlite_schema WHERE name = 'virtual_keys'"),
            "1\n");
}

TEST_F(SqliteSchemaUpgradeTest, AFailedUpgradeIsRolledBackWhole) {
  MakeVersion1File();
  // An object in the way of the upgrade's second statement (another program's index).
  ASSERT_TRUE(RawExec(path_, "CREATE INDEX virtual_keys_by_created ON budgets(period)").ok());
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Open(path_);
  ASSERT_FALSE(ledger.ok());
  EXPECT_NE(ledger.status().message().find("rolled back"), absl::string_view::npos)
      << ledger.status();
  EXPECT_NE(ledger.status().message().find("version 2"), absl::string_view::npos)
      << ledger.status();
  // Neither the table created before the failure nor the new version were kept.
  EXPECT_EQ(SchemaVersion(), "1\n");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM sqlite_schema WHERE name = 'virtual_keys'"),
            "0\n");
  EXPECT_EQ(RawQuery(path_, "SELECT spent FROM budget_windows WHERE generation = 1"),
            Cat(Usd(3).nanos(), "\n"));
}

// --- PostgreSQL ------------------------------------------------------------------------------

TEST(PostgresSchemaUpgradeTest, AVersion1DatabaseGainsVirtualKeysAndKeepsItsData) {
  absl::StatusOr<genops::testing::PostgresServer*> server =
      genops::testing::PostgresServer::Shared();
  if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << server.status();
  }
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> url = (*server)->CreateDatabase();
  ASSERT_TRUE(url.ok()) << url.status();
  const std::string database = url->substr(url->rfind('/') + 1);
  ManualClock clock(kStart);
  LedgerOpenOptions options;
  options.clock = &clock;
  {
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = OpenLedger(*url, options);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    BudgetSpec daily;
    daily.name = "daily";
    daily.limit = Usd(10);
    ASSERT_TRUE((*ledger)->UpsertBudget(daily).ok());
    ASSERT_TRUE((*ledger)->Charge("op-1", {}, Usd(3), kStart).ok());
  }
  // What a version-1 database is: everything but the virtual-keys table.
  ASSERT_TRUE((*server)
                  ->ExecuteSql(database,
                               "DROP TABLE genops_virtual_keys; UPDATE genops_meta SET value = 1 "
                               "WHERE key = 'schema_version'")
                  .ok());

  absl::StatusOr<std::unique_ptr<Ledger>> ledger = OpenLedger(*url, options);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  absl::StatusOr<std::vector<BudgetStatus>> budgets = (*ledger)->ListBudgets(kStart);
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  ASSERT_EQ(budgets->size(), 1u);
  EXPECT_EQ((*budgets)[0].spent, Usd(3));
  EXPECT_EQ(*(*ledger)->TotalSpent(), Usd(3));
  ASSERT_TRUE((*ledger)->CreateVirtualKey(Key(kStart)).ok());
  absl::StatusOr<std::vector<VirtualKey>> keys = (*ledger)->ListVirtualKeys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0], Key(kStart));
  // The version was recorded: a newer build's check still works from here.
  ASSERT_TRUE((*server)
                  ->ExecuteSql(database,
                               "DO $$ BEGIN IF (SELECT value FROM genops_meta WHERE key = "
                               "'schema_version') <> 2 THEN RAISE 'not upgraded'; END IF; END $$")
                  .ok());
}

}  // namespace
}  // namespace genops::ledger
