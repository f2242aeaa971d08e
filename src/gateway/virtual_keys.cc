#include "src/gateway/virtual_keys.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/core/text.h"

namespace genops::gateway {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr char kHex[] = "0123456789abcdef";
constexpr size_t kDisplayPrefixChars = 11;  // "gk_" + 8

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// "gk_" + 43 base62 characters: the only shape CreateVirtualKey makes.
bool WellFormed(std::string_view key) {
  return key.size() == kVirtualKeyPrefix.size() + kVirtualKeySecretChars &&
         LooksLikeVirtualKey(key) &&
         std::all_of(key.begin() + static_cast<std::ptrdiff_t>(kVirtualKeyPrefix.size()), key.end(),
                     IsBase62);
}

absl::Status RandomBytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    return absl::InternalError(
        "virtual key: OpenSSL's random generator failed (RAND_bytes); no key was made");
  }
  return absl::OkStatus();
}

// `n` uniformly random base62 characters. Bytes >= 248 (= 4 * 62) are rejected, so every
// character is equally likely: 43 of them carry 43 * log2(62) = 256.03 bits.
absl::StatusOr<std::string> RandomBase62(size_t n) {
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    if (absl::Status s = RandomBytes(buf, sizeof(buf)); !s.ok()) return s;
    for (unsigned char b : buf) {
      if (b >= 248) continue;
      out.push_back(kBase62[b % 62]);
      if (out.size() == n) break;
    }
  }
  return out;
}

// "vk_" + 16 lowercase hex digits (64 random bits: ids only need to be unique, and the
// ledger refuses a duplicate).
absl::StatusOr<std::string> RandomId() {
  unsigned char bytes[8];
  if (absl::Status s = RandomBytes(bytes, sizeof(bytes)); !s.ok()) return s;
  std::string id = "vk_";
  for (unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 0xf]);
  }
  return id;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The token of "Bearer <token>" (scheme case-insensitive); empty otherwise.
std::string_view BearerToken(std::string_view authorization) {
  authorization = Trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      !EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme) ||
      (authorization[kScheme.size()] != ' ' && authorization[kScheme.size()] != '\t')) {
    return {};
  }
  return Trim(authorization.substr(kScheme.size()));
}

}  // namespace

bool LooksLikeVirtualKey(std::string_view credential) noexcept {
  return credential.starts_with(kVirtualKeyPrefix);
}

std::string HashVirtualKey(std::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return std::string();  // never expected; an empty hash matches no stored key
  }
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<CreatedVirtualKey> CreateVirtualKey(ledger::Ledger& ledger,
                                                   const VirtualKeySpec& spec,
                                                   int64_t now_unix_nanos) {
  const Attribution& who = spec.attribution;
  if (who.team.empty() || who.project.empty()) {
    return absl::InvalidArgumentError(
        Cat("virtual key: the attribution has no ", who.team.empty() ? "team" : "project",
            "; every call made with a key is attributed to its team and project, so both are "
            "required"));
  }
  if (who.tags.contains(std::string(kVirtualKeyTag))) {
    return absl::InvalidArgumentError(
        Cat("virtual key: the tag '", kVirtualKeyTag,
            "' is reserved (it carries the key's id, which its budget is scoped to); use "
            "another tag name"));
  }
  if (spec.budget_limit.has_value() && *spec.budget_limit < Money::Zero()) {
    return absl::InvalidArgumentError(Cat("virtual key: negative budget limit ",
                                          spec.budget_limit->ToUsdString(),
                                          " USD; a limit is 0 (block everything) or more"));
  }

  absl::StatusOr<std::string> secret = RandomBase62(kVirtualKeySecretChars);
  if (!secret.ok()) return secret.status();
  absl::StatusOr<std::string> id = RandomId();
  if (!id.ok()) return id.status();

  CreatedVirtualKey created;
  created.key = Cat(kVirtualKeyPrefix, *secret);
  ledger::VirtualKey& record = created.record;
  record.id = *std::move(id);
  record.secret_sha256 = HashVirtualKey(created.key);
  record.display_prefix = created.key.substr(0, kDisplayPrefixChars);
  record.attribution = who;
  record.attribution.tags[std::string(kVirtualKeyTag)] = record.id;
  record.description = spec.description;
  record.created_unix_nanos = now_unix_nanos;
  if (absl::Status s = ledger::ValidateNewVirtualKey(record); !s.ok()) return s;

  std::optional<ledger::BudgetSpec> budget;
  if (spec.budget_limit.has_value()) {
    budget.emplace();
    budget->name = Cat("key:", record.id);
    budget->scope = {{Cat("tag:", kVirtualKeyTag), record.id}};
    budget->limit = *spec.budget_limit;
    budget->period = spec.period;
    budget->alert_thresholds = spec.alert_thresholds;
    // Checked before anything is written, so bad thresholds leave nothing behind.
    if (absl::Status s = ledger::ValidateBudgetSpec(*budget); !s.ok()) return s;
    record.budget_name = budget->name;
    // The budget goes first: a key must never be usable without the limit it was given.
    if (absl::Status s = ledger.UpsertBudget(*budget); !s.ok()) {
      return absl::Status(
          s.code(), Cat("virtual key ", record.id, ": cannot install its budget: ", s.message()));
    }
  }
  if (absl::Status s = ledger.CreateVirtualKey(record); !s.ok()) {
    // The budget's scope names an id no key has: harmless, but clean it up.
    if (budget.has_value()) ledger.DeleteBudget(budget->name).IgnoreError();
    return s;
  }
  return created;
}

