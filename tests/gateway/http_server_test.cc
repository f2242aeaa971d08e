#include "src/gateway/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "src/gateway/event_loop.h"
#include "tests/gateway/test_util.h"

namespace genops::gateway {
namespace {

using testing::RawResponse;
using testing::RawSocket;

std::unique_ptr<HttpServer> StartServer(HttpHandler handler, HttpServerOptions options = {}) {
  options.io_threads = options.io_threads == 0 ? 2 : options.io_threads;
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Echoes the request as "METHOD path?query|header x-test|body".
void Echo(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
  writer->Respond(
      HttpResponse::Text(200, Cat(request.method, " ", request.path, "?", request.query, "|",
                                  request.headers.GetOr("x-test", "-"), "|", request.body)));
}

TEST(HttpServerTest, AnswersAndReportsTheBoundPort) {
  auto server = StartServer(Echo);
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), Cat("127.0.0.1:", server->port()));
  RawSocket s(server->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(
      s.Send("POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\n"
             "Content-Length: 5\r\n\r\nhello"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /v1/x?a=1|yes|hello");
  EXPECT_EQ(r->headers.GetOr("content-length", ""), "24");
  EXPECT_EQ(r->headers.GetOr("server", ""), "genops");
  EXPECT_TRUE(r->headers.Has("date"));
  EXPECT_FALSE(r->headers.Has("connection"));
}

TEST(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  auto server = StartServer(Echo);
  RawSocket s(server->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.Send(Cat("GET /n", i, " HTTP/1.1\r\nHost: h\r\n\r\n")));
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, Cat("GET /n", i, "?|-|"));
  }
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(server->stats().requests, 3u);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  // The first request is answered late, the second at once: order must still hold.
  auto server = StartServer([](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
    std::string body = request.path;
    if (request.path == "/slow") {
      writer->After(absl::Milliseconds(100),
                    [writer, body](bool) { writer->Respond(HttpResponse::Text(200, body)); });
    } else {
      writer->Respond(HttpResponse::Text(200, body));
    }
  });
  RawSocket s(server->port());
  ASSERT_TRUE(
      s.Send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"
             "POST /fast HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
             "GET /last HTTP/1.1\r\nHost: h\r\n\r\n"));
  for (const char* expected : {"/slow", "/fast", "/last"}) {
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value()) << expected;
    EXPECT_EQ(r->body, expected);
  }
}

TEST(HttpServerTest, HeaderSectionOverTheLimitGets431AndClose) {
  auto server = StartServer(Echo, {.max_header_bytes = 1024});
  RawSocket s(server->port());
  ASSERT_TRUE(
      s.Send(Cat("GET / HTTP/1.1\r\nHost: h\r\nX-Big: ", std::string(2000, 'a'), "\r\n\r\n")));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find("1024 bytes"), std::string::npos) << r->body;
  EXPECT_EQ(r->headers.GetOr("connection", ""), "close");
  EXPECT_TRUE(s.WaitForClose());
  EXPECT_EQ(server->stats().requests, 0u);
  EXPECT_EQ(server->stats().rejected, 1u);
}

TEST(HttpServerTest, TooManyHeaderFieldsGets431) {
  auto server = StartServer(Echo, {.max_header_count = 5});
  RawSocket s(server->port());
  std::string request = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 6; ++i) request += Cat("X-H", i, ": v\r\n");
  ASSERT_TRUE(s.Send(request + "\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find("6 header fields; the limit is 5"), std::string::npos) << r->body;
}

TEST(HttpServerTest, BodyOverTheLimitGets413BeforeItIsRead) {
  auto server = StartServer(Echo, {.max_body_bytes = 100});
  RawSocket s(server->port());
  // Only the header is sent: the answer must come from Content-Length alone.
  ASSERT_TRUE(s.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("101 bytes exceeds the limit of 100"), std::string::npos) << r->body;
}

TEST(HttpServerTest, ChunkedBodyOverTheLimitGets413) {
  auto server = StartServer(Echo, {.max_body_bytes = 100});
  RawSocket s(server->port());
  ASSERT_TRUE(
      s.Send(Cat("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", "50\r\n",
                 std::string(80, 'x'), "\r\n", "50\r\n", std::string(80, 'x'), "\r\n0\r\n\r\n")));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
}

TEST(HttpServerTest, ChunkedBodyWithinTheLimitIsDechunked) {
  auto server = StartServer(Echo);
  RawSocket s(server->port());
  ASSERT_TRUE(
      s.Send("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "POST /c?|-|abcde");
}

TEST(HttpServerTest, ExpectContinue) {
  auto server = StartServer(Echo, {.max_body_bytes = 100});
  {
    RawSocket s(server->port());
    ASSERT_TRUE(
        s.Send("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
               "Content-Length: 4\r\n\r\n"));
    auto interim = s.ReadResponse();
    ASSERT_TRUE(interim.has_value());
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(s.Send("body"));
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "POST /e?|-|body");
  }
  {
    RawSocket s(server->port());
    ASSERT_TRUE(
        s.Send("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
               "Content-Length: 1000\r\n\r\n"));
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);  // refused before the body is sent
  }
}

TEST(HttpServerTest, MalformedRequestGets400) {
  auto server = StartServer(Echo);
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nBad Header\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("malformed HTTP request"), std::string::npos);
  EXPECT_TRUE(s.WaitForClose());
}

