#include "src/receiver/otlp_decoder.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "tests/receiver/receiver_test_util.h"

namespace genops::receiver {
namespace {

using telemetry::Attribute;
using telemetry::AttributeValue;
using telemetry::ResourceInfo;
using telemetry::SpanData;
using ::testing::HasSubstr;
using testing::MakeResource;
using testing::MakeSpan;
using ::testing::StartsWith;
namespace otlp = opentelemetry::proto;

// Spans using every value type the span model holds, events, a parent, a status.
std::vector<SpanData> RichSpans() {
  SpanData a = MakeSpan(1, "chat gpt-4o",
                        {{"gen_ai.request.model", std::string("gpt-4o")},
                         {"gen_ai.usage.input_tokens", int64_t{1200}},
                         {"temperature", 0.25},
                         {"stream", true},
                         {"gen_ai.response.finish_reasons", std::vector<std::string>{"stop", "x"}},
                         {"a.very.long.attribute.key.beyond.the.inline.capacity", std::string("v")},
                         {"empty", std::string()}});
  a.parent_span_id.bytes.fill(0x42);
  a.trace_state = "vendor=1";
  a.status_code = telemetry::StatusCode::kError;
  a.status_message = "upstream 500";
  a.dropped_attributes_count = 3;
  a.dropped_events_count = 1;
  telemetry::SpanEvent e;
  e.name = telemetry::EventName(std::string_view("gen_ai.content.prompt"));
  e.time_unix_nanos = a.start_unix_nanos + 5;
  e.attributes.push_back({"gen_ai.prompt", std::string("hello")});
  a.events.push_back(e);
  SpanData b = MakeSpan(2, "GET /health", {{"http.status_code", int64_t{200}}},
                        telemetry::SpanKind::kServer);
  return {a, b};
}

TEST(OtlpDecoderTest, ProtobufRoundTripsTheProjectEncoder) {
  const std::vector<SpanData> spans = RichSpans();
  const auto resource =
      MakeResource({{"service.name", std::string("checkout")}}, "openllmetry", "0.40.1");
  DecodedTraces out;
  ASSERT_TRUE(DecodeOtlpProto(exporter::EncodeOtlpProto(spans, resource), {}, &out).ok());
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.span_count, 2u);
  EXPECT_EQ(out.batches[0].resource.scope_name, "openllmetry");
  EXPECT_EQ(out.batches[0].resource.scope_version, "0.40.1");
  ASSERT_EQ(out.batches[0].resource.attributes.size(), 1u);
  EXPECT_EQ(out.batches[0].resource.attributes[0].key, "service.name");
  ASSERT_EQ(out.batches[0].spans.size(), 2u);
  testing::ExpectIdenticalSpans(spans[0], out.batches[0].spans[0]);
  testing::ExpectIdenticalSpans(spans[1], out.batches[0].spans[1]);
  EXPECT_EQ(out.values_converted, 0u);
}

TEST(OtlpDecoderTest, JsonRoundTripsTheProjectEncoder) {
  const std::vector<SpanData> spans = RichSpans();
  const auto resource = MakeResource({{"service.name", std::string("checkout")}}, "scope", "1");
  DecodedTraces out;
  absl::Status s = DecodeOtlpJson(exporter::EncodeOtlpJson(spans, resource), {}, &out);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.batches[0].resource.scope_name, "scope");
  ASSERT_EQ(out.batches[0].spans.size(), 2u);
  testing::ExpectIdenticalSpans(spans[0], out.batches[0].spans[0]);
  testing::ExpectIdenticalSpans(spans[1], out.batches[0].spans[1]);
}

