// Exact decimal conversions for genops::Money (see include/genops/money.h).
#include "genops/money.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/core/text.h"

namespace genops {
namespace {

// 128-bit intermediates keep tokens × price exact (GCC/Clang builtin; __extension__ keeps
// -Wpedantic quiet).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

constexpr int kFractionDigits = 9;
constexpr Int128 kMaxNanos = std::numeric_limits<int64_t>::max();
constexpr Int128 kMinNanos = std::numeric_limits<int64_t>::min();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Magnitude of an int64 as unsigned, safe for INT64_MIN.
uint64_t Magnitude(int64_t v) {
  return v < 0 ? ~static_cast<uint64_t>(v) + 1 : static_cast<uint64_t>(v);
}

// "<integer>.<9 digits>" of a magnitude in nanos.
std::string FormatFixed9(uint64_t magnitude) {
  std::string frac = std::to_string(magnitude % Money::kNanosPerUsd);
  return Cat(magnitude / Money::kNanosPerUsd, ".", std::string(kFractionDigits - frac.size(), '0'),
             frac);
}

}  // namespace

absl::StatusOr<Money> Money::FromUsdString(std::string_view text) {
  auto error = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        Cat("invalid USD amount \"", text, "\": ", why,
            " (expected a plain decimal such as \"12\", \"0.5\" or \"-3.25\")"));
  };
  std::string_view s = text;
  if (s.empty()) return error("empty");
  bool negative = false;
  if (s.front() == '-' || s.front() == '+') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  std::string_view int_part = s.substr(0, dot);
  std::string_view frac_part =
      dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (int_part.empty() && frac_part.empty()) return error("no digits");
  for (char c : int_part) {
    if (!IsDigit(c)) return error(Cat("unexpected character '", std::string(1, c), "'"));
  }
  for (char c : frac_part) {
    if (!IsDigit(c)) return error(Cat("unexpected character '", std::string(1, c), "'"));
  }
  // Extra fractional digits are accepted only when they are zeros: no rounding ever happens.
  while (frac_part.size() > kFractionDigits && frac_part.back() == '0') frac_part.remove_suffix(1);
  if (frac_part.size() > kFractionDigits) {
    return error("more than 9 decimal places (the smallest unit is one nano-USD)");
  }
  Int128 value = 0;
  for (char c : int_part) {
    value = value * 10 + (c - '0');
    if (value > kMaxNanos) return error("out of range (beyond ±9.2 billion USD)");
  }
  Int128 frac = 0;
  for (size_t i = 0; i < kFractionDigits; ++i) {
    frac = frac * 10 + (i < frac_part.size() ? frac_part[i] - '0' : 0);
  }
  value = value * kNanosPerUsd + frac;
  if (negative) value = -value;
  if (value > kMaxNanos || value < kMinNanos) {
    return error("out of range (beyond ±9.2 billion USD)");
  }
  return Money(static_cast<int64_t>(value));
}

absl::StatusOr<Money> Money::FromUsdDouble(double usd) {
  if (std::isnan(usd) || std::isinf(usd)) {
    return absl::InvalidArgumentError(Cat("invalid USD amount ", usd, ": not a finite number"));
  }
  if (std::fabs(usd) > 1e10) {
    return absl::InvalidArgumentError(
        Cat("invalid USD amount ", usd, ": out of range (beyond ±9.2 billion USD)"));
  }
  // Go through the shortest decimal that round-trips, so 0.1 means exactly 0.1 USD rather
  // than the binary value nearest to it, then round to the nano half away from zero.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), usd, std::chars_format::scientific);
  if (ec != std::errc()) return absl::InternalError("cannot format double");
  std::string_view sci(buf, static_cast<size_t>(end - buf));
  bool negative = false;
  if (!sci.empty() && sci.front() == '-') {
    negative = true;
    sci.remove_prefix(1);
  }
  size_t e = sci.find('e');
  std::string_view mantissa = sci.substr(0, e);
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exponent);
  std::string digits;
  for (char c : mantissa) {
    if (IsDigit(c)) digits.push_back(c);
  }
  // value = 0.d1d2d3... × 10^(exponent + 1); nanos = digits × 10^(exponent + 1 + 9 - n).
  int shift = exponent + 1 + kFractionDigits - static_cast<int>(digits.size());
  Int128 nanos = 0;
  if (shift >= 0) {
    for (char c : digits) nanos = nanos * 10 + (c - '0');
    for (int i = 0; i < shift; ++i) nanos *= 10;
  } else {
    int keep = static_cast<int>(digits.size()) + shift;  // digits before the rounding point
    for (int i = 0; i < keep; ++i) nanos = nanos * 10 + (digits[static_cast<size_t>(i)] - '0');
    if (keep >= 0 && static_cast<size_t>(keep) < digits.size() &&
        digits[static_cast<size_t>(keep)] >= '5') {
      ++nanos;
    }
  }
  if (negative) nanos = -nanos;
  if (nanos > kMaxNanos || nanos < kMinNanos) {
    return absl::InvalidArgumentError(
        Cat("invalid USD amount ", usd, ": out of range (beyond ±9.2 billion USD)"));
  }
  return Money(static_cast<int64_t>(nanos));
}

std::string Money::ToUsdString() const {
  std::string s = FormatFixed9(Magnitude(nanos_));
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (nanos_ < 0) s.insert(s.begin(), '-');
  return s;
}

std::string Money::ToDisplayString(int decimals) const {
  if (decimals < 0) decimals = 0;
  if (decimals > kFractionDigits) decimals = kFractionDigits;
  UInt128 magnitude = Magnitude(nanos_);
  UInt128 unit = 1;
  for (int i = decimals; i < kFractionDigits; ++i) unit *= 10;
  UInt128 rounded = (magnitude + unit / 2) / unit;  // half away from zero
  UInt128 scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  std::string out = nanos_ < 0 && rounded != 0 ? "-$" : "$";
  out += Cat(static_cast<uint64_t>(rounded / scale));
  if (decimals > 0) {
    std::string frac = std::to_string(static_cast<uint64_t>(rounded % scale));
    out += Cat(".", std::string(static_cast<size_t>(decimals) - frac.size(), '0'), frac);
  }
  return out;
}

}  // namespace genops
