#include "src/export/otlp_proto_encoder.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/encoding_util.h"
#include "tests/export/span_fixtures.h"

namespace genops::exporter {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using telemetry::AttributeValue;
using telemetry::SpanData;

// ---- A wire-format walker independent of our .proto files --------------------------------

std::vector<const UnknownField*> FieldsNumbered(const UnknownFieldSet& set, int number) {
  std::vector<const UnknownField*> out;
  for (int i = 0; i < set.field_count(); ++i) {
    if (set.field(i).number() == number) out.push_back(&set.field(i));
  }
  return out;
}

// The single field numbered `number`; throws (failing the test) when there is not exactly one.
const UnknownField& Only(const UnknownFieldSet& set, int number) {
  auto fields = FieldsNumbered(set, number);
  if (fields.size() != 1) {
    throw std::runtime_error("expected exactly one field " + std::to_string(number) + ", found " +
                             std::to_string(fields.size()));
  }
  return *fields[0];
}

// UnknownFieldSet can be neither copied nor moved; this handle shares one and converts to it.
struct Msg {
  std::shared_ptr<UnknownFieldSet> set = std::make_shared<UnknownFieldSet>();
  operator const UnknownFieldSet&() const { return *set; }  // NOLINT: implicit by design
};

Msg Nested(const UnknownField& field) {
  Msg msg;
  EXPECT_EQ(field.type(), UnknownField::TYPE_LENGTH_DELIMITED) << "field " << field.number();
  EXPECT_TRUE(msg.set->ParseFromString(field.length_delimited())) << "field " << field.number();
  return msg;
}

std::string Bytes(const UnknownFieldSet& set, int number) {
  const UnknownField& field = Only(set, number);
  EXPECT_EQ(field.type(), UnknownField::TYPE_LENGTH_DELIMITED) << "field " << number;
  return field.length_delimited();
}

// Attributes (repeated KeyValue{key=1, value=2}) of `set`'s field `number`, as key -> AnyValue.
std::vector<std::pair<std::string, Msg>> KeyValues(const UnknownFieldSet& set, int number) {
  std::vector<std::pair<std::string, Msg>> out;
  for (const UnknownField* kv : FieldsNumbered(set, number)) {
    Msg pair = Nested(*kv);
    out.emplace_back(Bytes(pair, 1), Nested(Only(pair, 2)));
  }
  return out;
}

SpanData MakeEverySpanField() {
  SpanData span;
  for (int b = 0; b < 16; ++b) span.trace_id.bytes[b] = static_cast<uint8_t>(b + 1);
  for (int b = 0; b < 8; ++b) span.span_id.bytes[b] = static_cast<uint8_t>(0xB0 + b);
  for (int b = 0; b < 8; ++b) span.parent_span_id.bytes[b] = static_cast<uint8_t>(0xC0 + b);
  span.trace_state = "vendor=abc";
  span.name = "chat gpt-4o";
  span.kind = telemetry::SpanKind::kClient;
  span.start_unix_nanos = 1'700'000'000'123'456'789;
  span.end_unix_nanos = 1'700'000'001'123'456'789;
  span.attributes = {
      {"s", AttributeValue(std::string("text"))},
      {"b", AttributeValue(true)},
      {"i", AttributeValue(int64_t{-42})},
      {"d", AttributeValue(0.25)},
      {"a", AttributeValue(std::vector<std::string>{"x", "yz"})},
  };
  span.dropped_attributes_count = 3;
  span.events = {{"genops.alert", 1'700'000'000'500'000'000, {{"k", AttributeValue(int64_t{7})}}}};
  span.dropped_events_count = 2;
  span.status_code = telemetry::StatusCode::kError;
  span.status_message = "budget exceeded";
  span.sampled = true;
  return span;
}

// ---- Field numbers are the specification's -----------------------------------------------

TEST(OtlpProtoEncoderTest, FieldNumbersAreTheSpecificationsIndependentOfOurProto) {
  const SpanData span = MakeEverySpanField();
  telemetry::ResourceInfo resource;
  resource.attributes = {{"service.name", AttributeValue(std::string("svc"))}};
  resource.scope_name = "genops";
  resource.scope_version = "0.1.0";
  const std::string bytes = EncodeOtlpProto(std::span(&span, 1), resource);

  UnknownFieldSet request;
  ASSERT_TRUE(request.ParseFromString(bytes));
  ASSERT_EQ(request.field_count(), 1);
  Msg resource_spans = Nested(Only(request, 1));  // resource_spans = 1

  Msg resource_msg = Nested(Only(resource_spans, 1));  // resource = 1
  auto resource_attrs = KeyValues(resource_msg, 1);    // attributes = 1
  ASSERT_EQ(resource_attrs.size(), 1u);
  EXPECT_EQ(resource_attrs[0].first, "service.name");
  EXPECT_EQ(Bytes(resource_attrs[0].second, 1), "svc");  // AnyValue.string_value = 1

  Msg scope_spans = Nested(Only(resource_spans, 2));  // scope_spans = 2
  Msg scope = Nested(Only(scope_spans, 1));           // scope = 1
  EXPECT_EQ(Bytes(scope, 1), "genops");               // name = 1
  EXPECT_EQ(Bytes(scope, 2), "0.1.0");                // version = 2

  Msg s = Nested(Only(scope_spans, 2));  // spans = 2
  EXPECT_EQ(Bytes(s, 1),
            std::string(reinterpret_cast<const char*>(span.trace_id.bytes.data()), 16));
  EXPECT_EQ(Bytes(s, 2), std::string(reinterpret_cast<const char*>(span.span_id.bytes.data()), 8));
  EXPECT_EQ(Bytes(s, 3), "vendor=abc");  // trace_state = 3
  EXPECT_EQ(Bytes(s, 4),
            std::string(reinterpret_cast<const char*>(span.parent_span_id.bytes.data()), 8));
  EXPECT_EQ(Bytes(s, 5), "chat gpt-4o");  // name = 5
  ASSERT_EQ(Only(s, 6).type(), UnknownField::TYPE_VARINT);
  EXPECT_EQ(Only(s, 6).varint(), 3u);  // kind = 6, SPAN_KIND_CLIENT = 3
  ASSERT_EQ(Only(s, 7).type(), UnknownField::TYPE_FIXED64);
  EXPECT_EQ(Only(s, 7).fixed64(), 1'700'000'000'123'456'789u);  // start_time_unix_nano = 7
  ASSERT_EQ(Only(s, 8).type(), UnknownField::TYPE_FIXED64);
  EXPECT_EQ(Only(s, 8).fixed64(), 1'700'000'001'123'456'789u);  // end_time_unix_nano = 8
  EXPECT_EQ(Only(s, 10).varint(), 3u);                          // dropped_attributes_count = 10
  EXPECT_EQ(Only(s, 12).varint(), 2u);                          // dropped_events_count = 12
  ASSERT_EQ(Only(s, 16).type(), UnknownField::TYPE_FIXED32);    // flags = 16 (fixed32)
  EXPECT_EQ(Only(s, 16).fixed32(), 1u);                         // W3C sampled

  auto attrs = KeyValues(s, 9);  // attributes = 9
  ASSERT_EQ(attrs.size(), 5u);
  EXPECT_EQ(attrs[0].first, "s");
  EXPECT_EQ(Bytes(attrs[0].second, 1), "text");  // string_value = 1
  EXPECT_EQ(attrs[1].first, "b");
  EXPECT_EQ(Only(attrs[1].second, 2).varint(), 1u);  // bool_value = 2
  EXPECT_EQ(attrs[2].first, "i");
  EXPECT_EQ(static_cast<int64_t>(Only(attrs[2].second, 3).varint()), -42);  // int_value = 3
  EXPECT_EQ(attrs[3].first, "d");
  ASSERT_EQ(Only(attrs[3].second, 4).type(), UnknownField::TYPE_FIXED64);  // double_value = 4
  double d;
  const uint64_t raw = Only(attrs[3].second, 4).fixed64();
  std::memcpy(&d, &raw, 8);
  EXPECT_EQ(d, 0.25);
  EXPECT_EQ(attrs[4].first, "a");
  Msg array = Nested(Only(attrs[4].second, 5));  // array_value = 5
  auto values = FieldsNumbered(array, 1);        // values = 1
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(Bytes(Nested(*values[0]), 1), "x");
  EXPECT_EQ(Bytes(Nested(*values[1]), 1), "yz");

  auto events = FieldsNumbered(s, 11);  // events = 11
  ASSERT_EQ(events.size(), 1u);
  Msg event = Nested(*events[0]);
  EXPECT_EQ(Only(event, 1).fixed64(), 1'700'000'000'500'000'000u);  // time_unix_nano = 1
  EXPECT_EQ(Bytes(event, 2), "genops.alert");                       // name = 2
  auto event_attrs = KeyValues(event, 3);                           // attributes = 3
  ASSERT_EQ(event_attrs.size(), 1u);
  EXPECT_EQ(event_attrs[0].first, "k");
  EXPECT_EQ(Only(event_attrs[0].second, 3).varint(), 7u);

  Msg status = Nested(Only(s, 15));                // status = 15
  EXPECT_EQ(Bytes(status, 2), "budget exceeded");  // message = 2
  EXPECT_EQ(Only(status, 3).varint(), 2u);         // code = 3, STATUS_CODE_ERROR = 2
  EXPECT_TRUE(FieldsNumbered(status, 1).empty());  // 1 is reserved
}

TEST(OtlpProtoEncoderTest, RootUnsampledSpanOmitsParentFlagsAndStatus) {
  SpanData span = MakeEverySpanField();
  span.parent_span_id = {};
  span.sampled = false;
  span.status_code = telemetry::StatusCode::kUnset;
  span.status_message.clear();
  span.trace_state.clear();
  const std::string bytes = EncodeOtlpProto(std::span(&span, 1), genops::testing::MakeResource());
  UnknownFieldSet request;
  ASSERT_TRUE(request.ParseFromString(bytes));
  Msg s = Nested(Only(Nested(Only(Nested(Only(request, 1)), 2)), 2));  // request→rs→ss→span
  EXPECT_TRUE(FieldsNumbered(s, 3).empty());
  EXPECT_TRUE(FieldsNumbered(s, 4).empty());
  EXPECT_TRUE(FieldsNumbered(s, 15).empty());
  EXPECT_TRUE(FieldsNumbered(s, 16).empty());
}

// ---- The direct encoder matches libprotobuf byte for byte ---------------------------------

void ExpectSameAsLibprotobuf(const std::vector<SpanData>& spans,
                             const telemetry::ResourceInfo& resource, bool has_nan = false) {
  google::protobuf::Arena arena;
  const ExportTraceServiceRequest* built = BuildOtlpProtoRequest(spans, resource, &arena);
  const std::string reference = built->SerializeAsString();
  const std::string direct = EncodeOtlpProto(spans, resource);
  EXPECT_EQ(direct, reference);
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(direct));
  // NaN != NaN, so a message holding one never compares equal; the bytes check covers it.
  if (!has_nan) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, *built));
  }
}

