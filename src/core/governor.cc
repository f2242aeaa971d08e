#include "src/core/governor.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace genops {
namespace {

constexpr double kAnomalyFactor = 5.0;
constexpr int64_t kAnomalyMinSamples = 20;
constexpr double kAnomalyAlpha = 0.1;
constexpr size_t kMaxAnomalyModels = 10'000;
constexpr int64_t kMaintenanceIntervalNanos = kNanosPerSecond;

std::atomic<uint64_t> next_governor_id{1};

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Usd(Money m) { return absl::StrCat("$", m.ToUsdString()); }

bool ContainsIgnoreCase(const std::vector<std::string>& list, std::string_view value) {
  for (const std::string& item : list) {
    if (absl::EqualsIgnoreCase(item, Sv(value))) return true;
  }
  return false;
}

std::string WindowText(const ledger::BudgetStatus& b) {
  if (b.spec->period == ledger::BudgetPeriod::kTotal) return "in total";
  return absl::StrCat(
      "in the ", Sv(ledger::BudgetPeriodName(b.spec->period)), " starting ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(b.window.start_unix_nanos),
                       absl::UTCTimeZone()));
}

absl::Status ValidateNonNegative(std::string_view name, const std::optional<Money>& value) {
  if (value.has_value() && *value < Money::Zero()) {
    return absl::InvalidArgumentError(absl::StrCat("governance: ", Sv(name), " is ",
                                                   value->ToUsdString(), " USD; it must be >= 0"));
  }
  return absl::OkStatus();
}

const ledger::BudgetStatus* Tightest(const ledger::BudgetStatusList& budgets) {
  const ledger::BudgetStatus* best = nullptr;
  for (const auto& b : budgets) {
    if (best == nullptr || b.remaining() < best->remaining()) best = &b;
  }
  return best;
}

}  // namespace

// --- Settings ----------------------------------------------------------------------------

absl::Status ValidateGovernanceSettings(const GovernanceSettings& s) {
  for (const auto& [name, value] : {std::pair<std::string_view, const std::optional<Money>*>{
                                        "daily_budget_limit", &s.daily_budget_limit},
                                    {"max_operation_cost", &s.max_operation_cost},
                                    {"cost_alert_threshold", &s.cost_alert_threshold},
                                    {"cost_approval_threshold", &s.cost_approval_threshold}}) {
    if (absl::Status st = ValidateNonNegative(name, *value); !st.ok()) return st;
  }
  if (s.require_cost_approval && !s.cost_approval_threshold.has_value()) {
    return absl::InvalidArgumentError(
        "governance: require_cost_approval is set but cost_approval_threshold is not; set the "
        "USD amount above which an operation is held for approval");
  }
  if (s.operation_timeout_nanos <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("governance: operation_timeout must be positive (got ",
                     s.operation_timeout_nanos, " ns); it bounds how long a reservation is held"));
  }
  if (s.max_concurrent_operations < 0) {
    return absl::InvalidArgumentError(absl::StrCat("governance: max_concurrent_operations is ",
                                                   s.max_concurrent_operations,
                                                   "; use 0 for unlimited or a positive count"));
  }
  if (s.default_max_output_tokens <= 0 || s.default_max_output_tokens > Usage::kMaxTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("governance: default_max_output_tokens is ", s.default_max_output_tokens,
                     "; it must be between 1 and ", Usage::kMaxTokens));
  }
  for (size_t i = 0; i < s.allowed_models.size(); ++i) {
    if (s.allowed_models[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("governance: allowed_models[", i, "] is empty; list model ids"));
    }
  }
  for (size_t i = 0; i < s.data_residency.size(); ++i) {
    if (s.data_residency[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "governance: data_residency[", i, "] is empty; list region names such as US or EU"));
    }
  }
  std::set<std::string> names;
  if (s.daily_budget_limit.has_value()) names.insert("daily");
  for (size_t i = 0; i < s.budgets.size(); ++i) {
    const ledger::BudgetSpec& b = s.budgets[i];
    const std::string where = absl::StrCat("governance: budgets[", i, "]");
    if (b.name.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty name"));
    if (!names.insert(b.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the budget name '", b.name, "' is used twice",
          b.name == "daily" ? " (daily_budget_limit already defines a budget named 'daily')" : ""));
    }
    if (b.limit < Money::Zero()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", b.name, "): negative limit ", b.limit.ToUsdString(), " USD"));
    }
    for (const auto& [dimension, value] : b.scope) {
      if (!Attribution::IsKnownDimension(dimension)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " (", b.name, "): unknown scope key '", dimension,
            "'; use team, project, environment, customer_id, cost_center, feature or tag:<key>"));
      }
    }
    for (double t : b.alert_thresholds) {
      if (!(t > 0 && t <= 10)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " (", b.name, "): alert threshold ", t,
                         " is outside (0, 10]; thresholds are fractions of the limit, e.g. 0.8"));
      }
    }
  }
  return absl::OkStatus();
}

std::optional<ledger::BudgetSpec> DailyBudgetSpec(const GovernanceSettings& settings) {
  if (!settings.daily_budget_limit.has_value()) return std::nullopt;
  ledger::BudgetSpec spec;
  spec.name = "daily";
  spec.limit = *settings.daily_budget_limit;
  spec.period = ledger::BudgetPeriod::kDay;
  const Attribution& d = settings.defaults;
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"team", &d.team},
                                   {"project", &d.project},
                                   {"environment", &d.environment},
                                   {"customer_id", &d.customer_id},
                                   {"cost_center", &d.cost_center}}) {
    if (!value->empty()) spec.scope[key] = *value;
  }
  return spec;
}

