// OpenAI / Anthropic request inspection and stream metering (see provider_protocol.h).
#include "src/gateway/provider_protocol.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "src/core/text.h"
#include "src/core/usage_parser.h"

namespace genops::gateway {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// --- Routes ----------------------------------------------------------------------------------

struct RouteEntry {
  std::string_view method;
  std::string_view path;
  RouteInfo info;
};

constexpr RouteEntry kRouteTable[] = {
    {"POST",
     "/v1/chat/completions",
     {Route::kChatCompletions, ApiFamily::kOpenAI, "chat", "chat_completion", true}},
    {"POST",
     "/v1/completions",
     {Route::kCompletions, ApiFamily::kOpenAI, "text_completion", "completion", true}},
    {"POST",
     "/v1/embeddings",
     {Route::kEmbeddings, ApiFamily::kOpenAI, "embeddings", "embedding", true}},
    {"POST", "/v1/responses", {Route::kResponses, ApiFamily::kOpenAI, "chat", "response", true}},
    {"POST", "/v1/messages", {Route::kMessages, ApiFamily::kAnthropic, "chat", "message", true}},
    {"GET", "/v1/models", {Route::kModels, ApiFamily::kOpenAI, "models", "list_models", false}},
};

// --- JSON input --------------------------------------------------------------------------------

// Documents above this size get a parser of their own, so an io thread does not keep the
// buffers of one huge body for the rest of its life.
constexpr size_t kLargeDocument = 1 << 20;

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

// Copies `text` into `buffer` with the padding simdjson reads past the end.
simdjson::padded_string_view Pad(std::string_view text, std::string& buffer) {
  if (buffer.capacity() < text.size() + simdjson::SIMDJSON_PADDING) {
    buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  }
  buffer.assign(text.data(), text.size());
  return simdjson::padded_string_view(buffer.data(), buffer.size(), buffer.capacity());
}

// The parser for a document of `size` bytes: the thread's, or a private one for large ones.
class ParserLease {
 public:
  explicit ParserLease(size_t size) {
    if (size > kLargeDocument) {
      own_ = std::make_unique<od::parser>();
      parser_ = own_.get();
    } else {
      parser_ = &ThreadParser();
    }
  }
  od::parser* operator->() { return parser_; }

 private:
  std::unique_ptr<od::parser> own_;
  od::parser* parser_;
};

std::string_view TrimTrailingSpace(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  return token;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  (any magnitude).
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size() || !IsDigit(s[i])) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || !IsDigit(s[i])) return false;
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= s.size() || !IsDigit(s[i])) return false;
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  return i == s.size();
}

// A number token without fraction or exponent.
bool IsIntegerToken(std::string_view s) { return s.find_first_of(".eE") == std::string_view::npos; }

// nlohmann's is_number_integer(): an integer token that fits int64 or uint64 (the mock counts
// such array members as one token each; larger integers parse as floats there).
bool FitsInteger64(std::string_view s) {
  if (!IsIntegerToken(s)) return false;
  const char* end = s.data() + s.size();
  if (!s.empty() && s.front() == '-') {
    int64_t v;
    auto r = std::from_chars(s.data(), end, v);
    return r.ec == std::errc() && r.ptr == end;
  }
  uint64_t v;
  auto r = std::from_chars(s.data(), end, v);
  return r.ec == std::errc() && r.ptr == end;
}

// Text bytes and token-array integers, for the input estimate.
struct TextCount {
  uint64_t bytes = 0;
  int64_t int_tokens = 0;
};

// Walks On-Demand values, validating everything it passes over, and keeps the first error.
// `base` is the start of the padded copy, for byte offsets in messages.
class Reader {
 public:
  explicit Reader(const char* base) : base_(base) {}

  bool ok() const { return status_.ok() && json_error_ == simdjson::SUCCESS; }

  // The error as a status for request bodies.
  absl::Status RequestStatus() const {
    if (!status_.ok()) return status_;
    return absl::InvalidArgumentError(
        Cat("the request body is not valid JSON: ", simdjson::error_message(json_error_),
            " (near byte ", last_offset_, ")"));
  }

  bool FailJson(error_code error) {
    if (ok()) json_error_ = error;
    return false;
  }
  bool Fail(std::string message) {
    if (ok()) status_ = absl::InvalidArgumentError(std::move(message));
    return false;
  }

  // The value's token (with its trailing blanks trimmed); records its offset for messages.
  std::string_view Token(od::value& value) {
    std::string_view token = value.raw_json_token();
    last_offset_ = static_cast<size_t>(token.data() - base_);
    return TrimTrailingSpace(token);
  }
  size_t Offset(std::string_view token) const { return static_cast<size_t>(token.data() - base_); }

  bool Type(od::value& value, od::json_type& type) {
    if (auto e = value.type().get(type)) return FailJson(e);
    return true;
  }

  bool Depth(int depth) {
    if (depth <= kMaxRequestJsonDepth) return true;
    return Fail(
        Cat("the request body nests arrays/objects deeper than ", kMaxRequestJsonDepth, " levels"));
  }

