// Dedup: the idempotent-consumer step. It passes a record on unless a record with the same
// id was seen within `ttl`, in which case the record is dropped and counted
// (eddy_duplicates_dropped_total).
//
// Semantics: an id is "seen" from the event time of the first record that carried it until
// that time + ttl <= the partition's stream time; a later record with the id then passes
// and starts a new ttl. Ids are tracked per source partition (records with one id are
// expected in one partition, e.g. keyed by it). A record whose id cannot be read (missing
// field, missing header, no Kafka key) fails as a whole (invalid_field).
//
// State: one RocksDB key per (partition, id, first-seen time), in the window-key layout of
// state/key_encoding.h with the first-seen time as the window start, so the window
// retention purges expired ids (retention = ttl) without any extra writes. Ids survive
// restarts with the rest of the state, committed in the same batch as the offsets.
//
// Threading: processing thread only (see operator.h).
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "engine/operator.h"

namespace eddy::engine {

class Dedup final : public Operator {
 public:
  Dedup(std::string store, const config::StepConfig& step, state::StateDb& db,
        prometheus::Counter& duplicates);

  const std::string& name() const override { return name_; }
  // Decides whether the event passes (see passed()). Errors: the id cannot be read.
  Status Prepare(const Event& event, const PartitionContext& partition) override;
  // Remembers the id of a passed event, or counts a duplicate.
  Status Apply(const Event& event) override;
  Status FlushTo(state::WriteBatch& batch, const FlushContext& context) override;
  Status RestorePartition(int32_t partition, int64_t stream_time_ms) override;
  void DropPartition(int32_t partition) override;

  // After a successful Prepare: true if the event goes on, false if it is a duplicate.
  bool passed() const { return !pending_.duplicate; }
  const std::string& store() const { return store_; }
  std::string DefinitionFingerprint() const;

 private:
  struct SeenId {
    int64_t first_seen_ms = 0;
    bool dirty = false;
  };
  using PartitionIds = std::unordered_map<std::string, SeenId>;

  Result<std::string> ReadId(const Event& event) const;

  // Constant after construction.
  const std::string name_;
  const std::string store_;
  const config::DedupConfig config_;
  state::StateDb& db_;
  prometheus::Counter& duplicates_;

  // Processing thread only.
  state::WindowScanner scanner_;  // looks up ids not cached; released at every flush
  struct Pending {
    std::string id;
    bool duplicate = false;
  };
  Pending pending_;
  std::unordered_map<int32_t, PartitionIds> seen_;  // cache over RocksDB, write-back
  size_t cached_ids_ = 0;
  // The cache entries registered since the last flush (partition, entry): a commit costs
  // what changed, not the size of the cache. Entries are map nodes, whose addresses stay
  // valid until they are erased (only by clearing a partition, which drops its dirty ones).
  std::vector<std::pair<int32_t, PartitionIds::value_type*>> dirty_;
  std::vector<std::string> flush_keys_;  // FlushTo's scratch space
};

}  // namespace eddy::engine