// --- Construction ------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Governor>> Governor::Create(
    GovernanceSettings settings, std::shared_ptr<const pricing::Catalog> catalog,
    std::shared_ptr<ledger::Ledger> ledger, std::shared_ptr<AlertDispatcher> alerts,
    std::shared_ptr<ApprovalStore> approvals, const Clock* clock) {
  if (absl::Status s = ValidateGovernanceSettings(settings); !s.ok()) return s;
  if (catalog == nullptr) {
    return absl::InvalidArgumentError("governor: a pricing catalog is required");
  }
  if (ledger == nullptr) return absl::InvalidArgumentError("governor: a ledger is required");
  if (clock == nullptr) clock = Clock::Real();
  if (approvals == nullptr) approvals = std::make_shared<ApprovalStore>(clock);
  std::unique_ptr<Governor> governor(new Governor(std::move(settings), std::move(catalog),
                                                  std::move(ledger), std::move(alerts),
                                                  std::move(approvals), clock));
  if (absl::Status s = governor->SyncBudgets(); !s.ok()) {
    if (s.code() == absl::StatusCode::kInvalidArgument) return s;
    spdlog::warn("genops: budgets could not be written to the ledger yet ({}); retrying later",
                 s.ToString());
  }
  return governor;
}

Governor::Governor(GovernanceSettings settings, std::shared_ptr<const pricing::Catalog> catalog,
                   std::shared_ptr<ledger::Ledger> ledger, std::shared_ptr<AlertDispatcher> alerts,
                   std::shared_ptr<ApprovalStore> approvals, const Clock* clock)
    : settings_(std::move(settings)),
      catalog_(std::move(catalog)),
      ledger_(std::move(ledger)),
      alerts_(std::move(alerts)),
      approvals_(std::move(approvals)),
      clock_(clock),
      id_(next_governor_id.fetch_add(1, std::memory_order_relaxed)) {
  if (auto daily = DailyBudgetSpec(settings_); daily.has_value()) {
    budget_specs_.push_back(*std::move(daily));
  }
  for (const auto& b : settings_.budgets) budget_specs_.push_back(b);
  for (auto& b : budget_specs_) std::sort(b.alert_thresholds.begin(), b.alert_thresholds.end());
}

Governor::~Governor() = default;