absl::Status RevokeVirtualKey(ledger::Ledger& ledger, std::string_view id, int64_t now_unix_nanos) {
  if (absl::Status s = ledger.RevokeVirtualKey(id, now_unix_nanos); !s.ok()) return s;
  absl::StatusOr<std::vector<ledger::VirtualKey>> keys = ledger.ListVirtualKeys();
  if (!keys.ok()) {
    return absl::Status(keys.status().code(),
                        Cat("virtual key ", id, " was revoked, but finding its budget failed: ",
                            keys.status().message(), "; revoke it again to delete the budget"));
  }
  for (const ledger::VirtualKey& key : *keys) {
    if (key.id != id || key.budget_name.empty()) continue;
    absl::Status s = ledger.DeleteBudget(key.budget_name);
    if (!s.ok() && s.code() != absl::StatusCode::kNotFound) {  // NotFound: deleted before
      return absl::Status(
          s.code(), Cat("virtual key ", id, " was revoked, but deleting its budget '",
                        key.budget_name, "' failed: ", s.message(), "; revoke it again to retry"));
    }
  }
  return absl::OkStatus();
}

std::string PresentedCredential(const HttpHeaders& headers) {
  const std::string_view bearer = BearerToken(headers.GetOr("authorization", ""));
  const std::string_view api_key = Trim(headers.GetOr("x-api-key", ""));
  if (!bearer.empty() && LooksLikeVirtualKey(bearer)) return std::string(bearer);
  if (!api_key.empty() && LooksLikeVirtualKey(api_key)) return std::string(api_key);
  return std::string(!bearer.empty() ? bearer : api_key);
}

// --- VirtualKeyResolver -----------------------------------------------------------------------

VirtualKeyResolver::VirtualKeyResolver(std::shared_ptr<ledger::Ledger> ledger, const Clock* clock,
                                       absl::Duration ttl, size_t max_entries)
    : ledger_(std::move(ledger)),
      clock_(clock != nullptr ? clock : Clock::Real()),
      ttl_nanos_(std::max<int64_t>(0, absl::ToInt64Nanoseconds(ttl))),
      max_entries_(std::max<size_t>(1, max_entries)) {}

absl::StatusOr<ledger::VirtualKey> VirtualKeyResolver::Answer(const Entry& entry) {
  if (!entry.key.has_value()) return absl::UnauthenticatedError("unknown virtual key");
  if (entry.key->revoked()) {
    return absl::UnauthenticatedError(Cat("virtual key ", entry.key->id, " was revoked"));
  }
  return *entry.key;
}

absl::StatusOr<ledger::VirtualKey> VirtualKeyResolver::Resolve(std::string_view key) {
  if (!WellFormed(key)) return absl::UnauthenticatedError("unknown virtual key");
  const std::string hash = HashVirtualKey(key);
  const int64_t now = clock_->MonotonicNanos();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(hash);
    if (it != entries_.end()) {
      uses_.splice(uses_.end(), uses_, it->second.use);
      if (now < it->second.expires_mono) return Answer(it->second);
    }
  }
  // Read outside the lock: other keys keep resolving while the ledger answers.
  absl::StatusOr<std::optional<ledger::VirtualKey>> found = ledger_->FindVirtualKey(hash);
  std::lock_guard<std::mutex> lock(mu_);
  if (!found.ok()) {
    auto it = entries_.find(hash);
    if (it != entries_.end()) return Answer(it->second);  // stale beats unavailable
    return absl::UnavailableError(
        Cat("virtual keys: the ledger cannot be reached to check the "
            "key (",
            found.status().message(), ")"));
  }
  Store(hash, *std::move(found), now);
  return Answer(entries_.find(hash)->second);
}

void VirtualKeyResolver::Store(const std::string& hash, std::optional<ledger::VirtualKey> key,
                               int64_t now_mono) {
  int64_t expires = 0;
  if (__builtin_add_overflow(now_mono, ttl_nanos_, &expires)) {
    expires = std::numeric_limits<int64_t>::max();
  }
  auto it = entries_.find(hash);
  if (it != entries_.end()) {
    it->second.key = std::move(key);
    it->second.expires_mono = expires;
    uses_.splice(uses_.end(), uses_, it->second.use);
    return;
  }
  while (entries_.size() >= max_entries_ && !uses_.empty()) {
    entries_.erase(uses_.front());
    uses_.pop_front();
  }
  uses_.push_back(hash);
  entries_.emplace(hash, Entry{std::move(key), expires, std::prev(uses_.end())});
}

size_t VirtualKeyResolver::cached_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace genops::gateway
