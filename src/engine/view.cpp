#include "engine/view.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "codec/json_record.h"
#include "common/json_writer.h"
#include "engine/table.h"
#include "engine/window.h"
#include "state/key_encoding.h"

namespace eddy::engine {

void OwnedPartitions::Add(int32_t partition) {
  std::lock_guard lock(mutex_);
  ++owners_[partition];
}

void OwnedPartitions::Remove(int32_t partition) {
  std::lock_guard lock(mutex_);
  auto it = owners_.find(partition);
  if (it != owners_.end() && --it->second <= 0) owners_.erase(it);
}

std::vector<int32_t> OwnedPartitions::Snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<int32_t> partitions;
  partitions.reserve(owners_.size());
  for (const auto& [partition, owners] : owners_) partitions.push_back(partition);
  return partitions;
}

Result<std::optional<std::string>> View::WriteRange(const KeyRange& range,
                                                    const WindowFilter& filter,
                                                    const state::ReadSnapshot& snapshot,
                                                    JsonWriter& json) const {
  const std::vector<int32_t> partitions = ServedPartitions();
  // The scan position: keys after `resume` (all of `range` when unset).
  std::optional<std::string> resume = range.after;
  std::optional<std::string> last_written;
  size_t written = 0;
  for (;;) {
    // Up to `wanted` candidate keys from each partition, merged: the smallest `wanted` of the
    // union are exactly the next `wanted` keys overall.
    const size_t wanted = range.limit - written + 1;
    std::set<std::string> candidates;
    bool partition_truncated = false;
    for (int32_t partition : partitions) {
      std::string lower = state::EncodeUserKeyRangePrefix(store_, partition, range.prefix);
      std::string upper = state::PrefixSuccessor(lower);
      if (range.start) {
        lower = std::max(lower, state::EncodeWindowKeyPrefix(store_, partition, *range.start));
      }
      if (resume) {
        lower = std::max(lower, state::PrefixSuccessor(
                                    state::EncodeWindowKeyPrefix(store_, partition, *resume)));
      }
      if (range.end) {
        const std::string end_key = state::EncodeWindowKeyPrefix(store_, partition, *range.end);
        if (upper.empty() || end_key < upper) upper = end_key;
      }
      size_t found = 0;
      Status decode_status;
      // One RocksDB seek per distinct key: after a key, jump past all of its windows.
      while (found < wanted && (upper.empty() || lower < upper)) {
        std::optional<std::string> next;
        EDDY_RETURN_IF_ERROR(db_.ScanRange(
            lower, upper,
            [&](std::string_view encoded, std::string_view) {
              std::optional<state::DecodedWindowKey> decoded = state::DecodeWindowKey(encoded);
              if (!decoded) {
                decode_status = Status::Internal("corrupt key in store " + store_);
              } else {
                next = std::move(decoded->user_key);
              }
              return false;
            },
            &snapshot));
        EDDY_RETURN_IF_ERROR(decode_status);
        if (!next) break;
        lower = state::PrefixSuccessor(state::EncodeWindowKeyPrefix(store_, partition, *next));
        candidates.insert(std::move(*next));
        ++found;
      }
      if (found == wanted) partition_truncated = true;
    }
    if (candidates.empty()) return std::optional<std::string>();
    // Keys beyond the `wanted` smallest may hide smaller keys of a truncated partition.
    while (candidates.size() > wanted) candidates.erase(std::prev(candidates.end()));
    for (const std::string& key : candidates) {
      JsonWriter item;
      item.BeginObject();
      Result<KeyAnswer> shown = WriteKey(key, filter, snapshot, item);
      if (!shown.ok()) return shown.status();
      resume = key;
      if (!shown->listed) continue;  // e.g. only expired windows, or none closed under emit final
      if (written == range.limit) return last_written;  // a key beyond the page: more follow
      item.EndObject();
      json.Raw(item.str());
      ++written;
      last_written = key;
    }
    if (!partition_truncated && candidates.size() < wanted) return std::optional<std::string>();
  }
}

Result<std::string> View::QueryKeyJson(std::string_view key) const {
  const std::unique_ptr<state::ReadSnapshot> snapshot = db_.Snapshot();
  JsonWriter json;
  json.BeginObject().Key("view").String(name());
  Result<KeyAnswer> shown = WriteKey(key, WindowFilter{}, *snapshot, json);
  if (!shown.ok()) return shown.status();
  json.EndObject();
  return std::move(json).Take();
}

WindowView::WindowView(ViewSpec spec, const AggregateSet& aggregates, const state::StateDb& db,
                       const OwnedPartitions& owned)
    : View(db, spec.store), spec_(std::move(spec)), aggregates_(aggregates), owned_(owned) {}

