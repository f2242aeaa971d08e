// `genops validate`: the seed's validate_setup() on the command line.
#include <iostream>

#include "genops/validation.h"
#include "src/cli/commands.h"

namespace genops::cli {

void RegisterValidateCommand(CLI::App& app, CommandRegistry& registry) {
  struct Args {
    std::string config;
    bool connectivity = false;
    bool performance = false;
    bool json = false;
    bool detailed = false;
    std::vector<std::string> models;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "validate",
      "Check configuration, environment, pricing coverage and exporters. Never makes an LLM "
      "call. Exit code 0 when no check failed, 1 otherwise.");
  sub->add_option("--config", args->config, "YAML configuration file to check")
      ->check(CLI::ExistingFile);
  sub->add_option("--model", args->models,
                  "A model the application calls; checked against the catalog (repeatable)");
  sub->add_flag("--connectivity", args->connectivity,
                "Also send an empty OTLP export to each configured endpoint");
  sub->add_flag("--performance", args->performance,
                "Also measure the in-process overhead of a governed operation");
  sub->add_flag("--detailed", args->detailed, "List passed checks too");
  sub->add_flag("--json", args->json, "Print the findings as JSON");
  registry.Add(sub, [args]() {
    ValidationOptions options;
    options.config_file = args->config;
    options.models = args->models;
    options.include_connectivity_tests = args->connectivity;
    options.include_performance_tests = args->performance;
    ValidationResult result = validate_setup(options);
    if (args->json) {
      std::cout << result.ToJson() << "\n";
    } else {
      print_validation_result(result, args->detailed);
    }
    return result.ok() ? 0 : 1;
  });
}

}  // namespace genops::cli
