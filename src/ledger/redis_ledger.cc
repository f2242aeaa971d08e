#include "src/ledger/redis_ledger.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "genops/decision.h"
#include "src/core/text.h"
#include "src/ledger/redis_client.h"
#include "src/ledger/redis_scripts.h"

namespace genops::ledger {
namespace {

using redis::ArraySize;
using redis::Element;
using redis::ReplyPtr;
using redis::Script;
using redis::Text;

// A Reserve/Settle/Charge that keeps meeting a budgets version newer than the one it just
// loaded gives up after this many reloads (budgets being rewritten in a tight loop).
constexpr int kMaxStaleRetries = 16;
constexpr int64_t kMinSettledTtlSeconds = 48 * 3600;
constexpr size_t kScanPage = 256;
constexpr size_t kPurgePage = 1000;
constexpr size_t kExpirePage = 500;  // SSCAN COUNT hint per script run

// --- Small parsing/encoding helpers -------------------------------------------------------

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Fields as "<length>:<bytes>", so any byte may appear in a value.
void PutField(std::string& out, std::string_view value) {
  out.append(Cat(value.size()));
  out.push_back(':');
  out.append(value);
}
void PutInt(std::string& out, int64_t value) { PutField(out, Cat(value)); }

class FieldReader {
 public:
  explicit FieldReader(std::string_view data) : data_(data) {}
  bool Next(std::string_view* out) {
    const size_t colon = data_.find(':');
    if (colon == std::string_view::npos) return false;
    const std::optional<int64_t> len = ParseInt64(data_.substr(0, colon));
    if (!len.has_value() || *len < 0 || static_cast<uint64_t>(*len) > data_.size() - colon - 1) {
      return false;
    }
    *out = data_.substr(colon + 1, static_cast<size_t>(*len));
    data_.remove_prefix(colon + 1 + static_cast<size_t>(*len));
    return true;
  }
  bool NextString(std::string* out) {
    std::string_view v;
    if (!Next(&v)) return false;
    out->assign(v);
    return true;
  }
  bool NextInt(int64_t* out) {
    std::string_view v;
    if (!Next(&v)) return false;
    const std::optional<int64_t> parsed = ParseInt64(v);
    if (!parsed.has_value()) return false;
    *out = *parsed;
    return true;
  }
  bool NextDouble(double* out) {
    std::string_view v;
    if (!Next(&v)) return false;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    return ec == std::errc() && ptr == v.data() + v.size();
  }
  bool done() const { return data_.empty(); }

 private:
  std::string_view data_;
};

void PutAttribution(std::string& out, const Attribution& a) {
  PutField(out, a.team);
  PutField(out, a.project);
  PutField(out, a.environment);
  PutField(out, a.customer_id);
  PutField(out, a.cost_center);
  PutField(out, a.feature);
  PutInt(out, static_cast<int64_t>(a.tags.size()));
  for (const auto& [key, value] : a.tags) {
    PutField(out, key);
    PutField(out, value);
  }
}

bool ReadAttribution(FieldReader& in, Attribution* a) {
  int64_t tags = 0;
  if (!in.NextString(&a->team) || !in.NextString(&a->project) || !in.NextString(&a->environment) ||
      !in.NextString(&a->customer_id) || !in.NextString(&a->cost_center) ||
      !in.NextString(&a->feature) || !in.NextInt(&tags) || tags < 0) {
    return false;
  }
  for (int64_t i = 0; i < tags; ++i) {
    std::string key;
    std::string value;
    if (!in.NextString(&key) || !in.NextString(&value)) return false;
    a->tags[std::move(key)] = std::move(value);
  }
  return true;
}

std::string EncodeAttribution(const Attribution& a) {
  std::string out;
  PutAttribution(out, a);
  return out;
}

std::optional<Attribution> DecodeAttribution(std::string_view data) {
  FieldReader in(data);
  Attribution a;
  if (!ReadAttribution(in, &a) || !in.done()) return std::nullopt;
  return a;
}

// Budget spec without name and period (those are the hash field and the stored prefix).
std::string EncodeSpecRest(const BudgetSpec& spec) {
  std::string out;
  PutInt(out, spec.limit.nanos());
  PutInt(out, static_cast<int64_t>(spec.scope.size()));
  for (const auto& [key, value] : spec.scope) {
    PutField(out, key);
    PutField(out, value);
  }
  PutInt(out, static_cast<int64_t>(spec.alert_thresholds.size()));
  for (double t : spec.alert_thresholds) PutField(out, Cat(t));  // shortest exact form
  return out;
}

constexpr std::array<BudgetPeriod, 4> kPeriods = {BudgetPeriod::kDay, BudgetPeriod::kWeek,
                                                  BudgetPeriod::kMonth, BudgetPeriod::kTotal};

int PeriodIndex(BudgetPeriod period) {
  for (int i = 0; i < 4; ++i) {
    if (kPeriods[static_cast<size_t>(i)] == period) return i;
  }
  return 0;
}

// The operations-log index member: the start time as 16 hex digits of offset binary (so
// lexicographic order is numeric order, negative times included), then the id.
std::string StartKey(int64_t start) {
  const uint64_t biased = static_cast<uint64_t>(start) ^ (uint64_t{1} << 63);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[(biased >> ((15 - i) * 4)) & 0xf];
  }
  return out;
}

std::string EncodeRecord(const OperationRecord& r) {
  std::string out;
  PutField(out, "1");  // format version
  PutField(out, r.operation_id);
  PutInt(out, r.start_unix_nanos);
  PutInt(out, r.duration_nanos);
  PutField(out, r.operation_type);
  PutField(out, r.operation_name);
  PutAttribution(out, r.attribution);
  PutField(out, r.provider);
  PutField(out, r.model);
  PutInt(out, r.usage.input_tokens);
  PutInt(out, r.usage.cache_read_tokens);
  PutInt(out, r.usage.cache_write_tokens);
  PutInt(out, r.usage.output_tokens);
  PutInt(out, r.usage.reasoning_tokens);
  PutInt(out, r.cost.nanos());
  PutInt(out, r.priced ? 1 : 0);
  PutField(out, DecisionResultName(r.decision));
  PutField(out, DecisionReasonName(r.reason));
  PutInt(out, r.error ? 1 : 0);
  PutField(out, r.trace_id);
  return out;
}

std::optional<OperationRecord> DecodeRecord(std::string_view data) {
  FieldReader in(data);
  OperationRecord r;
  std::string version;
  std::string decision;
  std::string reason;
  int64_t cost = 0;
  int64_t priced = 0;
  int64_t error = 0;
  if (!in.NextString(&version) || version != "1" || !in.NextString(&r.operation_id) ||
      !in.NextInt(&r.start_unix_nanos) || !in.NextInt(&r.duration_nanos) ||
      !in.NextString(&r.operation_type) || !in.NextString(&r.operation_name) ||
      !ReadAttribution(in, &r.attribution) || !in.NextString(&r.provider) ||
      !in.NextString(&r.model) || !in.NextInt(&r.usage.input_tokens) ||
      !in.NextInt(&r.usage.cache_read_tokens) || !in.NextInt(&r.usage.cache_write_tokens) ||
      !in.NextInt(&r.usage.output_tokens) || !in.NextInt(&r.usage.reasoning_tokens) ||
      !in.NextInt(&cost) || !in.NextInt(&priced) || !in.NextString(&decision) ||
      !in.NextString(&reason) || !in.NextInt(&error) || !in.NextString(&r.trace_id) || !in.done()) {
    return std::nullopt;
  }
  absl::StatusOr<DecisionResult> d = ParseDecisionResult(decision);
  absl::StatusOr<DecisionReason> why = ParseDecisionReason(reason);
  if (!d.ok() || !why.ok()) return std::nullopt;
  r.cost = Money::FromNanos(cost);
  r.priced = priced != 0;
  r.decision = *d;
  r.reason = *why;
  r.error = error != 0;
  return r;
}

// --- Validation (the memory store's rules) ------------------------------------------------

// --- URL parsing -------------------------------------------------------------------------

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

// The URL with its password replaced, for error messages.
std::string Redacted(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t start = scheme + 3;
  const size_t end = url.find_first_of("/?", start);
  const std::string_view authority =
      url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const size_t colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) return std::string(url);
  return Cat(url.substr(0, start + colon + 1), "***", url.substr(start + at));
}

