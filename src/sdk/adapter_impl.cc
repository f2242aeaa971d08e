#include "src/sdk/adapter_impl.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "src/core/cost.h"
#include "src/core/text.h"
#include "src/ledger/lease_ledger.h"
#include "src/ledger/ledger_factory.h"
#include "src/telemetry/aggregate_fields.h"
#include "src/telemetry/id_generator.h"
#include "src/telemetry/semconv.h"
#include "src/telemetry/trace_context.h"

namespace genops {
namespace {

namespace sc = telemetry::semconv;
using telemetry::Attribute;
using telemetry::AttributeKey;
using telemetry::SpanEvent;

constexpr size_t kOperationLogCapacity = 10000;

// AdapterImpl::id_: never reused, never 0.
std::atomic<uint64_t> next_adapter_id{1};

// The open operations of the calling thread, innermost last.
std::shared_ptr<OpenOperations>& ThisThreadsOpenOperations() {
  thread_local std::shared_ptr<OpenOperations> open = std::make_shared<OpenOperations>();
  return open;
}

// Removes `state` from the stack of the thread that started it. An Operation may end on
// another thread (or after its starting thread exited); the stack is shared and locked, so
// no thread ever keeps a pointer to a finished operation.
void PopOpen(const Operation::State* state) {
  if (state->open_on == nullptr) return;
  OpenOperations& open = *state->open_on;
  std::lock_guard<SpinLock> lock(open.mu);
  auto it = std::find(open.stack.rbegin(), open.stack.rend(), state);
  if (it != open.stack.rend()) open.stack.erase(std::next(it).base());
}

// A recycled State keeps some strings of its last operation (Operation::State::Reset()):
// comparing is cheaper than assigning when they are the same.
void AssignIfDifferent(std::string& field, std::string_view value) {
  if (field != value) field.assign(value);
}

// "op_" and 32 random hex digits, written into `out` (a recycled State keeps its buffer).
// "op_" + 32 hex digits: the start time in milliseconds (12 digits), then 80 random bits.
// Time first keeps ids that are written together next to each other in the stores' indexes
// (a SQLite or PostgreSQL B-tree inserts at its right edge instead of at a random page, which
// the operations log and the idempotency record of settled ids do once per call); 80 random
// bits per millisecond keep them unique.
void TimeOrderedOperationId(std::string& out, int64_t unix_nanos) {
  telemetry::TraceId id = telemetry::GenerateTraceId();
  uint64_t millis = static_cast<uint64_t>(std::max<int64_t>(unix_nanos, 0) / kNanosPerMilli);
  for (int i = 5; i >= 0; --i) {
    id.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(millis & 0xff);
    millis >>= 8;
  }
  out.resize(3 + 2 * id.bytes.size());
  std::memcpy(out.data(), "op_", 3);
  telemetry::HexEncode(id.bytes.data(), id.bytes.size(), out.data() + 3);
}

// `field` = make(), constructed in place: make()'s result is elided into `field`, where an
// assignment moved it (an Admission or a Settlement moves strings, an inlined vector of
// budgets and a vector of alerts) and destroyed the moved-from temporary.
template <typename T, typename Make>
void ReplaceWith(T& field, Make make) noexcept {
  static_assert(noexcept(make()), "`field` would stay destroyed if make() threw");
  std::destroy_at(&field);
  ::new (static_cast<void*>(&field)) T(make());
}

BudgetStatusView ToView(const ledger::BudgetStatus& b) {
  BudgetStatusView v;
  v.name = b.spec->name;
  v.scope = ledger::ScopeToString(b.spec->scope);
  v.period = std::string(ledger::BudgetPeriodName(b.spec->period));
  v.limit = b.spec->limit;
  v.spent = b.spent;
  v.reserved = b.reserved;
  v.remaining = b.remaining();
  v.utilization_percent = b.utilization() * 100.0;
  v.window_start_unix_nanos = b.window.start_unix_nanos;
  v.window_end_unix_nanos = b.window.end_unix_nanos;
  return v;
}

}  // namespace

absl::StatusOr<std::shared_ptr<AdapterImpl>> AdapterImpl::Create(const AdapterConfig& config,
                                                                 AdapterDependencies deps) {
  const Environment* env = config.env != nullptr ? config.env : Environment::Process();
  const Clock* clock = config.clock != nullptr ? config.clock : Clock::Real();
  auto resolved = sdk::ResolveConfig(config, *env);
  if (!resolved.ok()) return resolved.status();

  std::shared_ptr<AdapterImpl> adapter(new AdapterImpl(*std::move(resolved), clock));
  const sdk::ResolvedConfig& rc = adapter->config_;

  if (deps.catalog != nullptr) {
    adapter->catalog_ = std::move(deps.catalog);
  } else {
    auto catalog = rc.pricing_overrides.empty()
                       ? pricing::Catalog::Builtin()
                       : pricing::Catalog::BuiltinWithOverrides(rc.pricing_overrides);
    if (!catalog.ok()) {
      return absl::InvalidArgumentError(
          Cat(rc.pricing_overrides.empty() ? "pricing catalog" : "pricing_overrides", ": ",
              catalog.status().message()));
    }
    adapter->catalog_ = *std::move(catalog);
  }
  bool persist = deps.persist_operations;
  if (deps.ledger != nullptr) {
    adapter->ledger_ = std::move(deps.ledger);
  } else {
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened =
        ledger::OpenLedger(rc.ledger_url, {.clock = clock});
    if (!opened.ok()) {
      return absl::Status(opened.status().code(), Cat("ledger_url: ", opened.status().message()));
    }
    adapter->ledger_ = *std::move(opened);
    persist = rc.ledger_url != "memory://";
  }

  adapter->alerts_ = std::make_shared<AlertDispatcher>();
  if (rc.log_alerts) adapter->alerts_->AddSink(std::make_shared<LogAlertSink>());
  if (!rc.alert_webhooks.empty()) {
    adapter->alerts_->AddSink(std::make_shared<WebhookAlertSink>(rc.alert_webhooks));
  }
  for (auto& sink : deps.extra_alert_sinks) adapter->alerts_->AddSink(std::move(sink));
  adapter->approvals_ =
      deps.approvals != nullptr ? deps.approvals : std::make_shared<ApprovalStore>(clock);

  auto governor = Governor::Create(rc.governance, adapter->catalog_, adapter->ledger_,
                                   adapter->alerts_, adapter->approvals_, clock);
  if (!governor.ok()) return governor.status();
  adapter->governor_ = *std::move(governor);
  if (config.approval_callback) adapter->governor_->set_approval_callback(config.approval_callback);

  const Environment& pipeline_env = *env;
  auto pipeline =
      sdk::SpanPipeline::Create(rc, pipeline_env, clock, std::move(deps.extra_exporters));
  if (!pipeline.ok()) return pipeline.status();
  adapter->pipeline_ = *std::move(pipeline);

  if (rc.compliance.enable_audit_logging) {
    auto audit = sdk::AuditLog::Open(rc.compliance.audit_log_path,
                                     rc.compliance.audit_all_operations, rc.compliance.frameworks);
    if (!audit.ok()) return audit.status();
    adapter->audit_ = *std::move(audit);
  }
  adapter->log_ = std::make_unique<sdk::OperationLog>(
      kOperationLogCapacity, rc.metrics_retention_days, rc.detailed_metrics);
  if (persist) {
    ledger::OperationLogWriterOptions writer_options;
    writer_options.batch_size = static_cast<size_t>(rc.export_settings.batch_size);
    writer_options.retention_days = rc.metrics_retention_days;
    if (ledger::HasBudgetLeases(*adapter->ledger_)) {
      // Admissions seldom wait on the store's writer then, so a whole batch can be one
      // transaction: 6.6 instead of 10.1 us of store work per call, charge included
      // (ledger_sqlite_benchmark sqlite_full/lease_batch, batches of 256 against 64).
      writer_options.max_records_per_transaction = writer_options.batch_size;
    }
    std::weak_ptr<AlertDispatcher> alerts = adapter->alerts_;
    writer_options.on_store_state_change = [alerts](const absl::Status& status) {
      if (status.ok()) return;
      if (auto dispatcher = alerts.lock()) {
        Alert alert;
        alert.kind = AlertKind::kLedgerUnavailable;
        alert.severity = "warning";
        alert.message = Cat("writing the operations log failed; records are kept and retried: ",
                            status.message());
        dispatcher->Dispatch(alert);
      }
    };
    adapter->writer_ = std::make_unique<ledger::OperationLogWriter>(adapter->ledger_, clock,
                                                                    std::move(writer_options));
  }
  for (auto& p : deps.allowed_providers) {
    adapter->allowed_providers_.push_back(absl::AsciiStrToLower(p));
  }
  return adapter;
}

AdapterImpl::AdapterImpl(sdk::ResolvedConfig config, const Clock* clock)
    : config_(std::move(config)),
      clock_(clock),
      id_(next_adapter_id.fetch_add(1, std::memory_order_relaxed)) {}

AdapterImpl::~AdapterImpl() { shutdown(); }

Operation AdapterImpl::track_operation(std::string_view operation_type,
                                       std::string_view operation_name,
                                       const TrackOptions& options) {
  Operation op = try_track_operation(operation_type, operation_name, options);
  if (!op.allowed()) {
    Decision decision = op.decision();
    op.end();  // recorded and exported as refused before the exception leaves
    throw PolicyViolationError(std::move(decision));
  }
  return op;
}

Operation AdapterImpl::try_track_operation(std::string_view operation_type,
                                           std::string_view operation_name,
                                           const TrackOptions& options) noexcept {
  std::unique_ptr<Operation::State> state = Operation::State::Acquire();
  Operation::State& s = *state;
  // The record this State got from the operation log is ten thousand operations old: start
  // loading what Finish() writes of it (the buffers of its long strings: at the end, once
  // the record itself has arrived).
  if (s.record != nullptr) {
    const char* record = reinterpret_cast<const char*>(s.record.get());
    for (size_t offset = 0; offset < sizeof(OperationRecord); offset += 64) {
      __builtin_prefetch(record + offset, 1);
    }
  }
  s.adapter = shared_from_this();
  AssignIfDifferent(s.operation_type, operation_type);  // see State::Reset()
  AssignIfDifferent(s.operation_name, operation_name);
  s.start_unix_nanos = clock_->NowUnixNanos();
  s.start_monotonic_nanos = clock_->MonotonicNanos();
  s.high_priority = absl::EqualsIgnoreCase(options.priority, "high");

  // Trace context: parent operation > W3C traceparent > new root.
  s.span_id = telemetry::GenerateSpanId();
  if (options.parent_span != nullptr && options.parent_span->state_ != nullptr) {
    const Operation::State& parent = *options.parent_span->state_;
    s.trace_id = parent.trace_id;
    s.parent_span_id = parent.span_id;
    s.trace_state = parent.trace_state;
    s.tree = parent.tree;
    s.is_root = false;
    s.remote_parent_sampled = parent.remote_parent_sampled;
    s.has_remote_parent = parent.has_remote_parent;
  } else if (!options.traceparent.empty()) {
    auto ctx = telemetry::ParseTraceparent(options.traceparent);
    if (ctx.ok()) {
      s.trace_id = ctx->trace_id;
      s.parent_span_id = ctx->span_id;
      s.remote_parent_sampled = ctx->sampled;
      s.has_remote_parent = true;
    }
  }
  if (!s.trace_id.valid()) s.trace_id = telemetry::GenerateTraceId();
  if (s.tree == nullptr) {
    s.tree.StartAt(s, static_cast<uint32_t>(config_.limits.max_spans_per_operation));
  } else {
    s.record_span = s.tree->TryRecordChild();
  }

  // The governance request.
  OperationRequest& r = s.request;
  TimeOrderedOperationId(r.operation_id, s.start_unix_nanos);
  r.now_unix_nanos = s.start_unix_nanos;  // spares the governor a clock read
  const Attribution& defaults = config_.governance.defaults;
  if (options.attribution.team.empty() && options.attribution.project.empty() &&
      options.attribution.customer_id.empty() && options.attribution.environment.empty() &&
      options.attribution.cost_center.empty() && options.attribution.feature.empty() &&
      options.attribution.tags.empty() && options.tags.empty()) {
    // A recycled State usually holds this adapter's defaults already (Reset() keeps them).
    if (s.attribution_defaults_of != id_) {
      r.attribution = defaults;
      s.attribution_defaults_of = id_;
    }
  } else {
    r.attribution = defaults.MergedWith(options.attribution);
    s.attribution_defaults_of = 0;
  }
  for (const auto& [k, v] : options.tags) r.attribution.tags[k] = v;
  r.provider.assign(options.provider);
  absl::AsciiStrToLower(&r.provider);
  AssignIfDifferent(r.model, options.model);
  r.estimated_input_tokens = std::max<int64_t>(options.estimated_input_tokens, 0);
  r.max_output_tokens = options.max_output_tokens;
  if (options.max_cost.has_value()) {
    auto m = Money::FromUsdDouble(*options.max_cost);
    if (m.ok() && m->nanos() >= 0) r.max_cost = *m;
  }
  if (options.estimated_cost.has_value()) {
    auto m = Money::FromUsdDouble(*options.estimated_cost);
    if (m.ok() && m->nanos() >= 0) r.estimated_cost = *m;
  }
  r.data_region.assign(options.data_region);
  absl::AsciiStrToUpper(&r.data_region);
  r.approval_id = options.approval_id;
  r.high_priority = s.high_priority;

  ApplyProviderAllowlist(s);
  if (s.admission.decision.result != DecisionResult::kBlocked) {
    ReplaceWith(s.admission, [&]() noexcept { return governor_->Admit(r); });
  }

  // The policy and reservation events are built with the span, on the export thread
  // (sdk::BuildOperationSpan).
  if (!s.admission.alerts.empty()) {  // a locked instruction saved on the common path
    alerts_raised_.fetch_add(static_cast<int64_t>(s.admission.alerts.size()),
                             std::memory_order_relaxed);
  }

  // A recycled State usually comes back to the thread it was last opened on: keeping its
  // reference spares two atomic reference-count updates per operation.
  if (const std::shared_ptr<OpenOperations>& open = ThisThreadsOpenOperations();
      s.open_on != open) {
    s.open_on = open;
  }
  {
    std::lock_guard<SpinLock> lock(s.open_on->mu);
    s.open_on->stack.push_back(&s);
  }
  if (s.record != nullptr) {  // its long strings' buffers, now that the record has arrived
    __builtin_prefetch(s.record->operation_id.data(), 1);
    __builtin_prefetch(s.record->model.data(), 1);
    __builtin_prefetch(s.record->trace_id.data(), 1);
  }
  return Operation(std::move(state));
}

void AdapterImpl::ApplyProviderAllowlist(Operation::State& s) const {
  if (allowed_providers_.empty() || s.request.provider.empty()) return;
  if (std::find(allowed_providers_.begin(), allowed_providers_.end(), s.request.provider) !=
      allowed_providers_.end()) {
    return;
  }
  const PolicyLevel level = config_.governance.level;
  if (level == PolicyLevel::kEnforced || level == PolicyLevel::kStrict) {
    Decision& d = s.admission.decision;
    d.result = DecisionResult::kBlocked;
    d.reason = DecisionReason::kModelNotAllowed;
    d.message = Cat("provider \"", s.request.provider, "\" is not one of the tracked providers (",
                    Join(allowed_providers_, ", "),
                    "); add it to multi_provider_cost_tracking's providers");
  }
}

std::pair<Money, bool> AdapterImpl::PreviewCost(const Operation::State& s) const noexcept {
  if (s.cost_override.has_value()) return {*s.cost_override, true};
  const std::string& model = s.response_model.empty() ? s.request.model : s.response_model;
  const pricing::ModelPricing* m = catalog_->Find(s.request.provider, model);
  if (m == nullptr) return {Money(), false};
  return {pricing::ComputeCost(*m, s.usage).total, true};
}

void AdapterImpl::FillRecord(Operation::State& s) const {
  // Assignments into the (possibly recycled) record reuse its buffers. Every field is
  // assigned: the record still holds an earlier operation's values.
  static_assert(telemetry::CountFields<OperationRecord>() == 15,
                "a field was added: assign it here");
  if (s.record == nullptr) s.record = std::make_unique<OperationRecord>();
  OperationRecord& rec = *s.record;
  rec.operation_id = s.request.operation_id;
  rec.start_unix_nanos = s.start_unix_nanos;
  rec.duration_nanos = s.duration_nanos;
  AssignIfDifferent(rec.operation_type, s.operation_type);  // the evicted record's, usually
  AssignIfDifferent(rec.operation_name, s.operation_name);
  // The evicted record usually has the same attribution: comparing costs a third of copying.
  if (!(rec.attribution == s.request.attribution)) rec.attribution = s.request.attribution;
  AssignIfDifferent(rec.provider, s.request.provider);
  AssignIfDifferent(rec.model, s.response_model.empty() ? s.request.model : s.response_model);
  rec.usage = s.usage;
  rec.cost = s.settlement.cost;
  rec.priced = s.settlement.priced;
  rec.decision = s.admission.decision.result;
  rec.reason = s.admission.decision.reason;
  rec.error = s.error;
  s.trace_id.ToHex(&rec.trace_id);
}

void AdapterImpl::Finish(Operation::State& s) noexcept {
  s.ended = true;
  PopOpen(&s);
  s.duration_nanos = clock_->MonotonicNanos() - s.start_monotonic_nanos;

  const bool ran = s.admission.decision.may_proceed();
  if (ran) {
    Completion c;
    c.success = !s.error;
    c.usage = s.usage;
    c.response_model = s.response_model;
    c.cost_override = s.cost_override;
    c.now_unix_nanos = s.start_unix_nanos + s.duration_nanos;
    ReplaceWith(s.settlement,
                [&]() noexcept { return governor_->Complete(s.request, s.admission, c); });
    if (!s.settlement.alerts.empty()) {
      alerts_raised_.fetch_add(static_cast<int64_t>(s.settlement.alerts.size()),
                               std::memory_order_relaxed);
    }
  }

  FillRecord(s);
  const OperationRecord& record = *s.record;
  if (audit_ != nullptr && audit_->Wants(record)) {
    audit_->Write(record, config_.governance.level,
                  s.error ? std::string_view(s.error_message)
                          : std::string_view(s.admission.decision.message));
  }

  // Sampling decides export only; the money above is already settled (DESIGN.md §3).
  // Refused operations count as high priority: they are what an auditor looks for.
  const bool refused = !ran;
  if (s.record_span &&
      pipeline_->ShouldExport(
          s.trace_id,
          s.has_remote_parent ? std::optional<bool>(s.remote_parent_sampled) : std::nullopt,
          s.error, s.high_priority || refused)) {
    // Built from `s` on the export thread; from here on `s` is only read.
    pipeline_->SubmitOperation(s);
  } else {
    pipeline_->CountUnsampled();
  }
  if (writer_ != nullptr) writer_->Add(record);
  // Exchanged: s.record gets the evicted record (and its buffers) for its next operation. The
  // end of the operation is "now" closely enough for retention, without a clock read.
  log_->Add(s.record, s.start_unix_nanos + s.duration_nanos);
  s.adapter.reset();  // the handle may outlive the adapter's users; drop our reference
}

std::shared_ptr<Governor> AdapterImpl::shared_governor() {
  return std::shared_ptr<Governor>(shared_from_this(), governor_.get());
}

void AdapterImpl::RecordExternalOperation(OperationRecord record) noexcept {
  if (audit_ != nullptr && audit_->Wants(record)) {
    audit_->Write(record, config_.governance.level, std::string_view());
  }
  if (writer_ != nullptr) writer_->Add(record);
  const int64_t end = record.start_unix_nanos + record.duration_nanos;
  log_->Add(std::move(record), end);
}

void AdapterImpl::RecordExternalOperation(std::unique_ptr<OperationRecord>& record) noexcept {
  if (audit_ != nullptr && audit_->Wants(*record)) {
    audit_->Write(*record, config_.governance.level, std::string_view());
  }
  if (writer_ != nullptr) writer_->Add(*record);
  const int64_t end = record->start_unix_nanos + record->duration_nanos;
  log_->Add(record, end);
}

std::shared_ptr<telemetry::SpanProcessor> AdapterImpl::shared_span_processor() {
  return std::shared_ptr<telemetry::SpanProcessor>(shared_from_this(), &pipeline_->processor());
}

AdapterMetrics AdapterImpl::get_metrics() const {
  AdapterMetrics m;
  const GovernorMetrics g = governor_->metrics();
  const int64_t now = clock_->NowUnixNanos();
  m.operation_count = g.operations;
  m.allowed = g.allowed;
  m.warned = g.warned;
  m.blocked = g.blocked;
  m.approval_required = g.approval_required;
  m.unpriced_operations = g.unpriced;
  m.in_flight = g.in_flight;
  m.pending_settlements = g.pending_settlements;
  m.total_cost = g.total_cost;
  m.governance_enabled = config_.governance.enable_governance;
  m.policy = config_.governance.level;
  m.daily_usage = log_->SpentOnDay(now);
  if (config_.governance.daily_budget_limit.has_value()) {
    auto budgets = ledger_->ListBudgets(now);
    if (budgets.ok()) {
      for (const auto& b : *budgets) {
        if (b.spec->name == "daily") m.budget_remaining = b.remaining();
      }
    }
  }
  const sdk::PipelineStats p = pipeline_->stats();
  m.spans_exported = p.exported;
  m.spans_dropped = p.dropped;
  m.spans_unsampled = p.unsampled;
  m.alerts_raised = alerts_raised_.load(std::memory_order_relaxed);
  if (config_.detailed_metrics) {
    m.by_provider = log_->ByProvider();
    m.by_model = log_->ByModel();
    m.by_team = log_->ByTeam();
  }
  return m;
}

std::vector<BudgetStatusView> AdapterImpl::get_budget_status() const {
  std::vector<BudgetStatusView> out;
  auto budgets = ledger_->ListBudgets(clock_->NowUnixNanos());
  if (!budgets.ok()) return out;
  for (const auto& b : *budgets) out.push_back(ToView(b));
  return out;
}

OperationsSummary AdapterImpl::SummaryFromLedger(size_t limit) const {
  OperationsSummary s;
  const int64_t now = clock_->NowUnixNanos();
  // Records this process has not committed yet count too; the ledger has everyone else's.
  std::vector<OperationRecord> unwritten = writer_->Unwritten();
  absl::flat_hash_set<std::string> seen;
  auto add = [&](const OperationRecord& r) {
    if (!seen.insert(r.operation_id).second) return;
    sdk::AddTo(s.totals, r);
    sdk::AddTo(s.by_provider[r.provider], r);
  };
  for (const OperationRecord& r : unwritten) add(r);
  const int64_t since = now - int64_t{config_.metrics_retention_days} * 86'400 * kNanosPerSecond;
  std::vector<OperationRecord> newest;
  absl::Status status =
      ledger_->ScanOperations({.since_unix_nanos = since}, [&](const OperationRecord& r) {
        if (seen.contains(r.operation_id)) return true;
        add(r);
        if (newest.size() < limit) newest.push_back(r);
        return true;
      });
  if (!status.ok()) {
    // The shared log is unreachable: fall back to what this process saw.
    OperationsSummary local;
    local.operations = log_->Recent(limit, now);
    local.totals = log_->RetainedTotals(now);
    local.by_provider = log_->ByProvider();
    return local;
  }
  newest.insert(newest.end(), unwritten.begin(), unwritten.end());
  std::sort(newest.begin(), newest.end(), [](const OperationRecord& a, const OperationRecord& b) {
    if (a.start_unix_nanos != b.start_unix_nanos) return a.start_unix_nanos > b.start_unix_nanos;
    return a.operation_id > b.operation_id;
  });
  if (newest.size() > limit) newest.resize(limit);
  s.operations = std::move(newest);
  return s;
}

OperationsSummary AdapterImpl::get_recent_operations_summary(size_t limit) const {
  if (writer_ != nullptr) return SummaryFromLedger(limit);
  OperationsSummary s;
  const int64_t now = clock_->NowUnixNanos();
  s.operations = log_->Recent(limit, now);
  s.totals = log_->RetainedTotals(now);
  s.by_provider = log_->ByProvider();
  return s;
}

GovernanceContext AdapterImpl::get_current_governance_context() const {
  GovernanceContext c;
  c.attribution = config_.governance.defaults;
  c.policy = config_.governance.level;
  c.governance_enabled = config_.governance.enable_governance;
  c.compliance_frameworks = config_.compliance.frameworks;
  OpenOperations& open = *ThisThreadsOpenOperations();
  std::lock_guard<SpinLock> lock(open.mu);  // an operation may be ending on another thread
  for (auto it = open.stack.rbegin(); it != open.stack.rend(); ++it) {
    if ((*it)->adapter.get() == this) {
      c.current_operation_id = (*it)->request.operation_id;
      c.current_trace_id = (*it)->trace_id.ToHex();
      c.attribution = (*it)->request.attribution;
      break;
    }
  }
  return c;
}

absl::Status AdapterImpl::approve(std::string_view approval_id) {
  return approvals_->Approve(approval_id);
}
absl::Status AdapterImpl::deny(std::string_view approval_id) {
  return approvals_->Deny(approval_id);
}

bool AdapterImpl::flush(int timeout_ms) noexcept {
  // Settlements held back by an unreachable ledger first: they are money.
  const bool settled = governor_->FlushPending().ok();
  const bool log_flushed =
      writer_ == nullptr || writer_->Flush(std::chrono::milliseconds(timeout_ms));
  return pipeline_->Flush(std::chrono::milliseconds(timeout_ms)) && log_flushed && settled;
}

void AdapterImpl::shutdown() noexcept {
  if (shut_down_.exchange(true)) return;
  if (governor_ != nullptr) (void)governor_->FlushPending();
  if (writer_ != nullptr) writer_->Shutdown(config_.export_settings.export_timeout);
  if (pipeline_ != nullptr) pipeline_->Shutdown(config_.export_settings.export_timeout);
}

}  // namespace genops
