// `genops config-reference`: prints every configuration key, from the parser's own schema.
#include <iostream>

#include "src/cli/commands.h"
#include "src/server/config_file.h"

namespace genops::cli {

void RegisterConfigReferenceCommand(CLI::App& app, CommandRegistry& registry) {
  CLI::App* sub = app.add_subcommand(
      "config-reference",
      "Print the configuration file reference (Markdown), generated from the parser's schema");
  registry.Add(sub, []() {
    std::cout << server::ConfigReferenceMarkdown();
    return 0;
  });
}

}  // namespace genops::cli
