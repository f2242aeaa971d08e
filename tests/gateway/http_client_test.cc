#include "src/gateway/http_client.h"

#include <gtest/gtest.h>
#include <netdb.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "src/gateway/http_server.h"
#include "tests/gateway/test_util.h"

namespace genops::gateway {
namespace {

using testing::RawSocket;
using testing::TempDir;

// --- Helpers -------------------------------------------------------------------------------

std::unique_ptr<HttpServer> StartServer(HttpHandler handler, HttpServerOptions options = {}) {
  options.io_threads = 2;
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<HttpClient> MakeClient(HttpClientOptions options = {}) {
  if (!options.proxy.has_value()) options.proxy = ProxySettings{};  // ignore the real env
  auto client = HttpClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

void Echo(HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
  HttpResponse r = HttpResponse::Text(
      200, Cat(request.method, " ", request.target, "|", request.headers.GetOr("host", "-"), "|",
               request.headers.GetOr("user-agent", "-"), "|", request.headers.GetOr("x-test", "-"),
               "|", request.body));
  r.headers.Add("X-Reply", "1");
  writer->Respond(std::move(r));
}

HttpErrorInfo InfoOf(const absl::Status& s) {
  auto info = GetHttpErrorInfo(s);
  EXPECT_TRUE(info.has_value()) << s;
  return info.value_or(HttpErrorInfo{});
}

// Reads a whole streamed body through ReadBody, blocking the test thread.
struct BodyResult {
  absl::Status status;
  std::vector<std::string> pieces;
  std::string Joined() const {
    std::string out;
    for (const auto& p : pieces) out += p;
    return out;
  }
};

absl::StatusOr<HttpResponseHead> ReadHeadSync(HttpClientCall& call) {
  std::promise<absl::StatusOr<HttpResponseHead>> p;
  call.ReadHead([&p](absl::StatusOr<HttpResponseHead> h) { p.set_value(std::move(h)); });
  return p.get_future().get();
}

absl::StatusOr<std::string> ReadBodySync(HttpClientCall& call) {
  std::promise<absl::StatusOr<std::string>> p;
  call.ReadBody([&p](absl::StatusOr<std::string> b) { p.set_value(std::move(b)); });
  return p.get_future().get();
}

BodyResult ReadAllSync(HttpClientCall& call) {
  BodyResult result;
  while (true) {
    auto piece = ReadBodySync(call);
    if (!piece.ok()) {
      result.status = piece.status();
      return result;
    }
    if (piece->empty()) return result;
    result.pieces.push_back(*std::move(piece));
  }
}

// A TCP listener whose connections a test handles byte by byte (blocking, one thread each).
class RawListener {
 public:
  explicit RawListener(std::function<void(int fd)> on_connection)
      : on_connection_(std::move(on_connection)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        absl::MutexLock lock(&mu_);
        if (stopping_) {
          ::close(c);
          return;
        }
        fds_.push_back(c);
        workers_.emplace_back([this, c] { on_connection_(c); });
      }
    });
  }
  ~RawListener() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (int c : fds_) ::shutdown(c, SHUT_RDWR);
    }
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    for (auto& w : workers_) w.join();
    for (int c : fds_) ::close(c);
  }
  int port() const { return port_; }

  // Reads until the end of a request header; "" on EOF.
  static std::string ReadHeader(int fd) {
    std::string data;
    char buf[4096];
    while (data.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return "";
      data.append(buf, static_cast<size_t>(n));
    }
    return data;
  }

 private:
  std::function<void(int)> on_connection_;
  int fd_;
  int port_;
  std::thread acceptor_;
  absl::Mutex mu_;
  bool stopping_ = false;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

