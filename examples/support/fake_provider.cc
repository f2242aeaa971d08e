#include "support/fake_provider.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "support/span_file.h"

namespace genops::examples {

namespace {

constexpr char kLoopback[] = "127.0.0.1";

// Bytes of text in a message `content` (a string or an array of content blocks).
int64_t ContentBytes(const nlohmann::json& content) {
  if (content.is_string()) return static_cast<int64_t>(content.get<std::string>().size());
  int64_t bytes = 0;
  if (content.is_array()) {
    for (const nlohmann::json& block : content) {
      if (block.is_string()) {
        bytes += static_cast<int64_t>(block.get<std::string>().size());
      } else if (block.is_object() && block.contains("text") && block["text"].is_string()) {
        bytes += static_cast<int64_t>(block["text"].get<std::string>().size());
      }
    }
  }
  return bytes;
}

// Deterministic answer text: exactly 4 bytes per completion token.
std::string AnswerText(int64_t completion_tokens) {
  static constexpr std::string_view kPattern = "fake answer text. ";
  std::string text;
  const size_t length = static_cast<size_t>(completion_tokens) * 4;
  text.reserve(length);
  while (text.size() < length) text += kPattern;
  text.resize(length);
  return text;
}

// Runs an httplib server on 127.0.0.1:<free port> in a thread of its own.
class ServerThread {
 public:
  ServerThread() = default;
  ~ServerThread() { Stop(); }

  httplib::Server& server() { return server_; }

  absl::StatusOr<int> Start() {
    server_.set_keep_alive_timeout(1);
    const int port = server_.bind_to_any_port(kLoopback);
    if (port <= 0) {
      return absl::UnavailableError("cannot bind a port on 127.0.0.1 for a fake server");
    }
    // The socket is listening once bind_to_any_port() returns, so early connections wait in
    // the backlog. We still wait for the accept loop to start: httplib's stop() does nothing
    // before it has, and a stop() lost that way would leave Stop() joining forever.
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      finished_.store(true);
    });
    while (!server_.is_running() && !finished_.load()) std::this_thread::yield();
    return port;
  }

  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> finished_{false};  // listen_after_bind() returned
};

}  // namespace

// ------------------------------------------------------------------------------------------
// FakeProvider

struct FakeProvider::Impl {
  ServerThread server;

  mutable absl::Mutex mu;
  int64_t requests ABSL_GUARDED_BY(mu) = 0;
  int64_t failed ABSL_GUARDED_BY(mu) = 0;
  int failure_status ABSL_GUARDED_BY(mu) = 0;
  int64_t cache_read ABSL_GUARDED_BY(mu) = 0;
  int64_t cache_write ABSL_GUARDED_BY(mu) = 0;
  int64_t reasoning ABSL_GUARDED_BY(mu) = 0;
  std::string last_traceparent ABSL_GUARDED_BY(mu);
  int64_t next_id ABSL_GUARDED_BY(mu) = 1;

  void Handle(ProviderApi api, const httplib::Request& request, httplib::Response& response);
  static void Error(ProviderApi api, int status, const std::string& type,
                    const std::string& message, httplib::Response& response);
};

