// Governor: policy, budget reservation and settlement for one adapter or gateway.
//
// Every governed LLM call goes through two steps (DESIGN.md §3):
//   Admit()    before the call: estimate the worst-case cost, check the per-operation cap,
//              the strict-only rules, data residency, approvals and concurrency, then
//              reserve the estimate atomically in the ledger. Returns a Decision.
//   Complete() after the call: price the actual usage, settle (or release) the
//              reservation, or charge directly when nothing was reserved; raise alerts.
//
// How hard it pushes back is the policy level:
//   audit_only  never blocks, never reserves, raises no alerts; records decisions only.
//   advisory    never blocks or reserves; reads budgets to warn; raises alerts.
//   enforced    blocks on the cap, budgets (by reserving), approvals and concurrency;
//               fails open (warned + alert) when the ledger is unreachable.
//   strict      as enforced, plus unpriced models, missing team/project, the model
//               allowlist and a required data region; fails closed when the ledger is down.
// Alerts need enable_cost_alerts. With enable_governance=false, Admit() always allows
// without reserving and Complete() still prices and charges. A request without an
// operation_id is refused at every level (it could not be recorded idempotently).
//
// Decision details: a priced model's estimate is all input tokens uncached plus
// max_output_tokens (else the catalog's default_max_output_tokens, else
// settings.default_max_output_tokens) at the output price; request.estimated_cost replaces
// it. An unknown model is estimated at zero and reported unpriced: strict blocks it (and a
// call naming no model unless it gives estimated_cost), the other levels warn when a model
// was named. A granted approval passes only an operation whose estimate is no larger than
// the approved one, and is consumed only once the operation is admitted.
//
// Money is never lost: a settlement the ledger refuses to take (unreachable store) is kept
// in an in-memory pending list, retried at most once a second from later Admit()/Complete()
// calls and by FlushPending(), and counted in metrics().pending_settlements. Every ledger
// call carries the operation id, so retries never charge twice.
//
// Budget threshold alerts compare *settled* spend (not reservations, which are worst-case
// estimates that may never be spent) with each threshold, once per (budget, window,
// threshold) — remembered in memory, so a restarted process may repeat one.
//
// Anomalies: an operation costing more than 5x the exponentially weighted mean
// (alpha = 0.1) of earlier operations of the same model, once the model has 20 samples.
//
// Example:
//   auto governor = genops::Governor::Create(settings, catalog, ledger, dispatcher,
//                                            approvals, genops::Clock::Real()).value();
//   genops::Admission a = governor->Admit(request);
//   if (!a.decision.may_proceed()) return Refuse(a.decision);
//   ... call the provider ...
//   genops::Settlement s = governor->Complete(request, a, {.usage = usage});
//
// Thread safety: thread-safe. The approval callback is called without any lock held, on
// the thread calling Admit().
#ifndef GENOPS_CORE_GOVERNOR_H_
#define GENOPS_CORE_GOVERNOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/usage.h"
#include "src/core/alerts.h"
#include "src/core/approvals.h"
#include "src/core/catalog.h"
#include "src/core/cost.h"
#include "src/ledger/ledger.h"

