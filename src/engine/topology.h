// Topology: one configured pipeline — its sources, their steps, the views over them —
// and the per-partition progress that makes its results exact.
//
// Tasks: as in Kafka Streams, the unit of state is the partition number. Partition p of
// every source topic feeds task p: one stream time (the max event time seen in any of
// them but sources only tables read), one share of every step's state. Stream–stream joins match
// records within a task, so their two topics must be co-partitioned; stream–table joins look keys
// up in a table that is not split by partition (see table.h).
//
// Exactness: for every owned source partition the topology tracks the next offset it has
// to process; FlushTo stages these, with their task's stream time, together with the
// steps' dirty state into one WriteBatch; OnAssigned reads them back. A record whose offset
// is below the stored next offset is already reflected in state and is skipped, so replays
// after a crash never count twice; offsets only move forward inside that same batch, so
// nothing is lost.
//
// Threading: everything except views() is processing-thread only: one Topology belongs to
// one worker (Pipeline), and is never touched by another; it needs no locks. Workers run one
// instance each of every topology, built from the same config; what instances share is
// thread-safe by itself: the StateDb (each worker writes the keys of the partitions it owns,
// see state/key_encoding.cpp), the metrics, the WindowRetention, and the OwnedPartitions the
// views read. Views are thread-safe (see view.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
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
#include "engine/stream_join.h"
#include "engine/table.h"
#include "engine/view.h"
#include "engine/window_aggregate.h"
#include "expr/expr.h"
#include "metrics/metrics.h"
#include "state/key_encoding.h"
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

// The record a topology's dead_letters topic receives for a source record it could not
// process: the source record's key, value, timestamp and headers, plus headers eddy.reason
// (the eddy_records_failed_total reason), eddy.error (what was wrong), eddy.topology,
// eddy.step (the step that failed; absent when the record failed before any step: decoding,
// key, timestamp, size), eddy.source.topic, eddy.source.partition and eddy.source.offset.
// A tombstone's value is sent as an empty value.
SinkRecord DeadLetterRecord(const std::string& topic, const std::string& topology,
                            const std::string* step, std::string_view reason,
                            std::string_view error, const Record& source);

class Topology {
 public:
  // Builds the steps and views and checks stored step definitions against the config
  // (state written by another definition of a step is an error, not silently misread).
  // `retention` (may be null: nothing is purged) learns each window store's retention now
  // and the partitions' committed stream times in OnCommitted.
  // `sink` receives the records of the topology's `sinks:` and late_records topics; it may
  // be null only when the topology has neither (config::WritesToKafka is false).
  // `owned` (null: a set of its own) is where the topology records the partitions it owns,
  // shared by the instances of one topology in all workers so that its views (of any
  // instance) serve the union.
  static Result<std::unique_ptr<Topology>> Create(const config::TopologyConfig& config,
                                                  state::StateDb& db, metrics::Metrics& metrics,
                                                  state::WindowRetention* retention = nullptr,
                                                  Sink* sink = nullptr,
                                                  std::shared_ptr<OwnedPartitions> owned = nullptr);

  const std::string& name() const { return name_; }
  // The dead_letters topic; empty when the topology has none.
  const std::string& dead_letter_topic() const { return dead_letter_topic_; }
  // Every topic the topology writes to through its sink: sinks and late_records topics
  // (not the dead-letter topic). The pipeline pauses the topology's sources while the circuit
  // breaker of one of them is open.
  const std::vector<std::string>& output_topics() const { return output_topics_; }
  // The topics of the topology's sources, in config order.
  std::vector<std::string> topics() const;
  // The topics read by tables that stream–table joins use. Until such a topic's assigned
  // partitions are read to the end offsets they had when assigned, the topology's other
  // topics should wait (Pipeline pauses them), so that a stream record is joined with the
  // table as loaded, not with whatever part of it happened to arrive first.
  const std::vector<std::string>& joined_table_topics() const { return joined_table_topics_; }

  // Loads the partition's stored progress. Returns the offset to resume at, or nullopt
  // when this topology has no state for the partition yet. Call FinishAssignment after
  // the partitions of one assignment.
  Result<std::optional<int64_t>> OnAssigned(const std::string& topic, int32_t partition);
  // Restores the steps' bookkeeping of the tasks the last OnAssigned calls created.
  Status FinishAssignment();
  // Forgets a partition after its state has been flushed.
  void OnRevoked(const std::string& topic, int32_t partition);