TEST(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  auto server = StartServer(Echo);
  {
    RawSocket s(server->port());
    ASSERT_TRUE(s.Send("GET /a HTTP/1.0\r\n\r\n"));
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->headers.GetOr("connection", ""), "close");
    EXPECT_TRUE(s.WaitForClose());
  }
  {
    RawSocket s(server->port());
    ASSERT_TRUE(s.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->headers.GetOr("connection", ""), "keep-alive");
    ASSERT_TRUE(s.Send("GET /b HTTP/1.0\r\n\r\n"));
    r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "GET /b?|-|");
  }
}

TEST(HttpServerTest, ConnectionCloseFromTheClientIsHonoured) {
  auto server = StartServer(Echo);
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->headers.GetOr("connection", ""), "close");
  EXPECT_TRUE(s.WaitForClose());
}

TEST(HttpServerTest, HeadRequestHasNoBody) {
  auto server = StartServer(Echo);
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /g HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = s.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->headers.GetOr("content-length", ""), "11");  // "HEAD /h?|-|"
  r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "GET /g?|-|");  // nothing of the HEAD body came in between
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  auto server = StartServer(Echo, {.idle_timeout = absl::Milliseconds(100)});
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(s.ReadResponse().has_value());
  absl::Time start = absl::Now();
  EXPECT_TRUE(s.WaitForClose());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(HttpServerTest, SlowRequestGets408) {
  auto server = StartServer(Echo, {.read_timeout = absl::Milliseconds(100)});
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n"));  // never finished
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(s.WaitForClose());
}

TEST(HttpServerTest, StreamsChunkedResponse) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {{"Content-Type", "text/event-stream"}});
    writer->Write("data: 1\n\n");
    writer->Write("");  // ignored: an empty chunk would end the body
    writer->After(absl::Milliseconds(20), [writer](bool) {
      writer->Write("data: 2\n\n");
      writer->End();
    });
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET /s HTTP/1.1\r\nHost: h\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n"));
  for (int i = 0; i < 2; ++i) {
    auto r = s.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->chunked);
    EXPECT_EQ(r->headers.GetOr("content-type", ""), "text/event-stream");
    EXPECT_EQ(r->body, "data: 1\n\ndata: 2\n\n");
  }
}

TEST(HttpServerTest, StreamWithContentLengthIsNotChunked) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {{"Content-Length", "6"}});
    writer->Write("abc");
    writer->Write("def");
    writer->End();
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->chunked);
  EXPECT_EQ(r->body, "abcdef");
}

// A producer that waits for each write to be delivered: while the client does not read,
// the server stops producing (bounded memory); once it reads, everything arrives.
TEST(HttpServerTest, StreamingBackpressureFollowsTheClient) {
  constexpr int kChunks = 1024;
  constexpr size_t kChunkSize = 64 * 1024;  // 64 MiB in all: far more than socket buffers
  std::atomic<int> delivered{0};
  std::atomic<size_t> max_buffered{0};
  struct Producer {
    static void Next(std::shared_ptr<HttpResponseWriter> writer, int i, std::atomic<int>* delivered,
                     std::atomic<size_t>* max_buffered) {
      if (i == kChunks) {
        writer->End();
        return;
      }
      writer->Write(std::string(kChunkSize, static_cast<char>('a' + i % 26)),
                    [writer, i, delivered, max_buffered](bool ok) {
                      if (!ok) return;
                      delivered->fetch_add(1);
                      Next(writer, i + 1, delivered, max_buffered);
                    });
      size_t b = writer->buffered_bytes();
      if (b > max_buffered->load()) max_buffered->store(b);
    }
  };
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {});
    Producer::Next(writer, 0, &delivered, &max_buffered);
  });
  RawSocket s(server->port(), absl::Seconds(20));
  s.SetReceiveBuffer(64 * 1024);
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  // Wait until production stalls: no progress for 300 ms.
  int last = -1;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int now = delivered.load();
    if (now == last && now > 0) break;
    last = now;
    absl::SleepFor(absl::Milliseconds(300));
  }
  int stalled_at = delivered.load();
  EXPECT_GT(stalled_at, 0);
  EXPECT_LT(stalled_at, kChunks / 4) << "the server kept producing while the client did not read";
  EXPECT_LE(max_buffered.load(), kChunkSize + 64);
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body.size(), kChunks * kChunkSize);
  EXPECT_EQ(delivered.load(), kChunks);
  EXPECT_EQ(r->body[kChunkSize * 27], 'b');
}

