// The process environment (see src/core/environment.h). The only getenv() in GenOps.
#include "src/core/environment.h"

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace genops {
namespace {

// Thread-safe for reads as long as nobody calls setenv() concurrently, which GenOps never
// does.
class ProcessEnvironment final : public Environment {
 public:
  std::optional<std::string> Get(std::string_view name) const override {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  }
};

}  // namespace

const Environment* Environment::Process() {
  static const ProcessEnvironment* const env = new ProcessEnvironment();
  return env;
}

}  // namespace genops
