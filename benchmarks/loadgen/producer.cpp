#include "loadgen/producer.h"

#include <thread>

namespace eddy::loadgen {

namespace {

constexpr std::chrono::milliseconds kAdminTimeout{30'000};

int TimeoutMs(std::chrono::milliseconds timeout) {
  return static_cast<int>(timeout.count());
}

// The opaque of a record whose partition is checked: expected partition + 1, so that null
// (0) means "not checked".
void* ExpectedPartitionOpaque(int32_t expected_partition) {
  return reinterpret_cast<void*>(static_cast<intptr_t>(expected_partition) + 1);
}
int32_t ExpectedPartition(void* opaque) {
  return static_cast<int32_t>(reinterpret_cast<intptr_t>(opaque) - 1);
}

}  // namespace

Result<std::unique_ptr<Producer>> Producer::Create(const Properties& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("librdkafka property " + name + "=" + value + ": " + errstr);
    }
  }
  std::unique_ptr<Producer> producer(new Producer());
  rd_kafka_conf_set_opaque(conf, producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf, &Producer::OnDelivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {  // conf is still ours only on failure
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("cannot create a Kafka producer: ") + errstr);
  }
  producer->rk_.reset(rk);
  return producer;
}

rd_kafka_topic_t* Producer::Topic(const std::string& name) {
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    it = topics_.emplace(name, rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr)).first;
  }
  return it->second.get();
}

Status Producer::Produce(rd_kafka_topic_t* topic, std::string_view key, std::string_view value,
                         int64_t ts, int32_t expected_partition) {
  // rd_kafka_produceva: the typed-array form of producev (no varargs, no casting macros).
  rd_kafka_vu_t vus[6];
  vus[0].vtype = RD_KAFKA_VTYPE_RKT;
  vus[0].u.rkt = topic;
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem.ptr = const_cast<char*>(key.data());  // copied (F_COPY), never written
  vus[1].u.mem.size = key.size();
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem.ptr = const_cast<char*>(value.data());
  vus[2].u.mem.size = value.size();
  vus[3].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
  vus[3].u.i64 = ts;
  vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[4].u.i = RD_KAFKA_MSG_F_COPY;
  vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[5].u.ptr = expected_partition >= 0 ? ExpectedPartitionOpaque(expected_partition) : nullptr;
  for (;;) {
    rd_kafka_error_t* error = rd_kafka_produceva(rk_.get(), vus, 6);
    if (error == nullptr) return Status::Ok();
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    std::string message = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return Status::Unavailable("produce to " + std::string(rd_kafka_topic_name(topic)) + ": " +
                                 message);
    }
    // Room is made as deliveries complete: serve their reports, then try again.
    rd_kafka_poll(rk_.get(), 5);
  }
}

Status Producer::Flush(std::chrono::milliseconds timeout) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), TimeoutMs(timeout));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return Status::Unavailable(std::to_string(rd_kafka_outq_len(rk_.get())) +
                             " records still undelivered after " + std::to_string(timeout.count()) +
                             " ms");
}

void Producer::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message, void* opaque) {
  static_cast<Producer*>(opaque)->Record(*message);
}

void Producer::Record(const rd_kafka_message_t& message) {
  if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++failed_;
    if (first_error_.empty()) {
      first_error_ = std::string("delivery to ") + rd_kafka_topic_name(message.rkt) +
                     " failed: " + rd_kafka_err2str(message.err);
    }
    return;
  }
  ++delivered_;
  if (message._private != nullptr) {
    const int32_t expected = ExpectedPartition(message._private);
    if (message.partition != expected) {
      ++misplaced_;
      if (first_error_.empty()) {
        first_error_ = "key '" +
                       std::string(static_cast<const char*>(message.key), message.key_len) +
                       "' landed in partition " + std::to_string(message.partition) + " of " +
                       rd_kafka_topic_name(message.rkt) + ", not " + std::to_string(expected) +
                       " as Java's murmur2 partitioner predicts";
      }
    }
  }
}

Result<int32_t> Producer::PartitionCount(const std::string& topic,
                                         std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk_.get(), /*all_topics=*/1, nullptr, &metadata, TimeoutMs(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("metadata request failed: ") + rd_kafka_err2str(err));
  }
  int32_t count = 0;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (topic == t.topic && t.err == RD_KAFKA_RESP_ERR_NO_ERROR) count = t.partition_cnt;
  }
  rd_kafka_metadata_destroy(metadata);
  return count;
}