TEST(OtlpProtoEncoderTest, DirectEncoderBytesEqualGeneratedClassSerialization) {
  ExpectSameAsLibprotobuf(genops::testing::MakeGenOpsBatch(64), genops::testing::MakeResource());
  ExpectSameAsLibprotobuf({MakeEverySpanField()}, genops::testing::MakeResource());
}

TEST(OtlpProtoEncoderTest, EdgeValuesMatchLibprotobuf) {
  SpanData span = MakeEverySpanField();
  span.attributes = {
      {"", AttributeValue(std::string())},  // empty key, empty string: still set in the oneof
      {"false", AttributeValue(false)},
      {"zero", AttributeValue(int64_t{0})},
      {"min", AttributeValue(std::numeric_limits<int64_t>::min())},
      {"max", AttributeValue(std::numeric_limits<int64_t>::max())},
      {"nan", AttributeValue(std::numeric_limits<double>::quiet_NaN())},
      {"empty_list", AttributeValue(std::vector<std::string>{})},
      {"big", AttributeValue(std::string(70000, 'x'))},  // 3-byte length varint
  };
  span.events.push_back({"", 0, {}});
  span.start_unix_nanos = 0;
  span.name.clear();
  span.kind = telemetry::SpanKind::kInternal;
  telemetry::ResourceInfo empty_resource;
  empty_resource.scope_name.clear();
  ExpectSameAsLibprotobuf({span}, empty_resource, /*has_nan=*/true);

  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeOtlpProto(std::span(&span, 1), empty_resource)));
  const auto& attrs = parsed.resource_spans(0).scope_spans(0).spans(0).attributes();
  EXPECT_TRUE(attrs[0].value().has_string_value());
  EXPECT_TRUE(attrs[1].value().has_bool_value());
  EXPECT_EQ(attrs[3].value().int_value(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(attrs[6].value().has_array_value());
  EXPECT_EQ(attrs[7].value().string_value().size(), 70000u);
}

TEST(OtlpProtoEncoderTest, EmptyBatchEncodesAnEmptyRequest) {
  EXPECT_TRUE(EncodeOtlpProto({}, genops::testing::MakeResource()).empty());
}

TEST(OtlpProtoEncoderTest, InvalidUtf8IsReplacedSoCollectorsCanParseTheBatch) {
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(3);
  // A prompt cut by the attribute length limit in the middle of "é" (0xC3 0xA9).
  spans[1].attributes.push_back({"gen_ai.prompt", AttributeValue(std::string("caf\xC3"))});
  spans[1].name = "bad \xFF name";
  telemetry::ResourceInfo resource = genops::testing::MakeResource();
  resource.attributes.push_back({"host.name", AttributeValue(std::string("h\xED\xA0\x80"))});

  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeOtlpProto(spans, resource)));
  const auto& span = parsed.resource_spans(0).scope_spans(0).spans(1);
  EXPECT_EQ(span.name(), "bad \xEF\xBF\xBD name");
  EXPECT_EQ(span.attributes(span.attributes_size() - 1).value().string_value(), "caf\xEF\xBF\xBD");
  EXPECT_EQ(parsed.resource_spans(0).scope_spans(0).spans(0).name(), "chat gpt-4o");
  ExpectSameAsLibprotobuf(spans, resource);
}

