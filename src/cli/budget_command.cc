// `genops budget status | set | delete`: the budgets of a shared ledger.
//
//   genops budget status --ledger sqlite://genops.db
//   genops budget set --name acme-monthly --scope customer_id=acme --limit-usd 1000
//                     --period month --ledger sqlite://genops.db
//   genops budget delete --name acme-monthly --config genops.yaml
//
// `set` validates every flag before it opens the ledger, so a typo never leaves a half-made
// budget (or a new empty database) behind. Amounts are parsed as exact decimals
// (Money::FromUsdString), never through a double.
//
// Exit codes: 0 done, 1 the ledger failed or has no such budget, 2 usage error.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "genops/attribution.h"
#include "genops/money.h"
#include "src/cli/commands.h"
#include "src/cli/ledger_access.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"

namespace genops::cli {
namespace {

constexpr std::string_view kScopeKeys =
    "team, project, environment, customer_id, cost_center, feature, tag:<key>";
constexpr size_t kMaxNameBytes = 128;
constexpr int64_t kNanosPerDay = 86'400 * kNanosPerSecond;

std::string_view StripBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitCommas(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    parts.push_back(StripBlanks(
        s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

absl::Status ValidateBudgetName(std::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError("--name is empty; every budget needs a unique name");
  }
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        Cat("--name is ", name.size(), " bytes long; at most ", kMaxNameBytes, " are allowed"));
  }
  if (StripBlanks(name) != name) {
    return absl::InvalidArgumentError(
        Cat("--name \"", name, "\" starts or ends with a blank; remove it"));
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("--name holds a control character; use printable text");
    }
  }
  return absl::OkStatus();
}

// "global" is the empty scope; otherwise "key=value[,key=value...]".
absl::StatusOr<ledger::Scope> ParseScope(std::string_view text) {
  if (StripBlanks(text).empty()) {
    return absl::InvalidArgumentError(
        "--scope is empty; write --scope global for a budget on every operation, or "
        "--scope team=x[,customer_id=y] for a part of them");
  }
  ledger::Scope scope;
  if (StripBlanks(text) == "global") return scope;
  for (std::string_view part : SplitCommas(text)) {
    const size_t eq = part.find('=');
    if (part.empty() || eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat("--scope \"", text, "\": \"", part,
              "\" is not key=value; write e.g. --scope team=search,customer_id=acme "
              "(or --scope global)"));
    }
    const std::string_view key = StripBlanks(part.substr(0, eq));
    const std::string_view value = StripBlanks(part.substr(eq + 1));
    if (!Attribution::IsKnownDimension(key)) {
      return absl::InvalidArgumentError(
          Cat("--scope \"", text, "\": unknown key \"", key, "\"; valid keys: ", kScopeKeys));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(
          Cat("--scope \"", text, "\": \"", key, "\" has an empty value"));
    }
    if (!scope.emplace(std::string(key), std::string(value)).second) {
      return absl::InvalidArgumentError(Cat("--scope \"", text, "\" names \"", key, "\" twice"));
    }
  }
  return scope;
}

absl::StatusOr<Money> ParseLimit(std::string_view text) {
  absl::StatusOr<Money> limit = Money::FromUsdString(text);
  if (!limit.ok()) {
    return absl::InvalidArgumentError(Cat("--limit-usd \"", text, "\": ", limit.status().message(),
                                          "; give US dollars as a decimal, e.g. 250 or 0.75"));
  }
  if (*limit < Money::Zero()) {
    return absl::InvalidArgumentError(
        Cat("--limit-usd \"", text, "\" is negative; a limit is 0 (block everything) or more"));
  }
  return *limit;
}

// "0.5,0.8,1" -> sorted fractions in (0, 10]; "none" -> no alerts.
absl::StatusOr<std::vector<double>> ParseThresholds(std::string_view text) {
  std::vector<double> out;
  if (StripBlanks(text) == "none") return out;
  for (std::string_view part : SplitCommas(text)) {
    double value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      return absl::InvalidArgumentError(
          Cat("--alert-thresholds \"", text, "\": \"", part,
              "\" is not a number; give fractions of the limit, e.g. 0.5,0.8,1 (or none)"));
    }
    if (!(value > 0.0 && value <= 10.0)) {
      return absl::InvalidArgumentError(
          Cat("--alert-thresholds \"", text, "\": ", part,
              " is outside (0, 10]; thresholds are fractions of the limit (0.8 = 80%)"));
    }
    if (std::find(out.begin(), out.end(), value) != out.end()) {
      return absl::InvalidArgumentError(
          Cat("--alert-thresholds \"", text, "\" gives ", part, " twice"));
    }
    out.push_back(value);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ThresholdsText(const std::vector<double>& thresholds) {
  if (thresholds.empty()) return "no alerts";
  std::vector<std::string> parts;
  for (double t : thresholds) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g%%", t * 100);
    parts.emplace_back(buf);
  }
  return Cat("alerts at ", Join(parts, ", "));
}

