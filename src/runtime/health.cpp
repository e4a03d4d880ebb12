#include "runtime/health.h"

#include <algorithm>
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

CombinedLiveness CombineLiveness(const std::vector<LivenessSnapshot>& workers,
                                 const HealthOptions& options) {
  CombinedLiveness combined;
  combined.verdict.ok = true;
  for (size_t i = 0; i < workers.size(); ++i) {
    const LivenessSnapshot& worker = workers[i];
    const Verdict verdict = EvaluateLiveness(worker, options);
    combined.verdict.ok = combined.verdict.ok && verdict.ok;
    for (const std::string& reason : verdict.reasons) {
      combined.verdict.reasons.push_back(
          workers.size() > 1 ? "worker " + std::to_string(i) + ": " + reason : reason);
    }
    if (worker.loop_age &&
        (!combined.snapshot.loop_age || *worker.loop_age > *combined.snapshot.loop_age)) {
      combined.snapshot = worker;
    }
  }
  return combined;
}

ReadinessSnapshot CombineReadiness(const std::vector<ReadinessSnapshot>& workers) {
  ReadinessSnapshot combined;
  combined.assignment_received = true;
  for (const ReadinessSnapshot& worker : workers) {
    combined.stopping = combined.stopping || worker.stopping;
    if (combined.state_write_error.empty()) combined.state_write_error = worker.state_write_error;
    if (combined.publish_error.empty()) combined.publish_error = worker.publish_error;
    combined.assignment_received = combined.assignment_received && worker.assignment_received;
    if (combined.authentication_error.empty()) {
      combined.authentication_error = worker.authentication_error;
    }
    combined.assigned_partitions += worker.assigned_partitions;
    combined.restoring_partitions += worker.restoring_partitions;
    if (worker.max_partition_lag) {
      combined.max_partition_lag =
          std::max(combined.max_partition_lag.value_or(0), *worker.max_partition_lag);
    }
  }
  return combined;
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

HealthChecks::HealthChecks(std::vector<HealthWorker> workers, const std::atomic<bool>& stopping,
                           HealthOptions options)
    : workers_(std::move(workers)), stopping_(stopping), options_(std::move(options)) {}

LivenessSnapshot HealthChecks::TakeLiveness(const HealthWorker& worker) const {
  LivenessSnapshot snapshot;
  if (const auto last = worker.pipeline->last_loop_iteration()) {
    snapshot.loop_age = std::chrono::steady_clock::now() - *last;
  }
  if (worker.exactly_once != nullptr) snapshot.publish_error = worker.exactly_once->publish_error();
  return snapshot;
}

ReadinessSnapshot HealthChecks::TakeReadiness(const HealthWorker& worker) const {
  ReadinessSnapshot snapshot;
  snapshot.stopping = stopping_.load();
  snapshot.state_write_error = worker.pipeline->state_write_error();
  if (worker.exactly_once != nullptr) snapshot.publish_error = worker.exactly_once->publish_error();
  snapshot.assignment_received = worker.pipeline->assignment_received();
  snapshot.assigned_partitions = worker.pipeline->assigned_partitions();
  snapshot.restoring_partitions = worker.pipeline->restoring_partitions();
  snapshot.max_partition_lag = worker.pipeline->max_partition_lag();
  return snapshot;
}

CombinedLiveness HealthChecks::Liveness() const {
  std::vector<LivenessSnapshot> snapshots;
  for (const HealthWorker& worker : workers_) snapshots.push_back(TakeLiveness(worker));
  return CombineLiveness(snapshots, options_);
}

ReadinessSnapshot HealthChecks::TakeReadiness() const {
  std::vector<ReadinessSnapshot> snapshots;
  for (const HealthWorker& worker : workers_) snapshots.push_back(TakeReadiness(worker));
  ReadinessSnapshot snapshot = CombineReadiness(snapshots);
  if (!snapshot.assignment_received && options_.authentication_error) {
    snapshot.authentication_error = options_.authentication_error();
  }
  return snapshot;
}

http::Response HealthChecks::Healthz() const {
  const CombinedLiveness liveness = Liveness();
  return LivenessResponse(liveness.snapshot, liveness.verdict);
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
    const std::optional<std::chrono::nanoseconds> age = Liveness().snapshot.loop_age;
    loop_age->Set(age ? Seconds(*age) : 0);
  });
}

}  // namespace eddy::runtime
