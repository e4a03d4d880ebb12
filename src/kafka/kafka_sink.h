// KafkaSink: the engine's Sink implemented on librdkafka's Producer, built from the same
// kafka: properties as the consumer (docs/sinks.md).
//
// Properties, in the order they are applied:
// 1. defaults, each overridable: client.id=eddy, compression.type=lz4, and
//    partitioner=murmur2_random (the Java client's partitioner, so a key lands in the partition
//    a Java or Kafka Streams producer would pick: output topics stay co-partitioned with
//    topics those produce);
// 2. the kafka: properties, except consumer-only ones (group.id, auto.offset.reset,
//    session.timeout.ms, ...: ConsumerOnlyProperties()), which a producer ignores anyway and
//    which librdkafka would otherwise warn about at every start;
// 3. forced: enable.idempotence=true (which implies acks=all and per-partition ordering
//    across retries). A config that sets enable.idempotence=false, acks other than all/-1,
//    or a transactional.id is rejected (ValidateKafkaSinkProperties).
//
// Delivery (the contract of engine/sink.h, at-least-once): Send() copies the record into
// librdkafka's queue; delivery reports arrive inside Send() (poll(0) after each produce) and
// Flush(). Flush() fails if records are still unacknowledged at the timeout, or if any record
// failed delivery since the previous Flush() (the first failure is named, the failures are
// then forgotten). Each failed record is kept, rebuilt from its delivery report, until
// TakeFailed(), with a Status whose code classifies the error (DeliveryStatus): the
// engine's ReliableSink retries or dead-letters them.
//
// Metrics: eddy_sink_records_sent_total{topic} per delivered record,
// eddy_sink_errors_total{topic,error} per rejected or undelivered record, and client-level
// errors (broker down, ...) in eddy_kafka_errors_total{error} as for the consumer. `metrics`
// must outlive the sink.
//
// Threading: owned and called by the processing thread only, like every Sink. The delivery
// report and event callbacks run inside Send() / Flush() / the destructor, on that thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "config/loader.h"
#include "engine/sink.h"
#include "metrics/metrics.h"

namespace eddy::kafka {

// librdkafka 2.0.2's consumer-only properties (scope "C" in its CONFIGURATION.md; callbacks
// left out, they cannot be set from YAML). The sink skips them.
const std::set<std::string>& ConsumerOnlyProperties();

// Checks the kafka: properties for what the sink forces (see above). Appends one Diagnostic
// per problem, with the property's location. The names and value syntax of all properties
// are checked by ValidateKafkaProperties (kafka_source.h).
void ValidateKafkaSinkProperties(const config::KafkaConfig& kafka,
                                 std::vector<config::Diagnostic>& errors);

// A librdkafka error of a produce() or a delivery report as a Status whose code says whether
// another try can help (see engine::FailedDelivery): kInvalidArgument for a record the broker
// refuses for what it is (MSG_SIZE_TOO_LARGE, INVALID_TIMESTAMP — e.g. a timestamp more than
// log.message.timestamp.after.max.ms ahead of the broker's clock —, RECORD_LIST_TOO_LARGE,
// INVALID_RECORD, INVALID_MSG_SIZE), kInternal for a fatal producer error, kNotFound for an
// unknown topic or partition, kUnavailable for everything else (transient).
Status DeliveryStatus(int error_code, const std::string& message);

class KafkaSink final : public engine::Sink {
 public:
  // A non-empty `transactional_id` makes the producer transactional: only KafkaTransactions
  // (kafka_transactions.h) creates one, and drives its transactions.
  static Result<std::unique_ptr<KafkaSink>> Create(const config::KafkaConfig& kafka,
                                                   metrics::Metrics& metrics,
                                                   const std::string& transactional_id = "");
  // Flushes for at most kCloseTimeout, then destroys the producer. Records still unacknowledged
  // are dropped: the state that produced them was not committed (the pipeline commits only
  // after a successful Flush), so they are produced again after the restart.
  ~KafkaSink() override;
  static constexpr std::chrono::milliseconds kCloseTimeout{1000};
  // How long Send() waits for room while librdkafka's queue is full before it fails.
  static constexpr std::chrono::milliseconds kQueueFullTimeout{30000};

  Status Send(engine::SinkRecord record) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  std::vector<engine::FailedDelivery> TakeFailed() override;

  // The value the producer uses for a librdkafka property, e.g. "enable.idempotence" ->
  // "true"; nullopt if it is not set (group.id) or unknown. For diagnostics and tests.
  std::optional<std::string> EffectiveProperty(const std::string& name) const;
  // librdkafka's handle of the producer, for the transaction calls of KafkaTransactions.
  rd_kafka_t* handle();

 private:
  class Impl;
  explicit KafkaSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy::kafka