std::string PercentText(const ledger::BudgetStatus& b) {
  if (b.limit().nanos() == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", b.utilization() * 100);
  return buf;
}

// "2026-11-02" for a day; "start..last day" for a week or month; "all time" for total.
std::string WindowText(const ledger::BudgetStatus& b) {
  if (b.spec->period == ledger::BudgetPeriod::kTotal) return "all time";
  const std::string first = FormatUtcDate(b.window.start_unix_nanos);
  if (b.spec->period == ledger::BudgetPeriod::kDay) return first;
  return Cat(first, "..", FormatUtcDate(b.window.end_unix_nanos - kNanosPerDay));
}

nlohmann::ordered_json BudgetJson(const ledger::BudgetStatus& b) {
  nlohmann::ordered_json j;
  j["name"] = b.spec->name;
  j["scope"] = nlohmann::ordered_json::object();
  for (const auto& [key, value] : b.spec->scope) j["scope"][key] = value;
  j["scope_text"] = ledger::ScopeToString(b.spec->scope);
  j["period"] = std::string(ledger::BudgetPeriodName(b.spec->period));
  const bool total = b.spec->period == ledger::BudgetPeriod::kTotal;
  j["window_start"] = nullptr;
  j["window_end"] = nullptr;
  if (!total) {
    j["window_start"] = FormatUtcTime(b.window.start_unix_nanos);
    j["window_end"] = FormatUtcTime(b.window.end_unix_nanos);
  }
  PutMoney(j, "limit", b.limit());
  PutMoney(j, "spent", b.spent);
  PutMoney(j, "reserved", b.reserved);
  PutMoney(j, "remaining", b.remaining());
  j["used_percent"] = b.limit().nanos() == 0 ? nlohmann::ordered_json()
                                             : nlohmann::ordered_json(b.utilization() * 100);
  j["alert_thresholds"] = b.spec->alert_thresholds;
  return j;
}

// The budgets at `at`, by name (stores list them in any order).
absl::StatusOr<std::vector<ledger::BudgetStatus>> SortedBudgets(ledger::Ledger& ledger,
                                                                int64_t at) {
  absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets = ledger.ListBudgets(at);
  if (!budgets.ok()) return budgets.status();
  std::sort(budgets->begin(), budgets->end(),
            [](const auto& a, const auto& b) { return a.spec->name < b.spec->name; });
  return budgets;
}

// A store's failure, with where it happened. The code is kept: a value the store refuses
// stays a usage error (exit 2), anything else is a failure (exit 1).
absl::Status LedgerError(const LedgerHandle& handle, std::string_view doing,
                         const absl::Status& status) {
  return absl::Status(status.code(), Cat(doing, " in ", handle.url, ": ", status.message()));
}

// When --config defines the budget too, the application re-installs the file's definition
// each time it starts (Governor::SyncBudgets), silently undoing this command.
void WarnIfConfigOwns(const LedgerHandle& handle, std::string_view name, std::string_view verb) {
  if (!handle.config.has_value()) return;
  const AdapterConfig& adapter = handle.config->adapter;
  bool defined = name == "daily" && adapter.daily_budget_limit.has_value();
  for (const BudgetConfig& b : adapter.budgets) defined |= b.name == name;
  if (!defined) return;
  const std::string note =
      Cat("note: ", handle.config->source, " also defines budget '", name,
          "'; the application re-installs that definition whenever it starts, so this ", verb,
          " lasts only until then; change the file to make it permanent\n");
  std::fputs(note.c_str(), stderr);
}

// --- status ---------------------------------------------------------------------------------

struct StatusOptions {
  LedgerFlags ledger;
  std::string at;
};

int RunStatus(const StatusOptions& o) {
  constexpr std::string_view kCommand = "budget status";
  absl::StatusOr<int64_t> now = ResolveNow(o.ledger);
  if (!now.ok()) return Fail(kCommand, now.status());
  int64_t at = *now;
  if (!o.at.empty()) {
    absl::StatusOr<int64_t> parsed = ParseTimeArgument("--at", o.at, *now);
    if (!parsed.ok()) return Fail(kCommand, parsed.status());
    at = *parsed;
  }
  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadOnly);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets = SortedBudgets(*handle->ledger, at);
  if (!budgets.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot list the budgets", budgets.status()));
  }

  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["at"] = FormatUtcTime(at);
    out["budgets"] = nlohmann::ordered_json::array();
    for (const ledger::BudgetStatus& b : *budgets) out["budgets"].push_back(BudgetJson(b));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (budgets->empty()) {
    std::printf(
        "No budgets in %s. Add one with: genops budget set --name NAME --scope team=TEAM "
        "--limit-usd 100 --period month --ledger URL\n",
        handle->url.c_str());
    return 0;
  }
  using Align = TextTable::Align;
  TextTable table({{"NAME"},
                   {"SCOPE"},
                   {"PERIOD"},
                   {"WINDOW (UTC)"},
                   {"LIMIT", Align::kRight},
                   {"SPENT", Align::kRight},
                   {"RESERVED", Align::kRight},
                   {"REMAINING", Align::kRight},
                   {"USED", Align::kRight}});
  for (const ledger::BudgetStatus& b : *budgets) {
    table.AddRow({b.spec->name, ledger::ScopeToString(b.spec->scope),
                  std::string(ledger::BudgetPeriodName(b.spec->period)), WindowText(b),
                  FormatUsd(b.limit()), FormatUsd(b.spent), FormatUsd(b.reserved),
                  FormatUsd(b.remaining()), PercentText(b)});
  }
  const std::string text = Cat(table.Render(), budgets->size(), " budget(s) in ", handle->url,
                               " at ", FormatUtcTime(at), "\n");
  std::fputs(text.c_str(), stdout);
  return 0;
}

