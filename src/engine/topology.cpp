#include "engine/topology.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/json_writer.h"
#include "engine/dedup.h"
#include "engine/stream_join.h"
#include "engine/table.h"
#include "expr/expr.h"
#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

const char* ReasonLabel(int reason) {
  static const char* const kLabels[] = {"invalid_json",      "missing_key",   "invalid_key",
                                        "invalid_timestamp", "invalid_field", "too_large"};
  return kLabels[reason];
}

// Logging every bad record would let one bad producer flood the log: log the first few,
// then one in every kLogEvery.
constexpr uint64_t kLogFirst = 20;
constexpr uint64_t kLogEvery = 10'000;

}  // namespace

Topology::Topology(const config::TopologyConfig& config, state::StateDb& db,
                   metrics::Metrics& metrics, state::WindowRetention* retention, Sink* sink,
                   std::shared_ptr<OwnedPartitions> owned)
    : name_(config.name),
      idle_timeout_([&] {
        std::chrono::milliseconds smallest{0};
        for (const config::SourceConfig& source : config.sources) {
          if (source.idle_timeout.count() > 0 &&
              (smallest.count() == 0 || source.idle_timeout < smallest)) {
            smallest = source.idle_timeout;
          }
        }
        return smallest;
      }()),
      metrics_(metrics),
      db_(db),
      retention_(retention),
      sink_(sink),
      dead_letter_topic_(config.dead_letters.topic),
      owned_(owned != nullptr ? std::move(owned) : std::make_shared<OwnedPartitions>()),
      processed_(metrics.records_processed.Add({{"topology", config.name}})),
      end_to_end_(metrics.end_to_end_latency.Add({{"topology", config.name}},
                                                 metrics::Metrics::EndToEndBuckets())) {
  for (int reason = 0; reason <= static_cast<int>(FailureReason::kTooLarge); ++reason) {
    const std::map<std::string, std::string> labels = {{"topology", config.name},
                                                       {"reason", ReasonLabel(reason)}};
    failed_[static_cast<FailureReason>(reason)] = &metrics.records_failed.Add(labels);
    if (!dead_letter_topic_.empty()) {
      dead_lettered_[static_cast<FailureReason>(reason)] = &metrics.dead_letter_records.Add(labels);
    }
  }
  if (!dead_letter_topic_.empty()) {
    metrics.dead_letter_records.Add({{"topology", config.name}, {"reason", "delivery_failed"}});
  }
  auto add_output = [this](const std::string& topic) {
    if (std::find(output_topics_.begin(), output_topics_.end(), topic) == output_topics_.end()) {
      output_topics_.push_back(topic);
    }
  };
  for (const config::SinkConfig& sink_config : config.sinks) add_output(sink_config.topic);
  for (const config::StepConfig& step : config.steps) {
    if (!step.late_records_topic.empty()) add_output(step.late_records_topic);
  }
}

std::vector<std::string> Topology::co_partitioned_topics() const {
  std::vector<std::string> topics;
  if (stream_joins_.empty() && co_partitioned_table_topics_.empty()) return topics;
  auto listed = [](const std::vector<std::string>& list, const std::string& topic) {
    return std::find(list.begin(), list.end(), topic) != list.end();
  };
  for (const SourceNode& source : sources_) {
    if (!listed(joined_table_topics_, source.topic) ||
        listed(co_partitioned_table_topics_, source.topic)) {
      topics.push_back(source.topic);
    }
  }
  return topics;
}

std::vector<std::string> Topology::topics() const {
  std::vector<std::string> topics;
  for (const SourceNode& source : sources_) topics.push_back(source.topic);
  return topics;
}

