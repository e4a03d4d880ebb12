// Liveness and readiness of the daemon: what GET /healthz and GET /readyz answer, and the
// eddy_ready and eddy_processing_loop_age_seconds gauges (docs/api.md, metrics.md).
//
// The verdicts are pure functions of a snapshot, so they are unit-tested without a daemon;
// HealthChecks takes snapshots from the running parts.
//
// Liveness is about the processing loop: it fails when the loop has not started an iteration
// for longer than max_loop_stall. One iteration normally takes a poll (at most 100 ms) plus a
// batch; the longest legitimate waits inside it are a commit's sink flush (up to 30 s), its
// state write retried (up to 30 s), and a rebalance whose revoke commits or whose assignment
// asks the broker for table end offsets (10 s per table partition). The default bound of
// 120 s sits above those together. Two waits are not failures: start-up before the loop
// (checked by readiness instead), and exactly-once transactions being retried while the
// broker refuses them (a restart would not help; /readyz says why).
//
// Workers (processing.threads): each worker has its own processing loop. The instance is
// alive only while every worker's loop is (each worker's liveness is evaluated on its own,
// the verdicts combined by CombineLiveness), and ready only when every worker is
// (CombineReadiness: sums of partitions, the largest lag, any worker's error). With one
// worker both answer exactly what that worker's snapshot does.
//
// Thread-safety: HealthChecks is constant after construction and reads only thread-safe
// accessors (atomics, mutex-guarded strings); any HTTP thread may call it concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/exactly_once_sink.h"
#include "engine/pipeline.h"
#include "http/server.h"
#include "metrics/metrics.h"

namespace eddy::runtime {

struct HealthOptions {
  std::chrono::milliseconds max_loop_stall{120'000};
  std::optional<int64_t> max_lag_records;  // config http.readiness.max_lag_records
  // The Kafka consumer's last authentication failure, empty when none
  // (kafka::KafkaSource::AuthenticationError); thread-safe. Unset: never any.
  std::function<std::string()> authentication_error;
};

struct LivenessSnapshot {
  // Time since the processing loop last started an iteration; nullopt before it starts.
  std::optional<std::chrono::nanoseconds> loop_age;
  std::string publish_error;  // exactly-once transactions failing and being retried
};

struct ReadinessSnapshot {
  bool stopping = false;
  std::string state_write_error;  // empty: writes succeed
  std::string publish_error;      // empty: exactly-once transactions succeed (or none)
  bool assignment_received = false;
  std::string authentication_error;  // the consumer's last authentication failure, if any
  int assigned_partitions = 0;
  int restoring_partitions = 0;              // joined-table partitions still loading
  std::optional<int64_t> max_partition_lag;  // nullopt: no partition's lag known yet
};

struct Verdict {
  bool ok = false;
  std::vector<std::string> reasons;  // why not ok (may also hold notes when ok)
};

Verdict EvaluateLiveness(const LivenessSnapshot& snapshot, const HealthOptions& options);
Verdict EvaluateReadiness(const ReadinessSnapshot& snapshot, const HealthOptions& options);

// The instance's liveness from its workers' snapshots (at least one): each is evaluated, the
// instance is ok when all are, with every worker's reasons ("worker <i>: " before each when
// there are several workers). The snapshot shown is the stalest loop's age (nullopt while no
// loop has started) and that worker's publish error.
struct CombinedLiveness {
  LivenessSnapshot snapshot;
  Verdict verdict;
};
CombinedLiveness CombineLiveness(const std::vector<LivenessSnapshot>& workers,
                                 const HealthOptions& options);
// The instance's readiness snapshot from its workers' (at least one): assignment received
// when every worker's was; partition counts summed; the largest lag; the first worker's error
// of each kind. EvaluateReadiness of it is ok exactly when it is ok for every worker.
ReadinessSnapshot CombineReadiness(const std::vector<ReadinessSnapshot>& workers);

// 200 or 503 with the JSON bodies documented in docs/api.md.
http::Response LivenessResponse(const LivenessSnapshot& snapshot, const Verdict& verdict);
http::Response ReadinessResponse(const ReadinessSnapshot& snapshot, const Verdict& verdict);

// What HealthChecks reads of one worker.
struct HealthWorker {
  const engine::Pipeline* pipeline = nullptr;
  const engine::ExactlyOnceSink* exactly_once = nullptr;  // may be null
};

class HealthChecks {
 public:
  // Everything referenced must outlive this object; `workers` is not empty.
  HealthChecks(std::vector<HealthWorker> workers, const std::atomic<bool>& stopping,
               HealthOptions options);

  // One worker's snapshots.
  LivenessSnapshot TakeLiveness(const HealthWorker& worker) const;
  ReadinessSnapshot TakeReadiness(const HealthWorker& worker) const;
  // The instance's (combined over the workers).
  CombinedLiveness Liveness() const;
  ReadinessSnapshot TakeReadiness() const;
  http::Response Healthz() const;
  http::Response Readyz() const;
  // Adds a scrape-time collector that sets eddy_ready and eddy_processing_loop_age_seconds.
  void RegisterMetrics(metrics::Metrics& metrics) const;

 private:
  const std::vector<HealthWorker> workers_;
  const std::atomic<bool>& stopping_;
  const HealthOptions options_;
};

}  // namespace eddy::runtime
