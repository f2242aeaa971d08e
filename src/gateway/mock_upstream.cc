#include "src/gateway/mock_upstream.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "src/core/text.h"
#include "src/gateway/sse.h"

namespace genops::gateway {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kCreated = 1700000000;
constexpr std::string_view kWords[] = {"This",   "is",       "a",   "deterministic",
                                       "answer", "from",     "the", "GenOps",
                                       "mock",   "upstream", "for", "testing"};

enum class Api { kChat, kCompletions, kEmbeddings, kResponses, kMessages };

std::optional<Api> ApiFor(std::string_view path) {
  if (path == "/v1/chat/completions") return Api::kChat;
  if (path == "/v1/completions") return Api::kCompletions;
  if (path == "/v1/embeddings") return Api::kEmbeddings;
  if (path == "/v1/responses") return Api::kResponses;
  if (path == "/v1/messages") return Api::kMessages;
  return std::nullopt;
}

std::optional<int64_t> HeaderInt(const HttpHeaders& headers, std::string_view name) {
  auto v = headers.Get(name);
  if (!v.has_value() || v->empty() || v->size() > 12) return std::nullopt;
  int64_t out = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return std::nullopt;
    out = out * 10 + (c - '0');
  }
  return out;
}

// Text bytes and token-array integers of a request, for the input token rule.
struct TextCount {
  uint64_t bytes = 0;
  int64_t int_tokens = 0;
};

void CountContent(const Json& content, TextCount& count) {
  if (content.is_string()) {
    count.bytes += content.get_ref<const std::string&>().size();
  } else if (content.is_number_integer()) {
    ++count.int_tokens;
  } else if (content.is_array()) {
    for (const Json& part : content) CountContent(part, count);
  } else if (content.is_object()) {
    auto text = content.find("text");
    if (text != content.end() && text->is_string()) CountContent(*text, count);
    auto inner = content.find("content");  // Responses input items
    if (inner != content.end()) CountContent(*inner, count);
  }
}

void CountField(const Json& body, const char* field, TextCount& count) {
  auto it = body.find(field);
  if (it != body.end()) CountContent(*it, count);
}

TextCount CountRequestText(Api api, const Json& body) {
  TextCount count;
  switch (api) {
    case Api::kChat:
    case Api::kMessages:
      if (auto it = body.find("messages"); it != body.end() && it->is_array()) {
        for (const Json& message : *it) {
          if (message.is_object()) CountField(message, "content", count);
        }
      }
      if (api == Api::kMessages) CountField(body, "system", count);
      break;
    case Api::kCompletions:
      CountField(body, "prompt", count);
      break;
    case Api::kEmbeddings:
      CountField(body, "input", count);
      break;
    case Api::kResponses:
      CountField(body, "instructions", count);
      CountField(body, "input", count);
      break;
  }
  return count;
}

std::optional<int64_t> IntField(const Json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || !it->is_number_integer()) return std::nullopt;
  return std::max<int64_t>(0, it->get<int64_t>());
}

// The usage and the visible answer length of one request.
struct Plan {
  MockUsage usage;
  int64_t answer_tokens = 0;
};

Plan PlanFor(Api api, const Json& body, const HttpHeaders& headers) {
  Plan plan;
  TextCount text = CountRequestText(api, body);
  int64_t input = static_cast<int64_t>((text.bytes + 3) / 4) + text.int_tokens;
  plan.usage.input_tokens = std::max<int64_t>(1, input);
  if (api == Api::kEmbeddings) return plan;
  std::optional<int64_t> limit;
  switch (api) {
    case Api::kChat:
      limit = IntField(body, "max_completion_tokens");
      if (!limit.has_value()) limit = IntField(body, "max_tokens");
      break;
    case Api::kCompletions:
    case Api::kMessages:
      limit = IntField(body, "max_tokens");
      break;
    case Api::kResponses:
      limit = IntField(body, "max_output_tokens");
      break;
    case Api::kEmbeddings:
      break;
  }
  int64_t wanted =
      HeaderInt(headers, "x-mock-output-tokens").value_or(MockUpstream::kDefaultAnswerTokens);
  plan.answer_tokens = limit.has_value() ? std::min(wanted, *limit) : wanted;
  plan.usage.truncated = limit.has_value() && *limit < wanted;
  plan.usage.output_tokens = plan.answer_tokens;
  int64_t cached = HeaderInt(headers, "x-mock-cached-tokens").value_or(0);
  if (api == Api::kMessages) {
    plan.usage.cache_read_tokens = cached;
    plan.usage.cache_write_tokens = HeaderInt(headers, "x-mock-cache-write-tokens").value_or(0);
  } else {
    plan.usage.cache_read_tokens = std::min(cached, plan.usage.input_tokens);
  }
  if (api == Api::kChat || api == Api::kResponses) {
    plan.usage.reasoning_tokens = HeaderInt(headers, "x-mock-reasoning-tokens").value_or(0);
    plan.usage.output_tokens += plan.usage.reasoning_tokens;
  }
  return plan;
}

