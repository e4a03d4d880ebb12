// ExactlyOnceSink + Pipeline without a broker: a FakeKafka plays the transactional output
// (what a read_committed consumer would see, and the group's committed offsets with their
// metadata) and can crash the process before or after a transaction's commit, fail for a
// while, or refuse records. The state is real RocksDB; a "crash" is Pipeline::Run failing,
// after which the test builds a new instance over the same state directory and the same
// FakeKafka, as a restarted process would find them.
//
// What must hold: whatever the failure, the records FakeKafka committed equal, in order,
// those of one clean run over the same input: nothing lost, nothing twice.
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/loader.h"
#include "engine/exactly_once_sink.h"
#include "engine/fixture_source.h"
#include "engine/pipeline.h"
#include "engine/topology.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

using eddy::testing::TempDir;

constexpr int64_t kTen = 1'795'600'800'000;  // 2026-11-25T10:00:00Z
constexpr int64_t kMinute = 60'000;

std::string Yaml(const std::string& state_dir, bool dead_letters) {
  return "kafka:\n"
         "  bootstrap.servers: 127.0.0.1:9092\n"
         "  group.id: eddy-exactly-once-test\n"
         "state:\n"
         "  dir: " +
         state_dir +
         "\n"
         "delivery: {guarantee: exactly_once}\n"
         "topologies:\n"
         "  - name: clicks\n"
         "    source:\n"
         "      topic: clicks\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n" +
         (dead_letters ? "    dead_letters: {topic: clicks.dead}\n" : "") +
         "    steps:\n"
         "      - name: per_minute\n"
         "        window: {type: tumbling, size: 1m}\n"
         "        emit: final\n"
         "        aggregates: [{name: clicks, function: count}]\n"
         "    sinks:\n"
         "      - {name: out, from: per_minute, topic: results, value: flat}\n";
}

