// Bad records mixed into a stream on the real broker: invalid JSON, a null value, missing or
// unusable keys, timestamps and aggregate fields. Each is skipped and counted once by reason;
// the valid records around them, before and after, in the same partitions, are counted
// exactly; the partitions keep flowing while eddy runs and after a restart, which does not
// retry the bad records.
#include <catch2/catch.hpp>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

std::string Topologies(const std::string& topic) {
  return "  - name: payments\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: hourly\n"
         "        window: {type: tumbling, size: 1h}\n"
         "        aggregates: [{name: n, function: count}, {name: total, function: sum, "
         "field: amount}]\n"
         "    views:\n"
         "      - {name: payments, from: hourly}\n";
}

TestRecord In(int32_t partition, std::optional<std::string> value) {
  TestRecord record;
  record.key = "k";
  record.partition = partition;
  record.value = std::move(value);
  return record;
}

std::string Payment(int64_t t0, const std::string& user, int amount, int64_t at_s) {
  return R"({"user":")" + user + R"(","amount":)" + std::to_string(amount) + R"(,"ts":)" +
         std::to_string(t0 + at_s * 1000) + "}";
}

std::string Totals(uint16_t port, int64_t t0) {
  return "alice: " + WindowsText(port, "payments", "alice", t0) +
         "\nbob: " + WindowsText(port, "payments", "bob", t0) +
         "\n42: " + WindowsText(port, "payments", "42", t0);
}

std::string Line(int64_t n, int64_t total) {
  return WindowLine(0, 3600, false,
                    R"({"n":)" + std::to_string(n) + R"(,"total":)" + std::to_string(total) + "}");
}

double Failed(uint16_t port, const std::string& reason) {
  return MetricValue(port, "eddy_records_failed_total",
                     {"reason=\"" + reason + "\"", "topology=\"payments\""});
}

}  // namespace

TEST_CASE("bad records are skipped and counted by reason, the partition keeps going",
          "[eddy][kafka][bad_input]") {
  const std::string topic = UniqueName("payments");
  CreateTopic(topic, 2);
  const int64_t t0 = HourADayAgoMs();
  const std::string ts = std::to_string(t0 + 5000);
  const Deployment deployment(Topologies(topic));
  const uint16_t port = deployment.port();

  Produce(topic, {
                     In(0, Payment(t0, "alice", 1, 0)),
                     In(0, "{not json"),                        // invalid_json
                     In(0, ""),                                 // invalid_json
                     In(0, std::nullopt),                       // invalid_json
                     In(0, R"({"amount":5,"ts":)" + ts + "}"),  // missing_key
                     In(0, R"({"user":{"id":"alice"},"amount":5,"ts":)" + ts + "}"),  // invalid_key
                     In(0, R"({"user":1.5,"amount":5,"ts":)" + ts + "}"),             // invalid_key
                     In(0, R"({"user":"alice","amount":5})"),                   // invalid_timestamp
                     In(0, R"({"user":"alice","amount":5,"ts":"yesterday"})"),  // invalid_timestamp
                     In(0, R"({"user":"alice","amount":"5","ts":)" + ts + "}"),  // invalid_field
                     In(0, R"({"user":"alice","ts":)" + ts + "}"),               // invalid_field
                     In(0, Payment(t0, "alice", 2, 10)),
                     In(1, R"({"user":"bob","amount":null,"ts":)" + ts + "}"),  // invalid_field
                     In(1, Payment(t0, "bob", 4, 5)),
                     In(1, R"({"user":42,"amount":8,"ts":)" + ts + "}"),  // an integer key: valid
                     In(1, Payment(t0, "bob", 16, 20)),
                 });
  const std::string first =
      "alice: " + Line(2, 3) + "\nbob: " + Line(2, 20) + "\n42: " + Line(1, 8);
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  bool converged = Eventually(30s, [&] { return Totals(port, t0) == first; });
  {
    INFO(eddy->Log());
    CHECK(converged);
    CHECK(Totals(port, t0) == first);
    CHECK(MetricValue(port, "eddy_records_consumed_total", {"topic=\"" + topic + "\""}) == 16);
    CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"payments\""}) == 5);
    CHECK(Failed(port, "invalid_json") == 3);
    CHECK(Failed(port, "missing_key") == 1);
    CHECK(Failed(port, "invalid_key") == 2);
    CHECK(Failed(port, "invalid_timestamp") == 2);
    CHECK(Failed(port, "invalid_field") == 3);
  }

  // The partitions keep flowing: more bad and good records while eddy runs.
  Produce(topic, {
                     In(0, "[1,2,3]"),  // valid JSON, not an object
                     In(0, Payment(t0, "alice", 32, 30)),
                     In(1, "{\"user\":\"bob\""),  // truncated: invalid_json
                     In(1, Payment(t0, "bob", 64, 40)),
                 });
  const std::string second =
      "alice: " + Line(3, 35) + "\nbob: " + Line(3, 84) + "\n42: " + Line(1, 8);
  converged = Eventually(30s, [&] { return Totals(port, t0) == second; });
  {
    INFO(eddy->Log());
    CHECK(converged);
    CHECK(Totals(port, t0) == second);
    CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"payments\""}) == 7);
    CHECK(Failed(port, "invalid_json") == 4);
    // A JSON value that is not an object fails at the first field read, the key.
    CHECK(Failed(port, "missing_key") == 1);
    CHECK(Failed(port, "invalid_key") == 3);
    CHECK(Failed(port, "invalid_timestamp") == 2);
    CHECK(Failed(port, "invalid_field") == 3);
    CHECK(eddy->Terminate(20s) == 0);
  }

  // A restart resumes after the bad records: none is retried.
  eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  Produce(topic, {In(1, Payment(t0, "bob", 128, 50))});
  const std::string third =
      "alice: " + Line(3, 35) + "\nbob: " + Line(4, 212) + "\n42: " + Line(1, 8);
  converged = Eventually(30s, [&] { return Totals(port, t0) == third; });
  INFO(eddy->Log());
  CHECK(converged);
  CHECK(MetricValue(port, "eddy_records_consumed_total", {"topic=\"" + topic + "\""}) == 1);
  for (const std::string reason :
       {"invalid_json", "missing_key", "invalid_key", "invalid_timestamp", "invalid_field"}) {
    INFO(reason);
    CHECK(Failed(port, reason) == 0);
  }
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