// Copies bytes both ways between two sockets until either side closes.
void Splice(int a, int b) {
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  char buf[65536];
  while (::poll(fds, 2, 10000) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      int to = i == 0 ? b : a;
      if (::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
    }
  }
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A forward proxy: CONNECT tunnels and absolute-form HTTP. It resolves every host name to
// 127.0.0.1 itself, so a request for "upstream.test" only works if it went through it.
class TestProxy {
 public:
  explicit TestProxy(int refuse_status = 0)
      : listener_([this, refuse_status](int fd) { Handle(fd, refuse_status); }) {}
  int port() const { return listener_.port(); }
  std::vector<std::string> request_heads() {
    absl::MutexLock lock(&mu_);
    return heads_;
  }

 private:
  void Handle(int fd, int refuse_status) {
    std::string head = RawListener::ReadHeader(fd);
    if (head.empty()) return;
    {
      absl::MutexLock lock(&mu_);
      heads_.push_back(head.substr(0, head.find("\r\n\r\n")));
    }
    if (refuse_status != 0) {
      std::string answer = Cat("HTTP/1.1 ", refuse_status, " Refused\r\nContent-Length: 0\r\n\r\n");
      ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      return;
    }
    std::string line = head.substr(0, head.find("\r\n"));
    std::string method = line.substr(0, line.find(' '));
    std::string target = line.substr(method.size() + 1, line.rfind(' ') - method.size() - 1);
    if (method == "CONNECT") {
      int upstream = ConnectLoopback(std::stoi(target.substr(target.rfind(':') + 1)));
      if (upstream < 0) return;
      std::string ok = "HTTP/1.1 200 Connection Established\r\n\r\n";
      ::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL);
      Splice(fd, upstream);
      ::close(upstream);
      return;
    }
    // Absolute form: http://host:port/path -> origin form to the upstream.
    std::string rest = target.substr(target.find("://") + 3);
    std::string authority = rest.substr(0, rest.find('/'));
    std::string path = rest.substr(authority.size());
    int upstream = ConnectLoopback(std::stoi(authority.substr(authority.rfind(':') + 1)));
    if (upstream < 0) return;
    std::string forwarded = Cat(method, " ", path, head.substr(line.rfind(' ')));
    ::send(upstream, forwarded.data(), forwarded.size(), MSG_NOSIGNAL);
    Splice(fd, upstream);
    ::close(upstream);
  }

  RawListener listener_;
  absl::Mutex mu_;
  std::vector<std::string> heads_;
};

// --- Basic exchanges and pooling -----------------------------------------------------------

TEST(HttpClientTest, GetAndPost) {
  auto server = StartServer(Echo);
  auto client = MakeClient();
  std::string base = Cat("http://127.0.0.1:", server->port());
  auto get = client->SendSync({.url = base + "/a?b=1#frag", .headers = {{"X-Test", "t"}}});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, Cat("GET /a?b=1|127.0.0.1:", server->port(), "|genops-gateway|t|"));
  EXPECT_EQ(get->headers.GetOr("x-reply", ""), "1");
  auto post = client->SendSync(
      {.method = "POST", .url = base + "/p", .headers = {{"User-Agent", "mine"}}, .body = "xyz"});
  ASSERT_TRUE(post.ok()) << post.status();
  EXPECT_EQ(post->body, Cat("POST /p|127.0.0.1:", server->port(), "|mine|-|xyz"));
}

TEST(HttpClientTest, SequentialRequestsReuseOneConnection) {
  auto server = StartServer(Echo);
  auto client = MakeClient();
  std::string url = Cat("http://127.0.0.1:", server->port(), "/");
  for (int i = 0; i < 5; ++i) {
    auto r = client->SendSync({.url = url});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->reused_connection, i > 0);
  }
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(client->stats().connections_opened, 1u);
  EXPECT_EQ(client->stats().connections_reused, 4u);
  EXPECT_EQ(client->stats().idle_connections, 1u);
}

// Answers only once `n` requests are waiting, so they overlap for certain.
HttpHandler AnswerInGroupsOf(size_t n, absl::Mutex* mu,
                             std::vector<std::shared_ptr<HttpResponseWriter>>* held) {
  return [=](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    absl::MutexLock lock(mu);
    held->push_back(writer);
    if (held->size() == n) {
      for (auto& w : *held) w->Respond(HttpResponse::Text(200, "ok"));
      held->clear();
    }
  };
}

void SendConcurrently(HttpClient& client, const std::string& url, int n) {
  std::vector<std::future<absl::StatusOr<HttpClientResponse>>> futures;
  for (int i = 0; i < n; ++i) {
    futures.push_back(
        std::async(std::launch::async, [&] { return client.SendSync({.url = url}); }));
  }
  for (auto& f : futures) EXPECT_TRUE(f.get().ok());
}

