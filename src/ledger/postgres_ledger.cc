#include "src/ledger/postgres_ledger.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "genops/clock.h"
#include "genops/decision.h"
#include "nlohmann/json.hpp"
#include "src/core/text.h"
#include "src/ledger/postgres_client.h"
#include "src/ledger/postgres_schema.h"

namespace genops::ledger {
namespace {

using postgres::PgConnection;
using postgres::PgPool;
using postgres::PgResult;
using postgres::PgStatement;
using postgres::PostgresLedgerConfig;

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr int kMaxAttempts = 8;  // for serialization failures and deadlocks
constexpr int kTotalShards = 64;
constexpr size_t kScanPage = 512;
// Schema creation may wait for another process creating it; give it more than one call's time.
constexpr int64_t kSchemaTimeoutNanos = 30 * kNanosPerSecond;

// --- Statements ----------------------------------------------------------------------------

constexpr PgStatement kReserve = {
    0, "genops_reserve",
    "SELECT * FROM genops_reserve($1::text, $2::jsonb, $3::bigint, $4::bigint, $5::bigint[], "
    "$6::bigint[])"};
constexpr PgStatement kRecord = {
    1, "genops_record",
    "SELECT * FROM genops_record($1::text, $2::boolean, $3::jsonb, $4::bigint, $5::bigint[], "
    "$6::bigint[], $7::bigint, $8::int)"};
constexpr PgStatement kRelease = {2, "genops_release", "SELECT genops_release($1::text)"};
constexpr PgStatement kExpire = {3, "genops_expire",
                                 "SELECT genops_expire($1::bigint, $2::bigint)"};
constexpr PgStatement kUpsertBudget = {
    4, "genops_upsert_budget",
    "INSERT INTO genops_budgets AS b (name, scope, match_required, match_absent, limit_nanos, "
    "period, alert_thresholds, generation, spec_version) "
    "VALUES ($1::text, $2::jsonb, "
    "(SELECT COALESCE(jsonb_object_agg(e.key, e.value), '{}'::jsonb) "
    "   FROM jsonb_each($2::jsonb) e WHERE e.value <> '\"\"'::jsonb), "
    "ARRAY(SELECT e.key FROM jsonb_each_text($2::jsonb) e WHERE e.value = '' ORDER BY 1), "
    "$3::bigint, $4::text, $5::float8[], nextval('genops_budget_generation'), "
    "nextval('genops_budget_generation')) "
    "ON CONFLICT (name) DO UPDATE SET scope = EXCLUDED.scope, "
    "match_required = EXCLUDED.match_required, match_absent = EXCLUDED.match_absent, "
    "limit_nanos = EXCLUDED.limit_nanos, alert_thresholds = EXCLUDED.alert_thresholds, "
    "period = EXCLUDED.period, "
    "generation = CASE WHEN b.period = EXCLUDED.period THEN b.generation "
    "                  ELSE EXCLUDED.generation END, "
    "spec_version = EXCLUDED.spec_version"};
constexpr PgStatement kDeleteBudget = {5, "genops_delete_budget",
                                       "DELETE FROM genops_budgets WHERE name = $1::text"};
constexpr PgStatement kListBudgets = {6, "genops_list_budgets",
                                      "SELECT * FROM genops_statuses(NULL, $1::bigint[])"};
constexpr PgStatement kTotalSpent = {
    7, "genops_total_spent", "SELECT COALESCE(sum(nanos), 0)::bigint FROM genops_total_spent"};
constexpr PgStatement kLookup = {
    8, "genops_lookup",
    "SELECT 'r', amount, 0::bigint FROM genops_reservations WHERE operation_id = $1::text "
    "UNION ALL "
    "SELECT 's', reserved, actual FROM genops_settled WHERE operation_id = $1::text "
    "ORDER BY 1 LIMIT 1"};

#define GENOPS_PG_OPERATION_COLUMNS                                                        \
  "operation_id, start_unix_nanos, duration_nanos, operation_type, operation_name, team, " \
  "project, environment, customer_id, cost_center, feature, tags, provider, model, "       \
  "input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, " \
  "cost_nanos, priced, decision, reason, error, trace_id"

constexpr PgStatement kAppendOperations = {
    9, "genops_append_operations",
    "INSERT INTO genops_operations (" GENOPS_PG_OPERATION_COLUMNS
    ") "
    "SELECT " GENOPS_PG_OPERATION_COLUMNS
    " FROM jsonb_to_recordset($1::jsonb) AS x("
    "operation_id text, start_unix_nanos bigint, duration_nanos bigint, operation_type text, "
    "operation_name text, team text, project text, environment text, customer_id text, "
    "cost_center text, feature text, tags jsonb, provider text, model text, "
    "input_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, "
    "output_tokens bigint, reasoning_tokens bigint, cost_nanos bigint, priced boolean, "
    "decision text, reason text, error boolean, trace_id text) "
    "ON CONFLICT (operation_id) DO NOTHING"};
constexpr PgStatement kScanOperations = {
    10, "genops_scan_operations",
    "SELECT " GENOPS_PG_OPERATION_COLUMNS
    " FROM genops_operations WHERE start_unix_nanos >= $1::bigint "
    "AND (start_unix_nanos, operation_id) < ($2::bigint, $3::text) "
    "ORDER BY start_unix_nanos DESC, operation_id DESC LIMIT $4::bigint"};
constexpr PgStatement kPurgeOperations = {
    11, "genops_purge_operations",
    "DELETE FROM genops_operations WHERE start_unix_nanos < $1::bigint"};

#undef GENOPS_PG_OPERATION_COLUMNS

#define GENOPS_PG_KEY_COLUMNS                                                                 \
  "id, secret_sha256, display_prefix, team, project, environment, customer_id, cost_center, " \
  "feature, tags, budget_name, description, created_unix_nanos, revoked_unix_nanos"

constexpr PgStatement kCreateKey = {
    12, "genops_create_key",
    "INSERT INTO genops_virtual_keys (" GENOPS_PG_KEY_COLUMNS
    ") VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, "
    "$8::text, $9::text, $10::jsonb, $11::text, $12::text, $13::bigint, 0) "
    "ON CONFLICT DO NOTHING"};
constexpr PgStatement kKeyIdExists = {13, "genops_key_id_exists",
                                      "SELECT 1 FROM genops_virtual_keys WHERE id = $1::text"};
constexpr PgStatement kFindKey = {14, "genops_find_key",
                                  "SELECT " GENOPS_PG_KEY_COLUMNS
                                  " FROM genops_virtual_keys WHERE secret_sha256 = $1::text"};
constexpr PgStatement kListKeys = {15, "genops_list_keys",
                                   "SELECT " GENOPS_PG_KEY_COLUMNS
                                   " FROM genops_virtual_keys ORDER BY created_unix_nanos, id"};
constexpr PgStatement kRevokeKey = {
    16, "genops_revoke_key",
    "UPDATE genops_virtual_keys SET revoked_unix_nanos = CASE WHEN revoked_unix_nanos = 0 "
    "THEN $2::bigint ELSE revoked_unix_nanos END WHERE id = $1::text"};

#undef GENOPS_PG_KEY_COLUMNS

// --- Encoding ------------------------------------------------------------------------------

// Appends `s` as a JSON string. Bytes >= 0x80 pass through: the server checks UTF-8.
void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void AppendJsonMember(std::string& out, std::string_view key, std::string_view value) {
  if (out.size() > 1) out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
  AppendJsonString(out, value);
}

// A call's non-empty dimensions, tags as "tag:KEY": what budget scopes are matched against.
std::string DimensionsJson(const Attribution& a) {
  std::string out = "{";
  const std::pair<std::string_view, const std::string*> fields[] = {{"team", &a.team},
                                                                    {"project", &a.project},
                                                                    {"environment", &a.environment},
                                                                    {"customer_id", &a.customer_id},
                                                                    {"cost_center", &a.cost_center},
                                                                    {"feature", &a.feature}};
  for (const auto& [name, value] : fields) {
    if (!value->empty()) AppendJsonMember(out, name, *value);
  }
  std::string key;
  for (const auto& [tag, value] : a.tags) {
    if (value.empty()) continue;
    key.assign("tag:").append(tag);
    AppendJsonMember(out, key, value);
  }
  out.push_back('}');
  return out;
}

std::string ScopeJson(const Scope& scope) {
  std::string out = "{";
  for (const auto& [dimension, value] : scope) AppendJsonMember(out, dimension, value);
  out.push_back('}');
  return out;
}

template <typename Range>
std::string PgArray(const Range& values) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out.push_back(',');
    out.append(Cat(v));
  }
  out.push_back('}');
  return out;
}

