// Governor: the policy table of DESIGN.md §3, reservations, settlement, approvals, alerts.
#include "src/core/governor.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "gtest/gtest.h"
#include "src/core/alerts.h"
#include "src/core/approvals.h"
#include "src/core/catalog.h"
#include "src/ledger/memory_ledger.h"
#include "tests/support/faulty_ledger.h"

namespace genops {
namespace {

constexpr int64_t kSecond = kNanosPerSecond;
// 2026-03-04T12:00:00Z
constexpr int64_t kNoon = 1'772'625'600LL * kSecond;
constexpr int64_t kMidnight = 1'772'668'800LL * kSecond;  // 2026-03-05T00:00:00Z

Money Usd(double usd) { return Money::FromUsdDouble(usd).value(); }

// "big": $1000 per 1M tokens in and out = exactly $0.001 per token, so token counts read
// as milli-dollars. "small": $1/$2 per 1M tokens.
constexpr char kCatalogJson[] = R"({
  "schema_version": 1,
  "models": [
    {"provider": "openai", "id": "big", "kind": "chat",
     "prices": {"input": "1000.00", "output": "1000.00"},
     "default_max_output_tokens": 500, "as_of": "2026-01-01", "source": "test"},
    {"provider": "openai", "id": "small", "kind": "chat",
     "prices": {"input": "1.00", "output": "2.00"},
     "default_max_output_tokens": 1000, "as_of": "2026-01-01", "source": "test"}
  ]
})";

using testing::FaultyLedger;

class GovernorTest : public ::testing::Test {
 protected:
  GovernorTest() : clock_(kNoon) {
    catalog_ = std::shared_ptr<const pricing::Catalog>(
        pricing::Catalog::FromJson(kCatalogJson, "test-catalog").value());
    ledger_ = std::make_shared<FaultyLedger>(ledger::NewMemoryLedger(&clock_));
    alerts_ = std::make_shared<AlertDispatcher>();
    sink_ = std::make_shared<RecordingAlertSink>();
    alerts_->AddSink(sink_);
    approvals_ = std::make_shared<ApprovalStore>(&clock_);
  }

  static GovernanceSettings Settings(PolicyLevel level) {
    GovernanceSettings s;
    s.level = level;
    s.defaults.team = "ml";
    s.defaults.project = "chat";
    return s;
  }

  std::unique_ptr<Governor> Make(const GovernanceSettings& settings) {
    auto governor = Governor::Create(settings, catalog_, ledger_, alerts_, approvals_, &clock_);
    EXPECT_TRUE(governor.ok()) << governor.status();
    return governor.ok() ? *std::move(governor) : nullptr;
  }

  OperationRequest Request(std::string id, std::optional<Money> estimate = std::nullopt) {
    OperationRequest r;
    r.operation_id = std::move(id);
    r.attribution.team = "ml";
    r.attribution.project = "chat";
    r.provider = "openai";
    r.model = "big";
    r.estimated_input_tokens = 100;
    r.max_output_tokens = 100;
    r.estimated_cost = estimate;
    return r;
  }

  static Completion Cost(Money cost) {
    Completion c;
    c.cost_override = cost;
    c.usage.input_tokens = 1;
    return c;
  }

  ledger::BudgetStatus Budget(const std::string& name) {
    auto all = ledger_->ListBudgets(clock_.NowUnixNanos());
    EXPECT_TRUE(all.ok());
    for (const auto& b : *all) {
      if (b.spec->name == name) return b;
    }
    ADD_FAILURE() << "no budget " << name;
    return {};
  }

  std::vector<Alert> AlertsOf(AlertKind kind) {
    std::vector<Alert> out;
    for (const Alert& a : sink_->alerts()) {
      if (a.kind == kind) out.push_back(a);
    }
    return out;
  }

  ManualClock clock_;
  std::shared_ptr<const pricing::Catalog> catalog_;
  std::shared_ptr<FaultyLedger> ledger_;
  std::shared_ptr<AlertDispatcher> alerts_;
  std::shared_ptr<RecordingAlertSink> sink_;
  std::shared_ptr<ApprovalStore> approvals_;
};

// --- Estimation ---------------------------------------------------------------------------

TEST_F(GovernorTest, EstimatesTheWorstCaseFromTheCatalog) {
  auto g = Make(Settings(PolicyLevel::kEnforced));
  OperationRequest r = Request("op-1");  // 100 in + 100 out at $0.001
  Admission a = g->Admit(r);
  EXPECT_TRUE(a.priced);
  EXPECT_EQ(a.decision.estimate, Usd(0.2));
  EXPECT_EQ(a.decision.result, DecisionResult::kAllowed);

  r = Request("op-2");
  r.max_output_tokens.reset();  // the model's default: 500
  EXPECT_EQ(g->Admit(r).decision.estimate, Usd(0.6));

  r = Request("op-3", Usd(7.25));  // the caller's estimate wins
  EXPECT_EQ(g->Admit(r).decision.estimate, Usd(7.25));
}

// --- The policy table ---------------------------------------------------------------------

struct LevelCase {
  PolicyLevel level;
  DecisionResult over_cap;
  bool alerts;
};

class PolicyLevelTest : public GovernorTest, public ::testing::WithParamInterface<LevelCase> {};

