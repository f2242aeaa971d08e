// The durable stores the multi-process tests run against, each as a URL maker.
//
// sqlite gets a fresh file in the test's own temp dir `dir`; redis and postgresql get a fresh store on a server
// the test binary starts once on loopback (tests/support/redis_server.h, postgres_server.h).
// A maker returning kUnavailable (server binary not installed, outside CI) skips the test.
#ifndef GENOPS_TESTS_SUPPORT_SHARED_STORES_H_
#define GENOPS_TESTS_SUPPORT_SHARED_STORES_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace genops::ledger {

struct SharedStoreFactory {
  std::string name;
  std::function<absl::StatusOr<std::string>(const std::string& dir)> make_url;
};

inline void PrintTo(const SharedStoreFactory& factory, std::ostream* os) { *os << factory.name; }

std::vector<SharedStoreFactory> SharedStores();

}  // namespace genops::ledger

#endif  // GENOPS_TESTS_SUPPORT_SHARED_STORES_H_
