// Dedup against the real broker: one topology deduplicates the same stream twice, by a value
// field and by a header, each feeding a count + sum window. eddy runs three times over one
// state directory: a clean run, a run killed (SIGKILL) before it committed anything, and a
// run that redoes the killed work. Each duplicate within the ttl must be dropped exactly once
// in the final views, and eddy_duplicates_dropped_total must count exactly what each process
// dropped.
#include <catch2/catch.hpp>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

std::string Topologies(const std::string& topic) {
  return "  - name: dedup\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: by_field\n"
         "        dedup: {field: id, ttl: 1m}\n"
         "      - name: counted_by_field\n"
         "        window: {type: tumbling, size: 1h}\n"
         "        aggregates: [{name: n, function: count}, {name: amount, function: sum, "
         "field: amount}]\n"
         "      - name: by_header\n"
         "        from: source\n"
         "        dedup: {header: msg-id, ttl: 1m}\n"
         "      - name: counted_by_header\n"
         "        window: {type: tumbling, size: 1h}\n"
         "        aggregates: [{name: n, function: count}, {name: amount, function: sum, "
         "field: amount}]\n"
         "    views:\n"
         "      - {name: by_field, from: counted_by_field}\n"
         "      - {name: by_header, from: counted_by_header}\n";
}

// User "a" lives in partition 0, "b" in partition 1. Amounts are powers of two, so a sum
// says exactly which records passed.
TestRecord Event(int64_t t0, const std::string& user, const std::string& id,
                 const std::string& header, int64_t at_s, int64_t amount) {
  TestRecord record;
  record.key = user;
  record.partition = user == "a" ? 0 : 1;
  record.value = R"({"user":")" + user + R"(","id":")" + id + R"(","amount":)" +
                 std::to_string(amount) + R"(,"ts":)" + std::to_string(t0 + at_s * 1000) + "}";
  record.headers = {{"msg-id", header}};
  return record;
}

// Both views for both users, one line each: "by_field/a: [+0s,+3600s) open {...}".
std::string Views(uint16_t port, int64_t t0) {
  std::string out;
  for (const std::string view : {"by_field", "by_header"}) {
    for (const std::string user : {"a", "b"}) {
      out += view + "/" + user + ": " + WindowsText(port, view, user, t0) + "\n";
    }
  }
  return out;
}

// The expected Views() text: (count, sum) per view and user, all in the open hour window.
std::string Expected(int64_t field_a_n, int64_t field_a_sum, int64_t field_b_n, int64_t field_b_sum,
                     int64_t header_a_n, int64_t header_a_sum, int64_t header_b_n,
                     int64_t header_b_sum) {
  auto line = [](const std::string& name, int64_t n, int64_t sum) {
    return name + ": " +
           WindowLine(
               0, 3600, false,
               R"({"n":)" + std::to_string(n) + R"(,"amount":)" + std::to_string(sum) + "}") +
           "\n";
  };
  return line("by_field/a", field_a_n, field_a_sum) + line("by_field/b", field_b_n, field_b_sum) +
         line("by_header/a", header_a_n, header_a_sum) +
         line("by_header/b", header_b_n, header_b_sum);
}

double Dropped(uint16_t port, const std::string& step) {
  return MetricValue(port, "eddy_duplicates_dropped_total",
                     {"step=\"" + step + "\"", "topology=\"dedup\""});
}

}  // namespace

