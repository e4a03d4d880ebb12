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
  auto& row = pending_writes_[{event.partition, std::string(event.key)}];
  if (pending_delete_) {
    row.reset();
  } else {
    row = std::string(event.value_json);
  }
  return Status::Ok();
}

void TableStep::ApplyTombstone(int32_t partition, std::string_view key) {
  pending_writes_[{partition, std::string(key)}].reset();
}

Status TableStep::FlushTo(state::WriteBatch& batch, const FlushContext&) {
  for (const auto& [where, value] : pending_writes_) {
    const std::string key = state::EncodeWindowKey({store_, where.first, where.second, 0});
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

void TableStep::DropPartition(int32_t partition) {
  std::erase_if(pending_writes_, [&](const auto& row) { return row.first.first == partition; });
}

}  // namespace eddy::engine