Result<std::unique_ptr<Topology>> Topology::Create(const config::TopologyConfig& config,
                                                   state::StateDb& db, metrics::Metrics& metrics,
                                                   state::WindowRetention* retention, Sink* sink,
                                                   std::shared_ptr<OwnedPartitions> owned) {
  std::unique_ptr<Topology> topology(
      new Topology(config, db, metrics, retention, sink, std::move(owned)));
  Topology& t = *topology;
  for (const config::SourceConfig& source_config : config.sources) {
    SourceNode source;
    source.name = source_config.name;
    source.topic = source_config.topic;
    source.key_spec = source_config.key;
    source.timestamp_spec = source_config.timestamp;
    source.max_value_bytes = source_config.max_value_bytes;
    t.source_by_topic_.emplace(source.topic, t.sources_.size());
    t.sources_.push_back(std::move(source));
  }
  // The input a `from` (or a join's right side) names: a source or a step above.
  auto input_of = [&](const std::string& name, size_t below) -> std::optional<InputId> {
    for (size_t i = 0; i < t.sources_.size(); ++i) {
      if (t.sources_[i].name == name) return SourceInput(i);
    }
    for (size_t i = 0; i < below; ++i) {
      if (config.steps[i].name == name) return static_cast<InputId>(i);
    }
    return std::nullopt;
  };
  auto children_of = [&](InputId input) -> std::vector<size_t>& {
    if (input < 0) return t.sources_[static_cast<size_t>(-input - 1)].children;
    return t.nodes_[static_cast<size_t>(input)].children;
  };

  state::WriteBatch new_definitions;
  for (const config::StepConfig& step : config.steps) {
    const size_t index = t.nodes_.size();
    StepNode node;
    node.kind = step.kind;
    node.name = step.name;
    const std::map<std::string, std::string> step_labels = {{"topology", config.name},
                                                            {"step", step.name}};
    node.counts.in_metric = &metrics.step_records_in.Add(step_labels);
    node.counts.out_metric = &metrics.step_records_out.Add(step_labels);
    if (step.kind == config::StepConfig::Kind::kFilter ||
        (step.kind == config::StepConfig::Kind::kJoin &&
         step.join.with == config::JoinConfig::With::kTable &&
         step.join.type == config::JoinConfig::Type::kInner)) {
      node.counts.dropped_metric = &metrics.step_records_dropped.Add(step_labels);
    }
    node.expression = step.expression.parsed;
    for (const config::SelectField& field : step.select) {
      node.select.emplace_back(field.name, field.value.parsed);
    }
    if (step.kind == config::StepConfig::Kind::kSelect ||
        step.kind == config::StepConfig::Kind::kJoin) {
      node.decoder = std::make_unique<codec::JsonRecordDecoder>();
    }
    // The forest: config validation guarantees `from` names a source or a record-producing
    // step above.
    const std::optional<InputId> from = input_of(step.from, index);
    if (!from) {
      return Status::InvalidArgument(step.location.ToString() + ": step '" + step.name +
                                     "' reads from unknown input '" + step.from + "'");
    }
    node.left_input = *from;
    // A stateful step's stored definition must match the config's (see DefinitionFingerprint).
    auto check_definition = [&](const std::string& store,
                                const std::string& fingerprint) -> Status {
      const std::string meta_key = state::EncodeStoreMetaKey(store);
      Result<std::optional<std::string>> stored = db.Get(meta_key);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) {
        new_definitions.Put(meta_key, fingerprint);
      } else if (**stored != fingerprint) {
        return Status::InvalidArgument(
            step.location.ToString() + ": step '" + step.name + "' of topology '" + config.name +
            "' has state in " + db.path() + " that was built by a different definition (stored: " +
            **stored + "; now: " + fingerprint +
            "). Give the step a new name to start fresh state, or delete the state directory.");
      }
      return Status::Ok();
    };
    const std::string store = config.name + "." + step.name;
    switch (step.kind) {
      case config::StepConfig::Kind::kDedup: {
        auto& duplicates =
            metrics.duplicates_dropped.Add({{"topology", config.name}, {"step", step.name}});
        auto dedup = std::make_unique<Dedup>(store, step, db, duplicates);
        EDDY_RETURN_IF_ERROR(check_definition(store, dedup->DefinitionFingerprint()));
        if (retention != nullptr) retention->RegisterStore(store, step.dedup.ttl.count());
        node.dedup = dedup.get();
        t.stateful_.push_back(dedup.get());
        t.stores_.push_back(store);
        t.dedups_.push_back(std::move(dedup));
        break;
      }
      case config::StepConfig::Kind::kTable: {
        auto table = std::make_unique<TableStep>(store, step, db);
        EDDY_RETURN_IF_ERROR(check_definition(store, table->DefinitionFingerprint()));
        node.table = table.get();
        t.stateful_.push_back(table.get());
        t.tables_.push_back(std::move(table));
        if (*from < 0) t.sources_[static_cast<size_t>(-*from - 1)].has_table_child = true;
        break;
      }
      case config::StepConfig::Kind::kWindow: {
        auto& late =
            metrics.late_records_dropped.Add({{"topology", config.name}, {"step", step.name}});
        auto window = std::make_unique<WindowAggregate>(store, step, db, late);
        // Unwindowed aggregates are never purged: their store is not registered.
        if (retention != nullptr && step.window.kind != config::WindowConfig::Kind::kNone) {
          retention->RegisterStore(store, step.window.retention.count(),
                                   step.window.kind == config::WindowConfig::Kind::kSession
                                       ? state::WindowRetention::Clock::kSessionEnd
                                       : state::WindowRetention::Clock::kWindowStart);
        }
        if (!step.late_records_topic.empty()) {
          if (sink == nullptr) {
            return Status::Internal("step has a late_records topic but no sink was given");
          }
          window->SetLateRecordEmitter([sink, topic = step.late_records_topic,
                                        topology_name = config.name,
                                        step_name = step.name](const Event& event) {
            return sink->Send(LateRecord(topic, topology_name, step_name, event));
          });
        }
        EDDY_RETURN_IF_ERROR(check_definition(store, window->DefinitionFingerprint()));
        t.stateful_.push_back(window.get());
        t.stores_.push_back(store);
        node.window = window.get();
        t.windows_.push_back(std::move(window));
        break;
      }
      case config::StepConfig::Kind::kJoin: {
        node.join_type = step.join.type;
        node.join_as = step.join.as;
        const std::optional<InputId> right = input_of(step.join.right, index);
        if (!right) {
          return Status::InvalidArgument(step.location.ToString() + ": join of step '" + step.name +
                                         "' reads unknown input '" + step.join.right + "'");
        }
        if (step.join.with == config::JoinConfig::With::kTable) {
          // Validation guarantees a table step reading a source directly.
          StepNode& table_node = t.nodes_[static_cast<size_t>(*right)];
          node.join_table = table_node.table;
          node.join_table->EnableRowCache();
          const std::string& table_topic =
              t.sources_[static_cast<size_t>(-table_node.left_input - 1)].topic;
          if (std::find(t.joined_table_topics_.begin(), t.joined_table_topics_.end(),
                        table_topic) == t.joined_table_topics_.end()) {
            t.joined_table_topics_.push_back(table_topic);
          }
          if (step.join.co_partitioned &&
              std::find(t.co_partitioned_table_topics_.begin(),
                        t.co_partitioned_table_topics_.end(),
                        table_topic) == t.co_partitioned_table_topics_.end()) {
            t.co_partitioned_table_topics_.push_back(table_topic);
          }
          break;
        }
        auto& late =
            metrics.late_records_dropped.Add({{"topology", config.name}, {"step", step.name}});
        auto join = std::make_unique<StreamJoin>(store, step, db, late);
        EDDY_RETURN_IF_ERROR(check_definition(store, join->DefinitionFingerprint()));
        if (retention != nullptr) {
          retention->RegisterStore(join->left_store(), join->retention_ms());
          retention->RegisterStore(join->right_store(), join->retention_ms());
        }
        t.stores_.push_back(join->left_store());
        t.stores_.push_back(join->right_store());
        t.stateful_.push_back(join.get());
        node.stream_join = join.get();
        t.stream_joins_.push_back(std::move(join));
        // The right input feeds the join too (the left one through `from`, below).
        children_of(*right).push_back(index);
        break;
      }
      default:
        break;
    }
    t.nodes_.push_back(std::move(node));
    children_of(*from).push_back(index);
  }
  if (new_definitions.Count() > 0) EDDY_RETURN_IF_ERROR(db.Write(new_definitions));
  for (SourceNode& source : t.sources_) {
    source.moves_stream_time =
        std::any_of(source.children.begin(), source.children.end(),
                    [&](size_t child) { return t.nodes_[child].table == nullptr; });
  }

  // The source a step's records descend from (a join: its left side's).
  auto root_topic = [&](size_t index) {
    InputId input = static_cast<InputId>(index);
    while (input >= 0) input = t.nodes_[static_cast<size_t>(input)].left_input;
    return t.sources_[static_cast<size_t>(-input - 1)].topic;
  };
  auto step_index = [&](const std::string& name) -> std::optional<size_t> {
    for (size_t i = 0; i < config.steps.size(); ++i) {
      if (config.steps[i].name == name) return i;
    }
    return std::nullopt;
  };
  // A view of a record-producing step serves its latest record per key: a table step of its
  // own (one per step, however many views read it) below the step.
  std::map<size_t, TableStep*> latest_tables;
  auto add_latest_table = [&](size_t index) -> Status {
    if (latest_tables.count(index) > 0) return Status::Ok();
    config::StepConfig table_config;
    table_config.kind = config::StepConfig::Kind::kTable;
    table_config.name = config.steps[index].name;
    const std::string store = config.name + "." + config.steps[index].name + "@latest";
    auto table = std::make_unique<TableStep>(store, table_config, db);
    const std::string meta_key = state::EncodeStoreMetaKey(store);
    Result<std::optional<std::string>> stored = db.Get(meta_key);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      state::WriteBatch definition;
      definition.Put(meta_key, table->DefinitionFingerprint());
      EDDY_RETURN_IF_ERROR(db.Write(definition));
    } else if (**stored != table->DefinitionFingerprint()) {
      return Status::InvalidArgument("the latest-record table of step '" +
                                     config.steps[index].name + "' has state of another layout (" +
                                     **stored + ") in " + db.path());
    }
    StepNode node;
    node.kind = config::StepConfig::Kind::kTable;
    node.name = store;
    node.left_input = static_cast<InputId>(index);
    node.table = table.get();
    t.nodes_[index].children.push_back(t.nodes_.size());
    t.nodes_.push_back(std::move(node));
    t.stateful_.push_back(table.get());
    latest_tables.emplace(index, table.get());
    t.tables_.push_back(std::move(table));
    return Status::Ok();
  };
  // All nodes are in place before anything keeps a pointer into nodes_.
  for (const config::ViewConfig& view : config.views) {
    const std::optional<size_t> index = step_index(view.from);
    if (!index) {
      return Status::InvalidArgument(view.location.ToString() + ": view '" + view.name +
                                     "' reads from unknown step '" + view.from + "'");
    }
    if (t.nodes_[*index].window == nullptr && t.nodes_[*index].table == nullptr) {
      EDDY_RETURN_IF_ERROR(add_latest_table(*index));
    }
  }
  for (const config::ViewConfig& view : config.views) {
    const std::optional<size_t> index = step_index(view.from);
    const StepNode& node = t.nodes_[*index];
    if (node.window == nullptr) {
      const TableStep* table = node.table != nullptr ? node.table : latest_tables.at(*index);
      t.views_.push_back(
          std::make_unique<TableView>(view.name, config.name, view.from, table->store(), db));
      continue;
    }
    const config::StepConfig& step_config = config.steps[*index];
    ViewSpec spec{view.name,       config.name,          root_topic(*index),
                  view.from,       node.window->store(), step_config.window,
                  step_config.emit};
    t.views_.push_back(
        std::make_unique<WindowView>(std::move(spec), node.window->aggregates(), db, *t.owned_));
  }
  for (const config::SinkConfig& sink_config : config.sinks) {
    const std::optional<size_t> index = step_index(sink_config.from);
    if (!index || t.nodes_[*index].table != nullptr) {
      return Status::InvalidArgument(sink_config.location.ToString() + ": sink '" +
                                     sink_config.name + "' reads from '" + sink_config.from +
                                     "', which is not a window step or a record-producing step");
    }
    if (sink == nullptr) return Status::Internal("topology has sinks but no sink was given");
    StepNode& node = t.nodes_[*index];
    if (node.window == nullptr) {
      node.sink_topics.push_back(sink_config.topic);
      continue;
    }
    const AggregateSet& aggregates = node.window->aggregates();
    node.window->SetEmitter([sink, &aggregates, topic = sink_config.topic,
                             shape = sink_config.value](const WindowResult& result) {
      return sink->Send(WindowResultRecord(topic, shape, aggregates, result));
    });
  }
  return topology;
}