config::Config LoadConfig(const std::string& yaml) {
  const config::LoadResult result = config::LoadString(
      yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  for (const config::Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  return *result.config;
}

// The broker: committed records (what read_committed consumers read) and the group's
// committed offsets with their metadata. Outlives the "processes" of a test.
class FakeKafka final : public TransactionalOutput {
 public:
  enum class Crash { kNone, kBeforeCommit, kAfterCommit };

  // Arms a failure for the transaction attempt number `attempt` (1 = the first one).
  void CrashAt(int attempt, Crash crash) {
    crash_attempt_ = attempt;
    crash_ = crash;
  }
  void FailNext(int count) { transient_failures_ = count; }
  // Refuses records to "results" with this value, as a broker refuses a record too large
  // for that topic's max.message.bytes (its dead letter goes to another topic).
  void Refuse(std::string value) { refused_values_.insert(std::move(value)); }
  void AcceptAll() { refused_values_.clear(); }

  Status Start(std::chrono::milliseconds) override {
    ++starts;
    return Status::Ok();
  }

  Status Commit(const OutputTransaction& transaction, std::vector<FailedDelivery>& refused,
                std::chrono::milliseconds) override {
    ++attempts;
    if (transient_failures_ > 0) {
      --transient_failures_;
      return Status::Unavailable("broker not available");
    }
    bool any_refused = false;
    for (const SinkRecord& record : transaction.records) {
      if (record.topic == "results" && refused_values_.count(record.value) > 0) {
        refused.push_back({record, Status::InvalidArgument("MSG_SIZE_TOO_LARGE")});
        any_refused = true;
      }
    }
    if (any_refused) return Status::Unavailable("transaction aborted: a record was refused");
    if (attempts == crash_attempt_ && crash_ == Crash::kBeforeCommit) {
      return Status::Internal("crash before the Kafka commit");
    }
    for (const SinkRecord& record : transaction.records) records.push_back(record);
    for (const PartitionOffset& offset : transaction.offsets) {
      committed_offsets[offset.partition] = {offset.next_offset, TransactionMarker(transaction)};
    }
    ++commits;
    if (attempts == crash_attempt_ && crash_ == Crash::kAfterCommit) {
      return Status::Internal("crash after the Kafka commit");
    }
    return Status::Ok();
  }

  Result<bool> IsCommitted(const OutputTransaction& transaction,
                           std::chrono::milliseconds) override {
    ++committed_queries;
    for (const PartitionOffset& offset : transaction.offsets) {
      auto it = committed_offsets.find(offset.partition);
      if (it != committed_offsets.end() && it->second.second == TransactionMarker(transaction)) {
        return true;
      }
    }
    return false;
  }

  std::vector<std::string> Values(const std::string& topic = "results") const {
    std::vector<std::string> values;
    for (const SinkRecord& record : records) {
      if (record.topic == topic) values.push_back(record.value);
    }
    return values;
  }

  std::vector<SinkRecord> records;
  std::map<TopicPartition, std::pair<int64_t, std::string>> committed_offsets;
  int attempts = 0;
  int commits = 0;
  int starts = 0;
  int committed_queries = 0;

 private:
  int crash_attempt_ = 0;
  Crash crash_ = Crash::kNone;
  int transient_failures_ = 0;
  std::set<std::string> refused_values_;
};

class NoSleepClock final : public RetryClock {
 public:
  TimePoint Now() override { return now_; }
  void SleepFor(std::chrono::milliseconds duration) override {
    now_ += duration;
    slept += duration;
  }
  double Jitter() override { return 1.0; }
  std::chrono::milliseconds slept{0};

 private:
  TimePoint now_{};
};

// One eddy process over a state directory, writing through an ExactlyOnceSink to `kafka`.
class Process {
 public:
  Process(const std::string& dir, FakeKafka& kafka, bool dead_letters = true)
      : config_(LoadConfig(Yaml(dir, dead_letters))) {
    spdlog::set_level(spdlog::level::off);
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir, {});
    REQUIRE(db.ok());
    db_ = std::move(*db);
    sink_ = std::make_unique<ExactlyOnceSink>(
        kafka, *db_, config_.delivery, ReliableSink::RoutesOf(config_.topologies), clock, metrics);
    for (const config::TopologyConfig& topology : config_.topologies) {
      Result<std::unique_ptr<Topology>> created =
          Topology::Create(topology, *db_, metrics, nullptr, sink_.get());
      REQUIRE(created.ok());
      topologies_.push_back(std::move(*created));
    }
  }

  // Runs until the source is drained, or until the pipeline fails (a crash).
  Status Run(FixtureSource& source) {
    PipelineOptions options;
    options.commit_interval = std::chrono::milliseconds(0);  // a commit per batch
    options.max_batch_records = 3;                           // many small transactions
    Pipeline pipeline(source, *db_, topologies_, metrics, options, nullptr, sink_.get());
    source.set_idle_handler([&] { pipeline.RequestStop(); });
    Status status = pipeline.Run();
    source.set_idle_handler(nullptr);
    return status;
  }

  double Transactions(const std::string& result) {
    return metrics.sink_transactions.Add({{"result", result}}).Value();
  }

  NoSleepClock clock;
  metrics::Metrics metrics;

 private:
  config::Config config_;
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<ExactlyOnceSink> sink_;
  std::vector<std::unique_ptr<Topology>> topologies_;
};

// Clicks of three users over six minutes on two partitions (ann and cy on 0, bob on 1):
// every minute's windows close when the next minute's first record arrives on that partition.
void AppendClicks(FixtureSource& source) {
  const char* const users[] = {"ann", "bob", "cy"};
  for (int i = 0; i < 60; ++i) {
    const std::string user = users[i % 3];
    const int64_t ts = kTen + i * 6'000;  // 10:00:00 .. 10:05:54
    source.Append("clicks", (i % 3) % 2, user,
                  R"({"user":")" + user + R"(","ts":)" + std::to_string(ts) + "}", ts);
  }
}

std::vector<std::string> CleanRunValues() {
  TempDir dir;
  FakeKafka kafka;
  Process process(dir.path(), kafka);
  FixtureSource source;
  AppendClicks(source);
  REQUIRE(process.Run(source).ok());
  return kafka.Values();
}

TEST_CASE("output transactions survive the outbox's encoding", "[engine][exactly-once]") {
  OutputTransaction transaction;
  transaction.epoch = 0x0123456789abcdefULL;
  transaction.id = 42;
  transaction.offsets = {{{"clicks", 0}, 17}, {{"clicks", 3}, -1}};
  SinkRecord keyed{"results", std::string("k\0y", 3), "{\"n\":1}", -5, {{"h", ""}, {"x", "y"}}};
  SinkRecord unkeyed{"results.dead", std::nullopt, "", 0, {}};
  transaction.records = {keyed, unkeyed};
  const std::string bytes = EncodeOutputTransaction(transaction);
  const std::optional<OutputTransaction> decoded = DecodeOutputTransaction(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded->epoch == transaction.epoch);
  CHECK(decoded->id == 42);
  CHECK_FALSE(decoded->published);
  REQUIRE(decoded->offsets.size() == 2);
  CHECK(decoded->offsets[1].partition.partition == 3);
  CHECK(decoded->offsets[1].next_offset == -1);
  REQUIRE(decoded->records.size() == 2);
  CHECK(decoded->records[0].key == std::string("k\0y", 3));
  CHECK(decoded->records[0].timestamp_ms == -5);
  CHECK(decoded->records[0].headers == keyed.headers);
  CHECK_FALSE(decoded->records[1].key.has_value());
  CHECK(decoded->records[1].topic == "results.dead");
  CHECK(TransactionMarker(transaction) == "eddy.txn/0123456789abcdef/42");
  // Truncated or extended bytes are refused, never half read.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK_FALSE(DecodeOutputTransaction(bytes.substr(0, cut)).has_value());
  }
  CHECK_FALSE(DecodeOutputTransaction(bytes + "x").has_value());
}