absl::Status UrlError(std::string_view url, std::string_view what) {
  return absl::InvalidArgumentError(Cat("redis ledger URL \"", Redacted(url), "\": ", what,
                                        "; expected redis://[:PASSWORD@]HOST[:PORT][/DB]"
                                        "[?timeout_ms=N&pool_size=N&prefix=P&settled_ttl_s=N]"));
}

absl::StatusOr<int64_t> ParseBoundedParam(std::string_view url, std::string_view name,
                                          std::string_view value, int64_t min, int64_t max) {
  const std::optional<int64_t> v = AllDigits(value) ? ParseInt64(value) : std::nullopt;
  if (!v.has_value() || *v < min || *v > max) {
    return UrlError(url, Cat("parameter ", name, "=\"", value, "\" must be an integer in [", min,
                             ", ", max, "]"));
  }
  return *v;
}

// --- The store ----------------------------------------------------------------------------

// One budget as this process last read it from the server.
struct CachedBudget {
  std::string name;
  std::string gen;
  int period_index = 0;
  std::string limit;                       // decimal nano-USD, as the scripts want it
  std::shared_ptr<const BudgetSpec> spec;  // handed out in statuses
  std::string stored;                      // "gen|period|rest" as stored, to reuse `spec`
};

// The budgets at one budgets version. Immutable once built.
struct BudgetCache {
  int64_t version = 0;
  std::string version_text = "0";
  std::vector<CachedBudget> budgets;  // ordered by name
  absl::flat_hash_map<std::string, size_t> by_gen;

  const CachedBudget* FindGen(std::string_view gen) const {
    auto it = by_gen.find(std::string(gen));
    return it == by_gen.end() ? nullptr : &budgets[it->second];
  }
};

// Window starts, as decimal strings, for day, week, month and total at `now`.
using WindowStarts = std::array<std::string, 4>;
WindowStarts WindowsAt(int64_t now) {
  WindowStarts out;
  for (size_t i = 0; i < 4; ++i) {
    out[i] = Cat(BudgetWindow::Containing(kPeriods[i], now).start_unix_nanos);
  }
  return out;
}

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(Cat("redis ledger: unexpected data in the store (", what,
                                 "); was it written by another program?"));
}

class RedisLedger final : public Ledger {
 public:
  RedisLedger(RedisLedgerConfig config, std::unique_ptr<redis::Client> client)
      : config_(std::move(config)),
        client_(std::move(client)),
        ttl_(Cat(config_.settled_ttl_seconds)),
        reserve_(Cat(redis::kPrelude, redis::kReserve)),
        settle_(Cat(redis::kPrelude, redis::kSettle)),
        charge_(Cat(redis::kPrelude, redis::kCharge)),
        release_(Cat(redis::kPrelude, redis::kRelease)),
        expire_(Cat(redis::kPrelude, redis::kExpire)),
        prune_(Cat(redis::kPrelude, redis::kPrune)),
        upsert_(Cat(redis::kPrelude, redis::kUpsertBudget)),
        delete_(Cat(redis::kPrelude, redis::kDeleteBudget)),
        list_(Cat(redis::kPrelude, redis::kListBudgets)),
        append_(Cat(redis::kPrelude, redis::kAppendOperations)),
        scan_(Cat(redis::kPrelude, redis::kScanOperations)),
        purge_(Cat(redis::kPrelude, redis::kPurgeOperations)),
        create_key_(Cat(redis::kPrelude, redis::kCreateVirtualKey)),
        find_key_(Cat(redis::kPrelude, redis::kFindVirtualKey)),
        list_keys_(Cat(redis::kPrelude, redis::kListVirtualKeys)),
        revoke_key_(Cat(redis::kPrelude, redis::kRevokeVirtualKey)) {}

  // Reads the budgets once, so a broken store is reported at open.
  absl::Status Init() { return Reload().status(); }

