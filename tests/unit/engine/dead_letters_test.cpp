// Dead letters and delivery retries (docs/error-handling.md), end to end through Pipeline +
// Topology over a FixtureSource, a real RocksDB and a FixtureSink: poison records of every
// kind land in the dead-letter topic with their provenance, valid records around them are
// counted exactly; sink failures are retried, then dead-lettered or stop processing.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "codec/json_record.h"
#include "config/loader.h"
#include "engine/fixture_sink.h"
#include "engine/fixture_source.h"
#include "engine/pipeline.h"
#include "engine/reliable_sink.h"
#include "engine/topology.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
constexpr int64_t kTen = 1'795'600'800'000;  // 2026-11-25T10:00:00Z

std::string Yaml(const std::string& dir, const std::string& topology_extra,
                 const std::string& top_extra = "") {
  return "kafka: {bootstrap.servers: 'b:9092', group.id: g}\n"
         "state: {dir: " +
         dir + "}\n" + top_extra +
         "topologies:\n"
         "  - name: pv\n"
         "    source:\n"
         "      topic: pageviews\n"
         "      key: {field: user.id}\n"
         "      timestamp: {field: ts, format: rfc3339}\n"
         "      max_value_bytes: 200\n"
         "    steps:\n"
         "      - name: by_page\n"
         "        rekey: page\n"
         "      - name: per_minute\n"
         "        window: {type: tumbling, size: 1m}\n"
         "        aggregates: [{name: views, function: count}, {name: total, function: sum, "
         "field: duration_ms}]\n"
         "    views:\n"
         "      - {name: per_minute, from: per_minute}\n" +
         topology_extra;
}

std::string Pageview(const std::string& user, int64_t ts_ms, const std::string& duration) {
  return R"({"user":{"id":")" + user + R"("},"page":"/home","duration_ms":)" + duration +
         R"(,"ts":")" + codec::FormatRfc3339Millis(ts_ms) + R"("})";
}

