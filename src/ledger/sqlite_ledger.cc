#include "src/ledger/sqlite_ledger.h"

#include "absl/status/status.h"

namespace genops::ledger {

absl::StatusOr<std::unique_ptr<Ledger>> OpenSqliteLedger(std::string_view /*url*/,
                                                   const LedgerOpenOptions& /*options*/) {
  return absl::UnimplementedError("the sqlite ledger store is not supported yet");
}

}  // namespace genops::ledger