  absl::StatusOr<ReserveOutcome> Reserve(const ReserveRequest& request) override {
    if (absl::Status s = ValidateOperationId(request.operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("reservation", request.operation_id, request.amount);
        !s.ok()) {
      return s;
    }
    const WindowStarts windows = WindowsAt(request.now_unix_nanos);
    const std::string attribution = EncodeAttribution(request.attribution);
    absl::StatusOr<std::shared_ptr<const BudgetCache>> cache = Cache();
    for (int attempt = 0;; ++attempt) {
      if (!cache.ok()) return cache.status();
      const BudgetCache& budgets = **cache;
      absl::InlinedVector<const CachedBudget*, 4> holds;
      for (const CachedBudget& b : budgets.budgets) {
        if (ScopeMatches(b.spec->scope, request.attribution)) holds.push_back(&b);
      }
      redis::Command command{&reserve_, {}};
      command.args = {config_.prefix,
                      budgets.version_text,
                      request.operation_id,
                      Cat(request.amount.nanos()),
                      Cat(request.expires_at_unix_nanos),
                      windows[0],
                      windows[1],
                      windows[2],
                      windows[3],
                      attribution,
                      Cat(holds.size())};
      for (const CachedBudget* b : holds) {
        command.args.push_back(b->gen);
        command.args.push_back(Cat(b->period_index));
        command.args.push_back(b->limit);
      }
      absl::StatusOr<ReplyPtr> reply = client_->Run(command);
      if (!reply.ok()) return reply.status();
      const redisReply* r = reply->get();
      const std::string tag = Text(Element(r, 0));
      if (tag == "STALE") {
        cache = AfterStale(attempt);
        continue;
      }
      ReserveOutcome outcome;
      size_t first_triple = 2;
      if (tag == "SETTLED") {
        first_triple = 3;
        outcome.admitted = true;
      } else if (tag == "OK" || tag == "RESERVED") {
        outcome.admitted = true;
      } else if (tag == "REFUSED") {
        const std::optional<int64_t> index = ParseInt64(Text(Element(r, 1)));
        if (!index.has_value() || *index < 0 || static_cast<size_t>(*index) >= holds.size()) {
          return Corrupt("reserve reply");
        }
        outcome.refused_by = holds[static_cast<size_t>(*index)]->name;
      } else {
        return Corrupt(Cat("reserve reply '", tag, "'"));
      }
      absl::StatusOr<BudgetStatusList> statuses =
          Statuses(budgets, r, first_triple, request.now_unix_nanos);
      if (!statuses.ok()) return statuses.status();
      outcome.budgets = *std::move(statuses);
      return outcome;
    }
  }

  absl::StatusOr<SettleOutcome> Settle(std::string_view operation_id, Money actual,
                                       int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("settlement", operation_id, actual); !s.ok()) return s;
    const WindowStarts windows = WindowsAt(now_unix_nanos);
    // Set once the script reports that the budgets changed since the reservation: the
    // budgets to charge are then matched here against the current ones.
    std::optional<Attribution> rematch;
    absl::StatusOr<std::shared_ptr<const BudgetCache>> cache = Cache();
    for (int attempt = 0;; ++attempt) {
      if (!cache.ok()) return cache.status();
      const BudgetCache& budgets = **cache;
      redis::Command command{&settle_, {}};
      command.args = {config_.prefix,      budgets.version_text, std::string(operation_id),
                      Cat(actual.nanos()), windows[0],           windows[1],
                      windows[2],          windows[3],           ttl_};
      if (rematch.has_value()) {
        AppendTargets(budgets, *rematch, command.args);
      } else {
        command.args.push_back("-");
      }
      absl::StatusOr<ReplyPtr> reply = client_->Run(command);
      if (!reply.ok()) return reply.status();
      const redisReply* r = reply->get();
      const std::string tag = Text(Element(r, 0));
      if (tag == "STALE") {
        cache = AfterStale(attempt);
        continue;
      }
      if (tag == "NOTFOUND") {
        return absl::NotFoundError(
            Cat("ledger: no reservation for operation '", operation_id,
                "' (never reserved, released, or expired); record its spend with Charge()"));
      }
      if (tag == "REMATCH") {
        rematch = DecodeAttribution(Text(Element(r, 1)));
        if (!rematch.has_value()) return Corrupt("reservation attribution");
        if (attempt >= kMaxStaleRetries) return AfterStale(attempt).status();
        continue;
      }
      return SettleReply(budgets, r, tag, operation_id, actual, now_unix_nanos);
    }
  }

  absl::StatusOr<SettleOutcome> Charge(std::string_view operation_id,
                                       const Attribution& attribution, Money actual,
                                       int64_t now_unix_nanos) override {
    return ChargeFrom(operation_id, attribution, actual, now_unix_nanos, {});
  }

  bool SupportsChargesFromReservations() const override { return true; }

  // Charge(), taking the spend off `from_reservation` when it is set (ChargeItem).
  absl::StatusOr<SettleOutcome> ChargeFrom(std::string_view operation_id,
                                           const Attribution& attribution, Money actual,
                                           int64_t now_unix_nanos,
                                           std::string_view from_reservation) {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    if (absl::Status s = ValidateAmount("charge", operation_id, actual); !s.ok()) return s;
    const WindowStarts windows = WindowsAt(now_unix_nanos);
    absl::StatusOr<std::shared_ptr<const BudgetCache>> cache = Cache();
    for (int attempt = 0;; ++attempt) {
      if (!cache.ok()) return cache.status();
      const BudgetCache& budgets = **cache;
      absl::StatusOr<ReplyPtr> reply = client_->Run(
          ChargeCommand(budgets, operation_id, attribution, actual, windows, from_reservation));
      if (!reply.ok()) return reply.status();
      const redisReply* r = reply->get();
      const std::string tag = Text(Element(r, 0));
      if (tag == "STALE") {
        cache = AfterStale(attempt);
        continue;
      }
      return ChargeReply(budgets, r, tag, operation_id, actual, now_unix_nanos);
    }
  }