// Config, RocksDB, metrics and topologies over one state directory.
class Instance {
 public:
  Instance(const testing::TempDir& dir, const std::string& yaml, Sink* sink) {
    spdlog::set_level(spdlog::level::off);
    const config::LoadResult loaded = config::LoadString(
        yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
    for (const config::Diagnostic& d : loaded.errors) FAIL_CHECK(d.ToString());
    REQUIRE(loaded.ok());
    config_ = *loaded.config;
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
    REQUIRE(db.ok());
    db_ = std::move(db).value();
    for (const config::TopologyConfig& topology : config_.topologies) {
      Result<std::unique_ptr<Topology>> created =
          Topology::Create(topology, *db_, metrics_, nullptr, sink);
      INFO(created.status().ToString());
      REQUIRE(created.ok());
      topologies_.push_back(std::move(created).value());
    }
  }

  // Runs until the source is drained, committing every batch.
  // `drained`, if set, runs when the source is drained, before the pipeline stops (views
  // answer only for owned partitions).
  Status Run(FixtureSource& source, Sink* sink, std::function<void()> drained = nullptr) {
    PipelineOptions options;
    options.commit_interval = std::chrono::milliseconds(0);
    return Run(source, sink, options, [&] {
      if (drained) drained();
      return true;
    });
  }
  // Each time the source has nothing to return, `idle` runs; it returns true to stop.
  Status Run(FixtureSource& source, Sink* sink, PipelineOptions options,
             const std::function<bool()>& idle) {
    Pipeline pipeline(source, *db_, topologies_, metrics_, options, sink);
    source.set_idle_handler([&] {
      if (idle()) pipeline.RequestStop();
    });
    Status status = pipeline.Run();
    source.set_idle_handler(nullptr);
    return status;
  }

  double Failed(const std::string& reason) {
    return metrics_.records_failed.Add({{"topology", "pv"}, {"reason", reason}}).Value();
  }
  double DeadLettered(const std::string& reason) {
    return metrics_.dead_letter_records.Add({{"topology", "pv"}, {"reason", reason}}).Value();
  }
  double Processed() { return metrics_.records_processed.Add({{"topology", "pv"}}).Value(); }
  std::string View(const std::string& key) {
    Result<std::string> json = topologies_[0]->views()[0]->QueryKeyJson(key);
    REQUIRE(json.ok());
    return *json;
  }
  const config::Config& config() const { return config_; }
  metrics::Metrics& metrics() { return metrics_; }
  std::vector<std::unique_ptr<Topology>>& topologies() { return topologies_; }

 private:
  config::Config config_;
  metrics::Metrics metrics_;
  std::unique_ptr<state::StateDb> db_;
  std::vector<std::unique_ptr<Topology>> topologies_;
};

// The provenance headers of a dead letter for record `offset` of pageviews/0.
Headers Provenance(const std::string& reason, const std::string& error, const std::string& step,
                   int64_t offset) {
  Headers headers = {{"eddy.reason", reason}, {"eddy.error", error}, {"eddy.topology", "pv"}};
  if (!step.empty()) headers.emplace_back("eddy.step", step);
  headers.emplace_back("eddy.source.topic", "pageviews");
  headers.emplace_back("eddy.source.partition", "0");
  headers.emplace_back("eddy.source.offset", std::to_string(offset));
  return headers;
}

TEST_CASE("poison records of every kind go to the dead letters with their provenance",
          "[engine][dead-letters]") {
  testing::TempDir dir;
  FixtureSink sink;
  Instance eddy(dir, Yaml(dir.path(), "    dead_letters: {topic: pv.dead}\n"), &sink);
  FixtureSource source;
  const std::string big = Pageview("dave", kTen, "1") + std::string(200, ' ');
  source.Append("pageviews", 0, "k0", Pageview("alice", kTen, "10"), 1);          // 0 ok
  source.Append("pageviews", 0, "k1", "{not json", 2);                            // 1
  source.Append("pageviews", 0, std::nullopt, R"({"page":"/a","ts":"x"})", 3);    // 2 no user.id
  source.Append("pageviews", 0, "k3", R"({"user":{"id":[1]}})", 4);               // 3
  source.Append("pageviews", 0, "k4", R"({"user":{"id":"bob"},"page":"/"})", 5);  // 4 no ts
  source.Append("pageviews", 0, "k5", Pageview("carol", kTen, "\"abc\""), 6);     // 5 bad sum
  source.Append("pageviews", 0, "k6", big, 7);                                    // 6 too large
  FixtureRecord with_headers;
  with_headers.topic = "pageviews";
  with_headers.key = "k7";
  with_headers.value = R"({"user":{"id":"eve"},"ts":"2026-11-25T10:00:00Z"})";
  with_headers.timestamp_ms = 8;
  with_headers.headers = {{"trace", "t7"}};
  source.Append(std::move(with_headers));  // 7: no page to rekey by
  source.Append("pageviews", 0, "k8", Pageview("alice", kTen + 1, "5"), 9);  // 8 ok
  std::string view;
  REQUIRE(eddy.Run(source, &sink, [&] { view = eddy.View("/home"); }).ok());

  CHECK(eddy.Processed() == 2);
  for (const char* reason :
       {"invalid_json", "missing_key", "invalid_timestamp", "invalid_field", "too_large"}) {
    INFO(reason);
    CHECK(eddy.Failed(reason) == 1);
    CHECK(eddy.DeadLettered(reason) == 1);
  }
  CHECK(eddy.Failed("invalid_key") == 2);
  CHECK(eddy.DeadLettered("invalid_key") == 2);
  CHECK(eddy.DeadLettered("delivery_failed") == 0);
  INFO(view);
  CHECK(view.find(R"("aggregates":{"views":2,"total":15})") != std::string::npos);

  REQUIRE(sink.pending().empty());
  REQUIRE(sink.records().size() == 7);
  struct Expected {
    int64_t offset;
    std::optional<std::string> key;
    std::string reason;
    std::string step;
  };
  const std::vector<Expected> expected = {
      {1, "k1", "invalid_json", ""},
      {2, std::nullopt, "missing_key", ""},
      {3, "k3", "invalid_key", ""},
      {4, "k4", "invalid_timestamp", ""},
      {5, "k5", "invalid_field", "per_minute"},
      {6, "k6", "too_large", ""},
      {7, "k7", "invalid_key", "by_page"},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    const SinkRecord& record = sink.records()[i];
    INFO("dead letter " << i);
    CHECK(record.topic == "pv.dead");
    CHECK(record.key == expected[i].key);
    CHECK(record.timestamp_ms == expected[i].offset + 1);
    // The value as consumed, byte for byte.
    REQUIRE(record.headers.size() >= 6);
    const Headers& h = record.headers;
    const size_t own = expected[i].offset == 7 ? 1 : 0;  // the source record's own headers
    CHECK(Headers(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(own)) ==
          (own ? Headers{{"trace", "t7"}} : Headers{}));
    const Headers provenance(h.begin() + static_cast<std::ptrdiff_t>(own), h.end());
    CHECK(provenance == Provenance(expected[i].reason, provenance[1].second, expected[i].step,
                                   expected[i].offset));
    CHECK_FALSE(provenance[1].second.empty());
  }
  CHECK(sink.records()[0].value == "{not json");
  CHECK(sink.records()[5].value == big);
  CHECK(sink.records()[5].headers[1].second ==
        "value of " + std::to_string(big.size()) +
            " bytes exceeds the source's max_value_bytes (200)");
}

TEST_CASE("without dead_letters, poison records are counted and skipped as before",
          "[engine][dead-letters]") {
  testing::TempDir dir;
  FixtureSink sink;
  Instance eddy(dir, Yaml(dir.path(), ""), &sink);
  FixtureSource source;
  source.Append("pageviews", 0, "k0", "{not json", 1);
  source.Append("pageviews", 0, "k1", Pageview("alice", kTen, "1") + std::string(300, ' '), 2);
  source.Append("pageviews", 0, "k2", Pageview("alice", kTen, "1"), 3);
  REQUIRE(eddy.Run(source, &sink).ok());
  CHECK(eddy.Processed() == 1);
  CHECK(eddy.Failed("invalid_json") == 1);
  CHECK(eddy.Failed("too_large") == 1);
  CHECK(sink.records().empty());
  CHECK(eddy.metrics().SerializeText().find("eddy_dead_letter_records_total{") ==
        std::string::npos);
}

// ---------------------------------------------------------------- retries and breakers

// Time moves only when the code under test sleeps (or a test advances it); jitter is 1.
class FakeClock final : public RetryClock {
 public:
  TimePoint Now() override { return now_; }
  void SleepFor(std::chrono::milliseconds duration) override {
    sleeps.push_back(duration.count());
    now_ += duration;
  }
  double Jitter() override { return jitter; }
  void Advance(std::chrono::milliseconds duration) { now_ += duration; }
  std::vector<int64_t> sleeps;
  double jitter = 1.0;