  // Validates and consumes any value.
  bool Skip(od::value value, int depth) {
    if (!Depth(depth)) return false;
    std::string_view token = Token(value);
    od::json_type type;
    if (!Type(value, type)) return false;
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (auto e = value.get_object().get(object)) return FailJson(e);
        for (auto member : object) {
          od::field field;
          if (auto e = std::move(member).get(field)) return FailJson(e);
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return FailJson(e);
          if (!Skip(field.value(), depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::array: {
        od::array array;
        if (auto e = value.get_array().get(array)) return FailJson(e);
        for (auto element : array) {
          od::value item;
          if (auto e = std::move(element).get(item)) return FailJson(e);
          if (!Skip(item, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = value.get_string().get(s)) return FailJson(e);
        return true;
      }
      case od::json_type::number:
        return IsJsonNumber(token) || FailJson(simdjson::NUMBER_ERROR);
      case od::json_type::boolean: {
        bool b;
        if (auto e = value.get_bool().get(b)) return FailJson(e);
        return true;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = value.is_null().get(is_null)) return FailJson(e);
        return is_null || FailJson(simdjson::N_ATOM_ERROR);
      }
    }
    return FailJson(simdjson::TAPE_ERROR);
  }

  // A string value (validated); false with an error otherwise. Null gives nullopt when
  // `null_ok`.
  bool String(od::value value, std::string_view name, std::optional<std::string_view>& out,
              bool null_ok = true) {
    std::string_view token = Token(value);
    od::json_type type;
    if (!Type(value, type)) return false;
    if (type == od::json_type::string) {
      std::string_view s;
      if (auto e = value.get_string().get(s)) return FailJson(e);
      out = s;
      return true;
    }
    if (type == od::json_type::null && null_ok) {
      out.reset();
      return Skip(value, 1);
    }
    if (!Skip(value, 1)) return false;
    return Fail(Cat("\"", name, "\" must be a string, got ", Shown(type, token)));
  }

  // true/false, or nullopt for null.
  bool Bool(od::value value, std::string_view name, std::optional<bool>& out) {
    std::string_view token = Token(value);
    od::json_type type;
    if (!Type(value, type)) return false;
    if (type == od::json_type::boolean) {
      bool b;
      if (auto e = value.get_bool().get(b)) return FailJson(e);
      out = b;
      return true;
    }
    if (!Skip(value, 1)) return false;
    if (type == od::json_type::null) {
      out.reset();
      return true;
    }
    return Fail(Cat("\"", name, "\" must be true or false, got ", Shown(type, token)));
  }

  // An integer in [min, max], or nullopt for null. `what` completes "must be ...".
  bool Integer(od::value value, std::string_view name, int64_t min, int64_t max,
               std::string_view what, std::optional<int64_t>& out) {
    std::string_view token = Token(value);
    od::json_type type;
    if (!Type(value, type)) return false;
    if (!Skip(value, 1)) return false;
    if (type == od::json_type::null) {
      out.reset();
      return true;
    }
    auto bad = [&] { return Fail(Cat("\"", name, "\" must be ", what, ", got ", token)); };
    if (type != od::json_type::number) {
      return Fail(Cat("\"", name, "\" must be ", what, ", got ", Shown(type, token)));
    }
    if (!IsIntegerToken(token)) return bad();
    int64_t v = 0;
    auto r = std::from_chars(token.data(), token.data() + token.size(), v);
    if (r.ec == std::errc::result_out_of_range) {
      return token.front() == '-'
                 ? bad()
                 : Fail(Cat("\"", name, "\" is ", token, ", above the limit of ", max));
    }
    if (v < min) return bad();
    if (v > max) return Fail(Cat("\"", name, "\" is ", v, ", above the limit of ", max));
    out = v;
    return true;
  }

  // The mock's CountContent(): strings count their (unescaped) bytes, integers one token,
  // arrays their members, objects their "text" string and their "content".
  bool CountText(od::value value, int depth, TextCount& count) {
    if (!Depth(depth)) return false;
    std::string_view token = Token(value);
    od::json_type type;
    if (!Type(value, type)) return false;
    switch (type) {
      case od::json_type::string: {
        std::string_view s;
        if (auto e = value.get_string().get(s)) return FailJson(e);
        count.bytes += s.size();
        return true;
      }
      case od::json_type::number:
        if (!IsJsonNumber(token)) return FailJson(simdjson::NUMBER_ERROR);
        if (FitsInteger64(token)) ++count.int_tokens;
        return true;
      case od::json_type::array: {
        od::array array;
        if (auto e = value.get_array().get(array)) return FailJson(e);
        for (auto element : array) {
          od::value item;
          if (auto e = std::move(element).get(item)) return FailJson(e);
          if (!CountText(item, depth + 1, count)) return false;
        }
        return true;
      }
      case od::json_type::object: {
        od::object object;
        if (auto e = value.get_object().get(object)) return FailJson(e);
        for (auto member : object) {
          od::field field;
          if (auto e = std::move(member).get(field)) return FailJson(e);
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return FailJson(e);
          bool ok;
          if (key == "content") {
            ok = CountText(field.value(), depth + 1, count);
          } else if (key == "text") {
            od::value text = field.value();
            od::json_type text_type;
            if (!Type(text, text_type)) return false;
            ok = text_type == od::json_type::string ? CountText(text, depth + 1, count)
                                                    : Skip(text, depth + 1);
          } else {
            ok = Skip(field.value(), depth + 1);
          }
          if (!ok) return false;
        }
        return true;
      }
      default:
        return Skip(value, depth);
    }
  }

  // How a value is shown in a message: short scalars as written, containers by kind.
  static std::string Shown(od::json_type type, std::string_view token) {
    if (type == od::json_type::object) return "an object";
    if (type == od::json_type::array) return "an array";
    if (token.size() > 40) return Cat(token.substr(0, 37), "...");
    return std::string(token);
  }

 private:
  const char* const base_;
  absl::Status status_;
  error_code json_error_ = simdjson::SUCCESS;
  size_t last_offset_ = 0;
};

// --- Request inspection -----------------------------------------------------------------------

enum class Field {
  kOther,
  kModel,
  kStream,
  kStreamOptions,
  kMaxTokens,
  kMaxCompletionTokens,
  kMaxOutputTokens,
  kN,
  kBestOf,
  kMessages,
  kSystem,
  kPrompt,
  kInput,
  kInstructions,
};

// The fields each route reads; any other key is only validated.
Field FieldFor(Route route, std::string_view key) {
  const bool chat = route == Route::kChatCompletions;
  const bool completions = route == Route::kCompletions;
  const bool responses = route == Route::kResponses;
  const bool messages = route == Route::kMessages;
  const bool streams = chat || completions || responses || messages;
  if (key == "model") return Field::kModel;
  if (key == "messages" && (chat || messages)) return Field::kMessages;
  if (key == "stream" && streams) return Field::kStream;
  if (key == "stream_options" && (chat || completions)) return Field::kStreamOptions;
  if (key == "max_tokens" && (chat || completions || messages)) return Field::kMaxTokens;
  if (key == "max_completion_tokens" && chat) return Field::kMaxCompletionTokens;
  if (key == "max_output_tokens" && responses) return Field::kMaxOutputTokens;
  if (key == "n" && (chat || completions)) return Field::kN;
  if (key == "best_of" && completions) return Field::kBestOf;
  if (key == "system" && messages) return Field::kSystem;
  if (key == "prompt" && completions) return Field::kPrompt;
  if (key == "input" && (responses || route == Route::kEmbeddings)) return Field::kInput;
  if (key == "instructions" && responses) return Field::kInstructions;
  return Field::kOther;
}

// Where stream_options sits in the body, for the include_usage splice.
struct StreamOptionsSpan {
  bool present = false;
  bool is_null = false;
  size_t offset = 0;  // of '{' or of `null`
  bool has_members = false;
  bool include_usage_present = false;
  std::optional<bool> include_usage;  // nullopt: null
  size_t include_usage_offset = 0;
  size_t include_usage_length = 0;
};

bool ReadStreamOptions(Reader& r, od::value value, StreamOptionsSpan& span) {
  std::string_view token = r.Token(value);
  od::json_type type;
  if (!r.Type(value, type)) return false;
  span.present = true;
  span.offset = r.Offset(token);
  if (type == od::json_type::null) {
    span.is_null = true;
    return r.Skip(value, 1);
  }
  if (type != od::json_type::object) {
    if (!r.Skip(value, 1)) return false;
    return r.Fail(Cat("\"stream_options\" must be an object, got ", Reader::Shown(type, token)));
  }
  od::object object;
  if (auto e = value.get_object().get(object)) return r.FailJson(e);
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return r.FailJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return r.FailJson(e);
    span.has_members = true;
    if (key != "include_usage") {
      if (!r.Skip(field.value(), 2)) return false;
      continue;
    }
    if (span.include_usage_present) {
      return r.Fail("duplicate key \"stream_options.include_usage\" in the request body");
    }
    span.include_usage_present = true;
    od::value v = field.value();
    std::string_view v_token = r.Token(v);
    span.include_usage_offset = r.Offset(v_token);
    span.include_usage_length = v_token.size();
    if (!r.Bool(v, "stream_options.include_usage", span.include_usage)) return false;
  }
  return true;
}

std::string Splice(std::string_view body, size_t at, size_t erase, std::string_view insert) {
  std::string out;
  out.reserve(body.size() - erase + insert.size());
  out.append(body.substr(0, at)).append(insert).append(body.substr(at + erase));
  return out;
}

std::string_view FieldName(Field field) {
  switch (field) {
    case Field::kModel:
      return "model";
    case Field::kStream:
      return "stream";
    case Field::kStreamOptions:
      return "stream_options";
    case Field::kMaxTokens:
      return "max_tokens";
    case Field::kMaxCompletionTokens:
      return "max_completion_tokens";
    case Field::kMaxOutputTokens:
      return "max_output_tokens";
    case Field::kN:
      return "n";
    case Field::kBestOf:
      return "best_of";
    case Field::kMessages:
      return "messages";
    case Field::kSystem:
      return "system";
    case Field::kPrompt:
      return "prompt";
    case Field::kInput:
      return "input";
    case Field::kInstructions:
      return "instructions";
    case Field::kOther:
      break;
  }
  return "";
}

// --- Error bodies ------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t Utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  unsigned char c = byte(i);
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8Length(s, i);
      if (n == 0) {
        out.append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

// --- Stream events ---------------------------------------------------------------------------

// A token count in a streamed usage object: a non-negative integer up to Usage::kMaxTokens;
// null counts as absent. False (and the event is malformed) otherwise.
bool ReadCount(Reader& r, od::value value, std::optional<int64_t>& out) {
  return r.Integer(value, "usage", 0, Usage::kMaxTokens, "a token count", out);
}

// Anthropic usage counts as reported (absent ones stay nullopt).
struct AnthropicCounts {
  bool present = false;
  std::optional<int64_t> input;
  std::optional<int64_t> output;
  std::optional<int64_t> cache_read;
  std::optional<int64_t> cache_write;
  std::optional<int64_t> cache_write_5m;
  std::optional<int64_t> cache_write_1h;
};

bool ReadAnthropicUsage(Reader& r, od::value value, AnthropicCounts& counts) {
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type == od::json_type::null) return r.Skip(value, 2);
  if (type != od::json_type::object) {
    r.Skip(value, 2);
    return r.Fail("usage is not an object");
  }
  counts.present = true;
  od::object object;
  if (auto e = value.get_object().get(object)) return r.FailJson(e);
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return r.FailJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return r.FailJson(e);
    bool ok;
    if (key == "input_tokens") {
      ok = ReadCount(r, field.value(), counts.input);
    } else if (key == "output_tokens") {
      ok = ReadCount(r, field.value(), counts.output);
    } else if (key == "cache_read_input_tokens") {
      ok = ReadCount(r, field.value(), counts.cache_read);
    } else if (key == "cache_creation_input_tokens") {
      ok = ReadCount(r, field.value(), counts.cache_write);
    } else if (key == "cache_creation") {
      // Newer bodies may carry only the per-TTL breakdown.
      od::value detail = field.value();
      od::json_type detail_type;
      if (!r.Type(detail, detail_type)) return false;
      if (detail_type != od::json_type::object) {
        ok = r.Skip(detail, 3);
      } else {
        od::object detail_object;
        if (auto e = detail.get_object().get(detail_object)) return r.FailJson(e);
        ok = true;
        for (auto item : detail_object) {
          od::field f;
          if (auto e = std::move(item).get(f)) return r.FailJson(e);
          std::string_view k;
          if (auto e = f.unescaped_key().get(k)) return r.FailJson(e);
          if (k == "ephemeral_5m_input_tokens") {
            ok = ReadCount(r, f.value(), counts.cache_write_5m);
          } else if (k == "ephemeral_1h_input_tokens") {
            ok = ReadCount(r, f.value(), counts.cache_write_1h);
          } else {
            ok = r.Skip(f.value(), 4);
          }
          if (!ok) break;
        }
      }
    } else {
      ok = r.Skip(field.value(), 3);
    }
    if (!ok) return false;
  }
  if (!counts.cache_write.has_value() &&
      (counts.cache_write_5m.has_value() || counts.cache_write_1h.has_value())) {
    counts.cache_write = counts.cache_write_5m.value_or(0) + counts.cache_write_1h.value_or(0);
  }
  return true;
}

// Error details of an "error" object ({"type"/"code", "message"}), or a bare string.
bool ReadError(Reader& r, od::value value, std::string& out) {
  std::string_view token = r.Token(value);
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type == od::json_type::string) {
    std::optional<std::string_view> s;
    if (!r.String(value, "error", s)) return false;
    out = std::string(s.value_or(""));
    return true;
  }
  if (type != od::json_type::object) {
    if (!r.Skip(value, 2)) return false;
    out = std::string(token);
    return true;
  }
  std::string_view message;
  std::string_view kind;
  od::object object;
  if (auto e = value.get_object().get(object)) return r.FailJson(e);
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return r.FailJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return r.FailJson(e);
    if (key == "message" || key == "type" || key == "code") {
      od::value v = field.value();
      od::json_type t;
      if (!r.Type(v, t)) return false;
      if (t == od::json_type::string) {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return r.FailJson(e);
        (key == "message" ? message : kind) = s;
        continue;
      }
      if (!r.Skip(v, 3)) return false;
      continue;
    }
    if (!r.Skip(field.value(), 3)) return false;
  }
  if (!kind.empty() && !message.empty()) {
    out = Cat(kind, ": ", message);
  } else if (!message.empty() || !kind.empty()) {
    out = std::string(message.empty() ? kind : message);
  } else {
    out = "error event without a message";
  }
  return true;
}

