// `genops keys create | list | revoke`: the gateway's virtual keys in a shared ledger
// (src/gateway/virtual_keys.h).
//
//   genops keys create --team search --project ranker --customer acme --budget-usd 25
//                      --period day --ledger sqlite://genops.db
//   genops keys list --config genops.yaml
//   genops keys revoke vk_0123456789abcdef --ledger sqlite://genops.db
//
// `create` prints the key once: the ledger keeps only its SHA-256, so nothing can show it
// again. Every flag is checked before the ledger is opened, so a typo never leaves a key
// (or a new empty database) behind. `list` never prints a key or its hash, only the id and
// the key's first 11 characters.
//
// Exit codes: 0 done, 1 the ledger failed or has no such key, 2 usage error.
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "genops/attribution.h"
#include "genops/money.h"
#include "src/cli/commands.h"
#include "src/cli/ledger_access.h"
#include "src/core/text.h"
#include "src/gateway/virtual_keys.h"
#include "src/ledger/ledger.h"

namespace genops::cli {
namespace {

std::string_view StripBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

absl::Status CheckText(std::string_view flag, std::string_view value) {
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          Cat(flag, " holds a control character; use printable text"));
    }
  }
  return absl::OkStatus();
}

// "team=search, project=ranker, tag:env=blue" (set fields only).
std::string AttributionText(const Attribution& a) {
  std::vector<std::string> parts;
  const std::pair<std::string_view, const std::string*> fields[] = {{"team", &a.team},
                                                                    {"project", &a.project},
                                                                    {"environment", &a.environment},
                                                                    {"customer_id", &a.customer_id},
                                                                    {"cost_center", &a.cost_center},
                                                                    {"feature", &a.feature}};
  for (const auto& [name, value] : fields) {
    if (!value->empty()) parts.push_back(Cat(name, "=", *value));
  }
  for (const auto& [key, value] : a.tags) {
    if (key != gateway::kVirtualKeyTag) parts.push_back(Cat("tag:", key, "=", value));
  }
  return Join(parts, ", ");
}

nlohmann::ordered_json AttributionJson(const Attribution& a) {
  nlohmann::ordered_json j;
  j["team"] = a.team;
  j["project"] = a.project;
  j["environment"] = a.environment;
  j["customer_id"] = a.customer_id;
  j["cost_center"] = a.cost_center;
  j["feature"] = a.feature;
  j["tags"] = nlohmann::ordered_json::object();
  for (const auto& [key, value] : a.tags) j["tags"][key] = value;
  return j;
}

nlohmann::ordered_json BudgetJson(const ledger::BudgetSpec& spec) {
  nlohmann::ordered_json j;
  j["name"] = spec.name;
  PutMoney(j, "limit", spec.limit);
  j["period"] = std::string(ledger::BudgetPeriodName(spec.period));
  return j;
}

// A store's failure, with where it happened (the code is kept; see budget_command.cc).
absl::Status LedgerError(const LedgerHandle& handle, std::string_view doing,
                         const absl::Status& status) {
  return absl::Status(status.code(), Cat(doing, " in ", handle.url, ": ", status.message()));
}

// --- create ---------------------------------------------------------------------------------

struct CreateOptions {
  LedgerFlags ledger;
  std::string team;
  std::string project;
  std::string customer;
  std::string environment;
  std::string cost_center;
  std::string feature;
  std::vector<std::string> tags;
  std::string budget_usd;
  bool budget_given = false;
  std::string period;
  bool period_given = false;
  std::string description;
};