absl::Status Governor::SyncBudgets() {
  for (const auto& spec : budget_specs_) {
    if (absl::Status s = ledger_->UpsertBudget(spec); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  budgets_synced_ = true;
  return absl::OkStatus();
}

void Governor::set_approval_callback(ApprovalCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  approval_callback_ = std::move(callback);
}

// Catalog::Find resolves dated ids, aliases and prefixes (~80 ns), and a thread usually asks
// about the same few models over and over. The catalog is immutable and held for the
// governor's lifetime, so remembering its answers per (governor, provider, model) is exact.
const pricing::ModelPricing* Governor::FindPricing(std::string_view provider,
                                                   std::string_view model) const {
  if (model.empty()) return nullptr;
  struct Entry {
    uint64_t governor = 0;  // 0: unused
    std::string provider;
    std::string model;
    const pricing::ModelPricing* pricing = nullptr;
  };
  static constexpr size_t kEntries = 4;
  thread_local std::array<Entry, kEntries> cache;
  thread_local size_t next_victim = 0;
  for (const Entry& e : cache) {
    if (e.governor == id_ && e.model == model && e.provider == provider) return e.pricing;
  }
  const pricing::ModelPricing* found = catalog_->Find(provider, model);
  if (model.size() <= 64 && provider.size() <= 64) {  // ids, not arbitrary text
    Entry& e = cache[next_victim++ % kEntries];
    e.governor = id_;
    e.provider.assign(provider);
    e.model.assign(model);
    e.pricing = found;
  }
  return found;
}

bool Governor::Blocks() const {
  return settings_.level == PolicyLevel::kEnforced || settings_.level == PolicyLevel::kStrict;
}

bool Governor::Alerts() const {
  return settings_.enable_cost_alerts && settings_.level != PolicyLevel::kAuditOnly;
}

Alert Governor::MakeAlert(AlertKind kind, std::string severity, std::string message,
                          const OperationRequest& request, Money amount) const {
  Alert a;
  a.kind = kind;
  a.severity = std::move(severity);
  a.message = std::move(message);
  a.operation_id = request.operation_id;
  a.attribution = request.attribution;
  a.amount = amount;
  a.time_unix_nanos = clock_->NowUnixNanos();
  return a;
}

void Governor::Raise(Alert alert, std::vector<Alert>& out) {
  counters_.alerts_raised.fetch_add(1, std::memory_order_relaxed);
  if (alerts_ != nullptr) alerts_->Dispatch(alert);
  out.push_back(std::move(alert));
}

// --- Admit -------------------------------------------------------------------------------

Admission Governor::Admit(const OperationRequest& request) noexcept {
  try {
    return AdmitImpl(request);
  } catch (...) {
    // Only allocation failure can get here. Fail the way the level fails for a dead ledger.
    Admission a;
    a.decision.result = settings_.level == PolicyLevel::kStrict ? DecisionResult::kBlocked
                                                                : DecisionResult::kWarned;
    a.decision.reason = DecisionReason::kLedgerUnavailable;
    a.decision.message = "governance failed internally (out of memory?)";
    return a;
  }
}

Admission Governor::AdmitImpl(const OperationRequest& request) {
  const int64_t now = request.now_unix_nanos != 0 ? request.now_unix_nanos : clock_->NowUnixNanos();
  Maintain(now);
  const bool strict = settings_.level == PolicyLevel::kStrict;
  const bool blocks = Blocks();
  Admission a;
  Decision& d = a.decision;

  // 1. The worst case.
  const pricing::ModelPricing* pricing =
      request.model.empty() ? nullptr : FindPricing(request.provider, request.model);
  a.priced = pricing != nullptr;
  Money estimate;
  if (request.estimated_cost.has_value()) {
    estimate = std::max(*request.estimated_cost, Money::Zero());
  } else if (pricing != nullptr) {
    int64_t max_output = request.max_output_tokens.value_or(0);
    if (max_output <= 0) {
      max_output = pricing->default_max_output_tokens > 0 ? pricing->default_max_output_tokens
                                                          : settings_.default_max_output_tokens;
    }
    estimate = pricing::EstimateWorstCase(
        *pricing, std::clamp<int64_t>(request.estimated_input_tokens, 0, Usage::kMaxTokens),
        std::min(max_output, Usage::kMaxTokens));
  }
  d.estimate = estimate;
  counters_.operations.fetch_add(1, std::memory_order_relaxed);
  if (!a.priced) counters_.unpriced.fetch_add(1, std::memory_order_relaxed);
  if (request.operation_id.empty()) {
    // Not a policy matter but a caller bug: without an id nothing can be recorded
    // idempotently, so no level lets it through.
    d.result = DecisionResult::kBlocked;
    d.message = "the operation has no id; every governed operation needs a unique operation_id";
    counters_.blocked.fetch_add(1, std::memory_order_relaxed);
    return a;
  }

  if (!settings_.enable_governance) {
    Track(request, Money::Zero());
    d.message = "governance disabled: spend is tracked, not limited";
    counters_.allowed.fetch_add(1, std::memory_order_relaxed);
    return a;
  }

  struct Warning {
    DecisionReason reason;
    std::string message;
    std::string budget;
  };
  std::vector<Warning> warnings;
  bool tracked = false;

  // Ends the admission with a refusal. The caller then returns `a`: every return of this
  // function returns `a`, so it is built in place in the caller's object, never moved.
  // Nothing is reserved at this point.
  auto refuse = [&](DecisionResult result, DecisionReason reason, std::string message,
                    std::string budget = {}) {
    if (tracked) {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_.erase(std::string_view(request.operation_id));
    }
    d.result = result;
    d.reason = reason;
    d.message = std::move(message);
    d.budget_name = std::move(budget);
    (result == DecisionResult::kApprovalRequired ? counters_.approval_required : counters_.blocked)
        .fetch_add(1, std::memory_order_relaxed);
    if (Alerts() && result == DecisionResult::kBlocked) {
      Alert alert =
          MakeAlert(reason == DecisionReason::kLedgerUnavailable ? AlertKind::kLedgerUnavailable
                                                                 : AlertKind::kPolicyViolation,
                    "critical", absl::StrCat("blocked: ", d.message), request, estimate);
      alert.budget_name = d.budget_name;
      Raise(std::move(alert), a.alerts);
    }
  };
  // A broken rule: refuses (and returns true) when `blocking`, else becomes a warning.
  auto violation = [&](bool blocking, DecisionReason reason, std::string message,
                       std::string budget = {}) {
    if (blocking) {
      refuse(DecisionResult::kBlocked, reason, std::move(message), std::move(budget));
      return true;
    }
    warnings.push_back({reason, std::move(message), std::move(budget)});
    return false;
  };

  // 2. Attribution, pricing and model rules.
  if (strict && (request.attribution.team.empty() || request.attribution.project.empty())) {
    std::vector<std::string> missing;
    if (request.attribution.team.empty()) missing.push_back("team");
    if (request.attribution.project.empty()) missing.push_back("project");
    refuse(DecisionResult::kBlocked, DecisionReason::kMissingAttribution,
           absl::StrCat("strict policy requires team and project (missing: ",
                        absl::StrJoin(missing, ", "),
                        "); set them in the configuration, GENOPS_TEAM / GENOPS_PROJECT, "
                        "or the call's attribution"));
    return a;
  }
  if (!a.priced && !request.estimated_cost.has_value() && (strict || !request.model.empty())) {
    std::string message;
    if (request.model.empty()) {
      message =
          "no model given, so the cost cannot be estimated; name the model or pass an "
          "estimated cost";
    } else {
      message = absl::StrCat("model '", request.model, "'",
                             request.provider.empty() ? "" : " of provider '", request.provider,
                             request.provider.empty() ? "" : "'",
                             " has no price in the catalog; add it with a pricing override");
      const std::vector<std::string> close = catalog_->ClosestMatches(request.model, 3);
      if (!close.empty())
        absl::StrAppend(&message, " (did you mean ", absl::StrJoin(close, ", "), "?)");
    }
    if (violation(strict, DecisionReason::kUnpricedModel, std::move(message))) return a;
  }
  if (strict && !settings_.allowed_models.empty()) {
    bool allowed = ContainsIgnoreCase(settings_.allowed_models, request.model);
    if (!allowed && pricing != nullptr) {
      allowed = ContainsIgnoreCase(settings_.allowed_models, pricing->id);
      for (const std::string& alias : pricing->aliases) {
        allowed = allowed || ContainsIgnoreCase(settings_.allowed_models, alias);
      }
    }
    if (!allowed) {
      refuse(DecisionResult::kBlocked, DecisionReason::kModelNotAllowed,
             absl::StrCat("model '", request.model, "' is not in allowed_models (",
                          absl::StrJoin(settings_.allowed_models, ", "), ")"));
      return a;
    }
  }
  if (!settings_.data_residency.empty()) {
    if (!request.data_region.empty() &&
        !ContainsIgnoreCase(settings_.data_residency, request.data_region)) {
      if (violation(
              blocks, DecisionReason::kDataResidency,
              absl::StrCat("data region '", request.data_region, "' is not an allowed region (",
                           absl::StrJoin(settings_.data_residency, ", "), ")"))) {
        return a;
      }
    } else if (request.data_region.empty() && strict) {
      refuse(DecisionResult::kBlocked, DecisionReason::kDataResidency,
             absl::StrCat("strict policy requires the call's data region (one of ",
                          absl::StrJoin(settings_.data_residency, ", "), ")"));
      return a;
    }
  }

  // 3. The per-operation cap.
  std::optional<Money> cap = settings_.max_operation_cost;
  std::string_view cap_name = "max_operation_cost";
  if (request.max_cost.has_value() && (!cap.has_value() || *request.max_cost < *cap)) {
    cap = request.max_cost;
    cap_name = "the call's max_cost";
  }
  if (cap.has_value() && estimate > *cap) {
    if (violation(
            blocks, DecisionReason::kOperationCostExceeded,
            absl::StrCat("estimated worst-case cost ", Usd(estimate), " exceeds ", Sv(cap_name),
                         " ", Usd(*cap), "; lower max_tokens or raise the cap"))) {
      return a;
    }
  }

  // 4. Approvals.
  std::string approval_to_consume;
  if (settings_.require_cost_approval && settings_.cost_approval_threshold.has_value() &&
      estimate > *settings_.cost_approval_threshold) {
    const std::string why =
        absl::StrCat("estimated cost ", Usd(estimate), " exceeds cost_approval_threshold ",
                     Usd(*settings_.cost_approval_threshold));
    if (!blocks) {
      warnings.push_back(
          {DecisionReason::kApprovalRequired,
           absl::StrCat(why, " (not held: policy ", Sv(PolicyLevelName(settings_.level)), ")"),
           {}});
    } else {
      ApprovalRequest ask;
      ask.operation_id = request.operation_id;
      ask.attribution = request.attribution;
      ask.provider = request.provider;
      ask.model = request.model;
      ask.estimate = estimate;
      if (!request.approval_id.empty()) {
        std::optional<ApprovalStore::Entry> entry = approvals_->Find(request.approval_id);
        if (entry.has_value()) {
          if (entry->state == ApprovalStore::State::kDenied) {
            refuse(DecisionResult::kBlocked, DecisionReason::kApprovalDenied,
                   absl::StrCat("approval '", request.approval_id, "' was denied"));
            return a;
          }
          if (entry->state == ApprovalStore::State::kPending) {
            d.approval_id = request.approval_id;
            refuse(DecisionResult::kApprovalRequired, DecisionReason::kApprovalRequired,
                   absl::StrCat(why, "; approval '", request.approval_id, "' is still pending"));
            return a;
          }
          if (entry->state == ApprovalStore::State::kApproved &&
              estimate <= entry->request.estimate) {
            approval_to_consume = request.approval_id;
          }
        }
      }
      if (approval_to_consume.empty()) {
        ApprovalCallback callback;
        {
          std::lock_guard<std::mutex> lock(mu_);
          callback = approval_callback_;
        }
        const std::string id = approvals_->Create(ask);
        ask.approval_id = id;
        if (callback) {
          bool approved = false;
          try {
            approved = callback(ask);
          } catch (...) {
            approved = false;  // a throwing callback is a "no"
          }
          if (!approved) {
            (void)approvals_->Deny(id);
            d.approval_id = id;
            refuse(DecisionResult::kBlocked, DecisionReason::kApprovalDenied,
                   absl::StrCat(why, "; the approval callback denied it"));
            return a;
          }
          (void)approvals_->Approve(id);
          approval_to_consume = id;
        } else {
          d.approval_id = id;
          refuse(DecisionResult::kApprovalRequired, DecisionReason::kApprovalRequired,
                 absl::StrCat(why, "; approve '", id,
                              "' (Adapter::approve in the SDK) and retry with that "
                              "approval id"));
          return a;
        }
      }
    }
  }

  // 5. Concurrency (the operation counts as in flight from here on). A blocking level is
  // about to reserve the estimate: it is recorded as reserved now (one lock instead of two),
  // and put back below if the ledger cannot take the reservation.
  bool was_in_flight = false;
  Money in_flight_before;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (settings_.max_concurrent_operations == 0) {
      // Unlimited (the usual case): never full, so look up and insert at once (one hash of
      // the id instead of two).
      auto [it, inserted] = in_flight_.try_emplace(std::string_view(request.operation_id),
                                                   blocks ? estimate : Money::Zero());
      was_in_flight = !inserted;
      if (was_in_flight) {
        in_flight_before = it->second;
        if (blocks) it->second = estimate;
      }
      tracked = true;
    }
    auto existing = tracked ? in_flight_.end()
                            : in_flight_.find(std::string_view(request.operation_id));
    if (!tracked) was_in_flight = existing != in_flight_.end();
    const bool full = settings_.max_concurrent_operations > 0 && !was_in_flight &&
                      in_flight_.size() >= static_cast<size_t>(settings_.max_concurrent_operations);
    if (!tracked && (!full || !blocks)) {
      if (was_in_flight) {
        in_flight_before = existing->second;
        if (blocks) existing->second = estimate;
      } else {
        in_flight_.emplace(IdKey(request.operation_id), blocks ? estimate : Money::Zero());
      }
      tracked = true;
    }
    if (full) {
      warnings.push_back({DecisionReason::kConcurrencyLimit,
                          absl::StrCat(in_flight_.size() - (tracked ? 1 : 0),
                                       " operations in flight reach max_concurrent_operations ",
                                       settings_.max_concurrent_operations),
                          {}});
    }
  }
  if (!tracked) {
    Warning w = std::move(warnings.back());
    warnings.pop_back();
    refuse(DecisionResult::kBlocked, w.reason, std::move(w.message));
    return a;
  }

  // 6. Budgets: reserve (blocking levels) or read (advisory, audit).
  if (blocks) {
    // Reused by this thread's admissions: assigning into it reuses its strings' buffers.
    thread_local ledger::ReserveRequest reserve;
    reserve.operation_id = request.operation_id;
    // A thread's calls mostly share one attribution: comparing costs a third of copying.
    if (!(reserve.attribution == request.attribution)) reserve.attribution = request.attribution;
    reserve.amount = estimate;
    reserve.now_unix_nanos = now;
    reserve.expires_at_unix_nanos = now + settings_.operation_timeout_nanos;
    absl::StatusOr<ledger::ReserveOutcome> outcome = ledger_->Reserve(reserve);
    if (!outcome.ok()) {
      if (strict) {
        refuse(DecisionResult::kBlocked, DecisionReason::kLedgerUnavailable,
               absl::StrCat("the budget ledger is unavailable and strict policy fails "
                            "closed: ",
                            outcome.status().ToString()));
        return a;
      }
      warnings.push_back({DecisionReason::kLedgerUnavailable,
                          absl::StrCat("the budget ledger is unavailable; allowed without a "
                                       "reservation (fail-open): ",
                                       outcome.status().ToString()),
                          {}});
      std::lock_guard<std::mutex> lock(mu_);  // nothing was reserved after all
      auto it = in_flight_.find(std::string_view(request.operation_id));
      if (it != in_flight_.end()) it->second = was_in_flight ? in_flight_before : Money::Zero();
    } else if (!outcome->admitted) {
      a.budgets = outcome->budgets;
      std::string message =
          absl::StrCat("budget '", outcome->refused_by, "' lacks room for ", Usd(estimate));
      for (const auto& b : outcome->budgets) {
        if (b.spec->name != outcome->refused_by) continue;
        absl::StrAppend(&message, ": ", Usd(b.spent), " spent and ", Usd(b.reserved),
                        " reserved of ", Usd(b.spec->limit), " ", WindowText(b), " (",
                        ledger::ScopeToString(b.spec->scope), ")");
      }
      refuse(DecisionResult::kBlocked, DecisionReason::kBudgetExceeded, std::move(message),
             outcome->refused_by);
      return a;
    } else {
      a.reserved = true;
      a.budgets = std::move(outcome->budgets);  // in_flight_ already holds the estimate (5.)
    }
  } else {
    absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets = ledger_->ListBudgets(now);
    if (!budgets.ok()) {
      warnings.push_back(
          {DecisionReason::kLedgerUnavailable,
           absl::StrCat("the budget ledger is unavailable: ", budgets.status().ToString()),
           {}});
    } else {
      for (const auto& b : *budgets) {
        if (!ledger::ScopeMatches(b.spec->scope, request.attribution)) continue;
        a.budgets.push_back(b);
        if (b.spent + b.reserved + estimate > b.spec->limit) {
          warnings.push_back(
              {DecisionReason::kBudgetExceeded,
               absl::StrCat("budget '", b.spec->name, "' lacks room for ", Usd(estimate), ": ",
                            Usd(b.spent), " spent of ", Usd(b.spec->limit), " ", WindowText(b)),
               b.spec->name});
        }
      }
    }
  }

  // 7. Spend the approval, exactly once.
  if (!approval_to_consume.empty() && !approvals_->Consume(approval_to_consume).ok()) {
    if (a.reserved) (void)ledger_->Release(request.operation_id);
    a.reserved = false;
    ApprovalRequest ask;
    ask.operation_id = request.operation_id;
    ask.attribution = request.attribution;
    ask.provider = request.provider;
    ask.model = request.model;
    ask.estimate = estimate;
    d.approval_id = approvals_->Create(ask);
    refuse(DecisionResult::kApprovalRequired, DecisionReason::kApprovalRequired,
           absl::StrCat("approval '", approval_to_consume,
                        "' was already used by another operation; approve '", d.approval_id,
                        "' and retry with it"));
    return a;
  }

  // 8. The decision.
  if (const ledger::BudgetStatus* tightest = Tightest(a.budgets)) {
    d.budget_name = tightest->spec->name;
  }
  if (warnings.empty()) {
    d.result = DecisionResult::kAllowed;
    if (!approval_to_consume.empty()) {
      d.approval_id = approval_to_consume;
      d.message = absl::StrCat("allowed with approval '", approval_to_consume, "'");
    }
  } else {
    d.result = DecisionResult::kWarned;
    d.reason = warnings.front().reason;
    std::vector<std::string> messages;
    for (const Warning& w : warnings) messages.push_back(w.message);
    d.message = absl::StrJoin(messages, "; ");
    if (!warnings.front().budget.empty()) d.budget_name = warnings.front().budget;
    if (Alerts()) {
      for (Warning& w : warnings) {
        const bool ledger_down = w.reason == DecisionReason::kLedgerUnavailable;
        Alert alert = MakeAlert(
            ledger_down ? AlertKind::kLedgerUnavailable : AlertKind::kPolicyViolation,
            ledger_down ? "critical" : "warning", std::move(w.message), request, estimate);
        alert.budget_name = w.budget;
        Raise(std::move(alert), a.alerts);
      }
    }
  }
  (d.result == DecisionResult::kAllowed ? counters_.allowed : counters_.warned)
      .fetch_add(1, std::memory_order_relaxed);
  return a;
}

void Governor::Track(const OperationRequest& request, Money reserved) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_flight_.find(std::string_view(request.operation_id));
  if (it != in_flight_.end()) {
    it->second = reserved;
  } else {
    in_flight_.emplace(IdKey(request.operation_id), reserved);
  }
}

