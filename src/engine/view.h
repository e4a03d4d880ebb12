// View: answers queries on a windowed step's committed state, for the HTTP API.
//
// A query reads RocksDB directly, so it sees exactly the state whose offsets are committed
// (at most state.commit_interval behind the processing thread), never a half-applied batch.
// When the key is derived from a value field, one key's records can arrive on several
// source partitions; each partition aggregates its own share and the view merges them per
// window with AggregateSet::Merge (exact for count, sum, min, max, avg, count_distinct;
// by event time for first, last and latest — see aggregates.h).
//
// Thread-safety: QueryKey may be called from any thread concurrently with processing.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "engine/aggregates.h"
#include "state/state_db.h"

namespace eddy::engine {

// The source partitions a topology currently owns. Written by the processing thread on
// rebalance, read by HTTP threads.
class OwnedPartitions {
 public:
  void Add(int32_t partition);
  void Remove(int32_t partition);
  std::vector<int32_t> Snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::set<int32_t> partitions_;  // guarded by mutex_
};

// What a view reads: one windowed step of one topology.
struct ViewSpec {
  std::string name;
  std::string topology;
  std::string topic;  // the topology's source topic (its progress entries are keyed by it)
  std::string step;
  std::string store;
  config::WindowConfig window;
  config::EmitMode emit = config::EmitMode::kOnUpdate;
};

class View {
 public:
  View(ViewSpec spec, const AggregateSet& aggregates, const state::StateDb& db,
       const OwnedPartitions& owned);

  const std::string& name() const { return spec_.name; }
  const std::string& topology() const { return spec_.topology; }
  const std::string& step() const { return spec_.step; }
  config::EmitMode emit() const { return spec_.emit; }

  // JSON: {"view":..., "key":..., "windows":[{"start":RFC3339, "end":..., "start_ms":...,
  // "end_ms":..., "closed":bool, "aggregates":{...}}, ...]} with windows sorted by start.
  // A window is closed once every partition holding a share of it has closed it (end +
  // grace <= that partition's committed stream time). Emit mode final lists closed windows
  // only; on-update lists all. Expired windows (start + retention <= stream time) are never
  // listed, whether or not compaction has purged them yet. A key with no state gives an
  // empty list.
  Result<std::string> QueryKeyJson(std::string_view key) const;

 private:
  // Constant after construction.
  const ViewSpec spec_;
  const AggregateSet& aggregates_;
  const state::StateDb& db_;
  const OwnedPartitions& owned_;
};

}  // namespace eddy::engine
