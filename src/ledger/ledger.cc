// Shared, store-independent parts of the ledger contract: budget periods, UTC windows, scopes.
#include "src/ledger/ledger.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "src/core/text.h"

namespace genops::ledger {
namespace {

// Debian's Abseil has its own string_view type; bridge std::string_view to it.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kNanosPerDay = 86'400 * 1'000'000'000LL;

// a * b + c, saturated to the int64 range (only reachable for instants centuries away).
int64_t SaturatingMulAdd(int64_t a, int64_t b, int64_t c) {
  int64_t product = 0;
  int64_t sum = 0;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &sum)) {
    return ((a < 0) != (b < 0)) ? kInt64Min : kInt64Max;
  }
  return sum;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct YearMonth {
  int64_t year;
  int64_t month;  // 1..12
};

// The inverse of DaysFromCivil, keeping only year and month.
YearMonth YearMonthFromDays(int64_t days) {
  days += 719468;
  const int64_t era = FloorDiv(days, 146097);
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return {year, month};
}

// Canonical order for printing scopes, so "team=a,customer_id=b" reads the same everywhere.
constexpr std::array<std::string_view, 6> kDimensionOrder = {
    "team", "project", "environment", "customer_id", "cost_center", "feature"};

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsAlnum(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      return false;
    }
  }
  return true;
}

// An id for messages: printable, bounded (ids can come from a command line).
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? '?' : c);
  }
  if (s.size() > 40) out.append("...");
  return out;
}

}  // namespace

std::string_view BudgetPeriodName(BudgetPeriod period) {
  switch (period) {
    case BudgetPeriod::kDay:
      return "day";
    case BudgetPeriod::kWeek:
      return "week";
    case BudgetPeriod::kMonth:
      return "month";
    case BudgetPeriod::kTotal:
      return "total";
  }
  return "unknown";
}

absl::StatusOr<BudgetPeriod> ParseBudgetPeriod(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(Sv(name)));
  if (lower == "day" || lower == "daily") return BudgetPeriod::kDay;
  if (lower == "week" || lower == "weekly") return BudgetPeriod::kWeek;
  if (lower == "month" || lower == "monthly") return BudgetPeriod::kMonth;
  if (lower == "total") return BudgetPeriod::kTotal;
  return absl::InvalidArgumentError(absl::StrCat("unknown budget period '", Sv(name),
                                                 "': expected one of day, week, month, total"));
}

BudgetWindow BudgetWindow::Containing(BudgetPeriod period, int64_t unix_nanos) {
  const int64_t days = FloorDiv(unix_nanos, kNanosPerDay);
  switch (period) {
    case BudgetPeriod::kDay:
      return {SaturatingMulAdd(days, kNanosPerDay, 0), SaturatingMulAdd(days + 1, kNanosPerDay, 0)};
    case BudgetPeriod::kWeek: {
      // 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays.
      const int64_t monday = days - (days + 3 - FloorDiv(days + 3, 7) * 7);
      return {SaturatingMulAdd(monday, kNanosPerDay, 0),
              SaturatingMulAdd(monday + 7, kNanosPerDay, 0)};
    }
    case BudgetPeriod::kMonth: {
      const YearMonth ym = YearMonthFromDays(days);
      const int64_t first = DaysFromCivil(ym.year, ym.month, 1);
      const int64_t next = ym.month == 12 ? DaysFromCivil(ym.year + 1, 1, 1)
                                          : DaysFromCivil(ym.year, ym.month + 1, 1);
      return {SaturatingMulAdd(first, kNanosPerDay, 0), SaturatingMulAdd(next, kNanosPerDay, 0)};
    }
    case BudgetPeriod::kTotal:
      return {kInt64Min, kInt64Max};
  }
  return {kInt64Min, kInt64Max};
}

bool ScopeMatches(const Scope& scope, const Attribution& attribution) {
  for (const auto& [dimension, value] : scope) {
    const std::optional<std::string_view> actual = attribution.Dimension(dimension);
    if (!actual.has_value() || *actual != value) return false;
  }
  return true;
}

std::string ScopeToString(const Scope& scope) {
  if (scope.empty()) return "global";
  std::string out;
  auto append = [&out](std::string_view key, std::string_view value) {
    if (!out.empty()) out.push_back(',');
    absl::StrAppend(&out, Sv(key), "=", Sv(value));
  };
  for (std::string_view dimension : kDimensionOrder) {
    auto it = scope.find(std::string(dimension));
    if (it != scope.end()) append(it->first, it->second);
  }
  for (const auto& [key, value] : scope) {
    bool canonical = false;
    for (std::string_view dimension : kDimensionOrder) canonical |= key == dimension;
    if (!canonical) append(key, value);
  }
  return out;
}

double BudgetStatus::utilization() const {
  const Money max = limit();
  if (max.nanos() <= 0) return 0;
  return static_cast<double>((spent + reserved).nanos()) / static_cast<double>(max.nanos());
}

std::string_view OperationStateName(OperationState state) {
  switch (state) {
    case OperationState::kReserved:
      return "reserved";
    case OperationState::kSettled:
      return "settled";
  }
  return "unknown";
}

absl::StatusOr<std::vector<OperationRecord>> QueryOperations(Ledger& ledger,
                                                             const OperationQuery& query) {
  std::vector<OperationRecord> out;
  absl::Status status = ledger.ScanOperations(query, [&out](const OperationRecord& record) {
    out.push_back(record);
    return true;
  });
  if (!status.ok()) return status;
  return out;
}

