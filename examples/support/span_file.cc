#include "support/span_file.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace genops::examples {

namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The first present key among `names`, as a string ("" when none).
std::string StringField(const nlohmann::json& object, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = object.find(name);
    if (it != object.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

bool AllZeroHex(const std::string& hex) {
  return std::all_of(hex.begin(), hex.end(), [](char c) { return c == '0'; });
}

// OTLP AnyValue -> plain JSON. Values that are not wrapped are returned as they are.
nlohmann::json Unwrap(const nlohmann::json& value) {
  if (!value.is_object()) return value;
  if (auto it = value.find("stringValue"); it != value.end()) return *it;
  if (auto it = value.find("boolValue"); it != value.end()) return *it;
  if (auto it = value.find("doubleValue"); it != value.end()) return *it;
  if (auto it = value.find("intValue"); it != value.end()) {
    if (it->is_string()) {
      try {
        return nlohmann::json(std::stoll(it->get<std::string>()));
      } catch (const std::exception&) {
        return *it;
      }
    }
    return *it;
  }
  if (auto it = value.find("arrayValue"); it != value.end()) {
    nlohmann::json out = nlohmann::json::array();
    if (it->is_object() && it->contains("values") && (*it)["values"].is_array()) {
      for (const nlohmann::json& element : (*it)["values"]) out.push_back(Unwrap(element));
    }
    return out;
  }
  return value;
}

void ReadAttributes(const nlohmann::json& attributes, std::map<std::string, nlohmann::json>* out) {
  if (attributes.is_array()) {  // OTLP: [{"key": ..., "value": {...}}]
    for (const nlohmann::json& kv : attributes) {
      if (!kv.is_object() || !kv.contains("key") || !kv["key"].is_string()) continue;
      (*out)[kv["key"].get<std::string>()] = Unwrap(kv.value("value", nlohmann::json()));
    }
  } else if (attributes.is_object()) {  // flat: {"key": value}
    for (const auto& [key, value] : attributes.items()) (*out)[key] = Unwrap(value);
  }
}

SpanRecord ReadSpan(const nlohmann::json& span) {
  SpanRecord record;
  record.trace_id = Lower(StringField(span, {"traceId", "trace_id"}));
  record.span_id = Lower(StringField(span, {"spanId", "span_id"}));
  record.parent_span_id = Lower(StringField(span, {"parentSpanId", "parent_span_id"}));
  if (AllZeroHex(record.parent_span_id)) record.parent_span_id.clear();
  record.name = StringField(span, {"name"});
  if (auto it = span.find("status"); it != span.end() && it->is_object()) {
    const nlohmann::json& code = it->value("code", nlohmann::json(0));
    if (code.is_number_integer()) {
      record.status_code = code.get<int>();
    } else if (code.is_string()) {
      std::string text = Lower(code.get<std::string>());
      if (text.find("error") != std::string::npos) record.status_code = 2;
      if (text.find("ok") != std::string::npos) record.status_code = 1;
    }
  }
  if (auto it = span.find("attributes"); it != span.end()) {
    ReadAttributes(*it, &record.attributes);
  }
  if (auto it = span.find("events"); it != span.end() && it->is_array()) {
    for (const nlohmann::json& event : *it) {
      if (event.is_object()) record.event_names.push_back(StringField(event, {"name"}));
    }
  }
  return record;
}

void CollectSpans(const nlohmann::json& document, std::vector<SpanRecord>* out) {
  if (document.is_array()) {
    for (const nlohmann::json& element : document) CollectSpans(element, out);
    return;
  }
  if (!document.is_object()) return;
  for (const char* envelope : {"resourceSpans", "resource_spans"}) {
    auto resources = document.find(envelope);
    if (resources == document.end() || !resources->is_array()) continue;
    for (const nlohmann::json& resource : *resources) {
      for (const char* scopes_key : {"scopeSpans", "scope_spans"}) {
        auto scopes = resource.find(scopes_key);
        if (scopes == resource.end() || !scopes->is_array()) continue;
        for (const nlohmann::json& scope : *scopes) {
          auto spans = scope.find("spans");
          if (spans == scope.end() || !spans->is_array()) continue;
          for (const nlohmann::json& span : *spans) out->push_back(ReadSpan(span));
        }
      }
    }
    return;
  }
  if (auto spans = document.find("spans"); spans != document.end() && spans->is_array()) {
    for (const nlohmann::json& span : *spans) out->push_back(ReadSpan(span));
    return;
  }
  if (document.contains("traceId") || document.contains("trace_id")) {
    out->push_back(ReadSpan(document));
  }
}

}  // namespace

const nlohmann::json* SpanRecord::Find(std::string_view key) const {
  auto it = attributes.find(std::string(key));
  return it == attributes.end() ? nullptr : &it->second;
}

std::string SpanRecord::Text(std::string_view key) const {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) return "";
  if (value->is_string()) return value->get<std::string>();
  return value->dump();
}

std::optional<double> SpanRecord::Number(std::string_view key) const {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_number()) return value->get<double>();
  if (value->is_string()) {
    try {
      return std::stod(value->get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<SpanRecord>> ParseSpans(std::string_view json_text) {
  nlohmann::json document = nlohmann::json::parse(json_text, nullptr,
                                                  /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not JSON: ", std::string(json_text.substr(0, std::min<size_t>(80, json_text.size())))));
  }
  std::vector<SpanRecord> spans;
  CollectSpans(document, &spans);
  return spans;
}

absl::StatusOr<std::vector<SpanRecord>> ReadSpanFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open span file ", path.string()));
  std::vector<SpanRecord> spans;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<std::vector<SpanRecord>> parsed = ParseSpans(line);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ":", line_number, ": ", parsed.status().message()));
    }
    for (SpanRecord& span : *parsed) spans.push_back(std::move(span));
  }
  return spans;
}

std::vector<SpanRecord> SpansWithAttribute(const std::vector<SpanRecord>& spans,
                                           std::string_view key, std::string_view value) {
  std::vector<SpanRecord> out;
  for (const SpanRecord& span : spans) {
    if (span.Text(key) == value) out.push_back(span);
  }
  return out;
}

std::optional<SpanRecord> SpanWithId(const std::vector<SpanRecord>& spans,
                                     std::string_view span_id) {
  for (const SpanRecord& span : spans) {
    if (span.span_id == span_id) return span;
  }
  return std::nullopt;
}

}  // namespace genops::examples
