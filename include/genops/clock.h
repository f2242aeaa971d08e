// Clock: the time source every GenOps component takes by injection.
//
// Budget windows, reservation expiry, span timestamps and retry back-off all read time
// through a Clock so tests can move time by hand (ManualClock) instead of sleeping.
//
// Thread safety: implementations are thread-safe.
#ifndef GENOPS_CLOCK_H_
#define GENOPS_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace genops {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, nanoseconds since the Unix epoch (UTC).
  virtual int64_t NowUnixNanos() const = 0;
  // Monotonic time for durations and timeouts, nanoseconds from an arbitrary origin.
  virtual int64_t MonotonicNanos() const = 0;
  // Blocks the calling thread for `nanos` (ManualClock advances instead of sleeping).
  virtual void SleepNanos(int64_t nanos) const = 0;

  // The process-wide real clock. Never null, never destroyed.
  static const Clock* Real();
};

// A clock that only moves when told to. Both readings advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_unix_nanos = 1'700'000'000'000'000'000)
      : now_(start_unix_nanos) {}
  int64_t NowUnixNanos() const override { return now_.load(std::memory_order_relaxed); }
  int64_t MonotonicNanos() const override { return now_.load(std::memory_order_relaxed); }
  void SleepNanos(int64_t nanos) const override { Advance(nanos); }
  void Advance(int64_t nanos) const { now_.fetch_add(nanos, std::memory_order_relaxed); }
  void Set(int64_t unix_nanos) { now_.store(unix_nanos, std::memory_order_relaxed); }

 private:
  mutable std::atomic<int64_t> now_;
};

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kNanosPerMilli = 1'000'000;

}  // namespace genops

#endif  // GENOPS_CLOCK_H_
