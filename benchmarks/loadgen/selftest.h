// The checks behind `eddy-loadgen selftest` and tests/unit/benchmarks: that Murmur2 is
// Java's, and that librdkafka puts each sentinel key in the partition Murmur2 predicts.
//
// Thread-safety: each function uses its own producer; call from one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace eddy::loadgen {

struct Murmur2Vector {
  std::string key;  // bytes, not necessarily UTF-8
  int32_t java;     // org.apache.kafka.common.utils.Utils.murmur2(key bytes)
};

// Values computed with Kafka 4.4.0's Utils.murmur2 (the first six are also the vectors of
// Kafka's own UtilsTest).
const std::vector<Murmur2Vector>& JavaMurmur2Vectors();

// InvalidArgument listing every vector Murmur2 gets wrong.
Status CheckMurmur2Vectors();

// Produces the sentinel keys of `partitions` partitions and `extra_keys` keys k0, k1, … to
// `topic` on `bootstrap`, each with its predicted partition, and checks the delivery
// reports: every record delivered, each in JavaPartition(key) (which also must equal
// librdkafka's own rd_kafka_msg_partitioner_murmur2_random). The topic is created with
// `partitions` partitions if missing (and must have exactly that many otherwise).
Status CheckPlacement(const std::string& bootstrap, const std::string& topic, int32_t partitions,
                      int64_t extra_keys);

// CheckPlacement against librdkafka's in-process mock cluster (no broker needed).
Status CheckPlacementOnMockCluster(int32_t partitions, int64_t extra_keys);

}  // namespace eddy::loadgen
