// Pipeline + Topology + WindowAggregate + View end to end, without a broker: a
// FixtureSource feeds records, a real RocksDB holds the state, and the tests assert on the
// exact JSON a view serves, on metrics and on stored progress; across restarts, replays,
// crashes and rebalances; and against a plain reference computation on random input.
//
// Determinism: the pipeline runs on the test's own thread. The source's idle handler runs
// the test's "phases" (append more records, rebalance, fail, look at views) each time the
// source is drained and stops the pipeline when none is left, so every run is bounded by
// the number of records and phases. With commit_interval 0 every batch is committed before
// the next Poll, so what a view shows at a drained point is exactly known.
#include "engine/pipeline.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "codec/json_record.h"
#include "config/loader.h"
#include "engine/fixture_source.h"
#include "engine/topology.h"
#include "state/key_encoding.h"
#include "support/prometheus_text.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kGrace = 10'000;
constexpr int64_t kTen = 1'795'600'800'000;  // 2026-11-25T10:00:00Z
constexpr const char* kTopic = "pageviews";

using eddy::testing::TempDir;

const char* const kDefaultAggregates =
    "[{name: views, function: count}, {name: total_duration_ms, function: sum, field: "
    "duration_ms}]";

// config/examples/pageviews.yaml with explicit values instead of ${VAR}s.
std::string PageviewsYaml(const std::string& state_dir,
                          const std::string& aggregates = kDefaultAggregates,
                          const std::string& size = "1m") {
  return "kafka:\n"
         "  bootstrap.servers: 127.0.0.1:9092\n"
         "  group.id: eddy-pipeline-test\n"
         "state:\n"
         "  dir: " +
         state_dir +
         "\n"
         "topologies:\n"
         "  - name: pageviews\n"
         "    source:\n"
         "      topic: pageviews\n"
         "      format: json\n"
         "      key: {field: user.id}\n"
         "      timestamp: {field: ts, format: rfc3339}\n"
         "    steps:\n"
         "      - name: per_minute\n"
         "        window: {type: tumbling, size: " +
         size +
         ", grace: 10s}\n"
         "        aggregates: " +
         aggregates +
         "\n"
         "    views:\n"
         "      - name: views_per_minute\n"
         "        from: per_minute\n";
}

config::Config LoadConfig(const std::string& yaml) {
  const config::LoadResult result = config::LoadString(
      yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  for (const config::Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  return *result.config;
}

std::string Pageview(std::string_view user, int64_t ts_ms, int64_t duration_ms) {
  return R"({"user":{"id":")" + std::string(user) + R"("},"page":"/home","duration_ms":)" +
         std::to_string(duration_ms) + R"(,"ts":")" + codec::FormatRfc3339Millis(ts_ms) + R"("})";
}

void AppendPageview(FixtureSource& source, int32_t partition, std::string_view user, int64_t ts_ms,
                    int64_t duration_ms) {
  source.Append(kTopic, partition, std::string(user), Pageview(user, ts_ms, duration_ms), ts_ms);
}

struct ExpectedWindow {
  int64_t start_ms = 0;
  int64_t views = 0;
  int64_t total = 0;  // integral durations only: sums print as integers
};

// The JSON View::QueryKeyJson must return for views_per_minute.
std::string ViewJson(std::string_view key, const std::vector<ExpectedWindow>& windows) {
  std::string out = R"({"view":"views_per_minute","key":")" + std::string(key) + R"(","windows":[)";
  for (size_t i = 0; i < windows.size(); ++i) {
    const ExpectedWindow& w = windows[i];
    if (i > 0) out += ',';
    out += R"({"start":")" + codec::FormatRfc3339Millis(w.start_ms) + R"(","end":")" +
           codec::FormatRfc3339Millis(w.start_ms + kMinute) + R"(","start_ms":)" +
           std::to_string(w.start_ms) + R"(,"end_ms":)" + std::to_string(w.start_ms + kMinute) +
           R"(,"aggregates":{"views":)" + std::to_string(w.views) + R"(,"total_duration_ms":)" +
           std::to_string(w.total) + "}}";
  }
  return out + "]}";
}

// The view JSON without its "closed" flags: most tests here assert aggregates; the
// closed/emit-final tests read the flags through QueryRaw.
std::string WithoutClosedFlags(std::string json) {
  for (const std::string flag : {"\"closed\":true,", "\"closed\":false,"}) {
    for (auto at = json.find(flag); at != std::string::npos; at = json.find(flag)) {
      json.erase(at, flag.size());
    }
  }
  return json;
}

PipelineOptions CommitEveryBatch() {
  PipelineOptions options;
  options.commit_interval = std::chrono::milliseconds(0);
  return options;
}

using Phase = std::function<void(FixtureSource&)>;

struct RunResult {
  Status status;
  // views_per_minute for each requested key, queried when the source was drained for the
  // last time (partitions still owned, everything committed with CommitEveryBatch()).
  std::map<std::string, std::string> views;
};

// One eddy instance over one state directory: config, RocksDB, metrics and topologies.
// Restart() is a process restart: everything but the directory is rebuilt.
class Instance {
 public:
  explicit Instance(const TempDir& dir) : Instance(dir.path(), PageviewsYaml(dir.path())) {}
  Instance(std::string dir, const std::string& yaml, Sink* sink = nullptr)
      : dir_(std::move(dir)), sink_(sink) {
    spdlog::set_level(spdlog::level::off);
    config_ = LoadConfig(yaml);
    Open();
  }

  void Restart() {
    Close();
    Open();
  }
  void Close() {
    topologies_.clear();
    db_.reset();
    metrics_.reset();
  }

  // Runs a pipeline over `source` until it is drained with no phase left (see the file
  // comment). Each drained point runs the next phase.
  RunResult Run(FixtureSource& source, const std::vector<std::string>& keys = {},
                std::vector<Phase> phases = {}, PipelineOptions options = CommitEveryBatch()) {
    Pipeline pipeline(source, *db_, topologies_, *metrics_, options, sink_);
    RunResult result;
    size_t next_phase = 0;
    source.set_idle_handler([&] {
      if (next_phase < phases.size()) {
        phases[next_phase++](source);
        return;
      }
      for (const std::string& key : keys) result.views[key] = Query(key);
      pipeline.RequestStop();
    });
    result.status = pipeline.Run();
    source.set_idle_handler(nullptr);
    if (result.status.ok()) CHECK(pipeline.assigned_partitions() == 0);
    return result;
  }

  std::string Query(std::string_view key) const {
    REQUIRE(topologies_.size() == 1);
    REQUIRE(topologies_[0]->views().size() == 1);
    Result<std::string> json = topologies_[0]->views()[0]->QueryKeyJson(key);
    REQUIRE(json.ok());
    return WithoutClosedFlags(*json);
  }

  // The view's JSON exactly as served, "closed" flags included.
  std::string QueryRaw(std::string_view key) const {
    Result<std::string> json = topologies_[0]->views()[0]->QueryKeyJson(key);
    REQUIRE(json.ok());
    return *json;
  }

  double Failed(const std::string& reason) {
    return metrics_->records_failed.Add({{"topology", "pageviews"}, {"reason", reason}}).Value();
  }
  double Late() {
    return metrics_->late_records_dropped.Add({{"topology", "pageviews"}, {"step", "per_minute"}})
        .Value();
  }
  double Processed() {
    return metrics_->records_processed.Add({{"topology", "pageviews"}}).Value();
  }
  double Consumed() { return metrics_->records_consumed.Add({{"topic", kTopic}}).Value(); }
  double Commits() { return metrics_->state_commits.Add({}).Value(); }
  double StepIn() {
    return metrics_->step_records_in.Add({{"topology", "pageviews"}, {"step", "per_minute"}})
        .Value();
  }
  double StepOut() {
    return metrics_->step_records_out.Add({{"topology", "pageviews"}, {"step", "per_minute"}})
        .Value();
  }
  std::string MetricsText() const { return metrics_->SerializeText(); }

  std::optional<state::PartitionProgress> Progress(int32_t partition) const {
    Result<std::optional<std::string>> value =
        db_->Get(state::EncodeProgressKey("pageviews", kTopic, partition));
    REQUIRE(value.ok());
    if (!value->has_value()) return std::nullopt;
    std::optional<state::PartitionProgress> progress = state::DecodeProgress(**value);
    REQUIRE(progress.has_value());
    return progress;
  }

  state::StateDb& db() { return *db_; }
  metrics::Metrics& metrics() { return *metrics_; }
  std::vector<std::unique_ptr<Topology>>& topologies() { return topologies_; }

 private:
  void Open() {
    metrics_ = std::make_unique<metrics::Metrics>();
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir_, {});
    INFO(db.status().ToString());
    REQUIRE(db.ok());
    db_ = std::move(db).value();
    for (const config::TopologyConfig& topology : config_.topologies) {
      Result<std::unique_ptr<Topology>> created =
          Topology::Create(topology, *db_, *metrics_, nullptr, sink_);
      INFO(created.status().ToString());
      REQUIRE(created.ok());
      topologies_.push_back(std::move(created).value());
    }
  }

  const std::string dir_;
  Sink* const sink_;
  config::Config config_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<state::StateDb> db_;
  std::vector<std::unique_ptr<Topology>> topologies_;
};

// ----------------------------------------------------------------------- FixtureSource

// Records every listener call; resumes partitions at preset offsets.
class RecordingListener final : public SourceListener {
 public:
  Status OnPartitionsAssigned(std::vector<PartitionStart>& partitions) override {
    std::string call = "assign";
    for (PartitionStart& start : partitions) {
      call += " " + start.partition.topic + "/" + std::to_string(start.partition.partition);
      auto it = resume.find(start.partition.partition);
      if (it != resume.end()) start.offset = it->second;
    }
    calls.push_back(call);
    return assign_status;
  }
  Status OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) override {
    std::string call = "revoke";
    for (const TopicPartition& p : partitions)
      call += " " + p.topic + "/" + std::to_string(p.partition);
    calls.push_back(call);
    return Status::Ok();
  }
  std::map<int32_t, int64_t> resume;
  Status assign_status;
  std::vector<std::string> calls;
};

// "topic/partition@offset" for each record of a batch.
std::vector<std::string> Positions(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) {
    out.push_back(std::string(r.topic) + "/" + std::to_string(r.partition) + "@" +
                  std::to_string(r.offset));
  }
  return out;
}

using Strings = std::vector<std::string>;
constexpr std::chrono::milliseconds kNoWait{0};

