// ApprovalStore: operations held for a human (or a callback) to approve.
//
// With `require_cost_approval`, an operation whose worst-case estimate exceeds
// `cost_approval_threshold` is held (DESIGN.md §3). The governor records it here and
// refuses it with DecisionResult::kApprovalRequired and the approval id; an operator grants
// it (admin API, CLI, Adapter::approve) and the caller retries with that id, which passes
// exactly once: Consume() moves a granted approval to kConsumed atomically, so two racing
// retries cannot both spend it.
//
//   kPending --Approve()--> kApproved --Consume()--> kConsumed
//       \------Deny()-----> kDenied
//
// Ids are 128-bit random ("apr_" + 32 hex digits), so one cannot guess another caller's
// granted approval. The store is bounded: past `max_entries` the oldest decided entries
// are forgotten first, then the oldest pending ones.
//
// Example:
//   genops::ApprovalStore store;
//   std::string id = store.Create({.operation_id = "op-1", .estimate = cost});
//   store.Approve(id);                      // operator
//   if (store.Consume(id).ok()) { ... }     // the retried operation, once
//
// Thread safety: thread-safe.
#ifndef GENOPS_CORE_APPROVALS_H_
#define GENOPS_CORE_APPROVALS_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "genops/clock.h"
#include "genops/decision.h"

namespace genops {

class ApprovalStore {
 public:
  enum class State { kPending, kApproved, kDenied, kConsumed };

  struct Entry {
    ApprovalRequest request;  // request.approval_id is the entry's id
    State state = State::kPending;
    int64_t created_unix_nanos = 0;
    int64_t decided_unix_nanos = 0;  // when approved/denied/consumed; 0 while pending
  };

  static constexpr size_t kDefaultMaxEntries = 100'000;

  // `clock` stamps entries (null: Clock::Real()); it must outlive the store.
  explicit ApprovalStore(const Clock* clock = nullptr, size_t max_entries = kDefaultMaxEntries);

  ApprovalStore(const ApprovalStore&) = delete;
  ApprovalStore& operator=(const ApprovalStore&) = delete;

  // Records a pending approval and returns its new id (request.approval_id is ignored).
  std::string Create(ApprovalRequest request);

  // kPending -> kApproved. Approving an approved entry is a no-op; a denied or consumed one
  // is kFailedPrecondition; an unknown id is kNotFound.
  absl::Status Approve(std::string_view approval_id);
  // kPending -> kDenied. Denying a denied entry is a no-op; an approved or consumed one is
  // kFailedPrecondition; an unknown id is kNotFound.
  absl::Status Deny(std::string_view approval_id);
  // kApproved -> kConsumed, exactly once. Anything else is kFailedPrecondition (kNotFound for
  // an unknown id); the message says what state the approval is in.
  absl::Status Consume(std::string_view approval_id);

  std::optional<State> Get(std::string_view approval_id) const;
  std::optional<Entry> Find(std::string_view approval_id) const;
  // Every retained entry, oldest first.
  std::vector<Entry> List() const;
  size_t size() const;

 private:
  using Order = std::list<std::string>;
  struct Slot {
    Entry entry;
    Order::iterator position;
  };

  void EvictIfFull() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const size_t max_entries_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Slot> entries_ ABSL_GUARDED_BY(mu_);
  Order order_ ABSL_GUARDED_BY(mu_);  // ids, oldest first
};

// "pending", "approved", "denied", "consumed".
std::string_view ApprovalStateName(ApprovalStore::State state);

}  // namespace genops

#endif  // GENOPS_CORE_APPROVALS_H_
