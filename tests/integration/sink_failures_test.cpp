// Sink delivery failures against the real broker (docs/error-handling.md, "Sink delivery
// failures"): what eddy does when Kafka will not take its output.
//
// - A sink topic that does not exist (the test broker has auto.create.topics.enable=false):
//   each record is tried `delivery.attempts` times, then dead-lettered; after
//   `circuit_breaker.failures` such records the breaker opens and the topology's source
//   partition is paused, so new input waits in Kafka (not consumed, views unchanged). A
//   half-open probe that fails again costs one record, not the rest of its batch. Once the
//   topic exists, the next probe closes the breaker and everything that waited is delivered:
//   every output record is in the sink topic or, with the error, in the dead-letter topic.
// - A record the broker refuses for what it is (MESSAGE_TOO_LARGE: the sink topic's
//   max.message.bytes is small) is dead-lettered at once, without retries, and the records
//   before and after it are delivered; the breaker stays closed.
//
// Small message and breaker timings keep each case to about 15 s.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

// One topology: an hourly count per user (the view) and every record copied to `out`.
std::string Topologies(const std::string& in, const std::string& out, const std::string& dead) {
  return "  - name: orders\n"
         "    source:\n"
         "      topic: " +
         in +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: hourly\n"
         "        from: source\n"
         "        window: {type: tumbling, size: 1h, retention: 7d}\n"
         "        aggregates: [{name: n, function: count}]\n"
         "      - name: all\n"
         "        from: source\n"
         "        filter: \"amount >= 0\"\n"
         "    views:\n"
         "      - {name: orders, from: hourly}\n"
         "    sinks:\n"
         "      - {name: copy, from: all, topic: " +
         out +
         "}\n"
         "    dead_letters: {topic: " +
         dead + "}\n";
}

std::string Delivery(const std::string& cooldown) {
  return "delivery:\n"
         "  attempts: 3\n"
         "  backoff: 50ms\n"
         "  max_backoff: 200ms\n"
         "  circuit_breaker: {failures: 3, cooldown: " +
         cooldown + "}\n";
}

std::string OrderJson(const std::string& user, int amount, int64_t ts,
                      const std::string& pad = "") {
  return R"({"user":")" + user + R"(","amount":)" + std::to_string(amount) + R"(,"ts":)" +
         std::to_string(ts) + (pad.empty() ? "" : R"(,"pad":")" + pad + "\"") + "}";
}

TestRecord In(const std::string& user, const std::string& json) {
  TestRecord record;
  record.key = user;
  record.partition = 0;
  record.value = json;
  return record;
}

std::string Header(const Headers& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "<none>";
}

// "key=value" per record, in topic order.
std::vector<std::string> KeyValues(const std::vector<ConsumedRecord>& records) {
  std::vector<std::string> out;
  for (const ConsumedRecord& record : records) out.push_back(record.key + "=" + record.value);
  return out;
}

// A metric that may not exist yet counts as 0.
double Counter(uint16_t port, const std::string& name, const std::vector<std::string>& labels) {
  return std::max(0.0, MetricValue(port, name, labels));
}

// What the checks below need to say when they fail.
std::string Snapshot(uint16_t port, const std::string& out, int64_t t0) {
  const std::string topic = "topic=\"" + out + "\"";
  return "consumed=" + std::to_string(MetricValue(port, "eddy_records_consumed_total", {})) +
         " open=" + std::to_string(MetricValue(port, "eddy_sink_circuit_open", {topic})) +
         " retries=" + std::to_string(MetricValue(port, "eddy_sink_retries_total", {topic})) +
         " sent=" + std::to_string(MetricValue(port, "eddy_sink_records_sent_total", {topic})) +
         " dead=" +
         std::to_string(
             MetricValue(port, "eddy_dead_letter_records_total", {"reason=\"delivery_failed\""})) +
         " alice=" + WindowsText(port, "orders", "alice", t0);
}

}  // namespace

