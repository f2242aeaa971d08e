// Operation (the seed's EnhancedSpan): recording what a call used. Ending is the adapter's
// job (AdapterImpl::Finish), so all governance stays in one place.
#include "genops/operation.h"

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "src/core/usage_parser.h"
#include "src/sdk/adapter_impl.h"
#include "src/sdk/operation_state.h"
#include "src/telemetry/aggregate_fields.h"
#include "src/telemetry/trace_context.h"

namespace genops {
namespace {

const Decision& RefusedPlaceholder() {
  static const Decision* const kMovedFrom = [] {
    auto* d = new Decision;
    d->result = DecisionResult::kBlocked;
    d->message = "operation handle was moved from";
    return d;
  }();
  return *kMovedFrom;
}

void AppendAttributes(std::vector<telemetry::Attribute>& out,
                      std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs) {
  if (out.capacity() < out.size() + attrs.size()) {
    out.reserve(std::max(out.size() + attrs.size(), 2 * out.capacity()));
  }
  // User keys are owned: nothing says they outlive the operation. Built in place: a
  // temporary Attribute cost a move and a destruction of its value.
  for (const auto& [key, value] : attrs) out.emplace_back(telemetry::AttributeKey(key), value);
}

}  // namespace

// StatePool: recycled Operation::States. Each thread keeps a small cache (no lock); caches
// spill to and refill from one shared list in batches, because States are usually released on
// another thread than the one that takes them (the span processor's worker releases most).
// The shared list is first in, first out: the worker has just read a State it releases, and
// the thread that takes it next writes all of it (Reset); the longer the State rests in
// between, the likelier its cache lines have left the worker's core, which makes those writes
// cheap local misses instead of cross-core transfers.
// Both are bounded, so an idle process keeps at most
// kSharedCapacity + kCacheCapacity * threads States (about 2.5 KB each with their buffers),
// and a thread that only gives States back (never takes one) keeps at most kGiverCapacity,
// and only as many as were once in use at the same time: a State is pooled when released,
// never created for the pool. The shared capacity covers the spans a batch span processor
// holds between exports, plus the backlog of a worker that fell behind: below that, States
// would be freed on the worker's thread and allocated again on the application's.
//
// Thread safety: thread-safe.
class StatePool {
 public:
  static Operation::State* Take() noexcept {
    if (!cache_alive) return nullptr;  // the thread is exiting: its cache is gone
    Cache& cache = ThisThreadsCache();
    cache.takes = true;
    if (cache.size == 0) Refill(cache);
    if (cache.size == 0) return nullptr;
    Operation::State* state = cache.items[--cache.size];
    // The next operation's State has rested in the pool long enough to leave the caches, and
    // Reset() writes all of it: start loading it now, an operation ahead.
    if (cache.size > 0) Prefetch(cache.items[cache.size - 1]);
    return state;
  }

  // `state` has no other holder; Acquire() resets it.
  static void Give(Operation::State* state) noexcept {
    if (!cache_alive) {  // the thread is exiting: its cache is gone
      GiveShared(&state, 1);
      return;
    }
    Cache& cache = ThisThreadsCache();
    if (!cache.takes && cache.size == kGiverCapacity) {
      // This thread only ends operations that others started (a span export worker, the
      // gateway's settlement threads): what it keeps, nobody takes. Pass everything on.
      GiveShared(cache.items.data(), cache.size);
      cache.size = 0;
    } else if (cache.size == kCacheCapacity) {
      // The older half goes to the shared list; see the class comment for why oldest first.
      GiveShared(cache.items.data(), kBatch);
      std::copy(cache.items.begin() + kBatch, cache.items.end(), cache.items.begin());
      cache.size -= kBatch;
    }
    cache.items[cache.size++] = state;
  }

  static void Destroy(Operation::State* state) noexcept {
    state->~State();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // see Operation::State::operator delete
    ::operator delete(state);
#pragma GCC diagnostic pop
  }

