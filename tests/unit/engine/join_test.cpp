// Joins end to end without a broker: several sources in one topology, stream–table joins
// (with the table loaded before the stream), windowed stream–stream joins (inner, left,
// outer) with event-time alignment of a task's inputs, sinks reading joined records — on
// real RocksDB, across restarts, and against a plain reference computation on random input.
//
// Determinism: as in pipeline_test.cpp, the pipeline runs on the test's thread, the source's
// idle handler ends the run when it is drained, and every batch is committed.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "codec/json_record.h"
#include "config/loader.h"
#include "engine/fixture_sink.h"
#include "engine/fixture_source.h"
#include "engine/pipeline.h"
#include "engine/stream_join.h"
#include "engine/topology.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

using eddy::testing::TempDir;

config::Config LoadConfig(const std::string& yaml) {
  const config::LoadResult result = config::LoadString(
      yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  for (const config::Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  return *result.config;
}

PipelineOptions CommitEveryBatch() {
  PipelineOptions options;
  options.commit_interval = std::chrono::milliseconds(0);
  return options;
}

// One eddy instance over one state directory; a new Instance over the same directory is a
// restart.
class Instance {
 public:
  // `adjust` (if set) changes the loaded config before the topologies are built.
  Instance(const std::string& yaml, Sink& sink,
           const std::function<void(config::Config&)>& adjust = {})
      : sink_(sink) {
    spdlog::set_level(spdlog::level::off);
    config_ = LoadConfig(yaml);
    if (adjust) adjust(config_);
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(config_.state.dir, {});
    INFO(db.status().ToString());
    REQUIRE(db.ok());
    db_ = std::move(db).value();
    for (const config::TopologyConfig& topology : config_.topologies) {
      Result<std::unique_ptr<Topology>> created =
          Topology::Create(topology, *db_, metrics_, nullptr, &sink_);
      INFO(created.status().ToString());
      REQUIRE(created.ok());
      topologies_.push_back(std::move(created).value());
    }
  }

  // Runs until the source is drained; returns the pipeline's status. `at_drained` (if set)
  // runs at the drained point, before the pipeline stops (partitions still owned).
  Status Run(FixtureSource& source, const std::function<void()>& at_drained = {},
             PipelineOptions options = CommitEveryBatch()) {
    Pipeline pipeline(source, *db_, topologies_, metrics_, options, &sink_);
    source.set_idle_handler([&] {
      if (at_drained) at_drained();
      pipeline.RequestStop();
    });
    Status status = pipeline.Run();
    source.set_idle_handler(nullptr);
    return status;
  }

  // Runs until the source is drained with no phase left; each drained point runs the next
  // phase (which appends records) after everything before it was committed.
  Status RunPhases(FixtureSource& source, std::vector<std::function<void(FixtureSource&)>> phases) {
    Pipeline pipeline(source, *db_, topologies_, metrics_, CommitEveryBatch(), &sink_);
    size_t next = 0;
    source.set_idle_handler([&] {
      if (next < phases.size()) {
        phases[next++](source);
        return;
      }
      pipeline.RequestStop();
    });
    Status status = pipeline.Run();
    source.set_idle_handler(nullptr);
    return status;
  }

  std::string Query(const std::string& view, const std::string& key) const {
    for (const auto& topology : topologies_) {
      for (const auto& candidate : topology->views()) {
        if (candidate->name() != view) continue;
        Result<std::string> json = candidate->QueryKeyJson(key);
        REQUIRE(json.ok());
        return *json;
      }
    }
    FAIL("no view " << view);
    return "";
  }

  double Failed(const std::string& topology, const std::string& reason) {
    return metrics_.records_failed.Add({{"topology", topology}, {"reason", reason}}).Value();
  }
  double Late(const std::string& topology, const std::string& step) {
    return metrics_.late_records_dropped.Add({{"topology", topology}, {"step", step}}).Value();
  }

 private:
  Sink& sink_;
  config::Config config_;
  metrics::Metrics metrics_;
  std::unique_ptr<state::StateDb> db_;
  std::vector<std::unique_ptr<Topology>> topologies_;
};

// The values a sink received for one topic, as "key=value" lines.
std::vector<std::string> Sent(const FixtureSink& sink, const std::string& topic) {
  std::vector<std::string> out;
  for (const SinkRecord& record : sink.records()) {
    if (record.topic == topic) out.push_back(record.key.value_or("<none>") + "=" + record.value);
  }
  return out;
}

// ------------------------------------------------------------------------------ JoinedValue

TEST_CASE("JoinedValue adds the other side as one member of the left object", "[engine][join]") {
  CHECK(JoinedValue(R"({"a":1})", "c", R"({"n":"x"})") == R"({"a":1,"c":{"n":"x"}})");
  CHECK(JoinedValue(R"({"a":1})", "c", std::nullopt) == R"({"a":1,"c":null})");
  CHECK(JoinedValue("{}", "c", "3") == R"({"c":3})");
  CHECK(JoinedValue(" { } ", "c", "3") == R"( {"c":3})");
  CHECK(JoinedValue(" {\"a\" : [1, {}] }\n", "c", "true") == R"( {"a" : [1, {}],"c":true})");
  CHECK(JoinedValue("", "c", R"("r")") == R"({"c":"r"})");
}

// ------------------------------------------------------------------- stream–table joins

std::string EnrichmentYaml(const std::string& dir, const std::string& type) {
  return "kafka: {bootstrap.servers: 127.0.0.1:9092, group.id: g}\n"
         "state: {dir: " +
         dir +
         "}\n"
         "topologies:\n"
         "  - name: shop\n"
         "    sources:\n"
         "      - {name: orders, topic: orders, key: {field: cid}}\n"
         "      - {name: customers, topic: customers}\n"
         "    steps:\n"
         "      - {name: rows, from: customers, table: {delete_when: 'deleted == true'}}\n"
         "      - name: enriched\n"
         "        from: orders\n"
         "        join: {table: rows, type: " +
         type +
         ", as: customer}\n"
         "      - {name: by_tier, rekey: 'coalesce(customer.tier, \"none\")'}\n"
         "      - name: per_tier\n"
         "        window: {type: tumbling, size: 1h}\n"
         "        aggregates: [{name: orders, function: count}]\n"
         "    views:\n"
         "      - {name: tiers, from: per_tier}\n"
         "      - {name: customer_rows, from: rows}\n"
         "    sinks:\n"
         "      - {name: out, from: enriched, topic: enriched}\n";
}

TEST_CASE("a stream–table join sees the table loaded to its end before the first record",
          "[engine][join]") {
  TempDir dir;
  FixtureSink sink;
  FixtureSource source;
  // The orders topic sorts first, so round-robin polling serves orders before customers;
  // without loading the table first, o1 and o2 would meet an empty table.
  source.Append("orders", 0, std::nullopt, R"({"id":"o1","cid":"c1"})");
  source.Append("orders", 0, std::nullopt, R"({"id":"o2","cid":"c2"})");
  source.Append("orders", 0, std::nullopt, R"({"id":"o3","cid":"c3"})");
  source.Append("customers", 0, "c1", R"({"tier":"silver"})");
  source.Append("customers", 1, "c2", R"({"tier":"gold"})");
  source.Append("customers", 0, "c1", R"({"tier":"gold"})");
  source.Append("customers", 1, "c3", R"({"tier":"gold"})");
  FixtureRecord tombstone;
  tombstone.topic = "customers";
  tombstone.partition = 1;
  tombstone.key = "c3";
  tombstone.tombstone = true;
  source.Append(tombstone);

  SECTION("left join: unmatched orders go on with null") {
    Instance eddy(EnrichmentYaml(dir.path(), "left"), sink);
    std::string gold;
    std::string none;
    REQUIRE(eddy.Run(source,
                     [&] {
                       gold = eddy.Query("tiers", "gold");
                       none = eddy.Query("tiers", "none");
                     })
                .ok());
    CHECK(Sent(sink, "enriched") ==
          std::vector<std::string>{R"(c1={"id":"o1","cid":"c1","customer":{"tier":"gold"}})",
                                   R"(c2={"id":"o2","cid":"c2","customer":{"tier":"gold"}})",
                                   R"(c3={"id":"o3","cid":"c3","customer":null})"});
    CHECK_THAT(gold, Catch::Contains(R"("aggregates":{"orders":2})"));
    CHECK_THAT(none, Catch::Contains(R"("aggregates":{"orders":1})"));
  }
  SECTION("inner join: unmatched orders are dropped") {
    Instance eddy(EnrichmentYaml(dir.path(), "inner"), sink);
    std::string gold;
    std::string none;
    REQUIRE(eddy.Run(source,
                     [&] {
                       gold = eddy.Query("tiers", "gold");
                       none = eddy.Query("tiers", "none");
                     })
                .ok());
    CHECK(Sent(sink, "enriched") ==
          std::vector<std::string>{R"(c1={"id":"o1","cid":"c1","customer":{"tier":"gold"}})",
                                   R"(c2={"id":"o2","cid":"c2","customer":{"tier":"gold"}})"});
    CHECK_THAT(gold, Catch::Contains(R"("aggregates":{"orders":2})"));
    CHECK(none == R"({"view":"tiers","key":"none","windows":[]})");
  }
}

TEST_CASE("stream–table join: results, later table changes, restart, and bad records",
          "[engine][join]") {
  TempDir dir;
  FixtureSink sink;
  const std::string yaml =
      "kafka: {bootstrap.servers: 127.0.0.1:9092, group.id: g}\n"
      "state: {dir: " +
      dir.path() +
      "}\n"
      "topologies:\n"
      "  - name: shop\n"
      "    sources:\n"
      "      - {name: orders, topic: orders, key: {field: cid}}\n"
      "      - {name: customers, topic: customers}\n"
      "    steps:\n"
      "      - {name: rows, from: customers, table: {}}\n"
      "      - {name: enriched, from: orders, join: {table: rows, as: customer}}\n"
      "    views:\n"
      "      - {name: customer_rows, from: rows}\n"
      "    sinks:\n"
      "      - {name: out, from: enriched, topic: enriched}\n";
  {
    Instance eddy(yaml, sink);
    FixtureSource source;
    source.Append("orders", 0, std::nullopt, R"({"id":"o1","cid":"c1"})");
    source.Append("orders", 0, std::nullopt, R"({"id":"o2","cid":"c9"})");  // no such customer
    source.Append("orders", 0, std::nullopt, R"({"id":"o3","cid":"c1","customer":1})");  // clash
    source.Append("orders", 0, std::nullopt, R"(["not","an","object"])");
    source.Append("customers", 0, "c1", R"({"tier":"silver"})");
    REQUIRE(eddy.Run(source).ok());
    CHECK(Sent(sink, "enriched") ==
          std::vector<std::string>{R"(c1={"id":"o1","cid":"c1","customer":{"tier":"silver"}})"});
    CHECK(eddy.Failed("shop", "invalid_field") == 1);  // o3: the record already has `customer`
    CHECK(eddy.Failed("shop", "invalid_key") == 1);    // an array has no cid
  }
  // Restart: the table comes back from RocksDB; its later changes reach later orders.
  Instance eddy(yaml, sink);
  FixtureSource source;
  source.Append("orders", 0, std::nullopt, R"({"id":"o1","cid":"c1"})");  // replayed: skipped
  source.Append("orders", 0, std::nullopt, R"({"id":"o2","cid":"c9"})");
  source.Append("orders", 0, std::nullopt, R"({"id":"o3","cid":"c1","customer":1})");
  source.Append("orders", 0, std::nullopt, R"(["not","an","object"])");
  source.Append("customers", 0, "c1", R"({"tier":"silver"})");
  source.Append("orders", 0, std::nullopt, R"({"id":"o4","cid":"c1"})");
  source.Append("customers", 0, "c1", R"({"tier":"gold"})");
  source.Append("customers", 0, "c9", R"({"tier":"new"})");
  std::string c9;
  REQUIRE(eddy.Run(source, [&] { c9 = eddy.Query("customer_rows", "c9"); }).ok());
  // o4 was joined after the table was loaded (c1 gold: its load reached offset 3).
  CHECK(Sent(sink, "enriched") ==
        std::vector<std::string>{R"(c1={"id":"o1","cid":"c1","customer":{"tier":"silver"}})",
                                 R"(c1={"id":"o4","cid":"c1","customer":{"tier":"gold"}})"});
  CHECK(c9 == R"({"view":"customer_rows","key":"c9","value":{"tier":"new"}})");
}

TEST_CASE("a joined table's records do not move stream time: newer rows make no order late",
          "[engine][join]") {
  TempDir dir;
  FixtureSink sink;
  const std::string yaml =
      "kafka: {bootstrap.servers: 127.0.0.1:9092, group.id: g}\n"
      "state: {dir: " +
      dir.path() +
      "}\n"
      "topologies:\n"
      "  - name: shop\n"
      "    sources:\n"
      "      - {name: orders, topic: orders, key: {field: cid}, timestamp: {field: t}}\n"
      "      - {name: customers, topic: customers}\n"
      "    steps:\n"
      "      - {name: rows, from: customers, table: {}}\n"
      "      - {name: enriched, from: orders, join: {table: rows, as: customer}}\n"
      "      - name: per_hour\n"
      "        window: {type: tumbling, size: 1h}\n"
      "        aggregates: [{name: orders, function: count}]\n"
      "    views:\n"
      "      - {name: orders_per_hour, from: per_hour}\n";
  Instance eddy(yaml, sink);
  FixtureSource source;
  constexpr int64_t kYesterday = 1'795'478'400'000;  // 2026-11-24T00:00:00Z
  constexpr int64_t kNow = 1'795'600'800'000;        // a day later
  // The row is stamped "now" (its Kafka timestamp is its event time); the orders are a day
  // older. Were the table's records to move stream time, every order would be late.
  source.Append("customers", 0, "c1", R"({"tier":"gold"})", kNow);
  for (int i = 0; i < 3; ++i) {
    source.Append("orders", 0, std::nullopt,
                  R"({"cid":"c1","t":)" + std::to_string(kYesterday + i * 60'000) + "}");
  }
  std::string view;
  REQUIRE(eddy.Run(source, [&] { view = eddy.Query("orders_per_hour", "c1"); }).ok());
  CHECK_THAT(view, Catch::Contains(R"("aggregates":{"orders":3})"));
  CHECK(eddy.Late("shop", "per_hour") == 0);
}

// ------------------------------------------------------------------ stream–stream joins

std::string StreamJoinYaml(const std::string& dir, const std::string& type, int64_t within_ms,
                           int64_t grace_ms) {
  return "kafka: {bootstrap.servers: 127.0.0.1:9092, group.id: g}\n"
         "state: {dir: " +
         dir +
         "}\n"
         "topologies:\n"
         "  - name: ads\n"
         "    sources:\n"
         "      - {name: views, topic: views, timestamp: {field: t}}\n"
         "      - {name: clicks, topic: clicks, timestamp: {field: t}}\n"
         "    steps:\n"
         "      - name: joined\n"
         "        from: views\n"
         "        join: {stream: clicks, type: " +
         type + ", within: " + std::to_string(within_ms) +
         "ms, grace: " + std::to_string(grace_ms) +
         "ms, as: click}\n"
         "    sinks:\n"
         "      - {name: out, from: joined, topic: joined}\n";
}

std::string Value(const std::string& id, int64_t t) {
  return R"({"id":")" + id + R"(","t":)" + std::to_string(t) + "}";
}

TEST_CASE("stream–stream join: matches within the bound, late records, unmatched results",
          "[engine][join]") {
  TempDir dir;
  FixtureSink sink;
  FixtureSource source;
  source.Append("views", 0, "k", Value("v1", 1000));
  source.Append("views", 0, "k", Value("v2", 5000));
  source.Append("clicks", 0, "k", Value("c1", 1500));  // matches v1 (|Δ| 500), v2? |Δ| 3500 > 2000
  source.Append("clicks", 0, "other", Value("c2", 5100));  // another key: no match
  source.Append("views", 0, "k", Value("v3", 20000));      // moves stream time far ahead
  source.Append("clicks", 0, "k", Value("c3", 100));       // late: 100 < 20000 - 1000

  SECTION("inner") {
    Instance eddy(StreamJoinYaml(dir.path(), "inner", 2000, 1000), sink);
    REQUIRE(eddy.Run(source).ok());
    CHECK(Sent(sink, "joined") ==
          std::vector<std::string>{R"(k={"id":"v1","t":1000,"click":{"id":"c1","t":1500}})"});
    CHECK(eddy.Late("ads", "joined") == 1);
  }
  SECTION("left: v2 comes out unmatched once t + within + grace < stream time") {
    Instance eddy(StreamJoinYaml(dir.path(), "left", 2000, 1000), sink);
    REQUIRE(eddy.Run(source).ok());
    CHECK(Sent(sink, "joined") ==
          std::vector<std::string>{R"(k={"id":"v1","t":1000,"click":{"id":"c1","t":1500}})",
                                   R"(k={"id":"v2","t":5000,"click":null})"});
  }
  SECTION("outer: unmatched clicks come out too") {
    Instance eddy(StreamJoinYaml(dir.path(), "outer", 2000, 1000), sink);
    REQUIRE(eddy.Run(source).ok());
    const std::vector<std::string> sent = Sent(sink, "joined");
    const std::set<std::string> got(sent.begin(), sent.end());
    CHECK(got == std::set<std::string>{R"(k={"id":"v1","t":1000,"click":{"id":"c1","t":1500}})",
                                       R"(k={"id":"v2","t":5000,"click":null})",
                                       R"(other={"click":{"id":"c2","t":5100}})"});
  }
}

TEST_CASE("a join row created after a restart, committed, then extended keeps both records",
          "[engine][join]") {
  // After a restart, a record newer than the committed stream time starts its row without a
  // read; once a commit stores that row, a record with the same key and time must extend it.
  TempDir dir;
  FixtureSink sink;
  auto first_run = [](FixtureSource& source) {
    source.DeclarePartitions("clicks", 1);
    source.Append("views", 0, "a", Value("v0", 1000));
  };
  {
    FixtureSource source;
    first_run(source);
    Instance eddy(StreamJoinYaml(dir.path(), "inner", 2000, 1000), sink);
    REQUIRE(eddy.Run(source).ok());
  }
  Instance eddy(StreamJoinYaml(dir.path(), "inner", 2000, 1000), sink);
  FixtureSource source;
  first_run(source);
  source.Append("views", 0, "k", Value("v1", 5000));
  REQUIRE(eddy.RunPhases(
                  source,
                  {[](FixtureSource& more) { more.Append("views", 0, "k", Value("v2", 5000)); },
                   [](FixtureSource& more) { more.Append("clicks", 0, "k", Value("c1", 5500)); }})
              .ok());
  CHECK(Sent(sink, "joined") ==
        std::vector<std::string>{R"(k={"id":"v1","t":5000,"click":{"id":"c1","t":5500}})",
                                 R"(k={"id":"v2","t":5000,"click":{"id":"c1","t":5500}})"});
}

TEST_CASE("a buffered row stays matchable up to the edge of the join window", "[engine][join]") {
  // within 1000 ms, grace 500 ms. Once stream time is 2500, a record at 2000 is the latest
  // that is not late, and it still matches a row at 1000 (|2000 - 1000| = within): the row
  // must outlive the commit that moved stream time to 2500, in memory and in RocksDB.
  const int64_t cache_bytes = GENERATE(int64_t{256} << 20, int64_t{0});
  TempDir dir;
  FixtureSink sink;
  Instance eddy(StreamJoinYaml(dir.path(), "inner", 1000, 500), sink, [&](config::Config& config) {
    for (config::StepConfig& step : config.topologies[0].steps) {
      step.join.cache_bytes = cache_bytes;
    }
  });
  FixtureSource source;
  source.DeclarePartitions("clicks", 1);
  source.Append("views", 0, "k", Value("v1", 1000));
  source.Append("views", 0, "other", Value("v2", 2500));
  REQUIRE(eddy.RunPhases(source, {[](FixtureSource& more) {
                           more.Append("clicks", 0, "k", Value("c1", 2000));
                           more.Append("clicks", 0, "k", Value("c2", 1900));  // late
                         }})
              .ok());
  CHECK(Sent(sink, "joined") ==
        std::vector<std::string>{R"(k={"id":"v1","t":1000,"click":{"id":"c1","t":2000}})"});
  CHECK(eddy.Late("ads", "joined") == 1);
}

TEST_CASE("an inner join's state is not taken over by a left or outer join", "[engine][join]") {
  // An inner join does not record which buffered records matched; a left join reading its
  // rows would emit every one of them as unmatched.
  TempDir dir;
  FixtureSink sink;
  {
    FixtureSource source;
    source.Append("views", 0, "k", Value("v1", 1000));
    source.Append("clicks", 0, "k", Value("c1", 1500));
    Instance eddy(StreamJoinYaml(dir.path(), "inner", 2000, 1000), sink);
    REQUIRE(eddy.Run(source).ok());
  }
  const config::Config left = LoadConfig(StreamJoinYaml(dir.path(), "left", 2000, 1000));
  metrics::Metrics metrics;
  Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
  REQUIRE(db.ok());
  const Status refused = Topology::Create(left.topologies[0], **db, metrics).status();
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.message(),
             Catch::Contains("stored: stream_join/v1;inner; now: stream_join/v1"));
  const config::Config inner = LoadConfig(StreamJoinYaml(dir.path(), "inner", 2000, 1000));
  const Status accepted =
      Topology::Create(inner.topologies[0], **db, metrics, nullptr, &sink).status();
  INFO(accepted.ToString());
  CHECK(accepted.ok());
}

TEST_CASE("stream–stream join needs co-partitioned topics", "[engine][join]") {
  TempDir dir;
  FixtureSink sink;
  Instance eddy(StreamJoinYaml(dir.path(), "inner", 1000, 0), sink);
  FixtureSource source;
  source.DeclarePartitions("views", 2);
  source.DeclarePartitions("clicks", 3);
  const Status status = eddy.Run(source);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(status.message(), Catch::Contains("views has 2 partitions and clicks has 3"));
}

// A plain model of the stream–stream join semantics (stream_join.h), fed records in the
// order eddy processes them. Results are (key, left id or "", right id or "").
using JoinResult = std::tuple<std::string, std::string, std::string>;

struct ModelRecord {
  bool left = true;
  int32_t partition = 0;
  std::string key;
  std::string id;
  int64_t t = 0;
};

class JoinModel {
 public:
  JoinModel(config::JoinConfig::Type type, int64_t within, int64_t grace)
      : type_(type), within_(within), grace_(grace) {}

  void Process(const ModelRecord& record, std::multiset<JoinResult>& out) {
    Task& task = tasks_[record.partition];
    if (record.t > task.stream_time) {
      task.stream_time = record.t;
      EmitUnmatched(task, out);
    }
    if (record.t < task.stream_time - grace_) return;  // late
    bool matched = false;
    for (Buffered& other : task.buffered) {
      if (other.record.left == record.left || other.record.key != record.key) continue;
      if (std::llabs(other.record.t - record.t) > within_) continue;
      matched = true;
      other.matched = true;
      const ModelRecord& l = record.left ? record : other.record;
      const ModelRecord& r = record.left ? other.record : record;
      out.insert({record.key, l.id, r.id});
    }
    task.buffered.push_back({record, matched, false});
  }

 private:
  struct Buffered {
    ModelRecord record;
    bool matched = false;
    bool emitted = false;
  };
  struct Task {
    int64_t stream_time = INT64_MIN;
    std::vector<Buffered> buffered;
  };
  void EmitUnmatched(Task& task, std::multiset<JoinResult>& out) const {
    for (Buffered& b : task.buffered) {
      const bool emits = type_ == config::JoinConfig::Type::kOuter ||
                         (type_ == config::JoinConfig::Type::kLeft && b.record.left);
      if (!emits || b.matched || b.emitted) continue;
      if (b.record.t + within_ + grace_ >= task.stream_time) continue;
      b.emitted = true;
      out.insert(
          {b.record.key, b.record.left ? b.record.id : "", b.record.left ? "" : b.record.id});
    }
  }

  const config::JoinConfig::Type type_;
  const int64_t within_;
  const int64_t grace_;
  std::map<int32_t, Task> tasks_;
};

JoinResult ParseResult(const SinkRecord& record) {
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(record.value).ok());
  Result<std::string> left = decoder.String({"id"});
  Result<std::string> right = decoder.String({"click", "id"});
  return {record.key.value_or(""), left.ok() ? *left : "", right.ok() ? *right : ""};
}

TEST_CASE("random streams through a stream–stream join match a reference model",
          "[engine][join][property]") {
  const uint32_t seed = GENERATE(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u);
  // The join's memory of buffered rows: the default (every partition held whole), none
  // (every lookup reads RocksDB), and a budget that the rows outgrow mid-run (partitions
  // go back to RocksDB until the next restart loads them again).
  const int64_t cache_bytes = GENERATE(int64_t{256} << 20, int64_t{0}, int64_t{6000});
  std::mt19937 rng(seed);
  const auto type = std::vector<config::JoinConfig::Type>{
      config::JoinConfig::Type::kInner, config::JoinConfig::Type::kLeft,
      config::JoinConfig::Type::kOuter}[seed % 3];
  const char* type_name[] = {"inner", "left", "outer"};
  const int64_t within = 500 + static_cast<int64_t>(rng() % 2000);
  const int64_t grace = static_cast<int64_t>(rng() % 1500);
  INFO("seed " << seed << ", type " << type_name[seed % 3] << ", within " << within << ", grace "
               << grace << ", cache " << cache_bytes << " bytes");
  constexpr int32_t kPartitions = 3;
  constexpr int kPhases = 3;
  constexpr int kRecordsPerPhase = 400;

  TempDir dir;
  FixtureSink sink;
  JoinModel model(type, within, grace);
  std::multiset<JoinResult> expected;
  int next_id = 0;
  int64_t clock = 1'000'000;
  // Every record produced so far, per (partition, left topic?), in offset order.
  std::map<std::pair<int32_t, bool>, std::vector<ModelRecord>> all;
  for (int phase = 0; phase < kPhases; ++phase) {
    // Each phase is one fresh process (a restart) over the same state directory; its source
    // holds every record produced so far, and eddy resumes after those it has processed.
    std::map<std::pair<int32_t, bool>, std::vector<ModelRecord>> logs;  // this phase's
    for (int i = 0; i < kRecordsPerPhase; ++i) {
      ModelRecord record;
      record.left = rng() % 2 == 0;
      record.partition = static_cast<int32_t>(rng() % kPartitions);
      record.key = "k" + std::to_string(rng() % 6);
      record.id = (record.left ? "L" : "R") + std::to_string(next_id++);
      clock += static_cast<int64_t>(rng() % 60);
      // Out of order by up to 3 s, sometimes much more (late).
      record.t = clock - static_cast<int64_t>(rng() % 3000) - (rng() % 25 == 0 ? 20'000 : 0);
      if (rng() % 10 == 0 && !logs[{record.partition, record.left}].empty()) {
        record.t = logs[{record.partition, record.left}].back().t;  // same time as the last
      }
      logs[{record.partition, record.left}].push_back(record);
    }
    for (const auto& [where, records] : logs) {
      all[where].insert(all[where].end(), records.begin(), records.end());
    }
    FixtureSource source;
    for (const auto& [where, records] : all) {
      for (const ModelRecord& record : records) {
        source.Append(record.left ? "views" : "clicks", record.partition, record.key,
                      Value(record.id, record.t));
      }
    }
    // eddy's order: per task, the two logs merged by event time (ties: the left topic).
    for (int32_t p = 0; p < kPartitions; ++p) {
      const std::vector<ModelRecord>& l = logs[{p, true}];
      const std::vector<ModelRecord>& r = logs[{p, false}];
      size_t i = 0;
      size_t j = 0;
      while (i < l.size() || j < r.size()) {
        const bool take_left = j == r.size() || (i < l.size() && l[i].t <= r[j].t);
        model.Process(take_left ? l[i++] : r[j++], expected);
      }
    }
    Instance eddy(StreamJoinYaml(dir.path(), type_name[seed % 3], within, grace), sink,
                  [&](config::Config& config) {
                    for (config::StepConfig& step : config.topologies[0].steps) {
                      step.join.cache_bytes = cache_bytes;
                    }
                  });
    // Small batches, each committed: rows leave the join's memory at commits.
    PipelineOptions options = CommitEveryBatch();
    options.max_batch_records = 16;
    REQUIRE(eddy.Run(source, {}, options).ok());
  }
  std::multiset<JoinResult> got;
  for (const SinkRecord& record : sink.records()) got.insert(ParseResult(record));
  std::vector<JoinResult> missing;
  std::vector<JoinResult> extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(),
                      std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  auto show = [](const std::vector<JoinResult>& results) {
    std::string out;
    for (size_t i = 0; i < results.size() && i < 10; ++i) {
      out += "(" + std::get<0>(results[i]) + "," + std::get<1>(results[i]) + "," +
             std::get<2>(results[i]) + ") ";
    }
    return out + (results.size() > 10 ? "..." : "");
  };
  INFO("missing " << missing.size() << ": " << show(missing));
  INFO("extra " << extra.size() << ": " << show(extra));
  CHECK(missing.empty());
  CHECK(extra.empty());
  CHECK(!expected.empty());
}

}  // namespace
}  // namespace eddy::engine
