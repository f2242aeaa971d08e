#include "src/sdk/span_pipeline.h"

#include <gtest/gtest.h>

namespace genops::sdk {
namespace {

ResolvedConfig Resolve(AdapterConfig config, const Environment& env) {
  config.team = "t";
  config.project = "p";
  auto r = ResolveConfig(config, env);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

TEST(OtlpOptionsForTest, TraceloopKeyBecomesBearerForThePlatform) {
  MapEnvironment env({{"TRACELOOP_API_KEY", "tl-secret"}});
  auto options = OtlpOptionsFor(Resolve({}, env), env);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "https://api.traceloop.com/v1/traces");
  EXPECT_EQ(options->headers.at("Authorization"), "Bearer tl-secret");
}

TEST(OtlpOptionsForTest, TraceloopKeyIsNeverSentToAnExplicitEndpoint) {
  MapEnvironment env({{"TRACELOOP_API_KEY", "tl-secret"}});
  AdapterConfig config;
  config.otlp_endpoint = "http://127.0.0.1:4318/v1/traces";
  auto options = OtlpOptionsFor(Resolve(config, env), env);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(options->headers.count("Authorization"), 0u);
}

TEST(OtlpOptionsForTest, PlatformTurnedOffIgnoresTraceloopVariables) {
  MapEnvironment env({{"TRACELOOP_API_KEY", "tl-secret"},
                      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"}});
  AdapterConfig config;
  config.enable_traceloop_platform = false;
  auto options = OtlpOptionsFor(Resolve(config, env), env);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->endpoint, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(options->headers.count("Authorization"), 0u);
}

TEST(OtlpOptionsForTest, ExplicitSettingsWinOverTheEnvironment) {
  MapEnvironment env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"},
                      {"OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=env,x-other=1"}});
  AdapterConfig config;
  config.otlp_endpoint = "http://127.0.0.1:2/v1/traces";
  config.otlp_headers = {{"x-tenant", "config"}};
  config.retry_attempts = 5;
  config.enable_ha = true;
  config.failover_regions = {"http://127.0.0.1:3/v1/traces"};
  auto options = OtlpOptionsFor(Resolve(config, env), env);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->endpoint, "http://127.0.0.1:2/v1/traces");
  EXPECT_EQ(options->headers.at("x-tenant"), "config");
  EXPECT_EQ(options->headers.at("x-other"), "1");
  EXPECT_EQ(options->retry_attempts, 5);
  EXPECT_EQ(options->failover_endpoints.size(), 1u);
}

TEST(OtlpOptionsForTest, MalformedEnvironmentIsAnError) {
  MapEnvironment env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"}});
  auto options = OtlpOptionsFor(Resolve({}, env), env);
  ASSERT_FALSE(options.ok());
  EXPECT_NE(std::string(options.status().message()).find("OTEL_EXPORTER_OTLP_PROTOCOL"),
            std::string::npos);
}

}  // namespace
}  // namespace genops::sdk
