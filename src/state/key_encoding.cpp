// Key encoding of eddy's RocksDB state. One database per daemon (state.dir/db), one
// keyspace, distinguished by a tag byte:
//
//   window_key   := 'W' store partition user_key window_start
//   progress_key := 'P' topology topic partition
//   store_meta   := 'M' store
//   format_key   := 'F'                      -- the key format version, "2"
//   outbox_key   := 'O' name                 -- exactly-once output: "epoch", "transaction"
//
//   store, topology, topic           := u32be(length) bytes
//   user_key                         := bytes with 0x00 as 0x00 0xFF, then 0x00 0x01
//                                       (order-preserving: key order is user-key byte order)
//   partition                        := u32be(partition)          -- source partition (a
//                                       task); table rows use -1 (0xFFFFFFFF): they are global
//   window_start                     := u64be(start_ms XOR 2^63)  -- signed, order-preserving
//                                       (dedup: first seen; stream joins: the buffered
//                                       record's event time; tables: 0)
//
// Why this order:
// - Everything that belongs to one source partition of a store shares the prefix
//   'W' store partition, so a partition's state can be dropped or shipped (scale-out,
//   changelog restore) as one contiguous range.
// - Within it, one user key's windows are contiguous and sorted by window start, so a view
//   query is a single prefix scan per partition.
// - Store names are length-prefixed and user keys escaped and terminated, so any bytes are
//   valid keys and no key is a prefix-collision of another. User keys sort in their own byte
//   order, so a view's range and prefix scans are seeks (EncodeUserKeyRangePrefix).
// - The format is recorded under format_key; StateDb::Open refuses a directory written in
//   another format (format 1 length-prefixed user keys).
//
// Values:
//   progress_key -> i64be(next_offset) i64be(stream_time_ms)   (see EncodeProgress)
//   window_key   -> tumbling, hopping, unwindowed steps: aggregate state, encoded by
//                   engine/aggregates.cpp
//                 | session windows: i64be(end_ms XOR 2^63) aggregate state
//                   (see EncodeSessionValue; the key's window_start is the session's start)
//                 | dedup and table steps: see engine/dedup.cpp, engine/table.cpp
//   store_meta   -> the step definition fingerprint, written by the engine
//   outbox_key   -> see engine/exactly_once_sink.cpp
//
// Invariant (exactness): a partition's window values and its progress entry are always
// written in the same RocksDB WriteBatch, so after any crash the state reflects exactly the
// records before next_offset.
#include "state/key_encoding.h"

#include <climits>

namespace eddy::state {
namespace {

constexpr char kWindowTag = 'W';
constexpr char kProgressTag = 'P';
constexpr char kStoreMetaTag = 'M';
constexpr char kOutboxTag = 'O';

void AppendLengthPrefixed(std::string& out, std::string_view bytes) {
  AppendUint32BigEndian(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

// User keys: order-preserving, so that RocksDB's byte order of a store's keys is the byte
// order of the user keys (range scans and prefix scans of a view are RocksDB seeks).
// 0x00 is written as 0x00 0xFF, and 0x00 0x01 ends the key: a key sorts before every longer
// key it is a prefix of (its terminator 0x00 0x01 is below both 0x00 0xFF and any byte >= 1).
void AppendOrderedBytes(std::string& out, std::string_view bytes) {
  // Runs without a 0x00 (usually the whole key) are appended at once.
  while (!bytes.empty()) {
    const size_t zero = bytes.find('\0');
    if (zero == std::string_view::npos) {
      out.append(bytes);
      break;
    }
    out.append(bytes.substr(0, zero + 1));
    out.push_back('\xFF');
    bytes.remove_prefix(zero + 1);
  }
  out.append("\0\x01", 2);
}

bool ReadOrderedBytes(std::string_view& in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\0') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 >= in.size()) return false;
    if (in[i + 1] == '\x01') {
      in.remove_prefix(i + 2);
      return true;
    }
    if (in[i + 1] != '\xFF') return false;
    out.push_back('\0');
    ++i;
  }
  return false;
}

bool ReadLengthPrefixed(std::string_view& in, std::string& out) {
  if (in.size() < 4) return false;
  const uint32_t length = ReadUint32BigEndian(in);
  in.remove_prefix(4);
  if (in.size() < length) return false;
  out.assign(in.substr(0, length));
  in.remove_prefix(length);
  return true;
}

}  // namespace

void AppendUint32BigEndian(std::string& out, uint32_t value) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (24 - 8 * i)) & 0xFFu);
  out.append(bytes, sizeof bytes);
}

void AppendInt64Ordered(std::string& out, int64_t value) {
  const uint64_t biased = static_cast<uint64_t>(value) ^ (uint64_t{1} << 63);
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((biased >> (56 - 8 * i)) & 0xFFu);
  out.append(bytes, sizeof bytes);
}

uint32_t ReadUint32BigEndian(std::string_view in) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