TEST_P(PolicyLevelTest, OperationCapBlocksOnlyAtBlockingLevels) {
  GovernanceSettings s = Settings(GetParam().level);
  s.max_operation_cost = Usd(1);
  auto g = Make(s);
  Admission a = g->Admit(Request("op-1", Usd(1.5)));
  EXPECT_EQ(a.decision.result, GetParam().over_cap);
  EXPECT_EQ(a.decision.reason, DecisionReason::kOperationCostExceeded);
  EXPECT_NE(a.decision.message.find("$1.5"), std::string::npos) << a.decision.message;
  EXPECT_EQ(AlertsOf(AlertKind::kPolicyViolation).size(), GetParam().alerts ? 1u : 0u);
  EXPECT_EQ(a.alerts.size(), GetParam().alerts ? 1u : 0u);
  // The per-call cap is the tighter of the two.
  OperationRequest r = Request("op-2", Usd(0.5));
  r.max_cost = Usd(0.25);
  EXPECT_EQ(g->Admit(r).decision.result, GetParam().over_cap);
  EXPECT_EQ(g->Admit(Request("op-3", Usd(0.5))).decision.result, DecisionResult::kAllowed);
}

TEST_P(PolicyLevelTest, BudgetBlocksOnlyAtBlockingLevels) {
  GovernanceSettings s = Settings(GetParam().level);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  Admission first = g->Admit(Request("op-1", Usd(8)));
  ASSERT_TRUE(first.decision.may_proceed());
  const bool blocking = GetParam().over_cap == DecisionResult::kBlocked;
  EXPECT_EQ(first.reserved, blocking);  // advisory / audit_only never reserve
  g->Complete(Request("op-1", Usd(8)), first, Cost(Usd(8)));
  EXPECT_EQ(Budget("daily").spent, Usd(8));  // charged either way

  Admission second = g->Admit(Request("op-2", Usd(3)));
  EXPECT_EQ(second.decision.result, GetParam().over_cap);
  EXPECT_EQ(second.decision.reason, DecisionReason::kBudgetExceeded);
  EXPECT_EQ(second.decision.budget_name, "daily");
  EXPECT_FALSE(second.reserved);
  EXPECT_EQ(Budget("daily").reserved, Money::Zero());
  EXPECT_EQ(AlertsOf(AlertKind::kPolicyViolation).size(), GetParam().alerts ? 1u : 0u);
}

TEST_P(PolicyLevelTest, LedgerOutageFailsOpenExceptStrict) {
  GovernanceSettings s = Settings(GetParam().level);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  ledger_->down = true;
  Admission a = g->Admit(Request("op-1", Usd(1)));
  const DecisionResult expected =
      GetParam().level == PolicyLevel::kStrict ? DecisionResult::kBlocked : DecisionResult::kWarned;
  EXPECT_EQ(a.decision.result, expected);
  EXPECT_EQ(a.decision.reason, DecisionReason::kLedgerUnavailable);
  EXPECT_FALSE(a.reserved);
  EXPECT_EQ(AlertsOf(AlertKind::kLedgerUnavailable).size(), GetParam().alerts ? 1u : 0u);
  EXPECT_GT(ledger_->calls_while_down.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Levels, PolicyLevelTest,
    ::testing::Values(LevelCase{PolicyLevel::kAuditOnly, DecisionResult::kWarned, false},
                      LevelCase{PolicyLevel::kAdvisory, DecisionResult::kWarned, true},
                      LevelCase{PolicyLevel::kEnforced, DecisionResult::kBlocked, true},
                      LevelCase{PolicyLevel::kStrict, DecisionResult::kBlocked, true}),
    [](const ::testing::TestParamInfo<LevelCase>& param_info) {
      return std::string(PolicyLevelName(param_info.param.level));
    });

TEST_F(GovernorTest, AlertsCanBeSwitchedOff) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.enable_cost_alerts = false;
  s.max_operation_cost = Usd(1);
  auto g = Make(s);
  EXPECT_EQ(g->Admit(Request("op-1", Usd(2))).decision.result, DecisionResult::kBlocked);
  EXPECT_TRUE(sink_->alerts().empty());
}

