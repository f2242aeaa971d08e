#include "src/export/otlp_options.h"

#include <charconv>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/export/text_util.h"

namespace genops::exporter {
namespace {

using text::Av;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(std::string_view text, std::string_view variable) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int hi = i + 1 < text.size() ? HexDigit(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? HexDigit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(Av(variable), ": invalid percent-encoding at \"", Av(text.substr(i, 3)),
                       "\"; write a literal '%' as %25"));
    }
    out.push_back(static_cast<char>((hi << 4) | lo));
    i += 2;
  }
  return out;
}

bool IsHttpUrl(std::string_view url) {
  std::string_view rest;
  if (text::StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
  } else if (text::StartsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
  } else {
    return false;
  }
  return !rest.empty() && rest.front() != '/';
}

absl::Status CheckUrl(std::string_view url, std::string_view source) {
  if (IsHttpUrl(url)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(Av(source), ": \"", Av(url),
                                                 "\" is not an http:// or https:// URL (example: "
                                                 "https://collector.example.com:4318/v1/traces)"));
}

std::string AppendTracesPath(std::string_view base) {
  std::string url(base);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/v1/traces";
}

// The signal-specific variable wins over the generic one.
std::optional<std::pair<std::string, std::string>> Lookup(const Environment& env,
                                                          std::string_view traces_name,
                                                          std::string_view generic_name) {
  if (auto value = env.Get(traces_name)) return std::make_pair(std::string(traces_name), *value);
  if (auto value = env.Get(generic_name)) {
    return std::make_pair(std::string(generic_name), *value);
  }
  return std::nullopt;
}

}  // namespace

std::string_view ProtocolName(OtlpExporterOptions::Protocol protocol) {
  switch (protocol) {
    case OtlpExporterOptions::Protocol::kHttpProtobuf:
      return "http/protobuf";
    case OtlpExporterOptions::Protocol::kHttpJson:
      return "http/json";
  }
  return "unknown";
}

