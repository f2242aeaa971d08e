// Realistic GenOps spans for the export tests and the encoder benchmark: an LLM CLIENT span
// with ~30 attributes (gen_ai.*, genops.*, legacy OpenLLMetry keys) and two events.
#ifndef GENOPS_TESTS_EXPORT_SPAN_FIXTURES_H_
#define GENOPS_TESTS_EXPORT_SPAN_FIXTURES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "src/telemetry/span_data.h"

namespace genops::testing {

inline telemetry::ResourceInfo MakeResource() {
  telemetry::ResourceInfo resource;
  resource.attributes = {
      {"service.name", std::string("checkout-assistant")},
      {"service.version", std::string("1.4.2")},
      {"deployment.environment", std::string("production")},
      {"telemetry.sdk.name", std::string("genops")},
      {"telemetry.sdk.language", std::string("cpp")},
      {"telemetry.sdk.version", std::string("0.1.0")},
  };
  resource.scope_name = "genops";
  resource.scope_version = "0.1.0";
  return resource;
}

// The resource and scope of an application whose spans the OTLP receiver forwarded
// (SpanData::origin), e.g. MakeOrigin("app-x", "@traceloop/instrumentation-openai", "0.11.0").
inline std::shared_ptr<const telemetry::ResourceInfo> MakeOrigin(std::string service_name,
                                                                 std::string scope_name,
                                                                 std::string scope_version) {
  auto origin = std::make_shared<telemetry::ResourceInfo>();
  origin->attributes = {
      {"service.name", std::move(service_name)},
      {"telemetry.sdk.language", std::string("python")},
      {"deployment.environment", std::string("staging")},
  };
  origin->scope_name = std::move(scope_name);
  origin->scope_version = std::move(scope_version);
  return origin;
}

inline telemetry::SpanData MakeGenOpsSpan(uint64_t i) {
  telemetry::SpanData span;
  for (int b = 0; b < 16; ++b) span.trace_id.bytes[b] = static_cast<uint8_t>(0x10 + b + i);
  for (int b = 0; b < 8; ++b) span.span_id.bytes[b] = static_cast<uint8_t>(0xA0 + b + i);
  for (int b = 0; b < 8; ++b) span.parent_span_id.bytes[b] = static_cast<uint8_t>(0x30 + b);
  span.name = "chat gpt-4o";
  span.kind = telemetry::SpanKind::kClient;
  span.start_unix_nanos = 1'700'000'000'000'000'000 + static_cast<int64_t>(i) * 1'000'000;
  span.end_unix_nanos = span.start_unix_nanos + 1'250'000'000;
  const auto s = [](const char* v) { return telemetry::AttributeValue(std::string(v)); };
  const auto n = [](int64_t v) { return telemetry::AttributeValue(v); };
  span.attributes = {
      {"gen_ai.provider.name", s("openai")},
      {"gen_ai.operation.name", s("chat")},
      {"gen_ai.request.model", s("gpt-4o")},
      {"gen_ai.response.model", s("gpt-4o-2024-08-06")},
      {"gen_ai.usage.input_tokens", n(1200 + static_cast<int64_t>(i))},
      {"gen_ai.usage.output_tokens", n(350)},
      {"gen_ai.usage.cache_read.input_tokens", n(512)},
      {"gen_ai.usage.cache_creation.input_tokens", n(0)},
      {"gen_ai.usage.reasoning.output_tokens", n(0)},
      {"gen_ai.response.finish_reasons",
       telemetry::AttributeValue(std::vector<std::string>{"stop"})},
      {"gen_ai.system", s("openai")},
      {"llm.request.type", s("chat")},
      {"llm.usage.total_tokens", n(1550)},
      {"genops.team", s("platform")},
      {"genops.project", s("llm-api")},
      {"genops.environment", s("production")},
      {"genops.customer_id", s("acme-corp")},
      {"genops.cost_center", s("eng-4411")},
      {"genops.tag.feature", s("checkout-summary")},
      {"genops.operation.type", s("chat")},
      {"genops.operation.name", s("summarise-cart")},
      {"genops.cost.total", telemetry::AttributeValue(0.00425)},
      {"genops.cost.currency", s("USD")},
      {"genops.cost.provider", s("openai")},
      {"genops.cost.model", s("gpt-4o")},
      {"genops.tokens.input", n(1200)},
      {"genops.tokens.output", n(350)},
      {"genops.tokens.total", n(1550)},
      {"genops.policy.level", s("enforced")},
      {"genops.policy.result", s("allowed")},
      {"genops.budget.utilization_percent", telemetry::AttributeValue(42.5)},
      {"genops.cost.priced", telemetry::AttributeValue(true)},
  };
  span.events = {
      {"genops.policy.evaluated",
       span.start_unix_nanos + 1000,
       {{"genops.policy.result", s("allowed")}, {"genops.policy.level", s("enforced")}}},
      {"genops.budget.reconciliation",
       span.end_unix_nanos - 1000,
       {{"genops.accounting.reserved", telemetry::AttributeValue(0.01)},
        {"genops.accounting.actual", telemetry::AttributeValue(0.00425)},
        {"genops.budget.name", s("acme-monthly")}}},
  };
  span.status_code = telemetry::StatusCode::kOk;
  return span;
}

inline std::vector<telemetry::SpanData> MakeGenOpsBatch(size_t count) {
  std::vector<telemetry::SpanData> spans;
  spans.reserve(count);
  for (size_t i = 0; i < count; ++i) spans.push_back(MakeGenOpsSpan(i));
  return spans;
}

}  // namespace genops::testing

#endif  // GENOPS_TESTS_EXPORT_SPAN_FIXTURES_H_
