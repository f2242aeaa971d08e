// OpenLLMetry-shaped OTLP export requests for the receiver benchmarks, shared by the
// in-process benchmark (bench/receiver_benchmark.cc) and the over-the-socket load tool
// (tests/tools/otlp_load_tool.cc), so both figures measure the same bytes.
//
// A request is a 512-span batch (the OTel SDKs' default export batch). An LLM span carries
// ~20 attributes (model, provider, usage, a 600-byte prompt and a 300-byte completion,
// association properties); the others are HTTP/workflow spans with ~8. Renumber() rewrites
// the first 8 bytes of every trace id in place, so a request can be sent again as new
// operations: a redelivery would take the ledger's cheaper idempotent path and flatter the
// figure.
//
// Thread safety: the functions are pure; a LoadRequest is a value (one per sending thread).
#ifndef GENOPS_BENCH_OTLP_LOAD_BATCHES_H_
#define GENOPS_BENCH_OTLP_LOAD_BATCHES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "src/export/otlp_json_encoder.h"
#include "src/export/otlp_proto_encoder.h"
#include "src/telemetry/span_data.h"

namespace genops::bench {

inline constexpr size_t kLoadBatchSize = 512;

inline telemetry::SpanData LoadLlmSpan(size_t k) {
  telemetry::SpanData s;
  s.name = "openai.chat";
  s.kind = telemetry::SpanKind::kClient;
  s.start_unix_nanos = 1'700'000'000'000'000'000 + static_cast<int64_t>(k) * 1000;
  s.end_unix_nanos = s.start_unix_nanos + 800'000'000;
  s.attributes = {
      {"gen_ai.system", std::string("openai")},
      {"llm.request.type", std::string("chat")},
      {"gen_ai.request.model", std::string("gpt-4o")},
      {"gen_ai.response.model", std::string("gpt-4o-2024-08-06")},
      {"gen_ai.request.temperature", 0.7},
      {"gen_ai.request.max_tokens", int64_t{512}},
      {"llm.is_streaming", false},
      {"gen_ai.openai.api_base", std::string("https://api.openai.com/v1/")},
      {"gen_ai.prompt.0.role", std::string("system")},
      {"gen_ai.prompt.0.content", std::string(600, 'p')},
      {"gen_ai.completion.0.role", std::string("assistant")},
      {"gen_ai.completion.0.content", std::string(300, 'c')},
      {"gen_ai.completion.0.finish_reason", std::string("stop")},
      {"gen_ai.response.id", std::string("chatcmpl-AbCdEf0123456789")},
      {"gen_ai.usage.prompt_tokens", int64_t{1200 + static_cast<int64_t>(k % 50)}},
      {"gen_ai.usage.completion_tokens", int64_t{180}},
      {"llm.usage.total_tokens", int64_t{1380 + static_cast<int64_t>(k % 50)}},
      {"gen_ai.usage.cache_read_input_tokens", int64_t{256}},
      {"traceloop.association.properties.team", std::string("search")},
      {"traceloop.association.properties.customer_id", std::string("acme")},
  };
  return s;
}

inline telemetry::SpanData LoadOtherSpan(size_t k) {
  telemetry::SpanData s;
  s.name = k % 2 == 0 ? "POST /api/answer" : "answer_question.workflow";
  s.kind = telemetry::SpanKind::kServer;
  s.start_unix_nanos = 1'700'000'000'000'000'000 + static_cast<int64_t>(k) * 1000;
  s.end_unix_nanos = s.start_unix_nanos + 900'000'000;
  s.attributes = {
      {"http.method", std::string("POST")},
      {"http.route", std::string("/api/answer")},
      {"http.status_code", int64_t{200}},
      {"http.user_agent", std::string("Mozilla/5.0 (X11; Linux x86_64)")},
      {"net.peer.ip", std::string("10.1.2.3")},
      {"traceloop.span.kind", std::string("workflow")},
      {"traceloop.workflow.name", std::string("answer_question")},
      {"traceloop.association.properties.team", std::string("search")},
  };
  return s;
}

// Whether span k of a batch is an LLM span: the first llm_percent of the batch are.
inline bool IsLoadLlmSpan(size_t k, int llm_percent) {
  return static_cast<int>(k * 100 / kLoadBatchSize) < llm_percent;
}

// LLM spans in one batch.
inline size_t LoadLlmSpansPerBatch(int llm_percent) {
  size_t n = 0;
  for (size_t k = 0; k < kLoadBatchSize; ++k) n += IsLoadLlmSpan(k, llm_percent) ? 1 : 0;
  return n;
}

// A request body and where each span's trace id sits in it.
struct LoadRequest {
  std::string body;
  std::vector<size_t> trace_id_offsets;
  bool json = false;
};

// `sender` (0..255) goes into byte 8 of every trace id: senders that Renumber() from
// different counters still never collide.
inline LoadRequest MakeLoadRequest(int llm_percent, bool json, int sender) {
  std::vector<telemetry::SpanData> spans;
  for (size_t k = 0; k < kLoadBatchSize; ++k) {
    telemetry::SpanData s = IsLoadLlmSpan(k, llm_percent) ? LoadLlmSpan(k) : LoadOtherSpan(k);
    // A recognisable trace id: 8 marker bytes, then (sender, span index) in the last 8.
    std::memset(s.trace_id.bytes.data(), 0x5a, 8);
    s.trace_id.bytes[8] = static_cast<uint8_t>(sender);
    s.trace_id.bytes[14] = static_cast<uint8_t>(k >> 8);
    s.trace_id.bytes[15] = static_cast<uint8_t>(k);
    s.span_id.bytes.fill(0x33);
    s.span_id.bytes[7] = static_cast<uint8_t>(k);
    spans.push_back(std::move(s));
  }
  telemetry::ResourceInfo resource;
  resource.attributes = {{"service.name", std::string("answer-service")},
                         {"telemetry.sdk.language", std::string("python")},
                         {"deployment.environment", std::string("production")}};
  resource.scope_name = "opentelemetry.instrumentation.openai";
  resource.scope_version = "0.40.7";
  LoadRequest r;
  r.json = json;
  r.body = json ? exporter::EncodeOtlpJson(spans, resource)
                : exporter::EncodeOtlpProto(spans, resource);
  // Protobuf: the 8 marker bytes; JSON: their hex, "5a5a5a5a5a5a5a5a".
  const std::string marker = json ? std::string("5a5a5a5a5a5a5a5a") : std::string(8, '\x5a');
  for (size_t pos = r.body.find(marker); pos != std::string::npos;
       pos = r.body.find(marker, pos + marker.size())) {
    r.trace_id_offsets.push_back(pos);
  }
  return r;
}

// Writes `iteration` over the marker bytes of every trace id: new operation ids each time
// (iteration 0x5a5a5a5a5a5a5a5a excepted, which reproduces the template).
inline void Renumber(LoadRequest& r, uint64_t iteration) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t offset : r.trace_id_offsets) {
    if (r.json) {
      for (int k = 0; k < 16; ++k) r.body[offset + k] = kHex[(iteration >> (4 * k)) & 0xf];
    } else {
      std::memcpy(&r.body[offset], &iteration, 8);
    }
  }
}

}  // namespace genops::bench

#endif  // GENOPS_BENCH_OTLP_LOAD_BATCHES_H_
