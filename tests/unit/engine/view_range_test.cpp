// View::WriteRange (GET /v1/views/{view}) and WindowFilter (from / to), against a real
// RocksDB filled by a real Pipeline from a FixtureSource.
//
// The property: for random keys (prefixes of each other, spaces, UTF-8, 0x00 bytes) spread
// over several partitions, and a random prefix / start / end / limit / window filter, walking
// the pages with the returned cursor yields exactly the keys a plain model says have
// something to show, each once, in byte order; a cursor comes back exactly when more keys
// follow. For window views with emit update and emit final (a key with no closed window is
// skipped), an aggregate view without a window, and a table view (a deleted key is skipped).
//
// The checks run inside the source's idle handler: a view serves only the partitions its
// instance owns, which is while the pipeline runs; with commit_interval 0 everything
// consumed is committed by then.
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "codec/json_record.h"
#include "config/loader.h"
#include "engine/fixture_source.h"
#include "engine/pipeline.h"
#include "engine/topology.h"
#include "engine/view.h"
#include "support/temp_dir.h"

namespace eddy::engine {
namespace {

using namespace std::string_literals;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kGrace = 1'000;
constexpr int64_t kBase = 1'795'600'800'000;  // 2026-11-25T10:00:00Z
constexpr int32_t kPartitions = 3;
constexpr const char* kTopic = "events";

config::Config LoadConfig(const std::string& yaml) {
  const config::LoadResult result = config::LoadString(
      yaml, "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  for (const config::Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  return *result.config;
}

// One topology over the Kafka key and record timestamp, with a view of each kind.
std::string RangeYaml(const std::string& state_dir) {
  return "kafka: {bootstrap.servers: 127.0.0.1:9092, group.id: eddy-view-range-test}\n"
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
         "      - name: per_minute_final\n"
         "        from: source\n"
         "        window: {type: tumbling, size: 1m, grace: 1s}\n"
         "        emit: final\n"
         "        aggregates: [{name: n, function: count}]\n"
         "      - name: totals\n"
         "        from: source\n"
         "        aggregates: [{name: n, function: count}]\n"
         "      - name: latest\n"
         "        from: source\n"
         "        table: {}\n"
         "      - name: sessions\n"
         "        from: source\n"
         "        window: {type: session, gap: 30s, grace: 1s}\n"
         "        aggregates: [{name: n, function: count}]\n"
         "    views:\n"
         "      - {name: win_update, from: per_minute}\n"
         "      - {name: win_final, from: per_minute_final}\n"
         "      - {name: totals, from: totals}\n"
         "      - {name: latest, from: latest}\n"
         "      - {name: sessions, from: sessions}\n";
}

// A database, the topology over it, and a pipeline run whose idle point runs `check`.
class Harness {
 public:
  explicit Harness(const eddy::testing::TempDir& dir) {
    spdlog::set_level(spdlog::level::off);
    config_ = LoadConfig(RangeYaml(dir.path()));
    Result<std::unique_ptr<state::StateDb>> db = state::StateDb::Open(dir.path(), {});
    INFO(db.status().ToString());
    REQUIRE(db.ok());
    db_ = std::move(db).value();
    Result<std::unique_ptr<Topology>> topology =
        Topology::Create(config_.topologies[0], *db_, metrics_, nullptr, nullptr);
    INFO(topology.status().ToString());
    REQUIRE(topology.ok());
    topologies_.push_back(std::move(topology).value());
  }

  // Processes everything appended to `source`; when it is drained, runs `then` (which may
  // append more) and processes that too; then runs `check` once with every partition owned
  // and everything committed.
  void Run(
      FixtureSource& source, const std::function<void()>& check,
      const std::function<void()>& then = [] {}) {
    PipelineOptions options;
    options.commit_interval = std::chrono::milliseconds(0);
    Pipeline pipeline(source, *db_, topologies_, metrics_, options, nullptr);
    int idle_points = 0;
    source.set_idle_handler([&] {
      if (++idle_points == 1) {
        then();
        return;
      }
      if (idle_points == 2) check();
      pipeline.RequestStop();
    });
    const Status status = pipeline.Run();
    source.set_idle_handler(nullptr);
    INFO(status.ToString());
    CHECK(status.ok());
    CHECK(idle_points >= 2);
  }

  const View& view(std::string_view name) const {
    for (const auto& view : topologies_[0]->views()) {
      if (view->name() == name) return *view;
    }
    FAIL("no view " << name);
    throw std::logic_error("unreachable");
  }
  const state::StateDb& db() const { return *db_; }

 private:
  config::Config config_;
  metrics::Metrics metrics_;
  std::unique_ptr<state::StateDb> db_;
  std::vector<std::unique_ptr<Topology>> topologies_;
};

// For failure messages: bytes outside printable ASCII as \xNN.
std::string Printable(std::string_view bytes) {
  std::string out = "\"";
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
      out += escaped;
    }
  }
  return out + "\"";
}

std::string Printable(const std::vector<std::string>& keys) {
  std::string out = "[";
  for (const std::string& key : keys) out += (out.size() > 1 ? ", " : "") + Printable(key);
  return out + "]";
}

// The "key" members of a JSON array of WriteKey objects.
std::vector<std::string> KeysOf(const std::string& array_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  INFO(array_json);
  REQUIRE(parser.parse(array_json).get(doc) == simdjson::SUCCESS);
  std::vector<std::string> keys;
  for (simdjson::dom::element item : doc.get_array()) {
    std::string_view key;
    REQUIRE(item["key"].get_string().get(key) == simdjson::SUCCESS);
    keys.emplace_back(key);
  }
  return keys;
}

struct Page {
  std::vector<std::string> keys;
  std::optional<std::string> next;
};

Page ReadPage(const View& view, const state::StateDb& db, const KeyRange& range,
              const WindowFilter& filter) {
  const std::unique_ptr<state::ReadSnapshot> snapshot = db.Snapshot();
  JsonWriter json;
  json.BeginArray();
  Result<std::optional<std::string>> next = view.WriteRange(range, filter, *snapshot, json);
  INFO(next.status().ToString());
  REQUIRE(next.ok());
  json.EndArray();
  return {KeysOf(json.str()), *next};
}

// What the model knows of one key.
struct KeyModel {
  // window start -> partitions holding a share of it
  std::map<int64_t, std::set<int32_t>> windows;
  bool deleted = false;  // its table row was deleted by a tombstone
};

bool InRange(const std::string& key, const KeyRange& range) {
  if (key.compare(0, range.prefix.size(), range.prefix) != 0) return false;
  if (range.start && key < *range.start) return false;
  if (range.end && key >= *range.end) return false;
  return true;
}

// Keys made of a few "letters" so that many are prefixes of others and share prefixes:
// ASCII, a space, 0x00, a two-byte and a four-byte UTF-8 sequence, and a byte that sorts
// right after 0x00.
const std::vector<std::string> kLetters = {"a",   "b", " ", "\0"s, "\xC3\xA9", "\xF0\x9F\x98\x80",
                                           "\x01"};

std::string RandomKey(std::mt19937& random, size_t max_letters) {
  std::string key;
  const size_t letters = random() % max_letters;
  for (size_t i = 0; i < letters; ++i) key += kLetters[random() % kLetters.size()];
  return key;
}

TEST_CASE("WriteRange pages through exactly the keys with something to show, in byte order",
          "[engine][view][range]") {
  size_t keys_skipped_by_emit_final = 0;  // over every seed
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    {
      std::mt19937 random(seed);
      eddy::testing::TempDir dir("eddy-view-range");
      Harness harness(dir);
      FixtureSource source;
      source.DeclarePartitions(kTopic, kPartitions);

      // The data: each key in 1..3 partitions, 1..3 records per partition, event times in
      // the first 5 minutes (second 0..50 of a minute); each partition's records in time
      // order, so none is late.
      std::map<std::string, KeyModel> model;
      std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> by_partition;
      std::map<int32_t, int64_t> stream_time;  // largest event time of each partition
      const size_t key_count = 10 + random() % 50;
      while (model.size() < key_count) {
        const std::string key = RandomKey(random, 5);
        if (key.empty() || model.count(key) > 0) continue;
        KeyModel& entry = model[key];
        const int32_t first = static_cast<int32_t>(random() % kPartitions);
        const int32_t spread = static_cast<int32_t>(1 + random() % kPartitions);
        for (int32_t i = 0; i < spread; ++i) {
          const int32_t partition = (first + i) % kPartitions;
          const size_t records = 1 + random() % 3;
          for (size_t r = 0; r < records; ++r) {
            const int64_t ts = kBase + static_cast<int64_t>(random() % 5) * kMinute +
                               static_cast<int64_t>(random() % 51) * 1000;
            by_partition[partition].emplace_back(ts, key);
            entry.windows[ts - (ts - kBase) % kMinute].insert(partition);
            auto [it, inserted] = stream_time.emplace(partition, ts);
            if (!inserted) it->second = std::max(it->second, ts);
          }
        }
      }
      for (int32_t partition = 0; partition < kPartitions; ++partition) {
        auto& records = by_partition[partition];
        std::stable_sort(records.begin(), records.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [ts, key] : records) {
          source.Append(kTopic, partition, key, R"({"v":1})", ts);
        }
      }
      // Tombstones for some keys, once every record above is processed (partitions are read
      // round-robin, so appending them now could let a later upsert of another partition
      // win): the table row goes, the windows stay.
      auto append_tombstones = [&] {
        for (auto& [key, entry] : model) {
          if (random() % 5 != 0) continue;
          entry.deleted = true;
          FixtureRecord tombstone;
          tombstone.topic = kTopic;
          tombstone.partition = static_cast<int32_t>(random() % kPartitions);
          tombstone.key = key;
          tombstone.tombstone = true;
          tombstone.timestamp_ms = kBase;
          source.Append(std::move(tombstone));
        }
      };

      // The model's answer: does `key` have something to show in `view`?
      auto shown = [&](const std::string& view, const KeyModel& entry, const WindowFilter& filter) {
        if (view == "totals") return true;
        if (view == "latest") return !entry.deleted;
        for (const auto& [start, partitions] : entry.windows) {
          if (filter.from_ms && start + kMinute <= *filter.from_ms) continue;
          if (filter.to_ms && start >= *filter.to_ms) continue;
          if (view == "win_update") return true;
          bool closed = true;
          for (int32_t p : partitions)
            closed = closed && start + kMinute + kGrace <= stream_time.at(p);
          if (closed) return true;
        }
        return false;
      };

      harness.Run(
          source,
          [&] {
            size_t pages_read = 0;
            for (const std::string view_name : {"win_update", "win_final", "totals", "latest"}) {
              const View& view = harness.view(view_name);
              const bool windowed = view.windowed();
              for (int query = 0; query < 40; ++query) {
                KeyRange range;
                if (random() % 2 == 0) range.prefix = RandomKey(random, 3);
                if (random() % 3 == 0) range.start = RandomKey(random, 4);
                if (random() % 3 == 0) range.end = RandomKey(random, 4);
                range.limit = 1 + random() % 7;
                WindowFilter filter;
                if (windowed && random() % 3 == 0) {
                  filter.from_ms = kBase + static_cast<int64_t>(random() % 6) * kMinute +
                                   static_cast<int64_t>(random() % 3) * 30'000;
                }
                if (windowed && random() % 3 == 0) {
                  filter.to_ms = kBase + static_cast<int64_t>(random() % 6) * kMinute +
                                 static_cast<int64_t>(random() % 3) * 30'000;
                }
                std::vector<std::string> expected;
                for (const auto& [key, entry] : model) {
                  if (!InRange(key, range)) continue;
                  if (shown(view_name, entry, filter)) {
                    expected.push_back(key);
                  } else if (view_name == std::string("win_final") && !filter.from_ms &&
                             !filter.to_ms) {
                    ++keys_skipped_by_emit_final;
                  }
                }
                // std::map<std::string> orders by char_traits<char>, i.e. unsigned bytes.
                std::vector<std::string> got;
                const size_t max_pages = expected.size() / range.limit + 2;
                size_t page_count = 0;
                for (;;) {
                  const Page page = ReadPage(view, harness.db(), range, filter);
                  ++pages_read;
                  INFO("view " << view_name << " prefix " << Printable(range.prefix) << " start "
                               << (range.start ? Printable(*range.start) : "-") << " end "
                               << (range.end ? Printable(*range.end) : "-") << " limit "
                               << range.limit << " after "
                               << (range.after ? Printable(*range.after) : "-") << " page "
                               << Printable(page.keys) << "\nexpected " << Printable(expected));
                  CHECK(page.keys.size() <= range.limit);
                  got.insert(got.end(), page.keys.begin(), page.keys.end());
                  // A cursor comes back exactly when keys remain, and it is the page's last key.
                  CHECK(page.next.has_value() == (got.size() < expected.size()));
                  if (!page.next) break;
                  REQUIRE_FALSE(page.keys.empty());
                  CHECK(page.keys.size() == range.limit);
                  CHECK(*page.next == page.keys.back());
                  range.after = page.next;
                  REQUIRE(++page_count <= max_pages);
                }
                INFO("view " << view_name << " got " << Printable(got) << "\nexpected "
                             << Printable(expected));
                CHECK(got == expected);
              }
            }
            CHECK(pages_read > 160);  // some queries took several pages
          },
          append_tombstones);
    }
  }
  // The generator made keys that emit final hides (no window closed in all its partitions).
  CHECK(keys_skipped_by_emit_final > 0);
}

