// Environment: the one place GenOps reads process environment variables.
//
// Components never call getenv() themselves; they take an Environment so configuration
// is visible in one place and tests can supply variables without touching the process.
//
// Thread safety: implementations are thread-safe for reads.
#ifndef GENOPS_CORE_ENVIRONMENT_H_
#define GENOPS_CORE_ENVIRONMENT_H_

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace genops {

class Environment {
 public:
  virtual ~Environment() = default;
  // The variable's value; nullopt when unset. An empty value counts as unset.
  virtual std::optional<std::string> Get(std::string_view name) const = 0;

  // The real process environment. Never null, never destroyed.
  static const Environment* Process();
};

// A fixed set of variables, for tests and for embedding applications.
class MapEnvironment final : public Environment {
 public:
  MapEnvironment() = default;
  MapEnvironment(std::initializer_list<std::pair<const std::string, std::string>> vars)
      : vars_(vars) {}
  std::optional<std::string> Get(std::string_view name) const override {
    auto it = vars_.find(name);
    if (it == vars_.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }
  void Set(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

}  // namespace genops

#endif  // GENOPS_CORE_ENVIRONMENT_H_
