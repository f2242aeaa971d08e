// Operation::State: everything one governed operation carries from start to end.
//
// Owned by the Operation handle; the adapter reads it when the operation ends to settle, record
// and export. States are pooled and shared:
//  - Acquire() hands out a recycled State when one is free, reset on the acquiring thread. A
//    recycled State keeps the heap buffers of its strings and vectors (operation id, model,
//    record, custom attributes), so a warm operation allocates none of them. Every field is
//    back to its default value, except a few that try_track_operation() always assigns and
//    that usually repeat from one operation to the next (Reset() lists them).
//  - The span of an ended operation is built from its State on the span processor's export
//    thread (SpanPipeline::SubmitOperation), so the pipeline holds a second reference until
//    then. `delete state` (what the handle's unique_ptr does) drops the handle's reference; the
//    last reference returns the State to the pool.
//
// Thread safety: not thread-safe while the operation is open: confined to the thread using its
// Operation. Once the operation has ended nothing writes the fields the handle still reads, so
// the handle (get_metrics(), operation_id(), ...) and the export thread may read them
// concurrently; the export thread alone moves the custom attributes and events out.
// Ref()/Unref() are thread-safe.
#ifndef GENOPS_SDK_OPERATION_STATE_H_
#define GENOPS_SDK_OPERATION_STATE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "genops/operation.h"
#include "genops/operation_record.h"
#include "src/core/governor.h"
#include "src/sdk/spin_lock.h"
#include "src/telemetry/aggregate_fields.h"
#include "src/telemetry/span_data.h"
#include "src/telemetry/span_limits.h"

namespace genops {

class AdapterImpl;

// The operations a thread has started and not yet ended, for
// get_current_governance_context(). Shared between the thread and its operations, so an
// operation ending on another thread (or after its thread exited) can still remove itself.
// Thread safety: `stack` is guarded by `mu` (a SpinLock: the starting thread takes it twice
// per operation, almost always alone).
struct OpenOperations {
  SpinLock mu;
  std::vector<const Operation::State*> stack ABSL_GUARDED_BY(mu);
};

// SpanTree: an operation's handle on the span budget of its tree (max_spans_per_operation),
// shared by a root operation and all its descendants.
//
// Why not a shared_ptr<OperationSpanBudget>: that cost an allocation per root operation, freed
// on the span export thread. The budget is embedded in the root's (pooled) State instead;
// StartAt() points the root's handle at it, and copying the handle into a child takes a
// reference on the root's State (Ref/Unref), so the budget lives as long as any operation of
// the tree. A handle may also be given a separately allocated budget (a shared_ptr).
//
// Thread safety: as a shared_ptr: distinct handles may be used concurrently; the budget itself
// is thread-safe.
class SpanTree {
 public:
  SpanTree() = default;
  SpanTree(const SpanTree& other) { CopyFrom(other); }
  SpanTree& operator=(const SpanTree& other);
  SpanTree(SpanTree&& other) noexcept;
  SpanTree& operator=(SpanTree&& other) noexcept;
  SpanTree& operator=(std::shared_ptr<telemetry::OperationSpanBudget> budget) noexcept;
  ~SpanTree() { Release(); }

  // Makes `root` (the State holding this handle) the root of a new tree of at most
  // `max_spans_per_operation` spans (0: unlimited).
  void StartAt(Operation::State& root, uint32_t max_spans_per_operation) noexcept;

  telemetry::OperationSpanBudget* get() const noexcept;
  telemetry::OperationSpanBudget* operator->() const noexcept { return get(); }
  friend bool operator==(const SpanTree& tree, std::nullptr_t) noexcept {
    return tree.get() == nullptr;
  }

 private:
  void CopyFrom(const SpanTree& other) noexcept;
  void Release() noexcept;

