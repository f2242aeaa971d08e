// MockUpstream: an in-process fake of the OpenAI and Anthropic HTTP APIs for tests, demos and
// load runs (`genops mock-upstream`).
//
// Why: the gateway's cost numbers must be checked exactly, so the fake's token counts follow
// fixed rules a test can recompute (ExpectedUsage()), and every failure the gateway must
// survive (errors, rate limits, resets, broken JSON, cut streams) can be asked for per
// request.
//
//   auto mock = MockUpstream::Start({});            // 127.0.0.1, an ephemeral port
//   std::string base = (*mock)->base_url();         // "http://127.0.0.1:40123"
//   ... point the gateway's provider base_url at it ...
//   (*mock)->requests();                            // what reached the "provider"
//
// Routes (POST unless noted; bodies are the providers' JSON):
//   /v1/chat/completions   OpenAI chat; "stream": true streams chat.completion.chunk events and
//                          `data: [DONE]`; stream_options.include_usage adds the usage chunk
//                          (choices: []) and "usage": null on the other chunks.
//   /v1/completions        OpenAI legacy completions (stream and include_usage as above).
//   /v1/embeddings         OpenAI embeddings (`dimensions`, default 8; encoding_format base64).
//   /v1/responses          OpenAI Responses API; streams response.created ...
//                          response.output_text.delta ... response.completed (with usage).
//   /v1/messages           Anthropic Messages (max_tokens required); streams message_start,
//                          content_block_start, ping, content_block_delta..., content_block_stop,
//                          message_delta, message_stop. Like Anthropic, message_start reports
//                          output_tokens 1 as a placeholder; message_delta has the final count.
//   GET /v1/models         a fixed model list (Anthropic's shape when the request has an
//                          anthropic-version header).
// Errors use each provider's shape: OpenAI {"error":{"message","type","param","code"}},
// Anthropic {"type":"error","error":{"type","message"}}.
//
// Usage rules (deterministic):
//   * input tokens = max(1, ceil(B / 4)) where B is the byte count of all request text: chat
//     message contents (strings and "text" parts), Anthropic `system` and message contents,
//     completions `prompt`, embeddings `input`, Responses `instructions` and `input`; token
//     arrays (lists of integers) count one token per integer. See TokensForText().
//   * output tokens = min(limit, wanted): wanted is the x-mock-output-tokens header or
//     kDefaultAnswerTokens; limit is max_tokens / max_completion_tokens / max_output_tokens
//     when given. The answer is AnswerText(output tokens), one word per token; when the
//     limit cut it, finish_reason is "length" (Anthropic stop_reason "max_tokens", Responses
//     status "incomplete").
//   * x-mock-cached-tokens: N  OpenAI: prompt_tokens_details.cached_tokens = min(N, input)
//                              (part of prompt_tokens); Anthropic: cache_read_input_tokens = N
//                              (on top of input_tokens, as Anthropic reports it).
//   * x-mock-cache-write-tokens: N  Anthropic cache_creation_input_tokens = N.
//   * x-mock-reasoning-tokens: N  OpenAI chat/Responses: reasoning tokens, added to
//                              completion_tokens / output_tokens as OpenAI counts them.
//
// Faults, chosen by the model name or by the header `x-mock-fault: NAME` (the header wins):
//   fail-NNN         answer status NNN (fail-500, fail-503, fail-529, fail-400, ...) in the
//                    provider's error shape. fail-429 adds Retry-After (1 s, or the
//                    x-mock-retry-after header).
//   slow             wait slow_delay (or x-mock-delay-ms) before answering; for timeouts.
//   reset            send part of the answer, then reset the connection (TCP RST).
//   malformed-json   a 200 whose JSON is cut (non-stream), or one stream event whose data is
//                    not JSON (the stream otherwise completes normally).
//   truncated-sse    the stream stops in the middle of an event (no [DONE], message_stop or
//                    usage) and ends cleanly at the HTTP level; non-stream: the JSON body is cut
//                    in half.
//   no-usage-stream  no usage anywhere: no usage chunk even with include_usage, no usage in
//                    message_start/message_delta/response.completed; non-stream: no "usage".
// `x-mock-fault-times: N` applies the fault to the first N requests only that carry the same
// `x-mock-fault-key` (default: the fault name); later ones succeed (retry tests).
// Other headers: x-mock-latency-ms (delay before the answer, overriding latency),
// x-mock-stream-chunk-ms (delay between stream events, overriding stream_chunk_interval).
//
// Thread safety: MockUpstream is thread-safe; its static functions are pure.
#ifndef GENOPS_GATEWAY_MOCK_UPSTREAM_H_
#define GENOPS_GATEWAY_MOCK_UPSTREAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/gateway/http_server.h"

namespace genops::gateway {

struct MockUpstreamOptions {
  std::string listen = "127.0.0.1:0";
  int io_threads = 2;
  absl::Duration latency = absl::ZeroDuration();                // before every answer
  absl::Duration stream_chunk_interval = absl::ZeroDuration();  // between stream events
  absl::Duration slow_delay = absl::Seconds(5);                 // the "slow" fault
  // When set, requests must carry it (Authorization: Bearer KEY, or x-api-key: KEY) or get
  // 401 in the provider's shape.
  std::string api_key;
  // Both set: serve HTTPS.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Token counts as the mock reports them in the response's usage object.
struct MockUsage {
  int64_t input_tokens = 0;   // OpenAI prompt_tokens / input_tokens; Anthropic input_tokens
  int64_t output_tokens = 0;  // OpenAI completion_tokens / output_tokens (with reasoning)
  int64_t cache_read_tokens = 0;
  int64_t cache_write_tokens = 0;
  int64_t reasoning_tokens = 0;
  bool truncated = false;  // the output limit cut the answer
};

struct RecordedRequest {
  std::string method;
  std::string path;
  HttpHeaders headers;
  std::string body;
};

// Thread-safe; see the file comment.
class MockUpstream {
 public:
  static constexpr int64_t kDefaultAnswerTokens = 12;

  static absl::StatusOr<std::unique_ptr<MockUpstream>> Start(MockUpstreamOptions options = {});
  ~MockUpstream();
  MockUpstream(const MockUpstream&) = delete;
  MockUpstream& operator=(const MockUpstream&) = delete;

  int port() const { return server_->port(); }
  // "http://127.0.0.1:PORT" (https:// when serving TLS).
  std::string base_url() const;
  // Stops the server (streams in progress are cut). Idempotent.
  void Shutdown();

  // The requests received so far, in arrival order.
  std::vector<RecordedRequest> requests() const;
  size_t request_count() const;
  void ClearRequests();

  // max(1, ceil(bytes / 4)).
  static int64_t TokensForText(std::string_view text);
  // The answer of `tokens` words ("This is a deterministic ...", repeating).
  static std::string AnswerText(int64_t tokens);
  // The usage the mock reports for a request (route `path`, JSON `body`, `headers`).
  // Errors: the body is not JSON (kInvalidArgument), or the route is unknown (kNotFound).
  static absl::StatusOr<MockUsage> ExpectedUsage(std::string_view path, std::string_view body,
                                                 const HttpHeaders& headers = {});

 private:
  explicit MockUpstream(MockUpstreamOptions options) : options_(std::move(options)) {}
  void Handle(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer);
  // True when the fault applies to this request (counts x-mock-fault-times).
  bool FaultApplies(const HttpRequest& request, const std::string& fault);

  const MockUpstreamOptions options_;
  std::unique_ptr<HttpServer> server_;

  mutable absl::Mutex mu_;
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> fault_counts_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_MOCK_UPSTREAM_H_
