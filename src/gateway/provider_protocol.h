// Provider protocol: what the gateway must know about the OpenAI and Anthropic HTTP APIs.
//
// The gateway governs every call (DESIGN.md §5), so before forwarding it has to know what a
// request asks for (model, streaming, output limit, an input-token estimate for the budget
// reservation), and while a streamed answer passes through it has to read the usage out of it
// without changing what the client receives. Both are money paths: a misread limit reserves
// too little, a missed usage chunk charges nothing. This module is that knowledge, in one
// place, with no I/O:
//
//   auto route = MatchRoute(request.method, request.path);   // nullopt: 404 or 405
//   auto inspected = InspectRequest(*route, request.body);   // 400 on error (names the field)
//   ... reserve budget with inspected->model / estimated_input_tokens / max_output_tokens ...
//   ... send inspected->forward_body upstream ...
//   StreamMeter meter(*route, /*strip_usage_chunk=*/!inspected->client_requested_stream_usage);
//   for each upstream piece: write(*meter.Feed(piece)) to the client;
//   at the end:              write(meter.Finish());
//   settle with meter.BillableUsage(inspected->estimated_input_tokens).
//
// Streaming usage (why the request is rewritten): an OpenAI stream reports usage only when the
// request carries "stream_options":{"include_usage":true}. InspectRequest turns that on in the
// body sent upstream (a byte splice: every other byte of the client's body is kept, so numbers
// such as 1e400 or 0.1000000000000000055 reach the provider exactly as written), and the meter
// withholds the extra usage-only chunk from a client that did not ask for it.
//
// The input-token estimate follows the mock upstream's rule (src/gateway/mock_upstream.h,
// MockUpstream::TokensForText): max(1, ceil(B / 4)) where B is the byte count of all request
// text after JSON unescaping (chat/Anthropic message contents and "text" parts, Anthropic
// `system`, completions `prompt`, embeddings `input`, Responses `instructions` and `input`),
// plus one token per integer of a token array. It is a deliberate approximation: real
// tokenizers differ, and provider-side overhead (tool definitions, images, message framing) is
// not counted; the reported usage replaces it after the call.
//
// JSON is read with simdjson On-Demand from a padded per-thread buffer; request bodies are
// validated completely (syntax, string escapes, UTF-8, number grammar, nesting ≤ 256) but number
// magnitudes are only checked where they matter (token limits), so big or precise numbers in
// fields the gateway does not read pass through untouched.
//
// Thread safety: the free functions are thread-safe. StreamMeter is thread-compatible (one
// stream, one meter, calls from one thread at a time).
#ifndef GENOPS_GATEWAY_PROVIDER_PROTOCOL_H_
#define GENOPS_GATEWAY_PROVIDER_PROTOCOL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/usage.h"
#include "src/gateway/sse.h"