// --- set ------------------------------------------------------------------------------------

struct SetOptions {
  LedgerFlags ledger;
  std::string name;
  std::string scope;
  std::string limit;
  std::string period;
  std::string thresholds;
  bool thresholds_given = false;
};

int RunSet(const SetOptions& o) {
  constexpr std::string_view kCommand = "budget set";
  // Every flag first: nothing is opened (or created) until the whole budget is valid.
  ledger::BudgetSpec spec;
  if (absl::Status s = ValidateBudgetName(o.name); !s.ok()) return Fail(kCommand, s);
  spec.name = o.name;
  absl::StatusOr<ledger::Scope> scope = ParseScope(o.scope);
  if (!scope.ok()) return Fail(kCommand, scope.status());
  spec.scope = *std::move(scope);
  absl::StatusOr<Money> limit = ParseLimit(o.limit);
  if (!limit.ok()) return Fail(kCommand, limit.status());
  spec.limit = *limit;
  absl::StatusOr<ledger::BudgetPeriod> period = ledger::ParseBudgetPeriod(o.period);
  if (!period.ok()) {
    return Fail(kCommand, absl::InvalidArgumentError(Cat("--period: ", period.status().message())));
  }
  spec.period = *period;
  if (o.thresholds_given) {
    absl::StatusOr<std::vector<double>> thresholds = ParseThresholds(o.thresholds);
    if (!thresholds.ok()) return Fail(kCommand, thresholds.status());
    spec.alert_thresholds = *std::move(thresholds);
  }
  if (absl::StatusOr<int64_t> now = ResolveNow(o.ledger); !now.ok()) {
    return Fail(kCommand, now.status());
  }

  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadWrite);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  ledger::Ledger& ledger = *handle->ledger;
  absl::StatusOr<std::vector<ledger::BudgetStatus>> before =
      SortedBudgets(ledger, handle->now_unix_nanos);
  if (!before.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot list the budgets", before.status()));
  }
  std::shared_ptr<const ledger::BudgetSpec> previous;
  for (const ledger::BudgetStatus& b : *before) {
    if (b.spec->name == spec.name) previous = b.spec;
  }
  if (absl::Status s = ledger.UpsertBudget(spec); !s.ok()) {
    return Fail(kCommand, LedgerError(*handle, Cat("cannot set budget '", spec.name, "'"), s));
  }
  absl::StatusOr<std::vector<ledger::BudgetStatus>> after =
      SortedBudgets(ledger, handle->now_unix_nanos);
  if (!after.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot read the budget back", after.status()));
  }
  const ledger::BudgetStatus* installed = nullptr;
  for (const ledger::BudgetStatus& b : *after) {
    if (b.spec->name == spec.name) installed = &b;
  }
  if (installed == nullptr) {
    return Fail(kCommand, absl::InternalError(Cat("budget '", spec.name, "' was set in ",
                                                  handle->url, " but is not listed afterwards")));
  }
  WarnIfConfigOwns(*handle, spec.name, "change");

  auto describe = [](const ledger::BudgetSpec& s) {
    return Cat(ledger::ScopeToString(s.scope), ", ", FormatUsd(s.limit), " per ",
               ledger::BudgetPeriodName(s.period), " (", ThresholdsText(s.alert_thresholds), ")");
  };
  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["action"] = previous == nullptr ? "created" : "updated";
    out["budget"] = BudgetJson(*installed);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::string text = Cat("Budget '", spec.name, "' ", previous == nullptr ? "created" : "updated",
                         " in ", handle->url, ": ", describe(spec), "\n");
  if (previous != nullptr) text += Cat("  was: ", describe(*previous), "\n");
  if (previous != nullptr && previous->period != spec.period) {
    text += "  the period changed, so its spend counts from the new window on\n";
  }
  text += Cat("  now: ", FormatUsd(installed->spent), " spent, ", FormatUsd(installed->reserved),
              " reserved, ", FormatUsd(installed->remaining()), " remaining in the window ",
              WindowText(*installed), "\n");
  std::fputs(text.c_str(), stdout);
  return 0;
}