int64_t ReadInt64Ordered(std::string_view in) {
  uint64_t biased = 0;
  for (size_t i = 0; i < 8; ++i) biased = (biased << 8) | static_cast<uint8_t>(in[i]);
  return static_cast<int64_t>(biased ^ (uint64_t{1} << 63));
}

std::string EncodeStorePartitionPrefix(std::string_view store, int32_t partition) {
  std::string out;
  out.reserve(1 + 4 + store.size() + 4);
  out.push_back(kWindowTag);
  AppendLengthPrefixed(out, store);
  AppendUint32BigEndian(out, static_cast<uint32_t>(partition));
  return out;
}

std::string EncodeWindowKeyPrefix(std::string_view store, int32_t partition,
                                  std::string_view user_key) {
  std::string out = EncodeStorePartitionPrefix(store, partition);
  AppendOrderedBytes(out, user_key);
  return out;
}

std::string EncodeUserKeyRangePrefix(std::string_view store, int32_t partition,
                                     std::string_view user_key_prefix) {
  std::string out = EncodeStorePartitionPrefix(store, partition);
  AppendOrderedBytes(out, user_key_prefix);
  out.resize(out.size() - 2);  // without the terminator: every key that starts with it
  return out;
}

std::string EncodeWindowKey(const WindowKey& key) {
  std::string out;
  out.reserve(1 + 4 + key.store.size() + 4 + key.user_key.size() + 2 + 8);
  AppendWindowKey(out, key);
  return out;
}

void AppendWindowKey(std::string& out, const WindowKey& key) {
  out.push_back(kWindowTag);
  AppendLengthPrefixed(out, key.store);
  AppendUint32BigEndian(out, static_cast<uint32_t>(key.partition));
  AppendOrderedBytes(out, key.user_key);
  AppendInt64Ordered(out, key.window_start_ms);
}

std::optional<WindowKeyView> PeekWindowKey(std::string_view encoded) {
  if (encoded.size() < 1 + 4 || encoded.front() != kWindowTag) return std::nullopt;
  encoded.remove_prefix(1);
  const uint32_t store_length = ReadUint32BigEndian(encoded);
  encoded.remove_prefix(4);
  // The store, the partition, at least the user key's terminator, and the start.
  if (encoded.size() < size_t{store_length} + 4 + 2 + 8) return std::nullopt;
  WindowKeyView key;
  key.store = encoded.substr(0, store_length);
  encoded.remove_prefix(store_length);
  key.partition = static_cast<int32_t>(ReadUint32BigEndian(encoded));
  key.window_start_ms = ReadInt64Ordered(encoded.substr(encoded.size() - 8));
  return key;
}

std::optional<DecodedWindowKey> DecodeWindowKey(std::string_view encoded) {
  if (encoded.empty() || encoded.front() != kWindowTag) return std::nullopt;
  encoded.remove_prefix(1);
  DecodedWindowKey key;
  if (!ReadLengthPrefixed(encoded, key.store)) return std::nullopt;
  if (encoded.size() < 4) return std::nullopt;
  key.partition = static_cast<int32_t>(ReadUint32BigEndian(encoded));
  encoded.remove_prefix(4);
  if (!ReadOrderedBytes(encoded, key.user_key)) return std::nullopt;
  if (encoded.size() != 8) return std::nullopt;
  key.window_start_ms = ReadInt64Ordered(encoded);
  return key;
}

std::string EncodeSessionValue(int64_t end_ms, std::string_view aggregate_state) {
  std::string out;
  out.reserve(8 + aggregate_state.size());
  AppendInt64Ordered(out, end_ms);
  out.append(aggregate_state);
  return out;
}

std::optional<DecodedSessionValue> DecodeSessionValue(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  return DecodedSessionValue{ReadInt64Ordered(value.substr(0, 8)), value.substr(8)};
}

std::string EncodeProgressKey(std::string_view topology, std::string_view topic,
                              int32_t partition) {
  std::string out;
  out.push_back(kProgressTag);
  AppendLengthPrefixed(out, topology);
  AppendLengthPrefixed(out, topic);
  AppendUint32BigEndian(out, static_cast<uint32_t>(partition));
  return out;
}

std::string EncodeProgress(const PartitionProgress& progress) {
  std::string out;
  out.reserve(16);
  AppendInt64Ordered(out, progress.next_offset);
  AppendInt64Ordered(out, progress.stream_time_ms);
  return out;
}

std::optional<PartitionProgress> DecodeProgress(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  PartitionProgress progress;
  progress.next_offset = ReadInt64Ordered(value.substr(0, 8));
  progress.stream_time_ms = ReadInt64Ordered(value.substr(8, 8));
  return progress;
}

std::string EncodeStoreMetaKey(std::string_view store) {
  std::string out;
  out.push_back(kStoreMetaTag);
  AppendLengthPrefixed(out, store);
  return out;
}

std::string EncodeFormatKey() {
  return std::string(1, 'F');
}

std::string EncodeOutboxKey(std::string_view name) {
  std::string out;
  out.push_back(kOutboxTag);
  out.append(name);
  return out;
}

}  // namespace eddy::state
