// SpinLock: a mutex for short critical sections on the SDK's hot path.
//
// Why: taking and releasing it costs one locked instruction (the exchange); std::mutex costs
// two (glibc's unlock is an atomic exchange too), and Debian's absl::Mutex far more (its
// deadlock detection is compiled in). An operation takes a few such locks, each held for a
// handful of vector or map operations. A waiter yields instead of spinning hard: on a loaded
// machine the holder may be preempted.
//
// Use it only where the holder never blocks and never calls out while holding it.
//
// Example:
//   SpinLock mu;
//   std::lock_guard<SpinLock> lock(mu);
//
// Thread safety: thread-safe; not recursive.
#ifndef GENOPS_SDK_SPIN_LOCK_H_
#define GENOPS_SDK_SPIN_LOCK_H_

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"

namespace genops {

class ABSL_LOCKABLE SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() noexcept ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace genops

#endif  // GENOPS_SDK_SPIN_LOCK_H_
