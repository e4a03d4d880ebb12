#include "support/kafka_test_env.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace eddy::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRequestTimeoutMs = 10000;

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what);
}

std::string Trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::unique_ptr<RdKafka::Producer> MakeProducer(const Settings& settings,
                                                RdKafka::DeliveryReportCb* dr_cb = nullptr) {
  auto conf = MakeConf(settings);
  std::string errstr;
  if (dr_cb != nullptr && conf->set("dr_cb", dr_cb, errstr) != RdKafka::Conf::CONF_OK) {
    Fail("dr_cb: " + errstr);
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), errstr));
  if (!producer) Fail("cannot create producer: " + errstr);
  return producer;
}

struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};

// Partitions of `topic` that have a leader, per the broker's metadata; -1 if the broker does
// not know the topic (yet).
int32_t PartitionsWithLeader(RdKafka::Handle& handle, const std::string& topic) {
  RdKafka::Metadata* raw = nullptr;
  const auto err = handle.metadata(true, nullptr, &raw, kRequestTimeoutMs);
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) Fail("metadata request failed: " + RdKafka::err2str(err));
  for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
    if (t->topic() != topic) continue;
    if (t->err() != RdKafka::ERR_NO_ERROR) return -1;
    int32_t with_leader = 0;
    for (const RdKafka::PartitionMetadata* p : *t->partitions()) {
      if (p->err() == RdKafka::ERR_NO_ERROR && p->leader() >= 0) ++with_leader;
    }
    return with_leader;
  }
  return -1;
}

class DeliveryTracker : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    ++reported_;
    if (message.err() != RdKafka::ERR_NO_ERROR && first_error_.empty()) {
      first_error_ = message.errstr() + " (partition " + std::to_string(message.partition()) + ")";
    }
  }
  size_t reported() const { return reported_; }
  const std::string& first_error() const { return first_error_; }

 private:
  size_t reported_ = 0;  // dr_cb runs inside poll()/flush() on the producing thread
  std::string first_error_;
};

}  // namespace

std::string KafkaBootstrap() {
  if (const char* env = std::getenv("EDDY_TEST_BOOTSTRAP"); env != nullptr && *env != '\0') {
    return env;
  }
  const std::string path = std::string(EDDY_KAFKA_LOCAL_DIR) + "/bootstrap";
  std::ifstream in(path);
  std::string address;
  if (in) std::getline(in, address);
  address = Trim(address);
  if (address.empty()) {
    Fail("no Kafka broker for integration tests: " + path +
         " is missing. Run `KAFKA_LOCAL_DIR=" EDDY_KAFKA_LOCAL_DIR
         " scripts/kafka-local start` (ctest does it through the kafka.start fixture), or set "
         "EDDY_TEST_BOOTSTRAP=host:port");
  }
  return address;
}

std::string UniqueName(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::ostringstream name;
  name << prefix << '-' << ::getpid() << '-' << counter.fetch_add(1) << '-' << now_ms;
  return name.str();
}

std::unique_ptr<RdKafka::Conf> MakeConf(const Settings& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string errstr;
  auto set = [&](const std::string& name, const std::string& value) {
    if (conf->set(name, value, errstr) != RdKafka::Conf::CONF_OK) {
      Fail("client config " + name + "=" + value + ": " + errstr);
    }
  };
  set("bootstrap.servers", KafkaBootstrap());
  for (const auto& [name, value] : settings) set(name, value);
  return conf;
}

