#include "src/gateway/event_loop.h"

#include <pthread.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <optional>
#include <utility>

namespace genops::gateway {

namespace asio = boost::asio;

// Concurrency hint 1: one thread runs the io_context. Asio then queues a post made on that
// thread privately (no lock, no wake-up) and never wakes a second runner.
EventLoop::EventLoop(EventLoopGroup* group, int index)
    : group_(group), index_(index), io_(std::make_unique<asio::io_context>(1)) {}

EventLoop::~EventLoop() = default;

bool EventLoop::InThisThread() const noexcept {
  return std::this_thread::get_id() == thread_id_.load(std::memory_order_relaxed);
}

bool EventLoop::Post(absl::AnyInvocable<void()>&& fn) {
  EventLoopGroup& g = *group_;
  g.posting_.fetch_add(1);
  if (g.stopped_.load()) {
    g.posting_.fetch_sub(1);
    return false;
  }
  asio::post(*io_, std::move(fn));
  g.posting_.fetch_sub(1);
  return true;
}

std::shared_ptr<EventLoopGroup> EventLoopGroup::Start(int threads, std::string_view name) {
  std::shared_ptr<EventLoopGroup> group(new EventLoopGroup());
  const int n =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  group->loops_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) group->loops_.emplace_back(new EventLoop(group.get(), i));
  // The work guards keep each loop running while it is idle; Stop() drops them.
  auto guards = std::make_shared<
      std::vector<std::optional<asio::executor_work_guard<asio::io_context::executor_type>>>>();
  guards->resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    EventLoop* loop = group->loops_[static_cast<size_t>(i)].get();
    (*guards)[static_cast<size_t>(i)].emplace(loop->io_->get_executor());
  }
  group->work_guards_ = std::move(guards);
  std::string prefix(name.substr(0, 11));
  for (int i = 0; i < n; ++i) {
    EventLoop* loop = group->loops_[static_cast<size_t>(i)].get();
    std::promise<void> ready;
    std::future<void> ready_future = ready.get_future();
    group->threads_.emplace_back(
        [loop, ready = std::move(ready), thread_name = prefix + "-" + std::to_string(i)]() mutable {
          pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str());
          loop->thread_id_.store(std::this_thread::get_id());
          ready.set_value();
          loop->io_->run();
        });
    ready_future.wait();  // thread_id_ is set before anyone can ask InThisThread()
  }
  return group;
}

EventLoopGroup::~EventLoopGroup() { Stop(); }

EventLoop& EventLoopGroup::Next() {
  const size_t i = next_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
  return *loops_[i];
}

EventLoop* EventLoopGroup::Current() {
  for (auto& loop : loops_) {
    if (loop->InThisThread()) return loop.get();
  }
  return nullptr;
}

void EventLoopGroup::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stop_done_) return;
  stop_done_ = true;
  work_guards_.reset();  // each loop now ends once it runs out of work
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  stopped_.store(true);
  while (posting_.load() != 0) std::this_thread::yield();
  // What was posted after a loop ended runs here; a Post() it makes is refused and the
  // poster runs its work inline.
  for (auto& loop : loops_) {
    loop->thread_id_.store(std::this_thread::get_id());
    for (;;) {
      loop->io_->restart();
      if (loop->io_->poll() == 0) break;
    }
    loop->thread_id_.store(std::thread::id());
  }
}

}  // namespace genops::gateway
