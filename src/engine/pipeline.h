// Pipeline: the processing loop. Pulls record batches from a Source, hands each record to
// the topologies reading its topic, and commits their state and progress to RocksDB in one
// atomic WriteBatch at least every commit_interval. Only after that write succeeds is the
// Source told (CommitAsync) — Kafka's committed offsets trail RocksDB, never lead it.
//
// Joined tables load first: when partitions of a topic that a stream–table join reads as
// its table are assigned, the topology's other topics are paused (Source::PauseAt) until
// those partitions are read up to the end offsets they had at assignment, as Kafka Streams
// bootstraps a GlobalKTable. Records of a paused partition are fetched again on Resume.
//
// Threading: Run() is called on the processing thread, which owns the Source, the
// topologies' mutable state and this object. RequestStop() and the health accessors
// (assignment_received() through max_partition_lag()) may be called from any thread: they
// read atomics or take a mutex.
//
// Workers (processing.threads, docs/architecture.md "Threads"): the daemon runs one Pipeline
// per worker thread, each with its own Source (a consumer of the same group: Kafka gives each
// partition to one of them), its own topology instances and its own sink. A Pipeline never
// touches another's objects, so nothing here needs a lock for that: what workers share is
// thread-safe on its own — the StateDb (RocksDB; their keys are disjoint because every key
// carries the partition its worker owns), the metrics, and the topologies' OwnedPartitions.
// The instance-wide gauges (eddy_assigned_partitions, eddy_restoring_partitions) are moved by
// each Pipeline's own changes (Increment/Decrement), so they hold the sum over workers.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/exactly_once_sink.h"
#include "engine/sink.h"
#include "engine/source.h"
#include "engine/topology.h"
#include "metrics/metrics.h"
#include "state/state_db.h"