SinkRecord WindowResultRecord(const std::string& topic, config::SinkConfig::ValueShape shape,
                              const AggregateSet& aggregates, const WindowResult& result) {
  const bool windowed = result.kind != config::WindowConfig::Kind::kNone;
  JsonWriter json;
  json.BeginObject().Key("key").String(result.key);
  if (shape == config::SinkConfig::ValueShape::kNested) {
    if (windowed) {
      json.Key("start")
          .String(codec::FormatRfc3339Millis(result.window.start_ms))
          .Key("end")
          .String(codec::FormatRfc3339Millis(result.window.end_ms))
          .Key("start_ms")
          .Int(result.window.start_ms)
          .Key("end_ms")
          .Int(result.window.end_ms)
          .Key("closed")
          .Bool(result.closed);
    }
    if (result.deleted) {
      json.Key("deleted").Bool(true);
    } else {
      json.Key("aggregates").Raw(aggregates.ToJson(result.values));
    }
  } else {
    if (windowed) {
      json.Key("window_start_ms")
          .Int(result.window.start_ms)
          .Key("window_end_ms")
          .Int(result.window.end_ms)
          .Key("closed")
          .Bool(result.closed);
    }
    if (result.deleted) {
      json.Key("deleted").Bool(true);
    } else {
      // The aggregates object's members, spliced in at the top level.
      const std::string members = aggregates.ToJson(result.values);
      if (members.size() > 2)
        json.RawMembers(std::string_view(members).substr(1, members.size() - 2));
    }
  }
  json.EndObject();
  SinkRecord record;
  record.topic = topic;
  record.key = std::string(result.key);
  record.value = std::move(json).Take();
  record.timestamp_ms = result.timestamp_ms;
  return record;
}

