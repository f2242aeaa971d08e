#include "src/telemetry/id_generator.h"

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>

namespace genops::telemetry {
namespace {

// Bumped in the child after fork(): every thread's generator compares it with the generation it
// was seeded in and re-seeds on mismatch. One relaxed load per id.
std::atomic<uint64_t> g_fork_generation{0};

void OnForkChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush.
class Xoshiro256 {
 public:
  void Seed() noexcept {
    static std::once_flag fork_handler_once;
    std::call_once(fork_handler_once, [] { pthread_atfork(nullptr, nullptr, &OnForkChild); });
    static std::atomic<uint64_t> fallback_counter{0};
    uint64_t seed = fallback_counter.fetch_add(0x632be59bd9b4e019ULL, std::memory_order_relaxed);
    try {
      std::random_device device;
      seed ^= (static_cast<uint64_t>(device()) << 32) ^ device();
    } catch (...) {
      // No entropy source: ids stay unique within the process (counter + address), which is
      // what tracing needs; collisions across processes become possible but not likely.
    }
    // Mix in the state's address so two threads seeded from a weak random_device still differ.
    seed ^= static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this));
    for (uint64_t& word : state_) word = SplitMix64(seed);
    generation_ = g_fork_generation.load(std::memory_order_relaxed);
    seeded_ = true;
  }

  uint64_t Next() noexcept {
    if (!seeded_ || generation_ != g_fork_generation.load(std::memory_order_relaxed)) Seed();
    const uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = RotateLeft(state_[3], 45);
    return result;
  }

 private:
  uint64_t state_[4] = {0, 0, 0, 0};
  uint64_t generation_ = 0;
  bool seeded_ = false;
};

Xoshiro256& ThreadGenerator() noexcept {
  thread_local Xoshiro256 generator;
  return generator;
}

// Ids are 8 or 16 bytes: a size known at compile time lets the copies be plain stores.
template <size_t kSize>
void FillNonZero(uint8_t* out) noexcept {
  static_assert(kSize % 8 == 0);
  Xoshiro256& generator = ThreadGenerator();
  for (;;) {
    uint64_t any = 0;
    for (size_t offset = 0; offset < kSize; offset += 8) {
      const uint64_t word = generator.Next();
      std::memcpy(out + offset, &word, 8);
      any |= word;
    }
    if (any != 0) return;  // all-zero is invalid; 2^-64 per attempt, but never emit it
  }
}

class RandomIdGenerator final : public IdGenerator {
 public:
  TraceId GenerateTraceId() noexcept override {
    TraceId id;
    FillNonZero<sizeof(id.bytes)>(id.bytes.data());
    return id;
  }
  SpanId GenerateSpanId() noexcept override {
    SpanId id;
    FillNonZero<sizeof(id.bytes)>(id.bytes.data());
    return id;
  }
};

}  // namespace

IdGenerator& IdGenerator::Random() {
  static RandomIdGenerator* const generator = new RandomIdGenerator();
  return *generator;
}

// What IdGenerator::Random() does, without its virtual call and its static's guard: the SDK
// draws three ids per operation.
TraceId GenerateTraceId() noexcept {
  TraceId id;
  FillNonZero<sizeof(id.bytes)>(id.bytes.data());
  return id;
}
SpanId GenerateSpanId() noexcept {
  SpanId id;
  FillNonZero<sizeof(id.bytes)>(id.bytes.data());
  return id;
}

}  // namespace genops::telemetry
