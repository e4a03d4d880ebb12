// HyperLogLog: a fixed-size sketch that estimates how many distinct values it has seen
// (Flajolet, Fusy, Gandouet, Meunier 2007), for count_distinct with mode: approximate.
//
// Precision p = 14: 2^14 = 16384 one-byte registers (16 KiB once the first value is added),
// standard error 1.04 / sqrt(16384) ≈ 0.81%. Values are hashed with XXH3-64 (libxxhash); the
// top 14 bits of the hash pick a register, which keeps the largest rank (1 + leading zeros of
// the remaining 50 bits, so 1..51) it has seen.
//
// Estimate() is Otmar Ertl's "improved raw estimator" (Ertl 2017, "New cardinality estimation
// algorithms for HyperLogLog sketches", algorithm 6): the classic alpha_m * m^2 / sum(2^-M[j])
// with the contributions of empty and saturated registers replaced by closed-form series, so
// no empirical bias tables are needed. For small counts it behaves as linear counting
// (m * ln(m / empty registers)): near-exact up to a few hundred. It replaces the textbook
// "raw estimate, or linear counting below 2.5 * m" because that switch leaves a measured
// +2.3% mean bias (about 3 standard errors) around 40,000 distinct values; this estimator stays
// within about one standard error (0.8%) from 1 to 10^6 (tests/unit/engine/hyperloglog_test.cpp).
// No large-range correction: with a 64-bit hash, collisions only matter far beyond 10^12.
//
// Merge is register-wise max, so a merged sketch is exactly the sketch of the union: merging
// partitions gives the same estimate as one partition that saw every value.
//
// Thread-safety: plain value type; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace eddy::engine {

class HyperLogLog {
 public:
  static constexpr int kPrecision = 14;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;
  static constexpr uint8_t kMaxRank = 64 - kPrecision + 1;  // 51
  static constexpr double kStandardError = 1.04 / 128.0;    // 1.04 / sqrt(kRegisters)

  // The 64-bit hash that Add() takes (XXH3-64, seed 0): stable across versions and hosts,
  // because stored sketches depend on it.
  static uint64_t Hash(std::string_view bytes);

  void Add(uint64_t hash);
  // Register-wise max: afterwards this sketch is the sketch of both inputs' union.
  void Merge(const HyperLogLog& other);
  // The estimated number of distinct hashes added. 0 for an empty sketch.
  double Estimate() const;

  // Empty (no value added yet: every register zero, nothing allocated) or kRegisters bytes,
  // each 0..kMaxRank.
  const std::vector<uint8_t>& registers() const { return registers_; }
  // From registers() of another sketch: nullopt unless `registers` is empty or kRegisters
  // bytes each at most kMaxRank.
  static std::optional<HyperLogLog> FromRegisters(std::vector<uint8_t> registers);

  friend bool operator==(const HyperLogLog&, const HyperLogLog&) = default;

 private:
  std::vector<uint8_t> registers_;  // empty = all zero
};

}  // namespace eddy::engine