TEST_F(GovernorTest, UnpricedModelBlocksInStrictAndWarnsOtherwise) {
  OperationRequest r = Request("op-1");
  r.model = "mystery-model";
  auto strict = Make(Settings(PolicyLevel::kStrict));
  Admission a = strict->Admit(r);
  EXPECT_EQ(a.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(a.decision.reason, DecisionReason::kUnpricedModel);
  EXPECT_FALSE(a.priced);
  EXPECT_NE(a.decision.message.find("mystery-model"), std::string::npos);

  auto enforced = Make(Settings(PolicyLevel::kEnforced));
  r.operation_id = "op-2";
  Admission b = enforced->Admit(r);
  EXPECT_EQ(b.decision.result, DecisionResult::kWarned);
  EXPECT_EQ(b.decision.reason, DecisionReason::kUnpricedModel);
  EXPECT_EQ(b.decision.estimate, Money::Zero());
  EXPECT_FALSE(b.priced);
  EXPECT_EQ(enforced->metrics().unpriced, 1);
}

TEST_F(GovernorTest, StrictRequiresTeamProjectAndAllowedModels) {
  GovernanceSettings s = Settings(PolicyLevel::kStrict);
  s.allowed_models = {"small"};
  auto g = Make(s);
  OperationRequest r = Request("op-1");
  r.attribution.project.clear();
  Admission missing = g->Admit(r);
  EXPECT_EQ(missing.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(missing.decision.reason, DecisionReason::kMissingAttribution);
  EXPECT_NE(missing.decision.message.find("project"), std::string::npos);

  Admission model = g->Admit(Request("op-2"));
  EXPECT_EQ(model.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(model.decision.reason, DecisionReason::kModelNotAllowed);

  OperationRequest ok = Request("op-3");
  ok.model = "SMALL";
  EXPECT_EQ(g->Admit(ok).decision.result, DecisionResult::kAllowed);

  // Enforced ignores both rules.
  GovernanceSettings e = Settings(PolicyLevel::kEnforced);
  e.allowed_models = {"small"};
  auto enforced = Make(e);
  r.operation_id = "op-4";
  EXPECT_EQ(enforced->Admit(r).decision.result, DecisionResult::kAllowed);
}

TEST_F(GovernorTest, DataResidency) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.data_residency = {"EU"};
  auto enforced = Make(s);
  OperationRequest r = Request("op-1");
  r.data_region = "US";
  Admission a = enforced->Admit(r);
  EXPECT_EQ(a.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(a.decision.reason, DecisionReason::kDataResidency);
  r.operation_id = "op-2";
  r.data_region = "eu";
  EXPECT_EQ(enforced->Admit(r).decision.result, DecisionResult::kAllowed);
  r.operation_id = "op-3";
  r.data_region.clear();  // enforced: no region given is fine
  EXPECT_EQ(enforced->Admit(r).decision.result, DecisionResult::kAllowed);

  s.level = PolicyLevel::kStrict;
  auto strict = Make(s);
  r.operation_id = "op-4";
  Admission b = strict->Admit(r);
  EXPECT_EQ(b.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(b.decision.reason, DecisionReason::kDataResidency);

  s.level = PolicyLevel::kAdvisory;
  auto advisory = Make(s);
  r.operation_id = "op-5";
  r.data_region = "US";
  EXPECT_EQ(advisory->Admit(r).decision.result, DecisionResult::kWarned);
}

TEST_F(GovernorTest, ConcurrencyLimit) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.max_concurrent_operations = 2;
  auto g = Make(s);
  Admission a1 = g->Admit(Request("op-1"));
  Admission a2 = g->Admit(Request("op-2"));
  ASSERT_EQ(a1.decision.result, DecisionResult::kAllowed);
  ASSERT_EQ(a2.decision.result, DecisionResult::kAllowed);
  EXPECT_EQ(g->metrics().in_flight, 2);
  Admission a3 = g->Admit(Request("op-3"));
  EXPECT_EQ(a3.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(a3.decision.reason, DecisionReason::kConcurrencyLimit);
  EXPECT_EQ(g->metrics().in_flight, 2);
  g->Complete(Request("op-1"), a1, Cost(Usd(0.1)));
  EXPECT_EQ(g->Admit(Request("op-4")).decision.result, DecisionResult::kAllowed);

  s.level = PolicyLevel::kAdvisory;
  auto advisory = Make(s);
  advisory->Admit(Request("x-1"));
  advisory->Admit(Request("x-2"));
  Admission warned = advisory->Admit(Request("x-3"));
  EXPECT_EQ(warned.decision.result, DecisionResult::kWarned);
  EXPECT_EQ(warned.decision.reason, DecisionReason::kConcurrencyLimit);
}

TEST_F(GovernorTest, GovernanceDisabledAllowsEverythingButStillCharges) {
  GovernanceSettings s = Settings(PolicyLevel::kStrict);
  s.enable_governance = false;
  s.max_operation_cost = Usd(1);
  s.daily_budget_limit = Usd(1);
  auto g = Make(s);
  OperationRequest r = Request("op-1", Usd(50));
  Admission a = g->Admit(r);
  EXPECT_EQ(a.decision.result, DecisionResult::kAllowed);
  EXPECT_FALSE(a.reserved);
  Settlement st = g->Complete(r, a, Cost(Usd(3)));
  EXPECT_TRUE(st.ledger_status.ok());
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(3));
  EXPECT_EQ(Budget("daily").spent, Usd(3));
}

// --- Budgets, windows, reservations -------------------------------------------------------

TEST_F(GovernorTest, DailyBudgetResetsAtTheUtcDayBoundary) {
  clock_.Set(kMidnight - 100 * kNanosPerMilli);  // 23:59:59.9 UTC
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  OperationRequest r1 = Request("op-1", Usd(6));
  Admission a1 = g->Admit(r1);
  ASSERT_EQ(a1.decision.result, DecisionResult::kAllowed);
  g->Complete(r1, a1, Cost(Usd(6)));
  Admission a2 = g->Admit(Request("op-2", Usd(6)));
  EXPECT_EQ(a2.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(a2.decision.budget_name, "daily");

  clock_.Advance(200 * kNanosPerMilli);  // 00:00:00.1 UTC
  Admission a3 = g->Admit(Request("op-3", Usd(6)));
  EXPECT_EQ(a3.decision.result, DecisionResult::kAllowed);
  ASSERT_EQ(a3.budgets.size(), 1u);
  EXPECT_EQ(a3.budgets[0].window.start_unix_nanos, kMidnight);
  EXPECT_EQ(a3.budgets[0].spent, Money::Zero());
}

TEST_F(GovernorTest, DailyBudgetIsScopedToTheAdapterDefaults) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.defaults.environment = "prod";
  s.daily_budget_limit = Usd(1);
  auto spec = DailyBudgetSpec(s);
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->name, "daily");
  EXPECT_EQ(spec->period, ledger::BudgetPeriod::kDay);
  EXPECT_EQ(spec->scope,
            (ledger::Scope{{"team", "ml"}, {"project", "chat"}, {"environment", "prod"}}));
  auto g = Make(s);
  OperationRequest other = Request("op-1", Usd(5));
  other.attribution.team = "someone-else";
  EXPECT_EQ(g->Admit(other).decision.result, DecisionResult::kAllowed);
  OperationRequest mine = Request("op-2", Usd(5));
  mine.attribution.environment = "prod";
  EXPECT_EQ(g->Admit(mine).decision.result, DecisionResult::kBlocked);
}

TEST_F(GovernorTest, ConcurrentAdmitAndCompleteNeverExceedTheBudget) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(20);
  auto g = Make(s);
  constexpr int kThreads = 8;
  constexpr int kOps = 150;
  std::atomic<int64_t> settled{0};
  std::atomic<int> blocked{0};
  std::atomic<bool> ledger_error{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kOps; ++i) {
        OperationRequest r = Request("op-" + std::to_string(w) + "-" + std::to_string(i));
        r.estimated_input_tokens = 50 + (w * 31 + i * 17) % 200;
        r.max_output_tokens = 100;
        Admission a = g->Admit(r);
        if (!a.decision.may_proceed()) {
          ++blocked;
          continue;
        }
        Completion c;
        c.usage.input_tokens = r.estimated_input_tokens;
        c.usage.output_tokens = 1 + (i % 100);
        Settlement st = g->Complete(r, a, c);
        if (!st.ledger_status.ok()) ledger_error = true;
        settled += st.cost.nanos();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(ledger_error);
  EXPECT_GT(blocked.load(), 0);
  const ledger::BudgetStatus daily = Budget("daily");
  EXPECT_LE(daily.spent, Usd(20));
  EXPECT_EQ(daily.reserved, Money::Zero());
  EXPECT_EQ(ledger_->TotalSpent()->nanos(), settled.load());
  EXPECT_EQ(daily.spent.nanos(), settled.load());
  EXPECT_EQ(g->metrics().total_cost.nanos(), settled.load());
  EXPECT_EQ(g->metrics().in_flight, 0);
  EXPECT_EQ(g->metrics().reserved_now, Money::Zero());
}

TEST_F(GovernorTest, ExpiryReleasesADeadReservation) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(10);
  s.operation_timeout_nanos = 60 * kSecond;
  auto g = Make(s);
  OperationRequest orphan = Request("orphan", Usd(8));
  Admission a = g->Admit(orphan);  // its owner never completes it (in time)
  ASSERT_TRUE(a.reserved);
  EXPECT_EQ(g->Admit(Request("op-2", Usd(8))).decision.result, DecisionResult::kBlocked);

  clock_.Advance(61 * kSecond);
  Admission later = g->Admit(Request("op-3", Usd(8)));  // expires the orphan first
  EXPECT_EQ(later.decision.result, DecisionResult::kAllowed);
  EXPECT_EQ(Budget("daily").reserved, Usd(8));

  // The late owner still pays: the spend is charged, not lost.
  Settlement st = g->Complete(orphan, a, Cost(Usd(1)));
  EXPECT_TRUE(st.ledger_status.ok()) << st.ledger_status;
  EXPECT_EQ(Budget("daily").spent, Usd(1));
}

TEST_F(GovernorTest, FailedCallReleasesOrSettlesWhatWasProduced) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  OperationRequest r1 = Request("op-1");
  Admission a1 = g->Admit(r1);
  ASSERT_TRUE(a1.reserved);
  Completion failed;
  failed.success = false;
  Settlement s1 = g->Complete(r1, a1, failed);
  EXPECT_EQ(s1.cost, Money::Zero());
  EXPECT_EQ(Budget("daily").reserved, Money::Zero());
  EXPECT_EQ(Budget("daily").spent, Money::Zero());

  OperationRequest r2 = Request("op-2");
  Admission a2 = g->Admit(r2);
  Completion partial;
  partial.success = false;
  partial.usage.input_tokens = 100;
  partial.usage.output_tokens = 20;  // a stream cut off mid-way
  Settlement s2 = g->Complete(r2, a2, partial);
  EXPECT_EQ(s2.cost, Usd(0.12));
  EXPECT_TRUE(s2.priced);
  EXPECT_EQ(Budget("daily").spent, Usd(0.12));
  EXPECT_EQ(Budget("daily").reserved, Money::Zero());
}

