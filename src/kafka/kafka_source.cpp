#include "kafka/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

namespace eddy::kafka {
namespace {

// Properties eddy sets itself because its exactness depends on them.
const std::map<std::string, std::string>& ManagedProperties() {
  static const std::map<std::string, std::string> kManaged = {
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
  };
  return kManaged;
}

// Defaults an experienced Kafka Streams user expects; the config may override them.
const std::map<std::string, std::string>& DefaultProperties() {
  static const std::map<std::string, std::string> kDefaults = {
      {"auto.offset.reset", "earliest"},
      {"client.id", "eddy"},
      // A bounded prefetch (docs/error-handling.md#memory-bound), sized so that it never
      // starves processing. librdkafka 2.0.2 stops fetching a partition once the consumer
      // queue holds queued.min.messages records or queued.max.messages.kbytes of payload,
      // and looks again only after a fixed 1 s (librdkafka issue #2879; 2.2 made it
      // fetch.queue.backoff.ms). So a queue smaller than one second of processing caps
      // throughput at the queue size per second: with librdkafka's 100,000 records,
      // passthrough ran at ~170k records/s with the CPU mostly idle; at 500,000 records /
      // 64 MiB it ran at ~600k records/s (benchmarks/compare, scenario a). librdkafka's own
      // byte default (1 GiB per partition) would be unbounded in practice; 64 MiB of payload
      // plus ~250 bytes of bookkeeping per queued record is the memory this costs.
      // A member learns that its group is rebalancing from a heartbeat's answer. When a
      // second worker (processing.threads) joins a moment after the first has its partitions,
      // the first keeps them until that answer, and readiness waits for both: with
      // librdkafka's 3 s, restart to ready took 3.07 s (benchmarks/compare, scenario d, two
      // workers; debug=cgrp showed the 3 s wait for the heartbeat).
      {"heartbeat.interval.ms", "500"},
      {"queued.min.messages", "500000"},
      {"queued.max.messages.kbytes", "65536"},
      {"fetch.max.bytes", "8388608"},
  };
  return kDefaults;
}

struct ConfDeleter {
  void operator()(RdKafka::Conf* conf) const { delete conf; }
};
using ConfPtr = std::unique_ptr<RdKafka::Conf, ConfDeleter>;

void SetOrDiagnose(RdKafka::Conf& conf, const config::KafkaProperty& property,
                   std::vector<config::Diagnostic>& errors) {
  std::string error;
  if (ManagedProperties().count(property.name) != 0 &&
      property.value != ManagedProperties().at(property.name)) {
    errors.push_back({property.location,
                      "kafka property '" + property.name + "' must be " +
                          ManagedProperties().at(property.name) +
                          ": eddy stores offsets in RocksDB together with its state and commits "
                          "them itself"});
    return;
  }
  if (conf.set(property.name, property.value, error) != RdKafka::Conf::CONF_OK) {
    // librdkafka quotes rejected values ('Invalid value "x" for ...'): never a secret one.
    errors.push_back({property.location,
                      "kafka property '" + property.name +
                          "': " + config::RedactSecrets(error, config::KafkaConfig{{property}})});
  }
}

}  // namespace

void ValidateKafkaProperties(const config::KafkaConfig& kafka,
                             std::vector<config::Diagnostic>& errors) {
  ConfPtr conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const config::KafkaProperty& property : kafka.properties)
    SetOrDiagnose(*conf, property, errors);
}

