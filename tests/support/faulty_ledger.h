// FaultyLedger: wraps a real ledger and fails every call with kUnavailable while `down` is
// set, to test fail-open / fail-closed behaviour and the retry of pending settlements (and,
// with `fail_virtual_key_creates`, only virtual-key creation). It counts ChargeBatch() calls,
// so tests can check that a caller batched its charges.
//
// Thread safety: thread-safe (the flag and counter are atomics; the inner ledger is).
#ifndef GENOPS_TESTS_SUPPORT_FAULTY_LEDGER_H_
#define GENOPS_TESTS_SUPPORT_FAULTY_LEDGER_H_

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "src/ledger/ledger.h"

namespace genops::testing {

class FaultyLedger final : public ledger::Ledger {
 public:
  explicit FaultyLedger(std::unique_ptr<ledger::Ledger> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> down{false};
  std::atomic<int> calls_while_down{0};
  // While set, only CreateVirtualKey fails (kUnavailable): a failure between the steps of a
  // multi-call operation such as gateway::CreateVirtualKey.
  std::atomic<bool> fail_virtual_key_creates{false};
  std::atomic<int> charge_batches{0};      // ChargeBatch() calls
  std::atomic<int> charge_batch_items{0};  // items in them

  absl::StatusOr<ledger::ReserveOutcome> Reserve(const ledger::ReserveRequest& r) override {
    if (Down()) return Unavailable();
    return inner_->Reserve(r);
  }
  absl::StatusOr<ledger::SettleOutcome> Settle(std::string_view id, Money actual,
                                               int64_t now) override {
    if (Down()) return Unavailable();
    return inner_->Settle(id, actual, now);
  }
  absl::StatusOr<ledger::SettleOutcome> Charge(std::string_view id, const Attribution& a,
                                               Money actual, int64_t now) override {
    if (Down()) return Unavailable();
    return inner_->Charge(id, a, actual, now);
  }
  std::vector<absl::StatusOr<ledger::SettleOutcome>> ChargeBatch(
      absl::Span<const ledger::ChargeItem> items) override {
    ++charge_batches;
    charge_batch_items += static_cast<int>(items.size());
    if (Down()) {
      return std::vector<absl::StatusOr<ledger::SettleOutcome>>(items.size(), Unavailable());
    }
    return inner_->ChargeBatch(items);
  }
  absl::Status Release(std::string_view id) override {
    if (Down()) return Unavailable();
    return inner_->Release(id);
  }
  bool SupportsChargesFromReservations() const override {
    return inner_->SupportsChargesFromReservations();
  }
  absl::StatusOr<int> ExpireReservations(int64_t now) override {
    if (Down()) return Unavailable();
    return inner_->ExpireReservations(now);
  }
  absl::Status UpsertBudget(const ledger::BudgetSpec& spec) override {
    if (Down()) return Unavailable();
    return inner_->UpsertBudget(spec);
  }
  absl::Status DeleteBudget(std::string_view name) override {
    if (Down()) return Unavailable();
    return inner_->DeleteBudget(name);
  }
  absl::StatusOr<std::vector<ledger::BudgetStatus>> ListBudgets(int64_t now) override {
    if (Down()) return Unavailable();
    return inner_->ListBudgets(now);
  }
  absl::StatusOr<Money> TotalSpent() override {
    if (Down()) return Unavailable();
    return inner_->TotalSpent();
  }
  absl::StatusOr<std::optional<ledger::OperationEntry>> LookupOperation(
      std::string_view id) override {
    if (Down()) return Unavailable();
    return inner_->LookupOperation(id);
  }
  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    if (Down()) return Unavailable();
    return inner_->AppendOperations(records);
  }
  absl::Status ScanOperations(const ledger::OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    if (Down()) return Unavailable();
    return inner_->ScanOperations(query, visit);
  }
  absl::StatusOr<int64_t> PurgeOperations(int64_t before) override {
    if (Down()) return Unavailable();
    return inner_->PurgeOperations(before);
  }
  absl::Status CreateVirtualKey(const ledger::VirtualKey& key) override {
    if (Down() || fail_virtual_key_creates.load()) return Unavailable();
    return inner_->CreateVirtualKey(key);
  }
  absl::StatusOr<std::optional<ledger::VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    if (Down()) return Unavailable();
    return inner_->FindVirtualKey(secret_sha256);
  }
  absl::StatusOr<std::vector<ledger::VirtualKey>> ListVirtualKeys() override {
    if (Down()) return Unavailable();
    return inner_->ListVirtualKeys();
  }
  absl::Status RevokeVirtualKey(std::string_view id, int64_t now) override {
    if (Down()) return Unavailable();
    return inner_->RevokeVirtualKey(id, now);
  }

 private:
  bool Down() {
    if (!down.load()) return false;
    ++calls_while_down;
    return true;
  }
  static absl::Status Unavailable() { return absl::UnavailableError("injected: ledger down"); }
  std::unique_ptr<ledger::Ledger> inner_;
};

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SUPPORT_FAULTY_LEDGER_H_
