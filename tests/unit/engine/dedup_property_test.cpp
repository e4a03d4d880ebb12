// Property test of the dedup step (engine/dedup.h) through the whole engine: random ids with
// many duplicates, out-of-order event times and several partitions, run in three stretches
// over one RocksDB directory (a clean restart, then a crash that loses uncommitted work, then
// a restart with a rebalance), compared against a plain reference computation of the dedup
// semantics written out below.
//
// Determinism: like pipeline_test.cpp, the pipeline runs on the test's own thread and the
// FixtureSource's idle handler drives the phases, so every run is bounded by its records.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codec/json_record.h"
#include "config/loader.h"
#include "engine/fixture_source.h"
#include "engine/pipeline.h"
#include "engine/topology.h"
#include "state/key_encoding.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

using eddy::testing::TempDir;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kTen = 1'795'600'800'000;  // 2026-11-25T10:00:00Z
constexpr const char* kTopic = "events";
constexpr const char* kTopology = "events";
constexpr const char* kIdHeader = "msg-id";

enum class IdSource { kField, kKafkaKey, kHeader };

// The dedup step reads its id from `source`; a one-minute window counts and sums what passes.
// The grace is a day, so no record is ever late and every passed record is in a view.
std::string Yaml(const std::string& state_dir, IdSource source, int64_t ttl_s) {
  const std::string id = source == IdSource::kField      ? "field: id"
                         : source == IdSource::kKafkaKey ? "kafka_key: true"
                                                         : std::string("header: ") + kIdHeader;
  return "kafka:\n"
         "  bootstrap.servers: 127.0.0.1:9092\n"
         "  group.id: eddy-dedup-property-test\n"
         "state:\n"
         "  dir: " +
         state_dir +
         "\n"
         "topologies:\n"
         "  - name: events\n"
         "    source:\n"
         "      topic: events\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: once\n"
         "        dedup: {" +
         id + ", ttl: " + std::to_string(ttl_s) +
         "s}\n"
         "      - name: per_minute\n"
         "        window: {type: tumbling, size: 1m, grace: 1d}\n"
         "        aggregates: [{name: n, function: count}, {name: amount, function: sum, field: "
         "amount}]\n"
         "    views:\n"
         "      - {name: per_minute, from: per_minute}\n";
}