std::string Token(int64_t i) {
  std::string word(kWords[static_cast<size_t>(i) % std::size(kWords)]);
  return i == 0 ? word : Cat(" ", word);
}

bool IsFaultName(std::string_view name) {
  if (name == "slow" || name == "reset" || name == "malformed-json" || name == "truncated-sse" ||
      name == "no-usage-stream") {
    return true;
  }
  if (name.size() == 8 && name.substr(0, 5) == "fail-") {
    for (char c : name.substr(5)) {
      if (c < '0' || c > '9') return false;
    }
    int status = std::stoi(std::string(name.substr(5)));
    return status >= 400 && status <= 599;
  }
  return false;
}

std::string_view AnthropicErrorType(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 529:
      return "overloaded_error";
    default:
      return "api_error";
  }
}

std::pair<std::string_view, std::string_view> OpenAiErrorTypeAndCode(int status) {
  switch (status) {
    case 400:
      return {"invalid_request_error", "invalid_request"};
    case 401:
      return {"invalid_request_error", "invalid_api_key"};
    case 403:
      return {"invalid_request_error", "permission_denied"};
    case 404:
      return {"invalid_request_error", "not_found"};
    case 429:
      return {"requests", "rate_limit_exceeded"};
    default:
      return {"server_error", "server_error"};
  }
}

