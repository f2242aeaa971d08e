// Registers every `genops` subcommand, in help order.
#include "src/cli/commands.h"

namespace genops::cli {

void RegisterAllCommands(CLI::App& app, CommandRegistry& registry) {
  RegisterDemoCommand(app, registry);
  RegisterCostCommand(app, registry);
  RegisterPricesCommand(app, registry);
  RegisterValidateCommand(app, registry);
  RegisterBudgetCommand(app, registry);
  RegisterReportCommand(app, registry);
  RegisterOperationsCommand(app, registry);
  RegisterKeysCommand(app, registry);
  RegisterApprovalsCommand(app, registry);
  RegisterConfigReferenceCommand(app, registry);
  RegisterServeCommand(app, registry);
  RegisterMockUpstreamCommand(app, registry);
}

}  // namespace genops::cli
