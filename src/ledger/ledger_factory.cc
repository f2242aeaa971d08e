#include "src/ledger/ledger_factory.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/core/text.h"
#include "src/ledger/memory_ledger.h"
#include "src/ledger/postgres_ledger.h"
#include "src/ledger/redis_ledger.h"
#include "src/ledger/sqlite_ledger.h"

namespace genops::ledger {

absl::StatusOr<std::string_view> LedgerScheme(std::string_view url) {
  const size_t colon = url.find("://");
  const std::string_view scheme = colon == std::string_view::npos ? "" : url.substr(0, colon);
  for (std::string_view known : {"memory", "sqlite", "redis", "postgresql"}) {
    if (scheme == known) return known;
  }
  if (scheme == "postgres") return std::string_view("postgresql");
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("ledger URL \"", url,
            "\" has no scheme; use memory://, sqlite://PATH, redis://HOST:PORT/DB or "
            "postgresql://USER@HOST:PORT/DB"));
  }
  return absl::InvalidArgumentError(
      Cat("ledger URL \"", url, "\": unknown scheme \"", scheme,
          "\"; supported: memory://, sqlite://PATH, redis://HOST:PORT/DB, "
          "postgresql://USER@HOST:PORT/DB"));
}

absl::StatusOr<std::unique_ptr<Ledger>> OpenLedger(std::string_view url,
                                                   const LedgerOpenOptions& options) {
  absl::StatusOr<std::string_view> scheme = LedgerScheme(url);
  if (!scheme.ok()) return scheme.status();
  if (*scheme == "memory") {
    if (url != "memory://") {
      return absl::InvalidArgumentError(
          Cat("ledger URL \"", url, "\": memory:// takes no path or parameters"));
    }
    return NewMemoryLedger(options.clock);
  }
  if (*scheme == "sqlite") return OpenSqliteLedger(url, options);
  if (*scheme == "redis") return OpenRedisLedger(url, options);
  return OpenPostgresLedger(url, options);
}

}  // namespace genops::ledger
