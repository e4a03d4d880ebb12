#include "engine/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

namespace eddy::engine {

using Clock = std::chrono::steady_clock;

Pipeline::Pipeline(Source& source, state::StateDb& db,
                   std::vector<std::unique_ptr<Topology>>& topologies, metrics::Metrics& metrics,
                   PipelineOptions options, Sink* sink)
    : source_(source),
      db_(db),
      sink_(sink),
      topologies_(topologies),
      metrics_(metrics),
      options_(options),
      processing_latency_(metrics.processing_latency.Add({}, metrics::Metrics::LatencyBuckets())),
      commit_duration_(metrics.state_commit_duration.Add({}, metrics::Metrics::LatencyBuckets())),
      commits_(metrics.state_commits.Add({})),
      assigned_gauge_(metrics.assigned_partitions.Add({})) {}

Status Pipeline::OnPartitionsAssigned(std::vector<PartitionStart>& partitions) {
  for (PartitionStart& start : partitions) {
    // The consumer resumes at the smallest offset any topology still needs; topologies that
    // are further ahead skip what they already hold (Topology::Process). If one topology has
    // no state yet, the group's committed offset decides.
    std::optional<int64_t> resume;
    bool all_have_state = true;
    for (auto& topology : topologies_) {
      if (topology->topic() != start.partition.topic) continue;
      Result<std::optional<int64_t>> stored = topology->OnAssigned(start.partition.partition);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) {
        all_have_state = false;
      } else {
        resume = resume ? std::min(*resume, **stored) : **stored;
      }
    }
    start.offset = all_have_state ? resume : std::nullopt;
    spdlog::info(
        "assigned {}/{}: resuming at {}", start.partition.topic, start.partition.partition,
        start.offset ? std::to_string(*start.offset) : std::string("the group's committed offset"));
  }
  assigned_partitions_.fetch_add(static_cast<int>(partitions.size()));
  assigned_gauge_.Set(assigned_partitions_.load());
  assignment_received_.store(true);
  return Status::Ok();
}

Status Pipeline::OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) {
  // Everything derived from these partitions must be in RocksDB before another instance
  // may start on them.
  EDDY_RETURN_IF_ERROR(Commit());
  for (const TopicPartition& partition : partitions) {
    for (auto& topology : topologies_) {
      if (topology->topic() == partition.topic) topology->OnRevoked(partition.partition);
    }
    metrics_.consumer_lag.Remove(&metrics_.consumer_lag.Add(
        {{"topic", partition.topic}, {"partition", std::to_string(partition.partition)}}));
    std::erase(lag_labels_, partition);
    spdlog::info("revoked {}/{}", partition.topic, partition.partition);
  }
  assigned_partitions_.fetch_sub(static_cast<int>(partitions.size()));
  assigned_gauge_.Set(assigned_partitions_.load());
  return Status::Ok();
}

Status Pipeline::Commit() {
  if (failed_) return Status::Internal("not committing after a processing failure");
  if (uncommitted_records_ == 0 && uncommitted_.empty() && !idle_advance_pending_) {
    return Status::Ok();
  }
  idle_advance_pending_ = false;
  const auto started = Clock::now();
  state::WriteBatch batch;
  std::vector<PartitionOffset> progressed;
  for (auto& topology : topologies_) EDDY_RETURN_IF_ERROR(topology->FlushTo(batch, progressed));
  // Outputs first, then the state and offsets that produced them: a crash in between
  // replays the inputs (outputs repeated), never the reverse (outputs lost).
  if (sink_ != nullptr) EDDY_RETURN_IF_ERROR(sink_->Flush(options_.sink_flush_timeout));
  if (batch.Count() > 0) EDDY_RETURN_IF_ERROR(db_.Write(batch));
  for (auto& topology : topologies_) topology->OnCommitted();
  const auto committed = Clock::now();
  commits_.Increment();
  commit_duration_.Observe(std::chrono::duration<double>(committed - started).count());

  // Per-record latency, observed as one bulk update per commit.
  const auto& bounds = metrics::Metrics::LatencyBuckets();
  std::vector<double> bucket_increments(bounds.size() + 1, 0.0);
  double latency_sum = 0;
  for (const PendingBatch& pending : uncommitted_) {
    const double seconds = std::chrono::duration<double>(committed - pending.consumed_at).count();
    const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
    bucket_increments[static_cast<size_t>(bucket)] += static_cast<double>(pending.records);
    latency_sum += seconds * static_cast<double>(pending.records);
  }
  processing_latency_.ObserveMultiple(bucket_increments, latency_sum);
  uncommitted_.clear();
  uncommitted_records_ = 0;

  // Kafka's committed offset for a partition is the minimum over the topologies reading it.
  std::map<TopicPartition, int64_t> lowest;
  for (const PartitionOffset& offset : progressed) {
    auto [it, inserted] = lowest.try_emplace(offset.partition, offset.next_offset);
    if (!inserted) it->second = std::min(it->second, offset.next_offset);
  }
  if (!lowest.empty()) {
    std::vector<PartitionOffset> offsets;
    for (const auto& [partition, next] : lowest) offsets.push_back({partition, next});
    source_.CommitAsync(offsets);
  }
  return Status::Ok();
}

