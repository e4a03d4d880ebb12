#include "engine/reliable_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

namespace eddy::engine {
namespace {

bool IsTransient(const Status& status) {
  return status.code() != StatusCode::kInvalidArgument && status.code() != StatusCode::kInternal;
}

// `status`'s code with `prefix` in front of its message.
Status WithContext(const Status& status, const std::string& prefix) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(prefix + status.message());
    case StatusCode::kNotFound:
      return Status::NotFound(prefix + status.message());
    case StatusCode::kInternal:
      return Status::Internal(prefix + status.message());
    default:
      return Status::Unavailable(prefix + status.message());
  }
}

class SystemClock final : public RetryClock {
 public:
  TimePoint Now() override { return std::chrono::steady_clock::now(); }
  void SleepFor(std::chrono::milliseconds duration) override {
    std::this_thread::sleep_for(duration);
  }
  double Jitter() override { return std::uniform_real_distribution<double>(0.5, 1.0)(random_); }

 private:
  std::minstd_rand random_{std::random_device{}()};
};

// Dead letters of failed deliveries are rare but may come in bursts: log the first few.
constexpr uint64_t kLogFirst = 20;
constexpr uint64_t kLogEvery = 10'000;

}  // namespace

std::unique_ptr<RetryClock> SystemRetryClock() {
  return std::make_unique<SystemClock>();
}

std::chrono::milliseconds RetryPolicy::Delay(int retry, double jitter) const {
  // Doubling stops at max_backoff, long before it could overflow.
  std::chrono::milliseconds delay = backoff;
  for (int i = 1; i < retry && delay < max_backoff; ++i) delay *= 2;
  delay = std::min(delay, max_backoff);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(delay.count()) * std::clamp(jitter, 0.5, 1.0)));
}

void CircuitBreaker::RecordSuccess() {
  consecutive_failures_ = 0;
  open_ = false;
}

bool CircuitBreaker::RecordFailure(RetryClock::TimePoint now) {
  ++consecutive_failures_;
  // Half-open: the probe failed, open again for another cooldown.
  if (consecutive_failures_ >= threshold_ || open_) {
    open_ = true;
    opened_at_ = now;
  }
  return open_;
}

CircuitBreaker::State CircuitBreaker::state(RetryClock::TimePoint now) const {
  if (!open_) return State::kClosed;
  return now - opened_at_ < cooldown_ ? State::kOpen : State::kHalfOpen;
}

ReliableSink::ReliableSink(Sink& inner, const config::DeliveryConfig& delivery,
                           std::map<std::string, DeadLetterRoute> routes,
                           std::set<std::string> dead_letter_topics, RetryClock& clock,
                           metrics::Metrics& metrics)
    : inner_(inner),
      policy_{delivery.attempts, delivery.backoff, delivery.max_backoff},
      breaker_failures_(delivery.breaker_failures),
      breaker_cooldown_(delivery.breaker_cooldown),
      routes_(std::move(routes)),
      dead_letter_topics_(std::move(dead_letter_topics)),
      clock_(clock),
      metrics_(metrics) {}

std::map<std::string, DeadLetterRoute> ReliableSink::RoutesOf(
    const std::vector<config::TopologyConfig>& topologies) {
  std::map<std::string, DeadLetterRoute> routes;
  for (const config::TopologyConfig& topology : topologies) {
    const DeadLetterRoute route{topology.name, topology.dead_letters.topic};
    for (const config::SinkConfig& sink : topology.sinks) routes.try_emplace(sink.topic, route);
    for (const config::StepConfig& step : topology.steps) {
      if (!step.late_records_topic.empty()) routes.try_emplace(step.late_records_topic, route);
    }
  }
  return routes;
}

CircuitBreaker& ReliableSink::BreakerFor(const std::string& topic) {
  auto it = breakers_.find(topic);
  if (it == breakers_.end()) {
    it = breakers_.try_emplace(topic, breaker_failures_, breaker_cooldown_).first;
  }
  return it->second;
}

void ReliableSink::RecordFailure(const std::string& topic) {
  if (BreakerFor(topic).RecordFailure(clock_.Now())) ++block_generation_;
}

