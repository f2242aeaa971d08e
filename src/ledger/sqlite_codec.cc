#include "src/ledger/sqlite_codec.h"

#include <charconv>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "genops/attribution.h"
#include "src/core/text.h"

namespace genops::ledger::sqlite_internal {
namespace {

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void PutBytes(std::string& out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out.append(bytes);
}

void PutFixed64(std::string& out, int64_t value) {
  const auto bits = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

// Reads what the Put* functions wrote; any malformed input makes ok() false.
class BlobReader {
 public:
  explicit BlobReader(std::string_view in) : in_(in) {}

  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return Bad();
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return Bad();
  }
  std::string_view Bytes() {
    const uint64_t size = Varint();
    if (!ok_ || size > in_.size()) {
      Bad();
      return {};
    }
    std::string_view out = in_.substr(0, size);
    in_.remove_prefix(size);
    return out;
  }
  int64_t Fixed64() {
    if (in_.size() < 8) return static_cast<int64_t>(Bad());
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) {
      bits |= static_cast<uint64_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    }
    in_.remove_prefix(8);
    return static_cast<int64_t>(bits);
  }
  bool ok() const { return ok_; }
  bool AtEnd() const { return ok_ && in_.empty(); }

 private:
  uint64_t Bad() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

void PutStringMap(std::string& out, const std::map<std::string, std::string>& map) {
  PutVarint(out, map.size());
  for (const auto& [key, value] : map) {
    PutBytes(out, key);
    PutBytes(out, value);
  }
}

bool ReadStringMap(BlobReader& in, std::map<std::string, std::string>* map) {
  const uint64_t count = in.Varint();
  for (uint64_t i = 0; in.ok() && i < count; ++i) {
    std::string key(in.Bytes());
    std::string value(in.Bytes());
    if (in.ok()) map->emplace(std::move(key), std::move(value));
  }
  return in.ok();
}

}  // namespace

std::string EncodeStringMap(const std::map<std::string, std::string>& map) {
  std::string out;
  PutStringMap(out, map);
  return out;
}

bool DecodeStringMap(std::string_view blob, std::map<std::string, std::string>* map) {
  BlobReader in(blob);
  return ReadStringMap(in, map) && in.AtEnd();
}

std::string EncodeAttribution(const Attribution& a) {
  std::string out;
  out.reserve(64);
  for (const std::string* field :
       {&a.team, &a.project, &a.environment, &a.customer_id, &a.cost_center, &a.feature}) {
    PutBytes(out, *field);
  }
  PutStringMap(out, a.tags);
  return out;
}

bool DecodeAttribution(std::string_view blob, Attribution* a) {
  BlobReader in(blob);
  for (std::string* field :
       {&a->team, &a->project, &a->environment, &a->customer_id, &a->cost_center, &a->feature}) {
    field->assign(in.Bytes());
  }
  return ReadStringMap(in, &a->tags) && in.AtEnd();
}

std::string EncodeHolds(const Holds& holds) {
  std::string out;
  PutVarint(out, holds.size());
  for (const Hold& hold : holds) {
    PutFixed64(out, hold.generation);
    PutFixed64(out, hold.window_start);
  }
  return out;
}

bool DecodeHolds(std::string_view blob, Holds* holds) {
  BlobReader in(blob);
  const uint64_t count = in.Varint();
  for (uint64_t i = 0; in.ok() && i < count; ++i) {
    Hold hold;
    hold.generation = in.Fixed64();
    hold.window_start = in.Fixed64();
    holds->push_back(hold);
  }
  return in.AtEnd();
}

std::string EncodeNames(const BudgetNames& names) {
  std::string out;
  PutVarint(out, names.size());
  for (const std::string& name : names) PutBytes(out, name);
  return out;
}

bool DecodeNames(std::string_view blob, BudgetNames* names) {
  BlobReader in(blob);
  const uint64_t count = in.Varint();
  for (uint64_t i = 0; in.ok() && i < count; ++i) names->emplace_back(in.Bytes());
  return in.AtEnd();
}

std::string EncodeThresholds(const std::vector<double>& thresholds) {
  return Join(thresholds, ",");
}

bool DecodeThresholds(std::string_view text, std::vector<double>* thresholds) {
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    double value = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (ec != std::errc() || ptr != part.data() + part.size()) return false;
    thresholds->push_back(value);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace genops::ledger::sqlite_internal