// libprotobuf-built requests: several resources and scopes, the resource after its scope
// spans, links, and values the span model does not have (int arrays, key-value lists, bytes).
TEST(OtlpDecoderTest, DecodesWhatLibprotobufSerialises) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  for (int r = 0; r < 2; ++r) {
    auto* rs = req.add_resource_spans();
    for (int s = 0; s < 2; ++s) {
      auto* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("scope" + std::to_string(s));
      ss->mutable_scope()->set_version("v" + std::to_string(r));
      auto* kv = ss->mutable_scope()->add_attributes();
      kv->set_key("scope.attr");
      kv->mutable_value()->set_int_value(1);
      auto* span = ss->add_spans();
      span->set_trace_id(std::string(16, static_cast<char>(r + 1)));
      span->set_span_id(std::string(8, static_cast<char>(s + 1)));
      span->set_name("span");
      span->set_kind(otlp::trace::v1::Span::SPAN_KIND_CLIENT);
      span->set_start_time_unix_nano(10);
      span->set_end_time_unix_nano(20);
      span->set_flags(0x101);
      auto* ints = span->add_attributes();
      ints->set_key("ints");
      ints->mutable_value()->mutable_array_value()->add_values()->set_int_value(7);
      ints->mutable_value()->mutable_array_value()->add_values()->set_double_value(2.5);
      auto* map = span->add_attributes();
      map->set_key("map");
      auto* entry = map->mutable_value()->mutable_kvlist_value()->add_values();
      entry->set_key("k");
      entry->mutable_value()->set_string_value("v");
      auto* bytes = span->add_attributes();
      bytes->set_key("bytes");
      bytes->mutable_value()->set_bytes_value(std::string("\x01\x02\x03", 3));
      auto* link = span->add_links();
      link->set_trace_id(std::string(16, 'x'));
      link->set_span_id(std::string(8, 'y'));
      span->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_OK);
    }
    // Written after the scope spans: still the resource of both.
    auto* attr = rs->mutable_resource()->add_attributes();
    attr->set_key("service.name");
    attr->mutable_value()->set_string_value("svc" + std::to_string(r));
  }
  std::string body;
  ASSERT_TRUE(req.SerializeToString(&body));
  DecodedTraces out;
  absl::Status st = DecodeOtlpProto(body, {}, &out);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(out.batches.size(), 4u);
  EXPECT_EQ(out.span_count, 4u);
  EXPECT_EQ(out.links_dropped, 4u);
  EXPECT_EQ(out.values_converted, 12u);  // per span: mixed array, kvlist, bytes
  for (int b = 0; b < 4; ++b) {
    const ScopeSpansBatch& batch = out.batches[b];
    EXPECT_EQ(batch.resource.scope_name, "scope" + std::to_string(b % 2));
    EXPECT_EQ(batch.resource.scope_version, "v" + std::to_string(b / 2));
    ASSERT_EQ(batch.resource.attributes.size(), 1u);
    EXPECT_EQ(batch.resource.attributes[0].value,
              AttributeValue(std::string("svc" + std::to_string(b / 2))));
    ASSERT_EQ(batch.spans.size(), 1u);
    const SpanData& span = batch.spans[0];
    EXPECT_EQ(span.kind, telemetry::SpanKind::kClient);
    EXPECT_EQ(span.status_code, telemetry::StatusCode::kOk);
    EXPECT_EQ(span.trace_id.bytes[0], b / 2 + 1);
    EXPECT_EQ(testing::Get(span, "ints"), AttributeValue(std::vector<std::string>{"7", "2.5"}));
    EXPECT_EQ(testing::Get(span, "map"), AttributeValue(std::string(R"({"k":"v"})")));
    EXPECT_EQ(testing::Get(span, "bytes"), AttributeValue(std::string("AQID")));
  }
}

TEST(OtlpDecoderTest, EveryTruncationIsAPreciseErrorNeverACrash) {
  const std::string body =
      exporter::EncodeOtlpProto(RichSpans(), MakeResource({{"service.name", std::string("s")}}));
  int errors = 0;
  for (size_t n = 0; n < body.size(); ++n) {
    DecodedTraces out;
    absl::Status s = DecodeOtlpProto(std::string_view(body.data(), n), {}, &out);
    if (!s.ok()) {
      ++errors;
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(s.message()), StartsWith("otlp protobuf: "));
      EXPECT_THAT(std::string(s.message()), HasSubstr(" at byte "));
    }
  }
  // A prefix ending exactly between two top-level fields is a valid (shorter) request; all
  // others are errors.
  EXPECT_GT(errors, static_cast<int>(body.size()) - 3);
}

