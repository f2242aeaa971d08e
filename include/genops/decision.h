// Decision: the outcome of governing one operation before it runs.
//
// A refusal is not an error: Adapter and Governor return a Decision, and only broken
// invariants or I/O failures travel as absl::Status.
//
// Thread safety: plain value types.
#ifndef GENOPS_DECISION_H_
#define GENOPS_DECISION_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "genops/attribution.h"
#include "genops/money.h"

namespace genops {

// How hard governance pushes back (the seed's `governance_policy`). DESIGN.md §3.
enum class PolicyLevel {
  // Never blocks, raises no alerts: decisions are only recorded.
  kAuditOnly,
  // Never blocks; every rule that would have blocked raises an alert instead.
  kAdvisory,
  // Blocks on the per-operation cap, budgets and approvals; fails open (with an alert)
  // when the ledger is unreachable.
  kEnforced,
  // As kEnforced, and also blocks unpriced models, missing team/project, models outside the
  // allowlist; fails closed when the ledger is unreachable.
  kStrict,
};

std::string_view PolicyLevelName(PolicyLevel level);  // "audit_only", ...
absl::StatusOr<PolicyLevel> ParsePolicyLevel(std::string_view name);

enum class DecisionResult {
  // Every rule passed; the operation may run.
  kAllowed,
  // A rule was broken but the level does not block (advisory, audit_only, or enforced with
  // the ledger unreachable). The operation may run; `reason` says what was broken.
  kWarned,
  // The operation must not run. No spend was reserved.
  kBlocked,
  // The estimate exceeds `cost_approval_threshold`; the operation must not run until the
  // approval named by `approval_id` is granted.
  kApprovalRequired,
};

std::string_view DecisionResultName(DecisionResult result);  // "allowed", "warned", ...
absl::StatusOr<DecisionResult> ParseDecisionResult(std::string_view name);

enum class DecisionReason {
  kNone,
  kOperationCostExceeded,  // estimate above max_operation_cost or the call's max_cost
  kBudgetExceeded,         // a matching budget lacks room for the estimate
  kApprovalRequired,       // estimate above cost_approval_threshold, not yet approved
  kApprovalDenied,         // the approval callback or an operator said no
  kUnpricedModel,          // the catalog has no price for the model
  kMissingAttribution,     // team or project missing
  kModelNotAllowed,        // model outside the configured allowlist
  kDataResidency,          // the call's data region is not an allowed one
  kConcurrencyLimit,       // more than max_concurrent_operations in flight
  kLedgerUnavailable,      // the budget ledger could not be reached
};

std::string_view DecisionReasonName(DecisionReason reason);  // "budget_exceeded", ...
absl::StatusOr<DecisionReason> ParseDecisionReason(std::string_view name);

struct Decision {
  DecisionResult result = DecisionResult::kAllowed;
  DecisionReason reason = DecisionReason::kNone;
  // Human-readable: what was broken and what to do about it.
  std::string message;
  // The worst-case cost the decision was taken on.
  Money estimate;
  // The budget that refused (kBudgetExceeded) or the tightest one consulted.
  std::string budget_name;
  // Set with kApprovalRequired.
  std::string approval_id;

  bool may_proceed() const {
    return result == DecisionResult::kAllowed || result == DecisionResult::kWarned;
  }
};

// What an approval callback (or an operator, through the approvals API) is asked to decide.
struct ApprovalRequest {
  std::string approval_id;
  std::string operation_id;
  Attribution attribution;
  std::string provider;
  std::string model;
  Money estimate;  // the worst-case cost that exceeded cost_approval_threshold
};

}  // namespace genops

#endif  // GENOPS_DECISION_H_