// The windows a WindowView lists for `key` under `filter`, as start_ms values.
std::vector<int64_t> WindowStarts(const View& view, const state::StateDb& db,
                                  const std::string& key, const WindowFilter& filter) {
  const std::unique_ptr<state::ReadSnapshot> snapshot = db.Snapshot();
  JsonWriter json;
  json.BeginObject();
  Result<KeyAnswer> shown = view.WriteKey(key, filter, *snapshot, json);
  REQUIRE(shown.ok());
  json.EndObject();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(json.str()).get(doc) == simdjson::SUCCESS);
  std::vector<int64_t> starts;
  for (simdjson::dom::element window : doc["windows"].get_array()) {
    starts.push_back(window["start_ms"].get_int64().value());
  }
  CHECK(shown->listed == !starts.empty());
  if (shown->listed) CHECK(shown->exists);
  return starts;
}

using Starts = std::vector<int64_t>;

TEST_CASE("WindowFilter lists the windows that overlap from (inclusive) to (exclusive)",
          "[engine][view][filter]") {
  eddy::testing::TempDir dir("eddy-view-filter");
  Harness harness(dir);
  FixtureSource source;
  // Key k: windows [10:00, 10:01), [10:01, 10:02), [10:03, 10:04). Sessions (gap 30 s):
  // [10:00:00, 10:00:20] (two records) and [10:01:30, 10:01:30] (one), and [10:03:00, ...].
  for (const int64_t ts : {kBase, kBase + 20'000, kBase + 90'000, kBase + 3 * kMinute}) {
    source.Append(kTopic, 0, "k", R"({"v":1})", ts);
  }
  harness.Run(source, [&] {
    const View& windows = harness.view("win_update");
    const state::StateDb& db = harness.db();
    auto filter = [](std::optional<int64_t> from, std::optional<int64_t> to) {
      return WindowFilter{from, to};
    };
    const int64_t t0 = kBase;
    CHECK(WindowStarts(windows, db, "k", {}) == Starts{t0, t0 + kMinute, t0 + 3 * kMinute});
    // from: windows that end after it (a window ending exactly at `from` is out).
    CHECK(WindowStarts(windows, db, "k", filter(t0 + kMinute, {})) ==
          Starts{t0 + kMinute, t0 + 3 * kMinute});
    CHECK(WindowStarts(windows, db, "k", filter(t0 + kMinute - 1, {})) ==
          Starts{t0, t0 + kMinute, t0 + 3 * kMinute});
    // to: windows that start before it (one starting exactly at `to` is out).
    CHECK(WindowStarts(windows, db, "k", filter({}, t0 + 3 * kMinute)) == Starts{t0, t0 + kMinute});
    CHECK(WindowStarts(windows, db, "k", filter({}, t0 + 3 * kMinute + 1)) ==
          Starts{t0, t0 + kMinute, t0 + 3 * kMinute});
    // Both: the windows overlapping the interval; an instant is [t, t + 1).
    CHECK(WindowStarts(windows, db, "k", filter(t0 + 61'000, t0 + 61'001)) == Starts{t0 + kMinute});
    CHECK(WindowStarts(windows, db, "k", filter(t0 + 2 * kMinute, t0 + 3 * kMinute)).empty());
    CHECK(WindowStarts(windows, db, "k", filter(t0 + 5 * kMinute, {})).empty());

    // Sessions include their end: a session whose last event is at `from` overlaps it.
    const View& sessions = harness.view("sessions");
    CHECK(WindowStarts(sessions, db, "k", {}) == Starts{t0, t0 + 90'000, t0 + 3 * kMinute});
    CHECK(WindowStarts(sessions, db, "k", filter(t0 + 20'000, {})) ==
          Starts{t0, t0 + 90'000, t0 + 3 * kMinute});
    CHECK(WindowStarts(sessions, db, "k", filter(t0 + 20'001, {})) ==
          Starts{t0 + 90'000, t0 + 3 * kMinute});
    // A one-event session is found by the instant of its event.
    CHECK(WindowStarts(sessions, db, "k", filter(t0 + 90'000, t0 + 90'001)) == Starts{t0 + 90'000});
    CHECK(WindowStarts(sessions, db, "k", filter({}, t0 + 90'000)) == Starts{t0});
  });
}

}  // namespace
}  // namespace eddy::engine
