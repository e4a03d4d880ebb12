// StreamJoin: a windowed stream–stream join (Kafka Streams' KStream#join / leftJoin /
// outerJoin with JoinWindows.ofTimeDifferenceAndGrace(within, grace)).
//
// Semantics, per source partition (both inputs must be co-partitioned: the same key in the
// same partition number of both topics, as Kafka Streams requires):
// - A record on either side at event time t matches every record of the other side with the
//   same key and |t - t'| <= within that arrived before it and is still buffered. Each match
//   is emitted at once, as {left fields..., <as>: right value}, key = the join key, event
//   time = max(t, t').
// - A record is late, and dropped (counted in eddy_late_records_dropped_total), when
//   t < stream time - grace: the window of records it could still match has passed.
//   Otherwise it is buffered until t + within + grace < stream time; after that no
//   record that is not late can match it.
// - left and outer joins: a record of the left side (outer: of either side) that found no
//   match when its buffering ends is emitted then, once, with the other side null
//   ({left fields..., <as>: null} or, for a right record, {<as>: right value}) — as Kafka
//   Streams has done since 3.1, no eager left results that a later match contradicts.
//   Those results come out when the partition's stream time passes t + within + grace:
//   with the next record of the partition, or by idle advancement (source.idle_timeout).
// - The left value must be a JSON object without a member named <as>; otherwise the record
//   fails (invalid_field) and changes nothing.
//
// State: the records buffered per side, in RocksDB under the window-key layout of
// state/key_encoding.h — store "<topology>.<step>#left" or "#right", the partition, the key
// and the event time as window start — whose value lists the records with that key and time
// (see stream_join.cpp). The window retention purges them (retention = within + grace + 1
// ms, i.e. once t + within + grace < stream time). Changes are staged in memory and
// committed in the topology's WriteBatch with the offsets, like all state.
//
// Threading: processing thread only.
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.h"
#include "engine/operator.h"
#include "engine/stored_time_bound.h"

namespace eddy::engine {

// One result of a join, as the next steps receive it.
struct JoinOutput {
  std::string value;  // the joined JSON object
  int64_t event_time_ms = 0;
  std::string key;
};

// Builds {left members..., "<as>": right} from a left object's JSON text and the right
// side's JSON text (nullopt: null). An empty left ("") gives {"<as>": right}.
// Precondition: `left_object` is "" or a JSON object's text.
std::string JoinedValue(std::string_view left_object, std::string_view as,
                        std::optional<std::string_view> right);

class StreamJoin final : public StatefulStep {
 public:
  enum class Side { kLeft, kRight };

  // `store` is the step's store name ("<topology>.<step>"); the sides use store + "#left"
  // and store + "#right". `late_records` counts records dropped as late.
  StreamJoin(std::string store, const config::StepConfig& step, state::StateDb& db,
             prometheus::Counter& late_records);

  const std::string& name() const override { return name_; }
  // Decides what `event`, arriving on `side`, does: dropped as late, or buffered with the
  // matches listed in outputs(). Changes no state. Fails (nothing applied) when a left
  // value is not an object or already has the member <as>.
  Status Prepare(const Event& event, Side side, const PartitionContext& partition);
  // True when the last Prepare found the record late (Apply then does nothing).
  bool late() const { return late_; }
  // The join results decided by the last Prepare, in the order of the matched records'
  // event times.
  const std::vector<JoinOutput>& outputs() const { return outputs_; }
  // Buffers the record and marks its matches. Errors are eddy's own (state unreadable).
  Status Apply(const Event& event);

  // left and outer joins: appends the results of the buffered records of `partition` that
  // stopped being matchable at `stream_time_ms` without a match (see the header comment),
  // each once. Does nothing for inner joins.
  Status TakeUnmatched(int32_t partition, int64_t stream_time_ms, std::vector<JoinOutput>& out);

  Status FlushTo(state::WriteBatch& batch, const FlushContext& context) override;
  Status RestorePartition(int32_t partition, int64_t stream_time_ms) override;
  void DropPartition(int32_t partition) override;
  void OnStoredStreamTimeRaised(int32_t partition, int64_t stream_time_ms) override;

  const std::string& left_store() const { return left_store_; }
  const std::string& right_store() const { return right_store_; }
  // Buffered records expire (window retention) this long after their event time.
  int64_t retention_ms() const { return within_ms_ + grace_ms_ + 1; }
  std::string DefinitionFingerprint() const;

 private:
  struct Entry {
    bool matched = false;
    std::string value;  // the record's JSON value
  };
  using Entries = std::vector<Entry>;
  struct Match {
    std::string row;  // encoded row key (the other side's store)
    size_t index = 0;
  };

  // The row's entries, with this interval's changes applied.
  Result<Entries> ReadRow(const std::string& row) const;
  Result<Entries> DecodeRow(std::string_view stored) const;
  // Whether rows record which of their records matched (left and outer joins need it).
  bool MarksMatches() const;
  bool EmitsUnmatched(Side side) const;
  const std::string& StoreOf(Side side) const {
    return side == Side::kLeft ? left_store_ : right_store_;
  }

  // Constant after construction.
  const std::string name_;
  const std::string left_store_;
  const std::string right_store_;
  const config::JoinConfig::Type type_;
  const std::string as_;
  const int64_t within_ms_;
  const int64_t grace_ms_;
  state::StateDb& db_;
  prometheus::Counter& late_records_;

  // Processing thread only.
  // Reads the other side's rows; released at every flush.
  state::WindowScanner scanner_;
  // Decided by Prepare, carried out by Apply.
  bool late_ = false;
  Side side_ = Side::kLeft;
  std::vector<Match> matches_;
  std::vector<JoinOutput> outputs_;
  // Rows changed since the last flush: encoded row key -> entries (empty: deleted).
  std::map<std::string, Entries, std::less<>> pending_;
  // A record newer than this bound starts its row without reading one (stored_time_bound.h;
  // one bound per partition for both sides).
  StoredTimeBound stored_times_;
  // Per partition: the latest event time of a row changed since the last flush, which
  // raises stored_times_ when the flush stores it. (A row re-flagged as matched was
  // stored or pending already: it raises nothing new.)
  std::unordered_map<int32_t, int64_t> pending_max_time_;
  // left / outer: per partition, rows that may hold unmatched records, ordered by when
  // they stop being matchable (t + within + grace), then row key.
  std::unordered_map<int32_t, std::set<std::pair<int64_t, std::string>>> unmatched_;
};

}  // namespace eddy::engine