TEST_F(GovernorTest, CompleteIsIdempotent) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  OperationRequest r = Request("op-1");
  Admission a = g->Admit(r);
  Completion c;
  c.usage.input_tokens = 100;
  c.usage.output_tokens = 50;
  EXPECT_EQ(g->Complete(r, a, c).cost, Usd(0.15));
  g->Complete(r, a, c);
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(0.15));
  EXPECT_EQ(g->metrics().total_cost, Usd(0.15));
}

TEST_F(GovernorTest, ResponseModelIsPricedAndCostOverrideWins) {
  auto g = Make(Settings(PolicyLevel::kAdvisory));
  OperationRequest r = Request("op-1");
  Admission a = g->Admit(r);
  Completion c;
  c.usage.input_tokens = 1'000'000;
  c.usage.output_tokens = 1'000'000;
  c.response_model = "small";
  Settlement st = g->Complete(r, a, c);
  EXPECT_EQ(st.cost, Usd(3));  // $1 in + $2 out
  EXPECT_EQ(st.breakdown.input, Usd(1));
  EXPECT_EQ(st.breakdown.output, Usd(2));

  OperationRequest r2 = Request("op-2");
  Completion exact = c;
  exact.cost_override = Usd(0.42);
  EXPECT_EQ(g->Complete(r2, g->Admit(r2), exact).cost, Usd(0.42));
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(3.42));
}

