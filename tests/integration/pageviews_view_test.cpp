// End to end: a Kafka topic → eddy (tumbling window, count + sum, RocksDB) → HTTP view and
// /metrics, against the real broker; then a clean restart and a SIGKILL crash, after each
// of which the counts must be exact (nothing lost, nothing counted twice).
#include <simdjson.h>

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

struct WindowResult {
  int64_t count = 0;
  double total = 0;
  friend bool operator==(const WindowResult&, const WindowResult&) = default;
};
using ViewWindows = std::map<std::string, WindowResult>;  // window start (RFC 3339) -> aggregates

std::ostream& operator<<(std::ostream& out, const ViewWindows& windows) {
  out << "{";
  for (const auto& [start, result] : windows)
    out << start << ": (" << result.count << ", " << result.total << ") ";
  return out << "}";
}

// Parses GET /v1/views/views_per_minute/keys/{key}; nullopt if the request failed.
std::optional<ViewWindows> QueryView(uint16_t port, const std::string& key) {
  const HttpReply reply = HttpGet(port, "/v1/views/views_per_minute/keys/" + key);
  if (reply.status != 200) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(reply.body).get(doc) != simdjson::SUCCESS) return std::nullopt;
  ViewWindows windows;
  simdjson::dom::array list;
  if (doc["windows"].get_array().get(list) != simdjson::SUCCESS) return std::nullopt;
  for (simdjson::dom::element window : list) {
    std::string_view start;
    int64_t count = 0;
    double total = 0;
    if (window["start"].get_string().get(start) != simdjson::SUCCESS) return std::nullopt;
    if (window["aggregates"]["views"].get_int64().get(count) != simdjson::SUCCESS)
      return std::nullopt;
    if (window["aggregates"]["total_duration_ms"].get_double().get(total) != simdjson::SUCCESS) {
      int64_t integral = 0;
      if (window["aggregates"]["total_duration_ms"].get_int64().get(integral) != simdjson::SUCCESS)
        return std::nullopt;
      total = static_cast<double>(integral);
    }
    windows[std::string(start)] = {count, total};
  }
  return windows;
}

std::string PageView(const std::string& user, int duration_ms, const std::string& ts) {
  return R"({"user":{"id":")" + user + R"("},"page":"/home","duration_ms":)" +
         std::to_string(duration_ms) + R"(,"ts":")" + ts + R"("})";
}

TestRecord At(int32_t partition, std::string value) {
  TestRecord record;
  record.key = "k";
  record.value = std::move(value);
  record.partition = partition;
  return record;
}

std::string Config(const std::string& topic, const std::string& group, const std::string& state_dir,
                   uint16_t port) {
  return "kafka:\n"
         "  bootstrap.servers: " +
         KafkaBootstrap() +
         "\n"
         "  group.id: " +
         group +
         "\n"
         "  session.timeout.ms: 6000\n"
         "state:\n"
         "  dir: " +
         state_dir +
         "\n"
         "  commit_interval: 50ms\n"
         "http:\n"
         "  listen: 127.0.0.1:" +
         std::to_string(port) +
         "\n"
         "topologies:\n"
         "  - name: pageviews\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key:\n"
         "        field: user.id\n"
         "      timestamp:\n"
         "        field: ts\n"
         "        format: rfc3339\n"
         "    steps:\n"
         "      - name: per_minute\n"
         "        window:\n"
         "          type: tumbling\n"
         "          size: 1m\n"
         "          grace: 10s\n"
         "        aggregates:\n"
         "          - name: views\n"
         "            function: count\n"
         "          - name: total_duration_ms\n"
         "            function: sum\n"
         "            field: duration_ms\n"
         "    views:\n"
         "      - name: views_per_minute\n"
         "        from: per_minute\n";
}

bool ViewEquals(uint16_t port, const std::string& key, const ViewWindows& expected) {
  std::optional<ViewWindows> actual = QueryView(port, key);
  return actual && *actual == expected;
}

}  // namespace

