// FakeProvider and FakeCollector: in-process stand-ins for an LLM provider and an OTLP
// collector, so every example runs hermetically on 127.0.0.1 without API keys or spend.
//
// FakeProvider speaks both wire shapes the examples need:
//   POST /v1/chat/completions   OpenAI shape; usage.prompt_tokens, completion_tokens,
//                               prompt_tokens_details.cached_tokens,
//                               completion_tokens_details.reasoning_tokens
//   POST /v1/messages           Anthropic shape; usage.input_tokens, output_tokens,
//                               cache_read_input_tokens, cache_creation_input_tokens
// Its usage is deterministic, so an example can derive the exact cost it expects:
//   prompt tokens     = (bytes of every message content, system prompt included) / 4 + 10
//   completion tokens = min(max_tokens, 50), or 50 without max_tokens
// Cache and reasoning tokens are 0 unless set with set_cache_tokens() /
// set_reasoning_tokens(); they are clipped to the prompt / completion. As the real APIs do,
// OpenAI's prompt_tokens includes cached tokens while Anthropic's input_tokens excludes cache
// reads and writes. ExpectedUsage() gives the normalised genops::Usage a request will report.
//
// FakeCollector accepts OTLP/HTTP exports (POST on any path, normally /v1/traces), records
// them, counts the spans of JSON (otlp_json) bodies, and can be told to answer with an error
// status (e.g. 503) to stand for a collector that is down.
//
// Example:
//   auto provider = genops::examples::FakeProvider::Start().value();
//   genops::examples::LlmClient client(provider->base_url());
//   auto body = client.ChatCompletion({.model = "gpt-4o", .messages = {{"user", "Hi"}}});
//   provider->request_count();  // 1
//   provider->set_failure_status(500);  // every later call fails with HTTP 500
//
// Thread safety: both classes are thread-safe; requests are served on the server's own
// threads and every accessor may be called concurrently with them.
#ifndef GENOPS_EXAMPLES_SUPPORT_FAKE_PROVIDER_H_
#define GENOPS_EXAMPLES_SUPPORT_FAKE_PROVIDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/usage.h"
#include "support/llm_client.h"

namespace genops::examples {

enum class ProviderApi { kOpenAi, kAnthropic };

class FakeProvider {
 public:
  static constexpr int64_t kPromptOverheadTokens = 10;
  static constexpr int64_t kMaxCompletionTokens = 50;

  // Binds 127.0.0.1 on a free port and starts serving.
  static absl::StatusOr<std::unique_ptr<FakeProvider>> Start();
  ~FakeProvider();  // stops the server and joins its threads
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:<port>"

  // Requests received on the two chat routes, failed ones included.
  int64_t request_count() const;
  // Requests answered with an error status.
  int64_t failed_count() const;
  // 0 serves normally; any other value answers every chat request with that HTTP status
  // and a provider-shaped error body (e.g. 500 for the circuit-breaker example).
  void set_failure_status(int status);
  void set_cache_tokens(int64_t cache_read, int64_t cache_write);
  void set_reasoning_tokens(int64_t reasoning);
  // The `traceparent` header of the latest request ("" when it had none).
  std::string last_traceparent() const;

  // The usage a request sent through `api` will report, normalised as GenOps defines it
  // (input_tokens includes cache reads and writes; output_tokens includes reasoning).
  genops::Usage ExpectedUsage(const ChatRequest& request, ProviderApi api) const;
  // Prompt tokens by the fake's rule, over the given message contents.
  static int64_t PromptTokens(const std::vector<ChatMessage>& messages);

 private:
  struct Impl;
  explicit FakeProvider(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

// One export a FakeCollector received.
struct CollectorRequest {
  std::string path;
  std::string content_type;
  std::string content_encoding;
  std::string body;
  int status = 0;           // what the collector answered
  int64_t span_count = -1;  // spans in a JSON body; -1 when the body is not OTLP JSON
};

class FakeCollector {
 public:
  static absl::StatusOr<std::unique_ptr<FakeCollector>> Start();
  ~FakeCollector();
  FakeCollector(const FakeCollector&) = delete;
  FakeCollector& operator=(const FakeCollector&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:<port>" (exporters append /v1/traces)

  // 0 (or 200) accepts exports; any other value answers them with that status.
  void set_failure_status(int status);
  int64_t request_count() const;
  // Spans in exports that were accepted (2xx) and had an OTLP JSON body.
  int64_t accepted_span_count() const;
  int64_t accepted_request_count() const;
  std::vector<CollectorRequest> requests() const;

 private:
  struct Impl;
  explicit FakeCollector(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace genops::examples

#endif  // GENOPS_EXAMPLES_SUPPORT_FAKE_PROVIDER_H_