// --- Pending settlements --------------------------------------------------------------------

TEST_F(GovernorTest, PendingSettlementsAreRetriedAfterTheLedgerRecovers) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  std::vector<std::pair<OperationRequest, Admission>> ops;
  for (int i = 0; i < 3; ++i) {
    OperationRequest r = Request("op-" + std::to_string(i), Usd(1));
    ops.emplace_back(r, g->Admit(r));
    ASSERT_TRUE(ops.back().second.reserved);
  }
  OperationRequest unreserved = Request("op-3", Usd(1));
  ledger_->down = true;
  Admission open = g->Admit(unreserved);  // fail-open: no reservation
  EXPECT_EQ(open.decision.reason, DecisionReason::kLedgerUnavailable);
  for (int i = 0; i < 3; ++i) {
    Settlement st = g->Complete(ops[i].first, ops[i].second, Cost(Usd(1 + i)));
    EXPECT_EQ(st.ledger_status.code(), absl::StatusCode::kUnavailable);
  }
  g->Complete(unreserved, open, Cost(Usd(0.5)));
  EXPECT_EQ(g->metrics().pending_settlements, 4);
  EXPECT_EQ(g->metrics().total_cost, Usd(6.5));  // counted, though not yet recorded
  EXPECT_FALSE(g->FlushPending().ok());
  EXPECT_EQ(g->metrics().pending_settlements, 4);

  ledger_->down = false;
  EXPECT_TRUE(g->FlushPending().ok());
  EXPECT_EQ(g->metrics().pending_settlements, 0);
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(6.5));
  EXPECT_EQ(Budget("daily").spent, Usd(6.5));
  EXPECT_EQ(Budget("daily").reserved, Money::Zero());
  // A second flush changes nothing.
  EXPECT_TRUE(g->FlushPending().ok());
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(6.5));
}

TEST_F(GovernorTest, PendingSettlementsAreRetriedByLaterCalls) {
  GovernanceSettings s = Settings(PolicyLevel::kAdvisory);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  OperationRequest r = Request("op-1", Usd(1));
  Admission a = g->Admit(r);
  ledger_->down = true;
  Settlement st = g->Complete(r, a, Cost(Usd(2)));
  EXPECT_FALSE(st.ledger_status.ok());
  EXPECT_EQ(AlertsOf(AlertKind::kLedgerUnavailable).size(), 1u);
  ledger_->down = false;
  clock_.Advance(2 * kSecond);
  g->Admit(Request("op-2", Usd(1)));  // opportunistic retry
  EXPECT_EQ(g->metrics().pending_settlements, 0);
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(2));
}

TEST_F(GovernorTest, CompleteUnreservedChargesABatchLikeCompleteDoesEachCall) {
  GovernanceSettings s = Settings(PolicyLevel::kAdvisory);
  s.daily_budget_limit = Usd(8);
  auto g = Make(s);
  std::vector<OperationRequest> requests;
  std::vector<Completion> completions;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(Request("span-" + std::to_string(i)));
    completions.push_back(Cost(Usd(2)));
  }
  completions[1] = Completion();  // a priced model and real usage instead of an override
  completions[1].usage.input_tokens = 100;
  completions[1].usage.output_tokens = 50;
  completions[3].success = false;  // failed, produced nothing, held nothing: not recorded
  completions[3].cost_override.reset();
  completions[3].usage = Usage();
  std::vector<Governor::UnreservedCompletion> calls;
  for (size_t i = 0; i < requests.size(); ++i) calls.push_back({&requests[i], &completions[i]});

  std::vector<Settlement> out = g->CompleteUnreserved(calls);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].cost, Usd(2));
  EXPECT_EQ(out[1].cost, Usd(0.15));
  EXPECT_EQ(out[2].cost, Usd(2));
  EXPECT_EQ(out[3].cost, Money::Zero());
  for (const Settlement& st : out) {
    EXPECT_TRUE(st.ledger_status.ok()) << st.ledger_status;
    EXPECT_FALSE(st.already_settled);
  }
  EXPECT_EQ(out[2].budgets.at(0).spent, Usd(4.15));  // in order: each sees those before it
  EXPECT_EQ(ledger_->charge_batches.load(), 1);
  EXPECT_EQ(ledger_->charge_batch_items.load(), 3);
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(4.15));
  EXPECT_EQ(g->metrics().total_cost, Usd(4.15));
  // The 50% threshold of the daily budget fired once, on the call that crossed it.
  ASSERT_EQ(AlertsOf(AlertKind::kBudgetThreshold).size(), 1u);
  EXPECT_EQ(out[2].alerts.size(), 1u);

  // Redelivered: every charge is a repeat, nothing counted or alerted again.
  out = g->CompleteUnreserved(calls);
  EXPECT_TRUE(out[0].already_settled);
  EXPECT_TRUE(out[2].already_settled);
  EXPECT_TRUE(out[2].alerts.empty());
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(4.15));
  EXPECT_EQ(g->metrics().total_cost, Usd(4.15));
  EXPECT_EQ(AlertsOf(AlertKind::kBudgetThreshold).size(), 1u);
  EXPECT_TRUE(g->CompleteUnreserved({}).empty());
}

