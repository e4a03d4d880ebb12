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

}  // namespace
}  // namespace eddy::runtime
