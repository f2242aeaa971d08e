// FakeCollector: a loopback HTTP server that stands in for an OTLP/HTTP collector (or any
// webhook receiver) in tests.
//
// It listens on 127.0.0.1 with an ephemeral port, records every POST it receives (path,
// headers, body after gzip decoding) and answers from a queue of scripted responses, falling
// back to 200 with an empty ExportTraceServiceResponse when the queue is empty. Tests wait for
// requests with WaitForRequests() (a condition variable), never with sleeps.
//
// Example:
//   genops::testing::FakeCollector collector;
//   ScriptedResponse unavailable;
//   unavailable.status = 503;
//   unavailable.retry_after = "1";
//   collector.Enqueue(unavailable);
//   options.endpoint = collector.traces_url();
//   ... export ...
//   ASSERT_TRUE(collector.WaitForRequests(2, std::chrono::seconds(5)));
//   EXPECT_EQ(collector.requests()[1].Header("content-encoding"), "gzip");
//
// Thread safety: thread-safe; the server runs on its own threads.
#ifndef GENOPS_TESTS_SUPPORT_FAKE_COLLECTOR_H_
#define GENOPS_TESTS_SUPPORT_FAKE_COLLECTOR_H_

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace genops::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  // Header names lower-cased; repeated headers keep every value in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body as the application sees it: gzip/deflate content encodings already removed
  // (the Content-Encoding header is still recorded).
  std::string body;

  // First value of header `name` (case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
};

struct ScriptedResponse {
  int status = 200;
  std::string retry_after;  // sent as Retry-After when non-empty
  std::string body;
  std::string content_type = "application/x-protobuf";
  std::map<std::string, std::string> headers;  // any further response headers
  // Holds the response back this long (server side) to exercise client timeouts.
  std::chrono::milliseconds delay{0};
};

class FakeCollector {
 public:
  // Starts listening immediately; aborts the test binary if no loopback port can be bound.
  FakeCollector();
  ~FakeCollector();
  FakeCollector(const FakeCollector&) = delete;
  FakeCollector& operator=(const FakeCollector&) = delete;

  int port() const;
  std::string base_url() const;    // "http://127.0.0.1:<port>"
  std::string traces_url() const;  // base_url() + "/v1/traces"

  // Queues the response for the next POST; responses are used in FIFO order.
  void Enqueue(ScriptedResponse response);
  // Response used whenever the queue is empty (default: 200, empty protobuf body).
  void SetDefaultResponse(ScriptedResponse response);

  std::vector<RecordedRequest> requests() const;
  size_t request_count() const;
  // Blocks until at least `count` requests were recorded or `timeout` passed.
  bool WaitForRequests(size_t count, std::chrono::milliseconds timeout) const;
  void ClearRequests();

  // Stops listening; later connections are refused. Idempotent; the destructor calls it.
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace genops::testing

#endif  // GENOPS_TESTS_SUPPORT_FAKE_COLLECTOR_H_