TEST_CASE(
    "dedup by field and by header: duplicates within the ttl dropped exactly once, "
    "across a restart and a crash",
    "[eddy][kafka][dedup]") {
  const std::string topic = UniqueName("dedup");
  CreateTopic(topic, 2);
  const int64_t t0 = HourADayAgoMs();
  // One worker: a run below must not commit at all, and a second worker joining the group
  // would make the first revoke its partitions, which commits (CI saw exactly that).
  const Deployment deployment(Topologies(topic), {}, "processing: {threads: 1}\n");
  const uint16_t port = deployment.port();

  // Run 1: commits every 50 ms, stopped cleanly. Comments: fate by field / by header.
  Produce(topic, {
                     Event(t0, "a", "e1", "h1", 0, 1),    // new / new
                     Event(t0, "a", "e1", "h2", 10, 2),   // duplicate / new
                     Event(t0, "a", "e2", "h1", 20, 4),   // new / duplicate
                     Event(t0, "b", "x1", "y1", 0, 8),    // new / new
                     Event(t0, "b", "x1", "y1", 30, 16),  // duplicate / duplicate
                 });
  const std::string after_run_1 = Expected(2, 5, 1, 8, 2, 3, 1, 8);
  {
    auto eddy = deployment.Start();
    REQUIRE(eddy->WaitReady(60s));
    // The last record of partition 1 changes no view: wait for it in the metrics too.
    const bool converged = Eventually(30s, [&] {
      return Views(port, t0) == after_run_1 &&
             MetricValue(port, "eddy_records_processed_total", {"topology=\"dedup\""}) == 5;
    });
    INFO(eddy->Log());
    CHECK(converged);
    CHECK(Views(port, t0) == after_run_1);
    CHECK(Dropped(port, "by_field") == 2);
    CHECK(Dropped(port, "by_header") == 2);
    CHECK(eddy->Terminate(20s) == 0);
  }

  // Run 2: never commits (10 min interval); killed once it has processed everything, so
  // its work, registered ids included, is lost. The ids of run 1 come from RocksDB.
  Produce(topic, {
                     Event(t0, "a", "e1", "h3", 40, 32),   // duplicate / new
                     Event(t0, "a", "e3", "h2", 50, 64),   // new / duplicate
                     Event(t0, "b", "x2", "y2", 40, 128),  // new / new
                     Event(t0, "b", "x1", "y1", 55, 256),  // duplicate / duplicate
                 });
  {
    auto eddy = deployment.Start("10m");
    REQUIRE(eddy->WaitReady(60s));
    const bool processed = Eventually(30s, [&] {
      return MetricValue(port, "eddy_records_processed_total", {"topology=\"dedup\""}) == 4;
    });
    INFO(eddy->Log());
    CHECK(processed);
    CHECK(Dropped(port, "by_field") == 2);
    CHECK(Dropped(port, "by_header") == 2);
    CHECK(Views(port, t0) == after_run_1);  // views show committed state only
    eddy->Kill();
  }

  // Run 3: redoes run 2's records from the last commit, then the new ones.
  Produce(topic, {
                     // e1 was first seen at 0 s: forgotten once stream time reaches 60 s.
                     Event(t0, "a", "e1", "h4", 61, 512),    // new again / new
                     Event(t0, "a", "e1", "h5", 70, 1024),   // duplicate (of 61 s) / new
                     Event(t0, "a", "e2", "h1", 75, 2048),   // duplicate / new again (h1: 0 s)
                     Event(t0, "b", "x1", "y1", 59, 4096),   // duplicate / duplicate
                     Event(t0, "b", "x2", "y3", 100, 8192),  // new again: 40 s + 1m <= 100 s
                 });
  const std::string final_views = Expected(4, 1 + 4 + 64 + 512, 3, 8 + 128 + 8192, 6,
                                           1 + 2 + 32 + 512 + 1024 + 2048, 3, 8 + 128 + 8192);
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  const bool converged = Eventually(30s, [&] {
    return Views(port, t0) == final_views &&
           MetricValue(port, "eddy_records_processed_total", {"topology=\"dedup\""}) == 9;
  });
  INFO(eddy->Log());
  CHECK(converged);
  std::this_thread::sleep_for(1s);  // settle: a second application would show up here
  CHECK(Views(port, t0) == final_views);
  CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"dedup\""}) == 9);
  CHECK(Dropped(port, "by_field") == 2 + 3);
  CHECK(Dropped(port, "by_header") == 2 + 1);
  CHECK(MetricValue(port, "eddy_records_failed_total",
                    {"reason=\"invalid_field\"", "topology=\"dedup\""}) == 0);
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
