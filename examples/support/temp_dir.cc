#include "support/temp_dir.h"

#include <stdlib.h>

#include <string>
#include <system_error>
#include <vector>

#include "support/check.h"

namespace genops::examples {

TempDir::TempDir(std::string_view name) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  if (error) base = ".";
  std::string pattern = (base / ("genops-example-" + std::string(name) + "-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  EXPECT_OR_DIE(mkdtemp(buffer.data()) != nullptr,
                "cannot create a temporary directory " << pattern);
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code error;
  std::filesystem::remove_all(path_, error);
}

}  // namespace genops::examples
