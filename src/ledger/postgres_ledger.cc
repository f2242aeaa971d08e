#include "src/ledger/postgres_ledger.h"

#include "absl/status/status.h"

namespace genops::ledger {

absl::StatusOr<std::unique_ptr<Ledger>> OpenPostgresLedger(std::string_view /*url*/,
                                                   const LedgerOpenOptions& /*options*/) {
  return absl::UnimplementedError("the postgres ledger store is not supported yet");
}

}  // namespace genops::ledger
