// Tiny std::string_view helpers for the export code.
//
// Why: Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so absl::string_view
// is a distinct type and absl::StrCat/StrSplit/StripAsciiWhitespace do not accept a
// std::string_view. These helpers keep the export code on std::string_view throughout; Av()
// bridges the few places that hand a view to Abseil (StrCat arguments).
//
// Thread safety: pure functions.
#ifndef GENOPS_EXPORT_TEXT_UTIL_H_
#define GENOPS_EXPORT_TEXT_UTIL_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace genops::exporter::text {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

inline char LowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerChar(c);
  return out;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerChar(a[i]) != LowerChar(b[i])) return false;
  }
  return true;
}

inline bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

inline std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace genops::exporter::text

#endif  // GENOPS_EXPORT_TEXT_UTIL_H_
