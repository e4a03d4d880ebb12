// state/key_encoding: round trips, and the ordering properties the engine and views rely
// on (a key's windows form one contiguous, start-ordered range; partitions, stores and keys
// never interleave; a length prefix keeps "a" from capturing "ab").
#include "state/key_encoding.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <climits>
#include <random>
#include <string>
#include <vector>

#include "state/state_db.h"

namespace eddy::state {
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int byte : bytes) out.push_back(static_cast<char>(byte));
  return out;
}

TEST_CASE("window keys round-trip through DecodeWindowKey", "[state][key_encoding]") {
  const std::string binary_key = Bytes({0x00, 0xFF, 'x', 0x00});
  const std::string long_key(300, 'z');  // WindowKey borrows: keep the bytes alive
  const std::vector<WindowKey> keys = {
      {"pageviews.per_minute", 0, "alice", 0},   {"t.s", 7, "", -60'000},
      {"t.s", INT32_MAX, binary_key, INT64_MIN}, {"", 0, "k", INT64_MAX},
      {"a.b", 3, long_key, 1'700'000'000'000},
  };
  for (const WindowKey& key : keys) {
    const std::string encoded = EncodeWindowKey(key);
    const std::optional<DecodedWindowKey> decoded = DecodeWindowKey(encoded);
    REQUIRE(decoded.has_value());
    CHECK(decoded->store == key.store);
    CHECK(decoded->partition == key.partition);
    CHECK(decoded->user_key == key.user_key);
    CHECK(decoded->window_start_ms == key.window_start_ms);
    // PeekWindowKey (the compaction filter's) reads the same store, partition and start.
    const std::optional<WindowKeyView> peeked = PeekWindowKey(encoded);
    REQUIRE(peeked.has_value());
    CHECK(peeked->store == key.store);
    CHECK(peeked->partition == key.partition);
    CHECK(peeked->window_start_ms == key.window_start_ms);
    // AppendWindowKey appends exactly EncodeWindowKey's bytes.
    std::string appended = "prefix";
    AppendWindowKey(appended, key);
    CHECK(appended == "prefix" + encoded);
    // The prefixes the engine scans by are real prefixes of the key.
    CHECK(StartsWith(encoded, EncodeWindowKeyPrefix(key.store, key.partition, key.user_key)));
    CHECK(StartsWith(encoded, EncodeStorePartitionPrefix(key.store, key.partition)));
  }
}

TEST_CASE("window key layout is the documented grammar", "[state][key_encoding]") {
  const std::string encoded = EncodeWindowKey({"s", 2, "k", 0});
  const std::string expected = Bytes({'W',  0, 0, 0, 1, 's', 0, 0, 0, 2, 'k', 0, 1,  //
                                      0x80, 0, 0, 0, 0, 0,   0, 0});
  CHECK(encoded == expected);
  // A 0x00 in a user key is escaped as 0x00 0xFF.
  CHECK(EncodeWindowKeyPrefix("s", 2, std::string("a\0b", 3)) ==
        Bytes({'W', 0, 0, 0, 1, 's', 0, 0, 0, 2, 'a', 0, 0xFF, 'b', 0, 1}));
}

TEST_CASE("window keys sort by user key bytes, then window start", "[state][key_encoding]") {
  std::mt19937 rng(20261126);
  std::uniform_int_distribution<int> length(0, 4);
  std::uniform_int_distribution<int> byte(0, 3);  // 0x00, 0x01, 0xFF and 'a': the edge cases
  const char alphabet[] = {'\0', '\x01', '\xFF', 'a'};
  auto random_key = [&] {
    std::string key;
    for (int i = length(rng); i > 0; --i) key.push_back(alphabet[byte(rng)]);
    return key;
  };
  for (int trial = 0; trial < 5000; ++trial) {
    const std::string a = random_key();
    const std::string b = random_key();
    const int64_t start_a = byte(rng) - 1;
    const int64_t start_b = byte(rng) - 1;
    const std::string encoded_a = EncodeWindowKey({"s", 0, a, start_a});
    const std::string encoded_b = EncodeWindowKey({"s", 0, b, start_b});
    INFO("a='" << a << "' b='" << b << "'");
    CHECK((encoded_a < encoded_b) == (std::pair(a, start_a) < std::pair(b, start_b)));
    CHECK(DecodeWindowKey(encoded_a)->user_key == a);
    // A range prefix covers exactly the keys that start with it.
    const bool starts_with = b.compare(0, a.size(), a) == 0 && b.size() >= a.size();
    CHECK(StartsWith(encoded_b, EncodeUserKeyRangePrefix("s", 0, a)) == starts_with);
  }
}

TEST_CASE("DecodeWindowKey rejects malformed keys", "[state][key_encoding]") {
  const std::string good = EncodeWindowKey({"store", 1, "key", 42});
  CHECK_FALSE(DecodeWindowKey("").has_value());
  // Every truncation is rejected, and so is a trailing byte.
  for (size_t length = 0; length < good.size(); ++length) {
    CHECK_FALSE(DecodeWindowKey(std::string_view(good).substr(0, length)).has_value());
  }
  CHECK_FALSE(DecodeWindowKey(good + "x").has_value());
  // Other tags are not window keys.
  CHECK_FALSE(DecodeWindowKey(EncodeProgressKey("store", "key", 1)).has_value());
  std::string wrong_tag = good;
  wrong_tag[0] = 'P';
  CHECK_FALSE(DecodeWindowKey(wrong_tag).has_value());
  // A store length pointing past the end.
  CHECK_FALSE(DecodeWindowKey(Bytes({'W', 0, 0, 1, 0, 's'})).has_value());
  // PeekWindowKey checks the tag and the framing: too short for a store, a partition, a
  // terminator and a start, or another tag.
  CHECK_FALSE(PeekWindowKey(Bytes({'W', 0, 0, 1, 0, 's'})).has_value());
  CHECK_FALSE(PeekWindowKey(wrong_tag).has_value());
  CHECK_FALSE(PeekWindowKey(EncodeProgressKey("store", "key", 1)).has_value());
  CHECK_FALSE(PeekWindowKey(std::string_view(good).substr(0, good.size() - 12)).has_value());
  CHECK(PeekWindowKey(good).has_value());
}

TEST_CASE("window starts sort numerically, negative starts included", "[state][key_encoding]") {
  const std::vector<int64_t> starts = {INT64_MIN, -120'000, -60'000,           -1,       0,
                                       1,         60'000,   1'700'000'000'000, INT64_MAX};
  for (size_t i = 0; i + 1 < starts.size(); ++i) {
    INFO(starts[i] << " < " << starts[i + 1]);
    CHECK(EncodeWindowKey({"s", 0, "k", starts[i]}) <
          EncodeWindowKey({"s", 0, "k", starts[i + 1]}));
  }
}

TEST_CASE("ordered integer encodings round-trip and preserve order", "[state][key_encoding]") {
  for (int64_t value : {INT64_MIN, INT64_MIN + 1, int64_t{-256}, int64_t{-1}, int64_t{0},
                        int64_t{1}, int64_t{255}, int64_t{256}, INT64_MAX}) {
    std::string out;
    AppendInt64Ordered(out, value);
    REQUIRE(out.size() == 8);
    CHECK(ReadInt64Ordered(out) == value);
  }
  for (uint32_t value : {0u, 1u, 255u, 256u, 0x01020304u, 0xFFFFFFFFu}) {
    std::string out;
    AppendUint32BigEndian(out, value);
    REQUIRE(out.size() == 4);
    CHECK(ReadUint32BigEndian(out) == value);
  }
  std::string big_endian;
  AppendUint32BigEndian(big_endian, 0x01020304u);
  CHECK(big_endian == Bytes({1, 2, 3, 4}));
  std::string a, b;
  AppendUint32BigEndian(a, 255);
  AppendUint32BigEndian(b, 256);
  CHECK(a < b);
}

// Sorts a set of keys the way RocksDB's default comparator does (bytewise, unsigned) and
// checks that one user key's windows form one contiguous, start-ordered run.
TEST_CASE("a key's windows are contiguous and partitions, stores and keys do not interleave",
          "[state][key_encoding]") {
  const std::vector<std::string> stores = {"t.a", "t.ab", "t.b"};
  const std::vector<int32_t> partitions = {0, 1, 255, 256};
  const std::vector<std::string> user_keys = {"", "a", "ab", "b", Bytes({0xFF}), "a\xFF"};
  const std::vector<int64_t> starts = {-60'000, 0, 60'000};
  std::vector<std::string> encoded;
  for (const auto& store : stores) {
    for (int32_t partition : partitions) {
      for (const auto& user_key : user_keys) {
        for (int64_t start : starts)
          encoded.push_back(EncodeWindowKey({store, partition, user_key, start}));
      }
    }
  }
  std::sort(encoded.begin(), encoded.end());  // std::string compares as unsigned char

  auto decoded = [&](size_t i) { return *DecodeWindowKey(encoded[i]); };
  // Each (store, partition) and each (store, partition, key) occupies one contiguous run.
  std::vector<std::string> store_partition_runs, key_runs;
  for (size_t i = 0; i < encoded.size(); ++i) {
    const DecodedWindowKey key = decoded(i);
    const std::string run = EncodeStorePartitionPrefix(key.store, key.partition);
    if (store_partition_runs.empty() || store_partition_runs.back() != run) {
      store_partition_runs.push_back(run);
    }
    const std::string key_run = EncodeWindowKeyPrefix(key.store, key.partition, key.user_key);
    if (key_runs.empty() || key_runs.back() != key_run) {
      key_runs.push_back(key_run);
    } else {
      // Inside one key's run, window starts ascend.
      CHECK(decoded(i - 1).window_start_ms < key.window_start_ms);
    }
  }
  CHECK(store_partition_runs.size() == stores.size() * partitions.size());
  CHECK(key_runs.size() == stores.size() * partitions.size() * user_keys.size());

  // A key's prefix captures exactly its own windows: "a" does not capture "ab" or "a\xFF".
  for (const auto& store : stores) {
    for (int32_t partition : partitions) {
      for (const auto& user_key : user_keys) {
        const std::string prefix = EncodeWindowKeyPrefix(store, partition, user_key);
        size_t matches = 0;
        for (const std::string& key : encoded) {
          if (!StartsWith(key, prefix)) continue;
          ++matches;
          const DecodedWindowKey d = *DecodeWindowKey(key);
          CHECK(d.store == store);
          CHECK(d.partition == partition);
          CHECK(d.user_key == user_key);
        }
        CHECK(matches == starts.size());
        // The same holds for the store/partition prefix: "t.a" does not capture "t.ab".
        size_t partition_matches = 0;
        for (const std::string& key : encoded) {
          if (StartsWith(key, EncodeStorePartitionPrefix(store, partition))) ++partition_matches;
        }
        CHECK(partition_matches == user_keys.size() * starts.size());
      }
    }
  }
}

TEST_CASE("progress values round-trip, keys are distinct per topology, topic and partition",
          "[state][key_encoding]") {
  for (const PartitionProgress& progress :
       {PartitionProgress{0, INT64_MIN}, PartitionProgress{42, 1'700'000'000'000},
        PartitionProgress{INT64_MAX, -5}}) {
    const std::string value = EncodeProgress(progress);
    CHECK(value.size() == 16);
    const std::optional<PartitionProgress> decoded = DecodeProgress(value);
    REQUIRE(decoded.has_value());
    CHECK(decoded->next_offset == progress.next_offset);
    CHECK(decoded->stream_time_ms == progress.stream_time_ms);
  }
  CHECK_FALSE(DecodeProgress("").has_value());
  CHECK_FALSE(DecodeProgress(std::string(15, '\0')).has_value());
  CHECK_FALSE(DecodeProgress(std::string(17, '\0')).has_value());
  // A fresh partition's default progress says "no record seen".
  CHECK(PartitionProgress{}.stream_time_ms == INT64_MIN);

  CHECK(EncodeProgressKey("t", "topic", 0) != EncodeProgressKey("t", "topic", 1));
  CHECK(EncodeProgressKey("t", "topic", 0) != EncodeProgressKey("t2", "topic", 0));
  // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
  CHECK(EncodeProgressKey("ab", "c", 0) != EncodeProgressKey("a", "bc", 0));
  CHECK(EncodeProgressKey("t", "topic", 0)[0] == 'P');
  // Meta keys: one per store, never colliding with window or progress keys.
  CHECK(EncodeStoreMetaKey("t.s") != EncodeStoreMetaKey("t.s2"));
  CHECK(EncodeStoreMetaKey("t.s")[0] == 'M');
  CHECK_FALSE(StartsWith(EncodeStoreMetaKey("t.s"), EncodeStorePartitionPrefix("t.s", 0)));
}

TEST_CASE("PrefixSuccessor bounds a prefix scan, 0xFF bytes included", "[state][key_encoding]") {
  CHECK(PrefixSuccessor("") == "");
  CHECK(PrefixSuccessor("a") == "b");
  CHECK(PrefixSuccessor("ab") == "ac");
  CHECK(PrefixSuccessor(Bytes({'a', 0xFF})) == "b");
  CHECK(PrefixSuccessor(Bytes({'a', 0xFF, 0xFF})) == "b");
  CHECK(PrefixSuccessor(Bytes({'a', 0xFE})) == Bytes({'a', 0xFF}));
  CHECK(PrefixSuccessor(Bytes({0x00})) == Bytes({0x01}));
  // Nothing is greater than every key starting with all-0xFF: no upper bound.
  CHECK(PrefixSuccessor(Bytes({0xFF})) == "");
  CHECK(PrefixSuccessor(Bytes({0xFF, 0xFF, 0xFF})) == "");

  // The successor is greater than every extension of the prefix and is not one of them.
  const std::string prefix = EncodeWindowKeyPrefix("s", 0, Bytes({0xFF}));
  const std::string successor = PrefixSuccessor(prefix);
  CHECK(successor > prefix);
  CHECK_FALSE(StartsWith(successor, prefix));
  CHECK(EncodeWindowKey({"s", 0, Bytes({0xFF}), INT64_MAX}) < successor);
}

}  // namespace
}  // namespace eddy::state
