// Registers every `genops` subcommand, in help order.
#include "src/cli/commands.h"

namespace genops::cli {

void RegisterAllCommands(CLI::App& app, CommandRegistry& registry) {
  RegisterCostCommand(app, registry);
  RegisterPricesCommand(app, registry);
}

}  // namespace genops::cli