TEST(HttpClientTest, ConcurrentRequestsOpenConnectionsThatAreAllPooled) {
  absl::Mutex mu;
  std::vector<std::shared_ptr<HttpResponseWriter>> held;
  auto server = StartServer(AnswerInGroupsOf(3, &mu, &held));
  auto client = MakeClient();
  std::string url = Cat("http://127.0.0.1:", server->port(), "/");
  SendConcurrently(*client, url, 3);
  EXPECT_EQ(server->stats().connections_accepted, 3u);
  EXPECT_EQ(client->stats().idle_connections, 3u);
  SendConcurrently(*client, url, 3);  // the second round reuses all three
  EXPECT_EQ(server->stats().connections_accepted, 3u);
  EXPECT_EQ(client->stats().connections_reused, 3u);
}

TEST(HttpClientTest, IdleCapClosesExtraConnections) {
  absl::Mutex mu;
  std::vector<std::shared_ptr<HttpResponseWriter>> held;
  auto server = StartServer(AnswerInGroupsOf(3, &mu, &held));
  auto client = MakeClient({.max_idle_connections_per_host = 1});
  SendConcurrently(*client, Cat("http://127.0.0.1:", server->port(), "/"), 3);
  EXPECT_EQ(client->stats().idle_connections, 1u);
}

TEST(HttpClientTest, ConnectionCloseIsNotPooled) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    HttpResponse r = HttpResponse::Text(200, "bye");
    r.headers.Add("Connection", "close");
    writer->Respond(std::move(r));
  });
  auto client = MakeClient();
  std::string url = Cat("http://127.0.0.1:", server->port(), "/");
  ASSERT_TRUE(client->SendSync({.url = url}).ok());
  EXPECT_EQ(client->stats().idle_connections, 0u);
  auto second = client->SendSync({.url = url});
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->reused_connection);
  EXPECT_EQ(server->stats().connections_accepted, 2u);
}

TEST(HttpClientTest, ConnectionClosedByTheServerWhileIdleIsNotUsed) {
  auto server = StartServer(Echo, {.idle_timeout = absl::Milliseconds(50)});
  auto client = MakeClient();
  std::string url = Cat("http://127.0.0.1:", server->port(), "/");
  ASSERT_TRUE(client->SendSync({.url = url}).ok());
  // Wait until the server dropped the idle connection.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server->stats().connections_open > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(server->stats().connections_open, 0u);
  auto r = client->SendSync({.method = "POST", .url = url, .body = "once"});
  ASSERT_TRUE(r.ok()) << r.status();  // detected before sending: a POST is safe too
  EXPECT_FALSE(r->reused_connection);
  EXPECT_EQ(server->stats().requests, 2u);
}

TEST(HttpClientTest, PooledConnectionIdleTooLongIsNotReused) {
  ManualClock clock;
  auto server = StartServer(Echo);
  auto client = MakeClient({.pool_idle_timeout = absl::Seconds(30), .clock = &clock});
  std::string url = Cat("http://127.0.0.1:", server->port(), "/");
  ASSERT_TRUE(client->SendSync({.url = url}).ok());
  clock.Advance(29 * kNanosPerSecond);
  auto second = client->SendSync({.url = url});
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->reused_connection);
  clock.Advance(31 * kNanosPerSecond);
  auto third = client->SendSync({.url = url});
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->reused_connection);
}

