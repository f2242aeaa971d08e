// Rendering of the SDK's result structs (JSON and aligned text).
#include "absl/strings/str_format.h"
#include "genops/adapter.h"
#include "nlohmann/json.hpp"
#include "src/core/text.h"

namespace genops {
namespace {

nlohmann::json TotalsJson(const CostTotals& t) {
  return {{"operations", t.operations},
          {"cost_usd", t.cost.usd()},
          {"cost_nanos", t.cost.nanos()},
          {"input_tokens", t.usage.input_tokens},
          {"output_tokens", t.usage.output_tokens}};
}

nlohmann::json BreakdownJson(const std::map<std::string, CostTotals>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = TotalsJson(v);
  return j;
}

}  // namespace

std::string AdapterMetrics::ToJson() const {
  nlohmann::json j = {
      {"daily_usage", daily_usage.usd()},
      {"daily_usage_nanos", daily_usage.nanos()},
      {"operation_count", operation_count},
      {"budget_remaining",
       budget_remaining ? nlohmann::json(budget_remaining->usd()) : nlohmann::json(nullptr)},
      {"governance_enabled", governance_enabled},
      {"governance_policy", PolicyLevelName(policy)},
      {"allowed", allowed},
      {"warned", warned},
      {"blocked", blocked},
      {"approval_required", approval_required},
      {"unpriced_operations", unpriced_operations},
      {"in_flight", in_flight},
      {"pending_settlements", pending_settlements},
      {"total_cost", total_cost.usd()},
      {"total_cost_nanos", total_cost.nanos()},
      {"spans_exported", spans_exported},
      {"spans_dropped", spans_dropped},
      {"spans_unsampled", spans_unsampled},
      {"alerts_raised", alerts_raised},
  };
  if (!by_provider.empty()) j["by_provider"] = BreakdownJson(by_provider);
  if (!by_model.empty()) j["by_model"] = BreakdownJson(by_model);
  if (!by_team.empty()) j["by_team"] = BreakdownJson(by_team);
  return j.dump(2);
}

std::string GovernanceContext::ToString() const {
  std::string out = Cat("team=", attribution.team, " project=", attribution.project,
                        " environment=", attribution.environment);
  if (!attribution.customer_id.empty()) out += Cat(" customer_id=", attribution.customer_id);
  if (!attribution.cost_center.empty()) out += Cat(" cost_center=", attribution.cost_center);
  out +=
      Cat(" policy=", PolicyLevelName(policy), " governance=", governance_enabled ? "on" : "off");
  if (!compliance_frameworks.empty()) {
    out += Cat(" compliance=", Join(compliance_frameworks, ","));
  }
  if (current_operation_id) out += Cat(" operation=", *current_operation_id);
  if (current_trace_id) out += Cat(" trace=", *current_trace_id);
  return out;
}

std::string MultiProviderCostTracker::Summary::ToString() const {
  std::string out = absl::StrFormat("%-14s %10s %12s %12s %14s\n", "provider", "operations",
                                    "input tok", "output tok", "cost (USD)");
  for (const auto& [provider, t] : by_provider) {
    out += Cat(absl::StrFormat("%-14s %10d %12d %12d %14s\n", provider, t.operations,
                               t.usage.input_tokens, t.usage.output_tokens,
                               t.cost.ToDisplayString(6)));
  }
  out += Cat(absl::StrFormat("%-14s %10d %12d %12d %14s\n", "total", total.operations,
                             total.usage.input_tokens, total.usage.output_tokens,
                             total.cost.ToDisplayString(6)));
  if (budget_remaining) {
    out += Cat("daily budget remaining: ", budget_remaining->ToDisplayString(6), "\n");
  }
  return out;
}

}  // namespace genops
