// Money: an exact amount of US dollars.
//
// GenOps never holds money in floating point. An amount is a signed 64-bit count of
// nano-USD (1e-9 USD), which spans ±9.2 billion USD. Prices are integers of micro-USD per
// million tokens (that is, pico-USD per token), so the cost of any token count is an exact
// integer of pico-USD; the pricer rounds that total *up* to the next nano-USD once per
// operation, so spend is never under-counted and every later sum is exact.
//
// Example:
//   genops::Money cap = genops::Money::FromUsdString("10.50").value();
//   genops::Money spent = genops::Money::FromNanos(1'250'000);  // $0.00125
//   if (spent > cap) { ... }
//   std::string shown = spent.ToUsdString();                  // "0.00125"
//
// Thread safety: a value type; const methods may be called concurrently.
#ifndef GENOPS_MONEY_H_
#define GENOPS_MONEY_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace genops {

class Money {
 public:
  static constexpr int64_t kNanosPerUsd = 1'000'000'000;

  constexpr Money() = default;
  static constexpr Money FromNanos(int64_t nanos) { return Money(nanos); }
  static constexpr Money Zero() { return Money(0); }

  // Parses a decimal USD amount ("12", "0.5", "-3.000000001", "1e-3" is rejected).
  // At most nine fractional digits; more is an error, never a silent rounding.
  static absl::StatusOr<Money> FromUsdString(std::string_view text);

  // Converts a double given through the convenience API (seed parameters such as
  // `max_operation_cost=5.0`). Rounds to the nearest nano-USD; rejects NaN, infinities and
  // magnitudes beyond the representable range.
  static absl::StatusOr<Money> FromUsdDouble(double usd);

  constexpr int64_t nanos() const { return nanos_; }
  // For display and span attributes only; never for arithmetic.
  double usd() const { return static_cast<double>(nanos_) / kNanosPerUsd; }
  // Shortest exact decimal: "0", "0.00125", "-12.5".
  std::string ToUsdString() const;
  // Fixed number of decimals for tables, rounded half away from zero: "$0.0013".
  std::string ToDisplayString(int decimals = 4) const;

  constexpr Money operator+(Money o) const { return Money(nanos_ + o.nanos_); }
  constexpr Money operator-(Money o) const { return Money(nanos_ - o.nanos_); }
  constexpr Money& operator+=(Money o) {
    nanos_ += o.nanos_;
    return *this;
  }
  constexpr Money& operator-=(Money o) {
    nanos_ -= o.nanos_;
    return *this;
  }
  constexpr auto operator<=>(const Money&) const = default;
  constexpr bool operator==(const Money&) const = default;

 private:
  constexpr explicit Money(int64_t nanos) : nanos_(nanos) {}
  int64_t nanos_ = 0;
};

}  // namespace genops

#endif  // GENOPS_MONEY_H_
