#include "src/telemetry/span_data.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace genops::telemetry {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Word by word: ids are 8 or 16 bytes, and the SDK checks one per operation.
template <size_t N>
bool AnyNonZero(const std::array<uint8_t, N>& bytes) {
  static_assert(N % 8 == 0);
  uint64_t any = 0;
  for (size_t offset = 0; offset < N; offset += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + offset, 8);
    any |= word;
  }
  return any != 0;
}

// The two hex digits of every byte value: one load per byte instead of two, and no shifts.
struct HexPairs {
  char digits[512];
  constexpr HexPairs() : digits() {
    for (int i = 0; i < 256; ++i) {
      digits[2 * i] = kHexDigits[i >> 4];
      digits[2 * i + 1] = kHexDigits[i & 0x0f];
    }
  }
};
constexpr HexPairs kHexPairs;

template <size_t N>
void BytesToHex(const std::array<uint8_t, N>& bytes, std::string* out) {
  out->resize(2 * N);
  HexEncode(bytes.data(), N, out->data());
}

}  // namespace

void HexEncode(const uint8_t* bytes, size_t size, char* out) noexcept {
  for (size_t i = 0; i < size; ++i) std::memcpy(out + 2 * i, &kHexPairs.digits[2 * bytes[i]], 2);
}

namespace {

template <size_t N>
std::string BytesToHex(const std::array<uint8_t, N>& bytes) {
  std::string out;
  BytesToHex(bytes, &out);
  return out;
}

// Accepts either case: OTLP/JSON defines ids as case-insensitive hex. Callers with a stricter
// grammar (W3C traceparent forbids uppercase) check the case themselves before calling.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <size_t N>
bool HexToBytes(std::string_view hex, std::array<uint8_t, N>* out) {
  if (hex.size() != 2 * N) return false;
  std::array<uint8_t, N> bytes{};
  for (size_t i = 0; i < N; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  *out = bytes;
  return true;
}

}  // namespace

bool TraceId::valid() const { return AnyNonZero(bytes); }
std::string TraceId::ToHex() const { return BytesToHex(bytes); }
void TraceId::ToHex(std::string* out) const { BytesToHex(bytes, out); }
bool TraceId::FromHex(std::string_view hex, TraceId* out) {
  return out != nullptr && HexToBytes(hex, &out->bytes);
}

bool SpanId::valid() const { return AnyNonZero(bytes); }
std::string SpanId::ToHex() const { return BytesToHex(bytes); }
void SpanId::ToHex(std::string* out) const { BytesToHex(bytes, out); }
bool SpanId::FromHex(std::string_view hex, SpanId* out) {
  return out != nullptr && HexToBytes(hex, &out->bytes);
}

const AttributeValue* SpanData::FindAttribute(std::string_view key) const {
  for (const Attribute& attribute : attributes) {
    if (attribute.key == key) return &attribute.value;
  }
  return nullptr;
}

}  // namespace genops::telemetry
