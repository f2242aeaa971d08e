#include "src/ledger/redis_ledger.h"

#include "absl/status/status.h"

namespace genops::ledger {

absl::StatusOr<std::unique_ptr<Ledger>> OpenRedisLedger(std::string_view /*url*/,
                                                   const LedgerOpenOptions& /*options*/) {
  return absl::UnimplementedError("the redis ledger store is not supported yet");
}

}  // namespace genops::ledger