struct DisconnectProbe {
  absl::Notification handled;
  absl::Notification disconnected;
  std::shared_ptr<HttpResponseWriter> writer;
};

TEST(HttpServerTest, ClientDisconnectDuringAsyncHandlerIsReported) {
  DisconnectProbe probe;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->OnDisconnect([&probe] { probe.disconnected.Notify(); });
    probe.writer = writer;  // answers never: waits for an "upstream"
    probe.handled.Notify();
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"));
  ASSERT_TRUE(probe.handled.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_FALSE(probe.writer->disconnected());
  s.Close();
  ASSERT_TRUE(probe.disconnected.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_TRUE(probe.writer->disconnected());
  EXPECT_EQ(server->stats().disconnects, 1u);
  // A late answer is harmless, and a callback registered now runs at once.
  absl::Notification late;
  probe.writer->Respond(HttpResponse::Text(200, "late"));
  probe.writer->OnDisconnect([&late] { late.Notify(); });
  EXPECT_TRUE(late.WaitForNotificationWithTimeout(absl::Seconds(5)));
  probe.writer.reset();
}

TEST(HttpServerTest, ClientResetDuringStreamIsReportedAndWritesFail) {
  DisconnectProbe probe;
  absl::Notification write_failed;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->OnDisconnect([&probe] { probe.disconnected.Notify(); });
    writer->StartStream(200, {});
    writer->Write("first");
    probe.writer = writer;
    probe.handled.Notify();
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(probe.handled.WaitForNotificationWithTimeout(absl::Seconds(5)));
  std::string received;
  while (received.find("first") == std::string::npos) {
    auto piece = s.RecvSome();
    ASSERT_TRUE(piece.has_value() && !piece->empty());
    received += *piece;
  }
  s.Reset();
  ASSERT_TRUE(probe.disconnected.WaitForNotificationWithTimeout(absl::Seconds(5)));
  probe.writer->Write("more", [&write_failed](bool ok) {
    if (!ok) write_failed.Notify();
  });
  EXPECT_TRUE(write_failed.WaitForNotificationWithTimeout(absl::Seconds(5)));
  probe.writer.reset();
}

TEST(HttpServerTest, CompletedResponseNeverReportsDisconnect) {
  std::atomic<bool> called{false};
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->OnDisconnect([&called] { called = true; });
    writer->Respond(HttpResponse::Text(200, "ok"));
  });
  {
    RawSocket s(server->port());
    ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_TRUE(s.ReadResponse().has_value());
  }
  server->Shutdown(absl::Seconds(5));
  EXPECT_FALSE(called.load());
  EXPECT_EQ(server->stats().disconnects, 0u);
}

// A writer call made on the connection's loop waits in that thread's queue until the running
// handler returns, so a call made meanwhile from another thread could overtake it. Here the
// loop answers, then another thread drops the last reference to the writer while the loop
// is still busy: the answer must still win over the "dropped without an answer" 500.
TEST(HttpServerTest, WriterCallsRunInTheOrderTheyWereMadeWhateverTheThread) {
  std::mutex mu;
  std::shared_ptr<HttpResponseWriter> held;
  absl::Notification handled;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    std::lock_guard<std::mutex> lock(mu);
    held = std::move(writer);
    handled.Notify();
  });
  RawSocket client(server->port());
  ASSERT_TRUE(client.Send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  handled.WaitForNotification();
  std::shared_ptr<HttpResponseWriter> writer;
  {
    std::lock_guard<std::mutex> lock(mu);
    writer = std::move(held);
  }
  absl::Notification done;
  absl::AnyInvocable<void()> on_loop = [&] {
    writer->Respond(HttpResponse::Text(200, "answered"));
    std::thread([w = std::move(writer)]() mutable { w.reset(); }).join();
    done.Notify();
  };
  ASSERT_TRUE(writer->loop()->Post(std::move(on_loop)));
  done.WaitForNotification();
  auto response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "answered");
}

TEST(HttpServerTest, HandlerThatDropsTheWriterGets500) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter>) {});
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("no response"), std::string::npos);
}

TEST(HttpServerTest, HandlerExceptionGets500) {
  auto server = StartServer(
      [](HttpRequest, std::shared_ptr<HttpResponseWriter>) { throw std::runtime_error("boom"); });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("boom"), std::string::npos);
}

TEST(HttpServerTest, AbandonedStreamIsTruncatedNotCompleted) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {});
    writer->Write("partial");
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_FALSE(s.ReadResponse().has_value());  // no terminating chunk
}

