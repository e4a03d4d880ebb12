#include "engine/topology.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/json_writer.h"
#include "engine/dedup.h"
#include "engine/table.h"
#include "expr/expr.h"
#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

const char* ReasonLabel(int reason) {
  static const char* const kLabels[] = {"invalid_json", "missing_key", "invalid_key",
                                        "invalid_timestamp", "invalid_field"};
  return kLabels[reason];
}

// Logging every bad record would let one bad producer flood the log: log the first few,
// then one in every kLogEvery.
constexpr uint64_t kLogFirst = 20;
constexpr uint64_t kLogEvery = 10'000;

}  // namespace

Topology::Topology(const config::TopologyConfig& config, state::StateDb& db,
                   metrics::Metrics& metrics, state::WindowRetention* retention)
    : name_(config.name),
      topic_(config.source.topic),
      key_spec_(config.source.key),
      timestamp_spec_(config.source.timestamp),
      idle_timeout_(config.source.idle_timeout),
      db_(db),
      retention_(retention),
      processed_(metrics.records_processed.Add({{"topology", config.name}})) {
  for (int reason = 0; reason <= static_cast<int>(FailureReason::kInvalidField); ++reason) {
    failed_[static_cast<FailureReason>(reason)] =
        &metrics.records_failed.Add({{"topology", config.name}, {"reason", ReasonLabel(reason)}});
  }
}

