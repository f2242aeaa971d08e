// Gateway virtual keys: credentials the gateway hands out instead of provider keys
// (DESIGN.md §5). A key carries the attribution of whoever holds it and, optionally, a
// budget of its own; the gateway swaps in the real provider key upstream.
//
// A key is "gk_" followed by 43 base62 characters drawn from OpenSSL's CSPRNG (43 * log2(62)
// = 256.03 bits). It is shown once, when created; the ledger stores only its SHA-256
// (ledger::VirtualKey), which is safe without salt or a slow KDF because nothing with 256
// bits of entropy can be guessed. The key's id ("vk_" + 16 hex) is public: lists and
// revocation use it, and it tags every call made with the key (tag `virtual_key`), which is
// what the key's own budget is scoped to:
//
//   budget "key:<id>", scope {"tag:virtual_key": "<id>"}
//
// Example:
//   VirtualKeySpec spec;
//   spec.attribution = {.team = "search", .project = "ranker"};
//   spec.budget_limit = Money::FromUsdString("25").value();
//   absl::StatusOr<CreatedVirtualKey> created = CreateVirtualKey(ledger, spec, now);
//   // show created->key to the user once; created->record.id identifies it from now on
//
//   VirtualKeyResolver resolver(ledger_ptr, Clock::Real());
//   absl::StatusOr<ledger::VirtualKey> key = resolver.Resolve(PresentedCredential(headers));
//
// Thread safety: the functions are thread-safe (the ledger is); VirtualKeyResolver is
// thread-safe.
#ifndef GENOPS_GATEWAY_VIRTUAL_KEYS_H_
#define GENOPS_GATEWAY_VIRTUAL_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "genops/attribution.h"
#include "genops/clock.h"
#include "genops/money.h"
#include "src/gateway/http_message.h"
#include "src/ledger/ledger.h"

namespace genops::gateway {

inline constexpr std::string_view kVirtualKeyPrefix = "gk_";
inline constexpr std::string_view kVirtualKeyTag = "virtual_key";  // tag carrying the key id
inline constexpr size_t kVirtualKeySecretChars = 43;               // base62 after the prefix

// True when `credential` starts with "gk_" (it may still be malformed or unknown).
bool LooksLikeVirtualKey(std::string_view credential) noexcept;

// Lowercase hex SHA-256 of `key` (OpenSSL EVP), as the ledger stores it.
std::string HashVirtualKey(std::string_view key);

// What a new key is for.
struct VirtualKeySpec {
  Attribution attribution;            // team and project required (kInvalidArgument)
  std::optional<Money> budget_limit;  // with `period`: a budget of the key's own
  ledger::BudgetPeriod period = ledger::BudgetPeriod::kDay;
  std::vector<double> alert_thresholds = {0.5, 0.8, 1.0};
  std::string description;
};

struct CreatedVirtualKey {
  std::string key;            // the secret: shown once, never stored
  ledger::VirtualKey record;  // what the ledger holds
};

// Generates a key and its id, and stores the record. With a budget limit it first installs
// the budget {name: "key:<id>", scope: {"tag:virtual_key": <id>}, limit, period,
// thresholds} and sets record.budget_name; if storing the key then fails, the budget is
// removed again (best effort), so a key never exists without the budget it was given. The
// attribution gets the tag virtual_key=<id>; a caller-supplied `virtual_key` tag is
// kInvalidArgument (it would break the budget's scope).
absl::StatusOr<CreatedVirtualKey> CreateVirtualKey(ledger::Ledger& ledger,
                                                   const VirtualKeySpec& spec,
                                                   int64_t now_unix_nanos);

// Revokes the key (kNotFound for an unknown id; revoking again is OK) and then deletes its
// budget, if it has one. The record stays, marked revoked, so lists keep its history and the
// gateway can answer "revoked" rather than "unknown".
absl::Status RevokeVirtualKey(ledger::Ledger& ledger, std::string_view id, int64_t now_unix_nanos);

// The credential a request presents: the token of "Authorization: Bearer X" (OpenAI SDKs)
// or the value of "x-api-key: X" (Anthropic SDKs); empty when neither is there. When both
// are present, one that looks like a virtual key wins, else the bearer token.
std::string PresentedCredential(const HttpHeaders& headers);

// Resolves the keys requests present, for the gateway.
//
// A small TTL cache sits in front of the ledger so a key costs a ledger read once per `ttl`
// per replica, not once per request; a revocation made anywhere therefore takes effect
// within `ttl`. Unknown keys are cached too (negative entries), so a client retrying a bad
// key does not turn into a ledger read per request. Text that is not shaped like a key
// ("gk_" + 43 base62) is refused without any lookup. The cache is keyed by the key's hash
// and bounded by `max_entries`: the least recently used entry is dropped first, so a flood
// of made-up keys cannot push out the keys in use for long.
//
// When the ledger cannot be reached, an entry whose TTL has run out is still used (a known
// key keeps working through a ledger outage, and a revocation made during it is seen once
// the ledger answers again); with nothing cached the answer is kUnavailable.
//
// Errors never contain the key or any part of it: kUnauthenticated "unknown virtual key" or
// "virtual key vk_... was revoked"; kUnavailable when the ledger fails with nothing cached.
//
// Thread safety: thread-safe. One std::mutex guards the cache (it is on the request path;
// see common facts on absl::Mutex); the ledger is read outside it.
class VirtualKeyResolver {
 public:
  // `clock` (MonotonicNanos) times the entries and must outlive the resolver.
  VirtualKeyResolver(std::shared_ptr<ledger::Ledger> ledger, const Clock* clock,
                     absl::Duration ttl = absl::Seconds(5), size_t max_entries = 100000);
  VirtualKeyResolver(const VirtualKeyResolver&) = delete;
  VirtualKeyResolver& operator=(const VirtualKeyResolver&) = delete;

  absl::StatusOr<ledger::VirtualKey> Resolve(std::string_view key);

  // Entries cached now (for tests and metrics).
  size_t cached_entries() const;

 private:
  struct Entry {
    std::optional<ledger::VirtualKey> key;  // nullopt: known to be unknown
    int64_t expires_mono = 0;
    std::list<std::string>::iterator use;  // its place in uses_
  };

  static absl::StatusOr<ledger::VirtualKey> Answer(const Entry& entry);
  void Store(const std::string& hash, std::optional<ledger::VirtualKey> key, int64_t now_mono)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<ledger::Ledger> ledger_;
  const Clock* const clock_;
  const int64_t ttl_nanos_;
  const size_t max_entries_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // The hashes of entries_, least recently used first.
  std::list<std::string> uses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace genops::gateway

#endif  // GENOPS_GATEWAY_VIRTUAL_KEYS_H_