TEST(OtlpDecoderTest, TruncationErrorNamesTheFieldPath) {
  std::vector<SpanData> spans = RichSpans();
  spans[0].attributes.push_back({"gen_ai.prompt.0.content", std::string(300, 'p')});
  const std::string body = exporter::EncodeOtlpProto(spans, MakeResource({}));
  // Cut inside the long attribute value.
  const size_t cut = body.find(std::string(300, 'p')) + 100;
  DecodedTraces out;
  absl::Status s = DecodeOtlpProto(std::string_view(body.data(), cut), {}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("resource_spans[0]"));
}

TEST(OtlpDecoderTest, AttributeValueOverTheLimitIsRefusedWithItsKey) {
  std::vector<SpanData> spans = RichSpans();
  spans[1].attributes.push_back({"gen_ai.completion.0.content", std::string(2000, 'c')});
  DecodeLimits limits;
  limits.max_value_bytes = 1000;
  for (bool json : {false, true}) {
    DecodedTraces out;
    const auto resource = MakeResource({});
    absl::Status s =
        json ? DecodeOtlpJson(exporter::EncodeOtlpJson(spans, resource), limits, &out)
             : DecodeOtlpProto(exporter::EncodeOtlpProto(spans, resource), limits, &out);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(std::string(s.message()), HasSubstr("2000 bytes exceeds the limit of 1000"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("gen_ai.completion.0.content"));
    EXPECT_THAT(std::string(s.message()), HasSubstr(json ? "spans[1]" : "spans[1]"));
  }
}

TEST(OtlpDecoderTest, CountLimits) {
  std::vector<SpanData> spans;
  for (int k = 0; k < 10; ++k) spans.push_back(MakeSpan(static_cast<uint8_t>(k), "s", {}));
  DecodeLimits limits;
  limits.max_spans = 9;
  DecodedTraces out;
  absl::Status s =
      DecodeOtlpProto(exporter::EncodeOtlpProto(spans, MakeResource({})), limits, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("more than 9 spans"));
  s = DecodeOtlpJson(exporter::EncodeOtlpJson(spans, MakeResource({})), limits, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("more than 9 spans"));

  std::vector<Attribute> many;
  for (int k = 0; k < 20; ++k) many.push_back({"k" + std::to_string(k), int64_t{k}});
  limits = {};
  limits.max_attributes = 10;
  s = DecodeOtlpProto(testing::ProtoBody({MakeSpan(1, "s", many)}, MakeResource({})), limits, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("more than 10 span attributes"));
}

TEST(OtlpDecoderTest, DeepValueNestingIsRefused) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* span = req.add_resource_spans()->add_scope_spans()->add_spans();
  auto* kv = span->add_attributes();
  kv->set_key("deep");
  otlp::common::v1::AnyValue* v = kv->mutable_value();
  for (int k = 0; k < 40; ++k) v = v->mutable_array_value()->add_values();
  v->set_string_value("bottom");
  DecodedTraces out;
  absl::Status s = DecodeOtlpProto(req.SerializeAsString(), {}, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("nested more than 16 levels"));

  // JSON nested beyond the parser guard.
  std::string json = R"({"resourceSpans":)" + std::string(200, '[') + std::string(200, ']') + "}";
  s = DecodeOtlpJson(json, {}, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("deeper than 64 levels"));
}

TEST(OtlpDecoderTest, WrongIdLengthIsAnError) {
  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  auto* span = req.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(15, 'a'));
  DecodedTraces out;
  absl::Status s = DecodeOtlpProto(req.SerializeAsString(), {}, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("trace_id has 15 bytes; it must have 16"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("resource_spans[0].scope_spans[0].spans[0]"));
}

TEST(OtlpDecoderTest, GarbageIsAnErrorNotACrash) {
  DecodedTraces out;
  for (std::string_view body :
       {std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11),
        std::string_view("\x0a\x05\x12\x03\x12\x01", 6), std::string_view("\x00", 1),
        std::string_view("\x0f", 1), std::string_view("\x0b", 1)}) {
    absl::Status s = DecodeOtlpProto(body, {}, &out);
    EXPECT_FALSE(s.ok()) << ::testing::PrintToString(std::string(body));
  }
  EXPECT_TRUE(DecodeOtlpProto("", {}, &out).ok());  // an empty request is valid
  EXPECT_EQ(out.span_count, 0u);
}

