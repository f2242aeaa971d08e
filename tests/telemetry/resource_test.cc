#include "src/telemetry/resource.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "src/core/environment.h"

namespace genops::telemetry {
namespace {

// Built with Set() so the test does not depend on MapEnvironment's constructor overloads.
MapEnvironment EnvWith(const std::map<std::string, std::string>& vars) {
  MapEnvironment env;
  for (const auto& [name, value] : vars) env.Set(name, value);
  return env;
}

std::string ValueOf(const std::vector<Attribute>& attributes, std::string_view key) {
  for (const Attribute& attribute : attributes) {
    if (attribute.key == key) return std::get<std::string>(attribute.value);
  }
  return "<absent>";
}

TEST(ParseResourceAttributesTest, ParsesDecodesAndTrims) {
  absl::StatusOr<std::vector<Attribute>> attributes = ParseResourceAttributes(
      " deployment.environment = prod , team=platform,,note=a%2Cb%3Dc%20d , empty= ");
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  ASSERT_EQ(attributes->size(), 4u);
  EXPECT_EQ((*attributes)[0].key, "deployment.environment");
  EXPECT_EQ(ValueOf(*attributes, "deployment.environment"), "prod");
  EXPECT_EQ(ValueOf(*attributes, "team"), "platform");
  EXPECT_EQ(ValueOf(*attributes, "note"), "a,b=c d");
  EXPECT_EQ(ValueOf(*attributes, "empty"), "");
}

TEST(ParseResourceAttributesTest, LaterDuplicateWins) {
  absl::StatusOr<std::vector<Attribute>> attributes = ParseResourceAttributes("a=1,b=2,a=3");
  ASSERT_TRUE(attributes.ok());
  ASSERT_EQ(attributes->size(), 2u);
  EXPECT_EQ((*attributes)[0].key, "a");
  EXPECT_EQ(ValueOf(*attributes, "a"), "3");
}

TEST(ParseResourceAttributesTest, MalformedEntriesAreErrorsNamingTheVariable) {
  const std::pair<const char*, const char*> cases[] = {
      {"a=1,novalue", "no '='"}, {"=1", "empty key"}, {"a=%zz", "'%'"},
      {"a=100%", "'%'"},         {"a=%4", "'%'"},
  };
  for (const auto& [input, why] : cases) {
    absl::StatusOr<std::vector<Attribute>> attributes = ParseResourceAttributes(input);
    ASSERT_FALSE(attributes.ok()) << input;
    EXPECT_EQ(attributes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(attributes.status().message().find("OTEL_RESOURCE_ATTRIBUTES"), std::string::npos);
    EXPECT_NE(attributes.status().message().find(why), std::string::npos) << attributes.status();
  }
}

TEST(BuildResourceTest, DefaultsWithEmptyEnvironment) {
  MapEnvironment env;
  absl::StatusOr<ResourceInfo> resource = BuildResource(env, "genops-gateway");
  ASSERT_TRUE(resource.ok());
  ASSERT_EQ(resource->attributes.size(), 4u);
  EXPECT_EQ(resource->attributes[0].key, "service.name");
  EXPECT_EQ(ValueOf(resource->attributes, "service.name"), "genops-gateway");
  EXPECT_EQ(ValueOf(resource->attributes, "telemetry.sdk.name"), "genops");
  EXPECT_EQ(ValueOf(resource->attributes, "telemetry.sdk.language"), "cpp");
  EXPECT_EQ(ValueOf(resource->attributes, "telemetry.sdk.version"), kTelemetrySdkVersionValue);
  EXPECT_EQ(resource->scope_name, "genops");
  EXPECT_EQ(resource->scope_version, kTelemetrySdkVersionValue);

  absl::StatusOr<ResourceInfo> unnamed = BuildResource(env, "");
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ(ValueOf(unnamed->attributes, "service.name"), "unknown_service");
}

TEST(BuildResourceTest, ServiceNamePrecedence) {
  MapEnvironment env = EnvWith({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=ml"}});
  absl::StatusOr<ResourceInfo> resource = BuildResource(env, "default");
  ASSERT_TRUE(resource.ok());
  EXPECT_EQ(ValueOf(resource->attributes, "service.name"), "from-attrs");
  EXPECT_EQ(ValueOf(resource->attributes, "team"), "ml");

  env.Set("OTEL_SERVICE_NAME", "from-service-name");
  resource = BuildResource(env, "default");
  ASSERT_TRUE(resource.ok());
  EXPECT_EQ(ValueOf(resource->attributes, "service.name"), "from-service-name");
  size_t service_names = 0;
  for (const Attribute& attribute : resource->attributes) {
    service_names += attribute.key == "service.name" ? 1 : 0;
  }
  EXPECT_EQ(service_names, 1u);
}

TEST(BuildResourceTest, SdkIdentityCannotBeOverridden) {
  MapEnvironment env = EnvWith({{"OTEL_RESOURCE_ATTRIBUTES", "telemetry.sdk.name=other,k=v"}});
  absl::StatusOr<ResourceInfo> resource = BuildResource(env, "svc");
  ASSERT_TRUE(resource.ok());
  EXPECT_EQ(ValueOf(resource->attributes, "telemetry.sdk.name"), "genops");
  EXPECT_EQ(resource->attributes.back().key, "k");
  EXPECT_EQ(resource->attributes.size(), 5u);
}

TEST(BuildResourceTest, MalformedAttributesFail) {
  MapEnvironment env = EnvWith({{"OTEL_RESOURCE_ATTRIBUTES", "team"}});
  absl::StatusOr<ResourceInfo> resource = BuildResource(env, "svc");
  ASSERT_FALSE(resource.ok());
  EXPECT_NE(resource.status().message().find("OTEL_RESOURCE_ATTRIBUTES"), std::string::npos);
}

}  // namespace
}  // namespace genops::telemetry