absl::StatusOr<gateway::VirtualKeySpec> SpecFrom(const CreateOptions& o) {
  gateway::VirtualKeySpec spec;
  Attribution& a = spec.attribution;
  const std::pair<std::string_view, const std::string*> required[] = {{"--team", &o.team},
                                                                      {"--project", &o.project}};
  for (const auto& [flag, value] : required) {
    if (StripBlanks(*value).empty()) {
      return absl::InvalidArgumentError(
          Cat(flag,
              " is required: every call made with the key is attributed to its team and "
              "project; e.g. genops keys create --team search --project ranker --ledger URL"));
    }
  }
  const std::pair<std::string_view, const std::string*> texts[] = {
      {"--team", &o.team},
      {"--project", &o.project},
      {"--customer", &o.customer},
      {"--environment", &o.environment},
      {"--cost-center", &o.cost_center},
      {"--feature", &o.feature},
      {"--description", &o.description}};
  for (const auto& [flag, value] : texts) {
    if (absl::Status s = CheckText(flag, *value); !s.ok()) return s;
  }
  a.team = std::string(StripBlanks(o.team));
  a.project = std::string(StripBlanks(o.project));
  a.customer_id = std::string(StripBlanks(o.customer));
  a.environment = std::string(StripBlanks(o.environment));
  a.cost_center = std::string(StripBlanks(o.cost_center));
  a.feature = std::string(StripBlanks(o.feature));
  spec.description = o.description;
  for (const std::string& tag : o.tags) {
    const size_t eq = tag.find('=');
    const std::string_view key =
        StripBlanks(std::string_view(tag).substr(0, eq == std::string::npos ? tag.size() : eq));
    if (eq == std::string::npos || key.empty()) {
      return absl::InvalidArgumentError(
          Cat("--tag \"", tag, "\" is not key=value; write e.g. --tag env=blue"));
    }
    const std::string_view value = StripBlanks(std::string_view(tag).substr(eq + 1));
    if (absl::Status s = CheckText("--tag", tag); !s.ok()) return s;
    if (key == gateway::kVirtualKeyTag) {
      return absl::InvalidArgumentError(
          Cat("--tag ", key, "=...: the tag '", gateway::kVirtualKeyTag,
              "' is reserved (it carries the key's id); use another name"));
    }
    if (!a.tags.emplace(std::string(key), std::string(value)).second) {
      return absl::InvalidArgumentError(Cat("--tag ", key, " is given twice"));
    }
  }
  if (o.period_given && !o.budget_given) {
    return absl::InvalidArgumentError(
        "--period without --budget-usd: the period is that of the key's own budget; add "
        "--budget-usd AMOUNT (or drop --period for a key without a budget)");
  }
  if (o.budget_given) {
    absl::StatusOr<Money> limit = Money::FromUsdString(StripBlanks(o.budget_usd));
    if (!limit.ok()) {
      return absl::InvalidArgumentError(Cat("--budget-usd \"", o.budget_usd,
                                            "\": ", limit.status().message(),
                                            "; give US dollars as a decimal, e.g. 25 or 0.75"));
    }
    if (*limit < Money::Zero()) {
      return absl::InvalidArgumentError(Cat("--budget-usd \"", o.budget_usd,
                                            "\" is negative; a limit is 0 (block everything) "
                                            "or more"));
    }
    spec.budget_limit = *limit;
    if (o.period_given) {
      absl::StatusOr<ledger::BudgetPeriod> period = ledger::ParseBudgetPeriod(o.period);
      if (!period.ok()) {
        return absl::InvalidArgumentError(Cat("--period: ", period.status().message()));
      }
      spec.period = *period;
    }
  }
  return spec;
}

int RunCreate(const CreateOptions& o) {
  constexpr std::string_view kCommand = "keys create";
  // Every flag first: nothing is opened (or created) until the whole key is valid.
  absl::StatusOr<gateway::VirtualKeySpec> spec = SpecFrom(o);
  if (!spec.ok()) return Fail(kCommand, spec.status());
  if (absl::StatusOr<int64_t> now = ResolveNow(o.ledger); !now.ok()) {
    return Fail(kCommand, now.status());
  }
  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadWrite);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  absl::StatusOr<gateway::CreatedVirtualKey> created =
      gateway::CreateVirtualKey(*handle->ledger, *spec, handle->now_unix_nanos);
  if (!created.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot create the key", created.status()));
  }
  const ledger::VirtualKey& record = created->record;
  std::optional<ledger::BudgetSpec> budget;
  if (spec->budget_limit.has_value()) {
    budget.emplace();
    budget->name = record.budget_name;
    budget->limit = *spec->budget_limit;
    budget->period = spec->period;
  }

  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["key"] = created->key;
    out["id"] = record.id;
    out["display_prefix"] = record.display_prefix;
    out["attribution"] = AttributionJson(record.attribution);
    out["budget"] = budget.has_value() ? BudgetJson(*budget) : nlohmann::ordered_json();
    out["description"] = record.description;
    out["created"] = FormatUtcTime(record.created_unix_nanos);
    out["note"] = "store the key now: it cannot be shown again (the ledger keeps only its hash)";
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::string text = Cat("Virtual key ", record.id, " created in ", handle->url, "\n",
                         "  attribution: ", AttributionText(record.attribution), "\n");
  if (budget.has_value()) {
    text += Cat("  budget:      ", FormatUsd(budget->limit), " per ",
                ledger::BudgetPeriodName(budget->period), " (budget '", budget->name,
                "'; `genops budget status` shows its spend)\n");
  } else {
    text += "  budget:      none of its own (team, project and global budgets still apply)\n";
  }
  if (!record.description.empty()) text += Cat("  description: ", record.description, "\n");
  text += Cat("\n", created->key, "\n\n",
              "Store it now, it cannot be shown again: the ledger keeps only its SHA-256.\n",
              "Clients send it as \"Authorization: Bearer gk_...\" or \"x-api-key: gk_...\".\n",
              "Revoke it with: genops keys revoke ", record.id, "\n");
  std::fputs(text.c_str(), stdout);
  return 0;
}