namespace genops::gateway {

enum class ApiFamily { kOpenAI, kAnthropic };

enum class Route { kChatCompletions, kCompletions, kEmbeddings, kResponses, kMessages, kModels };

struct RouteInfo {
  Route route;
  // kModels is listed as kOpenAI; a gateway that sees an `anthropic-version` header may treat
  // the model list as Anthropic's (the mock upstream does).
  ApiFamily family;
  // gen_ai.operation.name: "chat" (chat completions, Responses, Anthropic messages),
  // "text_completion", "embeddings", "models".
  std::string_view operation_name;
  // genops.operation.type: "chat_completion", "completion", "embedding", "response",
  // "message", "list_models".
  std::string_view operation_type;
  // False for kModels: no tokens, no cost (it is still governed: attribution and policy).
  bool metered;
};

// The route of a request. Only these exist (paths exactly, without a query string: pass
// HttpRequest::path): POST /v1/chat/completions, /v1/completions, /v1/embeddings,
// /v1/responses, /v1/messages; GET /v1/models. Anything else, including a known path with
// another method, is nullopt; IsKnownPath() tells 405 from 404. Methods are case-sensitive.
std::optional<RouteInfo> MatchRoute(std::string_view method, std::string_view path);
bool IsKnownPath(std::string_view path);
// The path of a route ("/v1/chat/completions"), for logs and upstream URLs.
std::string_view RoutePath(Route route);

// The largest output limit (max_tokens & co.) a request may ask for.
inline constexpr int64_t kMaxOutputTokenLimit = 10'000'000;
// The largest `n` / `best_of` a request may ask for (OpenAI's own limit for n).
inline constexpr int64_t kMaxCompletionCount = 128;
// Request bodies nested deeper than this are refused.
inline constexpr int kMaxRequestJsonDepth = 256;

struct InspectedRequest {
  std::string model;  // required for metered routes
  bool stream = false;
  // OpenAI chat/completions: the client's own body had stream_options.include_usage = true,
  // so the usage chunk is the client's to see (StreamMeter's strip_usage_chunk = false).
  bool client_requested_stream_usage = false;
  // The mock's rule, see the file comment. 0 for unmetered routes.
  int64_t estimated_input_tokens = 0;
  // The client's output limit: chat max_completion_tokens, else max_tokens; completions and
  // Anthropic max_tokens (required there); Responses max_output_tokens. nullopt = no limit
  // given (the gateway uses its per-model default). Null values count as absent.
  std::optional<int64_t> max_output_tokens;
  // How many completions one request generates (chat `n`, completions max(n, best_of)); the
  // worst-case output is max_output_tokens × completion_count.
  int64_t completion_count = 1;
  // The body to send upstream: the original bytes, except that an OpenAI chat/completions
  // stream whose body does not already set stream_options.include_usage to true gets it: the
  // member is appended to the top-level object, inserted into an existing stream_options
  // object, or an existing false/null value is replaced by true. Nothing else changes.
  std::string forward_body;
  bool body_rewritten = false;
};

// Reads and validates a request body for `route`. Unmetered routes (kModels) are not parsed:
// forward_body is the body as given. Errors are kInvalidArgument with a message that names the
// field: the body is empty, not JSON (with the byte offset), not an object, or nests deeper
// than kMaxRequestJsonDepth; "model" missing, empty or not a string; "stream" (or
// "stream_options.include_usage") not a boolean; "stream_options" not an object; a token limit
// negative, non-integer or above kMaxOutputTokenLimit; `n` / `best_of` outside
// 1..kMaxCompletionCount; Anthropic without "max_tokens"; "messages" missing or not an array
// (chat, Anthropic); one of these keys given twice (the provider and the gateway could read
// different values). Every other field is only checked for JSON syntax and passes through.
absl::StatusOr<InspectedRequest> InspectRequest(const RouteInfo& route, std::string_view body);

// An error body in the family's shape (DESIGN.md §5), so official SDKs show the message:
//   OpenAI:    {"error":{"message":M,"type":T,"param":null,"code":C}}   (C empty -> null)
//   Anthropic: {"type":"error","error":{"type":X,"message":M}}  where X is C when C is a
//              genops_* code (genops_budget_exceeded, ...) and T otherwise.
// Strings are JSON-escaped; invalid UTF-8 becomes U+FFFD so the body is always valid JSON.
std::string ErrorBody(ApiFamily family, std::string_view type, std::string_view code,
                      std::string_view message);

// Meters a streamed (SSE) response and filters what reaches the client.
//
// Feed it the upstream bytes as they arrive; it returns the bytes to forward now. Each SSE
// block is forwarded byte for byte once it is complete (a leading UTF-8 BOM too), except the
// OpenAI usage-only chunk (choices == [] with a usage object), which is withheld when
// strip_usage_chunk is set (chat and text completions only). Bytes of an unfinished block are
// held until it completes; Finish() returns whatever is still held, so a cut stream reaches
// the client cut exactly as it was.
//
// What it learns, per family:
//   model            the response's model (first seen): OpenAI chunk "model", Anthropic
//                    message_start message.model, Responses response.model.
//   usage            OpenAI: the usage chunk (read by ParseProviderResponse, so DeepSeek and
//                    xAI quirks are handled the same way as non-streamed answers); Responses:
//                    response.completed / response.incomplete / response.failed usage;
//                    Anthropic: message_start usage (input, cache read, cache write) and the
//                    last message_delta usage (output_tokens; input and cache counts too when
//                    it carries them), normalised with NormalizeAnthropicUsage.
//   finish reasons   OpenAI choices[].finish_reason; Anthropic message_delta stop_reason;
//                    Responses incomplete_details.reason, else the final status.
//   completion       OpenAI `data: [DONE]`; Responses response.completed / .incomplete /
//                    .failed; Anthropic message_stop.
//   errors           an OpenAI chunk or Anthropic event with an "error" object, a Responses
//                    `error` event, response.failed's response.error.
//   generated text   bytes of choices[].delta.content / .refusal / .reasoning_content /
//                    .tool_calls[].function.arguments, completions choices[].text, Responses
//                    response.{output_text,refusal,function_call_arguments,
//                    reasoning_summary_text,reasoning_text}.delta, Anthropic content_block_delta
//                    text / thinking / partial_json.
// An event whose data is not a JSON object (or whose usage counts are invalid: negative,
// fractional, absurd) is forwarded unchanged, counted in malformed_events(), and its usage is
// ignored. OpenAI's `[DONE]` is not malformed. Comment and field-only blocks are forwarded.
//
// Thread-compatible; see the file comment.
class StreamMeter {
 public:
  StreamMeter(RouteInfo route, bool strip_usage_chunk);

