// Report: spend and usage from the operations log, grouped by attribution, model or day.
//
// `genops report` and anything else that summarises the operations log (ledger.h) go through
// this one aggregation, so a report read from SQLite and one read from PostgreSQL agree to the
// nano-USD: costs are summed as Money (never as doubles), groups are ordered
// deterministically, and the grouping keys are the same names budgets use for their scopes
// (plus the few that only make sense for reports: model, provider, operation_type, day).
//
// ReportBuilder is a pure fold over OperationRecords, for callers that already hold records;
// BuildReport() feeds it from a ledger's ScanOperations() in one streaming pass, so a report
// over millions of operations holds one row per group, not the records.
//
// Example:
//   absl::StatusOr<std::vector<std::string>> keys = ParseGroupBy("team,model");
//   ReportSpec spec{.group_by = *keys, .since_unix_nanos = start_of_november};
//   absl::StatusOr<Report> report = BuildReport(ledger, spec);
//   for (const ReportRow& row : report->rows) { ... row.key[0] ... row.totals.cost ... }
//
// Thread safety: functions are thread-safe; ReportBuilder is thread-compatible (one thread
// feeds it, or the caller synchronises); Report is a plain value.
#ifndef GENOPS_LEDGER_REPORT_H_
#define GENOPS_LEDGER_REPORT_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/money.h"
#include "genops/operation_record.h"
#include "src/ledger/ledger.h"

namespace genops::ledger {

// The names a report can group by, for messages and help texts:
// "team, project, environment, customer_id, cost_center, feature, model, provider,
// operation_type, tag:<key>, day". `day` is the UTC date (YYYY-MM-DD) the operation started.
std::string_view ReportGroupKeysHelp();

// OK when `key` is one of ReportGroupKeysHelp() (tag:<key> with a non-empty key); otherwise
// InvalidArgument naming the key and listing the valid ones.
absl::Status ValidateReportGroupKey(std::string_view key);

// Splits a comma-separated list ("team,tag:feature_flag,day") into validated keys. Blanks
// around keys are ignored; an empty list, an empty element or a repeated key is an error.
absl::StatusOr<std::vector<std::string>> ParseGroupBy(std::string_view list);

struct ReportSpec {
  // Grouping keys, in column order. Empty: a single group holding every operation.
  std::vector<std::string> group_by;
  // Operations whose start time is in [since, until) are counted.
  int64_t since_unix_nanos = std::numeric_limits<int64_t>::min();
  int64_t until_unix_nanos = std::numeric_limits<int64_t>::max();
};

// The sums over a set of operations. Token counts follow genops::Usage: input_tokens
// includes the cached ones, output_tokens includes reasoning.
struct ReportTotals {
  int64_t operations = 0;
  int64_t input_tokens = 0;
  int64_t cache_read_tokens = 0;  // "cached" in tables
  int64_t cache_write_tokens = 0;
  int64_t output_tokens = 0;
  int64_t reasoning_tokens = 0;
  Money cost;
  int64_t unpriced = 0;  // operations without a price; their cost counts as zero
  int64_t blocked = 0;   // refused before running (blocked, or waiting for an approval)
  int64_t errors = 0;    // operations that ended in an error

  bool operator==(const ReportTotals&) const = default;
};

struct ReportRow {
  std::vector<std::string> key;  // one value per ReportSpec::group_by entry; "" when unset
  ReportTotals totals;
};

struct Report {
  ReportSpec spec;
  // Cost descending, then operations descending, then key ascending: the same records always
  // give the same order, whatever order the store returned them in.
  std::vector<ReportRow> rows;
  ReportTotals total;  // every counted operation; exactly the sum of the rows

  // `row`'s fraction of the total cost in [0, 1]; 0 when the total is zero. For display
  // only (a double): the exact amounts are the rows' Money.
  double CostShare(const ReportRow& row) const;
};

// Folds records into a Report.
class ReportBuilder {
 public:
  // Validates the spec: every key (ValidateReportGroupKey), no repeated key, and a non-empty
  // time range (since < until).
  static absl::StatusOr<ReportBuilder> Create(ReportSpec spec);

  // Counts `record` when its start time is within the spec's range; returns whether it did.
  bool Add(const OperationRecord& record);

  // The report so far. OutOfRange when a sum overflowed (a total beyond 9.2 billion USD or
  // 9.2e18 tokens can only come from corrupt records).
  absl::StatusOr<Report> Build() const;

 private:
  enum class KeyKind {
    kDimension,  // attribution dimension (team, ..., tag:<key>)
    kModel,
    kProvider,
    kOperationType,
    kDay,
  };
  struct GroupKey {
    KeyKind kind;
    std::string name;
  };

  explicit ReportBuilder(ReportSpec spec);
  std::string KeyValue(const GroupKey& key, const OperationRecord& record) const;
  void Accumulate(ReportTotals& totals, const OperationRecord& record);

  ReportSpec spec_;
  std::vector<GroupKey> keys_;
  std::map<std::vector<std::string>, ReportTotals> groups_;
  ReportTotals total_;
  bool overflow_ = false;
};

// Builds the report from `ledger`'s operations log, scanning only the spec's time range.
absl::StatusOr<Report> BuildReport(Ledger& ledger, const ReportSpec& spec);

}  // namespace genops::ledger

#endif  // GENOPS_LEDGER_REPORT_H_