TEST(HttpClientTest, HeadAndNoContentResponses) {
  auto server = StartServer([](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
    writer->Respond(request.path == "/204" ? HttpResponse::Text(204, "")
                                           : HttpResponse::Text(200, "body"));
  });
  auto client = MakeClient();
  std::string base = Cat("http://127.0.0.1:", server->port());
  auto head = client->SendSync({.method = "HEAD", .url = base + "/"});
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(head->headers.GetOr("content-length", ""), "4");
  auto none = client->SendSync({.url = base + "/204"});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 204);
  auto after = client->SendSync({.url = base + "/"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->body, "body");
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

// --- Streaming -----------------------------------------------------------------------------

TEST(HttpClientTest, StreamsTheBodyPieceByPiece) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {{"Content-Type", "text/event-stream"}});
    struct Step {
      static void Run(std::shared_ptr<HttpResponseWriter> w, int i) {
        if (i == 5) {
          w->End();
          return;
        }
        w->Write(Cat("data: ", i, "\n\n"));
        w->After(absl::Milliseconds(10), [w, i](bool) { Run(w, i + 1); });
      }
    };
    Step::Run(writer, 0);
  });
  auto client = MakeClient();
  auto call = client->Open({.url = Cat("http://127.0.0.1:", server->port(), "/s")});
  auto head = ReadHeadSync(*call);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers.GetOr("content-type", ""), "text/event-stream");
  BodyResult body = ReadAllSync(*call);
  ASSERT_TRUE(body.status.ok()) << body.status;
  EXPECT_EQ(body.Joined(), "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
  EXPECT_GE(body.pieces.size(), 3u);  // delivered as it came, not all at the end
  auto again = ReadBodySync(*call);   // after the end: "" again
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "");
  EXPECT_EQ(client->stats().idle_connections, 1u);
}

TEST(HttpClientTest, BodyIsReadOnlyAsFastAsTheCallerAsks) {
  constexpr int kChunks = 512;
  constexpr size_t kChunkSize = 64 * 1024;
  std::atomic<int> delivered{0};
  struct Producer {
    static void Next(std::shared_ptr<HttpResponseWriter> w, int i, std::atomic<int>* delivered) {
      if (i == kChunks) {
        w->End();
        return;
      }
      w->Write(std::string(kChunkSize, 'z'), [w, i, delivered](bool ok) {
        if (!ok) return;
        delivered->fetch_add(1);
        Next(w, i + 1, delivered);
      });
    }
  };
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {});
    Producer::Next(writer, 0, &delivered);
  });
  auto client = MakeClient();
  auto call = client->Open({.url = Cat("http://127.0.0.1:", server->port(), "/big")});
  ASSERT_TRUE(ReadHeadSync(*call).ok());
  int last = -1;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int now = delivered.load();
    if (now == last) break;
    last = now;
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_LT(delivered.load(), kChunks / 4) << "the client read without being asked";
  BodyResult body = ReadAllSync(*call);
  ASSERT_TRUE(body.status.ok()) << body.status;
  EXPECT_EQ(body.Joined().size(), kChunks * kChunkSize);
}

TEST(HttpClientTest, CancelClosesTheConnectionAndTheServerSeesIt) {
  absl::Notification server_saw_disconnect;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->OnDisconnect([&] { server_saw_disconnect.Notify(); });
    writer->StartStream(200, {});
    writer->Write("first");
    writer->After(absl::Hours(1), [writer](bool) {});  // never ends by itself
  });
  auto client = MakeClient();
  auto call = client->Open({.url = Cat("http://127.0.0.1:", server->port(), "/")});
  ASSERT_TRUE(ReadHeadSync(*call).ok());
  auto first = ReadBodySync(*call);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "first");
  std::promise<absl::Status> pending;
  call->ReadBody([&](absl::StatusOr<std::string> b) { pending.set_value(b.status()); });
  call->Cancel();
  absl::Status status = pending.get_future().get();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(InfoOf(status).kind, HttpErrorKind::kCancelled);
  EXPECT_TRUE(server_saw_disconnect.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(client->stats().idle_connections, 0u);
}

TEST(HttpClientTest, DroppingAnOpenCallCancelsIt) {
  absl::Notification server_saw_disconnect;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->OnDisconnect([&] { server_saw_disconnect.Notify(); });
    writer->StartStream(200, {});
    writer->Write("x");
    writer->After(absl::Hours(1), [writer](bool) {});
  });
  auto client = MakeClient();
  {
    auto call = client->Open({.url = Cat("http://127.0.0.1:", server->port(), "/")});
    ASSERT_TRUE(ReadHeadSync(*call).ok());
  }
  EXPECT_TRUE(server_saw_disconnect.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST(HttpClientTest, SendBodyLimit) {
  auto server = StartServer([](HttpRequest request, std::shared_ptr<HttpResponseWriter> writer) {
    size_t size = request.path == "/small" ? 1000 : 2000;
    if (request.query == "chunked") {
      writer->StartStream(200, {});
      writer->Write(std::string(size / 2, 'b'));
      writer->Write(std::string(size / 2, 'b'));
      writer->End();
    } else {
      writer->Respond(HttpResponse::Text(200, std::string(size, 'b')));
    }
  });
  auto client = MakeClient({.max_response_body_bytes = 1000});
  std::string base = Cat("http://127.0.0.1:", server->port());
  for (std::string query : {"", "?chunked"}) {
    auto r = client->SendSync({.url = base + "/big" + query});
    ASSERT_FALSE(r.ok()) << query;
    EXPECT_EQ(InfoOf(r.status()).kind, HttpErrorKind::kProtocol);
    EXPECT_NE(r.status().message().find("exceeds 1000 bytes"), absl::string_view::npos);
    auto ok = client->SendSync({.url = base + "/small" + query});
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->body.size(), 1000u);
  }
}

