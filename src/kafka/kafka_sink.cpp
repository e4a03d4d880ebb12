#include "kafka/kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <map>
#include <optional>
#include <utility>

namespace eddy::kafka {
namespace {

using Clock = std::chrono::steady_clock;

// Defaults for the producer; the config may override each.
const std::map<std::string, std::string>& DefaultProperties() {
  static const std::map<std::string, std::string> kDefaults = {
      {"client.id", "eddy"},
      // Sink values are JSON: lz4 shrinks them several times at little CPU cost.
      {"compression.type", "lz4"},
      // librdkafka's own default (consistent_random, CRC32) places keys differently from the
      // Java client (murmur2); eddy's output should be partitioned like Kafka Streams' output.
      {"partitioner", "murmur2_random"},
  };
  return kDefaults;
}

bool IsAcksAll(const std::string& value) {
  return value == "all" || value == "-1";
}

// Appends a Diagnostic if `property` contradicts what the sink forces.
void CheckManaged(const config::KafkaProperty& property, std::vector<config::Diagnostic>& errors) {
  const std::string& name = property.name;
  if (name == "enable.idempotence" && property.value != "true") {
    errors.push_back({property.location,
                      "kafka property 'enable.idempotence' must be true: eddy's sinks use the "
                      "idempotent producer, so retries never duplicate or reorder records"});
  } else if ((name == "acks" || name == "request.required.acks") && !IsAcksAll(property.value)) {
    errors.push_back({property.location, "kafka property '" + name +
                                             "' must be all (or -1): the idempotent producer of "
                                             "eddy's sinks requires it"});
  } else if (name == "transactional.id") {
    errors.push_back({property.location,
                      "kafka property 'transactional.id' is not supported: set "
                      "delivery.guarantee: exactly_once (and delivery.transactional_id to "
                      "choose the id) for transactional sinks"});
  }
}

struct ConfDeleter {
  void operator()(RdKafka::Conf* conf) const { delete conf; }
};
using ConfPtr = std::unique_ptr<RdKafka::Conf, ConfDeleter>;

const char* ErrorName(RdKafka::ErrorCode code) {
  return rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code));
}

}  // namespace

Status DeliveryStatus(int error_code, const std::string& message) {
  switch (static_cast<RdKafka::ErrorCode>(error_code)) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_INVALID_TIMESTAMP:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR_INVALID_MSG_SIZE:
      return Status::InvalidArgument(message);
    case RdKafka::ERR__FATAL:
      return Status::Internal(message);
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR__UNKNOWN_PARTITION:
      return Status::NotFound(message);
    default:
      return Status::Unavailable(message);
  }
}

const std::set<std::string>& ConsumerOnlyProperties() {
  static const std::set<std::string> kConsumerOnly = {
      // global
      "group.id",
      "group.instance.id",
      "partition.assignment.strategy",
      "session.timeout.ms",
      "heartbeat.interval.ms",
      "group.protocol.type",
      "coordinator.query.interval.ms",
      "max.poll.interval.ms",
      "enable.auto.commit",
      "auto.commit.interval.ms",
      "enable.auto.offset.store",
      "queued.min.messages",
      "queued.max.messages.kbytes",
      "fetch.wait.max.ms",
      "fetch.message.max.bytes",
      "max.partition.fetch.bytes",
      "fetch.max.bytes",
      "fetch.min.bytes",
      "fetch.error.backoff.ms",
      "offset.store.method",
      "isolation.level",
      "enable.partition.eof",
      "check.crcs",
      // topic-level, settable through the global configuration
      "auto.commit.enable",
      "auto.offset.reset",
      "offset.store.path",
      "offset.store.sync.interval.ms",
      "consume.callback.max.messages",
  };
  return kConsumerOnly;
}

void ValidateKafkaSinkProperties(const config::KafkaConfig& kafka,
                                 std::vector<config::Diagnostic>& errors) {
  for (const config::KafkaProperty& property : kafka.properties) CheckManaged(property, errors);
}