TEST(OtlpDecoderTest, InvalidJsonNamesTheByte) {
  DecodedTraces out;
  absl::Status s = DecodeOtlpJson(R"({"resourceSpans":[{"scopeSpans":[}]})", {}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), StartsWith("otlp json: invalid JSON at byte 34"));
  s = DecodeOtlpJson("[1,2]", {}, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a JSON object"));
  s = DecodeOtlpJson("", {}, &out);
  EXPECT_FALSE(s.ok());
}

TEST(OtlpDecoderTest, WronglyTypedJsonFieldNamesItsPath) {
  DecodedTraces out;
  absl::Status s = DecodeOtlpJson(
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
          "spanId":"eee19b7ec3c1b174","name":"x","kind":"SPAN_KIND_NOPE"}]}]}]})",
      {}, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("resourceSpans[0].scopeSpans[0].spans[0].kind"));
  s = DecodeOtlpJson(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[
          {"key":"n","value":{"intValue":"12x"}}]}]}]}]})",
                     {}, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("intValue must be a decimal integer"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("attributes[0] (key \"n\").value"));
  s = DecodeOtlpJson(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"xyz"}]}]}]})", {},
                     &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("spanId \"xyz\" is not 16 hex digits"));
}

// What real exporters send beyond the canonical form: snake_case names, enum names, numbers
// for int64, uppercase hex, base64 ids (protobuf's generic JSON mapping), null members.
TEST(OtlpDecoderTest, JsonIsReadLeniently) {
  DecodedTraces out;
  absl::Status s = DecodeOtlpJson(R"({"resource_spans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"svc"}}]},
      "scope_spans":[{"scope":{"name":"opentelemetry.instrumentation.openai","version":"0.40.2"},
      "spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","spanId":"7uGbfsPBsXQ=",
        "parentSpanId":"","name":"openai.chat","kind":"SPAN_KIND_CLIENT",
        "startTimeUnixNano":1700000000000000000,"end_time_unix_nano":"1700000001000000000",
        "attributes":[{"key":"gen_ai.usage.prompt_tokens","value":{"intValue":120}},
                      {"key":"d","value":{"doubleValue":"NaN"}},
                      {"key":"b","value":{"boolValue":true}},
                      {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}},
                      {"key":"none","value":null}],
        "status":{"code":"STATUS_CODE_ERROR","message":"boom"},
        "links":[{}], "unknownField":{"x":1}}]}]}]})",
                                  {}, &out);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(out.batches.size(), 1u);
  const auto& batch = out.batches[0];
  EXPECT_EQ(batch.resource.scope_name, "opentelemetry.instrumentation.openai");
  ASSERT_EQ(batch.spans.size(), 1u);
  const SpanData& span = batch.spans[0];
  EXPECT_EQ(span.trace_id.ToHex(), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(span.span_id.ToHex(), "eee19b7ec3c1b174");
  EXPECT_FALSE(span.parent_span_id.valid());
  EXPECT_EQ(span.kind, telemetry::SpanKind::kClient);
  EXPECT_EQ(span.start_unix_nanos, 1'700'000'000'000'000'000);
  EXPECT_EQ(span.end_unix_nanos, 1'700'000'001'000'000'000);
  EXPECT_EQ(testing::Get(span, "gen_ai.usage.prompt_tokens"), AttributeValue(int64_t{120}));
  EXPECT_TRUE(std::isnan(std::get<double>(testing::Get(span, "d").value_or(0.0))));
  EXPECT_EQ(testing::Get(span, "arr"), AttributeValue(std::vector<std::string>{"a"}));
  EXPECT_EQ(testing::Get(span, "none"), AttributeValue(std::string()));
  EXPECT_EQ(span.status_code, telemetry::StatusCode::kError);
  EXPECT_EQ(span.status_message, "boom");
  EXPECT_EQ(out.links_dropped, 1u);
}

