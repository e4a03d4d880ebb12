// Helpers for integration tests that talk to a real Kafka broker: where the broker is, unique
// topic and group names, creating topics, producing records and reading them back.
//
// The broker is the one scripts/kafka-local starts (the CTest fixture "kafka.start" does it
// for a plain `ctest`), or any broker named by EDDY_TEST_BOOTSTRAP=host:port.
//
// Every helper either succeeds or throws std::runtime_error with a message that says what
// failed; every wait is bounded. Not thread-safe unless a function says otherwise: tests call
// them from their own thread.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::testing {

// The broker's bootstrap address: $EDDY_TEST_BOOTSTRAP if set, else the address that
// scripts/kafka-local wrote to EDDY_KAFKA_LOCAL_DIR/bootstrap. Throws when there is neither.
std::string KafkaBootstrap();

// prefix + "-" + pid + "-" + counter + "-" + time: unique across tests and runs against the
// same broker, and a valid topic or group name when the prefix is one. Thread-safe.
std::string UniqueName(std::string_view prefix);

// Client configuration for the test broker: bootstrap.servers plus `settings`, applied in
// order. Throws on an unknown property or invalid value.
using Settings = std::map<std::string, std::string>;
std::unique_ptr<RdKafka::Conf> MakeConf(const Settings& settings = {});

// Creates a topic (replication factor 1) through the admin API and waits until the broker's
// metadata lists every partition with a leader. Throws on any error, "already exists" too.
void CreateTopic(const std::string& topic, int partitions);

// Partition count of an existing topic, from a metadata request. Throws if it is unknown.
int32_t PartitionCount(const std::string& topic);

struct TestRecord {
  std::string key;
  std::string value;
  int32_t partition = -1;    // -1: the producer's partitioner picks one (by key)
  int64_t timestamp_ms = 0;  // 0: the producer's current time
  std::vector<std::pair<std::string, std::string>> headers;
};

// Produces `records` in order with an idempotent producer (enable.idempotence=true, acks=all,
// then `settings` on top), flushes, and throws if any record was not delivered.
void Produce(const std::string& topic, const std::vector<TestRecord>& records,
             const Settings& settings = {});

// A record as read back from the broker.
struct ConsumedRecord {
  std::string key;
  std::string value;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Copies what a consumer handed out; throws if the message carries an error.
ConsumedRecord ToRecord(const RdKafka::Message& message);

// A KafkaConsumer in group `group` (auto commit off, auto.offset.reset=earliest) with
// `settings` applied on top. `rebalance_cb` / `commit_cb`, when given, must outlive it.
std::unique_ptr<RdKafka::KafkaConsumer> MakeConsumer(const std::string& group,
                                                     const Settings& settings = {},
                                                     RdKafka::RebalanceCb* rebalance_cb = nullptr,
                                                     RdKafka::OffsetCommitCb* commit_cb = nullptr);

// Reads `count` records of `topic` from the beginning of every partition, without committing
// anything (explicit assignment, throw-away group id). Throws if fewer than `count` arrive
// within `timeout`; returns them ordered by partition, then offset.
std::vector<ConsumedRecord> ReadFromBeginning(
    const std::string& topic, size_t count,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Reads every record of `topic` that is in the log when it is called: from the beginning of
// each partition up to the high watermark it had then (records produced later are left out).
// For checking that a topic holds nothing more than expected, where ReadFromBeginning needs
// the count in advance. Throws if the records up to the watermarks do not all arrive within
// `timeout`; returns them ordered by partition, then offset, with their headers. Not for
// transactional topics (a trailing control record takes an offset but is never handed out).
std::vector<ConsumedRecord> ReadAll(const std::string& topic,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Owns a list of TopicPartition objects (librdkafka's C++ API hands them out as raw
// pointers that the caller must destroy).
class PartitionList {
 public:
  PartitionList() = default;
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
  ~PartitionList();

  // Appends topic/partition with `offset` (RdKafka::Topic::OFFSET_INVALID: none).
  PartitionList& Add(const std::string& topic, int32_t partition,
                     int64_t offset = RdKafka::Topic::OFFSET_INVALID);
  std::vector<RdKafka::TopicPartition*>& Items() { return list_; }
  const RdKafka::TopicPartition& At(size_t i) const { return *list_.at(i); }
  // Offset of `partition` of `topic`; throws if the list does not hold it.
  int64_t OffsetOf(const std::string& topic, int32_t partition) const;

 private:
  std::vector<RdKafka::TopicPartition*> list_;
};

}  // namespace eddy::testing
