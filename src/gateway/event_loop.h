// EventLoopGroup: the io threads of the gateway's HTTP server and client, one event loop
// (one Asio io_context) per thread.
//
// Why one loop per thread instead of one io_context run by several threads: a proxy's
// request hops between a downstream connection and an upstream call. When both live on the
// same single-threaded loop, the whole exchange runs on one thread: no handler is handed to
// another thread, no futex wakes a sleeping one, no strand is needed, and a post from the
// loop's own thread is a push onto a thread-private queue. A shared multi-threaded
// io_context instead wakes a second thread for almost every completion (the reactor thread
// finds the event, another runs it); on a small machine those wake-ups and context switches
// cost more than the proxying itself. The HttpServer spreads accepted connections over the
// loops; an HttpClient that shares the group runs each call on the loop it is asked for
// (typically the downstream connection's).
//
//   auto loops = EventLoopGroup::Start(2, "gw-io");
//   EventLoop& loop = loops->Next();
//   loop.Post([] { /* runs on the loop's thread */ });
//   loops->Stop();   // runs what was posted, then joins
//
// Thread safety: thread-safe. A loop's handlers run on its thread only, one at a time.
#ifndef GENOPS_GATEWAY_EVENT_LOOP_H_
#define GENOPS_GATEWAY_EVENT_LOOP_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace genops::gateway {

class EventLoopGroup;

// One thread running one io_context. Owned by its EventLoopGroup.
class EventLoop {
 public:
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  // For Asio objects (sockets, timers) that must live on this loop.
  boost::asio::io_context& io() { return *io_; }
  // True on this loop's thread.
  bool InThisThread() const noexcept;
  int index() const { return index_; }
  const EventLoopGroup& group() const { return *group_; }

  // Runs `fn` on this loop's thread, after the handlers already queued (FIFO). False when
  // the group has stopped: `fn` is then left untouched, for the caller to run or drop.
  //   absl::AnyInvocable<void()> work = [...] { ... };
  //   if (!loop.Post(std::move(work))) work();
  bool Post(absl::AnyInvocable<void()>&& fn);

 private:
  friend class EventLoopGroup;
  EventLoop(EventLoopGroup* group, int index);

  EventLoopGroup* const group_;
  const int index_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::atomic<std::thread::id> thread_id_{};
};

// Thread-safe; see the file comment.
class EventLoopGroup {
 public:
  // Starts `threads` loops (0: std::thread::hardware_concurrency()); their threads are named
  // "<name>-<i>".
  static std::shared_ptr<EventLoopGroup> Start(int threads, std::string_view name);
  ~EventLoopGroup();  // Stop()
  EventLoopGroup(const EventLoopGroup&) = delete;
  EventLoopGroup& operator=(const EventLoopGroup&) = delete;

  int size() const { return static_cast<int>(loops_.size()); }
  EventLoop& loop(int i) { return *loops_[static_cast<size_t>(i)]; }
  // The loops in turn (round robin), for spreading new connections.
  EventLoop& Next();
  // The loop whose thread is calling, or null when the caller is not one of this group's.
  EventLoop* Current();
  bool Contains(const EventLoop* loop) const { return loop != nullptr && &loop->group() == this; }

  // Lets every loop run out of work (handlers queued and asynchronous operations pending),
  // joins the threads, then runs on the calling thread whatever was posted while they
  // ended. After it, Post() returns false. Idempotent; must not run on a loop's thread.
  // Whoever shares the group stops using it first (closes its sockets, cancels its timers):
  // a loop with a pending operation does not run out of work.
  void Stop();
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }

 private:
  friend class EventLoop;
  EventLoopGroup() = default;

  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
  std::shared_ptr<void> work_guards_;  // keep the idle loops running until Stop()
  std::atomic<size_t> next_{0};
  // A Post() either lands before Stop()'s final drain or is refused: Post() counts itself in
  // posting_ before it reads stopped_, and Stop() sets stopped_ before it waits for
  // posting_ to reach zero (both sequentially consistent).
  std::atomic<int> posting_{0};
  std::atomic<bool> stopped_{false};
  std::mutex stop_mu_;      // serializes Stop()
  bool stop_done_ = false;  // guarded by stop_mu_
};

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_EVENT_LOOP_H_
