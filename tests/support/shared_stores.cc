#include "tests/support/shared_stores.h"

#include <string>
#include <utility>

#include "absl/time/time.h"
#include "src/core/text.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"

namespace genops::ledger {
namespace {

class SqliteStore final : public StoreUnderTest {
 public:
  explicit SqliteStore(std::string url) : url_(std::move(url)) {}
  const std::string& url() const override { return url_; }
  absl::Status Stop() override { return absl::UnimplementedError("sqlite has no server"); }
  absl::Status Restart() override { return absl::UnimplementedError("sqlite has no server"); }

 private:
  std::string url_;
};

// A server of the store's own per test, so stopping it touches no other test.
class RedisStore final : public StoreUnderTest {
 public:
  explicit RedisStore(std::unique_ptr<testing::RedisServer> server)
      : server_(std::move(server)), url_(server_->Url()) {}
  const std::string& url() const override { return url_; }
  absl::Status Stop() override { return server_->Stop(); }
  absl::Status Restart() override { return server_->Restart(); }

 private:
  std::unique_ptr<testing::RedisServer> server_;
  std::string url_;
};

class PostgresStore final : public StoreUnderTest {
 public:
  PostgresStore(std::unique_ptr<testing::PostgresServer> server, std::string url)
      : server_(std::move(server)), url_(std::move(url)) {}
  const std::string& url() const override { return url_; }
  absl::Status Stop() override { return server_->Stop(); }
  absl::Status Restart() override { return server_->Restart(); }
  absl::Status AwaitQuiet() override {
    // The database is the URL's path: postgresql://user@host:port/<database>[?...].
    std::string database = url_.substr(url_.rfind('/') + 1);
    database = database.substr(0, database.find('?'));
    return server_->AwaitQuiet(database, absl::Seconds(30));
  }

 private:
  std::unique_ptr<testing::PostgresServer> server_;
  std::string url_;
};

}  // namespace

std::vector<SharedStoreFactory> SharedStores() {
  std::vector<SharedStoreFactory> stores = {
      {"sqlite", false,
       [](const std::string& dir) -> absl::StatusOr<std::unique_ptr<StoreUnderTest>> {
         return std::make_unique<SqliteStore>(Cat("sqlite://", dir, "/ledger.db"));
       }},
  };
  for (SharedStoreFactory& f : ServerStores()) stores.push_back(std::move(f));
  return stores;
}

std::vector<SharedStoreFactory> ServerStores() {
  return {
      {"redis", true,
       [](const std::string&) -> absl::StatusOr<std::unique_ptr<StoreUnderTest>> {
         auto server = testing::RedisServer::Start();
         if (!server.ok()) return server.status();
         return std::make_unique<RedisStore>(*std::move(server));
       }},
      {"postgresql", true,
       [](const std::string&) -> absl::StatusOr<std::unique_ptr<StoreUnderTest>> {
         auto server = testing::PostgresServer::Start();
         if (!server.ok()) return server.status();
         absl::StatusOr<std::string> url = (*server)->CreateDatabase();
         if (!url.ok()) return url.status();
         return std::make_unique<PostgresStore>(*std::move(server), *std::move(url));
       }},
  };
}

}  // namespace genops::ledger