  // The script run of a Charge().
  redis::Command ChargeCommand(const BudgetCache& budgets, std::string_view operation_id,
                               const Attribution& attribution, Money actual,
                               const WindowStarts& windows,
                               std::string_view from_reservation = {}) const {
    redis::Command command{&charge_, {}};
    command.args = {config_.prefix,      budgets.version_text, std::string(operation_id),
                    Cat(actual.nanos()), windows[0],           windows[1],
                    windows[2],          windows[3],           ttl_};
    AppendTargets(budgets, attribution, command.args);
    if (!from_reservation.empty()) command.args.emplace_back(from_reservation);
    return command;
  }

  // The outcome of a charge script's reply other than STALE.
  absl::StatusOr<SettleOutcome> ChargeReply(const BudgetCache& budgets, const redisReply* r,
                                            const std::string& tag, std::string_view operation_id,
                                            Money actual, int64_t now_unix_nanos) {
    if (tag == "HELD") {
      return absl::FailedPreconditionError(Cat("ledger: operation '", operation_id,
                                               "' holds a reservation; settle it with Settle() "
                                               "(or Release() it) instead of Charge()"));
    }
    return SettleReply(budgets, r, tag, operation_id, actual, now_unix_nanos);
  }

  // Every valid item's script goes out in one pipeline (one round trip per 128 items rather
  // than one per item), on one connection, so Redis runs them in order. An item that meets a
  // newer budgets version (STALE) did not run, and neither did any after it (the version only
  // grows): those are charged one by one through Charge(), which reloads, still in order.
  std::vector<absl::StatusOr<SettleOutcome>> ChargeBatch(
      absl::Span<const ChargeItem> items) override {
    std::vector<absl::StatusOr<SettleOutcome>> outcomes(items.size(),
                                                        absl::UnknownError("not charged"));
    absl::StatusOr<std::shared_ptr<const BudgetCache>> cache = Cache();
    if (!cache.ok()) {
      for (auto& outcome : outcomes) outcome = cache.status();
      return outcomes;
    }
    const BudgetCache& budgets = **cache;
    std::vector<redis::Command> commands;
    std::vector<size_t> sent;  // index in `items` of each command
    commands.reserve(items.size());
    sent.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const ChargeItem& item = items[i];
      absl::Status valid = ValidateOperationId(item.operation_id);
      if (valid.ok()) valid = ValidateAmount("charge", item.operation_id, item.actual);
      if (valid.ok() && item.attribution == nullptr) {
        valid = absl::InvalidArgumentError("ledger: a charge needs an attribution");
      }
      if (!valid.ok()) {
        outcomes[i] = valid;
        continue;
      }
      commands.push_back(ChargeCommand(budgets, item.operation_id, *item.attribution, item.actual,
                                       WindowsAt(item.now_unix_nanos), item.from_reservation));
      sent.push_back(i);
    }
    std::vector<absl::StatusOr<ReplyPtr>> replies = client_->RunMany(commands);
    for (size_t k = 0; k < sent.size(); ++k) {
      const ChargeItem& item = items[sent[k]];
      absl::StatusOr<SettleOutcome>& outcome = outcomes[sent[k]];
      if (!replies[k].ok()) {
        outcome = replies[k].status();
        continue;
      }
      const redisReply* r = replies[k]->get();
      const std::string tag = Text(Element(r, 0));
      outcome =
          tag == "STALE"
              ? ChargeFrom(item.operation_id, *item.attribution, item.actual, item.now_unix_nanos,
                           item.from_reservation)
              : ChargeReply(budgets, r, tag, item.operation_id, item.actual, item.now_unix_nanos);
    }
    return outcomes;
  }

  RedisLedgerStats stats() const { return RedisLedgerStats{.round_trips = client_->round_trips()}; }

  absl::Status Release(std::string_view operation_id) override {
    if (absl::Status s = ValidateOperationId(operation_id); !s.ok()) return s;
    absl::StatusOr<ReplyPtr> reply =
        client_->Run({&release_, {config_.prefix, std::string(operation_id)}});
    return reply.ok() ? absl::OkStatus() : reply.status();
  }

  absl::StatusOr<int> ExpireReservations(int64_t now_unix_nanos) override {
    const std::string now = Cat(now_unix_nanos);
    const std::string count = Cat(kExpirePage);
    std::string cursor = "0";
    int expired = 0;
    do {
      absl::StatusOr<ReplyPtr> reply =
          client_->Run({&expire_, {config_.prefix, now, cursor, count}});
      if (!reply.ok()) return reply.status();
      cursor = Text(Element(reply->get(), 0));
      const std::optional<int64_t> released = ParseInt64(Text(Element(reply->get(), 1)));
      if (!released.has_value() || cursor.empty()) return Corrupt("expire reply");
      expired += static_cast<int>(*released);
    } while (cursor != "0");
    const WindowStarts w = WindowsAt(now_unix_nanos);
    absl::StatusOr<ReplyPtr> pruned =
        client_->Run({&prune_, {config_.prefix, w[0], w[1], w[2], w[3]}});
    if (!pruned.ok()) return pruned.status();
    return expired;
  }

  absl::Status UpsertBudget(const BudgetSpec& spec) override {
    if (absl::Status s = ValidateBudgetSpec(spec); !s.ok()) return s;
    absl::StatusOr<ReplyPtr> reply = client_->Run(
        {&upsert_,
         {config_.prefix, spec.name, Cat(PeriodIndex(spec.period)), EncodeSpecRest(spec)}});
    if (!reply.ok()) return reply.status();
    if (Text(reply->get()) == "SAME") return absl::OkStatus();
    return Reload().status();
  }

  absl::Status DeleteBudget(std::string_view name) override {
    absl::StatusOr<ReplyPtr> reply = client_->Run({&delete_, {config_.prefix, std::string(name)}});
    if (!reply.ok()) return reply.status();
    if (Text(reply->get()) == "NOTFOUND") {
      return absl::NotFoundError(Cat("ledger: no budget named '", name, "'"));
    }
    return Reload().status();
  }

  absl::StatusOr<std::vector<BudgetStatus>> ListBudgets(int64_t now_unix_nanos) override {
    const WindowStarts w = WindowsAt(now_unix_nanos);
    absl::StatusOr<ReplyPtr> reply =
        client_->Run({&list_, {config_.prefix, w[0], w[1], w[2], w[3]}});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    const size_t n = ArraySize(r);
    if (n == 0 || (n - 1) % 4 != 0) return Corrupt("budget list");
    std::vector<std::pair<std::string, std::string>> stored;
    for (size_t i = 1; i < n; i += 4) {
      stored.emplace_back(Text(Element(r, i)), Text(Element(r, i + 1)));
    }
    absl::StatusOr<std::shared_ptr<const BudgetCache>> cache =
        Install(Text(Element(r, 0)), std::move(stored));
    if (!cache.ok()) return cache.status();
    // Counters by name; the cache orders the budgets by name.
    absl::flat_hash_map<std::string, std::pair<std::string, std::string>> counters;
    for (size_t i = 1; i < n; i += 4) {
      counters[Text(Element(r, i))] = {Text(Element(r, i + 2)), Text(Element(r, i + 3))};
    }
    std::vector<BudgetStatus> out;
    for (const CachedBudget& b : (*cache)->budgets) {
      auto it = counters.find(b.name);
      if (it == counters.end()) continue;  // a newer cache raced in; skip
      absl::StatusOr<BudgetStatus> status =
          MakeStatus(b, it->second.first, it->second.second, now_unix_nanos);
      if (!status.ok()) return status.status();
      out.push_back(*std::move(status));
    }
    return out;
  }

  absl::StatusOr<Money> TotalSpent() override {
    absl::StatusOr<ReplyPtr> reply = client_->Run({nullptr, {"HGET", Key("c"), "total"}});
    if (!reply.ok()) return reply.status();
    if (redis::IsNil(reply->get())) return Money::Zero();
    const std::optional<int64_t> total = ParseInt64(Text(reply->get()));
    if (!total.has_value()) return Corrupt("total");
    return Money::FromNanos(*total);
  }

  absl::StatusOr<std::optional<OperationEntry>> LookupOperation(
      std::string_view operation_id) override {
    absl::StatusOr<ReplyPtr> reply =
        client_->Run({nullptr, {"GET", Cat(config_.prefix, "o:", operation_id)}});
    if (!reply.ok()) return reply.status();
    if (redis::IsNil(reply->get())) return std::optional<OperationEntry>();
    const std::string record = Text(reply->get());
    // "R|amount|..." or "S|reserved|actual|..."
    std::vector<std::string_view> parts;
    std::string_view rest(record);
    for (int i = 0; i < 3; ++i) {
      const size_t bar = rest.find('|');
      if (bar == std::string_view::npos) return Corrupt("operation record");
      parts.push_back(rest.substr(0, bar));
      rest.remove_prefix(bar + 1);
    }
    const std::optional<int64_t> first = ParseInt64(parts[1]);
    if (!first.has_value()) return Corrupt("operation record");
    if (parts[0] == "R") {
      return OperationEntry{.state = OperationState::kReserved,
                            .reserved = Money::FromNanos(*first)};
    }
    const std::optional<int64_t> actual = ParseInt64(parts[2]);
    if (parts[0] != "S" || !actual.has_value()) return Corrupt("operation record");
    return OperationEntry{.state = OperationState::kSettled,
                          .reserved = Money::FromNanos(*first),
                          .actual = Money::FromNanos(*actual)};
  }

  absl::Status AppendOperations(absl::Span<const OperationRecord> records) override {
    for (const OperationRecord& record : records) {
      if (absl::Status s = ValidateOperationId(record.operation_id); !s.ok()) return s;
    }
    if (records.empty()) return absl::OkStatus();
    redis::Command command{&append_, {}};
    command.args.reserve(2 + 3 * records.size());
    command.args.push_back(config_.prefix);
    command.args.push_back(Cat(records.size()));
    for (const OperationRecord& record : records) {
      command.args.push_back(record.operation_id);
      command.args.push_back(Cat(StartKey(record.start_unix_nanos), record.operation_id));
      command.args.push_back(EncodeRecord(record));
    }
    absl::StatusOr<ReplyPtr> reply = client_->Run(command);
    return reply.ok() ? absl::OkStatus() : reply.status();
  }

  absl::Status ScanOperations(const OperationQuery& query,
                              const std::function<bool(const OperationRecord&)>& visit) override {
    std::string max = Cat("(", StartKey(query.until_unix_nanos));
    const std::string min = Cat("[", StartKey(query.since_unix_nanos));
    size_t visited = 0;
    while (true) {
      size_t page = kScanPage;
      if (query.limit != 0) page = std::min(page, query.limit - visited);
      if (page == 0) return absl::OkStatus();
      absl::StatusOr<ReplyPtr> reply =
          client_->Run({&scan_, {config_.prefix, max, min, Cat(page)}});
      if (!reply.ok()) return reply.status();
      const redisReply* r = reply->get();
      const size_t n = ArraySize(r) / 2;
      for (size_t i = 0; i < n; ++i) {
        const redisReply* blob = Element(r, 2 * i + 1);
        if (blob->len == 0) continue;  // purged between the index read and the record read
        std::optional<OperationRecord> record =
            DecodeRecord(std::string_view(blob->str, blob->len));
        if (!record.has_value()) {
          return Corrupt(Cat("operations-log record '", Text(Element(r, 2 * i)).substr(16), "'"));
        }
        ++visited;
        if (!visit(*record)) return absl::OkStatus();
      }
      if (n < page) return absl::OkStatus();
      max = Cat("(", Text(Element(r, 2 * (n - 1))));
    }
  }

  absl::Status CreateVirtualKey(const VirtualKey& key) override {
    if (absl::Status s = ValidateNewVirtualKey(key); !s.ok()) return s;
    absl::StatusOr<ReplyPtr> reply = client_->Run(
        {&create_key_,
         {config_.prefix, key.id, key.secret_sha256, key.display_prefix,
          EncodeAttribution(key.attribution), key.budget_name, key.description,
          Cat(key.created_unix_nanos), Cat(StartKey(key.created_unix_nanos), key.id)}});
    if (!reply.ok()) return reply.status();
    const std::string tag = Text(reply->get());
    if (tag == "OK") return absl::OkStatus();
    if (tag == "ID" || tag == "HASH") return VirtualKeyExistsError(key.id, tag == "ID");
    return Corrupt(Cat("create virtual key reply '", tag, "'"));
  }

  absl::StatusOr<std::optional<VirtualKey>> FindVirtualKey(
      std::string_view secret_sha256) override {
    if (absl::Status s = ValidateVirtualKeyHash(secret_sha256); !s.ok()) return s;
    absl::StatusOr<ReplyPtr> reply =
        client_->Run({&find_key_, {config_.prefix, std::string(secret_sha256)}});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (ArraySize(r) == 0) return std::optional<VirtualKey>();
    absl::StatusOr<VirtualKey> key = KeyFromReply(Text(Element(r, 0)), r, 1);
    if (!key.ok()) return key.status();
    return std::optional<VirtualKey>(*std::move(key));
  }

  absl::StatusOr<std::vector<VirtualKey>> ListVirtualKeys() override {
    std::vector<VirtualKey> out;
    std::string min = "-";
    while (true) {
      absl::StatusOr<ReplyPtr> reply =
          client_->Run({&list_keys_, {config_.prefix, min, Cat(kScanPage)}});
      if (!reply.ok()) return reply.status();
      const redisReply* r = reply->get();
      const size_t n = ArraySize(r) / 8;
      for (size_t i = 0; i < n; ++i) {
        const std::string member = Text(Element(r, 8 * i));
        if (member.size() <= 16) return Corrupt("virtual key index member");
        absl::StatusOr<VirtualKey> key = KeyFromReply(member.substr(16), r, 8 * i + 1);
        if (!key.ok()) return key.status();
        out.push_back(*std::move(key));
      }
      if (n < kScanPage) return out;
      min = Cat("(", Text(Element(r, 8 * (n - 1))));
    }
  }

  absl::Status RevokeVirtualKey(std::string_view id, int64_t now_unix_nanos) override {
    if (absl::Status s = ValidateVirtualKeyRevocation(id, now_unix_nanos); !s.ok()) return s;
    absl::StatusOr<ReplyPtr> reply =
        client_->Run({&revoke_key_, {config_.prefix, std::string(id), Cat(now_unix_nanos)}});
    if (!reply.ok()) return reply.status();
    const std::string tag = Text(reply->get());
    if (tag == "NOTFOUND") return VirtualKeyNotFoundError(id);
    if (tag != "OK") return Corrupt(Cat("revoke virtual key reply '", tag, "'"));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> PurgeOperations(int64_t before_unix_nanos) override {
    const std::string max = Cat("(", StartKey(before_unix_nanos));
    int64_t purged = 0;
    while (true) {
      absl::StatusOr<ReplyPtr> reply =
          client_->Run({&purge_, {config_.prefix, max, Cat(kPurgePage)}});
      if (!reply.ok()) return reply.status();
      const int64_t n = (*reply)->integer;
      purged += n;
      if (n < static_cast<int64_t>(kPurgePage)) return purged;
    }
  }

 private:
  std::string Key(std::string_view name) const { return Cat(config_.prefix, name); }

  // A key from the 7 fields (h, p, a, b, d, c, r) of `r` starting at element `first`.
  static absl::StatusOr<VirtualKey> KeyFromReply(std::string id, const redisReply* r,
                                                 size_t first) {
    if (ArraySize(r) < first + 7) return Corrupt(Cat("virtual key ", id));
    for (size_t i = first; i < first + 7; ++i) {
      if (redis::IsNil(Element(r, i))) return Corrupt(Cat("virtual key ", id, " lacks a field"));
    }
    VirtualKey key;
    key.id = std::move(id);
    key.secret_sha256 = Text(Element(r, first));
    key.display_prefix = Text(Element(r, first + 1));
    std::optional<Attribution> attribution = DecodeAttribution(Text(Element(r, first + 2)));
    key.budget_name = Text(Element(r, first + 3));
    key.description = Text(Element(r, first + 4));
    const std::optional<int64_t> created = ParseInt64(Text(Element(r, first + 5)));
    const std::optional<int64_t> revoked = ParseInt64(Text(Element(r, first + 6)));
    if (!attribution.has_value() || !created.has_value() || !revoked.has_value()) {
      return Corrupt(Cat("virtual key ", key.id));
    }
    key.attribution = *std::move(attribution);
    key.created_unix_nanos = *created;
    key.revoked_unix_nanos = *revoked;
    return key;
  }

  // The budgets for the next attempt after the server said STALE.
  absl::StatusOr<std::shared_ptr<const BudgetCache>> AfterStale(int attempt) {
    if (attempt >= kMaxStaleRetries) {
      return absl::AbortedError(Cat("redis ledger: the budgets changed ", attempt + 1,
                                    " times during one call (another process is rewriting "
                                    "them in a loop?); retry the call"));
    }
    return Reload();
  }

  // Appends n, then (gen, period) of every budget matching `attribution`.
  static void AppendTargets(const BudgetCache& budgets, const Attribution& attribution,
                            std::vector<std::string>& args) {
    const size_t count_at = args.size();
    args.push_back("");
    size_t n = 0;
    for (const CachedBudget& b : budgets.budgets) {
      if (!ScopeMatches(b.spec->scope, attribution)) continue;
      args.push_back(b.gen);
      args.push_back(Cat(b.period_index));
      ++n;
    }
    args[count_at] = Cat(n);
  }

  absl::StatusOr<SettleOutcome> SettleReply(const BudgetCache& budgets, const redisReply* r,
                                            std::string_view tag, std::string_view operation_id,
                                            Money actual, int64_t now) {
    if (tag == "OVERFLOW") {
      return absl::OutOfRangeError(Cat("ledger: recording ", actual.ToUsdString(),
                                       " USD for operation '", operation_id,
                                       "' would overflow a 64-bit nano-USD counter"));
    }
    if (tag != "OK" && tag != "SETTLED") return Corrupt(Cat("settle reply '", tag, "'"));
    const std::optional<int64_t> reserved = ParseInt64(Text(Element(r, 1)));
    const std::optional<int64_t> recorded = ParseInt64(Text(Element(r, 2)));
    if (!reserved.has_value() || !recorded.has_value()) return Corrupt("settle reply");
    SettleOutcome outcome;
    outcome.reserved = Money::FromNanos(*reserved);
    outcome.actual = Money::FromNanos(*recorded);
    outcome.already_settled = tag == "SETTLED";
    absl::StatusOr<BudgetStatusList> statuses = Statuses(budgets, r, 3, now);
    if (!statuses.ok()) return statuses.status();
    outcome.budgets = *std::move(statuses);
    return outcome;
  }

  static absl::StatusOr<BudgetStatus> MakeStatus(const CachedBudget& b, std::string_view spent,
                                                 std::string_view reserved, int64_t now) {
    const std::optional<int64_t> s = ParseInt64(spent);
    const std::optional<int64_t> r = ParseInt64(reserved);
    if (!s.has_value() || !r.has_value()) return Corrupt(Cat("counters of budget ", b.name));
    BudgetStatus status;
    status.spec = b.spec;
    status.window = BudgetWindow::Containing(kPeriods[static_cast<size_t>(b.period_index)], now);
    status.spent = Money::FromNanos(*s);
    status.reserved = Money::FromNanos(*r);
    return status;
  }

  // Statuses from (gen, spent, reserved) triples starting at element `first`. Generations
  // unknown to `budgets` (a budget deleted since) are skipped.
  static absl::StatusOr<BudgetStatusList> Statuses(const BudgetCache& budgets, const redisReply* r,
                                                   size_t first, int64_t now) {
    BudgetStatusList out;
    const size_t n = ArraySize(r);
    for (size_t i = first; i + 2 < n; i += 3) {
      const CachedBudget* b = budgets.FindGen(Text(Element(r, i)));
      if (b == nullptr) continue;
      absl::StatusOr<BudgetStatus> status =
          MakeStatus(*b, Text(Element(r, i + 1)), Text(Element(r, i + 2)), now);
      if (!status.ok()) return status.status();
      out.push_back(*std::move(status));
    }
    return out;
  }

  absl::StatusOr<std::shared_ptr<const BudgetCache>> Cache() {
    std::shared_ptr<const BudgetCache> cache = cache_.load(std::memory_order_acquire);
    if (cache != nullptr) return cache;
    return Reload();
  }

  absl::StatusOr<std::shared_ptr<const BudgetCache>> Reload() {
    const WindowStarts w = WindowsAt(0);
    absl::StatusOr<ReplyPtr> reply =
        client_->Run({&list_, {config_.prefix, w[0], w[1], w[2], w[3]}});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    const size_t n = ArraySize(r);
    if (n == 0 || (n - 1) % 4 != 0) return Corrupt("budget list");
    std::vector<std::pair<std::string, std::string>> stored;
    for (size_t i = 1; i < n; i += 4) {
      stored.emplace_back(Text(Element(r, i)), Text(Element(r, i + 1)));
    }
    return Install(Text(Element(r, 0)), std::move(stored));
  }

  // Builds the cache for `version` from (name, stored spec) pairs, installs it and returns
  // it. The last install wins: when concurrent reloads finish out of order, an older
  // version may be installed for a moment, and the next call that uses it gets STALE and
  // reloads. (Never keeping "the highest version" is what lets a client follow a store
  // whose version went back, e.g. after FLUSHALL.)
  absl::StatusOr<std::shared_ptr<const BudgetCache>> Install(
      std::string_view version, std::vector<std::pair<std::string, std::string>> stored) {
    const std::optional<int64_t> v = ParseInt64(version);
    if (!v.has_value()) return Corrupt("budgets version");
    std::shared_ptr<const BudgetCache> previous = cache_.load(std::memory_order_acquire);
    if (previous != nullptr && previous->version == *v) return previous;
    auto cache = std::make_shared<BudgetCache>();
    cache->version = *v;
    cache->version_text = std::string(version);
    std::sort(stored.begin(), stored.end());
    for (auto& [name, blob] : stored) {
      absl::StatusOr<CachedBudget> budget = DecodeBudget(name, blob, previous.get());
      if (!budget.ok()) return budget.status();
      cache->by_gen[budget->gen] = cache->budgets.size();
      cache->budgets.push_back(*std::move(budget));
    }
    std::shared_ptr<const BudgetCache> installed = std::move(cache);
    cache_.store(installed, std::memory_order_release);
    return installed;
  }

  static absl::StatusOr<CachedBudget> DecodeBudget(const std::string& name,
                                                   const std::string& stored,
                                                   const BudgetCache* previous) {
    if (previous != nullptr) {
      for (const CachedBudget& b : previous->budgets) {
        if (b.name == name && b.stored == stored) return b;  // same spec pointer
      }
    }
    const size_t bar1 = stored.find('|');
    const size_t bar2 = bar1 == std::string::npos ? bar1 : stored.find('|', bar1 + 1);
    if (bar2 == std::string::npos) return Corrupt(Cat("budget '", name, "'"));
    CachedBudget b;
    b.name = name;
    b.stored = stored;
    b.gen = stored.substr(0, bar1);
    const std::optional<int64_t> period = ParseInt64(stored.substr(bar1 + 1, bar2 - bar1 - 1));
    if (!AllDigits(b.gen) || !period.has_value() || *period < 0 || *period > 3) {
      return Corrupt(Cat("budget '", name, "'"));
    }
    b.period_index = static_cast<int>(*period);
    FieldReader in(std::string_view(stored).substr(bar2 + 1));
    auto spec = std::make_shared<BudgetSpec>();
    spec->name = name;
    spec->period = kPeriods[static_cast<size_t>(*period)];
    int64_t limit = 0;
    int64_t scopes = 0;
    int64_t thresholds = 0;
    if (!in.NextInt(&limit) || !in.NextInt(&scopes) || scopes < 0) {
      return Corrupt(Cat("budget '", name, "'"));
    }
    spec->limit = Money::FromNanos(limit);
    for (int64_t i = 0; i < scopes; ++i) {
      std::string key;
      std::string value;
      if (!in.NextString(&key) || !in.NextString(&value)) {
        return Corrupt(Cat("budget '", name, "'"));
      }
      spec->scope[std::move(key)] = std::move(value);
    }
    if (!in.NextInt(&thresholds) || thresholds < 0) return Corrupt(Cat("budget '", name, "'"));
    spec->alert_thresholds.clear();
    for (int64_t i = 0; i < thresholds; ++i) {
      double t = 0;
      if (!in.NextDouble(&t)) return Corrupt(Cat("budget '", name, "'"));
      spec->alert_thresholds.push_back(t);
    }
    if (!in.done()) return Corrupt(Cat("budget '", name, "'"));
    b.limit = Cat(limit);
    b.spec = std::move(spec);
    return b;
  }

  const RedisLedgerConfig config_;
  const std::unique_ptr<redis::Client> client_;
  const std::string ttl_;
  const Script reserve_;
  const Script settle_;
  const Script charge_;
  const Script release_;
  const Script expire_;
  const Script prune_;
  const Script upsert_;
  const Script delete_;
  const Script list_;
  const Script append_;
  const Script scan_;
  const Script purge_;
  const Script create_key_;
  const Script find_key_;
  const Script list_keys_;
  const Script revoke_key_;

  // The budgets as last read; replaced whole, never modified (readers keep their copy).
  std::atomic<std::shared_ptr<const BudgetCache>> cache_;
};

}  // namespace