TEST_CASE("FixtureSource assigns on the first Poll and resumes where the listener says",
          "[engine][fixture_source]") {
  FixtureSource source;
  CHECK(source.Append("t", 1, "k1", "v1-0", 5) == 0);
  CHECK(source.Append("t", 1, std::nullopt, "v1-1") == 1);
  CHECK(source.Append("t", 0, "k0", "v0-0") == 0);
  source.DeclarePartitions("t", 3);  // partition 2: empty but assigned
  source.Append("other", 0, "x", "not subscribed");

  RecordingListener listener;
  listener.resume = {{1, 1}};  // partition 1 resumes at offset 1; 0 and 2 have no state
  std::vector<Record> records;
  CHECK(source.Poll(kNoWait, 10, records).code() == StatusCode::kInternal);  // not subscribed
  REQUIRE(source.Subscribe({"t"}, &listener).ok());
  CHECK(listener.calls.empty());  // assignment happens inside Poll, as with Kafka
  CHECK_FALSE(source.Subscribe({"t"}, &listener).ok());

  REQUIRE(source.Poll(kNoWait, 10, records).ok());
  CHECK(listener.calls == Strings{"assign t/0 t/1 t/2"});
  CHECK(Positions(records) == Strings{"t/0@0", "t/1@1"});
  REQUIRE(records.size() == 2);
  CHECK(records[0].key == std::optional<std::string_view>("k0"));
  CHECK(records[1].key == std::nullopt);  // a record without a key stays keyless
  CHECK(records[1].value == "v1-1");
  CHECK(source.assignment() == std::vector<TopicPartition>{{"t", 0}, {"t", 1}, {"t", 2}});

  std::vector<PartitionLag> lag = source.Lag();
  REQUIRE(lag.size() == 3);
  for (const PartitionLag& l : lag) CHECK(l.lag == 0);

  source.Append("t", 2, "k2", "v2-0");
  lag = source.Lag();
  CHECK(lag[2].lag == 1);
  REQUIRE(source.Poll(kNoWait, 10, records).ok());
  CHECK(Positions(records) == Strings{"t/2@0"});

  source.CommitAsync({{{"t", 0}, 1}, {{"t", 2}, 1}});
  source.CommitAsync({{{"t", 0}, 1}});
  CHECK(source.commit_calls() == 2);
  CHECK(source.committed() == std::map<TopicPartition, int64_t>{{{"t", 0}, 1}, {{"t", 2}, 1}});

  REQUIRE(source.Close().ok());
  CHECK(listener.calls == Strings{"assign t/0 t/1 t/2", "revoke t/0 t/1 t/2"});
  CHECK(source.closed());
  CHECK(source.assignment().empty());
  CHECK_FALSE(source.Poll(kNoWait, 10, records).ok());
}

TEST_CASE("FixtureSource interleaves partitions round-robin, in offset order",
          "[engine][fixture_source]") {
  FixtureSource source;
  for (int i = 0; i < 3; ++i) source.Append("t", 0, "k", "a" + std::to_string(i));
  source.Append("t", 1, "k", "b0");
  for (int i = 0; i < 2; ++i) source.Append("t", 2, "k", "c" + std::to_string(i));
  RecordingListener listener;
  REQUIRE(source.Subscribe({"t"}, &listener).ok());
  std::vector<Record> records;
  REQUIRE(source.Poll(kNoWait, 4, records).ok());
  CHECK(Positions(records) == Strings{"t/0@0", "t/1@0", "t/2@0", "t/0@1"});
  // The next batch continues after the partition served last.
  REQUIRE(source.Poll(kNoWait, 1, records).ok());
  CHECK(Positions(records) == Strings{"t/2@1"});
  REQUIRE(source.Poll(kNoWait, 100, records).ok());
  CHECK(Positions(records) == Strings{"t/0@2"});
  REQUIRE(source.Poll(kNoWait, 100, records).ok());
  CHECK(records.empty());
}

TEST_CASE("FixtureSource keeps headers and timestamps, records survive later appends",
          "[engine][fixture_source]") {
  FixtureSource source;
  FixtureRecord record;
  record.topic = "t";
  record.partition = 0;
  record.key = "k";
  record.value = "a value long enough to live on the heap, not in a small string buffer";
  record.timestamp_ms = -42;
  record.headers = {{"h1", "x"}, {"h2", ""}};
  CHECK(source.Append(record) == 0);
  RecordingListener listener;
  REQUIRE(source.Subscribe({"t"}, &listener).ok());
  std::vector<Record> records;
  REQUIRE(source.Poll(kNoWait, 1, records).ok());
  REQUIRE(records.size() == 1);
  for (int i = 0; i < 1000; ++i) source.Append("t", 0, "k", std::string(40, 'x'));
  CHECK(records[0].value == record.value);
  CHECK(records[0].timestamp_ms == -42);
  REQUIRE(records[0].headers.size() == 2);
  CHECK(records[0].headers[0].name == "h1");
  CHECK(records[0].headers[0].value == "x");
  CHECK(records[0].headers[1].name == "h2");
  CHECK(records[0].headers[1].value.empty());
}

TEST_CASE("FixtureSource rebalances, replays from 0 on request and injects poll failures",
          "[engine][fixture_source]") {
  FixtureSource source;
  for (int i = 0; i < 3; ++i) source.Append("t", 0, "k", std::to_string(i));
  RecordingListener listener;
  listener.resume = {{0, 2}};
  REQUIRE(source.Subscribe({"t"}, &listener).ok());
  std::vector<Record> records;
  REQUIRE(source.Poll(kNoWait, 10, records).ok());
  CHECK(Positions(records) == Strings{"t/0@2"});

  SECTION("a rebalance revokes, then assigns again at the listener's offsets") {
    source.Append("t", 1, "k", "new partition");
    listener.resume = {{0, 1}};
    source.RequestRebalance();
    REQUIRE(source.Poll(kNoWait, 10, records).ok());
    CHECK(listener.calls == Strings{"assign t/0", "revoke t/0", "assign t/0 t/1"});
    CHECK(Positions(records) == Strings{"t/0@1", "t/1@0", "t/0@2"});
    CHECK(source.assignments() == 2);
    CHECK(source.revocations() == 1);
  }
  SECTION("ignoring resume offsets replays every partition from 0") {
    source.set_ignore_resume_offsets(true);
    source.RequestRebalance();
    REQUIRE(source.Poll(kNoWait, 10, records).ok());
    CHECK(Positions(records) == Strings{"t/0@0", "t/0@1", "t/0@2"});
  }
  SECTION("the idle handler runs when nothing is left and may fail the poll") {
    int idle = 0;
    source.set_idle_handler([&] {
      if (++idle == 2) source.FailNextPoll(Status::Unavailable("broker gone"));
    });
    REQUIRE(source.Poll(kNoWait, 10, records).ok());
    CHECK(records.empty());
    CHECK(idle == 1);
    const Status failed = source.Poll(kNoWait, 10, records);
    CHECK(failed.code() == StatusCode::kUnavailable);
    CHECK(failed.message() == "broker gone");
    CHECK(source.Poll(kNoWait, 10, records).ok());  // the failure is reported once
  }
  SECTION("an assignment error from the listener is Poll's error") {
    listener.assign_status = Status::IoError("state unreadable");
    source.RequestRebalance();
    CHECK(source.Poll(kNoWait, 10, records).code() == StatusCode::kIoError);
  }
}

// ---------------------------------------------------------------------------- Pipeline

