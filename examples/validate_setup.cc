// Setup validation (seed: "Installation & Setup / Validation", "Troubleshooting / Validation
// and Health Checks").
//
// validate_setup() + print_validation_result(detailed=true), as the seed runs them. The example
// proves:
//   - a sound configuration passes (no error finding) and the detailed report lists the
//     checks that passed;
//   - a bad configuration (negative daily_budget_limit) fails, and the finding names the
//     parameter and says what to do, both in the result and in the printed report;
//   - a model the catalog cannot price is reported by name;
//   - the performance check runs in-process and reports the overhead.
// No LLM call is made and nothing leaves the machine (no connectivity tests).
//
// Run: ./example_validate_setup
#include <stdlib.h>

#include <iostream>
#include <sstream>
#include <string>

#include "genops/genops.h"
#include "support/check.h"
#include "support/example_helpers.h"

namespace {

using genops::FindingSeverity;
using genops::examples::Section;

bool HasErrorNaming(const genops::ValidationResult& result, const std::string& what) {
  for (const genops::ValidationFinding& finding : result.findings) {
    if (finding.severity != FindingSeverity::kError) continue;
    if ((finding.check + " " + finding.message + " " + finding.fix).find(what) !=
        std::string::npos) {
      return true;
    }
  }
  return false;
}

genops::AdapterConfig SoundConfig() {
  genops::AdapterConfig config;
  config.team = "your-team";
  config.project = "your-project";
  config.environment = "production";
  config.daily_budget_limit = 100.0;
  config.max_operation_cost = 5.0;
  config.governance_policy = genops::PolicyLevel::kEnforced;
  config.exporters = {"none"};
  config.enable_traceloop_platform = false;
  return config;
}

int Run() {
  // The seed's "Environment Configuration" step: a provider key must be present. A placeholder
  // is enough here (no connectivity test is run); an existing key is left alone.
  setenv("OPENAI_API_KEY", "sk-example-placeholder", /*overwrite=*/0);

  Section("validate_setup() of a sound configuration");
  genops::ValidationOptions options;
  options.config = SoundConfig();
  options.models = {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4"};
  genops::ValidationResult result = genops::validate_setup(options);
  genops::print_validation_result(result, /*detailed=*/true);
  EXPECT_OR_DIE(result.ok(), "the sound configuration passes; errors: " << result.errors() << "\n"
                                                                        << result.ToJson());
  int passed = 0;
  for (const auto& finding : result.findings) passed += finding.severity == FindingSeverity::kOk;
  EXPECT_OR_DIE(passed > 0, "the detailed report lists passed checks");
  std::ostringstream detailed;
  genops::print_validation_result(result, /*detailed=*/true, detailed);
  EXPECT_OR_DIE(!detailed.str().empty(), "print_validation_result writes a report");

  Section("a bad configuration: daily_budget_limit = -5");
  genops::AdapterConfig bad = SoundConfig();
  bad.daily_budget_limit = -5.0;
  options.config = bad;
  genops::ValidationResult bad_result = genops::validate_setup(options);
  std::ostringstream report;
  genops::print_validation_result(bad_result, /*detailed=*/true, report);
  std::cout << report.str();
  EXPECT_OR_DIE(!bad_result.ok() && bad_result.errors() >= 1, "the bad configuration fails");
  EXPECT_OR_DIE(HasErrorNaming(bad_result, "daily_budget_limit"),
                "an error finding names daily_budget_limit");
  EXPECT_OR_DIE(report.str().find("daily_budget_limit") != std::string::npos,
                "the printed report names daily_budget_limit");
  for (const auto& finding : bad_result.findings) {
    if (finding.severity == FindingSeverity::kError) {
      EXPECT_OR_DIE(!finding.fix.empty(), "every error says what to do: " << finding.message);
    }
  }
  auto rejected = genops::instrument_traceloop(bad);
  EXPECT_OR_DIE(!rejected.ok() &&
                    rejected.status().ToString().find("daily_budget_limit") != std::string::npos,
                "instrument_traceloop refuses the same configuration with the same name");

  Section("a model the catalog cannot price");
  options.config = SoundConfig();
  options.models = {"gpt-4o", "gpt-99-imaginary"};
  genops::ValidationResult model_result = genops::validate_setup(options);
  bool reported = false;
  for (const auto& finding : model_result.findings) {
    if (finding.severity != FindingSeverity::kOk &&
        finding.message.find("gpt-99-imaginary") != std::string::npos) {
      std::cout << finding.area << "/" << finding.check << ": " << finding.message << " -> "
                << finding.fix << "\n";
      reported = true;
    }
  }
  EXPECT_OR_DIE(reported, "the unpriced model is reported by name");

  Section("validate_setup(include_performance_tests=true)");
  genops::ValidationOptions performance;
  performance.config = SoundConfig();
  performance.include_performance_tests = true;
  genops::ValidationResult performance_result = genops::validate_setup(performance);
  bool measured = false;
  for (const auto& finding : performance_result.findings) {
    if (finding.area == "performance") {
      std::cout << finding.check << ": " << finding.message << "\n";
      measured = true;
    }
  }
  EXPECT_OR_DIE(measured, "the performance check reports the overhead");

  std::cout << "\nexample validate_setup: OK" << std::endl;
  return 0;
}

}  // namespace

int main() { return Run(); }
