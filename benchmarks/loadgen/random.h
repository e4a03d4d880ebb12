// A small, fast, seedable random number generator whose output is the same on every
// platform and standard library (std::uniform_int_distribution's is not), so that
// `eddy-loadgen fill --seed S` writes the same records everywhere.
//
// xoshiro256** (Blackman and Vigna), its state seeded by splitmix64 from one 64-bit seed.
//
// Thread-safety: a value type; one instance per thread.
#pragma once

#include <cstdint>

namespace eddy::loadgen {

class Random {
 public:
  explicit Random(uint64_t seed) {
    for (uint64_t& word : state_) {
      seed += 0x9e3779b97f4a7c15ULL;  // splitmix64
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound), bound >= 1 (Lemire's multiply-shift; the bias, below
  // bound / 2^64, is irrelevant here).
  uint64_t Below(uint64_t bound) {
    __extension__ using U128 = unsigned __int128;  // __extension__: no -Wpedantic warning
    return static_cast<uint64_t>((static_cast<U128>(Next()) * bound) >> 64);
  }

  // Uniform in [lo, hi], lo <= hi.
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }

  // True with probability p (p <= 0: never; p >= 1: always).
  bool Chance(double p) {
    // 53 random bits as a double in [0, 1).
    return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace eddy::loadgen