// --- Errors and timeouts -------------------------------------------------------------------

TEST(HttpClientTest, ConnectRefused) {
  int port;
  {
    auto server = StartServer(Echo);
    port = server->port();
  }
  auto client = MakeClient();
  auto r = client->SendSync({.url = Cat("http://127.0.0.1:", port, "/")});
  ASSERT_FALSE(r.ok());
  HttpErrorInfo info = InfoOf(r.status());
  EXPECT_EQ(info.kind, HttpErrorKind::kConnectFailed);
  EXPECT_TRUE(info.RetrySafe());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpClientTest, InvalidRequests) {
  auto client = MakeClient();
  for (const char* url : {"ftp://x/", "no-scheme", "http://user:pw@host/", "http://host:0/",
                          "http:///path", "http://host/a b"}) {
    auto r = client->SendSync({.url = url});
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(InfoOf(r.status()).kind, HttpErrorKind::kInvalidRequest) << url;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto bad_header =
      client->SendSync({.url = "http://127.0.0.1:1/", .headers = {{"X-A", "v\r\nInjected: 1"}}});
  EXPECT_EQ(InfoOf(bad_header.status()).kind, HttpErrorKind::kInvalidRequest);
}

TEST(HttpClientTest, ResponseTimeout) {
  std::shared_ptr<HttpResponseWriter> held;
  auto server = StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    held = writer;  // never answers
  });
  auto client = MakeClient({.response_timeout = absl::Milliseconds(100)});
  absl::Time start = absl::Now();
  auto r = client->SendSync(
      {.method = "POST", .url = Cat("http://127.0.0.1:", server->port(), "/"), .body = "b"});
  ASSERT_FALSE(r.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  HttpErrorInfo info = InfoOf(r.status());
  EXPECT_EQ(info.kind, HttpErrorKind::kTimeout);
  EXPECT_TRUE(info.request_sent);
  EXPECT_FALSE(info.RetrySafe());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  server->Shutdown(absl::ZeroDuration());
  held.reset();
}

TEST(HttpClientTest, ReadTimeoutWhileTheBodyStalls) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {});
    writer->Write("one");
    writer->After(absl::Hours(1), [writer](bool) {});
  });
  auto client = MakeClient({.read_timeout = absl::Milliseconds(100)});
  auto call = client->Open({.url = Cat("http://127.0.0.1:", server->port(), "/")});
  ASSERT_TRUE(ReadHeadSync(*call).ok());
  BodyResult body = ReadAllSync(*call);
  EXPECT_EQ(body.Joined(), "one");
  EXPECT_EQ(InfoOf(body.status).kind, HttpErrorKind::kTimeout);
  EXPECT_TRUE(InfoOf(body.status).response_started);
}

TEST(HttpClientTest, TotalTimeoutBoundsAStreamThatKeepsGoing) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {});
    struct Tick {
      static void Run(std::shared_ptr<HttpResponseWriter> w) {
        w->Write("t");
        w->After(absl::Milliseconds(10), [w](bool cancelled) {
          if (!cancelled) Run(w);
        });
      }
    };
    Tick::Run(writer);
  });
  auto client = MakeClient();
  auto call = client->Open({.url = Cat("http://127.0.0.1:", server->port(), "/"),
                            .total_timeout = absl::Milliseconds(200)});
  ASSERT_TRUE(ReadHeadSync(*call).ok());
  BodyResult body = ReadAllSync(*call);
  EXPECT_EQ(InfoOf(body.status).kind, HttpErrorKind::kTimeout);
  EXPECT_GT(body.pieces.size(), 1u);
}