 private:
  static constexpr size_t kCacheCapacity = 64;
  // What a thread that has never taken a State keeps before passing them on in one batch.
  static constexpr size_t kGiverCapacity = 8;
  static constexpr size_t kBatch = kCacheCapacity / 2;
  // A batch (512 by default) and the backlog at which callers start building spans
  // themselves (two batches), with room to spare. 4096 let the gateway's memory creep up
  // with every rare spike of operations in flight.
  static constexpr size_t kSharedCapacity = 2048;

  struct Cache {
    std::array<Operation::State*, kCacheCapacity> items{};
    size_t size = 0;
    bool takes = false;  // this thread has taken a State from the pool
    ~Cache() {
      cache_alive = false;
      GiveShared(items.data(), size);
      size = 0;
    }
  };
  // A FIFO ring of at most kSharedCapacity States.
  struct Shared {
    std::mutex mu;
    std::unique_ptr<Operation::State*[]> items ABSL_GUARDED_BY(mu);
    size_t head ABSL_GUARDED_BY(mu) = 0;  // the oldest
    size_t count ABSL_GUARDED_BY(mu) = 0;
  };

  static void Prefetch(const Operation::State* state) noexcept {
    const char* bytes = reinterpret_cast<const char*>(state);
    for (size_t offset = 0; offset < sizeof(Operation::State); offset += 64) {
      __builtin_prefetch(bytes + offset, 1);
    }
  }

  static Cache& ThisThreadsCache() noexcept {
    thread_local Cache cache;
    return cache;
  }
  static Shared& TheShared() noexcept {
    static Shared* const shared = [] {
      auto* s = new Shared;  // never destroyed: threads may give States back during exit
      std::lock_guard<std::mutex> lock(s->mu);
      s->items = std::make_unique<Operation::State*[]>(kSharedCapacity);
      return s;
    }();
    return *shared;
  }

  static void Refill(Cache& cache) noexcept {
    Shared& shared = TheShared();
    std::lock_guard<std::mutex> lock(shared.mu);
    while (cache.size < kBatch && shared.count > 0) {
      cache.items[cache.size++] = shared.items[shared.head];
      shared.head = (shared.head + 1) % kSharedCapacity;
      --shared.count;
    }
  }

  static void GiveShared(Operation::State* const* states, size_t count) noexcept {
    Shared& shared = TheShared();
    size_t kept = 0;
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      while (kept < count && shared.count < kSharedCapacity) {
        shared.items[(shared.head + shared.count) % kSharedCapacity] = states[kept++];
        ++shared.count;
      }
    }
    for (size_t i = kept; i < count; ++i) Destroy(states[i]);
  }

  // False once this thread's cache has been destroyed (thread exit). A trivially destructible
  // thread_local stays readable after that, unlike the cache itself.
  static thread_local bool cache_alive;
};

thread_local bool StatePool::cache_alive = true;

std::unique_ptr<Operation::State> Operation::State::Acquire() {
  if (State* recycled = StatePool::Take()) {
    recycled->Reset();
    return std::unique_ptr<State>(recycled);
  }
  return std::make_unique<State>();
}

void Operation::State::Unref() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Pooled as it is: Acquire() resets it, on the thread about to use it. The last holder is
  // usually the span processor's worker; resetting there would hand every cache line (and the
  // reference counts of the budget specs it holds) back and forth between the two threads.
  // Only the reference on a tree root is dropped now, so roots are recycled promptly.
  tree = SpanTree();
  refs_.store(1, std::memory_order_relaxed);
  StatePool::Give(this);
}

void* Operation::State::operator new(std::size_t size) {
  // `new State` (rather than Acquire()) still reuses a pooled State's memory, though not its
  // buffers: the constructor that follows needs raw memory.
  if (size == sizeof(State)) {
    if (State* recycled = StatePool::Take()) {
      recycled->~State();
      return recycled;
    }
  }
  return ::operator new(size);
}