constexpr std::array<BudgetPeriod, 4> kPeriods = {BudgetPeriod::kDay, BudgetPeriod::kWeek,
                                                  BudgetPeriod::kMonth, BudgetPeriod::kTotal};

// Starts and ends of the windows containing `now`, one per period (genops_period_index order).
struct WindowArrays {
  std::string starts;
  std::string ends;
};
WindowArrays WindowsAt(int64_t now) {
  std::array<int64_t, 4> starts{};
  std::array<int64_t, 4> ends{};
  for (size_t i = 0; i < kPeriods.size(); ++i) {
    const BudgetWindow w = BudgetWindow::Containing(kPeriods[i], now);
    starts[i] = w.start_unix_nanos;
    ends[i] = w.end_unix_nanos;
  }
  return {PgArray(starts), PgArray(ends)};
}

int ShardOf(std::string_view operation_id) {
  return static_cast<int>(std::hash<std::string_view>{}(operation_id) % kTotalShards);
}

// --- Validation (the memory store's rules and messages) ------------------------------------

absl::Status ValidateText(std::string_view what, std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("ledger: ", what, " contains a NUL character, which PostgreSQL cannot store"));
  }
  return absl::OkStatus();
}

// The shared checks (ledger.h), plus what PostgreSQL cannot store.
absl::Status ValidateStorableOperationId(std::string_view operation_id) {
  if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
  return ValidateText("operation id", operation_id);
}

