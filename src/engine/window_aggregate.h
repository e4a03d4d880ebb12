// WindowAggregate: a windowed aggregation step — tumbling or hopping windows over event
// time, with the named aggregates of its AggregateSet.
//
// Semantics (those of Kafka Streams' windowedBy(TimeWindows.ofSizeAndGrace(size, grace)
// [.advanceBy(advance)]).aggregate(...)): windows are epoch-aligned, half-open
// [start, start + size), one starting every `advance`; a record updates every window that
// contains its event time and is still open. A window is closed — and the record dropped
// from it, counted once per (record, window) in eddy_late_records_dropped_total, as Kafka
// Streams counts — when start + size + grace <= its partition's stream time.
//
// State: one RocksDB value per (partition, key, window start), keys from
// state/key_encoding.h; values from AggregateSet::Encode. A write-back cache holds the
// windows touched since the last flush, so each record costs one hash lookup per window,
// not a RocksDB read-modify-write. Expired windows are purged by compaction
// (state/window_retention.h).
//
// Threading: processing thread only (see operator.h).
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "engine/aggregates.h"
#include "engine/operator.h"
#include "engine/window.h"

namespace eddy::engine {

// One window's result as the step emits it.
struct WindowResult {
  int32_t partition = 0;
  std::string_view key;
  TimeWindow window;
  bool closed = false;  // end + grace <= the partition's stream time
  const AggregateValues& values;
};

// Emission (only when an emitter is set, i.e. something consumes the step's output):
// - emit: update — at each flush, every window changed since the last one, with its latest
//   values (intermediate changes within one commit interval are coalesced, as Kafka
//   Streams' record cache does);
// - emit: final — at the first flush after a window closes, once, with closed = true. Open
//   windows are tracked per partition and rebuilt from RocksDB on assignment.
class WindowAggregate final : public Operator {
 public:
  using Emitter = std::function<Status(const WindowResult&)>;

  // `store` is the step's store name ("<topology>.<step>"). `late_records` counts late drops.
  WindowAggregate(std::string store, const config::StepConfig& step, state::StateDb& db,
                  prometheus::Counter& late_records);

  const std::string& name() const override { return name_; }
  Status Prepare(const Event& event, const PartitionContext& partition) override;
  Status Apply(const Event& event) override;
  Status FlushTo(state::WriteBatch& batch, const FlushContext& context) override;
  Status RestorePartition(int32_t partition, int64_t stream_time_ms) override;
  void DropPartition(int32_t partition) override;

  // Sets where results go. Called once, before processing.
  void SetEmitter(Emitter emitter) { emitter_ = std::move(emitter); }

  const std::string& store() const { return store_; }
  const AggregateSet& aggregates() const { return aggregates_; }
  const config::WindowConfig& window() const { return window_; }
  config::EmitMode emit() const { return emit_; }
  // Identifies the state layout; stored next to the state and checked at start-up.
  std::string DefinitionFingerprint() const;

 private:
  struct CachedWindow {
    AggregateValues values;
    bool dirty = false;
  };
  // Per partition: encoded window key -> cached aggregate.
  using PartitionCache = std::unordered_map<std::string, CachedWindow>;

  // Constant after construction.
  const std::string name_;
  const std::string store_;
  const config::WindowConfig window_;
  const config::EmitMode emit_;
  const AggregateSet aggregates_;
  state::StateDb& db_;
  prometheus::Counter& late_records_;

  // Processing thread only.
  struct Pending {
    std::vector<TimeWindow> windows;  // every window containing the event, oldest first
    size_t closed = 0;                // how many of them (the oldest) are already closed
    AggregateInputs inputs;           // reused across records
  };
  Pending pending_;  // decided by Prepare, carried out by Apply
  std::unordered_map<int32_t, PartitionCache> cache_;
  size_t cached_windows_ = 0;
  // The cache entries changed since the last flush (partition, entry), first change first.
  std::vector<std::pair<int32_t, PartitionCache::value_type*>> dirty_;
  Emitter emitter_;
  // emit: final with an emitter only: per partition, windows not yet emitted, ordered by the
  // stream time at which they close (end + grace), then encoded key.
  std::unordered_map<int32_t, std::set<std::pair<int64_t, std::string>>> open_windows_;

  bool TracksOpenWindows() const { return emitter_ && emit_ == config::EmitMode::kFinal; }
  Result<AggregateValues> ValuesOf(int32_t partition, const std::string& encoded_key);
};

}  // namespace eddy::engine