CircuitBreaker::State ReliableSink::breaker_state(const std::string& topic) {
  return BreakerFor(topic).state(clock_.Now());
}

Status ReliableSink::SendWithRetries(const SinkRecord& record, bool& transient) {
  for (int attempt = 1;; ++attempt) {
    Status sent = inner_.Send(record);  // a copy: the record may be needed again
    if (sent.ok()) return sent;
    transient = IsTransient(sent);
    if (!transient || attempt >= policy_.attempts) return sent;
    metrics_.sink_retries.Add({{"topic", record.topic}}).Increment();
    clock_.SleepFor(policy_.Delay(attempt, clock_.Jitter()));
  }
}

Status ReliableSink::Send(SinkRecord record) {
  if (sent_since_flush_.find(record.topic) == sent_since_flush_.end()) {
    sent_since_flush_.insert(record.topic);
  }
  bool transient = false;
  const Status sent = SendWithRetries(record, transient);
  if (sent.ok()) return sent;
  if (sent.code() == StatusCode::kInternal) return sent;
  if (IsDeadLetterTopic(record.topic)) {
    return WithContext(sent, "cannot send a dead letter to " + record.topic + ": ");
  }
  if (transient) {
    RecordFailure(record.topic);
    failed_since_flush_.insert(record.topic);
  }
  return DeadLetter(std::move(record), sent);
}

SinkRecord DeadLetterOf(SinkRecord record, const Status& error, const DeadLetterRoute& route) {
  SinkRecord letter;
  letter.topic = route.dead_letter_topic;
  letter.key = std::move(record.key);
  letter.value = std::move(record.value);
  // Stamped by the producer when sent (0): the original timestamp may be why the record was
  // refused (INVALID_TIMESTAMP), and librdkafka's delivery report does not carry it anyway.
  letter.timestamp_ms = 0;
  // A late record already says why it was written (eddy.reason=late): what counts now is
  // why it is a dead letter.
  for (auto& header : record.headers) {
    if (header.first != "eddy.reason" && header.first != "eddy.error") {
      letter.headers.push_back(std::move(header));
    }
  }
  letter.headers.emplace_back("eddy.reason", "delivery_failed");
  letter.headers.emplace_back("eddy.error", error.message());
  letter.headers.emplace_back("eddy.topology", route.topology);
  letter.headers.emplace_back("eddy.sink.topic", record.topic);
  if (record.timestamp_ms > 0) {
    letter.headers.emplace_back("eddy.sink.timestamp_ms", std::to_string(record.timestamp_ms));
  }
  return letter;
}

Status ReliableSink::DeadLetter(SinkRecord record, const Status& error) {
  const auto route = routes_.find(record.topic);
  if (route == routes_.end() || route->second.dead_letter_topic.empty()) {
    return WithContext(error, "record to " + record.topic +
                                  " not delivered, and its topology has no dead_letters topic: ");
  }
  static uint64_t logged = 0;
  if (const uint64_t n = logged++; n < kLogFirst || n % kLogEvery == 0) {
    spdlog::warn("topology {}: a record to {} could not be delivered; sent to {}: {}",
                 route->second.topology, record.topic, route->second.dead_letter_topic,
                 error.message());
  }
  const std::string topic = record.topic;
  SinkRecord letter = DeadLetterOf(std::move(record), error, route->second);
  sent_since_flush_.insert(letter.topic);
  bool transient = false;
  if (Status sent = SendWithRetries(letter, transient); !sent.ok()) {
    return WithContext(sent, "record to " + topic + " not delivered (" + error.message() +
                                 ") and its dead letter could not be sent to " + letter.topic +
                                 " either: ");
  }
  metrics_.dead_letter_records
      .Add({{"topology", route->second.topology}, {"reason", "delivery_failed"}})
      .Increment();
  return Status::Ok();
}