absl::StatusOr<RedisLedgerConfig> ParseRedisLedgerUrl(std::string_view url,
                                                      int64_t default_timeout_ms) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return UrlError(url, "the scheme must be redis://");
  RedisLedgerConfig config;
  config.timeout_ms = default_timeout_ms;
  std::string_view rest = url.substr(kScheme.size());
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view hostport = rest;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    hostport = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return UrlError(url,
                      "credentials need a colon: write redis://:PASSWORD@HOST or "
                      "redis://USER:PASSWORD@HOST");
    }
    std::optional<std::string> user = PercentDecode(userinfo.substr(0, colon));
    std::optional<std::string> password = PercentDecode(userinfo.substr(colon + 1));
    if (!user.has_value() || !password.has_value()) {
      return UrlError(url, "bad percent-escape in the credentials");
    }
    config.username = *std::move(user);
    config.password = *std::move(password);
  }
  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) return UrlError(url, "unterminated [IPv6] host");
    config.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return UrlError(url, "unexpected text after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) return UrlError(url, "empty port after ':'");
    }
  } else {
    const size_t colon = hostport.find(':');
    config.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) return UrlError(url, "empty port after ':'");
    }
  }
  if (config.host.empty()) return UrlError(url, "no host");
  if (!port.empty()) {
    const std::optional<int64_t> p = AllDigits(port) ? ParseInt64(port) : std::nullopt;
    if (!p.has_value() || *p < 1 || *p > 65535) {
      return UrlError(url, Cat("port \"", port, "\" is not a number in 1..65535"));
    }
    config.port = static_cast<int>(*p);
  }
  if (!path.empty()) {
    const std::optional<int64_t> db = AllDigits(path) ? ParseInt64(path) : std::nullopt;
    if (!db.has_value() || *db > 1'000'000) {
      return UrlError(url,
                      Cat("database \"", path, "\" is not a database index (a number such as 0)"));
    }
    config.db = static_cast<int>(*db);
  }
  absl::flat_hash_set<std::string> seen;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!seen.insert(std::string(name)).second) {
      return UrlError(url, Cat("parameter ", name, " is given twice"));
    }
    if (name == "timeout_ms") {
      absl::StatusOr<int64_t> v = ParseBoundedParam(url, name, value, 1, 600'000);
      if (!v.ok()) return v.status();
      config.timeout_ms = *v;
    } else if (name == "pool_size") {
      absl::StatusOr<int64_t> v = ParseBoundedParam(url, name, value, 1, 64);
      if (!v.ok()) return v.status();
      config.pool_size = static_cast<int>(*v);
    } else if (name == "settled_ttl_s") {
      absl::StatusOr<int64_t> v =
          ParseBoundedParam(url, name, value, kMinSettledTtlSeconds, int64_t{10} * 365 * 86400);
      if (!v.ok()) return v.status();
      config.settled_ttl_seconds = *v;
    } else if (name == "prefix") {
      const bool ok = !value.empty() && value.size() <= 64 &&
                      std::all_of(value.begin(), value.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                               c == '-' || c == '.' || c == ':';
                      });
      if (!ok) {
        return UrlError(url, Cat("parameter prefix=\"", value,
                                 "\" must be 1..64 letters, digits, '_', '-', '.' or ':'"));
      }
      config.prefix = std::string(value);
    } else {
      return UrlError(url, Cat("unknown parameter \"", name,
                               "\"; supported: timeout_ms, pool_size, prefix, settled_ttl_s"));
    }
  }
  if (config.timeout_ms < 1) {
    return UrlError(url, Cat("timeout ", config.timeout_ms, " ms must be positive"));
  }
  return config;
}

