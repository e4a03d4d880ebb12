// Producer: a librdkafka producer (C API) with the delivery accounting eddy-loadgen
// reports, and the topic administration `fill` needs (the local broker does not create
// topics on demand).
//
// Produce copies key and value (RD_KAFKA_MSG_F_COPY), so callers may reuse their buffers
// at once. Delivery reports are counted when librdkafka serves them, i.e. inside Produce
// (when the queue is full), Poll and Flush.
//
// Thread-safety: not thread-safe; one thread uses a Producer (eddy-loadgen latency gives
// each of its threads its own).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace eddy::loadgen {

class Producer {
 public:
  using Properties = std::vector<std::pair<std::string, std::string>>;

  // librdkafka properties (bootstrap.servers among them), applied in order.
  static Result<std::unique_ptr<Producer>> Create(const Properties& properties);
  ~Producer() = default;  // does not flush: call Flush first
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // A handle for topic `name`, owned by this producer and valid for its lifetime.
  rd_kafka_topic_t* Topic(const std::string& name);

  // Enqueues one record with Kafka timestamp ts (epoch ms), partitioned by librdkafka's
  // configured partitioner. While librdkafka's queue is full it serves delivery reports
  // and retries. expected_partition >= 0: the delivery report must name that partition,
  // else the record counts as misplaced (the sentinels' check).
  Status Produce(rd_kafka_topic_t* topic, std::string_view key, std::string_view value, int64_t ts,
                 int32_t expected_partition = -1);

  // Serves the delivery reports that are ready, without waiting.
  void Poll() { rd_kafka_poll(rk_.get(), 0); }

  // Waits until every enqueued record is delivered or failed; Unavailable if some are
  // still outstanding after `timeout`.
  Status Flush(std::chrono::milliseconds timeout);

  int64_t delivered() const { return delivered_; }
  int64_t failed() const { return failed_; }
  int64_t misplaced() const { return misplaced_; }
  // The first delivery error or misplacement, empty if none.
  const std::string& first_error() const { return first_error_; }

  // The topic's partition count, or 0 when the broker does not know the topic.
  Result<int32_t> PartitionCount(const std::string& topic, std::chrono::milliseconds timeout);

  // Creates `topic` with `partitions` partitions (replication factor 1, retention.ms=-1:
  // the records' fixed event times must not expire them) unless it exists,
  // and waits until every partition has a leader. An existing topic is fine if it has
  // `partitions` partitions or `exact` is false; otherwise InvalidArgument. Returns the
  // topic's partition count.
  Result<int32_t> EnsureTopic(const std::string& topic, int32_t partitions, bool exact);

  // Deletes `topic` (the self test's scratch topic).
  Status DeleteTopic(const std::string& topic);

 private:
  struct HandleDeleter {
    void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
    void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
  };

  Producer() = default;
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  void Record(const rd_kafka_message_t& message);
  // Waits until the topic's metadata shows `partitions` partitions, all with a leader.
  Status AwaitLeaders(const std::string& topic, int32_t partitions);

  // Declared first, destroyed last: the topic handles go before the producer.
  std::unique_ptr<rd_kafka_t, HandleDeleter> rk_;
  std::map<std::string, std::unique_ptr<rd_kafka_topic_t, HandleDeleter>, std::less<>> topics_;
  int64_t delivered_ = 0;
  int64_t failed_ = 0;
  int64_t misplaced_ = 0;
  std::string first_error_;
};

}  // namespace eddy::loadgen