TEST_CASE("pageviews become exact per-minute views, merged across partitions",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  FixtureSource source;
  source.DeclarePartitions(kTopic, 3);  // partition 2 stays empty
  AppendPageview(source, 0, "alice", kTen + 3'000, 120);
  AppendPageview(source, 0, "alice", kTen + 40'000, 30);
  AppendPageview(source, 0, "bob", kTen + 10'000, 5);
  AppendPageview(source, 0, "alice", kTen + kMinute + 2'000, 7);
  AppendPageview(source, 1, "alice", kTen + kMinute - 1, 1);  // same key, other partition
  AppendPageview(source, 1, "bob", kTen + 2 * kMinute, 2);

  const RunResult run = eddy.Run(source, {"alice", "bob", "carol"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") ==
        R"({"view":"views_per_minute","key":"alice","windows":[)"
        R"({"start":"2026-11-25T10:00:00.000Z","end":"2026-11-25T10:01:00.000Z",)"
        R"("start_ms":1795600800000,"end_ms":1795600860000,)"
        R"("aggregates":{"views":3,"total_duration_ms":151}},)"
        R"({"start":"2026-11-25T10:01:00.000Z","end":"2026-11-25T10:02:00.000Z",)"
        R"("start_ms":1795600860000,"end_ms":1795600920000,)"
        R"("aggregates":{"views":1,"total_duration_ms":7}}]})");
  CHECK(run.views.at("bob") == ViewJson("bob", {{kTen, 1, 5}, {kTen + 2 * kMinute, 1, 2}}));
  CHECK(run.views.at("carol") == R"({"view":"views_per_minute","key":"carol","windows":[]})");

  CHECK(eddy.Consumed() == 6);
  CHECK(eddy.Processed() == 6);
  CHECK(eddy.Late() == 0);
  CHECK(eddy.Commits() >= 1);
  // Progress: next offset and stream time per partition, stored with the state.
  CHECK(eddy.Progress(0)->next_offset == 4);
  CHECK(eddy.Progress(0)->stream_time_ms == kTen + kMinute + 2'000);
  CHECK(eddy.Progress(1)->next_offset == 2);
  CHECK(eddy.Progress(1)->stream_time_ms == kTen + 2 * kMinute);
  CHECK_FALSE(eddy.Progress(2).has_value());  // nothing processed there
  // Kafka's offsets follow RocksDB's; the source was closed, revoking everything.
  CHECK(source.committed() ==
        std::map<TopicPartition, int64_t>{{{kTopic, 0}, 4}, {{kTopic, 1}, 2}});
  CHECK(source.closed());
  CHECK(source.revocations() == 1);
  CHECK(eddy.metrics().assigned_partitions.Add({}).Value() == 0);
  // After close the instance owns nothing, so its views show nothing (another instance
  // would answer); the state itself stays in RocksDB.
  CHECK(eddy.Query("alice") == ViewJson("alice", {}));
}

TEST_CASE("late records: dropped once end + grace <= the partition's stream time",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen + 20'000, 1);              // window 10:00
  AppendPageview(source, 0, "bob", kTen + kMinute + kGrace - 1, 0);  // stream time 10:01:09.999
  AppendPageview(source, 0, "alice", kTen + 30'000, 10);             // 10:00 still open
  AppendPageview(source, 0, "bob", kTen + kMinute + kGrace, 0);      // stream time 10:01:10
  AppendPageview(source, 0, "alice", kTen + kMinute - 1, 100);       // late: 10:01:10 <= 10:01:10
  AppendPageview(source, 0, "alice", kTen - 1'000, 1000);            // late: 09:59 window
  AppendPageview(source, 0, "alice", kTen + kMinute, 10000);         // window 10:01: open
  // Stream time is per partition: partition 1 has only reached 10:00:50.
  AppendPageview(source, 1, "alice", kTen + 50'000, 100000);

  std::string during;  // /metrics while the partitions are still assigned
  const RunResult run =
      eddy.Run(source, {"alice"}, {[&](FixtureSource&) { during = eddy.MetricsText(); }});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") ==
        ViewJson("alice", {{kTen, 3, 100011}, {kTen + kMinute, 1, 10000}}));
  CHECK(eddy.Late() == 2);
  CHECK(eddy.Processed() == 8);  // late drops count as processed (not failed)
  CHECK(eddy.Failed("invalid_field") == 0);
  CHECK(eddy.Progress(0)->next_offset == 7);
  CHECK(eddy.Progress(0)->stream_time_ms == kTen + kMinute + kGrace);
  CHECK(eddy.Progress(1)->stream_time_ms == kTen + 50'000);
  // Per step (published at each commit): every record reached the window and was taken in,
  // late ones included; each processed record observed once end to end; the stream time
  // gauge per partition in seconds.
  CHECK(eddy.StepIn() == 8);
  CHECK(eddy.StepOut() == 8);
  const std::string& text = during;
  CHECK_THAT(text,
             Catch::Contains(R"(eddy_end_to_end_latency_seconds_count{topology="pageviews"} 8)"));
  const testing::PromExposition parsed = testing::ParsePromText(text);
  REQUIRE(parsed.error.empty());
  bool found = false;
  for (const testing::PromSample& sample : parsed.families.at("eddy_stream_time_seconds").samples) {
    if (sample.labels == std::vector<std::pair<std::string, std::string>>{
                             {"partition", "1"}, {"topic", kTopic}, {"topology", "pageviews"}}) {
      found = true;
      CHECK(sample.value == Approx(static_cast<double>(kTen + 50'000) / 1000));
    }
  }
  CHECK(found);
  // Revoked partitions (the run ends by closing the source) leave no stream time behind.
  CHECK_THAT(eddy.MetricsText(), !Catch::Contains("eddy_stream_time_seconds{"));
}

TEST_CASE("records that cannot be processed are counted by reason and skipped",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  FixtureSource source;
  const std::string ts = codec::FormatRfc3339Millis(kTen);
  const std::vector<std::string> values = {
      "not json",                                                              // invalid_json
      R"({"page":"/","duration_ms":1,"ts":")" + ts + R"("})",                  // missing_key
      R"({"user":{"id":1.5},"duration_ms":1,"ts":")" + ts + R"("})",           // invalid_key
      R"({"user":{"id":"alice"},"duration_ms":1,"ts":"yesterday"})",           // invalid_timestamp
      R"({"user":{"id":"alice"},"duration_ms":1})",                            // invalid_timestamp
      R"({"user":{"id":"alice"},"duration_ms":"fast","ts":")" + ts + R"("})",  // invalid_field
      R"({"user":{"id":"alice"},"ts":")" + ts + R"("})",                       // invalid_field
      Pageview("alice", kTen, 10),
      R"({"user":{"id":42},"duration_ms":1,"ts":")" + ts + R"("})",  // key "42"
  };
  for (const std::string& value : values) source.Append(kTopic, 0, std::nullopt, value);

  const RunResult run = eddy.Run(source, {"alice", "42"});
  REQUIRE(run.status.ok());
  CHECK(eddy.Failed("invalid_json") == 1);
  CHECK(eddy.Failed("missing_key") == 1);
  CHECK(eddy.Failed("invalid_key") == 1);
  CHECK(eddy.Failed("invalid_timestamp") == 2);
  CHECK(eddy.Failed("invalid_field") == 2);
  CHECK(eddy.Processed() == 2);
  CHECK(eddy.Consumed() == 9);
  // Failed records changed no aggregate, and their offsets still advanced.
  CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 1, 10}}));
  CHECK(run.views.at("42") == ViewJson("42", {{kTen, 1, 1}}));
  CHECK(eddy.Progress(0)->next_offset == 9);
  CHECK(source.committed().at({kTopic, 0}) == 9);
  // The same counters in the Prometheus text /metrics serves.
  const std::string text = eddy.metrics().SerializeText();
  CHECK_THAT(
      text, Catch::Contains(
                R"(eddy_records_failed_total{reason="invalid_timestamp",topology="pageviews"} 2)"));
}

TEST_CASE("a restart resumes from stored progress: exact totals, stream time kept",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  // Kafka keeps the log across restarts: both runs see the same records at the same offsets.
  auto first_part = [](FixtureSource& source) {
    AppendPageview(source, 0, "alice", kTen + 1'000, 1);
    AppendPageview(source, 0, "alice", kTen + 2 * kMinute, 2);  // stream time 10:02
    AppendPageview(source, 1, "alice", kTen + 5'000, 4);
  };
  auto second_part = [](FixtureSource& source) {
    AppendPageview(source, 0, "alice", kTen + 2'000, 8);  // late: 10:00 closed at 10:01:10
    AppendPageview(source, 0, "alice", kTen + 2 * kMinute + 1, 16);
    AppendPageview(source, 1, "alice", kTen + 6'000, 32);  // partition 1 is at 10:00:05
  };
  {
    FixtureSource source;
    first_part(source);
    const RunResult run = eddy.Run(source, {"alice"});
    REQUIRE(run.status.ok());
    CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 2, 5}, {kTen + 2 * kMinute, 1, 2}}));
  }
  eddy.Restart();
  FixtureSource source;
  first_part(source);
  second_part(source);
  const RunResult run = eddy.Run(source, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 3, 37}, {kTen + 2 * kMinute, 2, 18}}));
  // The second run started at the stored offsets: it consumed only the new records.
  CHECK(eddy.Consumed() == 3);
  CHECK(eddy.Processed() == 3);
  CHECK(eddy.Late() == 1);  // judged against the stream time stored by the first run
  CHECK(eddy.Progress(0)->next_offset == 4);
  CHECK(eddy.Progress(1)->next_offset == 2);
}

TEST_CASE("replaying already-applied offsets (consumer restarts at 0) counts nothing twice",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  auto records = [](FixtureSource& source, int n) {
    for (int i = 0; i < n; ++i) AppendPageview(source, i % 2, "alice", kTen + i * 1'000, i);
  };
  {
    FixtureSource source;
    records(source, 6);
    REQUIRE(eddy.Run(source).status.ok());
  }
  eddy.Restart();
  FixtureSource source;
  records(source, 10);
  // Kafka's group offsets may trail RocksDB's (CommitAsync is advisory) or be lost: the
  // consumer then re-delivers records whose effects are already in state.
  source.set_ignore_resume_offsets(true);
  const RunResult run = eddy.Run(source, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 10, 45}}));
  CHECK(eddy.Consumed() == 10);  // all re-delivered ...
  CHECK(eddy.Processed() == 4);  // ... but only the new ones applied
  CHECK(eddy.Progress(0)->next_offset == 5);
  CHECK(eddy.Progress(1)->next_offset == 5);
}

TEST_CASE("caught-up input is in the views at once, its offsets reach Kafka by commit_interval",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  PipelineOptions options;
  // Never due within the test, and longer than any machine's uptime: steady_clock counts from
  // boot, so "no offsets sent yet" must not be read as "sent at boot" (it held back the first
  // offsets on a machine up for less than the interval).
  options.commit_interval = std::chrono::hours(24 * 365 * 100);
  const TopicPartition partition{"pageviews", 0};
  std::string view_after_first;
  std::string view_after_second;
  std::optional<int64_t> kafka_offset_after_second;
  FixtureSource source;
  for (int i = 0; i < 3; ++i) AppendPageview(source, 0, "alice", kTen + i, 1);
  const RunResult run =
      eddy.Run(source, {"alice"},
               {[&](FixtureSource& s) {
                  // Drained (a short poll): committed to RocksDB without waiting for the interval.
                  view_after_first = eddy.Query("alice");
                  for (int i = 0; i < 2; ++i) AppendPageview(s, 0, "alice", kTen + 10 + i, 10);
                },
                [&](FixtureSource& s) {
                  view_after_second = eddy.Query("alice");
                  if (auto it = s.committed().find(partition); it != s.committed().end()) {
                    kafka_offset_after_second = it->second;
                  }
                }},
               options);
  REQUIRE(run.status.ok());
  CHECK(view_after_first == ViewJson("alice", {{kTen, 3, 3}}));
  CHECK(view_after_second == ViewJson("alice", {{kTen, 5, 23}}));
  CHECK(eddy.Progress(0)->next_offset == 5);
  // The first commit sent its offsets (none had been sent before); the second waits for
  // the interval, and stopping sends it.
  CHECK(kafka_offset_after_second == 3);
  CHECK(source.committed().at(partition) == 5);

  SECTION("off: a poll that drains the input waits for the interval like any other") {
    TempDir other_dir;
    Instance other(other_dir);
    options.commit_when_caught_up = false;
    options.max_uncommitted_records = 1000;
    FixtureSource other_source;
    for (int i = 0; i < 3; ++i) AppendPageview(other_source, 0, "alice", kTen + i, 1);
    std::string view_while_running;
    const RunResult other_run =
        other.Run(other_source, {"alice"},
                  {[&](FixtureSource&) { view_while_running = other.Query("alice"); }}, options);
    REQUIRE(other_run.status.ok());
    CHECK(view_while_running == ViewJson("alice", {}));  // nothing committed yet
  }
}

TEST_CASE("a crash loses only uncommitted work, which the next start redoes exactly",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  // Commits happen only by count: after the first batch of 4, never for the next 3.
  PipelineOptions options;
  options.commit_interval = std::chrono::hours(1);
  options.commit_when_caught_up = false;
  options.max_batch_records = 4;
  options.max_uncommitted_records = 4;

  auto committed_part = [](FixtureSource& source) {
    for (int i = 0; i < 4; ++i) AppendPageview(source, 0, "alice", kTen + i, 1);
  };
  auto uncommitted_part = [](FixtureSource& source) {
    for (int i = 0; i < 3; ++i) AppendPageview(source, 0, "alice", kTen + 10 + i, 10);
  };
  std::string view_before_crash;
  {
    FixtureSource source;
    committed_part(source);
    const RunResult run = eddy.Run(source, {},
                                   {uncommitted_part,
                                    [&](FixtureSource& s) {
                                      // Processed but not committed: the view (RocksDB) does not
                                      // show it yet.
                                      view_before_crash = eddy.Query("alice");
                                      s.FailNextPoll(Status::Unavailable("broker went away"));
                                    }},
                                   options);
    CHECK(run.status.code() == StatusCode::kUnavailable);
    CHECK(run.status.message() == "broker went away");
    CHECK(eddy.Processed() == 7);
  }
  CHECK(view_before_crash == ViewJson("alice", {{kTen, 4, 4}}));
  CHECK(eddy.Progress(0)->next_offset == 4);
  CHECK(eddy.Query("alice") == ViewJson("alice", {{kTen, 4, 4}}));  // nothing more was written

  eddy.Restart();
  FixtureSource source;
  committed_part(source);
  uncommitted_part(source);
  AppendPageview(source, 0, "alice", kTen + 20, 100);
  SECTION("resuming at the stored offset") {}
  SECTION("replaying from offset 0") {
    source.set_ignore_resume_offsets(true);
  }
  const RunResult run = eddy.Run(source, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 8, 134}}));
  CHECK(eddy.Processed() == 4);
  CHECK(eddy.Progress(0)->next_offset == 8);
}

