// Grouped spend reports over the operations log (see report.h).
#include "src/ledger/report.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "genops/clock.h"
#include "src/core/text.h"

namespace genops::ledger {
namespace {

constexpr std::string_view kTagPrefix = "tag:";

constexpr std::string_view kGroupKeysHelp =
    "team, project, environment, customer_id, cost_center, feature, model, provider, "
    "operation_type, tag:<key>, day";

constexpr std::array<std::string_view, 6> kDimensionKeys = {
    "team", "project", "environment", "customer_id", "cost_center", "feature"};

std::string_view StripBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsTagKey(std::string_view key) {
  return key.size() > kTagPrefix.size() && key.substr(0, kTagPrefix.size()) == kTagPrefix;
}

// a += b; returns false (leaving `a` unchanged) when the sum does not fit.
bool CheckedAdd(int64_t& a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return false;
  a = sum;
  return true;
}

constexpr int64_t kNanosPerDay = 86'400 * kNanosPerSecond;

int64_t DayNumber(int64_t unix_nanos) {
  int64_t q = unix_nanos / kNanosPerDay;
  if (unix_nanos % kNanosPerDay != 0 && unix_nanos < 0) --q;
  return q;
}

std::string UtcDate(int64_t day_number) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(day_number * 86'400),
                          absl::UTCTimeZone());
}

}  // namespace

std::string_view ReportGroupKeysHelp() { return kGroupKeysHelp; }

absl::Status ValidateReportGroupKey(std::string_view key) {
  for (std::string_view known : kDimensionKeys) {
    if (key == known) return absl::OkStatus();
  }
  if (key == "model" || key == "provider" || key == "operation_type" || key == "day" ||
      IsTagKey(key)) {
    return absl::OkStatus();
  }
  if (key == kTagPrefix) {
    return absl::InvalidArgumentError(
        "group-by key \"tag:\" names no tag; write tag:<key>, e.g. tag:feature_flag");
  }
  return absl::InvalidArgumentError(
      Cat("unknown group-by key \"", key, "\"; valid keys: ", kGroupKeysHelp));
}

absl::StatusOr<std::vector<std::string>> ParseGroupBy(std::string_view list) {
  std::vector<std::string> keys;
  if (StripBlanks(list).empty()) {
    return absl::InvalidArgumentError(
        Cat("empty group-by list; give one or more of: ", kGroupKeysHelp));
  }
  std::set<std::string, std::less<>> seen;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    const std::string_view key = StripBlanks(list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (key.empty()) {
      return absl::InvalidArgumentError(
          Cat("group-by list \"", list, "\" has an empty key; separate keys with single commas"));
    }
    if (absl::Status s = ValidateReportGroupKey(key); !s.ok()) return s;
    if (!seen.emplace(key).second) {
      return absl::InvalidArgumentError(
          Cat("group-by list \"", list, "\" names \"", key, "\" twice"));
    }
    keys.emplace_back(key);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return keys;
}

double Report::CostShare(const ReportRow& row) const {
  if (total.cost.nanos() == 0) return 0.0;
  return static_cast<double>(row.totals.cost.nanos()) / static_cast<double>(total.cost.nanos());
}

ReportBuilder::ReportBuilder(ReportSpec spec) : spec_(std::move(spec)) {
  for (const std::string& key : spec_.group_by) {
    KeyKind kind = KeyKind::kDimension;
    if (key == "model") kind = KeyKind::kModel;
    if (key == "provider") kind = KeyKind::kProvider;
    if (key == "operation_type") kind = KeyKind::kOperationType;
    if (key == "day") kind = KeyKind::kDay;
    keys_.push_back({kind, key});
  }
}

absl::StatusOr<ReportBuilder> ReportBuilder::Create(ReportSpec spec) {
  std::set<std::string, std::less<>> seen;
  for (const std::string& key : spec.group_by) {
    if (absl::Status s = ValidateReportGroupKey(key); !s.ok()) return s;
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(Cat("group-by key \"", key, "\" is given twice"));
    }
  }
  if (spec.since_unix_nanos >= spec.until_unix_nanos) {
    return absl::InvalidArgumentError(Cat("empty time range: the start (", spec.since_unix_nanos,
                                          " ns since the epoch) is not before the end (",
                                          spec.until_unix_nanos, ")"));
  }
  return ReportBuilder(std::move(spec));
}

