#include "engine/table.h"

#include "state/key_encoding.h"

namespace eddy::engine {

TableStep::TableStep(std::string store, const config::StepConfig& step, state::StateDb& db)
    : name_(step.name),
      store_(std::move(store)),
      delete_when_(step.table_delete_when.parsed),
      row_cache_limit_bytes_(static_cast<size_t>(step.table_cache_mib) << 20),
      db_(db) {}

Status TableStep::Prepare(const Event& event, const PartitionContext&) {
  pending_delete_ = false;
  if (delete_when_ != nullptr) {
    Result<bool> remove = delete_when_->EvaluatePredicate(event.value);
    if (!remove.ok()) return remove.status();
    pending_delete_ = *remove;
  }
  return Status::Ok();
}

Status TableStep::Apply(const Event& event) {
  auto& row = pending_writes_[std::string(event.key)];
  if (pending_delete_) {
    row.reset();
  } else {
    row = std::string(event.value_json);
  }
  return Status::Ok();
}

void TableStep::ApplyTombstone(std::string_view key) {
  pending_writes_[std::string(key)].reset();
}

Result<std::optional<std::string>> TableStep::Lookup(std::string_view key) const {
  if (auto pending = pending_writes_.find(key); pending != pending_writes_.end()) {
    return pending->second;
  }
  if (auto cached = row_cache_.find(key); cached != row_cache_.end()) return cached->second;
  Result<std::optional<std::string>> stored =
      db_.Get(state::EncodeWindowKey({store_, kTablePartition, key, 0}));
  if (stored.ok()) CacheRow(key, *stored);
  return stored;
}

namespace {

// What one cached row costs beyond its key and value bytes: the hash node, two std::string
// and one std::optional headers, and a bucket pointer (measured: libstdc++ on x86-64).
constexpr size_t kRowOverheadBytes = 112;

size_t RowBytes(std::string_view key, const std::optional<std::string>& row) {
  return kRowOverheadBytes + key.size() + (row ? row->size() : 0);
}

}  // namespace

void TableStep::CacheRow(std::string_view key, const std::optional<std::string>& row) const {
  if (!row_cache_enabled_) return;
  auto it = row_cache_.find(key);
  if (it != row_cache_.end()) {
    row_cache_bytes_ -= RowBytes(it->first, it->second);
    it->second = row;
  } else {
    if (row_cache_bytes_ + RowBytes(key, row) > row_cache_limit_bytes_) {
      ClearRowCache();
      if (RowBytes(key, row) > row_cache_limit_bytes_) return;  // cache_mib: 0
    }
    it = row_cache_.emplace(std::string(key), row).first;
  }
  row_cache_bytes_ += RowBytes(it->first, it->second);
}

void TableStep::ClearRowCache() const {
  row_cache_.clear();
  row_cache_bytes_ = 0;
}

Status TableStep::FlushTo(state::WriteBatch& batch, const FlushContext&) {
  for (const auto& [where, value] : pending_writes_) {
    const std::string key = state::EncodeWindowKey({store_, kTablePartition, where, 0});
    if (value) {
      batch.Put(key, *value);
    } else {
      batch.Delete(key);
    }
    // The batch commits before the next record is processed, or processing stops.
    CacheRow(where, value);
  }
  pending_writes_.clear();
  return Status::Ok();
}

// Rows are not per partition (see table.h). A partition that moves may come back after
// another worker changed its keys' rows: the row cache starts over at every move.
Status TableStep::RestorePartition(int32_t, int64_t) {
  ClearRowCache();
  return Status::Ok();
}

// Pending rows are flushed before a partition is revoked; cached rows are forgotten (see
// RestorePartition).
void TableStep::DropPartition(int32_t) {
  ClearRowCache();
}

}  // namespace eddy::engine
