// Dead letters against the real broker (docs/error-handling.md): poison records of every
// kind land in the topology's dead_letters topic with the original key, value, timestamp and
// headers plus headers naming the error and the record's origin; a sink record the broker
// refuses (INVALID_TIMESTAMP: stamped more than an hour ahead of the broker's clock) is
// dead-lettered instead of stopping processing; the valid records around them are counted
// exactly and reach the view and the sink topic.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Topologies(const std::string& in, const std::string& out, const std::string& dead) {
  return "  - name: orders\n"
         "    source:\n"
         "      topic: " +
         in +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "      max_value_bytes: 300\n"
         "    steps:\n"
         "      - name: hourly\n"
         "        from: source\n"
         "        window: {type: tumbling, size: 1h, retention: 7d}\n"
         "        aggregates: [{name: n, function: count}, {name: total, function: sum, "
         "field: amount}]\n"
         "      - name: zeds\n"
         "        from: source\n"
         "        filter: \"user == 'zed'\"\n"
         "    views:\n"
         "      - {name: orders, from: hourly}\n"
         "    sinks:\n"
         "      - {name: copy, from: zeds, topic: " +
         out +
         "}\n"
         "    dead_letters: {topic: " +
         dead + "}\n";
}

// Every input record's Kafka timestamp: what its dead letter keeps.
const int64_t kInputTimestamp = HourADayAgoMs() + 7;

TestRecord In(std::string value, Headers headers = {}) {
  TestRecord record;
  record.key = "k";
  record.partition = 0;
  record.value = std::move(value);
  record.timestamp_ms = kInputTimestamp;
  record.headers = std::move(headers);
  return record;
}

std::string Order(const std::string& user, int amount, int64_t ts) {
  return R"({"user":")" + user + R"(","amount":)" + std::to_string(amount) + R"(,"ts":)" +
         std::to_string(ts) + "}";
}

std::string Header(const Headers& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "<none>";
}

}  // namespace

TEST_CASE("poison records and refused sink records go to the dead letters, nothing stops",
          "[eddy][kafka][dead_letters]") {
  const std::string in = UniqueName("orders");
  const std::string out = UniqueName("orders-out");
  const std::string dead = UniqueName("orders-dead");
  CreateTopic(in, 1);
  CreateTopic(out, 1);
  CreateTopic(dead, 1);
  const int64_t t0 = HourADayAgoMs();
  const std::string ts = std::to_string(t0 + 5000);
  // Two days ahead: its window is fine, but the broker refuses a sink record stamped so.
  const int64_t future = t0 + 3 * 24 * 3600 * 1000LL;
  const Deployment deployment(Topologies(in, out, dead));
  const uint16_t port = deployment.port();

  Produce(in, {
                  In(Order("alice", 1, t0)),                             // 0 ok
                  In("{not json", {{"trace", "t1"}}),                    // 1 invalid_json
                  In(R"({"amount":5,"ts":)" + ts + "}"),                 // 2 missing_key
                  In(R"({"user":[1],"amount":5,"ts":)" + ts + "}"),      // 3 invalid_key
                  In(R"({"user":"bob","amount":5})"),                    // 4 invalid_timestamp
                  In(R"({"user":"bob","amount":"5","ts":)" + ts + "}"),  // 5 invalid_field
                  In(Order("bob", 1, t0) + std::string(300, ' ')),       // 6 too_large
                  In(Order("alice", 2, t0 + 1000)),                      // 7 ok
                  In(Order("zed", 4, future)),  // 8 sink refused; closes alice's window
              });
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  const std::string expected = WindowLine(0, 3600, true, R"({"n":2,"total":3})");
  const bool converged = Eventually(30s, [&] {
    return WindowsText(port, "orders", "alice", t0) == expected &&
           MetricValue(port, "eddy_dead_letter_records_total",
                       {"reason=\"delivery_failed\"", "topology=\"orders\""}) == 1;
  });
  INFO(eddy->Log());
  INFO("alice: " << WindowsText(port, "orders", "alice", t0) << "; delivery_failed: "
                 << MetricValue(port, "eddy_dead_letter_records_total",
                                {"reason=\"delivery_failed\"", "topology=\"orders\""}));
  REQUIRE(converged);
  CHECK(eddy->Running());
  CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"orders\""}) == 3);
  for (const std::string reason : {"invalid_json", "missing_key", "invalid_key",
                                   "invalid_timestamp", "invalid_field", "too_large"}) {
    INFO(reason);
    CHECK(MetricValue(port, "eddy_records_failed_total",
                      {"reason=\"" + reason + "\"", "topology=\"orders\""}) == 1);
    CHECK(MetricValue(port, "eddy_dead_letter_records_total",
                      {"reason=\"" + reason + "\"", "topology=\"orders\""}) == 1);
  }
  CHECK(MetricValue(port, "eddy_sink_errors_total",
                    {"error=\"INVALID_TIMESTAMP\"", "topic=\"" + out + "\""}) == 1);

  // zed's record was refused: the sink topic is empty. (Only zed's records go there: the
  // broker refuses the whole batch that holds a bad record, see docs/error-handling.md.)
  CHECK(ReadToEnd(out, 10s).empty());

  // The dead letters, in the order they were written: the six poison records, then the
  // refused sink record.
  const std::vector<ConsumedRecord> letters = ReadFromBeginning(dead, 7);
  REQUIRE(letters.size() == 7);
  const std::vector<std::pair<std::string, std::string>> reasons = {
      {"invalid_json", "<none>"},      {"missing_key", "<none>"},   {"invalid_key", "<none>"},
      {"invalid_timestamp", "<none>"}, {"invalid_field", "hourly"}, {"too_large", "<none>"}};
  for (size_t i = 0; i < reasons.size(); ++i) {
    INFO("dead letter " << i);
    const ConsumedRecord& letter = letters[i];
    CHECK(Header(letter.headers, "eddy.reason") == reasons[i].first);
    CHECK(Header(letter.headers, "eddy.step") == reasons[i].second);
    CHECK(Header(letter.headers, "eddy.topology") == "orders");
    CHECK(Header(letter.headers, "eddy.source.topic") == in);
    CHECK(Header(letter.headers, "eddy.source.partition") == "0");
    CHECK(Header(letter.headers, "eddy.source.offset") == std::to_string(i + 1));
    CHECK(Header(letter.headers, "eddy.error") != "<none>");
    CHECK(letter.key == "k");
    CHECK(letter.timestamp_ms == kInputTimestamp);
  }
  CHECK(letters[0].value == "{not json");
  CHECK(Header(letters[0].headers, "trace") == "t1");
  CHECK(letters[5].value == Order("bob", 1, t0) + std::string(300, ' '));
  const ConsumedRecord& refused = letters[6];
  CHECK(Header(refused.headers, "eddy.reason") == "delivery_failed");
  CHECK(Header(refused.headers, "eddy.sink.topic") == out);
  CHECK(Header(refused.headers, "eddy.error").find("INVALID_TIMESTAMP") != std::string::npos);
  CHECK(refused.key == "zed");
  CHECK(refused.value == Order("zed", 4, future));
  // Stamped when dead-lettered: its own timestamp is what the broker refused.
  CHECK(refused.timestamp_ms >= kInputTimestamp);
  CHECK(refused.timestamp_ms < future);
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