SinkRecord LateRecord(const std::string& topic, const std::string& topology,
                      const std::string& step, const Event& event) {
  SinkRecord record;
  record.topic = topic;
  if (event.record != nullptr) {
    const Record& source = *event.record;
    if (source.key) record.key = std::string(*source.key);
    record.value = std::string(source.value);
    record.timestamp_ms = source.timestamp_ms;
    for (const RecordHeader& header : source.headers) {
      record.headers.emplace_back(std::string(header.name), std::string(header.value));
    }
    record.headers.emplace_back("eddy.source.topic", std::string(source.topic));
  } else {
    // Not from a source (unit tests driving a step directly): what the step saw.
    record.key = std::string(event.key);
    record.value = std::string(event.value_json);
    record.timestamp_ms = event.event_time_ms;
  }
  record.headers.emplace_back("eddy.reason", "late");
  record.headers.emplace_back("eddy.topology", topology);
  record.headers.emplace_back("eddy.step", step);
  record.headers.emplace_back("eddy.source.partition", std::to_string(event.partition));
  record.headers.emplace_back("eddy.source.offset", std::to_string(event.offset));
  record.headers.emplace_back("eddy.event_time_ms", std::to_string(event.event_time_ms));
  return record;
}

SinkRecord DeadLetterRecord(const std::string& topic, const std::string& topology,
                            const std::string* step, std::string_view reason,
                            std::string_view error, const Record& source) {
  SinkRecord record;
  record.topic = topic;
  if (source.key) record.key = std::string(*source.key);
  record.value = std::string(source.value);
  record.timestamp_ms = source.timestamp_ms;
  for (const RecordHeader& header : source.headers) {
    record.headers.emplace_back(std::string(header.name), std::string(header.value));
  }
  record.headers.emplace_back("eddy.reason", std::string(reason));
  record.headers.emplace_back("eddy.error", std::string(error));
  record.headers.emplace_back("eddy.topology", topology);
  if (step != nullptr) record.headers.emplace_back("eddy.step", *step);
  record.headers.emplace_back("eddy.source.topic", std::string(source.topic));
  record.headers.emplace_back("eddy.source.partition", std::to_string(source.partition));
  record.headers.emplace_back("eddy.source.offset", std::to_string(source.offset));
  return record;
}

Result<std::optional<int64_t>> Topology::OnAssigned(const std::string& topic, int32_t partition) {
  auto found = source_by_topic_.find(topic);
  if (found == source_by_topic_.end()) return std::optional<int64_t>();
  SourceNode& source = sources_[found->second];
  Result<std::optional<std::string>> stored =
      db_.Get(state::EncodeProgressKey(name_, topic, partition));
  if (!stored.ok()) return stored.status();
  SourcePartition source_partition;
  int64_t stored_stream_time = INT64_MIN;
  std::optional<int64_t> resume;
  if (stored->has_value()) {
    std::optional<state::PartitionProgress> progress = state::DecodeProgress(**stored);
    if (!progress) {
      return Status::Internal("corrupt progress entry for " + topic + "/" +
                              std::to_string(partition));
    }
    source_partition.next_offset = progress->next_offset;
    stored_stream_time = progress->stream_time_ms;
    committed_progress_[TopicPartition{topic, partition}] = *progress;
    resume = progress->next_offset;
  }
  auto [task, created] = tasks_.try_emplace(partition);
  if (created) new_tasks_.push_back(partition);
  if (stored_stream_time > task->second.context.stream_time_ms) {
    if (!created) {
      for (StatefulStep* step : stateful_) {
        step->OnStoredStreamTimeRaised(partition, stored_stream_time);
      }
    }
    task->second.context.stream_time_ms = stored_stream_time;
    // Idle advancement counts silence from the assignment on.
    task->second.stream_time_at_last_record_ms = stored_stream_time;
  }
  source.partitions[partition] = source_partition;
  return resume;
}

Status Topology::FinishAssignment() {
  for (int32_t partition : new_tasks_) {
    const int64_t stream_time = tasks_.at(partition).context.stream_time_ms;
    if (retention_ != nullptr && stream_time != INT64_MIN) {
      for (const std::string& store : stores_) {
        retention_->AdvanceStreamTime(store, partition, stream_time);
      }
    }
    for (StatefulStep* step : stateful_) {
      EDDY_RETURN_IF_ERROR(step->RestorePartition(partition, stream_time));
    }
    PublishStreamTime(partition, stream_time);
    owned_->Add(partition);
  }
  new_tasks_.clear();
  return Status::Ok();
}

void Topology::OnRevoked(const std::string& topic, int32_t partition) {
  auto found = source_by_topic_.find(topic);
  if (found == source_by_topic_.end()) return;
  sources_[found->second].partitions.erase(partition);
  const TopicPartition revoked{topic, partition};
  committed_progress_.erase(revoked);
  std::erase_if(flushed_progress_, [&](const auto& entry) { return entry.first == revoked; });
  // The partition's next owner reports its stream time; a series left here would go stale.
  metrics_.stream_time.Remove(&metrics_.stream_time.Add(
      {{"topology", name_}, {"topic", topic}, {"partition", std::to_string(partition)}}));
  // Buffered records were never processed: the next owner reads them again.
  if (auto queue = buffers_.find({found->second, partition}); queue != buffers_.end()) {
    buffered_total_ -= queue->second.size();
    buffers_.erase(queue);
  }
  for (const SourceNode& source : sources_) {
    if (source.partitions.count(partition) > 0) return;  // the task still has an input
  }
  tasks_.erase(partition);
  held_since_.erase(partition);
  std::erase(new_tasks_, partition);
  owned_->Remove(partition);
  for (StatefulStep* step : stateful_) step->DropPartition(partition);
}