void FakeProvider::Impl::Error(ProviderApi api, int status, const std::string& type,
                               const std::string& message, httplib::Response& response) {
  nlohmann::json body;
  if (api == ProviderApi::kOpenAi) {
    body = {{"error", {{"message", message}, {"type", type}, {"code", nullptr}}}};
  } else {
    body = {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  }
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void FakeProvider::Impl::Handle(ProviderApi api, const httplib::Request& request,
                                httplib::Response& response) {
  int failure = 0;
  int64_t cache_read_setting = 0;
  int64_t cache_write_setting = 0;
  int64_t reasoning_setting = 0;
  int64_t id = 0;
  {
    absl::MutexLock lock(&mu);
    ++requests;
    last_traceparent = request.get_header_value("traceparent");
    failure = failure_status;
    cache_read_setting = cache_read;
    cache_write_setting = cache_write;
    reasoning_setting = reasoning;
    id = next_id++;
    if (failure != 0) ++failed;
  }
  if (failure != 0) {
    Error(api, failure, api == ProviderApi::kOpenAi ? "server_error" : "api_error",
          absl::StrCat("fake provider told to fail with HTTP ", failure), response);
    return;
  }

  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  auto invalid = [&](const std::string& message) {
    {
      absl::MutexLock lock(&mu);
      ++failed;
    }
    Error(api, 400, "invalid_request_error", message, response);
  };
  if (!body.is_object()) return invalid("request body is not a JSON object");
  if (!body.contains("model") || !body["model"].is_string()) {
    return invalid("`model` (string) is required");
  }
  if (!body.contains("messages") || !body["messages"].is_array()) {
    return invalid("`messages` (array) is required");
  }
  const std::string model = body["model"].get<std::string>();

  int64_t prompt_bytes = 0;
  for (const nlohmann::json& message : body["messages"]) {
    if (message.is_object() && message.contains("content")) {
      prompt_bytes += ContentBytes(message["content"]);
    }
  }
  if (body.contains("system")) prompt_bytes += ContentBytes(body["system"]);
  const int64_t prompt_tokens = prompt_bytes / 4 + kPromptOverheadTokens;

  int64_t completion_tokens = kMaxCompletionTokens;
  bool capped = false;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_number_integer() || body[key].get<int64_t>() < 1) {
      return invalid(absl::StrCat("`", key, "` must be a positive integer"));
    }
    const int64_t max_tokens = body[key].get<int64_t>();
    if (max_tokens < completion_tokens) {
      completion_tokens = max_tokens;
      capped = true;
    }
  }
  if (api == ProviderApi::kAnthropic && !body.contains("max_tokens")) {
    return invalid("`max_tokens` is required");
  }

  const int64_t cached = std::min(cache_read_setting, prompt_tokens);
  const int64_t written = std::min(cache_write_setting, prompt_tokens - cached);
  const int64_t reasoning_tokens = std::min(reasoning_setting, completion_tokens);
  const std::string text = AnswerText(completion_tokens);

  nlohmann::json answer;
  if (api == ProviderApi::kOpenAi) {
    answer = {
        {"id", absl::StrCat("chatcmpl-fake-", id)},
        {"object", "chat.completion"},
        {"created", 1700000000},
        {"model", model},
        {"choices",
         {{{"index", 0},
           {"message", {{"role", "assistant"}, {"content", text}}},
           {"finish_reason", capped ? "length" : "stop"}}}},
        {"usage",
         {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached}}},
          {"completion_tokens_details", {{"reasoning_tokens", reasoning_tokens}}}}},
    };
  } else {
    answer = {
        {"id", absl::StrCat("msg_fake_", id)},
        {"type", "message"},
        {"role", "assistant"},
        {"model", model},
        {"content", {{{"type", "text"}, {"text", text}}}},
        {"stop_reason", capped ? "max_tokens" : "end_turn"},
        {"stop_sequence", nullptr},
        {"usage",
         {{"input_tokens", prompt_tokens - cached - written},
          {"output_tokens", completion_tokens},
          {"cache_read_input_tokens", cached},
          {"cache_creation_input_tokens", written}}},
    };
  }
  response.status = 200;
  response.set_content(answer.dump(), "application/json");
}

FakeProvider::FakeProvider(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

FakeProvider::~FakeProvider() { impl_->server.Stop(); }

absl::StatusOr<std::unique_ptr<FakeProvider>> FakeProvider::Start() {
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  raw->server.server().Post("/v1/chat/completions",
                            [raw](const httplib::Request& request, httplib::Response& response) {
                              raw->Handle(ProviderApi::kOpenAi, request, response);
                            });
  raw->server.server().Post("/v1/messages",
                            [raw](const httplib::Request& request, httplib::Response& response) {
                              raw->Handle(ProviderApi::kAnthropic, request, response);
                            });
  absl::StatusOr<int> port = raw->server.Start();
  if (!port.ok()) return port.status();
  return std::unique_ptr<FakeProvider>(new FakeProvider(std::move(impl), *port));
}

std::string FakeProvider::base_url() const {
  return absl::StrCat("http://", kLoopback, ":", port_);
}

int64_t FakeProvider::request_count() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests;
}

int64_t FakeProvider::failed_count() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->failed;
}

void FakeProvider::set_failure_status(int status) {
  absl::MutexLock lock(&impl_->mu);
  impl_->failure_status = status;
}

void FakeProvider::set_cache_tokens(int64_t cache_read, int64_t cache_write) {
  absl::MutexLock lock(&impl_->mu);
  impl_->cache_read = std::max<int64_t>(0, cache_read);
  impl_->cache_write = std::max<int64_t>(0, cache_write);
}

void FakeProvider::set_reasoning_tokens(int64_t reasoning) {
  absl::MutexLock lock(&impl_->mu);
  impl_->reasoning = std::max<int64_t>(0, reasoning);
}

std::string FakeProvider::last_traceparent() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->last_traceparent;
}

int64_t FakeProvider::PromptTokens(const std::vector<ChatMessage>& messages) {
  int64_t bytes = 0;
  for (const ChatMessage& message : messages) bytes += static_cast<int64_t>(message.content.size());
  return bytes / 4 + kPromptOverheadTokens;
}

