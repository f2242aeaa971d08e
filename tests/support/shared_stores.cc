#include "tests/support/shared_stores.h"

#include <string>
#include <utility>

#include "src/core/text.h"

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

std::vector<SharedStoreFactory> ServerStores() { return {}; }

}  // namespace genops::ledger
