#include "engine/fixture_source.h"

#include <algorithm>
#include <thread>

namespace eddy::engine {

int64_t FixtureSource::Append(FixtureRecord record) {
  Log& log = logs_[{std::move(record.topic), record.partition}];
  log.push_back({std::move(record.key), std::move(record.value), record.tombstone,
                 record.timestamp_ms, std::move(record.headers)});
  return static_cast<int64_t>(log.size()) - 1;
}

int64_t FixtureSource::Append(std::string topic, int32_t partition, std::optional<std::string> key,
                              std::string value, int64_t timestamp_ms) {
  FixtureRecord record;
  record.topic = std::move(topic);
  record.partition = partition;
  record.key = std::move(key);
  record.value = std::move(value);
  record.timestamp_ms = timestamp_ms;
  return Append(std::move(record));
}

void FixtureSource::DeclarePartitions(const std::string& topic, int32_t count) {
  for (int32_t partition = 0; partition < count; ++partition) logs_[{topic, partition}];
  declared_partitions_[topic] = std::max(declared_partitions_[topic], count);
}

Status FixtureSource::Subscribe(const std::vector<std::string>& topics, SourceListener* listener) {
  if (subscribed_) return Status::InvalidArgument("fixture source: already subscribed");
  if (listener == nullptr) return Status::InvalidArgument("fixture source: no listener");
  if (topics.empty()) return Status::InvalidArgument("fixture source: no topics to subscribe to");
  subscribed_topics_ = {topics.begin(), topics.end()};
  listener_ = listener;
  subscribed_ = true;
  assignment_pending_ = true;
  return Status::Ok();
}

Status FixtureSource::Assign() {
  std::vector<PartitionStart> starts;
  for (const auto& [partition, log] : logs_) {
    if (subscribed_topics_.count(partition.topic) > 0) starts.push_back({partition, std::nullopt});
  }
  ++assignments_;
  EDDY_RETURN_IF_ERROR(listener_->OnPartitionsAssigned(starts));
  for (const PartitionStart& start : starts) {
    const int64_t offset = ignore_resume_offsets_ ? 0 : start.offset.value_or(0);
    if (offset < 0) {
      return Status::Internal("fixture source: listener returned offset " + std::to_string(offset) +
                              " for " + start.partition.topic + "/" +
                              std::to_string(start.partition.partition));
    }
    positions_[start.partition] = offset;
  }
  return Status::Ok();
}

Status FixtureSource::RevokeAll() {
  if (positions_.empty()) return Status::Ok();
  std::vector<TopicPartition> revoked;
  for (const auto& [partition, position] : positions_) revoked.push_back(partition);
  ++revocations_;
  // The listener commits while the partitions are still ours; only then are they gone.
  Status status = listener_->OnPartitionsRevoked(revoked);
  positions_.clear();
  paused_.clear();
  has_last_served_ = false;
  return status;
}

Status FixtureSource::Poll(std::chrono::milliseconds timeout, size_t max_records,
                           std::vector<Record>& out) {
  out.clear();
  if (!subscribed_) return Status::Internal("fixture source: Poll before Subscribe");
  if (closed_) return Status::Internal("fixture source: Poll after Close");
  if (!poll_failure_.ok()) return std::exchange(poll_failure_, Status::Ok());
  if (rebalance_requested_) {
    rebalance_requested_ = false;
    EDDY_RETURN_IF_ERROR(RevokeAll());
    assignment_pending_ = true;
  }
  if (assignment_pending_) {
    assignment_pending_ = false;
    EDDY_RETURN_IF_ERROR(Assign());
  }

  // Round-robin over the assigned partitions, starting after the one served last.
  std::vector<std::map<TopicPartition, int64_t>::iterator> order;
  order.reserve(positions_.size());
  auto start = has_last_served_ ? positions_.upper_bound(last_served_) : positions_.begin();
  for (auto it = start; it != positions_.end(); ++it) order.push_back(it);
  for (auto it = positions_.begin(); it != start; ++it) order.push_back(it);

  bool progressed = true;
  while (out.size() < max_records && progressed) {
    progressed = false;
    for (auto it : order) {
      if (out.size() >= max_records) break;
      if (paused_.count(it->first) > 0) continue;
      const Log& log = logs_.at(it->first);
      int64_t& position = it->second;
      if (position >= static_cast<int64_t>(log.size())) continue;
      const StoredRecord& stored = log[static_cast<size_t>(position)];
      Record& record = out.emplace_back();
      record.topic = it->first.topic;
      record.partition = it->first.partition;
      record.offset = position;
      if (stored.key) record.key = std::string_view(*stored.key);
      record.value = stored.value;
      record.tombstone = stored.tombstone;
      record.timestamp_ms = stored.timestamp_ms;
      for (const auto& [name, value] : stored.headers) record.headers.push_back({name, value});
      ++position;
      last_served_ = it->first;
      has_last_served_ = true;
      progressed = true;
    }
  }

  if (out.empty()) {
    if (idle_handler_) {
      idle_handler_();
      if (!poll_failure_.ok()) return std::exchange(poll_failure_, Status::Ok());
    } else {
      std::this_thread::sleep_for(timeout);
    }
  }
  return Status::Ok();
}

void FixtureSource::CommitAsync(const std::vector<PartitionOffset>& offsets) {
  ++commit_calls_;
  for (const PartitionOffset& offset : offsets) committed_[offset.partition] = offset.next_offset;
}

std::vector<PartitionLag> FixtureSource::Lag() {
  std::vector<PartitionLag> lags;
  for (const auto& [partition, position] : positions_) {
    lags.push_back(
        {partition, std::max<int64_t>(0, end_offset(partition) - position), end_offset(partition)});
  }
  return lags;
}

Status FixtureSource::Close() {
  if (closed_) return Status::Ok();
  closed_ = true;
  if (!subscribed_) return Status::Ok();
  return RevokeAll();
}

Status FixtureSource::PauseAt(const TopicPartition& partition, int64_t offset) {
  auto it = positions_.find(partition);
  if (it == positions_.end()) {
    return Status::Internal("fixture source: pause of unassigned " + partition.topic + "/" +
                            std::to_string(partition.partition));
  }
  it->second = offset;
  paused_.insert(partition);
  return Status::Ok();
}

Status FixtureSource::Resume(const TopicPartition& partition) {
  paused_.erase(partition);
  return Status::Ok();
}

Result<int64_t> FixtureSource::EndOffset(const TopicPartition& partition,
                                         std::chrono::milliseconds) {
  return end_offset(partition);
}

std::optional<int64_t> FixtureSource::Position(const TopicPartition& partition) {
  return position(partition);
}

Result<int32_t> FixtureSource::PartitionCount(const std::string& topic, std::chrono::milliseconds) {
  // Appending to a partition does not say how many the topic has; declaring does.
  auto declared = declared_partitions_.find(topic);
  if (declared == declared_partitions_.end()) {
    return Status::Unavailable("fixture topic " + topic + ": partition count not declared");
  }
  return declared->second;
}

std::vector<TopicPartition> FixtureSource::assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [partition, position] : positions_) out.push_back(partition);
  return out;
}

std::optional<int64_t> FixtureSource::position(const TopicPartition& partition) const {
  auto it = positions_.find(partition);
  if (it == positions_.end()) return std::nullopt;
  return it->second;
}

int64_t FixtureSource::end_offset(const TopicPartition& partition) const {
  auto it = logs_.find(partition);
  return it == logs_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

}  // namespace eddy::engine
