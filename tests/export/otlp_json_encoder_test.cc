#include "src/export/otlp_json_encoder.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/otlp_proto_encoder.h"
#include "tests/export/span_fixtures.h"

namespace genops::exporter {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using telemetry::AttributeValue;
using telemetry::SpanData;

SpanData GoldenSpan() {
  SpanData span;
  for (int b = 0; b < 16; ++b) span.trace_id.bytes[b] = static_cast<uint8_t>(b + 1);
  for (int b = 0; b < 8; ++b) span.span_id.bytes[b] = static_cast<uint8_t>(0xB0 + b);
  for (int b = 0; b < 8; ++b) span.parent_span_id.bytes[b] = static_cast<uint8_t>(0xC0 + b);
  span.name = "chat gpt-4o";
  span.kind = telemetry::SpanKind::kClient;
  span.start_unix_nanos = 1'700'000'000'000'000'000;
  span.end_unix_nanos = 1'700'000'001'000'000'000;
  span.attributes = {
      {"genops.team", AttributeValue(std::string("platform"))},
      {"gen_ai.usage.input_tokens", AttributeValue(int64_t{1200})},
      {"genops.cost.total", AttributeValue(0.00425)},
      {"genops.cost.priced", AttributeValue(true)},
      {"gen_ai.response.finish_reasons", AttributeValue(std::vector<std::string>{"stop"})},
  };
  span.events = {{"genops.alert",
                  1'700'000'000'500'000'000,
                  {{"level", AttributeValue(std::string("warn"))}}}};
  span.status_code = telemetry::StatusCode::kError;
  span.status_message = "over \"budget\"\n";
  return span;
}

telemetry::ResourceInfo GoldenResource() {
  telemetry::ResourceInfo resource;
  resource.attributes = {{"service.name", AttributeValue(std::string("svc"))}};
  resource.scope_name = "genops";
  resource.scope_version = "0.1.0";
  return resource;
}

TEST(OtlpJsonEncoderTest, GoldenRequest) {
  const SpanData span = GoldenSpan();
  const std::string json = EncodeOtlpJson(std::span(&span, 1), GoldenResource());
  const std::string expected =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
      R"({"stringValue":"svc"}}]},"scopeSpans":[{"scope":{"name":"genops","version":"0.1.0"},)"
      R"("spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"b0b1b2b3b4b5b6b7",)"
      R"("parentSpanId":"c0c1c2c3c4c5c6c7","flags":1,"name":"chat gpt-4o","kind":3,)"
      R"("startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",)"
      R"("attributes":[{"key":"genops.team","value":{"stringValue":"platform"}},)"
      R"({"key":"gen_ai.usage.input_tokens","value":{"intValue":"1200"}},)"
      R"({"key":"genops.cost.total","value":{"doubleValue":0.00425}},)"
      R"({"key":"genops.cost.priced","value":{"boolValue":true}},)"
      R"({"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":)"
      R"([{"stringValue":"stop"}]}}}],"events":[{"timeUnixNano":"1700000000500000000",)"
      R"("name":"genops.alert","attributes":[{"key":"level","value":{"stringValue":"warn"}}]}],)"
      R"("status":{"message":"over \"budget\"\n","code":2}}]}]}]})";
  EXPECT_EQ(json, expected);
}

// Converts OTLP/JSON's hex ids to proto3 JSON's base64 so libprotobuf's JSON parser (which
// knows the lowerCamelCase names, int64-as-string and enum-as-integer rules) can read it.
void HexIdsToBase64(nlohmann::json& node) {
  if (node.is_object()) {
    for (auto& [key, value] : node.items()) {
      if ((key == "traceId" || key == "spanId" || key == "parentSpanId") && value.is_string()) {
        const std::string bytes = absl::HexStringToBytes(value.get<std::string>());
        value = absl::Base64Escape(bytes);
      } else {
        HexIdsToBase64(value);
      }
    }
  } else if (node.is_array()) {
    for (auto& item : node) HexIdsToBase64(item);
  }
}

TEST(OtlpJsonEncoderTest, MatchesProto3JsonMappingOfTheProtobufEncoding) {
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(8);
  spans.push_back(GoldenSpan());
  spans.back().attributes.push_back({"min", AttributeValue(std::numeric_limits<int64_t>::min())});
  spans.back().attributes.push_back({"ctl", AttributeValue(std::string("a\x01\tb\\"))});
  spans.back().dropped_attributes_count = 4;
  spans.back().dropped_events_count = 1;
  spans.back().trace_state = "k=v";
  const telemetry::ResourceInfo resource = genops::testing::MakeResource();

  nlohmann::json parsed = nlohmann::json::parse(EncodeOtlpJson(spans, resource));
  HexIdsToBase64(parsed);
  ExportTraceServiceRequest from_json;
  const auto status = google::protobuf::util::JsonStringToMessage(parsed.dump(), &from_json);
  ASSERT_TRUE(status.ok()) << status.ToString();

  google::protobuf::Arena arena;
  const ExportTraceServiceRequest* reference = BuildOtlpProtoRequest(spans, resource, &arena);
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(from_json, *reference)) << diff;
}

