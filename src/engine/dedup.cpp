#include "engine/dedup.h"

#include <algorithm>

#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

// Clean cached ids are dropped once the cache holds more than this many; the next lookup
// reads RocksDB.
constexpr size_t kMaxCachedIds = 500'000;

}  // namespace

Dedup::Dedup(std::string store, const config::StepConfig& step, state::StateDb& db,
             prometheus::Counter& duplicates)
    : name_(step.name),
      store_(std::move(store)),
      config_(step.dedup),
      db_(db),
      duplicates_(duplicates),
      scanner_(db) {}

std::string Dedup::DefinitionFingerprint() const {
  switch (config_.id_source) {
    case config::DedupConfig::IdSource::kField:
      return "dedup(field=" + config_.field_path_text + ")";
    case config::DedupConfig::IdSource::kKafkaKey:
      return "dedup(kafka_key)";
    case config::DedupConfig::IdSource::kHeader:
      return "dedup(header=" + config_.header + ")";
  }
  return "dedup";
}

Result<std::string> Dedup::ReadId(const Event& event) const {
  switch (config_.id_source) {
    case config::DedupConfig::IdSource::kField:
      return event.value.KeyString(config_.field_path);
    case config::DedupConfig::IdSource::kKafkaKey:
      if (event.record == nullptr || !event.record->key) {
        return Status::InvalidArgument("dedup: the record has no Kafka key");
      }
      return std::string(*event.record->key);
    case config::DedupConfig::IdSource::kHeader:
      if (event.record != nullptr) {
        // The last header of that name wins, as in Kafka's Headers.lastHeader.
        for (auto it = event.record->headers.rbegin(); it != event.record->headers.rend(); ++it) {
          if (it->name == config_.header) return std::string(it->value);
        }
      }
      return Status::InvalidArgument("dedup: the record has no header '" + config_.header + "'");
  }
  return Status::Internal("unknown dedup id source");
}

Status Dedup::Prepare(const Event& event, const PartitionContext& partition) {
  Result<std::string> id = ReadId(event);
  if (!id.ok()) return id.status();
  pending_.id = std::move(*id);
  pending_.duplicate = false;

  PartitionIds& ids = seen_[event.partition];
  auto it = ids.find(pending_.id);
  std::optional<int64_t> first_seen;
  if (it != ids.end()) {
    first_seen = it->second.first_seen_ms;
  } else {
    // The newest stored registration of this id (older ones await compaction).
    Status decode_status;
    EDDY_RETURN_IF_ERROR(scanner_.Scan(
        state::EncodeWindowKeyPrefix(store_, event.partition, pending_.id), INT64_MIN,
        [&](std::string_view key, std::string_view) {
          std::optional<state::DecodedWindowKey> decoded = state::DecodeWindowKey(key);
          if (!decoded) {
            decode_status = Status::Internal("corrupt dedup key in store " + store_);
            return false;
          }
          first_seen = decoded->window_start_ms;  // keys ascend by time: the last one wins
          return true;
        }));
    EDDY_RETURN_IF_ERROR(decode_status);
    if (first_seen) {
      ids.emplace(pending_.id, SeenId{*first_seen, false});
      ++cached_ids_;
    }
  }
  const int64_t ttl_ms = config_.ttl.count();
  pending_.duplicate = first_seen && *first_seen > partition.stream_time_ms - ttl_ms;
  return Status::Ok();
}

Status Dedup::Apply(const Event& event) {
  if (pending_.duplicate) {
    duplicates_.Increment();
    return Status::Ok();
  }
  PartitionIds& ids = seen_[event.partition];
  auto [it, inserted] = ids.try_emplace(pending_.id);
  if (inserted) ++cached_ids_;
  if (!it->second.dirty) dirty_.emplace_back(event.partition, &*it);
  it->second = SeenId{event.event_time_ms, true};
  return Status::Ok();
}

Status Dedup::FlushTo(state::WriteBatch& batch, const FlushContext&) {
  scanner_.Release();  // the next lookup must see this commit
  // In key order: RocksDB's memtable then inserts each key next to the previous one.
  flush_keys_.clear();
  for (auto& [partition, entry] : dirty_) {
    flush_keys_.push_back(
        state::EncodeWindowKey({store_, partition, entry->first, entry->second.first_seen_ms}));
    entry->second.dirty = false;
  }
  dirty_.clear();
  std::sort(flush_keys_.begin(), flush_keys_.end());
  for (const std::string& key : flush_keys_) batch.Put(key, "");
  if (cached_ids_ > kMaxCachedIds) {
    seen_.clear();  // everything is clean now
    cached_ids_ = 0;
  }
  return Status::Ok();
}

Status Dedup::RestorePartition(int32_t, int64_t) {
  // The partition may have been committed by another worker or instance since.
  scanner_.Release();
  return Status::Ok();
}

void Dedup::DropPartition(int32_t partition) {
  auto it = seen_.find(partition);
  if (it == seen_.end()) return;
  cached_ids_ -= it->second.size();
  std::erase_if(dirty_, [&](const auto& dirty) { return dirty.first == partition; });
  seen_.erase(it);
}

}  // namespace eddy::engine
