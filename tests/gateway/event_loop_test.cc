#include "src/gateway/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/notification.h"
#include "src/core/text.h"
#include "src/gateway/http_client.h"
#include "src/gateway/http_server.h"

namespace genops::gateway {
namespace {

// Runs `fn` on `loop` and waits for its result.
template <typename F>
auto RunOn(EventLoop& loop, F fn) -> decltype(fn()) {
  std::promise<decltype(fn())> result;
  auto future = result.get_future();
  absl::AnyInvocable<void()> task = [&] { result.set_value(fn()); };
  EXPECT_TRUE(loop.Post(std::move(task)));
  return future.get();
}

TEST(EventLoopGroupTest, EachLoopRunsOnItsOwnThreadInPostingOrder) {
  auto loops = EventLoopGroup::Start(2, "test-loop");
  ASSERT_EQ(loops->size(), 2);
  EXPECT_EQ(loops->Current(), nullptr);  // the test thread is none of them
  EXPECT_FALSE(loops->loop(0).InThisThread());

  std::thread::id ids[2];
  for (int i = 0; i < 2; ++i) {
    EventLoop& loop = loops->loop(i);
    EXPECT_EQ(loop.index(), i);
    EXPECT_TRUE(loops->Contains(&loop));
    ids[i] = RunOn(loop, [] { return std::this_thread::get_id(); });
    EXPECT_TRUE(RunOn(loop, [&] { return loop.InThisThread() && loops->Current() == &loop; }));
  }
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[0], std::this_thread::get_id());

  // FIFO per loop, whatever thread posts.
  std::mutex mu;
  std::vector<int> order;
  absl::Notification done;
  for (int i = 0; i < 100; ++i) {
    absl::AnyInvocable<void()> task = [&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
      if (i == 99) done.Notify();
    };
    ASSERT_TRUE(loops->loop(1).Post(std::move(task)));
  }
  done.WaitForNotification();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(EventLoopGroupTest, NextGoesRoundTheLoopsAndForeignLoopsAreNotContained) {
  auto loops = EventLoopGroup::Start(3, "test-rr");
  auto other = EventLoopGroup::Start(1, "test-other");
  std::multiset<int> seen;
  for (int i = 0; i < 9; ++i) seen.insert(loops->Next().index());
  EXPECT_EQ(seen.count(0), 3u);
  EXPECT_EQ(seen.count(1), 3u);
  EXPECT_EQ(seen.count(2), 3u);
  EXPECT_FALSE(loops->Contains(&other->loop(0)));
  EXPECT_FALSE(loops->Contains(nullptr));
}

TEST(EventLoopGroupTest, StopRunsWhatWasPostedThenRefusesAndLeavesTheWorkToTheCaller) {
  auto loops = EventLoopGroup::Start(1, "test-stop");
  std::atomic<int> ran{0};
  absl::Notification release;
  // The first task holds the loop while more are queued behind it.
  absl::AnyInvocable<void()> blocker = [&] {
    release.WaitForNotification();
    ++ran;
  };
  ASSERT_TRUE(loops->loop(0).Post(std::move(blocker)));
  for (int i = 0; i < 10; ++i) {
    absl::AnyInvocable<void()> task = [&] { ++ran; };
    ASSERT_TRUE(loops->loop(0).Post(std::move(task)));
  }
  std::thread stopper([&] { loops->Stop(); });
  release.Notify();
  stopper.join();
  EXPECT_EQ(ran.load(), 11);
  EXPECT_TRUE(loops->stopped());

  bool ran_late = false;
  absl::AnyInvocable<void()> late = [&] { ran_late = true; };
  EXPECT_FALSE(loops->loop(0).Post(std::move(late)));
  ASSERT_TRUE(late != nullptr);  // refused work is left to the caller
  late();
  EXPECT_TRUE(ran_late);
  loops->Stop();  // idempotent
}

TEST(EventLoopGroupTest, WorkPostedByHandlersWhileTheGroupStopsStillRuns) {
  auto loops = EventLoopGroup::Start(2, "test-chain");
  std::atomic<int> ran{0};
  // Each task posts the next to the other loop, 200 hops, racing with Stop(): every hop
  // runs, on a loop or (once refused) inline, and none is lost.
  std::function<void(int)> hop = [&](int left) {
    ++ran;
    if (left == 0) return;
    absl::AnyInvocable<void()> next = [&hop, left] { hop(left - 1); };
    if (!loops->loop(left % 2).Post(std::move(next))) next();
  };
  absl::AnyInvocable<void()> first = [&hop] { hop(200); };
  ASSERT_TRUE(loops->loop(0).Post(std::move(first)));
  loops->Stop();
  EXPECT_EQ(ran.load(), 201);
}

// The server's writer names the loop its handler runs on, and a client sharing the loops
// runs a call opened there on the same thread: a proxied exchange stays on one thread.
TEST(EventLoopGroupTest, ServerAndClientSharingLoopsKeepAnExchangeOnOneThread) {
  auto loops = EventLoopGroup::Start(2, "test-shared");
  auto backend = HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1},
                                   [](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
                                     writer->Respond(HttpResponse::Text(200, "backend"));
                                   });
  ASSERT_TRUE(backend.ok()) << backend.status();
  HttpClientOptions client_options;
  client_options.loops = loops;
  client_options.proxy = ProxySettings{};
  auto client = HttpClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string backend_url = Cat("http://127.0.0.1:", (*backend)->port(), "/");
  std::atomic<int> same_thread{0};
  std::atomic<int> other_thread{0};
  HttpClient* raw_client = client->get();
  HttpServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.loops = loops;
  auto proxy = HttpServer::Start(
      server_options, [&, raw_client](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
        EventLoop* loop = writer->loop();
        ASSERT_NE(loop, nullptr);
        EXPECT_TRUE(loop->InThisThread());
        HttpClientRequest upstream{.url = backend_url};
        upstream.loop = loop;
        raw_client->Send(
            std::move(upstream), [&, loop, writer](absl::StatusOr<HttpClientResponse> r) {
              (loop->InThisThread() ? same_thread : other_thread)++;
              writer->Respond(HttpResponse::Text(r.ok() ? 200 : 502, r.ok() ? r->body : "failed"));
            });
      });
  ASSERT_TRUE(proxy.ok()) << proxy.status();

