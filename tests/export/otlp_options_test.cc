#include "src/export/otlp_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace genops::exporter {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<OtlpExporterOptions> FromEnv(std::map<std::string, std::string, std::less<>> vars,
                                            OtlpExporterOptions base = {}) {
  MapEnvironment env;
  for (auto& [name, value] : vars) env.Set(name, value);
  return OtlpOptionsFromEnvironment(env, std::move(base));
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(OtlpOptionsTest, EmptyEnvironmentKeepsTheBase) {
  OtlpExporterOptions base;
  base.endpoint = "https://collector.internal/v1/traces";
  base.headers["x-tenant"] = "a";
  base.compression = OtlpExporterOptions::Compression::kNone;
  auto options = FromEnv({}, base);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "https://collector.internal/v1/traces");
  EXPECT_EQ(options->headers.at("x-tenant"), "a");
  EXPECT_EQ(options->compression, OtlpExporterOptions::Compression::kNone);
  EXPECT_EQ(options->timeout, std::chrono::milliseconds(10000));
}

TEST(OtlpOptionsTest, GenericEndpointGetsTheTracesPath) {
  auto options = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "http://otel-collector:4318/v1/traces");
  options = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io/"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "https://api.honeycomb.io/v1/traces");
}

TEST(OtlpOptionsTest, TracesEndpointIsUsedAsIsAndWins) {
  auto options = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"},
                          {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom/path"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "http://b:9999/custom/path");
}

TEST(OtlpOptionsTest, EndpointWithoutSchemeIsRejectedNamingTheVariable) {
  auto options = FromEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(options.status()), HasSubstr("OTEL_EXPORTER_OTLP_ENDPOINT"));
  EXPECT_THAT(Message(options.status()), HasSubstr("collector:4318"));
}

TEST(OtlpOptionsTest, HeadersArePercentDecodedAndSignalSpecificOnesWin) {
  auto options = FromEnv({{"OTEL_EXPORTER_OTLP_HEADERS",
                           " api-key = abc%20def , x-tenant=t1,, Authorization=Basic%3Dx"},
                          {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=t2"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->headers.at("api-key"), "abc def");
  EXPECT_EQ(options->headers.at("x-tenant"), "t2");
  EXPECT_EQ(options->headers.at("Authorization"), "Basic=x");
  EXPECT_EQ(options->headers.size(), 3u);
}

TEST(OtlpOptionsTest, MalformedHeadersNameTheVariable) {
  for (const char* bad : {"novalue", "=v", "k=%zz", "k=%4", "bad key=v"}) {
    auto options = FromEnv({{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", bad}});
    ASSERT_FALSE(options.ok()) << bad;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(options.status()), HasSubstr("OTEL_EXPORTER_OTLP_TRACES_HEADERS")) << bad;
  }
}

TEST(OtlpOptionsTest, Protocol) {
  auto options = FromEnv({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->protocol, OtlpExporterOptions::Protocol::kHttpJson);

  options = FromEnv({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
                     {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->protocol, OtlpExporterOptions::Protocol::kHttpProtobuf);

  options = FromEnv({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(options.status()), HasSubstr("not supported yet"));
  EXPECT_THAT(Message(options.status()), HasSubstr("OTEL_EXPORTER_OTLP_PROTOCOL"));

  options = FromEnv({{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"}});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(options.status()), HasSubstr("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"));
}

TEST(OtlpOptionsTest, CompressionAndTimeout) {
  auto options =
      FromEnv({{"OTEL_EXPORTER_OTLP_COMPRESSION", "none"}, {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->compression, OtlpExporterOptions::Compression::kNone);
  EXPECT_EQ(options->timeout, std::chrono::milliseconds(2500));

  options = FromEnv({{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"}}, [] {
    OtlpExporterOptions base;
    base.compression = OtlpExporterOptions::Compression::kNone;
    return base;
  }());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->compression, OtlpExporterOptions::Compression::kGzip);

  options = FromEnv({{"OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"}});
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(Message(options.status()), HasSubstr("OTEL_EXPORTER_OTLP_COMPRESSION"));

  for (const char* bad : {"abc", "-1", "0", "10s", "1.5", "99999999999999999999999"}) {
    options = FromEnv({{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", bad}});
    ASSERT_FALSE(options.ok()) << bad;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(options.status()), HasSubstr("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")) << bad;
  }
}

TEST(OtlpOptionsTest, TraceloopKeyBecomesBearerHeaderOnTheDefaultBaseUrl) {
  auto options = FromEnv({{"TRACELOOP_API_KEY", "tl_secret_123"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "https://api.traceloop.com/v1/traces");
  EXPECT_EQ(options->headers.at("Authorization"), "Bearer tl_secret_123");
}

TEST(OtlpOptionsTest, TraceloopBaseUrlAndHeaders) {
  auto options = FromEnv(
      {{"TRACELOOP_API_KEY", "k"}, {"TRACELOOP_BASE_URL", "https://traceloop.internal.example/"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "https://traceloop.internal.example/v1/traces");
  EXPECT_EQ(options->headers.at("Authorization"), "Bearer k");

  // As in the Traceloop SDK, TRACELOOP_HEADERS replaces the bearer header.
  options = FromEnv({{"TRACELOOP_API_KEY", "k"}, {"TRACELOOP_HEADERS", "x-api-key=k2"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->headers.count("Authorization"), 0u);
  EXPECT_EQ(options->headers.at("x-api-key"), "k2");

  // A self-hosted collector reached through TRACELOOP_BASE_URL alone needs no key.
  options = FromEnv({{"TRACELOOP_BASE_URL", "http://localhost:4318"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "http://localhost:4318/v1/traces");
  EXPECT_TRUE(options->headers.empty());

  options = FromEnv({{"TRACELOOP_API_KEY", "k"}, {"TRACELOOP_BASE_URL", "api.traceloop.com"}});
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(Message(options.status()), HasSubstr("TRACELOOP_BASE_URL"));
}

TEST(OtlpOptionsTest, ExplicitOtelEndpointTakesPrecedenceOverTraceloop) {
  auto options = FromEnv(
      {{"TRACELOOP_API_KEY", "k"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->endpoint, "http://collector:4318/v1/traces");
  EXPECT_EQ(options->headers.count("Authorization"), 0u);
}

TEST(OtlpOptionsTest, ValidateNamesTheBadField) {
  OtlpExporterOptions options;
  options.failover_endpoints = {"https://ok.example/v1/traces", "ftp://nope"};
  EXPECT_THAT(Message(options.Validate()), HasSubstr("failover_endpoints[1]"));
  options = {};
  options.retry_attempts = -1;
  EXPECT_THAT(Message(options.Validate()), HasSubstr("retry_attempts"));
  options = {};
  options.max_backoff = std::chrono::milliseconds(10);
  EXPECT_THAT(Message(options.Validate()), HasSubstr("backoff"));
  options = {};
  options.headers["bad\nname"] = "v";
  EXPECT_FALSE(options.Validate().ok());
  EXPECT_TRUE(OtlpExporterOptions{}.Validate().ok());
}

}  // namespace
}  // namespace genops::exporter
