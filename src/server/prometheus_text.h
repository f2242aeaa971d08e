// PrometheusText: builds a Prometheus text exposition (format 0.0.4) by hand.
//
// Why by hand: `genops serve` exposes a few dozen monotonic counters and gauges that already
// live in plain structs (receiver, gateway and span-pipeline stats); a client library would
// add a registry and a second copy of every value for no gain.
//
// Example:
//   PrometheusText text;
//   text.Counter("genops_receiver_spans_received_total", "Spans in export requests", 42);
//   text.Counter("genops_receiver_responses_total", "Responses by kind", 3,
//                {{"protocol", "http"}, {"result", "ok"}});
//   std::string body = text.Finish();
//
// Series of one metric must be added consecutively (HELP/TYPE are written once per name).
//
// Thread safety: not thread-safe; build one per scrape.
#ifndef GENOPS_SERVER_PROMETHEUS_TEXT_H_
#define GENOPS_SERVER_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace genops::server {

class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

  void Counter(std::string_view name, std::string_view help, uint64_t value,
               const Labels& labels = {});
  void Gauge(std::string_view name, std::string_view help, int64_t value,
             const Labels& labels = {});
  // A counter with a fractional value (e.g. USD); `value_text` is written as given.
  void CounterText(std::string_view name, std::string_view help, std::string_view value_text,
                   const Labels& labels = {});

  std::string Finish() { return std::move(out_); }

  static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

 private:
  void Series(std::string_view name, std::string_view help, std::string_view type,
              std::string_view value, const Labels& labels);

  std::string out_;
  std::string last_name_;
};

}  // namespace genops::server

#endif  // GENOPS_SERVER_PROMETHEUS_TEXT_H_