TEST_CASE("a rebalance mid-stream commits, reassigns and continues exactly", "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen, 1);
  AppendPageview(source, 1, "alice", kTen, 2);
  std::string view_during_rebalance;
  const RunResult run = eddy.Run(source, {"alice"},
                                 {[](FixtureSource& s) {
                                    AppendPageview(s, 0, "alice", kTen + 1, 4);
                                    AppendPageview(s, 2, "alice", kTen + 2,
                                                   8);  // a new partition joins at the rebalance
                                    s.RequestRebalance();
                                  },
                                  [&](FixtureSource& s) {
                                    view_during_rebalance = eddy.Query("alice");
                                    AppendPageview(s, 1, "alice", kTen + 3, 16);
                                  }},
                                 CommitEveryBatch());
  REQUIRE(run.status.ok());
  CHECK(view_during_rebalance == ViewJson("alice", {{kTen, 4, 15}}));
  CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 5, 31}}));
  CHECK(source.assignments() == 2);
  CHECK(source.revocations() == 2);  // the rebalance and the final close
  CHECK(eddy.Consumed() == 5);       // resumed at stored offsets: nothing re-delivered
  CHECK(eddy.Processed() == 5);
  CHECK(source.committed() ==
        std::map<TopicPartition, int64_t>{{{kTopic, 0}, 2}, {{kTopic, 1}, 2}, {{kTopic, 2}, 1}});
}

TEST_CASE("views answer from other threads while the pipeline runs on its own",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  FixtureSource source;
  for (int i = 0; i < 2000; ++i) AppendPageview(source, i % 4, "alice", kTen + i, 1);

  PipelineOptions options = CommitEveryBatch();
  options.max_batch_records = 50;
  Pipeline pipeline(source, eddy.db(), eddy.topologies(), eddy.metrics(), options);
  std::promise<void> drained;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  bool signalled = false;
  // The processing thread owns the source; at the drained point it waits (bounded) until
  // the test has looked, so partitions are still owned when the view is queried.
  source.set_idle_handler([&] {
    if (signalled) return;
    signalled = true;
    drained.set_value();
    (void)released.wait_for(std::chrono::seconds(10));
    pipeline.RequestStop();
  });
  std::future<Status> finished = std::async(std::launch::async, [&] { return pipeline.Run(); });

  // Meanwhile, every answer is a consistent committed state: counts only grow.
  std::future<void> drained_future = drained.get_future();
  int64_t last_views = 0;
  int queries = 0;
  auto ready = [](auto& future) {
    return future.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
  };
  while (!ready(drained_future) && !ready(finished)) {
    const std::string json = eddy.Query("alice");
    const auto at = json.find(R"("views":)");
    if (at != std::string::npos) {
      const int64_t views = std::stoll(json.substr(at + 8));
      CHECK(views >= last_views);
      last_views = views;
    }
    ++queries;
    REQUIRE(queries < 1'000'000);
  }
  CHECK(eddy.Query("alice") == ViewJson("alice", {{kTen, 2000, 2000}}));
  release.set_value();
  REQUIRE(finished.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(finished.get().ok());
}

TEST_CASE("published committed progress never runs ahead of a snapshot taken after it",
          "[engine][pipeline]") {
  TempDir dir;
  Instance eddy(dir);
  auto published = [](const Pipeline& pipeline, int32_t partition) {
    std::optional<state::PartitionProgress> progress;
    for (const PartitionStatus& status : pipeline.partition_status()) {
      if (status.partition.partition != partition) continue;
      REQUIRE(status.committed.size() == 1);  // one topology
      progress = status.committed[0];
    }
    return progress;
  };
  auto stored = [&](int32_t partition, const state::ReadSnapshot& snapshot) {
    Result<std::optional<std::string>> value =
        eddy.db().Get(state::EncodeProgressKey("pageviews", kTopic, partition), &snapshot);
    REQUIRE(value.ok());
    std::optional<state::PartitionProgress> progress;
    if (value->has_value()) progress = state::DecodeProgress(**value);
    return progress;
  };
  // Run twice: the second run publishes what it finds stored before it commits anything.
  for (int run = 0; run < 2; ++run) {
    INFO("run " << run);
    FixtureSource source;
    for (int i = 0; i < 4000; ++i) AppendPageview(source, i % 2, "alice", kTen + i, 1);
    PipelineOptions options = CommitEveryBatch();
    options.max_batch_records = 20;
    Pipeline pipeline(source, eddy.db(), eddy.topologies(), eddy.metrics(), options);
    std::promise<void> drained;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    bool signalled = false;
    source.set_idle_handler([&] {
      if (signalled) return;
      signalled = true;
      drained.set_value();
      (void)released.wait_for(std::chrono::seconds(10));
      pipeline.RequestStop();
    });
    std::future<Status> finished = std::async(std::launch::async, [&] { return pipeline.Run(); });
    std::future<void> drained_future = drained.get_future();
    auto ready = [](auto& future) {
      return future.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
    };
    int compared = 0;
    while (!ready(drained_future) && !ready(finished)) {
      // The order views_api.cpp reads them in: published progress, then the snapshot.
      const std::optional<state::PartitionProgress> before = published(pipeline, 1);
      const std::unique_ptr<state::ReadSnapshot> snapshot = eddy.db().Snapshot();
      const std::optional<state::PartitionProgress> in_snapshot = stored(1, *snapshot);
      if (!before) continue;
      REQUIRE(in_snapshot.has_value());
      CHECK(before->next_offset <= in_snapshot->next_offset);
      CHECK(before->stream_time_ms <= in_snapshot->stream_time_ms);
      ++compared;
    }
    REQUIRE(ready(drained_future));
    if (run == 1) CHECK(compared > 0);  // published from the first query on: stored at assignment
    {  // Drained and committed: what is published is exactly what is stored.
      const std::unique_ptr<state::ReadSnapshot> snapshot = eddy.db().Snapshot();
      for (int32_t partition : {0, 1}) {
        const std::optional<state::PartitionProgress> now = published(pipeline, partition);
        const std::optional<state::PartitionProgress> in_snapshot = stored(partition, *snapshot);
        REQUIRE(now.has_value());
        REQUIRE(in_snapshot.has_value());
        CHECK(now->next_offset == in_snapshot->next_offset);
        CHECK(now->next_offset == 2000);
        CHECK(now->stream_time_ms == in_snapshot->stream_time_ms);
      }
    }
    release.set_value();
    REQUIRE(finished.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(finished.get().ok());
    eddy.Restart();
  }
}

TEST_CASE("a window created after a restart and evicted from the cache is read back, not reset",
          "[engine][pipeline]") {
  // After a restart a window starting after the committed stream time cannot be stored, so
  // its first record skips the RocksDB read; once a commit stores it, a later miss (the
  // cache dropped it) must read it again.
  TempDir dir;
  Instance eddy(dir);
  {
    FixtureSource source;
    AppendPageview(source, 0, "alice", kTen, 1);
    REQUIRE(eddy.Run(source).status.ok());
  }
  eddy.Restart();
  // The topic again, as a new consumer sees it: the committed record, then new ones.
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen, 1);
  const int64_t later = kTen + 5 * kMinute;
  AppendPageview(source, 0, "alice", later, 10);
  // More windows than the cache keeps (200,000), committed, so the next commit drops them.
  auto fill = [&](FixtureSource& into) {
    for (int i = 0; i < 200'001; ++i) AppendPageview(into, 0, "u" + std::to_string(i), later, 1);
  };
  auto again = [&](FixtureSource& into) { AppendPageview(into, 0, "alice", later + 1, 100); };
  RunResult result = eddy.Run(source, {"alice"}, {fill, again});
  INFO(result.status.ToString());
  REQUIRE(result.status.ok());
  CHECK(result.views["alice"] == ViewJson("alice", {{kTen, 1, 1}, {later, 2, 110}}));
}

TEST_CASE("state built by another step definition is refused, naming the step",
          "[engine][pipeline]") {
  TempDir dir;
  {
    Instance eddy(dir);
    FixtureSource source;
    AppendPageview(source, 0, "alice", kTen, 1);
    REQUIRE(eddy.Run(source).status.ok());
  }
  auto create = [&](const std::string& yaml) {
    const config::Config config = LoadConfig(yaml);
    metrics::Metrics metrics;
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
    REQUIRE(db.ok());
    return Topology::Create(config.topologies[0], **db, metrics).status();
  };

  SECTION("an aggregate added") {
    const Status status = create(
        PageviewsYaml(dir.path(),
                      "[{name: views, function: count}, {name: total_duration_ms, function: sum, "
                      "field: duration_ms}, {name: n, function: count}]"));
    REQUIRE(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::StartsWith("test.yaml:"));
    CHECK_THAT(status.message(), Catch::Contains("step 'per_minute' of topology 'pageviews'"));
    CHECK_THAT(status.message(),
               Catch::Contains("stored: tumbling(size_ms=60000);count:views,sum(duration_ms):"
                               "total_duration_ms; now: tumbling(size_ms=60000);count:views,"
                               "sum(duration_ms):total_duration_ms,count:n"));
  }
  SECTION("a sum over another field") {
    const Status status = create(
        PageviewsYaml(dir.path(),
                      "[{name: views, function: count}, {name: total_duration_ms, function: sum, "
                      "field: size}]"));
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains("step 'per_minute'"));
  }
  SECTION("another window size") {
    const Status status = create(PageviewsYaml(dir.path(), kDefaultAggregates, "5m"));
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains("tumbling(size_ms=300000)"));
  }
  SECTION("the same definition is accepted") {
    CHECK(create(PageviewsYaml(dir.path())).ok());
  }
}

