#include "engine/table.h"

#include "state/key_encoding.h"

namespace eddy::engine {

TableStep::TableStep(std::string store, const config::StepConfig& step, state::StateDb& db)
    : name_(step.name),
      store_(std::move(store)),
      delete_when_(step.table_delete_when.parsed),
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
  return db_.Get(state::EncodeWindowKey({store_, kTablePartition, key, 0}));
}

Status TableStep::FlushTo(state::WriteBatch& batch, const FlushContext&) {
  for (const auto& [where, value] : pending_writes_) {
    const std::string key = state::EncodeWindowKey({store_, kTablePartition, where, 0});
    if (value) {
      batch.Put(key, *value);
    } else {
      batch.Delete(key);
    }
  }
  pending_writes_.clear();
  return Status::Ok();
}

Status TableStep::RestorePartition(int32_t, int64_t) {
  return Status::Ok();
}

// Rows are not per partition (see table.h), and pending rows are flushed before a
// partition is revoked: nothing to forget.
void TableStep::DropPartition(int32_t) {}

}  // namespace eddy::engine
