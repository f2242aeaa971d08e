#include "src/export/console_exporter.h"

#include <cstdio>
#include <string_view>
#include <variant>

#include "absl/time/time.h"
#include "src/telemetry/semconv.h"

namespace genops::exporter {
namespace {

namespace semconv = telemetry::semconv;
using telemetry::AttributeValue;
using telemetry::SpanData;

// Copies `text`, replacing control characters (newlines included) with '?'.
void AppendPrintable(std::string_view text, std::string* out) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out->push_back((u < 0x20 || u == 0x7F) ? '?' : c);
  }
}

void AppendValue(const AttributeValue& value, std::string* out) {
  switch (value.index()) {
    case 0:
      out->append(std::get<bool>(value) ? "true" : "false");
      break;
    case 1:
      out->append(std::to_string(std::get<int64_t>(value)));
      break;
    case 2: {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "%g", std::get<double>(value));
      out->append(buffer);
      break;
    }
    case 3:
      AppendPrintable(std::get<std::string>(value), out);
      break;
    default: {
      const auto& list = std::get<std::vector<std::string>>(value);
      out->push_back('[');
      for (size_t i = 0; i < list.size(); ++i) {
        if (i != 0) out->push_back(',');
        AppendPrintable(list[i], out);
      }
      out->push_back(']');
    }
  }
}

const AttributeValue* FirstOf(const SpanData& span, std::string_view a, std::string_view b) {
  if (const AttributeValue* value = span.FindAttribute(a)) return value;
  return b.empty() ? nullptr : span.FindAttribute(b);
}

void AppendField(const SpanData& span, std::string_view label, std::string_view key,
                 std::string_view fallback_key, std::string* out) {
  if (const AttributeValue* value = FirstOf(span, key, fallback_key)) {
    out->push_back(' ');
    out->append(label);
    out->push_back('=');
    AppendValue(*value, out);
  }
}

std::string_view KindName(telemetry::SpanKind kind) {
  switch (kind) {
    case telemetry::SpanKind::kInternal:
      return "INTERNAL";
    case telemetry::SpanKind::kServer:
      return "SERVER";
    case telemetry::SpanKind::kClient:
      return "CLIENT";
    case telemetry::SpanKind::kProducer:
      return "PRODUCER";
    case telemetry::SpanKind::kConsumer:
      return "CONSUMER";
  }
  return "UNSPECIFIED";
}

std::string_view StatusName(telemetry::StatusCode code) {
  switch (code) {
    case telemetry::StatusCode::kUnset:
      return "UNSET";
    case telemetry::StatusCode::kOk:
      return "OK";
    case telemetry::StatusCode::kError:
      return "ERROR";
  }
  return "UNSET";
}

}  // namespace

std::string ConsoleExporter::FormatSpan(const SpanData& span) {
  std::string line;
  line.reserve(256);
  line.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixNanos(span.start_unix_nanos),
                               absl::UTCTimeZone()));
  line.push_back(' ');
  AppendPrintable(span.name.empty() ? std::string_view("<unnamed>") : span.name, &line);
  line.push_back(' ');
  line.append(KindName(span.kind));
  line.push_back(' ');
  line.append(StatusName(span.status_code));
  if (!span.status_message.empty()) {
    line.append("(\"");
    AppendPrintable(span.status_message, &line);
    line.append("\")");
  }
  char duration[48];
  std::snprintf(duration, sizeof(duration), " %.1fms",
                static_cast<double>(span.end_unix_nanos - span.start_unix_nanos) / 1e6);
  line.append(duration);

  if (const AttributeValue* cost = span.FindAttribute(semconv::kGenOpsCostTotal)) {
    line.append(" cost=");
    if (const double* usd = std::get_if<double>(cost)) {
      char buffer[48];
      std::snprintf(buffer, sizeof(buffer), "$%.6f", *usd);
      line.append(buffer);
    } else {
      AppendValue(*cost, &line);
    }
    if (const AttributeValue* currency = span.FindAttribute(semconv::kGenOpsCostCurrency)) {
      line.push_back(' ');
      AppendValue(*currency, &line);
    }
  }
  AppendField(span, "provider", semconv::kGenAiProviderName, semconv::kGenAiSystem, &line);
  AppendField(span, "model", semconv::kGenAiResponseModel, semconv::kGenAiRequestModel, &line);
  AppendField(span, "team", semconv::kGenOpsTeam, "", &line);
  AppendField(span, "project", semconv::kGenOpsProject, "", &line);
  AppendField(span, "env", semconv::kGenOpsEnvironment, "", &line);
  AppendField(span, "customer", semconv::kGenOpsCustomerId, "", &line);
  const AttributeValue* input =
      FirstOf(span, semconv::kGenAiUsageInputTokens, semconv::kGenOpsTokensInput);
  const AttributeValue* output =
      FirstOf(span, semconv::kGenAiUsageOutputTokens, semconv::kGenOpsTokensOutput);
  if (input != nullptr || output != nullptr) {
    line.append(" tokens=");
    if (input != nullptr)
      AppendValue(*input, &line);
    else
      line.push_back('-');
    line.push_back('/');
    if (output != nullptr)
      AppendValue(*output, &line);
    else
      line.push_back('-');
  }
  AppendField(span, "policy", semconv::kGenOpsPolicyResult, "", &line);
  AppendField(span, "reason", semconv::kGenOpsPolicyReason, "", &line);
  AppendField(span, "budget", semconv::kGenOpsBudgetName, "", &line);
  AppendField(span, "budget_remaining", semconv::kGenOpsBudgetRemaining, "", &line);
  if (!span.events.empty()) {
    line.append(" events=");
    line.append(std::to_string(span.events.size()));
  }
  if (span.origin != nullptr) {
    // A span received from an application: say which one (GenOps' own spans need no label).
    for (const telemetry::Attribute& attribute : span.origin->attributes) {
      if (attribute.key == semconv::kServiceName) {
        line.append(" service=");
        AppendValue(attribute.value, &line);
        break;
      }
    }
    if (!span.origin->scope_name.empty()) {
      line.append(" scope=");
      AppendPrintable(span.origin->scope_name, &line);
    }
  }
  line.append(" trace=");
  line.append(span.trace_id.ToHex());
  line.append(" span=");
  line.append(span.span_id.ToHex());
  if (span.parent_span_id.valid()) {
    line.append(" parent=");
    line.append(span.parent_span_id.ToHex());
  }
  return line;
}

ExportResult ConsoleExporter::Export(std::span<const SpanData> spans) noexcept {
  if (shutdown_.load()) return ExportResult::kFailure;
  try {
    std::string text;
    for (const SpanData& span : spans) {
      text.append(FormatSpan(span));
      text.push_back('\n');
    }
    std::lock_guard<std::mutex> lock(mu_);
    out_.write(text.data(), static_cast<std::streamsize>(text.size()));
    return out_.good() ? ExportResult::kSuccess : ExportResult::kFailure;
  } catch (...) {
    return ExportResult::kFailure;
  }
}

bool ConsoleExporter::ForceFlush(std::chrono::milliseconds) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    out_.flush();
    return out_.good();
  } catch (...) {
    return false;
  }
}

bool ConsoleExporter::Shutdown(std::chrono::milliseconds timeout) noexcept {
  const bool flushed = ForceFlush(timeout);
  shutdown_.store(true);
  return flushed;
}

}  // namespace genops::exporter
