// Exactly-once sinks against the real broker (delivery.guarantee: exactly_once,
// docs/guarantees.md): events are produced while eddy is killed with SIGKILL at random
// moments, and a read_committed consumer of the output topic must then see every closed
// window exactly once, with the value a clean run gives. Under at_least_once the same kills
// repeat outputs (the tests of the at-least-once sink allow it); here none may repeat.
//
// Bounded: a fixed number of events and kills, each wait with a timeout. Quick by default
// (CI); EDDY_EOS_EVENTS and EDDY_EOS_KILLS make it bigger.
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kUsers = 30;
constexpr int kPartitions = 3;
constexpr int64_t kMinute = 60'000;
constexpr int64_t kSpacingMs = 25;  // event time between consecutive events

int64_t EnvOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoll(value) : fallback;
}

std::string Topology(const std::string& input, const std::string& output) {
  return "  - name: eos\n"
         "    source:\n"
         "      topic: " +
         input +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts}\n"
         "    steps:\n"
         "      - name: per_minute\n"
         "        window: {type: tumbling, size: 1m}\n"
         "        emit: final\n"
         "        aggregates:\n"
         "          - {name: views, function: count}\n"
         "          - {name: total_ms, function: sum, field: duration_ms}\n"
         "    sinks:\n"
         "      - {name: out, from: per_minute, topic: " +
         output + ", value: flat}\n";
}

struct Totals {
  int64_t views = 0;
  int64_t total_ms = 0;
  bool operator==(const Totals&) const = default;
};
using WindowKey = std::pair<std::string, int64_t>;  // user, window start

// Every record of `topic` a read_committed consumer gets, from the beginning to the end of
// every partition as of now (enable.partition.eof), decoded as window results. Results that
// occur more than once are counted in `repeats`.
std::map<WindowKey, Totals> ReadCommittedResults(const std::string& topic, int& records,
                                                 int& repeats) {
  auto consumer = MakeConsumer(UniqueName("eos-reader"), {{"isolation.level", "read_committed"},
                                                          {"enable.partition.eof", "true"}});
  PartitionList partitions;
  for (int32_t p = 0; p < kPartitions; ++p)
    partitions.Add(topic, p, RdKafka::Topic::OFFSET_BEGINNING);
  REQUIRE(consumer->assign(partitions.Items()) == RdKafka::ERR_NO_ERROR);
  static const std::regex kResult(
      R"re(\{"key":"([^"]+)","window_start_ms":(\d+),.*"views":(\d+),"total_ms":(\d+)\})re");
  std::map<WindowKey, Totals> results;
  records = 0;
  repeats = 0;
  std::set<int32_t> at_end;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (at_end.size() < kPartitions && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(500));
    if (message->err() == RdKafka::ERR__PARTITION_EOF) {
      at_end.insert(message->partition());
      continue;
    }
    if (message->err() == RdKafka::ERR__TIMED_OUT) continue;
    REQUIRE(message->err() == RdKafka::ERR_NO_ERROR);
    at_end.erase(message->partition());
    ++records;
    const std::string value(static_cast<const char*>(message->payload()), message->len());
    std::smatch match;
    REQUIRE(std::regex_match(value, match, kResult));
    const WindowKey key{match[1], std::stoll(match[2])};
    const Totals totals{std::stoll(match[3]), std::stoll(match[4])};
    if (!results.emplace(key, totals).second) ++repeats;
  }
  consumer->close();
  REQUIRE(at_end.size() == kPartitions);
  return results;
}

}  // namespace

