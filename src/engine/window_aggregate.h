// WindowAggregate: an aggregation step — per key, over tumbling, hopping or session windows
// of event time, or over all time (no window) — with the named aggregates of its
// AggregateSet.
//
// Tumbling and hopping (Kafka Streams' windowedBy(TimeWindows.ofSizeAndGrace(size, grace)
// [.advanceBy(advance)]).aggregate(...)): windows are epoch-aligned, half-open
// [start, start + size), one starting every `advance`; a record updates every window that
// contains its event time and is still open. A window is closed — and the record dropped
// from it, counted once per (record, window) in eddy_late_records_dropped_total, as Kafka
// Streams counts — when start + size + grace <= its partition's stream time.
//
// Session (Kafka Streams' windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace))):
// per key and source partition, a session [start, end] spans the event times of its first
// and last record. A record at t joins every session of its key with start - gap <= t <=
// end + gap, merging them into one (AggregateSet::Merge, then the record is applied, so
// `latest` is the record's); with none it starts [t, t]. A session is closed once end + gap
// + grace < stream time (window.h). A record is late — dropped and counted once — when the
// session it would start is closed (t + gap + grace < stream time), as in Kafka Streams, and
// also when any session it would join is closed: closed sessions never change, so emit
// final emits each once (Kafka Streams would extend a closed session there and emit it
// again). Sessions whose end + retention < stream time are treated as gone, whether or not
// compaction has purged them, so the outcome never depends on compaction timing.
//
// No window (a step with `aggregates:` and no `window:`, Kafka Streams'
// groupByKey().aggregate()): one aggregate per key and partition, stored at window start 0,
// never closed, never late, never purged.
//
// State: one RocksDB row per (partition, key, window start), keys from
// state/key_encoding.h; values from AggregateSet::Encode, for sessions prefixed by the end
// (state::EncodeSessionValue). A write-back cache holds what changed since the last flush,
// so a record costs hash lookups, not a RocksDB read-modify-write; sessions are cached per
// key (all of the key's sessions in the partition, loaded by one prefix scan). Merging
// sessions deletes the merged-away rows in the same WriteBatch that writes the merged one.
// Expired windows and sessions are purged by compaction (state/window_retention.h).
//
// Threading: processing thread only (see operator.h).
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/string_hash.h"
#include "config/config.h"
#include "engine/aggregates.h"
#include "engine/operator.h"
#include "engine/stored_time_bound.h"
#include "engine/window.h"

namespace eddy::engine {

// One window's result as the step emits it.
struct WindowResult {
  int32_t partition = 0;
  std::string_view key;
  config::WindowConfig::Kind kind = config::WindowConfig::Kind::kTumbling;
  // Tumbling, hopping: [start, end). Session: start and end are the event times of the first
  // and last record, both inclusive. No window: unused (0, 0).
  TimeWindow window;
  bool closed = false;  // the window can no longer change (never for kNone)
  // Session, emit update only: this session was merged into another one and no longer
  // exists (Kafka Streams forwards a tombstone for it); `values` are its last ones.
  bool deleted = false;
  // The record timestamp a sink gives the result: a time window's last millisecond
  // (end - 1), a session's end, an unwindowed aggregate's partition stream time.
  int64_t timestamp_ms = 0;
  const AggregateValues& values;
};

// Emission (only when an emitter is set, i.e. something consumes the step's output):
// - emit: update — at each flush, every window changed since the last one, with its latest
//   values (intermediate changes within one commit interval are coalesced, as Kafka
//   Streams' record cache does); for sessions, first a `deleted` result for every stored
//   session merged away since the last flush;
// - emit: final — at the first flush after a window closes, once, with closed = true. Open
//   windows are tracked per partition and rebuilt from RocksDB on assignment. (Not for
//   unwindowed steps: the config rejects it.)
class WindowAggregate final : public Operator {
 public:
  using Emitter = std::function<Status(const WindowResult&)>;
  // Receives each record dropped as late from at least one of its windows, once per record.
  using LateRecordEmitter = std::function<Status(const Event&)>;

  // `store` is the step's store name ("<topology>.<step>"). `late_records` counts late drops.
  WindowAggregate(std::string store, const config::StepConfig& step, state::StateDb& db,
                  prometheus::Counter& late_records);