namespace eddy::engine {

struct PipelineOptions {
  // Dirty state and offsets go to RocksDB at least this often while records flow, and
  // offsets go to Kafka at most this often (RocksDB holds the authoritative offsets; Kafka's
  // trail them).
  std::chrono::milliseconds commit_interval{100};
  // Also commit to RocksDB as soon as a poll drains what the consumer had fetched (fewer
  // than max_batch_records came back): when input is caught up, a record's effect is in the
  // views within a poll of its arrival instead of up to commit_interval later. A backlog
  // still commits every commit_interval / max_uncommitted_records (full polls), so this
  // costs throughput nothing. Off for exactly-once (each commit is a Kafka transaction) and
  // for state.sync_writes (each commit is an fsync).
  bool commit_when_caught_up = true;
  size_t max_batch_records = 5000;
  // Commit early when this many records are pending, bounding replay work after a crash.
  size_t max_uncommitted_records = 50'000;
  // How long a commit waits for the sink to acknowledge what it was sent.
  std::chrono::milliseconds sink_flush_timeout{30'000};
  std::chrono::milliseconds lag_refresh_interval{1000};
  // Loading a joined table (see Topology::joined_table_topics): how long to wait for the
  // broker to tell a table partition's end offset, and after how long without progress a
  // partition counts as loaded anyway.
  std::chrono::milliseconds table_load_query_timeout{10'000};
  std::chrono::milliseconds table_load_stall_timeout{10'000};
  // Input alignment (Topology::aligns_inputs): a partition with this many records buffered
  // is paused until its buffer drains to half.
  size_t max_buffered_per_partition = 20'000;
  // A commit whose RocksDB write fails (disk full, I/O error) is retried with backoff for this
  // long — processing waits, readiness is false — before processing stops with the error.
  std::chrono::milliseconds state_write_retry{30'000};
  // Which worker this pipeline is (0, 1, ...): the `worker` label of its per-worker metrics.
  int worker = 0;
};

// One assigned partition as the pipeline last saw it (refreshed every lag_refresh_interval
// and on every assignment change), for /v1/topologies and views' freshness.
struct PartitionStatus {
  TopicPartition partition;
  int64_t end_offset = -1;  // high watermark (-1: not known yet)
  int64_t lag = -1;         // records between the consumer's position and it (-1: not known)
  // "running"; "restoring" (a joined table's partition loading); "waiting_for_table" (paused
  // until the tables it joins are loaded); "aligning" (paused: ran ahead of the topics it is
  // aligned with); "sink_blocked" (paused: a sink topic's circuit breaker is open).
  std::string state = "running";
  // Per topology, in the order the pipeline was given them (config order): the progress
  // durably committed for this partition (Topology::CommittedProgress); nullopt when the
  // topology does not read the partition's topic or has stored nothing for it. Published
  // after each commit's RocksDB write returns, so a reader that copies it *before* taking a
  // RocksDB snapshot holds a progress that the snapshot contains (it can only lag behind
  // the snapshot, by the commit being published): freshness computed from it never
  // overstates what that snapshot's answer holds.
  std::vector<std::optional<state::PartitionProgress>> committed;
};

class Pipeline final : public SourceListener {
 public:
  // `sink` (may be null when no topology has sinks) is flushed before each RocksDB commit,
  // so sink output is at-least-once: never lost, possibly repeated after a crash.
  //
  // With `exactly_once` (delivery.guarantee: exactly_once), topologies write to it instead
  // and `sink` must be null: each commit stages their outputs with the state in RocksDB and
  // then publishes them and the input offsets in one Kafka transaction (exactly_once_sink.h);
  // the Source's own offset commits are not used.
  Pipeline(Source& source, state::StateDb& db, std::vector<std::unique_ptr<Topology>>& topologies,
           metrics::Metrics& metrics, PipelineOptions options, Sink* sink = nullptr,
           ExactlyOnceSink* exactly_once = nullptr);

  // Subscribes and processes until RequestStop(); then commits, closes the source and
  // returns. An error means state could not be read or written: eddy must stop.
  Status Run();
  void RequestStop() {
    stop_requested_.store(true);
    if (exactly_once_ != nullptr) exactly_once_->RequestStop();
  }

  // True once the source has assigned partitions (possibly none) at least once.
  bool assignment_received() const { return assignment_received_.load(); }
  // Partitions assigned to this pipeline's source (this worker's, not the instance's).
  int assigned_partitions() const { return assigned_partitions_.load(); }
  // While a commit's RocksDB write is failing (and being retried): why; else empty.
  // Thread-safe (read by the HTTP threads for /readyz).
  std::string state_write_error() const;
  // Every assigned partition's status, by partition. Thread-safe.
  std::vector<PartitionStatus> partition_status() const;
  // Why processing stopped ("" while it runs). Thread-safe.
  std::string failure() const;
  // When the processing loop last started an iteration; nullopt before Run reaches the loop
  // (start-up: co-partitioning check, exactly-once recovery, subscribing). An iteration
  // normally takes at most a poll (100 ms) plus processing a batch and maybe a commit.
  std::optional<std::chrono::steady_clock::time_point> last_loop_iteration() const;
  // Partitions of joined tables still loading (restoring) before their streams are joined.
  int restoring_partitions() const { return restoring_partitions_.load(); }
  // The largest consumer lag (records) over the assigned partitions whose lag is known, as
  // of the last refresh (about once a second); nullopt while no partition's lag is known.
  std::optional<int64_t> max_partition_lag() const;

  // SourceListener (called from inside Source::Poll on the processing thread).
  Status OnPartitionsAssigned(std::vector<PartitionStart>& partitions) override;
  Status OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) override;

 private:
  // Writes pending state and offsets to RocksDB; then sends the offsets to Kafka if
  // `offsets_to_kafka_now` or commit_interval has passed since they were last sent (else they
  // wait in kafka_offsets_due_ for the next chance: SendDueOffsets).
  Status Commit(bool offsets_to_kafka_now = false);
  void SendDueOffsets(bool now);
  // db_.Write, retried with backoff for options_.state_write_retry while it fails.
  Status WriteWithRetry(state::WriteBatch& batch);
  void RefreshLag();
  // Copies every topology's committed progress into `statuses` (PartitionStatus::committed).
  void FillCommitted(std::vector<PartitionStatus>& statuses) const;
  // After a commit's write: FillCommitted on the published statuses.
  void PublishCommitted();
  static bool ReadsTopic(const Topology& topology, const std::string& topic);
  // Table loading (see the header comment).
  void StartLoadingTables(const std::vector<PartitionStart>& partitions);
  std::set<std::string> DeferredTopics() const;  // topics that must wait for a table
  Status UpdateTableLoading();  // ends finished loads, resumes what no longer waits
  void PublishRestoring();      // loading_.size() to restoring_partitions_ and its gauge
  // Processes aligned topologies' buffered records as far as their inputs allow, and
  // resumes partitions whose buffers drained.
  Status ProcessBuffered();
  // Stream–stream joins match by partition number: their topics must have equal counts.
  Status CheckCoPartitioning();
  // Pauses the sources of topologies that write a topic the sink blocks (an open circuit
  // breaker, Sink::BlockedTopics), and resumes them once it no longer does.
  Status UpdateBreakerPauses();
  // Source topics of the topologies that write a topic the sink blocks now.
  std::set<std::string, std::less<>> BreakerHeldTopics();
  // Whether `record` must wait because a breaker opened since its batch was polled: then its
  // partition is paused at it (fetched again on resume), and the rest of the batch from that
  // partition waits too. Cheap unless a breaker opened (Sink::BlockGeneration).
  Result<bool> HeldByBreaker(const Record& record);

  // Constant after construction.
  Source& source_;
  state::StateDb& db_;
  Sink* const sink_;                     // may be null
  ExactlyOnceSink* const exactly_once_;  // may be null
  std::vector<std::unique_ptr<Topology>>& topologies_;
  metrics::Metrics& metrics_;
  const PipelineOptions options_;
  prometheus::Histogram& processing_latency_;
  prometheus::Histogram& commit_duration_;
  prometheus::Counter& commits_;
  prometheus::Counter& state_write_errors_;
  prometheus::Gauge& assigned_gauge_;         // the instance's; moved by this worker's changes
  prometheus::Gauge& worker_assigned_gauge_;  // this worker's alone

  mutable std::mutex state_error_mu_;
  std::string state_write_error_;  // guarded by state_error_mu_
  mutable std::mutex status_mu_;
  std::vector<PartitionStatus> partition_status_;  // guarded by status_mu_
  std::string failure_;                            // guarded by status_mu_

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> assignment_received_{false};
  std::atomic<int> assigned_partitions_{0};
  std::atomic<int> restoring_partitions_{0};  // loading_.size(), for other threads
  // steady_clock nanoseconds since its epoch; 0: the loop has not started.
  std::atomic<int64_t> last_iteration_ns_{0};
  std::atomic<int64_t> max_partition_lag_{-1};  // -1: unknown
  prometheus::Gauge& restoring_gauge_;          // the instance's; moved by this worker's changes

  // Processing thread only.
  bool failed_ = false;  // once set, nothing more is committed (state may be half-applied)
  struct PendingBatch {
    std::chrono::steady_clock::time_point consumed_at;
    size_t records = 0;
  };
  std::vector<PendingBatch> uncommitted_;  // batches whose effects are not yet in RocksDB
  // Offsets written to RocksDB but not yet sent to Kafka, and when offsets were last sent
  // (empty until the first send: steady_clock's epoch is the machine's boot, so a default
  // time_point would hold back the first offsets on a machine up for less than the interval).
  std::map<TopicPartition, int64_t> kafka_offsets_due_;
  std::optional<std::chrono::steady_clock::time_point> kafka_offsets_sent_at_;
  size_t uncommitted_records_ = 0;
  bool idle_advance_pending_ = false;       // a stream time moved by idleness awaits its commit
  std::vector<TopicPartition> lag_labels_;  // partitions with a lag gauge
  struct TableLoad {
    int64_t end_offset = 0;  // loaded once the position reaches it
    int64_t position = -1;
    std::chrono::steady_clock::time_point progressed_at;
  };
  std::map<TopicPartition, TableLoad> loading_;  // joined-table partitions still loading
  std::set<TopicPartition> paused_;              // partitions waiting for them
  std::set<TopicPartition> buffer_paused_;       // aligned inputs that ran ahead
  std::set<TopicPartition> assigned_;            // every assigned partition
  // Exactly-once output: the next offset of each assigned partition as of the last commit
  // (or assignment), for transactions of commits that did not move every partition.
  std::map<TopicPartition, int64_t> committed_offsets_;
  std::set<TopicPartition> breaker_paused_;  // feed topologies whose sink topic is blocked
  // BreakerHeldTopics() as last computed, and the sink's BlockGeneration() then.
  std::set<std::string, std::less<>> breaker_held_;
  uint64_t block_generation_ = 0;
};

}  // namespace eddy::engine