class KafkaSource::Impl final : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  explicit Impl(metrics::Metrics& metrics) : metrics_(metrics) {}
  ~Impl() override {
    if (consumer_ && !closed_) (void)Close();
  }

  rd_kafka_t* handle() { return consumer_->c_ptr(); }

  Status Init(const config::KafkaConfig& kafka) {
    ConfPtr conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    std::set<std::string> configured;
    for (const auto& property : kafka.properties) configured.insert(property.name);
    for (const auto& [name, value] : DefaultProperties()) {
      if (configured.count(name) == 0 && conf->set(name, value, error) != RdKafka::Conf::CONF_OK) {
        return Status::Internal("kafka default " + name + ": " + error);
      }
    }
    std::vector<config::Diagnostic> errors;
    for (const auto& property : kafka.properties) SetOrDiagnose(*conf, property, errors);
    if (!errors.empty()) return Status::InvalidArgument(errors.front().ToString());
    for (const auto& [name, value] : ManagedProperties()) {
      if (conf->set(name, value, error) != RdKafka::Conf::CONF_OK) {
        return Status::Internal("kafka property " + name + ": " + error);
      }
    }
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), error) !=
            RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), error) !=
            RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka callbacks: " + error);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!consumer_) {
      return Status::InvalidArgument("cannot create Kafka consumer: " +
                                     config::RedactSecrets(error, kafka));
    }
    return Status::Ok();
  }

  Status Subscribe(const std::vector<std::string>& topics, engine::SourceListener* listener) {
    listener_ = listener;
    RdKafka::ErrorCode code = consumer_->subscribe(topics);
    if (code != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("subscribe failed: " + RdKafka::err2str(code));
    }
    return Status::Ok();
  }

  // Takes what the consumer queue holds in one call (rd_kafka_consume_batch_queue, no
  // per-record allocation or topic-name copy), waiting up to `timeout` only when it is empty.
  // (consume_batch_queue itself would wait out the whole timeout to fill the batch.)
  Status Poll(std::chrono::milliseconds timeout, size_t max_records,
              std::vector<engine::Record>& out) {
    out.clear();
    held_.clear();
    if (!queue_) queue_.reset(rd_kafka_queue_get_consumer(handle()));
    batch_.resize(max_records);
    ssize_t taken = rd_kafka_consume_batch_queue(queue_.get(), 0, batch_.data(), max_records);
    if (taken == 0) {
      if (rd_kafka_message_t* first =
              rd_kafka_consumer_poll(handle(), static_cast<int>(timeout.count()))) {
        batch_[0] = first;
        const ssize_t rest =
            rd_kafka_consume_batch_queue(queue_.get(), 0, batch_.data() + 1, max_records - 1);
        taken = 1 + std::max<ssize_t>(rest, 0);
      }
    }
    const size_t count = static_cast<size_t>(std::max<ssize_t>(taken, 0));
    if (!listener_status_.ok()) {
      for (size_t i = 0; i < count; ++i) rd_kafka_message_destroy(batch_[i]);
      return listener_status_;
    }
    out.reserve(count);
    PositionsIt last_position = positions_.end();
    for (size_t i = 0; i < count; ++i) {
      MessagePtr message(batch_[i]);
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Partition EOF, unknown topic or partition while the broker catches up, transport
        // errors: librdkafka retries on its own; the loop keeps polling.
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          CountError(static_cast<RdKafka::ErrorCode>(message->err),
                     rd_kafka_message_errstr(message.get()));
        }
        continue;
      }
      engine::Record record;
      record.topic = TopicName(message->rkt);
      record.partition = message->partition;
      record.offset = message->offset;
      if (message->key != nullptr) {
        record.key = std::string_view(static_cast<const char*>(message->key), message->key_len);
      }
      record.value = std::string_view(static_cast<const char*>(message->payload), message->len);
      record.tombstone = message->payload == nullptr;
      record.timestamp_ms = rd_kafka_message_timestamp(message.get(), nullptr);
      // Header names and values point into the message's own headers, which live as long as
      // the message in held_.
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t h = 0; rd_kafka_header_get_all(headers, h, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++h) {
          record.headers.push_back(
              {std::string_view(name), std::string_view(static_cast<const char*>(value), size)});
        }
      }
      // Records of one partition come in offset order, mostly in runs: one map lookup per run.
      if (last_position == positions_.end() || last_position->first.first != record.topic ||
          last_position->first.second != record.partition) {
        last_position = positions_.try_emplace({record.topic, record.partition}, 0).first;
      }
      last_position->second = record.offset + 1;
      out.push_back(std::move(record));
      held_.push_back(std::move(message));
    }
    return Status::Ok();
  }

  void CommitAsync(const std::vector<engine::PartitionOffset>& offsets) {
    std::vector<RdKafka::TopicPartition*> partitions;
    for (const auto& offset : offsets) {
      partitions.push_back(RdKafka::TopicPartition::create(
          offset.partition.topic, offset.partition.partition, offset.next_offset));
    }
    RdKafka::ErrorCode code = consumer_->commitAsync(partitions);
    if (code != RdKafka::ERR_NO_ERROR) CountError(code, "commit: " + RdKafka::err2str(code));
    RdKafka::TopicPartition::destroy(partitions);
  }

  std::vector<engine::PartitionLag> Lag() {
    std::vector<engine::PartitionLag> lags;
    for (const auto& [partition, start] : assigned_) {
      int64_t low = 0;
      int64_t high = 0;
      if (consumer_->get_watermark_offsets(partition.topic, partition.partition, &low, &high) !=
              RdKafka::ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      int64_t next = start;
      if (auto it = positions_.find({partition.topic, partition.partition}); it != positions_.end())
        next = it->second;
      if (next < 0) next = low;  // nothing consumed yet, start unknown: lag from the log start
      lags.push_back({partition, std::max<int64_t>(0, high - next), high});
    }
    return lags;
  }

  Status PauseAt(const engine::TopicPartition& partition, int64_t offset) {
    std::vector<RdKafka::TopicPartition*> list = {
        RdKafka::TopicPartition::create(partition.topic, partition.partition, offset)};
    RdKafka::ErrorCode code = consumer_->pause(list);
    if (code == RdKafka::ERR_NO_ERROR) {
      // Seeking drops what was fetched past `offset`; fetching restarts there on resume.
      code = consumer_->seek(*list[0], 10'000);
    }
    RdKafka::TopicPartition::destroy(list);
    if (code != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("pause " + partition.topic + "/" +
                                 std::to_string(partition.partition) + ": " +
                                 RdKafka::err2str(code));
    }
    paused_.insert(partition);
    const std::string_view topic = *held_topics_.insert(partition.topic).first;
    positions_[{topic, partition.partition}] = offset;
    return Status::Ok();
  }

  Status Resume(const engine::TopicPartition& partition) {
    if (paused_.erase(partition) == 0) return Status::Ok();
    std::vector<RdKafka::TopicPartition*> list = {
        RdKafka::TopicPartition::create(partition.topic, partition.partition)};
    const RdKafka::ErrorCode code = consumer_->resume(list);
    RdKafka::TopicPartition::destroy(list);
    if (code != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("resume " + partition.topic + "/" +
                                 std::to_string(partition.partition) + ": " +
                                 RdKafka::err2str(code));
    }
    return Status::Ok();
  }

  Result<int64_t> EndOffset(const engine::TopicPartition& partition,
                            std::chrono::milliseconds timeout) {
    int64_t low = 0;
    int64_t high = 0;
    const RdKafka::ErrorCode code = consumer_->query_watermark_offsets(
        partition.topic, partition.partition, &low, &high, static_cast<int>(timeout.count()));
    if (code != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("end offset of " + partition.topic + "/" +
                                 std::to_string(partition.partition) + ": " +
                                 RdKafka::err2str(code));
    }
    return high;
  }

  std::optional<int64_t> Position(const engine::TopicPartition& partition) {
    for (const auto& [where, next] : positions_) {
      if (where.first == partition.topic && where.second == partition.partition) return next;
    }
    auto assigned = assigned_.find(partition);
    if (assigned == assigned_.end() || assigned->second < 0) return std::nullopt;
    return assigned->second;
  }

  Result<int32_t> PartitionCount(const std::string& topic, std::chrono::milliseconds timeout) {
    std::string error;
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(consumer_.get(), topic, nullptr, error));
    if (!handle) return Status::Internal("topic handle for " + topic + ": " + error);
    RdKafka::Metadata* raw = nullptr;
    const RdKafka::ErrorCode code =
        consumer_->metadata(false, handle.get(), &raw, static_cast<int>(timeout.count()));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (code != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("metadata of " + topic + ": " + RdKafka::err2str(code));
    }
    for (const RdKafka::TopicMetadata* described : *metadata->topics()) {
      if (described->topic() != topic) continue;
      if (described->err() != RdKafka::ERR_NO_ERROR) {
        return Status::NotFound("topic " + topic + ": " + RdKafka::err2str(described->err()));
      }
      return static_cast<int32_t>(described->partitions()->size());
    }
    return Status::NotFound("topic " + topic + " not in the broker's metadata");
  }

  Status Close() {
    if (closed_) return Status::Ok();
    closed_ = true;
    held_.clear();
    queue_.reset();
    // close() triggers the final revoke through rebalance_cb (commits state) and leaves
    // the group.
    RdKafka::ErrorCode code = consumer_->close();
    if (!listener_status_.ok()) return listener_status_;
    if (code != RdKafka::ERR_NO_ERROR)
      return Status::Unavailable("consumer close: " + RdKafka::err2str(code));
    return Status::Ok();
  }

  // RdKafka::RebalanceCb
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode code,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (code == RdKafka::ERR__ASSIGN_PARTITIONS) {
      {
        // The group coordinator answered: whatever failed to authenticate before does not
        // stand in the way any more.
        std::lock_guard lock(authentication_mu_);
        authentication_error_.clear();
      }
      std::vector<engine::PartitionStart> starts;
      for (auto* partition : partitions)
        starts.push_back({{partition->topic(), partition->partition()}, std::nullopt});
      if (listener_ && listener_status_.ok())
        listener_status_ = listener_->OnPartitionsAssigned(starts);
      for (size_t i = 0; i < partitions.size(); ++i) {
        if (starts[i].offset) partitions[i]->set_offset(*starts[i].offset);
        assigned_[starts[i].partition] = starts[i].offset.value_or(-1);
        positions_.erase({starts[i].partition.topic, starts[i].partition.partition});
        paused_.erase(starts[i].partition);
      }
      RdKafka::Error* error = nullptr;
      RdKafka::ErrorCode assign_code = RdKafka::ERR_NO_ERROR;
      if (cooperative)
        error = consumer->incremental_assign(partitions);
      else
        assign_code = consumer->assign(partitions);
      ReportAssignError(error, assign_code, "assign");
    } else {
      std::vector<engine::TopicPartition> revoked;
      for (auto* partition : partitions)
        revoked.push_back({partition->topic(), partition->partition()});
      if (listener_ && listener_status_.ok())
        listener_status_ = listener_->OnPartitionsRevoked(revoked);
      // librdkafka keeps a partition paused across a rebalance, while the engine starts
      // every assignment unpaused: a paused partition assigned to this consumer again would
      // never be fetched. Resume what is paused before it goes.
      std::vector<RdKafka::TopicPartition*> paused;
      for (const auto& partition : revoked) {
        if (paused_.count(partition) > 0) {
          paused.push_back(RdKafka::TopicPartition::create(partition.topic, partition.partition));
        }
        assigned_.erase(partition);
        positions_.erase({partition.topic, partition.partition});
        paused_.erase(partition);
      }
      if (!paused.empty()) {
        if (const RdKafka::ErrorCode resumed = consumer->resume(paused);
            resumed != RdKafka::ERR_NO_ERROR) {
          spdlog::warn("resuming revoked partitions failed: {}", RdKafka::err2str(resumed));
        }
        RdKafka::TopicPartition::destroy(paused);
      }
      RdKafka::Error* error = nullptr;
      RdKafka::ErrorCode assign_code = RdKafka::ERR_NO_ERROR;
      if (cooperative)
        error = consumer->incremental_unassign(partitions);
      else
        assign_code = consumer->unassign();
      ReportAssignError(error, assign_code, "unassign");
    }
  }

  // RdKafka::EventCb
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        CountError(event.err(), event.str());
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
          spdlog::warn("kafka: {} {}", event.fac(), event.str());
        } else {
          spdlog::debug("kafka: {} {}", event.fac(), event.str());
        }
        break;
      default:
        break;
    }
  }

  std::string AuthenticationError() const {
    std::lock_guard lock(authentication_mu_);
    return authentication_error_;
  }

 private:
  void CountError(RdKafka::ErrorCode code, const std::string& message) {
    // The error's name (e.g. "_TRANSPORT"), a stable label; the description goes to the log.
    metrics_.kafka_errors
        .Add({{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code))}})
        .Increment();
    spdlog::warn("kafka: {}", message);
    if (code == RdKafka::ERR__AUTHENTICATION || code == RdKafka::ERR_SASL_AUTHENTICATION_FAILED) {
      std::lock_guard lock(authentication_mu_);
      authentication_error_ = message;
    }
  }

  void ReportAssignError(RdKafka::Error* error, RdKafka::ErrorCode code, const char* what) {
    if (error != nullptr) {
      spdlog::error("kafka {} failed: {}", what, error->str());
      if (listener_status_.ok())
        listener_status_ = Status::Unavailable(std::string(what) + ": " + error->str());
      delete error;
    } else if (code != RdKafka::ERR_NO_ERROR) {
      spdlog::error("kafka {} failed: {}", what, RdKafka::err2str(code));
      if (listener_status_.ok())
        listener_status_ = Status::Unavailable(std::string(what) + ": " + RdKafka::err2str(code));
    }
  }

  metrics::Metrics& metrics_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  engine::SourceListener* listener_ = nullptr;
  // First error returned by the listener; ends processing at the next Poll.
  Status listener_status_;
  bool closed_ = false;
  // The topic name of a librdkafka topic handle, as a view into held_topics_ (handles live
  // as long as the consumer).
  std::string_view TopicName(rd_kafka_topic_t* topic) {
    auto [it, inserted] = topic_names_.try_emplace(topic);
    if (inserted) it->second = *held_topics_.insert(std::string(rd_kafka_topic_name(topic))).first;
    return it->second;
  }

  struct MessageDestroyer {
    void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
  };
  using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDestroyer>;
  struct QueueDestroyer {
    void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
  };
  // The consumer's queue (created at the first Poll); released before the consumer.
  std::unique_ptr<rd_kafka_queue_t, QueueDestroyer> queue_;
  std::vector<rd_kafka_message_t*> batch_;  // consume_batch_queue's output array
  // Messages whose bytes the records of the last Poll point into.
  std::vector<MessagePtr> held_;
  // Topic names the records' string_views point into; stable for the source's lifetime.
  std::set<std::string, std::less<>> held_topics_;
  std::map<const rd_kafka_topic_t*, std::string_view> topic_names_;
  std::map<engine::TopicPartition, int64_t> assigned_;  // partition -> start offset (-1 unknown)
  std::set<engine::TopicPartition> paused_;
  // (topic, partition) -> next offset after the last consumed; topic views point into
  // held_topics_, so no string is built per record.
  std::map<std::pair<std::string_view, int32_t>, int64_t> positions_;
  using PositionsIt = std::map<std::pair<std::string_view, int32_t>, int64_t>::iterator;
  // The last authentication failure (AuthenticationError); written by the processing
  // thread, read by the HTTP threads.
  mutable std::mutex authentication_mu_;
  std::string authentication_error_;  // guarded by authentication_mu_
};