TEST_CASE("exactly-once sink: SIGKILLs at random moments repeat and lose no window result",
          "[eddy][kafka][exactly-once]") {
  const int64_t events = EnvOr("EDDY_EOS_EVENTS", 24'000);
  const int kills = static_cast<int>(EnvOr("EDDY_EOS_KILLS", 5));
  const uint32_t seed = static_cast<uint32_t>(EnvOr("EDDY_EOS_SEED", 20261126));
  INFO("events " << events << ", kills " << kills << ", seed " << seed);
  std::mt19937 rng(seed);

  const std::string input = UniqueName("eos-in");
  const std::string output = UniqueName("eos-out");
  CreateTopic(input, kPartitions);
  CreateTopic(output, kPartitions);
  const int64_t base_ms = HourADayAgoMs();
  Deployment deployment(Topology(input, output), {{"group.instance.id", UniqueName("eos-member")}},
                        "delivery: {guarantee: exactly_once}\n");

  // Events go to fixed partitions by user, so each (user, minute) is one window result.
  auto event = [&](int64_t i) {
    const std::string user = "u" + std::to_string(i % kUsers);
    const int64_t ts = base_ms + i * kSpacingMs;
    return TestRecord{user,
                      R"({"user":")" + user + R"(","duration_ms":)" + std::to_string(i % 97) +
                          R"(,"ts":)" + std::to_string(ts) + "}",
                      static_cast<int32_t>((i % kUsers) % kPartitions),
                      ts,
                      {}};
  };
  std::atomic<int64_t> produced{0};
  std::atomic<bool> producer_failed{false};
  std::thread producer([&] {
    const auto conf = MakeConf({{"linger.ms", "10"}, {"enable.idempotence", "true"}});
    std::string error;
    std::unique_ptr<RdKafka::Producer> kafka(RdKafka::Producer::create(conf.get(), error));
    if (!kafka) {
      producer_failed = true;
      return;
    }
    // Spread over about 10 s, so that kills land while input flows.
    const int64_t per_tick = std::max<int64_t>(1, events / 200);
    for (int64_t i = 0; i < events; ++i) {
      const TestRecord e = event(i);
      RdKafka::ErrorCode err;
      do {
        err = kafka->produce(input, e.partition, RdKafka::Producer::RK_MSG_COPY,
                             const_cast<char*>(e.value->data()), e.value->size(), e.key.data(),
                             e.key.size(), e.timestamp_ms, nullptr, nullptr);
        if (err == RdKafka::ERR__QUEUE_FULL) kafka->poll(50);
      } while (err == RdKafka::ERR__QUEUE_FULL);
      if (err != RdKafka::ERR_NO_ERROR) {
        producer_failed = true;
        return;
      }
      produced = i + 1;
      if ((i + 1) % per_tick == 0) {
        kafka->poll(0);
        std::this_thread::sleep_for(50ms);
      }
    }
    if (kafka->flush(60'000) != RdKafka::ERR_NO_ERROR) producer_failed = true;
  });

  std::uniform_int_distribution<int> uptime_ms(300, 2500);
  int republished = 0;  // starts that found a staged transaction Kafka had not committed
  int settled = 0;      // starts that found one Kafka had committed
  auto count_recoveries = [&](const std::string& log) {
    if (log.find("is published again") != std::string::npos) ++republished;
    if (log.find("was committed before the restart") != std::string::npos) ++settled;
  };
  for (int kill = 0; kill < kills; ++kill) {
    auto eddy = deployment.Start("50ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(uptime_ms(rng)));
    eddy->Kill();
    count_recoveries(eddy->Log());
    std::fprintf(stderr, "exactly-once: kill %d, %lld produced\n", kill + 1,
                 static_cast<long long>(produced.load()));
  }
  producer.join();
  REQUIRE_FALSE(producer_failed.load());
  // One record per partition far ahead closes every window of the run.
  const int64_t end_ms = base_ms + events * kSpacingMs + 10 * kMinute;
  std::vector<TestRecord> closers;
  for (int32_t p = 0; p < kPartitions; ++p) {
    closers.push_back({"closer",
                       R"({"user":"closer","duration_ms":0,"ts":)" + std::to_string(end_ms) + "}",
                       p,
                       end_ms,
                       {}});
  }
  Produce(input, closers);

  std::map<WindowKey, Totals> expected;
  for (int64_t i = 0; i < events; ++i) {
    const TestRecord e = event(i);
    Totals& totals = expected[{e.key, e.timestamp_ms - e.timestamp_ms % kMinute}];
    totals.views += 1;
    totals.total_ms += i % 97;
  }

  auto eddy = deployment.Start("50ms");
  const bool ready = eddy->WaitReady(60s);
  if (!ready) UNSCOPED_INFO(eddy->Log());
  REQUIRE(ready);
  std::map<WindowKey, Totals> results;
  int records = 0;
  int repeats = 0;
  const bool complete = Eventually(60s, [&] {
    results = ReadCommittedResults(output, records, repeats);
    return results.size() >= expected.size();
  });
  count_recoveries(eddy->Log());
  std::fprintf(stderr,
               "exactly-once: %d results read_committed, %d repeated; starts that published a "
               "staged transaction again: %d, that found it committed: %d\n",
               records, repeats, republished, settled);
  if (!complete) UNSCOPED_INFO(eddy->Log());
  CHECK(complete);
  CHECK(repeats == 0);
  CHECK(results == expected);
  CHECK(MetricValue(deployment.port(), "eddy_sink_transactions_total", {"result=\"committed\""}) >
        0);
  CHECK(eddy->Terminate(30s) == 0);
}

}  // namespace eddy::testing
