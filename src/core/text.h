// Small string helpers that accept std::string_view.
//
// Debian's abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), so absl::StrCat/StrJoin do not take std::string_view arguments. Cat() and Join()
// fill that gap for the whole code base; absl::string_view (Status::message()) works too.
//
// Thread safety: pure functions.
#ifndef GENOPS_CORE_TEXT_H_
#define GENOPS_CORE_TEXT_H_

#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace genops {
namespace text_internal {

inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void Append(std::string& out, char c) { out.push_back(c); }
inline void Append(std::string& out, bool b) { out.append(b ? "true" : "false"); }
template <typename T>
requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool> &&
         !std::is_same_v<T, char>) void Append(std::string& out, T value) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, result.ptr);
}

}  // namespace text_internal

// Concatenates strings, string views, characters, booleans and numbers (shortest form).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (text_internal::Append(out, parts), ...);
  return out;
}

// Joins any range of string-like elements with `separator`.
template <typename Range>
std::string Join(const Range& range, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& item : range) {
    if (!first) out.append(separator);
    first = false;
    text_internal::Append(out, item);
  }
  return out;
}

}  // namespace genops

#endif  // GENOPS_CORE_TEXT_H_
