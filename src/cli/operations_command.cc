// `genops operations`: the newest operations in a ledger's operations log, one per line.
//
//   genops operations --limit 50 --since 1h --ledger sqlite://genops.db
//   genops operations --json --config genops.yaml
//
// Exit codes: 0 printed (also when there are none), 1 the ledger failed, 2 usage error.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "genops/decision.h"
#include "genops/operation_record.h"
#include "src/cli/commands.h"
#include "src/cli/ledger_access.h"
#include "src/core/text.h"
#include "src/ledger/ledger.h"

namespace genops::cli {
namespace {

struct OperationsOptions {
  LedgerFlags ledger;
  int64_t limit = 20;
  std::string since;
  std::string until;
};

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

nlohmann::ordered_json RecordJson(const OperationRecord& r) {
  nlohmann::ordered_json j;
  j["operation_id"] = r.operation_id;
  j["start_time"] = FormatUtcTime(r.start_unix_nanos);
  j["start_unix_nanos"] = r.start_unix_nanos;
  j["duration_nanos"] = r.duration_nanos;
  j["operation_type"] = r.operation_type;
  j["operation_name"] = r.operation_name;
  const Attribution& a = r.attribution;
  j["attribution"] = {{"team", a.team},
                      {"project", a.project},
                      {"environment", a.environment},
                      {"customer_id", a.customer_id},
                      {"cost_center", a.cost_center},
                      {"feature", a.feature},
                      {"tags", a.tags}};
  j["provider"] = r.provider;
  j["model"] = r.model;
  j["usage"] = {{"input_tokens", r.usage.input_tokens},
                {"cache_read_tokens", r.usage.cache_read_tokens},
                {"cache_write_tokens", r.usage.cache_write_tokens},
                {"output_tokens", r.usage.output_tokens},
                {"reasoning_tokens", r.usage.reasoning_tokens}};
  PutMoney(j, "cost", r.cost);
  j["priced"] = r.priced;
  j["decision"] = std::string(DecisionResultName(r.decision));
  j["reason"] = std::string(DecisionReasonName(r.reason));
  j["error"] = r.error;
  j["trace_id"] = r.trace_id;
  return j;
}

int RunOperations(const OperationsOptions& o) {
  constexpr std::string_view kCommand = "operations";
  absl::StatusOr<int64_t> now = ResolveNow(o.ledger);
  if (!now.ok()) return Fail(kCommand, now.status());
  ledger::OperationQuery query;
  if (!o.since.empty()) {
    absl::StatusOr<int64_t> since = ParseTimeArgument("--since", o.since, *now);
    if (!since.ok()) return Fail(kCommand, since.status());
    query.since_unix_nanos = *since;
  }
  if (!o.until.empty()) {
    absl::StatusOr<int64_t> until = ParseTimeArgument("--until", o.until, *now);
    if (!until.ok()) return Fail(kCommand, until.status());
    query.until_unix_nanos = *until;
  }
  if (query.since_unix_nanos >= query.until_unix_nanos) {
    return Fail(kCommand,
                absl::InvalidArgumentError(Cat(
                    "--since ", FormatUtcTime(query.since_unix_nanos), " is not before --until ",
                    FormatUtcTime(query.until_unix_nanos), "; the range would be empty")));
  }
  // One more than asked, to tell whether older operations were left out.
  query.limit = o.limit == 0 ? 0 : static_cast<size_t>(o.limit) + 1;

  absl::StatusOr<LedgerHandle> handle = OpenLedgerForCommand(o.ledger, LedgerAccess::kReadOnly);
  if (!handle.ok()) return Fail(kCommand, handle.status());
  absl::StatusOr<std::vector<OperationRecord>> records =
      ledger::QueryOperations(*handle->ledger, query);
  if (!records.ok()) {
    return Fail(kCommand, absl::Status(records.status().code(),
                                       Cat("cannot read the operations log of ", handle->url, ": ",
                                           records.status().message())));
  }
  const bool truncated = o.limit != 0 && records->size() > static_cast<size_t>(o.limit);
  if (truncated) records->resize(static_cast<size_t>(o.limit));

  if (o.ledger.json) {
    nlohmann::ordered_json out;
    out["ledger"] = handle->url;
    out["operations"] = nlohmann::ordered_json::array();
    for (const OperationRecord& r : *records) out["operations"].push_back(RecordJson(r));
    out["truncated"] = truncated;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (records->empty()) {
    std::printf("No operations in %s for this range.\n", handle->url.c_str());
    return 0;
  }
  using Align = TextTable::Align;
  TextTable table({{"TIME (UTC)"},
                   {"ID"},
                   {"TEAM"},
                   {"PROJECT"},
                   {"PROVIDER"},
                   {"MODEL"},
                   {"TOKENS IN/OUT", Align::kRight},
                   {"COST", Align::kRight},
                   {"DECISION"},
                   {"REASON"},
                   {"LATENCY", Align::kRight},
                   {"STATUS"}});
  for (const OperationRecord& r : *records) {
    table.AddRow(
        {FormatUtcTime(r.start_unix_nanos), r.operation_id, OrDash(r.attribution.team),
         OrDash(r.attribution.project), OrDash(r.provider), OrDash(r.model),
         Cat(WithThousands(r.usage.input_tokens), "/", WithThousands(r.usage.output_tokens)),
         r.priced ? FormatUsd(r.cost) : "unpriced", std::string(DecisionResultName(r.decision)),
         r.reason == DecisionReason::kNone ? "-" : std::string(DecisionReasonName(r.reason)),
         Cat(WithThousands(r.duration_nanos / kNanosPerMilli), " ms"), r.error ? "error" : "ok"});
  }
  std::string text = table.Render();
  text += Cat(records->size(), " operation(s), newest first");
  if (truncated) text += Cat("; older ones left out (--limit ", o.limit, ", 0 for all)");
  text += "\n";
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace

void RegisterOperationsCommand(CLI::App& app, CommandRegistry& registry) {
  auto options = std::make_shared<OperationsOptions>();
  CLI::App* sub = app.add_subcommand(
      "operations",
      "The newest operations of the operations log, one per line (needs --ledger or --config)");
  sub->add_option("--limit,-n", options->limit, "How many, newest first; 0 for all (default 20)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  sub->add_option("--since", options->since,
                  "Operations started at or after this: RFC 3339, a date (midnight UTC) or a "
                  "duration before now (30m, 24h, 7d, 2w)");
  sub->add_option("--until", options->until, "Operations started before this (same forms)");
  AddLedgerFlags(sub, &options->ledger);
  registry.Add(sub, [options] { return RunOperations(*options); });
}

}  // namespace genops::cli