uint64_t WindowView::ApproximateRows() const {
  const std::string prefix = state::EncodeUserKeyRangePrefix(spec_.store, 0, "");
  // Every partition of the store: 'W' store, then any partition.
  const std::string store_prefix = prefix.substr(0, prefix.size() - 4);
  return db_.ApproximateKeys(store_prefix, state::PrefixSuccessor(store_prefix));
}

Result<std::vector<WindowView::Row>> WindowView::ReadRows(
    std::string_view key, const state::ReadSnapshot& snapshot) const {
  using Kind = config::WindowConfig::Kind;
  const config::WindowConfig& window = spec_.window;
  std::vector<Row> rows;
  Status decode_status;
  // One iterator for every partition: creating one costs about as much as a seek.
  state::WindowScanner scanner(db_, &snapshot);
  for (int32_t partition : owned_.Snapshot()) {
    // The committed stream time, from the same atomic commit as the windows read below; read
    // only for a partition that has windows of the key (usually one of them).
    std::optional<int64_t> stream_time;
    Status progress_status;
    auto committed_stream_time = [&]() -> int64_t {
      if (stream_time) return *stream_time;
      stream_time = INT64_MIN;
      Result<std::optional<std::string>> progress =
          db_.Get(state::EncodeProgressKey(spec_.topology, spec_.topic, partition), &snapshot);
      if (!progress.ok()) {
        progress_status = progress.status();
      } else if (progress->has_value()) {
        if (auto decoded = state::DecodeProgress(**progress)) stream_time = decoded->stream_time_ms;
      }
      return *stream_time;
    };
    const std::string prefix = state::EncodeWindowKeyPrefix(spec_.store, partition, key);
    EDDY_RETURN_IF_ERROR(
        scanner.Scan(prefix, INT64_MIN, [&](std::string_view encoded_key, std::string_view value) {
          const int64_t stream_time_ms = committed_stream_time();
          if (!progress_status.ok()) return false;
          std::optional<state::DecodedWindowKey> decoded_key = state::DecodeWindowKey(encoded_key);
          Row row{partition, decoded_key ? decoded_key->window_start_ms : 0, 0, false, {}};
          std::optional<AggregateValues> values;
          if (window.kind == Kind::kSession) {
            if (auto session = state::DecodeSessionValue(value)) {
              row.end_ms = session->end_ms;
              values = aggregates_.Decode(session->aggregate_state);
            }
          } else {
            values = aggregates_.Decode(value);
          }
          if (!decoded_key || !values) {
            decode_status = Status::Internal("corrupt window state in store " + spec_.store);
            return false;
          }
          row.values = std::move(*values);
          switch (window.kind) {
            case Kind::kTumbling:
            case Kind::kHopping:
              if (stream_time_ms != INT64_MIN &&
                  WindowExpired(row.start_ms, window.retention.count(), stream_time_ms)) {
                return true;
              }
              row.closed = WindowClosed({row.start_ms, row.start_ms + window.size.count()},
                                        window.grace.count(), stream_time_ms);
              break;
            case Kind::kSession:
              if (SessionExpired(row.end_ms, window.retention.count(), stream_time_ms)) {
                return true;
              }
              row.closed = SessionClosed(row.end_ms, window.gap.count(), window.grace.count(),
                                         stream_time_ms);
              break;
            case Kind::kNone:
              break;
          }
          rows.push_back(std::move(row));
          return true;
        }));
    EDDY_RETURN_IF_ERROR(progress_status);
    EDDY_RETURN_IF_ERROR(decode_status);
  }
  return rows;
}

