// gzip and the libcurl HttpTransport, against the loopback FakeCollector.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "src/export/gzip.h"
#include "src/export/http_transport.h"
#include "tests/support/fake_collector.h"

namespace genops::exporter {
namespace {

using ::testing::HasSubstr;

TEST(GzipTest, RoundTripsAndCompresses) {
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "genops.cost.total=0.00425;";
  auto compressed = GzipCompress(data);
  ASSERT_TRUE(compressed.ok()) << compressed.status();
  EXPECT_LT(compressed->size(), data.size() / 10);
  EXPECT_EQ(static_cast<unsigned char>((*compressed)[0]), 0x1f);  // gzip magic
  auto plain = GzipDecompress(*compressed);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, data);

  auto empty = GzipCompress("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(GzipDecompress(*empty).value_or("x"), "");
}

TEST(GzipTest, RejectsCorruptTruncatedAndOversizedInput) {
  auto compressed = GzipCompress(std::string(100000, 'a'));
  ASSERT_TRUE(compressed.ok());
  EXPECT_EQ(GzipDecompress("not gzip at all").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(compressed->substr(0, compressed->size() / 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(*compressed, 1000).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(GzipCompress("x", 0).ok());
}

TEST(CurlHttpTransportTest, PostsAndReturnsStatusHeadersAndBody) {
  genops::testing::FakeCollector server;
  genops::testing::ScriptedResponse slow_down;
  slow_down.status = 429;
  slow_down.retry_after = "7";
  slow_down.body = "slow down";
  slow_down.content_type = "text/plain";
  server.Enqueue(slow_down);
  auto transport = MakeCurlHttpTransport();
  HttpRequest request;
  request.url = server.base_url() + "/hooks/alert";
  request.headers = {{"Content-Type", "application/json"}, {"X-Custom", "a b"}};
  request.body = R"({"alert":"budget"})";
  request.timeout = std::chrono::seconds(10);
  const HttpResponse response = transport->Post(request);
  EXPECT_TRUE(response.transport_error.empty()) << response.transport_error;
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.Header("Retry-After").value_or(""), "7");
  EXPECT_EQ(response.Header("content-type").value_or(""), "text/plain");
  EXPECT_EQ(response.body, "slow down");
  EXPECT_FALSE(response.ok());

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/hooks/alert");
  EXPECT_EQ(requests[0].body, R"({"alert":"budget"})");
  EXPECT_EQ(requests[0].Header("x-custom"), "a b");
  EXPECT_EQ(requests[0].Header("expect"), "");  // no 100-continue round trip

  // Second call reuses the pooled handle and gets the default 200.
  EXPECT_TRUE(transport->Post(request).ok());
}

TEST(CurlHttpTransportTest, ConnectionRefusedIsATransportError) {
  std::string url;
  {
    genops::testing::FakeCollector server;
    url = server.traces_url();
  }  // stopped: nothing listens on the port now
  auto transport = MakeCurlHttpTransport();
  HttpRequest request;
  request.url = url;
  request.timeout = std::chrono::seconds(5);
  const HttpResponse response = transport->Post(request);
  EXPECT_EQ(response.status, 0);
  EXPECT_THAT(response.transport_error, HasSubstr("onnect"));
  EXPECT_THAT(response.transport_error, HasSubstr(url));
}

TEST(CurlHttpTransportTest, TimeoutIsATransportError) {
  genops::testing::FakeCollector server;
  genops::testing::ScriptedResponse slow;
  slow.delay = std::chrono::milliseconds(1500);
  server.Enqueue(slow);
  auto transport = MakeCurlHttpTransport();
  HttpRequest request;
  request.url = server.traces_url();
  request.timeout = std::chrono::milliseconds(200);
  const HttpResponse response = transport->Post(request);
  EXPECT_EQ(response.status, 0);
  EXPECT_THAT(response.transport_error, HasSubstr("imeout"));
}

TEST(CurlHttpTransportTest, RejectsNonHttpSchemes) {
  auto transport = MakeCurlHttpTransport();
  HttpRequest request;
  request.url = "file:///etc/passwd";
  const HttpResponse response = transport->Post(request);
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.transport_error.empty());
}

TEST(CurlHttpTransportTest, ConcurrentPostsAreSafe) {
  genops::testing::FakeCollector server;
  auto transport = MakeCurlHttpTransport();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        HttpRequest request;
        request.url = server.traces_url();
        request.body = "x";
        if (transport->Post(request).ok()) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(server.request_count(), 40u);
}

}  // namespace
}  // namespace genops::exporter
