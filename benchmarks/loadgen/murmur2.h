// The Java Kafka client's default partitioner, reproduced so that eddy-loadgen can choose
// keys that land in a given partition (the sentinels of benchmarks/DATA.md).
//
// Murmur2 is byte for byte org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c),
// which librdkafka's `partitioner=murmur2_random` also implements; a key's partition is
// (murmur2(key) & 0x7fffffff) % partitions, as in Java's BuiltInPartitioner. The unit test
// tests/unit/benchmarks/murmur2_test.cpp checks both against values computed with Kafka's
// own Utils.murmur2 and against librdkafka's partitioner.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::loadgen {

// Utils.murmur2(key bytes) as the signed 32-bit value Java returns.
int32_t Murmur2(std::string_view key);

// The partition Java's default partitioner (and librdkafka's murmur2_random) gives a
// non-null key. partitions >= 1.
int32_t JavaPartition(std::string_view key, int32_t partitions);

// The sentinel key of partition p: the first of "__end-<p>-0", "__end-<p>-1", … that
// JavaPartition maps to p (benchmarks/DATA.md). 0 <= p < partitions.
std::string SentinelKey(int32_t partition, int32_t partitions);

// SentinelKey(p, partitions) for p = 0 … partitions-1, in partition order.
std::vector<std::string> SentinelKeys(int32_t partitions);

}  // namespace eddy::loadgen