config::Config LoadConfig(const std::string& yaml) {
  const config::LoadResult result = config::LoadString(
      yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  for (const config::Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  return *result.config;
}

// One eddy instance over one state directory; Restart() rebuilds everything but the
// directory, as a process restart does.
class Instance {
 public:
  Instance(std::string dir, const std::string& yaml) : dir_(std::move(dir)) {
    spdlog::set_level(spdlog::level::off);
    config_ = LoadConfig(yaml);
    Open();
  }
  void Restart() {
    topologies_.clear();
    db_.reset();
    metrics_.reset();
    Open();
  }

  // Runs until the source is drained with no phase left; each drained point runs the next
  // phase. At the last one, `views` gets the view of each of `keys` (a view answers only for
  // owned partitions, so before the source is closed). `crash_at_end`: the last drained
  // point fails the poll instead of stopping, so nothing after the last commit reaches
  // RocksDB.
  Status Run(FixtureSource& source, std::vector<std::function<void(FixtureSource&)>> phases,
             PipelineOptions options, bool crash_at_end, const std::vector<std::string>& keys = {},
             std::map<std::string, std::string>* views = nullptr) {
    Pipeline pipeline(source, *db_, topologies_, *metrics_, options);
    size_t next_phase = 0;
    source.set_idle_handler([&] {
      if (next_phase < phases.size()) {
        phases[next_phase++](source);
        return;
      }
      for (const std::string& key : keys) (*views)[key] = Query(key);
      if (crash_at_end) {
        source.FailNextPoll(Status::Unavailable("simulated crash"));
      } else {
        pipeline.RequestStop();
      }
    });
    const Status status = pipeline.Run();
    source.set_idle_handler(nullptr);
    return status;
  }

  std::string Query(const std::string& key) const {
    Result<std::string> json = topologies_.at(0)->views().at(0)->QueryKeyJson(key);
    REQUIRE(json.ok());
    return *json;
  }
  double Duplicates() {
    return metrics_->duplicates_dropped.Add({{"topology", kTopology}, {"step", "once"}}).Value();
  }
  double Failed(const std::string& reason) {
    return metrics_->records_failed.Add({{"topology", kTopology}, {"reason", reason}}).Value();
  }
  // The next offset stored for `partition`, 0 when nothing was committed for it.
  int64_t StoredOffset(int32_t partition) const {
    Result<std::optional<std::string>> value =
        db_->Get(state::EncodeProgressKey(kTopology, kTopic, partition));
    REQUIRE(value.ok());
    if (!value->has_value()) return 0;
    std::optional<state::PartitionProgress> progress = state::DecodeProgress(**value);
    REQUIRE(progress.has_value());
    return progress->next_offset;
  }

 private:
  void Open() {
    metrics_ = std::make_unique<metrics::Metrics>();
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir_, {});
    INFO(db.status().ToString());
    REQUIRE(db.ok());
    db_ = std::move(db).value();
    for (const config::TopologyConfig& topology : config_.topologies) {
      Result<std::unique_ptr<Topology>> created =
          Topology::Create(topology, *db_, *metrics_, nullptr, nullptr);
      INFO(created.status().ToString());
      REQUIRE(created.ok());
      topologies_.push_back(std::move(created).value());
    }
  }

  const std::string dir_;
  config::Config config_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<state::StateDb> db_;
  std::vector<std::unique_ptr<Topology>> topologies_;
};

struct RandomEvent {
  int32_t partition = 0;
  int64_t offset = 0;  // within its partition: events are appended in this order
  std::string user;
  std::optional<std::string> id;  // nullopt: the record carries no id
  int64_t ts_ms = 0;
  int64_t amount = 0;  // unique per event, so a sum tells which events passed
};

enum class Fate { kPassed, kDuplicate, kNoId };

// The semantics, written out plainly (docs/configuration.md, "dedup"): per partition, in
// offset order, stream time is the max event time seen so far, this record included (a
// record without an id moves it too: it fails in the dedup step, after key and timestamp
// were read). An id is remembered from the event time of the record that registered it
// until that time + ttl <= stream time; a record whose id is remembered is a duplicate,
// otherwise it passes and (re)registers its id at its own event time.
std::vector<Fate> ReferenceFates(const std::vector<RandomEvent>& events, int64_t ttl_ms) {
  std::map<int32_t, int64_t> stream_time;
  std::map<int32_t, std::map<std::string, int64_t>> registered;
  std::vector<Fate> fates;
  for (const RandomEvent& e : events) {
    auto [time, inserted] = stream_time.try_emplace(e.partition, e.ts_ms);
    if (!inserted) time->second = std::max(time->second, e.ts_ms);
    if (!e.id) {
      fates.push_back(Fate::kNoId);
      continue;
    }
    auto& ids = registered[e.partition];
    auto seen = ids.find(*e.id);
    if (seen != ids.end() && seen->second + ttl_ms > time->second) {
      fates.push_back(Fate::kDuplicate);
      continue;
    }
    ids[*e.id] = e.ts_ms;
    fates.push_back(Fate::kPassed);
  }
  return fates;
}

struct Window {
  int64_t n = 0;
  int64_t amount = 0;
};

// The JSON the per_minute view serves for `key` (no window is ever closed: grace is a day).
std::string ViewJson(const std::string& key, const std::map<int64_t, Window>& windows) {
  std::string out = R"({"view":"per_minute","key":")" + key + R"(","windows":[)";
  bool first = true;
  for (const auto& [start, w] : windows) {
    if (!first) out += ',';
    first = false;
    out += R"({"start":")" + codec::FormatRfc3339Millis(start) + R"(","end":")" +
           codec::FormatRfc3339Millis(start + kMinute) + R"(","start_ms":)" +
           std::to_string(start) + R"(,"end_ms":)" + std::to_string(start + kMinute) +
           R"(,"closed":false,"aggregates":{"n":)" + std::to_string(w.n) + R"(,"amount":)" +
           std::to_string(w.amount) + "}}";
  }
  return out + "]}";
}