class KafkaSink::Impl final : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
 public:
  explicit Impl(metrics::Metrics& metrics) : metrics_(metrics) {}
  ~Impl() override {
    if (!producer_) return;
    // Serves the last delivery reports; see ~KafkaSink for why dropping the rest is safe.
    if (producer_->flush(static_cast<int>(kCloseTimeout.count())) != RdKafka::ERR_NO_ERROR) {
      spdlog::warn(
          "kafka sink: closing with {} message(s) unacknowledged; they are produced again "
          "after the restart",
          producer_->outq_len());
      // Fail them now (delivery reports: _PURGE_QUEUE / _PURGE_INFLIGHT) rather than leave
      // them to the producer's destruction.
      static_cast<void>(
          producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT));
      producer_->poll(0);
    }
    producer_.reset();  // before the members its callbacks use
  }

  Status Init(const config::KafkaConfig& kafka, const std::string& transactional_id) {
    ConfPtr conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    // Defaults first: a configured property, or an alias of one (compression.codec), wins.
    for (const auto& [name, value] : DefaultProperties()) {
      if (conf->set(name, value, error) != RdKafka::Conf::CONF_OK) {
        return Status::Internal("kafka sink default " + name + ": " + error);
      }
    }
    std::vector<config::Diagnostic> errors;  // in file order
    for (const config::KafkaProperty& property : kafka.properties) {
      CheckManaged(property, errors);
      if (ConsumerOnlyProperties().count(property.name) != 0) {
        spdlog::debug("kafka sink: consumer property '{}' not passed to the producer",
                      property.name);
        continue;
      }
      if (conf->set(property.name, property.value, error) != RdKafka::Conf::CONF_OK) {
        errors.push_back({property.location, "kafka property '" + property.name +
                                                 "': " + config::RedactSecrets(error, kafka)});
      }
    }
    if (!errors.empty()) return Status::InvalidArgument(errors.front().ToString());
    if (conf->set("enable.idempotence", "true", error) != RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka property enable.idempotence: " + error);
    }
    if (!transactional_id.empty() &&
        conf->set("transactional.id", transactional_id, error) != RdKafka::Conf::CONF_OK) {
      return Status::InvalidArgument("transactional.id '" + transactional_id + "': " + error);
    }
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), error) !=
            RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), error) !=
            RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka sink callbacks: " + error);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), error));
    if (!producer_) {
      return Status::InvalidArgument("cannot create Kafka producer: " +
                                     config::RedactSecrets(error, kafka));
    }
    return Status::Ok();
  }

  Status Send(engine::SinkRecord& record) {
    TopicProbe& probe = ProbeFor(record.topic);
    std::unique_ptr<RdKafka::Headers> headers;
    if (!record.headers.empty()) {
      headers.reset(RdKafka::Headers::create());
      for (const auto& [name, value] : record.headers) {
        headers->add(name, value.data(), value.size());
      }
    }
    const void* key = record.key ? record.key->data() : nullptr;
    const size_t key_len = record.key ? record.key->size() : 0;
    const auto deadline = Clock::now() + kQueueFullTimeout;
    RdKafka::ErrorCode code;
    for (;;) {
      // RK_MSG_COPY: librdkafka copies key, value and headers' bytes before returning.
      code = producer_->produce(record.topic, RdKafka::Topic::PARTITION_UA,
                                RdKafka::Producer::RK_MSG_COPY, record.value.data(),
                                record.value.size(), key, key_len, record.timestamp_ms,
                                headers.get(), &probe);
      if (code != RdKafka::ERR__QUEUE_FULL || Clock::now() >= deadline) break;
      producer_->poll(100);  // serves delivery reports, which make room
    }
    if (code != RdKafka::ERR_NO_ERROR) {
      CountSinkError(probe, code);
      return ProduceError(code, record);
    }
    static_cast<void>(headers.release());  // produce() took ownership on success
    producer_->poll(0);
    return Status::Ok();
  }

  Status Flush(std::chrono::milliseconds timeout) {
    const auto timeout_ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
        timeout.count(), 0, std::numeric_limits<int>::max()));
    const RdKafka::ErrorCode code = producer_->flush(timeout_ms);
    const size_t failed = failed_since_flush_;
    const std::string first_failure = std::move(first_failure_);
    failed_since_flush_ = 0;
    first_failure_.clear();
    std::string fatal;
    if (producer_->fatal_error(fatal) != RdKafka::ERR_NO_ERROR) {
      return Status::Internal("kafka sink: producer failed fatally: " + fatal);
    }
    if (failed > 0) {
      return Status::Unavailable(
          "kafka sink: " + std::to_string(failed) +
          " record(s) not delivered since the last flush; first: " + first_failure);
    }
    if (code != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("kafka sink: " + std::to_string(producer_->outq_len()) +
                                 " message(s) or request(s) still unacknowledged after " +
                                 std::to_string(timeout_ms) + " ms");
    }
    return Status::Ok();
  }

  std::optional<std::string> EffectiveProperty(const std::string& name) const {
    const rd_kafka_conf_t* conf = rd_kafka_conf(producer_->c_ptr());
    // librdkafka answers RD_KAFKA_CONF_UNKNOWN both for an unknown name and for a string
    // property that is not set (group.id).
    size_t size = 0;
    if (rd_kafka_conf_get(conf, name.c_str(), nullptr, &size) != RD_KAFKA_CONF_OK) {
      return std::nullopt;
    }
    std::string value(size, '\0');
    if (rd_kafka_conf_get(conf, name.c_str(), value.data(), &size) != RD_KAFKA_CONF_OK) {
      return std::nullopt;
    }
    value.resize(std::min(size, value.size()));
    if (!value.empty() && value.back() == '\0') value.pop_back();  // size counts the NUL
    return value;
  }

  rd_kafka_t* handle() { return producer_->c_ptr(); }

  // RdKafka::DeliveryReportCb
  void dr_cb(RdKafka::Message& message) override {
    auto* probe = static_cast<TopicProbe*>(message.msg_opaque());
    assert(probe != nullptr);  // every produce() passes its topic's probe
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      probe->sent.Increment();
      return;
    }
    CountSinkError(*probe, message.err());
    const std::string description =
        "record to " + probe->topic +
        (message.partition() >= 0 ? " [" + std::to_string(message.partition()) + "]"
                                  : std::string()) +
        ": " + ErrorName(message.err()) + " (" + message.errstr() + ")";
    if (failed_since_flush_++ == 0) first_failure_ = description;
    // Kept whole, so that the engine can send it again or dead-letter it.
    engine::FailedDelivery failed;
    failed.record.topic = probe->topic;
    if (message.key_pointer() != nullptr) {
      failed.record.key =
          std::string(static_cast<const char*>(message.key_pointer()), message.key_len());
    }
    if (message.payload() != nullptr) {
      failed.record.value = std::string(static_cast<const char*>(message.payload()), message.len());
    }
    failed.record.timestamp_ms = message.timestamp().timestamp;
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message.c_ptr(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        failed.record.headers.emplace_back(
            name,
            value != nullptr ? std::string(static_cast<const char*>(value), size) : std::string());
      }
    }
    failed.error = DeliveryStatus(message.err(), description);
    failed_.push_back(std::move(failed));
  }

  std::vector<engine::FailedDelivery> TakeFailed() { return std::exchange(failed_, {}); }

  // RdKafka::EventCb
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        metrics_.kafka_errors.Add({{"error", ErrorName(event.err())}}).Increment();
        if (event.fatal()) {
          spdlog::error("kafka sink: fatal: {}", event.str());
        } else {
          spdlog::warn("kafka sink: {}", event.str());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
          spdlog::warn("kafka sink: {} {}", event.fac(), event.str());
        } else {
          spdlog::debug("kafka sink: {} {}", event.fac(), event.str());
        }
        break;
      default:
        break;
    }
  }

 private:
  // Per output topic: its name and delivered-records counter. Handed to produce() as the
  // message's opaque, so a delivery report finds it without a lookup. Stable addresses
  // (std::map nodes) for the sink's lifetime.
  struct TopicProbe {
    std::string topic;
    prometheus::Counter& sent;
  };

  TopicProbe& ProbeFor(const std::string& topic) {
    auto it = probes_.find(topic);
    if (it == probes_.end()) {
      it =
          probes_
              .emplace(topic, TopicProbe{topic, metrics_.sink_records_sent.Add({{"topic", topic}})})
              .first;
    }
    return it->second;
  }

  void CountSinkError(const TopicProbe& probe, RdKafka::ErrorCode code) {
    metrics_.sink_errors.Add({{"topic", probe.topic}, {"error", ErrorName(code)}}).Increment();
  }

  Status ProduceError(RdKafka::ErrorCode code, const engine::SinkRecord& record) const {
    const std::string what = "kafka sink: cannot send a record to " + record.topic + ": ";
    switch (code) {
      case RdKafka::ERR_MSG_SIZE_TOO_LARGE: {
        const size_t size = record.value.size() + (record.key ? record.key->size() : 0);
        const std::optional<std::string> limit = EffectiveProperty("message.max.bytes");
        return Status::InvalidArgument(what + std::to_string(size) +
                                       " bytes of key and value exceed message.max.bytes (" +
                                       limit.value_or("?") + ")");
      }
      case RdKafka::ERR__UNKNOWN_TOPIC:
        return Status::NotFound(what + "_UNKNOWN_TOPIC (the topic does not exist)");
      case RdKafka::ERR__QUEUE_FULL:
        return Status::Unavailable(what + "the producer queue stayed full for " +
                                   std::to_string(kQueueFullTimeout.count()) +
                                   " ms (queue.buffering.max.messages / .kbytes)");
      case RdKafka::ERR__FATAL: {
        std::string fatal;
        static_cast<void>(producer_->fatal_error(fatal));
        return Status::Internal(what + "the producer failed fatally: " + fatal);
      }
      default:
        return DeliveryStatus(code, what + ErrorName(code) + " (" + RdKafka::err2str(code) + ")");
    }
  }

  metrics::Metrics& metrics_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::map<std::string, TopicProbe, std::less<>> probes_;
  // Delivery failures since the last Flush, and the first one's description.
  size_t failed_since_flush_ = 0;
  std::string first_failure_;
  std::vector<engine::FailedDelivery> failed_;  // until TakeFailed
};

Result<std::unique_ptr<KafkaSink>> KafkaSink::Create(const config::KafkaConfig& kafka,
                                                     metrics::Metrics& metrics,
                                                     const std::string& transactional_id) {
  auto impl = std::make_unique<Impl>(metrics);
  EDDY_RETURN_IF_ERROR(impl->Init(kafka, transactional_id));
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(impl)));
}

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() = default;

Status KafkaSink::Send(engine::SinkRecord record) {
  return impl_->Send(record);
}
Status KafkaSink::Flush(std::chrono::milliseconds timeout) {
  return impl_->Flush(timeout);
}
std::vector<engine::FailedDelivery> KafkaSink::TakeFailed() {
  return impl_->TakeFailed();
}
std::optional<std::string> KafkaSink::EffectiveProperty(const std::string& name) const {
  return impl_->EffectiveProperty(name);
}
rd_kafka_t* KafkaSink::handle() {
  return impl_->handle();
}

}  // namespace eddy::kafka