// Iterates the members of the object `value`, calling fn(key, value) -> bool.
template <typename Fn>
bool ForEachMember(Reader& r, od::value value, int depth, Fn&& fn) {
  if (!r.Depth(depth)) return false;
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type != od::json_type::object) return r.Skip(value, depth);
  od::object object;
  if (auto e = value.get_object().get(object)) return r.FailJson(e);
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return r.FailJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return r.FailJson(e);
    if (!fn(key, field.value())) return false;
  }
  return true;
}

// Iterates the members of the array `value`, calling fn(value) -> bool.
template <typename Fn>
bool ForEachElement(Reader& r, od::value value, int depth, Fn&& fn) {
  if (!r.Depth(depth)) return false;
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type != od::json_type::array) return r.Skip(value, depth);
  od::array array;
  if (auto e = value.get_array().get(array)) return r.FailJson(e);
  for (auto element : array) {
    od::value item;
    if (auto e = std::move(element).get(item)) return r.FailJson(e);
    if (!fn(item)) return false;
  }
  return true;
}

// Adds the byte length of a string value (null and other types: validated, not counted).
bool AddTextBytes(Reader& r, od::value value, int depth, int64_t& bytes) {
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type != od::json_type::string) return r.Skip(value, depth);
  std::string_view s;
  if (auto e = value.get_string().get(s)) return r.FailJson(e);
  bytes += static_cast<int64_t>(s.size());
  return true;
}