TEST(HttpServerTest, AbortResetsTheConnection) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {{"Content-Length", "100"}});
    writer->Write("0123456789", [writer](bool) { writer->Abort(); });
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_FALSE(s.ReadResponse().has_value());
  EXPECT_EQ(server->stats().disconnects, 0u);  // an abort is the handler's choice
}

TEST(HttpServerTest, AfterRunsAndIsCancelledByClose) {
  absl::Notification ran;
  absl::Notification cancelled;
  auto server = StartServer([&](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
    if (request.path == "/run") {
      writer->After(absl::Milliseconds(10), [&ran, writer](bool c) {
        if (!c) ran.Notify();
        writer->Respond(HttpResponse::Text(200, "ok"));
      });
    } else {
      writer->After(absl::Hours(1), [&cancelled](bool c) {
        if (c) cancelled.Notify();
      });
    }
  });
  RawSocket a(server->port());
  ASSERT_TRUE(a.Send("GET /run HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_TRUE(a.ReadResponse().has_value());
  EXPECT_TRUE(ran.HasBeenNotified());
  RawSocket b(server->port());
  ASSERT_TRUE(b.Send("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n"));
  b.Close();
  EXPECT_TRUE(cancelled.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST(HttpServerTest, GracefulShutdownFinishesInFlightAndRefusesNewConnections) {
  DisconnectProbe probe;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    probe.writer = writer;
    probe.handled.Notify();
  });
  int port = server->port();
  RawSocket busy(port);
  RawSocket idle(port);
  ASSERT_TRUE(busy.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(probe.handled.WaitForNotificationWithTimeout(absl::Seconds(5)));
  std::atomic<bool> shutdown_returned{false};
  std::thread stopper([&] {
    server->Shutdown(absl::Seconds(10));
    shutdown_returned = true;
  });
  EXPECT_TRUE(idle.WaitForClose());  // idle connections go at once
  // The listener is closed: new connections are refused.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  bool refused = false;
  while (!refused && absl::Now() < deadline) {
    RawSocket late(port);
    refused = !late.connected();
    if (!refused) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(refused);
  EXPECT_FALSE(shutdown_returned.load());
  probe.writer->Respond(HttpResponse::Text(200, "finished"));
  probe.writer.reset();
  auto r = busy.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "finished");
  EXPECT_EQ(r->headers.GetOr("connection", ""), "close");
  stopper.join();
  EXPECT_TRUE(shutdown_returned.load());
}

TEST(HttpServerTest, ShutdownAfterGraceClosesStuckExchanges) {
  DisconnectProbe probe;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->OnDisconnect([&probe] { probe.disconnected.Notify(); });
    probe.writer = writer;
    probe.handled.Notify();
  });
  RawSocket s(server->port());
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(probe.handled.WaitForNotificationWithTimeout(absl::Seconds(5)));
  server->Shutdown(absl::Milliseconds(50));
  EXPECT_TRUE(probe.disconnected.HasBeenNotified());
  EXPECT_TRUE(s.WaitForClose());
  // Calls after the server stopped are harmless.
  bool done_called = false;
  probe.writer->Write("x", [&done_called](bool ok) { done_called = !ok; });
  EXPECT_TRUE(done_called);
  probe.writer.reset();
  server.reset();
}

TEST(HttpServerTest, ManyConcurrentConnections) {
  auto server = StartServer(Echo);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      RawSocket s(server->port());
      for (int i = 0; i < 20; ++i) {
        if (!s.Send(Cat("GET /", t, "/", i, " HTTP/1.1\r\nHost: h\r\n\r\n"))) return;
        auto r = s.ReadResponse();
        if (r.has_value() && r->body == Cat("GET /", t, "/", i, "?|-|")) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_EQ(server->stats().connections_accepted, 8u);
}

TEST(HttpServerTest, StartErrors) {
  auto bad = HttpServer::Start({.listen = "127.0.0.1"}, Echo);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("has no port"), absl::string_view::npos);
  auto first = HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1}, Echo);
  ASSERT_TRUE(first.ok());
  auto taken =
      HttpServer::Start({.listen = Cat("127.0.0.1:", (*first)->port()), .io_threads = 1}, Echo);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  auto tls = HttpServer::Start(
      {.listen = "127.0.0.1:0", .tls_cert_file = "/nonexistent.pem", .tls_key_file = "/k.pem"},
      Echo);
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("/nonexistent.pem"), absl::string_view::npos);
}

TEST(ParseHostPortTest, Forms) {
  auto a = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseHostPort("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  auto c = ParseHostPort(":9000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_FALSE(ParseHostPort("host:99999").ok());
  EXPECT_FALSE(ParseHostPort("::1:80").ok());
  EXPECT_FALSE(ParseHostPort("host:").ok());
}

}  // namespace
}  // namespace genops::gateway
