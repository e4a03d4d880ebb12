// StateDb against a real RocksDB in a temporary directory: atomic batches, prefix scans,
// persistence across reopen, range deletes.
#include "state/state_db.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "state/key_encoding.h"
#include "support/temp_dir.h"

namespace eddy::state {
namespace {

using eddy::testing::TempDir;

std::unique_ptr<StateDb> OpenDb(const std::string& dir) {
  Result<std::unique_ptr<StateDb>> db = StateDb::Open(dir, StateDbOptions{});
  INFO(db.status().ToString());
  REQUIRE(db.ok());
  return std::move(db).value();
}

std::optional<std::string> Get(const StateDb& db, std::string_view key) {
  Result<std::optional<std::string>> value = db.Get(key);
  REQUIRE(value.ok());
  return *value;
}

std::vector<std::pair<std::string, std::string>> Scan(const StateDb& db, std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  REQUIRE(db.ScanPrefix(prefix, [&](std::string_view key, std::string_view value) {
              out.emplace_back(key, value);
              return true;
            }).ok());
  return out;
}

TEST_CASE("a batch is written atomically and read back", "[state][state_db]") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  CHECK(db->path() == dir.path() + "/db");
  CHECK(Get(*db, "missing") == std::nullopt);

  WriteBatch batch;
  batch.Put("a", "1");
  batch.Put("b", "2");
  batch.Put("b", "3");  // the later put wins
  batch.Delete("a");
  batch.Put("c", std::string("\0\xFF", 2));
  CHECK(batch.Count() == 5);
  // Nothing is visible before Write.
  CHECK(Get(*db, "b") == std::nullopt);
  REQUIRE(db->Write(batch).ok());
  CHECK(Get(*db, "a") == std::nullopt);
  CHECK(Get(*db, "b") == "3");
  CHECK(Get(*db, "c") == std::string("\0\xFF", 2));

  batch.Clear();
  CHECK(batch.Count() == 0);
  // An empty value is a value, not an absent key.
  batch.Put("empty", "");
  REQUIRE(db->Write(batch).ok());
  CHECK(Get(*db, "empty") == std::string());
}

TEST_CASE("ScanPrefix visits exactly the prefix's keys, in order", "[state][state_db]") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  WriteBatch batch;
  for (const char* key : {"a", "ab", "abc", "abd", "ac", "b", "\xFF", "\xFF\xFF", "\xFF\xFF\x01"}) {
    batch.Put(key, std::string("v:") + key);
  }
  REQUIRE(db->Write(batch).ok());

  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(Scan(*db, "ab") == Pairs{{"ab", "v:ab"}, {"abc", "v:abc"}, {"abd", "v:abd"}});
  CHECK(Scan(*db, "abc") == Pairs{{"abc", "v:abc"}});
  CHECK(Scan(*db, "abz").empty());
  CHECK(Scan(*db, "a").size() == 5);
  // A prefix of 0xFF bytes has no successor: the scan runs to the end of the keyspace.
  CHECK(Scan(*db, "\xFF\xFF") ==
        Pairs{{"\xFF\xFF", "v:\xFF\xFF"}, {"\xFF\xFF\x01", "v:\xFF\xFF\x01"}});
  CHECK(Scan(*db, "").size() == 10);  // and the key format entry ('F')

  // Returning false stops the scan.
  int visited = 0;
  REQUIRE(db->ScanPrefix("a", [&](std::string_view, std::string_view) {
              ++visited;
              return visited < 2;
            }).ok());
  CHECK(visited == 2);
}

TEST_CASE("window keys of one user key scan as one start-ordered range", "[state][state_db]") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  WriteBatch batch;
  for (int64_t start : {60'000, -60'000, 0}) {
    batch.Put(EncodeWindowKey({"t.s", 0, "a", start}), std::to_string(start));
  }
  batch.Put(EncodeWindowKey({"t.s", 0, "ab", 0}), "other key");
  batch.Put(EncodeWindowKey({"t.s", 1, "a", 0}), "other partition");
  REQUIRE(db->Write(batch).ok());

  std::vector<int64_t> starts;
  REQUIRE(db->ScanPrefix(EncodeWindowKeyPrefix("t.s", 0, "a"), [&](std::string_view key,
                                                                   std::string_view) {
              starts.push_back(DecodeWindowKey(key)->window_start_ms);
              return true;
            }).ok());
  CHECK(starts == std::vector<int64_t>{-60'000, 0, 60'000});
}