Result<int64_t> Topology::EventTime(const SourceNode& source, const Record& record) {
  const config::TimestampSpec& timestamp_spec_ = source.timestamp_spec;
  if (timestamp_spec_.kind == config::TimestampSpec::Kind::kRecordTimestamp) {
    return record.timestamp_ms;
  }
  switch (timestamp_spec_.format) {
    case config::TimestampSpec::Format::kEpochMillis:
      return decoder_.Integer(timestamp_spec_.field_path);
    case config::TimestampSpec::Format::kEpochSeconds: {
      Result<double> seconds = decoder_.Number(timestamp_spec_.field_path);
      if (!seconds.ok()) return seconds.status();
      const double millis = std::floor(*seconds * 1000.0);
      if (!std::isfinite(millis) || std::fabs(millis) > 9.2e18) {
        return Status::InvalidArgument("field '" + timestamp_spec_.field_path_text +
                                       "' is out of range");
      }
      return static_cast<int64_t>(millis);
    }
    case config::TimestampSpec::Format::kRfc3339: {
      Result<std::string> text = decoder_.String(timestamp_spec_.field_path);
      if (!text.ok()) return text.status();
      Result<int64_t> millis = codec::ParseRfc3339Millis(*text);
      if (!millis.ok()) {
        return Status::InvalidArgument("field '" + timestamp_spec_.field_path_text +
                                       "': " + millis.status().message());
      }
      return millis;
    }
  }
  return Status::Internal("unknown timestamp format");
}

Status Topology::Fail(FailureReason reason, const std::string* step, const Record* record,
                      const Status& status) {
  failed_[reason]->Increment();
  const char* label = ReasonLabel(static_cast<int>(reason));
  const uint64_t n = failures_logged_++;
  if (n < kLogFirst || n % kLogEvery == 0) {
    const std::string at = step != nullptr ? " at step " + *step : std::string();
    const char* action = dead_letter_topic_.empty() ? "skipped" : "dead-lettered";
    if (record != nullptr) {
      spdlog::warn("topology {}: {} record {}/{}@{}{} ({}): {}", name_, action, record->topic,
                   record->partition, record->offset, at, label, status.message());
    } else {
      spdlog::warn("topology {}: skipped a join result{} ({}): {}", name_, at, label,
                   status.message());
    }
  }
  // A join result released by idleness has no source record: there is nothing of the input
  // to keep, so it is counted only.
  if (dead_letter_topic_.empty() || record == nullptr) return Status::Ok();
  dead_lettered_[reason]->Increment();
  return sink_->Send(
      DeadLetterRecord(dead_letter_topic_, name_, step, label, status.message(), *record));
}

Status Topology::Process(const Record& record) {
  auto source_found = source_by_topic_.find(record.topic);
  if (source_found == source_by_topic_.end()) return Status::Ok();
  SourceNode& source = sources_[source_found->second];
  auto partition_found = source.partitions.find(record.partition);
  auto task_found = tasks_.find(record.partition);
  // Not ours (revoked mid-batch).
  if (partition_found == source.partitions.end() || task_found == tasks_.end()) {
    return Status::Ok();
  }
  SourcePartition& progress = partition_found->second;
  Task& task = task_found->second;
  if (record.offset < progress.next_offset) return Status::Ok();  // already in state
  progress.next_offset = record.offset + 1;
  progress.dirty = true;

  if (record.tombstone) {
    // A null value deletes its key from the tables that read the source; nothing else can
    // use a record without a value.
    if (!source.has_table_child) {
      return Fail(FailureReason::kInvalidJson, nullptr, &record,
                  Status::InvalidArgument("null value (a tombstone) and no table reads it"));
    }
    if (source.key_spec.kind != config::KeySpec::Kind::kKafkaKey || !record.key) {
      return Fail(FailureReason::kMissingKey, nullptr, &record,
                  Status::InvalidArgument("a tombstone (null value) is keyed by its Kafka key"));
    }
    for (size_t index : source.children) {
      if (nodes_[index].table != nullptr) nodes_[index].table->ApplyTombstone(*record.key);
    }
    processed_.Increment();
    return Status::Ok();
  }
  if (source.max_value_bytes > 0 && std::ssize(record.value) > source.max_value_bytes) {
    return Fail(FailureReason::kTooLarge, nullptr, &record,
                Status::InvalidArgument("value of " + std::to_string(record.value.size()) +
                                        " bytes exceeds the source's max_value_bytes (" +
                                        std::to_string(source.max_value_bytes) + ")"));
  }
  if (Status parsed = decoder_.Parse(record.value); !parsed.ok()) {
    return Fail(FailureReason::kInvalidJson, nullptr, &record, parsed);
  }
  std::string key_storage;
  std::string_view key;
  if (source.key_spec.kind == config::KeySpec::Kind::kKafkaKey) {
    if (!record.key) {
      return Fail(FailureReason::kMissingKey, nullptr, &record,
                  Status::InvalidArgument("record has no Kafka key"));
    }
    key = *record.key;
  } else {
    Result<std::string> field = decoder_.KeyString(source.key_spec.field_path);
    if (!field.ok()) {
      return Fail(field.status().code() == StatusCode::kNotFound ? FailureReason::kMissingKey
                                                                 : FailureReason::kInvalidKey,
                  nullptr, &record, field.status());
    }
    key_storage = std::move(*field);
    key = key_storage;
  }
  Result<int64_t> event_time = EventTime(source, record);
  if (!event_time.ok()) {
    return Fail(FailureReason::kInvalidTimestamp, nullptr, &record, event_time.status());
  }
  // Stream time advances before the late check, as in Kafka Streams: a record can close
  // older windows but never its own.
  if (source.moves_stream_time && *event_time > task.context.stream_time_ms) {
    task.context.stream_time_ms = *event_time;
    task.dirty = true;
    if (!stream_joins_.empty()) EDDY_RETURN_IF_ERROR(EmitUnmatched(record.partition, &record));
  }
  if (idle_timeout_.count() > 0 && source.moves_stream_time) {
    task.last_record_at = std::chrono::steady_clock::now();
    task.stream_time_at_last_record_ms = task.context.stream_time_ms;
  }

  const Event event{record.partition, record.offset, *event_time, key,
                    decoder_,         &record,       record.value};
  // Two phases over the step forest: prepare everything (filters, rekeys, selects and every
  // stateful step's inputs), then apply. A record that fails anywhere changes nothing.
  record_effects_.clear();
  FailureReason reason = FailureReason::kInvalidField;
  failed_step_ = nullptr;
  if (Status prepared = PrepareChildren(SourceInput(source_found->second), source.children, event,
                                        task.context, reason, record_effects_);
      !prepared.ok()) {
    return Fail(reason, failed_step_, &record, prepared);
  }
  EDDY_RETURN_IF_ERROR(ApplyEffects(record_effects_, task.context, &record));
  processed_.Increment();
  uncommitted_event_times_.push_back(*event_time);
  return Status::Ok();
}

