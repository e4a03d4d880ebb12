// processing.threads: two workers on a four-partition topic share the partitions (each its
// own consumer of the group), and the views answer exactly over both; a restart with one
// worker over the same state directory continues exactly where the two left off. Two
// workers also run a co_partitioned stream–table join, each joining with the table
// partitions Kafka assigned it.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"
#include "support/view_query.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kStartMs = 1'795'600'000'000 - 1'795'600'000'000 % kHourMs;
constexpr int kKeys = 40;

// The hourly count + sum window every topology here ends with, and its view.
const std::string kHourlyWindow =
    "      - name: hourly\n"
    "        window: {type: tumbling, size: 1h, grace: 24h}\n"
    "        aggregates:\n"
    "          - {name: n, function: count}\n"
    "          - {name: total, function: sum, field: amount}\n"
    "    views:\n"
    "      - {name: hourly_counts, from: hourly}\n";

std::string WindowTopology(const std::string& topic) {
  return "topologies:\n"
         "  - name: counts\n"
         "    source:\n"
         "      topic: " +
         topic + "\n    steps:\n" + kHourlyWindow;
}

// Orders joined (inner) with a customers table, then the same hourly window: a record whose
// key's row the joining worker did not have would be dropped, and the counts would fall short.
std::string JoinTopology(const std::string& orders, const std::string& customers) {
  return "topologies:\n"
         "  - name: counts\n"
         "    sources:\n"
         "      - {name: orders, topic: " +
         orders + "}\n      - {name: customers, topic: " + customers +
         "}\n"
         "    steps:\n"
         "      - {name: customer_rows, from: customers, table: {}}\n"
         "      - name: joined\n"
         "        from: orders\n"
         "        join: {table: customer_rows, co_partitioned: true, as: customer}\n" +
         kHourlyWindow;
}

std::string Config(int threads, const std::string& topologies, const std::string& group,
                   const std::string& state_dir, uint16_t port) {
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
         "processing:\n"
         "  threads: " +
         std::to_string(threads) + "\n" + topologies;
}

// Appends `count` records per key (partitioned by key), spread over two hourly windows, and
// adds them to `expected`.
void ProduceRound(const std::string& topic, int round, int count,
                  std::map<std::string, WindowTotals>& expected) {
  std::vector<TestRecord> records;
  for (int i = 0; i < count; ++i) {
    for (int k = 0; k < kKeys; ++k) {
      TestRecord record;
      record.key = "key-" + std::to_string(k);
      const int amount = 1 + (i * 7 + k + round) % 10;
      const int64_t window = kStartMs + ((i + k) % 2) * kHourMs;
      record.timestamp_ms = window + 1000 * (round * count + i);
      record.value = R"({"amount":)" + std::to_string(amount) + "}";
      records.push_back(record);
      std::map<std::string, double>& totals = expected[record.key][window];
      totals["n"] += 1;
      totals["total"] += amount;
    }
  }
  Produce(topic, records);
}

// Every key's windows, as the view answers them, equal `expected`.
bool ViewIsExact(uint16_t port, const std::map<std::string, WindowTotals>& expected,
                 std::string& mismatch) {
  for (const auto& [key, windows] : expected) {
    const std::optional<WindowTotals> actual = QueryWindows(port, "hourly_counts", key);
    if (actual != windows) {
      mismatch = key + ": expected " + Describe(windows) + ", got " + Describe(actual);
      return false;
    }
  }
  mismatch.clear();
  return true;
}

}  // namespace

