#include "src/core/approvals.h"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace genops {
namespace {

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string NewApprovalId() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // OpenSSL's generator failed (it practically never does): the OS entropy source.
    std::random_device device;
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(device());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "apr_";
  for (unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 0xF]);
  }
  return id;
}

absl::Status NotFound(std::string_view approval_id) {
  return absl::NotFoundError(
      absl::StrCat("approval '", Sv(approval_id), "' not found (unknown, or forgotten by now)"));
}

absl::Status WrongState(std::string_view approval_id, ApprovalStore::State state,
                        std::string_view action) {
  return absl::FailedPreconditionError(absl::StrCat("approval '", Sv(approval_id), "' is ",
                                                    Sv(ApprovalStateName(state)), " and cannot be ",
                                                    Sv(action)));
}

}  // namespace

std::string_view ApprovalStateName(ApprovalStore::State state) {
  switch (state) {
    case ApprovalStore::State::kPending:
      return "pending";
    case ApprovalStore::State::kApproved:
      return "approved";
    case ApprovalStore::State::kDenied:
      return "denied";
    case ApprovalStore::State::kConsumed:
      return "consumed";
  }
  return "unknown";
}

ApprovalStore::ApprovalStore(const Clock* clock, size_t max_entries)
    : clock_(clock != nullptr ? clock : Clock::Real()),
      max_entries_(max_entries > 0 ? max_entries : 1) {}

std::string ApprovalStore::Create(ApprovalRequest request) {
  std::string id = NewApprovalId();
  request.approval_id = id;
  absl::MutexLock lock(&mu_);
  EvictIfFull();
  order_.push_back(id);
  Slot slot;
  slot.entry.request = std::move(request);
  slot.entry.state = State::kPending;
  slot.entry.created_unix_nanos = clock_->NowUnixNanos();
  slot.position = std::prev(order_.end());
  entries_.emplace(id, std::move(slot));
  return id;
}

absl::Status ApprovalStore::Approve(std::string_view approval_id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Sv(approval_id));
  if (it == entries_.end()) return NotFound(approval_id);
  Entry& entry = it->second.entry;
  if (entry.state == State::kApproved) return absl::OkStatus();
  if (entry.state != State::kPending) return WrongState(approval_id, entry.state, "approved");
  entry.state = State::kApproved;
  entry.decided_unix_nanos = clock_->NowUnixNanos();
  return absl::OkStatus();
}

absl::Status ApprovalStore::Deny(std::string_view approval_id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Sv(approval_id));
  if (it == entries_.end()) return NotFound(approval_id);
  Entry& entry = it->second.entry;
  if (entry.state == State::kDenied) return absl::OkStatus();
  if (entry.state != State::kPending) return WrongState(approval_id, entry.state, "denied");
  entry.state = State::kDenied;
  entry.decided_unix_nanos = clock_->NowUnixNanos();
  return absl::OkStatus();
}

absl::Status ApprovalStore::Consume(std::string_view approval_id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Sv(approval_id));
  if (it == entries_.end()) return NotFound(approval_id);
  Entry& entry = it->second.entry;
  if (entry.state != State::kApproved) return WrongState(approval_id, entry.state, "used");
  entry.state = State::kConsumed;
  entry.decided_unix_nanos = clock_->NowUnixNanos();
  return absl::OkStatus();
}

std::optional<ApprovalStore::State> ApprovalStore::Get(std::string_view approval_id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Sv(approval_id));
  if (it == entries_.end()) return std::nullopt;
  return it->second.entry.state;
}

std::optional<ApprovalStore::Entry> ApprovalStore::Find(std::string_view approval_id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Sv(approval_id));
  if (it == entries_.end()) return std::nullopt;
  return it->second.entry;
}

std::vector<ApprovalStore::Entry> ApprovalStore::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<Entry> out;
  out.reserve(order_.size());
  for (const std::string& id : order_) out.push_back(entries_.at(id).entry);
  return out;
}

size_t ApprovalStore::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void ApprovalStore::EvictIfFull() {
  while (entries_.size() >= max_entries_) {
    // Prefer forgetting a decided entry; a pending one only when nothing else is left.
    auto victim = order_.begin();
    for (auto it = order_.begin(); it != order_.end(); ++it) {
      if (entries_.at(*it).entry.state != State::kPending) {
        victim = it;
        break;
      }
    }
    entries_.erase(*victim);
    order_.erase(victim);
  }
}

}  // namespace genops
