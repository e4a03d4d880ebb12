#include "runtime/health.h"

#include <catch2/catch.hpp>

namespace eddy::runtime {
namespace {

using namespace std::chrono_literals;

ReadinessSnapshot Ready() {
  ReadinessSnapshot snapshot;
  snapshot.assignment_received = true;
  snapshot.assigned_partitions = 3;
  snapshot.max_partition_lag = 10;
  return snapshot;
}

TEST_CASE("liveness fails only when the started loop stalls past the bound", "[health]") {
  HealthOptions options;
  options.max_loop_stall = 120s;
  LivenessSnapshot snapshot;
  CHECK(EvaluateLiveness(snapshot, options).ok);  // not started yet
  snapshot.loop_age = 119s;
  CHECK(EvaluateLiveness(snapshot, options).ok);
  snapshot.loop_age = 121s;
  const Verdict stalled = EvaluateLiveness(snapshot, options);
  CHECK_FALSE(stalled.ok);
  REQUIRE(stalled.reasons.size() == 1);
  CHECK(stalled.reasons[0] == "the processing loop has not run for 121 s (limit 120 s)");
  const http::Response response = LivenessResponse(snapshot, stalled);
  CHECK(response.status == 503);
  CHECK(response.body ==
        R"j({"status":"failing","processing_loop_age_seconds":121,"reasons":["the processing )j"
        R"j(loop has not run for 121 s (limit 120 s)"]})j");

  // Retrying Kafka transactions is a known wait: still live, with the reason noted.
  snapshot.publish_error = "broker down";
  const Verdict waiting = EvaluateLiveness(snapshot, options);
  CHECK(waiting.ok);
  REQUIRE(waiting.reasons.size() == 1);
  CHECK(waiting.reasons[0].find("broker down") != std::string::npos);
  CHECK(LivenessResponse(snapshot, waiting).status == 200);
}

TEST_CASE("readiness: every reason, and the body that says it", "[health]") {
  HealthOptions options;
  const Verdict ready = EvaluateReadiness(Ready(), options);
  CHECK(ready.ok);
  CHECK(ready.reasons.empty());
  const http::Response ok = ReadinessResponse(Ready(), ready);
  CHECK(ok.status == 200);
  CHECK(ok.body ==
        R"({"ready":true,"state":"open","assigned_partitions":3,"restoring_partitions":0,)"
        R"("max_partition_lag":10,"reasons":[]})");

  ReadinessSnapshot snapshot;  // nothing assigned, lag unknown
  snapshot.stopping = true;
  snapshot.state_write_error = "disk full";
  snapshot.publish_error = "fenced";
  snapshot.restoring_partitions = 2;
  const Verdict verdict = EvaluateReadiness(snapshot, options);
  CHECK_FALSE(verdict.ok);
  CHECK(verdict.reasons ==
        std::vector<std::string>{"shutting down", "state writes failing: disk full",
                                 "Kafka transactions failing: fenced",
                                 "waiting for the consumer group to assign partitions",
                                 "restoring: 2 joined-table partition(s) still loading"});
  const http::Response not_ready = ReadinessResponse(snapshot, verdict);
  CHECK(not_ready.status == 503);
  CHECK(not_ready.body.find(R"("state":"write_failing")") != std::string::npos);
  CHECK(not_ready.body.find(R"("max_partition_lag":null)") != std::string::npos);
}

TEST_CASE("readiness: a failed Kafka authentication says why no assignment comes", "[health]") {
  HealthOptions options;
  ReadinessSnapshot snapshot;  // nothing assigned yet
  snapshot.authentication_error = "SASL authentication error: Invalid username or password";
  const Verdict verdict = EvaluateReadiness(snapshot, options);
  CHECK_FALSE(verdict.ok);
  CHECK(verdict.reasons ==
        std::vector<std::string>{"waiting for the consumer group to assign partitions",
                                 "Kafka authentication failed: SASL authentication error: "
                                 "Invalid username or password"});
  CHECK(ReadinessResponse(snapshot, verdict).body.find("Kafka authentication failed") !=
        std::string::npos);
  // Once assigned, an old failure is no reason.
  ReadinessSnapshot assigned = Ready();
  assigned.authentication_error = "old";
  CHECK(EvaluateReadiness(assigned, options).ok);
}

TEST_CASE("readiness: lag matters only with a bound, and only once known", "[health]") {
  HealthOptions options;
  ReadinessSnapshot snapshot = Ready();
  snapshot.max_partition_lag = 1'000'000;
  CHECK(EvaluateReadiness(snapshot, options).ok);  // no bound: the default

  options.max_lag_records = 1000;
  snapshot.max_partition_lag = 1000;
  CHECK(EvaluateReadiness(snapshot, options).ok);  // at the bound is fine
  snapshot.max_partition_lag = 1001;
  const Verdict lagging = EvaluateReadiness(snapshot, options);
  CHECK_FALSE(lagging.ok);
  CHECK(lagging.reasons ==
        std::vector<std::string>{"lagging: a partition is 1001 records behind (limit 1000)"});
  snapshot.max_partition_lag = std::nullopt;
  CHECK(EvaluateReadiness(snapshot, options).ok);
}

// --- Several workers (processing.threads): the instance's verdicts from the workers'.