TEST_CASE("two workers split the partitions, views are exact over both, one worker resumes",
          "[eddy][kafka][workers]") {
  const std::string topic = UniqueName("workers");
  CreateTopic(topic, 4);
  const std::string group = UniqueName("eddy-workers");
  const std::string state_dir = MakeTempDir("eddy-workers-state");
  const uint16_t port = FreePort();
  std::map<std::string, WindowTotals> expected;
  ProduceRound(topic, 0, 25, expected);  // 1,000 records

  {
    const std::string config =
        WriteTempFile("eddy-2.yaml", Config(2, WindowTopology(topic), group, state_dir, port));
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    // The range assignor gives each of the two consumers two of the four partitions (the
    // first worker may hold all four until the second has joined).
    CHECK(Eventually(30s, [&] {
      return MetricValue(port, "eddy_worker_assigned_partitions", {R"(worker="0")"}) == 2 &&
             MetricValue(port, "eddy_worker_assigned_partitions", {R"(worker="1")"}) == 2;
    }));
    CHECK(MetricValue(port, "eddy_assigned_partitions", {}) == 4);
    ProduceRound(topic, 1, 25, expected);  // produced while both workers own partitions

    std::string mismatch;
    CHECK(Eventually(30s, [&] { return ViewIsExact(port, expected, mismatch); }));
    INFO(mismatch);
    CHECK(ViewIsExact(port, expected, mismatch));
    CHECK(MetricValue(port, "eddy_records_consumed_total", {"topic=\"" + topic + "\""}) == 2000);

    // The topology lists every partition, whichever worker owns it, in partition order.
    const HttpReply topologies = HttpGet(port, "/v1/topologies");
    REQUIRE(topologies.status == 200);
    for (int p = 0; p < 4; ++p) {
      CHECK(topologies.body.find(R"("partition":)" + std::to_string(p) + R"(,"state":"running")") !=
            std::string::npos);
    }
    CHECK(topologies.body.find(R"("partition":0)") < topologies.body.find(R"("partition":3)"));
    // A range scan merges the keys of all four partitions.
    const HttpReply page = HttpGet(port, "/v1/views/hourly_counts?limit=1000");
    REQUIRE(page.status == 200);
    size_t listed = 0;
    for (size_t at = page.body.find(R"("key":)"); at != std::string::npos;
         at = page.body.find(R"("key":)", at + 1)) {
      ++listed;
    }
    CHECK(listed == kKeys);
    CHECK(HttpGet(port, "/healthz").status == 200);
    CHECK(eddy.Terminate(20s) == 0);
  }

  // State written by two workers, read by one: same state directory, same group.
  ProduceRound(topic, 2, 10, expected);
  {
    const std::string config =
        WriteTempFile("eddy-1.yaml", Config(1, WindowTopology(topic), group, state_dir, port));
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    CHECK(Eventually(30s, [&] {
      return MetricValue(port, "eddy_worker_assigned_partitions", {R"(worker="0")"}) == 4;
    }));
    std::string mismatch;
    CHECK(Eventually(30s, [&] { return ViewIsExact(port, expected, mismatch); }));
    // Settle: a record counted twice would show up now.
    std::this_thread::sleep_for(1s);
    INFO(mismatch);
    CHECK(ViewIsExact(port, expected, mismatch));
    // Only the new records were consumed: each partition resumed at its committed offset.
    CHECK(MetricValue(port, "eddy_records_consumed_total", {"topic=\"" + topic + "\""}) == 400);
    CHECK(eddy.Terminate(20s) == 0);
  }
}

TEST_CASE("two workers run a co_partitioned stream–table join, each with its table partitions",
          "[eddy][kafka][workers]") {
  const std::string orders = UniqueName("workers-orders");
  const std::string customers = UniqueName("workers-customers");
  CreateTopic(orders, 4);
  CreateTopic(customers, 4);
  // Both topics keyed by customer and partitioned by the same producer: co-partitioned.
  std::vector<TestRecord> rows;
  for (int k = 0; k < kKeys; ++k) {
    TestRecord row;
    row.key = "key-" + std::to_string(k);
    row.value = R"({"tier":"t)" + std::to_string(k % 3) + R"("})";
    row.timestamp_ms = kStartMs;
    rows.push_back(row);
  }
  Produce(customers, rows);
  std::map<std::string, WindowTotals> expected;
  ProduceRound(orders, 0, 25, expected);  // 1,000 records, all before eddy starts

  const std::string group = UniqueName("eddy-workers-join");
  const uint16_t port = FreePort();
  const std::string config =
      WriteTempFile("eddy-join-2.yaml", Config(2, JoinTopology(orders, customers), group,
                                               MakeTempDir("eddy-workers-join-state"), port));
  EddyProcess eddy(config, port);
  REQUIRE(eddy.WaitReady(60s));
  INFO(eddy.Log());
  CHECK(eddy.Log().find("processing with 2 worker(s)") != std::string::npos);
  // The range assignor gives each worker the same partition numbers of both topics.
  CHECK(Eventually(30s, [&] {
    return MetricValue(port, "eddy_worker_assigned_partitions", {R"(worker="0")"}) == 4 &&
           MetricValue(port, "eddy_worker_assigned_partitions", {R"(worker="1")"}) == 4;
  }));
  ProduceRound(orders, 1, 25, expected);  // joined while both workers own partitions
  std::string mismatch;
  CHECK(Eventually(30s, [&] { return ViewIsExact(port, expected, mismatch); }));
  std::this_thread::sleep_for(1s);  // settle: a record joined twice would show now
  INFO(mismatch);
  CHECK(ViewIsExact(port, expected, mismatch));
  CHECK(MetricValue(port, "eddy_records_consumed_total", {"topic=\"" + orders + "\""}) == 2000);
  CHECK(eddy.Terminate(20s) == 0);
}

}  // namespace eddy::testing