TEST(HttpClientTest, ConnectTimeoutWhenTheTlsHandshakeHangs) {
  // Accepts TCP and then says nothing: the handshake never finishes.
  absl::Notification release;
  RawListener silent([&](int) { release.WaitForNotificationWithTimeout(absl::Seconds(10)); });
  auto client = MakeClient({.connect_timeout = absl::Milliseconds(100)});
  auto r = client->SendSync({.url = Cat("https://127.0.0.1:", silent.port(), "/")});
  release.Notify();
  ASSERT_FALSE(r.ok());
  HttpErrorInfo info = InfoOf(r.status());
  EXPECT_EQ(info.kind, HttpErrorKind::kTimeout);
  EXPECT_FALSE(info.request_sent);
  EXPECT_TRUE(info.RetrySafe());
}

TEST(HttpClientTest, ResetMidBody) {
  auto server = StartServer([](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) {
    writer->StartStream(200, {{"Content-Length", "1000"}});
    writer->Write(std::string(100, 'p'), [writer](bool) { writer->Abort(); });
  });
  auto client = MakeClient();
  auto r = client->SendSync(
      {.method = "POST", .url = Cat("http://127.0.0.1:", server->port(), "/"), .body = "x"});
  ASSERT_FALSE(r.ok());
  HttpErrorInfo info = InfoOf(r.status());
  EXPECT_EQ(info.kind, HttpErrorKind::kConnectionReset);
  EXPECT_TRUE(info.request_sent);
  EXPECT_FALSE(info.RetrySafe());
}

TEST(HttpClientTest, GarbageIsAProtocolError) {
  RawListener garbage([](int fd) {
    if (RawListener::ReadHeader(fd).empty()) return;
    std::string junk = "SMTP READY\r\n\r\n";
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  });
  auto client = MakeClient();
  auto r = client->SendSync({.url = Cat("http://127.0.0.1:", garbage.port(), "/")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(InfoOf(r.status()).kind, HttpErrorKind::kProtocol);
  EXPECT_TRUE(InfoOf(r.status()).response_started);
}

TEST(HttpClientTest, BodyUntilCloseAndInterimResponses) {
  RawListener old_style([](int fd) {
    if (RawListener::ReadHeader(fd).empty()) return;
    std::string answer =
        "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
  });
  auto client = MakeClient();
  auto r = client->SendSync({.url = Cat("http://127.0.0.1:", old_style.port(), "/")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "until the end");
  EXPECT_EQ(client->stats().idle_connections, 0u);
}

TEST(HttpClientTest, ErrorInfoIsOnlyOnClientErrors) {
  EXPECT_FALSE(GetHttpErrorInfo(absl::UnavailableError("other")).has_value());
  EXPECT_EQ(HttpErrorKindName(HttpErrorKind::kConnectionReset), "connection_reset");
}

// --- TLS -----------------------------------------------------------------------------------

class HttpClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs =
        testing::MakeTestCerts(dir_.path(), "DNS:localhost,DNS:upstream.test,IP:127.0.0.1");
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    server_ =
        StartServer(Echo, {.tls_cert_file = certs_.server_cert, .tls_key_file = certs_.server_key});
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(server_->tls());
  }

  TempDir dir_;
  testing::TestCerts certs_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpClientTlsTest, VerifiedByTheTestCaByNameAndByAddress) {
  auto client = MakeClient({.use_system_ca = false, .ca_file = certs_.ca_cert});
  for (std::string host : {"localhost", "127.0.0.1"}) {
    auto r = client->SendSync({.url = Cat("https://", host, ":", server_->port(), "/t")});
    ASSERT_TRUE(r.ok()) << host << ": " << r.status();
    EXPECT_EQ(r->body, Cat("GET /t|", host, ":", server_->port(), "|genops-gateway|-|"));
  }
  auto again = client->SendSync({.url = Cat("https://localhost:", server_->port(), "/t")});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->reused_connection);  // TLS connections are pooled too
}