absl::StatusOr<std::unique_ptr<Ledger>> OpenRedisLedger(std::string_view url,
                                                        const LedgerOpenOptions& options) {
  absl::StatusOr<RedisLedgerConfig> config = ParseRedisLedgerUrl(url, options.timeout_ms);
  if (!config.ok()) return config.status();
  redis::ClientOptions client_options;
  client_options.host = config->host;
  client_options.port = config->port;
  client_options.db = config->db;
  client_options.username = config->username;
  client_options.password = config->password;
  client_options.timeout_ms = config->timeout_ms;
  client_options.pool_size = config->pool_size;
  absl::StatusOr<std::unique_ptr<redis::Client>> client = redis::Client::Connect(client_options);
  if (!client.ok()) return client.status();
  auto ledger = std::make_unique<RedisLedger>(*std::move(config), *std::move(client));
  if (absl::Status s = ledger->Init(); !s.ok()) return s;
  return ledger;
}

absl::StatusOr<RedisLedgerStats> GetRedisLedgerStats(const Ledger& ledger) {
  const auto* redis = dynamic_cast<const RedisLedger*>(&ledger);
  if (redis == nullptr) {
    return absl::InvalidArgumentError("GetRedisLedgerStats: the ledger is not a redis one");
  }
  return redis->stats();
}

}  // namespace genops::ledger