TEST_CASE("exactly-once: each commit's outputs and offsets go out in one transaction",
          "[engine][exactly-once]") {
  TempDir dir;
  FakeKafka kafka;
  Process process(dir.path(), kafka);
  FixtureSource source;
  AppendClicks(source);
  REQUIRE(process.Run(source).ok());
  // Five closed minutes (10:00 .. 10:04) per user; the 10:05 windows stay open.
  const std::vector<std::string> values = kafka.Values();
  CHECK(values.size() == 5 * 3);
  CHECK(std::set<std::string>(values.begin(), values.end()).size() == values.size());
  CHECK(kafka.starts == 1);
  CHECK(kafka.commits == kafka.attempts);
  CHECK(process.Transactions("committed") == kafka.commits);
  CHECK(process.Transactions("aborted") == 0);
  // The group's offsets are the end of each partition, with the last transaction's marker.
  REQUIRE(kafka.committed_offsets.size() == 2);
  CHECK(kafka.committed_offsets[{"clicks", 0}].first == 40);
  CHECK(kafka.committed_offsets[{"clicks", 1}].first == 20);
  CHECK(kafka.committed_offsets[{"clicks", 0}].second.starts_with("eddy.txn/"));
}

TEST_CASE(
    "a crash after the RocksDB commit and before Kafka's publishes the same outputs "
    "again at start",
    "[engine][exactly-once]") {
  const std::vector<std::string> clean = CleanRunValues();
  for (int crash_at : {1, 4, 9, 15}) {
    DYNAMIC_SECTION("crash at transaction attempt " << crash_at) {
      TempDir dir;
      FakeKafka kafka;
      kafka.CrashAt(crash_at, FakeKafka::Crash::kBeforeCommit);
      {
        Process process(dir.path(), kafka);
        FixtureSource source;
        AppendClicks(source);
        const Status crashed = process.Run(source);
        REQUIRE_FALSE(crashed.ok());
        CHECK_THAT(crashed.message(), Catch::Contains("crash before the Kafka commit"));
      }
      const size_t before_restart = kafka.records.size();
      Process restarted(dir.path(), kafka);
      FixtureSource source;
      AppendClicks(source);
      REQUIRE(restarted.Run(source).ok());
      CHECK(kafka.committed_queries == 1);  // the staged transaction was asked about
      CHECK(kafka.Values() == clean);
      CHECK(kafka.records.size() > before_restart);
    }
  }
}

TEST_CASE("a crash after Kafka's commit and before it is marked published sends nothing twice",
          "[engine][exactly-once]") {
  const std::vector<std::string> clean = CleanRunValues();
  for (int crash_at : {1, 4, 9, 15}) {
    DYNAMIC_SECTION("crash at transaction attempt " << crash_at) {
      TempDir dir;
      FakeKafka kafka;
      kafka.CrashAt(crash_at, FakeKafka::Crash::kAfterCommit);
      {
        Process process(dir.path(), kafka);
        FixtureSource source;
        AppendClicks(source);
        REQUIRE_FALSE(process.Run(source).ok());
      }
      Process restarted(dir.path(), kafka);
      FixtureSource source;
      AppendClicks(source);
      REQUIRE(restarted.Run(source).ok());
      CHECK(kafka.committed_queries == 1);
      CHECK(kafka.Values() == clean);
    }
  }
}

