#include "src/gateway/upstream.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "src/core/text.h"

namespace genops::gateway {
namespace {

absl::StatusOr<std::string> NormalizeBaseUrl(std::string_view provider, std::string_view url) {
  std::string u(url);
  const bool http = u.starts_with("http://");
  const bool https = u.starts_with("https://");
  const size_t host_start = http ? 7 : (https ? 8 : 0);
  if (host_start == 0 || u.size() == host_start || u[host_start] == '/') {
    return absl::InvalidArgumentError(
        Cat("gateway.providers.", provider, ": base URL \"", url,
            "\" must be http://HOST[:PORT] or https://HOST[:PORT], e.g. https://api.openai.com"));
  }
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.ends_with("/v1")) u.resize(u.size() - 3);
  return u;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UpstreamProvider>> UpstreamProvider::Create(
    const UpstreamProviderSpec& spec, int breaker_threshold, int64_t breaker_open_nanos) {
  std::unique_ptr<UpstreamProvider> p(new UpstreamProvider(spec));
  std::vector<std::string> urls;
  urls.push_back(spec.base_url);
  for (const auto& f : spec.failover) urls.push_back(f);
  for (const auto& url : urls) {
    auto normalized = NormalizeBaseUrl(spec.name, url);
    if (!normalized.ok()) return normalized.status();
    p->endpoints_.push_back(std::make_unique<UpstreamEndpoint>(
        std::move(*normalized), breaker_threshold, breaker_open_nanos));
  }
  return p;
}

std::optional<size_t> UpstreamProvider::Pick(size_t from, int64_t now_nanos) {
  const size_t n = endpoints_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (from + k) % n;
    std::lock_guard<std::mutex> lock(endpoints_[i]->mu);
    if (endpoints_[i]->breaker.Allow(now_nanos)) return i;
  }
  return std::nullopt;
}

void UpstreamProvider::RecordSuccess(size_t index) {
  std::lock_guard<std::mutex> lock(endpoints_[index]->mu);
  endpoints_[index]->breaker.RecordSuccess();
}

bool UpstreamProvider::RecordFailure(size_t index, int64_t now_nanos) {
  std::lock_guard<std::mutex> lock(endpoints_[index]->mu);
  return endpoints_[index]->breaker.RecordFailure(now_nanos);
}

exporter::CircuitBreaker::State UpstreamProvider::breaker_state(size_t index) {
  std::lock_guard<std::mutex> lock(endpoints_[index]->mu);
  return endpoints_[index]->breaker.state();
}

}  // namespace genops::gateway