// GCC 12 at -O1 and above (the ASan build) inlines the class's operator new into callers and
// then reports this global delete as mismatched with it. Both sides are the global operator
// new/delete (the class's new only hands back memory that came from the global new).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void Operation::State::operator delete(void* memory) noexcept { ::operator delete(memory); }
#pragma GCC diagnostic pop

void Operation::State::operator delete(State* state, std::destroying_delete_t) noexcept {
  state->Unref();
}

SpanTree& SpanTree::operator=(const SpanTree& other) {
  if (this != &other) {
    SpanTree copy(other);
    *this = std::move(copy);
  }
  return *this;
}

SpanTree::SpanTree(SpanTree&& other) noexcept
    : root_(std::exchange(other.root_, nullptr)),
      holds_root_(std::exchange(other.holds_root_, false)),
      shared_(std::move(other.shared_)) {}

SpanTree& SpanTree::operator=(SpanTree&& other) noexcept {
  if (this != &other) {
    Release();
    root_ = std::exchange(other.root_, nullptr);
    holds_root_ = std::exchange(other.holds_root_, false);
    shared_ = std::move(other.shared_);
  }
  return *this;
}

SpanTree& SpanTree::operator=(std::shared_ptr<telemetry::OperationSpanBudget> budget) noexcept {
  Release();
  shared_ = std::move(budget);
  return *this;
}

void SpanTree::StartAt(Operation::State& root, uint32_t max_spans_per_operation) noexcept {
  Release();
  root.span_budget_.Restart(max_spans_per_operation);
  root_ = &root;  // the root's own handle: no reference on itself
}

telemetry::OperationSpanBudget* SpanTree::get() const noexcept {
  if (root_ != nullptr) return &root_->span_budget_;
  return shared_.get();
}

void SpanTree::CopyFrom(const SpanTree& other) noexcept {
  shared_ = other.shared_;
  root_ = other.root_;
  holds_root_ = root_ != nullptr;
  if (holds_root_) root_->Ref();
}

void SpanTree::Release() noexcept {
  Operation::State* root = std::exchange(root_, nullptr);
  if (std::exchange(holds_root_, false)) root->Unref();
  shared_.reset();
}

namespace {

using telemetry::CountFields;

// Each Clear() leaves its argument equal to a value-initialized one, keeping the buffers of
// strings and vectors (clear() never shrinks). Scalars are copied from a default-constructed
// value, so default member initializers stay the one source of defaults.
template <typename T>
const T& Defaults() {
  static const T* const kDefaults = new T();
  return *kDefaults;
}

// All but the attribution and the model, which Reset() keeps (see there).
void ClearForReuse(OperationRequest& r) {
  static_assert(CountFields<OperationRequest>() == 12, "a field was added: clear it here");
  r.operation_id.clear();
  r.provider.clear();
  r.estimated_input_tokens = Defaults<OperationRequest>().estimated_input_tokens;
  r.max_output_tokens.reset();
  r.max_cost.reset();
  r.estimated_cost.reset();
  r.data_region.clear();
  r.approval_id.clear();
  r.high_priority = Defaults<OperationRequest>().high_priority;
  r.now_unix_nanos = Defaults<OperationRequest>().now_unix_nanos;
}

void Clear(Decision& d) {
  static_assert(CountFields<Decision>() == 6, "a field was added: clear it here");
  d.result = Defaults<Decision>().result;
  d.reason = Defaults<Decision>().reason;
  d.message.clear();
  d.estimate = Money();
  d.budget_name.clear();
  d.approval_id.clear();
}

void Clear(Admission& a) {
  static_assert(CountFields<Admission>() == 5, "a field was added: clear it here");
  Clear(a.decision);
  a.reserved = false;
  a.priced = false;
  a.budgets.clear();
  a.alerts.clear();
}

void Clear(Settlement& s) {
  static_assert(CountFields<Settlement>() == 7, "a field was added: clear it here");
  s.cost = Money();
  s.priced = false;
  s.breakdown = pricing::CostBreakdown();
  s.budgets.clear();
  s.alerts.clear();
  s.ledger_status = absl::OkStatus();
  s.already_settled = false;
}

void Clear(BudgetSummary& b) {
  static_assert(CountFields<BudgetSummary>() == 5, "a field was added: clear it here");
  b.present = false;
  b.name.clear();
  b.limit = Money();
  b.spent = Money();
  b.reserved = Money();
}

}  // namespace