namespace genops {

struct GovernanceSettings {
  Attribution defaults;  // the adapter's own scope
  PolicyLevel level = PolicyLevel::kAdvisory;
  bool enable_governance = true;  // false: no policy/reservation; spend still priced, charged
  // A budget named "daily" (period day, UTC) on the non-empty team / project / environment /
  // customer_id / cost_center of `defaults`.
  std::optional<Money> daily_budget_limit;
  std::optional<Money> max_operation_cost;
  bool enable_cost_alerts = true;
  std::optional<Money> cost_alert_threshold;
  bool require_cost_approval = false;
  std::optional<Money> cost_approval_threshold;
  int64_t operation_timeout_nanos = 300 * kNanosPerSecond;  // reservation lifetime
  int max_concurrent_operations = 0;                        // 0 = unlimited
  std::vector<std::string> allowed_models;                  // strict only; empty = any
  std::vector<std::string> data_residency;                  // allowed data regions; empty = any
  bool alert_on_anomalies = false;
  int64_t default_max_output_tokens = 4096;  // when neither the call nor the catalog says
  std::vector<ledger::BudgetSpec> budgets;   // further scoped budgets
};

// Rejects negative limits, thresholds outside (0, 10], a missing cost_approval_threshold
// with require_cost_approval, duplicate or reserved budget names, ... Each message names
// the setting.
absl::Status ValidateGovernanceSettings(const GovernanceSettings& settings);

// The budget `daily_budget_limit` becomes (nullopt without one).
std::optional<ledger::BudgetSpec> DailyBudgetSpec(const GovernanceSettings& settings);

struct OperationRequest {
  std::string operation_id;  // unique; the idempotency key of every ledger call
  Attribution attribution;   // already merged with the defaults
  std::string provider;      // may be empty
  std::string model;         // may be empty
  int64_t estimated_input_tokens = 0;
  std::optional<int64_t> max_output_tokens;
  std::optional<Money> max_cost;        // per-call cap (the seed's max_cost)
  std::optional<Money> estimated_cost;  // the caller's own estimate; overrides the catalog's
  std::string data_region;
  std::string approval_id;  // a previously granted approval (gateway retry)
  bool high_priority = false;
  // When the call is admitted, if the caller has just read the governor's clock anyway (the
  // SDK has, to time the operation); 0: Admit() reads the clock.
  int64_t now_unix_nanos = 0;
};

using ApprovalCallback = std::function<bool(const ApprovalRequest&)>;

struct Admission {
  Decision decision;
  bool reserved = false;  // a reservation is held: Complete() settles or releases it
  bool priced = false;    // the model has a catalog price
  ledger::BudgetStatusList budgets;
  std::vector<Alert> alerts;  // raised while admitting (to attach as span events)
};

struct Completion {
  bool success = true;  // false: the call failed; release unless usage says tokens were made
  Usage usage;
  std::string response_model;          // priced instead of request.model when set
  std::optional<Money> cost_override;  // caller-known exact cost (EnhancedSpan::update_cost)
  // When the call ended, by the governor's clock, if the caller knows; 0: Complete() reads
  // the clock.
  int64_t now_unix_nanos = 0;
};

struct Settlement {
  Money cost;
  bool priced = false;
  pricing::CostBreakdown breakdown;
  ledger::BudgetStatusList budgets;
  std::vector<Alert> alerts;
  absl::Status ledger_status;  // not OK: the charge is queued for retry, never dropped
  // The ledger had already settled this operation id: a redelivery, charged nothing new
  // (its alerts are not raised again).
  bool already_settled = false;
};

struct GovernorMetrics {
  int64_t operations = 0;
  int64_t allowed = 0;
  int64_t warned = 0;
  int64_t blocked = 0;
  int64_t approval_required = 0;
  int64_t unpriced = 0;
  int64_t in_flight = 0;
  int64_t pending_settlements = 0;
  Money total_cost;
  Money reserved_now;
  // Beyond the contract's minimum: how the pending list and alerting behaved.
  int64_t ledger_errors = 0;
  int64_t settlements_retried = 0;  // pending settlements that reached the ledger later
  int64_t alerts_raised = 0;
};

class Governor {
 public:
  // `catalog` and `ledger` are required; `alerts` may be null (alerts are then only returned
  // in Admission/Settlement); `approvals` may be null (a private store is created); `clock`
  // null means Clock::Real(). Budgets are written to the ledger here; if the ledger is
  // unreachable that is retried later rather than failing construction.
  static absl::StatusOr<std::unique_ptr<Governor>> Create(
      GovernanceSettings settings, std::shared_ptr<const pricing::Catalog> catalog,
      std::shared_ptr<ledger::Ledger> ledger, std::shared_ptr<AlertDispatcher> alerts,
      std::shared_ptr<ApprovalStore> approvals, const Clock* clock);

