#include "src/telemetry/trace_context.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace genops::telemetry {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesTheSpecExample) {
  absl::StatusOr<SpanContext> context = ParseTraceparent(kValid);
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(context->trace_id.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(context->span_id.ToHex(), "00f067aa0ba902b7");
  EXPECT_TRUE(context->sampled);
  EXPECT_TRUE(context->remote);
  EXPECT_TRUE(context->valid());
  EXPECT_EQ(context->trace_state, "");
}

TEST(TraceparentTest, RoundTrips) {
  for (const char* header : {kValid, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}) {
    absl::StatusOr<SpanContext> context = ParseTraceparent(header);
    ASSERT_TRUE(context.ok()) << header << ": " << context.status();
    EXPECT_EQ(FormatTraceparent(*context), header);
  }
  SpanContext mine;
  ASSERT_TRUE(TraceId::FromHex("0102030405060708090a0b0c0d0e0f10", &mine.trace_id));
  ASSERT_TRUE(SpanId::FromHex("a1a2a3a4a5a6a7a8", &mine.span_id));
  mine.sampled = true;
  const std::string header = FormatTraceparent(mine);
  EXPECT_EQ(header, "00-0102030405060708090a0b0c0d0e0f10-a1a2a3a4a5a6a7a8-01");
  absl::StatusOr<SpanContext> back = ParseTraceparent(header);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->trace_id, mine.trace_id);
  EXPECT_EQ(back->span_id, mine.span_id);
  EXPECT_EQ(back->sampled, mine.sampled);
}

TEST(TraceparentTest, OnlyBitZeroOfFlagsMeansSampled) {
  auto with_flags = [](const char* flags) {
    return ParseTraceparent(std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-") +
                            flags);
  };
  EXPECT_TRUE(with_flags("03")->sampled);   // sampled + random (Level 2)
  EXPECT_FALSE(with_flags("02")->sampled);  // random only
  EXPECT_TRUE(with_flags("ff")->sampled);
  EXPECT_FALSE(with_flags("00")->sampled);
}

TEST(TraceparentTest, IgnoresSurroundingWhitespace) {
  EXPECT_TRUE(ParseTraceparent(std::string("  ") + kValid + "\t").ok());
}

TEST(TraceparentTest, AcceptsHigherVersionsByTheVersion00Layout) {
  absl::StatusOr<SpanContext> exact =
      ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->span_id.ToHex(), "00f067aa0ba902b7");
  EXPECT_TRUE(
      ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future")
          .ok());
  EXPECT_FALSE(
      ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what").ok());
}

struct MalformedCase {
  const char* name;
  const char* header;
  const char* message_part;
};

class MalformedTraceparentTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedTraceparentTest, IsRejectedWithAReason) {
  absl::StatusOr<SpanContext> context = ParseTraceparent(GetParam().header);
  ASSERT_FALSE(context.ok()) << GetParam().header;
  EXPECT_EQ(context.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(context.status().message().find(GetParam().message_part), std::string::npos)
      << context.status();
  EXPECT_NE(context.status().message().find("traceparent"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    AllCases, MalformedTraceparentTest,
    testing::Values(
        MalformedCase{"Empty", "", "version"},
        MalformedCase{"VersionFF", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                      "version ff"},
        MalformedCase{"VersionUppercase", "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                      "version"},
        MalformedCase{"VersionNotHex", "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                      "version"},
        MalformedCase{"Version00TooLong",
                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "55"},
        MalformedCase{"Version00TooShort", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                      "55"},
        MalformedCase{"ShortTraceIdLongSpanId",
                      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", "'-'"},
        MalformedCase{"FutureVersionTooShort", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa",
                      "too short"},
        MalformedCase{"UppercaseTraceId", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                      "trace-id"},
        MalformedCase{"UppercaseSpanId", "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                      "parent-id"},
        MalformedCase{"UppercaseFlags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
                      "trace-flags"},
        MalformedCase{"NonHexTraceId", "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
                      "trace-id"},
        MalformedCase{"ZeroTraceId", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                      "all zeros"},
        MalformedCase{"ZeroSpanId", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                      "all zeros"},
        MalformedCase{"WrongSeparator", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
                      "'-'"},
        MalformedCase{"InnerWhitespace", "00-4bf92f3577b34da6a3ce929d0e0e473 -00f067aa0ba902b7-01",
                      "trace-id"}),
    [](const testing::TestParamInfo<MalformedCase>& param_info) { return param_info.param.name; });

TEST(TraceContextTest, CarriesTracestateThrough) {
  absl::StatusOr<SpanContext> context =
      ParseTraceContext(kValid, " rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE,, vendor@tenant=x ");
  ASSERT_TRUE(context.ok());
  EXPECT_EQ(context->trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor@tenant=x");
}

TEST(TraceContextTest, InvalidTracestateIsDroppedButTraceparentKept) {
  absl::StatusOr<SpanContext> context = ParseTraceContext(kValid, "novalue,rojo=1");
  ASSERT_TRUE(context.ok());
  EXPECT_EQ(context->trace_state, "");
  EXPECT_TRUE(context->sampled);
}

TEST(TraceContextTest, InvalidTraceparentFailsRegardlessOfTracestate) {
  EXPECT_FALSE(ParseTraceContext("garbage", "rojo=1").ok());
}

TEST(TracestateTest, ValidatesKeysAndValues) {
  EXPECT_EQ(NormalizeTracestate(""), "");
  EXPECT_EQ(NormalizeTracestate("a=1"), "a=1");
  EXPECT_EQ(NormalizeTracestate("Upper=1"), "");     // keys are lowercase
  EXPECT_EQ(NormalizeTracestate("a="), "");          // empty value
  EXPECT_EQ(NormalizeTracestate("=1"), "");          // empty key
  EXPECT_EQ(NormalizeTracestate("a=1=2"), "");       // '=' inside a value
  EXPECT_EQ(NormalizeTracestate("a=b c"), "a=b c");  // inner space allowed
  EXPECT_EQ(NormalizeTracestate("1tenant@sys=v"), "1tenant@sys=v");
}

TEST(TracestateTest, MoreThan32MembersIsDiscarded) {
  std::string members;
  for (int i = 0; i < 33; ++i) members += "k" + std::to_string(i) + "=v,";
  EXPECT_EQ(NormalizeTracestate(members), "");
  members.clear();
  for (int i = 0; i < 32; ++i) members += "k" + std::to_string(i) + "=v,";
  EXPECT_NE(NormalizeTracestate(members), "");
}

TEST(TracestateTest, OverlongIsTruncatedLargeMembersFirst) {
  const std::string big = "big=" + std::string(200, 'x');
  std::string input = big;
  for (int i = 0; i < 20; ++i) input += ",k" + std::to_string(i) + "=" + std::string(20, 'v');
  const std::string out = NormalizeTracestate(input);
  EXPECT_LE(out.size(), kMaxTracestateLength);
  EXPECT_EQ(out.find("big="), std::string::npos);
  EXPECT_EQ(out.rfind("k0=", 0), 0u);  // the leftmost small members survive
}

}  // namespace
}  // namespace genops::telemetry
