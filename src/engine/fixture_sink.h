// FixtureSink: an in-memory Sink for tests and the offline `eddy test` driver. It behaves
// like a Kafka producer whose broker acknowledges everything at the next Flush:
//
// - Send() appends the record to pending() and succeeds (unless a test armed FailNextSend).
// - Flush() moves every pending record, in Send order, to the end of records() (the
//   delivered ones) and succeeds. After FailNextFlush(status) the next Flush() returns that
//   status instead and delivers nothing: the pending records stay pending, as records whose
//   delivery the pipeline cannot vouch for (it must not commit past them). A later Flush()
//   delivers them.
// - RejectTopic(topic, status): until AcceptTopic(topic), every Flush() reports the pending
//   records of `topic` as failed with `status` (TakeFailed), as a broker that refuses them
//   does; the other records are delivered. Flush() then returns an error, as KafkaSink's does.
// - RefuseTopic(topic, status): until AcceptTopic(topic), Send() of a record to `topic`
//   fails with `status` and queues nothing, as librdkafka's producer does once it knows that
//   a topic does not exist. Counted in refused_count().
// - The timeout is ignored: nothing here ever waits.
//
// Threading: like every Sink, owned and called by one thread (the processing thread). Read
// records() / pending() from that thread, or after the pipeline has stopped.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/sink.h"

namespace eddy::engine {

class FixtureSink final : public Sink {
 public:
  Status Send(SinkRecord record) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  std::vector<FailedDelivery> TakeFailed() override;

  // Delivered records (moved here by a successful Flush), in Send order.
  const std::vector<SinkRecord>& records() const { return delivered_; }
  // Records sent since the last successful Flush, in Send order.
  const std::vector<SinkRecord>& pending() const { return pending_; }
  // Flush calls so far, failed ones included.
  size_t flush_count() const { return flush_count_; }

  // Faults for tests, each used once. `status` must not be OK.
  void FailNextSend(Status status);   // the record is not queued
  void FailNextFlush(Status status);  // nothing is delivered
  void RejectTopic(const std::string& topic, Status status);
  void RefuseTopic(const std::string& topic, Status status);
  void AcceptTopic(const std::string& topic) {
    rejected_.erase(topic);
    refused_.erase(topic);
  }
  // Records reported failed so far (by RejectTopic), in order.
  size_t rejected_count() const { return rejected_count_; }
  // Sends refused so far (by RefuseTopic).
  size_t refused_count() const { return refused_count_; }

 private:
  std::vector<SinkRecord> pending_;
  std::vector<SinkRecord> delivered_;
  size_t flush_count_ = 0;
  std::optional<Status> fail_next_send_;
  std::optional<Status> fail_next_flush_;
  std::map<std::string, Status> rejected_;
  std::map<std::string, Status> refused_;
  size_t refused_count_ = 0;
  std::vector<FailedDelivery> failed_;
  size_t rejected_count_ = 0;
};

}  // namespace eddy::engine
