// Operation (the seed's EnhancedSpan): recording what a call used. Ending is the adapter's
// job (AdapterImpl::Finish), so all governance stays in one place.
#include "genops/operation.h"

#include <algorithm>
#include <utility>

#include "src/core/usage_parser.h"
#include "src/sdk/adapter_impl.h"
#include "src/sdk/operation_state.h"
#include "src/telemetry/trace_context.h"

namespace genops {
namespace {

const Decision& RefusedPlaceholder() {
  static const Decision* const kMovedFrom = [] {
    auto* d = new Decision;
    d->result = DecisionResult::kBlocked;
    d->message = "operation handle was moved from";
    return d;
  }();
  return *kMovedFrom;
}

void AppendAttributes(std::vector<telemetry::Attribute>& out,
                      std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs) {
  if (out.capacity() < out.size() + attrs.size()) {
    out.reserve(std::max(out.size() + attrs.size(), 2 * out.capacity()));
  }
  // User keys are owned: nothing says they outlive the operation.
  for (const auto& [key, value] : attrs) out.push_back({telemetry::AttributeKey(key), value});
}

}  // namespace

Operation::Operation(std::unique_ptr<State> state) : state_(std::move(state)) {}
Operation::Operation(Operation&&) noexcept = default;
Operation& Operation::operator=(Operation&& other) noexcept {
  if (this != &other) {
    end();
    state_ = std::move(other.state_);
  }
  return *this;
}
Operation::~Operation() { end(); }

const Decision& Operation::decision() const noexcept {
  return state_ ? state_->admission.decision : RefusedPlaceholder();
}

void Operation::add_attributes(
    std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs) {
  if (!state_ || state_->ended) return;
  AppendAttributes(state_->custom_attributes, attrs);
}

void Operation::add_attributes(const std::map<std::string, AttributeValue>& attrs) {
  if (!state_ || state_->ended) return;
  for (const auto& [key, value] : attrs) state_->custom_attributes.push_back({key, value});
}

void Operation::add_event(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs) {
  if (!state_ || state_->ended) return;
  telemetry::SpanEvent event;
  event.name = std::string(name);
  event.time_unix_nanos = state_->adapter->clock().NowUnixNanos();
  AppendAttributes(event.attributes, attrs);
  state_->events.push_back(std::move(event));
}

void Operation::update_cost(double usd) {
  if (!state_ || state_->ended) return;
  auto money = Money::FromUsdDouble(usd);
  if (money.ok() && money->nanos() >= 0) state_->cost_override = *money;
}

void Operation::update_cost(Money cost) {
  if (!state_ || state_->ended || cost.nanos() < 0) return;
  state_->cost_override = cost;
}

void Operation::update_token_usage(int64_t input_tokens, int64_t output_tokens) {
  Usage usage;
  usage.input_tokens = input_tokens;
  usage.output_tokens = output_tokens;
  update_token_usage(usage);
}

void Operation::update_token_usage(const Usage& usage) {
  if (!state_ || state_->ended) return;
  if (auto s = usage.Validate(); !s.ok()) {
    state_->error = true;
    state_->error_message = std::string("invalid token usage: ") + std::string(s.message());
    return;
  }
  state_->usage = usage;
  state_->has_usage = true;
}

void Operation::set_model(std::string_view provider, std::string_view model) {
  if (!state_ || state_->ended) return;
  if (!provider.empty()) state_->request.provider = std::string(provider);
  state_->response_model = std::string(model);
}

absl::Status Operation::record_response(std::string_view provider, std::string_view body) {
  if (!state_) return absl::FailedPreconditionError("operation handle was moved from");
  if (state_->ended) return absl::FailedPreconditionError("operation already ended");
  auto parsed = ParseProviderResponse(provider, body);
  if (!parsed.ok()) {
    state_->error = true;
    state_->error_message = std::string(parsed.status().message());
    return parsed.status();
  }
  state_->request.provider = parsed->provider.empty() ? std::string(provider) : parsed->provider;
  if (!parsed->model.empty()) state_->response_model = parsed->model;
  state_->response_id = parsed->response_id;
  state_->finish_reasons = parsed->finish_reasons;
  if (parsed->has_usage) {
    state_->usage = parsed->usage;
    state_->has_usage = true;
  }
  return absl::OkStatus();
}

void Operation::record_error(std::string_view message) {
  if (!state_ || state_->ended) return;
  state_->error = true;
  state_->error_message = std::string(message);
}

void Operation::end() noexcept {
  if (!state_ || state_->ended) return;
  state_->adapter->Finish(*state_);
}

OperationMetrics Operation::get_metrics() const {
  OperationMetrics m;
  if (!state_) return m;
  m.operation_id = state_->request.operation_id;
  m.operation_type = state_->operation_type;
  m.operation_name = state_->operation_name;
  m.provider = state_->request.provider;
  m.model = state_->response_model.empty() ? state_->request.model : state_->response_model;
  m.usage = state_->usage;
  m.decision = state_->admission.decision;
  m.estimate = state_->admission.decision.estimate;
  m.ended = state_->ended;
  m.error = state_->error;
  if (state_->ended) {
    m.cost = state_->settlement.cost;
    m.priced = state_->settlement.priced;
    m.duration_nanos = state_->duration_nanos;
  } else {
    auto preview = state_->adapter->PreviewCost(*state_);
    m.cost = preview.first;
    m.priced = preview.second;
    m.duration_nanos = state_->adapter->clock().MonotonicNanos() - state_->start_monotonic_nanos;
  }
  return m;
}

const std::string& Operation::operation_id() const noexcept {
  static const std::string kEmpty;
  return state_ ? state_->request.operation_id : kEmpty;
}

std::string Operation::trace_id() const { return state_ ? state_->trace_id.ToHex() : ""; }
std::string Operation::span_id() const { return state_ ? state_->span_id.ToHex() : ""; }

std::string Operation::traceparent() const {
  if (!state_) return "";
  telemetry::SpanContext ctx;
  ctx.trace_id = state_->trace_id;
  ctx.span_id = state_->span_id;
  ctx.sampled = true;
  return telemetry::FormatTraceparent(ctx);
}

}  // namespace genops
