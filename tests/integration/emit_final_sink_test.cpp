// emit: final with a Kafka sink against the real broker. A hopping window step sends each
// window once it has closed, and its view lists closed windows only, across a clean restart
// and a crash; with idle_timeout, a partition that goes quiet closes its windows on the wall
// clock and their final results reach the sink without any newer record.
#include <algorithm>
#include <catch2/catch.hpp>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

// A topology over `topic` keyed by "sensor", summing "v", with one emit-final window step
// written to `sink_topic` (flat values). `source_extra` and `window` are YAML fragments.
std::string Topologies(const std::string& topic, const std::string& sink_topic,
                       const std::string& source_extra, const std::string& window) {
  return "  - name: readings\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key: {field: sensor}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n" +
         source_extra +
         "    steps:\n"
         "      - name: windowed\n"
         "        window: " +
         window +
         "\n"
         "        emit: final\n"
         "        aggregates: [{name: n, function: count}, {name: total, function: sum, "
         "field: v}]\n"
         "    views:\n"
         "      - {name: readings, from: windowed}\n"
         "    sinks:\n"
         "      - {name: out, from: windowed, topic: " +
         sink_topic + ", value: flat}\n";
}

TestRecord Reading(int64_t t0, int32_t partition, const std::string& sensor, int64_t at_ms, int v) {
  TestRecord record;
  record.key = sensor;
  record.partition = partition;
  record.value = R"({"sensor":")" + sensor + R"(","v":)" + std::to_string(v) + R"(,"ts":)" +
                 std::to_string(t0 + at_ms) + "}";
  return record;
}

// A sink record as "key timestamp value", the value being the flat result of one window.
std::string Sent(const std::string& key, int64_t start_ms, int64_t end_ms, int64_t n,
                 int64_t total) {
  return key + " " + std::to_string(end_ms - 1) + R"( {"key":")" + key + R"(","window_start_ms":)" +
         std::to_string(start_ms) + R"(,"window_end_ms":)" + std::to_string(end_ms) +
         R"(,"closed":true,"n":)" + std::to_string(n) + R"(,"total":)" + std::to_string(total) +
         "}";
}

