// AuditLog: the compliance audit trail (enable_audit_logging / audit_all_operations).
//
// One JSON object per line, appended and flushed per record so a crash loses at most the
// line being written. With audit_all_operations every operation is written; otherwise only
// decisions that were not a plain "allowed" (warned, blocked, approval required) and failed
// operations. Records carry the compliance frameworks the adapter declares.
//
// Thread safety: thread-safe.
#ifndef GENOPS_SDK_AUDIT_LOG_H_
#define GENOPS_SDK_AUDIT_LOG_H_

#include <cstdio>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "genops/adapter.h"

namespace genops::sdk {

class AuditLog {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        bool all_operations,
                                                        std::vector<std::string> frameworks);
  ~AuditLog();

  // True when `record` belongs in the trail under the configured policy.
  bool Wants(const OperationRecord& record) const;
  void Write(const OperationRecord& record, PolicyLevel level, std::string_view reason_message);
  int64_t records_written() const;

 private:
  AuditLog(std::FILE* file, bool all_operations, std::vector<std::string> frameworks);
  const bool all_operations_;
  const std::vector<std::string> frameworks_;
  mutable absl::Mutex mu_;
  std::FILE* file_ ABSL_GUARDED_BY(mu_);
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace genops::sdk

#endif  // GENOPS_SDK_AUDIT_LOG_H_