TEST_CASE(
    "a missing sink topic: retried, dead-lettered, the breaker pauses the source, and once "
    "the topic exists everything that waited is delivered",
    "[eddy][kafka][sink_failures]") {
  const std::string in = UniqueName("sinkfail-in");
  const std::string out = UniqueName("sinkfail-out");  // created only later
  const std::string dead = UniqueName("sinkfail-dead");
  CreateTopic(in, 1);
  CreateTopic(dead, 1);
  const int64_t t0 = HourADayAgoMs();
  // librdkafka waits topic.metadata.propagation.max.ms (30 s by default) before it believes
  // that a topic does not exist, failing the records queued for it; from then on it refuses
  // records to it at once. Both happen here, within a second.
  // One worker: circuit breakers are per worker, and a second worker joining the group could
  // take the partition over with its breaker closed, mid-test.
  const Deployment deployment(Topologies(in, out, dead),
                              {{"topic.metadata.propagation.max.ms", "500"}},
                              Delivery("4s") + "processing: {threads: 1}\n");
  const uint16_t port = deployment.port();
  const std::string topic = "topic=\"" + out + "\"";
  const std::vector<std::string> delivery_failed = {"reason=\"delivery_failed\"",
                                                    "topology=\"orders\""};
  auto consumed = [&] { return MetricValue(port, "eddy_records_consumed_total", {}); };
  auto open = [&] { return MetricValue(port, "eddy_sink_circuit_open", {topic}); };
  auto dead_lettered = [&] {
    return MetricValue(port, "eddy_dead_letter_records_total", delivery_failed);
  };
  auto alice = [&] { return WindowsText(port, "orders", "alice", t0); };
  auto count = [](int n) {
    return WindowLine(0, 3600, false, R"({"n":)" + std::to_string(n) + "}");
  };

  const std::vector<std::string> first = {OrderJson("alice", 1, t0), OrderJson("bob", 2, t0 + 1),
                                          OrderJson("alice", 3, t0 + 2)};
  Produce(in, {In("alice", first[0]), In("bob", first[1]), In("alice", first[2])});
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));

  // 1. Three records, three tries each (two retries), then the dead letters; three failures
  //    open the breaker.
  const bool opened = Eventually(15s, [&] { return open() == 1; });
  INFO(eddy->Log());
  INFO(Snapshot(port, out, t0));
  REQUIRE(opened);
  CHECK(dead_lettered() == 3);
  CHECK(MetricValue(port, "eddy_sink_retries_total", {topic}) == 6);
  // Failed tries: the first of each reported by its delivery report (UNKNOWN_TOPIC_OR_PART),
  // the retries refused by the producer itself (_UNKNOWN_TOPIC).
  CHECK(Counter(port, "eddy_sink_errors_total", {"error=\"UNKNOWN_TOPIC_OR_PART\"", topic}) +
            Counter(port, "eddy_sink_errors_total", {"error=\"_UNKNOWN_TOPIC\"", topic}) ==
        9);
  CHECK(consumed() == 3);
  CHECK(alice() == count(2));

  // 2. While the breaker is open, new input waits in Kafka: not consumed, views unchanged.
  const std::vector<std::string> second = {
      OrderJson("carol", 4, t0 + 3), OrderJson("alice", 5, t0 + 4), OrderJson("bob", 6, t0 + 5)};
  Produce(in, {In("carol", second[0]), In("alice", second[1]), In("bob", second[2])});
  std::this_thread::sleep_for(1500ms);
  CHECK(open() == 1);  // still within the cooldown: what follows saw the pause
  CHECK(consumed() == 3);
  CHECK(alice() == count(2));

  // 3. After the cooldown the partition resumes (half-open). The topic is still missing: the
  //    first record fails again (three tries, dead-lettered) and the breaker opens again at
  //    once; the rest of the batch waits instead of following it into the dead letters.
  const bool reopened = Eventually(10s, [&] { return dead_lettered() == 4 && open() == 1; });
  INFO(Snapshot(port, out, t0));
  REQUIRE(reopened);
  CHECK(MetricValue(port, "eddy_sink_retries_total", {topic}) == 8);
  CHECK(consumed() == 4);
  CHECK(WindowsText(port, "orders", "carol", t0) == count(1));
  CHECK(alice() == count(2));

  // 4. The topic appears; at the next half-open the waiting records are delivered and the
  //    breaker closes.
  CreateTopic(out, 1);
  const bool recovered = Eventually(15s, [&] {
    return open() == 0 && MetricValue(port, "eddy_sink_records_sent_total", {topic}) == 2 &&
           consumed() == 6 && alice() == count(3);
  });
  INFO(Snapshot(port, out, t0));
  REQUIRE(recovered);

  // Nothing lost, nothing twice: each output record is in the sink topic or the dead letters.
  CHECK(KeyValues(ReadToEnd(out)) ==
        std::vector<std::string>{"alice=" + second[1], "bob=" + second[2]});
  const std::vector<ConsumedRecord> letters = ReadToEnd(dead);
  CHECK(KeyValues(letters) == std::vector<std::string>{"alice=" + first[0], "bob=" + first[1],
                                                       "alice=" + first[2], "carol=" + second[0]});
  for (const ConsumedRecord& letter : letters) {
    INFO(letter.key << "=" << letter.value);
    CHECK(Header(letter.headers, "eddy.reason") == "delivery_failed");
    CHECK(Header(letter.headers, "eddy.topology") == "orders");
    CHECK(Header(letter.headers, "eddy.sink.topic") == out);
    CHECK(Header(letter.headers, "eddy.error").find("UNKNOWN_TOPIC") != std::string::npos);
  }
  // Every input record counted once in the views.
  CHECK(alice() == count(3));
  CHECK(WindowsText(port, "orders", "bob", t0) == count(2));
  CHECK(WindowsText(port, "orders", "carol", t0) == count(1));
  CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"orders\""}) == 6);
  // No further failures or retries after the topic appeared.
  CHECK(dead_lettered() == 4);
  CHECK(MetricValue(port, "eddy_sink_retries_total", {topic}) == 8);
  CHECK(eddy->Running());
  CHECK(eddy->Terminate(20s) == 0);
}