TEST_F(GovernorTest, CompleteUnreservedQueuesEveryChargeWhileTheLedgerIsDown) {
  auto g = Make(Settings(PolicyLevel::kEnforced));
  std::vector<OperationRequest> requests = {Request("span-a"), Request("span-b")};
  std::vector<Completion> completions = {Cost(Usd(1)), Cost(Usd(3))};
  std::vector<Governor::UnreservedCompletion> calls = {{&requests[0], &completions[0]},
                                                       {&requests[1], &completions[1]}};
  ledger_->down = true;
  std::vector<Settlement> out = g->CompleteUnreserved(calls);
  for (const Settlement& st : out) {
    EXPECT_EQ(st.ledger_status.code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(g->metrics().pending_settlements, 2);
  EXPECT_EQ(AlertsOf(AlertKind::kLedgerUnavailable).size(), 2u);
  ledger_->down = false;
  EXPECT_TRUE(g->FlushPending().ok());
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(4));
  // The client's retried export after the outage charges nothing twice.
  out = g->CompleteUnreserved(calls);
  EXPECT_TRUE(out[0].already_settled && out[1].already_settled);
  EXPECT_EQ(*ledger_->TotalSpent(), Usd(4));
}

TEST_F(GovernorTest, BudgetsAreWrittenOnceTheLedgerIsReachable) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(1);
  ledger_->down = true;
  auto g = Make(s);  // construction does not fail
  ASSERT_NE(g, nullptr);
  ledger_->down = false;
  clock_.Advance(2 * kSecond);
  EXPECT_EQ(g->Admit(Request("op-1", Usd(5))).decision.result, DecisionResult::kBlocked);
}

// --- Approvals ----------------------------------------------------------------------------

TEST_F(GovernorTest, ApprovalPendingThenApprovedPassesExactlyOnce) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.require_cost_approval = true;
  s.cost_approval_threshold = Usd(1);
  auto g = Make(s);
  EXPECT_EQ(g->Admit(Request("cheap", Usd(0.5))).decision.result, DecisionResult::kAllowed);

  Admission held = g->Admit(Request("op-1", Usd(2)));
  ASSERT_EQ(held.decision.result, DecisionResult::kApprovalRequired);
  EXPECT_EQ(held.decision.reason, DecisionReason::kApprovalRequired);
  const std::string id = held.decision.approval_id;
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(approvals_->Get(id), ApprovalStore::State::kPending);
  EXPECT_FALSE(held.reserved);

  OperationRequest retry = Request("op-2", Usd(2));
  retry.approval_id = id;
  Admission still = g->Admit(retry);
  EXPECT_EQ(still.decision.result, DecisionResult::kApprovalRequired);
  EXPECT_EQ(still.decision.approval_id, id);

  ASSERT_TRUE(approvals_->Approve(id).ok());
  retry.operation_id = "op-3";
  Admission passed = g->Admit(retry);
  EXPECT_EQ(passed.decision.result, DecisionResult::kAllowed);
  EXPECT_TRUE(passed.reserved);
  EXPECT_EQ(approvals_->Get(id), ApprovalStore::State::kConsumed);

  retry.operation_id = "op-4";
  Admission again = g->Admit(retry);
  EXPECT_EQ(again.decision.result, DecisionResult::kApprovalRequired);
  EXPECT_NE(again.decision.approval_id, id);

  // An approval does not stretch to a bigger operation.
  OperationRequest bigger = Request("op-5", Usd(20));
  const std::string id2 = again.decision.approval_id;
  ASSERT_TRUE(approvals_->Approve(id2).ok());
  bigger.approval_id = id2;
  EXPECT_EQ(g->Admit(bigger).decision.result, DecisionResult::kApprovalRequired);
  EXPECT_EQ(approvals_->Get(id2), ApprovalStore::State::kApproved);
  EXPECT_EQ(g->metrics().approval_required, 4);
}

TEST_F(GovernorTest, DeniedApprovalBlocks) {
  GovernanceSettings s = Settings(PolicyLevel::kStrict);
  s.require_cost_approval = true;
  s.cost_approval_threshold = Usd(1);
  auto g = Make(s);
  Admission held = g->Admit(Request("op-1", Usd(2)));
  ASSERT_TRUE(approvals_->Deny(held.decision.approval_id).ok());
  OperationRequest retry = Request("op-2", Usd(2));
  retry.approval_id = held.decision.approval_id;
  Admission a = g->Admit(retry);
  EXPECT_EQ(a.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(a.decision.reason, DecisionReason::kApprovalDenied);
}

TEST_F(GovernorTest, ApprovalCallbackDecides) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.require_cost_approval = true;
  s.cost_approval_threshold = Usd(1);
  auto g = Make(s);
  std::vector<ApprovalRequest> asked;
  g->set_approval_callback([&](const ApprovalRequest& req) {
    asked.push_back(req);
    return req.estimate < Usd(5);
  });
  Admission yes = g->Admit(Request("op-1", Usd(2)));
  EXPECT_EQ(yes.decision.result, DecisionResult::kAllowed);
  EXPECT_TRUE(yes.reserved);
  Admission no = g->Admit(Request("op-2", Usd(6)));
  EXPECT_EQ(no.decision.result, DecisionResult::kBlocked);
  EXPECT_EQ(no.decision.reason, DecisionReason::kApprovalDenied);
  EXPECT_FALSE(no.reserved);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].operation_id, "op-1");
  EXPECT_EQ(asked[0].model, "big");
  EXPECT_EQ(asked[1].estimate, Usd(6));
  EXPECT_EQ(approvals_->Get(asked[0].approval_id), ApprovalStore::State::kConsumed);
  EXPECT_EQ(approvals_->Get(asked[1].approval_id), ApprovalStore::State::kDenied);
  EXPECT_EQ(AlertsOf(AlertKind::kPolicyViolation).size(), 1u);

  g->set_approval_callback([](const ApprovalRequest&) -> bool { throw 42; });
  EXPECT_EQ(g->Admit(Request("op-3", Usd(2))).decision.reason, DecisionReason::kApprovalDenied);
}