// The receiver decodes request after request into one DecodedTraces whose spans hold other
// spans' buffers (an earlier request's, or exported spans' handed back by the span processor,
// enriched with more attributes and events). What it decodes must not depend on that.
TEST(OtlpDecoderTest, DecodingOverEarlierSpansGivesWhatAFreshDecodeGives) {
  const auto app = MakeResource({{"service.name", std::string("app")}}, "scope-a", "1.0");
  const auto other = MakeResource({{"service.name", std::string("other")},
                                   {"deployment.environment", std::string("prod")}},
                                  "scope-b");
  std::vector<std::string> bodies;
  // 1. Two groups: rich spans (events, a parent, a status), then plain ones.
  bodies.push_back(exporter::EncodeOtlpProto(RichSpans(), app) +
                   testing::ProtoBody({MakeSpan(3, "x", {{"k", int64_t{1}}})}, other));
  // 2. One group, more spans, other shapes: values of other types at the same positions,
  //    shorter and longer keys and strings, an event where there was none, none where there was.
  {
    std::vector<SpanData> spans;
    for (uint8_t n = 10; n < 16; ++n) {
      SpanData s = MakeSpan(
          n, std::string(n, 'n'),
          {{"gen_ai.request.model", int64_t{n}},
           {"a.very.long.attribute.key.beyond.the.inline.capacity.and.then.some",
            std::string(n * 40, 'v')},
           {"t", n % 2 == 0 ? AttributeValue(std::string("short")) : AttributeValue(1.5)}});
      if (n == 11) {
        telemetry::SpanEvent e;
        e.name = telemetry::EventName(
            std::string_view("a.longer.event.name.than.the.inline.capacity"));
        e.time_unix_nanos = 7;
        e.attributes.push_back({"why", std::string("because")});
        s.events.push_back(e);
      }
      spans.push_back(std::move(s));
    }
    bodies.push_back(exporter::EncodeOtlpProto(spans, other));
  }
  // 3. A single bare span (no attributes, no name), and an empty request.
  bodies.push_back(testing::ProtoBody({MakeSpan(20, "", {})}, MakeResource({})));
  bodies.push_back("");
  // 4. The first request again.
  bodies.push_back(bodies[0]);

  DecodedTraces reused;
  for (size_t r = 0; r < bodies.size(); ++r) {
    SCOPED_TRACE(::testing::Message() << "request " << r);
    DecodedTraces fresh;
    ASSERT_TRUE(DecodeOtlpProto(bodies[r], {}, &fresh).ok());
    ASSERT_TRUE(DecodeOtlpProto(bodies[r], {}, &reused).ok());
    EXPECT_EQ(reused.span_count, fresh.span_count);
    EXPECT_EQ(reused.links_dropped, fresh.links_dropped);
    EXPECT_EQ(reused.values_converted, fresh.values_converted);
    ASSERT_EQ(reused.batches.size(), fresh.batches.size());
    for (size_t b = 0; b < fresh.batches.size(); ++b) {
      const ResourceInfo& want = fresh.batches[b].resource;
      const ResourceInfo& got = reused.batches[b].resource;
      EXPECT_EQ(got.scope_name, want.scope_name);
      EXPECT_EQ(got.scope_version, want.scope_version);
      ASSERT_EQ(got.attributes.size(), want.attributes.size());
      for (size_t k = 0; k < want.attributes.size(); ++k) {
        EXPECT_EQ(got.attributes[k].key, want.attributes[k].key);
        EXPECT_EQ(got.attributes[k].value, want.attributes[k].value);
      }
      ASSERT_EQ(reused.batches[b].spans.size(), fresh.batches[b].spans.size());
      for (size_t k = 0; k < fresh.batches[b].spans.size(); ++k) {
        testing::ExpectIdenticalSpans(fresh.batches[b].spans[k], reused.batches[b].spans[k]);
      }
    }
    // What a recycling span processor hands back: the spans' trace fields reset, their
    // attributes and events kept, with the receiver's enrichment added, in another order.
    for (ScopeSpansBatch& batch : reused.batches) {
      std::reverse(batch.spans.begin(), batch.spans.end());
      for (SpanData& s : batch.spans) {
        s.name.clear();
        s.trace_state.clear();
        s.status_message.clear();
        s.attributes.push_back({"genops.operation.id", std::string(49, 'o')});
        s.attributes.push_back({"genops.cost.total", 0.25});
        telemetry::SpanEvent& e = s.events.emplace_back();
        e.name = telemetry::EventName(std::string_view("genops.budget.reconciliation"));
        e.attributes.push_back({"genops.accounting.ledger_ok", true});
      }
    }
  }
}

}  // namespace
}  // namespace genops::receiver
