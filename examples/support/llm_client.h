// LlmClient: the smallest possible LLM client, standing in for the OpenAI and Anthropic SDKs.
//
// The examples wrap real HTTP calls in GenOps operations, the way an application wraps its
// provider SDK calls. This client posts a chat request to a provider base URL (the in-process
// FakeProvider) and returns the raw response body, which the example hands to
// Operation::record_response() so that GenOps extracts the model and usage itself.
//
// Example:
//   genops::examples::LlmClient client(provider.base_url());
//   genops::examples::ChatRequest request{.model = "gpt-4o-mini",
//                                         .messages = {{"user", "Hello world!"}},
//                                         .max_tokens = 100};
//   absl::StatusOr<std::string> body = client.ChatCompletion(request);   // OpenAI shape
//   absl::StatusOr<std::string> msg = client.Messages(request);          // Anthropic shape
//
// Thread safety: thread-compatible. Use one LlmClient per thread.
#ifndef GENOPS_EXAMPLES_SUPPORT_LLM_CLIENT_H_
#define GENOPS_EXAMPLES_SUPPORT_LLM_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace genops::examples {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct ChatRequest {
  // Every member has a default initializer so that designated initialisers listing only a
  // few of them stay clean under -Wmissing-field-initializers (GCC 12).
  std::string model = {};
  // For the Anthropic shape, "system" messages are sent as the top-level `system` field.
  std::vector<ChatMessage> messages = {};
  std::optional<int64_t> max_tokens = {};  // Anthropic requires one: 1024 is sent when unset
  std::map<std::string, std::string> headers = {};  // extra request headers (e.g. traceparent)
};

// Serialised request bodies, exposed so examples can show what goes over the wire.
std::string OpenAiRequestBody(const ChatRequest& request);
std::string AnthropicRequestBody(const ChatRequest& request);

// The assistant's text in a raw response body of either shape ("" when there is none).
std::string ResponseText(const std::string& body);

class LlmClient {
 public:
  // `base_url` is scheme://host:port, e.g. "http://127.0.0.1:43121".
  explicit LlmClient(std::string base_url);
  ~LlmClient();
  LlmClient(const LlmClient&) = delete;
  LlmClient& operator=(const LlmClient&) = delete;

  // POST /v1/chat/completions. A non-2xx answer is an error whose message carries the
  // status and body (UNAVAILABLE for 5xx, INVALID_ARGUMENT for 4xx); a transport failure is
  // UNAVAILABLE.
  absl::StatusOr<std::string> ChatCompletion(const ChatRequest& request);
  // POST /v1/messages, same error rules.
  absl::StatusOr<std::string> Messages(const ChatRequest& request);

  const std::string& base_url() const { return base_url_; }

 private:
  absl::StatusOr<std::string> Post(const std::string& path, const std::string& body,
                                   const std::map<std::string, std::string>& headers);

  std::string base_url_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genops::examples

#endif  // GENOPS_EXAMPLES_SUPPORT_LLM_CLIENT_H_