TEST_F(HttpClientTlsTest, UnknownCaFails) {
  auto client = MakeClient();  // system CAs only
  auto r = client->SendSync({.url = Cat("https://localhost:", server_->port(), "/")});
  ASSERT_FALSE(r.ok());
  HttpErrorInfo info = InfoOf(r.status());
  EXPECT_EQ(info.kind, HttpErrorKind::kTls);
  EXPECT_FALSE(info.request_sent);
  EXPECT_NE(r.status().message().find("certificate verification failed"), absl::string_view::npos)
      << r.status();
  EXPECT_EQ(server_->stats().requests, 0u);
}

TEST_F(HttpClientTlsTest, HostNameMismatchFails) {
  auto other = testing::MakeTestCerts(dir_.path(), "DNS:other.example", "other");
  ASSERT_TRUE(other.ok());
  auto server =
      StartServer(Echo, {.tls_cert_file = other->server_cert, .tls_key_file = other->server_key});
  auto client = MakeClient({.use_system_ca = false, .ca_file = certs_.ca_cert});
  auto r = client->SendSync({.url = Cat("https://localhost:", server->port(), "/")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(InfoOf(r.status()).kind, HttpErrorKind::kTls);
  EXPECT_NE(r.status().message().find("hostname mismatch"), absl::string_view::npos) << r.status();
}

TEST_F(HttpClientTlsTest, VerificationCanBeTurnedOff) {
  auto client = MakeClient({.verify_peer = false});
  auto r = client->SendSync({.url = Cat("https://localhost:", server_->port(), "/")});
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(HttpClientTlsTest, PlainHttpToATlsServerFails) {
  auto client = MakeClient();
  auto r = client->SendSync({.url = Cat("http://127.0.0.1:", server_->port(), "/")});
  EXPECT_FALSE(r.ok());
}

TEST_F(HttpClientTlsTest, BadCaFileIsReportedAtCreate) {
  auto client = HttpClient::Create({.ca_file = dir_.path() + "/missing.pem"});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("missing.pem"), absl::string_view::npos);
}

// --- Proxies -------------------------------------------------------------------------------

TEST_F(HttpClientTlsTest, HttpsThroughAConnectProxy) {
  TestProxy proxy;
  auto client = MakeClient(
      {.use_system_ca = false,
       .ca_file = certs_.ca_cert,
       .proxy = ProxySettings{.https_proxy = Cat("http://user:p%40ss@127.0.0.1:", proxy.port())}});
  // "upstream.test" resolves nowhere but in the proxy: success proves the tunnel was used.
  std::string url = Cat("https://upstream.test:", server_->port(), "/via");
  auto r = client->SendSync({.url = url});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, Cat("GET /via|upstream.test:", server_->port(), "|genops-gateway|-|"));
  auto second = client->SendSync({.url = url});
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->reused_connection);
  auto heads = proxy.request_heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].substr(0, heads[0].find("\r\n")),
            Cat("CONNECT upstream.test:", server_->port(), " HTTP/1.1"));
  EXPECT_NE(heads[0].find("Proxy-Authorization: Basic dXNlcjpwQHNz"), std::string::npos)
      << heads[0];  // base64("user:p@ss")
}

TEST(HttpClientProxyTest, PlainHttpThroughAProxyUsesTheAbsoluteForm) {
  auto server = StartServer(Echo);
  TestProxy proxy;
  auto client = MakeClient({.proxy = ProxySettings{.http_proxy = Cat("127.0.0.1:", proxy.port())}});
  auto r = client->SendSync({.url = Cat("http://upstream.test:", server->port(), "/abs?q=1")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, Cat("GET /abs?q=1|upstream.test:", server->port(), "|genops-gateway|-|"));
  auto heads = proxy.request_heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].substr(0, heads[0].find("\r\n")),
            Cat("GET http://upstream.test:", server->port(), "/abs?q=1 HTTP/1.1"));
}

TEST(HttpClientProxyTest, RefusedConnectIsAConnectFailure) {
  TestProxy proxy(/*refuse_status=*/407);
  auto client =
      MakeClient({.proxy = ProxySettings{.https_proxy = Cat("http://127.0.0.1:", proxy.port())}});
  auto r = client->SendSync({.url = "https://upstream.test:443/"});
  ASSERT_FALSE(r.ok());
  HttpErrorInfo info = InfoOf(r.status());
  EXPECT_EQ(info.kind, HttpErrorKind::kConnectFailed);
  EXPECT_TRUE(info.RetrySafe());
  EXPECT_NE(r.status().message().find("407"), absl::string_view::npos) << r.status();
}