size_t Governor::IdHash::operator()(std::string_view id) const {
  return absl::Hash<absl::string_view>()(absl::string_view(id.data(), id.size()));
}

// --- Complete ----------------------------------------------------------------------------

Settlement Governor::Complete(const OperationRequest& request, const Admission& admission,
                              const Completion& completion) noexcept {
  try {
    return CompleteImpl(request, admission, completion);
  } catch (...) {
    Settlement s;
    s.ledger_status = absl::InternalError("settlement failed internally (out of memory?)");
    return s;
  }
}

Settlement Governor::CompleteImpl(const OperationRequest& request, const Admission& admission,
                                  const Completion& completion) {
  Settlement s;
  const SettlementPlan plan = PlanSettlement(request, admission, completion, s);
  Maintain(plan.now);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(std::string_view(request.operation_id));
  }
  absl::Status status;
  bool repeat = false;
  if (plan.record) {
    if (plan.kind == PendingSettlement::Kind::kRelease) {
      status = ledger_->Release(request.operation_id);
    } else {
      absl::StatusOr<ledger::SettleOutcome> outcome =
          plan.kind == PendingSettlement::Kind::kSettle
              ? ledger_->Settle(request.operation_id, s.cost, plan.now)
              : ledger_->Charge(request.operation_id, request.attribution, s.cost, plan.now);
      RetryOtherWay(request, s.cost, plan.now, outcome);
      if (outcome.ok()) {
        s.budgets = std::move(outcome->budgets);
        repeat = outcome->already_settled;
      } else {
        status = outcome.status();
      }
    }
  }
  FinishSettlement(request, plan, status, repeat, s);
  return s;
}

