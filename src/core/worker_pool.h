// WorkerPool: a fixed set of threads that run blocking work handed over by event loops.
//
// Why: the gateway's and the receiver's io threads must never block, but admission and
// settlement talk to the ledger, which blocks (a SQLite commit waits for the disk, Redis and
// PostgreSQL for the network). Such work is posted here; it finishes by handing its result
// back (an HttpResponseWriter is thread-safe). Several workers also let a durable ledger
// group-commit the callers that arrive together.
//
//   WorkerPool pool({.threads = 8, .name = "governance"});
//   if (!pool.Post([] { ... })) { /* queue full: shed load */ }
//   pool.Shutdown();   // runs what is queued, then joins
//
// Thread safety: thread-safe. Tasks run on the pool's threads in FIFO order per queue.
#ifndef GENOPS_CORE_WORKER_POOL_H_
#define GENOPS_CORE_WORKER_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace genops {

struct WorkerPoolOptions {
  int threads = 4;
  // Post() refuses beyond this many queued tasks (0 = unbounded).
  size_t max_queued = 0;
  std::string name = "worker";  // thread name prefix (visible in top/gdb)
};

// Thread-safe; see the file comment.
class WorkerPool {
 public:
  explicit WorkerPool(WorkerPoolOptions options);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`. False when the queue is full or the pool is shut down (the task is not
  // run then; the caller answers for it).
  bool Post(std::function<void()> task);

  // Stops taking tasks, runs every queued one, joins the threads. Idempotent; must not be
  // called from a pool thread.
  void Shutdown();

  size_t queued() const;
  int threads() const { return thread_count_; }

 private:
  void Run();

  const WorkerPoolOptions options_;
  const int thread_count_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace genops

#endif  // GENOPS_CORE_WORKER_POOL_H_