TEST_CASE("ScanUserKeyWindows finds exactly one user key's windows, in memtables and files",
          "[state][state_db]") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  // User keys that are prefixes of each other, contain the escape bytes, or differ only in
  // partition or store; half of the keys flushed to SST files, half in the memtable.
  const std::vector<std::string> user_keys = {
      "a", "ab", "b", std::string("a\0", 2), std::string("a\0\x01", 3), ""};
  std::map<std::string, std::vector<int64_t>> expected;
  auto write_round = [&](int64_t base) {
    WriteBatch batch;
    for (size_t i = 0; i < user_keys.size(); ++i) {
      for (int64_t start : {base - 60'000, base, base + static_cast<int64_t>(i)}) {
        batch.Put(EncodeWindowKey({"t.s", 0, user_keys[i], start}), "v");
        expected[user_keys[i]].push_back(start);
      }
      batch.Put(EncodeWindowKey({"t.s", 1, user_keys[i], base}), "other partition");
      batch.Put(EncodeWindowKey({"t.s2", 0, user_keys[i], base}), "other store");
    }
    REQUIRE(db->Write(batch).ok());
  };
  write_round(1'000'000);
  REQUIRE(db->Flush().ok());
  write_round(2'000'000);
  for (const std::string& user_key : user_keys) {
    std::vector<int64_t> starts;
    REQUIRE(
        db->ScanUserKeyWindows(EncodeWindowKeyPrefix("t.s", 0, user_key), [&](std::string_view key,
                                                                              std::string_view) {
            starts.push_back(DecodeWindowKey(key)->window_start_ms);
            return true;
          }).ok());
    std::vector<int64_t> want = expected[user_key];
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    INFO("user key of " << user_key.size() << " bytes");
    CHECK(starts == want);
  }
  int visited = 0;
  REQUIRE(db->ScanUserKeyWindows(EncodeWindowKeyPrefix("t.s", 0, "absent"), [&](std::string_view,
                                                                                std::string_view) {
              ++visited;
              return true;
            }).ok());
  CHECK(visited == 0);
}

