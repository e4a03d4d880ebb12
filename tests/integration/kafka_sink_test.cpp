// kafka/kafka_sink.h against the real broker of the CTest fixture (auto.create.topics.enable
// is off there): records round-trip exactly, placed by the Java client's partitioner; the
// producer is idempotent whatever the shared kafka: properties say, and consumer properties
// do not disturb it; delivery failures and oversized records become Statuses within a
// bounded time.
#include "kafka/kafka_sink.h"

#include <librdkafka/rdkafka.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "metrics/metrics.h"
#include "support/kafka_test_env.h"

namespace {

using eddy::StatusCode;
using eddy::config::KafkaConfig;
using eddy::engine::SinkRecord;
using eddy::kafka::KafkaSink;
using eddy::metrics::Metrics;
using eddy::testing::ConsumedRecord;
using eddy::testing::CreateTopic;
using eddy::testing::KafkaBootstrap;
using eddy::testing::ReadFromBeginning;
using eddy::testing::UniqueName;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Properties = std::vector<std::pair<std::string, std::string>>;

// What the daemon's kafka: block would hold: bootstrap.servers, then `properties`, each with a
// location on its own line of "eddy.yaml".
KafkaConfig Config(const Properties& properties) {
  KafkaConfig kafka;
  kafka.properties.push_back({"bootstrap.servers", KafkaBootstrap(), {"eddy.yaml", 2, 3}});
  int line = 3;
  for (const auto& [name, value] : properties)
    kafka.properties.push_back({name, value, {"eddy.yaml", line++, 3}});
  return kafka;
}

// The consumer settings a real config carries; the sink must not mind them.
const Properties kConsumerProperties = {
    {"group.id", "eddy-sink-test"},        {"auto.offset.reset", "earliest"},
    {"enable.auto.commit", "false"},       {"enable.auto.offset.store", "false"},
    {"session.timeout.ms", "10000"},       {"partition.assignment.strategy", "cooperative-sticky"},
    {"isolation.level", "read_committed"},
};

Properties WithConsumerProperties(Properties extra) {
  Properties all = kConsumerProperties;
  all.insert(all.end(), extra.begin(), extra.end());
  return all;
}

std::unique_ptr<KafkaSink> MakeSink(const Properties& properties, Metrics& metrics) {
  auto sink = KafkaSink::Create(Config(properties), metrics);
  INFO(sink.status().ToString());
  REQUIRE(sink.ok());
  return std::move(sink).value();
}

// The value of one series in /metrics, e.g. `eddy_sink_records_sent_total{topic="t"}`
// (labels in alphabetical order); -1 if it is absent.
double SeriesValue(const Metrics& metrics, const std::string& series) {
  std::istringstream text(metrics.SerializeText());
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Kafka's Java client: Utils.murmur2 (seed 0x9747b28c), the partitioner eddy's sink defaults to.
int32_t Murmur2(const std::string& data) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  const uint32_t m = 0x5bd1e995;
  uint32_t h = 0x9747b28c ^ static_cast<uint32_t>(length);
  for (size_t i = 0; i + 4 <= length; i += 4) {
    uint32_t k = uint32_t{bytes[i]} | uint32_t{bytes[i + 1]} << 8 | uint32_t{bytes[i + 2]} << 16 |
                 uint32_t{bytes[i + 3]} << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const size_t tail = length & ~size_t{3};
  switch (length % 4) {
    case 3:
      h ^= uint32_t{bytes[tail + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{bytes[tail + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{bytes[tail]};
      h *= m;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t JavaPartition(const std::string& key, int32_t partitions) {
  return static_cast<int32_t>(static_cast<uint32_t>(Murmur2(key)) & 0x7fffffff) % partitions;
}

TEST_CASE("kafka sink: the test's murmur2 matches Kafka's reference values", "[kafka][sink]") {
  // From Kafka's UtilsTest.testMurmur2.
  CHECK(Murmur2("21") == -973932308);
  CHECK(Murmur2("foobar") == -790332482);
  CHECK(Murmur2("a-little-bit-long-string") == -985981536);
  CHECK(Murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(Murmur2("abc") == 479470107);
}

TEST_CASE("kafka sink: delivers 1000 records exactly: keys, values, headers, timestamps",
          "[kafka][sink]") {
  constexpr int kRecords = 1000;
  constexpr int32_t kPartitions = 3;
  constexpr int64_t kBaseTimeMs = 1795600800000;  // 2026-11-25T10:00:00Z
  const std::string topic = UniqueName("eddy-sink");
  CreateTopic(topic, kPartitions);

  Metrics metrics;
  auto sink = MakeSink(kConsumerProperties, metrics);
  std::vector<SinkRecord> sent;
  for (int i = 0; i < kRecords; ++i) {
    SinkRecord record;
    record.topic = topic;
    record.key = "user-" + std::to_string(i % 37);
    record.value = R"({"i":)" + std::to_string(i) + "}";
    record.timestamp_ms = kBaseTimeMs + i * 1000;
    record.headers = {{"seq", std::to_string(i)}, {"bytes", std::string("\0\x01\xff", 3)}};
    if (i % 10 == 0) record.headers.emplace_back("seq", "repeated");
    if (i % 100 == 0) record.value.clear();  // an empty value is not a tombstone
    sent.push_back(record);
    const auto status = sink->Send(std::move(record));
    INFO(status.ToString());
    REQUIRE(status.ok());
  }
  const auto flushed = sink->Flush(std::chrono::seconds(30));
  INFO(flushed.ToString());
  REQUIRE(flushed.ok());
  CHECK(SeriesValue(metrics, "eddy_sink_records_sent_total{topic=\"" + topic + "\"}") == kRecords);
  CHECK(metrics.SerializeText().find("eddy_sink_errors_total{") == std::string::npos);

  // Expected: per partition, the records whose key the Java partitioner maps there, in Send
  // order (the idempotent producer keeps order within a partition across retries).
  std::vector<std::vector<SinkRecord>> expected(kPartitions);
  for (const SinkRecord& record : sent)
    expected[static_cast<size_t>(JavaPartition(*record.key, kPartitions))].push_back(record);

  const std::vector<ConsumedRecord> consumed = ReadFromBeginning(topic, kRecords);
  REQUIRE(consumed.size() == kRecords);
  size_t next = 0;
  for (int32_t partition = 0; partition < kPartitions; ++partition) {
    const auto& want = expected[static_cast<size_t>(partition)];
    CHECK(!want.empty());
    for (size_t i = 0; i < want.size(); ++i, ++next) {
      const ConsumedRecord& got = consumed.at(next);
      INFO("partition " << partition << ", record " << i << " of " << want.size());
      REQUIRE(got.partition == partition);
      CHECK(got.offset == static_cast<int64_t>(i));  // no gap, no duplicate
      CHECK(got.key == *want[i].key);
      CHECK(got.value == want[i].value);
      CHECK(got.timestamp_ms == want[i].timestamp_ms);
      CHECK(got.headers == want[i].headers);
    }
  }
  CHECK(next == consumed.size());
}

TEST_CASE("kafka sink: forces idempotence and ignores consumer properties", "[kafka][sink]") {
  Metrics metrics;
  auto sink = MakeSink(WithConsumerProperties({{"linger.ms", "20"}, {"compression.type", "zstd"}}),
                       metrics);
  auto property = [&](const std::string& name) {
    const std::optional<std::string> value = sink->EffectiveProperty(name);
    INFO(name);
    REQUIRE(value.has_value());
    return *value;
  };
  CHECK(property("enable.idempotence") == "true");
  CHECK(property("acks") == "-1");  // all, as idempotence requires
  CHECK(property("client.id") == "eddy");
  CHECK(property("partitioner") == "murmur2_random");
  // The config's own values win over eddy's defaults.
  CHECK(property("linger.ms") == "20");
  CHECK(property("compression.type") == "zstd");
  // Consumer properties never reached the producer.
  CHECK(!sink->EffectiveProperty("group.id").has_value());
  CHECK(property("session.timeout.ms") == "45000");
  CHECK(property("isolation.level") == "read_committed");  // librdkafka's default anyway
  CHECK(property("partition.assignment.strategy") == "range,roundrobin");
  CHECK(!sink->EffectiveProperty("no.such.property").has_value());

  // Explicitly configured as eddy would: accepted.
  MakeSink({{"enable.idempotence", "true"}, {"acks", "all"}}, metrics);
  MakeSink({{"request.required.acks", "-1"}}, metrics);
}

TEST_CASE("kafka sink: rejects properties that contradict the idempotent producer",
          "[kafka][sink]") {
  Metrics metrics;
  struct Case {
    Properties properties;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"enable.idempotence", "false"}},
       "eddy.yaml:3:3: error: kafka property 'enable.idempotence' must be true"},
      {{{"acks", "1"}}, "eddy.yaml:3:3: error: kafka property 'acks' must be all"},
      {{{"linger.ms", "1"}, {"request.required.acks", "0"}},
       "eddy.yaml:4:3: error: kafka property 'request.required.acks' must be all"},
      {{{"transactional.id", "eddy-1"}},
       "eddy.yaml:3:3: error: kafka property 'transactional.id' is not supported"},
      {{{"linger.ms", "soon"}}, "eddy.yaml:3:3: error: kafka property 'linger.ms': "},
  };
  for (const Case& c : cases) {
    auto sink = KafkaSink::Create(Config(c.properties), metrics);
    INFO(c.message);
    REQUIRE(!sink.ok());
    INFO(sink.status().message());
    CHECK(sink.status().code() == StatusCode::kInvalidArgument);
    CHECK(sink.status().message().rfind(c.message, 0) == 0);
  }
  std::vector<eddy::config::Diagnostic> errors;
  eddy::kafka::ValidateKafkaSinkProperties(
      Config({{"enable.idempotence", "false"}, {"acks", "0"}, {"group.id", "g"}}), errors);
  CHECK(errors.size() == 2);
}

TEST_CASE("kafka sink: the consumer-only list is librdkafka's", "[kafka][sink]") {
  // rd_kafka_conf_properties_show prints CONFIGURATION.md: "name | C/P | range | ...".
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  REQUIRE(out != nullptr);
  rd_kafka_conf_properties_show(out);
  std::fclose(out);
  const std::string table(buffer, size);
  std::free(buffer);

  std::set<std::string> consumer_only;
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    const auto bar = line.find('|');
    if (bar == std::string::npos || line.size() < bar + 6) continue;
    std::string name = line.substr(0, line.find(' '));
    if (line.substr(bar + 1, 5) != "  C  " || name.find("_cb") != std::string::npos) continue;
    consumer_only.insert(name);
  }
  CHECK(consumer_only == eddy::kafka::ConsumerOnlyProperties());
}

TEST_CASE("kafka sink: a topic that does not exist fails Flush within the message timeout",
          "[kafka][sink]") {
  const std::string missing = UniqueName("eddy-sink-missing");
  const std::string topic = UniqueName("eddy-sink-after");
  CreateTopic(topic, 1);
  Metrics metrics;
  auto sink = MakeSink({{"message.timeout.ms", "2000"}}, metrics);

  SinkRecord record;
  record.topic = missing;
  record.key = "k";
  record.value = "v";
  const auto start = Clock::now();
  const auto sent = sink->Send(record);
  INFO(sent.ToString());
  REQUIRE(sent.ok());  // the producer does not know yet that the topic is missing
  const auto flushed = sink->Flush(std::chrono::seconds(20));
  const auto elapsed = Clock::now() - start;
  INFO(flushed.ToString());
  CHECK(!flushed.ok());
  CHECK(flushed.code() == StatusCode::kUnavailable);
  CHECK(flushed.message().find("1 record(s) not delivered") != std::string::npos);
  CHECK(flushed.message().find(missing) != std::string::npos);
  CHECK(elapsed < std::chrono::seconds(10));
  const std::string errors = metrics.SerializeText();
  CHECK(errors.find("eddy_sink_errors_total{error=") != std::string::npos);
  CHECK(errors.find("topic=\"" + missing + "\"} 1") != std::string::npos);

  // The failure is reported once; the sink keeps working for other topics.
  record.topic = topic;
  REQUIRE(sink->Send(record).ok());
  const auto second = sink->Flush(std::chrono::seconds(20));
  INFO(second.ToString());
  CHECK(second.ok());
  CHECK(ReadFromBeginning(topic, 1).at(0).value == "v");

  // Destroying a sink with undeliverable records waits at most its close timeout.
  record.topic = missing;
  REQUIRE(sink->Send(record).ok());
  const auto close_start = Clock::now();
  sink.reset();
  CHECK(Clock::now() - close_start < KafkaSink::kCloseTimeout + std::chrono::seconds(1));
}

TEST_CASE("kafka sink: a record larger than message.max.bytes is an error, not a crash",
          "[kafka][sink]") {
  const std::string topic = UniqueName("eddy-sink-large");
  CreateTopic(topic, 1);
  Metrics metrics;
  auto sink = MakeSink({{"message.max.bytes", "10000"}}, metrics);

  SinkRecord large;
  large.topic = topic;
  large.key = "k";
  large.value = std::string(20000, 'x');
  const auto status = sink->Send(large);
  INFO(status.ToString());
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK(status.message().find("20001 bytes of key and value exceed message.max.bytes (10000)") !=
        std::string::npos);
  CHECK(SeriesValue(metrics, "eddy_sink_errors_total{error=\"MSG_SIZE_TOO_LARGE\",topic=\"" +
                                 topic + "\"}") == 1);

  SinkRecord small = large;
  small.value = "fits";
  REQUIRE(sink->Send(small).ok());
  const auto flushed = sink->Flush(std::chrono::seconds(20));
  INFO(flushed.ToString());
  REQUIRE(flushed.ok());
  const auto consumed = ReadFromBeginning(topic, 1);
  CHECK(consumed.at(0).value == "fits");
}

}  // namespace
