#include "tests/support/fake_collector.h"

// Debian's libcpp-httplib is a compiled library built with these options; the header's class
// layouts depend on them, so every translation unit must agree with the library.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace genops::testing {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string RecordedRequest::Header(std::string_view name) const {
  const std::string wanted = Lower(name);
  for (const auto& [key, value] : headers) {
    if (key == wanted) return value;
  }
  return "";
}

struct FakeCollector::State {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  bool stopped = false;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::deque<ScriptedResponse> queue;
  ScriptedResponse default_response;
  std::vector<RecordedRequest> recorded;
};

FakeCollector::FakeCollector() : state_(std::make_unique<State>()) {
  State* state = state_.get();
  state->server.Post(".*", [state](const httplib::Request& req, httplib::Response& res) {
    RecordedRequest record;
    record.method = req.method;
    record.path = req.path;
    for (const auto& [key, value] : req.headers) record.headers.emplace_back(Lower(key), value);
    record.body = req.body;
    ScriptedResponse response;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->queue.empty()) {
        response = state->default_response;
      } else {
        response = std::move(state->queue.front());
        state->queue.pop_front();
      }
      state->recorded.push_back(std::move(record));
    }
    state->cv.notify_all();
    if (response.delay.count() > 0) std::this_thread::sleep_for(response.delay);
    res.status = response.status;
    if (!response.retry_after.empty()) res.set_header("Retry-After", response.retry_after);
    for (const auto& [key, value] : response.headers) res.set_header(key, value);
    res.set_content(response.body, response.content_type);
  });
  state->port = state->server.bind_to_any_port("127.0.0.1");
  if (state->port <= 0) {
    std::fprintf(stderr, "FakeCollector: cannot bind a loopback port\n");
    std::abort();
  }
  state->thread = std::thread([state] { state->server.listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs, so Stop() right after construction
  // would leave join() waiting forever. httplib offers no notification; poll its flag (this
  // takes microseconds). Connections made earlier already queue in the listen backlog.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!state->server.is_running()) {
    if (std::chrono::steady_clock::now() > give_up) {
      std::fprintf(stderr, "FakeCollector: server thread did not start\n");
      std::abort();
    }
    std::this_thread::yield();
  }
}

FakeCollector::~FakeCollector() { Stop(); }

void FakeCollector::Stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

int FakeCollector::port() const { return state_->port; }

std::string FakeCollector::base_url() const {
  return "http://127.0.0.1:" + std::to_string(state_->port);
}

std::string FakeCollector::traces_url() const { return base_url() + "/v1/traces"; }

void FakeCollector::Enqueue(ScriptedResponse response) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->queue.push_back(std::move(response));
}

void FakeCollector::SetDefaultResponse(ScriptedResponse response) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->default_response = std::move(response);
}

std::vector<RecordedRequest> FakeCollector::requests() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->recorded;
}

size_t FakeCollector::request_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->recorded.size();
}

bool FakeCollector::WaitForRequests(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->recorded.size() >= count; });
}

void FakeCollector::ClearRequests() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->recorded.clear();
}

}  // namespace genops::testing
