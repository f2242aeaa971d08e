#include "src/ledger/lease_ledger.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "spdlog/spdlog.h"
#include "src/core/text.h"

namespace genops::ledger {
namespace {

// A lease: room reserved in the store under its own id, from which calls are admitted here.
struct Lease {
  std::string id;
  std::string key;  // the calls it serves (LeasingLedger::KeyOf)
  // The attribution of the call that opened it. Every call of the key matches the same
  // budgets, so the store charges each call under this attribution.
  std::shared_ptr<const Attribution> attribution;
  Money size;
  Money call_amount;     // the estimate of the call that opened it
  int64_t call_ttl = 0;  // that call's expiry minus its start
  Money admitted;        // estimates of its calls in flight
  Money settled;         // actual cost of its settled calls: room used up for good
  int64_t in_flight = 0;
  int64_t unflushed = 0;  // settlements recorded here, not yet taken by the store
  // It admits calls until the first of: max_age after it was opened, by the ledger's own
  // monotonic clock (the flusher retires idle ones by it too), and the end of the window of
  // a matching budget, in the calls' own time (the time the store counts them in).
  int64_t opened_at_monotonic = 0;
  int64_t retire_at_monotonic = 0;
  int64_t window_end_unix_nanos = 0;
  int64_t expires_at = 0;  // of its reservation in the store
  bool retired = false;
  bool successor_asked = false;  // queued for the flusher to reserve the next lease       // admits
                                 // nothing more; released once idle and flushed
  BudgetStatusList snapshot;     // the store's statuses right after the lease was reserved

  Money Room() const { return size - admitted - settled; }
};

// A call reserved through this ledger and not yet written off.
struct LocalCall {
  std::shared_ptr<Lease> lease;  // null: reserved in the store under its own id
  // Direct calls only: to charge instead when the store has let the reservation go.
  std::shared_ptr<const Attribution> attribution;
  Money amount;
  int64_t expires_at = 0;
  bool settled = false;
  Money actual;
  BudgetStatusList budgets;  // direct calls: the store's statuses at admission
};

// A write the flusher owes the store.
struct PendingWrite {
  enum class Kind { kCharge, kSettle, kRelease };
  Kind kind = Kind::kCharge;
  std::string operation_id;
  std::shared_ptr<Lease> lease;                    // a lease call's charge
  std::shared_ptr<const Attribution> attribution;  // otherwise, a charge's
  Money actual;
  int64_t now_unix_nanos = 0;
};

bool Retryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return false;
    default:
      return true;
  }
}

// A key whose calls come faster than calls_per_lease per lease horizon (max_age / 4, 250 ms
// by default) gets leases that hold a horizon's worth of its calls. Its next lease is then
// reserved (at half use) about 125 ms before it is needed, which rides out a slow store
// commit (a disk flush queued behind other writes takes tens of milliseconds) instead of
// making callers wait for the store; and a lease still lives for several horizons before
// max_age retires it.
constexpr int64_t kLeaseHorizonsPerMaxAge = 4;
// The most a key's lease grows from one lease to the next.
constexpr int64_t kMaxLeaseGrowth = 4;

Money SaturatingTimes(Money amount, int64_t n) {
  const int64_t nanos = amount.nanos();
  if (nanos > 0 && n > std::numeric_limits<int64_t>::max() / nanos) {
    return Money::FromNanos(std::numeric_limits<int64_t>::max());
  }
  return Money::FromNanos(nanos * n);
}

