#include "loadgen/murmur2.h"

#include <cassert>
#include <cstring>

namespace eddy::loadgen {

int32_t Murmur2(std::string_view key) {
  // Java computes in int with wrapping arithmetic and arithmetic-free unsigned shifts
  // (>>>); uint32_t arithmetic gives the same bits. Bytes are read little-endian.
  constexpr uint32_t kSeed = 0x9747b28cU;
  constexpr uint32_t kM = 0x5bd1e995U;
  constexpr int kR = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const size_t length = key.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t blocks = length / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const unsigned char* b = data + 4 * i;
    uint32_t k = static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
                 (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const unsigned char* tail = data + 4 * blocks;
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(tail[0]);
      h *= kM;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  int32_t result;
  std::memcpy(&result, &h, sizeof result);  // two's complement reinterpretation, as Java
  return result;
}

int32_t JavaPartition(std::string_view key, int32_t partitions) {
  assert(partitions >= 1);
  const int32_t positive = Murmur2(key) & 0x7fffffff;
  return positive % partitions;
}

std::string SentinelKey(int32_t partition, int32_t partitions) {
  assert(partition >= 0 && partition < partitions);
  // Each candidate hits p with probability 1/partitions, so the loop ends quickly.
  for (int64_t j = 0;; ++j) {
    std::string key = "__end-" + std::to_string(partition) + "-" + std::to_string(j);
    if (JavaPartition(key, partitions) == partition) return key;
  }
}

std::vector<std::string> SentinelKeys(int32_t partitions) {
  std::vector<std::string> keys;
  keys.reserve(static_cast<size_t>(partitions));
  for (int32_t p = 0; p < partitions; ++p) keys.push_back(SentinelKey(p, partitions));
  return keys;
}

}  // namespace eddy::loadgen