absl::Status OtlpExporterOptions::Validate() const {
  if (absl::Status s = CheckUrl(endpoint, "otlp endpoint"); !s.ok()) return s;
  for (size_t i = 0; i < failover_endpoints.size(); ++i) {
    if (absl::Status s =
            CheckUrl(failover_endpoints[i], absl::StrCat("otlp failover_endpoints[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("otlp timeout must be positive, got ", timeout.count(), " ms"));
  }
  if (retry_attempts < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("otlp retry_attempts must be >= 0, got ", retry_attempts));
  }
  if (initial_backoff.count() < 0 || max_backoff < initial_backoff) {
    return absl::InvalidArgumentError(
        absl::StrCat("otlp back-off must satisfy 0 <= initial_backoff <= max_backoff, got ",
                     initial_backoff.count(), " ms and ", max_backoff.count(), " ms"));
  }
  if (!(backoff_multiplier >= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("otlp backoff_multiplier must be >= 1, got ", backoff_multiplier));
  }
  if (circuit_breaker_timeout.count() < 0 || health_check_interval.count() < 0) {
    return absl::InvalidArgumentError(
        "otlp circuit_breaker_timeout and health_check_interval must be >= 0 seconds");
  }
  for (const auto& [key, value] : headers) {
    if (key.empty() || key.find_first_of(":\r\n \t") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "otlp header \"", absl::CEscape(key),
          "\" is not a valid HTTP header (names have no spaces or ':', values no newlines)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseOtlpHeaderList(std::string_view text, std::string_view variable,
                                 std::map<std::string, std::string>* out) {
  for (std::string_view item : text::Split(text, ',')) {
    item = text::Trim(item);
    if (item.empty()) continue;  // tolerate "a=1,,b=2" and a trailing comma
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          Av(variable), ": entry \"", Av(item), "\" has no '='; expected key1=value1,key2=value2"));
    }
    absl::StatusOr<std::string> key = PercentDecode(text::Trim(item.substr(0, eq)), variable);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> value = PercentDecode(text::Trim(item.substr(eq + 1)), variable);
    if (!value.ok()) return value.status();
    if (key->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Av(variable), ": entry \"", Av(item), "\" has an empty key"));
    }
    if (key->find_first_of(":\r\n \t") != std::string::npos ||
        value->find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Av(variable), ": entry \"", Av(item), "\" is not a valid HTTP header"));
    }
    (*out)[*std::move(key)] = *std::move(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<OtlpExporterOptions> OtlpOptionsFromEnvironment(const Environment& env,
                                                               OtlpExporterOptions base) {
  OtlpExporterOptions options = std::move(base);

  // --- Endpoint and Traceloop -----------------------------------------------------------
  const std::optional<std::string> traces_endpoint = env.Get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const std::optional<std::string> generic_endpoint = env.Get("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (traces_endpoint) {
    if (absl::Status s = CheckUrl(*traces_endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        !s.ok()) {
      return s;
    }
    options.endpoint = *traces_endpoint;
  } else if (generic_endpoint) {
    if (absl::Status s = CheckUrl(*generic_endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT"); !s.ok()) {
      return s;
    }
    options.endpoint = AppendTracesPath(*generic_endpoint);
  } else {
    const std::optional<std::string> api_key = env.Get("TRACELOOP_API_KEY");
    const std::optional<std::string> base_url = env.Get("TRACELOOP_BASE_URL");
    if (api_key || base_url) {
      const std::string root = base_url.value_or(std::string(kDefaultTraceloopBaseUrl));
      if (absl::Status s = CheckUrl(root, "TRACELOOP_BASE_URL"); !s.ok()) return s;
      options.endpoint = AppendTracesPath(root);
      if (const std::optional<std::string> headers = env.Get("TRACELOOP_HEADERS")) {
        if (absl::Status s = ParseOtlpHeaderList(*headers, "TRACELOOP_HEADERS", &options.headers);
            !s.ok()) {
          return s;
        }
      } else if (api_key) {
        const std::string key(text::Trim(*api_key));
        if (key.find_first_of("\r\n") != std::string::npos) {
          return absl::InvalidArgumentError("TRACELOOP_API_KEY contains a line break");
        }
        options.headers["Authorization"] = absl::StrCat("Bearer ", key);
      }
    }
  }

  // --- Headers --------------------------------------------------------------------------
  for (std::string_view name :
       {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    if (const std::optional<std::string> value = env.Get(name)) {
      if (absl::Status s = ParseOtlpHeaderList(*value, name, &options.headers); !s.ok()) return s;
    }
  }

  // --- Protocol -------------------------------------------------------------------------
  if (auto found =
          Lookup(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")) {
    const std::string value = text::Lower(text::Trim(found->second));
    if (value == "http/protobuf") {
      options.protocol = OtlpExporterOptions::Protocol::kHttpProtobuf;
    } else if (value == "http/json") {
      options.protocol = OtlpExporterOptions::Protocol::kHttpJson;
    } else if (value == "grpc") {
      return absl::UnimplementedError(
          absl::StrCat(found->first,
                       "=grpc: OTLP/gRPC export is not supported yet; use http/protobuf "
                       "(port 4318) or http/json"));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(found->first, ": unknown protocol \"",
                                                     found->second,
                                                     "\"; expected http/protobuf or http/json"));
    }
  }

  // --- Compression ----------------------------------------------------------------------
  if (auto found =
          Lookup(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")) {
    const std::string value = text::Lower(text::Trim(found->second));
    if (value == "gzip") {
      options.compression = OtlpExporterOptions::Compression::kGzip;
    } else if (value == "none") {
      options.compression = OtlpExporterOptions::Compression::kNone;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(found->first, ": unknown compression \"",
                                                     found->second, "\"; expected gzip or none"));
    }
  }

  // --- Timeout --------------------------------------------------------------------------
  if (auto found = Lookup(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")) {
    const std::string_view digits = text::Trim(found->second);
    int64_t millis = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), millis);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || millis <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(found->first, ": \"", found->second,
                       "\" is not a positive integer number of milliseconds (example: 10000)"));
    }
    options.timeout = std::chrono::milliseconds(millis);
  }

  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return options;
}

}  // namespace genops::exporter