std::vector<Settlement> Governor::CompleteUnreserved(
    absl::Span<const UnreservedCompletion> calls) noexcept {
  std::vector<Settlement> out;
  try {
    out.resize(calls.size());
    std::vector<SettlementPlan> plans;
    plans.reserve(calls.size());
    const Admission none;
    for (size_t i = 0; i < calls.size(); ++i) {
      plans.push_back(PlanSettlement(*calls[i].request, none, *calls[i].completion, out[i]));
    }
    if (calls.empty()) return out;
    Maintain(plans.front().now);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const UnreservedCompletion& c : calls) {
        in_flight_.erase(std::string_view(c.request->operation_id));
      }
    }
    std::vector<ledger::ChargeItem> items;
    std::vector<size_t> charged;  // the call of each item
    items.reserve(calls.size());
    charged.reserve(calls.size());
    for (size_t i = 0; i < calls.size(); ++i) {
      if (!plans[i].record) continue;
      const OperationRequest& request = *calls[i].request;
      items.push_back({.operation_id = request.operation_id,
                       .attribution = &request.attribution,
                       .actual = out[i].cost,
                       .now_unix_nanos = plans[i].now});
      charged.push_back(i);
    }
    std::vector<absl::StatusOr<ledger::SettleOutcome>> outcomes;
    if (!items.empty()) outcomes = ledger_->ChargeBatch(items);
    if (outcomes.size() != items.size()) {  // a store breaking the contract: retry them all
      outcomes.assign(items.size(), absl::InternalError(
                                        "the ledger answered a charge batch with the wrong count"));
    }
    std::vector<bool> repeats(calls.size(), false);
    std::vector<absl::Status> statuses(calls.size());
    for (size_t k = 0; k < charged.size(); ++k) {
      const size_t i = charged[k];
      absl::StatusOr<ledger::SettleOutcome>& outcome = outcomes[k];
      RetryOtherWay(*calls[i].request, out[i].cost, plans[i].now, outcome);
      if (outcome.ok()) {
        out[i].budgets = std::move(outcome->budgets);
        repeats[i] = outcome->already_settled;
      } else {
        statuses[i] = outcome.status();
      }
    }
    for (size_t i = 0; i < calls.size(); ++i) {
      FinishSettlement(*calls[i].request, plans[i], statuses[i], repeats[i], out[i]);
    }
  } catch (...) {
    // Whatever was charged is in the ledger; report the rest as failed, never as done.
    for (Settlement& s : out) {
      if (s.ledger_status.ok()) {
        s.ledger_status = absl::InternalError("settlement failed internally (out of memory?)");
      }
    }
  }
  return out;
}