  // Several client connections: the server spreads them over both loops.
  auto outside = HttpClient::Create({.io_threads = 2, .proxy = ProxySettings{}});
  ASSERT_TRUE(outside.ok());
  std::vector<std::future<absl::StatusOr<HttpClientResponse>>> answers;
  for (int i = 0; i < 8; ++i) {
    answers.push_back(std::async(std::launch::async, [&] {
      return (*outside)->SendSync({.url = Cat("http://127.0.0.1:", (*proxy)->port(), "/")});
    }));
  }
  for (auto& a : answers) {
    auto r = a.get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "backend");
  }
  EXPECT_EQ(same_thread.load(), 8);
  EXPECT_EQ(other_thread.load(), 0);
  (*proxy)->Shutdown(absl::Seconds(1));
  client->reset();
  loops->Stop();
  (*backend)->Shutdown(absl::ZeroDuration());
}

TEST(EventLoopGroupTest, ACallWithoutALoopRunsOnTheCallersLoopOrOneChosenByTheOrigin) {
  auto backend = HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1},
                                   [](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
                                     writer->Respond(HttpResponse::Text(200, "ok"));
                                   });
  ASSERT_TRUE(backend.ok());
  auto loops = EventLoopGroup::Start(2, "test-pick");
  HttpClientOptions options;
  options.loops = loops;
  options.proxy = ProxySettings{};
  auto client = HttpClient::Create(options);
  ASSERT_TRUE(client.ok());
  const std::string url = Cat("http://127.0.0.1:", (*backend)->port(), "/x");
  // From a loop's thread: that loop.
  for (int i = 0; i < 2; ++i) {
    EventLoop& loop = loops->loop(i);
    std::promise<bool> on_loop;
    absl::AnyInvocable<void()> task = [&] {
      (*client)->Send({.url = url}, [&](absl::StatusOr<HttpClientResponse> r) {
        on_loop.set_value(r.ok() && loop.InThisThread());
      });
    };
    ASSERT_TRUE(loop.Post(std::move(task)));
    EXPECT_TRUE(on_loop.get_future().get()) << "loop " << i;
  }
  // From outside: the same loop for the same origin each time, so its connection is reused.
  std::set<EventLoop*> used;
  for (int i = 0; i < 4; ++i) {
    std::promise<EventLoop*> where;
    (*client)->Send({.url = url}, [&](absl::StatusOr<HttpClientResponse> r) {
      EXPECT_TRUE(r.ok());
      where.set_value(loops->Current());
    });
    used.insert(where.get_future().get());
  }
  EXPECT_EQ(used.size(), 1u);
  EXPECT_NE(*used.begin(), nullptr);
  client->reset();
  loops->Stop();
  (*backend)->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace genops::gateway
