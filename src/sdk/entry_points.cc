// The seed's module-level functions: instrument_traceloop, auto_instrument, the process-wide
// adapter and the free functions over it, multi_provider_cost_tracking.
#include <mutex>

#include "absl/strings/ascii.h"
#include "genops/adapter.h"
#include "src/core/environment.h"
#include "src/core/text.h"
#include "src/sdk/adapter_impl.h"
#include "src/sdk/resolved_config.h"

namespace genops {
namespace {

std::string RefusalMessage(const Decision& d) {
  return Cat("genops: operation ", DecisionResultName(d.result), " (", DecisionReasonName(d.reason),
             "): ", d.message);
}

// The process-wide adapter of auto_instrument().
struct GlobalSlot {
  std::mutex mu;
  std::shared_ptr<Adapter> adapter;
};
GlobalSlot& Global() {
  static GlobalSlot* slot = new GlobalSlot;  // never destroyed: usable during exit
  return *slot;
}

}  // namespace

PolicyViolationError::PolicyViolationError(Decision decision)
    : std::runtime_error(RefusalMessage(decision)), decision_(std::move(decision)) {}

absl::StatusOr<std::shared_ptr<Adapter>> instrument_traceloop(const AdapterConfig& config) {
  auto adapter = AdapterImpl::Create(config);
  if (!adapter.ok()) return adapter.status();
  return std::shared_ptr<Adapter>(*std::move(adapter));
}

absl::StatusOr<std::shared_ptr<Adapter>> auto_instrument(const AdapterConfig& config) {
  auto adapter = instrument_traceloop(config);
  if (!adapter.ok()) return adapter.status();
  std::shared_ptr<Adapter> previous;
  {
    std::lock_guard<std::mutex> lock(Global().mu);
    previous = std::exchange(Global().adapter, *adapter);
  }
  if (previous != nullptr) previous->shutdown();
  return adapter;
}

absl::StatusOr<std::shared_ptr<Adapter>> auto_instrument(std::string team, std::string project,
                                                         AdapterConfig config) {
  config.team = std::move(team);
  config.project = std::move(project);
  return auto_instrument(config);
}

std::shared_ptr<Adapter> global_adapter() {
  std::lock_guard<std::mutex> lock(Global().mu);
  return Global().adapter;
}

void reset_global_adapter() {
  std::shared_ptr<Adapter> previous;
  {
    std::lock_guard<std::mutex> lock(Global().mu);
    previous = std::exchange(Global().adapter, nullptr);
  }
  if (previous != nullptr) previous->shutdown();
}

std::vector<BudgetStatusView> get_budget_status() {
  auto adapter = global_adapter();
  return adapter ? adapter->get_budget_status() : std::vector<BudgetStatusView>{};
}

OperationsSummary get_recent_operations_summary(size_t limit) {
  auto adapter = global_adapter();
  return adapter ? adapter->get_recent_operations_summary(limit) : OperationsSummary{};
}

GovernanceContext get_current_governance_context() {
  auto adapter = global_adapter();
  if (adapter) return adapter->get_current_governance_context();
  GovernanceContext c;
  c.attribution = sdk::ResolveAttribution(AdapterConfig{}, *Environment::Process());
  c.governance_enabled = false;
  return c;
}

namespace {

class MultiProviderCostTrackerImpl final : public MultiProviderCostTracker {
 public:
  MultiProviderCostTrackerImpl(std::shared_ptr<AdapterImpl> adapter,
                               std::vector<std::string> providers)
      : adapter_(std::move(adapter)), providers_(std::move(providers)) {}

  Adapter& adapter() override { return *adapter_; }
  const std::vector<std::string>& providers() const override { return providers_; }

  Summary summary() const override {
    Summary s;
    for (const auto& p : providers_) s.by_provider[p] = CostTotals{};
    OperationsSummary ops = adapter_->get_recent_operations_summary(0);
    for (const auto& [provider, totals] : ops.by_provider) {
      s.by_provider[provider] = totals;
      s.total.operations += totals.operations;
      s.total.cost += totals.cost;
      s.total.usage.input_tokens += totals.usage.input_tokens;
      s.total.usage.output_tokens += totals.usage.output_tokens;
      s.total.usage.cache_read_tokens += totals.usage.cache_read_tokens;
      s.total.usage.cache_write_tokens += totals.usage.cache_write_tokens;
      s.total.usage.reasoning_tokens += totals.usage.reasoning_tokens;
    }
    s.budget_remaining = adapter_->get_metrics().budget_remaining;
    return s;
  }

 private:
  std::shared_ptr<AdapterImpl> adapter_;
  std::vector<std::string> providers_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<MultiProviderCostTracker>> multi_provider_cost_tracking(
    std::vector<std::string> providers, const AdapterConfig& config) {
  if (providers.empty()) {
    return absl::InvalidArgumentError("providers: name at least one provider to track");
  }
  for (auto& p : providers) {
    p = absl::AsciiStrToLower(p);
    if (p == "gemini") p = "google";
  }
  AdapterDependencies deps;
  deps.allowed_providers = providers;
  auto adapter = AdapterImpl::Create(config, std::move(deps));
  if (!adapter.ok()) return adapter.status();
  return std::shared_ptr<MultiProviderCostTracker>(
      std::make_shared<MultiProviderCostTrackerImpl>(*std::move(adapter), std::move(providers)));
}

}  // namespace genops
