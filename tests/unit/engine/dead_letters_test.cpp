// Dead letters and delivery retries (docs/error-handling.md), end to end through Pipeline +
// Topology over a FixtureSource, a real RocksDB and a FixtureSink: poison records of every
// kind land in the dead-letter topic with their provenance, valid records around them are
// counted exactly; sink failures are retried, then dead-lettered or stop processing.
#include <spdlog/spdlog.h>

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
    Pipeline pipeline(source, *db_, topologies_, metrics_, options, sink);
    source.set_idle_handler([&] {
      if (drained) drained();
      pipeline.RequestStop();
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
  source.Append("pageviews", 0, "k0", Pageview("alice", kTen, "10"), 1);       // 0 ok
  source.Append("pageviews", 0, "k1", "{not json", 2);                         // 1
  source.Append("pageviews", 0, std::nullopt, R"({"page":"/a","ts":"x"})", 3);  // 2 no user.id
  source.Append("pageviews", 0, "k3", R"({"user":{"id":[1]}})", 4);            // 3
  source.Append("pageviews", 0, "k4", R"({"user":{"id":"bob"},"page":"/"})", 5);  // 4 no ts
  source.Append("pageviews", 0, "k5", Pageview("carol", kTen, "\"abc\""), 6);   // 5 bad sum
  source.Append("pageviews", 0, "k6", big, 7);                                 // 6 too large
  FixtureRecord with_headers;
  with_headers.topic = "pageviews";
  with_headers.key = "k7";
  with_headers.value = R"({"user":{"id":"eve"},"ts":"2026-11-25T10:00:00Z"})";
  with_headers.timestamp_ms = 8;
  with_headers.headers = {{"trace", "t7"}};
  source.Append(std::move(with_headers));  // 7: no page to rekey by
  source.Append("pageviews", 0, "k8", Pageview("alice", kTen + 1, "5"), 9);    // 8 ok
  std::string view;
  REQUIRE(eddy.Run(source, &sink, [&] { view = eddy.View("/home"); }).ok());

  CHECK(eddy.Processed() == 2);
  for (const char* reason : {"invalid_json", "missing_key", "invalid_timestamp", "invalid_field",
                             "too_large"}) {
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
      {1, "k1", "invalid_json", ""},      {2, std::nullopt, "missing_key", ""},
      {3, "k3", "invalid_key", ""},       {4, "k4", "invalid_timestamp", ""},
      {5, "k5", "invalid_field", "per_minute"}, {6, "k6", "too_large", ""},
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

}  // namespace
}  // namespace eddy::engine