HttpResponse ErrorResponse(int status, bool anthropic, std::string_view message) {
  Json body;
  if (anthropic) {
    body = {{"type", "error"},
            {"error", {{"type", AnthropicErrorType(status)}, {"message", message}}}};
  } else {
    auto [type, code] = OpenAiErrorTypeAndCode(status);
    body = {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
  }
  return HttpResponse::Json(status, body.dump());
}

Json OpenAiUsage(const MockUsage& u, bool details) {
  Json usage = {{"prompt_tokens", u.input_tokens},
                {"completion_tokens", u.output_tokens},
                {"total_tokens", u.input_tokens + u.output_tokens}};
  if (details) {
    usage["prompt_tokens_details"] = {{"cached_tokens", u.cache_read_tokens}, {"audio_tokens", 0}};
    usage["completion_tokens_details"] = {{"reasoning_tokens", u.reasoning_tokens},
                                          {"audio_tokens", 0},
                                          {"accepted_prediction_tokens", 0},
                                          {"rejected_prediction_tokens", 0}};
  }
  return usage;
}

Json ResponsesUsage(const MockUsage& u) {
  return {{"input_tokens", u.input_tokens},
          {"input_tokens_details", {{"cached_tokens", u.cache_read_tokens}}},
          {"output_tokens", u.output_tokens},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
          {"total_tokens", u.input_tokens + u.output_tokens}};
}

Json AnthropicUsage(const MockUsage& u, int64_t output_tokens) {
  return {{"input_tokens", u.input_tokens},
          {"cache_creation_input_tokens", u.cache_write_tokens},
          {"cache_read_input_tokens", u.cache_read_tokens},
          {"output_tokens", output_tokens}};
}

// Everything needed to produce one answer.
struct Exchange {
  Api api = Api::kChat;
  Json body;
  std::string model;
  std::string id;       // chatcmpl-mock-N, msg_mock_N, ...
  std::string item_id;  // Responses output item
  bool stream = false;
  bool include_usage = false;
  std::string fault;
  Plan plan;
  absl::Duration chunk_interval;
  std::string request_id;
  std::string retry_after = "1";

  bool no_usage() const { return fault == "no-usage-stream"; }
  std::string FinishReason() const { return plan.usage.truncated ? "length" : "stop"; }
};

Json ResponseObject(const Exchange& x, bool completed) {
  std::string text = MockUpstream::AnswerText(x.plan.answer_tokens);
  Json response = {
      {"id", x.id},
      {"object", "response"},
      {"created_at", kCreated},
      {"status", completed ? (x.plan.usage.truncated ? "incomplete" : "completed") : "in_progress"},
      {"model", x.model}};
  if (completed && x.plan.usage.truncated) {
    response["incomplete_details"] = {{"reason", "max_output_tokens"}};
  }
  Json output = Json::array();
  if (completed) {
    output.push_back({{"type", "message"},
                      {"id", x.item_id},
                      {"status", "completed"},
                      {"role", "assistant"},
                      {"content", Json::array({{{"type", "output_text"},
                                                {"text", text},
                                                {"annotations", Json::array()}}})}});
  }
  response["output"] = std::move(output);
  response["usage"] = completed && !x.no_usage() ? ResponsesUsage(x.plan.usage) : Json(nullptr);
  return response;
}

Json Embeddings(const Exchange& x) {
  int64_t dims = IntField(x.body, "dimensions").value_or(8);
  dims = std::clamp<int64_t>(dims, 1, 4096);
  size_t inputs = 1;
  if (auto it = x.body.find("input");
      it != x.body.end() && it->is_array() && !it->empty() && !(*it)[0].is_number_integer()) {
    inputs = it->size();
  }
  bool base64 = x.body.value("encoding_format", "float") == "base64";
  Json data = Json::array();
  for (size_t i = 0; i < inputs; ++i) {
    std::vector<float> v(static_cast<size_t>(dims));
    for (int64_t j = 0; j < dims; ++j) {
      v[static_cast<size_t>(j)] =
          static_cast<float>((static_cast<int64_t>(i) * 7 + j * 13) % 17 - 8) / 16.0f;
    }
    Json embedding;
    if (base64) {
      std::string bytes(v.size() * sizeof(float), '\0');
      std::memcpy(bytes.data(), v.data(), bytes.size());
      embedding = absl::Base64Escape(absl::string_view(bytes.data(), bytes.size()));
    } else {
      embedding = v;
    }
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  Json out = {{"object", "list"}, {"data", std::move(data)}, {"model", x.model}};
  if (!x.no_usage()) {
    out["usage"] = {{"prompt_tokens", x.plan.usage.input_tokens},
                    {"total_tokens", x.plan.usage.input_tokens}};
  }
  return out;
}

// The whole (non-stream) answer.
Json WholeAnswer(const Exchange& x) {
  std::string text = MockUpstream::AnswerText(x.plan.answer_tokens);
  switch (x.api) {
    case Api::kChat: {
      Json out = {{"id", x.id},
                  {"object", "chat.completion"},
                  {"created", kCreated},
                  {"model", x.model},
                  {"choices",
                   Json::array({{{"index", 0},
                                 {"message",
                                  {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                                 {"logprobs", nullptr},
                                 {"finish_reason", x.FinishReason()}}})},
                  {"system_fingerprint", "fp_mock"}};
      if (!x.no_usage()) out["usage"] = OpenAiUsage(x.plan.usage, true);
      return out;
    }
    case Api::kCompletions: {
      Json out = {{"id", x.id},
                  {"object", "text_completion"},
                  {"created", kCreated},
                  {"model", x.model},
                  {"choices", Json::array({{{"text", text},
                                            {"index", 0},
                                            {"logprobs", nullptr},
                                            {"finish_reason", x.FinishReason()}}})}};
      if (!x.no_usage()) out["usage"] = OpenAiUsage(x.plan.usage, false);
      return out;
    }
    case Api::kEmbeddings:
      return Embeddings(x);
    case Api::kResponses:
      return ResponseObject(x, true);
    case Api::kMessages: {
      Json out = {{"id", x.id},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", x.model},
                  {"content", Json::array({{{"type", "text"}, {"text", text}}})},
                  {"stop_reason", x.plan.usage.truncated ? "max_tokens" : "end_turn"},
                  {"stop_sequence", nullptr}};
      if (!x.no_usage()) out["usage"] = AnthropicUsage(x.plan.usage, x.plan.usage.output_tokens);
      return out;
    }
  }
  return Json();
}

// The stream's SSE blocks, in order.
std::vector<std::string> StreamBlocks(const Exchange& x) {
  std::vector<std::string> blocks;
  int64_t n = x.plan.answer_tokens;
  auto data = [&blocks](const Json& j) { blocks.push_back(FormatSseData(j.dump())); };
  switch (x.api) {
    case Api::kChat: {
      auto chunk = [&x](Json delta, Json finish) {
        Json c = {{"id", x.id},
                  {"object", "chat.completion.chunk"},
                  {"created", kCreated},
                  {"model", x.model},
                  {"system_fingerprint", "fp_mock"},
                  {"choices", Json::array({{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish)}}})}};
        if (x.include_usage) c["usage"] = nullptr;
        return c;
      };
      data(chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr));
      for (int64_t i = 0; i < n; ++i) data(chunk({{"content", Token(i)}}, nullptr));
      data(chunk(Json::object(), x.FinishReason()));
      if (x.include_usage && !x.no_usage()) {
        data({{"id", x.id},
              {"object", "chat.completion.chunk"},
              {"created", kCreated},
              {"model", x.model},
              {"system_fingerprint", "fp_mock"},
              {"choices", Json::array()},
              {"usage", OpenAiUsage(x.plan.usage, true)}});
      }
      blocks.emplace_back(kSseDoneBlock);
      break;
    }
    case Api::kCompletions: {
      auto chunk = [&x](std::string text, Json finish) {
        Json c = {{"id", x.id},
                  {"object", "text_completion"},
                  {"created", kCreated},
                  {"model", x.model},
                  {"choices", Json::array({{{"text", std::move(text)},
                                            {"index", 0},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish)}}})}};
        if (x.include_usage) c["usage"] = nullptr;
        return c;
      };
      for (int64_t i = 0; i < n; ++i) data(chunk(Token(i), nullptr));
      data(chunk("", x.FinishReason()));
      if (x.include_usage && !x.no_usage()) {
        data({{"id", x.id},
              {"object", "text_completion"},
              {"created", kCreated},
              {"model", x.model},
              {"choices", Json::array()},
              {"usage", OpenAiUsage(x.plan.usage, false)}});
      }
      blocks.emplace_back(kSseDoneBlock);
      break;
    }
    case Api::kResponses: {
      int64_t seq = 0;
      auto event = [&blocks, &seq](std::string_view type, Json j) {
        Json out = {{"type", type}, {"sequence_number", seq++}};
        for (auto& [k, v] : j.items()) out[k] = v;
        blocks.push_back(FormatSseEvent({.type = type, .data = out.dump()}));
      };
      std::string text = MockUpstream::AnswerText(n);
      Json item = {{"type", "message"},
                   {"id", x.item_id},
                   {"status", "in_progress"},
                   {"role", "assistant"},
                   {"content", Json::array()}};
      Json part = {{"type", "output_text"}, {"text", ""}, {"annotations", Json::array()}};
      event("response.created", {{"response", ResponseObject(x, false)}});
      event("response.in_progress", {{"response", ResponseObject(x, false)}});
      event("response.output_item.added", {{"output_index", 0}, {"item", item}});
      event("response.content_part.added",
            {{"item_id", x.item_id}, {"output_index", 0}, {"content_index", 0}, {"part", part}});
      for (int64_t i = 0; i < n; ++i) {
        event("response.output_text.delta", {{"item_id", x.item_id},
                                             {"output_index", 0},
                                             {"content_index", 0},
                                             {"delta", Token(i)}});
      }
      event("response.output_text.done",
            {{"item_id", x.item_id}, {"output_index", 0}, {"content_index", 0}, {"text", text}});
      part["text"] = text;
      event("response.content_part.done",
            {{"item_id", x.item_id}, {"output_index", 0}, {"content_index", 0}, {"part", part}});
      Json done_item = ResponseObject(x, true)["output"][0];
      event("response.output_item.done", {{"output_index", 0}, {"item", done_item}});
      event(x.plan.usage.truncated ? "response.incomplete" : "response.completed",
            {{"response", ResponseObject(x, true)}});
      break;
    }
    case Api::kMessages: {
      auto event = [&blocks](std::string_view type, const Json& j) {
        blocks.push_back(FormatSseEvent({.type = type, .data = j.dump()}));
      };
      Json message = {{"id", x.id},
                      {"type", "message"},
                      {"role", "assistant"},
                      {"model", x.model},
                      {"content", Json::array()},
                      {"stop_reason", nullptr},
                      {"stop_sequence", nullptr}};
      if (!x.no_usage()) message["usage"] = AnthropicUsage(x.plan.usage, 1);
      event("message_start", {{"type", "message_start"}, {"message", message}});
      event("content_block_start", {{"type", "content_block_start"},
                                    {"index", 0},
                                    {"content_block", {{"type", "text"}, {"text", ""}}}});
      event("ping", {{"type", "ping"}});
      for (int64_t i = 0; i < n; ++i) {
        event("content_block_delta", {{"type", "content_block_delta"},
                                      {"index", 0},
                                      {"delta", {{"type", "text_delta"}, {"text", Token(i)}}}});
      }
      event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
      Json delta = {{"type", "message_delta"},
                    {"delta",
                     {{"stop_reason", x.plan.usage.truncated ? "max_tokens" : "end_turn"},
                      {"stop_sequence", nullptr}}}};
      if (!x.no_usage()) delta["usage"] = {{"output_tokens", x.plan.usage.output_tokens}};
      event("message_delta", delta);
      event("message_stop", {{"type", "message_stop"}});
      break;
    }
    case Api::kEmbeddings:
      break;
  }
  return blocks;
}

