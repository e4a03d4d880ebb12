// The metric catalogue against a running eddy (docs/metrics.md): after processing records of
// every kind through a topology with a dedup, a filter, a window with late_records, a record
// sink and dead letters, /metrics must parse strictly, hold every family the doc's table lists
// (apart from those that only appear on an event that this run does not cause), list no
// eddy_* family the doc does not, give every series exactly its documented labels, and count
// what happened: per step, end to end, HTTP by route template. /healthz and /readyz answer
// with their JSON bodies.
#include "support/metrics_catalogue.h"

#include <catch2/catch.hpp>
#include <set>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"
#include "support/prometheus_text.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

std::string Topologies(const std::string& in, const std::string& out, const std::string& late,
                       const std::string& dead) {
  return "  - name: shop\n"
         "    source:\n"
         "      topic: " +
         in +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: unique\n"
         "        dedup: {field: id, ttl: 1h}\n"
         "      - name: paid\n"
         "        filter: \"amount > 0\"\n"
         "      - name: hourly\n"
         "        window: {type: tumbling, size: 1h, grace: 0ms}\n"
         "        aggregates: [{name: n, function: count}]\n"
         "        late_records: {topic: " +
         late +
         "}\n"
         "    views:\n"
         "      - {name: hourly, from: hourly}\n"
         "    sinks:\n"
         "      - {name: paid_copy, from: paid, topic: " +
         out +
         "}\n"
         "    dead_letters: {topic: " +
         dead + "}\n";
}

TestRecord Order(const std::string& id, int amount, int64_t ts) {
  TestRecord record;
  record.key = "alice";
  record.partition = 0;
  record.value = R"({"user":"alice","id":")" + id + R"(","amount":)" + std::to_string(amount) +
                 R"(,"ts":)" + std::to_string(ts) + "}";
  return record;
}

// Families that exist only after an event this test does not cause (see docs/metrics.md).
const std::set<std::string> kOnlyAfterAnEvent = {
    "eddy_kafka_errors_total",      "eddy_sink_errors_total",
    "eddy_sink_retries_total",      "eddy_sink_circuit_open",
    "eddy_sink_transactions_total", "eddy_sink_transaction_duration_seconds",
};

const PromSample* Find(const PromExposition& exposition, const std::string& family,
                       const std::string& sample,
                       const std::vector<std::pair<std::string, std::string>>& labels) {
  auto it = exposition.families.find(family);
  if (it == exposition.families.end()) return nullptr;
  for (const PromSample& s : it->second.samples) {
    if (s.name != sample) continue;
    bool all = true;
    for (const auto& wanted : labels) {
      all = all && std::find(s.labels.begin(), s.labels.end(), wanted) != s.labels.end();
    }
    if (all) return &s;
  }
  return nullptr;
}

double Value(const PromExposition& exposition, const std::string& family,
             const std::vector<std::pair<std::string, std::string>>& labels = {},
             const std::string& sample = "") {
  const PromSample* found = Find(exposition, family, sample.empty() ? family : sample, labels);
  return found == nullptr ? -1 : found->value;
}

}  // namespace