TEST(OtlpJsonEncoderTest, SpecialValuesFollowTheMapping) {
  SpanData span = GoldenSpan();
  span.parent_span_id = {};  // root: no parentSpanId
  span.sampled = false;      // no flags
  span.status_code = telemetry::StatusCode::kUnset;
  span.status_message.clear();
  span.attributes = {
      {"nan", AttributeValue(std::numeric_limits<double>::quiet_NaN())},
      {"inf", AttributeValue(-std::numeric_limits<double>::infinity())},
      {"whole", AttributeValue(2.0)},
      {"empty", AttributeValue(std::vector<std::string>{})},
      {"bad", AttributeValue(std::string("caf\xC3"))},
  };
  std::string out;
  AppendOtlpJsonSpan(span, &out);
  const nlohmann::json json = nlohmann::json::parse(out);  // throws (fails) when invalid
  EXPECT_FALSE(json.contains("parentSpanId"));
  EXPECT_FALSE(json.contains("flags"));
  EXPECT_FALSE(json.contains("status"));
  EXPECT_EQ(json["attributes"][0]["value"]["doubleValue"], "NaN");
  EXPECT_EQ(json["attributes"][1]["value"]["doubleValue"], "-Infinity");
  EXPECT_EQ(json["attributes"][2]["value"]["doubleValue"], 2.0);
  EXPECT_EQ(json["attributes"][3]["value"], nlohmann::json::parse(R"({"arrayValue":{}})"));
  EXPECT_EQ(json["attributes"][4]["value"]["stringValue"], "caf\xEF\xBF\xBD");
}

TEST(OtlpJsonEncoderTest, SpanLineCarriesResourceAndScope) {
  const SpanData span = GoldenSpan();
  std::string line;
  AppendOtlpJsonSpanLine(span, GoldenResource(), &line);
  EXPECT_EQ(line.find('\n'), std::string::npos);  // the message's "\n" is escaped
  const nlohmann::json json = nlohmann::json::parse(line);
  EXPECT_EQ(json["traceId"], "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(json["name"], "chat gpt-4o");
  EXPECT_EQ(json["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(json["scope"]["name"], "genops");
  EXPECT_EQ(json["scope"]["version"], "0.1.0");
}

// ---- Spans received from applications keep their resource and scope ---------------------

std::string ServiceName(const nlohmann::json& resource_spans) {
  for (const auto& kv : resource_spans["resource"]["attributes"]) {
    if (kv["key"] == "service.name") return kv["value"]["stringValue"];
  }
  return "";
}

std::vector<std::string> SpanIds(const nlohmann::json& resource_spans) {
  std::vector<std::string> ids;
  for (const auto& span : resource_spans["scopeSpans"][0]["spans"]) ids.push_back(span["spanId"]);
  return ids;
}

TEST(OtlpJsonEncoderTest, OneResourceSpansPerOrigin) {
  const auto app_a =
      genops::testing::MakeOrigin("app-a", "@traceloop/instrumentation-openai", "0.11.0");
  const auto app_b =
      genops::testing::MakeOrigin("app-b", "opentelemetry.instrumentation.anthropic", "0.33.1");
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(7);  // own A B own A B A
  for (size_t i : {1, 4, 6}) spans[i].origin = app_a;
  for (size_t i : {2, 5}) spans[i].origin = app_b;
  const auto id = [&](size_t i) { return spans[i].span_id.ToHex(); };

  const nlohmann::json parsed =
      nlohmann::json::parse(EncodeOtlpJson(spans, genops::testing::MakeResource()));
  const nlohmann::json& rs = parsed["resourceSpans"];
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(ServiceName(rs[0]), "checkout-assistant");
  EXPECT_EQ(rs[0]["scopeSpans"][0]["scope"]["name"], "genops");
  EXPECT_EQ(SpanIds(rs[0]), (std::vector<std::string>{id(0), id(3)}));
  EXPECT_EQ(ServiceName(rs[1]), "app-a");
  EXPECT_EQ(rs[1]["resource"]["attributes"].size(), 3u);
  EXPECT_EQ(rs[1]["scopeSpans"][0]["scope"]["name"], "@traceloop/instrumentation-openai");
  EXPECT_EQ(rs[1]["scopeSpans"][0]["scope"]["version"], "0.11.0");
  EXPECT_EQ(SpanIds(rs[1]), (std::vector<std::string>{id(1), id(4), id(6)}));
  EXPECT_EQ(ServiceName(rs[2]), "app-b");
  EXPECT_EQ(rs[2]["scopeSpans"][0]["scope"]["name"], "opentelemetry.instrumentation.anthropic");
  EXPECT_EQ(rs[2]["scopeSpans"][0]["scope"]["version"], "0.33.1");
  EXPECT_EQ(SpanIds(rs[2]), (std::vector<std::string>{id(2), id(5)}));

  // And it is the same request as the protobuf encoding.
  nlohmann::json converted = parsed;
  HexIdsToBase64(converted);
  ExportTraceServiceRequest from_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(converted.dump(), &from_json).ok());
  google::protobuf::Arena arena;
  const ExportTraceServiceRequest* reference =
      BuildOtlpProtoRequest(spans, genops::testing::MakeResource(), &arena);
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(from_json, *reference)) << diff;
}

TEST(OtlpJsonEncoderTest, SpanLineCarriesTheOriginResourceAndScope) {
  SpanData span = GoldenSpan();
  span.origin = genops::testing::MakeOrigin("app-x", "@traceloop/instrumentation-openai", "0.11.0");
  std::string line;
  AppendOtlpJsonSpanLine(span, GoldenResource(), &line);
  const nlohmann::json json = nlohmann::json::parse(line);
  EXPECT_EQ(ServiceName(json), "app-x");
  EXPECT_EQ(json["scope"]["name"], "@traceloop/instrumentation-openai");
  EXPECT_EQ(json["scope"]["version"], "0.11.0");
}

TEST(OtlpJsonEncoderTest, EmptyBatchIsAnEmptyRequest) {
  EXPECT_EQ(EncodeOtlpJson({}, GoldenResource()), "{}");
}

}  // namespace
}  // namespace genops::exporter
