// Subcommand registration for the `genops` command.
//
// Each subcommand lives in its own file with a Register<Name>Command() function that adds a
// CLI11 subcommand and stores the function to run when it is selected. Exit codes:
// 0 success, 1 failure found (validation failed, I/O error), 2 usage error or unknown model.
#ifndef GENOPS_CLI_COMMANDS_H_
#define GENOPS_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>
#include <vector>

namespace genops::cli {

inline constexpr std::string_view kVersion = "0.1.0";

// Not thread-safe; used only from main().
class CommandRegistry {
 public:
  void Add(CLI::App* sub, std::function<int()> run) { entries_.push_back({sub, std::move(run)}); }
  int Run() const {
    for (const auto& e : entries_) {
      if (e.sub->parsed()) return e.run();
    }
    return 2;
  }

 private:
  struct Entry {
    CLI::App* sub;
    std::function<int()> run;
  };
  std::vector<Entry> entries_;
};

void RegisterCostCommand(CLI::App& app, CommandRegistry& registry);
void RegisterPricesCommand(CLI::App& app, CommandRegistry& registry);
void RegisterValidateCommand(CLI::App& app, CommandRegistry& registry);
void RegisterDemoCommand(CLI::App& app, CommandRegistry& registry);
void RegisterConfigReferenceCommand(CLI::App& app, CommandRegistry& registry);
// The ledger commands (src/cli/ledger_access.h): `budget status|set|delete`, `report`,
// `operations`.
void RegisterBudgetCommand(CLI::App& app, CommandRegistry& registry);
void RegisterReportCommand(CLI::App& app, CommandRegistry& registry);
void RegisterOperationsCommand(CLI::App& app, CommandRegistry& registry);
void RegisterKeysCommand(CLI::App& app, CommandRegistry& registry);  // gateway virtual keys

void RegisterMockUpstreamCommand(CLI::App& app, CommandRegistry& registry);
// The gateway: `serve` runs it, `approvals` acts on a running one through its admin API.
void RegisterServeCommand(CLI::App& app, CommandRegistry& registry);
void RegisterApprovalsCommand(CLI::App& app, CommandRegistry& registry);

// Calls every Register*Command above, in help order.
void RegisterAllCommands(CLI::App& app, CommandRegistry& registry);

}  // namespace genops::cli

#endif  // GENOPS_CLI_COMMANDS_H_