// ---- Spans received from applications keep their resource and scope ---------------------

std::string ServiceName(const opentelemetry::proto::trace::v1::ResourceSpans& rs) {
  for (const auto& kv : rs.resource().attributes()) {
    if (kv.key() == "service.name") return kv.value().string_value();
  }
  return "";
}

// own, A, B, own, A, B, A: three resources, interleaved.
struct MixedBatch {
  std::shared_ptr<const telemetry::ResourceInfo> app_a =
      genops::testing::MakeOrigin("app-a", "@traceloop/instrumentation-openai", "0.11.0");
  std::shared_ptr<const telemetry::ResourceInfo> app_b =
      genops::testing::MakeOrigin("app-b", "opentelemetry.instrumentation.anthropic", "0.33.1");
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(7);
  MixedBatch() {
    for (size_t i : {1, 4, 6}) spans[i].origin = app_a;
    for (size_t i : {2, 5}) spans[i].origin = app_b;
  }
};

std::vector<std::string> SpanIds(const opentelemetry::proto::trace::v1::ScopeSpans& ss) {
  std::vector<std::string> ids;
  for (const auto& span : ss.spans()) ids.push_back(span.span_id());
  return ids;
}

std::vector<std::string> SpanIds(const std::vector<SpanData>& spans,
                                 std::initializer_list<size_t> indexes) {
  std::vector<std::string> ids;
  for (size_t i : indexes) {
    ids.emplace_back(reinterpret_cast<const char*>(spans[i].span_id.bytes.data()), 8);
  }
  return ids;
}