// A string the meter reads for information only: another type is validated and ignored (an
// odd model or finish_reason must not turn an event with usage into a malformed one).
bool StringOrSkip(Reader& r, od::value value, int depth, std::string_view& out) {
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type != od::json_type::string) return r.Skip(value, depth);
  if (auto e = value.get_string().get(out)) return r.FailJson(e);
  return true;
}

// The raw text of an object value (for ParseProviderResponse), empty for null; other types
// are an error.
bool RawObject(Reader& r, od::value value, std::string_view& raw) {
  od::json_type type;
  if (!r.Type(value, type)) return false;
  if (type == od::json_type::null) return r.Skip(value, 2);
  if (type != od::json_type::object) {
    r.Skip(value, 2);
    return r.Fail("usage is not an object");
  }
  od::object object;
  if (auto e = value.get_object().get(object)) return r.FailJson(e);
  if (auto e = object.raw_json().get(raw)) return r.FailJson(e);
  return true;
}

// Normalised usage of an OpenAI usage object (chat/completions or Responses shape), read by
// the same parser as non-streamed answers.
std::optional<Usage> ParseOpenAIUsage(std::string_view raw) {
  std::string body;
  body.reserve(raw.size() + 10);
  body.append("{\"usage\":").append(raw).push_back('}');
  absl::StatusOr<ParsedResponse> parsed = ParseProviderResponse("openai", body);
  if (!parsed.ok() || !parsed->has_usage) return std::nullopt;
  return parsed->usage;
}

bool IsResponsesTextDelta(std::string_view type) {
  return type == "response.output_text.delta" || type == "response.refusal.delta" ||
         type == "response.function_call_arguments.delta" ||
         type == "response.reasoning_summary_text.delta" || type == "response.reasoning_text.delta";
}

// What a document that is not an object is ("an array", "a string", ...), or "" when it is
// not valid JSON either (a root scalar is validated here; "nope" is not a literal).
std::string_view RootScalarKind(od::document& doc, od::json_type type) {
  switch (type) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "";
    case od::json_type::string: {
      std::string_view s;
      return doc.get_string().get(s) == simdjson::SUCCESS ? "a string" : "";
    }
    case od::json_type::number: {
      std::string_view token;
      if (doc.raw_json_token().get(token) != simdjson::SUCCESS) return "";
      return IsJsonNumber(TrimTrailingSpace(token)) ? "a number" : "";
    }
    case od::json_type::boolean: {
      bool b;
      return doc.get_bool().get(b) == simdjson::SUCCESS ? "a boolean" : "";
    }
    case od::json_type::null: {
      bool is_null = false;
      return doc.is_null().get(is_null) == simdjson::SUCCESS && is_null ? "null" : "";
    }
  }
  return "";
}

// --- Usage projection of non-streamed answers ---------------------------------------------

// What UsageProjection() keeps of an object member: the member itself (`members` empty: its
// value as written), or an object value reduced to `members` (`elements`: an array whose object
// elements are reduced to `members`). A member of another type than expected is kept as written,
// so ParseProviderResponse() reports it exactly as it would in the whole body.
struct Projection {
  std::string_view key;
  std::span<const Projection> members{};
  bool elements = false;
};

constexpr Projection kCachedTokens[] = {{"cached_tokens"}};
constexpr Projection kReasoningTokens[] = {{"reasoning_tokens"}};
// Every member of `usage` that ParseOpenAI() (src/core/usage_parser.cc) reads.
constexpr Projection kOpenAIUsageMembers[] = {
    {"input_tokens"},
    {"output_tokens"},
    {"input_tokens_details", kCachedTokens},
    {"output_tokens_details", kReasoningTokens},
    {"prompt_tokens"},
    {"completion_tokens"},
    {"prompt_tokens_details", kCachedTokens},
    {"prompt_cache_hit_tokens"},
    {"completion_tokens_details", kReasoningTokens},
    {"total_tokens"},
};
constexpr Projection kFinishReason[] = {{"finish_reason"}};
constexpr Projection kReason[] = {{"reason"}};
constexpr Projection kOpenAITop[] = {
    {"id"},
    {"model"},
    {"object"},
    {"status"},
    {"incomplete_details", kReason},
    {"choices", kFinishReason, /*elements=*/true},
    {"usage", kOpenAIUsageMembers},
};
// Every member ParseAnthropic() reads.
constexpr Projection kAnthropicCacheCreation[] = {{"ephemeral_5m_input_tokens"},
                                                  {"ephemeral_1h_input_tokens"}};
constexpr Projection kAnthropicUsageMembers[] = {
    {"input_tokens"},
    {"output_tokens"},
    {"cache_read_input_tokens"},
    {"cache_creation_input_tokens"},
    {"cache_creation", kAnthropicCacheCreation},
};
constexpr Projection kAnthropicTop[] = {
    {"id"},
    {"model"},
    {"stop_reason"},
    {"usage", kAnthropicUsageMembers},
};

// Deeper bodies are left to ParseProviderResponse() (which refuses more than 64 levels).
constexpr int kMaxProjectionDepth = 32;

// Walks an answer with simdjson On-Demand, validating every value the way nlohmann would
// accept it, and writes the projected members. Any doubt (an error, a number nlohmann would
// reject or read differently, a very deep body) fails the walk: the caller then parses the
// whole body, which gives the same result or the same error as before.
class Projector {
 public:
  explicit Projector(std::string& out) : out_(out) {}

  // A member list of an object value.
  bool Object(od::value value, int depth, std::span<const Projection> spec) {
    if (depth > kMaxProjectionDepth) return false;
    od::object object;
    if (value.get_object().get(object) != simdjson::SUCCESS) return false;
    out_.push_back('{');
    bool first = true;
    for (auto member : object) {
      od::field field;
      std::string_view key;
      if (!ReadMember(std::move(member), field, key)) return false;
      const Projection* kept = nullptr;
      for (const Projection& p : spec) {
        if (p.key == key) {
          kept = &p;
          break;
        }
      }
      if (kept == nullptr) {
        if (!Value(field.value(), depth + 1, /*emit=*/false)) return false;
        continue;
      }
      if (!first) out_.push_back(',');
      first = false;
      out_.push_back('"');
      out_.append(kept->key);  // plain ASCII, equal to the (unescaped) key
      out_.append("\":");
      if (!Member(field.value(), depth + 1, *kept)) return false;
    }
    out_.push_back('}');
    return true;
  }

 private:
  // One member of an object being iterated, its key unescaped; false when malformed.
  template <typename IteratedMember>
  static bool ReadMember(IteratedMember&& member, od::field& field, std::string_view& key) {
    return std::forward<IteratedMember>(member).get(field) == simdjson::SUCCESS &&
           field.unescaped_key().get(key) == simdjson::SUCCESS;
  }