Governor::SettlementPlan Governor::PlanSettlement(const OperationRequest& request,
                                                  const Admission& admission,
                                                  const Completion& completion,
                                                  Settlement& s) const {
  SettlementPlan plan;
  plan.now = completion.now_unix_nanos != 0 ? completion.now_unix_nanos : clock_->NowUnixNanos();

  // 1. Price what was used.
  plan.model = completion.response_model.empty() ? &request.model : &completion.response_model;
  plan.pricing = FindPricing(request.provider, *plan.model);
  if (plan.pricing == nullptr && *plan.model != request.model && !request.model.empty()) {
    plan.pricing = FindPricing(request.provider, request.model);
  }
  if (completion.cost_override.has_value()) {
    s.cost = std::max(*completion.cost_override, Money::Zero());
    s.priced = true;
    s.breakdown.total = s.cost;
  } else if (plan.pricing != nullptr) {
    s.breakdown = pricing::ComputeCost(*plan.pricing, completion.usage);
    s.cost = s.breakdown.total;
    s.priced = true;
  }

  // 2. What to tell the ledger.
  const bool produced = completion.usage.input_tokens > 0 || completion.usage.output_tokens > 0 ||
                        completion.cost_override.has_value();
  const bool release = !completion.success && !produced;
  const bool ran = admission.decision.may_proceed();
  if (admission.reserved) {
    plan.kind = release ? PendingSettlement::Kind::kRelease : PendingSettlement::Kind::kSettle;
  } else if (release || (!ran && !produced)) {
    plan.record = false;  // nothing ran or nothing was spent, and nothing is held
  } else {
    plan.kind = PendingSettlement::Kind::kCharge;
  }
  return plan;
}