Result<std::unique_ptr<Topology>> Topology::Create(const config::TopologyConfig& config,
                                                   state::StateDb& db, metrics::Metrics& metrics,
                                                   state::WindowRetention* retention, Sink* sink) {
  std::unique_ptr<Topology> topology(new Topology(config, db, metrics, retention));
  state::WriteBatch new_definitions;
  for (const config::StepConfig& step : config.steps) {
    StepNode node;
    node.kind = step.kind;
    node.expression = step.expression.parsed;
    for (const config::SelectField& field : step.select) {
      node.select.emplace_back(field.name, field.value.parsed);
    }
    if (step.kind == config::StepConfig::Kind::kSelect) {
      node.decoder = std::make_unique<codec::JsonRecordDecoder>();
    }
    // The tree: config validation guarantees `from` names a record-producing step above.
    if (step.from.empty()) {
      topology->source_children_.push_back(topology->nodes_.size());
    } else {
      for (size_t parent = 0; parent < topology->nodes_.size(); ++parent) {
        if (config.steps[parent].name == step.from) {
          topology->nodes_[parent].children.push_back(topology->nodes_.size());
        }
      }
    }
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
    if (step.kind == config::StepConfig::Kind::kDedup) {
      auto& duplicates =
          metrics.duplicates_dropped.Add({{"topology", config.name}, {"step", step.name}});
      auto dedup = std::make_unique<Dedup>(store, step, db, duplicates);
      EDDY_RETURN_IF_ERROR(check_definition(store, dedup->DefinitionFingerprint()));
      if (retention != nullptr) retention->RegisterStore(store, step.dedup.ttl.count());
      node.dedup = dedup.get();
      topology->stateful_.push_back(dedup.get());
      topology->stores_.push_back(store);
      topology->dedups_.push_back(std::move(dedup));
    }
    if (step.kind == config::StepConfig::Kind::kTable) {
      auto table = std::make_unique<TableStep>(store, step, db);
      EDDY_RETURN_IF_ERROR(check_definition(store, table->DefinitionFingerprint()));
      node.table = table.get();
      topology->stateful_.push_back(table.get());
      topology->tables_.push_back(std::move(table));
    }
    if (step.kind != config::StepConfig::Kind::kWindow) {
      topology->nodes_.push_back(std::move(node));
      continue;
    }

    auto& late = metrics.late_records_dropped.Add({{"topology", config.name}, {"step", step.name}});
    auto op = std::make_unique<WindowAggregate>(store, step, db, late);
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
      op->SetLateRecordEmitter([sink, topic = step.late_records_topic, topology = config.name,
                                step_name = step.name](const Event& event) {
        return sink->Send(LateRecord(topic, topology, step_name, event));
      });
    }
    EDDY_RETURN_IF_ERROR(check_definition(store, op->DefinitionFingerprint()));
    topology->stateful_.push_back(op.get());
    topology->stores_.push_back(store);
    node.window = op.get();
    topology->nodes_.push_back(std::move(node));
    topology->steps_.push_back(std::move(op));
  }
  if (new_definitions.Count() > 0) EDDY_RETURN_IF_ERROR(db.Write(new_definitions));

  for (const config::ViewConfig& view : config.views) {
    auto table = std::find_if(topology->tables_.begin(), topology->tables_.end(),
                              [&](const auto& t) { return t->name() == view.from; });
    if (table != topology->tables_.end()) {
      topology->views_.push_back(std::make_unique<TableView>(
          view.name, config.name, view.from, (*table)->store(), db, topology->owned_));
      continue;
    }
    auto step = std::find_if(topology->steps_.begin(), topology->steps_.end(),
                             [&](const auto& s) { return s->name() == view.from; });
    if (step == topology->steps_.end()) {
      return Status::InvalidArgument(view.location.ToString() + ": view '" + view.name +
                                     "' reads from unknown step '" + view.from + "'");
    }
    // steps_ holds only the window steps: find the step's config by name.
    const config::StepConfig& step_config = *std::find_if(
        config.steps.begin(), config.steps.end(),
        [&](const config::StepConfig& candidate) { return candidate.name == view.from; });
    ViewSpec spec{view.name,        config.name,        config.source.topic, view.from,
                  (*step)->store(), step_config.window, step_config.emit};
    topology->views_.push_back(
        std::make_unique<WindowView>(std::move(spec), (*step)->aggregates(), db, topology->owned_));
  }
  for (const config::SinkConfig& sink_config : config.sinks) {
    auto step = std::find_if(topology->steps_.begin(), topology->steps_.end(),
                             [&](const auto& s) { return s->name() == sink_config.from; });
    if (step == topology->steps_.end()) {
      return Status::InvalidArgument(sink_config.location.ToString() + ": sink '" +
                                     sink_config.name + "' reads from unknown step '" +
                                     sink_config.from + "'");
    }
    if (sink == nullptr) return Status::Internal("topology has sinks but no sink was given");
    const AggregateSet& aggregates = (*step)->aggregates();
    (*step)->SetEmitter([sink, &aggregates, topic = sink_config.topic,
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

Result<std::optional<int64_t>> Topology::OnAssigned(int32_t partition) {
  PartitionProgressState progress_state;
  Result<std::optional<std::string>> stored =
      db_.Get(state::EncodeProgressKey(name_, topic_, partition));
  if (!stored.ok()) return stored.status();
  std::optional<int64_t> resume;
  if (stored->has_value()) {
    std::optional<state::PartitionProgress> progress = state::DecodeProgress(**stored);
    if (!progress)
      return Status::Internal("corrupt progress entry for " + topic_ + "/" +
                              std::to_string(partition));
    progress_state.next_offset = progress->next_offset;
    progress_state.context.stream_time_ms = progress->stream_time_ms;
    // Idle advancement counts silence from the assignment on.
    progress_state.stream_time_at_last_record_ms = progress->stream_time_ms;
    if (retention_ != nullptr && progress->stream_time_ms != INT64_MIN) {
      for (const std::string& store : stores_) {
        retention_->AdvanceStreamTime(store, partition, progress->stream_time_ms);
      }
    }
    resume = progress->next_offset;
  }
  for (Operator* step : stateful_) {
    EDDY_RETURN_IF_ERROR(step->RestorePartition(partition, progress_state.context.stream_time_ms));
  }
  partitions_[partition] = progress_state;
  owned_.Add(partition);
  return resume;
}

void Topology::OnRevoked(int32_t partition) {
  partitions_.erase(partition);
  owned_.Remove(partition);
  for (Operator* step : stateful_) step->DropPartition(partition);
}

Result<int64_t> Topology::EventTime(const Record& record) {
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

void Topology::CountFailure(FailureReason reason, const Record& record, const Status& status) {
  failed_[reason]->Increment();
  const uint64_t n = failures_logged_++;
  if (n < kLogFirst || n % kLogEvery == 0) {
    spdlog::warn("topology {}: skipped record {}/{}@{} ({}): {}", name_, record.topic,
                 record.partition, record.offset, ReasonLabel(static_cast<int>(reason)),
                 status.message());
  }
}

Status Topology::Process(const Record& record) {
  auto found = partitions_.find(record.partition);
  if (found == partitions_.end()) return Status::Ok();  // not ours (revoked mid-batch)
  PartitionProgressState& progress = found->second;
  if (record.offset < progress.next_offset) return Status::Ok();  // already in state
  progress.next_offset = record.offset + 1;
  progress.dirty = true;

  if (record.tombstone) {
    // A null value deletes its key from the tables that read the source; nothing else can
    // use a record without a value.
    bool table_reads_source = false;
    for (size_t index : source_children_) table_reads_source |= nodes_[index].table != nullptr;
    if (!table_reads_source) {
      CountFailure(FailureReason::kInvalidJson, record,
                   Status::InvalidArgument("null value (a tombstone) and no table reads it"));
      return Status::Ok();
    }
    if (key_spec_.kind != config::KeySpec::Kind::kKafkaKey || !record.key) {
      CountFailure(FailureReason::kMissingKey, record,
                   Status::InvalidArgument("a tombstone (null value) is keyed by its Kafka key"));
      return Status::Ok();
    }
    for (size_t index : source_children_) {
      if (nodes_[index].table != nullptr) {
        nodes_[index].table->ApplyTombstone(record.partition, *record.key);
      }
    }
    processed_.Increment();
    return Status::Ok();
  }
  if (Status parsed = decoder_.Parse(record.value); !parsed.ok()) {
    CountFailure(FailureReason::kInvalidJson, record, parsed);
    return Status::Ok();
  }
  std::string key_storage;
  std::string_view key;
  if (key_spec_.kind == config::KeySpec::Kind::kKafkaKey) {
    if (!record.key) {
      CountFailure(FailureReason::kMissingKey, record,
                   Status::InvalidArgument("record has no Kafka key"));
      return Status::Ok();
    }
    key = *record.key;
  } else {
    Result<std::string> field = decoder_.KeyString(key_spec_.field_path);
    if (!field.ok()) {
      CountFailure(field.status().code() == StatusCode::kNotFound ? FailureReason::kMissingKey
                                                                  : FailureReason::kInvalidKey,
                   record, field.status());
      return Status::Ok();
    }
    key_storage = std::move(*field);
    key = key_storage;
  }
  Result<int64_t> event_time = EventTime(record);
  if (!event_time.ok()) {
    CountFailure(FailureReason::kInvalidTimestamp, record, event_time.status());
    return Status::Ok();
  }
  // Stream time advances before the late check, as in Kafka Streams: a record can close
  // older windows but never its own.
  progress.context.stream_time_ms = std::max(progress.context.stream_time_ms, *event_time);
  if (idle_timeout_.count() > 0) {
    progress.last_record_at = std::chrono::steady_clock::now();
    progress.stream_time_at_last_record_ms = progress.context.stream_time_ms;
  }

  const Event event{record.partition, record.offset, *event_time, key,
                    decoder_,         &record,       record.value};
  // Two phases over the step tree: prepare everything (filters, rekeys, selects and every
  // window's inputs), then apply the windows. A record that fails anywhere changes nothing.
  prepared_effects_.clear();
  FailureReason reason = FailureReason::kInvalidField;
  if (Status prepared = PrepareChildren(source_children_, event, progress.context, reason);
      !prepared.ok()) {
    CountFailure(reason, record, prepared);
    return Status::Ok();
  }
  for (StepNode* node : prepared_effects_) {
    Operator* step = node->window != nullptr  ? static_cast<Operator*>(node->window)
                     : node->dedup != nullptr ? static_cast<Operator*>(node->dedup)
                                              : static_cast<Operator*>(node->table);
    EDDY_RETURN_IF_ERROR(step->Apply(*node->input));
  }
  processed_.Increment();
  return Status::Ok();
}

Status Topology::PrepareChildren(const std::vector<size_t>& children, const Event& event,
                                 const PartitionContext& context, FailureReason& reason) {
  for (size_t index : children) {
    StepNode& node = nodes_[index];
    switch (node.kind) {
      case config::StepConfig::Kind::kWindow: {
        reason = FailureReason::kInvalidField;
        EDDY_RETURN_IF_ERROR(node.window->Prepare(event, context));
        node.input = &event;
        prepared_effects_.push_back(&node);
        continue;  // a window's results go to views and sinks, not to other steps
      }
      case config::StepConfig::Kind::kTable: {
        reason = FailureReason::kInvalidField;
        EDDY_RETURN_IF_ERROR(node.table->Prepare(event, context));
        node.input = &event;
        prepared_effects_.push_back(&node);
        continue;  // a table's rows go to views, not to other steps
      }
      case config::StepConfig::Kind::kDedup: {
        reason = FailureReason::kInvalidField;
        EDDY_RETURN_IF_ERROR(node.dedup->Prepare(event, context));
        node.input = &event;
        prepared_effects_.push_back(&node);
        if (!node.dedup->passed()) continue;
        node.output.emplace(event);
        break;
      }
      case config::StepConfig::Kind::kFilter: {
        Result<bool> keep = node.expression->EvaluatePredicate(event.value);
        if (!keep.ok()) {
          reason = FailureReason::kInvalidField;
          return keep.status();
        }
        if (!*keep) continue;
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
    }
    EDDY_RETURN_IF_ERROR(PrepareChildren(node.children, *node.output, context, reason));
  }
  return Status::Ok();
}

Status Topology::FlushTo(state::WriteBatch& batch, std::vector<PartitionOffset>& progressed) {
  // Stream times as this batch commits them.
  class StreamTimes final : public FlushContext {
   public:
    explicit StreamTimes(const std::map<int32_t, PartitionProgressState>& partitions)
        : partitions_(partitions) {}
    int64_t StreamTime(int32_t partition) const override {
      auto it = partitions_.find(partition);
      return it == partitions_.end() ? INT64_MIN : it->second.context.stream_time_ms;
    }

   private:
    const std::map<int32_t, PartitionProgressState>& partitions_;
  };
  const StreamTimes stream_times(partitions_);
  for (Operator* step : stateful_) EDDY_RETURN_IF_ERROR(step->FlushTo(batch, stream_times));
  for (auto& [partition, progress] : partitions_) {
    if (!progress.dirty) continue;
    batch.Put(state::EncodeProgressKey(name_, topic_, partition),
              state::EncodeProgress({progress.next_offset, progress.context.stream_time_ms}));
    progressed.push_back({{topic_, partition}, progress.next_offset});
    flushed_stream_times_.emplace_back(partition, progress.context.stream_time_ms);
    progress.dirty = false;
  }
  return Status::Ok();
}

bool Topology::AdvanceIdlePartitions(std::chrono::steady_clock::time_point now) {
  if (idle_timeout_.count() <= 0) return false;
  bool advanced = false;
  for (auto& [partition, progress] : partitions_) {
    // A partition that never saw a record has no event time to advance from.
    if (progress.stream_time_at_last_record_ms == INT64_MIN) continue;
    const auto silent =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - progress.last_record_at);
    if (silent < idle_timeout_) continue;
    const int64_t advanced_time = progress.stream_time_at_last_record_ms + silent.count();
    if (advanced_time > progress.context.stream_time_ms) {
      progress.context.stream_time_ms = advanced_time;
      progress.dirty = true;
      advanced = true;
    }
  }
  return advanced;
}

void Topology::OnCommitted() {
  if (retention_ != nullptr) {
    for (const auto& [partition, stream_time_ms] : flushed_stream_times_) {
      if (stream_time_ms == INT64_MIN) continue;
      for (const std::string& store : stores_) {
        retention_->AdvanceStreamTime(store, partition, stream_time_ms);
      }
    }
  }
  flushed_stream_times_.clear();
}

}  // namespace eddy::engine
