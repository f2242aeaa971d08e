#include "src/server/prometheus_text.h"

#include <string>

#include "src/core/text.h"

namespace genops::server {
namespace {

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

void PrometheusText::Counter(std::string_view name, std::string_view help, uint64_t value,
                             const Labels& labels) {
  Series(name, help, "counter", std::to_string(value), labels);
}

void PrometheusText::Gauge(std::string_view name, std::string_view help, int64_t value,
                           const Labels& labels) {
  Series(name, help, "gauge", std::to_string(value), labels);
}

void PrometheusText::CounterText(std::string_view name, std::string_view help,
                                 std::string_view value_text, const Labels& labels) {
  Series(name, help, "counter", value_text, labels);
}

void PrometheusText::Series(std::string_view name, std::string_view help, std::string_view type,
                            std::string_view value, const Labels& labels) {
  if (name != last_name_) {
    out_ += Cat("# HELP ", name, " ");
    AppendEscaped(out_, help, /*quote=*/false);
    out_ += Cat("\n# TYPE ", name, " ", type, "\n");
    last_name_ = std::string(name);
  }
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [key, label_value] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += Cat(key, "=\"");
      AppendEscaped(out_, label_value, /*quote=*/true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += Cat(" ", value, "\n");
}

}  // namespace genops::server
