// Where records come from. The engine drives a Source; Kafka (kafka/kafka_source.h) is one
// implementation, in-memory fixtures (the offline test driver) another. The engine never
// sees librdkafka.
//
// Threading: a Source is owned and called by exactly one thread, the processing thread.
// Listener callbacks are made on that same thread, from inside Poll(), so the engine needs
// no locks between processing records and reacting to rebalances.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/status.h"
#include "engine/record.h"

namespace eddy::engine {

struct PartitionStart {
  TopicPartition partition;
  // Set by the listener: the offset to resume at, or nullopt for "no state of ours: use
  // the group's committed offset, else auto.offset.reset".
  std::optional<int64_t> offset;
};

struct PartitionOffset {
  TopicPartition partition;
  int64_t next_offset = 0;
};

struct PartitionLag {
  TopicPartition partition;
  int64_t lag = 0;          // high watermark - next offset to consume; >= 0
  int64_t end_offset = -1;  // the high watermark itself (-1: not known)
};

class SourceListener {
 public:
  virtual ~SourceListener() = default;
  // Partitions were assigned. Fill each entry's offset; the source starts there.
  // Returning an error stops the pipeline (state could not be read).
  virtual Status OnPartitionsAssigned(std::vector<PartitionStart>& partitions) = 0;
  // Partitions are about to be taken away: commit everything derived from them now.
  virtual Status OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) = 0;
};

class Source {
 public:
  virtual ~Source() = default;

  // Starts consuming `topics`; assignments are reported to `listener` during Poll().
  virtual Status Subscribe(const std::vector<std::string>& topics, SourceListener* listener) = 0;
  // Appends up to `max_records` records to `out` (after clearing it), waiting at most
  // `timeout` for the first. Records of one partition arrive in offset order. Invalidates
  // the records returned by the previous call.
  virtual Status Poll(std::chrono::milliseconds timeout, size_t max_records,
                      std::vector<Record>& out) = 0;
  // Tells the source that everything before these offsets is durably processed. Advisory
  // (eddy's own offsets live in RocksDB); for Kafka this is the group's committed offset,
  // which lag tooling reads.
  virtual void CommitAsync(const std::vector<PartitionOffset>& offsets) = 0;
  // Current lag of assigned partitions, from locally cached watermarks (no network call).
  virtual std::vector<PartitionLag> Lag() = 0;

  // Flow control of one assigned partition (used while a joined table loads; backpressure
  // later). PauseAt: the next Poll() returns no more records of `partition` — including
  // any already fetched — until Resume, which continues at `offset`. Assignment changes
  // forget pauses (a newly assigned partition is never paused).
  virtual Status PauseAt(const TopicPartition& partition, int64_t offset) = 0;
  virtual Status Resume(const TopicPartition& partition) = 0;
  // The partition's end offset (the offset the next produced record will get). May ask the
  // broker, waiting at most `timeout`.
  virtual Result<int64_t> EndOffset(const TopicPartition& partition,
                                    std::chrono::milliseconds timeout) = 0;
  // How many partitions `topic` has (metadata; may ask the broker, waiting at most
  // `timeout`). NotFound when the topic does not exist.
  virtual Result<int32_t> PartitionCount(const std::string& topic,
                                         std::chrono::milliseconds timeout) = 0;
  // The offset after the last record Poll() returned for an assigned partition, or the
  // offset it started at; nullopt while unknown (nothing returned, start not known).
  virtual std::optional<int64_t> Position(const TopicPartition& partition) = 0;
  // Leaves the group (revoking partitions through the listener) and releases resources.
  virtual Status Close() = 0;
};

}  // namespace eddy::engine