absl::Status ValidateStorableBudgetSpec(const BudgetSpec& spec) {
  if (absl::Status s = ValidateBudgetSpec(spec); !s.ok()) return s;
  return ValidateText("budget name", spec.name);
}

// Every text a virtual key stores, checked for what PostgreSQL cannot hold.
absl::Status ValidateStorableVirtualKey(const VirtualKey& key) {
  if (absl::Status s = ValidateNewVirtualKey(key); !s.ok()) return s;
  const Attribution& a = key.attribution;
  for (std::string_view text :
       {std::string_view(a.team), std::string_view(a.project), std::string_view(a.environment),
        std::string_view(a.customer_id), std::string_view(a.cost_center),
        std::string_view(a.feature), std::string_view(key.budget_name),
        std::string_view(key.description)}) {
    if (absl::Status s = ValidateText(Cat("virtual key ", key.id, " text"), text); !s.ok()) {
      return s;
    }
  }
  for (const auto& [tag, value] : a.tags) {
    if (absl::Status s = ValidateText(Cat("virtual key ", key.id, " tag"), tag); !s.ok()) return s;
    if (absl::Status s = ValidateText(Cat("virtual key ", key.id, " tag value"), value); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// A JSON object of string pairs (tags).
std::string StringMapJson(const std::map<std::string, std::string>& map) {
  std::string out = "{";
  for (const auto& [key, value] : map) AppendJsonMember(out, key, value);
  out.push_back('}');
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> StringMapFromJson(std::string_view text,
                                                                     std::string_view what) {
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::DataLossError(Cat("postgresql ledger: ", what, " has malformed tags"));
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : parsed.items()) {
    if (!value.is_string()) {
      return absl::DataLossError(
          Cat("postgresql ledger: ", what, ": tag '", key, "' is not a string"));
    }
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

absl::StatusOr<VirtualKey> KeyFromRow(const PgResult& result, int row) {
  VirtualKey key;
  int c = 0;
  auto text = [&]() { return std::string(result.Text(row, c++)); };
  key.id = text();
  key.secret_sha256 = text();
  key.display_prefix = text();
  key.attribution.team = text();
  key.attribution.project = text();
  key.attribution.environment = text();
  key.attribution.customer_id = text();
  key.attribution.cost_center = text();
  key.attribution.feature = text();
  absl::StatusOr<std::map<std::string, std::string>> tags =
      StringMapFromJson(result.Text(row, c++), Cat("virtual key ", key.id));
  if (!tags.ok()) return tags.status();
  key.attribution.tags = *std::move(tags);
  key.budget_name = text();
  key.description = text();
  key.created_unix_nanos = result.Int(row, c++);
  key.revoked_unix_nanos = result.Int(row, c++);
  return key;
}

// --- Operations log rows -------------------------------------------------------------------

void AppendRecordJson(std::string& out, const OperationRecord& r) {
  auto str = [&out](std::string_view key, std::string_view value) {
    out.push_back(',');
    AppendJsonString(out, key);
    out.push_back(':');
    AppendJsonString(out, value);
  };
  auto num = [&out](std::string_view key, int64_t value) {
    out.push_back(',');
    AppendJsonString(out, key);
    out.append(Cat(":", value));
  };
  auto flag = [&out](std::string_view key, bool value) {
    out.push_back(',');
    AppendJsonString(out, key);
    out.append(value ? ":true" : ":false");
  };
  out.append("{\"operation_id\":");
  AppendJsonString(out, r.operation_id);
  num("start_unix_nanos", r.start_unix_nanos);
  num("duration_nanos", r.duration_nanos);
  str("operation_type", r.operation_type);
  str("operation_name", r.operation_name);
  str("team", r.attribution.team);
  str("project", r.attribution.project);
  str("environment", r.attribution.environment);
  str("customer_id", r.attribution.customer_id);
  str("cost_center", r.attribution.cost_center);
  str("feature", r.attribution.feature);
  out.append(",\"tags\":{");
  bool first = true;
  for (const auto& [key, value] : r.attribution.tags) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, key);
    out.push_back(':');
    AppendJsonString(out, value);
  }
  out.push_back('}');
  str("provider", r.provider);
  str("model", r.model);
  num("input_tokens", r.usage.input_tokens);
  num("cache_read_tokens", r.usage.cache_read_tokens);
  num("cache_write_tokens", r.usage.cache_write_tokens);
  num("output_tokens", r.usage.output_tokens);
  num("reasoning_tokens", r.usage.reasoning_tokens);
  num("cost_nanos", r.cost.nanos());
  flag("priced", r.priced);
  str("decision", DecisionResultName(r.decision));
  str("reason", DecisionReasonName(r.reason));
  flag("error", r.error);
  str("trace_id", r.trace_id);
  out.push_back('}');
}

absl::StatusOr<OperationRecord> RecordFromRow(const PgResult& result, int row) {
  OperationRecord r;
  int c = 0;
  auto text = [&]() { return std::string(result.Text(row, c++)); };
  auto integer = [&]() { return result.Int(row, c++); };
  auto boolean = [&]() { return result.Text(row, c++) == "t"; };
  r.operation_id = text();
  r.start_unix_nanos = integer();
  r.duration_nanos = integer();
  r.operation_type = text();
  r.operation_name = text();
  r.attribution.team = text();
  r.attribution.project = text();
  r.attribution.environment = text();
  r.attribution.customer_id = text();
  r.attribution.cost_center = text();
  r.attribution.feature = text();
  const std::string tags_text = text();
  const nlohmann::json tags = nlohmann::json::parse(tags_text, nullptr, false);
  if (tags.is_discarded() || !tags.is_object()) {
    return absl::DataLossError(
        Cat("postgresql ledger: operation '", r.operation_id, "' has malformed tags"));
  }
  for (const auto& [key, value] : tags.items()) {
    if (!value.is_string()) {
      return absl::DataLossError(Cat("postgresql ledger: operation '", r.operation_id, "': tag '",
                                     key, "' is not a string"));
    }
    r.attribution.tags.emplace(key, value.get<std::string>());
  }
  r.provider = text();
  r.model = text();
  r.usage.input_tokens = integer();
  r.usage.cache_read_tokens = integer();
  r.usage.cache_write_tokens = integer();
  r.usage.output_tokens = integer();
  r.usage.reasoning_tokens = integer();
  r.cost = Money::FromNanos(integer());
  r.priced = boolean();
  // A name this build does not know (written by a newer one) reads as the neutral value,
  // so reports keep working across a rolling upgrade.
  r.decision = ParseDecisionResult(result.Text(row, c++)).value_or(DecisionResult::kAllowed);
  r.reason = ParseDecisionReason(result.Text(row, c++)).value_or(DecisionReason::kNone);
  r.error = boolean();
  r.trace_id = text();
  return r;
}

// --- The store -----------------------------------------------------------------------------

// The Ledger over a PgPool: each call is one prepared statement (a server-side function for
// mutations) on a pooled connection.
//
// Thread safety: thread-safe. Calls share nothing but the pool and the spec cache, each
// behind its own mutex; the database serialises what must be serialised.
class PostgresLedger final : public Ledger {
 public:
  PostgresLedger(PostgresLedgerConfig config, const Clock* clock)
      : clock_(clock != nullptr ? clock : Clock::Real()),
        timeout_nanos_(config.timeout_ms * kNanosPerMilli),
        settled_ttl_nanos_(config.settled_ttl_seconds * kNanosPerSecond),
        pool_(std::move(config)) {}

  // Connects and makes sure the schema is there and ours.
  absl::Status Open() {
    const int64_t start = NowMono();
    absl::StatusOr<std::unique_ptr<PgConnection>> connection =
        pool_.Acquire(start + timeout_nanos_);
    if (!connection.ok()) return connection.status();
    PgConnection& conn = **connection;
    absl::Status status = EnsureSchema(conn, start + std::max(timeout_nanos_, kSchemaTimeoutNanos));
    if (!status.ok()) conn.MarkBroken();
    pool_.Release(*std::move(connection));
    return status;
  }

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateStorableOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    const WindowArrays windows = WindowsAt(request.now_unix_nanos);
    const std::string params[] = {request.operation_id,
                                  DimensionsJson(request.attribution),
                                  Cat(request.amount.nanos()),
                                  Cat(request.expires_at_unix_nanos),
                                  windows.starts,
                                  windows.ends};
    absl::StatusOr<PgResult> result = Run(kReserve, params);
    if (!result.ok()) return result.status();
    if (result->rows() < 1) return NoRows("reserve");
    ReserveOutcome outcome;
    const int64_t code = result->Int(0, 0);
    outcome.admitted = code != 1;
    if (code == 1) outcome.refused_by = std::string(result->Text(0, 1));
    absl::StatusOr<BudgetStatusList> budgets = Statuses(*result, 2, request.now_unix_nanos);
    if (!budgets.ok()) return budgets.status();
    outcome.budgets = *std::move(budgets);
    return outcome;
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateStorableOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    const WindowArrays windows = WindowsAt(now_unix_nanos);
    const std::string params[] = {std::string(operation_id),
                                  "false",
                                  "{}",
                                  Cat(actual.nanos()),
                                  windows.starts,
                                  windows.ends,
                                  Cat(clock_->NowUnixNanos()),
                                  Cat(ShardOf(operation_id))};
    absl::StatusOr<PgResult> result = Run(kRecord, params);
    if (!result.ok()) return result.status();
    return SettleFrom(*result, operation_id, now_unix_nanos);
  }

  absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                       const Attribution& attribution, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateStorableOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("charge", operation_id, actual); !s.ok()) return s;
    const WindowArrays windows = WindowsAt(now_unix_nanos);
    const std::string params[] = {std::string(operation_id),
                                  "true",
                                  DimensionsJson(attribution),
                                  Cat(actual.nanos()),
                                  windows.starts,
                                  windows.ends,
                                  Cat(clock_->NowUnixNanos()),
                                  Cat(ShardOf(operation_id))};
    absl::StatusOr<PgResult> result = Run(kRecord, params);
    if (!result.ok()) return result.status();
    return SettleFrom(*result, operation_id, now_unix_nanos);
  }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateStorableOperationId(operation_id); !s.ok()) return s;
    const std::string params[] = {std::string(operation_id)};
    return Run(kRelease, params).status();
  }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    int64_t settled_before = 0;
    if (__builtin_sub_overflow(clock_->NowUnixNanos(), settled_ttl_nanos_, &settled_before)) {
      settled_before = std::numeric_limits<int64_t>::min();
    }
    const std::string params[] = {Cat(now_unix_nanos), Cat(settled_before)};
    absl::StatusOr<PgResult> result = Run(kExpire, params);
    if (!result.ok()) return result.status();
    if (result->rows() < 1) return NoRows("expire");
    return static_cast<int>(result->Int(0, 0));
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    if (absl::Status s = ValidateStorableBudgetSpec(spec); !s.ok()) return s;
    const std::string params[] = {spec.name, ScopeJson(spec.scope), Cat(spec.limit.nanos()),
                                  std::string(BudgetPeriodName(spec.period)),
                                  PgArray(spec.alert_thresholds)};
    return Run(kUpsertBudget, params).status();
  }

  absl::Status DeleteBudget(std::string_view name) override {
    if (absl::Status s = ValidateText("budget name", name); !s.ok()) return s;
    const std::string params[] = {std::string(name)};
    absl::StatusOr<PgResult> result = Run(kDeleteBudget, params);
    if (!result.ok()) return result.status();
    if (result->AffectedRows() == 0) {
      return absl::NotFoundError(Cat("ledger: no budget named '", name, "'"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    const std::string params[] = {WindowsAt(now_unix_nanos).starts};
    absl::StatusOr<PgResult> result = Run(kListBudgets, params);
    if (!result.ok()) return result.status();
    absl::StatusOr<BudgetStatusList> statuses = Statuses(*result, 0, now_unix_nanos);
    if (!statuses.ok()) return statuses.status();
    return std::vector<BudgetStatus>(std::make_move_iterator(statuses->begin()),
                                     std::make_move_iterator(statuses->end()));
  }

  absl::StatusOr<Money> TotalSpent() override {
    absl::StatusOr<PgResult> result = Run(kTotalSpent, {});
    if (!result.ok()) return result.status();
    if (result->rows() < 1) return NoRows("total");
    return Money::FromNanos(result->Int(0, 0));
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    if (absl::Status s = ValidateText("operation id", operation_id); !s.ok()) return s;
    const std::string params[] = {std::string(operation_id)};
    absl::StatusOr<PgResult> result = Run(kLookup, params);
    if (!result.ok()) return result.status();
    if (result->rows() == 0) return std::optional<OperationEntry>();
    OperationEntry entry;
    entry.state = result->Text(0, 0) == "r" ? OperationState::kReserved : OperationState::kSettled;
    entry.reserved = Money::FromNanos(result->Int(0, 1));
    entry.actual = Money::FromNanos(result->Int(0, 2));
    return std::optional<OperationEntry>(entry);
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    for (const OperationRecord& record : records) {
      if (absl::Status s = ValidateStorableOperationId(record.operation_id); !s.ok()) return s;
    }
    if (records.empty()) return absl::OkStatus();
    std::string batch = "[";
    for (const OperationRecord& record : records) {
      if (batch.size() > 1) batch.push_back(',');
      AppendRecordJson(batch, record);
    }
    batch.push_back(']');
    const std::string params[] = {std::move(batch)};
    return Run(kAppendOperations, params).status();
  }

  absl::Status ScanOperations(const OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    // Keyset pagination: each page is a short statement, and no connection is held while
    // `visit` runs.
    int64_t before_start = query.until_unix_nanos;
    std::string before_id;  // "" : nothing at before_start itself
    size_t visited = 0;
    while (query.limit == 0 || visited < query.limit) {
      const size_t page = query.limit == 0 ? kScanPage : std::min(kScanPage, query.limit - visited);
      const std::string params[] = {Cat(query.since_unix_nanos), Cat(before_start), before_id,
                                    Cat(page)};
      absl::StatusOr<PgResult> result = Run(kScanOperations, params);
      if (!result.ok()) return result.status();
      const int rows = result->rows();
      for (int row = 0; row < rows; ++row) {
        absl::StatusOr<OperationRecord> record = RecordFromRow(*result, row);
        if (!record.ok()) return record.status();
        ++visited;
        if (!visit(*record)) return absl::OkStatus();
        before_start = record->start_unix_nanos;
        before_id = std::move(record->operation_id);
      }
      if (static_cast<size_t>(rows) < page) break;
    }
    return absl::OkStatus();
  }

  absl::Status CreateVirtualKey(const VirtualKey& key) override {
    if (absl::Status s = ValidateStorableVirtualKey(key); !s.ok()) return s;
    const Attribution& a = key.attribution;
    const std::string params[] = {key.id,
                                  key.secret_sha256,
                                  key.display_prefix,
                                  a.team,
                                  a.project,
                                  a.environment,
                                  a.customer_id,
                                  a.cost_center,
                                  a.feature,
                                  StringMapJson(a.tags),
                                  key.budget_name,
                                  key.description,
                                  Cat(key.created_unix_nanos)};
    absl::StatusOr<PgResult> result = Run(kCreateKey, params);
    if (!result.ok()) return result.status();
    if (result->AffectedRows() == 1) return absl::OkStatus();
    // Nothing was written: the id or the hash is taken. Say which.
    const std::string id_param[] = {key.id};
    absl::StatusOr<PgResult> exists = Run(kKeyIdExists, id_param);
    if (!exists.ok()) return exists.status();
    return VirtualKeyExistsError(key.id, /*id_taken=*/exists->rows() > 0);
  }

  absl::StatusOr<std::optional<VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    if (absl::Status s = ValidateVirtualKeyHash(secret_sha256); !s.ok()) return s;
    const std::string params[] = {std::string(secret_sha256)};
    absl::StatusOr<PgResult> result = Run(kFindKey, params);
    if (!result.ok()) return result.status();
    if (result->rows() == 0) return std::optional<VirtualKey>();
    absl::StatusOr<VirtualKey> key = KeyFromRow(*result, 0);
    if (!key.ok()) return key.status();
    return std::optional<VirtualKey>(*std::move(key));
  }

  absl::StatusOr<std::vector<VirtualKey>> ListVirtualKeys() override {
    absl::StatusOr<PgResult> result = Run(kListKeys, {});
    if (!result.ok()) return result.status();
    std::vector<VirtualKey> out;
    out.reserve(static_cast<size_t>(result->rows()));
    for (int row = 0; row < result->rows(); ++row) {
      absl::StatusOr<VirtualKey> key = KeyFromRow(*result, row);
      if (!key.ok()) return key.status();
      out.push_back(*std::move(key));
    }
    return out;
  }

  absl::Status RevokeVirtualKey(std::string_view id, int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateVirtualKeyRevocation(id, now_unix_nanos); !s.ok()) return s;
    const std::string params[] = {std::string(id), Cat(now_unix_nanos)};
    absl::StatusOr<PgResult> result = Run(kRevokeKey, params);
    if (!result.ok()) return result.status();
    if (result->AffectedRows() == 0) return VirtualKeyNotFoundError(id);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) override {
    const std::string params[] = {Cat(before_unix_nanos)};
    absl::StatusOr<PgResult> result = Run(kPurgeOperations, params);
    if (!result.ok()) return result.status();
    return result->AffectedRows();
  }

 private:
  struct CachedSpec {
    int64_t version = 0;
    std::shared_ptr<const BudgetSpec> spec;
  };

  static int64_t NowMono() { return Clock::Real()->MonotonicNanos(); }

  static absl::Status NoRows(std::string_view what) {
    return absl::InternalError(Cat("postgresql ledger: ", what, " returned no row"));
  }

  // One statement, on a pooled connection, within timeout_ms; transaction conflicts retried.
  absl::StatusOr<PgResult> Run(const PgStatement& statement, absl::Span<const std::string> params) {
    const int64_t deadline = NowMono() + timeout_nanos_;
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<std::unique_ptr<PgConnection>> connection = pool_.Acquire(deadline);
      if (!connection.ok()) return connection.status();
      absl::StatusOr<PgResult> result = (*connection)->Execute(statement, params, deadline);
      const int serial = (*connection)->serial();
      pool_.Release(*std::move(connection));
      if (result.ok() || result.status().code() != absl::StatusCode::kAborted ||
          attempt == kMaxAttempts) {
        return result;
      }
      // The transaction was rolled back (deadlock or serialization failure): back off a
      // little, differently per connection, and run it again.
      const int64_t backoff = (100 + 37 * (serial % 7)) * attempt * 1000LL;
      if (NowMono() + backoff >= deadline) return result;
      Clock::Real()->SleepNanos(backoff);
    }
  }

  absl::Status EnsureSchema(PgConnection& conn, int64_t deadline) {
    const std::string_view read_version =
        "SELECT value FROM genops_meta WHERE key = 'schema_version'";
    absl::StatusOr<PgResult> version = conn.ExecuteScript(read_version, deadline);
    if (version.ok() && version->rows() == 1) {
      if (absl::Status s = CheckVersion(version->Int(0, 0)); !s.ok()) return s;
      if (version->Int(0, 0) == postgres::kSchemaVersion) return absl::OkStatus();
    } else if (!version.ok() && version.status().code() != absl::StatusCode::kFailedPrecondition) {
      return version.status();  // anything but "no such table"
    }
    // Create or upgrade, one process at a time.
    const std::string begin =
        Cat("BEGIN; SET LOCAL statement_timeout = ", kSchemaTimeoutNanos / kNanosPerMilli,
            "; SELECT pg_advisory_xact_lock(", postgres::kSchemaLockSpace, ", 0); ",
            "SET LOCAL client_min_messages = warning; "
            "CREATE TABLE IF NOT EXISTS genops_meta (key text PRIMARY KEY, value bigint NOT NULL)");
    if (absl::StatusOr<PgResult> r = conn.ExecuteScript(begin, deadline); !r.ok()) {
      return r.status();
    }
    version = conn.ExecuteScript(read_version, deadline);
    if (!version.ok()) return version.status();
    if (version->rows() == 1) {
      if (absl::Status s = CheckVersion(version->Int(0, 0)); !s.ok()) return s;
    }
    if (version->rows() == 0 || version->Int(0, 0) < postgres::kSchemaVersion) {
      if (absl::StatusOr<PgResult> r = conn.ExecuteScript(postgres::SchemaScript(), deadline);
          !r.ok()) {
        return absl::Status(r.status().code(),
                            Cat("creating the ledger schema: ", r.status().message()));
      }
    }
    return conn.ExecuteScript("COMMIT", deadline).status();
  }

  absl::Status CheckVersion(int64_t version) const {
    if (version > postgres::kSchemaVersion) {
      return absl::FailedPreconditionError(Cat("postgresql ledger at ", pool_.config().Describe(),
                                               ": the database holds schema "
                                               "version ",
                                               version, ", newer than this build understands (",
                                               postgres::kSchemaVersion,
                                               "); upgrade GenOps, or use another database"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SettleOutcome> SettleFrom(const PgResult& result, std::string_view operation_id,
                                           int64_t now_unix_nanos) {
    if (result.rows() < 1) return NoRows("settle");
    const int64_t code = result.Int(0, 0);
    if (code == 3) {
      return absl::NotFoundError(
          Cat("ledger: no reservation for operation '", operation_id,
              "' (never reserved, released, or expired); record its spend with Charge()"));
    }
    if (code == 4) {
      return absl::FailedPreconditionError(Cat(
          "ledger: operation '", operation_id,
          "' holds a reservation; settle it with Settle() (or Release() it) instead of Charge()"));
    }
    SettleOutcome outcome;
    outcome.already_settled = code == 2;
    outcome.reserved = Money::FromNanos(result.Int(0, 1));
    outcome.actual = Money::FromNanos(result.Int(0, 2));
    absl::StatusOr<BudgetStatusList> budgets = Statuses(result, 3, now_unix_nanos);
    if (!budgets.ok()) return budgets.status();
    outcome.budgets = *std::move(budgets);
    return outcome;
  }

  // Statuses from rows whose columns from `c` are those of genops_statuses(); a NULL name
  // is the placeholder row of an outcome without budgets.
  absl::StatusOr<BudgetStatusList> Statuses(const PgResult& result, int c, int64_t now) {
    BudgetStatusList out;
    for (int row = 0; row < result.rows(); ++row) {
      if (result.IsNull(row, c)) continue;
      absl::StatusOr<std::shared_ptr<const BudgetSpec>> spec = SpecOf(result, row, c);
      if (!spec.ok()) return spec.status();
      BudgetStatus& status = out.emplace_back();
      status.spec = *std::move(spec);
      status.window = BudgetWindow::Containing(status.spec->period, now);
      status.spent = Money::FromNanos(result.Int(row, c + 6));
      status.reserved = Money::FromNanos(result.Int(row, c + 7));
    }
    return out;
  }

  // The shared spec of the budget in `row`, parsed only when its version is new to us.
  absl::StatusOr<std::shared_ptr<const BudgetSpec>> SpecOf(const PgResult& result, int row, int c) {
    const std::string_view name = result.Text(row, c);
    const int64_t version = result.Int(row, c + 1);
    {
      absl::MutexLock lock(&specs_mu_);
      auto it = specs_.find(Sv(name));
      if (it != specs_.end() && it->second.version == version) return it->second.spec;
    }
    auto spec = std::make_shared<BudgetSpec>();
    spec->name = std::string(name);
    const nlohmann::json scope = nlohmann::json::parse(result.Text(row, c + 2), nullptr, false);
    if (scope.is_discarded() || !scope.is_object()) {
      return absl::DataLossError(
          Cat("postgresql ledger: budget '", name, "' has a malformed scope"));
    }
    for (const auto& [dimension, value] : scope.items()) {
      if (!value.is_string()) {
        return absl::DataLossError(Cat("postgresql ledger: budget '", name, "': scope value of '",
                                       dimension, "' is not a string"));
      }
      spec->scope.emplace(dimension, value.get<std::string>());
    }
    spec->limit = Money::FromNanos(result.Int(row, c + 3));
    absl::StatusOr<BudgetPeriod> period = ParseBudgetPeriod(result.Text(row, c + 4));
    if (!period.ok()) return period.status();
    spec->period = *period;
    spec->alert_thresholds.clear();
    std::string_view thresholds = result.Text(row, c + 5);
    while (!thresholds.empty()) {
      const size_t comma = thresholds.find(',');
      double value = 0;
      if (!absl::SimpleAtod(Sv(thresholds.substr(0, comma)), &value)) {
        return absl::DataLossError(
            Cat("postgresql ledger: budget '", name, "' has a malformed alert threshold"));
      }
      spec->alert_thresholds.push_back(value);
      thresholds =
          comma == std::string_view::npos ? std::string_view() : thresholds.substr(comma + 1);
    }
    std::shared_ptr<const BudgetSpec> shared = std::move(spec);
    absl::MutexLock lock(&specs_mu_);
    specs_[shared->name] = CachedSpec{version, shared};
    return shared;
  }

  const Clock* const clock_;
  const int64_t timeout_nanos_;
  const int64_t settled_ttl_nanos_;
  PgPool pool_;

  absl::Mutex specs_mu_;
  // Parsed specs by budget name, tagged with the spec_version they were parsed from.
  absl::flat_hash_map<std::string, CachedSpec> specs_ ABSL_GUARDED_BY(specs_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Ledger>> OpenPostgresLedger(std::string_view url,
                                                           const LedgerOpenOptions& options) {
  absl::StatusOr<PostgresLedgerConfig> config = postgres::ParsePostgresUrl(url, options.timeout_ms);
  if (!config.ok()) return config.status();
  auto ledger = std::make_unique<PostgresLedger>(*std::move(config), options.clock);
  if (absl::Status s = ledger->Open(); !s.ok()) return s;
  return ledger;
}

}  // namespace genops::ledger