// --------------------------------------------------------- Property: random event streams

struct RandomEvent {
  int32_t partition = 0;
  std::string user;
  int64_t ts_ms = 0;
  int64_t duration_ms = 0;
};

using Reference = std::map<std::string, std::map<int64_t, ExpectedWindow>>;

// The semantics, written out plainly: per partition, in offset order, stream time is the
// max event time seen so far (this record included); a record is late iff its window's
// end + grace <= stream time; windows are [floor(t / size) * size, + size).
Reference ReferenceViews(const std::vector<RandomEvent>& events, int64_t& late) {
  Reference out;
  std::map<int32_t, int64_t> stream_time;
  late = 0;
  for (const RandomEvent& e : events) {  // appended in per-partition offset order
    auto [it, inserted] = stream_time.try_emplace(e.partition, e.ts_ms);
    if (!inserted) it->second = std::max(it->second, e.ts_ms);
    int64_t start = e.ts_ms - e.ts_ms % kMinute;
    if (e.ts_ms % kMinute < 0) start -= kMinute;
    if (start + kMinute + kGrace <= it->second) {
      ++late;
      continue;
    }
    ExpectedWindow& w = out[e.user][start];
    w.start_ms = start;
    w.views += 1;
    w.total += e.duration_ms;
  }
  return out;
}

TEST_CASE("random out-of-order streams match a reference computation", "[engine][pipeline]") {
  const std::vector<std::string> users = {"alice", "bob", "carol", "dave", "eve"};
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    INFO("seed " << seed);
    std::mt19937 random(seed);
    auto uniform = [&](int64_t low, int64_t high) {
      return std::uniform_int_distribution<int64_t>(low, high)(random);
    };
    const int32_t partitions = static_cast<int32_t>(uniform(1, 4));
    // Around the epoch for odd seeds, so negative event times and windows occur.
    const int64_t base = seed % 2 == 1 ? -3 * kMinute : kTen;
    std::vector<int64_t> clock(static_cast<size_t>(partitions), base);
    std::vector<RandomEvent> events;
    for (int i = 0; i < 400; ++i) {
      RandomEvent e;
      e.partition = static_cast<int32_t>(uniform(0, partitions - 1));
      int64_t& now = clock[static_cast<size_t>(e.partition)];
      now += uniform(0, 2'000);
      // Mostly a little out of order; sometimes far behind (late, or within grace).
      e.ts_ms = now - (uniform(0, 4) == 0 ? uniform(0, 2 * kMinute) : uniform(0, 3'000));
      // Whole seconds, so stream time often lands exactly on a window's end + grace.
      e.ts_ms -= (e.ts_ms % 1'000 + 1'000) % 1'000;
      e.user = users[static_cast<size_t>(uniform(0, static_cast<int64_t>(users.size()) - 1))];
      e.duration_ms = uniform(0, 1'000);
      events.push_back(e);
    }
    int64_t expected_late = 0;
    const Reference reference = ReferenceViews(events, expected_late);
    REQUIRE(expected_late > 0);

    // Three stretches: run 1, then a restarted run 2 that gets the second stretch up front
    // and the third after a rebalance.
    const size_t first_end = static_cast<size_t>(uniform(0, 300));
    const size_t second_end = static_cast<size_t>(uniform(static_cast<int64_t>(first_end), 400));
    auto append = [&](FixtureSource& source, size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        AppendPageview(source, events[i].partition, events[i].user, events[i].ts_ms,
                       events[i].duration_ms);
      }
    };
    PipelineOptions options = CommitEveryBatch();
    options.max_batch_records = static_cast<size_t>(uniform(1, 64));

    TempDir dir;
    Instance eddy(dir);
    double late = 0;
    {
      FixtureSource source;
      source.DeclarePartitions(kTopic, partitions);
      append(source, 0, first_end);
      REQUIRE(eddy.Run(source, {}, {}, options).status.ok());
      late += eddy.Late();
    }
    eddy.Restart();
    FixtureSource source;
    source.DeclarePartitions(kTopic, partitions);
    source.set_ignore_resume_offsets(seed % 3 == 0);
    append(source, 0, second_end);
    std::vector<std::string> keys = users;
    keys.push_back("nobody");
    const RunResult run = eddy.Run(source, keys, {[&](FixtureSource& s) {
                                     append(s, second_end, events.size());
                                     s.RequestRebalance();
                                   }},
                                   options);
    REQUIRE(run.status.ok());
    late += eddy.Late();

    for (const std::string& key : keys) {
      std::vector<ExpectedWindow> windows;
      if (auto it = reference.find(key); it != reference.end()) {
        for (const auto& [start, window] : it->second) windows.push_back(window);
      }
      CHECK(run.views.at(key) == ViewJson(key, windows));
    }
    CHECK(late == static_cast<double>(expected_late));
  }
}

TEST_CASE("a record a later step cannot use changes no step of the topology",
          "[engine][pipeline]") {
  TempDir dir;
  // Step 1 only counts; step 2 also sums duration_ms. A record without duration_ms is fine
  // for step 1 but not for step 2: it must change neither.
  std::string yaml = PageviewsYaml(dir.path());
  const std::string steps = "    steps:\n";
  yaml.insert(yaml.find(steps) + steps.size(),
              "      - name: counts\n"
              "        window: {type: tumbling, size: 1m}\n"
              "        aggregates: [{name: views, function: count}]\n");
  yaml.replace(yaml.find("        from: per_minute"),
               std::string("        from: per_minute").size(), "        from: counts");
  Instance eddy(dir.path(), yaml);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen, 10);
  source.Append(kTopic, 0, std::nullopt,
                R"({"user":{"id":"alice"},"ts":")" + codec::FormatRfc3339Millis(kTen) + R"("})");
  const RunResult run = eddy.Run(source, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(eddy.Failed("invalid_field") == 1);
  CHECK(run.views.at("alice") ==
        R"({"view":"views_per_minute","key":"alice","windows":[{"start":")" +
            codec::FormatRfc3339Millis(kTen) + R"(","end":")" +
            codec::FormatRfc3339Millis(kTen + kMinute) + R"(","start_ms":)" + std::to_string(kTen) +
            R"(,"end_ms":)" + std::to_string(kTen + kMinute) + R"(,"aggregates":{"views":1}}]})");
}

