#include "genops/attribution.h"

#include <gtest/gtest.h>

// Designated initializers name only the fields a case is about; the rest stay default.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace genops {
namespace {

TEST(AttributionTest, MergedWithOverridesOnlyNonEmptyFields) {
  Attribution base{.team = "platform",
                   .project = "llm-api",
                   .environment = "production",
                   .cost_center = "cc-1",
                   .tags = {{"tier", "gold"}, {"region", "eu"}}};
  Attribution call = base.MergedWith(
      {.project = "search", .customer_id = "acme", .tags = {{"region", "us"}, {"ab", "b"}}});
  EXPECT_EQ(call.team, "platform");
  EXPECT_EQ(call.project, "search");
  EXPECT_EQ(call.environment, "production");
  EXPECT_EQ(call.customer_id, "acme");
  EXPECT_EQ(call.cost_center, "cc-1");
  EXPECT_EQ(call.feature, "");
  EXPECT_EQ(call.tags.at("tier"), "gold");
  EXPECT_EQ(call.tags.at("region"), "us");
  EXPECT_EQ(call.tags.at("ab"), "b");
  EXPECT_EQ(call.tags.size(), 3u);
  // The base is untouched and merging nothing is the identity.
  EXPECT_EQ(base.project, "llm-api");
  EXPECT_EQ(base.MergedWith({}), base);
}

TEST(AttributionTest, DimensionReadsEveryKnownName) {
  Attribution a{.team = "t",
                .project = "p",
                .environment = "e",
                .customer_id = "c",
                .cost_center = "cc",
                .feature = "f",
                .tags = {{"tier", "gold"}}};
  EXPECT_EQ(a.Dimension("team"), "t");
  EXPECT_EQ(a.Dimension("project"), "p");
  EXPECT_EQ(a.Dimension("environment"), "e");
  EXPECT_EQ(a.Dimension("customer_id"), "c");
  EXPECT_EQ(a.Dimension("cost_center"), "cc");
  EXPECT_EQ(a.Dimension("feature"), "f");
  EXPECT_EQ(a.Dimension("tag:tier"), "gold");
  // A known but absent tag reads as empty, like an unset field.
  ASSERT_TRUE(a.Dimension("tag:missing").has_value());
  EXPECT_EQ(*a.Dimension("tag:missing"), "");
  EXPECT_EQ(a.Dimension("teams"), std::nullopt);
  EXPECT_EQ(a.Dimension("tag:"), std::nullopt);
  EXPECT_EQ(a.Dimension(""), std::nullopt);
  EXPECT_EQ(a.Dimension("Team"), std::nullopt);
}

TEST(AttributionTest, IsKnownDimension) {
  for (const char* name :
       {"team", "project", "environment", "customer_id", "cost_center", "feature", "tag:x"}) {
    EXPECT_TRUE(Attribution::IsKnownDimension(name)) << name;
  }
  for (const char* name : {"", "tag:", "tag", "customer", "tags:x", "TEAM"}) {
    EXPECT_FALSE(Attribution::IsKnownDimension(name)) << name;
  }
}

}  // namespace
}  // namespace genops
