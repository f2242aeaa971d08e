#include "src/export/circuit_breaker.h"

namespace genops::exporter {

bool CircuitBreaker::Allow(int64_t now_nanos) {
  if (state_ != State::kOpen) return true;
  if (now_nanos - opened_at_nanos_ < open_duration_nanos_) return false;
  state_ = State::kHalfOpen;
  return true;
}

void CircuitBreaker::RecordSuccess() {
  state_ = State::kClosed;
  consecutive_failures_ = 0;
}

bool CircuitBreaker::RecordFailure(int64_t now_nanos) {
  ++consecutive_failures_;
  if (threshold_ <= 0) return false;
  if (state_ == State::kHalfOpen ||
      (state_ == State::kClosed && consecutive_failures_ >= threshold_)) {
    state_ = State::kOpen;
    opened_at_nanos_ = now_nanos;
    return true;
  }
  return false;
}

std::string_view CircuitBreakerStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

}  // namespace genops::exporter