void Governor::RetryOtherWay(const OperationRequest& request, Money cost, int64_t now,
                             absl::StatusOr<ledger::SettleOutcome>& outcome) {
  if (!outcome.ok() && outcome.status().code() == absl::StatusCode::kNotFound) {
    // The reservation expired before the call finished: the spend still counts.
    outcome = ledger_->Charge(request.operation_id, request.attribution, cost, now);
  } else if (!outcome.ok() && outcome.status().code() == absl::StatusCode::kFailedPrecondition) {
    outcome = ledger_->Settle(request.operation_id, cost, now);
  }
}

void Governor::FinishSettlement(const OperationRequest& request, const SettlementPlan& plan,
                                const absl::Status& status, bool repeat, Settlement& s) {
  if (!status.ok() && status.code() == absl::StatusCode::kInvalidArgument) {
    // Retrying cannot fix a malformed settlement (e.g. an empty operation id): report it.
    s.ledger_status = status;
    spdlog::error("genops: settlement of {} USD could not be recorded: {}", s.cost.ToUsdString(),
                  status.ToString());
  } else if (!status.ok()) {
    s.ledger_status = status;
    // The id and attribution are copied only here, when the settlement is queued.
    PendingSettlement pending;
    pending.kind = plan.kind;
    pending.amount = s.cost;
    pending.time_unix_nanos = plan.now;
    pending.operation_id = request.operation_id;
    pending.attribution = request.attribution;
    Enqueue(std::move(pending));
    if (Alerts()) {
      Raise(MakeAlert(AlertKind::kLedgerUnavailable, "critical",
                      absl::StrCat("the budget ledger is unavailable; the settlement of ",
                                   Usd(s.cost), " is queued for retry: ", status.ToString()),
                      request, s.cost),
            s.alerts);
    }
  }
  s.already_settled = repeat;
  if (!repeat) counters_.total_cost_nanos.fetch_add(s.cost.nanos(), std::memory_order_relaxed);

  // 3. Alerts.
  if (!Alerts() || repeat) return;
  const std::string& model = *plan.model;
  if (settings_.cost_alert_threshold.has_value() && s.cost > *settings_.cost_alert_threshold) {
    Raise(MakeAlert(AlertKind::kOperationCost, "warning",
                    absl::StrCat("operation cost ", Usd(s.cost), " is above cost_alert_threshold ",
                                 Usd(*settings_.cost_alert_threshold),
                                 model.empty() ? "" : " (model ", model, model.empty() ? "" : ")"),
                    request, s.cost),
          s.alerts);
  }
  ThresholdAlerts(request, s.budgets, s.alerts);
  if (settings_.alert_on_anomalies && s.priced) {
    const std::string key = plan.pricing != nullptr
                                ? absl::StrCat(plan.pricing->provider, "/", plan.pricing->id)
                                : absl::StrCat(request.provider, "/", model);
    AnomalyAlert(request, key, s.cost, s.alerts);
  }
}

void Governor::ThresholdAlerts(const OperationRequest& request,
                               const ledger::BudgetStatusList& budgets, std::vector<Alert>& out) {
  for (const ledger::BudgetStatus& b : budgets) {
    if (b.spec->limit <= Money::Zero()) continue;
    const double used =
        static_cast<double>(b.spent.nanos()) / static_cast<double>(b.spec->limit.nanos());
    for (double threshold : b.spec->alert_thresholds) {
      if (used < threshold) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto [it, inserted] = fired_thresholds_.try_emplace(
            ThresholdKey{b.spec->name, b.window.start_unix_nanos, threshold},
            FiredThreshold{b.window.end_unix_nanos});
        if (!inserted) continue;
      }
      Alert alert = MakeAlert(
          AlertKind::kBudgetThreshold, threshold >= 1.0 ? "critical" : "warning",
          absl::StrCat("budget '", b.spec->name, "' (", ledger::ScopeToString(b.spec->scope),
                       ") reached ", static_cast<int64_t>(threshold * 100 + 0.5), "% of ",
                       Usd(b.spec->limit), ": ", Usd(b.spent), " spent ", WindowText(b)),
          request, b.spent);
      alert.budget_name = b.spec->name;
      alert.threshold = threshold;
      alert.utilization = used;
      Raise(std::move(alert), out);
    }
  }
}

void Governor::AnomalyAlert(const OperationRequest& request, const std::string& model_key,
                            Money cost, std::vector<Alert>& out) {
  double mean = 0;
  bool anomalous = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cost_stats_.find(model_key);
    if (it == cost_stats_.end()) {
      if (cost_stats_.size() >= kMaxAnomalyModels) return;
      it = cost_stats_.emplace(model_key, CostStats{}).first;
    }
    CostStats& stats = it->second;
    const double value = static_cast<double>(cost.nanos());
    mean = stats.mean_nanos;
    anomalous = stats.samples >= kAnomalyMinSamples && value > kAnomalyFactor * mean;
    stats.mean_nanos =
        stats.samples == 0 ? value : kAnomalyAlpha * value + (1 - kAnomalyAlpha) * mean;
    ++stats.samples;
  }
  if (!anomalous) return;
  const Money mean_money = Money::FromNanos(static_cast<int64_t>(mean));
  const double factor = mean > 0 ? static_cast<double>(cost.nanos()) / mean : 0;
  Raise(MakeAlert(AlertKind::kAnomaly, "warning",
                  absl::StrCat("operation cost ", Usd(cost), " is ",
                               static_cast<int64_t>(factor * 10) / 10.0, "x the recent mean ",
                               Usd(mean_money), " of ", model_key),
                  request, cost),
        out);
}

