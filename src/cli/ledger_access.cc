// Shared plumbing of the ledger commands (see ledger_access.h).
#include "src/cli/ledger_access.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/time/time.h"
#include "src/core/text.h"
#include "src/ledger/ledger_factory.h"

namespace genops::cli {
namespace {

constexpr std::string_view kTimeForms =
    "use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01, midnight UTC) or a duration "
    "before now (30m, 24h, 7d, 2w)";

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "YYYY-MM-DD": the shape of a date argument (its values are checked by the parser).
bool LooksLikeDate(std::string_view s) {
  return s.size() == 10 && AllDigits(s.substr(0, 4)) && s[4] == '-' && AllDigits(s.substr(5, 2)) &&
         s[7] == '-' && AllDigits(s.substr(8, 2));
}

absl::StatusOr<int64_t> ToUnixNanos(absl::Time t, std::string_view flag, std::string_view text) {
  // int64 nano-seconds since the epoch span 1677-09-21 to 2262-04-11.
  if (t < absl::FromUnixNanos(std::numeric_limits<int64_t>::min()) ||
      t > absl::FromUnixNanos(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(
        Cat(flag, " \"", text, "\": out of range; times must fall between 1678 and 2262"));
  }
  return absl::ToUnixNanos(t);
}

// "7d" and friends; nullopt when `text` is not shaped like a duration.
std::optional<absl::StatusOr<int64_t>> ParseRelative(std::string_view flag, std::string_view text,
                                                     int64_t now_unix_nanos) {
  if (text.size() < 2 || !AllDigits(text.substr(0, text.size() - 1))) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = kNanosPerSecond;
      break;
    case 'm':
      unit = 60 * kNanosPerSecond;
      break;
    case 'h':
      unit = 3'600 * kNanosPerSecond;
      break;
    case 'd':
      unit = 86'400 * kNanosPerSecond;
      break;
    case 'w':
      unit = 7 * 86'400 * kNanosPerSecond;
      break;
    default:
      return std::nullopt;
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  int64_t count = 0;
  int64_t span = 0;
  int64_t result = 0;
  const std::errc parsed = std::from_chars(digits.data(), digits.data() + digits.size(), count).ec;
  if (parsed != std::errc() || __builtin_mul_overflow(count, unit, &span) ||
      __builtin_sub_overflow(now_unix_nanos, span, &result)) {
    return absl::StatusOr<int64_t>(absl::InvalidArgumentError(Cat(
        flag, " \"", text, "\": the duration reaches too far back; times must fall after 1678")));
  }
  return absl::StatusOr<int64_t>(result);
}

// Display width of UTF-8 text: one column per code point (good enough for names and ids).
size_t DisplayWidth(std::string_view s) {
  size_t width = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++width;
  }
  return width;
}

}  // namespace

std::string RedactLedgerUrl(std::string_view url) {
  std::string out(url);
  const size_t authority = out.find("://");
  if (authority != std::string::npos) {
    const size_t start = authority + 3;
    const size_t end = std::min(out.find_first_of("/?", start), out.size());
    const size_t at = out.rfind('@', end - 1);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  const size_t query = out.find('?');
  if (query != std::string::npos) {
    size_t pos = query + 1;
    while (pos < out.size()) {
      size_t amp = out.find('&', pos);
      if (amp == std::string::npos) amp = out.size();
      const std::string_view param(out.data() + pos, amp - pos);
      if (param.substr(0, 9) == "password=") {
        out.replace(pos + 9, amp - pos - 9, "***");
        amp = pos + 9 + 3;
      }
      pos = amp + 1;
    }
  }
  return out;
}

void AddLedgerFlags(CLI::App* sub, LedgerFlags* flags) {
  sub->add_option("--ledger", flags->ledger_url,
                  "The ledger to use: sqlite://PATH, redis://HOST:PORT/DB or "
                  "postgresql://USER@HOST:PORT/DB. Give this or --config (one is required)");
  sub->add_option("--config", flags->config_path,
                  "Use the ledger.url of this GenOps configuration file (the one `genops serve` "
                  "or the application reads). Give this or --ledger");
  sub->add_flag("--json", flags->json, "Print JSON instead of a table");
  // Test-only: pins "now". Hidden from --help (an empty group).
  sub->add_option("--now", flags->now, "Pretend the time is this (tests)")->group("");
}

absl::StatusOr<int64_t> ResolveNow(const LedgerFlags& flags) {
  if (flags.now.empty()) return Clock::Real()->NowUnixNanos();
  if (ParseRelative("--now", flags.now, 0).has_value()) {
    return absl::InvalidArgumentError(
        Cat("--now \"", flags.now, "\": must be an absolute time (RFC 3339 or a date)"));
  }
  return ParseTimeArgument("--now", flags.now, 0);
}

absl::StatusOr<LedgerHandle> OpenLedgerForCommand(const LedgerFlags& flags, LedgerAccess access) {
  LedgerHandle handle;
  if (flags.ledger_url.empty() == flags.config_path.empty()) {
    return absl::InvalidArgumentError(
        Cat(flags.ledger_url.empty() ? "no ledger given" : "both --ledger and --config given",
            "; name the ledger with exactly one of --ledger URL (e.g. --ledger "
            "sqlite://genops.db) or --config FILE (the ledger.url of a GenOps configuration "
            "file)"));
  }
  std::string url;
  if (!flags.ledger_url.empty()) {
    url = flags.ledger_url;
  } else {
    absl::StatusOr<server::FileConfig> config = server::LoadConfigFile(flags.config_path);
    if (!config.ok()) {
      return absl::InvalidArgumentError(Cat("--config: ", config.status().message()));
    }
    url = config->adapter.ledger_url;
    handle.config = *std::move(config);
  }
  handle.url = RedactLedgerUrl(url);
  // Messages from the factory and the stores quote the URL; never print its password.
  auto scrub = [&](absl::string_view message) {
    std::string out(message.data(), message.size());
    if (url == handle.url || url.empty()) return out;
    for (size_t pos = out.find(url); pos != std::string::npos;
         pos = out.find(url, pos + handle.url.size())) {
      out.replace(pos, url.size(), handle.url);
    }
    return out;
  };

  absl::StatusOr<std::string_view> scheme = ledger::LedgerScheme(url);
  if (!scheme.ok()) {
    std::string where = flags.config_path.empty() ? std::string("--ledger")
                                                  : Cat("ledger.url in ", flags.config_path);
    return absl::InvalidArgumentError(Cat(where, ": ", scrub(scheme.status().message())));
  }
  if (*scheme == "memory") {
    std::string where = flags.config_path.empty()
                            ? std::string("--ledger memory://")
                            : Cat(flags.config_path,
                                  " has ledger.url memory:// (the default when the file sets "
                                  "none)");
    return absl::InvalidArgumentError(
        Cat(where,
            ": a memory ledger lives inside one process, so this command would see nothing and "
            "change nothing; use the durable ledger the application writes to (sqlite://PATH, "
            "redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DB)"));
  }

  absl::StatusOr<int64_t> now = ResolveNow(flags);
  if (!now.ok()) return now.status();
  handle.now_unix_nanos = *now;
  ledger::LedgerOpenOptions options;
  if (!flags.now.empty()) {
    handle.clock = std::make_unique<ManualClock>(*now);
    options.clock = handle.clock.get();
  }
  options.create_if_missing = access == LedgerAccess::kReadWrite;
  // A file created here (say by `genops keys create` before the first `genops serve`) gets
  // the page size the configuration's gateway will write it with.
  options.batched_writes = handle.config.has_value() && handle.config->leases.enabled;
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened = ledger::OpenLedger(url, options);
  if (!opened.ok()) {
    // The stores' messages say what to check (a missing sqlite file, an unreachable host).
    return absl::Status(opened.status().code(), Cat("cannot open the ledger ", handle.url, ": ",
                                                    scrub(opened.status().message())));
  }
  handle.ledger = *std::move(opened);
  return handle;
}

absl::StatusOr<int64_t> ParseTimeArgument(std::string_view flag, std::string_view text,
                                          int64_t now_unix_nanos) {
  if (text.empty()) {
    return absl::InvalidArgumentError(Cat(flag, ": empty time; ", kTimeForms));
  }
  if (auto relative = ParseRelative(flag, text, now_unix_nanos); relative.has_value()) {
    return *std::move(relative);
  }
  const std::string input(text);
  absl::Time t;
  std::string error;
  if (LooksLikeDate(text)) {
    if (!absl::ParseTime("%Y-%m-%d", input, absl::UTCTimeZone(), &t, &error) ||
        absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()) != input) {
      return absl::InvalidArgumentError(Cat(flag, " \"", text, "\": not a calendar date"));
    }
    return ToUnixNanos(t, flag, text);
  }
  if (absl::ParseTime(absl::RFC3339_full, input, &t, &error)) return ToUnixNanos(t, flag, text);
  std::string hint;
  if (text.size() > 10 && LooksLikeDate(text.substr(0, 10)) &&
      text.find_first_of("Zz+") == std::string_view::npos && text.rfind('-') < 10) {
    hint = " (an RFC 3339 time needs a zone: append Z for UTC)";
  }
  return absl::InvalidArgumentError(
      Cat(flag, " \"", text, "\": not a time", hint, "; ", kTimeForms));
}

std::string FormatUtcTime(int64_t unix_nanos) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(unix_nanos),
                          absl::UTCTimeZone());
}