Result<KeyAnswer> WindowView::WriteKey(std::string_view key, const WindowFilter& filter,
                                       const state::ReadSnapshot& snapshot,
                                       JsonWriter& json) const {
  using Kind = config::WindowConfig::Kind;
  Result<std::vector<Row>> rows = ReadRows(key, snapshot);
  if (!rows.ok()) return rows.status();

  json.Key("key").String(key);
  if (spec_.window.kind == Kind::kNone) {
    // One row per partition holding a share; merged in partition order.
    json.Key("aggregates");
    if (rows->empty()) {
      json.Null();
      return KeyAnswer{};
    }
    AggregateValues merged = std::move(rows->front().values);
    for (size_t i = 1; i < rows->size(); ++i) aggregates_.Merge((*rows)[i].values, merged);
    json.Raw(aggregates_.ToJson(merged));
    return KeyAnswer{true, true};
  }

  struct MergedWindow {
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    AggregateValues values;
    bool closed = true;  // closed in every partition holding a share
  };
  std::vector<MergedWindow> windows;  // by start
  if (spec_.window.kind == Kind::kSession) {
    // Join every chain of sessions less than gap apart (across partitions; within one they
    // already are), then merge each chain's members in partition order, so that ties in
    // first / last / latest go by partition as for time windows.
    std::vector<size_t> order(rows->size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::pair((*rows)[a].start_ms, (*rows)[a].partition) <
             std::pair((*rows)[b].start_ms, (*rows)[b].partition);
    });
    const int64_t gap_ms = spec_.window.gap.count();
    for (size_t begin = 0; begin < order.size();) {
      size_t end = begin + 1;
      int64_t chain_end = (*rows)[order[begin]].end_ms;
      while (end < order.size() && (*rows)[order[end]].start_ms <= chain_end + gap_ms) {
        chain_end = std::max(chain_end, (*rows)[order[end]].end_ms);
        ++end;
      }
      std::vector<size_t> chain(order.begin() + static_cast<long>(begin),
                                order.begin() + static_cast<long>(end));
      std::sort(chain.begin(), chain.end());  // rows are in partition, then start, order
      MergedWindow merged{(*rows)[order[begin]].start_ms, chain_end,
                          std::move((*rows)[chain.front()].values), true};
      for (size_t i : chain) {
        if (i != chain.front()) aggregates_.Merge((*rows)[i].values, merged.values);
        merged.closed = merged.closed && (*rows)[i].closed;
      }
      windows.push_back(std::move(merged));
      begin = end;
    }
  } else {
    std::map<int64_t, MergedWindow> by_start;  // merged across partitions
    const int64_t size_ms = spec_.window.size.count();
    for (Row& row : *rows) {
      auto it = by_start.find(row.start_ms);
      if (it == by_start.end()) {
        by_start.emplace(row.start_ms, MergedWindow{row.start_ms, row.start_ms + size_ms,
                                                    std::move(row.values), row.closed});
      } else {
        aggregates_.Merge(row.values, it->second.values);
        it->second.closed = it->second.closed && row.closed;
      }
    }
    for (auto& [start, window] : by_start) windows.push_back(std::move(window));
  }

  // A window [start, end) overlaps [from, to) when end > from; a session's end is its last
  // event, inclusive, so a session overlaps when end >= from.
  const bool end_inclusive = spec_.window.kind == Kind::kSession;
  json.Key("windows").BeginArray();
  KeyAnswer answer;
  for (const MergedWindow& window : windows) {
    if (spec_.emit == config::EmitMode::kFinal && !window.closed) continue;
    answer.exists = true;
    if (filter.from_ms &&
        (end_inclusive ? window.end_ms < *filter.from_ms : window.end_ms <= *filter.from_ms)) {
      continue;
    }
    if (filter.to_ms && window.start_ms >= *filter.to_ms) continue;
    answer.listed = true;
    json.BeginObject()
        .Key("start")
        .String(codec::FormatRfc3339Millis(window.start_ms))
        .Key("end")
        .String(codec::FormatRfc3339Millis(window.end_ms))
        .Key("start_ms")
        .Int(window.start_ms)
        .Key("end_ms")
        .Int(window.end_ms)
        .Key("closed")
        .Bool(window.closed)
        .Key("aggregates")
        .Raw(aggregates_.ToJson(window.values))
        .EndObject();
  }
  json.EndArray();
  return answer;
}

TableView::TableView(std::string name, std::string topology, std::string step, std::string store,
                     const state::StateDb& db)
    : View(db, std::move(store)),
      name_(std::move(name)),
      topology_(std::move(topology)),
      step_(std::move(step)) {}

std::vector<int32_t> TableView::ServedPartitions() const {
  return {TableStep::kTablePartition};
}

uint64_t TableView::ApproximateRows() const {
  const std::string prefix =
      state::EncodeUserKeyRangePrefix(store_, TableStep::kTablePartition, "");
  return db_.ApproximateKeys(prefix, state::PrefixSuccessor(prefix));
}

Result<KeyAnswer> TableView::WriteKey(std::string_view key, const WindowFilter&,
                                      const state::ReadSnapshot& snapshot, JsonWriter& json) const {
  Result<std::optional<std::string>> row =
      db_.Get(state::EncodeWindowKey({store_, TableStep::kTablePartition, key, 0}), &snapshot);
  if (!row.ok()) return row.status();
  const std::optional<std::string>& value = *row;
  json.Key("key").String(key).Key("value");
  if (!value) {
    json.Null();
    return KeyAnswer{};
  }
  json.Raw(*value);
  return KeyAnswer{true, true};
}

}  // namespace eddy::engine