void Operation::State::Reset() noexcept {
  // Field by field rather than by assigning a fresh OperationFields: this runs once per
  // operation, and clear() is a fraction of the cost of assigning an empty string.
  static_assert(CountFields<OperationFields>() == 36, "a field was added: reset it here");
  OperationFields& f = *this;
  const OperationFields& defaults = Defaults<OperationFields>();
  f.adapter.reset();
  // Kept: open_on, operation_type, operation_name, request.model, request.attribution (with
  // attribution_defaults_of) and, below, record. try_track_operation() assigns each of them,
  // and Finish() every field of the record, before anything reads them. They usually repeat
  // from one operation to the next: open_on is replaced only for an operation started on
  // another thread (a reference costs two atomic updates), the strings only when they differ
  // (comparing costs less than copying).
  ClearForReuse(f.request);
  Clear(f.admission);
  f.high_priority = defaults.high_priority;
  f.trace_id = telemetry::TraceId();
  f.span_id = telemetry::SpanId();
  f.parent_span_id = telemetry::SpanId();
  f.trace_state.clear();
  f.remote_parent_sampled = defaults.remote_parent_sampled;
  f.has_remote_parent = defaults.has_remote_parent;
  f.tree = SpanTree();
  f.is_root = defaults.is_root;
  f.record_span = defaults.record_span;
  f.start_unix_nanos = defaults.start_unix_nanos;
  f.start_monotonic_nanos = defaults.start_monotonic_nanos;
  f.usage = Usage();
  f.has_usage = defaults.has_usage;
  f.cost_override.reset();
  f.response_model.clear();
  f.response_id.clear();
  f.finish_reasons.clear();
  f.error = defaults.error;
  f.error_message.clear();
  f.custom_attributes.clear();
  f.events.clear();
  f.ended = defaults.ended;
  Clear(f.settlement);
  f.duration_nanos = defaults.duration_nanos;
  // f.record is kept (see above).
  f.spans_dropped = defaults.spans_dropped;
  Clear(f.span_budget);
  Clear(f.reservation_budget);
}

Operation::Operation(std::unique_ptr<State> state) : state_(std::move(state)) {}
Operation::Operation(Operation&&) noexcept = default;
Operation& Operation::operator=(Operation&& other) noexcept {
  if (this != &other) {
    end();
    state_ = std::move(other.state_);
  }
  return *this;
}
Operation::~Operation() { end(); }

const Decision& Operation::decision() const noexcept {
  return state_ ? state_->admission.decision : RefusedPlaceholder();
}

void Operation::add_attributes(
    std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs) {
  if (!state_ || state_->ended) return;
  AppendAttributes(state_->custom_attributes, attrs);
}

void Operation::add_attributes(const std::map<std::string, AttributeValue>& attrs) {
  if (!state_ || state_->ended) return;
  for (const auto& [key, value] : attrs) state_->custom_attributes.push_back({key, value});
}

void Operation::add_event(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, AttributeValue>> attrs) {
  if (!state_ || state_->ended) return;
  telemetry::SpanEvent event;
  event.name = std::string(name);
  event.time_unix_nanos = state_->adapter->clock().NowUnixNanos();
  AppendAttributes(event.attributes, attrs);
  state_->events.push_back(std::move(event));
}

void Operation::update_cost(double usd) {
  if (!state_ || state_->ended) return;
  auto money = Money::FromUsdDouble(usd);
  if (money.ok() && money->nanos() >= 0) state_->cost_override = *money;
}

void Operation::update_cost(Money cost) {
  if (!state_ || state_->ended || cost.nanos() < 0) return;
  state_->cost_override = cost;
}

