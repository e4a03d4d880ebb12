#include "engine/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

namespace eddy::engine {

using Clock = std::chrono::steady_clock;

Pipeline::Pipeline(Source& source, state::StateDb& db,
                   std::vector<std::unique_ptr<Topology>>& topologies, metrics::Metrics& metrics,
                   PipelineOptions options, Sink* sink, ExactlyOnceSink* exactly_once)
    : source_(source),
      db_(db),
      sink_(exactly_once != nullptr ? exactly_once : sink),
      exactly_once_(exactly_once),
      topologies_(topologies),
      metrics_(metrics),
      options_(options),
      processing_latency_(metrics.processing_latency.Add({}, metrics::Metrics::LatencyBuckets())),
      commit_duration_(metrics.state_commit_duration.Add({}, metrics::Metrics::LatencyBuckets())),
      commits_(metrics.state_commits.Add({})),
      state_write_errors_(metrics.state_write_errors.Add({})),
      assigned_gauge_(metrics.assigned_partitions.Add({})),
      worker_assigned_gauge_(
          metrics.worker_assigned_partitions.Add({{"worker", std::to_string(options.worker)}})),
      restoring_gauge_(metrics.restoring_partitions.Add({})) {
  worker_assigned_gauge_.Set(0);
}

Status Pipeline::OnPartitionsAssigned(std::vector<PartitionStart>& partitions) {
  for (PartitionStart& start : partitions) {
    // The consumer resumes at the smallest offset any topology still needs; topologies that
    // are further ahead skip what they already hold (Topology::Process). If one topology has
    // no state yet, the group's committed offset decides.
    std::optional<int64_t> resume;
    bool all_have_state = true;
    for (auto& topology : topologies_) {
      if (!ReadsTopic(*topology, start.partition.topic)) continue;
      Result<std::optional<int64_t>> stored =
          topology->OnAssigned(start.partition.topic, start.partition.partition);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) {
        all_have_state = false;
      } else {
        resume = resume ? std::min(*resume, **stored) : **stored;
      }
    }
    start.offset = all_have_state ? resume : std::nullopt;
    if (start.offset) committed_offsets_[start.partition] = *start.offset;
    spdlog::info(
        "assigned {}/{}: resuming at {}", start.partition.topic, start.partition.partition,
        start.offset ? std::to_string(*start.offset) : std::string("the group's committed offset"));
  }
  for (auto& topology : topologies_) EDDY_RETURN_IF_ERROR(topology->FinishAssignment());
  for (const PartitionStart& start : partitions) assigned_.insert(start.partition);
  StartLoadingTables(partitions);
  PublishRestoring();
  assigned_partitions_.fetch_add(static_cast<int>(partitions.size()));
  assigned_gauge_.Increment(static_cast<double>(partitions.size()));
  worker_assigned_gauge_.Set(assigned_partitions_.load());
  RefreshLag();
  assignment_received_.store(true);
  return Status::Ok();
}

Status Pipeline::OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) {
  // Everything derived from these partitions must be in RocksDB, and their offsets in
  // Kafka, before another instance may start on them.
  EDDY_RETURN_IF_ERROR(Commit(/*offsets_to_kafka_now=*/true));
  for (const TopicPartition& partition : partitions) {
    for (auto& topology : topologies_) {
      if (ReadsTopic(*topology, partition.topic))
        topology->OnRevoked(partition.topic, partition.partition);
    }
    loading_.erase(partition);
    paused_.erase(partition);
    buffer_paused_.erase(partition);
    breaker_paused_.erase(partition);
    assigned_.erase(partition);
    committed_offsets_.erase(partition);
    metrics_.consumer_lag.Remove(&metrics_.consumer_lag.Add(
        {{"topic", partition.topic}, {"partition", std::to_string(partition.partition)}}));
    std::erase(lag_labels_, partition);
    spdlog::info("revoked {}/{}", partition.topic, partition.partition);
  }
  assigned_partitions_.fetch_sub(static_cast<int>(partitions.size()));
  assigned_gauge_.Decrement(static_cast<double>(partitions.size()));
  worker_assigned_gauge_.Set(assigned_partitions_.load());
  RefreshLag();
  PublishRestoring();
  return Status::Ok();
}

