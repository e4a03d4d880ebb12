// ReliableSink: what eddy does when Kafka refuses a record or never acknowledges it
// (docs/error-handling.md). It wraps the real Sink (kafka::KafkaSink, or a FixtureSink in
// tests); topologies and the pipeline only see it as a Sink.
//
// - Retries. A Send the inner sink refuses, and a record whose delivery a Flush reports as
//   failed (Sink::TakeFailed), are tried again after a delay: RetryPolicy, exponential with
//   jitter, up to `attempts` tries in all. A record the broker refuses for what it is
//   (kInvalidArgument: too large, timestamp out of range) is not retried: no try can change
//   the answer. Note that the broker refuses the whole batch (of one partition) that held
//   such a record, and librdkafka 2.0.2 reports every record of it with the same error, so
//   records that merely shared the batch are dead-lettered too (docs/error-handling.md).
//   A retry the inner sink refuses outright (librdkafka does, for a topic it has learnt does
//   not exist) is a failed try like a failed delivery. A Flush that fails without naming
//   records (a timeout: records still in flight) is itself retried the same way.
// - Dead letters. A record that still cannot be delivered goes to the dead_letters topic of
//   the topology that writes its topic — key and value as they were, stamped with the time it
//   is dead-lettered — with headers eddy.reason=delivery_failed, eddy.error, eddy.topology,
//   eddy.sink.topic (the topic it was meant for) and eddy.sink.timestamp_ms (its timestamp,
//   when the inner sink reports it; KafkaSink cannot), and is counted in
//   eddy_dead_letter_records_total{topology, reason="delivery_failed"}. Flush succeeds once
//   the dead letter is acknowledged, so the pipeline commits past the record: nothing is lost,
//   it is in the dead-letter topic. Without a dead_letters topic, or when the dead letter
//   cannot be delivered either (retried the same way), Send / Flush fail and processing
//   stops, as without this class: nothing is committed past the record.
// - Circuit breaker per topic (CircuitBreaker). After `failures` consecutive records to a
//   topic that could not be delivered for a transient reason (refused by Send or failed at a
//   Flush; a Flush after a refused Send is no success of the topic), the topic is blocked
//   (BlockedTopics) for `cooldown`: the pipeline pauses the sources of the topologies that
//   write it, so records wait in Kafka instead of piling into the dead letters. It does so
//   before the next record (BlockGeneration), not after the rest of the batch. Then it is
//   half-open: records flow again; the next delivery success closes it, the next failure
//   opens it again.
//
// Time (delays, cooldowns) and jitter come from a RetryClock, so tests drive them without
// sleeping.
//
// Threading: like every Sink, owned and called by one processing thread (one worker's) only.
// Workers each have their own; the only thing they share is eddy_sink_circuit_open{topic},
// which each moves by one (atomically) when its breaker for the topic opens or closes.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "engine/sink.h"
#include "metrics/metrics.h"

namespace eddy::engine {

// Where time and randomness come from.
class RetryClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~RetryClock() = default;
  virtual TimePoint Now() = 0;
  virtual void SleepFor(std::chrono::milliseconds duration) = 0;
  // A factor in [0.5, 1] that scales one delay.
  virtual double Jitter() = 0;
};

// The real clock and a uniform random jitter.
std::unique_ptr<RetryClock> SystemRetryClock();

struct RetryPolicy {
  int attempts = 3;  // tries in all, >= 1
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // The delay before retry `retry` (1 = the second try): min(max_backoff, backoff *
  // 2^(retry-1)) * jitter, jitter in [0.5, 1].
  std::chrono::milliseconds Delay(int retry, double jitter) const;
};

// One topic's breaker. Closed: records flow. Open: after `failures` consecutive failures;
// blocked until `cooldown` has passed since it opened, then half-open: one more failure opens
// it again, a success closes it.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  CircuitBreaker(int failures, std::chrono::milliseconds cooldown)
      : threshold_(failures), cooldown_(cooldown) {}
  void RecordSuccess();
  // True when the breaker is open after it (opened now, or opened again).
  bool RecordFailure(RetryClock::TimePoint now);
  State state(RetryClock::TimePoint now) const;

 private:
  const int threshold_;
  const std::chrono::milliseconds cooldown_;
  int consecutive_failures_ = 0;
  bool open_ = false;  // opened and not yet closed by a success (may be half-open by now)
  RetryClock::TimePoint opened_at_{};
};

// Which topology writes a topic, and where its dead letters go ("" = none).
struct DeadLetterRoute {
  std::string topology;
  std::string dead_letter_topic;
};

// `record`, which could not be delivered (`error`), as the dead letter ReliableSink sends to
// `route.dead_letter_topic` (headers above).
SinkRecord DeadLetterOf(SinkRecord record, const Status& error, const DeadLetterRoute& route);

class ReliableSink final : public Sink {
 public:
  // `routes`: sink / late_records topic -> its topology's route (the first topology's when
  // several write one topic). `dead_letter_topics`: every dead_letters topic (a dead letter
  // that cannot be delivered is never dead-lettered again). `inner`, `clock` and `metrics`
  // must outlive this object.
  ReliableSink(Sink& inner, const config::DeliveryConfig& delivery,
               std::map<std::string, DeadLetterRoute> routes,
               std::set<std::string> dead_letter_topics, RetryClock& clock,
               metrics::Metrics& metrics);

  // Routes for every topic `topologies` write, per their config.
  static std::map<std::string, DeadLetterRoute> RoutesOf(
      const std::vector<config::TopologyConfig>& topologies);

  Status Send(SinkRecord record) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  std::vector<std::string> BlockedTopics() override;
  uint64_t BlockGeneration() override { return block_generation_; }

  CircuitBreaker::State breaker_state(const std::string& topic);

 private:
  // Sends with retries; no dead-lettering. Returns the last error.
  Status SendWithRetries(const SinkRecord& record, bool& transient);
  // `record` could not be delivered (`error`): sends it to its dead-letter topic, or returns
  // why it cannot be.
  Status DeadLetter(SinkRecord record, const Status& error);
  CircuitBreaker& BreakerFor(const std::string& topic);
  // A record to `topic` could not be delivered for a transient reason: tells its breaker.
  void RecordFailure(const std::string& topic);
  void SetOpenGauge(const std::string& topic, bool open);
  bool IsDeadLetterTopic(const std::string& topic) const {
    return dead_letter_topics_.count(topic) > 0;
  }

  // Constant after construction.
  Sink& inner_;
  const RetryPolicy policy_;
  const int breaker_failures_;
  const std::chrono::milliseconds breaker_cooldown_;
  const std::map<std::string, DeadLetterRoute> routes_;
  const std::set<std::string> dead_letter_topics_;
  RetryClock& clock_;
  metrics::Metrics& metrics_;

  std::map<std::string, CircuitBreaker> breakers_;
  std::set<std::string> sent_since_flush_;  // topics sent to since the last Flush
  std::set<std::string> open_gauges_;       // topics whose open gauge this sink moved up
  // Topics with a record that Send could not deliver for a transient reason since the last
  // Flush: that Flush is no success for them.
  std::set<std::string> failed_since_flush_;
  uint64_t block_generation_ = 0;  // BlockGeneration()
};

}  // namespace eddy::engine