TEST(SelectProxyTest, ChoosesBySchemeAndHonoursNoProxy) {
  ProxySettings s{.http_proxy = "http://hp:3128",
                  .https_proxy = "http://u:p@sp:8080/",
                  .no_proxy = "internal.corp, .svc ,10.0.0.0/8,api.local:8443,[2001:db8::1]"};
  auto https = SelectProxy(s, "https", "api.openai.com", 443);
  ASSERT_TRUE(https.ok());
  ASSERT_TRUE(https->has_value());
  EXPECT_EQ((*https)->host, "sp");
  EXPECT_EQ((*https)->port, 8080);
  EXPECT_EQ((*https)->authorization, "Basic dTpw");
  auto http = SelectProxy(s, "http", "example.com", 80);
  ASSERT_TRUE(http.ok() && http->has_value());
  EXPECT_EQ((*http)->host, "hp");
  EXPECT_EQ((*http)->port, 3128);
  auto none = [&](std::string_view host, int port) {
    auto p = SelectProxy(s, "https", host, port);
    return p.ok() && !p->has_value();
  };
  EXPECT_TRUE(none("internal.corp", 443));
  EXPECT_TRUE(none("a.internal.corp", 443));
  EXPECT_FALSE(none("notinternal.corp", 443));
  EXPECT_TRUE(none("x.svc", 443));
  EXPECT_TRUE(none("10.1.2.3", 443));
  EXPECT_FALSE(none("11.1.2.3", 443));
  EXPECT_TRUE(none("api.local", 8443));
  EXPECT_FALSE(none("api.local", 443));
  EXPECT_TRUE(none("2001:db8::1", 443));
  // Loopback never goes through a proxy.
  EXPECT_TRUE(none("localhost", 443));
  EXPECT_TRUE(none("127.0.0.5", 443));
  EXPECT_TRUE(none("::1", 443));
  EXPECT_TRUE(none("foo.localhost", 443));
  ProxySettings star{.https_proxy = "sp:1", .no_proxy = "*"};
  auto all = SelectProxy(star, "https", "api.openai.com", 443);
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->has_value());
}

TEST(SelectProxyTest, BadProxyUrls) {
  auto https_proxy =
      SelectProxy({.https_proxy = "https://secure-proxy:443"}, "https", "a.com", 443);
  EXPECT_EQ(https_proxy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(https_proxy.status().message().find("HTTPS_PROXY"), absl::string_view::npos);
  EXPECT_FALSE(SelectProxy({.http_proxy = "http://host:notaport"}, "http", "a.com", 80).ok());
  auto client = HttpClient::Create({.proxy = ProxySettings{.https_proxy = "socks5://p:1080"}});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SelectProxyTest, ReadsTheEnvironmentLowercaseFirst) {
  MapEnvironment env{{"HTTPS_PROXY", "http://upper:1"},
                     {"https_proxy", "http://lower:2"},
                     {"HTTP_PROXY", "http://plain:3"},
                     {"NO_PROXY", "x.com"}};
  ProxySettings s = ProxySettings::FromEnvironment(env);
  EXPECT_EQ(s.https_proxy, "http://lower:2");
  EXPECT_EQ(s.http_proxy, "http://plain:3");
  EXPECT_EQ(s.no_proxy, "x.com");
}

TEST(HttpClientTest, DestroyingTheClientCancelsCallsInFlight) {
  std::shared_ptr<HttpResponseWriter> held;
  auto server =
      StartServer([&](HttpRequest, std::shared_ptr<HttpResponseWriter> writer) { held = writer; });
  auto client = MakeClient();
  std::promise<absl::Status> result;
  client->Send({.url = Cat("http://127.0.0.1:", server->port(), "/")},
               [&](absl::StatusOr<HttpClientResponse> r) { result.set_value(r.status()); });
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server->stats().requests == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  client.reset();
  absl::Status status = result.get_future().get();
  EXPECT_EQ(InfoOf(status).kind, HttpErrorKind::kCancelled);
  server->Shutdown(absl::ZeroDuration());
  held.reset();
}

}  // namespace
}  // namespace genops::gateway