// See lease_ledger.h. Thread-safe: one mutex (mu_) guards the calls, keys, leases and the
// write queue, and is never held across a store call; flush_mu_ serialises flush rounds
// (the flusher thread's and Flush()'s). Store calls happen on the caller's thread (a key's
// first lease, direct reservations) or on the flusher thread (charges, releases, the next
// lease of a key).
class LeasingLedger final : public Ledger {
 public:
  LeasingLedger(std::shared_ptr<Ledger> store, const BudgetLeaseOptions& options)
      : store_(std::move(store)),
        options_(options),
        clock_(options.clock != nullptr ? options.clock : Clock::Real()),
        max_age_nanos_(absl::ToInt64Nanoseconds(options.max_age)),
        horizon_nanos_(std::max<int64_t>(max_age_nanos_ / kLeaseHorizonsPerMaxAge, 1)),
        list_ttl_nanos_(absl::ToInt64Nanoseconds(options.flush_interval)) {
    std::random_device random;
    const uint64_t prefix = (uint64_t{random()} << 32) ^ random();
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(prefix));
    lease_prefix_ = Cat("genops-lease-", buf, "-");
    flusher_ = std::thread([this] { FlusherLoop(); });
  }

  ~LeasingLedger() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    flusher_.join();
    // Final round: everything recorded reaches the store if it can; idle leases go.
    RetireAll(/*forget_budgets=*/false);
    absl::Status s = FlushRound();
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_.empty()) {
      Money lost;
      for (const PendingWrite& w : pending_) lost += w.actual;
      spdlog::error(
          "ledger leases: {} settlement(s) totalling {} USD could not be written to the store at "
          "shutdown ({}); they are not recorded",
          pending_.size(), lost.ToUsdString(), s.ToString());
    }
  }

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    if (request.expires_at_unix_nanos == 0) return ReserveDirect(request);
    for (int attempt = 0; attempt < 2; ++attempt) {
      Money size;
      std::string key;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (auto it = calls_.find(request.operation_id); it != calls_.end()) {
          return Repeat(it->second);
        }
        key = KeyOf(request.attribution);
        KeyState* state = &keys_[key];
        // One lease is opened at a time per key: a second one would retire the first with
        // room left, held until its calls end.
        while (state->opening) {
          opened_.wait(lock);
          key = KeyOf(request.attribution);
          state = &keys_[key];
        }
        if (MakeCurrentUsable(*state, request)) return AdmitLocally(*state, request);
        if (attempt == 1) break;  // a lease was just opened and is already too small
        const int64_t calls = LeaseCalls(*state, request.amount);
        if (calls < 2) break;  // too close to a limit (or nothing to lease): one by one
        size = SaturatingTimes(request.amount, calls);
        state->opening = true;
      }
      absl::Status opened = OpenLease(request, size);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = keys_.find(key); it != keys_.end()) it->second.opening = false;
      }
      opened_.notify_all();
      if (!opened.ok()) break;
    }
    return ReserveDirect(request);
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = calls_.find(operation_id);
      if (it != calls_.end()) {
        LocalCall& call = it->second;
        SettleOutcome outcome;
        outcome.reserved = call.amount;
        if (call.settled) {
          outcome.actual = call.actual;
          outcome.already_settled = true;
          outcome.budgets = ViewOf(call);
          return outcome;
        }
        call.settled = true;
        call.actual = actual;
        outcome.actual = actual;
        PendingWrite w;
        w.operation_id = it->first;
        w.actual = actual;
        w.now_unix_nanos = now_unix_nanos;
        if (call.lease != nullptr) {
          Lease& lease = *call.lease;
          lease.admitted -= call.amount;
          lease.settled += actual;
          --lease.in_flight;
          ++lease.unflushed;
          w.kind = PendingWrite::Kind::kCharge;
          w.lease = call.lease;
        } else {
          w.kind = PendingWrite::Kind::kSettle;
          w.attribution = call.attribution;
        }
        outcome.budgets = ViewOf(call);
        pending_.push_back(std::move(w));
        return outcome;
      }
    }
    // Not reserved through this ledger (another process, or before a restart).
    return store_->Settle(operation_id, actual, now_unix_nanos);
  }

  absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                       const Attribution& attribution, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("charge", operation_id, actual); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    SettleOutcome outcome;
    if (auto it = calls_.find(operation_id); it != calls_.end()) {
      if (!it->second.settled) {
        return absl::FailedPreconditionError(
            Cat("ledger: cannot charge '", operation_id,
                "': a reservation is held under that id (settle or release it)"));
      }
      outcome.reserved = it->second.amount;
      outcome.actual = it->second.actual;
      outcome.already_settled = true;
      outcome.budgets = ViewOf(it->second);
      return outcome;
    }
    outcome.actual = actual;
    if (auto k = keys_.find(KeyOf(attribution)); k != keys_.end()) {
      if (k->second.current != nullptr) {
        outcome.budgets = LeaseView(*k->second.current);
      } else {
        outcome.budgets = k->second.last_budgets;
      }
      for (BudgetStatus& b : outcome.budgets) b.spent += actual;
    }
    PendingWrite w;
    w.kind = PendingWrite::Kind::kCharge;
    w.operation_id = std::string(operation_id);
    w.attribution = std::make_shared<const Attribution>(attribution);
    w.actual = actual;
    w.now_unix_nanos = now_unix_nanos;
    pending_.push_back(std::move(w));
    return outcome;
  }

  std::vector<absl::StatusOr<SettleOutcome>> ChargeBatch(
      absl::Span<const ChargeItem> items) override {
    return store_->ChargeBatch(items);  // batch callers (the receiver) may wait on the store
  }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = calls_.find(operation_id);
      if (it != calls_.end()) {
        if (it->second.settled) return absl::OkStatus();
        if (it->second.lease == nullptr) {
          PendingWrite w;
          w.kind = PendingWrite::Kind::kRelease;
          w.operation_id = it->first;
          pending_.push_back(std::move(w));
        } else {
          Lease& lease = *it->second.lease;
          lease.admitted -= it->second.amount;
          --lease.in_flight;
        }
        calls_.erase(it);
        return absl::OkStatus();
      }
    }
    return store_->Release(operation_id);
  }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    int expired = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = calls_.begin(); it != calls_.end();) {
        LocalCall& call = it->second;
        if (call.settled || call.expires_at == 0 || call.expires_at > now_unix_nanos) {
          ++it;
          continue;
        }
        if (call.lease != nullptr) {
          call.lease->admitted -= call.amount;
          --call.lease->in_flight;
          ++expired;
        }  // a direct call's reservation expires in the store, counted there
        it = calls_.erase(it);
      }
    }
    absl::StatusOr<int> in_store = store_->ExpireReservations(now_unix_nanos);
    if (!in_store.ok()) return in_store.status();
    return expired + *in_store;
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    absl::Status s = store_->UpsertBudget(spec);
    RetireAll(/*forget_budgets=*/true);  // their room was sized for the old budgets
    return s;
  }

  absl::Status DeleteBudget(std::string_view name) override {
    absl::Status s = store_->DeleteBudget(name);
    RetireAll(/*forget_budgets=*/true);
    return s;
  }

  // The store's statuses, without flushing first, and one read of the store shared by the
  // calls of a flush interval: the advisory policy level lists budgets on every call, on
  // the gateway's io thread, which must wait for no write and should not pay a read of the
  // store per call (10-20 us with SQLite). The list is as fresh as the store was at most a
  // flush interval ago, the lag this process's own settlements already have; a list whose
  // windows do not hold `now_unix_nanos` is read again, and a budget change made here
  // drops it.
  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    const int64_t now_mono = clock_->MonotonicNanos();
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (listed_.has_value() && now_mono - listed_at_mono_ < list_ttl_nanos_ &&
          WindowsHold(*listed_, now_unix_nanos)) {
        ++budget_lists_shared_;
        return *listed_;
      }
      generation = budgets_generation_;
    }
    absl::StatusOr<std::vector<BudgetStatus>> budgets = store_->ListBudgets(now_unix_nanos);
    if (!budgets.ok()) return budgets;
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == budgets_generation_) {
      listed_ = *budgets;
      listed_at_mono_ = now_mono;
    }
    return budgets;
  }

  absl::Status CreateVirtualKey(const VirtualKey& key) override {
    return store_->CreateVirtualKey(key);
  }
  absl::StatusOr<std::optional<VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    return store_->FindVirtualKey(secret_sha256);
  }
  absl::StatusOr<std::vector<VirtualKey>> ListVirtualKeys() override {
    return store_->ListVirtualKeys();
  }
  absl::Status RevokeVirtualKey(std::string_view id, int64_t now_unix_nanos) override {
    return store_->RevokeVirtualKey(id, now_unix_nanos);
  }

  absl::StatusOr<Money> TotalSpent() override {
    if (absl::Status s = FlushRound(); !s.ok()) return s;
    return store_->TotalSpent();
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = calls_.find(operation_id); it != calls_.end()) {
        OperationEntry entry;
        entry.state = it->second.settled ? OperationState::kSettled : OperationState::kReserved;
        entry.reserved = it->second.amount;
        entry.actual = it->second.actual;
        return std::optional<OperationEntry>(entry);
      }
    }
    return store_->LookupOperation(operation_id);
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    return store_->AppendOperations(records);
  }
  absl::Status ScanOperations(const OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    return store_->ScanOperations(query, visit);
  }
  absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) override {
    return store_->PurgeOperations(before_unix_nanos);
  }

  BudgetLeaseStats stats() const {
    BudgetLeaseStats out;
    out.leases_opened = leases_opened_.load(std::memory_order_relaxed);
    out.leases_prefetched = leases_prefetched_.load(std::memory_order_relaxed);
    out.leases_released = leases_released_.load(std::memory_order_relaxed);
    out.lease_refusals = lease_refusals_.load(std::memory_order_relaxed);
    out.local_admissions = local_admissions_.load(std::memory_order_relaxed);
    out.direct_reservations = direct_reservations_.load(std::memory_order_relaxed);
    out.flushes = flushes_.load(std::memory_order_relaxed);
    out.charges_written = charges_written_.load(std::memory_order_relaxed);
    out.store_errors = store_errors_.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    out.pending = static_cast<int64_t>(pending_.size());
    out.keys = static_cast<int64_t>(keys_.size());
    out.budget_lists_shared = budget_lists_shared_;
    return out;
  }

  absl::Status Flush(bool retire_leases) {
    if (retire_leases) {
      RetireAll(/*forget_budgets=*/false);
    } else {
      RetireExpired(/*force=*/true);
    }
    return FlushRound();
  }

 private:
  struct KeyState {
    std::shared_ptr<Lease> current;
    // Reserved by the flusher once `current` is half used, so that callers rarely wait on
    // the store when it runs out.
    std::shared_ptr<Lease> next;
    bool opening = false;             // a lease is being reserved for this key; callers wait for it
    BudgetStatusList last_budgets;    // the store's latest statuses for these calls
    std::optional<Money> known_room;  // the least room left among them (from last_budgets)
    // The room the key used up in one lease horizon, in calls the size of its latest
    // lease's, at the pace that lease was used (measured when it became half used); 0
    // until then.
    int64_t calls_per_horizon = 0;
  };

  // The calls sharing a lease: those with the same value on every dimension some budget
  // scope names (they match the same budgets). Returns a thread-local buffer.
  const std::string& KeyOf(const Attribution& attribution) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    thread_local std::string key;
    key.clear();
    for (const std::string& dimension : scope_dimensions_) {
      const std::string_view value = attribution.Dimension(dimension).value_or("");
      key.append(std::to_string(value.size()));
      key.push_back(':');
      key.append(value);
    }
    return key;
  }

  // Leaves in `state.current` a lease that can admit `request`, promoting the next lease
  // when the current one cannot, and retiring the ones that cannot; false when none can.
  bool MakeCurrentUsable(KeyState& state, const ReserveRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (state.current != nullptr && Usable(*state.current, request)) return true;
    if (state.current != nullptr) RetireUnusable(state, state.current);
    state.current = std::move(state.next);
    state.next.reset();
    if (state.current != nullptr && Usable(*state.current, request)) return true;
    if (state.current != nullptr) RetireUnusable(state, state.current);
    state.current.reset();
    return false;
  }

  // Retires a lease of `state` that cannot admit a call. One that aged out before it was
  // half used measures a key that slowed down: its pace sizes the next lease, so a key that
  // was once fast does not keep holding a fast key's room.
  void RetireUnusable(KeyState& state, const std::shared_ptr<Lease>& lease)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!lease->successor_asked) state.calls_per_horizon = CallsPerHorizon(*lease);
    RetireLocked(lease);
  }

  // How many calls of `call_amount` the key's next lease holds room for: calls_per_lease,
  // or as many as the key makes in a lease horizon when that is more, but at most
  // max_headroom_share of the room the store last reported, in whole calls (calls of a key
  // are usually alike: no room is left over that no call can use). Below 2, calls are
  // reserved one by one.
  int64_t LeaseCalls(const KeyState& state, Money call_amount) const {
    if (call_amount.nanos() <= 0) return 0;
    int64_t calls = std::max<int64_t>(options_.calls_per_lease, state.calls_per_horizon);
    if (state.known_room.has_value()) {
      const double cap =
          static_cast<double>(state.known_room->nanos()) * options_.max_headroom_share;
      calls = std::min<int64_t>(
          calls, static_cast<int64_t>(cap / static_cast<double>(call_amount.nanos())));
    }
    return calls;
  }

  // The pace at which a lease that just became half used was used up, as calls' worth of
  // room per lease horizon, for sizing the key's next lease. A lease grows at most kMaxLeaseGrowth
  // times from one to the next, so that a burst (or a clock that did not move) does not hold a
  // large share of a budget for a pace the key does not keep up.
  int64_t CallsPerHorizon(const Lease& lease) const {
    const int64_t lease_calls = lease.size.nanos() / lease.call_amount.nanos();
    const int64_t used_calls = (lease.size - lease.Room()).nanos() / lease.call_amount.nanos();
    const int64_t most = lease_calls > std::numeric_limits<int64_t>::max() / kMaxLeaseGrowth
                             ? std::numeric_limits<int64_t>::max()
                             : lease_calls * kMaxLeaseGrowth;
    const int64_t elapsed = clock_->MonotonicNanos() - lease.opened_at_monotonic;
    if (elapsed <= 0) return most;
    const double per_horizon = static_cast<double>(used_calls) *
                               static_cast<double>(horizon_nanos_) / static_cast<double>(elapsed);
    return per_horizon >= static_cast<double>(most) ? most : static_cast<int64_t>(per_horizon);
  }

  bool Usable(const Lease& lease, const ReserveRequest& request) const {
    return !lease.retired && request.now_unix_nanos < lease.window_end_unix_nanos &&
           clock_->MonotonicNanos() < lease.retire_at_monotonic &&
           request.expires_at_unix_nanos <= lease.expires_at && lease.Room() >= request.amount;
  }

  // Admits `request` against the key's current lease (MakeCurrentUsable said it can).
  absl::StatusOr<ReserveOutcome> AdmitLocally(KeyState& state, const ReserveRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::shared_ptr<Lease>& lease = state.current;
    lease->admitted += request.amount;
    ++lease->in_flight;
    if (!lease->successor_asked && lease->Room() + lease->Room() <= lease->size) {
      lease->successor_asked = true;  // half used: the flusher reserves the next one
      state.calls_per_horizon = CallsPerHorizon(*lease);
      successors_wanted_.push_back(lease);
    }
    LocalCall call;
    call.lease = lease;
    call.amount = request.amount;
    call.expires_at = request.expires_at_unix_nanos;
    calls_.emplace(request.operation_id, std::move(call));
    local_admissions_.fetch_add(1, std::memory_order_relaxed);
    ReserveOutcome outcome;
    outcome.admitted = true;
    outcome.budgets = LeaseView(*lease);
    return outcome;
  }

  // A repeated Reserve() of a call still known here: its first outcome.
  absl::StatusOr<ReserveOutcome> Repeat(const LocalCall& call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ReserveOutcome outcome;
    outcome.admitted = true;
    outcome.budgets = ViewOf(call);
    return outcome;
  }

  // The statuses as this process sees them: the lease's snapshot with its own room swapped
  // for what its calls hold and have spent.
  BudgetStatusList LeaseView(const Lease& lease) const {
    BudgetStatusList out = lease.snapshot;
    for (BudgetStatus& b : out) {
      b.reserved = b.reserved - lease.size + lease.admitted;
      b.spent += lease.settled;
    }
    return out;
  }

  BudgetStatusList ViewOf(const LocalCall& call) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (call.lease != nullptr) return LeaseView(*call.lease);
    return call.budgets;
  }

  static std::optional<Money> LeastRoom(const BudgetStatusList& budgets) {
    std::optional<Money> least;
    for (const BudgetStatus& b : budgets) {
      const Money room = b.remaining();
      if (!least.has_value() || room < *least) least = room;
    }
    return least;
  }

  // Reserves a lease of `size` for the calls of `request`'s key and installs it
  // as the key's current one. Any error or refusal: the caller reserves the call directly.
  absl::Status OpenLease(const ReserveRequest& request, Money size, bool as_next = false) {
    if (absl::Status s = RefreshScopeDimensions(request.now_unix_nanos); !s.ok()) return s;
    ReserveRequest lease_request;
    lease_request.operation_id = Cat(lease_prefix_, lease_seq_.fetch_add(1) + 1);
    lease_request.attribution = request.attribution;
    lease_request.amount = size;
    lease_request.now_unix_nanos = request.now_unix_nanos;
    lease_request.expires_at_unix_nanos =
        request.expires_at_unix_nanos + max_age_nanos_;  // its last call's expiry
    absl::StatusOr<ReserveOutcome> reserved = store_->Reserve(lease_request);
    if (!reserved.ok()) return reserved.status();
    std::lock_guard<std::mutex> lock(mu_);
    KeyState& state = keys_[KeyOf(request.attribution)];
    state.last_budgets = reserved->budgets;
    if (!reserved->admitted) {
      state.known_room = LeastRoom(reserved->budgets);
      lease_refusals_.fetch_add(1, std::memory_order_relaxed);
      return absl::ResourceExhaustedError("no room for a lease");
    }
    auto lease = std::make_shared<Lease>();
    lease->id = std::move(lease_request.operation_id);
    lease->key = KeyOf(request.attribution);
    lease->attribution = std::make_shared<const Attribution>(std::move(lease_request.attribution));
    lease->size = size;
    lease->call_amount = request.amount;
    lease->call_ttl = request.expires_at_unix_nanos - request.now_unix_nanos;
    lease->expires_at = lease_request.expires_at_unix_nanos;
    lease->opened_at_monotonic = clock_->MonotonicNanos();
    lease->retire_at_monotonic = lease->opened_at_monotonic + max_age_nanos_;
    lease->window_end_unix_nanos = std::numeric_limits<int64_t>::max();
    for (const BudgetStatus& b : reserved->budgets) {
      lease->window_end_unix_nanos =
          std::min(lease->window_end_unix_nanos, b.window.end_unix_nanos);
    }
    lease->snapshot = std::move(reserved->budgets);
    // Once this lease is used up, the room left is about what the store leaves now.
    state.known_room = LeastRoom(lease->snapshot);
    std::shared_ptr<Lease>& slot = as_next ? state.next : state.current;
    if (slot != nullptr) RetireLocked(slot);
    slot = lease;
    leases_.push_back(std::move(lease));
    leases_opened_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  absl::StatusOr<ReserveOutcome> ReserveDirect(const ReserveRequest& request) {
    absl::StatusOr<ReserveOutcome> outcome = store_->Reserve(request);
    if (outcome.ok() && !outcome->admitted && request.expires_at_unix_nanos != 0) {
      // A lease of this key opened meanwhile (or being opened) may hold the very room the
      // store lacked.
      std::unique_lock<std::mutex> lock(mu_);
      auto it = keys_.find(KeyOf(request.attribution));
      while (it != keys_.end() && it->second.opening) {
        opened_.wait(lock);
        it = keys_.find(KeyOf(request.attribution));
      }
      if (it != keys_.end() && MakeCurrentUsable(it->second, request)) {
        return AdmitLocally(it->second, request);
      }
    }
    if (outcome.ok() && !outcome->admitted && HoldsIdleRoom()) {
      // Room this process holds in leases nobody is using may be what is missing: give it
      // back (with the spend recorded so far) and ask once more.
      RetireIdle();
      (void)FlushRound();
      outcome = store_->Reserve(request);
    }
    if (!outcome.ok()) return outcome;
    std::lock_guard<std::mutex> lock(mu_);
    if (request.expires_at_unix_nanos != 0) {
      KeyState& state = keys_[KeyOf(request.attribution)];
      state.last_budgets = outcome->budgets;
      state.known_room = LeastRoom(outcome->budgets);
    }
    if (!outcome->admitted) return outcome;
    direct_reservations_.fetch_add(1, std::memory_order_relaxed);
    LocalCall call;
    call.attribution = std::make_shared<const Attribution>(request.attribution);
    call.amount = request.amount;
    call.expires_at = request.expires_at_unix_nanos;
    call.budgets = outcome->budgets;
    calls_.try_emplace(request.operation_id, std::move(call));
    return outcome;
  }

  // Which dimensions budget scopes name, read from the store at most once per max_age (and
  // after a budget change made here).
  absl::Status RefreshScopeDimensions(int64_t now_unix_nanos) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (dimensions_read_at_ != 0 && now_unix_nanos - dimensions_read_at_ < max_age_nanos_) {
        return absl::OkStatus();
      }
    }
    absl::StatusOr<std::vector<BudgetStatus>> budgets = store_->ListBudgets(now_unix_nanos);
    if (!budgets.ok()) return budgets.status();
    std::vector<std::string> dimensions;
    for (const BudgetStatus& b : *budgets) {
      for (const auto& [dimension, value] : b.spec->scope) dimensions.push_back(dimension);
    }
    std::sort(dimensions.begin(), dimensions.end());
    dimensions.erase(std::unique(dimensions.begin(), dimensions.end()), dimensions.end());
    std::lock_guard<std::mutex> lock(mu_);
    if (dimensions != scope_dimensions_) {
      // Keys are spelled by dimension: leases keyed the old way must not serve new calls.
      scope_dimensions_ = std::move(dimensions);
      for (auto& [key, state] : keys_) {
        if (state.current != nullptr) RetireLocked(state.current);
        if (state.next != nullptr) RetireLocked(state.next);
      }
      keys_.clear();
    }
    dimensions_read_at_ = now_unix_nanos;
    return absl::OkStatus();
  }

  void RetireLocked(const std::shared_ptr<Lease>& lease) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    lease->retired = true;
  }

  // Every key's lease stops admitting. `forget_budgets`: after a budget change, what the
  // store said about budgets (room, which dimensions scopes use) is read again.
  // ListBudgets reads the store again next time, and a read already under way is not kept.
  void DropBudgetListLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    listed_.reset();
    ++budgets_generation_;
  }

  static bool WindowsHold(const std::vector<BudgetStatus>& budgets, int64_t now_unix_nanos) {
    for (const BudgetStatus& b : budgets) {
      if (now_unix_nanos < b.window.start_unix_nanos || now_unix_nanos >= b.window.end_unix_nanos) {
        return false;
      }
    }
    return true;
  }

  void RetireAll(bool forget_budgets) {
    std::lock_guard<std::mutex> lock(mu_);
    if (forget_budgets) DropBudgetListLocked();
    for (auto& [key, state] : keys_) {
      if (state.current != nullptr) RetireLocked(state.current);
      if (state.next != nullptr) RetireLocked(state.next);
      state.current.reset();
      state.next.reset();
      if (forget_budgets) state.known_room.reset();
    }
    if (forget_budgets) dimensions_read_at_ = 0;
  }

  // Some lease holds room and no call in flight (releasing it gives the room back now).
  bool HoldsIdleRoom() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::shared_ptr<Lease>& lease : leases_) {
      if (lease->in_flight == 0 && lease->Room() > Money()) return true;
    }
    return false;
  }

  // Retires the leases no call is using, so that the next flush round releases them. One
  // with calls in flight keeps admitting: retiring it would hold its room until they end.
  void RetireIdle() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, state] : keys_) {
      if (state.current != nullptr && state.current->in_flight == 0) {
        RetireLocked(state.current);
        state.current.reset();
      }
      if (state.next != nullptr) {
        RetireLocked(state.next);
        state.next.reset();
      }
    }
  }

  // Leases past their admission deadline stop admitting (an idle key's lease is released
  // even when no call comes to notice), and keys holding no lease are forgotten (one per
  // customer, say, would otherwise pile up). A walk over every key, so the flusher does it
  // a few times per max_age, not every round; `force` (Flush()) does it now.
  void RetireExpired(bool force) {
    const int64_t now = clock_->MonotonicNanos();
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && now < next_expiry_walk_) return;
    next_expiry_walk_ = now + std::max<int64_t>(max_age_nanos_ / 4, 1);
    for (auto it = keys_.begin(); it != keys_.end();) {
      KeyState& state = it->second;
      for (std::shared_ptr<Lease>* slot : {&state.current, &state.next}) {
        if (*slot != nullptr && now >= (*slot)->retire_at_monotonic) {
          RetireLocked(*slot);
          slot->reset();
        }
      }
      if (state.current == nullptr && state.next == nullptr && !state.opening) {
        it = keys_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void FlusherLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.flush_interval));
      if (stopping_) break;
      lock.unlock();
      RetireExpired(/*force=*/false);
      // Callers may soon wait for the next lease, nobody waits for the write-behind: when the
      // store is slow (a disk flush stuck behind other writes), the lease goes first.
      PrefetchLeases();
      (void)FlushRound();
      lock.lock();
    }
  }

  // Reserves the next lease of each key whose current one became half used (AdmitLocally
  // queues it), on the flusher thread so that callers rarely wait on the store, sized as
  // Reserve() would.
  void PrefetchLeases() {
    struct Wanted {
      std::string key;
      ReserveRequest request;  // a call like the one that opened the current lease
      Money size;
    };
    std::vector<Wanted> wanted;
    const int64_t now = clock_->NowUnixNanos();
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::vector<std::shared_ptr<Lease>> asked;
      asked.swap(successors_wanted_);
      for (const std::shared_ptr<Lease>& half_used : asked) {
        auto it = keys_.find(half_used->key);
        if (it == keys_.end()) continue;
        const std::string& key = it->first;
        KeyState& state = it->second;
        if (state.current != half_used || state.next != nullptr || state.opening) continue;
        const Lease& lease = *state.current;
        if (lease.retired) continue;
        const int64_t calls = LeaseCalls(state, lease.call_amount);
        if (calls < 2) continue;  // near a limit: no room is held ahead
        state.opening = true;
        Wanted w;
        w.key = key;
        w.request.attribution = *lease.attribution;
        w.request.amount = lease.call_amount;
        w.request.now_unix_nanos = now;
        w.request.expires_at_unix_nanos = now + lease.call_ttl;
        w.size = SaturatingTimes(lease.call_amount, calls);
        wanted.push_back(std::move(w));
      }
    }
    for (Wanted& w : wanted) {
      if (OpenLease(w.request, w.size, /*as_next=*/true).ok()) {
        leases_prefetched_.fetch_add(1, std::memory_order_relaxed);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = keys_.find(w.key); it != keys_.end()) it->second.opening = false;
      }
      opened_.notify_all();
    }
  }

  // Writes what is pending, then releases retired leases that are idle and fully written.
  // One round at a time (flush_mu_). Returns the first store error; what failed is queued
  // again, in its order, before anything recorded since.
  absl::Status FlushRound() {
    std::lock_guard<std::mutex> round(flush_mu_);
    std::vector<PendingWrite> writes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writes.swap(pending_);
    }
    absl::Status first_error;
    std::vector<PendingWrite> retry;
    std::vector<const PendingWrite*> done;
    if (!writes.empty()) {
      std::vector<ChargeItem> items;
      std::vector<size_t> charge_index;
      for (size_t i = 0; i < writes.size(); ++i) {
        const PendingWrite& w = writes[i];
        if (w.kind != PendingWrite::Kind::kCharge) continue;
        const Attribution* attribution =
            w.lease != nullptr ? w.lease->attribution.get() : w.attribution.get();
        items.push_back({.operation_id = w.operation_id,
                         .attribution = attribution,
                         .actual = w.actual,
                         .now_unix_nanos = w.now_unix_nanos,
                         .from_reservation = w.lease != nullptr ? std::string_view(w.lease->id)
                                                                : std::string_view()});
        charge_index.push_back(i);
      }
      std::vector<absl::StatusOr<SettleOutcome>> charged;
      if (!items.empty()) charged = store_->ChargeBatch(items);
      std::vector<absl::Status> results(writes.size());
      for (size_t k = 0; k < charge_index.size(); ++k) {
        results[charge_index[k]] = charged[k].status();
      }
      for (size_t i = 0; i < writes.size(); ++i) {
        PendingWrite& w = writes[i];
        if (w.kind == PendingWrite::Kind::kSettle) {
          absl::StatusOr<SettleOutcome> s =
              store_->Settle(w.operation_id, w.actual, w.now_unix_nanos);
          if (s.ok()) {
            results[i] = absl::OkStatus();
          } else if (absl::IsNotFound(s.status())) {
            // The store let the reservation go (expired): the spend is still owed.
            results[i] =
                store_->Charge(w.operation_id, *w.attribution, w.actual, w.now_unix_nanos).status();
          } else {
            results[i] = s.status();
          }
        } else if (w.kind == PendingWrite::Kind::kRelease) {
          results[i] = store_->Release(w.operation_id);
        }
      }
      for (size_t i = 0; i < writes.size(); ++i) {
        const absl::Status& s = results[i];
        if (s.ok()) {
          done.push_back(&writes[i]);
          continue;
        }
        store_errors_.fetch_add(1, std::memory_order_relaxed);
        if (first_error.ok()) first_error = s;
        if (Retryable(s)) {
          retry.push_back(std::move(writes[i]));
        } else {
          spdlog::error("ledger leases: the store refused the settlement of '{}' ({} USD): {}",
                        writes[i].operation_id, writes[i].actual.ToUsdString(), s.ToString());
          done.push_back(&writes[i]);  // nothing more can be done with it; it is logged
        }
      }
      flushes_.fetch_add(1, std::memory_order_relaxed);
      charges_written_.fetch_add(static_cast<int64_t>(writes.size() - retry.size()),
                                 std::memory_order_relaxed);
    }
    std::vector<std::shared_ptr<Lease>> to_release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!done.empty()) DropBudgetListLocked();  // it predates what was just written
      for (const PendingWrite* w : done) {
        if (w->lease != nullptr) --w->lease->unflushed;
        auto it = calls_.find(w->operation_id);
        if (it != calls_.end() && it->second.settled) calls_.erase(it);
      }
      if (!retry.empty()) {
        retry.insert(retry.end(), std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.end()));
        pending_.swap(retry);
      }
      for (const std::shared_ptr<Lease>& lease : leases_) {
        if (lease->retired && lease->in_flight == 0 && lease->unflushed == 0) {
          to_release.push_back(lease);
        }
      }
    }
    for (const std::shared_ptr<Lease>& lease : to_release) {
      absl::Status s = store_->Release(lease->id);
      if (!s.ok() && !absl::IsNotFound(s)) {
        store_errors_.fetch_add(1, std::memory_order_relaxed);
        if (first_error.ok()) first_error = s;
        continue;  // the next round tries again
      }
      leases_released_.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(mu_);
      leases_.remove(lease);
    }
    return first_error;
  }

  const std::shared_ptr<Ledger> store_;
  const BudgetLeaseOptions options_;
  const Clock* const clock_;
  const int64_t max_age_nanos_;
  const int64_t horizon_nanos_;  // a fast key's lease holds this long's worth of its calls
  std::string lease_prefix_;
  std::atomic<int64_t> lease_seq_{0};

  mutable std::mutex mu_;
  std::condition_variable wake_;    // the flusher's
  std::condition_variable opened_;  // a key's lease opening ended
  bool stopping_ = false;
  // Looked up by std::string_view (no copy of the id per Settle/Release/lookup).
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const noexcept {
      return std::hash<std::string_view>{}(id);
    }
  };
  std::unordered_map<std::string, LocalCall, IdHash, std::equal_to<>> calls_;
  std::unordered_map<std::string, KeyState> keys_;
  std::list<std::shared_ptr<Lease>> leases_;  // opened and not yet released
  std::vector<PendingWrite> pending_;
  std::vector<std::shared_ptr<Lease>> successors_wanted_;  // half-used leases (PrefetchLeases)
  int64_t next_expiry_walk_ = 0;                           // monotonic (RetireExpired)
  std::vector<std::string> scope_dimensions_;
  int64_t dimensions_read_at_ = 0;
  // ListBudgets' shared read: the list, when it was read (monotonic), and a count of budget
  // changes made here, so a read that raced one is not kept.
  const int64_t list_ttl_nanos_;
  std::optional<std::vector<BudgetStatus>> listed_;
  int64_t listed_at_mono_ = 0;
  uint64_t budgets_generation_ = 0;
  int64_t budget_lists_shared_ = 0;

  std::mutex flush_mu_;  // one flush round at a time
  std::thread flusher_;

  std::atomic<int64_t> leases_opened_{0};
  std::atomic<int64_t> leases_prefetched_{0};
  std::atomic<int64_t> leases_released_{0};
  std::atomic<int64_t> lease_refusals_{0};
  std::atomic<int64_t> local_admissions_{0};
  std::atomic<int64_t> direct_reservations_{0};
  std::atomic<int64_t> flushes_{0};
  std::atomic<int64_t> charges_written_{0};
  std::atomic<int64_t> store_errors_{0};
};

}  // namespace

