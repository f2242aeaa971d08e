// HTTP message pieces shared by the gateway's server (http_server.h) and client
// (http_client.h): an ordered, case-insensitive header list and the status reason phrases.
//
// Headers keep their order and repeated fields because a proxy forwards them; names compare
// case-insensitively (RFC 9110 §5.1). Nothing here depends on Asio or Beast, so code that
// only handles messages does not pay for those headers.
//
// Thread safety: HttpHeaders is thread-compatible; the functions are pure.
#ifndef GENOPS_GATEWAY_HTTP_MESSAGE_H_
#define GENOPS_GATEWAY_HTTP_MESSAGE_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace genops::gateway {

// ASCII case-insensitive equality (header names are ASCII tokens).
bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept;

struct HttpHeader {
  std::string name;
  std::string value;
};

// Thread-compatible.
class HttpHeaders {
 public:
  HttpHeaders() = default;
  HttpHeaders(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (const auto& [name, value] : fields) Add(name, value);
  }

  // Appends a field (a repeated name is kept as a second field).
  void Add(std::string_view name, std::string_view value) {
    fields_.push_back({std::string(name), std::string(value)});
  }
  // Replaces every field called `name` with one field.
  void Set(std::string_view name, std::string_view value) {
    Remove(name);
    Add(name, value);
  }
  // Removes every field called `name`; returns how many were removed.
  size_t Remove(std::string_view name);
  // The first field called `name`.
  std::optional<std::string_view> Get(std::string_view name) const;
  // The value of `name` or `fallback` when absent.
  std::string_view GetOr(std::string_view name, std::string_view fallback) const {
    return Get(name).value_or(fallback);
  }
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  const std::vector<HttpHeader>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }

 private:
  std::vector<HttpHeader> fields_;
};

// "OK", "Not Found", ...; "Unknown" for codes without a registered phrase.
std::string_view HttpReasonPhrase(int status) noexcept;

// True when `value` (a comma-separated header such as Connection) contains `token`,
// compared case-insensitively.
bool HeaderHasToken(std::string_view value, std::string_view token) noexcept;

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_HTTP_MESSAGE_H_
