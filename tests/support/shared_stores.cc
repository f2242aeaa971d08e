#include "tests/support/shared_stores.h"

#include <string>

#include "src/core/text.h"

namespace genops::ledger {

std::vector<SharedStoreFactory> SharedStores() {
  return {
      {"sqlite", [](const std::string& dir) -> absl::StatusOr<std::string> {
         return Cat("sqlite://", dir, "/ledger.db");
       }},
  };
}

}  // namespace genops::ledger
