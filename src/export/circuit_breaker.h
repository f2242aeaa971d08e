// CircuitBreaker: stop sending to an endpoint that keeps failing, probe it again later.
//
// Why: when a collector is down, retrying every batch against it burns the whole export
// timeout per batch and backs up the span queue. After `threshold` consecutive failures the
// breaker opens and callers skip the endpoint (or fail over) at no cost; after `open_duration`
// it is half-open and lets one trial through: success closes it, failure re-opens it.
//
// States:
//  - kClosed: traffic flows; failures are counted, a success resets the count.
//  - kOpen: Allow() returns false until `open_duration` has passed since it opened.
//  - kHalfOpen: Allow() returns true; the next recorded outcome decides (success -> kClosed,
//    failure -> kOpen for another `open_duration`).
// A threshold <= 0 disables the breaker (always closed).
//
// Thread safety: thread-compatible; callers serialise access (the exporter holds its lock).
#ifndef GENOPS_EXPORT_CIRCUIT_BREAKER_H_
#define GENOPS_EXPORT_CIRCUIT_BREAKER_H_

#include <cstdint>
#include <string_view>

namespace genops::exporter {

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(int threshold, int64_t open_duration_nanos)
      : threshold_(threshold), open_duration_nanos_(open_duration_nanos) {}

  // May a request go out at `now_nanos` (monotonic)? Moves kOpen to kHalfOpen when due.
  bool Allow(int64_t now_nanos);
  void RecordSuccess();
  // Returns true when this failure opened (or re-opened) the breaker.
  bool RecordFailure(int64_t now_nanos);

  State state() const { return state_; }
  int consecutive_failures() const { return consecutive_failures_; }

 private:
  const int threshold_;
  const int64_t open_duration_nanos_;
  State state_ = State::kClosed;
  int consecutive_failures_ = 0;
  int64_t opened_at_nanos_ = 0;
};

std::string_view CircuitBreakerStateName(CircuitBreaker::State state);

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_CIRCUIT_BREAKER_H_
