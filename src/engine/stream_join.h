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
// Memory (join cache_mib): the rows a record can still match are also kept in memory, per
// partition, so that a record finds its matches without a RocksDB seek. A partition's rows
// are loaded when it is assigned, added as records arrive, and dropped once no record can
// match them (t + within + grace < stream time). RocksDB stays the authority: every change
// is still committed there, and a partition whose rows exceed the budget goes back to
// reading RocksDB until it is next assigned.
//
// Threading: processing thread only.
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/string_hash.h"
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
  // One buffered row in memory: the records of one side with one key and one event time.
  struct Row {
    Side side = Side::kLeft;
    int64_t time_ms = 0;
    bool dirty = false;  // changed since the last flush (listed in dirty_)
    Entries entries;
  };
  // The rows of one key (both sides) in memory.
  struct KeyRows {
    std::vector<Row> rows;
    // Entries of PartitionRows::added that point at this key: the key stays in by_key,
    // possibly without rows, until none does.
    uint32_t queued = 0;
  };
  using KeySlot = StringMap<KeyRows>::value_type;  // a node: its address is stable
  // The rows of one partition that are in memory.
  struct PartitionRows {
    // Complete: every stored row of the partition that a record can still match (or that
    // still has unmatched records to emit) is here, so lookups skip RocksDB. Set when
    // RestorePartition loads the partition within the cache's budget; cleared (and the
    // clean rows dropped) when the budget is exceeded or another topic's state may have
    // been stored meanwhile (OnStoredStreamTimeRaised). Otherwise only the rows changed
    // since the last flush are here, and they overlay RocksDB's.
    bool complete = false;
    StringMap<KeyRows> by_key;
    // (event time, key) of rows as they were added, for eviction from the front. Event times
    // are nearly in order; a row behind a later one leaves memory a little late.
    std::deque<std::pair<int64_t, KeySlot*>> added;
    // The latest stream time a record of the partition was prepared at.
    int64_t stream_time_ms = INT64_MIN;
  };
  struct Match {
    int64_t time_ms = 0;  // of the other side's row with the record's key
    size_t index = 0;     // of the entry in that row
  };
  // A row changed since the last flush. Valid while the key's rows are only appended to:
  // whatever drops rows mid-interval (Demote, RestorePartition) rebuilds the partition's.
  struct DirtyRow {
    int32_t partition = 0;
    KeySlot* slot = nullptr;
    size_t index = 0;  // in slot->second.rows
  };

  Result<Entries> DecodeRow(std::string_view stored) const;
  static KeySlot* FindSlot(PartitionRows& rows, std::string_view key);
  // The index of the slot's row of `side` at `time_ms`, or nullopt.
  static std::optional<size_t> FindRow(const KeySlot& slot, Side side, int64_t time_ms);
  // The row to change, in memory (its index in slot's rows): found there, else read from
  // RocksDB (incomplete partitions, when it may be stored), else new and empty.
  Result<size_t> RowForUpdate(int32_t partition, PartitionRows& rows, KeySlot& slot, Side side,
                              int64_t time_ms);
  // The row's entries as they stand now (memory, else RocksDB unless the partition is
  // complete); `scratch` holds them when they come from RocksDB.
  Result<const Entries*> ReadRow(int32_t partition, std::string_view key, Side side,
                                 int64_t time_ms, Entries& scratch);
  void MarkDirty(int32_t partition, KeySlot& slot, size_t index);
  // Approximate memory of a row and of an entry, for the cache's budget.
  static int64_t RowBytes(std::string_view key) { return static_cast<int64_t>(key.size()) + 160; }
  static int64_t EntryBytes(const Entry& entry) {
    return static_cast<int64_t>(entry.value.size()) + 48;
  }
  static int64_t RowBytes(std::string_view key, const Row& row);
  // Appends `row` to the slot's rows, counts its memory and queues it for eviction; returns
  // its index.
  size_t AddRow(PartitionRows& rows, KeySlot& slot, Row row);
  // Removes the slot's rows for which `keep` is false (keeping the others' order) and
  // uncounts their memory.
  template <typename Keep>
  void KeepRows(KeySlot& slot, const Keep& keep);
  // Makes the partition incomplete and drops its clean rows.
  void Demote(int32_t partition, PartitionRows& rows);
  // Demote, with a warning, when the rows in memory exceed the budget and `rows` is complete.
  void DemoteIfOverBudget(int32_t partition, PartitionRows& rows);
  // Drops clean rows of a complete partition that no record can match any more and that
  // have no unmatched records left to emit.
  void Evict(int32_t partition, PartitionRows& rows);
  // Drops the partition's rows (but those changed since the last flush if `keep_dirty`),
  // and lists the kept ones in dirty_ again.
  void DropRows(int32_t partition, PartitionRows& rows, bool keep_dirty);
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
  const int64_t cache_limit_bytes_;
  state::StateDb& db_;
  prometheus::Counter& late_records_;

  // Processing thread only.
  // Reads the other side's rows of incomplete partitions; released at every flush.
  state::WindowScanner scanner_;
  // Decided by Prepare, carried out by Apply.
  bool late_ = false;
  Side side_ = Side::kLeft;
  std::vector<Match> matches_;
  std::vector<JoinOutput> outputs_;
  // Rows read from RocksDB by the last Prepare (incomplete partitions); reused.
  std::vector<Row> scanned_;
  // The record's key in memory as the last Prepare found it (null: not there yet).
  KeySlot* prepared_slot_ = nullptr;
  std::unordered_map<int32_t, PartitionRows> partitions_;
  int64_t cache_bytes_ = 0;  // of every row in partitions_
  // Rows changed since the last flush (each once: Row::dirty).
  std::vector<DirtyRow> dirty_;
  std::string key_buffer_;    // reused by FlushTo
  std::string value_buffer_;  // reused by FlushTo
  // A record newer than this bound starts its row without reading one (stored_time_bound.h;
  // one bound per partition for both sides). Consulted for incomplete partitions only.
  StoredTimeBound stored_times_;
  // Per partition: the latest event time of a row changed since the last flush, which
  // raises stored_times_ when the flush stores it.
  std::unordered_map<int32_t, int64_t> pending_max_time_;
  // left / outer: per partition, rows that may hold unmatched records, ordered by when
  // they stop being matchable (t + within + grace), then row key.
  std::unordered_map<int32_t, std::set<std::pair<int64_t, std::string>>> unmatched_;
};

}  // namespace eddy::engine