void Pipeline::RefreshLag() {
  for (const PartitionLag& lag : source_.Lag()) {
    metrics_.consumer_lag
        .Add({{"topic", lag.partition.topic},
              {"partition", std::to_string(lag.partition.partition)}})
        .Set(static_cast<double>(lag.lag));
    if (std::find(lag_labels_.begin(), lag_labels_.end(), lag.partition) == lag_labels_.end()) {
      lag_labels_.push_back(lag.partition);
    }
  }
}

Status Pipeline::Run() {
  std::set<std::string> topic_set;
  for (auto& topology : topologies_) topic_set.insert(topology->topic());
  const std::vector<std::string> topics(topic_set.begin(), topic_set.end());
  EDDY_RETURN_IF_ERROR(source_.Subscribe(topics, this));

  struct TopicRoute {
    prometheus::Counter* consumed = nullptr;
    std::vector<Topology*> topologies;
  };
  std::map<std::string, TopicRoute, std::less<>> routes;
  for (auto& topology : topologies_) {
    TopicRoute& route = routes[topology->topic()];
    route.consumed = &metrics_.records_consumed.Add({{"topic", topology->topic()}});
    route.topologies.push_back(topology.get());
  }

  std::vector<Record> records;
  auto last_commit = Clock::now();
  auto last_lag_refresh = Clock::time_point{};
  const auto poll_timeout = std::min(options_.commit_interval, std::chrono::milliseconds(100));
  Status failure;
  while (!stop_requested_.load()) {
    Status polled = source_.Poll(poll_timeout, options_.max_batch_records, records);
    if (!polled.ok()) {
      failure = polled;
      break;
    }
    if (!records.empty()) {
      uncommitted_.push_back({Clock::now(), records.size()});
      uncommitted_records_ += records.size();
    }
    for (const Record& record : records) {
      auto route = routes.find(record.topic);
      if (route == routes.end()) continue;
      route->second.consumed->Increment();
      for (Topology* topology : route->second.topologies) {
        Status processed = topology->Process(record);
        if (!processed.ok()) {
          failure = processed;
          break;
        }
      }
      if (!failure.ok()) break;
    }
    if (!failure.ok()) break;

    const auto now = Clock::now();
    for (auto& topology : topologies_) {
      if (topology->AdvanceIdlePartitions(now)) idle_advance_pending_ = true;
    }
    if (uncommitted_records_ >= options_.max_uncommitted_records ||
        ((uncommitted_records_ > 0 || idle_advance_pending_) &&
         now - last_commit >= options_.commit_interval)) {
      if (Status committed = Commit(); !committed.ok()) {
        failure = committed;
        break;
      }
      last_commit = now;
    }
    if (now - last_lag_refresh >= options_.lag_refresh_interval) {
      RefreshLag();
      last_lag_refresh = now;
    }
  }

  if (!failure.ok()) {
    failed_ = true;
    spdlog::critical("processing stopped: {}", failure.ToString());
    // Do not commit: state may be partially applied for the failing batch. Offsets in
    // RocksDB still describe the last good commit, which is where the next start resumes.
    (void)source_.Close();
    return failure;
  }
  Status committed = Commit();
  Status closed = source_.Close();  // revokes partitions through the listener (commits again)
  EDDY_RETURN_IF_ERROR(committed);
  EDDY_RETURN_IF_ERROR(closed);
  return db_.Flush();
}

}  // namespace eddy::engine