  // The bytes to forward now. Fails (kResourceExhausted) only when an SSE block exceeds 16 MiB
  // without ending; the meter then stays failed and the stream should be aborted.
  absl::StatusOr<std::string> Feed(std::string_view chunk);
  // Call once when the upstream stream ended (or was cut, or the client left): the bytes still
  // held (an unfinished block, a partial BOM). A block that ended in a lone CR is completed and
  // metered here.
  std::string Finish();

  // The stream reported its final usage (OpenAI usage chunk, Responses terminal event usage,
  // Anthropic message_delta usage).
  bool has_usage() const { return has_usage_; }

  // Usage to bill. When has_usage(): the reported usage, as reported (complete or not: a
  // provider's final count is the truth). Otherwise (no usage chunk, a cut stream, a client
  // that left) an estimate that charges for what was produced:
  //   input  = the reported input (Anthropic message_start: input + cache read + cache write,
  //            with the cache counts kept) when one was seen, else estimated_input_tokens
  //            (InspectedRequest::estimated_input_tokens);
  //   output = max(output reported so far, ceil(generated_text_bytes() / 4)).
  // The reported input wins over the estimate because it is the provider's exact count (with
  // the mock both are equal); output takes the larger because a placeholder (Anthropic's
  // message_start output_tokens: 1) must not hide text already streamed.
  Usage BillableUsage(int64_t estimated_input_tokens) const;
  // True when BillableUsage() is an estimate (no final usage was reported). The argument does
  // not change the answer; it is accepted for symmetry with BillableUsage().
  bool usage_is_estimated(int64_t estimated_input_tokens = 0) const;

  const std::string& model() const { return model_; }
  const std::vector<std::string>& finish_reasons() const { return finish_reasons_; }
  bool completed() const { return completed_; }
  std::optional<std::string> error_message() const { return error_message_; }
  int64_t generated_text_bytes() const { return generated_text_bytes_; }
  int64_t malformed_events() const { return malformed_events_; }
  // True when the usage-only chunk was withheld from the client.
  bool usage_chunk_stripped() const { return usage_chunk_stripped_; }

 private:
  // Reads one complete block; false when it must not be forwarded.
  bool Inspect(const SseEvent& event);
  bool InspectOpenAI(std::string_view data);
  void InspectResponses(std::string_view data, std::string_view sse_type);
  void InspectAnthropic(std::string_view data, std::string_view sse_type);
  void DrainEvents(std::string& out);

  const RouteInfo route_;
  const bool strip_usage_chunk_;
  SseParser parser_;
  std::vector<SseEvent> events_;  // reused between Feed() calls
  std::string scratch_;           // event data, with simdjson's padding
  size_t bom_matched_ = 0;        // bytes of a leading BOM seen so far
  bool bom_decided_ = false;
  bool finished_ = false;

  std::string model_;
  std::vector<std::string> finish_reasons_;
  bool completed_ = false;
  std::optional<std::string> error_message_;
  int64_t generated_text_bytes_ = 0;
  int64_t malformed_events_ = 0;
  bool usage_chunk_stripped_ = false;

  bool has_usage_ = false;
  Usage usage_;  // the final reported usage (has_usage_)
  // Partial reports: Anthropic counts as reported so far (raw, before normalisation).
  bool input_reported_ = false;
  int64_t anthropic_input_ = 0;
  int64_t anthropic_cache_read_ = 0;
  int64_t anthropic_cache_write_ = 0;
  int64_t reported_output_ = 0;
};

// The ParseProviderResponse() provider name for non-streamed answers of `family`:
// "openai" or "anthropic".
std::string_view UsageParserProvider(ApiFamily family);

// The part of a non-streamed answer of `family` that ParseProviderResponse(
// UsageParserProvider(family), ·) reads, as a small JSON object: id, model, the finish reasons
// and the usage counts (OpenAI: also object, status, incomplete_details.reason), each as
// written, everything else (the generated text) left out. Parsing it gives the same
// ParsedResponse as parsing the whole body, at a fraction of the cost (the full nlohmann parse
// of every answer was ~14% of the gateway's io-thread CPU). The body is validated completely
// with simdjson on the way; nullopt when it is not an object or when anything could make the
// two parses differ (invalid JSON, a number nlohmann reads as out of range, an escaped
// surrogate, nesting deeper than 32): parse the whole body then, which gives the same error
// as before.
std::optional<std::string> UsageProjection(ApiFamily family, std::string_view body);

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_PROVIDER_PROTOCOL_H_