  // Applies one record of one of this topology's topics. Records that cannot be processed
  // are counted (eddy_records_failed_total) and skipped; their offset still advances.
  // Returns an error only for failures of eddy itself (state unreadable).
  Status Process(const Record& record);

  // Input alignment. A topology with a stream–stream join processes each task's records in
  // event-time order across its source topics, as Kafka Streams picks the record with the
  // smallest timestamp among a task's partitions: otherwise a topic read ahead of the other
  // (a backlog, a slow fetch) would push stream time past the other side's records and
  // make them late. Accept() buffers such records (a copy); ProcessBuffered() processes
  // them once every input of the task has a record buffered or has none to give.
  bool aligns_inputs() const { return !stream_joins_.empty(); }
  // The topics whose records joins match by partition number — the streams of stream–stream
  // joins, and the streams and tables of co_partitioned stream–table joins: they must have
  // as many partitions as each other (co-partitioned), which Pipeline checks at start, and
  // the group must assign them with the range assignor.
  std::vector<std::string> co_partitioned_topics() const;
  // Process(record) now, or, when aligning, buffer it. Returns the number of records now
  // buffered for the record's partition (0 when not aligning).
  Result<size_t> Accept(const Record& record);
  // `caught_up(partition)`: the source has returned every record of the partition it knows
  // of. An input with nothing buffered that is not caught up holds its task back, for at
  // most kMaxInputWait.
  Status ProcessBuffered(const std::function<bool(const TopicPartition&)>& caught_up,
                         std::chrono::steady_clock::time_point now);
  size_t buffered(const TopicPartition& partition) const;
  bool has_buffered() const { return buffered_total_ > 0; }
  static constexpr std::chrono::milliseconds kMaxInputWait{2000};

  // Stages dirty state and the progress of every partition that moved since the last flush
  // into `batch`, and appends those partitions' next offsets to `progressed`.
  Status FlushTo(state::WriteBatch& batch, std::vector<PartitionOffset>& progressed);
  // The batch of the last FlushTo is durably written: publish its stream times to the
  // window retention (purging on an uncommitted stream time could lose state a replay
  // after a crash still needs).
  void OnCommitted();
  // The progress of `partition` (one of this topology's source partitions) as last durably
  // written: by a commit's FlushTo once OnCommitted ran, or as stored when it was assigned;
  // nullopt when nothing is stored for it. Processing thread only (Pipeline publishes it to
  // other threads in PartitionStatus).
  std::optional<state::PartitionProgress> CommittedProgress(const TopicPartition& partition) const;

  // With source.idle_timeout set (the smallest of the sources' when several set it): every
  // task silent for at least that long (wall clock) has its stream time moved to stream
  // time at its last record + the wall time elapsed since. Sets `advanced` if any stream
  // time moved (it then needs a commit, which also emits the windows that closed). Without
  // idle_timeout: does nothing. Errors are eddy's own.
  Status AdvanceIdlePartitions(std::chrono::steady_clock::time_point now, bool& advanced);

  const std::vector<std::unique_ptr<View>>& views() const { return views_; }

 private:
  // What one source partition has processed.
  struct SourcePartition {
    int64_t next_offset = -1;  // -1: nothing processed or stored yet
    bool dirty = false;
  };
  // One task (partition number) of the topology.
  struct Task {
    PartitionContext context;
    bool dirty = false;  // stream time moved since the last flush
    // For idle advancement: when the last record arrived, and the stream time then.
    std::chrono::steady_clock::time_point last_record_at = std::chrono::steady_clock::now();
    int64_t stream_time_at_last_record_ms = INT64_MIN;
  };
  enum class FailureReason {
    kInvalidJson,
    kMissingKey,
    kInvalidKey,
    kInvalidTimestamp,
    kInvalidField,
    kTooLarge,
  };
  // Inputs of steps: sources are -1, -2, ... (source i is -(i + 1)); steps their index.
  using InputId = int;
  static InputId SourceInput(size_t source) { return -static_cast<InputId>(source) - 1; }

