#include "kafka/kafka_transactions.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace eddy::kafka {
namespace {

using Clock = std::chrono::steady_clock;

int Milliseconds(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, INT_MAX));
}

struct ErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

struct GroupMetadataDeleter {
  void operator()(rd_kafka_consumer_group_metadata_t* metadata) const {
    rd_kafka_consumer_group_metadata_destroy(metadata);
  }
};

std::string Describe(const rd_kafka_error_t* error) {
  return std::string(rd_kafka_error_name(error)) + ": " + rd_kafka_error_string(error);
}

// A failed transactional call as a Status: kInternal when the producer cannot go on (fatal:
// fenced by a newer producer with the same transactional.id, or another fatal error), else
// kUnavailable.
Status TransactionStatus(const rd_kafka_error_t* error, const std::string& what,
                         const std::string& transactional_id) {
  if (rd_kafka_error_is_fatal(error)) {
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    std::string hint;
    if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
      hint = " (fenced: another producer uses transactional.id '" + transactional_id +
             "' — does another eddy instance run with the same delivery.transactional_id, or "
             "the same group.id and group.instance.id?)";
    }
    return Status::Internal("kafka transactions: " + what + " failed fatally: " + Describe(error) +
                            hint);
  }
  return Status::Unavailable("kafka transactions: " + what + ": " + Describe(error));
}

}  // namespace

std::string TransactionalId(const config::Config& config) {
  if (!config.delivery.transactional_id.empty()) return config.delivery.transactional_id;
  std::string group;
  std::string instance;
  for (const config::KafkaProperty& property : config.kafka.properties) {
    if (property.name == "group.id") group = property.value;
    if (property.name == "group.instance.id") instance = property.value;
  }
  std::string id = "eddy-" + group;
  if (!instance.empty()) id += "-" + instance;
  return id;
}

Result<std::unique_ptr<KafkaTransactions>> KafkaTransactions::Create(
    const config::KafkaConfig& kafka, const std::string& transactional_id, KafkaSource& source,
    metrics::Metrics& metrics) {
  Result<std::unique_ptr<KafkaSink>> producer = KafkaSink::Create(kafka, metrics, transactional_id);
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<KafkaTransactions>(
      new KafkaTransactions(std::move(*producer), transactional_id, source));
}

Status KafkaTransactions::Start(std::chrono::milliseconds timeout) {
  if (started_) return Status::Ok();
  ErrorPtr error(rd_kafka_init_transactions(producer_->handle(), Milliseconds(timeout)));
  if (error) return TransactionStatus(error.get(), "init_transactions", transactional_id_);
  started_ = true;
  spdlog::info("kafka transactions: started as transactional.id '{}'", transactional_id_);
  return Status::Ok();
}

bool KafkaTransactions::Abort(std::chrono::milliseconds timeout) {
  ErrorPtr error(rd_kafka_abort_transaction(producer_->handle(), Milliseconds(timeout)));
  if (error) {
    spdlog::warn("kafka transactions: abort_transaction: {}", Describe(error.get()));
    return false;
  }
  return true;
}

