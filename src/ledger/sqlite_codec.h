// Encodings of the sqlite ledger store's BLOB and TEXT columns.
//
// Attributions, scopes, tags, reservation holds and budget-name lists are stored as
// varint-length-prefixed byte strings, so any bytes round-trip exactly (JSON would need
// valid UTF-8, and tags come from untrusted headers); other integers are 8 bytes
// little-endian. Alert thresholds are text ("0.5,0.8,1", shortest round-trip decimals) so
// an operator can read them with the sqlite3 shell. Every Decode* returns false on
// malformed input (a damaged file) and never reads out of bounds.
//
// Thread safety: pure functions.
#ifndef GENOPS_LEDGER_SQLITE_CODEC_H_
#define GENOPS_LEDGER_SQLITE_CODEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "genops/attribution.h"

namespace genops::ledger::sqlite_internal {

std::string EncodeStringMap(const std::map<std::string, std::string>& map);
bool DecodeStringMap(std::string_view blob, std::map<std::string, std::string>* map);

std::string EncodeAttribution(const Attribution& attribution);
bool DecodeAttribution(std::string_view blob, Attribution* attribution);

// A reservation's hold on one budget window. The generation tells a hold on a budget whose
// counters restarted (its period changed, or it was deleted and re-created) from a live one.
struct Hold {
  int64_t generation = 0;
  int64_t window_start = 0;
};
using Holds = absl::InlinedVector<Hold, 2>;

std::string EncodeHolds(const Holds& holds);
bool DecodeHolds(std::string_view blob, Holds* holds);

// The names of the budgets a settlement counted against (for repeated outcomes).
using BudgetNames = absl::InlinedVector<std::string, 2>;

std::string EncodeNames(const BudgetNames& names);
bool DecodeNames(std::string_view blob, BudgetNames* names);

std::string EncodeThresholds(const std::vector<double>& thresholds);
bool DecodeThresholds(std::string_view text, std::vector<double>* thresholds);

}  // namespace genops::ledger::sqlite_internal

#endif  // GENOPS_LEDGER_SQLITE_CODEC_H_
