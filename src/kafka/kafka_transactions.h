// KafkaTransactions: the engine's TransactionalOutput (engine/exactly_once_sink.h) on Kafka
// transactions, for delivery.guarantee: exactly_once.
//
// One transactional producer (a KafkaSink created with a transactional.id, so the same
// properties, defaults, metrics and delivery reports as the at-least-once sink) publishes
// each OutputTransaction as one Kafka transaction:
//   begin_transaction; produce every record; send_offsets_to_transaction(the input offsets,
//   each with TransactionMarker as its metadata, the consumer's current group metadata);
//   commit_transaction.
// The group metadata ties the offsets to the consumer's generation (KIP-447): a member that
// lost its partitions in a rebalance cannot commit for them.
//
// IsCommitted() reads the group's committed offsets of the transaction's partitions (with the
// consumer, isolation.level=read_committed, so a pending transactional commit is waited for
// by the broker) and compares their metadata with the marker. librdkafka 2.0.2's C++ API has
// no offset metadata; the C API (rd_kafka_topic_partition_t.metadata) carries it, and
// TxnOffsetCommit / OffsetFetch keep it (checked against Kafka 4.x).
//
// The transactional.id must be unique per running instance: a second producer with the same
// id fences the first (its next transaction fails fatally), which is how a zombie instance is
// stopped from publishing.
//
// Threading: the processing thread only (the source's consumer is used here too).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "engine/exactly_once_sink.h"
#include "kafka/kafka_sink.h"
#include "kafka/kafka_source.h"
#include "metrics/metrics.h"

namespace eddy::kafka {

// delivery.transactional_id if set, else "eddy-<group.id>[-<group.instance.id>]".
std::string TransactionalId(const config::Config& config);

class KafkaTransactions final : public engine::TransactionalOutput {
 public:
  // `source` (whose consumer's group the offsets are committed to) and `metrics` must outlive
  // the object.
  static Result<std::unique_ptr<KafkaTransactions>> Create(const config::KafkaConfig& kafka,
                                                           const std::string& transactional_id,
                                                           KafkaSource& source,
                                                           metrics::Metrics& metrics);

  Status Start(std::chrono::milliseconds timeout) override;
  Status Commit(const engine::OutputTransaction& transaction,
                std::vector<engine::FailedDelivery>& refused,
                std::chrono::milliseconds timeout) override;
  Result<bool> IsCommitted(const engine::OutputTransaction& transaction,
                           std::chrono::milliseconds timeout) override;

 private:
  KafkaTransactions(std::unique_ptr<KafkaSink> producer, std::string transactional_id,
                    KafkaSource& source)
      : producer_(std::move(producer)),
        transactional_id_(std::move(transactional_id)),
        source_(source) {}
  // Aborts the open transaction; false if even that failed (the producer is unusable).
  bool Abort(std::chrono::milliseconds timeout);

  std::unique_ptr<KafkaSink> producer_;
  const std::string transactional_id_;
  KafkaSource& source_;
  bool started_ = false;
};

}  // namespace eddy::kafka