// --- list -----------------------------------------------------------------------------------

struct ListOptions {
  LedgerFlags ledger;
};

int RunList(const ListOptions& o) {
  constexpr std::string_view kCommand = "keys list";
  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadOnly);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  absl::StatusOr<std::vector<ledger::VirtualKey>> keys = handle->ledger->ListVirtualKeys();
  if (!keys.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot list the virtual keys", keys.status()));
  }
  absl::StatusOr<std::vector<ledger::BudgetStatus>> budgets =
      handle->ledger->ListBudgets(handle->now_unix_nanos);
  if (!budgets.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot list the budgets", budgets.status()));
  }
  std::map<std::string, std::shared_ptr<const ledger::BudgetSpec>> budget_by_name;
  for (const ledger::BudgetStatus& b : *budgets) budget_by_name[b.spec->name] = b.spec;
  auto budget_of = [&](const ledger::VirtualKey& key) -> const ledger::BudgetSpec* {
    auto it = budget_by_name.find(key.budget_name);
    return key.budget_name.empty() || it == budget_by_name.end() ? nullptr : it->second.get();
  };

  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["keys"] = nlohmann::ordered_json::array();
    for (const ledger::VirtualKey& key : *keys) {
      nlohmann::ordered_json j;
      j["id"] = key.id;
      j["display_prefix"] = key.display_prefix;
      j["attribution"] = AttributionJson(key.attribution);
      const ledger::BudgetSpec* budget = budget_of(key);
      j["budget"] = budget != nullptr ? BudgetJson(*budget) : nlohmann::ordered_json();
      j["description"] = key.description;
      j["created"] = FormatUtcTime(key.created_unix_nanos);
      j["revoked"] = key.revoked() ? nlohmann::ordered_json(FormatUtcTime(key.revoked_unix_nanos))
                                   : nlohmann::ordered_json();
      j["status"] = key.revoked() ? "revoked" : "active";
      out["keys"].push_back(std::move(j));
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (keys->empty()) {
    std::printf(
        "No virtual keys in %s. Create one with: genops keys create --team TEAM --project "
        "PROJECT --ledger URL\n",
        handle->url.c_str());
    return 0;
  }
  TextTable table({{"ID"},
                   {"PREFIX"},
                   {"TEAM"},
                   {"PROJECT"},
                   {"CUSTOMER"},
                   {"BUDGET"},
                   {"CREATED (UTC)"},
                   {"STATUS"}});
  size_t active = 0;
  for (const ledger::VirtualKey& key : *keys) {
    std::string budget = "-";
    if (const ledger::BudgetSpec* spec = budget_of(key); spec != nullptr) {
      budget = Cat(FormatUsd(spec->limit), "/", ledger::BudgetPeriodName(spec->period));
    } else if (!key.budget_name.empty() && !key.revoked()) {
      budget = "(deleted)";  // someone removed it with `genops budget delete`
    }
    active += key.revoked() ? 0 : 1;
    table.AddRow({key.id, Cat(key.display_prefix, "..."), key.attribution.team,
                  key.attribution.project,
                  key.attribution.customer_id.empty() ? "-" : key.attribution.customer_id, budget,
                  FormatUtcTime(key.created_unix_nanos),
                  key.revoked() ? Cat("revoked ", FormatUtcTime(key.revoked_unix_nanos))
                                : std::string("active")});
  }
  const std::string text =
      Cat(table.Render(), keys->size(), " key(s) in ", handle->url, ", ", active, " active\n");
  std::fputs(text.c_str(), stdout);
  return 0;
}

// --- revoke ---------------------------------------------------------------------------------

struct RevokeOptions {
  LedgerFlags ledger;
  std::string id;
};