Result<size_t> Topology::Accept(const Record& record) {
  if (!aligns_inputs()) {
    EDDY_RETURN_IF_ERROR(Process(record));
    return size_t{0};
  }
  auto source_found = source_by_topic_.find(record.topic);
  if (source_found == source_by_topic_.end()) return size_t{0};
  const SourceNode& source = sources_[source_found->second];
  if (!source.moves_stream_time) {
    // Table changes take effect in fetch order, as a loaded table's must (see
    // Pipeline: joined tables load first); they have no place in event-time order.
    EDDY_RETURN_IF_ERROR(Process(record));
    return size_t{0};
  }
  BufferedRecord buffered;
  buffered.topic = std::string(record.topic);
  buffered.partition = record.partition;
  buffered.offset = record.offset;
  if (record.key) buffered.key = std::string(*record.key);
  buffered.value = std::string(record.value);
  buffered.tombstone = record.tombstone;
  buffered.timestamp_ms = record.timestamp_ms;
  for (const RecordHeader& header : record.headers) {
    buffered.headers.emplace_back(std::string(header.name), std::string(header.value));
  }
  // Records without a readable event time go first: Process counts them as failed.
  const bool too_large =
      source.max_value_bytes > 0 && std::ssize(record.value) > source.max_value_bytes;
  if (!record.tombstone && !too_large && decoder_.Parse(record.value).ok()) {
    Result<int64_t> event_time = EventTime(source, record);
    if (event_time.ok()) buffered.order_time_ms = *event_time;
  }
  auto& queue = buffers_[{source_found->second, record.partition}];
  queue.push_back(std::move(buffered));
  ++buffered_total_;
  return queue.size();
}

size_t Topology::buffered(const TopicPartition& partition) const {
  auto source = source_by_topic_.find(partition.topic);
  if (source == source_by_topic_.end()) return 0;
  auto queue = buffers_.find({source->second, partition.partition});
  return queue == buffers_.end() ? 0 : queue->second.size();
}

Status Topology::ProcessBuffered(const std::function<bool(const TopicPartition&)>& caught_up,
                                 std::chrono::steady_clock::time_point now) {
  if (buffered_total_ == 0) return Status::Ok();
  for (auto& [partition, task] : tasks_) {
    while (true) {
      // The task's inputs: every owned partition `partition` of its sources.
      std::deque<BufferedRecord>* next = nullptr;
      bool held = false;
      for (size_t s = 0; s < sources_.size(); ++s) {
        if (!sources_[s].moves_stream_time || sources_[s].partitions.count(partition) == 0) {
          continue;  // table sources are never buffered (Accept)
        }
        auto queue = buffers_.find({s, partition});
        if (queue == buffers_.end() || queue->second.empty()) {
          if (!caught_up({sources_[s].topic, partition})) held = true;
          continue;
        }
        if (next == nullptr || queue->second.front().order_time_ms < next->front().order_time_ms) {
          next = &queue->second;
        }
      }
      if (next == nullptr) {
        held_since_.erase(partition);
        break;
      }
      if (held) {
        auto [since, inserted] = held_since_.try_emplace(partition, now);
        if (now - since->second < kMaxInputWait) break;
        // Waited long enough for the silent input: go on without it.
      } else {
        held_since_.erase(partition);
      }
      BufferedRecord buffered = std::move(next->front());
      next->pop_front();
      --buffered_total_;
      Record record;
      record.topic = buffered.topic;
      record.partition = buffered.partition;
      record.offset = buffered.offset;
      if (buffered.key) record.key = std::string_view(*buffered.key);
      record.value = buffered.value;
      record.tombstone = buffered.tombstone;
      record.timestamp_ms = buffered.timestamp_ms;
      for (const auto& [name, value] : buffered.headers) record.headers.push_back({name, value});
      EDDY_RETURN_IF_ERROR(Process(record));
    }
  }
  return Status::Ok();
}

Status Topology::Emit(size_t index, const Event& event, const PartitionContext& context,
                      FailureReason& reason, std::vector<Effect>& effects) {
  StepNode& node = nodes_[index];
  if (!node.sink_topics.empty()) effects.push_back({&node, &event, /*send=*/true});
  return PrepareChildren(static_cast<InputId>(index), node.children, event, context, reason,
                         effects);
}