Status KafkaTransactions::Commit(const engine::OutputTransaction& transaction,
                                 std::vector<engine::FailedDelivery>& refused,
                                 std::chrono::milliseconds timeout) {
  if (!started_) return Status::Internal("kafka transactions: Commit() before Start()");
  rd_kafka_t* producer = producer_->handle();
  const auto deadline = Clock::now() + timeout;
  auto remaining = [&] {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  };
  // Whatever went wrong, the open transaction is aborted before returning, so that the next
  // Commit() starts from a clean state; if even the abort fails, the producer cannot go on.
  auto fail = [&](Status status) {
    if (status.code() != StatusCode::kInternal && !Abort(remaining())) {
      return Status::Internal(status.message() + "; and the transaction could not be aborted");
    }
    return status;
  };
  static_cast<void>(producer_->TakeFailed());  // reports of an earlier, aborted transaction

  if (ErrorPtr error{rd_kafka_begin_transaction(producer)}) {
    // Nothing open to abort.
    return TransactionStatus(error.get(), "begin_transaction", transactional_id_);
  }
  for (const engine::SinkRecord& record : transaction.records) {
    Status sent = producer_->Send(record);
    if (sent.ok()) continue;
    if (sent.code() == StatusCode::kInvalidArgument) refused.push_back({record, sent});
    return fail(sent.code() == StatusCode::kInternal ? sent : Status::Unavailable(sent.message()));
  }

  ListPtr offsets(rd_kafka_topic_partition_list_new(static_cast<int>(transaction.offsets.size())));
  const std::string marker = engine::TransactionMarker(transaction);
  for (const engine::PartitionOffset& offset : transaction.offsets) {
    rd_kafka_topic_partition_t* entry = rd_kafka_topic_partition_list_add(
        offsets.get(), offset.partition.topic.c_str(), offset.partition.partition);
    entry->offset = offset.next_offset;
    // Freed with the list (librdkafka frees metadata with rd_free, i.e. free()).
    entry->metadata = malloc(marker.size());
    std::memcpy(entry->metadata, marker.data(), marker.size());
    entry->metadata_size = marker.size();
  }
  if (offsets->cnt > 0) {
    std::unique_ptr<rd_kafka_consumer_group_metadata_t, GroupMetadataDeleter> group(
        rd_kafka_consumer_group_metadata(source_.handle()));
    if (!group) {
      return fail(Status::Unavailable("kafka transactions: the consumer has no group metadata"));
    }
    if (ErrorPtr error{rd_kafka_send_offsets_to_transaction(producer, offsets.get(), group.get(),
                                                            Milliseconds(remaining()))}) {
      return fail(TransactionStatus(error.get(), "send_offsets_to_transaction", transactional_id_));
    }
  }

  for (;;) {
    ErrorPtr error(rd_kafka_commit_transaction(producer, Milliseconds(remaining())));
    if (!error) break;
    // Failed deliveries make the commit fail; those refused for what they are are reported.
    for (engine::FailedDelivery& failed : producer_->TakeFailed()) {
      if (failed.error.code() == StatusCode::kInvalidArgument) refused.push_back(std::move(failed));
    }
    if (rd_kafka_error_is_retriable(error.get()) && Clock::now() < deadline) continue;
    Status status = TransactionStatus(error.get(), "commit_transaction", transactional_id_);
    if (rd_kafka_error_txn_requires_abort(error.get())) return fail(status);
    // Neither committed nor abortable (e.g. still retriable at the deadline): the outcome is
    // unknown here. The next start's Recover() asks the broker.
    return Status::Internal(status.message() + " (outcome unknown; settled at the next start)");
  }
  static_cast<void>(producer_->TakeFailed());
  return Status::Ok();
}

Result<bool> KafkaTransactions::IsCommitted(const engine::OutputTransaction& transaction,
                                            std::chrono::milliseconds timeout) {
  if (transaction.offsets.empty()) return false;
  ListPtr partitions(
      rd_kafka_topic_partition_list_new(static_cast<int>(transaction.offsets.size())));
  for (const engine::PartitionOffset& offset : transaction.offsets) {
    rd_kafka_topic_partition_list_add(partitions.get(), offset.partition.topic.c_str(),
                                      offset.partition.partition);
  }
  const rd_kafka_resp_err_t code =
      rd_kafka_committed(source_.handle(), partitions.get(), Milliseconds(timeout));
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("kafka transactions: reading committed offsets: ") +
                               rd_kafka_err2str(code));
  }
  const std::string marker = engine::TransactionMarker(transaction);
  bool answered = false;
  for (int i = 0; i < partitions->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = partitions->elems[i];
    if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    answered = true;
    if (entry.metadata != nullptr && entry.metadata_size == marker.size() &&
        std::memcmp(entry.metadata, marker.data(), marker.size()) == 0) {
      return true;
    }
  }
  if (!answered) {
    return Status::Unavailable("kafka transactions: no committed offset could be read for " +
                               transaction.offsets.front().partition.topic);
  }
  return false;
}

}  // namespace eddy::kafka
