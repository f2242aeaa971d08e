// HttpTransport: the seam between GenOps and an HTTP client.
//
// Exporters (OTLP/HTTP) and alert webhooks send one POST at a time and need only a status,
// a few headers (Retry-After) and a body back. Keeping that behind a tiny interface lets the
// retry, back-off and circuit-breaker logic be tested with a scripted transport and an
// injected clock, while production uses libcurl (TLS verification on, proxies honoured).
//
// Example:
//   auto transport = genops::exporter::MakeCurlHttpTransport();
//   HttpResponse response = transport->Post({.url = "https://hooks.example.com/x",
//                                            .headers = {{"Content-Type", "application/json"}},
//                                            .body = payload,
//                                            .timeout = std::chrono::seconds(5)});
//   if (!response.transport_error.empty()) { ... network failure ... }
//   else if (response.status >= 300) { ... HTTP failure ... }
//
// Thread safety: HttpTransport implementations are thread-safe; Post() may be called from
// several threads at once.
#ifndef GENOPS_EXPORT_HTTP_TRANSPORT_H_
#define GENOPS_EXPORT_HTTP_TRANSPORT_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace genops::exporter {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string url;      // absolute http:// or https:// URL
  HttpHeaders headers;  // sent as given, in order
  std::string body;
  // Whole-request deadline (connect + send + receive). Values <= 0 mean 1 ms.
  std::chrono::milliseconds timeout{10000};
};

struct HttpResponse {
  // HTTP status code; 0 when no response was received (see transport_error).
  int status = 0;
  HttpHeaders headers;  // names lower-cased
  std::string body;     // truncated at the transport's response size limit
  // Empty when a response was received; otherwise what went wrong (DNS, connect, TLS,
  // timeout ...), suitable for logs.
  std::string transport_error;

  bool ok() const { return transport_error.empty() && status >= 200 && status < 300; }
  // First value of header `name` (case-insensitive).
  std::optional<std::string> Header(std::string_view name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends a POST and waits for the response or the request's timeout. Never throws.
  virtual HttpResponse Post(const HttpRequest& request) noexcept = 0;
};

struct CurlTransportOptions {
  // Bodies beyond this are cut (error bodies are only logged; OTLP responses are tiny).
  size_t max_response_bytes = size_t{1} << 20;
  // Idle connections kept for reuse across calls (keep-alive to the collector).
  size_t max_idle_handles = 4;
  // Verify the server certificate and host name. Only tests against self-signed servers
  // turn this off.
  bool verify_tls = true;
  std::string user_agent = "genops-otlp-exporter/0.1";
};

// A libcurl transport. Proxies follow libcurl's environment rules (https_proxy/HTTPS_PROXY,
// http_proxy, NO_PROXY). Redirects are not followed (a redirected POST would change meaning).
std::unique_ptr<HttpTransport> MakeCurlHttpTransport(CurlTransportOptions options = {});

}  // namespace genops::exporter

#endif  // GENOPS_EXPORT_HTTP_TRANSPORT_H_