Result<std::unique_ptr<KafkaSource>> KafkaSource::Create(const config::KafkaConfig& kafka,
                                                         metrics::Metrics& metrics) {
  auto impl = std::make_unique<Impl>(metrics);
  EDDY_RETURN_IF_ERROR(impl->Init(kafka));
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(impl)));
}

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSource::~KafkaSource() = default;

Status KafkaSource::Subscribe(const std::vector<std::string>& topics,
                              engine::SourceListener* listener) {
  return impl_->Subscribe(topics, listener);
}
Status KafkaSource::Poll(std::chrono::milliseconds timeout, size_t max_records,
                         std::vector<engine::Record>& out) {
  return impl_->Poll(timeout, max_records, out);
}
void KafkaSource::CommitAsync(const std::vector<engine::PartitionOffset>& offsets) {
  impl_->CommitAsync(offsets);
}
std::vector<engine::PartitionLag> KafkaSource::Lag() {
  return impl_->Lag();
}
Status KafkaSource::PauseAt(const engine::TopicPartition& partition, int64_t offset) {
  return impl_->PauseAt(partition, offset);
}
Status KafkaSource::Resume(const engine::TopicPartition& partition) {
  return impl_->Resume(partition);
}
Result<int64_t> KafkaSource::EndOffset(const engine::TopicPartition& partition,
                                       std::chrono::milliseconds timeout) {
  return impl_->EndOffset(partition, timeout);
}
rd_kafka_t* KafkaSource::handle() {
  return impl_->handle();
}
std::optional<int64_t> KafkaSource::Position(const engine::TopicPartition& partition) {
  return impl_->Position(partition);
}
Result<int32_t> KafkaSource::PartitionCount(const std::string& topic,
                                            std::chrono::milliseconds timeout) {
  return impl_->PartitionCount(topic, timeout);
}

std::string KafkaSource::AuthenticationError() const {
  return impl_->AuthenticationError();
}

Status KafkaSource::Close() {
  return impl_->Close();
}

}  // namespace eddy::kafka