TEST_CASE("hopping windows, emit final and retention: what a view lists and when",
          "[engine][pipeline]") {
  TempDir dir;
  std::string yaml = PageviewsYaml(dir.path());
  const std::string tumbling = "window: {type: tumbling, size: 1m, grace: 10s}\n";
  REQUIRE(yaml.find(tumbling) != std::string::npos);
  yaml.replace(yaml.find(tumbling), tumbling.size(),
               "window: {type: hopping, size: 2m, advance: 1m, grace: 0s, retention: 4m}\n"
               "        emit: final\n");
  Instance eddy(dir.path(), yaml);
  FixtureSource source;
  // Alice at 10:00:30 belongs to [09:59, 10:01) and [10:00, 10:02).
  AppendPageview(source, 0, "alice", kTen + 30'000, 10);
  std::vector<std::string> seen;
  auto look = [&](FixtureSource&) { seen.push_back(eddy.QueryRaw("alice")); };
  auto window = [](int64_t start, bool closed) {
    return R"({"start":")" + codec::FormatRfc3339Millis(start) + R"(","end":")" +
           codec::FormatRfc3339Millis(start + 2 * kMinute) + R"(","start_ms":)" +
           std::to_string(start) + R"(,"end_ms":)" + std::to_string(start + 2 * kMinute) +
           R"(,"closed":)" + (closed ? "true" : "false") +
           R"(,"aggregates":{"views":1,"total_duration_ms":10}})";
  };
  const std::string prefix = R"({"view":"views_per_minute","key":"alice","windows":[)";
  const RunResult run = eddy.Run(source, {},
                                 {look,
                                  [&](FixtureSource& s) {
                                    // Stream time 10:01:01 closes [09:59, 10:01) (grace 0), not
                                    // [10:00, 10:02).
                                    AppendPageview(s, 0, "bob", kTen + 61'000, 1);
                                  },
                                  look,
                                  [&](FixtureSource& s) {
                                    // 10:02:00 closes the second window too.
                                    AppendPageview(s, 0, "bob", kTen + 120'000, 1);
                                  },
                                  look,
                                  [&](FixtureSource& s) {
                                    // 10:03:00: [09:59, 10:01) expires (start + 4m <= stream time),
                                    // so the view drops it.
                                    AppendPageview(s, 0, "bob", kTen + 180'000, 1);
                                  },
                                  look});
  REQUIRE(run.status.ok());
  REQUIRE(seen.size() == 4);
  CHECK(seen[0] == prefix + "]}");  // emit final: nothing is closed yet
  CHECK(seen[1] == prefix + window(kTen - kMinute, true) + "]}");
  CHECK(seen[2] == prefix + window(kTen - kMinute, true) + "," + window(kTen, true) + "]}");
  CHECK(seen[3] == prefix + window(kTen, true) + "]}");
  CHECK(eddy.Late() == 0);
}

// Collects what a topology sends; Flush marks everything sent so far as delivered.
class CollectingSink final : public Sink {
 public:
  Status Send(SinkRecord record) override {
    pending.push_back(std::move(record));
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override {
    for (auto& record : pending) delivered.push_back(std::move(record));
    pending.clear();
    return Status::Ok();
  }
  std::vector<std::string> DeliveredValues() const {
    std::vector<std::string> values;
    for (const SinkRecord& record : delivered) values.push_back(record.value);
    return values;
  }
  std::vector<SinkRecord> pending;
  std::vector<SinkRecord> delivered;
};

std::string WithSink(std::string yaml, const std::string& emit, const std::string& shape) {
  if (emit == "final") {
    const std::string window = "grace: 10s}\n";
    yaml.insert(yaml.find(window) + window.size(), "        emit: final\n");
  }
  return yaml +
         "    sinks:\n      - name: out\n        from: per_minute\n        topic: results\n" +
         "        value: " + shape + "\n";
}

std::string NestedResult(const std::string& key, int64_t start, bool closed, int64_t views,
                         int64_t total) {
  return R"({"key":")" + key + R"(","start":")" + codec::FormatRfc3339Millis(start) +
         R"(","end":")" + codec::FormatRfc3339Millis(start + kMinute) + R"(","start_ms":)" +
         std::to_string(start) + R"(,"end_ms":)" + std::to_string(start + kMinute) +
         R"(,"closed":)" + (closed ? "true" : "false") + R"(,"aggregates":{"views":)" +
         std::to_string(views) + R"(,"total_duration_ms":)" + std::to_string(total) + "}}";
}

TEST_CASE("a sink gets every committed change of a window (emit: update), coalesced per commit",
          "[engine][pipeline][sink]") {
  TempDir dir;
  CollectingSink sink;
  Instance eddy(dir.path(), WithSink(PageviewsYaml(dir.path()), "update", "nested"), &sink);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen + 1'000, 10);
  AppendPageview(source, 0, "alice", kTen + 2'000, 20);  // same commit: one output
  const RunResult run = eddy.Run(
      source, {}, {[&](FixtureSource& s) { AppendPageview(s, 0, "alice", kTen + 75'000, 5); }});
  REQUIRE(run.status.ok());
  CHECK(sink.pending.empty());
  CHECK(sink.DeliveredValues() ==
        std::vector<std::string>{NestedResult("alice", kTen, false, 2, 30),
                                 NestedResult("alice", kTen + kMinute, false, 1, 5)});
  REQUIRE(sink.delivered.size() == 2);
  CHECK(sink.delivered[0].topic == "results");
  CHECK(sink.delivered[0].key == std::optional<std::string>("alice"));
  CHECK(sink.delivered[0].timestamp_ms == kTen + kMinute - 1);
}

TEST_CASE("emit: final sends each window once, when it closes, and never again after a restart",
          "[engine][pipeline][sink]") {
  TempDir dir;
  CollectingSink sink;
  const std::string yaml = WithSink(PageviewsYaml(dir.path()), "final", "flat");
  {
    Instance eddy(dir.path(), yaml, &sink);
    FixtureSource source;
    AppendPageview(source, 0, "alice", kTen + 1'000, 10);
    AppendPageview(source, 0, "bob", kTen + 30'000, 7);
    // 10:01:10 = end + grace of the 10:00 window: it closes.
    AppendPageview(source, 0, "alice", kTen + 70'000, 3);
    REQUIRE(eddy.Run(source).status.ok());
  }
  const std::string closed_alice = R"({"key":"alice","window_start_ms":)" + std::to_string(kTen) +
                                   R"(,"window_end_ms":)" + std::to_string(kTen + kMinute) +
                                   R"(,"closed":true,"views":1,"total_duration_ms":10})";
  const std::string closed_bob = R"({"key":"bob","window_start_ms":)" + std::to_string(kTen) +
                                 R"(,"window_end_ms":)" + std::to_string(kTen + kMinute) +
                                 R"(,"closed":true,"views":1,"total_duration_ms":7})";
  // Windows closing at the same moment go out in key order.
  CHECK(sink.DeliveredValues() == std::vector<std::string>{closed_alice, closed_bob});

  // Restart over the same state: the 10:01 window is still open and is rebuilt from RocksDB;
  // the 10:00 windows were emitted before the last commit and are not sent again.
  sink.delivered.clear();
  Instance restarted(dir.path(), yaml, &sink);
  FixtureSource source;
  source.Append(kTopic, 0, "k", Pageview("x", kTen, 1), kTen);  // offsets 0..2: already applied
  source.Append(kTopic, 0, "k", Pageview("x", kTen, 1), kTen);
  source.Append(kTopic, 0, "k", Pageview("x", kTen, 1), kTen);
  AppendPageview(source, 0, "carol", kTen + 200'000, 1);  // closes 10:01 (and not 10:03)
  REQUIRE(restarted.Run(source).status.ok());
  const std::string closed_alice_2 = R"({"key":"alice","window_start_ms":)" +
                                     std::to_string(kTen + kMinute) + R"(,"window_end_ms":)" +
                                     std::to_string(kTen + 2 * kMinute) +
                                     R"(,"closed":true,"views":1,"total_duration_ms":3})";
  CHECK(sink.DeliveredValues() == std::vector<std::string>{closed_alice_2});
}

TEST_CASE("idle_timeout: a quiet partition's windows close on the wall clock",
          "[engine][pipeline][sink]") {
  TempDir dir;
  CollectingSink sink;
  std::string yaml =
      WithSink(PageviewsYaml(dir.path(), kDefaultAggregates, "100ms"), "final", "flat");
  yaml.replace(yaml.find("grace: 10s"), std::string("grace: 10s").size(), "grace: 0s");
  const std::string timestamp = "timestamp: {field: ts, format: rfc3339}\n";
  yaml.insert(yaml.find(timestamp) + timestamp.size(), "      idle_timeout: 50ms\n");
  Instance eddy(dir.path(), yaml, &sink);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen + 10, 4);
  // No record ever arrives after it; only the wall clock moves (a bounded wait: the window
  // ends 90 ms of event time later, idleness starts counting after 50 ms).
  const RunResult run = eddy.Run(source, {}, {[&](FixtureSource&) {
                                   std::this_thread::sleep_for(std::chrono::milliseconds(300));
                                 }});
  REQUIRE(run.status.ok());
  CHECK(sink.DeliveredValues() ==
        std::vector<std::string>{R"({"key":"alice","window_start_ms":)" + std::to_string(kTen) +
                                 R"(,"window_end_ms":)" + std::to_string(kTen + 100) +
                                 R"(,"closed":true,"views":1,"total_duration_ms":4})"});
  // The advanced stream time was committed with the emission.
  CHECK(eddy.Progress(0)->stream_time_ms >= kTen + 100);
}

TEST_CASE("dedup drops ids seen within the ttl, across a restart, and lets them pass after",
          "[engine][pipeline][dedup]") {
  TempDir dir;
  std::string yaml = PageviewsYaml(dir.path());
  const std::string steps = "    steps:\n";
  yaml.insert(yaml.find(steps) + steps.size(),
              "      - name: once\n        dedup: {kafka_key: true, ttl: 1m}\n");
  auto duplicates = [](Instance& eddy) {
    return eddy.metrics()
        .duplicates_dropped.Add({{"topology", "pageviews"}, {"step", "once"}})
        .Value();
  };
  FixtureSource first;
  first.Append(kTopic, 0, "k1", Pageview("alice", kTen, 1), kTen);
  first.Append(kTopic, 0, "k1", Pageview("alice", kTen + 30'000, 100), kTen);  // repeat
  first.Append(kTopic, 0, "k2", Pageview("alice", kTen + 40'000, 2), kTen);    // other id
  {
    Instance eddy(dir.path(), yaml);
    const RunResult run = eddy.Run(first, {"alice"});
    REQUIRE(run.status.ok());
    CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 2, 3}}));
    CHECK(duplicates(eddy) == 1);
  }
  Instance eddy(dir.path(), yaml);  // restart: the ids come back from RocksDB
  FixtureSource second;
  for (int i = 0; i < 3; ++i)
    second.Append(kTopic, 0, "x", Pageview("x", kTen, 1), kTen);                 // applied
  second.Append(kTopic, 0, "k1", Pageview("alice", kTen + 50'000, 1000), kTen);  // still seen
  // Stream time 10:01:05: k1 was first seen at 10:00, + 1m ttl <= 10:01:05: it passes again.
  second.Append(kTopic, 0, "k1", Pageview("alice", kTen + 65'000, 4), kTen);
  second.Append(kTopic, 0, "k1", Pageview("alice", kTen + 66'000, 1000), kTen);  // new ttl: dup
  second.Append(kTopic, 0, std::nullopt, Pageview("alice", kTen + 67'000, 1000), kTen);  // no id
  const RunResult run = eddy.Run(second, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") == ViewJson("alice", {{kTen, 2, 3}, {kTen + kMinute, 1, 4}}));
  CHECK(duplicates(eddy) == 2);
  CHECK(eddy.Failed("invalid_field") == 1);
}

TEST_CASE("a table keeps the latest value per key across a restart, tombstones delete",
          "[engine][pipeline][table]") {
  TempDir dir;
  const std::string yaml =
      "kafka:\n  bootstrap.servers: 127.0.0.1:9092\n  group.id: g\n"
      "state:\n  dir: " +
      dir.path() +
      "\n"
      "topologies:\n  - name: customers\n"
      "    source: {topic: pageviews, key: {kafka_key: true}}\n"
      "    steps:\n      - {name: latest, table: {delete_when: \"gone\"}}\n"
      "    views:\n      - {name: customers, from: latest}\n";
  auto tombstone = [](FixtureSource& source, const std::string& key) {
    FixtureRecord record;
    record.topic = kTopic;
    record.key = key;
    record.tombstone = true;
    source.Append(std::move(record));
  };
  {
    Instance eddy(dir.path(), yaml);
    FixtureSource source;
    source.Append(kTopic, 0, "c1", R"({"tier":"silver"})");
    source.Append(kTopic, 0, "c2", R"({"tier":"gold"})");
    source.Append(kTopic, 0, "c1", R"({"tier":"gold"})");
    REQUIRE(eddy.Run(source, {"c1", "c2"}).status.ok());
  }
  Instance eddy(dir.path(), yaml);  // restart: rows come back from RocksDB
  FixtureSource source;
  for (int i = 0; i < 3; ++i) source.Append(kTopic, 0, "x", R"({"tier":"replayed"})");
  tombstone(source, "c2");
  source.Append(kTopic, 0, "c3", R"({"tier":"bronze"})");
  source.Append(kTopic, 0, "c3", R"({"gone":true})");
  const RunResult run = eddy.Run(source, {"c1", "c2", "c3", "x"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("c1") == R"({"view":"customers","key":"c1","value":{"tier":"gold"}})");
  CHECK(run.views.at("c2") == R"({"view":"customers","key":"c2","value":null})");
  CHECK(run.views.at("c3") == R"({"view":"customers","key":"c3","value":null})");
  CHECK(run.views.at("x") == R"({"view":"customers","key":"x","value":null})");  // not applied
}

// ------------------------------------------------------------------- Session windows

constexpr int64_t kGap = 5 * kMinute;
constexpr int64_t kSessionGrace = kMinute;

// PageviewsYaml with a session window (gap 5m, grace 1m) instead of the tumbling one.
std::string SessionYaml(const std::string& state_dir,
                        const std::string& aggregates = kDefaultAggregates,
                        const std::string& extra_step_keys = "") {
  std::string yaml = PageviewsYaml(state_dir, aggregates);
  const std::string tumbling = "window: {type: tumbling, size: 1m, grace: 10s}\n";
  REQUIRE(yaml.find(tumbling) != std::string::npos);
  yaml.replace(yaml.find(tumbling), tumbling.size(),
               "window: {type: session, gap: 5m, grace: 1m}\n" + extra_step_keys);
  return yaml;
}

struct ExpectedSession {
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // the last event time, inclusive
  int64_t views = 0;
  int64_t total = 0;
};

// The JSON views_per_minute serves for sessions, without "closed" flags (see Query).
std::string SessionViewJson(std::string_view key, const std::vector<ExpectedSession>& sessions) {
  std::string out = R"({"view":"views_per_minute","key":")" + std::string(key) + R"(","windows":[)";
  for (size_t i = 0; i < sessions.size(); ++i) {
    const ExpectedSession& s = sessions[i];
    if (i > 0) out += ',';
    out += R"({"start":")" + codec::FormatRfc3339Millis(s.start_ms) + R"(","end":")" +
           codec::FormatRfc3339Millis(s.end_ms) + R"(","start_ms":)" + std::to_string(s.start_ms) +
           R"(,"end_ms":)" + std::to_string(s.end_ms) + R"(,"aggregates":{"views":)" +
           std::to_string(s.views) + R"(,"total_duration_ms":)" + std::to_string(s.total) + "}}";
  }
  return out + "]}";
}

size_t CountRows(const state::StateDb& db, std::string_view prefix) {
  size_t rows = 0;
  REQUIRE(db.ScanPrefix(prefix, [&](std::string_view, std::string_view) {
              ++rows;
              return true;
            }).ok());
  return rows;
}

TEST_CASE("sessions grow, merge across a bridging record and close after end + gap + grace",
          "[engine][pipeline][session]") {
  TempDir dir;
  Instance eddy(dir.path(), SessionYaml(dir.path()));
  const int64_t second = 1'000;
  const int64_t b_start = kTen + 9 * kMinute + 30 * second;
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen, 1);                // [10:00, 10:00]
  AppendPageview(source, 0, "alice", kTen + 4 * kMinute, 2);  // within 5m: [10:00, 10:04]
  AppendPageview(source, 0, "alice", b_start, 4);             // 5m30s later: a new session
  std::vector<std::string> seen;
  std::string raw;  // with the closed flags, at the end
  auto look = [&](FixtureSource&) {
    seen.push_back(eddy.Query("alice"));
    raw = eddy.QueryRaw("alice");
  };
  const std::string prefix = state::EncodeWindowKeyPrefix("pageviews.per_minute", 0, "alice");
  size_t rows_before_merge = 0;
  const RunResult run = eddy.Run(source, {"alice", "carol"},
                                 {look,
                                  [&](FixtureSource& s) {
                                    rows_before_merge = CountRows(eddy.db(), prefix);
                                    // 10:07 is within 5m of both (10:04 closes only at stream time
                                    // 10:10:00.001): one session [10:00, 10:09:30]; the 10:09:30
                                    // row goes.
                                    AppendPageview(s, 0, "alice", kTen + 7 * kMinute, 8);
                                  },
                                  look,
                                  [&](FixtureSource& s) {
                                    // Stream time 10:15:31 > 10:09:30 + 5m + 1m: the session is
                                    // closed. 10:14 would join it (within the gap), so it is late,
                                    // although a session of its own would be open.
                                    AppendPageview(s, 0, "bob", b_start + 6 * kMinute + second, 1);
                                    AppendPageview(s, 0, "alice", kTen + 14 * kMinute, 16);
                                    // 10:09:30 would start a session already closed (+ 6m <
                                    // 10:15:31)...
                                    AppendPageview(s, 0, "carol", b_start, 1);
                                    // ... 10:09:31 one still open (+ 6m = 10:15:31, not <
                                    // 10:15:31).
                                    AppendPageview(s, 0, "carol", b_start + second, 1);
                                  },
                                  look});
  REQUIRE(run.status.ok());
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] ==
        SessionViewJson("alice", {{kTen, kTen + 4 * kMinute, 2, 3}, {b_start, b_start, 1, 4}}));
  CHECK(rows_before_merge == 2);
  CHECK(seen[1] == SessionViewJson("alice", {{kTen, b_start, 4, 15}}));
  CHECK(CountRows(eddy.db(), prefix) == 1);  // the merged-away row was deleted
  CHECK(seen[2] == seen[1]);
  CHECK(eddy.Late() == 2);
  CHECK(raw.find(R"("closed":true)") != std::string::npos);
  CHECK(run.views.at("carol") ==
        SessionViewJson("carol", {{b_start + second, b_start + second, 1, 1}}));
}

TEST_CASE("merging sessions keeps first, last and latest right", "[engine][pipeline][session]") {
  TempDir dir;
  Instance eddy(dir.path(), SessionYaml(dir.path(),
                                        "[{name: first, function: first, field: duration_ms}, "
                                        "{name: last, function: last, field: duration_ms}, "
                                        "{name: latest, function: latest, field: duration_ms}]"));
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen, 1);
  AppendPageview(source, 0, "alice", kTen + 3 * kMinute, 2);           // A = [10:00, 10:03]
  AppendPageview(source, 0, "alice", kTen + 8 * kMinute + 30'000, 3);  // B, 5m30s later
  // 10:05:45 bridges A and B (2m45s from each), arriving last: `latest` is its value,
  // although B's record has the later event time.
  AppendPageview(source, 0, "alice", kTen + 5 * kMinute + 45'000, 4);
  const RunResult run = eddy.Run(source, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") ==
        R"({"view":"views_per_minute","key":"alice","windows":[{"start":")" +
            codec::FormatRfc3339Millis(kTen) + R"(","end":")" +
            codec::FormatRfc3339Millis(kTen + 8 * kMinute + 30'000) + R"(","start_ms":)" +
            std::to_string(kTen) + R"(,"end_ms":)" + std::to_string(kTen + 8 * kMinute + 30'000) +
            R"(,"aggregates":{"first":1,"last":3,"latest":4}}]})");
}

TEST_CASE("a view joins one key's sessions across partitions when they are within the gap",
          "[engine][pipeline][session]") {
  TempDir dir;
  Instance eddy(dir.path(), SessionYaml(dir.path()));
  FixtureSource source;
  source.DeclarePartitions(kTopic, 2);
  AppendPageview(source, 0, "alice", kTen, 1);
  AppendPageview(source, 1, "alice", kTen + 4 * kMinute, 2);   // within 5m of partition 0's
  AppendPageview(source, 0, "alice", kTen + 8 * kMinute, 4);   // partition 0: [10:00], [10:08]
  AppendPageview(source, 1, "alice", kTen + 30 * kMinute, 8);  // far away: its own session
  const RunResult run = eddy.Run(source, {"alice"});
  REQUIRE(run.status.ok());
  CHECK(run.views.at("alice") ==
        SessionViewJson("alice", {{kTen, kTen + 8 * kMinute, 3, 7},
                                  {kTen + 30 * kMinute, kTen + 30 * kMinute, 1, 8}}));
}

TEST_CASE("session sinks: emit update sends merged-away sessions as deleted, emit final once",
          "[engine][pipeline][session][sink]") {
  auto session_result = [](int64_t start, int64_t end, bool closed, const std::string& rest) {
    return R"({"key":"alice","start":")" + codec::FormatRfc3339Millis(start) + R"(","end":")" +
           codec::FormatRfc3339Millis(end) + R"(","start_ms":)" + std::to_string(start) +
           R"(,"end_ms":)" + std::to_string(end) + R"(,"closed":)" + (closed ? "true" : "false") +
           "," + rest + "}";
  };
  const std::string sink_yaml =
      "    sinks:\n      - {name: out, from: per_minute, topic: results}\n";
  SECTION("update") {
    TempDir dir;
    CollectingSink sink;
    Instance eddy(dir.path(), SessionYaml(dir.path()) + sink_yaml, &sink);
    FixtureSource source;
    AppendPageview(source, 0, "alice", kTen + 8 * kMinute, 8);
    const RunResult run = eddy.Run(source, {}, {[&](FixtureSource& s) {
                                     // Extends the session backwards: its start (the row's
                                     // key) changes, so the old one is deleted.
                                     AppendPageview(s, 0, "alice", kTen + 4 * kMinute, 4);
                                   }});
    REQUIRE(run.status.ok());
    CHECK(sink.DeliveredValues() ==
          std::vector<std::string>{
              session_result(kTen + 8 * kMinute, kTen + 8 * kMinute, false,
                             R"("aggregates":{"views":1,"total_duration_ms":8})"),
              session_result(kTen + 8 * kMinute, kTen + 8 * kMinute, false, R"("deleted":true)"),
              session_result(kTen + 4 * kMinute, kTen + 8 * kMinute, false,
                             R"("aggregates":{"views":2,"total_duration_ms":12})")});
    REQUIRE(sink.delivered.size() == 3);
    CHECK(sink.delivered[2].timestamp_ms == kTen + 8 * kMinute);  // the session's end
  }
  SECTION("final") {
    TempDir dir;
    CollectingSink sink;
    std::string yaml = SessionYaml(dir.path(), kDefaultAggregates, "        emit: final\n");
    yaml += sink_yaml;
    {
      Instance eddy(dir.path(), yaml, &sink);
      FixtureSource source;
      AppendPageview(source, 0, "alice", kTen, 1);
      AppendPageview(source, 0, "alice", kTen + 2 * kMinute, 2);
      AppendPageview(source, 0, "bob", kTen + 8 * kMinute, 1);  // stream time 10:08: open
      REQUIRE(eddy.Run(source).status.ok());
      CHECK(sink.delivered.empty());
    }
    Instance eddy(dir.path(), yaml, &sink);  // restart: open sessions rebuilt from RocksDB
    FixtureSource source;
    for (int i = 0; i < 3; ++i) source.Append(kTopic, 0, "x", Pageview("x", kTen, 1), kTen);
    // 10:08:01 > 10:02 + 5m + 1m: alice's session closes; bob's does not.
    AppendPageview(source, 0, "carol", kTen + 8 * kMinute + 1'000, 1);
    AppendPageview(source, 0, "carol", kTen + 9 * kMinute, 1);
    REQUIRE(eddy.Run(source).status.ok());
    CHECK(sink.DeliveredValues() == std::vector<std::string>{session_result(
                                        kTen, kTen + 2 * kMinute, true,
                                        R"("aggregates":{"views":2,"total_duration_ms":3})")});
  }
}

TEST_CASE("late_records: a record late for a window goes to the topic with its provenance",
          "[engine][pipeline][late]") {
  TempDir dir;
  CollectingSink sink;
  const std::string yaml = SessionYaml(dir.path(), kDefaultAggregates,
                                       "        late_records: {topic: late-pageviews}\n");
  Instance eddy(dir.path(), yaml, &sink);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen + 10 * kMinute, 1);
  FixtureRecord late;
  late.topic = kTopic;
  late.key = "k";
  late.value = Pageview("bob", kTen, 7);  // 10:00 + 5m + 1m < 10:10: late
  late.timestamp_ms = 42;
  late.headers = {{"trace", "t1"}};
  source.Append(std::move(late));
  REQUIRE(eddy.Run(source).status.ok());
  CHECK(eddy.Late() == 1);
  REQUIRE(sink.delivered.size() == 1);
  const SinkRecord& record = sink.delivered[0];
  CHECK(record.topic == "late-pageviews");
  CHECK(record.key == std::optional<std::string>("k"));
  CHECK(record.value == Pageview("bob", kTen, 7));
  CHECK(record.timestamp_ms == 42);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  CHECK(record.headers == Headers{{"trace", "t1"},
                                  {"eddy.source.topic", kTopic},
                                  {"eddy.reason", "late"},
                                  {"eddy.topology", "pageviews"},
                                  {"eddy.step", "per_minute"},
                                  {"eddy.source.partition", "0"},
                                  {"eddy.source.offset", "1"},
                                  {"eddy.event_time_ms", std::to_string(kTen)}});
}

TEST_CASE("late_records: a hopping record late in some windows is sent once",
          "[engine][pipeline][late]") {
  TempDir dir;
  CollectingSink sink;
  std::string yaml = PageviewsYaml(dir.path());
  const std::string tumbling = "window: {type: tumbling, size: 1m, grace: 10s}\n";
  yaml.replace(yaml.find(tumbling), tumbling.size(),
               "window: {type: hopping, size: 2m, advance: 1m}\n"
               "        late_records: {topic: late}\n");
  Instance eddy(dir.path(), yaml, &sink);
  FixtureSource source;
  AppendPageview(source, 0, "alice", kTen + 61'000, 1);
  // 10:00:30 is in [09:59, 10:01), closed at 10:01:01, and in [10:00, 10:02), open.
  AppendPageview(source, 0, "alice", kTen + 30'000, 1);
  REQUIRE(eddy.Run(source).status.ok());
  CHECK(eddy.Late() == 1);
  REQUIRE(sink.delivered.size() == 1);
  CHECK(sink.delivered[0].value == Pageview("alice", kTen + 30'000, 1));
}

TEST_CASE("a step without a window aggregates per key over all time, across partitions",
          "[engine][pipeline][unwindowed]") {
  TempDir dir;
  CollectingSink sink;
  std::string yaml = PageviewsYaml(dir.path());
  const std::string tumbling = "        window: {type: tumbling, size: 1m, grace: 10s}\n";
  yaml.replace(yaml.find(tumbling), tumbling.size(), "");
  yaml += "    sinks:\n      - {name: out, from: per_minute, topic: totals, value: flat}\n";
  Instance eddy(dir.path(), yaml, &sink);
  FixtureSource source;
  source.DeclarePartitions(kTopic, 2);
  AppendPageview(source, 0, "alice", kTen + 50 * kMinute, 1);
  AppendPageview(source, 0, "alice", -kTen, 2);  // no record is ever late
  AppendPageview(source, 1, "alice", kTen, 4);
  const RunResult run = eddy.Run(source, {"alice", "nobody"});
  REQUIRE(run.status.ok());
  CHECK(eddy.Late() == 0);
  CHECK(
      run.views.at("alice") ==
      R"({"view":"views_per_minute","key":"alice","aggregates":{"views":3,"total_duration_ms":7}})");
  CHECK(run.views.at("nobody") ==
        R"({"view":"views_per_minute","key":"nobody","aggregates":null})");
  CHECK(eddy.topologies()[0]->views()[0]->kind() == std::string("aggregate"));
  // One result per partition and commit; the timestamp is the partition's stream time.
  const std::vector<std::string> delivered = sink.DeliveredValues();
  const std::multiset<std::string> values(delivered.begin(), delivered.end());
  CHECK(values.count(R"({"key":"alice","views":2,"total_duration_ms":3})") == 1);
  CHECK(values.count(R"({"key":"alice","views":1,"total_duration_ms":4})") == 1);
}

// ------------------------------------------- Property: random streams into session windows

// The semantics, written out plainly: per partition, in offset order, stream time is the max
// event time seen so far (this record included); a key's sessions in a partition are
// intervals [start, end]; a record at t joins those with start - gap <= t <= end + gap; it is
// late if one of them is closed (end + gap + grace < stream time), or if it joins none and
// t + gap + grace < stream time. What a view shows: the sessions of all accepted records of a
// key taken together (sorted by time, split where two neighbours are more than gap apart).
std::map<std::string, std::vector<ExpectedSession>> ReferenceSessions(
    const std::vector<RandomEvent>& events, int64_t& late) {
  struct Interval {
    int64_t start, end;
  };
  std::map<int32_t, int64_t> stream_time;
  std::map<std::pair<int32_t, std::string>, std::vector<Interval>> sessions;
  std::map<std::string, std::vector<const RandomEvent*>> accepted;
  late = 0;
  for (const RandomEvent& e : events) {
    auto [it, inserted] = stream_time.try_emplace(e.partition, e.ts_ms);
    if (!inserted) it->second = std::max(it->second, e.ts_ms);
    const int64_t now = it->second;
    std::vector<Interval>& own = sessions[{e.partition, e.user}];
    std::vector<Interval> joined;
    std::vector<Interval> rest;
    for (const Interval& s : own) {
      (s.start - kGap <= e.ts_ms && e.ts_ms <= s.end + kGap ? joined : rest).push_back(s);
    }
    bool is_late = joined.empty() && e.ts_ms + kGap + kSessionGrace < now;
    for (const Interval& s : joined) is_late = is_late || s.end + kGap + kSessionGrace < now;
    if (is_late) {
      ++late;
      continue;
    }
    Interval merged{e.ts_ms, e.ts_ms};
    for (const Interval& s : joined) {
      merged.start = std::min(merged.start, s.start);
      merged.end = std::max(merged.end, s.end);
    }
    rest.push_back(merged);
    own = rest;
    accepted[e.user].push_back(&e);
  }
  std::map<std::string, std::vector<ExpectedSession>> out;
  for (auto& [user, records] : accepted) {
    std::stable_sort(
        records.begin(), records.end(),
        [](const RandomEvent* a, const RandomEvent* b) { return a->ts_ms < b->ts_ms; });
    std::vector<ExpectedSession>& list = out[user];
    for (const RandomEvent* r : records) {
      if (list.empty() || r->ts_ms > list.back().end_ms + kGap) {
        list.push_back({r->ts_ms, r->ts_ms, 0, 0});
      }
      list.back().end_ms = r->ts_ms;
      list.back().views += 1;
      list.back().total += r->duration_ms;
    }
  }
  return out;
}

TEST_CASE("random out-of-order streams into session windows match a reference computation",
          "[engine][pipeline][session]") {
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
    INFO("seed " << seed);
    std::mt19937 random(seed);
    auto uniform = [&](int64_t low, int64_t high) {
      return std::uniform_int_distribution<int64_t>(low, high)(random);
    };
    const int32_t partitions = static_cast<int32_t>(uniform(1, 3));
    const int64_t base = seed % 2 == 1 ? -30 * kMinute : kTen;
    std::vector<int64_t> clock(static_cast<size_t>(partitions), base);
    std::vector<RandomEvent> events;
    for (int i = 0; i < 300; ++i) {
      RandomEvent e;
      e.partition = static_cast<int32_t>(uniform(0, partitions - 1));
      int64_t& now = clock[static_cast<size_t>(e.partition)];
      // Bursts and pauses, so sessions start, grow, merge and close.
      now += uniform(0, 5) == 0 ? uniform(2, 12) * kMinute : uniform(0, 90'000);
      // Mostly a little out of order; sometimes far behind (late, or within grace).
      e.ts_ms = now - (uniform(0, 4) == 0 ? uniform(0, 15 * kMinute) : uniform(0, 60'000));
      // Whole seconds, so stream time often lands exactly on a session's end + gap + grace.
      e.ts_ms -= (e.ts_ms % 1'000 + 1'000) % 1'000;
      e.user = users[static_cast<size_t>(uniform(0, static_cast<int64_t>(users.size()) - 1))];
      e.duration_ms = uniform(0, 1'000);
      events.push_back(e);
    }
    int64_t expected_late = 0;
    const auto reference = ReferenceSessions(events, expected_late);
    REQUIRE(expected_late > 0);

    // As for tumbling windows: run 1, then a restarted run 2 with a rebalance in between.
    const size_t first_end = static_cast<size_t>(uniform(0, 200));
    const size_t second_end = static_cast<size_t>(uniform(static_cast<int64_t>(first_end), 300));
    auto append = [&](FixtureSource& source, size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        AppendPageview(source, events[i].partition, events[i].user, events[i].ts_ms,
                       events[i].duration_ms);
      }
    };
    PipelineOptions options = CommitEveryBatch();
    options.max_batch_records = static_cast<size_t>(uniform(1, 64));

    TempDir dir;
    Instance eddy(dir.path(), SessionYaml(dir.path()));
    double late = 0;
    {
      FixtureSource source;
      source.DeclarePartitions(kTopic, partitions);
      append(source, 0, first_end);
      REQUIRE(eddy.Run(source, {}, {}, options).status.ok());
      late += eddy.Late();
    }
    eddy.Restart();
    FixtureSource source;
    source.DeclarePartitions(kTopic, partitions);
    source.set_ignore_resume_offsets(seed % 3 == 0);
    append(source, 0, second_end);
    std::vector<std::string> keys = users;
    keys.push_back("nobody");
    const RunResult run = eddy.Run(source, keys, {[&](FixtureSource& s) {
                                     append(s, second_end, events.size());
                                     s.RequestRebalance();
                                   }},
                                   options);
    REQUIRE(run.status.ok());
    late += eddy.Late();

    for (const std::string& key : keys) {
      std::vector<ExpectedSession> sessions;
      if (auto it = reference.find(key); it != reference.end()) sessions = it->second;
      CHECK(run.views.at(key) == SessionViewJson(key, sessions));
    }
    CHECK(late == static_cast<double>(expected_late));
  }
}

}  // namespace
}  // namespace eddy::engine