absl::Status ValidateBudgetLeaseOptions(const BudgetLeaseOptions& options) {
  if (options.calls_per_lease < 2) {
    return absl::InvalidArgumentError(
        Cat("ledger.leases.calls_per_lease must be at least 2 (got ", options.calls_per_lease,
            "); turn leases off with ledger.leases.enabled: false instead"));
  }
  if (!(options.max_headroom_share > 0 && options.max_headroom_share <= 1)) {
    return absl::InvalidArgumentError(
        "ledger.leases.max_headroom_share must be in (0, 1]: the share of a budget's room one "
        "lease may hold");
  }
  if (options.max_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ledger.leases.max_age_ms must be positive");
  }
  if (options.flush_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ledger.leases.flush_interval_ms must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Ledger>> WrapWithBudgetLeases(std::shared_ptr<Ledger> store,
                                                             const BudgetLeaseOptions& options) {
  if (store == nullptr) return absl::InvalidArgumentError("budget leases need a store");
  if (!store->SupportsChargesFromReservations()) {
    return absl::UnimplementedError(
        "ledger.leases is not supported yet with this ledger: a lease's room must shrink in the "
        "same transaction that charges a call admitted from it, which only sqlite:// and "
        "redis:// do so far; turn ledger.leases.enabled off or use one of those");
  }
  if (absl::Status s = ValidateBudgetLeaseOptions(options); !s.ok()) return s;
  return std::unique_ptr<Ledger>(new LeasingLedger(std::move(store), options));
}

bool HasBudgetLeases(const Ledger& ledger) { return typeid(ledger) == typeid(LeasingLedger); }

absl::StatusOr<BudgetLeaseStats> GetBudgetLeaseStats(const Ledger& ledger) {
  if (!HasBudgetLeases(ledger)) return absl::InvalidArgumentError("the ledger has no leases");
  return static_cast<const LeasingLedger&>(ledger).stats();
}

absl::Status FlushBudgetLeases(Ledger& ledger, bool retire_leases) {
  if (!HasBudgetLeases(ledger)) return absl::InvalidArgumentError("the ledger has no leases");
  return static_cast<LeasingLedger&>(ledger).Flush(retire_leases);
}

}  // namespace genops::ledger