TEST_CASE("workers: one worker's liveness is exactly its own", "[health][workers]") {
  HealthOptions options;
  options.max_loop_stall = 120s;
  LivenessSnapshot stalled;
  stalled.loop_age = 121s;
  const CombinedLiveness one = CombineLiveness({stalled}, options);
  CHECK_FALSE(one.verdict.ok);
  CHECK(one.snapshot.loop_age == 121s);
  CHECK(one.verdict.reasons ==
        std::vector<std::string>{"the processing loop has not run for 121 s (limit 120 s)"});
  CHECK(CombineLiveness({LivenessSnapshot{}}, options).verdict.ok);  // not started
}

TEST_CASE("workers: alive only while every worker's loop is", "[health][workers]") {
  HealthOptions options;
  options.max_loop_stall = 120s;
  LivenessSnapshot fresh;
  fresh.loop_age = 1s;
  LivenessSnapshot stalled;
  stalled.loop_age = 130s;
  LivenessSnapshot starting;  // no iteration yet: readiness covers it

  const CombinedLiveness healthy = CombineLiveness({fresh, starting, fresh}, options);
  CHECK(healthy.verdict.ok);
  CHECK(healthy.verdict.reasons.empty());
  CHECK(healthy.snapshot.loop_age == 1s);

  // One stalled worker fails the instance, and the answer names it and shows its age.
  const CombinedLiveness failing = CombineLiveness({fresh, stalled}, options);
  CHECK_FALSE(failing.verdict.ok);
  CHECK(failing.verdict.reasons ==
        std::vector<std::string>{
            "worker 1: the processing loop has not run for 130 s (limit 120 s)"});
  CHECK(failing.snapshot.loop_age == 130s);
  CHECK(LivenessResponse(failing.snapshot, failing.verdict).status == 503);

  // A worker waiting for Kafka transactions is excused; another stalled worker is not.
  LivenessSnapshot publishing = stalled;
  publishing.loop_age = 200s;
  publishing.publish_error = "broker down";
  CHECK(CombineLiveness({fresh, publishing}, options).verdict.ok);
  const CombinedLiveness both = CombineLiveness({stalled, publishing}, options);
  CHECK_FALSE(both.verdict.ok);
  CHECK(both.verdict.reasons.size() == 2);
  CHECK(both.snapshot.loop_age == 200s);
  CHECK(both.snapshot.publish_error == "broker down");
}

TEST_CASE("workers: one worker's readiness is exactly its own", "[health][workers]") {
  ReadinessSnapshot worker = Ready();
  worker.state_write_error = "disk full";
  worker.restoring_partitions = 2;
  const ReadinessSnapshot combined = CombineReadiness({worker});
  CHECK(combined.assignment_received);
  CHECK(combined.assigned_partitions == 3);
  CHECK(combined.restoring_partitions == 2);
  CHECK(combined.max_partition_lag == 10);
  CHECK(combined.state_write_error == "disk full");
  HealthOptions options;
  CHECK(ReadinessResponse(combined, EvaluateReadiness(combined, options)).body ==
        ReadinessResponse(worker, EvaluateReadiness(worker, options)).body);
}

TEST_CASE("workers: ready only when every worker is, counts summed, lag the largest",
          "[health][workers]") {
  HealthOptions options;
  options.max_lag_records = 100;
  ReadinessSnapshot a = Ready();
  ReadinessSnapshot b = Ready();
  b.assigned_partitions = 1;
  b.max_partition_lag = 40;

  ReadinessSnapshot combined = CombineReadiness({a, b});
  CHECK(combined.assigned_partitions == 4);
  CHECK(combined.max_partition_lag == 40);
  CHECK(EvaluateReadiness(combined, options).ok);

  // A worker with no partitions (more workers than partitions) is ready once assigned none.
  ReadinessSnapshot idle = Ready();
  idle.assigned_partitions = 0;
  idle.max_partition_lag.reset();
  CHECK(EvaluateReadiness(CombineReadiness({a, idle}), options).ok);
  CHECK(CombineReadiness({idle}).max_partition_lag == std::nullopt);

  // Each reason of one worker makes the instance not ready.
  ReadinessSnapshot waiting = Ready();
  waiting.assignment_received = false;
  waiting.assigned_partitions = 0;
  combined = CombineReadiness({a, waiting});
  CHECK_FALSE(combined.assignment_received);
  CHECK_FALSE(EvaluateReadiness(combined, options).ok);

  ReadinessSnapshot restoring = Ready();
  restoring.restoring_partitions = 1;
  combined = CombineReadiness({restoring, a});
  CHECK(combined.restoring_partitions == 1);
  CHECK_FALSE(EvaluateReadiness(combined, options).ok);

  ReadinessSnapshot lagging = Ready();
  lagging.max_partition_lag = 101;
  CHECK(CombineReadiness({a, lagging}).max_partition_lag == 101);
  CHECK_FALSE(EvaluateReadiness(CombineReadiness({a, lagging}), options).ok);

  ReadinessSnapshot failing = Ready();
  failing.state_write_error = "disk full";
  failing.publish_error = "broker down";
  combined = CombineReadiness({a, failing});
  CHECK(combined.state_write_error == "disk full");
  CHECK(combined.publish_error == "broker down");
  const Verdict verdict = EvaluateReadiness(combined, options);
  CHECK_FALSE(verdict.ok);
  CHECK(verdict.reasons == std::vector<std::string>{"state writes failing: disk full",
                                                    "Kafka transactions failing: broker down"});
}

}  // namespace
}  // namespace eddy::runtime
