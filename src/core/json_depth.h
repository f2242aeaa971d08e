// A guard for JSON from outside the process.
//
// nlohmann::json parses iteratively but prints and destroys values recursively, so a body
// nested a million levels deep would overflow the stack after a "successful" parse. Callers
// that parse untrusted JSON check the nesting depth first; it is one linear scan.
//
// Thread safety: a pure function.
#ifndef GENOPS_CORE_JSON_DEPTH_H_
#define GENOPS_CORE_JSON_DEPTH_H_

#include <string_view>

namespace genops {

// True when arrays/objects in `json` nest deeper than `limit` (brackets inside strings are
// ignored). Malformed JSON is not diagnosed here; the parser does that.
inline bool JsonNestsDeeperThan(std::string_view json, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace genops

#endif  // GENOPS_CORE_JSON_DEPTH_H_
