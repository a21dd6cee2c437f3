// Stable 64-bit hashing and seeding (identical across runs, processes and machines, unlike
// absl::Hash): model fingerprints, snapshot checksums, per-session random streams.
#ifndef INFMEM_SERVER_COMMON_HASH_H_
#define INFMEM_SERVER_COMMON_HASH_H_

#include <cstddef>
#include <cstdint>

namespace infmem {

inline constexpr uint64_t kFnvOffset = 14695981039346656037ull;

// Continues an FNV-1a 64 hash `h` over `size` bytes at `data`.
inline uint64_t Fnv1a64(const void* data, size_t size, uint64_t h = kFnvOffset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

// Advances `state` and returns the next value of the SplitMix64 sequence.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mixes `value` into `seed` (order-sensitive), for seeds derived from several integers.
inline uint64_t MixSeed(uint64_t seed, uint64_t value) {
  uint64_t s = seed ^ (value + 0x9E3779B97F4A7C15ull + (seed << 6) + (seed >> 2));
  return SplitMix64(s);
}

}  // namespace infmem

#endif  // INFMEM_SERVER_COMMON_HASH_H_