TEST_CASE("a clean stop leaves nothing to settle: the next start asks the broker nothing",
          "[engine][exactly-once]") {
  TempDir dir;
  FakeKafka kafka;
  {
    Process process(dir.path(), kafka);
    FixtureSource source;
    AppendClicks(source);
    REQUIRE(process.Run(source).ok());
  }
  const size_t published = kafka.records.size();
  Process restarted(dir.path(), kafka);
  FixtureSource source;
  AppendClicks(source);
  REQUIRE(restarted.Run(source).ok());
  CHECK(kafka.committed_queries == 0);
  CHECK(kafka.records.size() == published);  // replayed offsets are skipped: no new output
}

TEST_CASE("transient failures abort the transaction, which is tried again until it commits",
          "[engine][exactly-once]") {
  const std::vector<std::string> clean = CleanRunValues();
  TempDir dir;
  FakeKafka kafka;
  kafka.FailNext(4);
  Process process(dir.path(), kafka);
  FixtureSource source;
  AppendClicks(source);
  REQUIRE(process.Run(source).ok());
  CHECK(kafka.Values() == clean);
  CHECK(process.Transactions("aborted") == 4);
  // Backoff 100 ms doubling with jitter 1: 100 + 200 + 400 + 800.
  CHECK(process.clock.slept == std::chrono::milliseconds(1500));
}

TEST_CASE("a record the broker refuses is replaced by its dead letter in the same transaction",
          "[engine][exactly-once]") {
  const std::vector<std::string> clean = CleanRunValues();
  REQUIRE(clean.size() > 3);
  const std::string refused = clean[2];
  TempDir dir;
  FakeKafka kafka;
  kafka.Refuse(refused);
  Process process(dir.path(), kafka);
  FixtureSource source;
  AppendClicks(source);
  const Status run = process.Run(source);
  INFO(run.ToString());
  REQUIRE(run.ok());
  std::vector<std::string> expected = clean;
  expected.erase(expected.begin() + 2);
  CHECK(kafka.Values() == expected);
  REQUIRE(kafka.Values("clicks.dead") == std::vector<std::string>{refused});
  const SinkRecord* letter = nullptr;
  for (const SinkRecord& record : kafka.records) {
    if (record.topic == "clicks.dead") letter = &record;
  }
  REQUIRE(letter != nullptr);
  std::map<std::string, std::string> headers(letter->headers.begin(), letter->headers.end());
  CHECK(headers["eddy.reason"] == "delivery_failed");
  CHECK(headers["eddy.error"] == "MSG_SIZE_TOO_LARGE");
  CHECK(headers["eddy.topology"] == "clicks");
  CHECK(headers["eddy.sink.topic"] == "results");
  CHECK(process.metrics.dead_letter_records
            .Add({{"topology", "clicks"}, {"reason", "delivery_failed"}})
            .Value() == 1);
}

TEST_CASE("without a dead-letter topic a refused record stops processing and loses nothing",
          "[engine][exactly-once]") {
  const std::vector<std::string> clean = CleanRunValues();
  const std::string refused = clean[2];
  TempDir dir;
  FakeKafka kafka;
  kafka.Refuse(refused);
  {
    Process process(dir.path(), kafka, /*dead_letters=*/false);
    FixtureSource source;
    AppendClicks(source);
    const Status stopped = process.Run(source);
    REQUIRE_FALSE(stopped.ok());
    CHECK_THAT(stopped.message(), Catch::Contains("no dead_letters topic"));
  }
  // Once the broker takes it (say, max.message.bytes raised), the next start publishes it.
  kafka.AcceptAll();
  Process restarted(dir.path(), kafka, /*dead_letters=*/false);
  FixtureSource source;
  AppendClicks(source);
  REQUIRE(restarted.Run(source).ok());
  CHECK(kafka.Values() == clean);
}

}  // namespace
}  // namespace eddy::engine