// Writes blocks one after the other, each once the previous one was handed to the socket
// (and after the chunk interval); stops when the client goes away.
class Streamer : public std::enable_shared_from_this<Streamer> {
 public:
  Streamer(std::shared_ptr<HttpResponseWriter> writer, std::vector<std::string> blocks,
           absl::Duration interval, std::optional<size_t> abort_after)
      : writer_(std::move(writer)),
        blocks_(std::move(blocks)),
        interval_(interval),
        abort_after_(abort_after) {}

  void Start(HttpHeaders headers) {
    writer_->StartStream(200, std::move(headers));
    Next(0);
  }

 private:
  void Next(size_t i) {
    if (abort_after_.has_value() && i == *abort_after_) {
      writer_->Abort();
      return;
    }
    if (i == blocks_.size()) {
      writer_->End();
      return;
    }
    writer_->Write(blocks_[i], [self = shared_from_this(), i](bool ok) {
      if (!ok) return;
      if (self->interval_ > absl::ZeroDuration() && i + 1 < self->blocks_.size()) {
        self->writer_->After(self->interval_, [self, i](bool cancelled) {
          if (!cancelled) self->Next(i + 1);
        });
      } else {
        self->Next(i + 1);
      }
    });
  }

  const std::shared_ptr<HttpResponseWriter> writer_;
  const std::vector<std::string> blocks_;
  const absl::Duration interval_;
  const std::optional<size_t> abort_after_;
};