  const std::string& name() const override { return name_; }
  Status Prepare(const Event& event, const PartitionContext& partition) override;
  Status Apply(const Event& event) override;
  Status FlushTo(state::WriteBatch& batch, const FlushContext& context) override;
  Status RestorePartition(int32_t partition, int64_t stream_time_ms) override;
  void DropPartition(int32_t partition) override;
  void OnStoredStreamTimeRaised(int32_t partition, int64_t stream_time_ms) override;

  // Sets where results go. Called once, before processing.
  void SetEmitter(Emitter emitter) { emitter_ = std::move(emitter); }
  // Sets where late records go (the step's late_records topic). Called once, before
  // processing. Its errors stop processing, like a sink's.
  void SetLateRecordEmitter(LateRecordEmitter emitter) { late_emitter_ = std::move(emitter); }

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
  // One window start's cached windows: user key -> aggregate, looked up by the record's key
  // without a copy. Keyed by the user key alone, not the encoded window key: a short key
  // hashes and compares cheaply and fits a std::string's inline buffer (the encoded key,
  // with the store name, needed an allocation).
  using WindowsOfStart = StringMap<CachedWindow>;
  // Per partition (tumbling, hopping, no window): window start -> its windows. By start, so
  // that windows leave the cache together once they close (no record can change them then).
  using PartitionCache = std::map<int64_t, WindowsOfStart>;
  // A window changed since the last flush. Elements of an unordered_map keep their address
  // until erased, and nothing is erased while dirty (see FlushTo and DropPartition).
  struct DirtyWindow {
    int32_t partition = 0;
    int64_t start_ms = 0;
    WindowsOfStart::value_type* entry = nullptr;
  };

  // Sessions: every session of one key in one partition, and what changed since the flush.
  struct CachedSession {
    int64_t end_ms = 0;
    AggregateValues values;
    bool dirty = false;
    bool stored = false;  // RocksDB holds a row at this start (written by an earlier flush)
  };
  struct KeySessions {
    std::map<int64_t, CachedSession> sessions;  // by start; disjoint, more than gap apart
    std::map<int64_t, int64_t> deleted;         // start -> end: stored rows merged away
    bool dirty = false;
  };
  // Per partition: user key -> its sessions.
  using PartitionSessions = std::unordered_map<std::string, KeySessions>;

  // A stored window as emission needs it.
  struct WindowState {
    TimeWindow window;
    AggregateValues values;
  };

  bool IsSession() const { return window_.kind == config::WindowConfig::Kind::kSession; }
  bool TracksOpenWindows() const { return emitter_ && emit_ == config::EmitMode::kFinal; }
  // The stream time at which an open window or session closes (emit final's queue order).
  int64_t ClosesAt(const TimeWindow& window) const;
  // The emitter's view of one window; `deleted` only for merged-away sessions.
  Status Emit(int32_t partition, std::string_view key, const TimeWindow& window,
              int64_t stream_time_ms, bool deleted, const AggregateValues& values);
  Result<WindowState> StateOf(int32_t partition, const std::string& encoded_key);

  Status PrepareSession(const Event& event, const PartitionContext& partition);
  Status ApplySession(const Event& event);
  Result<KeySessions*> LoadSessions(int32_t partition, std::string_view key);
  Status FlushSessions(state::WriteBatch& batch, const FlushContext& context);

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
    // Sessions: the key's cached sessions, the starts of those the record joins (ascending),
    // and whether the record is late.
    KeySessions* key_sessions = nullptr;
    std::vector<int64_t> joined;
    bool late = false;
  };
  Pending pending_;  // decided by Prepare, carried out by Apply
  std::unordered_map<int32_t, PartitionCache> cache_;
  size_t cached_windows_ = 0;  // windows, or sessions, in the caches
  // The windows changed since the last flush, first change first.
  std::vector<DirtyWindow> dirty_;
  std::vector<const DirtyWindow*> sorted_dirty_;  // FlushTo's scratch space
  std::string key_buffer_;                        // an encoded window key, reused
  // Tumbling and hopping windows: a window missing from the cache that starts after this
  // bound is new and needs no read (stored_time_bound.h).
  StoredTimeBound stored_starts_;
  std::unordered_map<int32_t, PartitionSessions> sessions_;
  std::vector<std::pair<int32_t, PartitionSessions::value_type*>> dirty_sessions_;
  Emitter emitter_;
  LateRecordEmitter late_emitter_;
  // emit: final with an emitter only: per partition, windows not yet emitted, ordered by the
  // stream time at which they close (ClosesAt), then encoded key.
  std::unordered_map<int32_t, std::set<std::pair<int64_t, std::string>>> open_windows_;
};

}  // namespace eddy::engine
