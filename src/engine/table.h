// TableStep: a changelog materialized as a table — the latest value per key, as Kafka
// Streams' KTable (and ksqlDB's CREATE TABLE) read a topic. A record upserts its key with
// its value; a tombstone (a record with a null value) or a record matching `delete_when`
// deletes the key. Queryable through a TableView.
//
// State: one RocksDB value per (partition, key) — the window-key layout of
// state/key_encoding.h with window start 0 — holding the value's JSON text. Writes are
// staged and committed with the offsets like all state; tables are not purged by retention.
//
// Threading: processing thread only (see operator.h).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "config/config.h"
#include "engine/operator.h"
#include "expr/expr.h"

namespace eddy::engine {

class TableStep final : public Operator {
 public:
  TableStep(std::string store, const config::StepConfig& step, state::StateDb& db);

  const std::string& name() const override { return name_; }
  // Decides upsert or delete (delete_when); changes nothing.
  Status Prepare(const Event& event, const PartitionContext& partition) override;
  Status Apply(const Event& event) override;
  // A tombstone for `key` in `partition`: deletes the row.
  void ApplyTombstone(int32_t partition, std::string_view key);
  Status FlushTo(state::WriteBatch& batch, const FlushContext& context) override;
  Status RestorePartition(int32_t partition, int64_t stream_time_ms) override;
  void DropPartition(int32_t partition) override;

  const std::string& store() const { return store_; }
  std::string DefinitionFingerprint() const { return "table"; }

 private:
  // Constant after construction.
  const std::string name_;
  const std::string store_;
  const std::shared_ptr<const expr::Expression> delete_when_;  // may be null
  state::StateDb& db_;

  // Processing thread only.
  bool pending_delete_ = false;  // decided by Prepare
  // Rows written since the last flush: (partition, key) -> value, nullopt = deleted.
  std::map<std::pair<int32_t, std::string>, std::optional<std::string>> pending_writes_;
};

}  // namespace eddy::engine