TEST_F(GovernorTest, AdvisoryDoesNotHoldForApproval) {
  GovernanceSettings s = Settings(PolicyLevel::kAdvisory);
  s.require_cost_approval = true;
  s.cost_approval_threshold = Usd(1);
  auto g = Make(s);
  Admission a = g->Admit(Request("op-1", Usd(2)));
  EXPECT_EQ(a.decision.result, DecisionResult::kWarned);
  EXPECT_EQ(a.decision.reason, DecisionReason::kApprovalRequired);
  EXPECT_TRUE(approvals_->List().empty());
}

// --- Alerts -------------------------------------------------------------------------------

TEST_F(GovernorTest, BudgetThresholdsFireOncePerWindowAndAgainInTheNext) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.daily_budget_limit = Usd(10);  // thresholds 0.5, 0.8, 1.0
  auto g = Make(s);
  auto spend = [&](const std::string& id, double usd) {
    OperationRequest r = Request(id, Usd(0.01));
    Admission a = g->Admit(r);
    EXPECT_TRUE(a.decision.may_proceed()) << id;
    return g->Complete(r, a, Cost(Usd(usd)));
  };
  EXPECT_TRUE(spend("a", 4.99).alerts.empty());
  Settlement half = spend("b", 0.01);  // exactly 50%
  ASSERT_EQ(half.alerts.size(), 1u);
  EXPECT_EQ(half.alerts[0].kind, AlertKind::kBudgetThreshold);
  EXPECT_EQ(half.alerts[0].budget_name, "daily");
  EXPECT_DOUBLE_EQ(half.alerts[0].threshold, 0.5);
  EXPECT_EQ(half.alerts[0].severity, "warning");
  EXPECT_TRUE(spend("c", 1).alerts.empty());  // 60%
  Settlement jump = spend("d", 4);            // 100%: crosses 0.8 and 1.0 at once
  ASSERT_EQ(jump.alerts.size(), 2u);
  EXPECT_DOUBLE_EQ(jump.alerts[0].threshold, 0.8);
  EXPECT_DOUBLE_EQ(jump.alerts[1].threshold, 1.0);
  EXPECT_EQ(jump.alerts[1].severity, "critical");
  EXPECT_EQ(AlertsOf(AlertKind::kBudgetThreshold).size(), 3u);
  EXPECT_EQ(g->Admit(Request("e", Usd(0.01))).decision.result, DecisionResult::kBlocked);

  // The next UTC day is a new window: the thresholds fire again.
  clock_.Set(kMidnight + kSecond);
  Settlement next = spend("f", 6);
  ASSERT_EQ(next.alerts.size(), 1u);
  EXPECT_DOUBLE_EQ(next.alerts[0].threshold, 0.5);
  EXPECT_EQ(AlertsOf(AlertKind::kBudgetThreshold).size(), 4u);
}

TEST_F(GovernorTest, OperationCostAlert) {
  GovernanceSettings s = Settings(PolicyLevel::kAdvisory);
  s.cost_alert_threshold = Usd(1);
  auto g = Make(s);
  OperationRequest r = Request("op-1");
  Settlement cheap = g->Complete(r, g->Admit(r), Cost(Usd(1)));  // not above
  EXPECT_TRUE(cheap.alerts.empty());
  OperationRequest r2 = Request("op-2");
  Settlement dear = g->Complete(r2, g->Admit(r2), Cost(Usd(1.5)));
  ASSERT_EQ(dear.alerts.size(), 1u);
  EXPECT_EQ(dear.alerts[0].kind, AlertKind::kOperationCost);
  EXPECT_EQ(dear.alerts[0].amount, Usd(1.5));
  EXPECT_EQ(dear.alerts[0].operation_id, "op-2");
  EXPECT_EQ(dear.alerts[0].attribution.team, "ml");
  EXPECT_EQ(AlertsOf(AlertKind::kOperationCost).size(), 1u);

  s.level = PolicyLevel::kAuditOnly;  // records only
  auto audit = Make(s);
  OperationRequest r3 = Request("op-3");
  EXPECT_TRUE(audit->Complete(r3, audit->Admit(r3), Cost(Usd(5))).alerts.empty());
  EXPECT_EQ(AlertsOf(AlertKind::kOperationCost).size(), 1u);
}

