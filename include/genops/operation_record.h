// OperationRecord: one finished governed operation, as the operations log keeps it.
//
// The same record is kept in-process for get_recent_operations_summary(), written to the
// ledger's operations log (src/ledger/ledger.h) for `genops report` and `genops operations`,
// and read back by every process that shares the ledger.
//
// Thread safety: a plain value type.
#ifndef GENOPS_OPERATION_RECORD_H_
#define GENOPS_OPERATION_RECORD_H_

#include <cstdint>
#include <string>

#include "genops/attribution.h"
#include "genops/decision.h"
#include "genops/money.h"
#include "genops/usage.h"

namespace genops {

struct OperationRecord {
  std::string operation_id;
  int64_t start_unix_nanos = 0;
  int64_t duration_nanos = 0;  // the operation's latency
  std::string operation_type;
  std::string operation_name;
  Attribution attribution;  // dimensions and tags
  std::string provider;
  std::string model;
  Usage usage;
  Money cost;
  bool priced = false;
  DecisionResult decision = DecisionResult::kAllowed;
  DecisionReason reason = DecisionReason::kNone;
  bool error = false;  // the operation's status: it ended in an error
  std::string trace_id;
};

}  // namespace genops

#endif  // GENOPS_OPERATION_RECORD_H_
