// AdapterImpl: the Adapter behind instrument_traceloop().
//
// Wires the governor (policy, reservation, settlement, alerts), the pricing catalog, the
// operation log, the audit trail and the span pipeline. track_operation() admits before it
// returns; Finish() settles, records and exports when the Operation ends.
//
// Thread safety: thread-safe. Each Operation is confined to one thread at a time.
#ifndef GENOPS_SDK_ADAPTER_IMPL_H_
#define GENOPS_SDK_ADAPTER_IMPL_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "genops/adapter.h"
#include "src/core/alerts.h"
#include "src/core/approvals.h"
#include "src/core/catalog.h"
#include "src/core/governor.h"
#include "src/ledger/ledger.h"
#include "src/ledger/operation_log_writer.h"
#include "src/sdk/audit_log.h"
#include "src/sdk/operation_log.h"
#include "src/sdk/operation_state.h"
#include "src/sdk/resolved_config.h"
#include "src/sdk/span_pipeline.h"

namespace genops {

// Pieces a caller may inject (tests, the gateway later); null members are built from config.
struct AdapterDependencies {
  std::shared_ptr<const pricing::Catalog> catalog;
  std::shared_ptr<ledger::Ledger> ledger;
  std::vector<std::unique_ptr<exporter::SpanExporter>> extra_exporters;
  std::vector<std::shared_ptr<AlertSink>> extra_alert_sinks;
  // Where held operations wait for approval; the gateway passes its own so its admin API can
  // list and grant them.
  std::shared_ptr<ApprovalStore> approvals;
  // Providers an operation may use (multi_provider_cost_tracking); empty = any.
  std::vector<std::string> allowed_providers;
  // Write every finished operation to the ledger's operations log (group commit) and read
  // summaries back from it. Set automatically when the ledger is opened from a durable
  // ledger_url; an injected ledger opts in here.
  bool persist_operations = false;
};

class AdapterImpl final : public Adapter, public std::enable_shared_from_this<AdapterImpl> {
 public:
  static absl::StatusOr<std::shared_ptr<AdapterImpl>> Create(const AdapterConfig& config,
                                                             AdapterDependencies deps = {});
  ~AdapterImpl() override;

  Operation track_operation(std::string_view operation_type, std::string_view operation_name,
                            const TrackOptions& options = {}) override;
  Operation try_track_operation(std::string_view operation_type, std::string_view operation_name,
                                const TrackOptions& options = {}) noexcept override;
  AdapterMetrics get_metrics() const override;
  std::vector<BudgetStatusView> get_budget_status() const override;
  OperationsSummary get_recent_operations_summary(size_t limit = 10) const override;
  GovernanceContext get_current_governance_context() const override;
  absl::Status approve(std::string_view approval_id) override;
  absl::Status deny(std::string_view approval_id) override;
  bool flush(int timeout_ms = 10000) noexcept override;
  void shutdown() noexcept override;

  // Called by Operation.
  void Finish(Operation::State& state) noexcept;
  std::pair<Money, bool> PreviewCost(const Operation::State& state) const noexcept;
  const Clock& clock() const noexcept { return *clock_; }

  const sdk::ResolvedConfig& resolved() const { return config_; }

  // For front ends in the same process that charge calls this adapter did not admit (the
  // OTLP receiver: the call already happened, it is only priced, charged and recorded).
  // They share the adapter's governor (ledger, budgets, alerts), catalog, operation log and
  // span pipeline, so receiver spend counts in the same budgets, reports and metrics.
  // The governor shares this adapter's lifetime (an aliasing pointer).
  std::shared_ptr<Governor> shared_governor();
  std::shared_ptr<const pricing::Catalog> catalog() const { return catalog_; }
  // Records an operation governed elsewhere: the audit trail, the operations log of the
  // ledger (when persisted) and the in-memory summary, as Finish() does. Thread-safe.
  void RecordExternalOperation(OperationRecord record) noexcept;
  // As above, taking `*record` (non-null) by exchange: `record` comes back holding a record
  // the in-memory summary evicted (whose buffers a caller filling it again reuses), or null.
  // For callers that record operation after operation (the OTLP receiver): nothing is
  // allocated here, nor freed on another thread than the one that allocated it.
  void RecordExternalOperation(std::unique_ptr<OperationRecord>& record) noexcept;
  // The export pipeline's span processor, for spans finished elsewhere (received over
  // OTLP): OnEnd() never blocks (a full queue drops and counts in stats()); span limits and
  // sampling are not applied, the producer applied its own. Shares this adapter's lifetime.
  std::shared_ptr<telemetry::SpanProcessor> shared_span_processor();

 private:
  AdapterImpl(sdk::ResolvedConfig config, const Clock* clock);
  void ApplyProviderAllowlist(Operation::State& state) const;
  // Fills state.record: what the operation log and the audit trail keep.
  void FillRecord(Operation::State& state) const;
  // get_recent_operations_summary() over the shared operations log (writer_ set).
  OperationsSummary SummaryFromLedger(size_t limit) const;

  sdk::ResolvedConfig config_;
  const Clock* clock_;
  // Unique in the process and never reused (unlike an address): States remember whose
  // default attribution they hold by it.
  const uint64_t id_;
  std::shared_ptr<const pricing::Catalog> catalog_;
  std::shared_ptr<ledger::Ledger> ledger_;
  std::shared_ptr<AlertDispatcher> alerts_;
  std::shared_ptr<ApprovalStore> approvals_;
  std::unique_ptr<Governor> governor_;
  std::unique_ptr<sdk::SpanPipeline> pipeline_;
  std::unique_ptr<sdk::AuditLog> audit_;
  std::unique_ptr<sdk::OperationLog> log_;
  // Set when operations are persisted to a shared ledger (see AdapterDependencies).
  std::unique_ptr<ledger::OperationLogWriter> writer_;
  std::vector<std::string> allowed_providers_;
  std::atomic<int64_t> alerts_raised_{0};
  std::atomic<bool> shut_down_{false};
};

}  // namespace genops

#endif  // GENOPS_SDK_ADAPTER_IMPL_H_
