// Cost of the gateway's per-request protocol work (src/gateway/provider_protocol.h): reading a
// typical chat request, and metering a streamed answer event by event. Both sit on every
// proxied request; the gateway's budget is ≤ 60 µs added p50 per request.
//
//   build-rel/provider_protocol_benchmark --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one command line)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "src/core/text.h"
#include "src/gateway/provider_protocol.h"

namespace genops::gateway {
namespace {

// A ~1 KB chat request as SDKs send it: a system prompt, a short history, sampling fields.
std::string ChatBody(bool stream) {
  std::string body = Cat(
      R"({"model":"gpt-4o-mini","messages":[)",
      R"({"role":"system","content":"You are a helpful assistant that answers questions about )",
      R"(the weather and travel plans concisely. Prefer metric units."},)",
      R"({"role":"user","content":"I am planning a trip to Lisbon next month. What should I )",
      R"(pack, and what is the weather usually like in the second half of the month? Also )",
      R"(suggest three day trips from the city that are reachable by train."},)",
      R"({"role":"assistant","content":"Lisbon in that season is mild: expect 15-22 \u00b0C )",
      R"(days, cooler evenings and occasional rain. Pack layers, a light waterproof jacket and )",
      R"(comfortable walking shoes for the hills."},)",
      R"({"role":"user","content":[{"type":"text","text":"Great, and the day trips? Please )",
      R"(keep it short and include travel times from Rossio or Cais do Sodr\u00e9."}]}],)",
      R"("temperature":0.7,"top_p":1,"max_tokens":512,"presence_penalty":0,)",
      R"("frequency_penalty":0,"user":"user-1234","metadata":{"team":"travel",)",
      R"("feature":"planner"},"stream":)", stream ? "true" : "false", "}");
  return body;
}

void BM_InspectRequest_Chat1KB(benchmark::State& state) {
  const bool stream = state.range(0) != 0;
  const std::string body = ChatBody(stream);
  const RouteInfo route = *MatchRoute("POST", "/v1/chat/completions");
  for (auto _ : state) {
    absl::StatusOr<InspectedRequest> r = InspectRequest(route, body);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetLabel(Cat(body.size(), " B body", stream ? ", include_usage spliced in" : ""));
}
BENCHMARK(BM_InspectRequest_Chat1KB)->Arg(0)->Arg(1);

// The blocks of an OpenAI chat stream with `events` blocks in all, as OpenAI sends them (role
// chunk, content chunks, finish chunk, usage chunk, [DONE]).
std::vector<std::string> ChatStream(int events) {
  const std::string head =
      R"({"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",)"
      R"("created":1741570283,"model":"gpt-4o-mini-2024-07-18","service_tier":"default",)"
      R"("system_fingerprint":"fp_06737a9306",)";
  std::vector<std::string> blocks;
  blocks.push_back(
      Cat("data: ", head, R"("choices":[{"index":0,"delta":{"role":"assistant","content":"",)",
          R"("refusal":null},"logprobs":null,"finish_reason":null}],"usage":null})", "\n\n"));
  for (int i = 0; i < events - 4; ++i) {
    blocks.push_back(Cat("data: ", head, R"("choices":[{"index":0,"delta":{"content":" word)", i,
                         R"("},"logprobs":null,"finish_reason":null}],"usage":null})", "\n\n"));
  }
  blocks.push_back(Cat("data: ", head, R"("choices":[{"index":0,"delta":{},"logprobs":null,)",
                       R"("finish_reason":"stop"}],"usage":null})", "\n\n"));
  blocks.push_back(
      Cat("data: ", head,
          R"("choices":[],"usage":{"prompt_tokens":263,"completion_tokens":46,"total_tokens":309,)",
          R"("prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)",
          R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)",
          R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})", "\n\n"));
  blocks.emplace_back(kSseDoneBlock);
  return blocks;
}

// The blocks of an Anthropic Messages stream with `events` blocks in all.
std::vector<std::string> AnthropicStream(int events) {
  std::vector<std::string> blocks;
  blocks.push_back(
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
      "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
      "[],\"model\":\"claude-3-5-haiku-20241022\",\"stop_reason\":null,\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":263,\"cache_creation_input_tokens\":0,"
      "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n");
  blocks.push_back(
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
  for (int i = 0; i < events - 5; ++i) {
    blocks.push_back(
        Cat("event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
            "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" word",
            i, "\"}}\n\n"));
  }
  blocks.push_back(
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
  blocks.push_back(
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":46}}\n\n");
  blocks.push_back("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  return blocks;
}

// One iteration meters a whole 50-event stream fed one block per Feed() (as TCP usually
// delivers them); items = events.
void MeterStream(benchmark::State& state, const std::vector<std::string>& blocks,
                 std::string_view path) {
  const RouteInfo route = *MatchRoute("POST", path);
  size_t bytes = 0;
  for (const std::string& b : blocks) bytes += b.size();
  for (auto _ : state) {
    StreamMeter meter(route, /*strip_usage_chunk=*/true);
    for (const std::string& block : blocks) {
      absl::StatusOr<std::string> out = meter.Feed(block);
      benchmark::DoNotOptimize(out);
    }
    std::string rest = meter.Finish();
    benchmark::DoNotOptimize(rest);
    Usage usage = meter.BillableUsage(263);
    benchmark::DoNotOptimize(usage);
    if (!meter.has_usage()) state.SkipWithError("the stream's usage was not read");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * blocks.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_StreamMeter_OpenAIChat50Events(benchmark::State& state) {
  MeterStream(state, ChatStream(50), "/v1/chat/completions");
}
BENCHMARK(BM_StreamMeter_OpenAIChat50Events);

void BM_StreamMeter_AnthropicMessages50Events(benchmark::State& state) {
  MeterStream(state, AnthropicStream(50), "/v1/messages");
}
BENCHMARK(BM_StreamMeter_AnthropicMessages50Events);

void BM_ErrorBody(benchmark::State& state) {
  for (auto _ : state) {
    std::string body = ErrorBody(ApiFamily::kOpenAI, "insufficient_quota", "genops_budget_exceeded",
                                 "budget team-a/daily exceeded: 12.50 of 12.00 USD");
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_ErrorBody);

}  // namespace
}  // namespace genops::gateway

BENCHMARK_MAIN();
