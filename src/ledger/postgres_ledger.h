// PostgresLedger: the `postgresql://...` store. (Being written; see ledger_factory.h.)
//
// Thread safety: thread-safe.
#ifndef GENOPS_LEDGER_POSTGRES_LEDGER_H_
#define GENOPS_LEDGER_POSTGRES_LEDGER_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/ledger/ledger.h"
#include "src/ledger/ledger_factory.h"

namespace genops::ledger {

// Opens the store named by `url` (scheme checked by the caller).
absl::StatusOr<std::unique_ptr<Ledger>> OpenPostgresLedger(std::string_view url,
                                                   const LedgerOpenOptions& options);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_POSTGRES_LEDGER_H_