  struct SourceNode {
    std::string name;
    std::string topic;
    config::KeySpec key_spec;
    config::TimestampSpec timestamp_spec;
    int64_t max_value_bytes = 0;   // 0: no limit
    std::vector<size_t> children;  // steps reading this source
    bool has_table_child = false;  // tombstones are for tables only
    // False when only tables read the source: a changelog says nothing about the time of
    // the streams it is joined with (Kafka Streams' global tables do not move a task's time
    // either), and its rows' timestamps may be far ahead of them.
    bool moves_stream_time = true;
    std::map<int32_t, SourcePartition> partitions;  // owned partitions
  };

  // A step's record counts since the last commit, kept in plain integers because they move
  // on every record; FlushTo adds them to the step's counters (null for the internal
  // latest-record tables of views, which are not config steps).
  struct StepCounts {
    uint64_t in = 0;
    uint64_t out = 0;
    uint64_t dropped = 0;
    prometheus::Counter* in_metric = nullptr;
    prometheus::Counter* out_metric = nullptr;
    prometheus::Counter* dropped_metric = nullptr;
  };

  // One node per config step, in config order: the step forest records flow through.
  struct StepNode {
    config::StepConfig::Kind kind = config::StepConfig::Kind::kWindow;
    std::string name;
    std::vector<size_t> children;                        // steps reading this one's records
    std::vector<std::string> sink_topics;                // record sinks reading this step
    std::shared_ptr<const expr::Expression> expression;  // kFilter, kRekey
    std::vector<std::pair<std::string, std::shared_ptr<const expr::Expression>>> select;
    WindowAggregate* window = nullptr;  // kWindow; owned by windows_
    Dedup* dedup = nullptr;             // kDedup; owned by dedups_
    TableStep* table = nullptr;         // kTable; owned by tables_
    // kJoin: exactly one of these, and the join's shape.
    TableStep* join_table = nullptr;    // stream–table; owned by tables_
    StreamJoin* stream_join = nullptr;  // stream–stream; owned by stream_joins_
    InputId left_input = 0;             // kJoin: `from`
    config::JoinConfig::Type join_type = config::JoinConfig::Type::kInner;
    std::string join_as;
    // Per record, processing thread only: what the step outputs, and the buffers behind it.
    std::string key_buffer;
    std::string value_buffer;
    std::unique_ptr<codec::JsonRecordDecoder> decoder;  // kSelect, kJoin
    std::optional<Event> output;
    StepCounts counts;
  };

  // A change that a record makes once every step it reaches has prepared successfully.
  struct Effect {
    StepNode* node = nullptr;
    const Event* input = nullptr;  // the event the step prepared (sinks: the one to send)
    bool send = false;             // true: send `input` to node->sink_topics
    StreamJoin::Side side = StreamJoin::Side::kLeft;  // stream joins
  };

  Topology(const config::TopologyConfig& config, state::StateDb& db, metrics::Metrics& metrics,
           state::WindowRetention* retention, Sink* sink, std::shared_ptr<OwnedPartitions> owned);
  // Phase one over the steps reading `input`, which output `event`; collects what phase two
  // must do in `effects`; sets `reason` on failure.
  Status PrepareChildren(InputId input, const std::vector<size_t>& children, const Event& event,
                         const PartitionContext& context, FailureReason& reason,
                         std::vector<Effect>& effects);
  // A record-producing step output `event`: its sinks and the steps reading it.
  Status Emit(size_t index, const Event& event, const PartitionContext& context,
              FailureReason& reason, std::vector<Effect>& effects);
  // Phase two.
  Status ApplyEffects(const std::vector<Effect>& effects, const PartitionContext& context,
                      const Record* record);
  // Runs one join result through the join's sinks and the steps reading it, as a record of
  // its own: it fails or succeeds on its own. `record`: the source record behind it, if any.
  Status RunJoinOutput(StepNode& node, JoinOutput output, int32_t partition, int64_t offset,
                       const PartitionContext& context, const Record* record);
  // The unmatched results of left / outer stream joins that the task's stream time made due.
  Status EmitUnmatched(int32_t partition, const Record* record);
  Result<int64_t> EventTime(const SourceNode& source, const Record& record);
  // A record (or a join result, `record` then being the source record behind it, if any)
  // could not be processed: counts and logs it and sends `record` to the dead letters, if
  // configured. `step`: the step that failed, null if none did. An error means the dead
  // letter could not be sent, which stops processing.
  Status Fail(FailureReason reason, const std::string* step, const Record* record,
              const Status& status);