void CreateTopic(const std::string& topic, int partitions, const Settings& configs) {
  auto producer = MakeProducer({});
  rd_kafka_t* rk = producer->c_ptr();
  char errstr[512];

  std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof errstr));
  if (!new_topic) Fail("NewTopic " + topic + ": " + errstr);
  for (const auto& [name, value] : configs) {
    if (rd_kafka_NewTopic_set_config(new_topic.get(), name.c_str(), value.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      Fail("NewTopic " + topic + ": config " + name + "=" + value);
    }
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_operation_timeout(options.get(), kRequestTimeoutMs, errstr,
                                                  sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Fail(std::string("AdminOptions: ") + errstr);
  }
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(rk, topics, 1, options.get(), queue.get());

  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(
      rd_kafka_queue_poll(queue.get(), 2 * kRequestTimeoutMs));
  if (!event) Fail("CreateTopics " + topic + ": no result within timeout");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Fail("CreateTopics " + topic + ": " + rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  if (result == nullptr) Fail("CreateTopics " + topic + ": unexpected event type");
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  if (count != 1) Fail("CreateTopics " + topic + ": " + std::to_string(count) + " results");
  if (rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* message = rd_kafka_topic_result_error_string(results[0]);
    Fail("CreateTopics " + topic + ": " +
         rd_kafka_err2name(rd_kafka_topic_result_error(results[0])) + ": " +
         (message != nullptr ? message : ""));
  }

  // The controller has committed the topic; the broker's metadata cache follows shortly.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (PartitionsWithLeader(*producer, topic) < partitions) {
    if (Clock::now() > deadline) Fail("topic " + topic + " created but its leaders never appeared");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int32_t PartitionCount(const std::string& topic) {
  auto producer = MakeProducer({});
  const int32_t count = PartitionsWithLeader(*producer, topic);
  if (count < 0) Fail("topic " + topic + " is not known to the broker");
  return count;
}

void Produce(const std::string& topic, const std::vector<TestRecord>& records,
             const Settings& settings) {
  Settings all{{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"}};
  for (const auto& [name, value] : settings) all[name] = value;
  DeliveryTracker tracker;
  auto producer = MakeProducer(all, &tracker);
  for (const TestRecord& record : records) {
    std::unique_ptr<RdKafka::Headers> headers;
    if (!record.headers.empty()) {
      headers.reset(RdKafka::Headers::create());
      for (const auto& [name, value] : record.headers) {
        headers->add(name, value.data(), value.size());
      }
    }
    // RK_MSG_COPY: librdkafka copies the payload, so the const_cast never leads to a write.
    // A null payload is a null value (a tombstone), not an empty one.
    char* const payload = record.value ? const_cast<char*>(record.value->data()) : nullptr;
    const size_t payload_size = record.value ? record.value->size() : 0;
    RdKafka::ErrorCode err;
    do {
      err = producer->produce(topic, record.partition, RdKafka::Producer::RK_MSG_COPY, payload,
                              payload_size, record.key.data(), record.key.size(),
                              record.timestamp_ms, headers.get(), nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) producer->poll(100);
    } while (err == RdKafka::ERR__QUEUE_FULL);
    if (err != RdKafka::ERR_NO_ERROR) Fail("produce to " + topic + ": " + RdKafka::err2str(err));
    static_cast<void>(headers.release());  // produce() took ownership on success
    producer->poll(0);
  }
  const auto flushed = producer->flush(30000);
  std::string fatal;
  if (producer->fatal_error(fatal) != RdKafka::ERR_NO_ERROR) Fail("producer fatal error: " + fatal);
  if (flushed != RdKafka::ERR_NO_ERROR)
    Fail("flush to " + topic + ": " + RdKafka::err2str(flushed));
  if (!tracker.first_error().empty())
    Fail("delivery to " + topic + " failed: " + tracker.first_error());
  if (tracker.reported() != records.size()) {
    Fail("delivery reports: " + std::to_string(tracker.reported()) + " of " +
         std::to_string(records.size()));
  }
}

struct BulkProducer::Impl {
  DeliveryTracker tracker;
  std::unique_ptr<RdKafka::Producer> producer;
};

BulkProducer::BulkProducer(const Settings& settings) : impl_(std::make_unique<Impl>()) {
  // Large batches and a deep local queue: the broker sees few, well-compressed requests, so
  // millions of small records take seconds rather than minutes.
  Settings all{{"enable.idempotence", "true"},
               {"acks", "all"},
               {"linger.ms", "20"},
               {"batch.size", "1000000"},
               {"compression.type", "lz4"},
               {"queue.buffering.max.messages", "500000"},
               {"queue.buffering.max.kbytes", "262144"}};
  for (const auto& [name, value] : settings) all[name] = value;
  impl_->producer = MakeProducer(all, &impl_->tracker);
}

BulkProducer::~BulkProducer() {
  // Whatever is still queued (a test that failed before Flush) is dropped, not waited for.
  static_cast<void>(
      impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT));
  impl_->producer->poll(0);
}

void BulkProducer::Send(const std::string& topic, std::string_view key, std::string_view value) {
  if (!impl_->tracker.first_error().empty()) {
    Fail("delivery to " + topic + " failed: " + impl_->tracker.first_error());
  }
  RdKafka::ErrorCode err;
  do {
    // RK_MSG_COPY: librdkafka copies the payload, so the const_cast never leads to a write.
    err = impl_->producer->produce(topic, RdKafka::Topic::PARTITION_UA,
                                   RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                                   value.size(), key.data(), key.size(), 0, nullptr, nullptr);
    if (err == RdKafka::ERR__QUEUE_FULL) impl_->producer->poll(10);
  } while (err == RdKafka::ERR__QUEUE_FULL);
  if (err != RdKafka::ERR_NO_ERROR) Fail("produce to " + topic + ": " + RdKafka::err2str(err));
  ++sent_;
  // Serves delivery reports now and then, so the tracker stays current without a poll per
  // record.
  if (sent_ % 1024 == 0) impl_->producer->poll(0);
}

void BulkProducer::Flush(std::chrono::milliseconds timeout) {
  const auto flushed = impl_->producer->flush(static_cast<int>(timeout.count()));
  std::string fatal;
  if (impl_->producer->fatal_error(fatal) != RdKafka::ERR_NO_ERROR) {
    Fail("producer fatal error: " + fatal);
  }
  if (flushed != RdKafka::ERR_NO_ERROR) Fail("flush: " + RdKafka::err2str(flushed));
  if (!impl_->tracker.first_error().empty()) {
    Fail("delivery failed: " + impl_->tracker.first_error());
  }
  if (delivered() != sent_) {
    Fail("delivery reports: " + std::to_string(delivered()) + " of " + std::to_string(sent_));
  }
}

int64_t BulkProducer::delivered() const {
  return static_cast<int64_t>(impl_->tracker.reported());
}

ConsumedRecord ToRecord(const RdKafka::Message& message) {
  if (message.err() != RdKafka::ERR_NO_ERROR) Fail("consume: " + message.errstr());
  ConsumedRecord record;
  if (message.key() != nullptr) record.key = *message.key();
  if (message.payload() != nullptr) {
    record.value.assign(static_cast<const char*>(message.payload()), message.len());
  }
  record.partition = message.partition();
  record.offset = message.offset();
  record.timestamp_ms = message.timestamp().timestamp;
  // headers() is non-const in the C++ API although it only reads.
  RdKafka::Headers* headers = const_cast<RdKafka::Message&>(message).headers();
  if (headers != nullptr) {
    for (const RdKafka::Headers::Header& header : headers->get_all()) {
      std::string value;
      if (header.value() != nullptr) {
        value.assign(static_cast<const char*>(header.value()), header.value_size());
      }
      record.headers.emplace_back(header.key(), std::move(value));
    }
  }
  return record;
}

std::unique_ptr<RdKafka::KafkaConsumer> MakeConsumer(const std::string& group,
                                                     const Settings& settings,
                                                     RdKafka::RebalanceCb* rebalance_cb,
                                                     RdKafka::OffsetCommitCb* commit_cb) {
  Settings all{{"group.id", group},
               {"enable.auto.commit", "false"},
               {"auto.offset.reset", "earliest"},
               {"enable.partition.eof", "false"}};
  for (const auto& [name, value] : settings) all[name] = value;
  auto conf = MakeConf(all);
  std::string errstr;
  if (rebalance_cb != nullptr &&
      conf->set("rebalance_cb", rebalance_cb, errstr) != RdKafka::Conf::CONF_OK) {
    Fail("rebalance_cb: " + errstr);
  }
  if (commit_cb != nullptr &&
      conf->set("offset_commit_cb", commit_cb, errstr) != RdKafka::Conf::CONF_OK) {
    Fail("offset_commit_cb: " + errstr);
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), errstr));
  if (!consumer) Fail("cannot create consumer: " + errstr);
  return consumer;
}

namespace {

// A consumer in a throw-away group, assigned every partition of `topic` from the beginning.
std::unique_ptr<RdKafka::KafkaConsumer> ReaderFromBeginning(const std::string& topic,
                                                            int32_t partitions) {
  auto consumer = MakeConsumer(UniqueName("eddy-test-reader"));
  PartitionList assignment;
  for (int32_t p = 0; p < partitions; ++p) {
    assignment.Add(topic, p, RdKafka::Topic::OFFSET_BEGINNING);
  }
  if (const auto err = consumer->assign(assignment.Items()); err != RdKafka::ERR_NO_ERROR) {
    Fail("assign " + topic + ": " + RdKafka::err2str(err));
  }
  return consumer;
}

void SortByPartitionAndOffset(std::vector<ConsumedRecord>& records) {
  std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
}

}  // namespace

std::vector<ConsumedRecord> ReadFromBeginning(const std::string& topic, size_t count,
                                              std::chrono::milliseconds timeout) {
  auto consumer = ReaderFromBeginning(topic, PartitionCount(topic));
  std::vector<ConsumedRecord> records;
  const auto deadline = Clock::now() + timeout;
  while (records.size() < count) {
    if (Clock::now() > deadline) {
      Fail("read " + std::to_string(records.size()) + " of " + std::to_string(count) +
           " records from " + topic + " before the timeout");
    }
    std::unique_ptr<RdKafka::Message> message(consumer->consume(200));
    if (message->err() == RdKafka::ERR__TIMED_OUT) continue;
    records.push_back(ToRecord(*message));
  }
  consumer->close();
  SortByPartitionAndOffset(records);
  return records;
}

std::vector<ConsumedRecord> ReadToEnd(const std::string& topic, std::chrono::milliseconds timeout) {
  const int32_t partitions = PartitionCount(topic);
  auto consumer = MakeConsumer(UniqueName("eddy-test-reader"));
  PartitionList assignment;
  std::map<int32_t, int64_t> end;  // partition -> high watermark, for those with records
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = 0;
    int64_t high = 0;
    const auto err = consumer->query_watermark_offsets(topic, p, &low, &high, kRequestTimeoutMs);
    if (err != RdKafka::ERR_NO_ERROR) {
      Fail("watermarks of " + topic + "/" + std::to_string(p) + ": " + RdKafka::err2str(err));
    }
    if (high > low) {
      end[p] = high;
      assignment.Add(topic, p, RdKafka::Topic::OFFSET_BEGINNING);
    }
  }
  std::vector<ConsumedRecord> records;
  if (end.empty()) return records;
  if (const auto err = consumer->assign(assignment.Items()); err != RdKafka::ERR_NO_ERROR) {
    Fail("assign " + topic + ": " + RdKafka::err2str(err));
  }
  const auto deadline = Clock::now() + timeout;
  while (!end.empty()) {
    if (Clock::now() > deadline) {
      Fail("read " + std::to_string(records.size()) + " records of " + topic +
           " but not up to the high watermark of every partition before the timeout");
    }
    std::unique_ptr<RdKafka::Message> message(consumer->consume(200));
    if (message->err() == RdKafka::ERR__TIMED_OUT) continue;
    ConsumedRecord record = ToRecord(*message);
    auto it = end.find(record.partition);
    if (it == end.end() || record.offset >= it->second) continue;  // past the snapshot
    if (record.offset + 1 == it->second) end.erase(it);
    records.push_back(std::move(record));
  }
  consumer->close();
  std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
  return records;
}

PartitionList::~PartitionList() {
  RdKafka::TopicPartition::destroy(list_);
}

PartitionList& PartitionList::Add(const std::string& topic, int32_t partition, int64_t offset) {
  list_.push_back(RdKafka::TopicPartition::create(topic, partition, offset));
  return *this;
}

int64_t PartitionList::OffsetOf(const std::string& topic, int32_t partition) const {
  for (const RdKafka::TopicPartition* tp : list_) {
    if (tp->topic() == topic && tp->partition() == partition) return tp->offset();
  }
  Fail("partition " + topic + "/" + std::to_string(partition) + " not in the list");
}

}  // namespace eddy::testing