void Operation::update_token_usage(int64_t input_tokens, int64_t output_tokens) {
  Usage usage;
  usage.input_tokens = input_tokens;
  usage.output_tokens = output_tokens;
  update_token_usage(usage);
}

void Operation::update_token_usage(const Usage& usage) {
  if (!state_ || state_->ended) return;
  if (auto s = usage.Validate(); !s.ok()) {
    state_->error = true;
    state_->error_message = std::string("invalid token usage: ") + std::string(s.message());
    return;
  }
  state_->usage = usage;
  state_->has_usage = true;
}

void Operation::set_model(std::string_view provider, std::string_view model) {
  if (!state_ || state_->ended) return;
  if (!provider.empty()) state_->request.provider = std::string(provider);
  state_->response_model = std::string(model);
}

absl::Status Operation::record_response(std::string_view provider, std::string_view body) {
  if (!state_) return absl::FailedPreconditionError("operation handle was moved from");
  if (state_->ended) return absl::FailedPreconditionError("operation already ended");
  auto parsed = ParseProviderResponse(provider, body);
  if (!parsed.ok()) {
    state_->error = true;
    state_->error_message = std::string(parsed.status().message());
    return parsed.status();
  }
  state_->request.provider = parsed->provider.empty() ? std::string(provider) : parsed->provider;
  if (!parsed->model.empty()) state_->response_model = parsed->model;
  state_->response_id = parsed->response_id;
  state_->finish_reasons = parsed->finish_reasons;
  if (parsed->has_usage) {
    state_->usage = parsed->usage;
    state_->has_usage = true;
  }
  return absl::OkStatus();
}

void Operation::record_error(std::string_view message) {
  if (!state_ || state_->ended) return;
  state_->error = true;
  state_->error_message = std::string(message);
}

void Operation::end() noexcept {
  if (!state_ || state_->ended) return;
  state_->adapter->Finish(*state_);
}

OperationMetrics Operation::get_metrics() const {
  OperationMetrics m;
  if (!state_) return m;
  m.operation_id = state_->request.operation_id;
  m.operation_type = state_->operation_type;
  m.operation_name = state_->operation_name;
  m.provider = state_->request.provider;
  m.model = state_->response_model.empty() ? state_->request.model : state_->response_model;
  m.usage = state_->usage;
  m.decision = state_->admission.decision;
  m.estimate = state_->admission.decision.estimate;
  m.ended = state_->ended;
  m.error = state_->error;
  const ledger::BudgetStatusList& budgets = state_->ended && !state_->settlement.budgets.empty()
                                                ? state_->settlement.budgets
                                                : state_->admission.budgets;
  for (const ledger::BudgetStatus& b : budgets) {
    if (b.spec == nullptr) continue;
    if (!m.budget_remaining.has_value() || b.remaining() < *m.budget_remaining) {
      m.budget_remaining = b.remaining();
      m.budget_name = b.spec->name;
    }
  }
  if (state_->ended) {
    m.cost = state_->settlement.cost;
    m.priced = state_->settlement.priced;
    m.duration_nanos = state_->duration_nanos;
  } else {
    auto preview = state_->adapter->PreviewCost(*state_);
    m.cost = preview.first;
    m.priced = preview.second;
    m.duration_nanos = state_->adapter->clock().MonotonicNanos() - state_->start_monotonic_nanos;
  }
  return m;
}

const std::string& Operation::operation_id() const noexcept {
  static const std::string kEmpty;
  return state_ ? state_->request.operation_id : kEmpty;
}

std::string Operation::trace_id() const { return state_ ? state_->trace_id.ToHex() : ""; }
std::string Operation::span_id() const { return state_ ? state_->span_id.ToHex() : ""; }

std::string Operation::traceparent() const {
  if (!state_) return "";
  telemetry::SpanContext ctx;
  ctx.trace_id = state_->trace_id;
  ctx.span_id = state_->span_id;
  ctx.sampled = true;
  return telemetry::FormatTraceparent(ctx);
}

}  // namespace genops