// Every record in `topic` now, as Sent() spells them, sorted (the order of windows that
// close in one commit is not part of the contract).
std::vector<std::string> SinkContents(const std::string& topic) {
  std::vector<std::string> out;
  for (const ConsumedRecord& record : ReadToEnd(topic)) {
    out.push_back(record.key + " " + std::to_string(record.timestamp_ms) + " " + record.value);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Sorted(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  return lines;
}

double SentTotal(uint16_t port, const std::string& sink_topic) {
  return MetricValue(port, "eddy_sink_records_sent_total", {"topic=\"" + sink_topic + "\""});
}

}  // namespace

TEST_CASE("hopping emit-final windows reach the sink once each, across a restart and a crash",
          "[eddy][kafka][sink][emit_final]") {
  const std::string topic = UniqueName("readings");
  const std::string sink_topic = UniqueName("readings-final");
  CreateTopic(topic, 1);
  CreateTopic(sink_topic, 1);
  const int64_t t0 = HourADayAgoMs();
  constexpr int64_t kMin = 60'000;
  // One worker: the second run below must not commit at all, and a second worker joining
  // the group would make the first revoke its partition, which commits.
  const Deployment deployment(
      Topologies(topic, sink_topic, "", "{type: hopping, size: 10m, advance: 5m}"), {},
      "processing: {threads: 1}\n");
  const uint16_t port = deployment.port();
  auto view = [&](const std::string& key) { return WindowsText(port, "readings", key, t0); };
  auto closed = [](int64_t start_min, const std::string& aggregates) {
    return WindowLine(start_min * 60, (start_min + 10) * 60, true, aggregates);
  };
  auto sent = [&](const std::string& key, int64_t start_min, int64_t n, int64_t total) {
    return Sent(key, t0 + start_min * kMin, t0 + (start_min + 10) * kMin, n, total);
  };

  // Windows [-5m, 5m), [0, 10m), [5m, 15m), ... Each record is in two; grace is 0, so a
  // window closes when the partition's stream time reaches its end.
  Produce(topic, {
                     Reading(t0, 0, "a", 1 * kMin, 1), Reading(t0, 0, "b", 2 * kMin, 10),
                     Reading(t0, 0, "a", 4 * kMin, 2),
                     Reading(t0, 0, "a", 7 * kMin, 4),  // closes [-5m, 5m)
                 });
  const std::vector<std::string> first_sent = {sent("a", -5, 2, 3), sent("b", -5, 1, 10)};
  {
    auto eddy = deployment.Start();
    REQUIRE(eddy->WaitReady(60s));
    const bool emitted = Eventually(30s, [&] {
      return SentTotal(port, sink_topic) == 2 && view("b") == closed(-5, R"({"n":1,"total":10})");
    });
    INFO(eddy->Log());
    CHECK(emitted);
    // Only closed windows are listed: [0, 10m) and [5m, 15m) of "a" exist but are open.
    CHECK(view("a") == closed(-5, R"({"n":2,"total":3})"));
    CHECK(view("b") == closed(-5, R"({"n":1,"total":10})"));
    CHECK(SinkContents(sink_topic) == Sorted(first_sent));
    CHECK(eddy->Terminate(20s) == 0);
  }

  // A run that never commits (10 min interval) and is killed: [0, 10m) closes in it, but an
  // emit-final result is sent at the commit after the close, so nothing is sent, and the
  // close is redone by the next run.
  Produce(topic, {
                     Reading(t0, 0, "b", 9 * kMin, 20),
                     Reading(t0, 0, "a", 12 * kMin, 8),  // closes [0, 10m)
                 });
  {
    auto eddy = deployment.Start("10m");
    REQUIRE(eddy->WaitReady(60s));
    const bool processed = Eventually(30s, [&] {
      return MetricValue(port, "eddy_records_processed_total", {"topology=\"readings\""}) == 2;
    });
    INFO(eddy->Log());
    CHECK(processed);
    CHECK(view("a") == closed(-5, R"({"n":2,"total":3})"));  // committed state only
    eddy->Kill();
  }

  Produce(topic, {
                     Reading(t0, 0, "a", 16 * kMin, 16),  // closes [5m, 15m)
                     Reading(t0, 0, "b", 20 * kMin, 32),  // closes [10m, 20m)
                 });
  const std::vector<std::string> all_sent = {
      sent("a", -5, 2, 3), sent("b", -5, 1, 10), sent("a", 0, 3, 7),   sent("b", 0, 2, 30),
      sent("a", 5, 2, 12), sent("b", 5, 1, 20),  sent("a", 10, 2, 24),
  };
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  const bool emitted = Eventually(30s, [&] { return SentTotal(port, sink_topic) == 5; });
  INFO(eddy->Log());
  CHECK(emitted);
  CHECK(Eventually(10s, [&] {
    return view("a") ==
           Lines({closed(-5, R"({"n":2,"total":3})"), closed(0, R"({"n":3,"total":7})"),
                  closed(5, R"({"n":2,"total":12})"), closed(10, R"({"n":2,"total":24})")});
  }));
  CHECK(view("b") == Lines({closed(-5, R"({"n":1,"total":10})"), closed(0, R"({"n":2,"total":30})"),
                            closed(5, R"({"n":1,"total":20})")}));
  CHECK(eddy->Terminate(20s) == 0);
  // At-least-once allows repeats after a crash; here the crashed run sent nothing and every
  // other stop was clean, so each closed window is in the topic exactly once.
  CHECK(SinkContents(sink_topic) == Sorted(all_sent));
}

TEST_CASE("idle_timeout: a quiet partition's windows close by the wall clock and reach the sink",
          "[eddy][kafka][sink][idle_timeout]") {
  const std::string topic = UniqueName("idle");
  const std::string sink_topic = UniqueName("idle-final");
  CreateTopic(topic, 2);
  CreateTopic(sink_topic, 1);
  const int64_t t0 = HourADayAgoMs();
  const Deployment deployment(
      Topologies(topic, sink_topic, "      idle_timeout: 500ms\n", "{type: tumbling, size: 2s}"));
  const uint16_t port = deployment.port();

  // Nothing after these: by event time alone the windows [0, 2 s) never close.
  Produce(topic, {
                     Reading(t0, 0, "a", 100, 1),
                     Reading(t0, 0, "a", 500, 2),
                     Reading(t0, 1, "b", 1000, 4),
                 });
  const std::vector<std::string> expected = {Sent("a", t0, t0 + 2000, 2, 3),
                                             Sent("b", t0, t0 + 2000, 1, 4)};
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  const bool emitted = Eventually(20s, [&] { return SentTotal(port, sink_topic) == 2; });
  INFO(eddy->Log());
  CHECK(emitted);
  CHECK(WindowsText(port, "readings", "a", t0) == WindowLine(0, 2, true, R"({"n":2,"total":3})"));
  CHECK(WindowsText(port, "readings", "b", t0) == WindowLine(0, 2, true, R"({"n":1,"total":4})"));
  std::this_thread::sleep_for(1500ms);  // the clock keeps moving: nothing is sent again
  CHECK(SentTotal(port, sink_topic) == 2);
  CHECK(SinkContents(sink_topic) == Sorted(expected));
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