void Produce(const Exchange& x, const std::shared_ptr<HttpResponseWriter>& writer) {
  bool anthropic = x.api == Api::kMessages;
  if (x.fault.substr(0, 5) == "fail-") {
    int status = std::stoi(x.fault.substr(5));
    HttpResponse r = ErrorResponse(status, anthropic, Cat("mock upstream fault ", x.fault));
    if (status == 429) r.headers.Add("Retry-After", x.retry_after);
    r.headers.Add("x-request-id", x.request_id);
    writer->Respond(std::move(r));
    return;
  }
  if (!x.stream || x.api == Api::kEmbeddings) {
    std::string body = WholeAnswer(x).dump();
    if (x.fault == "malformed-json" || x.fault == "truncated-sse") {
      body.resize(body.size() / 2);
    }
    if (x.fault == "reset") {
      writer->StartStream(200, {{"Content-Type", "application/json"},
                                {"Content-Length", std::to_string(body.size())},
                                {"x-request-id", x.request_id}});
      writer->Write(body.substr(0, body.size() / 2), [writer](bool) { writer->Abort(); });
      return;
    }
    HttpResponse r = HttpResponse::Json(200, std::move(body));
    r.headers.Add("x-request-id", x.request_id);
    writer->Respond(std::move(r));
    return;
  }
  std::vector<std::string> blocks = StreamBlocks(x);
  std::optional<size_t> abort_after;
  if (x.fault == "reset") {
    abort_after = std::min<size_t>(2, blocks.size());
  } else if (x.fault == "truncated-sse") {
    size_t keep = blocks.size() / 2;
    std::string partial = blocks[keep].substr(0, blocks[keep].size() / 2);
    blocks.resize(keep);
    blocks.push_back(std::move(partial));
  } else if (x.fault == "malformed-json") {
    std::string broken =
        anthropic || x.api == Api::kResponses
            ? FormatSseEvent({.type = "content_block_delta",
                              .data = "{\"type\": \"content_block_delta\", broken"})
            : FormatSseData("{\"id\": \"" + x.id + "\", broken");
    blocks.insert(blocks.begin() + 1, std::move(broken));
  }
  auto streamer =
      std::make_shared<Streamer>(writer, std::move(blocks), x.chunk_interval, abort_after);
  streamer->Start({{"Content-Type", "text/event-stream; charset=utf-8"},
                   {"Cache-Control", "no-cache"},
                   {"x-request-id", x.request_id}});
}