// --- Pending settlements ---------------------------------------------------------------------

void Governor::Enqueue(PendingSettlement pending) {
  counters_.ledger_errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(std::move(pending));
}

absl::Status Governor::ApplyPending(const PendingSettlement& p) {
  switch (p.kind) {
    case PendingSettlement::Kind::kRelease:
      return ledger_->Release(p.operation_id);
    case PendingSettlement::Kind::kSettle: {
      auto outcome = ledger_->Settle(p.operation_id, p.amount, p.time_unix_nanos);
      if (!outcome.ok() && outcome.status().code() == absl::StatusCode::kNotFound) {
        outcome = ledger_->Charge(p.operation_id, p.attribution, p.amount, p.time_unix_nanos);
      }
      return outcome.status();
    }
    case PendingSettlement::Kind::kCharge: {
      auto outcome = ledger_->Charge(p.operation_id, p.attribution, p.amount, p.time_unix_nanos);
      if (!outcome.ok() && outcome.status().code() == absl::StatusCode::kFailedPrecondition) {
        outcome = ledger_->Settle(p.operation_id, p.amount, p.time_unix_nanos);
      }
      return outcome.status();
    }
  }
  return absl::InternalError("unknown pending settlement kind");
}

absl::Status Governor::FlushPending() noexcept {
  try {
    bool synced = false;
    std::vector<PendingSettlement> work;
    {
      std::lock_guard<std::mutex> lock(mu_);
      synced = budgets_synced_;
      work.swap(pending_);
      retrying_ += static_cast<int64_t>(work.size());
    }
    absl::Status last = absl::OkStatus();
    if (!synced) {
      if (absl::Status s = SyncBudgets(); !s.ok()) last = s;
    }
    std::vector<PendingSettlement> failed;
    int64_t done = 0;
    for (PendingSettlement& p : work) {
      absl::Status s = ApplyPending(p);
      // A malformed entry (kInvalidArgument) can never succeed; everything else is retried.
      if (s.ok() || s.code() == absl::StatusCode::kInvalidArgument) {
        if (!s.ok()) spdlog::error("genops: dropping unrecordable settlement: {}", s.ToString());
        ++done;
      } else {
        last = s;
        failed.push_back(std::move(p));
      }
    }
    counters_.settlements_retried.fetch_add(done, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    retrying_ -= static_cast<int64_t>(work.size());
    pending_.insert(pending_.begin(), std::make_move_iterator(failed.begin()),
                    std::make_move_iterator(failed.end()));
    if (!pending_.empty() && last.ok()) {
      last =
          absl::UnavailableError(absl::StrCat(pending_.size(), " settlements are still pending"));
    }
    return last;
  } catch (...) {
    return absl::InternalError("FlushPending failed internally (out of memory?)");
  }
}

void Governor::Maintain(int64_t now) noexcept {
  // Paced by the wall-clock time the caller has just read (saving a clock read per call). A
  // clock set back makes maintenance due at once rather than stalling it until the clock
  // catches up.
  const int64_t next = next_maintenance_unix_.load(std::memory_order_relaxed);
  if (next != INT64_MIN && now < next && now >= next - kMaintenanceIntervalNanos) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (maintenance_running_) return;
    if (maintained_once_ && now - last_maintenance_unix_ < kMaintenanceIntervalNanos &&
        now >= last_maintenance_unix_) {
      return;
    }
    maintained_once_ = true;
    last_maintenance_unix_ = now;
    maintenance_running_ = true;
    next_maintenance_unix_.store(
        now > INT64_MAX - kMaintenanceIntervalNanos ? INT64_MAX : now + kMaintenanceIntervalNanos,
        std::memory_order_relaxed);
  }
  try {
    (void)ledger_->ExpireReservations(now);
  } catch (...) {
    // A store that throws is treated like an unreachable one: try again next time.
  }
  (void)FlushPending();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = fired_thresholds_.begin(); it != fired_thresholds_.end();) {
    if (it->second.window_end_unix_nanos <= now) {
      it = fired_thresholds_.erase(it);
    } else {
      ++it;
    }
  }
  maintenance_running_ = false;
}

GovernorMetrics Governor::metrics() const {
  GovernorMetrics m;
  m.operations = counters_.operations.load(std::memory_order_relaxed);
  m.allowed = counters_.allowed.load(std::memory_order_relaxed);
  m.warned = counters_.warned.load(std::memory_order_relaxed);
  m.blocked = counters_.blocked.load(std::memory_order_relaxed);
  m.approval_required = counters_.approval_required.load(std::memory_order_relaxed);
  m.unpriced = counters_.unpriced.load(std::memory_order_relaxed);
  m.total_cost = Money::FromNanos(counters_.total_cost_nanos.load(std::memory_order_relaxed));
  m.ledger_errors = counters_.ledger_errors.load(std::memory_order_relaxed);
  m.settlements_retried = counters_.settlements_retried.load(std::memory_order_relaxed);
  m.alerts_raised = counters_.alerts_raised.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  m.in_flight = static_cast<int64_t>(in_flight_.size());
  m.pending_settlements = static_cast<int64_t>(pending_.size()) + retrying_;
  Money reserved;
  for (const auto& [id, amount] : in_flight_) reserved += amount;
  m.reserved_now = reserved;
  return m;
}

}  // namespace genops