int RunRevoke(const RevokeOptions& o) {
  constexpr std::string_view kCommand = "keys revoke";
  if (absl::Status s = ledger::ValidateVirtualKeyId(o.id); !s.ok()) return Fail(kCommand, s);
  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadOnly);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  absl::StatusOr<std::vector<ledger::VirtualKey>> keys = handle->ledger->ListVirtualKeys();
  if (!keys.ok()) {
    return Fail(kCommand, LedgerError(*handle, "cannot read the virtual keys", keys.status()));
  }
  std::optional<ledger::VirtualKey> before;
  for (const ledger::VirtualKey& key : *keys) {
    if (key.id == o.id) before = key;
  }
  if (!before.has_value()) {
    return Fail(kCommand,
                absl::NotFoundError(Cat("no virtual key with id ", o.id, " in ", handle->url,
                                        "; `genops keys list` lists the keys there")));
  }
  if (absl::Status s = gateway::RevokeVirtualKey(*handle->ledger, o.id, handle->now_unix_nanos);
      !s.ok()) {
    return Fail(kCommand, LedgerError(*handle, Cat("cannot revoke ", o.id), s));
  }
  const bool already = before->revoked();
  const int64_t revoked_at = already ? before->revoked_unix_nanos : handle->now_unix_nanos;
  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["action"] = already ? "already_revoked" : "revoked";
    out["id"] = o.id;
    out["revoked"] = FormatUtcTime(revoked_at);
    out["budget_deleted"] = before->budget_name.empty()
                                ? nlohmann::ordered_json()
                                : nlohmann::ordered_json(before->budget_name);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::string text =
      already ? Cat("Virtual key ", o.id, " was already revoked at ", FormatUtcTime(revoked_at),
                    " in ", handle->url, "\n")
              : Cat("Virtual key ", o.id, " revoked in ", handle->url,
                    "; gateways refuse it once their key cache expires (5 s by default)\n");
  if (!before->budget_name.empty()) {
    text += Cat("  its budget '", before->budget_name, "' was deleted\n");
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace

void RegisterKeysCommand(CLI::App& app, CommandRegistry& registry) {
  CLI::App* keys = app.add_subcommand(
      "keys",
      "Create, list and revoke the gateway's virtual keys in a shared ledger (needs --ledger or "
      "--config)");
  keys->require_subcommand(1);

  auto create = std::make_shared<CreateOptions>();
  CLI::App* create_cmd = keys->add_subcommand(
      "create",
      "Make a virtual key (gk_...) carrying attribution and optionally a budget; the "
      "key is printed once");
  create_cmd->add_option("--team", create->team,
                         "Team every call with the key is attributed to "
                         "(required)");
  create_cmd->add_option("--project", create->project, "Project (required)");
  create_cmd->add_option("--customer", create->customer, "Customer id");
  create_cmd->add_option("--environment", create->environment, "Environment (e.g. production)");
  create_cmd->add_option("--cost-center", create->cost_center, "Cost center");
  create_cmd->add_option("--feature", create->feature, "Feature");
  create_cmd->add_option("--tag", create->tags, "A tag key=value; repeat for more");
  create_cmd
      ->add_option("--budget-usd", create->budget_usd,
                   "A budget of the key's own, in US dollars, exact (e.g. 25 or 0.75)")
      ->each([create](const std::string&) { create->budget_given = true; });
  create_cmd
      ->add_option("--period", create->period,
                   "Period of that budget: day (default), week (from Monday), month or total "
                   "(UTC); needs --budget-usd")
      ->each([create](const std::string&) { create->period_given = true; });
  create_cmd->add_option("--description", create->description, "Free text, shown by `keys list`");
  AddLedgerFlags(create_cmd, &create->ledger);
  registry.Add(create_cmd, [create] { return RunCreate(*create); });

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = keys->add_subcommand(
      "list",
      "Every key: id, first characters, attribution, budget, created, status (never the "
      "key or its hash)");
  AddLedgerFlags(list_cmd, &list->ledger);
  registry.Add(list_cmd, [list] { return RunList(*list); });

  auto revoke = std::make_shared<RevokeOptions>();
  CLI::App* revoke_cmd = keys->add_subcommand(
      "revoke",
      "Revoke a key by id (vk_...) and delete its budget; the record stays, marked "
      "revoked");
  revoke_cmd->add_option("id", revoke->id, "The key's id, as `genops keys list` shows it")
      ->required();
  AddLedgerFlags(revoke_cmd, &revoke->ledger);
  registry.Add(revoke_cmd, [revoke] { return RunRevoke(*revoke); });
}

}  // namespace genops::cli
