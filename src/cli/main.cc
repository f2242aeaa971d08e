// The `genops` command: a thin shell over the library. Each subcommand lives in its own
// file and registers itself through src/cli/commands.h.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "src/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "GenOps: governance for LLM usage (attribution, exact cost, budgets, policy, "
      "OpenTelemetry spans).\nRun `genops <command> --help` for the options of a command."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(genops::cli::kVersion));
  genops::cli::CommandRegistry registry;
  genops::cli::RegisterAllCommands(app, registry);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is a usage error: exit code 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return registry.Run();
}
