#include "runtime/health.h"

#include <utility>

#include "common/json_writer.h"

namespace eddy::runtime {
namespace {

double Seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

}  // namespace

Verdict EvaluateLiveness(const LivenessSnapshot& snapshot, const HealthOptions& options) {
  Verdict verdict;
  verdict.ok = true;
  if (!snapshot.loop_age) return verdict;  // starting: readiness covers it
  if (*snapshot.loop_age <= options.max_loop_stall) return verdict;
  const std::string stalled = "the processing loop has not run for " +
                              std::to_string(static_cast<int64_t>(Seconds(*snapshot.loop_age))) +
                              " s (limit " + std::to_string(options.max_loop_stall.count() / 1000) +
                              " s)";
  if (!snapshot.publish_error.empty()) {
    // Waiting for the broker to take a transaction: restarting would wait the same way.
    verdict.reasons.push_back(stalled +
                              " while retrying Kafka transactions: " + snapshot.publish_error);
    return verdict;
  }
  verdict.ok = false;
  verdict.reasons.push_back(stalled);
  return verdict;
}

Verdict EvaluateReadiness(const ReadinessSnapshot& snapshot, const HealthOptions& options) {
  Verdict verdict;
  if (snapshot.stopping) verdict.reasons.emplace_back("shutting down");
  if (!snapshot.state_write_error.empty()) {
    verdict.reasons.push_back("state writes failing: " + snapshot.state_write_error);
  }
  if (!snapshot.publish_error.empty()) {
    verdict.reasons.push_back("Kafka transactions failing: " + snapshot.publish_error);
  }
  if (!snapshot.assignment_received) {
    verdict.reasons.emplace_back("waiting for the consumer group to assign partitions");
    // Why it may never come: librdkafka retries authentication failures forever.
    if (!snapshot.authentication_error.empty()) {
      verdict.reasons.push_back("Kafka authentication failed: " + snapshot.authentication_error);
    }
  }
  if (snapshot.restoring_partitions > 0) {
    verdict.reasons.push_back("restoring: " + std::to_string(snapshot.restoring_partitions) +
                              " joined-table partition(s) still loading");
  }
  if (options.max_lag_records && snapshot.max_partition_lag &&
      *snapshot.max_partition_lag > *options.max_lag_records) {
    verdict.reasons.push_back(
        "lagging: a partition is " + std::to_string(*snapshot.max_partition_lag) +
        " records behind (limit " + std::to_string(*options.max_lag_records) + ")");
  }
  verdict.ok = verdict.reasons.empty();
  return verdict;
}

http::Response LivenessResponse(const LivenessSnapshot& snapshot, const Verdict& verdict) {
  JsonWriter json;
  json.BeginObject().Key("status").String(verdict.ok ? "ok" : "failing");
  json.Key("processing_loop_age_seconds");
  if (snapshot.loop_age) {
    json.Double(Seconds(*snapshot.loop_age));
  } else {
    json.Null();
  }
  json.Key("reasons").BeginArray();
  for (const std::string& reason : verdict.reasons) json.String(reason);
  json.EndArray().EndObject();
  return http::Response::Json(verdict.ok ? 200 : 503, std::move(json).Take());
}

http::Response ReadinessResponse(const ReadinessSnapshot& snapshot, const Verdict& verdict) {
  JsonWriter json;
  json.BeginObject().Key("ready").Bool(verdict.ok);
  json.Key("state").String(snapshot.state_write_error.empty() ? "open" : "write_failing");
  json.Key("assigned_partitions").Int(snapshot.assigned_partitions);
  json.Key("restoring_partitions").Int(snapshot.restoring_partitions);
  json.Key("max_partition_lag");
  if (snapshot.max_partition_lag) {
    json.Int(*snapshot.max_partition_lag);
  } else {
    json.Null();
  }
  json.Key("reasons").BeginArray();
  for (const std::string& reason : verdict.reasons) json.String(reason);
  json.EndArray().EndObject();
  return http::Response::Json(verdict.ok ? 200 : 503, std::move(json).Take());
}

HealthChecks::HealthChecks(const engine::Pipeline& pipeline,
                           const engine::ExactlyOnceSink* exactly_once,
                           const std::atomic<bool>& stopping, HealthOptions options)
    : pipeline_(pipeline), exactly_once_(exactly_once), stopping_(stopping), options_(options) {}

LivenessSnapshot HealthChecks::TakeLiveness() const {
  LivenessSnapshot snapshot;
  if (const auto last = pipeline_.last_loop_iteration()) {
    snapshot.loop_age = std::chrono::steady_clock::now() - *last;
  }
  if (exactly_once_ != nullptr) snapshot.publish_error = exactly_once_->publish_error();
  return snapshot;
}

ReadinessSnapshot HealthChecks::TakeReadiness() const {
  ReadinessSnapshot snapshot;
  snapshot.stopping = stopping_.load();
  snapshot.state_write_error = pipeline_.state_write_error();
  if (exactly_once_ != nullptr) snapshot.publish_error = exactly_once_->publish_error();
  snapshot.assignment_received = pipeline_.assignment_received();
  if (!snapshot.assignment_received && options_.authentication_error) {
    snapshot.authentication_error = options_.authentication_error();
  }
  snapshot.assigned_partitions = pipeline_.assigned_partitions();
  snapshot.restoring_partitions = pipeline_.restoring_partitions();
  snapshot.max_partition_lag = pipeline_.max_partition_lag();
  return snapshot;
}

http::Response HealthChecks::Healthz() const {
  const LivenessSnapshot snapshot = TakeLiveness();
  return LivenessResponse(snapshot, EvaluateLiveness(snapshot, options_));
}

http::Response HealthChecks::Readyz() const {
  const ReadinessSnapshot snapshot = TakeReadiness();
  return ReadinessResponse(snapshot, EvaluateReadiness(snapshot, options_));
}

void HealthChecks::RegisterMetrics(metrics::Metrics& metrics) const {
  prometheus::Gauge* ready = &metrics.ready.Add({});
  prometheus::Gauge* loop_age = &metrics.processing_loop_age.Add({});
  metrics.AddCollector([this, ready, loop_age] {
    ready->Set(EvaluateReadiness(TakeReadiness(), options_).ok ? 1 : 0);
    const std::optional<std::chrono::nanoseconds> age = TakeLiveness().loop_age;
    loop_age->Set(age ? Seconds(*age) : 0);
  });
}

}  // namespace eddy::runtime
