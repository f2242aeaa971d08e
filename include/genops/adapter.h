// Adapter: the governance adapter of the seed (GenOpsTraceloopAdapter), in C++.
//
// Build one with instrument_traceloop(config) (or the process-wide one with
// auto_instrument(config)); wrap each LLM call in track_operation(). The adapter owns the
// pricing catalog, the policy engine, the budget ledger, the alert sinks and the span
// pipeline (sampler, limits, batch processor, exporters).
//
// Example:
//   genops::AdapterConfig config{.team = "engineering-team", .project = "llm-chatbot"};
//   config.governance_policy = genops::PolicyLevel::kEnforced;
//   config.max_operation_cost = 5.0;
//   auto adapter = genops::instrument_traceloop(config).value();
//   try {
//     auto op = adapter->track_operation("chat_completion", "customer_query",
//                                        {.provider = "openai", .model = "gpt-4",
//                                         .max_output_tokens = 200});
//     op.record_response("openai", call_openai(...));
//   } catch (const genops::PolicyViolationError& e) {
//     // e.decision() says why: budget, cap, approval...
//   }
//
// Thread safety: thread-safe. track_operation() may be called from any number of threads.
#ifndef GENOPS_ADAPTER_H_
#define GENOPS_ADAPTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/config.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/operation.h"
#include "genops/operation_record.h"
#include "genops/usage.h"

namespace genops {

// Thrown by the throwing form of track_operation() when governance refuses the operation.
class PolicyViolationError : public std::runtime_error {
 public:
  explicit PolicyViolationError(Decision decision);
  const Decision& decision() const noexcept { return decision_; }

 private:
  Decision decision_;
};

// A budget's state (seed's get_budget_status()).
struct BudgetStatusView {
  std::string name;
  std::string scope;   // "team=a,project=b" or "global"
  std::string period;  // day | week | month | total
  Money limit;
  Money spent;
  Money reserved;
  Money remaining;
  double utilization_percent = 0;
  int64_t window_start_unix_nanos = 0;
  int64_t window_end_unix_nanos = 0;
};

// Totals over a group of operations.
struct CostTotals {
  int64_t operations = 0;
  Money cost;
  Usage usage;
};

// Seed's get_metrics() on the adapter.
struct AdapterMetrics {
  Money daily_usage;  // spent today (UTC) on the adapter's scope
  int64_t operation_count = 0;
  std::optional<Money> budget_remaining;  // of the daily budget, when one is set
  bool governance_enabled = true;
  PolicyLevel policy = PolicyLevel::kAdvisory;
  int64_t allowed = 0;
  int64_t warned = 0;
  int64_t blocked = 0;
  int64_t approval_required = 0;
  int64_t unpriced_operations = 0;
  int64_t in_flight = 0;
  int64_t pending_settlements = 0;  // charges waiting for the ledger to come back
  Money total_cost;
  int64_t spans_exported = 0;
  int64_t spans_dropped = 0;  // queue full, limits, or export failures
  int64_t spans_unsampled = 0;
  int64_t alerts_raised = 0;
  // With enable_detailed_metrics only.
  std::map<std::string, CostTotals> by_provider;
  std::map<std::string, CostTotals> by_model;
  std::map<std::string, CostTotals> by_team;

  std::string ToJson() const;
};

struct OperationsSummary {
  std::vector<OperationRecord> operations;  // newest first, at most `limit`
  CostTotals totals;                        // over every retained operation
  std::map<std::string, CostTotals> by_provider;
};

// Seed's get_current_governance_context().
struct GovernanceContext {
  Attribution attribution;  // the adapter's defaults
  PolicyLevel policy = PolicyLevel::kAdvisory;
  bool governance_enabled = true;
  std::vector<std::string> compliance_frameworks;
  std::optional<std::string> current_operation_id;  // innermost open operation on this thread
  std::optional<std::string> current_trace_id;
  std::string ToString() const;
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  // Starts a governed operation. Throws PolicyViolationError when it is refused (blocked or
  // awaiting approval) — the seed's behaviour. Never throws for anything else.
  virtual Operation track_operation(std::string_view operation_type,
                                    std::string_view operation_name,
                                    const TrackOptions& options = {}) = 0;
  // The non-throwing form: always returns an Operation; check op.allowed() / op.decision().
  // A refused operation is still recorded (and exported) with its decision.
  virtual Operation try_track_operation(std::string_view operation_type,
                                        std::string_view operation_name,
                                        const TrackOptions& options = {}) noexcept = 0;

  virtual AdapterMetrics get_metrics() const = 0;
  virtual std::vector<BudgetStatusView> get_budget_status() const = 0;
  virtual OperationsSummary get_recent_operations_summary(size_t limit = 10) const = 0;
  virtual GovernanceContext get_current_governance_context() const = 0;

  // Operator actions on held operations (the gateway's admin API uses the same store).
  virtual absl::Status approve(std::string_view approval_id) = 0;
  virtual absl::Status deny(std::string_view approval_id) = 0;

  // Retries settlements held back by an unreachable ledger, writes queued operation records
  // to a shared ledger, and exports every queued span. Returns false when any of them could
  // not complete (ledger still unreachable, timeout).
  virtual bool flush(int timeout_ms = 10000) noexcept = 0;
  // Flushes and stops exporting. Operations after shutdown are still governed and charged.
  virtual void shutdown() noexcept = 0;
};

// Seed's instrument_traceloop(**kwargs): validates the configuration (every error names the
// parameter) and builds an adapter.
absl::StatusOr<std::shared_ptr<Adapter>> instrument_traceloop(const AdapterConfig& config);

// Seed's auto_instrument(team, project, **kwargs): builds an adapter from the arguments and
// the GENOPS_* / OTEL_* / TRACELOOP_* environment, and installs it as the process-wide
// adapter used by the free functions below. Replaces (and shuts down) a previous one.
absl::StatusOr<std::shared_ptr<Adapter>> auto_instrument(const AdapterConfig& config);
absl::StatusOr<std::shared_ptr<Adapter>> auto_instrument(std::string team, std::string project,
                                                         AdapterConfig config = {});
// The adapter installed by auto_instrument(), or null.
std::shared_ptr<Adapter> global_adapter();
// Shuts down and removes the process-wide adapter.
void reset_global_adapter();

// Free functions of the seed, over the process-wide adapter. Without one they return empty
// results (and get_current_governance_context() the environment's defaults).
std::vector<BudgetStatusView> get_budget_status();
OperationsSummary get_recent_operations_summary(size_t limit = 10);
GovernanceContext get_current_governance_context();

// Seed's multi_provider_cost_tracking(providers, **kwargs): one adapter with unified
// governance over several providers. Operations on a provider outside the list are refused
// under enforced/strict and warned about otherwise. summary() is read from the ledger of
// recorded operations, per provider.
class MultiProviderCostTracker {
 public:
  virtual ~MultiProviderCostTracker() = default;
  virtual Adapter& adapter() = 0;
  virtual const std::vector<std::string>& providers() const = 0;
  struct Summary {
    std::map<std::string, CostTotals> by_provider;  // every listed provider, zero if unused
    CostTotals total;
    std::optional<Money> budget_remaining;
    std::string ToString() const;  // an aligned table
  };
  virtual Summary summary() const = 0;
};
absl::StatusOr<std::shared_ptr<MultiProviderCostTracker>> multi_provider_cost_tracking(
    std::vector<std::string> providers, const AdapterConfig& config);

}  // namespace genops

#endif  // GENOPS_ADAPTER_H_