TEST_F(GovernorTest, AnomalyAlertAfterTwentySamples) {
  GovernanceSettings s = Settings(PolicyLevel::kAdvisory);
  s.alert_on_anomalies = true;
  auto g = Make(s);
  auto run = [&](const std::string& id, int64_t output_tokens) {
    OperationRequest r = Request(id);
    Completion c;
    c.usage.input_tokens = 10;
    c.usage.output_tokens = output_tokens;
    return g->Complete(r, g->Admit(r), c);
  };
  // Fewer than 20 samples: a spike is not judged yet.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(run("warm-" + std::to_string(i), 10).alerts.empty());
  EXPECT_TRUE(run("early-spike", 190).alerts.empty());  // 10x, but only 10 samples so far
  for (int i = 0; i < 10; ++i) run("more-" + std::to_string(i), 10);
  EXPECT_TRUE(AlertsOf(AlertKind::kAnomaly).empty());
  // The weighted mean is now about $0.026 (the early spike decays): $0.08 is within 5x of
  // it, $0.20 is not.
  EXPECT_TRUE(run("fourfold", 70).alerts.empty());
  Settlement spike = run("spike", 190);
  ASSERT_EQ(spike.alerts.size(), 1u);
  EXPECT_EQ(spike.alerts[0].kind, AlertKind::kAnomaly);
  EXPECT_EQ(spike.alerts[0].amount, Usd(0.2));
  EXPECT_NE(spike.alerts[0].message.find("big"), std::string::npos);
}

TEST_F(GovernorTest, RequestWithoutIdIsRefusedAtEveryLevel) {
  auto g = Make(Settings(PolicyLevel::kAuditOnly));
  Admission a = g->Admit(Request("", Usd(1)));
  EXPECT_EQ(a.decision.result, DecisionResult::kBlocked);
  EXPECT_NE(a.decision.message.find("operation_id"), std::string::npos);
  EXPECT_EQ(g->metrics().in_flight, 0);
}

// --- Settings and metrics -------------------------------------------------------------------

TEST(GovernanceSettingsTest, RejectsBadSettingsByName) {
  auto expect_error = [](const GovernanceSettings& s, const std::string& needle) {
    absl::Status st = ValidateGovernanceSettings(s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st;
  };
  GovernanceSettings ok;
  EXPECT_TRUE(ValidateGovernanceSettings(ok).ok());
  GovernanceSettings s = ok;
  s.daily_budget_limit = Money::FromNanos(-1);
  expect_error(s, "daily_budget_limit");
  s = ok;
  s.require_cost_approval = true;
  expect_error(s, "cost_approval_threshold");
  s = ok;
  s.operation_timeout_nanos = 0;
  expect_error(s, "operation_timeout");
  s = ok;
  s.max_concurrent_operations = -1;
  expect_error(s, "max_concurrent_operations");
  s = ok;
  s.daily_budget_limit = Usd(1);
  ledger::BudgetSpec dup;
  dup.name = "daily";
  s.budgets = {dup};
  expect_error(s, "daily");
  s = ok;
  ledger::BudgetSpec bad;
  bad.name = "b";
  bad.alert_thresholds = {1.5, 11};
  s.budgets = {bad};
  expect_error(s, "alert threshold 11");
  bad.alert_thresholds = {0.5};
  bad.scope = {{"teem", "x"}};
  s.budgets = {bad};
  expect_error(s, "teem");
}

TEST_F(GovernorTest, CreateRejectsMissingDependencies) {
  EXPECT_FALSE(Governor::Create(Settings(PolicyLevel::kEnforced), nullptr, ledger_, alerts_,
                                approvals_, &clock_)
                   .ok());
  EXPECT_FALSE(Governor::Create(Settings(PolicyLevel::kEnforced), catalog_, nullptr, alerts_,
                                approvals_, &clock_)
                   .ok());
  // Alerts and approvals are optional.
  auto g = Governor::Create(Settings(PolicyLevel::kEnforced), catalog_, ledger_, nullptr, nullptr,
                            &clock_);
  ASSERT_TRUE(g.ok()) << g.status();
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.max_operation_cost = Usd(0.1);
  auto h = Governor::Create(s, catalog_, ledger_, nullptr, nullptr, &clock_);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->Admit(Request("op", Usd(1))).alerts.size(), 1u);  // returned, not dispatched
  EXPECT_TRUE(sink_->alerts().empty());
}

TEST_F(GovernorTest, MetricsCountDecisions) {
  GovernanceSettings s = Settings(PolicyLevel::kEnforced);
  s.max_operation_cost = Usd(1);
  s.daily_budget_limit = Usd(10);
  auto g = Make(s);
  OperationRequest r = Request("ok", Usd(0.5));
  Admission a = g->Admit(r);
  EXPECT_EQ(g->metrics().reserved_now, Usd(0.5));
  g->Admit(Request("too-big", Usd(2)));
  OperationRequest unknown = Request("unpriced");
  unknown.model = "nope";
  g->Admit(unknown);
  g->Complete(r, a, Cost(Usd(0.25)));
  const GovernorMetrics m = g->metrics();
  EXPECT_EQ(m.operations, 3);
  EXPECT_EQ(m.allowed, 1);
  EXPECT_EQ(m.warned, 1);
  EXPECT_EQ(m.blocked, 1);
  EXPECT_EQ(m.unpriced, 1);
  EXPECT_EQ(m.in_flight, 1);  // "unpriced" was admitted and is still open
  EXPECT_EQ(m.total_cost, Usd(0.25));
  EXPECT_EQ(m.reserved_now, Money::Zero());
  EXPECT_EQ(m.pending_settlements, 0);
}

}  // namespace
}  // namespace genops
