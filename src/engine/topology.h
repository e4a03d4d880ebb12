// Topology: one configured pipeline — a source topic, its steps, the views over them —
// and the per-partition progress that makes its results exact.
//
// Exactness: for every owned partition the topology tracks the next offset it has to
// process and the partition's stream time. FlushTo stages these together with the steps'
// dirty state into one WriteBatch; OnAssigned reads them back. A record whose offset is
// below the stored next offset is already reflected in state and is skipped, so replays
// after a crash never count twice; offsets only move forward inside that same batch, so
// nothing is lost.
//
// Threading: everything except views() / owned() is processing-thread only. Views are
// thread-safe (see view.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/json_record.h"
#include "config/config.h"
#include "engine/dedup.h"
#include "engine/operator.h"
#include "engine/record.h"
#include "engine/sink.h"
#include "engine/source.h"
#include "engine/table.h"
#include "engine/view.h"
#include "engine/window_aggregate.h"
#include "expr/expr.h"
#include "metrics/metrics.h"
#include "state/state_db.h"
#include "state/window_retention.h"

namespace eddy::engine {

// The record a sink receives for one window result (value shapes: config::SinkConfig).
// Sessions have the time windows' shape (start and end inclusive); a session merged away
// has "deleted": true instead of its aggregates. Unwindowed results have no window members.
SinkRecord WindowResultRecord(const std::string& topic, config::SinkConfig::ValueShape shape,
                              const AggregateSet& aggregates, const WindowResult& result);

// The record a step's late_records topic receives for a record dropped as late: the source
// record's key, value, timestamp and headers, plus headers eddy.reason (late),
// eddy.topology, eddy.step, eddy.source.topic, eddy.source.partition, eddy.source.offset
// and eddy.event_time_ms (the event time that made it late).
SinkRecord LateRecord(const std::string& topic, const std::string& topology,
                      const std::string& step, const Event& event);

class Topology {
 public:
  // Builds the steps and views and checks stored step definitions against the config
  // (state written by another definition of a step is an error, not silently misread).
  // `retention` (may be null: nothing is purged) learns each window store's retention now
  // and the partitions' committed stream times in OnCommitted.
  // `sink` receives the records of the topology's `sinks:` and late_records topics; it may
  // be null only when the topology has neither (config::WritesToKafka is false).
  static Result<std::unique_ptr<Topology>> Create(const config::TopologyConfig& config,
                                                  state::StateDb& db, metrics::Metrics& metrics,
                                                  state::WindowRetention* retention = nullptr,
                                                  Sink* sink = nullptr);

  const std::string& name() const { return name_; }
  const std::string& topic() const { return topic_; }

  // Loads the partition's stored progress. Returns the offset to resume at, or nullopt
  // when this topology has no state for the partition yet.
  Result<std::optional<int64_t>> OnAssigned(int32_t partition);
  // Forgets a partition after its state has been flushed.
  void OnRevoked(int32_t partition);

  // Applies one record of this topology's topic. Records that cannot be processed are
  // counted (eddy_records_failed_total) and skipped; their offset still advances.
  // Returns an error only for failures of eddy itself (state unreadable).
  Status Process(const Record& record);

  // Stages dirty state and the progress of every partition that moved since the last flush
  // into `batch`, and appends those partitions' next offsets to `progressed`.
  Status FlushTo(state::WriteBatch& batch, std::vector<PartitionOffset>& progressed);
  // The batch of the last FlushTo is durably written: publish its stream times to the
  // window retention (purging on an uncommitted stream time could lose state a replay
  // after a crash still needs).
  void OnCommitted();

  // With source.idle_timeout set: every partition silent for at least that long (wall
  // clock) has its stream time moved to stream time at its last record + the wall time
  // elapsed since. Returns true if any stream time moved (it then needs a commit, which
  // also emits the windows that closed). Without idle_timeout: does nothing.
  bool AdvanceIdlePartitions(std::chrono::steady_clock::time_point now);

  const std::vector<std::unique_ptr<View>>& views() const { return views_; }

 private:
  struct PartitionProgressState {
    int64_t next_offset = -1;  // -1: nothing processed or stored yet
    PartitionContext context;
    bool dirty = false;
    // For idle advancement: when the last record arrived, and the stream time then.
    std::chrono::steady_clock::time_point last_record_at = std::chrono::steady_clock::now();
    int64_t stream_time_at_last_record_ms = INT64_MIN;
  };
  enum class FailureReason {
    kInvalidJson,
    kMissingKey,
    kInvalidKey,
    kInvalidTimestamp,
    kInvalidField
  };

  // One node per config step, in config order: the step tree records flow through.
  struct StepNode {
    config::StepConfig::Kind kind = config::StepConfig::Kind::kWindow;
    std::vector<size_t> children;                        // steps reading this one's records
    std::shared_ptr<const expr::Expression> expression;  // kFilter, kRekey
    std::vector<std::pair<std::string, std::shared_ptr<const expr::Expression>>> select;
    WindowAggregate* window = nullptr;  // kWindow; owned by steps_
    Dedup* dedup = nullptr;             // kDedup; owned by dedups_
    TableStep* table = nullptr;         // kTable; owned by tables_
    // Per record, processing thread only: what the step outputs, and the buffers behind it.
    std::string key_buffer;
    std::string value_buffer;
    std::unique_ptr<codec::JsonRecordDecoder> decoder;  // kSelect
    std::optional<Event> output;
    const Event* input = nullptr;  // kWindow, kDedup: the event it prepared
  };

  Topology(const config::TopologyConfig& config, state::StateDb& db, metrics::Metrics& metrics,
           state::WindowRetention* retention);
  // Phase one over `children` of a node that output `event`; sets `reason` on failure.
  Status PrepareChildren(const std::vector<size_t>& children, const Event& event,
                         const PartitionContext& context, FailureReason& reason);
  Result<int64_t> EventTime(const Record& record);
  void CountFailure(FailureReason reason, const Record& record, const Status& status);

  // Constant after construction.
  const std::string name_;
  const std::string topic_;
  const config::KeySpec key_spec_;
  const config::TimestampSpec timestamp_spec_;
  const std::chrono::milliseconds idle_timeout_;
  state::StateDb& db_;
  state::WindowRetention* const retention_;              // may be null
  std::vector<std::unique_ptr<WindowAggregate>> steps_;  // the window steps
  std::vector<std::unique_ptr<Dedup>> dedups_;           // the dedup steps
  std::vector<std::unique_ptr<TableStep>> tables_;       // the table steps
  std::vector<Operator*> stateful_;  // every step with state (windows and dedups)
  std::vector<std::string> stores_;  // their store names, for the window retention
  std::vector<StepNode> nodes_;
  std::vector<size_t> source_children_;  // steps reading the source
  std::vector<std::unique_ptr<View>> views_;
  OwnedPartitions owned_;  // thread-safe; read by views
  prometheus::Counter& processed_;
  std::map<FailureReason, prometheus::Counter*> failed_;

  // Processing thread only.
  codec::JsonRecordDecoder decoder_;
  std::map<int32_t, PartitionProgressState> partitions_;
  std::vector<std::pair<int32_t, int64_t>> flushed_stream_times_;  // by the last FlushTo
  // Steps prepared for the current record that have a phase two (windows, dedups).
  std::vector<StepNode*> prepared_effects_;
  uint64_t failures_logged_ = 0;
};

}  // namespace eddy::engine