genops::Usage FakeProvider::ExpectedUsage(const ChatRequest& request, ProviderApi api) const {
  int64_t cache_read_setting = 0;
  int64_t cache_write_setting = 0;
  int64_t reasoning_setting = 0;
  {
    absl::MutexLock lock(&impl_->mu);
    cache_read_setting = impl_->cache_read;
    cache_write_setting = impl_->cache_write;
    reasoning_setting = impl_->reasoning;
  }
  genops::Usage usage;
  usage.input_tokens = PromptTokens(request.messages);
  // (Anthropic requests without max_tokens are sent with 1024, which the cap makes 50 too.)
  usage.output_tokens =
      std::min(request.max_tokens.value_or(kMaxCompletionTokens), kMaxCompletionTokens);
  usage.cache_read_tokens = std::min(cache_read_setting, usage.input_tokens);
  if (api == ProviderApi::kAnthropic) {
    usage.cache_write_tokens =
        std::min(cache_write_setting, usage.input_tokens - usage.cache_read_tokens);
  }
  if (api == ProviderApi::kOpenAi) {
    usage.reasoning_tokens = std::min(reasoning_setting, usage.output_tokens);
  }
  return usage;
}

// ------------------------------------------------------------------------------------------
// FakeCollector

struct FakeCollector::Impl {
  ServerThread server;

  mutable absl::Mutex mu;
  int failure_status ABSL_GUARDED_BY(mu) = 0;
  std::vector<CollectorRequest> requests ABSL_GUARDED_BY(mu);

  void Handle(const httplib::Request& request, httplib::Response& response);
};

void FakeCollector::Impl::Handle(const httplib::Request& request, httplib::Response& response) {
  CollectorRequest record;
  record.path = request.path;
  record.content_type = request.get_header_value("Content-Type");
  record.content_encoding = request.get_header_value("Content-Encoding");
  record.body = request.body;
  if (record.content_type.find("json") != std::string::npos && record.content_encoding.empty()) {
    absl::StatusOr<std::vector<SpanRecord>> spans = ParseSpans(request.body);
    if (spans.ok()) record.span_count = static_cast<int64_t>(spans->size());
  }
  int status = 200;
  {
    absl::MutexLock lock(&mu);
    if (failure_status != 0 && failure_status != 200) status = failure_status;
    record.status = status;
    requests.push_back(std::move(record));
  }
  response.status = status;
  const bool json = request.get_header_value("Content-Type").find("json") != std::string::npos;
  if (status >= 200 && status < 300) {
    // An empty ExportTraceServiceResponse: "{}" in JSON, zero bytes in protobuf.
    response.set_content(json ? "{}" : "", json ? "application/json" : "application/x-protobuf");
  } else {
    response.set_content(absl::StrCat("fake collector told to fail with HTTP ", status),
                         "text/plain");
  }
}

FakeCollector::FakeCollector(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

FakeCollector::~FakeCollector() { impl_->server.Stop(); }

absl::StatusOr<std::unique_ptr<FakeCollector>> FakeCollector::Start() {
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  raw->server.server().Post(".*",
                            [raw](const httplib::Request& request, httplib::Response& response) {
                              raw->Handle(request, response);
                            });
  absl::StatusOr<int> port = raw->server.Start();
  if (!port.ok()) return port.status();
  return std::unique_ptr<FakeCollector>(new FakeCollector(std::move(impl), *port));
}

std::string FakeCollector::base_url() const {
  return absl::StrCat("http://", kLoopback, ":", port_);
}

void FakeCollector::set_failure_status(int status) {
  absl::MutexLock lock(&impl_->mu);
  impl_->failure_status = status;
}

int64_t FakeCollector::request_count() const {
  absl::MutexLock lock(&impl_->mu);
  return static_cast<int64_t>(impl_->requests.size());
}

int64_t FakeCollector::accepted_span_count() const {
  absl::MutexLock lock(&impl_->mu);
  int64_t spans = 0;
  for (const CollectorRequest& request : impl_->requests) {
    if (request.status >= 200 && request.status < 300 && request.span_count > 0) {
      spans += request.span_count;
    }
  }
  return spans;
}

int64_t FakeCollector::accepted_request_count() const {
  absl::MutexLock lock(&impl_->mu);
  int64_t accepted = 0;
  for (const CollectorRequest& request : impl_->requests) {
    if (request.status >= 200 && request.status < 300) ++accepted;
  }
  return accepted;
}

std::vector<CollectorRequest> FakeCollector::requests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests;
}

}  // namespace genops::examples
