// A record as the engine sees it, independent of where it came from (Kafka, fixtures).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::engine {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

struct RecordHeader {
  std::string_view name;
  std::string_view value;
};

// Borrowed view of one consumed record. Every string_view points into memory owned by the
// Source that produced it and stays valid until that Source's next Poll() call.
struct Record {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string_view> key;  // nullopt: the record has no key
  std::string_view value;
  // A Kafka record with a null value (a tombstone: "delete this key" in a changelog). value
  // is empty then; only table steps act on tombstones.
  bool tombstone = false;
  int64_t timestamp_ms = 0;  // the record's Kafka timestamp (create or log-append time)
  std::vector<RecordHeader> headers;
};

}  // namespace eddy::engine
