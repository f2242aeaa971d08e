#include "src/telemetry/resource.h"

#include <optional>
#include <utility>

#include "fmt/format.h"
#include "src/telemetry/semconv.h"

namespace genops::telemetry {
namespace {

constexpr std::string_view kResourceAttributesVar = "OTEL_RESOURCE_ATTRIBUTES";
constexpr std::string_view kServiceNameVar = "OTEL_SERVICE_NAME";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 1 < in.size() ? HexDigit(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
    i += 2;
  }
  return out;
}

absl::Status BadEntry(size_t index, std::string_view entry, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format(
      "{}: entry {} (\"{}\") {}; expected comma-separated key=value pairs with special characters "
      "percent-encoded, e.g. deployment.environment=prod,team=platform",
      kResourceAttributesVar, index, entry.substr(0, 100), why));
}

}  // namespace

absl::StatusOr<std::vector<Attribute>> ParseResourceAttributes(std::string_view value) {
  std::vector<Attribute> attributes;
  size_t index = 0;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    const std::string_view entry = Trim(value.substr(start, comma - start));
    start = comma + 1;
    ++index;
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) return BadEntry(index, entry, "has no '='");
    std::optional<std::string> key = PercentDecode(Trim(entry.substr(0, eq)));
    std::optional<std::string> decoded = PercentDecode(Trim(entry.substr(eq + 1)));
    if (!key.has_value() || !decoded.has_value()) {
      return BadEntry(index, entry, "has a '%' not followed by two hex digits");
    }
    if (key->empty()) return BadEntry(index, entry, "has an empty key");
    bool replaced = false;
    for (Attribute& existing : attributes) {
      if (existing.key == *key) {
        existing.value = std::move(*decoded);
        replaced = true;
        break;
      }
    }
    if (!replaced) attributes.push_back({std::move(*key), std::move(*decoded)});
  }
  return attributes;
}

absl::StatusOr<ResourceInfo> BuildResource(const Environment& env,
                                           std::string default_service_name) {
  std::vector<Attribute> from_env;
  if (std::optional<std::string> raw = env.Get(kResourceAttributesVar); raw.has_value()) {
    absl::StatusOr<std::vector<Attribute>> parsed = ParseResourceAttributes(*raw);
    if (!parsed.ok()) return parsed.status();
    from_env = *std::move(parsed);
  }

  std::string service_name = std::move(default_service_name);
  for (const Attribute& attribute : from_env) {
    if (attribute.key == semconv::kServiceName) {
      service_name = std::get<std::string>(attribute.value);
    }
  }
  if (std::optional<std::string> name = env.Get(kServiceNameVar); name.has_value()) {
    const std::string_view trimmed = Trim(*name);
    if (!trimmed.empty()) service_name = std::string(trimmed);
  }
  if (service_name.empty()) service_name = std::string(kUnknownServiceName);

  ResourceInfo resource;
  resource.attributes.push_back(
      {AttributeKey::Static(semconv::kServiceName), std::move(service_name)});
  resource.attributes.push_back(
      {AttributeKey::Static(semconv::kTelemetrySdkName), std::string(kTelemetrySdkNameValue)});
  resource.attributes.push_back({AttributeKey::Static(semconv::kTelemetrySdkLanguage),
                                 std::string(kTelemetrySdkLanguageValue)});
  resource.attributes.push_back({AttributeKey::Static(semconv::kTelemetrySdkVersion),
                                 std::string(kTelemetrySdkVersionValue)});
  for (Attribute& attribute : from_env) {
    const std::string_view key = attribute.key;
    if (key == semconv::kServiceName || key == semconv::kTelemetrySdkName ||
        key == semconv::kTelemetrySdkLanguage || key == semconv::kTelemetrySdkVersion) {
      continue;
    }
    resource.attributes.push_back(std::move(attribute));
  }
  resource.scope_name = std::string(kTelemetrySdkNameValue);
  resource.scope_version = std::string(kTelemetrySdkVersionValue);
  return resource;
}

}  // namespace genops::telemetry
