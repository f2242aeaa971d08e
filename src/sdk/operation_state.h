// Operation::State: everything one governed operation carries from start to end.
//
// Allocated once per operation at track_operation() and owned by the Operation handle; the
// adapter reads it when the operation ends to settle, record and export.
//
// Thread safety: not thread-safe; confined to the thread using its Operation.
#ifndef GENOPS_SDK_OPERATION_STATE_H_
#define GENOPS_SDK_OPERATION_STATE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "genops/operation.h"
#include "src/core/governor.h"
#include "src/telemetry/span_data.h"
#include "src/telemetry/span_limits.h"

namespace genops {

class AdapterImpl;

// The operations a thread has started and not yet ended, for
// get_current_governance_context(). Shared between the thread and its operations, so an
// operation ending on another thread (or after its thread exited) can still remove itself.
// Thread safety: `stack` is guarded by `mu`.
struct OpenOperations {
  std::mutex mu;
  std::vector<const Operation::State*> stack;
};

struct Operation::State {
  std::shared_ptr<AdapterImpl> adapter;
  std::shared_ptr<OpenOperations> open_on;  // the starting thread's open operations
  std::string operation_type;
  std::string operation_name;
  OperationRequest request;
  Admission admission;
  bool high_priority = false;

  telemetry::TraceId trace_id;
  telemetry::SpanId span_id;
  telemetry::SpanId parent_span_id;
  std::string trace_state;
  bool remote_parent_sampled = true;
  bool has_remote_parent = false;
  // Shared by the root and its descendants: enforces max_spans_per_operation.
  std::shared_ptr<telemetry::OperationSpanBudget> tree;
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
  std::vector<telemetry::SpanEvent> events;

  bool ended = false;
  Settlement settlement;
  int64_t duration_nanos = 0;
};

}  // namespace genops

#endif  // GENOPS_SDK_OPERATION_STATE_H_