TEST(OtlpProtoEncoderTest, OneResourceSpansPerOriginInOrderOfFirstAppearance) {
  const MixedBatch batch;
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(
      parsed.ParseFromString(EncodeOtlpProto(batch.spans, genops::testing::MakeResource())));
  ASSERT_EQ(parsed.resource_spans_size(), 3);
  for (const auto& rs : parsed.resource_spans()) ASSERT_EQ(rs.scope_spans_size(), 1);

  const auto& own = parsed.resource_spans(0);
  EXPECT_EQ(ServiceName(own), "checkout-assistant");
  EXPECT_EQ(own.resource().attributes_size(), 6);
  EXPECT_EQ(own.scope_spans(0).scope().name(), "genops");
  EXPECT_EQ(own.scope_spans(0).scope().version(), "0.1.0");
  EXPECT_EQ(SpanIds(own.scope_spans(0)), SpanIds(batch.spans, {0, 3}));

  const auto& a = parsed.resource_spans(1);
  EXPECT_EQ(ServiceName(a), "app-a");
  EXPECT_EQ(a.resource().attributes_size(), 3);
  EXPECT_EQ(a.scope_spans(0).scope().name(), "@traceloop/instrumentation-openai");
  EXPECT_EQ(a.scope_spans(0).scope().version(), "0.11.0");
  EXPECT_EQ(SpanIds(a.scope_spans(0)), SpanIds(batch.spans, {1, 4, 6}));

  const auto& b = parsed.resource_spans(2);
  EXPECT_EQ(ServiceName(b), "app-b");
  EXPECT_EQ(b.scope_spans(0).scope().name(), "opentelemetry.instrumentation.anthropic");
  EXPECT_EQ(b.scope_spans(0).scope().version(), "0.33.1");
  EXPECT_EQ(SpanIds(b.scope_spans(0)), SpanIds(batch.spans, {2, 5}));

  // The spans themselves are unchanged by the grouping (genops.* enrichment included).
  EXPECT_EQ(a.scope_spans(0).spans(0).attributes_size(),
            static_cast<int>(batch.spans[1].attributes.size()));
  ExpectSameAsLibprotobuf(batch.spans, genops::testing::MakeResource());
}