Status Topology::PrepareChildren(InputId input, const std::vector<size_t>& children,
                                 const Event& event, const PartitionContext& context,
                                 FailureReason& reason, std::vector<Effect>& effects) {
  for (size_t index : children) {
    StepNode& node = nodes_[index];
    failed_step_ = &node.name;  // whatever fails below fails here (or deeper, which overwrites)
    ++node.counts.in;
    switch (node.kind) {
      case config::StepConfig::Kind::kWindow: {
        reason = FailureReason::kInvalidField;
        EDDY_RETURN_IF_ERROR(node.window->Prepare(event, context));
        effects.push_back({&node, &event});
        ++node.counts.out;
        continue;  // a window's results go to views and sinks, not to other steps
      }
      case config::StepConfig::Kind::kTable: {
        reason = FailureReason::kInvalidField;
        EDDY_RETURN_IF_ERROR(node.table->Prepare(event, context));
        effects.push_back({&node, &event});
        ++node.counts.out;
        continue;  // a table's rows go to views and joins, not to other steps
      }
      case config::StepConfig::Kind::kDedup: {
        reason = FailureReason::kInvalidField;
        EDDY_RETURN_IF_ERROR(node.dedup->Prepare(event, context));
        effects.push_back({&node, &event});
        if (!node.dedup->passed()) continue;  // counted by the dedup as a duplicate
        node.output.emplace(event);
        break;
      }
      case config::StepConfig::Kind::kFilter: {
        Result<bool> keep = node.expression->EvaluatePredicate(event.value);
        if (!keep.ok()) {
          reason = FailureReason::kInvalidField;
          return keep.status();
        }
        if (!*keep) {
          ++node.counts.dropped;
          continue;
        }
        node.output.emplace(event);
        break;
      }
      case config::StepConfig::Kind::kRekey: {
        Result<expr::Value> value = node.expression->Evaluate(event.value);
        Result<std::string> key =
            value.ok() ? value->ToKeyString() : Result<std::string>(value.status());
        if (!key.ok()) {
          reason = FailureReason::kInvalidKey;
          return Status::InvalidArgument("rekey '" + node.expression->text() +
                                         "': " + key.status().message());
        }
        node.key_buffer = std::move(*key);
        node.output.emplace(Event{event.partition, event.offset, event.event_time_ms,
                                  node.key_buffer, event.value, event.record, event.value_json});
        break;
      }
      case config::StepConfig::Kind::kSelect: {
        JsonWriter json;
        json.BeginObject();
        for (const auto& [name, expression] : node.select) {
          Result<expr::Value> value = expression->Evaluate(event.value);
          if (!value.ok()) {
            reason = FailureReason::kInvalidField;
            return value.status();
          }
          json.Key(name).Raw(value->ToJson());
        }
        json.EndObject();
        node.value_buffer = std::move(json).Take();
        if (Status parsed = node.decoder->Parse(node.value_buffer); !parsed.ok()) {
          reason = FailureReason::kInvalidField;
          return parsed;
        }
        node.output.emplace(Event{event.partition, event.offset, event.event_time_ms, event.key,
                                  *node.decoder, event.record, node.value_buffer});
        break;
      }
      case config::StepConfig::Kind::kJoin: {
        reason = FailureReason::kInvalidField;
        if (node.stream_join != nullptr) {
          const StreamJoin::Side side =
              input == node.left_input ? StreamJoin::Side::kLeft : StreamJoin::Side::kRight;
          EDDY_RETURN_IF_ERROR(node.stream_join->Prepare(event, side, context));
          effects.push_back({&node, &event, /*send=*/false, side});
          continue;  // its results are records of their own, counted out in RunJoinOutput
        }
        // Stream–table: one result or none, decided now.
        Result<codec::FieldValue> existing = event.value.Field({node.join_as});
        if (!existing.ok()) {
          return Status::InvalidArgument("join: the record's value is not a JSON object");
        }
        if (existing->kind != codec::FieldValue::Kind::kMissing) {
          return Status::InvalidArgument("join: the record already has a member '" + node.join_as +
                                         "', where the join puts the table's row");
        }
        Result<std::optional<std::string>> row = node.join_table->Lookup(event.key);
        if (!row.ok()) return row.status();
        if (!row->has_value() && node.join_type == config::JoinConfig::Type::kInner) {
          ++node.counts.dropped;
          continue;
        }
        node.value_buffer =
            JoinedValue(event.value_json, node.join_as,
                        row->has_value() ? std::optional<std::string_view>(**row) : std::nullopt);
        if (Status parsed = node.decoder->Parse(node.value_buffer); !parsed.ok()) return parsed;
        node.output.emplace(Event{event.partition, event.offset, event.event_time_ms, event.key,
                                  *node.decoder, event.record, node.value_buffer});
        break;
      }
    }
    ++node.counts.out;
    EDDY_RETURN_IF_ERROR(Emit(index, *node.output, context, reason, effects));
  }
  return Status::Ok();
}

Status Topology::ApplyEffects(const std::vector<Effect>& effects, const PartitionContext& context,
                              const Record* record) {
  for (const Effect& effect : effects) {
    StepNode& node = *effect.node;
    const Event& event = *effect.input;
    if (effect.send) {
      for (const std::string& topic : node.sink_topics) {
        SinkRecord out;
        out.topic = topic;
        out.key = std::string(event.key);
        out.value = std::string(event.value_json);
        out.timestamp_ms = event.event_time_ms;
        EDDY_RETURN_IF_ERROR(sink_->Send(std::move(out)));
      }
    } else if (node.window != nullptr) {
      EDDY_RETURN_IF_ERROR(node.window->Apply(event));
    } else if (node.dedup != nullptr) {
      EDDY_RETURN_IF_ERROR(node.dedup->Apply(event));
    } else if (node.table != nullptr) {
      EDDY_RETURN_IF_ERROR(node.table->Apply(event));
    } else if (node.stream_join != nullptr) {
      // The join's Prepare state is overwritten by nested joins' records only if they reach
      // the same join, which the step forest rules out; copy the outputs all the same.
      std::vector<JoinOutput> outputs = node.stream_join->outputs();
      EDDY_RETURN_IF_ERROR(node.stream_join->Apply(event));
      for (JoinOutput& output : outputs) {
        EDDY_RETURN_IF_ERROR(
            RunJoinOutput(node, std::move(output), event.partition, event.offset, context, record));
      }
    }
  }
  return Status::Ok();
}

Status Topology::RunJoinOutput(StepNode& node, JoinOutput output, int32_t partition, int64_t offset,
                               const PartitionContext& context, const Record* record) {
  node.key_buffer = std::move(output.key);
  node.value_buffer = std::move(output.value);
  FailureReason reason = FailureReason::kInvalidField;
  if (Status parsed = node.decoder->Parse(node.value_buffer); !parsed.ok()) {
    return Fail(reason, &node.name, record, parsed);
  }
  node.output.emplace(Event{partition, offset, output.event_time_ms, node.key_buffer, *node.decoder,
                            record, node.value_buffer});
  ++node.counts.out;
  const size_t index = static_cast<size_t>(&node - nodes_.data());
  std::vector<Effect> effects;
  failed_step_ = nullptr;
  if (Status prepared = Emit(index, *node.output, context, reason, effects); !prepared.ok()) {
    return Fail(reason, failed_step_, record, prepared);
  }
  return ApplyEffects(effects, context, record);
}

