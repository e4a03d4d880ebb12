// TableStep: a changelog materialized as a table — the latest value per key, as Kafka
// Streams' KTable (and ksqlDB's CREATE TABLE) read a topic. A record upserts its key with
// its value; a tombstone (a record with a null value) or a record matching `delete_when`
// deletes the key. Queryable through a TableView.
//
// State: one RocksDB value per key — the window-key layout of state/key_encoding.h with
// partition kTablePartition and window start 0 — holding the value's JSON text. Rows are
// not split by source partition: a key lives in one partition of a changelog topic, and a
// stream–table join looks a key up wherever the stream's record came from (as Kafka
// Streams' GlobalKTable; see docs/joins.md). Writes are staged and committed with the
// offsets like all state; tables are not purged by retention.
//
// Threading: processing thread only (see operator.h).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/string_hash.h"
#include "config/config.h"
#include "engine/operator.h"
#include "expr/expr.h"

namespace eddy::engine {

class TableStep final : public Operator {
 public:
  // The partition field of every row's key (rows are global, see above).
  static constexpr int32_t kTablePartition = -1;

  TableStep(std::string store, const config::StepConfig& step, state::StateDb& db);

  const std::string& name() const override { return name_; }
  // Decides upsert or delete (delete_when); changes nothing.
  Status Prepare(const Event& event, const PartitionContext& partition) override;
  Status Apply(const Event& event) override;
  // A tombstone for `key`: deletes the row.
  void ApplyTombstone(std::string_view key);
  // Makes Lookup keep rows in memory, up to the step's cache_mib: called by the topology for
  // a table that a stream–table join looks up, before processing (a table only views read
  // would hold the memory for nothing).
  void EnableRowCache() { row_cache_enabled_ = true; }
  // The current row of `key`, including changes not yet committed; nullopt: no row.
  Result<std::optional<std::string>> Lookup(std::string_view key) const;
  Status FlushTo(state::WriteBatch& batch, const FlushContext& context) override;
  Status RestorePartition(int32_t partition, int64_t stream_time_ms) override;
  void DropPartition(int32_t partition) override;

  const std::string& store() const { return store_; }
  // "table/v2": rows keyed without their source partition (v1 split them by partition).
  std::string DefinitionFingerprint() const { return "table/v2"; }

 private:
  // Constant after construction.
  const std::string name_;
  const std::string store_;
  const std::shared_ptr<const expr::Expression> delete_when_;  // may be null
  // The most memory the row cache holds (keys, values and an estimate of the hash map's
  // overhead): the step's `cache_mib`.
  const size_t row_cache_limit_bytes_;
  state::StateDb& db_;

  // Caches `key` -> `row` (nullopt: no row), clearing the cache first when it is full.
  void CacheRow(std::string_view key, const std::optional<std::string>& row) const;
  void ClearRowCache() const;

  // Processing thread only.
  bool pending_delete_ = false;  // decided by Prepare
  // Rows written since the last flush: key -> value, nullopt = deleted.
  std::map<std::string, std::optional<std::string>, std::less<>> pending_writes_;
  // Rows as committed (or staged in the commit being written): key -> value, nullopt = no
  // row. A stream–table join looks up every record's key, and a RocksDB read of a row was
  // half of a join's time (decompressing blocks the block cache could not hold). Only this
  // step writes its rows' keys (a co-partitioned join's other workers own other keys), and
  // the cache is emptied whenever partitions move, so an entry is never stale. Bounded by
  // row_cache_limit_bytes_: past it the cache starts over.
  mutable StringMap<std::optional<std::string>> row_cache_;
  mutable size_t row_cache_bytes_ = 0;
  bool row_cache_enabled_ = false;
};

}  // namespace eddy::engine
