// Workers (processing.threads) at the engine level: two instances of one topology, each
// owning different partitions (as two workers' do), share one OwnedPartitions and one
// StateDb; either instance's view answers over the union, exactly as one instance owning all
// partitions would. And OwnedPartitions counts owners, so a partition stays served until the
// last owner lets it go.
#include <simdjson.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "engine/topology.h"
#include "engine/view.h"
#include "metrics/metrics.h"
#include "state/state_db.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

constexpr int64_t kBase = 1'795'600'800'000;  // 2026-11-25T10:00:00Z

config::Config LoadConfig(const std::string& state_dir) {
  const std::string yaml =
      "kafka: {bootstrap.servers: 127.0.0.1:9092, group.id: eddy-workers-test}\n"
      "state: {dir: " +
      state_dir +
      "}\n"
      "topologies:\n"
      "  - name: t\n"
      "    source: {topic: events}\n"
      "    steps:\n"
      "      - name: per_minute\n"
      "        window: {type: tumbling, size: 1m, grace: 1s}\n"
      "        aggregates: [{name: n, function: count}]\n"
      "    views:\n"
      "      - {name: counts, from: per_minute}\n";
  const config::LoadResult result = config::LoadString(
      yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  for (const config::Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  return *result.config;
}

// Feeds `count` records of key `key` to `topology` at `partition` (offsets from 0), then
// commits them.
void ProcessAndCommit(Topology& topology, state::StateDb& db, int32_t partition,
                      const std::string& key, int count) {
  REQUIRE(topology.OnAssigned("events", partition).ok());
  REQUIRE(topology.FinishAssignment().ok());
  for (int i = 0; i < count; ++i) {
    Record record;
    record.topic = "events";
    record.partition = partition;
    record.offset = i;
    record.key = key;
    record.value = "{}";
    record.timestamp_ms = kBase + i;
    REQUIRE(topology.Process(record).ok());
  }
  state::WriteBatch batch;
  std::vector<PartitionOffset> progressed;
  REQUIRE(topology.FlushTo(batch, progressed).ok());
  REQUIRE(db.Write(batch).ok());
  topology.OnCommitted();
}

int64_t CountOf(const View& view, const std::string& key) {
  Result<std::string> answer = view.QueryKeyJson(key);
  REQUIRE(answer.ok());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(*answer).get(doc) == simdjson::SUCCESS);
  int64_t total = 0;
  simdjson::dom::array windows;
  REQUIRE(doc["windows"].get_array().get(windows) == simdjson::SUCCESS);
  for (simdjson::dom::element window : windows) {
    int64_t n = 0;
    REQUIRE(window["aggregates"]["n"].get_int64().get(n) == simdjson::SUCCESS);
    total += n;
  }
  return total;
}

TEST_CASE("workers: a topology's instances share owned partitions, views see the union",
          "[engine][workers]") {
  testing::TempDir dir("eddy-workers");
  const config::Config config = LoadConfig(dir.path());
  metrics::Metrics metrics;
  Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path() + "/db", {});
  REQUIRE(db.ok());
  auto owned = std::make_shared<OwnedPartitions>();
  Result<std::unique_ptr<Topology>> first =
      Topology::Create(config.topologies[0], **db, metrics, nullptr, nullptr, owned);
  Result<std::unique_ptr<Topology>> second =
      Topology::Create(config.topologies[0], **db, metrics, nullptr, nullptr, owned);
  REQUIRE(first.ok());
  REQUIRE(second.ok());

  // One key whose records sit in two partitions, each owned by another instance.
  ProcessAndCommit(**first, **db, 0, "k", 3);
  ProcessAndCommit(**second, **db, 1, "k", 4);
  CHECK(owned->Snapshot() == std::vector<int32_t>{0, 1});
  const View& view_of_first = *(*first)->views().front();
  const View& view_of_second = *(*second)->views().front();
  CHECK(CountOf(view_of_first, "k") == 7);
  CHECK(CountOf(view_of_second, "k") == 7);

  // The second instance gives partition 1 up: both views now serve partition 0 only.
  (*second)->OnRevoked("events", 1);
  CHECK(owned->Snapshot() == std::vector<int32_t>{0});
  CHECK(CountOf(view_of_first, "k") == 3);
  CHECK(CountOf(view_of_second, "k") == 3);
}

TEST_CASE("workers: a partition is owned until its last owner lets it go", "[engine][workers]") {
  OwnedPartitions owned;
  owned.Add(2);
  owned.Add(2);  // e.g. two topics of one task assigned to two workers
  owned.Add(5);
  CHECK(owned.Snapshot() == std::vector<int32_t>{2, 5});
  owned.Remove(2);
  CHECK(owned.Snapshot() == std::vector<int32_t>{2, 5});
  owned.Remove(2);
  CHECK(owned.Snapshot() == std::vector<int32_t>{5});
  owned.Remove(7);  // never owned: nothing happens
  owned.Remove(5);
  CHECK(owned.Snapshot().empty());
}

}  // namespace
}  // namespace eddy::engine
