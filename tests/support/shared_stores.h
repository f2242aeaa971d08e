// The durable ledger stores the multi-process and outage tests run against.
//
// Each factory starts what its store needs and returns a handle owning it: sqlite a database
// file in the test's temp dir; redis and postgresql a real server of their own on loopback
// (tests/support/redis_server.h, postgres_server.h), stopped when the handle is destroyed.
// A factory returning kUnavailable (server binary not installed, outside CI) skips the test.
#ifndef GENOPS_TESTS_SUPPORT_SHARED_STORES_H_
#define GENOPS_TESTS_SUPPORT_SHARED_STORES_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace genops::ledger {

// Thread safety: not thread-safe; owned by one test.
class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  virtual const std::string& url() const = 0;
  // Takes the store down / brings it back with its data (servers only; sqlite returns
  // kUnimplemented).
  virtual absl::Status Stop() = 0;
  virtual absl::Status Restart() = 0;
  // Waits until no statement of a (killed) client is still running on the server, so what
  // the test reads next includes everything that client's last calls will ever commit.
  // PostgreSQL finishes a killed client's current statement before noticing it is gone;
  // SQLite rolls an unfinished transaction back and Redis runs each script whole, so they
  // have nothing to wait for.
  virtual absl::Status AwaitQuiet() { return absl::OkStatus(); }
};

struct SharedStoreFactory {
  std::string name;  // a valid test-name fragment
  bool is_server = false;
  std::function<absl::StatusOr<std::unique_ptr<StoreUnderTest>>(const std::string& dir)> start;
};

inline void PrintTo(const SharedStoreFactory& factory, std::ostream* os) { *os << factory.name; }

// sqlite, redis, postgresql.
std::vector<SharedStoreFactory> SharedStores();
// Only the server stores (redis, postgresql): those that can be stopped mid-run.
std::vector<SharedStoreFactory> ServerStores();

}  // namespace genops::ledger

#endif  // GENOPS_TESTS_SUPPORT_SHARED_STORES_H_