bool Pipeline::ReadsTopic(const Topology& topology, const std::string& topic) {
  const std::vector<std::string> topics = topology.topics();
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

void Pipeline::StartLoadingTables(const std::vector<PartitionStart>& partitions) {
  std::set<std::string> table_topics;
  for (auto& topology : topologies_) {
    for (const std::string& topic : topology->joined_table_topics()) table_topics.insert(topic);
  }
  if (table_topics.empty()) return;
  for (const PartitionStart& start : partitions) {
    if (table_topics.count(start.partition.topic) == 0) continue;
    Result<int64_t> end = source_.EndOffset(start.partition, options_.table_load_query_timeout);
    if (!end.ok()) {
      // Joining against a table that may be incomplete beats not processing at all.
      spdlog::warn(
          "table topic {}/{}: cannot read its end offset ({}); joining without waiting "
          "for it to load",
          start.partition.topic, start.partition.partition, end.status().message());
      continue;
    }
    if (start.offset && *start.offset >= *end) continue;  // nothing new to load
    if (*end == 0) continue;
    loading_[start.partition] = {*end, start.offset.value_or(-1), Clock::now()};
    spdlog::info("loading table topic {}/{} up to offset {} before joining with it",
                 start.partition.topic, start.partition.partition, *end);
  }
}

void Pipeline::PublishRestoring() {
  const int restoring = static_cast<int>(loading_.size());
  // The gauge is the instance's: every worker moves it by its own change.
  restoring_gauge_.Increment(restoring - restoring_partitions_.exchange(restoring));
}

std::set<std::string> Pipeline::DeferredTopics() const {
  std::set<std::string> deferred;
  for (const auto& topology : topologies_) {
    const std::vector<std::string>& tables = topology->joined_table_topics();
    const bool loading = std::any_of(loading_.begin(), loading_.end(), [&](const auto& entry) {
      return std::find(tables.begin(), tables.end(), entry.first.topic) != tables.end();
    });
    if (!loading) continue;
    for (const std::string& topic : topology->topics()) {
      if (std::find(tables.begin(), tables.end(), topic) == tables.end()) deferred.insert(topic);
    }
  }
  return deferred;
}

Status Pipeline::UpdateTableLoading() {
  const auto now = Clock::now();
  for (auto it = loading_.begin(); it != loading_.end();) {
    TableLoad& load = it->second;
    const int64_t position = source_.Position(it->first).value_or(-1);
    if (position != load.position) {
      load.position = position;
      load.progressed_at = now;
    }
    if (position >= load.end_offset) {
      spdlog::info("table topic {}/{} loaded (offset {})", it->first.topic, it->first.partition,
                   position);
      it = loading_.erase(it);
    } else if (now - load.progressed_at >= options_.table_load_stall_timeout) {
      // E.g. the end offset was a transaction marker, which no record reaches.
      spdlog::warn(
          "table topic {}/{}: no progress for {} ms at offset {} (end offset {}); "
          "considering it loaded",
          it->first.topic, it->first.partition, options_.table_load_stall_timeout.count(), position,
          load.end_offset);
      it = loading_.erase(it);
    } else {
      ++it;
    }
  }
  PublishRestoring();
  const std::set<std::string> deferred = DeferredTopics();
  for (auto it = paused_.begin(); it != paused_.end();) {
    if (deferred.count(it->topic) > 0) {
      ++it;
      continue;
    }
    EDDY_RETURN_IF_ERROR(source_.Resume(*it));
    it = paused_.erase(it);
  }
  return Status::Ok();
}

Status Pipeline::CheckCoPartitioning() {
  for (const auto& topology : topologies_) {
    std::string first_topic;
    int32_t first_count = 0;
    for (const std::string& topic : topology->co_partitioned_topics()) {
      Result<int32_t> count = source_.PartitionCount(topic, options_.table_load_query_timeout);
      if (!count.ok()) {
        // Not created yet (auto-creation) or the broker is away: nothing to compare now.
        spdlog::warn(
            "topology {}: cannot check that {} is co-partitioned with the other "
            "joined topics: {}",
            topology->name(), topic, count.status().message());
        continue;
      }
      if (first_topic.empty()) {
        first_topic = topic;
        first_count = *count;
      } else if (*count != first_count) {
        return Status::InvalidArgument(
            "topology " + topology->name() + " joins by partition number, so its topics must " +
            "be co-partitioned, but " + first_topic + " has " + std::to_string(first_count) +
            " partitions and " + topic + " has " + std::to_string(*count) +
            " (repartition one of them: same partition count, keyed by the join key)");
      }
    }
  }
  return Status::Ok();
}

Status Pipeline::ProcessBuffered() {
  const bool any = std::any_of(topologies_.begin(), topologies_.end(),
                               [](const auto& topology) { return topology->has_buffered(); });
  if (!any && buffer_paused_.empty()) return Status::Ok();
  // Partitions the source has returned everything of that it knows; a paused partition has
  // more to give, and so has one whose lag is not known yet.
  std::set<TopicPartition> caught_up_partitions;
  for (const PartitionLag& lag : source_.Lag()) {
    if (lag.lag == 0 && buffer_paused_.count(lag.partition) == 0) {
      caught_up_partitions.insert(lag.partition);
    }
  }
  auto caught_up = [&](const TopicPartition& partition) {
    return caught_up_partitions.count(partition) > 0;
  };
  const auto now = Clock::now();
  for (auto& topology : topologies_) {
    EDDY_RETURN_IF_ERROR(topology->ProcessBuffered(caught_up, now));
  }
  for (auto it = buffer_paused_.begin(); it != buffer_paused_.end();) {
    size_t buffered = 0;
    for (auto& topology : topologies_) buffered = std::max(buffered, topology->buffered(*it));
    if (buffered * 2 > options_.max_buffered_per_partition) {
      ++it;
      continue;
    }
    EDDY_RETURN_IF_ERROR(source_.Resume(*it));
    it = buffer_paused_.erase(it);
  }
  return Status::Ok();
}

std::optional<Clock::time_point> Pipeline::last_loop_iteration() const {
  const int64_t ns = last_iteration_ns_.load(std::memory_order_relaxed);
  if (ns == 0) return std::nullopt;
  return Clock::time_point(std::chrono::nanoseconds(ns));
}

std::optional<int64_t> Pipeline::max_partition_lag() const {
  const int64_t lag = max_partition_lag_.load(std::memory_order_relaxed);
  if (lag < 0) return std::nullopt;
  return lag;
}

std::string Pipeline::state_write_error() const {
  std::lock_guard lock(state_error_mu_);
  return state_write_error_;
}

// Retrying is safe because the batch is complete and idempotent (puts and deletes of whole
// values) and RocksDB applies a batch atomically: a failed write left nothing behind. Nothing
// else is staged or consumed meanwhile; the caller marks the state committed only after
// success. Records keep their place in Kafka, so giving up loses nothing either.
Status Pipeline::WriteWithRetry(state::WriteBatch& batch) {
  Status written = db_.Write(batch);
  if (written.ok()) return written;
  const auto deadline = Clock::now() + options_.state_write_retry;
  auto backoff = std::chrono::milliseconds(50);
  while (!written.ok()) {
    state_write_errors_.Increment();
    {
      std::lock_guard lock(state_error_mu_);
      state_write_error_ = written.message();
    }
    spdlog::error("state commit failed, retrying: {}", written.message());
    if (Clock::now() + backoff > deadline || stop_requested_.load()) return written;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    (void)db_.Resume();  // its failure shows in the next Write
    written = db_.Write(batch);
  }
  std::lock_guard lock(state_error_mu_);
  state_write_error_.clear();
  spdlog::info("state commits succeed again");
  return written;
}

std::set<std::string, std::less<>> Pipeline::BreakerHeldTopics() {
  block_generation_ = sink_->BlockGeneration();
  const std::vector<std::string> blocked = sink_->BlockedTopics();
  std::set<std::string, std::less<>> held;
  if (blocked.empty()) return held;
  for (const auto& topology : topologies_) {
    const std::vector<std::string>& outputs = topology->output_topics();
    const bool blocks = std::any_of(outputs.begin(), outputs.end(), [&](const std::string& t) {
      return std::find(blocked.begin(), blocked.end(), t) != blocked.end();
    });
    if (!blocks) continue;
    for (const std::string& topic : topology->topics()) held.insert(topic);
  }
  return held;
}

Result<bool> Pipeline::HeldByBreaker(const Record& record) {
  if (sink_ == nullptr) return false;
  if (sink_->BlockGeneration() != block_generation_) breaker_held_ = BreakerHeldTopics();
  if (breaker_held_.empty() || breaker_held_.find(record.topic) == breaker_held_.end()) {
    return false;
  }
  TopicPartition partition{std::string(record.topic), record.partition};
  if (breaker_paused_.count(partition) == 0) {
    EDDY_RETURN_IF_ERROR(source_.PauseAt(partition, record.offset));
    breaker_paused_.insert(std::move(partition));
  }
  return true;
}

Status Pipeline::UpdateBreakerPauses() {
  if (sink_ == nullptr) return Status::Ok();
  breaker_held_ = BreakerHeldTopics();
  const std::set<std::string, std::less<>>& held = breaker_held_;
  if (held.empty() && breaker_paused_.empty()) return Status::Ok();
  for (const TopicPartition& partition : assigned_) {
    if (held.count(partition.topic) == 0 || breaker_paused_.count(partition) > 0 ||
        paused_.count(partition) > 0 || buffer_paused_.count(partition) > 0) {
      continue;
    }
    // Everything Poll returned has been processed: the partition resumes after it.
    const std::optional<int64_t> position = source_.Position(partition);
    if (!position) continue;  // nothing returned yet, start unknown: nothing to hold back
    EDDY_RETURN_IF_ERROR(source_.PauseAt(partition, *position));
    breaker_paused_.insert(partition);
  }
  for (auto it = breaker_paused_.begin(); it != breaker_paused_.end();) {
    if (held.count(it->topic) > 0) {
      ++it;
      continue;
    }
    EDDY_RETURN_IF_ERROR(source_.Resume(*it));
    it = breaker_paused_.erase(it);
  }
  return Status::Ok();
}

void Pipeline::SendDueOffsets(bool now) {
  if (kafka_offsets_due_.empty()) return;
  const auto at = Clock::now();
  if (!now && kafka_offsets_sent_at_ && at - *kafka_offsets_sent_at_ < options_.commit_interval) {
    return;
  }
  std::vector<PartitionOffset> offsets;
  for (const auto& [partition, next] : kafka_offsets_due_) offsets.push_back({partition, next});
  source_.CommitAsync(offsets);
  kafka_offsets_due_.clear();
  kafka_offsets_sent_at_ = at;
}

Status Pipeline::Commit(bool offsets_to_kafka_now) {
  if (failed_) return Status::Internal("not committing after a processing failure");
  const bool outputs_kept = exactly_once_ != nullptr && exactly_once_->kept_records() > 0;
  if (uncommitted_records_ == 0 && uncommitted_.empty() && !idle_advance_pending_ &&
      !outputs_kept) {
    SendDueOffsets(offsets_to_kafka_now);
    return Status::Ok();
  }
  idle_advance_pending_ = false;
  const auto started = Clock::now();
  state::WriteBatch batch;
  std::vector<PartitionOffset> progressed;
  for (auto& topology : topologies_) EDDY_RETURN_IF_ERROR(topology->FlushTo(batch, progressed));
  // Kafka's committed offset for a partition is the minimum over the topologies reading it.
  std::map<TopicPartition, int64_t> lowest;
  for (const PartitionOffset& offset : progressed) {
    auto [it, inserted] = lowest.try_emplace(offset.partition, offset.next_offset);
    if (!inserted) it->second = std::min(it->second, offset.next_offset);
  }
  if (exactly_once_ != nullptr) {
    // The outputs go into the same write as the state and offsets that produced them; Kafka
    // gets them, with the offsets of every assigned partition, after the write.
    std::map<TopicPartition, int64_t> offsets = committed_offsets_;
    for (const auto& [partition, next] : lowest) offsets[partition] = next;
    std::vector<PartitionOffset> transaction_offsets;
    for (const auto& [partition, next] : offsets) transaction_offsets.push_back({partition, next});
    EDDY_RETURN_IF_ERROR(exactly_once_->Stage(std::move(transaction_offsets), batch));
  } else if (sink_ != nullptr) {
    // Outputs first, then the state and offsets that produced them: a crash in between
    // replays the inputs (outputs repeated), never the reverse (outputs lost).
    EDDY_RETURN_IF_ERROR(sink_->Flush(options_.sink_flush_timeout));
  }
  if (batch.Count() > 0) EDDY_RETURN_IF_ERROR(WriteWithRetry(batch));
  for (auto& topology : topologies_) topology->OnCommitted();
  PublishCommitted();
  for (const auto& [partition, next] : lowest) committed_offsets_[partition] = next;
  if (exactly_once_ != nullptr) EDDY_RETURN_IF_ERROR(exactly_once_->Publish());
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

  if (exactly_once_ == nullptr) {
    for (const auto& [partition, next] : lowest) kafka_offsets_due_[partition] = next;
    SendDueOffsets(offsets_to_kafka_now);
  }
  return Status::Ok();
}

std::vector<PartitionStatus> Pipeline::partition_status() const {
  std::lock_guard lock(status_mu_);
  return partition_status_;
}

std::string Pipeline::failure() const {
  std::lock_guard lock(status_mu_);
  return failure_;
}

void Pipeline::FillCommitted(std::vector<PartitionStatus>& statuses) const {
  for (PartitionStatus& status : statuses) {
    status.committed.resize(topologies_.size());
    for (size_t i = 0; i < topologies_.size(); ++i) {
      status.committed[i] = topologies_[i]->CommittedProgress(status.partition);
    }
  }
}

void Pipeline::PublishCommitted() {
  // In place: a few map lookups under the lock, no allocation once the vectors are sized.
  std::lock_guard lock(status_mu_);
  FillCommitted(partition_status_);
}

void Pipeline::RefreshLag() {
  std::vector<PartitionLag> lags = source_.Lag();
  std::map<TopicPartition, const PartitionLag*> lag_of;
  for (const PartitionLag& lag : lags) lag_of[lag.partition] = &lag;
  std::vector<PartitionStatus> statuses;
  for (const TopicPartition& partition : assigned_) {
    PartitionStatus status;
    status.partition = partition;
    if (auto it = lag_of.find(partition); it != lag_of.end()) {
      status.end_offset = it->second->end_offset;
      status.lag = it->second->lag;
    }
    if (loading_.count(partition) > 0) {
      status.state = "restoring";
    } else if (paused_.count(partition) > 0) {
      status.state = "waiting_for_table";
    } else if (breaker_paused_.count(partition) > 0) {
      status.state = "sink_blocked";
    } else if (buffer_paused_.count(partition) > 0) {
      status.state = "aligning";
    }
    statuses.push_back(std::move(status));
  }
  FillCommitted(statuses);
  {
    std::lock_guard lock(status_mu_);
    partition_status_ = std::move(statuses);
  }
  int64_t max_lag = -1;
  for (const PartitionLag& lag : lags) {
    if (assigned_.count(lag.partition) == 0) continue;  // being revoked: its gauge is gone
    max_lag = std::max(max_lag, lag.lag);
    metrics_.consumer_lag
        .Add({{"topic", lag.partition.topic},
              {"partition", std::to_string(lag.partition.partition)}})
        .Set(static_cast<double>(lag.lag));
    if (std::find(lag_labels_.begin(), lag_labels_.end(), lag.partition) == lag_labels_.end()) {
      lag_labels_.push_back(lag.partition);
    }
  }
  max_partition_lag_.store(max_lag, std::memory_order_relaxed);
}

Status Pipeline::Run() {
  std::set<std::string> topic_set;
  for (auto& topology : topologies_) {
    for (const std::string& topic : topology->topics()) topic_set.insert(topic);
  }
  const std::vector<std::string> topics(topic_set.begin(), topic_set.end());
  EDDY_RETURN_IF_ERROR(CheckCoPartitioning());
  // Settles the transaction a crash may have left between RocksDB and Kafka, before any new
  // output is staged.
  if (exactly_once_ != nullptr) {
    if (Status recovered = exactly_once_->Recover(); !recovered.ok()) {
      failed_ = true;
      (void)source_.Close();
      return recovered;
    }
  }
  EDDY_RETURN_IF_ERROR(source_.Subscribe(topics, this));

  struct TopicRoute {
    prometheus::Counter* consumed = nullptr;
    std::vector<Topology*> topologies;
  };
  std::map<std::string, TopicRoute, std::less<>> routes;
  for (auto& topology : topologies_) {
    for (const std::string& topic : topology->topics()) {
      TopicRoute& route = routes[topic];
      route.consumed = &metrics_.records_consumed.Add({{"topic", topic}});
      route.topologies.push_back(topology.get());
    }
  }

  std::vector<Record> records;
  auto last_commit = Clock::now();
  // Empty until the first refresh: steady_clock's epoch is the machine's boot, not "long ago".
  std::optional<Clock::time_point> last_lag_refresh;
  const auto poll_timeout = std::min(options_.commit_interval, std::chrono::milliseconds(100));
  Status failure;
  while (!stop_requested_.load()) {
    // The heartbeat of /healthz: one relaxed store per iteration, not per record.
    last_iteration_ns_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    Status polled = source_.Poll(poll_timeout, options_.max_batch_records, records);
    if (!polled.ok()) {
      failure = polled;
      break;
    }
    if (!records.empty()) {
      uncommitted_.push_back({Clock::now(), records.size()});
      uncommitted_records_ += records.size();
    }
    const std::set<std::string> deferred =
        loading_.empty() ? std::set<std::string>{} : DeferredTopics();
    for (const Record& record : records) {
      auto route = routes.find(record.topic);
      if (route == routes.end()) continue;
      if (!deferred.empty() && deferred.count(std::string(record.topic)) > 0) {
        // A joined table is still loading: this record waits, and is fetched again later.
        const TopicPartition partition{std::string(record.topic), record.partition};
        if (paused_.insert(partition).second) {
          if (Status paused = source_.PauseAt(partition, record.offset); !paused.ok()) {
            failure = paused;
            break;
          }
        }
        continue;
      }
      if (!buffer_paused_.empty() &&
          buffer_paused_.count({std::string(record.topic), record.partition}) > 0) {
        continue;  // fetched again after Resume
      }
      Result<bool> held = HeldByBreaker(record);
      if (!held.ok()) {
        failure = held.status();
        break;
      }
      if (*held) continue;  // fetched again after Resume
      route->second.consumed->Increment();
      for (Topology* topology : route->second.topologies) {
        Result<size_t> buffered = topology->Accept(record);
        if (!buffered.ok()) {
          failure = buffered.status();
          break;
        }
        if (*buffered >= options_.max_buffered_per_partition) {
          // An aligned input ran ahead of the others: stop fetching it until they catch up.
          TopicPartition partition{std::string(record.topic), record.partition};
          if (Status paused = source_.PauseAt(partition, record.offset + 1); !paused.ok()) {
            failure = paused;
            break;
          }
          buffer_paused_.insert(std::move(partition));
        }
      }
      if (!failure.ok()) break;
    }
    if (!failure.ok()) break;
    if (Status aligned = ProcessBuffered(); !aligned.ok()) {
      failure = aligned;
      break;
    }
    if (!loading_.empty() || !paused_.empty()) {
      if (Status loaded = UpdateTableLoading(); !loaded.ok()) {
        failure = loaded;
        break;
      }
    }

    const auto now = Clock::now();
    for (auto& topology : topologies_) {
      bool advanced = false;
      if (Status idle = topology->AdvanceIdlePartitions(now, advanced); !idle.ok()) {
        failure = idle;
        break;
      }
      if (advanced) idle_advance_pending_ = true;
    }
    if (!failure.ok()) break;
    // A poll that came back short drained the consumer's queue: input is caught up.
    const bool caught_up = options_.commit_when_caught_up && exactly_once_ == nullptr &&
                           !records.empty() && records.size() < options_.max_batch_records;
    if (uncommitted_records_ >= options_.max_uncommitted_records ||
        (uncommitted_records_ > 0 && caught_up) ||
        ((uncommitted_records_ > 0 || idle_advance_pending_) &&
         now - last_commit >= options_.commit_interval)) {
      if (Status committed = Commit(); !committed.ok()) {
        failure = committed;
        break;
      }
      last_commit = now;
    }
    SendDueOffsets(/*now=*/false);
    if (Status held = UpdateBreakerPauses(); !held.ok()) {
      failure = held;
      break;
    }
    if (!last_lag_refresh || now - *last_lag_refresh >= options_.lag_refresh_interval) {
      RefreshLag();
      last_lag_refresh = now;
    }
  }

  if (!failure.ok()) {
    failed_ = true;
    {
      std::lock_guard lock(status_mu_);
      failure_ = failure.ToString();
    }
    spdlog::critical("processing stopped: {}", failure.ToString());
    // Do not commit: state may be partially applied for the failing batch. Offsets in
    // RocksDB still describe the last good commit, which is where the next start resumes.
    (void)source_.Close();
    return failure;
  }
  Status committed = Commit(/*offsets_to_kafka_now=*/true);
  Status closed = source_.Close();  // revokes partitions through the listener (commits again)
  EDDY_RETURN_IF_ERROR(committed);
  EDDY_RETURN_IF_ERROR(closed);
  return db_.Flush();
}

}  // namespace eddy::engine
