// KafkaSource: the engine's Source implemented on librdkafka's KafkaConsumer (consumer
// groups, classic protocol, eager or cooperative assignment).
//
// Offsets: eddy's own offsets live in RocksDB next to the state they produced; on each
// assignment the listener supplies the offset to resume at and the consumer starts there.
// Kafka's group offsets are committed asynchronously after each RocksDB commit, only so
// that ordinary lag tooling sees progress. Auto-commit and auto offset store are therefore
// forced off; a config that turns them on is rejected by ValidateKafkaProperties.
//
// Threading: owned and called by the processing thread only, like every Source, except
// AuthenticationError(). librdkafka's rebalance and event callbacks run inside consume(),
// i.e. on that same thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/loader.h"
#include "engine/source.h"
#include "metrics/metrics.h"

namespace eddy::kafka {

// Checks every kafka: property against librdkafka's own property table (names and value
// syntax), without connecting anywhere. Appends one Diagnostic per problem.
void ValidateKafkaProperties(const config::KafkaConfig& kafka,
                             std::vector<config::Diagnostic>& errors);

class KafkaSource final : public engine::Source {
 public:
  static Result<std::unique_ptr<KafkaSource>> Create(const config::KafkaConfig& kafka,
                                                     metrics::Metrics& metrics);
  ~KafkaSource() override;

  Status Subscribe(const std::vector<std::string>& topics,
                   engine::SourceListener* listener) override;
  Status Poll(std::chrono::milliseconds timeout, size_t max_records,
              std::vector<engine::Record>& out) override;
  void CommitAsync(const std::vector<engine::PartitionOffset>& offsets) override;
  std::vector<engine::PartitionLag> Lag() override;
  Status Close() override;
  Status PauseAt(const engine::TopicPartition& partition, int64_t offset) override;
  Status Resume(const engine::TopicPartition& partition) override;
  Result<int64_t> EndOffset(const engine::TopicPartition& partition,
                            std::chrono::milliseconds timeout) override;
  std::optional<int64_t> Position(const engine::TopicPartition& partition) override;
  Result<int32_t> PartitionCount(const std::string& topic,
                                 std::chrono::milliseconds timeout) override;
  // librdkafka's handle of the consumer, for KafkaTransactions (the group's metadata and
  // committed offsets). Processing thread only.
  rd_kafka_t* handle();

  // The last authentication failure the consumer reported (_AUTHENTICATION,
  // SASL_AUTHENTICATION_FAILED: a wrong SASL password, for one), as librdkafka worded it,
  // until partitions are next assigned; empty when there is none. Thread-safe (read by
  // /readyz).
  std::string AuthenticationError() const;

 private:
  class Impl;
  explicit KafkaSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy::kafka