std::vector<absl::StatusOr<SettleOutcome>> Ledger::ChargeBatch(
    absl::Span<const ChargeItem> items) {
  std::vector<absl::StatusOr<SettleOutcome>> outcomes;
  outcomes.reserve(items.size());
  for (const ChargeItem& item : items) {
    if (!item.from_reservation.empty()) {
      outcomes.push_back(
          absl::UnimplementedError(Cat("ledger: this store cannot charge '", item.operation_id,
                                       "' from a reservation (budget leases need sqlite:// or redis://)")));
      continue;
    }
    outcomes.push_back(
        Charge(item.operation_id, *item.attribution, item.actual, item.now_unix_nanos));
  }
  return outcomes;
}

absl::Status ValidateOperationId(std::string_view operation_id) {
  if (operation_id.empty()) {
    return absl::InvalidArgumentError(
        "ledger: empty operation id; every ledger call needs the operation's unique id");
  }
  return absl::OkStatus();
}

absl::Status ValidateAmount(std::string_view what, std::string_view operation_id, Money amount) {
  if (amount < Money::Zero()) {
    return absl::InvalidArgumentError(Cat("ledger: negative ", what, " ", amount.ToUsdString(),
                                          " USD for operation '", operation_id,
                                          "'; amounts must be >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBudgetSpec(const BudgetSpec& spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("budget: empty name; every budget needs a unique name");
  }
  if (spec.limit < Money::Zero()) {
    return absl::InvalidArgumentError(Cat("budget '", spec.name, "': negative limit ",
                                          spec.limit.ToUsdString(), " USD; limits must be >= 0"));
  }
  for (const auto& [dimension, value] : spec.scope) {
    if (!Attribution::IsKnownDimension(dimension)) {
      return absl::InvalidArgumentError(
          Cat("budget '", spec.name, "': unknown scope dimension '", dimension,
              "'; use team, project, environment, customer_id, cost_center, feature or tag:<key>"));
    }
  }
  for (double threshold : spec.alert_thresholds) {
    if (!(threshold > 0 && threshold <= 10)) {
      return absl::InvalidArgumentError(
          Cat("budget '", spec.name, "': alert threshold ", threshold,
              " is outside (0, 10]; thresholds are fractions of the limit, e.g. 0.8 for 80%"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateVirtualKeyId(std::string_view id) {
  constexpr std::string_view kPrefix = "vk_";
  if (id.size() != kPrefix.size() + 16 || !id.starts_with(kPrefix) ||
      !IsLowerHex(id.substr(kPrefix.size()))) {
    return absl::InvalidArgumentError(
        Cat("virtual key id '", Printable(id),
            "' is malformed; ids are \"vk_\" and 16 lowercase hex digits, as `genops keys list` "
            "shows them"));
  }
  return absl::OkStatus();
}

absl::Status ValidateVirtualKeyHash(std::string_view secret_sha256) {
  if (secret_sha256.size() != 64 || !IsLowerHex(secret_sha256)) {
    return absl::InvalidArgumentError(
        Cat("virtual key hash of ", secret_sha256.size(),
            " characters is malformed; it must be the 64 lowercase hex digits of a SHA-256"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNewVirtualKey(const VirtualKey& key) {
  if (absl::Status s = ValidateVirtualKeyId(key.id); !s.ok()) return s;
  if (absl::Status s = ValidateVirtualKeyHash(key.secret_sha256); !s.ok()) return s;
  if (key.display_prefix.size() != 11 || !key.display_prefix.starts_with("gk_") ||
      !IsAlnum(std::string_view(key.display_prefix).substr(3))) {
    return absl::InvalidArgumentError(
        Cat("virtual key ", key.id, ": display prefix '", Printable(key.display_prefix),
            "' is malformed; it is the key's first 11 characters, \"gk_\" and 8 letters or "
            "digits"));
  }
  if (key.created_unix_nanos <= 0) {
    return absl::InvalidArgumentError(Cat("virtual key ", key.id, ": creation time ",
                                          key.created_unix_nanos,
                                          " is not after 1970; pass the current time"));
  }
  if (key.revoked_unix_nanos != 0) {
    return absl::InvalidArgumentError(
        Cat("virtual key ", key.id,
            ": a new key must be active (revoked_unix_nanos 0); revoke it after creating it"));
  }
  return absl::OkStatus();
}

absl::Status ValidateVirtualKeyRevocation(std::string_view id, int64_t now_unix_nanos) {
  if (absl::Status s = ValidateVirtualKeyId(id); !s.ok()) return s;
  if (now_unix_nanos <= 0) {
    return absl::InvalidArgumentError(Cat("virtual key ", id, ": revocation time ", now_unix_nanos,
                                          " is not after 1970; pass the current time"));
  }
  return absl::OkStatus();
}

absl::Status VirtualKeyExistsError(std::string_view id, bool id_taken) {
  if (id_taken) {
    return absl::AlreadyExistsError(
        Cat("ledger: a virtual key with id ", id, " already exists; generate a new id"));
  }
  return absl::AlreadyExistsError(
      Cat("ledger: virtual key ", id,
          ": another key already has the same secret hash; generate a new secret"));
}

absl::Status VirtualKeyNotFoundError(std::string_view id) {
  return absl::NotFoundError(Cat("ledger: no virtual key with id ", id));
}

}  // namespace genops::ledger