TEST_CASE("WindowScanner reads from a window start on, and sees new commits only after Release",
          "[state][state_db]") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  auto put = [&](int64_t start, const std::string& value) {
    WriteBatch batch;
    batch.Put(EncodeWindowKey({"t.s", 0, "k", start}), value);
    batch.Put(EncodeWindowKey({"t.s", 0, "k2", start}), "another key");
    REQUIRE(db->Write(batch).ok());
  };
  put(1'000, "a");
  put(2'000, "b");
  REQUIRE(db->Flush().ok());
  put(3'000, "c");
  WindowScanner scanner(*db);
  auto scan = [&](int64_t from) {
    std::vector<std::pair<int64_t, std::string>> seen;
    REQUIRE(scanner
                .Scan(EncodeWindowKeyPrefix("t.s", 0, "k"), from,
                      [&](std::string_view key, std::string_view value) {
                        seen.emplace_back(DecodeWindowKey(key)->window_start_ms, value);
                        return true;
                      })
                .ok());
    return seen;
  };
  using Seen = std::vector<std::pair<int64_t, std::string>>;
  CHECK(scan(INT64_MIN) == Seen{{1'000, "a"}, {2'000, "b"}, {3'000, "c"}});
  CHECK(scan(2'000) == Seen{{2'000, "b"}, {3'000, "c"}});
  CHECK(scan(2'001) == Seen{{3'000, "c"}});
  // A commit after the iterator was created: invisible until Release.
  put(4'000, "d");
  CHECK(scan(3'000) == Seen{{3'000, "c"}});
  scanner.Release();
  CHECK(scan(3'000) == Seen{{3'000, "c"}, {4'000, "d"}});
  // A stop from the visitor ends the scan; an absent key visits nothing.
  int visited = 0;
  REQUIRE(scanner
              .Scan(EncodeWindowKeyPrefix("t.s", 0, "k"), INT64_MIN,
                    [&](std::string_view, std::string_view) { return ++visited < 2; })
              .ok());
  CHECK(visited == 2);
  visited = 0;
  REQUIRE(scanner
              .Scan(EncodeWindowKeyPrefix("t.s", 0, "absent"), INT64_MIN,
                    [&](std::string_view, std::string_view) { return ++visited > 0; })
              .ok());
  CHECK(visited == 0);
}

TEST_CASE("state persists across close and reopen", "[state][state_db]") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    WriteBatch batch;
    batch.Put(EncodeProgressKey("t", "topic", 3), EncodeProgress({17, 12345}));
    batch.Put("unflushed", "in the WAL only");
    REQUIRE(db->Write(batch).ok());
  }
  {
    auto db = OpenDb(dir.path());
    const auto value = Get(*db, EncodeProgressKey("t", "topic", 3));
    REQUIRE(value.has_value());
    const auto progress = DecodeProgress(*value);
    REQUIRE(progress.has_value());
    CHECK(progress->next_offset == 17);
    CHECK(progress->stream_time_ms == 12345);
    CHECK(Get(*db, "unflushed") == "in the WAL only");
    WriteBatch batch;
    batch.Put("flushed", "in an SST");
    REQUIRE(db->Write(batch).ok());
    REQUIRE(db->Flush().ok());
  }
  auto db = OpenDb(dir.path());
  CHECK(Get(*db, "flushed") == "in an SST");
  CHECK(Get(*db, "unflushed") == "in the WAL only");
}

TEST_CASE("DeleteRange removes from begin up to but not including end", "[state][state_db]") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  WriteBatch batch;
  for (int32_t partition : {0, 1, 2}) {
    for (const char* key : {"a", "b"}) {
      batch.Put(EncodeWindowKey({"t.s", partition, key, 0}), "x");
    }
  }
  batch.Put(EncodeWindowKey({"t.s2", 1, "a", 0}), "other store");
  REQUIRE(db->Write(batch).ok());

  // Drop partition 1 of store t.s, the way a partition's state is dropped as one range.
  const std::string begin = EncodeStorePartitionPrefix("t.s", 1);
  WriteBatch drop;
  drop.DeleteRange(begin, PrefixSuccessor(begin));
  REQUIRE(db->Write(drop).ok());

  CHECK(Scan(*db, EncodeStorePartitionPrefix("t.s", 1)).empty());
  CHECK(Scan(*db, EncodeStorePartitionPrefix("t.s", 0)).size() == 2);
  CHECK(Scan(*db, EncodeStorePartitionPrefix("t.s", 2)).size() == 2);
  CHECK(Get(*db, EncodeWindowKey({"t.s2", 1, "a", 0})) == "other store");

  // The end bound is exclusive.
  WriteBatch exclusive;
  exclusive.DeleteRange(EncodeWindowKey({"t.s", 0, "a", 0}), EncodeWindowKey({"t.s", 0, "b", 0}));
  REQUIRE(db->Write(exclusive).ok());
  CHECK(Get(*db, EncodeWindowKey({"t.s", 0, "a", 0})) == std::nullopt);
  CHECK(Get(*db, EncodeWindowKey({"t.s", 0, "b", 0})) == "x");
}

TEST_CASE("opening a path that is a file is an IoError naming it", "[state][state_db]") {
  TempDir dir;
  const std::string file = dir.path() + "/not-a-dir";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  Result<std::unique_ptr<StateDb>> db = StateDb::Open(file, StateDbOptions{});
  REQUIRE_FALSE(db.ok());
  CHECK(db.status().code() == StatusCode::kIoError);
  CHECK_THAT(db.status().message(), Catch::Contains("not-a-dir"));
}

TEST_CASE("a state directory in another key format is refused, naming both formats",
          "[state][state_db]") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    CHECK(Get(*db, EncodeFormatKey()) == std::optional<std::string>(kKeyFormat));
    // As format 1 left it: keys, and no format entry.
    WriteBatch batch;
    batch.Delete(EncodeFormatKey());
    batch.Put("P-some-progress", "x");
    REQUIRE(db->Write(batch).ok());
  }
  Result<std::unique_ptr<StateDb>> old = StateDb::Open(dir.path(), StateDbOptions{});
  REQUIRE_FALSE(old.ok());
  CHECK_THAT(old.status().message(),
             Catch::Contains("is in key format 1, this eddy reads format 2 only"));
  // An empty directory gets the current format, and opens again.
  TempDir fresh;
  { auto db = OpenDb(fresh.path()); }
  auto reopened = OpenDb(fresh.path());
  CHECK(Get(*reopened, EncodeFormatKey()) == std::optional<std::string>(kKeyFormat));
}

TEST_CASE("memtables stay within their bound however much is written", "[state][state_db]") {
  // 160 MiB of distinct keys: with RocksDB's default budget (128 MiB memtables, flushed two
  // at a time) all of it would still sit in memtables; with eddy's, flushes keep them under
  // kMaxWriteBuffers of kWriteBufferBytes (each may overshoot by part of an arena block).
  TempDir dir;
  auto db = OpenDb(dir.path());
  const uint64_t bound = (kMaxWriteBuffers + 1) * kWriteBufferBytes;
  constexpr int kBatches = 160;
  constexpr int kPerBatch = 8192;
  const std::string value(112, 'v');  // key + value + RocksDB's entry overhead: about 128 B
  uint64_t peak = 0;
  for (int b = 0; b < kBatches; ++b) {
    WriteBatch batch;
    for (int i = 0; i < kPerBatch; ++i) {
      char key[16];
      std::snprintf(key, sizeof key, "k%06d-%05d", b, i);
      batch.Put(key, value);
    }
    REQUIRE(db->Write(batch).ok());
    peak = std::max(peak, db->MemtableBytes());
  }
  INFO("peak memtable bytes " << peak << ", bound " << bound);
  CHECK(peak > kWriteBufferBytes / 2);  // the measure works: memtables did fill
  CHECK(peak <= bound);
  // Nothing was lost on the way to disk.
  CHECK(Get(*db, "k000000-00000") == value);
  CHECK(Get(*db, "k000159-08191") == value);
  CHECK(db->EstimatedKeys() > 0);
}

}  // namespace
}  // namespace eddy::state