  // Adds the steps' counts to their counters (at each commit, off the per-record path).
  void PublishStepCounts();
  // Sets eddy_stream_time_seconds of the partition's stream-time-moving source topics.
  void PublishStreamTime(int32_t partition, int64_t stream_time_ms);
  // Observes eddy_end_to_end_latency_seconds for the records of the commit just written.
  void ObserveEndToEnd();

  // Constant after construction.
  const std::string name_;
  const std::chrono::milliseconds idle_timeout_;
  metrics::Metrics& metrics_;
  state::StateDb& db_;
  state::WindowRetention* const retention_;  // may be null
  Sink* const sink_;                         // may be null when nothing is sent
  const std::string dead_letter_topic_;      // empty: none
  std::vector<std::string> output_topics_;
  std::vector<SourceNode> sources_;
  std::map<std::string, size_t, std::less<>> source_by_topic_;
  std::vector<std::string> joined_table_topics_;
  std::vector<std::string> co_partitioned_table_topics_;  // a subset of the above
  std::vector<std::unique_ptr<WindowAggregate>> windows_;
  std::vector<std::unique_ptr<Dedup>> dedups_;
  std::vector<std::unique_ptr<TableStep>> tables_;
  std::vector<std::unique_ptr<StreamJoin>> stream_joins_;
  std::vector<StatefulStep*> stateful_;  // every step with state
  std::vector<std::string> stores_;      // stores purged by the window retention
  std::vector<StepNode> nodes_;
  std::vector<std::unique_ptr<View>> views_;
  // Thread-safe; shared with the other workers' instances of this topology; read by views.
  const std::shared_ptr<OwnedPartitions> owned_;
  prometheus::Counter& processed_;
  std::map<FailureReason, prometheus::Counter*> failed_;
  std::map<FailureReason, prometheus::Counter*> dead_lettered_;  // empty without dead letters
  prometheus::Histogram& end_to_end_;

  // A record kept for input alignment, with its bytes.
  struct BufferedRecord {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    std::optional<std::string> key;
    std::string value;
    bool tombstone = false;
    int64_t timestamp_ms = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    int64_t order_time_ms = INT64_MIN;  // its event time; INT64_MIN when it has none
  };

  // Processing thread only.
  codec::JsonRecordDecoder decoder_;
  // Input alignment: (source index, partition) -> records not yet processed, in offset order.
  std::map<std::pair<size_t, int32_t>, std::deque<BufferedRecord>> buffers_;
  size_t buffered_total_ = 0;
  // Per task: since when an input with nothing buffered has held it back.
  std::map<int32_t, std::chrono::steady_clock::time_point> held_since_;
  std::map<int32_t, Task> tasks_;
  std::vector<int32_t> new_tasks_;  // created by OnAssigned, restored by FinishAssignment
  std::vector<std::pair<int32_t, int64_t>> flushed_stream_times_;  // by the last FlushTo
  // What CommittedProgress answers, and the progress the last FlushTo wrote (moved into it by
  // OnCommitted).
  std::map<TopicPartition, state::PartitionProgress> committed_progress_;
  std::vector<std::pair<TopicPartition, state::PartitionProgress>> flushed_progress_;
  // Event times (ms) of the records processed since the last commit, for the end-to-end
  // latency observed when that commit is written (at most max_uncommitted_records of them).
  std::vector<int64_t> uncommitted_event_times_;
  std::vector<int64_t> flushed_event_times_;  // those of the last FlushTo
  uint64_t failures_logged_ = 0;
  // The effects of the record Process is on; a member so that its capacity is reused per
  // record. Process is not re-entered: join results collect theirs in RunJoinOutput.
  std::vector<Effect> record_effects_;
  // The step PrepareChildren was preparing when it failed (points into nodes_); null when the
  // record failed before reaching a step.
  const std::string* failed_step_ = nullptr;
};

}  // namespace eddy::engine
