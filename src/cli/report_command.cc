// `genops report`: spend and usage from a ledger's operations log, grouped.
//
//   genops report --group-by team,model --since 7d --ledger sqlite://genops.db
//   genops report --group-by customer_id,day --since 2026-11-01 --format csv --config genops.yaml
//
// The aggregation is src/ledger/report.h (exact Money sums, deterministic order); this file
// only reads the flags and renders the table, JSON or CSV.
//
// Exit codes: 0 printed (also when no operation matched), 1 the ledger failed, 2 usage error.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "src/cli/commands.h"
#include "src/cli/ledger_access.h"
#include "src/core/text.h"
#include "src/ledger/report.h"

namespace genops::cli {
namespace {

struct ReportOptions {
  LedgerFlags ledger;
  std::string group_by = "team";
  std::string since;
  std::string until;
  std::string format = "table";
};

// RFC 4180: a field holding a comma, a quote or a line break is quoted, quotes doubled.
std::string CsvField(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string ShareText(double share, const char* format) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), format, share);
  return buf;
}

double RoundedShare(double share) { return std::round(share * 1e6) / 1e6; }

nlohmann::ordered_json TotalsJson(const ledger::ReportTotals& t, double share) {
  nlohmann::ordered_json j;
  j["operations"] = t.operations;
  j["input_tokens"] = t.input_tokens;
  j["cache_read_tokens"] = t.cache_read_tokens;
  j["cache_write_tokens"] = t.cache_write_tokens;
  j["output_tokens"] = t.output_tokens;
  j["reasoning_tokens"] = t.reasoning_tokens;
  PutMoney(j, "cost", t.cost);
  j["share"] = RoundedShare(share);
  j["unpriced"] = t.unpriced;
  j["blocked"] = t.blocked;
  j["errors"] = t.errors;
  return j;
}

std::string RangeText(const ledger::ReportSpec& spec) {
  const bool since = spec.since_unix_nanos != ledger::ReportSpec().since_unix_nanos;
  const bool until = spec.until_unix_nanos != ledger::ReportSpec().until_unix_nanos;
  if (!since && !until) return "all time";
  if (since && until) {
    return Cat(FormatUtcTime(spec.since_unix_nanos), " to ", FormatUtcTime(spec.until_unix_nanos));
  }
  return since ? Cat("since ", FormatUtcTime(spec.since_unix_nanos))
               : Cat("before ", FormatUtcTime(spec.until_unix_nanos));
}

void PrintJson(const ledger::Report& report, const LedgerHandle& handle) {
  nlohmann::ordered_json out;
  out["ledger"] = handle.url;
  out["group_by"] = report.spec.group_by;
  const ledger::ReportSpec unbounded;
  out["since"] = report.spec.since_unix_nanos == unbounded.since_unix_nanos
                     ? nlohmann::ordered_json()
                     : nlohmann::ordered_json(FormatUtcTime(report.spec.since_unix_nanos));
  out["until"] = report.spec.until_unix_nanos == unbounded.until_unix_nanos
                     ? nlohmann::ordered_json()
                     : nlohmann::ordered_json(FormatUtcTime(report.spec.until_unix_nanos));
  out["rows"] = nlohmann::ordered_json::array();
  for (const ledger::ReportRow& row : report.rows) {
    nlohmann::ordered_json j;
    j["key"] = nlohmann::ordered_json::object();
    for (size_t i = 0; i < row.key.size(); ++i) j["key"][report.spec.group_by[i]] = row.key[i];
    j.update(TotalsJson(row.totals, report.CostShare(row)));
    out["rows"].push_back(std::move(j));
  }
  out["total"] = TotalsJson(report.total, report.total.cost.nanos() == 0 ? 0.0 : 1.0);
  std::printf("%s\n", out.dump(2).c_str());
}

void PrintCsv(const ledger::Report& report) {
  std::vector<std::string> header = {"row"};
  for (const std::string& key : report.spec.group_by) header.push_back(CsvField(key));
  for (const char* column :
       {"operations", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "cost_usd", "cost_nanos", "share", "unpriced", "blocked", "errors"}) {
    header.emplace_back(column);
  }
  std::string text = Cat(Join(header, ","), "\n");
  auto line = [&](std::string_view kind, const std::vector<std::string>& key,
                  const ledger::ReportTotals& t, double share) {
    std::vector<std::string> cells = {std::string(kind)};
    for (const std::string& k : key) cells.push_back(CsvField(k));
    for (int64_t n : {t.operations, t.input_tokens, t.cache_read_tokens, t.cache_write_tokens,
                      t.output_tokens, t.reasoning_tokens}) {
      cells.push_back(Cat(n));
    }
    cells.push_back(t.cost.ToUsdString());
    cells.push_back(Cat(t.cost.nanos()));
    cells.push_back(ShareText(share, "%.6f"));
    for (int64_t n : {t.unpriced, t.blocked, t.errors}) cells.push_back(Cat(n));
    text += Cat(Join(cells, ","), "\n");
  };
  for (const ledger::ReportRow& row : report.rows) {
    line("group", row.key, row.totals, report.CostShare(row));
  }
  line("total", std::vector<std::string>(report.spec.group_by.size()), report.total,
       report.total.cost.nanos() == 0 ? 0.0 : 1.0);
  std::fputs(text.c_str(), stdout);
}

