// Window retention: the rule, and the purge measured on a real RocksDB — keys counted
// before and after a compaction.
#include "state/window_retention.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "state/key_encoding.h"
#include "state/state_db.h"

namespace eddy::state {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

std::string MakeTempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "eddy-retention-test-XXXXXX").string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

size_t CountPrefix(const StateDb& db, std::string_view prefix) {
  size_t count = 0;
  REQUIRE(db.ScanPrefix(prefix, [&](std::string_view, std::string_view) {
              ++count;
              return true;
            }).ok());
  return count;
}

}  // namespace

TEST_CASE("Expired: start + retention <= stream time, per store and partition",
          "[state][retention]") {
  WindowRetention retention;
  retention.RegisterStore("t.s", kHour);
  // Nothing known yet about the partition: keep everything.
  CHECK_FALSE(retention.Expired("t.s", 0, 0));
  retention.AdvanceStreamTime("t.s", 0, 10 * kHour);
  CHECK(retention.Expired("t.s", 0, 9 * kHour));  // 9h + 1h <= 10h
  CHECK_FALSE(retention.Expired("t.s", 0, 9 * kHour + 1));
  CHECK_FALSE(retention.Expired("t.s", 1, 0));       // another partition: unknown
  CHECK_FALSE(retention.Expired("other", 0, 0));     // unknown store
  retention.AdvanceStreamTime("t.s", 0, 5 * kHour);  // never backwards
  CHECK(retention.Expired("t.s", 0, 9 * kHour));
  retention.AdvanceStreamTime("unknown", 0, 5 * kHour);  // ignored
  CHECK_FALSE(retention.Expired("unknown", 0, 0));
}

TEST_CASE("session stores expire by the session end in the value: end + retention < stream time",
          "[state][retention]") {
  WindowRetention retention;
  retention.RegisterStore("t.sessions", kHour, WindowRetention::Clock::kSessionEnd);
  retention.AdvanceStreamTime("t.sessions", 0, 10 * kHour);
  // A session that started long ago but ended recently stays.
  CHECK_FALSE(retention.Expired("t.sessions", 0, 0, EncodeSessionValue(9 * kHour, "agg")));
  CHECK(retention.Expired("t.sessions", 0, 0, EncodeSessionValue(9 * kHour - 1, "agg")));
  CHECK_FALSE(retention.Expired("t.sessions", 0, 0, "short"));  // undecodable: kept
  // Window stores ignore the value.
  retention.RegisterStore("t.windows", kHour);
  retention.AdvanceStreamTime("t.windows", 0, 10 * kHour);
  CHECK(retention.Expired("t.windows", 0, 9 * kHour, "anything"));
  CHECK_FALSE(retention.Expired("t.windows", 0, 9 * kHour + 1, "anything"));
  // The decoded aggregate state is a view into the encoded value: keep it alive.
  const std::string encoded = EncodeSessionValue(-5, "agg");
  const std::optional<DecodedSessionValue> decoded = DecodeSessionValue(encoded);
  REQUIRE(decoded.has_value());
  CHECK(decoded->end_ms == -5);
  CHECK(decoded->aggregate_state == "agg");
}

TEST_CASE("compaction purges expired sessions by their end", "[state][retention]") {
  const std::string dir = MakeTempDir();
  WindowRetention retention;
  retention.RegisterStore("t.sessions", kHour, WindowRetention::Clock::kSessionEnd);
  {
    auto opened = StateDb::Open(dir, {false, &retention});
    REQUIRE(opened.ok());
    StateDb& db = **opened;
    WriteBatch batch;
    batch.Put(EncodeWindowKey({"t.sessions", 0, "old", 0}), EncodeSessionValue(kHour, "a"));
    batch.Put(EncodeWindowKey({"t.sessions", 0, "long", 0}), EncodeSessionValue(4 * kHour, "a"));
    REQUIRE(db.Write(batch).ok());
    retention.AdvanceStreamTime("t.sessions", 0, 4 * kHour);
    REQUIRE(db.CompactAll().ok());
    CHECK_FALSE(db.Get(EncodeWindowKey({"t.sessions", 0, "old", 0}))->has_value());
    CHECK(db.Get(EncodeWindowKey({"t.sessions", 0, "long", 0}))->has_value());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("compaction purges expired windows and keeps everything else", "[state][retention]") {
  const std::string dir = MakeTempDir();
  WindowRetention retention;
  retention.RegisterStore("t.s", kHour);
  {
    auto opened = StateDb::Open(dir, {false, &retention});
    REQUIRE(opened.ok());
    StateDb& db = **opened;
    // 240 one-minute windows (4 hours) for 25 keys in partitions 0 and 1, plus a progress
    // entry and a store nobody registered.
    WriteBatch batch;
    for (int key = 0; key < 25; ++key) {
      for (int minute = 0; minute < 240; ++minute) {
        for (int32_t partition : {0, 1}) {
          batch.Put(
              EncodeWindowKey({"t.s", partition, "user" + std::to_string(key), minute * kMinute}),
              "v");
        }
      }
    }
    batch.Put(EncodeProgressKey("t", "topic", 0), EncodeProgress({1, 4 * kHour}));
    batch.Put(EncodeWindowKey({"unregistered", 0, "k", 0}), "v");
    REQUIRE(db.Write(batch).ok());
    const std::string partition0 = EncodeStorePartitionPrefix("t.s", 0);
    const std::string partition1 = EncodeStorePartitionPrefix("t.s", 1);
    REQUIRE(CountPrefix(db, partition0) == 25 * 240);

    // Partition 0 reached stream time 4h: windows starting at 3h or before (start + 1h <=
    // 4h: 181 minutes) expire.
    retention.AdvanceStreamTime("t.s", 0, 4 * kHour);
    REQUIRE(db.CompactAll().ok());
    CHECK(CountPrefix(db, partition0) == 25 * 59);   // 181 of 240 minutes purged per key
    CHECK(CountPrefix(db, partition1) == 25 * 240);  // no stream time known: untouched
    CHECK(CountPrefix(db, EncodeWindowKeyPrefix("t.s", 0, "user7")) == 59);
    CHECK(db.Get(EncodeWindowKey({"t.s", 0, "user7", 3 * kHour + kMinute}))->has_value());
    CHECK_FALSE(db.Get(EncodeWindowKey({"t.s", 0, "user7", 3 * kHour}))->has_value());
    CHECK(db.Get(EncodeProgressKey("t", "topic", 0))->has_value());
    CHECK(db.Get(EncodeWindowKey({"unregistered", 0, "k", 0}))->has_value());
    CHECK(db.EstimatedKeys() <= 25 * 60 + 25 * 240 + 2 + 10);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace eddy::state
