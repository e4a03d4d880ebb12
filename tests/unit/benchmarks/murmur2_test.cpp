// murmur2 against Java's Utils.murmur2, the sentinel keys, and librdkafka's placement of
// them (on its in-process mock cluster).
#include "loadgen/murmur2.h"

#include <catch2/catch.hpp>
#include <string>

#include "loadgen/selftest.h"

namespace eddy::loadgen {
namespace {

TEST_CASE("Murmur2 equals Java's Utils.murmur2", "[loadgen][murmur2]") {
  for (const Murmur2Vector& v : JavaMurmur2Vectors()) {
    INFO("key '" << v.key << "'");
    CHECK(Murmur2(v.key) == v.java);
  }
  CHECK(CheckMurmur2Vectors().ok());
}

TEST_CASE("JavaPartition is the positive hash modulo the partition count", "[loadgen][murmur2]") {
  // Utils.toPositive(murmur2) % n, computed with Kafka 4.4.0.
  CHECK(JavaPartition("21", 3) == 0);
  CHECK(JavaPartition("a-little-bit-long-string", 3) == 2);
  CHECK(JavaPartition("abc", 6) == 3);
  CHECK(JavaPartition("k0", 6) == 5);
  CHECK(JavaPartition("__end-1-0", 6) == 4);
  CHECK(JavaPartition("anything", 1) == 0);
}

TEST_CASE("SentinelKey is the first __end-<p>-<j> in partition p", "[loadgen][murmur2]") {
  // __end-0-0 maps to partition 1 of 3, __end-0-1 to 0; __end-2-0 to 1, __end-2-1 to 2.
  CHECK(SentinelKeys(3) == std::vector<std::string>{"__end-0-1", "__end-1-0", "__end-2-1"});
  CHECK(SentinelKeys(1) == std::vector<std::string>{"__end-0-0"});
  for (int32_t partitions : {2, 5, 12, 64}) {
    const std::vector<std::string> keys = SentinelKeys(partitions);
    REQUIRE(keys.size() == static_cast<size_t>(partitions));
    for (int32_t p = 0; p < partitions; ++p) {
      const std::string& key = keys[static_cast<size_t>(p)];
      CHECK(JavaPartition(key, partitions) == p);
      // No earlier candidate maps to p.
      const std::string prefix = "__end-" + std::to_string(p) + "-";
      const int64_t j = std::stoll(key.substr(prefix.size()));
      for (int64_t earlier = 0; earlier < j; ++earlier) {
        CHECK(JavaPartition(prefix + std::to_string(earlier), partitions) != p);
      }
    }
  }
}

TEST_CASE("librdkafka delivers sentinel keys to the predicted partition", "[loadgen][murmur2]") {
  for (int32_t partitions : {1, 3, 6, 13}) {
    INFO(partitions << " partitions");
    const Status status = CheckPlacementOnMockCluster(partitions, 300);
    INFO(status.message());
    CHECK(status.ok());
  }
}

}  // namespace
}  // namespace eddy::loadgen