void PrintTable(const ledger::Report& report, const LedgerHandle& handle) {
  std::string text = Cat("Spend by ", Join(report.spec.group_by, ", "), ", ",
                         RangeText(report.spec), " (UTC), from ", handle.url, "\n");
  if (report.rows.empty()) {
    text += "No operations in this range.\n";
    std::fputs(text.c_str(), stdout);
    return;
  }
  using Align = TextTable::Align;
  std::vector<TextTable::Column> columns;
  for (const std::string& key : report.spec.group_by) {
    std::string header = key;
    for (char& c : header) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    columns.push_back({header});
  }
  for (const char* numeric : {"OPS", "INPUT", "CACHED", "OUTPUT", "REASONING", "COST", "SHARE"}) {
    columns.push_back({numeric, Align::kRight});
  }
  TextTable table(std::move(columns));
  auto cells = [](std::vector<std::string> key, const ledger::ReportTotals& t, double share) {
    for (int64_t n :
         {t.operations, t.input_tokens, t.cache_read_tokens, t.output_tokens, t.reasoning_tokens}) {
      key.push_back(WithThousands(n));
    }
    key.push_back(FormatUsd(t.cost));
    key.push_back(ShareText(share * 100, "%.1f%%"));
    return key;
  };
  for (const ledger::ReportRow& row : report.rows) {
    std::vector<std::string> key = row.key;
    for (std::string& k : key) {
      if (k.empty()) k = "(none)";
    }
    table.AddRow(cells(std::move(key), row.totals, report.CostShare(row)));
  }
  table.AddRule();
  std::vector<std::string> total_key(report.spec.group_by.size());
  if (!total_key.empty()) total_key[0] = "total";
  table.AddRow(
      cells(std::move(total_key), report.total, report.total.cost.nanos() == 0 ? 0.0 : 1.0));
  text += table.Render();
  text += Cat(report.rows.size(),
              " group(s); INPUT counts every prompt token (CACHED included), "
              "OUTPUT every generated token (REASONING included)\n");
  if (report.total.unpriced > 0) {
    text += Cat(report.total.unpriced,
                " operation(s) had no price, so their cost counts as $0; price the model with a "
                "pricing.overrides file (`genops prices` lists the catalog)\n");
  }
  if (report.total.blocked > 0) {
    text += Cat(report.total.blocked, " operation(s) were blocked before running (cost $0)\n");
  }
  std::fputs(text.c_str(), stdout);
}

int RunReport(const ReportOptions& o) {
  constexpr std::string_view kCommand = "report";
  std::string format = o.format;
  if (o.ledger.json) {
    if (format != "table" && format != "json") {
      return Fail(kCommand, absl::InvalidArgumentError(Cat("--json and --format ", format,
                                                           " contradict each other; "
                                                           "give one of them")));
    }
    format = "json";
  }
  absl::StatusOr<std::vector<std::string>> keys = ledger::ParseGroupBy(o.group_by);
  if (!keys.ok()) {
    return Fail(kCommand, absl::InvalidArgumentError(Cat("--group-by: ", keys.status().message())));
  }
  absl::StatusOr<int64_t> now = ResolveNow(o.ledger);
  if (!now.ok()) return Fail(kCommand, now.status());
  ledger::ReportSpec spec;
  spec.group_by = *std::move(keys);
  if (!o.since.empty()) {
    absl::StatusOr<int64_t> since = ParseTimeArgument("--since", o.since, *now);
    if (!since.ok()) return Fail(kCommand, since.status());
    spec.since_unix_nanos = *since;
  }
  if (!o.until.empty()) {
    absl::StatusOr<int64_t> until = ParseTimeArgument("--until", o.until, *now);
    if (!until.ok()) return Fail(kCommand, until.status());
    spec.until_unix_nanos = *until;
  }
  if (spec.since_unix_nanos >= spec.until_unix_nanos) {
    return Fail(kCommand,
                absl::InvalidArgumentError(
                    Cat("--since ", FormatUtcTime(spec.since_unix_nanos), " is not before --until ",
                        FormatUtcTime(spec.until_unix_nanos), "; the range would be empty")));
  }

  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadOnly);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  absl::StatusOr<ledger::Report> report = ledger::BuildReport(*handle->ledger, spec);
  if (!report.ok()) {
    return Fail(kCommand, absl::Status(report.status().code(),
                                       Cat("cannot read the operations log of ", handle->url, ": ",
                                           report.status().message())));
  }
  if (format == "json") {
    PrintJson(*report, *handle);
  } else if (format == "csv") {
    PrintCsv(*report);
  } else {
    PrintTable(*report, *handle);
  }
  return 0;
}

}  // namespace

void RegisterReportCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* sub = app.add_subcommand(
      "report",
      "Spend and tokens from the operations log, grouped and sorted by cost (needs --ledger or "
      "--config)");
  sub->add_option("--group-by", options->group_by,
                  Cat("Comma-separated keys, in column order: ", ledger::ReportGroupKeysHelp(),
                      " (the UTC date); default team"));
  sub->add_option("--since", options->since,
                  "Operations started at or after this: RFC 3339, a date (midnight UTC) or a "
                  "duration before now (30m, 24h, 7d, 2w)");
  sub->add_option("--until", options->until, "Operations started before this (same forms)");
  sub->add_option("--format", options->format, "table (default), json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  AddLedgerFlags(sub, &options->ledger);
  registry.Add(sub, [options] { return RunReport(*options); });
}

}  // namespace genops::cli
