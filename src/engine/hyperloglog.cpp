#include "engine/hyperloglog.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

namespace eddy::engine {
namespace {

// sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), for x in [0, 1]: the correction for empty
// registers (x is their share). Infinite for x = 1 (an empty sketch estimates 0).
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  while (true) {
    x *= x;
    const double previous = z;
    z += x * y;
    y += y;
    if (z == previous) return z;
  }
}

// tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3, for x in [0, 1]: the correction for
// saturated registers (1 - x is their share).
double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  while (true) {
    x = std::sqrt(x);
    const double previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == previous) return z / 3.0;
  }
}

}  // namespace

uint64_t HyperLogLog::Hash(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

void HyperLogLog::Add(uint64_t hash) {
  if (registers_.empty()) registers_.assign(kRegisters, 0);
  const size_t index = static_cast<size_t>(hash >> (64 - kPrecision));
  // The remaining 50 bits, moved to the top; a sentinel bit caps the rank at kMaxRank when
  // they are all zero.
  const uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
  const auto rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
  registers_[index] = std::max(registers_[index], rank);
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.registers_.empty()) return;
  if (registers_.empty()) {
    registers_ = other.registers_;
    return;
  }
  for (size_t i = 0; i < kRegisters; ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
}

double HyperLogLog::Estimate() const {
  if (registers_.empty()) return 0.0;
  // Ertl 2017, algorithm 6, with q = 64 - p bits of rank: registers hold 0..q+1.
  constexpr size_t q = 64 - kPrecision;
  constexpr double m = static_cast<double>(kRegisters);
  std::array<size_t, kMaxRank + 1> histogram{};  // registers per value
  for (const uint8_t rank : registers_) ++histogram[rank];
  double z = m * Tau(1.0 - static_cast<double>(histogram[q + 1]) / m);
  for (size_t k = q; k >= 1; --k) z = 0.5 * (z + static_cast<double>(histogram[k]));
  z += m * Sigma(static_cast<double>(histogram[0]) / m);
  return m * m / (2.0 * std::log(2.0)) / z;  // alpha_inf = 1 / (2 ln 2)
}

std::optional<HyperLogLog> HyperLogLog::FromRegisters(std::vector<uint8_t> registers) {
  if (!registers.empty() && registers.size() != kRegisters) return std::nullopt;
  for (const uint8_t rank : registers) {
    if (rank > kMaxRank) return std::nullopt;
  }
  HyperLogLog sketch;
  sketch.registers_ = std::move(registers);
  return sketch;
}

}  // namespace eddy::engine
