// kafka/KafkaSource against the real broker: what the engine relies on when partitions
// move between members of a group.
#include "kafka/kafka_source.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

// Starts every assigned partition at offset 0 and remembers what it holds.
class FromStart final : public engine::SourceListener {
 public:
  Status OnPartitionsAssigned(std::vector<engine::PartitionStart>& partitions) override {
    for (engine::PartitionStart& start : partitions) {
      start.offset = 0;
      assigned.insert(start.partition.partition);
    }
    return Status::Ok();
  }
  Status OnPartitionsRevoked(const std::vector<engine::TopicPartition>& partitions) override {
    for (const engine::TopicPartition& partition : partitions) assigned.erase(partition.partition);
    return Status::Ok();
  }
  std::set<int32_t> assigned;
};

std::unique_ptr<kafka::KafkaSource> MakeSource(const std::string& group,
                                               metrics::Metrics& metrics) {
  config::KafkaConfig kafka;
  kafka.properties = {{"bootstrap.servers", KafkaBootstrap(), {}},
                      {"group.id", group, {}},
                      // The range assignor gives each of two members one of two partitions.
                      {"partition.assignment.strategy", "range", {}},
                      {"heartbeat.interval.ms", "500", {}}};
  Result<std::unique_ptr<kafka::KafkaSource>> source = kafka::KafkaSource::Create(kafka, metrics);
  REQUIRE(source.ok());
  return std::move(*source);
}

TEST_CASE("a partition paused before a rebalance is fetched when the rebalance gives it back",
          "[kafka][source]") {
  // The engine forgets its pauses when partitions are revoked (it starts each assignment
  // afresh), but librdkafka keeps a partition paused across a rebalance: a partition this
  // member had paused and is assigned again would never be fetched (a stream–stream join's
  // worker once waited forever for its other input that way).
  const std::string topic = UniqueName("source-pause");
  CreateTopic(topic, 2);
  std::vector<TestRecord> records;
  for (int i = 0; i < 200; ++i) {
    records.push_back({"k" + std::to_string(i), "{}", i % 2, 0, {}});
  }
  Produce(topic, records);

  const std::string group = UniqueName("source-pause");
  metrics::Metrics metrics_one;
  metrics::Metrics metrics_two;
  FromStart listener_one;
  FromStart listener_two;
  std::unique_ptr<kafka::KafkaSource> one = MakeSource(group, metrics_one);
  REQUIRE(one->Subscribe({topic}, &listener_one).ok());
  std::vector<engine::Record> batch;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (listener_one.assigned.size() < 2 || batch.empty()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    REQUIRE(one->Poll(100ms, 10, batch).ok());
  }
  // Both partitions paused at 0, as the engine pauses an input that ran ahead.
  REQUIRE(one->PauseAt({topic, 0}, 0).ok());
  REQUIRE(one->PauseAt({topic, 1}, 0).ok());

  // A second member joins: each gets one partition.
  std::unique_ptr<kafka::KafkaSource> two = MakeSource(group, metrics_two);
  REQUIRE(two->Subscribe({topic}, &listener_two).ok());
  std::set<int32_t> fetched_by_one;
  std::set<int32_t> fetched_by_two;
  while (listener_one.assigned.size() != 1 || listener_two.assigned.size() != 1 ||
         fetched_by_one.empty() || fetched_by_two.empty()) {
    INFO("member one holds " << listener_one.assigned.size() << " partitions, fetched from "
                             << fetched_by_one.size() << "; member two holds "
                             << listener_two.assigned.size() << ", fetched from "
                             << fetched_by_two.size());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    REQUIRE(one->Poll(50ms, 100, batch).ok());
    for (const engine::Record& record : batch) {
      if (listener_one.assigned.size() == 1) fetched_by_one.insert(record.partition);
    }
    REQUIRE(two->Poll(50ms, 100, batch).ok());
    for (const engine::Record& record : batch) fetched_by_two.insert(record.partition);
  }
  CHECK(fetched_by_one == listener_one.assigned);
  CHECK(fetched_by_two == listener_two.assigned);
  REQUIRE(one->Close().ok());
  REQUIRE(two->Close().ok());
}

}  // namespace
}  // namespace eddy::testing
