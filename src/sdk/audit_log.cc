#include "src/sdk/audit_log.h"

#include <cerrno>
#include <cstring>

#include "nlohmann/json.hpp"
#include "src/core/text.h"

namespace genops::sdk {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         bool all_operations,
                                                         std::vector<std::string> frameworks) {
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        Cat("audit_log_path: cannot open \"", path, "\" for appending: ", std::strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(file, all_operations, std::move(frameworks)));
}

AuditLog::AuditLog(std::FILE* file, bool all_operations, std::vector<std::string> frameworks)
    : all_operations_(all_operations), frameworks_(std::move(frameworks)), file_(file) {}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  if (file_ != nullptr) std::fclose(file_);
}

bool AuditLog::Wants(const OperationRecord& record) const {
  return all_operations_ || record.decision != DecisionResult::kAllowed || record.error;
}

void AuditLog::Write(const OperationRecord& record, PolicyLevel level,
                     std::string_view reason_message) {
  nlohmann::json j = {
      {"time_unix_nanos", record.start_unix_nanos},
      {"operation_id", record.operation_id},
      {"trace_id", record.trace_id},
      {"operation_type", record.operation_type},
      {"operation_name", record.operation_name},
      {"team", record.attribution.team},
      {"project", record.attribution.project},
      {"environment", record.attribution.environment},
      {"customer_id", record.attribution.customer_id},
      {"cost_center", record.attribution.cost_center},
      {"provider", record.provider},
      {"model", record.model},
      {"input_tokens", record.usage.input_tokens},
      {"output_tokens", record.usage.output_tokens},
      {"cost_nanos", record.cost.nanos()},
      {"cost_usd", record.cost.ToUsdString()},
      {"policy_level", PolicyLevelName(level)},
      {"decision", DecisionResultName(record.decision)},
      {"reason", DecisionReasonName(record.reason)},
      {"message", std::string(reason_message)},
      {"error", record.error},
      {"compliance_frameworks", frameworks_},
  };
  if (!record.attribution.tags.empty()) j["tags"] = record.attribution.tags;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  if (file_ == nullptr) return;
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
  ++written_;
}

int64_t AuditLog::records_written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

}  // namespace genops::sdk
