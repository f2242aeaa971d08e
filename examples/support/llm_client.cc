#include "support/llm_client.h"

#include <httplib.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace genops::examples {

namespace {

constexpr int64_t kAnthropicDefaultMaxTokens = 1024;

}  // namespace

std::string OpenAiRequestBody(const ChatRequest& request) {
  nlohmann::json body;
  body["model"] = request.model;
  body["messages"] = nlohmann::json::array();
  for (const ChatMessage& message : request.messages) {
    body["messages"].push_back({{"role", message.role}, {"content", message.content}});
  }
  if (request.max_tokens.has_value()) body["max_tokens"] = *request.max_tokens;
  return body.dump();
}

std::string AnthropicRequestBody(const ChatRequest& request) {
  nlohmann::json body;
  body["model"] = request.model;
  body["max_tokens"] = request.max_tokens.value_or(kAnthropicDefaultMaxTokens);
  body["messages"] = nlohmann::json::array();
  // Several system messages become text blocks, so no separator changes the byte count the
  // fake provider's usage rule sees.
  nlohmann::json system = nlohmann::json::array();
  for (const ChatMessage& message : request.messages) {
    if (message.role == "system") {
      system.push_back({{"type", "text"}, {"text", message.content}});
      continue;
    }
    body["messages"].push_back({{"role", message.role}, {"content", message.content}});
  }
  if (system.size() == 1) {
    body["system"] = system[0]["text"];
  } else if (!system.empty()) {
    body["system"] = system;
  }
  return body.dump();
}

std::string ResponseText(const std::string& body) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return "";
  // OpenAI: choices[0].message.content
  if (json.contains("choices") && json["choices"].is_array() && !json["choices"].empty()) {
    const nlohmann::json& message = json["choices"][0].value("message", nlohmann::json());
    if (message.is_object() && message.contains("content") && message["content"].is_string()) {
      return message["content"].get<std::string>();
    }
  }
  // Anthropic: content[].text
  if (json.contains("content") && json["content"].is_array()) {
    std::string text;
    for (const nlohmann::json& block : json["content"]) {
      if (block.is_object() && block.value("type", "") == "text") {
        text += block.value("text", "");
      }
    }
    return text;
  }
  return "";
}

struct LlmClient::Impl {
  explicit Impl(const std::string& base_url) : client(base_url) {
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(30, 0);
  }
  httplib::Client client;
};

LlmClient::LlmClient(std::string base_url)
    : base_url_(std::move(base_url)), impl_(std::make_unique<Impl>(base_url_)) {}

LlmClient::~LlmClient() = default;

absl::StatusOr<std::string> LlmClient::ChatCompletion(const ChatRequest& request) {
  return Post("/v1/chat/completions", OpenAiRequestBody(request), request.headers);
}

absl::StatusOr<std::string> LlmClient::Messages(const ChatRequest& request) {
  std::map<std::string, std::string> headers = request.headers;
  headers.emplace("anthropic-version", "2023-06-01");
  return Post("/v1/messages", AnthropicRequestBody(request), headers);
}

absl::StatusOr<std::string> LlmClient::Post(const std::string& path, const std::string& body,
                                            const std::map<std::string, std::string>& headers) {
  httplib::Headers http_headers;
  for (const auto& [name, value] : headers) http_headers.emplace(name, value);
  httplib::Result result = impl_->client.Post(path.c_str(), http_headers, body, "application/json");
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("POST ", base_url_, path, " failed: ", httplib::to_string(result.error())));
  }
  if (result->status >= 200 && result->status < 300) return result->body;
  std::string message =
      absl::StrCat("POST ", base_url_, path, " returned HTTP ", result->status, ": ", result->body);
  if (result->status >= 500) return absl::UnavailableError(message);
  return absl::InvalidArgumentError(message);
}

}  // namespace genops::examples
