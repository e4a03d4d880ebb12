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
// Thread-safety: every query method may be called from any thread concurrently with
// processing.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_writer.h"
#include "common/status.h"
#include "config/config.h"
#include "engine/aggregates.h"
#include "state/state_db.h"

namespace eddy::engine {

// The source partitions a topology currently owns, over every worker running an instance of
// it (the workers' Topology objects share one OwnedPartitions, so a view answers over their
// union). A partition is owned while any owner holds it: Add and Remove count, so a task
// whose topics went to two workers (an assignor other than range) stays owned until both
// let it go. Written by the processing threads on rebalance, read by HTTP threads.
//
// Thread-safety: every method is thread-safe (mutex_).
class OwnedPartitions {
 public:
  void Add(int32_t partition);
  void Remove(int32_t partition);  // one owner lets it go
  std::vector<int32_t> Snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<int32_t, int> owners_;  // partition -> owners (> 0); guarded by mutex_
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

// Which windows of a key an answer lists: those overlapping [from_ms, to_ms).
struct WindowFilter {
  std::optional<int64_t> from_ms;  // windows that end after it (sessions: at or after it)
  std::optional<int64_t> to_ms;    // windows that start before it
};

// Which keys a range scan visits, in key byte order: those starting with `prefix`, >= start,
// < end and > after (the previous page's last key), at most `limit` of them.
struct KeyRange {
  std::string prefix;
  std::optional<std::string> start;
  std::optional<std::string> end;
  std::optional<std::string> after;
  size_t limit = 100;
};

// What WriteKey found for a key.
struct KeyAnswer {
  bool exists = false;  // something to show without the window filter: a listed window (per
                        // the emit mode and retention), an aggregate, a row
  bool listed = false;  // and something passed the filter (== exists without one)
};

// A queryable view of one step: what the /v1/views routes answer.
//
// Every read goes through a state::ReadSnapshot the caller takes once per request, so that a
// response (several keys, several partitions, their stream times) reflects one commit.
class View {
 public:
  virtual ~View() = default;
  virtual const std::string& name() const = 0;
  virtual const std::string& topology() const = 0;
  virtual const std::string& step() const = 0;
  virtual const char* kind() const = 0;  // "window", "aggregate" or "table"
  virtual bool windowed() const = 0;
  // Partitions whose state this instance serves (owned source partitions; a table view's
  // rows are global, so it serves them all). Thread-safe.
  virtual std::vector<int32_t> ServedPartitions() const = 0;
  // Estimated rows in the view's store (windows, aggregates or table rows; cheap).
  virtual uint64_t ApproximateRows() const = 0;

  // Writes one key's answer members ("key", then "windows" / "aggregates" / "value") into
  // the open JSON object `json`, and says what there was. When nothing is listed, the
  // members are still written, empty ("windows":[], "aggregates":null, "value":null).
  virtual Result<KeyAnswer> WriteKey(std::string_view key, const WindowFilter& filter,
                                     const state::ReadSnapshot& snapshot,
                                     JsonWriter& json) const = 0;
  // Writes the keys of `range` that have something listed as objects of WriteKey's members
  // into the open JSON array `json`, in key byte order, at most range.limit of them. Returns
  // the last key written when more keys may follow (the next page starts after it), else
  // nullopt.
  Result<std::optional<std::string>> WriteRange(const KeyRange& range, const WindowFilter& filter,
                                                const state::ReadSnapshot& snapshot,
                                                JsonWriter& json) const;

  // {"view":..., WriteKey's members}, for tests and the offline driver. Thread-safe.
  Result<std::string> QueryKeyJson(std::string_view key) const;

 protected:
  View(const state::StateDb& db, std::string store) : db_(db), store_(std::move(store)) {}
  const state::StateDb& db_;
  const std::string store_;  // "<topology>.<step>": where the rows live
};

// A view of a window step (or of a step that aggregates without a window).
class WindowView final : public View {
 public:
  WindowView(ViewSpec spec, const AggregateSet& aggregates, const state::StateDb& db,
             const OwnedPartitions& owned);

  const std::string& name() const override { return spec_.name; }
  const std::string& topology() const override { return spec_.topology; }
  const std::string& step() const override { return spec_.step; }
  const char* kind() const override { return windowed() ? "window" : "aggregate"; }
  bool windowed() const override { return spec_.window.kind != config::WindowConfig::Kind::kNone; }
  std::vector<int32_t> ServedPartitions() const override { return owned_.Snapshot(); }
  uint64_t ApproximateRows() const override;
  config::EmitMode emit() const { return spec_.emit; }

  // Members: "key", "windows":[{"start":RFC3339, "end":..., "start_ms":..., "end_ms":...,
  // "closed":bool, "aggregates":{...}}, ...] sorted by start. A window is closed once every
  // partition holding a share of it has closed it (end + grace <= that partition's committed
  // stream time). Emit mode final lists closed windows only; on-update lists all. Expired
  // windows (start + retention <= stream time) are never listed, whether or not compaction
  // has purged them yet.
  // Sessions: the same shape; start and end are the first and last event times (both
  // inclusive); closed once end + gap + grace < the stream time of every partition
  // holding a share; expired once end + retention < stream time.
  // No window: "key", "aggregates":{...} merged across partitions (null: no state).
  Result<KeyAnswer> WriteKey(std::string_view key, const WindowFilter& filter,
                             const state::ReadSnapshot& snapshot, JsonWriter& json) const override;

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
  Result<std::vector<Row>> ReadRows(std::string_view key,
                                    const state::ReadSnapshot& snapshot) const;

  // Constant after construction.
  const ViewSpec spec_;
  const AggregateSet& aggregates_;
  const OwnedPartitions& owned_;
};

// A view of a table step: members "key", "value": the latest value, or null.
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
  bool windowed() const override { return false; }
  std::vector<int32_t> ServedPartitions() const override;
  uint64_t ApproximateRows() const override;
  Result<KeyAnswer> WriteKey(std::string_view key, const WindowFilter& filter,
                             const state::ReadSnapshot& snapshot, JsonWriter& json) const override;

 private:
  // Constant after construction.
  const std::string name_;
  const std::string topology_;
  const std::string step_;
};

}  // namespace eddy::engine
