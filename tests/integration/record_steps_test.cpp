// filter → rekey → select → tumbling window against the real broker, stopped in the middle:
// filtered-out records change no window but still move their partition's stream time (a
// later record can be late because of one), the view is keyed by the new key and merges the
// partitions' shares, and aggregates read the fields the select built.
#include <catch2/catch.hpp>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

std::string Topologies(const std::string& topic) {
  return "  - name: clicks\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: done\n"
         "        filter: \"status == 'done' and ms > 0\"\n"
         "      - name: by_page\n"
         "        rekey: lower(page)\n"
         "      - name: shaped\n"
         "        select: {secs: ms / 1000.0, visitor: user}\n"
         "      - name: per_5m\n"
         "        window: {type: tumbling, size: 5m}\n"
         "        aggregates:\n"
         "          - {name: n, function: count}\n"
         "          - {name: secs, function: sum, field: secs}\n"
         "          - {name: visitors, function: count_distinct, field: visitor}\n"
         "    views:\n"
         "      - {name: pages, from: per_5m}\n";
}

// Users u1 and u3 live in partition 0, u2 and u4 in partition 1.
TestRecord Click(int64_t t0, const std::string& user, const std::string& page,
                 const std::string& status, int ms, int64_t at_s) {
  TestRecord record;
  record.key = user;
  record.partition = user == "u1" || user == "u3" ? 0 : 1;
  record.value = R"({"user":")" + user + R"(","page":")" + page + R"(","status":")" + status +
                 R"(","ms":)" + std::to_string(ms) + R"(,"ts":)" +
                 std::to_string(t0 + at_s * 1000) + "}";
  return record;
}

std::string Pages(uint16_t port, int64_t t0) {
  return "home:\n" + WindowsText(port, "pages", "home", t0) + "\ncart:\n" +
         WindowsText(port, "pages", "cart", t0) + "\nu1:\n" + WindowsText(port, "pages", "u1", t0);
}

}  // namespace

TEST_CASE("filter, rekey and select feed a window exactly, across a restart",
          "[eddy][kafka][steps]") {
  const std::string topic = UniqueName("clicks");
  CreateTopic(topic, 2);
  const int64_t t0 = HourADayAgoMs();
  const Deployment deployment(Topologies(topic));
  const uint16_t port = deployment.port();

  Produce(topic, {
                     Click(t0, "u1", "Home", "done", 1500, 10),
                     Click(t0, "u1", "home", "pending", 700, 20),  // filtered: status
                     Click(t0, "u2", "HOME", "done", 500, 30),
                     Click(t0, "u2", "cart", "done", 0, 40),  // filtered: ms
                     Click(t0, "u3", "Cart", "done", 2500, 50),
                     // Partition 0 reaches 400 s: its share of [0 s, 300 s) is final.
                     Click(t0, "u1", "home", "done", 1000, 400),
                 });
  // "home" [0 s, 300 s) is still open: partition 1, which holds a share, is at 30 s.
  const std::string first =
      "home:\n" +
      Lines({WindowLine(0, 300, false, R"({"n":2,"secs":2,"visitors":2})"),
             WindowLine(300, 600, false, R"({"n":1,"secs":1,"visitors":1})")}) +
      "\ncart:\n" + WindowLine(0, 300, true, R"({"n":1,"secs":2.5,"visitors":1})") + "\nu1:\n";
  {
    auto eddy = deployment.Start();
    REQUIRE(eddy->WaitReady(60s));
    // The last record of partition 1 is filtered out: wait for it in the metrics too.
    const bool converged = Eventually(30s, [&] {
      return Pages(port, t0) == first &&
             MetricValue(port, "eddy_records_processed_total", {"topology=\"clicks\""}) == 6;
    });
    INFO(eddy->Log());
    CHECK(converged);
    CHECK(Pages(port, t0) == first);
    CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"clicks\""}) == 6);
    CHECK(eddy->Terminate(20s) == 0);
  }

  Produce(topic, {
                     // Filtered out, but moves partition 1 to 700 s: closes its [0, 300 s).
                     Click(t0, "u2", "x", "failed", 900, 700),
                     Click(t0, "u2", "home", "done", 2000, 100),  // late for [0, 300 s)
                     Click(t0, "u3", "home", "done", 500, 420),
                     Click(t0, "u4", "home", "done", 4000, 650),
                     Click(t0, "u1", "CART", "done", 1500, 310),
                 });
  const std::string second =
      "home:\n" +
      Lines({WindowLine(0, 300, true, R"({"n":2,"secs":2,"visitors":2})"),
             WindowLine(300, 600, false, R"({"n":2,"secs":1.5,"visitors":2})"),
             WindowLine(600, 900, false, R"({"n":1,"secs":4,"visitors":1})")}) +
      "\ncart:\n" +
      Lines({WindowLine(0, 300, true, R"({"n":1,"secs":2.5,"visitors":1})"),
             WindowLine(300, 600, false, R"({"n":1,"secs":1.5,"visitors":1})")}) +
      "\nu1:\n";
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  const bool converged = Eventually(30s, [&] {
    return Pages(port, t0) == second &&
           MetricValue(port, "eddy_records_processed_total", {"topology=\"clicks\""}) == 5;
  });
  INFO(eddy->Log());
  CHECK(converged);
  std::this_thread::sleep_for(1s);  // settle
  CHECK(Pages(port, t0) == second);
  // Filtered and late records are processed records; the late one is also counted apart.
  CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"clicks\""}) == 5);
  CHECK(MetricValue(port, "eddy_late_records_dropped_total",
                    {"step=\"per_5m\"", "topology=\"clicks\""}) == 1);
  CHECK(MetricValue(port, "eddy_records_failed_total",
                    {"reason=\"invalid_field\"", "topology=\"clicks\""}) == 0);
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