  Governor(const Governor&) = delete;
  Governor& operator=(const Governor&) = delete;
  ~Governor();

  // Decides operations held for approval in-process (the SDK's approval_callback). Without
  // one they are refused with kApprovalRequired and a pending approval id.
  void set_approval_callback(ApprovalCallback callback);

  Admission Admit(const OperationRequest& request) noexcept;
  Settlement Complete(const OperationRequest& request, const Admission& admission,
                      const Completion& completion) noexcept;

  // A finished call that held no reservation (an OTLP receiver span): what Complete() takes
  // with an empty Admission. Both pointers are required and must outlive the call.
  struct UnreservedCompletion {
    const OperationRequest* request = nullptr;
    const Completion* completion = nullptr;
  };
  // Complete(*c.request, Admission{}, *c.completion) for every call, in order, with the
  // charges of all of them made by one Ledger::ChargeBatch(): on SQLite one transaction and
  // one disk flush for the batch instead of one per call. Each settlement is what Complete()
  // would have returned (a charge the ledger refused is queued for retry, alerts once per id).
  std::vector<Settlement> CompleteUnreserved(absl::Span<const UnreservedCompletion> calls) noexcept;

  // Retries every pending settlement now. OK when none is left pending.
  absl::Status FlushPending() noexcept;

  GovernorMetrics metrics() const;
  const GovernanceSettings& settings() const { return settings_; }
  ledger::Ledger& ledger() { return *ledger_; }
  ApprovalStore& approvals() { return *approvals_; }

