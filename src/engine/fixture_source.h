// FixtureSource: an in-memory Source for tests and the offline `eddy test` driver. It
// behaves like a Kafka consumer group of one member, without a broker:
//
// - Records are appended up front (or between polls) with Append(); each partition is a log
//   whose offsets start at 0 and grow by one per record.
// - Subscribe() only records the topics. The first Poll() assigns every partition of those
//   topics that has records or was declared with DeclarePartitions(), by calling
//   listener->OnPartitionsAssigned (also with an empty list, as Kafka does). Each partition
//   starts at the offset the listener returned, or 0 when it returned nullopt (like
//   auto.offset.reset=earliest with no committed group offset). Partitions that appear
//   after the assignment are picked up at the next Rebalance().
// - Poll() returns records in offset order within a partition and interleaves partitions
//   round-robin in (topic, partition) order, continuing after the partition served last:
//   the same appends and the same max_records give the same sequence every time.
// - CommitAsync() records the offsets (committed()); Lag() is the number of records left
//   per assigned partition; Close() revokes every assigned partition through the listener.
// - RequestRebalance() makes the next Poll() revoke all partitions and then assign them
//   again, each resuming where the listener says (as after a consumer-group rebalance).
// - When Poll() has nothing to return it calls the idle handler, if one is set (the place
//   to append the next phase of records, request a rebalance or stop the pipeline), and
//   returns an empty batch without waiting. Without an idle handler it waits `timeout`
//   first, as a consumer would, so a polling loop does not spin.
// - PauseAt() / Resume() skip a partition in Poll() and rewind it; EndOffset() is the log's
//   size; Position() the next offset Poll() returns; PartitionCount() is what
//   DeclarePartitions() declared (Unavailable for a topic never declared).
// - Faults for tests: FailNextPoll() makes a Poll() return an error (a broker that went
//   away); set_ignore_resume_offsets(true) starts every partition at 0 whatever the
//   listener says (a consumer whose group offsets trail eddy's own, replaying old records).
//
// Threading: like every Source, owned and called by one thread (the processing thread).
// Listener callbacks and the idle handler run on that thread, inside Poll() / Close(). Code
// on other threads must not touch a FixtureSource while a Pipeline runs it; drive it from
// the idle handler instead. Records returned by Poll() stay valid until the next Poll().
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/source.h"

namespace eddy::engine {

// One record to append: everything but the offset, which the source assigns.
struct FixtureRecord {
  std::string topic;
  int32_t partition = 0;
  std::optional<std::string> key;
  std::string value;
  bool tombstone = false;  // a null value (value must be empty)
  int64_t timestamp_ms = 0;
  std::vector<std::pair<std::string, std::string>> headers;
};

class FixtureSource final : public Source {
 public:
  FixtureSource() = default;
  FixtureSource(const FixtureSource&) = delete;
  FixtureSource& operator=(const FixtureSource&) = delete;

  // Appends `record` to its partition's log and returns the offset it was given.
  // Precondition: record.partition >= 0.
  int64_t Append(FixtureRecord record);
  int64_t Append(std::string topic, int32_t partition, std::optional<std::string> key,
                 std::string value, int64_t timestamp_ms = 0);
  // Declares that `topic` has partitions 0..count-1, so they are assigned even when empty.
  void DeclarePartitions(const std::string& topic, int32_t count);

  // Called by Poll() when no record is ready (see the header comment).
  void set_idle_handler(std::function<void()> handler) { idle_handler_ = std::move(handler); }
  // At the next Poll(): revoke every assigned partition, then assign again.
  void RequestRebalance() { rebalance_requested_ = true; }
  // The next Poll() returns `status` (must not be OK) instead of records. Called from the
  // idle handler, that is the Poll() that invoked it.
  void FailNextPoll(Status status) { poll_failure_ = std::move(status); }
  void set_ignore_resume_offsets(bool ignore) { ignore_resume_offsets_ = ignore; }

  // Source.
  Status Subscribe(const std::vector<std::string>& topics, SourceListener* listener) override;
  Status Poll(std::chrono::milliseconds timeout, size_t max_records,
              std::vector<Record>& out) override;
  void CommitAsync(const std::vector<PartitionOffset>& offsets) override;
  std::vector<PartitionLag> Lag() override;
  Status Close() override;
  Status PauseAt(const TopicPartition& partition, int64_t offset) override;
  Status Resume(const TopicPartition& partition) override;
  Result<int64_t> EndOffset(const TopicPartition& partition,
                            std::chrono::milliseconds timeout) override;
  std::optional<int64_t> Position(const TopicPartition& partition) override;
  Result<int32_t> PartitionCount(const std::string& topic,
                                 std::chrono::milliseconds timeout) override;

  // Inspection, for tests.
  // The last committed next-offset of every partition ever committed.
  const std::map<TopicPartition, int64_t>& committed() const { return committed_; }
  int commit_calls() const { return commit_calls_; }
  // Currently assigned partitions, in order.
  std::vector<TopicPartition> assignment() const;
  // Next offset Poll() will return for an assigned partition; nullopt when not assigned.
  std::optional<int64_t> position(const TopicPartition& partition) const;
  // Number of records in a partition's log (its high watermark).
  int64_t end_offset(const TopicPartition& partition) const;
  int assignments() const { return assignments_; }  // OnPartitionsAssigned calls
  int revocations() const { return revocations_; }  // OnPartitionsRevoked calls
  bool closed() const { return closed_; }

 private:
  struct StoredRecord {
    std::optional<std::string> key;
    std::string value;
    bool tombstone = false;
    int64_t timestamp_ms = 0;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  // A partition's log. A deque, so appending never moves records Poll() handed out.
  using Log = std::deque<StoredRecord>;

  Status Assign();
  Status RevokeAll();

  std::map<TopicPartition, Log> logs_;                  // every partition appended to or declared
  std::map<std::string, int32_t> declared_partitions_;  // by DeclarePartitions
  std::set<std::string> subscribed_topics_;
  SourceListener* listener_ = nullptr;  // borrowed; set by Subscribe
  bool subscribed_ = false;
  bool assignment_pending_ = false;
  bool rebalance_requested_ = false;
  bool ignore_resume_offsets_ = false;
  bool closed_ = false;
  std::function<void()> idle_handler_;
  Status poll_failure_;

  std::map<TopicPartition, int64_t> positions_;  // assigned partition -> next offset
  std::set<TopicPartition> paused_;              // assigned partitions Poll() skips
  TopicPartition last_served_;                   // round-robin cursor
  bool has_last_served_ = false;

  std::map<TopicPartition, int64_t> committed_;
  int commit_calls_ = 0;
  int assignments_ = 0;
  int revocations_ = 0;
};

}  // namespace eddy::engine
