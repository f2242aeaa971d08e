#include "genops/money.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace genops {
namespace {

int64_t Nanos(const char* text) {
  absl::StatusOr<Money> m = Money::FromUsdString(text);
  EXPECT_TRUE(m.ok()) << text << ": " << m.status();
  return m.ok() ? m->nanos() : -42;
}

TEST(MoneyTest, ParsesExactDecimals) {
  EXPECT_EQ(Nanos("12"), 12'000'000'000);
  EXPECT_EQ(Nanos("0.5"), 500'000'000);
  EXPECT_EQ(Nanos("-3.000000001"), -3'000'000'001);
  EXPECT_EQ(Nanos("+1.25"), 1'250'000'000);
  EXPECT_EQ(Nanos(".5"), 500'000'000);
  EXPECT_EQ(Nanos("0"), 0);
  EXPECT_EQ(Nanos("-0"), 0);
  EXPECT_EQ(Nanos("0.000000001"), 1);
  // Zeros beyond the ninth decimal lose nothing, so they are accepted.
  EXPECT_EQ(Nanos("1.500000000000"), 1'500'000'000);
  EXPECT_EQ(Nanos("9223372036.854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Nanos("-9223372036.854775808"), std::numeric_limits<int64_t>::min());
}

TEST(MoneyTest, RejectsAnythingThatIsNotAnExactDecimal) {
  for (const char* bad : {"", "-", "+", ".", "1e-3", "1E3", "abc", "1,000", " 1", "1 ", "$1",
                          "1.2.3", "--1", "0x10", "1.0000000001", "9223372036.854775808",
                          "-9223372036.854775809", "99999999999999999999999"}) {
    absl::StatusOr<Money> m = Money::FromUsdString(bad);
    EXPECT_FALSE(m.ok()) << "accepted \"" << bad << "\" as " << m->nanos();
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(std::string(m.status().message()).find("\"" + std::string(bad) + "\""),
                std::string::npos)
          << m.status();
    }
  }
}

TEST(MoneyTest, TooManyDecimalsSaysWhy) {
  absl::StatusOr<Money> m = Money::FromUsdString("0.0000000015");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(std::string(m.status().message()).find("9 decimal"), std::string::npos);
}

TEST(MoneyTest, FromDoubleUsesTheDecimalTheUserWrote) {
  EXPECT_EQ(Money::FromUsdDouble(0.1)->nanos(), 100'000'000);
  EXPECT_EQ(Money::FromUsdDouble(5.0)->nanos(), 5'000'000'000);
  EXPECT_EQ(Money::FromUsdDouble(-2.5)->nanos(), -2'500'000'000);
  EXPECT_EQ(Money::FromUsdDouble(0.3)->nanos(), 300'000'000);
  EXPECT_EQ(Money::FromUsdDouble(123456.789)->nanos(), 123'456'789'000'000);
  EXPECT_EQ(Money::FromUsdDouble(1e-9)->nanos(), 1);
  EXPECT_EQ(Money::FromUsdDouble(1e-10)->nanos(), 0);
  EXPECT_EQ(Money::FromUsdDouble(0.0)->nanos(), 0);
  // Half a nano rounds away from zero.
  EXPECT_EQ(Money::FromUsdDouble(1.0000000005)->nanos(), 1'000'000'001);
  EXPECT_EQ(Money::FromUsdDouble(-1.0000000005)->nanos(), -1'000'000'001);
  EXPECT_EQ(Money::FromUsdDouble(1.0000000004)->nanos(), 1'000'000'000);
  EXPECT_EQ(Money::FromUsdDouble(5e-10)->nanos(), 1);
  EXPECT_EQ(Money::FromUsdDouble(9e9)->nanos(), 9'000'000'000'000'000'000);
}

TEST(MoneyTest, FromDoubleRejectsNonFiniteAndHugeValues) {
  EXPECT_FALSE(Money::FromUsdDouble(std::nan("")).ok());
  EXPECT_FALSE(Money::FromUsdDouble(std::numeric_limits<double>::infinity()).ok());
  EXPECT_FALSE(Money::FromUsdDouble(-std::numeric_limits<double>::infinity()).ok());
  EXPECT_FALSE(Money::FromUsdDouble(1e11).ok());
  EXPECT_FALSE(Money::FromUsdDouble(-9.3e9).ok());
  EXPECT_FALSE(Money::FromUsdDouble(9.3e9).ok());
}

TEST(MoneyTest, ToUsdStringIsShortestExact) {
  EXPECT_EQ(Money::Zero().ToUsdString(), "0");
  EXPECT_EQ(Money::FromNanos(1'250'000).ToUsdString(), "0.00125");
  EXPECT_EQ(Money::FromNanos(-12'500'000'000).ToUsdString(), "-12.5");
  EXPECT_EQ(Money::FromNanos(1).ToUsdString(), "0.000000001");
  EXPECT_EQ(Money::FromNanos(7'000'000'000).ToUsdString(), "7");
  EXPECT_EQ(Money::FromNanos(std::numeric_limits<int64_t>::min()).ToUsdString(),
            "-9223372036.854775808");
  EXPECT_EQ(Money::FromNanos(std::numeric_limits<int64_t>::max()).ToUsdString(),
            "9223372036.854775807");
}

TEST(MoneyTest, ToUsdStringRoundTripsThroughFromUsdString) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    int64_t nanos = static_cast<int64_t>(rng());
    if (i % 3 == 0) nanos %= 10'000'000'000;  // plenty of small amounts too
    Money m = Money::FromNanos(nanos);
    absl::StatusOr<Money> back = Money::FromUsdString(m.ToUsdString());
    ASSERT_TRUE(back.ok()) << m.ToUsdString();
    ASSERT_EQ(*back, m) << m.ToUsdString();
  }
}

TEST(MoneyTest, ToDisplayStringRoundsHalfAwayFromZero) {
  EXPECT_EQ(Money::FromNanos(1'250'000).ToDisplayString(), "$0.0013");
  EXPECT_EQ(Money::FromNanos(1'240'000).ToDisplayString(), "$0.0012");
  EXPECT_EQ(Money::FromNanos(12'345'000'000).ToDisplayString(2), "$12.35");
  EXPECT_EQ(Money::FromNanos(-50'000).ToDisplayString(4), "-$0.0001");
  EXPECT_EQ(Money::FromNanos(-40'000).ToDisplayString(4), "$0.0000");
  EXPECT_EQ(Money::FromNanos(2'500'000'000).ToDisplayString(0), "$3");
  EXPECT_EQ(Money::FromNanos(1).ToDisplayString(9), "$0.000000001");
  EXPECT_EQ(Money::FromNanos(1).ToDisplayString(12), "$0.000000001");  // clamped to 9
  EXPECT_EQ(Money::FromNanos(std::numeric_limits<int64_t>::min()).ToDisplayString(2),
            "-$9223372036.85");
}

TEST(MoneyTest, ArithmeticAndOrdering) {
  Money a = Money::FromNanos(5);
  Money b = Money::FromNanos(7);
  EXPECT_EQ((a + b).nanos(), 12);
  EXPECT_EQ((a - b).nanos(), -2);
  EXPECT_LT(a, b);
  a += b;
  EXPECT_EQ(a.nanos(), 12);
  a -= b;
  EXPECT_EQ(a.nanos(), 5);
  EXPECT_DOUBLE_EQ(Money::FromNanos(1'500'000'000).usd(), 1.5);
}

}  // namespace
}  // namespace genops