 private:
  TimePoint now_{};
};

config::DeliveryConfig Delivery(int attempts = 3, int breaker_failures = 5) {
  config::DeliveryConfig delivery;
  delivery.attempts = attempts;
  delivery.backoff = std::chrono::milliseconds(100);
  delivery.max_backoff = std::chrono::milliseconds(1000);
  delivery.breaker_failures = breaker_failures;
  delivery.breaker_cooldown = std::chrono::milliseconds(30'000);
  return delivery;
}

SinkRecord Out(const std::string& topic, const std::string& value) {
  SinkRecord record;
  record.topic = topic;
  record.key = "k";
  record.value = value;
  record.timestamp_ms = 42;
  record.headers = {{"h", "v"}};
  return record;
}

struct Harness {
  explicit Harness(config::DeliveryConfig delivery = Delivery(),
                   std::string dead_letter_topic = "pv.dead")
      : sink(inner, delivery, {{"out", {"pv", dead_letter_topic}}},
             dead_letter_topic.empty() ? std::set<std::string>{}
                                       : std::set<std::string>{dead_letter_topic},
             clock, metrics) {}
  double Retries(const std::string& topic) {
    return metrics.sink_retries.Add({{"topic", topic}}).Value();
  }
  double DeadLettered() {
    return metrics.dead_letter_records.Add({{"topology", "pv"}, {"reason", "delivery_failed"}})
        .Value();
  }
  FixtureSink inner;
  FakeClock clock;
  metrics::Metrics metrics;
  ReliableSink sink;
};

constexpr std::chrono::milliseconds kTimeout{1000};

TEST_CASE("retry delays double from backoff up to max_backoff, scaled by the jitter",
          "[engine][retry]") {
  const RetryPolicy policy{3, std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  CHECK(policy.Delay(1, 1.0).count() == 100);
  CHECK(policy.Delay(2, 1.0).count() == 200);
  CHECK(policy.Delay(4, 1.0).count() == 800);
  CHECK(policy.Delay(5, 1.0).count() == 1000);
  CHECK(policy.Delay(60, 1.0).count() == 1000);
  CHECK(policy.Delay(2, 0.5).count() == 100);
  CHECK(policy.Delay(2, 0.1).count() == 100);  // jitter is clamped to [0.5, 1]
}

TEST_CASE("a refused send and a failed flush are retried after a backoff", "[engine][retry]") {
  Harness h;
  h.inner.FailNextSend(Status::Unavailable("queue full"));
  REQUIRE(h.sink.Send(Out("out", "1")).ok());
  CHECK(h.clock.sleeps == std::vector<int64_t>{100});
  CHECK(h.Retries("out") == 1);
  h.inner.FailNextFlush(Status::Unavailable("timed out"));
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.clock.sleeps == std::vector<int64_t>{100, 100});
  REQUIRE(h.inner.records().size() == 1);
  CHECK(h.inner.records()[0].value == "1");
  CHECK(h.DeadLettered() == 0);
}

TEST_CASE("a flush that keeps failing without naming records fails after all attempts",
          "[engine][retry]") {
  // Records stay in flight: every Flush times out.
  class StuckSink final : public Sink {
   public:
    Status Send(SinkRecord) override { return Status::Ok(); }
    Status Flush(std::chrono::milliseconds) override {
      ++flushes;
      return Status::Unavailable("1 message(s) still unacknowledged");
    }
    int flushes = 0;
  };
  StuckSink stuck;
  FakeClock clock;
  metrics::Metrics metrics;
  ReliableSink sink(stuck, Delivery(3), {}, {}, clock, metrics);
  REQUIRE(sink.Send(Out("out", "1")).ok());
  CHECK(sink.Flush(kTimeout).message() == "1 message(s) still unacknowledged");
  CHECK(stuck.flushes == 3);
  CHECK(clock.sleeps == std::vector<int64_t>{100, 200});
}

TEST_CASE("an undeliverable record is retried, then dead-lettered with its story",
          "[engine][retry][dead-letters]") {
  Harness h;
  h.inner.RejectTopic("out", Status::Unavailable("record to out [0]: _MSG_TIMED_OUT (gone)"));
  REQUIRE(h.sink.Send(Out("out", "1")).ok());
  REQUIRE(h.sink.Send(Out("other", "2")).ok());
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.inner.rejected_count() == 3);  // three tries
  CHECK(h.clock.sleeps == std::vector<int64_t>{100, 200});
  CHECK(h.Retries("out") == 2);
  CHECK(h.DeadLettered() == 1);
  REQUIRE(h.inner.records().size() == 2);
  CHECK(h.inner.records()[0].topic == "other");
  const SinkRecord& letter = h.inner.records()[1];
  CHECK(letter.topic == "pv.dead");
  CHECK(letter.key == std::optional<std::string>("k"));
  CHECK(letter.value == "1");
  CHECK(letter.timestamp_ms == 0);  // the producer stamps it
  CHECK(letter.headers == Headers{{"h", "v"},
                                  {"eddy.reason", "delivery_failed"},
                                  {"eddy.error", "record to out [0]: _MSG_TIMED_OUT (gone)"},
                                  {"eddy.topology", "pv"},
                                  {"eddy.sink.topic", "out"},
                                  {"eddy.sink.timestamp_ms", "42"}});
  CHECK(h.inner.pending().empty());
}

TEST_CASE("a record refused outright when sent again is retried, then dead-lettered",
          "[engine][retry][dead-letters]") {
  // As librdkafka does with a topic that does not exist: the first delivery fails
  // (UNKNOWN_TOPIC_OR_PART), and from then on the producer refuses records to the topic.
  Harness h;
  h.inner.RejectTopic("out", Status::NotFound("record to out: UNKNOWN_TOPIC_OR_PART"));
  REQUIRE(h.sink.Send(Out("out", "1")).ok());
  h.inner.RefuseTopic("out", Status::NotFound("_UNKNOWN_TOPIC"));
  const Status flushed = h.sink.Flush(kTimeout);
  INFO(flushed.ToString());
  CHECK(flushed.ok());  // not a stop of processing
  CHECK(h.inner.rejected_count() == 1);
  CHECK(h.inner.refused_count() == 2);  // three tries in all
  CHECK(h.clock.sleeps == std::vector<int64_t>{100, 200});
  CHECK(h.Retries("out") == 2);
  CHECK(h.DeadLettered() == 1);
  REQUIRE(h.inner.records().size() == 1);
  CHECK(h.inner.records()[0].topic == "pv.dead");
  CHECK(h.inner.records()[0].value == "1");
  CHECK(std::find(h.inner.records()[0].headers.begin(), h.inner.records()[0].headers.end(),
                  std::pair<std::string, std::string>{"eddy.error", "_UNKNOWN_TOPIC"}) !=
        h.inner.records()[0].headers.end());
}

TEST_CASE("records refused by Send count against the breaker across flushes",
          "[engine][retry][breaker]") {
  // A flush after a refused send is no success of the topic: the failures add up.
  Harness h(Delivery(1, 2));
  h.inner.RefuseTopic("out", Status::NotFound("_UNKNOWN_TOPIC"));
  const uint64_t generation = h.sink.BlockGeneration();
  REQUIRE(h.sink.Send(Out("out", "1")).ok());  // dead-lettered
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.sink.BlockedTopics().empty());  // one failure of two
  CHECK(h.sink.BlockGeneration() == generation);
  REQUIRE(h.sink.Send(Out("out", "2")).ok());
  CHECK(h.sink.BlockGeneration() != generation);  // the breaker opened, before any flush
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.sink.BlockedTopics() == std::vector<std::string>{"out"});
  CHECK(h.DeadLettered() == 2);
}

