// Byte layout of every key eddy writes to RocksDB. The grammar is at the top of
// key_encoding.cpp, the file that writes it.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy::state {

// A window's aggregate state: store / source partition / user key / window start.
struct WindowKey {
  std::string_view store;  // "<topology>.<step>"
  int32_t partition = 0;
  std::string_view user_key;
  int64_t window_start_ms = 0;
};

std::string EncodeWindowKey(const WindowKey& key);
// EncodeWindowKey appended to `out`: lets a hot loop reuse one buffer.
void AppendWindowKey(std::string& out, const WindowKey& key);
// Prefix of all windows of one user key in one partition of a store, ordered by start.
std::string EncodeWindowKeyPrefix(std::string_view store, int32_t partition,
                                  std::string_view user_key);
// Prefix of the windows of every user key that starts with `user_key_prefix` (all keys for
// ""), in one partition of a store. Keys sort by user key bytes, then window start.
std::string EncodeUserKeyRangePrefix(std::string_view store, int32_t partition,
                                     std::string_view user_key_prefix);
// Prefix of everything one partition holds in a store (for dropping a partition).
std::string EncodeStorePartitionPrefix(std::string_view store, int32_t partition);

struct DecodedWindowKey {
  std::string store;
  int32_t partition = 0;
  std::string user_key;
  int64_t window_start_ms = 0;
};
std::optional<DecodedWindowKey> DecodeWindowKey(std::string_view encoded);
// What the compaction filter needs of every key it sees, without copying: the store, the
// partition and the window start of a window key (the user key is not checked or decoded).
// nullopt if `encoded` does not have a window key's tag and framing.
struct WindowKeyView {
  std::string_view store;
  int32_t partition = 0;
  int64_t window_start_ms = 0;
};
std::optional<WindowKeyView> PeekWindowKey(std::string_view encoded);

// A session window's stored value: the session's end (the event time of its last record,
// inclusive) ahead of the aggregate state, so the retention filter can read the end without
// knowing the aggregates. The key's window_start is the session's start.
std::string EncodeSessionValue(int64_t end_ms, std::string_view aggregate_state);
struct DecodedSessionValue {
  int64_t end_ms = 0;
  std::string_view aggregate_state;  // points into the decoded bytes
};
std::optional<DecodedSessionValue> DecodeSessionValue(std::string_view value);

// Per (topology, source topic, partition) progress. The value is EncodeProgress().
std::string EncodeProgressKey(std::string_view topology, std::string_view topic, int32_t partition);

// What a topology has durably processed from one partition: the next offset to consume
// and the partition's stream time (max event time seen), both as of the same write.
struct PartitionProgress {
  int64_t next_offset = 0;
  int64_t stream_time_ms = INT64_MIN;  // INT64_MIN: no record seen yet
};
std::string EncodeProgress(const PartitionProgress& progress);
std::optional<PartitionProgress> DecodeProgress(std::string_view value);

// A store's definition fingerprint, so state built by one definition of a step is never
// read as if it had been built by another.
std::string EncodeStoreMetaKey(std::string_view store);

// Where the key format version is stored (StateDb::Open); kKeyFormat is the current one.
std::string EncodeFormatKey();
inline constexpr std::string_view kKeyFormat = "2";

// Exactly-once output's own entries (engine/exactly_once_sink.h), e.g. "transaction".
std::string EncodeOutboxKey(std::string_view name);

// Order-preserving fixed-width encodings (exposed for tests).
void AppendUint32BigEndian(std::string& out, uint32_t value);
void AppendInt64Ordered(std::string& out, int64_t value);
uint32_t ReadUint32BigEndian(std::string_view in);
int64_t ReadInt64Ordered(std::string_view in);

}  // namespace eddy::state