TEST_CASE("/metrics serves the documented catalogue, parseable, and counts per step",
          "[eddy][kafka][metrics]") {
  const std::string in = UniqueName("shop");
  const std::string out = UniqueName("shop-paid");
  const std::string late = UniqueName("shop-late");
  const std::string dead = UniqueName("shop-dead");
  for (const std::string& topic : {in, out, late, dead}) CreateTopic(topic, 1);
  const int64_t t0 = HourADayAgoMs();
  // 0-2 pass; 3 a duplicate of 0; 4 filtered; 5 closes the first hour; 6 late for it;
  // 7 not JSON (dead-lettered).
  std::vector<TestRecord> records = {
      Order("o1", 5, t0 + 1000), Order("o2", 7, t0 + 2000), Order("o3", 1, t0 + 3000),
      Order("o1", 5, t0 + 4000), Order("o4", 0, t0 + 5000), Order("o5", 2, t0 + 3'600'000 + 10'000),
      Order("o6", 3, t0 + 6000),
  };
  TestRecord poison = Order("o7", 1, t0);
  poison.value = "{not json";
  records.push_back(poison);
  Produce(in, records);

  const Deployment deployment(Topologies(in, out, late, dead));
  const uint16_t port = deployment.port();
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  const bool processed = Eventually(30s, [&] {
    return MetricValue(port, "eddy_records_processed_total", {"topology=\"shop\""}) == 7 &&
           MetricValue(port, "eddy_step_records_in_total", {"step=\"hourly\""}) == 5 &&
           // Refreshed about once a second, once the consumer knows the partition's end.
           MetricValue(port, "eddy_consumer_lag_records", {"topic=\"" + in + "\""}) == 0;
  });
  INFO(eddy->Log());
  REQUIRE(processed);
  // Requests for the HTTP metrics: a view (200), an unknown path (404).
  CHECK(HttpGet(port, "/v1/views/hourly/keys/alice").status == 200);
  CHECK(HttpGet(port, "/no/such/path").status == 404);

  const HttpReply healthz = HttpGet(port, "/healthz");
  CHECK(healthz.status == 200);
  CHECK(healthz.body.find(R"("status":"ok","processing_loop_age_seconds":)") != std::string::npos);
  const HttpReply readyz = HttpGet(port, "/readyz");
  CHECK(readyz.status == 200);
  CHECK(readyz.body.find(R"("restoring_partitions":0)") != std::string::npos);

  const HttpReply scrape = HttpGet(port, "/metrics");
  REQUIRE(scrape.status == 200);
  const PromExposition exposition = ParsePromText(scrape.body);
  INFO(scrape.body);
  REQUIRE(exposition.error.empty());

  // The catalogue, both ways, with types and label names.
  const auto documented = ReadMetricsCatalogue(EDDY_SOURCE_DIR "/docs/metrics.md");
  for (const std::string& name : kOnlyAfterAnEvent) CHECK(documented.count(name) == 1);
  for (const auto& [name, doc] : documented) {
    INFO("documented: " << name);
    auto family = exposition.families.find(name);
    if (kOnlyAfterAnEvent.count(name) > 0) continue;
    CHECK(family != exposition.families.end());
    if (family == exposition.families.end()) continue;
    CHECK(family->second.type == doc.type);
    CHECK_FALSE(family->second.samples.empty());
    const std::set<std::string> expected(doc.labels.begin(), doc.labels.end());
    for (const PromSample& sample : family->second.samples) {
      std::set<std::string> labels;
      for (const auto& [label, value] : sample.labels) {
        if (label != "le") labels.insert(label);
      }
      INFO(sample.name);
      CHECK(labels == expected);
    }
  }
  for (const auto& [name, family] : exposition.families) {
    INFO("served: " << name);
    if (name.starts_with("eddy_") || name.starts_with("process_")) {
      CHECK(documented.count(name) == 1);
    }
  }

  // Per step: 8 records; the poison one fails before any step.
  using Labels = std::vector<std::pair<std::string, std::string>>;
  auto step = [](const std::string& name) -> Labels {
    return {{"topology", "shop"}, {"step", name}};
  };
  CHECK(Value(exposition, "eddy_step_records_in_total", step("unique")) == 7);
  CHECK(Value(exposition, "eddy_step_records_out_total", step("unique")) == 6);
  CHECK(Value(exposition, "eddy_duplicates_dropped_total", step("unique")) == 1);
  CHECK(Value(exposition, "eddy_step_records_in_total", step("paid")) == 6);
  CHECK(Value(exposition, "eddy_step_records_out_total", step("paid")) == 5);
  CHECK(Value(exposition, "eddy_step_records_dropped_total", step("paid")) == 1);
  CHECK(Value(exposition, "eddy_step_records_in_total", step("hourly")) == 5);
  CHECK(Value(exposition, "eddy_step_records_out_total", step("hourly")) == 5);
  CHECK(Value(exposition, "eddy_late_records_dropped_total", step("hourly")) == 1);
  CHECK(Find(exposition, "eddy_step_records_dropped_total", "eddy_step_records_dropped_total",
             step("hourly")) == nullptr);  // only filters and inner table joins drop
  CHECK(Value(exposition, "eddy_dead_letter_records_total",
              {{"topology", "shop"}, {"reason", "invalid_json"}}) == 1);

  // End to end: every processed record observed once, about a day after its event time.
  CHECK(Value(exposition, "eddy_end_to_end_latency_seconds", {{"topology", "shop"}},
              "eddy_end_to_end_latency_seconds_count") == 7);
  CHECK(Value(exposition, "eddy_end_to_end_latency_seconds", {{"topology", "shop"}, {"le", "3600"}},
              "eddy_end_to_end_latency_seconds_bucket") == 0);
  // Stream time: the largest event time, in seconds.
  CHECK(Value(exposition, "eddy_stream_time_seconds",
              {{"topology", "shop"}, {"topic", in}, {"partition", "0"}}) ==
        Approx(static_cast<double>(t0 + 3'600'000 + 10'000) / 1000.0));

  // HTTP by route template, never the raw path; the scrape itself is counted from the next.
  CHECK(Value(exposition, "eddy_http_requests_total",
              {{"route", "/v1/views/{view}/keys/{key}"}, {"status", "200"}}) == 1);
  CHECK(Value(exposition, "eddy_http_requests_total", {{"route", "none"}, {"status", "404"}}) == 1);
  CHECK(Value(exposition, "eddy_http_requests_total", {{"route", "/healthz"}, {"status", "200"}}) ==
        1);
  CHECK(Value(exposition, "eddy_http_request_duration_seconds",
              {{"route", "/v1/views/{view}/keys/{key}"}},
              "eddy_http_request_duration_seconds_count") == 1);
  for (const auto& [name, family] : exposition.families) {
    for (const PromSample& sample : family.samples) {
      for (const auto& [label, value] : sample.labels) {
        if (label == "route") CHECK(value.find("alice") == std::string::npos);
      }
    }
  }

  // Health, state and process.
  CHECK(Value(exposition, "eddy_ready") == 1);
  CHECK(Value(exposition, "eddy_processing_loop_age_seconds") >= 0);
  CHECK(Value(exposition, "eddy_processing_loop_age_seconds") < 10);
  CHECK(Value(exposition, "eddy_restoring_partitions") == 0);
  CHECK(Value(exposition, "eddy_state_estimated_keys") > 0);
  CHECK(Value(exposition, "eddy_state_write_stopped") == 0);
  CHECK(Value(exposition, "process_resident_memory_bytes") > 1e6);
  CHECK(Value(exposition, "process_threads") >= 3);  // main, processing, HTTP
  CHECK(Value(exposition, "process_open_fds") > 3);
  CHECK(Value(exposition, "process_cpu_seconds_total") > 0);
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
