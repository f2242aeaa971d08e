#include "genops/usage.h"

#include <gtest/gtest.h>

#include <string>

// Designated initializers name only the fields a case is about; the rest stay default.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace genops {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(UsageTest, ValidUsagePassesAndHelpersAdd) {
  Usage u{.input_tokens = 1000,
          .cache_read_tokens = 600,
          .cache_write_tokens = 100,
          .output_tokens = 50,
          .reasoning_tokens = 20};
  EXPECT_TRUE(u.Validate().ok());
  EXPECT_EQ(u.total_tokens(), 1050);
  EXPECT_EQ(u.uncached_input_tokens(), 300);
  EXPECT_TRUE(Usage{}.Validate().ok());
}

TEST(UsageTest, NegativeCountsNameTheField) {
  struct Case {
    Usage usage;
    const char* field;
  };
  const Case cases[] = {
      {{.input_tokens = -1}, "input_tokens"},
      {{.input_tokens = 5, .cache_read_tokens = -1}, "cache_read_tokens"},
      {{.input_tokens = 5, .cache_write_tokens = -2}, "cache_write_tokens"},
      {{.output_tokens = -3}, "output_tokens"},
      {{.output_tokens = 3, .reasoning_tokens = -3}, "reasoning_tokens"},
  };
  for (const Case& c : cases) {
    absl::Status s = c.usage.Validate();
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(Message(s).find(c.field), std::string::npos) << s;
    EXPECT_NE(Message(s).find("negative"), std::string::npos) << s;
  }
}

TEST(UsageTest, SubsetsMustFitInTheirWhole) {
  absl::Status s =
      Usage{.input_tokens = 10, .cache_read_tokens = 8, .cache_write_tokens = 3}.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Message(s).find("exceed input_tokens"), std::string::npos) << s;
  EXPECT_TRUE(
      (Usage{.input_tokens = 11, .cache_read_tokens = 8, .cache_write_tokens = 3}).Validate().ok());

  s = Usage{.output_tokens = 10, .reasoning_tokens = 11}.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Message(s).find("reasoning_tokens"), std::string::npos) << s;
}

TEST(UsageTest, AbsurdCountsAreRejected) {
  EXPECT_TRUE(Usage{.input_tokens = Usage::kMaxTokens}.Validate().ok());
  absl::Status s = Usage{.input_tokens = Usage::kMaxTokens + 1}.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Message(s).find("sanity limit"), std::string::npos) << s;
  EXPECT_FALSE(Usage{.output_tokens = INT64_MAX}.Validate().ok());
}

}  // namespace
}  // namespace genops