Status Topology::EmitUnmatched(int32_t partition, const Record* record) {
  const Task& task = tasks_.at(partition);
  std::vector<JoinOutput> due;
  for (StepNode& node : nodes_) {
    if (node.stream_join == nullptr) continue;
    due.clear();
    EDDY_RETURN_IF_ERROR(
        node.stream_join->TakeUnmatched(partition, task.context.stream_time_ms, due));
    for (JoinOutput& output : due) {
      const int64_t offset = record != nullptr ? record->offset : -1;
      EDDY_RETURN_IF_ERROR(
          RunJoinOutput(node, std::move(output), partition, offset, task.context, record));
    }
  }
  return Status::Ok();
}

Status Topology::FlushTo(state::WriteBatch& batch, std::vector<PartitionOffset>& progressed) {
  // Stream times as this batch commits them.
  class StreamTimes final : public FlushContext {
   public:
    explicit StreamTimes(const std::map<int32_t, Task>& tasks) : tasks_(tasks) {}
    int64_t StreamTime(int32_t partition) const override {
      auto it = tasks_.find(partition);
      return it == tasks_.end() ? INT64_MIN : it->second.context.stream_time_ms;
    }

   private:
    const std::map<int32_t, Task>& tasks_;
  };
  const StreamTimes stream_times(tasks_);
  for (StatefulStep* step : stateful_) EDDY_RETURN_IF_ERROR(step->FlushTo(batch, stream_times));
  for (SourceNode& source : sources_) {
    for (auto& [partition, progress] : source.partitions) {
      const Task& task = tasks_.at(partition);
      if (!progress.dirty && !task.dirty) continue;
      progress.dirty = false;
      // Nothing processed from this partition yet: its task's stream time is stored with
      // the partitions that were.
      if (progress.next_offset < 0) continue;
      const state::PartitionProgress written{progress.next_offset, task.context.stream_time_ms};
      batch.Put(state::EncodeProgressKey(name_, source.topic, partition),
                state::EncodeProgress(written));
      flushed_progress_.emplace_back(TopicPartition{source.topic, partition}, written);
      progressed.push_back({{source.topic, partition}, progress.next_offset});
    }
  }
  for (auto& [partition, task] : tasks_) {
    if (!task.dirty) continue;
    task.dirty = false;
    flushed_stream_times_.emplace_back(partition, task.context.stream_time_ms);
  }
  flushed_event_times_.swap(uncommitted_event_times_);
  uncommitted_event_times_.clear();
  PublishStepCounts();
  return Status::Ok();
}

void Topology::PublishStepCounts() {
  for (StepNode& node : nodes_) {
    StepCounts& counts = node.counts;
    if (counts.in_metric == nullptr) continue;
    if (counts.in > 0) counts.in_metric->Increment(static_cast<double>(counts.in));
    if (counts.out > 0) counts.out_metric->Increment(static_cast<double>(counts.out));
    if (counts.dropped > 0 && counts.dropped_metric != nullptr) {
      counts.dropped_metric->Increment(static_cast<double>(counts.dropped));
    }
    counts.in = counts.out = counts.dropped = 0;
  }
}

void Topology::PublishStreamTime(int32_t partition, int64_t stream_time_ms) {
  if (stream_time_ms == INT64_MIN) return;
  for (const SourceNode& source : sources_) {
    if (!source.moves_stream_time || source.partitions.count(partition) == 0) continue;
    metrics_.stream_time
        .Add({{"topology", name_},
              {"topic", source.topic},
              {"partition", std::to_string(partition)}})
        .Set(static_cast<double>(stream_time_ms) / 1000.0);
  }
}

void Topology::ObserveEndToEnd() {
  if (flushed_event_times_.empty()) return;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  static const prometheus::Histogram::BucketBoundaries bounds = metrics::Metrics::EndToEndBuckets();
  std::vector<double> increments(bounds.size() + 1, 0.0);
  double sum = 0;
  for (const int64_t event_time_ms : flushed_event_times_) {
    // An event time ahead of this clock (producer clock skew) counts as no delay.
    // In doubles: an event time near INT64_MIN must not overflow the difference.
    const double seconds =
        std::max(0.0, static_cast<double>(now_ms) - static_cast<double>(event_time_ms)) / 1000.0;
    const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
    increments[static_cast<size_t>(bucket)] += 1;
    sum += seconds;
  }
  end_to_end_.ObserveMultiple(increments, sum);
  flushed_event_times_.clear();
}

Status Topology::AdvanceIdlePartitions(std::chrono::steady_clock::time_point now, bool& advanced) {
  if (idle_timeout_.count() <= 0) return Status::Ok();
  for (auto& [partition, task] : tasks_) {
    // A task that never saw a record has no event time to advance from.
    if (task.stream_time_at_last_record_ms == INT64_MIN) continue;
    const auto silent =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - task.last_record_at);
    if (silent < idle_timeout_) continue;
    const int64_t advanced_time = task.stream_time_at_last_record_ms + silent.count();
    if (advanced_time > task.context.stream_time_ms) {
      task.context.stream_time_ms = advanced_time;
      task.dirty = true;
      advanced = true;
      if (!stream_joins_.empty()) EDDY_RETURN_IF_ERROR(EmitUnmatched(partition, nullptr));
    }
  }
  return Status::Ok();
}

void Topology::OnCommitted() {
  ObserveEndToEnd();
  for (const auto& [partition, stream_time_ms] : flushed_stream_times_) {
    PublishStreamTime(partition, stream_time_ms);
  }
  if (retention_ != nullptr) {
    for (const auto& [partition, stream_time_ms] : flushed_stream_times_) {
      if (stream_time_ms == INT64_MIN) continue;
      for (const std::string& store : stores_) {
        retention_->AdvanceStreamTime(store, partition, stream_time_ms);
      }
    }
  }
  flushed_stream_times_.clear();
  for (const auto& [partition, progress] : flushed_progress_) {
    committed_progress_[partition] = progress;
  }
  flushed_progress_.clear();
}

std::optional<state::PartitionProgress> Topology::CommittedProgress(
    const TopicPartition& partition) const {
  auto found = committed_progress_.find(partition);
  if (found == committed_progress_.end()) return std::nullopt;
  return found->second;
}

}  // namespace eddy::engine