  bool Member(od::value value, int depth, const Projection& p) {
    if (p.members.empty()) return Value(value, depth, /*emit=*/true);
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return false;
    if (!p.elements) {
      return type == od::json_type::object ? Object(value, depth, p.members)
                                           : Value(value, depth, /*emit=*/true);
    }
    if (type != od::json_type::array) return Value(value, depth, /*emit=*/true);
    if (depth > kMaxProjectionDepth) return false;
    od::array array;
    if (value.get_array().get(array) != simdjson::SUCCESS) return false;
    out_.push_back('[');
    bool first = true;
    for (auto element : array) {
      od::value item;
      od::json_type item_type;
      if (std::move(element).get(item) != simdjson::SUCCESS ||
          item.type().get(item_type) != simdjson::SUCCESS) {
        return false;
      }
      if (!first) out_.push_back(',');
      first = false;
      bool ok = item_type == od::json_type::object ? Object(item, depth + 1, p.members)
                                                   : Value(item, depth + 1, /*emit=*/true);
      if (!ok) return false;
    }
    out_.push_back(']');
    return true;
  }

  // Validates any value; appends it when `emit` (scalars as written, containers rebuilt).
  bool Value(od::value value, int depth, bool emit) {
    if (depth > kMaxProjectionDepth) return false;
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return false;
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (value.get_object().get(object) != simdjson::SUCCESS) return false;
        if (emit) out_.push_back('{');
        bool first = true;
        for (auto member : object) {
          od::field field;
          std::string_view key;
          if (!ReadMember(std::move(member), field, key)) return false;
          if (emit) {
            if (!first) out_.push_back(',');
            AppendJsonString(out_, key);
            out_.push_back(':');
          }
          first = false;
          if (!Value(field.value(), depth + 1, emit)) return false;
        }
        if (emit) out_.push_back('}');
        return true;
      }
      case od::json_type::array: {
        od::array array;
        if (value.get_array().get(array) != simdjson::SUCCESS) return false;
        if (emit) out_.push_back('[');
        bool first = true;
        for (auto element : array) {
          od::value item;
          if (std::move(element).get(item) != simdjson::SUCCESS) return false;
          if (emit && !first) out_.push_back(',');
          first = false;
          if (!Value(item, depth + 1, emit)) return false;
        }
        if (emit) out_.push_back(']');
        return true;
      }
      case od::json_type::string: {
        std::string_view token = TrimTrailingSpace(value.raw_json_token());
        std::string_view s;  // validates the escapes (iterate() checked UTF-8 and controls)
        if (value.get_string().get(s) != simdjson::SUCCESS) return false;
        if (emit) out_.append(token);
        return true;
      }
      case od::json_type::number: {
        std::string_view token = TrimTrailingSpace(value.raw_json_token());
        if (!IsJsonNumber(token)) return false;
        if (!FitsInteger64(token)) {
          // nlohmann reads it as a double and refuses one that overflows; leave anything
          // out of range (overflow or underflow) to it.
          double d = 0;
          auto r = std::from_chars(token.data(), token.data() + token.size(), d);
          if (r.ec != std::errc() || !std::isfinite(d)) return false;
        }
        if (emit) out_.append(token);
        return true;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (value.get_bool().get(b) != simdjson::SUCCESS) return false;
        if (emit) out_.append(b ? "true" : "false");
        return true;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return false;
        if (emit) out_.append("null");
        return true;
      }
    }
    return false;
  }

  std::string& out_;
};

}  // namespace

// --- Routes ------------------------------------------------------------------------------------

