#include "src/export/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "src/export/text_util.h"

namespace genops::exporter {

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (text::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

namespace {

// curl_global_init is not thread-safe and must run once before any handle exists.
void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct ReceiveState {
  HttpResponse* response;
  size_t max_body;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<ReceiveState*>(user);
  const size_t bytes = size * count;
  std::string& body = state->response->body;
  if (body.size() < state->max_body) {
    body.append(data, std::min(bytes, state->max_body - body.size()));
  }
  return bytes;  // keep reading (and discard) so the connection stays reusable
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<ReceiveState*>(user);
  const size_t bytes = size * count;
  std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    // A new status line (after 100 Continue or a proxy CONNECT): drop earlier headers.
    state->response->headers.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  std::string name = text::Lower(text::Trim(line.substr(0, colon)));
  std::string value(text::Trim(line.substr(colon + 1)));
  if (!name.empty()) state->response->headers.emplace_back(std::move(name), std::move(value));
  return bytes;
}

class CurlHttpTransport final : public HttpTransport {
 public:
  explicit CurlHttpTransport(CurlTransportOptions options) : options_(std::move(options)) {
    EnsureCurlGlobalInit();
  }

  ~CurlHttpTransport() override {
    for (CURL* handle : idle_) curl_easy_cleanup(handle);
  }

  HttpResponse Post(const HttpRequest& request) noexcept override {
    HttpResponse response;
    try {
      PostImpl(request, &response);
    } catch (const std::exception& e) {
      response.status = 0;
      response.transport_error = absl::StrCat("HTTP client error: ", e.what());
    }
    return response;
  }

 private:
  void PostImpl(const HttpRequest& request, HttpResponse* response) {
    CURL* handle = Acquire();
    if (handle == nullptr) {
      response->transport_error = "curl_easy_init failed";
      return;
    }
    curl_slist* headers = nullptr;
    for (const auto& [key, value] : request.headers) {
      headers = curl_slist_append(headers, absl::StrCat(key, ": ", value).c_str());
    }
    // Without this libcurl waits up to 1 s for "100 Continue" before sending large bodies.
    headers = curl_slist_append(headers, "Expect:");

    ReceiveState state{response, options_.max_response_bytes};
    char error[CURL_ERROR_SIZE] = {0};
    const long timeout_ms = std::max<long>(1, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // required for multi-threaded use
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &state);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &state);

    const CURLcode rc = curl_easy_perform(handle);
    if (rc == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
      response->status = static_cast<int>(status);
    } else {
      response->status = 0;
      response->headers.clear();
      response->body.clear();
      response->transport_error = absl::StrCat(curl_easy_strerror(rc), error[0] != '\0' ? ": " : "",
                                               error, " (POST ", request.url, ")");
    }
    curl_slist_free_all(headers);
    Release(handle, rc == CURLE_OK);
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* handle = idle_.back();
        idle_.pop_back();
        return handle;
      }
    }
    return curl_easy_init();
  }

  // curl_easy_reset keeps live connections, so a returned handle reuses its keep-alive
  // connection on the next call.
  void Release(CURL* handle, bool healthy) {
    curl_easy_reset(handle);
    if (healthy) {
      std::lock_guard<std::mutex> lock(mu_);
      if (idle_.size() < options_.max_idle_handles) {
        idle_.push_back(handle);
        return;
      }
    }
    curl_easy_cleanup(handle);
  }

  const CurlTransportOptions options_;
  std::mutex mu_;
  std::vector<CURL*> idle_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<HttpTransport> MakeCurlHttpTransport(CurlTransportOptions options) {
  return std::make_unique<CurlHttpTransport>(std::move(options));
}

}  // namespace genops::exporter
