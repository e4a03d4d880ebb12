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
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::testing {

// The broker's bootstrap address: $EDDY_TEST_BOOTSTRAP if set, else the address that
// scripts/kafka-local wrote to EDDY_KAFKA_LOCAL_DIR/bootstrap. Throws when there is neither.
std::string KafkaBootstrap();

// Client properties (MakeConf) or topic configs (CreateTopic): name -> value.
using Settings = std::map<std::string, std::string>;

// prefix + "-" + pid + "-" + counter + "-" + time: unique across tests and runs against the
// same broker, and a valid topic or group name when the prefix is one. Thread-safe.
std::string UniqueName(std::string_view prefix);

// Client configuration for the test broker: bootstrap.servers plus `settings`, applied in
// order. Throws on an unknown property or invalid value.
std::unique_ptr<RdKafka::Conf> MakeConf(const Settings& settings = {});

// Creates a topic (replication factor 1) through the admin API and waits until the broker's
// metadata lists every partition with a leader. `configs` are topic configs (e.g.
// max.message.bytes). Throws on any error, "already exists" too.
void CreateTopic(const std::string& topic, int partitions, const Settings& configs = {});

// Partition count of an existing topic, from a metadata request. Throws if it is unknown.
int32_t PartitionCount(const std::string& topic);

struct TestRecord {
  std::string key;
  std::optional<std::string> value;  // nullopt: a null value (a tombstone)
  int32_t partition = -1;            // -1: the producer's partitioner picks one (by key)
  int64_t timestamp_ms = 0;          // 0: the producer's current time
  std::vector<std::pair<std::string, std::string>> headers;
};

// Produces `records` in order with an idempotent producer (enable.idempotence=true, acks=all,
// then `settings` on top), flushes, and throws if any record was not delivered.
void Produce(const std::string& topic, const std::vector<TestRecord>& records,
             const Settings& settings = {});

// A producer for volumes that Produce() would take minutes over (millions of records, or a
// paced stream): records are batched (linger.ms=20, lz4) and queued without waiting for each
// to be acknowledged; a full local queue makes Send wait, not fail. Idempotent with
// acks=all like Produce(), so a retry never duplicates a record and counts stay exact.
// Settings apply on top. Not thread-safe: one thread sends and flushes.
class BulkProducer {
 public:
  explicit BulkProducer(const Settings& settings = {});
  ~BulkProducer();
  BulkProducer(const BulkProducer&) = delete;
  BulkProducer& operator=(const BulkProducer&) = delete;

  // Queues one record for `topic` (partition by key). Throws if librdkafka refuses it for
  // any reason but a full queue, or if an earlier delivery failed.
  void Send(const std::string& topic, std::string_view key, std::string_view value);
  // Waits until every queued record is acknowledged; throws if one failed or the timeout
  // passed first.
  void Flush(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Records queued, and records the broker acknowledged (as of the last Send or Flush).
  int64_t sent() const { return sent_; }
  int64_t delivered() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t sent_ = 0;
};

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

// Reads every record of `topic` present when it is called: from the beginning of each
// partition up to the high watermark that the broker reports at the start, without committing
// anything. Throws if they do not all arrive within `timeout`; returns them ordered by
// partition, then offset. (For topics written without transactions, so every offset below
// the high watermark is a record.)
std::vector<ConsumedRecord> ReadToEnd(const std::string& topic,
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