// --- delete ---------------------------------------------------------------------------------

struct DeleteOptions {
  LedgerFlags ledger;
  std::string name;
};

int RunDelete(const DeleteOptions& o) {
  constexpr std::string_view kCommand = "budget delete";
  if (absl::Status s = ValidateBudgetName(o.name); !s.ok()) return Fail(kCommand, s);
  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadOnly);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  if (absl::Status s = handle->ledger->DeleteBudget(o.name); !s.ok()) {
    if (s.code() == absl::StatusCode::kNotFound) {
      return Fail(kCommand,
                  absl::NotFoundError(Cat("no budget named '", o.name, "' in ", handle->url,
                                          "; `genops budget status` lists the budgets there")));
    }
    return Fail(kCommand, LedgerError(*handle, Cat("cannot delete budget '", o.name, "'"), s));
  }
  WarnIfConfigOwns(*handle, o.name, "deletion");
  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["action"] = "deleted";
    out["name"] = o.name;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("Budget '%s' deleted from %s\n", o.name.c_str(), handle->url.c_str());
  return 0;
}

}  // namespace

void RegisterBudgetCommand(CLI::App& app, CommandRegistry& registry) {
  CLI::App* budget = app.add_subcommand(
      "budget", "Show, set and delete the budgets of a shared ledger (needs --ledger or --config)");
  budget->require_subcommand(1);

  auto status = std::make_shared<StatusOptions>();
  CLI::App* status_cmd = budget->add_subcommand(
      "status", "Every budget with its window (UTC), limit, spent, reserved, remaining, used %");
  status_cmd->add_option("--at", status->at,
                         "Show the windows containing this time: RFC 3339, a date (midnight "
                         "UTC) or a duration before now (24h, 7d); default now");
  AddLedgerFlags(status_cmd, &status->ledger);
  registry.Add(status_cmd, [status] { return RunStatus(*status); });

  auto set = std::make_shared<SetOptions>();
  CLI::App* set_cmd = budget->add_subcommand(
      "set", "Create or replace a budget (every flag is checked before the ledger is touched)");
  set_cmd->add_option("--name", set->name, "The budget's unique name")->required();
  set_cmd
      ->add_option("--scope", set->scope,
                   Cat("Which operations it limits: `global` (all of them) or key=value pairs "
                       "joined by commas, e.g. team=search,customer_id=acme; keys: ",
                       kScopeKeys))
      ->required();
  set_cmd->add_option("--limit-usd", set->limit, "The limit in US dollars, exact (e.g. 250.75)")
      ->required();
  set_cmd->add_option("--period", set->period, "day, week (from Monday), month or total (UTC)")
      ->required();
  set_cmd
      ->add_option("--alert-thresholds", set->thresholds,
                   "Alert at these fractions of the limit, comma-separated, each in (0, 10]; "
                   "`none` for no alerts; default 0.5,0.8,1")
      ->each([set](const std::string&) { set->thresholds_given = true; });
  AddLedgerFlags(set_cmd, &set->ledger);
  registry.Add(set_cmd, [set] { return RunSet(*set); });

  auto del = std::make_shared<DeleteOptions>();
  CLI::App* delete_cmd = budget->add_subcommand("delete", "Delete a budget by name");
  delete_cmd->add_option("--name", del->name, "The budget to delete")->required();
  AddLedgerFlags(delete_cmd, &del->ledger);
  registry.Add(delete_cmd, [del] { return RunDelete(*del); });
}

}  // namespace genops::cli
