// Runs every example program of examples/ and requires it to succeed.
//
// Each example asserts what the seed says its section achieves (EXPECT_OR_DIE in
// examples/support/check.h) and ends with `example <name>: OK`. This test runs the built
// binary in a fresh temporary working directory with the repository's catalog and checks the
// exit status and that line, printing the example's whole output on failure. (A failed claim
// exits with status 1 before the OK line, so both checks fail together; the output is not
// searched for "FAILED:" because some examples print GenOps' own validation reports.)
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

// Every program in examples/ (EveryExampleIsRun keeps this list complete).
const std::vector<std::string>& ExampleNames() {
  static const std::vector<std::string> kNames = {"auto_instrument",
                                                  "manual_instrumentation",
                                                  "enterprise_governance",
                                                  "production_config",
                                                  "multi_provider",
                                                  "production_ha",
                                                  "sampling",
                                                  "batch_processing",
                                                  "circuit_breaker",
                                                  "multi_tenant",
                                                  "ab_testing",
                                                  "coexistence",
                                                  "validate_setup"};
  return kNames;
}

struct RunResult {
  int exit_code = -1;
  std::string output;
};

class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "genops-examples-test-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) != nullptr) path_ = buffer.data();
  }
  ~ScopedTempDir() {
    std::error_code error;
    if (!path_.empty()) std::filesystem::remove_all(path_, error);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs `binary --catalog <catalog>` in `cwd`, stdout and stderr together, with a time limit
// so a hung example fails instead of stalling the suite.
RunResult RunIn(const std::filesystem::path& cwd, const std::string& binary,
                const std::string& catalog) {
  const std::string command = "cd " + ShellQuote(cwd.string()) + " && timeout 300 " +
                              ShellQuote(binary) + " --catalog " + ShellQuote(catalog) + " 2>&1";
  RunResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t read = 0;
  while ((read = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class ExampleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExampleTest, RunsAndProvesItsClaims) {
  const std::string name = GetParam();
  const std::string binary = std::string(GENOPS_BINARY_DIR) + "/example_" + name;
  ASSERT_TRUE(std::filesystem::exists(binary)) << "not built: " << binary;
  const std::string catalog = std::string(GENOPS_SOURCE_DIR) + "/data/pricing_catalog.json";

  ScopedTempDir cwd;
  ASSERT_FALSE(cwd.path().empty()) << "cannot create a temporary directory";
  RunResult result = RunIn(cwd.path(), binary, catalog);

  EXPECT_EQ(result.exit_code, 0) << "example " << name << " output:\n" << result.output;
  EXPECT_NE(result.output.find("example " + name + ": OK"), std::string::npos)
      << "example " << name << " output:\n"
      << result.output;
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleTest, ::testing::ValuesIn(ExampleNames()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

// Every example in examples/ is in ExampleNames() (a new example must be added there).
TEST(ExamplesListTest, EveryExampleIsRun) {
  const std::vector<std::string>& listed = ExampleNames();
  int found = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(GENOPS_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".cc") continue;
    ++found;
    const std::string stem = entry.path().stem().string();
    EXPECT_NE(std::find(listed.begin(), listed.end(), stem), listed.end())
        << "examples/" << stem << ".cc is not run by examples_test";
  }
  EXPECT_EQ(found, static_cast<int>(listed.size()));
}

}  // namespace
