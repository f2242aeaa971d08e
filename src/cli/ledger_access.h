// What the ledger commands (`genops budget ...`, `genops report`, `genops operations`) share:
// where the ledger is, their common flags, time arguments, exit codes and aligned tables.
//
// Where the ledger is. Every ledger command takes exactly one of `--ledger URL` or
// `--config FILE` (then the file's `ledger.url`). There is deliberately no default: a
// command that silently fell back to some database would show an empty report, or install a
// budget, somewhere the application never looks. memory:// is refused for the same reason:
// it lives inside one process, so the command would read nothing and its writes would vanish.
// Commands that only read open the store with create_if_missing = false, so a mistyped
// sqlite path is an error instead of a new empty database.
//
// Time. Commands take "now" from the real clock, or from the hidden `--now TIME` flag that
// tests use to make relative times (`--since 24h`) and budget windows deterministic. A flag
// rather than an environment variable: it is visible in the command line of every test, and
// it cannot leak into a user's shell.
//
// Errors travel as absl::Status; Fail() prints them and maps them to the exit codes of
// commands.h: kInvalidArgument (a usage error: bad flag value, bad URL, bad config file) is 2,
// anything else (an unreachable store, a missing database, NotFound) is 1.
//
// Thread safety: functions are thread-safe; TextTable and LedgerHandle are not (the CLI is
// single-threaded).
#ifndef GENOPS_CLI_LEDGER_ACCESS_H_
#define GENOPS_CLI_LEDGER_ACCESS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "src/ledger/ledger.h"
#include "src/server/config_file.h"

namespace genops::cli {

// The flags every ledger command takes.
struct LedgerFlags {
  std::string ledger_url;   // --ledger
  std::string config_path;  // --config
  bool json = false;        // --json
  std::string now;          // --now (hidden; tests): an absolute time
};

// Adds --ledger, --config, --json and the hidden --now to `sub`. `flags` must outlive it.
void AddLedgerFlags(CLI::App* sub, LedgerFlags* flags);

enum class LedgerAccess {
  kReadOnly,   // the store must exist already
  kReadWrite,  // a sqlite file is created when missing
};

// An opened ledger and what the command needs to know about it.
struct LedgerHandle {
  std::unique_ptr<ManualClock> clock;  // fixed at `now`; outlives `ledger` (declared first)
  std::unique_ptr<ledger::Ledger> ledger;
  std::string url;  // where it is, for messages: passwords masked (RedactLedgerUrl)
  std::optional<server::FileConfig> config;  // set when --config was given
  int64_t now_unix_nanos = 0;
};

// `url` with any password masked ("postgresql://app:***@db:5432/genops",
// "...?password=***"), for messages and JSON output.
std::string RedactLedgerUrl(std::string_view url);

// "now": --now when given (RFC 3339 or a date), else the real clock.
absl::StatusOr<int64_t> ResolveNow(const LedgerFlags& flags);

// Resolves the URL (see the file comment), refuses memory://, and opens the store.
absl::StatusOr<LedgerHandle> OpenLedgerForCommand(const LedgerFlags& flags, LedgerAccess access);

// Parses a time argument given to `flag` (for messages):
//   RFC 3339      2026-11-01T00:00:00Z, 2026-11-01T09:30:00.5+02:00
//   a date        2026-11-01 (midnight UTC)
//   a duration    30s, 30m, 24h, 7d, 2w: that long before `now_unix_nanos`
absl::StatusOr<int64_t> ParseTimeArgument(std::string_view flag, std::string_view text,
                                          int64_t now_unix_nanos);

// "2026-11-01T00:00:00Z" (whole seconds, UTC) and "2026-11-01" (UTC date).
std::string FormatUtcTime(int64_t unix_nanos);
std::string FormatUtcDate(int64_t unix_nanos);

// "$12.5", "-$0.25": the exact amount (Money::ToUsdString) with a dollar sign.
std::string FormatUsd(Money amount);
// 1234567 -> "1,234,567".
std::string WithThousands(int64_t n);

// Adds `<prefix>_usd` (exact decimal string) and `<prefix>_nanos` (integer) to `object`:
// the documented JSON shape of every amount the ledger commands print.
void PutMoney(nlohmann::ordered_json& object, std::string_view prefix, Money amount);

// Prints "genops <command>: <message>" to stderr; returns 2 for kInvalidArgument, else 1.
int Fail(std::string_view command, const absl::Status& status);

// An aligned plain-text table: columns separated by two spaces, no trailing blanks.
class TextTable {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
  };

  explicit TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // `cells` has one entry per column (missing ones print empty).
  void AddRow(std::vector<std::string> cells);
  // A line of dashes across the table before the next row (e.g. before a total).
  void AddRule();
  std::string Render() const;

 private:
  struct Row {
    bool rule = false;
    std::vector<std::string> cells;
  };
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

}  // namespace genops::cli

#endif  // GENOPS_CLI_LEDGER_ACCESS_H_