std::optional<RouteInfo> MatchRoute(std::string_view method, std::string_view path) {
  for (const RouteEntry& entry : kRouteTable) {
    if (entry.path == path) {
      if (entry.method == method) return entry.info;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

bool IsKnownPath(std::string_view path) {
  for (const RouteEntry& entry : kRouteTable) {
    if (entry.path == path) return true;
  }
  return false;
}

std::string_view RoutePath(Route route) {
  for (const RouteEntry& entry : kRouteTable) {
    if (entry.info.route == route) return entry.path;
  }
  return "";
}

std::string_view UsageParserProvider(ApiFamily family) {
  return family == ApiFamily::kAnthropic ? "anthropic" : "openai";
}

std::optional<std::string> UsageProjection(ApiFamily family, std::string_view body) {
  // Escaped surrogates: nlohmann refuses unpaired ones, simdjson's rules differ in details.
  for (size_t at = body.find("\\u"); at != std::string_view::npos; at = body.find("\\u", at + 2)) {
    if (at + 2 < body.size() && (body[at + 2] == 'd' || body[at + 2] == 'D')) return std::nullopt;
  }
  thread_local std::string buffer;
  simdjson::padded_string_view padded = Pad(body, buffer);
  struct ShrinkLater {  // a huge body must not stay in the thread's buffer
    std::string& b;
    ~ShrinkLater() {
      if (b.capacity() > kLargeDocument) std::string().swap(b);
    }
  } shrink{buffer};
  ParserLease parser(body.size());
  od::document doc;
  od::value top;
  od::json_type type;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_value().get(top) != simdjson::SUCCESS || top.type().get(type) != simdjson::SUCCESS ||
      type != od::json_type::object) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(384);
  Projector projector(out);
  const std::span<const Projection> spec = family == ApiFamily::kAnthropic
                                               ? std::span<const Projection>(kAnthropicTop)
                                               : std::span<const Projection>(kOpenAITop);
  if (!projector.Object(top, 1, spec)) return std::nullopt;
  if (const char* rest; doc.current_location().get(rest) == simdjson::SUCCESS) {
    return std::nullopt;  // content after the top-level object
  }
  return out;
}

// --- InspectRequest ----------------------------------------------------------------------------

absl::StatusOr<InspectedRequest> InspectRequest(const RouteInfo& route, std::string_view body) {
  InspectedRequest out;
  if (!route.metered) {
    out.forward_body = std::string(body);
    return out;
  }
  const std::string_view route_path = RoutePath(route.route);
  if (TrimTrailingSpace(body).find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("the request body is empty; ", route_path, " expects a JSON object"));
  }

  thread_local std::string buffer;
  simdjson::padded_string_view padded = Pad(body, buffer);
  struct ShrinkLater {  // a huge body must not stay in the thread's buffer
    std::string& b;
    ~ShrinkLater() {
      if (b.capacity() > kLargeDocument) std::string().swap(b);
    }
  } shrink{buffer};
  ParserLease parser(body.size());
  Reader r(buffer.data());
  od::document doc;
  if (auto e = parser->iterate(padded).get(doc)) {
    return absl::InvalidArgumentError(
        Cat("the request body is not valid JSON: ", simdjson::error_message(e)));
  }
  od::object top;
  if (auto e = doc.get_object().get(top)) {
    od::json_type type;
    if (e == simdjson::INCORRECT_TYPE && doc.type().get(type) == simdjson::SUCCESS) {
      std::string_view what = RootScalarKind(doc, type);
      if (!what.empty()) {
        return absl::InvalidArgumentError(
            Cat("the request body must be a JSON object, got ", what));
      }
      e = simdjson::TAPE_ERROR;
    }
    return absl::InvalidArgumentError(
        Cat("the request body is not valid JSON: ", simdjson::error_message(e)));
  }

  const bool chat = route.route == Route::kChatCompletions;
  const bool completions = route.route == Route::kCompletions;
  uint32_t seen = 0;
  bool has_members = false;
  bool model_given = false;
  bool messages_given = false;
  std::optional<int64_t> max_tokens;
  std::optional<int64_t> max_completion_tokens;
  std::optional<int64_t> n;
  std::optional<int64_t> best_of;
  StreamOptionsSpan stream_options;
  TextCount text;

  for (auto member : top) {
    od::field field;
    if (auto e = std::move(member).get(field)) {
      r.FailJson(e);
      break;
    }
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      r.FailJson(e);
      break;
    }
    has_members = true;
    const Field which = FieldFor(route.route, key);
    if (which != Field::kOther) {
      const uint32_t bit = 1u << static_cast<uint32_t>(which);
      if ((seen & bit) != 0) {
        r.Fail(Cat("duplicate key \"", FieldName(which),
                   "\" in the request body (the provider and the gateway could read different "
                   "values); send it once"));
        break;
      }
      seen |= bit;
    }
    od::value value = field.value();
    bool ok = true;
    switch (which) {
      case Field::kOther:
        ok = r.Skip(value, 2);
        break;
      case Field::kModel: {
        std::string_view token = r.Token(value);
        od::json_type type;
        if (!r.Type(value, type)) {
          ok = false;
          break;
        }
        std::optional<std::string_view> model;
        if (type != od::json_type::string && type != od::json_type::null) {
          ok = r.Skip(value, 2) &&
               r.Fail(Cat("\"model\" must be a non-empty string naming the model, got ",
                          Reader::Shown(type, token)));
          break;
        }
        ok = r.String(value, "model", model);
        if (ok && model.has_value()) {
          model_given = true;
          out.model = std::string(*model);
        }
        break;
      }
      case Field::kStream: {
        std::optional<bool> stream;
        ok = r.Bool(value, "stream", stream);
        out.stream = stream.value_or(false);
        break;
      }
      case Field::kStreamOptions:
        ok = ReadStreamOptions(r, value, stream_options);
        break;
      case Field::kMaxTokens:
        ok = r.Integer(value, "max_tokens", 0, kMaxOutputTokenLimit, "a non-negative integer",
                       max_tokens);
        break;
      case Field::kMaxCompletionTokens:
        ok = r.Integer(value, "max_completion_tokens", 0, kMaxOutputTokenLimit,
                       "a non-negative integer", max_completion_tokens);
        break;
      case Field::kMaxOutputTokens:
        ok = r.Integer(value, "max_output_tokens", 0, kMaxOutputTokenLimit,
                       "a non-negative integer", out.max_output_tokens);
        break;
      case Field::kN:
        ok = r.Integer(value, "n", 1, kMaxCompletionCount,
                       Cat("an integer from 1 to ", kMaxCompletionCount), n);
        break;
      case Field::kBestOf:
        ok = r.Integer(value, "best_of", 1, kMaxCompletionCount,
                       Cat("an integer from 1 to ", kMaxCompletionCount), best_of);
        break;
      case Field::kMessages: {
        std::string_view token = r.Token(value);
        od::json_type type;
        if (!r.Type(value, type)) {
          ok = false;
          break;
        }
        if (type == od::json_type::null) {
          ok = r.Skip(value, 2);
          break;
        }
        if (type != od::json_type::array) {
          ok = r.Skip(value, 2) && r.Fail(Cat("\"messages\" must be an array of messages, got ",
                                              Reader::Shown(type, token)));
          break;
        }
        messages_given = true;
        ok = ForEachElement(r, value, 2, [&](od::value message) {
          return ForEachMember(r, message, 3, [&](std::string_view k, od::value v) {
            return k == "content" ? r.CountText(v, 4, text) : r.Skip(v, 4);
          });
        });
        break;
      }
      case Field::kSystem:
      case Field::kPrompt:
      case Field::kInput:
      case Field::kInstructions:
        ok = r.CountText(value, 2, text);
        break;
    }
    if (!ok) break;
  }
  if (!r.ok()) return r.RequestStatus();
  if (const char* rest; doc.current_location().get(rest) == simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("the request body is not valid JSON: unexpected content after the top-level object "
            "at byte ",
            rest - buffer.data()));
  }

  // What is required.
  if (!model_given || out.model.empty()) {
    return absl::InvalidArgumentError(
        Cat("\"model\" is required: ", route_path, " needs a non-empty string naming the model"));
  }
  if (!messages_given && (chat || route.route == Route::kMessages)) {
    return absl::InvalidArgumentError(
        Cat("\"messages\" is required: ", route_path, " needs an array of messages"));
  }
  switch (route.route) {
    case Route::kChatCompletions:
      out.max_output_tokens =
          max_completion_tokens.has_value() ? max_completion_tokens : max_tokens;
      break;
    case Route::kCompletions:
      out.max_output_tokens = max_tokens;
      break;
    case Route::kMessages:
      if (!max_tokens.has_value()) {
        return absl::InvalidArgumentError(
            "\"max_tokens\" is required: the Anthropic Messages API needs the output limit (a "
            "non-negative integer)");
      }
      out.max_output_tokens = max_tokens;
      break;
    default:
      break;
  }
  out.completion_count = std::max(n.value_or(1), best_of.value_or(1));
  int64_t tokens = static_cast<int64_t>((text.bytes + 3) / 4) + text.int_tokens;
  out.estimated_input_tokens = std::max<int64_t>(1, tokens);

  // Streaming usage for OpenAI chat/completions.
  if (out.stream && (chat || completions)) {
    constexpr std::string_view kMember = "\"include_usage\":true";
    if (stream_options.include_usage == true) {
      out.client_requested_stream_usage = true;
    } else if (stream_options.include_usage_present) {  // false or null: set it to true
      out.forward_body = Splice(body, stream_options.include_usage_offset,
                                stream_options.include_usage_length, "true");
      out.body_rewritten = true;
    } else if (stream_options.present && !stream_options.is_null) {
      out.forward_body =
          Splice(body, stream_options.offset + 1, 0,
                 stream_options.has_members ? Cat(kMember, ",") : std::string(kMember));
      out.body_rewritten = true;
    } else if (stream_options.present) {  // "stream_options": null
      out.forward_body = Splice(body, stream_options.offset, 4, Cat("{", kMember, "}"));
      out.body_rewritten = true;
    } else {
      size_t close = TrimTrailingSpace(body).size() - 1;  // the top-level '}'
      out.forward_body =
          Splice(body, close, 0, Cat(has_members ? "," : "", "\"stream_options\":{", kMember, "}"));
      out.body_rewritten = true;
    }
  }
  if (!out.body_rewritten) out.forward_body = std::string(body);
  return out;
}

// --- ErrorBody ---------------------------------------------------------------------------------