Status ReliableSink::Flush(std::chrono::milliseconds timeout) {
  const std::set<std::string> sent = std::exchange(sent_since_flush_, {});
  // Topics with a record that failed for a transient reason: refused by Send since the last
  // Flush, or undelivered now. No success for them.
  std::set<std::string> undelivered = std::exchange(failed_since_flush_, {});
  // A dead letter gets `attempts` tries too, counted from the round it was sent in.
  int dead_letter_last_round = 0;
  // Records whose send again the inner sink refused outright: failed tries like the failed
  // deliveries, decided on with them in the next round.
  std::vector<FailedDelivery> refused;
  for (int round = 1;; ++round) {
    const Status flushed = inner_.Flush(timeout);
    std::vector<FailedDelivery> failed = inner_.TakeFailed();
    for (FailedDelivery& failure : refused) failed.push_back(std::move(failure));
    refused.clear();
    if (failed.empty()) {
      if (flushed.ok()) break;
      // Nothing named: records still in flight (a timeout), or a sink that cannot tell.
      if (!IsTransient(flushed) || round >= std::max(policy_.attempts, dead_letter_last_round)) {
        return flushed;
      }
      spdlog::warn("sink flush failed (try {} of {}), retrying: {}", round, policy_.attempts,
                   flushed.message());
      clock_.SleepFor(policy_.Delay(round, clock_.Jitter()));
      continue;
    }
    std::vector<SinkRecord> retry;
    for (FailedDelivery& failure : failed) {
      const std::string topic = failure.record.topic;
      const bool transient = IsTransient(failure.error);
      if (failure.error.code() == StatusCode::kInternal) return failure.error;
      if (IsDeadLetterTopic(topic)) {
        if (!transient || round >= dead_letter_last_round) {
          return WithContext(failure.error, "cannot deliver a dead letter to " + topic + ": ");
        }
        retry.push_back(std::move(failure.record));
      } else if (transient && round < policy_.attempts) {
        retry.push_back(std::move(failure.record));
      } else {
        if (transient) {
          RecordFailure(topic);
          undelivered.insert(topic);
        }
        EDDY_RETURN_IF_ERROR(DeadLetter(std::move(failure.record), failure.error));
        dead_letter_last_round = round + policy_.attempts;
      }
    }
    if (retry.empty()) continue;  // flush what was dead-lettered
    clock_.SleepFor(policy_.Delay(round, clock_.Jitter()));
    for (SinkRecord& record : retry) {
      metrics_.sink_retries.Add({{"topic", record.topic}}).Increment();
      if (Status resent = inner_.Send(record); !resent.ok()) {
        if (resent.code() == StatusCode::kInternal) {
          return WithContext(resent, "cannot send a record again: ");
        }
        // Refused outright (librdkafka, for one, refuses records to a topic it has learnt
        // does not exist): a failed try, retried or dead-lettered in the next round.
        refused.push_back({std::move(record), std::move(resent)});
      }
    }
  }
  for (const std::string& topic : sent) {
    if (undelivered.count(topic) == 0 && !IsDeadLetterTopic(topic)) {
      BreakerFor(topic).RecordSuccess();
    }
  }
  return Status::Ok();
}

std::vector<std::string> ReliableSink::BlockedTopics() {
  std::vector<std::string> blocked;
  const auto now = clock_.Now();
  for (const auto& [topic, breaker] : breakers_) {
    const bool open = breaker.state(now) == CircuitBreaker::State::kOpen;
    if (open) blocked.push_back(topic);
    if (open != (open_gauges_.count(topic) > 0)) SetOpenGauge(topic, open);
  }
  return blocked;
}

void ReliableSink::SetOpenGauge(const std::string& topic, bool open) {
  // Moved by one, not set: with several workers each has its own breaker for the topic, and
  // the gauge counts those that are open (one worker: 0 or 1).
  prometheus::Gauge& gauge = metrics_.circuit_breaker_open.Add({{"topic", topic}});
  if (open) {
    gauge.Increment();
  } else {
    gauge.Decrement();
  }
  if (open) {
    open_gauges_.insert(topic);
    spdlog::warn("sink topic {}: circuit breaker open; pausing the sources writing to it for {} ms",
                 topic, breaker_cooldown_.count());
  } else {
    open_gauges_.erase(topic);
    spdlog::info("sink topic {}: circuit breaker half-open; resuming the sources writing to it",
                 topic);
  }
}

}  // namespace eddy::engine
