#include "engine/view.h"

#include <map>

#include "codec/json_record.h"
#include "common/json_writer.h"
#include "engine/table.h"
#include "engine/window.h"
#include "state/key_encoding.h"

namespace eddy::engine {

void OwnedPartitions::Add(int32_t partition) {
  std::lock_guard lock(mutex_);
  partitions_.insert(partition);
}

void OwnedPartitions::Remove(int32_t partition) {
  std::lock_guard lock(mutex_);
  partitions_.erase(partition);
}

std::vector<int32_t> OwnedPartitions::Snapshot() const {
  std::lock_guard lock(mutex_);
  return {partitions_.begin(), partitions_.end()};
}

WindowView::WindowView(ViewSpec spec, const AggregateSet& aggregates, const state::StateDb& db,
                       const OwnedPartitions& owned)
    : spec_(std::move(spec)), aggregates_(aggregates), db_(db), owned_(owned) {}

Result<std::string> WindowView::QueryKeyJson(std::string_view key) const {
  struct MergedWindow {
    AggregateValues values;
    bool closed = true;  // closed in every partition holding a share
  };
  std::map<int64_t, MergedWindow> windows;  // by start, merged across partitions
  const int64_t size_ms = spec_.window.size.count();
  const int64_t grace_ms = spec_.window.grace.count();
  const int64_t retention_ms = spec_.window.retention.count();
  Status decode_status;
  for (int32_t partition : owned_.Snapshot()) {
    // The committed stream time, from the same atomic commit as the windows read below.
    int64_t stream_time_ms = INT64_MIN;
    Result<std::optional<std::string>> progress =
        db_.Get(state::EncodeProgressKey(spec_.topology, spec_.topic, partition));
    if (!progress.ok()) return progress.status();
    if (progress->has_value()) {
      if (auto decoded = state::DecodeProgress(**progress))
        stream_time_ms = decoded->stream_time_ms;
    }
    const std::string prefix = state::EncodeWindowKeyPrefix(spec_.store, partition, key);
    EDDY_RETURN_IF_ERROR(
        db_.ScanPrefix(prefix, [&](std::string_view encoded_key, std::string_view value) {
          std::optional<state::DecodedWindowKey> decoded_key = state::DecodeWindowKey(encoded_key);
          std::optional<AggregateValues> values = aggregates_.Decode(value);
          if (!decoded_key || !values) {
            decode_status = Status::Internal("corrupt window state in store " + spec_.store);
            return false;
          }
          const int64_t start = decoded_key->window_start_ms;
          if (stream_time_ms != INT64_MIN && WindowExpired(start, retention_ms, stream_time_ms)) {
            return true;
          }
          const bool closed = WindowClosed({start, start + size_ms}, grace_ms, stream_time_ms);
          auto it = windows.find(start);
          if (it == windows.end()) {
            windows.emplace(start, MergedWindow{std::move(*values), closed});
          } else {
            aggregates_.Merge(*values, it->second.values);
            it->second.closed = it->second.closed && closed;
          }
          return true;
        }));
    EDDY_RETURN_IF_ERROR(decode_status);
  }

  JsonWriter json;
  json.BeginObject()
      .Key("view")
      .String(spec_.name)
      .Key("key")
      .String(key)
      .Key("windows")
      .BeginArray();
  for (const auto& [start_ms, window] : windows) {
    if (spec_.emit == config::EmitMode::kFinal && !window.closed) continue;
    const int64_t end_ms = start_ms + size_ms;
    json.BeginObject()
        .Key("start")
        .String(codec::FormatRfc3339Millis(start_ms))
        .Key("end")
        .String(codec::FormatRfc3339Millis(end_ms))
        .Key("start_ms")
        .Int(start_ms)
        .Key("end_ms")
        .Int(end_ms)
        .Key("closed")
        .Bool(window.closed)
        .Key("aggregates")
        .Raw(aggregates_.ToJson(window.values))
        .EndObject();
  }
  json.EndArray().EndObject();
  return std::move(json).Take();
}

TableView::TableView(std::string name, std::string topology, std::string step, std::string store,
                     const state::StateDb& db)
    : name_(std::move(name)),
      topology_(std::move(topology)),
      step_(std::move(step)),
      store_(std::move(store)),
      db_(db) {}

Result<std::string> TableView::QueryKeyJson(std::string_view key) const {
  Result<std::optional<std::string>> row =
      db_.Get(state::EncodeWindowKey({store_, TableStep::kTablePartition, key, 0}));
  if (!row.ok()) return row.status();
  const std::optional<std::string>& value = *row;
  JsonWriter json;
  json.BeginObject().Key("view").String(name_).Key("key").String(key).Key("value");
  if (value) {
    json.Raw(*value);
  } else {
    json.Null();
  }
  json.EndObject();
  return std::move(json).Take();
}

}  // namespace eddy::engine