std::string ErrorBody(ApiFamily family, std::string_view type, std::string_view code,
                      std::string_view message) {
  std::string out;
  out.reserve(message.size() + type.size() + code.size() + 64);
  if (family == ApiFamily::kAnthropic) {
    const bool genops_code = code.substr(0, 7) == "genops_";
    out.append("{\"type\":\"error\",\"error\":{\"type\":");
    AppendJsonString(out, genops_code ? code : type);
    out.append(",\"message\":");
    AppendJsonString(out, message);
    out.append("}}");
    return out;
  }
  out.append("{\"error\":{\"message\":");
  AppendJsonString(out, message);
  out.append(",\"type\":");
  AppendJsonString(out, type);
  out.append(",\"param\":null,\"code\":");
  if (code.empty()) {
    out.append("null");
  } else {
    AppendJsonString(out, code);
  }
  out.append("}}");
  return out;
}

// --- StreamMeter -------------------------------------------------------------------------------

StreamMeter::StreamMeter(RouteInfo route, bool strip_usage_chunk)
    : route_(route),
      strip_usage_chunk_(strip_usage_chunk && (route.route == Route::kChatCompletions ||
                                               route.route == Route::kCompletions)) {}

absl::StatusOr<std::string> StreamMeter::Feed(std::string_view chunk) {
  std::string out;
  if (!bom_decided_) {
    // The parser drops a leading BOM from the blocks it reports; forward it ourselves.
    size_t i = 0;
    while (i < chunk.size() && bom_matched_ < kBom.size() && chunk[i] == kBom[bom_matched_]) {
      ++i;
      ++bom_matched_;
    }
    if (bom_matched_ == kBom.size()) {
      bom_decided_ = true;
      out.append(kBom);
    } else if (i < chunk.size()) {
      bom_decided_ = true;  // not a BOM: the parser replays the held bytes into the first block
      bom_matched_ = 0;
    }
  }
  absl::Status status = parser_.Feed(chunk, &events_);
  DrainEvents(out);
  if (!status.ok()) {
    finished_ = true;
    return status;
  }
  return out;
}

std::string StreamMeter::Finish() {
  std::string out;
  if (finished_) return out;
  finished_ = true;
  if (!bom_decided_) out.append(kBom.substr(0, bom_matched_));
  parser_.Finish(&events_);
  DrainEvents(out);
  if (parser_.HasPartialBlock()) out.append(parser_.partial_block());
  return out;
}

void StreamMeter::DrainEvents(std::string& out) {
  for (const SseEvent& event : events_) {
    if (Inspect(event)) out.append(event.raw);
  }
  events_.clear();
}

bool StreamMeter::Inspect(const SseEvent& event) {
  if (!event.has_data) return true;
  switch (route_.route) {
    case Route::kChatCompletions:
    case Route::kCompletions:
      return InspectOpenAI(event.data);
    case Route::kResponses:
      InspectResponses(event.data, event.type);
      return true;
    case Route::kMessages:
      InspectAnthropic(event.data, event.type);
      return true;
    case Route::kEmbeddings:
    case Route::kModels:
      return true;
  }
  return true;
}

bool StreamMeter::InspectOpenAI(std::string_view data) {
  if (data == "[DONE]") {
    completed_ = true;
    return true;
  }
  simdjson::padded_string_view padded = Pad(data, scratch_);
  ParserLease parser(data.size());
  Reader r(scratch_.data());
  od::document doc;
  od::object top;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(top) != simdjson::SUCCESS) {
    ++malformed_events_;
    return true;
  }
  std::string_view model;
  bool choices_empty = false;
  bool has_choices = false;
  std::string_view usage_raw;
  std::optional<std::string> error;
  int64_t text_bytes = 0;
  std::vector<std::string_view> reasons;
  for (auto member : top) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      r.FailJson(simdjson::TAPE_ERROR);
      break;
    }
    od::value value = field.value();
    bool ok;
    if (key == "choices") {
      has_choices = true;
      choices_empty = true;
      ok = ForEachElement(r, value, 2, [&](od::value choice) {
        choices_empty = false;
        return ForEachMember(r, choice, 3, [&](std::string_view k, od::value v) {
          if (k == "delta") {
            return ForEachMember(r, v, 4, [&](std::string_view dk, od::value dv) {
              if (dk == "content" || dk == "refusal" || dk == "reasoning_content") {
                return AddTextBytes(r, dv, 5, text_bytes);
              }
              if (dk == "tool_calls") {
                return ForEachElement(r, dv, 5, [&](od::value call) {
                  return ForEachMember(r, call, 6, [&](std::string_view ck, od::value cv) {
                    if (ck != "function") return r.Skip(cv, 7);
                    return ForEachMember(r, cv, 7, [&](std::string_view fk, od::value fv) {
                      return fk == "arguments" ? AddTextBytes(r, fv, 8, text_bytes) : r.Skip(fv, 8);
                    });
                  });
                });
              }
              if (dk == "function_call") {
                return ForEachMember(r, dv, 5, [&](std::string_view fk, od::value fv) {
                  return fk == "arguments" ? AddTextBytes(r, fv, 6, text_bytes) : r.Skip(fv, 6);
                });
              }
              return r.Skip(dv, 5);
            });
          }
          if (k == "text") return AddTextBytes(r, v, 4, text_bytes);
          if (k == "finish_reason") {
            std::string_view reason;
            if (!StringOrSkip(r, v, 4, reason)) return false;
            if (!reason.empty()) reasons.push_back(reason);
            return true;
          }
          return r.Skip(v, 4);
        });
      });
    } else if (key == "model") {
      ok = StringOrSkip(r, value, 2, model);
    } else if (key == "usage") {
      ok = RawObject(r, value, usage_raw);
    } else if (key == "error") {
      error.emplace();
      ok = ReadError(r, value, *error);
    } else {
      ok = r.Skip(value, 2);
    }
    if (!ok) break;
  }
  const char* rest;
  if (!r.ok() || doc.current_location().get(rest) == simdjson::SUCCESS) {
    ++malformed_events_;
    return true;
  }
  if (model_.empty()) model_ = std::string(model);
  generated_text_bytes_ += text_bytes;
  for (std::string_view reason : reasons) finish_reasons_.emplace_back(reason);
  if (error.has_value() && !error_message_.has_value()) error_message_ = std::move(error);
  if (!usage_raw.empty()) {
    std::optional<Usage> usage = ParseOpenAIUsage(usage_raw);
    if (!usage.has_value()) {
      ++malformed_events_;
    } else {
      usage_ = *usage;
      has_usage_ = true;
      reported_output_ = std::max(reported_output_, usage->output_tokens);
    }
    if (strip_usage_chunk_ && has_choices && choices_empty) {
      usage_chunk_stripped_ = true;
      return false;
    }
  }
  return true;
}

