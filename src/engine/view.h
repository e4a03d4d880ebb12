// View: answers queries on an aggregation step's committed state, for the HTTP API.
//
// A query reads RocksDB directly, so it sees exactly the state whose offsets are committed
// (at most state.commit_interval behind the processing thread), never a half-applied batch.
// When the key is derived from a value field, one key's records can arrive on several
// source partitions; each partition aggregates its own share and the view merges them per
// window with AggregateSet::Merge (exact for count, sum, min, max, avg, count_distinct;
// by event time for first, last and latest — see aggregates.h). Sessions are merged the
// same way after joining every chain of sessions (of any partitions) less than gap apart:
// exactly the sessions one partition would have built from all the accepted records.
//
// Thread-safety: QueryKey may be called from any thread concurrently with processing.
#pragma once

#include <cstdint>
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

// A queryable view of one step: what GET /v1/views/{view}/keys/{key} answers.
class View {
 public:
  virtual ~View() = default;
  virtual const std::string& name() const = 0;
  virtual const std::string& topology() const = 0;
  virtual const std::string& step() const = 0;
  virtual const char* kind() const = 0;  // "window" or "table"
  // The answer for one key, as JSON. Thread-safe.
  virtual Result<std::string> QueryKeyJson(std::string_view key) const = 0;
};

// A view of a window step.
class WindowView final : public View {
 public:
  WindowView(ViewSpec spec, const AggregateSet& aggregates, const state::StateDb& db,
             const OwnedPartitions& owned);

  const std::string& name() const override { return spec_.name; }
  const std::string& topology() const override { return spec_.topology; }
  const std::string& step() const override { return spec_.step; }
  // "window"; "aggregate" for a step without a window.
  const char* kind() const override {
    return spec_.window.kind == config::WindowConfig::Kind::kNone ? "aggregate" : "window";
  }
  config::EmitMode emit() const { return spec_.emit; }

  // JSON: {"view":..., "key":..., "windows":[{"start":RFC3339, "end":..., "start_ms":...,
  // "end_ms":..., "closed":bool, "aggregates":{...}}, ...]} with windows sorted by start.
  // A window is closed once every partition holding a share of it has closed it (end +
  // grace <= that partition's committed stream time). Emit mode final lists closed windows
  // only; on-update lists all. Expired windows (start + retention <= stream time) are never
  // listed, whether or not compaction has purged them yet. A key with no state gives an
  // empty list.
  // Sessions: the same shape; start and end are the first and last event times (both
  // inclusive); closed once end + gap + grace < the stream time of every partition
  // holding a share; expired once end + retention < stream time.
  // No window: {"view":..., "key":..., "aggregates":{...}}, merged across partitions;
  // "aggregates":null for a key with no state.
  Result<std::string> QueryKeyJson(std::string_view key) const override;

 private:
  // One stored row of the key: a window, a session or the unwindowed aggregate.
  struct Row {
    int32_t partition = 0;
    int64_t start_ms = 0;
    int64_t end_ms = 0;  // sessions only
    bool closed = false;
    AggregateValues values;
  };
  // Every unexpired row of `key` in the owned partitions, in partition then start order.
  Result<std::vector<Row>> ReadRows(std::string_view key) const;

  // Constant after construction.
  const ViewSpec spec_;
  const AggregateSet& aggregates_;
  const state::StateDb& db_;
  const OwnedPartitions& owned_;
};

// A view of a table step: {"view":..., "key":..., "value": <the latest value, or null>}.
// Reads committed state, like every view.
class TableView final : public View {
 public:
  // Rows are global (not per partition; see table.h), so a table view answers every key
  // this instance has loaded.
  TableView(std::string name, std::string topology, std::string step, std::string store,
            const state::StateDb& db);
  const std::string& name() const override { return name_; }
  const std::string& topology() const override { return topology_; }
  const std::string& step() const override { return step_; }
  const char* kind() const override { return "table"; }
  Result<std::string> QueryKeyJson(std::string_view key) const override;

 private:
  // Constant after construction.
  const std::string name_;
  const std::string topology_;
  const std::string step_;
  const std::string store_;
  const state::StateDb& db_;
};

}  // namespace eddy::engine