 private:
  struct PendingSettlement {
    enum class Kind { kSettle, kCharge, kRelease } kind = Kind::kCharge;
    std::string operation_id;
    Attribution attribution;
    Money amount;
    int64_t time_unix_nanos = 0;  // the original settle time: spend lands in its window
  };
  struct CostStats {
    double mean_nanos = 0;
    int64_t samples = 0;
  };
  struct FiredThreshold {
    int64_t window_end_unix_nanos = 0;
  };
  // An operation id held inline (SDK ids are 35 characters), so tracking an operation in
  // in_flight_ allocates nothing; longer ids spill to the heap.
  struct IdKey {
    explicit IdKey(std::string_view id) : chars(id.begin(), id.end()) {}
    std::string_view view() const { return std::string_view(chars.data(), chars.size()); }
    absl::InlinedVector<char, 40> chars;
  };
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const;
    size_t operator()(const IdKey& id) const { return (*this)(id.view()); }
  };
  struct IdEq {
    using is_transparent = void;
    static std::string_view View(std::string_view id) { return id; }
    static std::string_view View(const IdKey& id) { return id.view(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  // Counters bumped on every operation: atomics, so counting takes no lock.
  struct Counters {
    std::atomic<int64_t> operations{0};
    std::atomic<int64_t> allowed{0};
    std::atomic<int64_t> warned{0};
    std::atomic<int64_t> blocked{0};
    std::atomic<int64_t> approval_required{0};
    std::atomic<int64_t> unpriced{0};
    std::atomic<int64_t> total_cost_nanos{0};
    std::atomic<int64_t> ledger_errors{0};
    std::atomic<int64_t> settlements_retried{0};
    std::atomic<int64_t> alerts_raised{0};
  };
  using ThresholdKey = std::tuple<std::string, int64_t, double>;  // budget, window, threshold

  Governor(GovernanceSettings settings, std::shared_ptr<const pricing::Catalog> catalog,
           std::shared_ptr<ledger::Ledger> ledger, std::shared_ptr<AlertDispatcher> alerts,
           std::shared_ptr<ApprovalStore> approvals, const Clock* clock);

  Admission AdmitImpl(const OperationRequest& request);
  Settlement CompleteImpl(const OperationRequest& request, const Admission& admission,
                          const Completion& completion);
  // Complete() in three steps, so CompleteUnreserved() can batch the middle one: price the
  // call and decide what the ledger is told (into `s`), tell it, then queue a failure for
  // retry, count the cost and raise alerts.
  struct SettlementPlan {
    const pricing::ModelPricing* pricing = nullptr;
    const std::string* model = nullptr;  // the model priced: the response's, else the request's
    bool record = true;                  // false: nothing ran or was spent, and nothing is held
    PendingSettlement::Kind kind = PendingSettlement::Kind::kCharge;
    int64_t now = 0;
  };
  SettlementPlan PlanSettlement(const OperationRequest& request, const Admission& admission,
                                const Completion& completion, Settlement& s) const;
  // A settle whose reservation expired (kNotFound) becomes a charge; a charge of an id that
  // holds a reservation (kFailedPrecondition) becomes a settle.
  void RetryOtherWay(const OperationRequest& request, Money cost, int64_t now,
                     absl::StatusOr<ledger::SettleOutcome>& outcome);
  void FinishSettlement(const OperationRequest& request, const SettlementPlan& plan,
                        const absl::Status& status, bool repeat, Settlement& s);

  bool Blocks() const;
  bool Alerts() const;
  // catalog_->Find() through a small per-thread cache (see governor.cc).
  const pricing::ModelPricing* FindPricing(std::string_view provider, std::string_view model) const;
  Alert MakeAlert(AlertKind kind, std::string severity, std::string message,
                  const OperationRequest& request, Money amount) const;
  void Raise(Alert alert, std::vector<Alert>& out);
  void ThresholdAlerts(const OperationRequest& request, const ledger::BudgetStatusList& budgets,
                       std::vector<Alert>& out);
  void AnomalyAlert(const OperationRequest& request, const std::string& model_key, Money cost,
                    std::vector<Alert>& out);
  absl::Status ApplyPending(const PendingSettlement& pending);
  void Enqueue(PendingSettlement pending);
  // Expires reservations, retries pending settlements and forgets old threshold alerts, at
  // most once a second (of `now`, the caller's wall-clock reading).
  void Maintain(int64_t now) noexcept;
  absl::Status SyncBudgets();
  void Track(const OperationRequest& request, Money reserved);

  const GovernanceSettings settings_;
  const std::shared_ptr<const pricing::Catalog> catalog_;
  const std::shared_ptr<ledger::Ledger> ledger_;
  const std::shared_ptr<AlertDispatcher> alerts_;
  const std::shared_ptr<ApprovalStore> approvals_;
  const Clock* const clock_;
  // Unique among all governors of the process, ever (unlike an address): keys the pricing
  // cache, so a governor never sees another's entries.
  const uint64_t id_;
  std::vector<ledger::BudgetSpec> budget_specs_;  // daily + settings.budgets

  // std::mutex, not absl::Mutex: Debian's Abseil is built with its debug-mode deadlock
  // detection on, which made each lock cost ~40 ns instead of ~5 ns on the SDK's hot path.
  mutable std::mutex mu_;
  ApprovalCallback approval_callback_ ABSL_GUARDED_BY(mu_);
  // In-flight admitted operations and what each reserved.
  absl::flat_hash_map<IdKey, Money, IdHash, IdEq> in_flight_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingSettlement> pending_ ABSL_GUARDED_BY(mu_);
  std::map<ThresholdKey, FiredThreshold> fired_thresholds_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, CostStats> cost_stats_ ABSL_GUARDED_BY(mu_);
  bool budgets_synced_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_maintenance_unix_ ABSL_GUARDED_BY(mu_) = 0;
  bool maintenance_running_ ABSL_GUARDED_BY(mu_) = false;
  bool maintained_once_ ABSL_GUARDED_BY(mu_) = false;
  // Lock-free early exit for Maintain(): none is due in [this - 1 s, this).
  std::atomic<int64_t> next_maintenance_unix_{INT64_MIN};
  int64_t retrying_ ABSL_GUARDED_BY(mu_) = 0;  // pending settlements taken out for a retry
  Counters counters_;
};

}  // namespace genops

#endif  // GENOPS_CORE_GOVERNOR_H_