void StreamMeter::InspectResponses(std::string_view data, std::string_view sse_type) {
  simdjson::padded_string_view padded = Pad(data, scratch_);
  ParserLease parser(data.size());
  Reader r(scratch_.data());
  od::document doc;
  od::object top;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(top) != simdjson::SUCCESS) {
    ++malformed_events_;
    return;
  }
  std::string_view type;
  int64_t delta_bytes = 0;
  std::string_view model;
  std::string_view status;
  std::string_view incomplete_reason;
  std::string_view usage_raw;
  std::string_view message;
  std::string_view code;
  std::optional<std::string> response_error;
  for (auto member : top) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      r.FailJson(simdjson::TAPE_ERROR);
      break;
    }
    od::value value = field.value();
    bool ok;
    if (key == "type" || key == "message" || key == "code") {
      ok = StringOrSkip(r, value, 2, key == "type" ? type : key == "message" ? message : code);
    } else if (key == "delta") {
      ok = AddTextBytes(r, value, 2, delta_bytes);
    } else if (key == "response") {
      ok = ForEachMember(r, value, 2, [&](std::string_view k, od::value v) {
        if (k == "model" || k == "status") {
          return StringOrSkip(r, v, 3, k == "model" ? model : status);
        }
        if (k == "incomplete_details") {
          return ForEachMember(r, v, 3, [&](std::string_view ik, od::value iv) {
            return ik == "reason" ? StringOrSkip(r, iv, 4, incomplete_reason) : r.Skip(iv, 4);
          });
        }
        if (k == "usage") return RawObject(r, v, usage_raw);
        if (k == "error") {
          od::json_type t;
          if (!r.Type(v, t)) return false;
          if (t == od::json_type::null) return r.Skip(v, 3);
          response_error.emplace();
          return ReadError(r, v, *response_error);
        }
        return r.Skip(v, 3);
      });
    } else {
      ok = r.Skip(value, 2);
    }
    if (!ok) break;
  }
  const char* rest;
  if (!r.ok() || doc.current_location().get(rest) == simdjson::SUCCESS) {
    ++malformed_events_;
    return;
  }
  if (type.empty()) type = sse_type;
  if (IsResponsesTextDelta(type)) generated_text_bytes_ += delta_bytes;
  if (model_.empty()) model_ = std::string(model);
  if (type == "error" && !error_message_.has_value()) {
    error_message_ = !code.empty() && !message.empty() ? Cat(code, ": ", message)
                     : !message.empty()                ? std::string(message)
                     : !code.empty()                   ? std::string(code)
                                                       : std::string("error event");
  }
  const bool terminal =
      type == "response.completed" || type == "response.incomplete" || type == "response.failed";
  if (!terminal) return;
  completed_ = true;
  if (!incomplete_reason.empty()) {
    finish_reasons_.emplace_back(incomplete_reason);
  } else if (!status.empty()) {
    finish_reasons_.emplace_back(status);
  }
  if (type == "response.failed" && !error_message_.has_value()) {
    error_message_ = response_error.value_or("response failed");
  }
  if (!usage_raw.empty()) {
    std::optional<Usage> usage = ParseOpenAIUsage(usage_raw);
    if (!usage.has_value()) {
      ++malformed_events_;
    } else {
      usage_ = *usage;
      has_usage_ = true;
      reported_output_ = std::max(reported_output_, usage->output_tokens);
    }
  }
}

void StreamMeter::InspectAnthropic(std::string_view data, std::string_view sse_type) {
  simdjson::padded_string_view padded = Pad(data, scratch_);
  ParserLease parser(data.size());
  Reader r(scratch_.data());
  od::document doc;
  od::object top;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(top) != simdjson::SUCCESS) {
    ++malformed_events_;
    return;
  }
  std::string_view type;
  std::string_view model;
  std::string_view stop_reason;
  int64_t delta_bytes = 0;
  AnthropicCounts start_usage;  // message.usage (message_start)
  AnthropicCounts usage;        // top-level usage (message_delta)
  std::optional<std::string> error;
  for (auto member : top) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      r.FailJson(simdjson::TAPE_ERROR);
      break;
    }
    od::value value = field.value();
    bool ok;
    if (key == "type") {
      ok = StringOrSkip(r, value, 2, type);
    } else if (key == "message") {
      ok = ForEachMember(r, value, 2, [&](std::string_view k, od::value v) {
        if (k == "model") return StringOrSkip(r, v, 3, model);
        if (k == "usage") return ReadAnthropicUsage(r, v, start_usage);
        return r.Skip(v, 3);
      });
    } else if (key == "delta") {
      ok = ForEachMember(r, value, 2, [&](std::string_view k, od::value v) {
        if (k == "text" || k == "thinking" || k == "partial_json") {
          return AddTextBytes(r, v, 3, delta_bytes);
        }
        if (k == "stop_reason") return StringOrSkip(r, v, 3, stop_reason);
        return r.Skip(v, 3);
      });
    } else if (key == "usage") {
      ok = ReadAnthropicUsage(r, value, usage);
    } else if (key == "error") {
      error.emplace();
      ok = ReadError(r, value, *error);
    } else {
      ok = r.Skip(value, 2);
    }
    if (!ok) break;
  }
  const char* rest;
  if (!r.ok() || doc.current_location().get(rest) == simdjson::SUCCESS) {
    ++malformed_events_;
    return;
  }
  if (type.empty()) type = sse_type;
  if (error.has_value() && !error_message_.has_value()) error_message_ = std::move(error);
  if (type == "content_block_delta") {
    generated_text_bytes_ += delta_bytes;
    return;
  }
  if (type == "message_stop") {
    completed_ = true;
    return;
  }
  // message_start reports usage under message.usage, message_delta at the top level.
  const AnthropicCounts& counts = type == "message_start" ? start_usage : usage;
  if (type == "message_start" && model_.empty()) model_ = std::string(model);
  if (type == "message_delta" && !stop_reason.empty()) finish_reasons_.emplace_back(stop_reason);
  if (!counts.present || (type != "message_start" && type != "message_delta")) return;
  // Counts are cumulative: a later report replaces the fields it carries.
  if (counts.input.has_value()) {
    input_reported_ = true;
    anthropic_input_ = *counts.input;
  }
  if (counts.cache_read.has_value()) anthropic_cache_read_ = *counts.cache_read;
  if (counts.cache_write.has_value()) anthropic_cache_write_ = *counts.cache_write;
  if (counts.output.has_value()) {
    if (type == "message_delta") {
      reported_output_ = *counts.output;  // cumulative: the last one is the count
    } else {
      reported_output_ = std::max(reported_output_, *counts.output);
    }
  }
  if (type == "message_delta" && counts.output.has_value() && input_reported_) {
    has_usage_ = true;
    usage_ = NormalizeAnthropicUsage(anthropic_input_, *counts.output, anthropic_cache_read_,
                                     anthropic_cache_write_);
  }
}

Usage StreamMeter::BillableUsage(int64_t estimated_input_tokens) const {
  if (has_usage_) return usage_;
  Usage usage;
  if (input_reported_) {
    usage =
        NormalizeAnthropicUsage(anthropic_input_, 0, anthropic_cache_read_, anthropic_cache_write_);
  } else {
    usage.input_tokens = std::max<int64_t>(0, estimated_input_tokens);
  }
  usage.output_tokens = std::max(reported_output_, (generated_text_bytes_ + 3) / 4);
  return usage;
}

bool StreamMeter::usage_is_estimated(int64_t /*estimated_input_tokens*/) const {
  return !has_usage_;
}

}  // namespace genops::gateway