Json ModelList(bool anthropic) {
  static constexpr std::string_view kOpenAi[] = {"gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo-instruct",
                                                 "text-embedding-3-small", "o3-mini"};
  static constexpr std::string_view kAnthropic[] = {"claude-3-5-sonnet-20241022",
                                                    "claude-3-5-haiku-20241022"};
  Json data = Json::array();
  if (anthropic) {
    for (std::string_view id : kAnthropic) {
      data.push_back({{"type", "model"},
                      {"id", id},
                      {"display_name", id},
                      {"created_at", "2024-10-22T00:00:00Z"}});
    }
    return {{"data", std::move(data)},
            {"has_more", false},
            {"first_id", kAnthropic[0]},
            {"last_id", kAnthropic[std::size(kAnthropic) - 1]}};
  }
  for (std::string_view id : kOpenAi) {
    data.push_back({{"id", id}, {"object", "model"}, {"created", kCreated}, {"owned_by", "mock"}});
  }
  return {{"object", "list"}, {"data", std::move(data)}};
}

bool Authorized(const HttpRequest& request, const std::string& key) {
  if (key.empty()) return true;
  if (auto v = request.headers.Get("x-api-key"); v.has_value() && *v == key) return true;
  auto auth = request.headers.Get("authorization");
  return auth.has_value() && *auth == Cat("Bearer ", key);
}

}  // namespace

int64_t MockUpstream::TokensForText(std::string_view text) {
  return std::max<int64_t>(1, static_cast<int64_t>((text.size() + 3) / 4));
}

std::string MockUpstream::AnswerText(int64_t tokens) {
  std::string out;
  for (int64_t i = 0; i < tokens; ++i) out += Token(i);
  return out;
}

absl::StatusOr<MockUsage> MockUpstream::ExpectedUsage(std::string_view path, std::string_view body,
                                                      const HttpHeaders& headers) {
  auto api = ApiFor(path);
  if (!api.has_value()) return absl::NotFoundError(Cat("the mock has no route ", path));
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError("the request body is not a JSON object");
  }
  return PlanFor(*api, json, headers).usage;
}

absl::StatusOr<std::unique_ptr<MockUpstream>> MockUpstream::Start(MockUpstreamOptions options) {
  std::unique_ptr<MockUpstream> mock(new MockUpstream(std::move(options)));
  MockUpstream* raw = mock.get();
  auto server =
      HttpServer::Start({.listen = raw->options_.listen,
                         .io_threads = raw->options_.io_threads,
                         .tls_cert_file = raw->options_.tls_cert_file,
                         .tls_key_file = raw->options_.tls_key_file,
                         .server_name = "genops-mock-upstream"},
                        [raw](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
                          raw->Handle(std::move(request), std::move(writer));
                        });
  if (!server.ok()) return server.status();
  mock->server_ = *std::move(server);
  return mock;
}

MockUpstream::~MockUpstream() { Shutdown(); }

void MockUpstream::Shutdown() {
  if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
}

std::string MockUpstream::base_url() const {
  return Cat(server_->tls() ? "https://" : "http://", server_->address());
}

std::vector<RecordedRequest> MockUpstream::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

size_t MockUpstream::request_count() const {
  absl::MutexLock lock(&mu_);
  return requests_.size();
}

void MockUpstream::ClearRequests() {
  absl::MutexLock lock(&mu_);
  requests_.clear();
}