TEST_CASE("a record refused for what it is (INVALID_TIMESTAMP) is dead-lettered at once",
          "[engine][retry][dead-letters]") {
  Harness h(Delivery(3, 1));
  h.inner.RejectTopic("out", Status::InvalidArgument("INVALID_TIMESTAMP"));
  REQUIRE(h.sink.Send(Out("out", "1")).ok());
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.inner.rejected_count() == 1);
  CHECK(h.clock.sleeps.empty());
  CHECK(h.DeadLettered() == 1);
  // The record's fault, not the topic's: the breaker (1 failure) stays closed.
  CHECK(h.sink.BlockedTopics().empty());
  // A send refused for what it is goes to the dead letters at once as well.
  h.inner.FailNextSend(Status::InvalidArgument("MSG_SIZE_TOO_LARGE"));
  REQUIRE(h.sink.Send(Out("out", "2")).ok());
  CHECK(h.clock.sleeps.empty());
  CHECK(h.DeadLettered() == 2);
  REQUIRE(h.inner.pending().size() == 1);
  CHECK(h.inner.pending()[0].topic == "pv.dead");
}

TEST_CASE("without a dead_letters topic, or when the dead letter fails too, flush fails",
          "[engine][retry][dead-letters]") {
  SECTION("no dead letters") {
    Harness h(Delivery(), "");
    h.inner.RejectTopic("out", Status::InvalidArgument("INVALID_TIMESTAMP"));
    REQUIRE(h.sink.Send(Out("out", "1")).ok());
    const Status flushed = h.sink.Flush(kTimeout);
    CHECK(flushed.message() ==
          "record to out not delivered, and its topology has no dead_letters topic: "
          "INVALID_TIMESTAMP");
  }
  SECTION("dead letters refused") {
    Harness h(Delivery(2));
    h.inner.RejectTopic("out", Status::InvalidArgument("INVALID_TIMESTAMP"));
    h.inner.RejectTopic("pv.dead", Status::NotFound("UNKNOWN_TOPIC_OR_PART"));
    REQUIRE(h.sink.Send(Out("out", "1")).ok());
    const Status flushed = h.sink.Flush(kTimeout);
    CHECK(flushed.message() == "cannot deliver a dead letter to pv.dead: UNKNOWN_TOPIC_OR_PART");
    CHECK(h.inner.rejected_count() == 3);  // the record once, its dead letter twice
    CHECK(h.inner.records().empty());
  }
}

