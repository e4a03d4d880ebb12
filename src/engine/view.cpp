#include "engine/view.h"

#include <map>

#include "codec/json_record.h"
#include "common/json_writer.h"
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

View::View(std::string name, std::string topology, std::string step, std::string store,
           int64_t window_size_ms, const AggregateSet& aggregates, const state::StateDb& db,
           const OwnedPartitions& owned)
    : name_(std::move(name)),
      topology_(std::move(topology)),
      step_(std::move(step)),
      store_(std::move(store)),
      window_size_ms_(window_size_ms),
      aggregates_(aggregates),
      db_(db),
      owned_(owned) {}

Result<std::string> View::QueryKeyJson(std::string_view key) const {
  std::map<int64_t, AggregateValues> windows;  // by start, merged across partitions
  Status decode_status;
  for (int32_t partition : owned_.Snapshot()) {
    const std::string prefix = state::EncodeWindowKeyPrefix(store_, partition, key);
    EDDY_RETURN_IF_ERROR(db_.ScanPrefix(prefix, [&](std::string_view encoded_key,
                                                    std::string_view value) {
      std::optional<state::DecodedWindowKey> decoded_key = state::DecodeWindowKey(encoded_key);
      std::optional<AggregateValues> values = aggregates_.Decode(value);
      if (!decoded_key || !values) {
        decode_status = Status::Internal("corrupt window state in store " + store_);
        return false;
      }
      auto [it, inserted] = windows.try_emplace(decoded_key->window_start_ms, std::move(*values));
      if (!inserted) aggregates_.Merge(*values, it->second);
      return true;
    }));
    EDDY_RETURN_IF_ERROR(decode_status);
  }

  JsonWriter json;
  json.BeginObject().Key("view").String(name_).Key("key").String(key).Key("windows").BeginArray();
  for (const auto& [start_ms, values] : windows) {
    const int64_t end_ms = start_ms + window_size_ms_;
    json.BeginObject()
        .Key("start")
        .String(codec::FormatRfc3339Millis(start_ms))
        .Key("end")
        .String(codec::FormatRfc3339Millis(end_ms))
        .Key("start_ms")
        .Int(start_ms)
        .Key("end_ms")
        .Int(end_ms)
        .Key("aggregates")
        .Raw(aggregates_.ToJson(values))
        .EndObject();
  }
  json.EndArray().EndObject();
  return std::move(json).Take();
}

}  // namespace eddy::engine