void Append(FixtureSource& source, const RandomEvent& e, IdSource id_source) {
  FixtureRecord record;
  record.topic = kTopic;
  record.partition = e.partition;
  record.timestamp_ms = e.ts_ms;
  record.value = R"({"user":")" + e.user + R"(","ts":)" + std::to_string(e.ts_ms) +
                 R"(,"amount":)" + std::to_string(e.amount);
  if (id_source == IdSource::kField && e.id) record.value += R"(,"id":")" + *e.id + '"';
  record.value += '}';
  if (id_source == IdSource::kKafkaKey) record.key = e.id;
  if (id_source == IdSource::kHeader && e.id) record.headers.emplace_back(kIdHeader, *e.id);
  CHECK(source.Append(std::move(record)) == e.offset);
}

}  // namespace

TEST_CASE("dedup: random duplicates across partitions, restarts and a crash match a reference",
          "[engine][pipeline][dedup]") {
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  size_t seeds_that_lost_work = 0;  // the crash of run 2 left records for run 3 to redo
  for (uint32_t seed = 1; seed <= 9; ++seed) {
    INFO("seed " << seed);
    std::mt19937 random(seed);
    auto uniform = [&](int64_t low, int64_t high) {
      return std::uniform_int_distribution<int64_t>(low, high)(random);
    };
    const IdSource id_source = static_cast<IdSource>(seed % 3);
    const int32_t partitions = static_cast<int32_t>(uniform(1, 4));
    const int64_t ttl_s = std::vector<int64_t>{5, 10, 30}[static_cast<size_t>(uniform(0, 2))];
    const int64_t ttl_ms = ttl_s * 1'000;
    const int64_t id_pool = uniform(5, 40);  // few ids: many duplicates; many: mostly passes

    std::vector<int64_t> clock(static_cast<size_t>(partitions), kTen);
    std::vector<int64_t> next_offset(static_cast<size_t>(partitions), 0);
    std::vector<RandomEvent> events;
    for (int i = 0; i < 400; ++i) {
      RandomEvent e;
      e.partition = static_cast<int32_t>(uniform(0, partitions - 1));
      e.offset = next_offset[static_cast<size_t>(e.partition)]++;
      int64_t& now = clock[static_cast<size_t>(e.partition)];
      now += uniform(0, 2'000);
      // Mostly a little out of order; sometimes far behind, beyond the ttl.
      e.ts_ms = now - (uniform(0, 4) == 0 ? uniform(0, 3 * ttl_ms) : uniform(0, 3'000));
      // Whole seconds, like the ttl, so first-seen + ttl often equals the stream time exactly.
      e.ts_ms -= e.ts_ms % 1'000;
      e.user = users[static_cast<size_t>(uniform(0, static_cast<int64_t>(users.size()) - 1))];
      if (uniform(0, 14) != 0) e.id = "id" + std::to_string(uniform(1, id_pool));
      e.amount = i + 1;
      events.push_back(std::move(e));
    }
    const std::vector<Fate> fates = ReferenceFates(events, ttl_ms);
    REQUIRE(std::count(fates.begin(), fates.end(), Fate::kDuplicate) > 0);

    // Reference counts over a range of events, and over those at or after stored offsets.
    auto count_in = [&](size_t begin, size_t end, Fate fate) {
      return static_cast<double>(std::count(fates.begin() + static_cast<ptrdiff_t>(begin),
                                            fates.begin() + static_cast<ptrdiff_t>(end), fate));
    };
    auto count_from = [&](const std::vector<int64_t>& offsets, size_t end, Fate fate) {
      double count = 0;
      for (size_t i = 0; i < end; ++i) {
        if (fates[i] == fate &&
            events[i].offset >= offsets[static_cast<size_t>(events[i].partition)])
          ++count;
      }
      return count;
    };
    auto append = [&](FixtureSource& source, size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) Append(source, events[i], id_source);
    };

    const size_t first_end = static_cast<size_t>(uniform(0, 250));
    const size_t second_end = static_cast<size_t>(uniform(static_cast<int64_t>(first_end), 350));
    TempDir dir;
    Instance eddy(dir.path(), Yaml(dir.path(), id_source, ttl_s));

    // Run 1: a clean run over the first stretch, committing every batch.
    PipelineOptions every_batch;
    every_batch.commit_interval = std::chrono::milliseconds(0);
    every_batch.max_batch_records = static_cast<size_t>(uniform(1, 64));
    {
      FixtureSource source;
      source.DeclarePartitions(kTopic, partitions);
      append(source, 0, first_end);
      REQUIRE(eddy.Run(source, {}, every_batch, false).ok());
      CHECK(eddy.Duplicates() == count_in(0, first_end, Fate::kDuplicate));
      CHECK(eddy.Failed("invalid_field") == count_in(0, first_end, Fate::kNoId));
    }

    // Run 2: restarted; commits only every few records, then crashes: whatever it processed
    // after its last commit is lost and must be redone exactly by run 3.
    eddy.Restart();
    PipelineOptions by_count;
    by_count.commit_interval = std::chrono::hours(1);
    by_count.commit_when_caught_up = false;
    by_count.max_batch_records = static_cast<size_t>(uniform(1, 16));
    by_count.max_uncommitted_records = static_cast<size_t>(uniform(1, 80));
    {
      FixtureSource source;
      source.DeclarePartitions(kTopic, partitions);
      append(source, 0, second_end);
      const Status crashed = eddy.Run(source, {}, by_count, true);
      CHECK(crashed.code() == StatusCode::kUnavailable);
      CHECK(eddy.Duplicates() == count_in(first_end, second_end, Fate::kDuplicate));
      CHECK(eddy.Failed("invalid_field") == count_in(first_end, second_end, Fate::kNoId));
    }
    std::vector<int64_t> stored(static_cast<size_t>(partitions));
    for (int32_t p = 0; p < partitions; ++p) stored[static_cast<size_t>(p)] = eddy.StoredOffset(p);
    if (count_from(stored, second_end, Fate::kPassed) +
            count_from(stored, second_end, Fate::kDuplicate) >
        0) {
      ++seeds_that_lost_work;
    }

    // Run 3: restarted over the crashed state; the consumer may re-deliver records already
    // in state (Kafka's offsets trail RocksDB's); the last stretch arrives after a rebalance.
    eddy.Restart();
    std::map<std::string, std::string> views;
    {
      FixtureSource source;
      source.DeclarePartitions(kTopic, partitions);
      source.set_ignore_resume_offsets(uniform(0, 1) == 1);
      append(source, 0, second_end);
      REQUIRE(eddy.Run(source, {[&](FixtureSource& s) {
                         append(s, second_end, events.size());
                         s.RequestRebalance();
                       }},
                       every_batch, false, users, &views)
                  .ok());
      CHECK(eddy.Duplicates() == count_from(stored, events.size(), Fate::kDuplicate));
      CHECK(eddy.Failed("invalid_field") == count_from(stored, events.size(), Fate::kNoId));
    }

    std::map<std::string, std::map<int64_t, Window>> expected;
    for (size_t i = 0; i < events.size(); ++i) {
      if (fates[i] != Fate::kPassed) continue;
      Window& w = expected[events[i].user][events[i].ts_ms - events[i].ts_ms % kMinute];
      w.n += 1;
      w.amount += events[i].amount;
    }
    for (const std::string& user : users) {
      CHECK(views.at(user) == ViewJson(user, expected[user]));
    }
  }
  CHECK(seeds_that_lost_work >= 3);
}

}  // namespace eddy::engine