std::string ReportBuilder::KeyValue(const GroupKey& key, const OperationRecord& record) const {
  switch (key.kind) {
    case KeyKind::kDimension: {
      const std::optional<std::string_view> value = record.attribution.Dimension(key.name);
      return value.has_value() ? std::string(*value) : std::string();
    }
    case KeyKind::kModel:
      return record.model;
    case KeyKind::kProvider:
      return record.provider;
    case KeyKind::kOperationType:
      return record.operation_type;
    case KeyKind::kDay:
      return UtcDate(DayNumber(record.start_unix_nanos));
  }
  return std::string();
}

void ReportBuilder::Accumulate(ReportTotals& totals, const OperationRecord& record) {
  const Usage& u = record.usage;
  bool ok = CheckedAdd(totals.operations, 1);
  ok &= CheckedAdd(totals.input_tokens, u.input_tokens);
  ok &= CheckedAdd(totals.cache_read_tokens, u.cache_read_tokens);
  ok &= CheckedAdd(totals.cache_write_tokens, u.cache_write_tokens);
  ok &= CheckedAdd(totals.output_tokens, u.output_tokens);
  ok &= CheckedAdd(totals.reasoning_tokens, u.reasoning_tokens);
  int64_t cost = totals.cost.nanos();
  ok &= CheckedAdd(cost, record.cost.nanos());
  totals.cost = Money::FromNanos(cost);
  if (!record.priced) ++totals.unpriced;
  if (record.decision == DecisionResult::kBlocked ||
      record.decision == DecisionResult::kApprovalRequired) {
    ++totals.blocked;
  }
  if (record.error) ++totals.errors;
  if (!ok) overflow_ = true;
}

bool ReportBuilder::Add(const OperationRecord& record) {
  if (record.start_unix_nanos < spec_.since_unix_nanos ||
      record.start_unix_nanos >= spec_.until_unix_nanos) {
    return false;
  }
  std::vector<std::string> key;
  key.reserve(keys_.size());
  for (const GroupKey& k : keys_) key.push_back(KeyValue(k, record));
  Accumulate(groups_[std::move(key)], record);
  Accumulate(total_, record);
  return true;
}

absl::StatusOr<Report> ReportBuilder::Build() const {
  if (overflow_) {
    return absl::OutOfRangeError(
        "report: a sum overflowed 64 bits (beyond 9.2 billion USD or 9.2e18 tokens); the "
        "operations log holds corrupt records; narrow the time range to find them");
  }
  Report report;
  report.spec = spec_;
  report.total = total_;
  report.rows.reserve(groups_.size());
  for (const auto& [key, totals] : groups_) report.rows.push_back({key, totals});
  // groups_ is ordered by key, so a stable sort on (cost, operations) leaves ties by key.
  std::stable_sort(report.rows.begin(), report.rows.end(),
                   [](const ReportRow& a, const ReportRow& b) {
                     if (a.totals.cost != b.totals.cost) return a.totals.cost > b.totals.cost;
                     return a.totals.operations > b.totals.operations;
                   });
  return report;
}

absl::StatusOr<Report> BuildReport(Ledger& ledger, const ReportSpec& spec) {
  absl::StatusOr<ReportBuilder> builder = ReportBuilder::Create(spec);
  if (!builder.ok()) return builder.status();
  OperationQuery query;
  query.since_unix_nanos = spec.since_unix_nanos;
  query.until_unix_nanos = spec.until_unix_nanos;
  absl::Status scanned = ledger.ScanOperations(query, [&](const OperationRecord& record) {
    builder->Add(record);
    return true;
  });
  if (!scanned.ok()) return scanned;
  return builder->Build();
}

}  // namespace genops::ledger