  Operation::State* root_ = nullptr;  // the State embedding the budget
  bool holds_root_ = false;           // a reference on root_ is held (a child's handle)
  std::shared_ptr<telemetry::OperationSpanBudget> shared_;  // a separately allocated budget
};

// What a span reports of one budget (the tightest one), copied out of a ledger::BudgetStatus.
struct BudgetSummary {
  bool present = false;
  std::string name;
  Money limit;
  Money spent;
  Money reserved;
};

// The data of one operation, apart from the pool's bookkeeping. A separate aggregate:
// State::Reset() clears it field by field, and counts its fields at compile time, so adding a
// field without resetting it does not compile.
struct OperationFields {
  std::shared_ptr<AdapterImpl> adapter;
  // The starting thread's open operations. Kept by Reset() (see there).
  std::shared_ptr<OpenOperations> open_on;
  std::string operation_type;
  std::string operation_name;
  // request.attribution is kept by Reset(): it usually holds what the next operation needs.
  OperationRequest request;
  // Nonzero: request.attribution is a copy of the default attribution of the adapter with
  // this id (AdapterImpl::id_, never reused), which try_track_operation() then need not copy
  // again. Kept by Reset() with request.attribution.
  uint64_t attribution_defaults_of = 0;
  Admission admission;
  bool high_priority = false;

  telemetry::TraceId trace_id;
  telemetry::SpanId span_id;
  telemetry::SpanId parent_span_id;
  std::string trace_state;
  bool remote_parent_sampled = true;
  bool has_remote_parent = false;
  // Shared by the root and its descendants: enforces max_spans_per_operation.
  SpanTree tree;
  bool is_root = true;
  bool record_span = true;  // false when max_spans_per_operation was reached

  int64_t start_unix_nanos = 0;
  int64_t start_monotonic_nanos = 0;

  Usage usage;
  bool has_usage = false;
  std::optional<Money> cost_override;
  std::string response_model;
  std::string response_id;
  std::vector<std::string> finish_reasons;
  bool error = false;
  std::string error_message;

  std::vector<telemetry::Attribute> custom_attributes;
  // Events recorded on the operation (add_event()). BuildOperationSpan adds the governance
  // events around them.
  std::vector<telemetry::SpanEvent> events;

  bool ended = false;
  Settlement settlement;
  int64_t duration_nanos = 0;

  // Filled when the operation ends: what the operation log and the audit trail keep. The span
  // builder does not read it (the adapter hands it to the operation log, which hands back the
  // record it evicts, or null). Kept across Reset(): the adapter assigns every field.
  std::unique_ptr<OperationRecord> record;
  // Taken when the operation ends (SpanPipeline::SubmitOperation), for the span built later on
  // the export thread. The budget summaries are copies so that the export thread never reads
  // the ledger's shared BudgetSpecs, whose reference counts the application's threads keep
  // changing (the cache line would bounce between the cores).
  uint32_t spans_dropped = 0;        // children refused by max_spans_per_operation (root)
  BudgetSummary span_budget;         // the tightest budget after settlement (or admission)
  BudgetSummary reservation_budget;  // the tightest budget when the reservation was made
};

struct Operation::State : OperationFields {
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // A State for a new operation, recycled when the pool has one.
  static std::unique_ptr<State> Acquire();

  // Another holder (the span pipeline) keeps the State until it calls Unref().
  void Ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops one reference; the last one returns the State to the pool.
  void Unref() noexcept;

  // `delete state` drops the deleter's reference instead of destroying (C++20 destroying
  // delete): the Operation handle's unique_ptr may not be the last holder.
  static void operator delete(State* state, std::destroying_delete_t) noexcept;
  // `new State` reuses the memory of a pooled State when there is one. The plain delete below
  // only serves a new-expression whose constructor throws.
  static void* operator new(std::size_t size);
  static void operator delete(void* memory) noexcept;

 private:
  friend class StatePool;
  friend class SpanTree;
  // Every field back to its default value, keeping the buffers worth keeping.
  void Reset() noexcept;

  std::atomic<int32_t> refs_{1};
  // The budget of the tree this State is the root of (SpanTree::StartAt).
  telemetry::OperationSpanBudget span_budget_{0};
};

}  // namespace genops

#endif  // GENOPS_SDK_OPERATION_STATE_H_
