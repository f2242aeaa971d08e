#include "src/telemetry/trace_context.h"

#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace genops::telemetry {
namespace {

constexpr size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr size_t kTraceIdOffset = 3;
constexpr size_t kSpanIdOffset = 36;
constexpr size_t kFlagsOffset = 53;
constexpr size_t kMaxTracestateMemberPreferred = 128;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsLowerHexString(std::string_view s) {
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

absl::Status Malformed(std::string_view traceparent, std::string_view why) {
  // Quote at most a header's worth of the input: it is untrusted and may be huge.
  std::string_view shown = traceparent.substr(0, 64);
  return absl::InvalidArgumentError(
      fmt::format("malformed traceparent \"{}{}\": {}; expected "
                  "\"00-<32 lowercase hex>-<16 lowercase hex>-<2 hex>\"",
                  shown, traceparent.size() > 64 ? "..." : "", why));
}

int HexNibble(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// key = simple-key / multi-tenant-key (tenant "@" system), W3C §3.3.1.3.1.
bool IsValidTracestateKey(std::string_view key) {
  if (key.empty() || key.size() > 256) return false;
  const size_t at = key.find('@');
  auto valid_chars = [](std::string_view part, bool digit_first_ok) {
    if (part.empty()) return false;
    const char first = part.front();
    if (!((first >= 'a' && first <= 'z') || (digit_first_ok && first >= '0' && first <= '9'))) {
      return false;
    }
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                      c == '*' || c == '/';
      if (!ok) return false;
    }
    return true;
  };
  if (at == std::string_view::npos) return valid_chars(key, true);
  const std::string_view tenant = key.substr(0, at);
  const std::string_view system = key.substr(at + 1);
  return tenant.size() <= 241 && system.size() <= 14 && valid_chars(tenant, true) &&
         valid_chars(system, false);
}

// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E.
bool IsValidTracestateValue(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<SpanContext> ParseTraceparent(std::string_view traceparent) {
  const std::string_view value = TrimOws(traceparent);
  if (value.size() < 2 || !IsLowerHexString(value.substr(0, 2))) {
    return Malformed(value, "version is not two lowercase hex digits");
  }
  if (value.substr(0, 2) == "ff") return Malformed(value, "version ff is forbidden");
  const bool is_version_00 = value.substr(0, 2) == "00";
  if (is_version_00 && value.size() != kVersion00Length) {
    return Malformed(value,
                     fmt::format("version 00 must be exactly 55 characters, got {}", value.size()));
  }
  if (value.size() < kVersion00Length) {
    return Malformed(value, fmt::format("too short ({} characters, need 55)", value.size()));
  }
  if (!is_version_00 && value.size() > kVersion00Length && value[kVersion00Length] != '-') {
    return Malformed(value, "a future version's extra fields must follow a '-'");
  }
  if (value[2] != '-' || value[kSpanIdOffset - 1] != '-' || value[kFlagsOffset - 1] != '-') {
    return Malformed(value, "fields must be separated by '-' at offsets 2, 35 and 52");
  }
  const std::string_view trace_hex = value.substr(kTraceIdOffset, 32);
  const std::string_view span_hex = value.substr(kSpanIdOffset, 16);
  const std::string_view flags_hex = value.substr(kFlagsOffset, 2);
  if (!IsLowerHexString(trace_hex)) return Malformed(value, "trace-id is not 32 lowercase hex");
  if (!IsLowerHexString(span_hex)) return Malformed(value, "parent-id is not 16 lowercase hex");
  if (!IsLowerHexString(flags_hex)) {
    return Malformed(value, "trace-flags are not 2 lowercase hex");
  }

  SpanContext context;
  TraceId::FromHex(trace_hex, &context.trace_id);
  SpanId::FromHex(span_hex, &context.span_id);
  if (!context.trace_id.valid()) return Malformed(value, "trace-id is all zeros");
  if (!context.span_id.valid()) return Malformed(value, "parent-id is all zeros");
  const int flags = (HexNibble(flags_hex[0]) << 4) | HexNibble(flags_hex[1]);
  context.sampled = (flags & 0x01) != 0;
  context.remote = true;
  return context;
}

absl::StatusOr<SpanContext> ParseTraceContext(std::string_view traceparent,
                                              std::string_view tracestate) {
  absl::StatusOr<SpanContext> context = ParseTraceparent(traceparent);
  if (context.ok()) context->trace_state = NormalizeTracestate(tracestate);
  return context;
}

std::string FormatTraceparent(const SpanContext& context) {
  std::string out;
  out.reserve(55);
  out.append("00-").append(context.trace_id.ToHex()).append("-");
  out.append(context.span_id.ToHex()).append(context.sampled ? "-01" : "-00");
  return out;
}

std::string NormalizeTracestate(std::string_view tracestate) {
  std::vector<std::string_view> members;
  size_t start = 0;
  while (start <= tracestate.size()) {
    size_t comma = tracestate.find(',', start);
    if (comma == std::string_view::npos) comma = tracestate.size();
    const std::string_view member = TrimOws(tracestate.substr(start, comma - start));
    start = comma + 1;
    if (member.empty()) continue;
    const size_t eq = member.find('=');
    if (eq == std::string_view::npos) return "";
    if (!IsValidTracestateKey(member.substr(0, eq)) ||
        !IsValidTracestateValue(member.substr(eq + 1))) {
      return "";
    }
    members.push_back(member);
    if (members.size() > kMaxTracestateMembers) return "";
  }
  auto joined_length = [&members] {
    size_t length = members.empty() ? 0 : members.size() - 1;
    for (std::string_view m : members) length += m.size();
    return length;
  };
  if (joined_length() > kMaxTracestateLength) {
    std::erase_if(members,
                  [](std::string_view m) { return m.size() > kMaxTracestateMemberPreferred; });
    while (!members.empty() && joined_length() > kMaxTracestateLength) members.pop_back();
  }
  std::string out;
  for (std::string_view member : members) {
    if (!out.empty()) out.push_back(',');
    out.append(member);
  }
  return out;
}

}  // namespace genops::telemetry