TEST_CASE("a circuit breaker opens after N failures, half-opens after the cooldown",
          "[engine][retry][breaker]") {
  Harness h(Delivery(1, 2));
  h.inner.RejectTopic("out", Status::Unavailable("_MSG_TIMED_OUT"));
  REQUIRE(h.sink.Send(Out("out", "1")).ok());
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.sink.BlockedTopics().empty());  // one failure of two
  REQUIRE(h.sink.Send(Out("out", "2")).ok());
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.sink.BlockedTopics() == std::vector<std::string>{"out"});
  CHECK(h.metrics.circuit_breaker_open.Add({{"topic", "out"}}).Value() == 1);
  h.clock.Advance(std::chrono::milliseconds(29'999));
  CHECK(h.sink.BlockedTopics() == std::vector<std::string>{"out"});
  h.clock.Advance(std::chrono::milliseconds(1));
  CHECK(h.sink.BlockedTopics().empty());  // half-open: one more try
  CHECK(h.sink.breaker_state("out") == CircuitBreaker::State::kHalfOpen);
  CHECK(h.metrics.circuit_breaker_open.Add({{"topic", "out"}}).Value() == 0);
  REQUIRE(h.sink.Send(Out("out", "3")).ok());
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.sink.BlockedTopics() == std::vector<std::string>{"out"});  // the probe failed
  h.clock.Advance(std::chrono::milliseconds(30'000));
  h.inner.AcceptTopic("out");
  REQUIRE(h.sink.Send(Out("out", "4")).ok());
  REQUIRE(h.sink.Flush(kTimeout).ok());
  CHECK(h.sink.breaker_state("out") == CircuitBreaker::State::kClosed);
  CHECK(h.DeadLettered() == 3);
  CHECK(h.inner.records().back().value == "4");
}

TEST_CASE(
    "while a sink topic's breaker is open its topology's sources are paused, then resume "
    "where they stopped",
    "[engine][retry][breaker][pipeline]") {
  testing::TempDir dir;
  FakeClock clock;
  FixtureSink inner;
  metrics::Metrics sink_metrics;
  // A record-producing step with a sink: every valid record is sent to "views".
  const std::string yaml = Yaml(dir.path(),
                                "    sinks:\n"
                                "      - {name: out, from: by_page, topic: views}\n"
                                "    dead_letters: {topic: pv.dead}\n");
  config::DeliveryConfig delivery = Delivery(1, 2);
  std::unique_ptr<ReliableSink> sink;
  {
    const config::LoadResult loaded = config::LoadString(
        yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
    REQUIRE(loaded.ok());
    sink = std::make_unique<ReliableSink>(inner, delivery,
                                          ReliableSink::RoutesOf(loaded.config->topologies),
                                          std::set<std::string>{"pv.dead"}, clock, sink_metrics);
  }
  Instance eddy(dir, yaml, sink.get());
  FixtureSource source;
  inner.RejectTopic("views", Status::Unavailable("_MSG_TIMED_OUT"));
  for (int i = 0; i < 6; ++i) {
    source.Append("pageviews", 0, "k", Pageview("u" + std::to_string(i), kTen + i, "1"), i);
  }
  PipelineOptions options;
  options.commit_interval = std::chrono::milliseconds(0);
  options.max_batch_records = 1;  // one record per batch: one commit (flush) per record
  int idle = 0;
  double processed_while_open = -1;
  const Status run = eddy.Run(source, sink.get(), options, [&] {
    if (++idle == 1) {
      // Two records could not be delivered: the breaker opened and paused pageviews/0.
      processed_while_open = eddy.Processed();
      CHECK(source.Position({"pageviews", 0}) == 2);
      inner.AcceptTopic("views");
      clock.Advance(delivery.breaker_cooldown);
      return false;
    }
    return true;
  });
  REQUIRE(run.ok());
  CHECK(processed_while_open == 2);
  CHECK(eddy.Processed() == 6);
  CHECK(sink_metrics.dead_letter_records.Add({{"topology", "pv"}, {"reason", "delivery_failed"}})
            .Value() == 2);
  std::vector<std::string> delivered;
  for (const SinkRecord& record : inner.records()) delivered.push_back(record.topic);
  CHECK(delivered ==
        std::vector<std::string>{"pv.dead", "pv.dead", "views", "views", "views", "views"});
  CHECK(sink->breaker_state("views") == CircuitBreaker::State::kClosed);
}

TEST_CASE(
    "a breaker that opens in the middle of a batch holds the rest of the batch back, and a "
    "failed half-open probe costs one record",
    "[engine][retry][breaker][pipeline]") {
  testing::TempDir dir;
  FakeClock clock;
  FixtureSink inner;
  metrics::Metrics sink_metrics;
  const std::string yaml = Yaml(dir.path(),
                                "    sinks:\n"
                                "      - {name: out, from: by_page, topic: views}\n"
                                "    dead_letters: {topic: pv.dead}\n");
  config::DeliveryConfig delivery = Delivery(1, 2);
  std::unique_ptr<ReliableSink> sink;
  {
    const config::LoadResult loaded = config::LoadString(
        yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
    REQUIRE(loaded.ok());
    sink = std::make_unique<ReliableSink>(inner, delivery,
                                          ReliableSink::RoutesOf(loaded.config->topologies),
                                          std::set<std::string>{"pv.dead"}, clock, sink_metrics);
  }
  Instance eddy(dir, yaml, sink.get());
  FixtureSource source;
  // The producer refuses every record to "views" at once (a topic known not to exist).
  inner.RefuseTopic("views", Status::NotFound("_UNKNOWN_TOPIC"));
  for (int i = 0; i < 8; ++i) {
    source.Append("pageviews", 0, "k", Pageview("u" + std::to_string(i), kTen + i, "1"), i);
  }
  PipelineOptions options;
  options.commit_interval = std::chrono::milliseconds(0);  // all 8 records in one batch
  auto dead_lettered = [&] {
    return sink_metrics.dead_letter_records.Add({{"topology", "pv"}, {"reason", "delivery_failed"}})
        .Value();
  };
  int idle = 0;
  std::vector<double> processed;
  std::vector<double> dead;
  std::vector<int64_t> positions;
  const Status run = eddy.Run(source, sink.get(), options, [&] {
    processed.push_back(eddy.Processed());
    dead.push_back(dead_lettered());
    positions.push_back(source.Position({"pageviews", 0}).value_or(-1));
    ++idle;
    if (idle == 1) {
      clock.Advance(delivery.breaker_cooldown);  // half-open; the topic still refuses
    } else if (idle == 2) {
      inner.AcceptTopic("views");
      clock.Advance(delivery.breaker_cooldown);
    } else {
      return true;
    }
    return false;
  });
  REQUIRE(run.ok());
  // Two records failed and opened the breaker; the other six waited in the source.
  // The probe after the cooldown failed: one more record, and the breaker opened again.
  // Then the topic took the remaining five.
  CHECK(processed == std::vector<double>{2, 3, 8});
  CHECK(dead == std::vector<double>{2, 3, 3});
  CHECK(positions == std::vector<int64_t>{2, 3, 8});
  CHECK(inner.refused_count() == 3);
  std::vector<std::string> delivered;
  for (const SinkRecord& record : inner.records()) delivered.push_back(record.topic);
  CHECK(delivered == std::vector<std::string>{"pv.dead", "pv.dead", "pv.dead", "views", "views",
                                              "views", "views", "views"});
  CHECK(sink->breaker_state("views") == CircuitBreaker::State::kClosed);
}

}  // namespace
}  // namespace eddy::engine