TEST_CASE("a topic becomes an exact windowed view over HTTP, across restart and crash",
          "[eddy][kafka]") {
  const std::string topic = UniqueName("pageviews");
  CreateTopic(topic, 3);
  const std::string state_dir = MakeTempDir("eddy-state");
  const uint16_t port = FreePort();
  const std::string config =
      WriteTempFile("eddy.yaml", Config(topic, UniqueName("eddy-group"), state_dir, port));

  Produce(topic, {
                     At(0, PageView("alice", 100, "2026-11-25T10:00:05Z")),
                     At(0, PageView("alice", 200, "2026-11-25T10:00:30Z")),
                     At(1, PageView("alice", 50, "2026-11-25T10:00:50.250+00:00")),
                     At(1, PageView("alice", 10, "2026-11-25T11:01:10+01:00")),  // 10:01:10Z
                     At(2, PageView("bob", 7, "2026-11-25T10:00:01Z")), At(2, "{not json"),
                     At(2, R"({"page":"/no-user","duration_ms":1,"ts":"2026-11-25T10:00:02Z"})"),
                     At(0, PageView("alice", 1, "2026-11-25T10:05:00Z")),
                     At(0, PageView("alice", 1000, "2026-11-25T10:00:20Z")),  // late: window closed
                 });

  ViewWindows alice = {{"2026-11-25T10:00:00.000Z", {3, 350}},
                       {"2026-11-25T10:01:00.000Z", {1, 10}},
                       {"2026-11-25T10:05:00.000Z", {1, 1}}};
  ViewWindows bob = {{"2026-11-25T10:00:00.000Z", {1, 7}}};

  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    CHECK(Eventually(30s, [&] { return ViewEquals(port, "alice", alice); }));
    CHECK(QueryView(port, "alice") == alice);
    CHECK(QueryView(port, "bob") == bob);
    const HttpReply nobody = HttpGet(port, "/v1/views/views_per_minute/keys/nobody");
    CHECK(nobody.status == 404);
    CHECK(
        nobody.body ==
        R"({"error":{"code":404,"message":"view 'views_per_minute' has nothing for key 'nobody'"}})");
    CHECK(HttpGet(port, "/v1/views/no_such_view/keys/alice").status == 404);
    CHECK(HttpGet(port, "/healthz").status == 200);

    const std::string metrics = HttpGet(port, "/metrics").body;
    INFO(metrics);
    CHECK(MetricValue(metrics, "eddy_records_consumed_total", {"topic=\"" + topic + "\""}) == 9.0);
    // Processed = went through the topology without error, late drops included (counted apart).
    CHECK(MetricValue(metrics, "eddy_records_processed_total", {"topology=\"pageviews\""}) == 7.0);
    CHECK(MetricValue(metrics, "eddy_records_failed_total", {"reason=\"invalid_json\""}) == 1.0);
    CHECK(MetricValue(metrics, "eddy_records_failed_total", {"reason=\"missing_key\""}) == 1.0);
    CHECK(MetricValue(metrics, "eddy_late_records_dropped_total", {"step=\"per_minute\""}) == 1.0);
    CHECK(MetricValue(metrics, "eddy_processing_latency_seconds_count", {}) == 9.0);
    CHECK(Eventually(5s, [&] {
      return MetricValue(HttpGet(port, "/metrics").body, "eddy_consumer_lag_records",
                         {"partition=\"0\"", "topic=\"" + topic + "\""}) == 0.0;
    }));
    CHECK(eddy.Terminate(20s) == 0);
  }

  SECTION("clean restart: stop, produce more, start: exact counts") {
    Produce(topic, {At(1, PageView("alice", 5, "2026-11-25T10:01:20Z")),
                    At(0, PageView("alice", 2, "2026-11-25T10:05:30Z"))});
    alice["2026-11-25T10:01:00.000Z"] = {2, 15};
    alice["2026-11-25T10:05:00.000Z"] = {2, 3};
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    CHECK(Eventually(30s, [&] { return ViewEquals(port, "alice", alice); }));
    // Settle: nothing more may arrive (a double count would show up here).
    std::this_thread::sleep_for(1s);
    CHECK(QueryView(port, "alice") == alice);
    CHECK(QueryView(port, "bob") == bob);
    const std::string metrics = HttpGet(port, "/metrics").body;
    CHECK(MetricValue(metrics, "eddy_records_consumed_total", {"topic=\"" + topic + "\""}) == 2.0);

    SECTION("crash: SIGKILL, produce more, start: exact counts") {
      Produce(topic, {At(2, PageView("alice", 3, "2026-11-25T10:05:40Z"))});
      alice["2026-11-25T10:05:00.000Z"] = {3, 6};
      CHECK(Eventually(30s, [&] { return ViewEquals(port, "alice", alice); }));
      eddy.Kill();
      Produce(topic,
              {At(2, PageView("bob", 1, "2026-11-25T10:05:45Z")),
               At(2, PageView("bob", 1000, "2026-11-25T10:00:59Z"))});  // late after the crash too
      bob["2026-11-25T10:05:00.000Z"] = {1, 1};
      EddyProcess restarted(config, port);
      REQUIRE(restarted.WaitReady(60s));
      INFO(restarted.Log());
      CHECK(Eventually(30s, [&] { return ViewEquals(port, "bob", bob); }));
      std::this_thread::sleep_for(1s);
      CHECK(QueryView(port, "alice") == alice);
      CHECK(QueryView(port, "bob") == bob);
      CHECK(MetricValue(HttpGet(port, "/metrics").body, "eddy_late_records_dropped_total", {}) ==
            1.0);
      CHECK(restarted.Terminate(20s) == 0);
    }
  }
}

}  // namespace eddy::testing
