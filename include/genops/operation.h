// Operation: one governed LLM operation, the C++ face of the seed's `EnhancedSpan`.
//
// Returned by Adapter::track_operation(). The policy decision is taken *before* it is
// returned (estimate, caps, approvals, budget reservation), so a blocked operation never
// reaches the provider. Record what the call used with record_response() (a raw provider
// body; model and usage are extracted), update_token_usage() or update_cost(); when the
// Operation is destroyed (or end() is called) the reservation is settled with the actual
// cost, the operation is recorded, and its span is handed to the exporters.
//
// Example:
//   auto op = adapter->track_operation("chat_completion", "customer_query",
//                                      {.tags = {{"priority", "high"}},
//                                       .provider = "openai", .model = "gpt-4o",
//                                       .max_output_tokens = 200});
//   std::string body = call_openai(...);         // only runs when not blocked
//   op.record_response("openai", body);
//   op.add_attributes({{"business.customer_tier", "enterprise"}});
//   // ~Operation(): settle, record, export.
//
// Thread safety: thread-compatible. One Operation is used by one thread at a time; distinct
// Operations are independent.
#ifndef GENOPS_OPERATION_H_
#define GENOPS_OPERATION_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "genops/attribution.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/usage.h"

namespace genops {

// The value of a custom span attribute (same alternatives as OpenTelemetry's).
using AttributeValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

class Operation;

// Options of Adapter::track_operation(), the seed's keyword arguments. Every member has a
// default initializer so designated initializers may name only what they set, even under
// -Wextra (-Wmissing-field-initializers).
struct TrackOptions {
  std::map<std::string, std::string> tags{};  // merged over the adapter's default tags
  std::optional<double> max_cost{};           // USD cap for this operation (seed's max_cost)
  const Operation* parent_span = nullptr;     // makes this a child in the parent's trace
  // A W3C traceparent of existing instrumentation (an incoming request, an OpenLLMetry span)
  // to join when there is no parent_span.
  std::string traceparent{};
  std::string priority{};     // "high" is always exported with priority_sampling
  Attribution attribution{};  // per-call overrides (customer_id, feature, ...)
  // What the call will be, for the pre-call estimate. A call with a model but no
  // max_output_tokens is estimated with the model's default output allowance.
  std::string provider{};
  std::string model{};
  int64_t estimated_input_tokens = 0;
  std::optional<int64_t> max_output_tokens{};
  std::optional<double> estimated_cost{};  // USD; overrides the catalog estimate
  std::string data_region{};               // checked against data_residency_requirements
  std::string approval_id{};               // a granted approval for this operation
};

// Seed's EnhancedSpan.get_metrics().
struct OperationMetrics {
  std::string operation_id;
  std::string operation_type;
  std::string operation_name;
  std::string provider;
  std::string model;
  Usage usage;
  Money cost;
  bool priced = false;
  Money estimate;
  Decision decision;
  int64_t duration_nanos = 0;
  bool ended = false;
  bool error = false;
  // The matching budget with the least room left (after settlement once ended, else after
  // admission); empty / nullopt when no budget matched.
  std::string budget_name;
  std::optional<Money> budget_remaining;
};

class Operation {
 public:
  Operation(Operation&&) noexcept;
  Operation& operator=(Operation&&) noexcept;
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;
  ~Operation();  // end()s the operation if still open.

  // The decision taken when the operation started.
  const Decision& decision() const noexcept;
  // True when the operation may run (allowed or warned). Check it in the non-throwing form.
  bool allowed() const noexcept { return decision().may_proceed(); }

  // Custom attributes (the seed's add_attributes). Values longer than max_attribute_length
  // are truncated when exported.
  void add_attributes(std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs);
  void add_attributes(const std::map<std::string, AttributeValue>& attrs);
  void add_event(std::string_view name,
                 std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs = {});

  // The exact cost when the caller knows it (seed's update_cost). Wins over priced usage.
  void update_cost(double usd);
  void update_cost(Money cost);
  // Token usage (seed's update_token_usage); priced when the model is known.
  void update_token_usage(int64_t input_tokens, int64_t output_tokens);
  void update_token_usage(const Usage& usage);
  // Sets or corrects the model after the fact (e.g. the response's model).
  void set_model(std::string_view provider, std::string_view model);
  // Extracts the model, usage and finish reasons from a raw provider response body
  // ("openai", "anthropic", "google", "aws_bedrock", "mistral", "groq", "deepseek", "xai").
  // A malformed body returns an error and marks the operation failed; it is still recorded.
  absl::Status record_response(std::string_view provider, std::string_view body);
  // Marks the operation failed (the call raised). Failed operations that produced no tokens
  // release their reservation.
  void record_error(std::string_view message);

  // Ends the operation: settles the reservation, records it, exports the span. Idempotent.
  void end() noexcept;

  OperationMetrics get_metrics() const;
  const std::string& operation_id() const noexcept;
  std::string trace_id() const;     // 32 hex digits
  std::string span_id() const;      // 16 hex digits
  std::string traceparent() const;  // W3C header value for propagating to downstream calls

  struct State;  // implementation detail

 private:
  friend class AdapterImpl;
  explicit Operation(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace genops

#endif  // GENOPS_OPERATION_H_