TEST(OtlpProtoEncoderTest, BatchOfOneOriginHasOnlyThatResource) {
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(4);
  const auto origin = genops::testing::MakeOrigin("app-x", "@traceloop/instrumentation-openai", "");
  for (SpanData& span : spans) span.origin = origin;
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeOtlpProto(spans, genops::testing::MakeResource())));
  ASSERT_EQ(parsed.resource_spans_size(), 1);
  EXPECT_EQ(ServiceName(parsed.resource_spans(0)), "app-x");
  EXPECT_EQ(parsed.resource_spans(0).scope_spans(0).scope().name(),
            "@traceloop/instrumentation-openai");
  EXPECT_TRUE(parsed.resource_spans(0).scope_spans(0).scope().version().empty());
  EXPECT_EQ(parsed.resource_spans(0).scope_spans(0).spans_size(), 4);
  ExpectSameAsLibprotobuf(spans, genops::testing::MakeResource());
}

TEST(OtlpProtoEncoderTest, ManyOriginsAreGroupedStably) {
  // More origins than a linear scan would suit, interleaved with GenOps' own spans.
  constexpr size_t kOrigins = 40;
  std::vector<std::shared_ptr<const telemetry::ResourceInfo>> origins;
  for (size_t k = 0; k < kOrigins; ++k) {
    origins.push_back(genops::testing::MakeOrigin("app-" + std::to_string(k), "scope", "1"));
  }
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(300);
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i % 7 != 0) spans[i].origin = origins[(i * 13) % kOrigins];
  }
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeOtlpProto(spans, genops::testing::MakeResource())));
  ASSERT_EQ(parsed.resource_spans_size(), static_cast<int>(kOrigins) + 1);

  // Expected: groups in order of first appearance, spans in batch order within each.
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> ids;
  for (const SpanData& span : spans) {
    const std::string name = span.origin == nullptr
                                 ? std::string("checkout-assistant")
                                 : std::get<std::string>(span.origin->attributes[0].value);
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      names.push_back(name);
      ids.emplace_back();
      it = names.end() - 1;
    }
    ids[static_cast<size_t>(it - names.begin())].emplace_back(
        reinterpret_cast<const char*>(span.span_id.bytes.data()), 8);
  }
  for (int g = 0; g < parsed.resource_spans_size(); ++g) {
    EXPECT_EQ(ServiceName(parsed.resource_spans(g)), names[static_cast<size_t>(g)]);
    EXPECT_EQ(SpanIds(parsed.resource_spans(g).scope_spans(0)), ids[static_cast<size_t>(g)]);
  }
  ExpectSameAsLibprotobuf(spans, genops::testing::MakeResource());
}

TEST(OtlpProtoEncoderTest, InvalidUtf8InAnOriginIsReplaced) {
  auto origin = std::make_shared<telemetry::ResourceInfo>(
      *genops::testing::MakeOrigin("app-\xC3", "scope-\xFF", "1"));
  std::vector<SpanData> spans = genops::testing::MakeGenOpsBatch(2);
  spans[1].origin = origin;
  ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeOtlpProto(spans, genops::testing::MakeResource())));
  ASSERT_EQ(parsed.resource_spans_size(), 2);
  EXPECT_EQ(ServiceName(parsed.resource_spans(1)), "app-\xEF\xBF\xBD");
  EXPECT_EQ(parsed.resource_spans(1).scope_spans(0).scope().name(), "scope-\xEF\xBF\xBD");
  ExpectSameAsLibprotobuf(spans, genops::testing::MakeResource());
}

TEST(Utf8Test, ValidatesLikeProtobuf) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii text longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("abcdefgh\xE2\x82"));  // truncated after the ASCII fast path
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82z"), "a\xEF\xBF\xBDz");
}

}  // namespace
}  // namespace genops::exporter
