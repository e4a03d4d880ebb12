// The interfaces of stateful processing steps (windows, dedup, tables, joins; filters,
// selects and rekeys are stateless and run inline in the topology). A step is built once
// from its validated config and keeps its mutable state in an explicit cache over its
// RocksDB store.
//
// Threading: all methods are called on the processing thread only. Steps never write to
// RocksDB themselves: they stage their dirty state into the WriteBatch the pipeline
// hands them in FlushTo, which also carries the partitions' offsets (see
// state/key_encoding.cpp for why that matters).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "codec/json_record.h"
#include "common/status.h"
#include "engine/record.h"
#include "state/state_db.h"

namespace eddy::engine {

// One decoded record on its way through a topology's steps.
struct Event {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t event_time_ms = 0;
  std::string_view key;
  codec::JsonRecordDecoder& value;  // parsed value; valid during Process only
  const Record* record = nullptr;   // the source record (Kafka key, headers); may be null
  std::string_view value_json;      // the value's JSON text (what `value` parsed)
};

// What a step may ask of its topology while flushing.
class FlushContext {
 public:
  virtual ~FlushContext() = default;
  // The partition's stream time as it will be committed with this flush; INT64_MIN if the
  // partition has seen no record.
  virtual int64_t StreamTime(int32_t partition) const = 0;
};

// What a topology knows about one of its source partitions.
struct PartitionContext {
  // Max event time seen in the partition (including the current event). Windows close
  // relative to it.
  int64_t stream_time_ms = INT64_MIN;
};

// What every step with state implements: staging its changes into the commit's WriteBatch
// and following partition assignments.
class StatefulStep {
 public:
  virtual ~StatefulStep() = default;
  virtual const std::string& name() const = 0;
  // Stages all state changed since the last flush into `batch`, and emits what the step's
  // emit mode says is due (to sinks; see window_aggregate.h).
  virtual Status FlushTo(state::WriteBatch& batch, const FlushContext& context) = 0;
  // Called when a partition is assigned, with its committed stream time, before any of its
  // records: rebuild whatever in-memory bookkeeping the step keeps per partition.
  virtual Status RestorePartition(int32_t partition, int64_t stream_time_ms) = 0;
  // Called when another source topic of a partition already assigned is assigned too (an
  // incremental rebalance) and its committed stream time is later than the partition's:
  // state written from that topic's records may be newer than what RestorePartition was
  // told. Steps that derive bounds from the stream time widen them.
  virtual void OnStoredStreamTimeRaised(int32_t /*partition*/, int64_t /*stream_time_ms*/) {}
  // Forgets cached state of a partition this instance no longer owns. The on-disk state
  // stays (a later issue hands it over through changelog topics).
  virtual void DropPartition(int32_t partition) = 0;
};

// A stateful step with one input: windows, dedup, tables. (Stream–stream joins have two
// inputs and their own Prepare; see stream_join.h.)
class Operator : public StatefulStep {
 public:
  // Processing one event takes two calls, so that a record changes every step of its
  // topology or none (a bad field found by the third step must not leave the first two
  // updated):
  // Prepare reads everything the step needs from the event and decides what to do, changing
  // no state. An error means the record cannot be applied (bad field); the caller counts it
  // and calls Apply on no step. Late records are not errors.
  virtual Status Prepare(const Event& event, const PartitionContext& partition) = 0;
  // Applies what the last successful Prepare decided (the event is still valid). Errors are
  // eddy's own (state unreadable) and stop processing.
  virtual Status Apply(const Event& event) = 0;
};

}  // namespace eddy::engine