TEST_CASE(
    "a sink record the broker refuses as too large is dead-lettered without retries, the "
    "others are delivered",
    "[eddy][kafka][sink_failures]") {
  const std::string in = UniqueName("toolarge-in");
  const std::string out = UniqueName("toolarge-out");
  const std::string dead = UniqueName("toolarge-dead");
  CreateTopic(in, 1);
  // The broker refuses record batches over 1 KiB to this topic (MESSAGE_TOO_LARGE). The
  // producer's own limit (message.max.bytes, 1 MB) lets the record through.
  CreateTopic(out, 1, {{"max.message.bytes", "1024"}});
  CreateTopic(dead, 1);
  const int64_t t0 = HourADayAgoMs();
  const Deployment deployment(Topologies(in, out, dead), {}, Delivery("30s"));
  const uint16_t port = deployment.port();
  const std::string topic = "topic=\"" + out + "\"";
  auto sent = [&] { return MetricValue(port, "eddy_sink_records_sent_total", {topic}); };
  auto dead_lettered = [&] {
    return MetricValue(port, "eddy_dead_letter_records_total",
                       {"reason=\"delivery_failed\"", "topology=\"orders\""});
  };

  // 4,000 random letters: lz4 (the sink's compression) cannot shrink them below 1 KiB.
  std::mt19937 random(7);
  std::string pad;
  for (int i = 0; i < 4000; ++i) pad += static_cast<char>('a' + random() % 26);
  const std::string small1 = OrderJson("alice", 1, t0);
  const std::string large = OrderJson("dave", 2, t0 + 1, pad);
  const std::string small2 = OrderJson("bob", 3, t0 + 2);

  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  // One at a time, each after the previous one's outcome: the broker refuses the whole
  // batch a refused record is in (docs/error-handling.md), so the large one goes alone.
  Produce(in, {In("alice", small1)});
  REQUIRE(Eventually(15s, [&] { return sent() == 1; }));
  Produce(in, {In("dave", large)});
  const bool refused = Eventually(15s, [&] { return dead_lettered() == 1; });
  INFO(eddy->Log());
  REQUIRE(refused);
  Produce(in, {In("bob", small2)});
  const bool delivered = Eventually(15s, [&] { return sent() == 2; });
  INFO(Snapshot(port, out, t0));
  REQUIRE(delivered);

  CHECK(KeyValues(ReadToEnd(out)) == std::vector<std::string>{"alice=" + small1, "bob=" + small2});
  const std::vector<ConsumedRecord> letters = ReadToEnd(dead);
  REQUIRE(letters.size() == 1);
  const ConsumedRecord& letter = letters[0];
  CHECK(letter.key == "dave");
  CHECK(letter.value == large);
  CHECK(Header(letter.headers, "eddy.reason") == "delivery_failed");
  CHECK(Header(letter.headers, "eddy.topology") == "orders");
  CHECK(Header(letter.headers, "eddy.sink.topic") == out);
  CHECK(Header(letter.headers, "eddy.error").find("MSG_SIZE_TOO_LARGE") != std::string::npos);
  // Refused for what it is: one try, no retry, and the topic's breaker stays closed.
  CHECK(MetricValue(port, "eddy_sink_errors_total", {"error=\"MSG_SIZE_TOO_LARGE\"", topic}) == 1);
  CHECK(MetricValue(port, "eddy_sink_retries_total", {topic}) == -1);  // no series: none
  CHECK(MetricValue(port, "eddy_sink_circuit_open", {topic}) != 1);
  CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"orders\""}) == 3);
  CHECK(WindowsText(port, "orders", "dave", t0) ==
        WindowLine(0, 3600, false, R"({"n":1})"));  // its state counted; its output refused
  CHECK(eddy->Running());
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