bool MockUpstream::FaultApplies(const HttpRequest& request, const std::string& fault) {
  auto times = HeaderInt(request.headers, "x-mock-fault-times");
  if (!times.has_value()) return true;
  std::string key(request.headers.GetOr("x-mock-fault-key", fault));
  absl::MutexLock lock(&mu_);
  return fault_counts_[key]++ < *times;
}

void MockUpstream::Handle(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
  uint64_t n;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back({request.method, request.path, request.headers, request.body});
    n = ++next_id_;
  }
  bool anthropic_client = request.headers.Has("anthropic-version");
  if (request.path == "/v1/models") {
    if (request.method != "GET") {
      writer->Respond(ErrorResponse(405, anthropic_client, "use GET /v1/models"));
      return;
    }
    writer->Respond(HttpResponse::Json(200, ModelList(anthropic_client).dump()));
    return;
  }
  auto api = ApiFor(request.path);
  if (!api.has_value()) {
    writer->Respond(
        ErrorResponse(404, anthropic_client, Cat("the mock upstream has no route ", request.path)));
    return;
  }
  bool anthropic = *api == Api::kMessages;
  if (request.method != "POST") {
    writer->Respond(ErrorResponse(405, anthropic, Cat("use POST ", request.path)));
    return;
  }
  if (!Authorized(request, options_.api_key)) {
    writer->Respond(ErrorResponse(401, anthropic, "invalid or missing API key"));
    return;
  }
  Exchange x;
  x.api = *api;
  x.body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (x.body.is_discarded() || !x.body.is_object()) {
    writer->Respond(ErrorResponse(400, anthropic, "the request body is not a JSON object"));
    return;
  }
  if (auto m = x.body.find("model"); m != x.body.end() && m->is_string()) x.model = *m;
  if (x.model.empty()) {
    writer->Respond(ErrorResponse(400, anthropic, "'model' is required"));
    return;
  }
  if (anthropic && !IntField(x.body, "max_tokens").has_value()) {
    writer->Respond(ErrorResponse(400, anthropic, "max_tokens: Field required"));
    return;
  }
  if (auto header = request.headers.Get("x-mock-fault")) {
    x.fault = std::string(*header);
    if (!IsFaultName(x.fault)) {
      writer->Respond(ErrorResponse(
          400, anthropic,
          Cat("unknown x-mock-fault '", x.fault,
              "' (fail-NNN, slow, reset, malformed-json, truncated-sse, no-usage-stream)")));
      return;
    }
  } else if (IsFaultName(x.model)) {
    x.fault = x.model;
  }
  if (!x.fault.empty() && !FaultApplies(request, x.fault)) x.fault.clear();
  x.stream = x.body.value("stream", false);
  if (auto so = x.body.find("stream_options"); so != x.body.end() && so->is_object()) {
    x.include_usage = so->value("include_usage", false);
  }
  x.plan = PlanFor(x.api, x.body, request.headers);
  switch (x.api) {
    case Api::kChat:
      x.id = Cat("chatcmpl-mock-", n);
      break;
    case Api::kCompletions:
      x.id = Cat("cmpl-mock-", n);
      break;
    case Api::kEmbeddings:
      x.id = Cat("emb-mock-", n);
      break;
    case Api::kResponses:
      x.id = Cat("resp_mock_", n);
      break;
    case Api::kMessages:
      x.id = Cat("msg_mock_", n);
      break;
  }
  x.item_id = Cat("msg_mock_item_", n);
  x.request_id = Cat("req_mock_", n);
  x.chunk_interval = options_.stream_chunk_interval;
  if (auto v = HeaderInt(request.headers, "x-mock-retry-after")) x.retry_after = Cat(*v);
  if (auto ms = HeaderInt(request.headers, "x-mock-stream-chunk-ms")) {
    x.chunk_interval = absl::Milliseconds(*ms);
  }
  absl::Duration delay = options_.latency;
  if (auto ms = HeaderInt(request.headers, "x-mock-latency-ms")) delay = absl::Milliseconds(*ms);
  if (x.fault == "slow") {
    delay = options_.slow_delay;
    if (auto ms = HeaderInt(request.headers, "x-mock-delay-ms")) delay = absl::Milliseconds(*ms);
  }
  if (delay <= absl::ZeroDuration()) {
    Produce(x, writer);
    return;
  }
  writer->After(delay, [x = std::move(x), writer](bool cancelled) {
    if (!cancelled) Produce(x, writer);
  });
}

}  // namespace genops::gateway