std::string FormatUtcDate(int64_t unix_nanos) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixNanos(unix_nanos), absl::UTCTimeZone());
}

std::string FormatUsd(Money amount) {
  if (amount < Money::Zero()) {
    // -nanos cannot overflow for any amount a ledger holds (|amount| < 9.2e18).
    return Cat("-$", Money::FromNanos(-amount.nanos()).ToUsdString());
  }
  return Cat("$", amount.ToUsdString());
}

std::string WithThousands(int64_t n) {
  const bool negative = n < 0;
  std::string digits = std::to_string(n);
  if (negative) digits.erase(0, 1);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return negative ? "-" + out : out;
}

void PutMoney(nlohmann::ordered_json& object, std::string_view prefix, Money amount) {
  object[Cat(prefix, "_usd")] = amount.ToUsdString();
  object[Cat(prefix, "_nanos")] = amount.nanos();
}

int Fail(std::string_view command, const absl::Status& status) {
  const std::string line = Cat("genops ", command, ": ", status.message(), "\n");
  std::fputs(line.c_str(), stderr);
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

void TextTable::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back({false, std::move(cells)});
}

void TextTable::AddRule() { rows_.push_back({true, {}}); }

std::string TextTable::Render() const {
  std::vector<size_t> width(columns_.size(), 0);
  for (size_t i = 0; i < columns_.size(); ++i) width[i] = DisplayWidth(columns_[i].header);
  for (const Row& row : rows_) {
    for (size_t i = 0; i < row.cells.size(); ++i) {
      width[i] = std::max(width[i], DisplayWidth(row.cells[i]));
    }
  }
  size_t total = 0;
  for (size_t w : width) total += w;
  total += columns_.empty() ? 0 : 2 * (columns_.size() - 1);

  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < columns_.size(); ++i) {
      const std::string& cell = cells[i];
      const std::string pad(width[i] - DisplayWidth(cell), ' ');
      if (i > 0) line += "  ";
      line += columns_[i].align == Align::kRight ? pad + cell : cell + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out.push_back('\n');
  };
  std::vector<std::string> headers;
  for (const Column& c : columns_) headers.push_back(c.header);
  emit(headers);
  for (const Row& row : rows_) {
    if (row.rule) {
      out += std::string(total, '-');
      out.push_back('\n');
    } else {
      emit(row.cells);
    }
  }
  return out;
}

}  // namespace genops::cli
