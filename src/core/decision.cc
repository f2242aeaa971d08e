// Names of the policy enums (see include/genops/decision.h).
#include "genops/decision.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/core/text.h"

namespace genops {
namespace {

// ASCII lowercase (model ids and provider names are ASCII).
std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string_view PolicyLevelName(PolicyLevel level) {
  switch (level) {
    case PolicyLevel::kAuditOnly:
      return "audit_only";
    case PolicyLevel::kAdvisory:
      return "advisory";
    case PolicyLevel::kEnforced:
      return "enforced";
    case PolicyLevel::kStrict:
      return "strict";
  }
  return "unknown";
}

absl::StatusOr<PolicyLevel> ParsePolicyLevel(std::string_view name) {
  std::string lower = LowerAscii(name);
  while (!lower.empty() && lower.back() == ' ') lower.pop_back();
  while (!lower.empty() && lower.front() == ' ') lower.erase(lower.begin());
  for (PolicyLevel level : {PolicyLevel::kAuditOnly, PolicyLevel::kAdvisory, PolicyLevel::kEnforced,
                            PolicyLevel::kStrict}) {
    if (lower == PolicyLevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      Cat("unknown governance_policy \"", name,
          "\"; expected one of audit_only, advisory, enforced, strict"));
}

std::string_view DecisionResultName(DecisionResult result) {
  switch (result) {
    case DecisionResult::kAllowed:
      return "allowed";
    case DecisionResult::kWarned:
      return "warned";
    case DecisionResult::kBlocked:
      return "blocked";
    case DecisionResult::kApprovalRequired:
      return "approval_required";
  }
  return "unknown";
}

std::string_view DecisionReasonName(DecisionReason reason) {
  switch (reason) {
    case DecisionReason::kNone:
      return "none";
    case DecisionReason::kOperationCostExceeded:
      return "operation_cost_exceeded";
    case DecisionReason::kBudgetExceeded:
      return "budget_exceeded";
    case DecisionReason::kApprovalRequired:
      return "approval_required";
    case DecisionReason::kApprovalDenied:
      return "approval_denied";
    case DecisionReason::kUnpricedModel:
      return "unpriced_model";
    case DecisionReason::kMissingAttribution:
      return "missing_attribution";
    case DecisionReason::kModelNotAllowed:
      return "model_not_allowed";
    case DecisionReason::kDataResidency:
      return "data_residency";
    case DecisionReason::kConcurrencyLimit:
      return "concurrency_limit";
    case DecisionReason::kLedgerUnavailable:
      return "ledger_unavailable";
  }
  return "unknown";
}

absl::StatusOr<DecisionResult> ParseDecisionResult(std::string_view name) {
  for (DecisionResult result : {DecisionResult::kAllowed, DecisionResult::kWarned,
                                DecisionResult::kBlocked, DecisionResult::kApprovalRequired}) {
    if (DecisionResultName(result) == name) return result;
  }
  return absl::InvalidArgumentError(
      Cat("unknown decision result \"", name,
          "\"; expected allowed, warned, blocked or approval_required"));
}

absl::StatusOr<DecisionReason> ParseDecisionReason(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(DecisionReason::kLedgerUnavailable); ++i) {
    DecisionReason reason = static_cast<DecisionReason>(i);
    if (DecisionReasonName(reason) == name) return reason;
  }
  return absl::InvalidArgumentError(Cat("unknown decision reason \"", name, "\""));
}

}  // namespace genops