Status Producer::AwaitLeaders(const std::string& topic, int32_t partitions) {
  const auto deadline = std::chrono::steady_clock::now() + kAdminTimeout;
  std::string last = "no metadata yet";
  while (std::chrono::steady_clock::now() < deadline) {
    const rd_kafka_metadata_t* metadata = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk_.get(), 1, nullptr, &metadata, TimeoutMs(kAdminTimeout));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      bool ready = false;
      for (int i = 0; i < metadata->topic_cnt; ++i) {
        const rd_kafka_metadata_topic_t& t = metadata->topics[i];
        if (topic != t.topic) continue;
        ready = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt == partitions;
        for (int p = 0; ready && p < t.partition_cnt; ++p) {
          ready = t.partitions[p].leader >= 0 && t.partitions[p].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        last = std::to_string(t.partition_cnt) + " partitions, " + rd_kafka_err2str(t.err);
      }
      rd_kafka_metadata_destroy(metadata);
      if (ready) return Status::Ok();
    } else {
      last = rd_kafka_err2str(err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Unavailable("topic " + topic + " has no leader for all " +
                             std::to_string(partitions) + " partitions after " +
                             std::to_string(kAdminTimeout.count()) + " ms (" + last + ")");
}

Result<int32_t> Producer::EnsureTopic(const std::string& topic, int32_t partitions, bool exact) {
  Result<int32_t> existing = PartitionCount(topic, std::chrono::milliseconds(10'000));
  if (!existing.ok()) return existing.status();
  if (*existing == 0) {
    char errstr[512];
    rd_kafka_NewTopic_t* new_topic =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof errstr);
    if (new_topic == nullptr) {
      return Status::InvalidArgument("topic " + topic + ": " + errstr);
    }
    // Benchmark data carries fixed event times (DATA.md's --start-ms) that grow old: time
    // retention (7 days by default) must not delete it.
    rd_kafka_NewTopic_set_config(new_topic, "retention.ms", "-1");
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_.get());
    rd_kafka_AdminOptions_t* options =
        rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(options, TimeoutMs(kAdminTimeout), errstr,
                                                sizeof errstr);
    rd_kafka_CreateTopics(rk_.get(), &new_topic, 1, options, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, TimeoutMs(kAdminTimeout) + 5'000);
    std::string error;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (event == nullptr) {
      error = "no answer";
    } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      code = rd_kafka_event_error(event);
      error = rd_kafka_event_error_string(event);
    } else {
      size_t count = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
      for (size_t i = 0; i < count; ++i) {
        code = rd_kafka_topic_result_error(results[i]);
        if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* message = rd_kafka_topic_result_error_string(results[i]);
          error = message != nullptr ? message : rd_kafka_err2str(code);
        }
      }
    }
    if (event != nullptr) rd_kafka_event_destroy(event);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewTopic_destroy(new_topic);
    rd_kafka_queue_destroy(queue);
    if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      // Created meanwhile by someone else: judge it like any existing topic.
      return EnsureTopic(topic, partitions, exact);
    }
    if (!error.empty()) return Status::Unavailable("creating topic " + topic + ": " + error);
    EDDY_RETURN_IF_ERROR(AwaitLeaders(topic, partitions));
    return partitions;
  }
  if (exact && *existing != partitions) {
    return Status::InvalidArgument("topic " + topic + " exists with " + std::to_string(*existing) +
                                   " partitions, not " + std::to_string(partitions) +
                                   " (delete it or pass --partitions " + std::to_string(*existing) +
                                   ")");
  }
  EDDY_RETURN_IF_ERROR(AwaitLeaders(topic, *existing));
  return *existing;
}

Status Producer::DeleteTopic(const std::string& topic) {
  char errstr[512];
  rd_kafka_DeleteTopic_t* delete_topic = rd_kafka_DeleteTopic_new(topic.c_str());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, TimeoutMs(kAdminTimeout), errstr,
                                              sizeof errstr);
  rd_kafka_DeleteTopics(rk_.get(), &delete_topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, TimeoutMs(kAdminTimeout) + 5'000);
  Status status;
  if (event == nullptr) {
    status = Status::Unavailable("deleting topic " + topic + ": no answer");
  } else {
    rd_kafka_resp_err_t code = rd_kafka_event_error(event);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
      size_t count = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count);
      for (size_t i = 0; i < count; ++i) {
        if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          code = rd_kafka_topic_result_error(results[i]);
        }
      }
    }
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = Status::Unavailable("deleting topic " + topic + ": " + rd_kafka_err2str(code));
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_DeleteTopic_destroy(delete_topic);
  rd_kafka_queue_destroy(queue);
  return status;
}

}  // namespace eddy::loadgen
