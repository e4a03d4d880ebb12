// Outbox layout (RocksDB keys from state::EncodeOutboxKey; one outbox per worker, its names
// suffixed with the worker's config::WorkerSuffix: "" for worker 0, "-w1", "-w2", ...):
//
//   "epoch"       -> u64be(epoch)                          written once per state directory
//   "transaction" -> the last staged transaction, EncodeOutputTransaction:
//                    u32be(format = 1) u64be(epoch) u64be(id) u8(published)
//                    u32be(#offsets) { str(topic) u32be(partition) i64(next_offset) }
//                    u32be(#records) { str(topic) u8(has_key) [str(key)] str(value)
//                                      i64(timestamp_ms) u32be(#headers) { str str } }
//                    str := u32be(length) bytes; i64 := state::AppendInt64Ordered
//
// A published transaction keeps only its header (records dropped): what Recover() needs of
// it is its id.
#include "engine/exactly_once_sink.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <random>

#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

constexpr uint32_t kFormat = 1;

void PutString(std::string& out, std::string_view bytes) {
  state::AppendUint32BigEndian(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

void PutUint64(std::string& out, uint64_t value) {
  state::AppendUint32BigEndian(out, static_cast<uint32_t>(value >> 32));
  state::AppendUint32BigEndian(out, static_cast<uint32_t>(value));
}

// Reads from the front of `in`, consuming; false when `in` is too short.
struct Reader {
  std::string_view in;

  bool Uint32(uint32_t& value) {
    if (in.size() < 4) return false;
    value = state::ReadUint32BigEndian(in);
    in.remove_prefix(4);
    return true;
  }
  bool Uint64(uint64_t& value) {
    uint32_t high = 0;
    uint32_t low = 0;
    if (!Uint32(high) || !Uint32(low)) return false;
    value = (static_cast<uint64_t>(high) << 32) | low;
    return true;
  }
  bool Int64(int64_t& value) {
    if (in.size() < 8) return false;
    value = state::ReadInt64Ordered(in);
    in.remove_prefix(8);
    return true;
  }
  bool Byte(uint8_t& value) {
    if (in.empty()) return false;
    value = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    return true;
  }
  bool String(std::string& value) {
    uint32_t length = 0;
    if (!Uint32(length) || in.size() < length) return false;
    value.assign(in.substr(0, length));
    in.remove_prefix(length);
    return true;
  }
};

constexpr std::chrono::milliseconds kStartTimeout{30'000};
constexpr std::chrono::milliseconds kCommittedQueryTimeout{30'000};

}  // namespace

std::string EncodeOutputTransaction(const OutputTransaction& transaction) {
  std::string out;
  state::AppendUint32BigEndian(out, kFormat);
  PutUint64(out, transaction.epoch);
  PutUint64(out, transaction.id);
  out.push_back(transaction.published ? 1 : 0);
  state::AppendUint32BigEndian(out, static_cast<uint32_t>(transaction.offsets.size()));
  for (const PartitionOffset& offset : transaction.offsets) {
    PutString(out, offset.partition.topic);
    state::AppendUint32BigEndian(out, static_cast<uint32_t>(offset.partition.partition));
    state::AppendInt64Ordered(out, offset.next_offset);
  }
  state::AppendUint32BigEndian(out, static_cast<uint32_t>(transaction.records.size()));
  for (const SinkRecord& record : transaction.records) {
    PutString(out, record.topic);
    out.push_back(record.key ? 1 : 0);
    if (record.key) PutString(out, *record.key);
    PutString(out, record.value);
    state::AppendInt64Ordered(out, record.timestamp_ms);
    state::AppendUint32BigEndian(out, static_cast<uint32_t>(record.headers.size()));
    for (const auto& [name, value] : record.headers) {
      PutString(out, name);
      PutString(out, value);
    }
  }
  return out;
}

std::optional<OutputTransaction> DecodeOutputTransaction(std::string_view bytes) {
  Reader reader{bytes};
  OutputTransaction transaction;
  uint32_t format = 0;
  uint8_t published = 0;
  uint32_t count = 0;
  if (!reader.Uint32(format) || format != kFormat || !reader.Uint64(transaction.epoch) ||
      !reader.Uint64(transaction.id) || !reader.Byte(published) || !reader.Uint32(count)) {
    return std::nullopt;
  }
  transaction.published = published != 0;
  for (uint32_t i = 0; i < count; ++i) {
    PartitionOffset offset;
    uint32_t partition = 0;
    if (!reader.String(offset.partition.topic) || !reader.Uint32(partition) ||
        !reader.Int64(offset.next_offset)) {
      return std::nullopt;
    }
    offset.partition.partition = static_cast<int32_t>(partition);
    transaction.offsets.push_back(std::move(offset));
  }
  if (!reader.Uint32(count)) return std::nullopt;
  for (uint32_t i = 0; i < count; ++i) {
    SinkRecord record;
    uint8_t has_key = 0;
    uint32_t headers = 0;
    if (!reader.String(record.topic) || !reader.Byte(has_key)) return std::nullopt;
    if (has_key != 0) {
      record.key.emplace();
      if (!reader.String(*record.key)) return std::nullopt;
    }
    if (!reader.String(record.value) || !reader.Int64(record.timestamp_ms) ||
        !reader.Uint32(headers)) {
      return std::nullopt;
    }
    for (uint32_t h = 0; h < headers; ++h) {
      std::string name;
      std::string value;
      if (!reader.String(name) || !reader.String(value)) return std::nullopt;
      record.headers.emplace_back(std::move(name), std::move(value));
    }
    transaction.records.push_back(std::move(record));
  }
  if (!reader.in.empty()) return std::nullopt;
  return transaction;
}

std::string TransactionMarker(const OutputTransaction& transaction) {
  char epoch[17];
  std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(transaction.epoch));
  return "eddy.txn/" + std::string(epoch) + "/" + std::to_string(transaction.id);
}

ExactlyOnceSink::ExactlyOnceSink(TransactionalOutput& output, state::StateDb& db,
                                 const config::DeliveryConfig& delivery,
                                 std::map<std::string, DeadLetterRoute> routes, RetryClock& clock,
                                 metrics::Metrics& metrics, const std::string& outbox_suffix)
    : output_(output),
      db_(db),
      epoch_key_(state::EncodeOutboxKey("epoch" + outbox_suffix)),
      transaction_key_(state::EncodeOutboxKey("transaction" + outbox_suffix)),
      policy_{delivery.attempts, delivery.backoff, delivery.max_backoff},
      routes_(std::move(routes)),
      clock_(clock),
      metrics_(metrics),
      committed_(metrics.sink_transactions.Add({{"result", "committed"}})),
      aborted_(metrics.sink_transactions.Add({{"result", "aborted"}})),
      commit_duration_(
          metrics.sink_transaction_duration.Add({}, metrics::Metrics::LatencyBuckets())) {}

Status ExactlyOnceSink::Send(SinkRecord record) {
  kept_.push_back(std::move(record));
  return Status::Ok();
}

std::string ExactlyOnceSink::publish_error() const {
  std::lock_guard lock(error_mu_);
  return publish_error_;
}

void ExactlyOnceSink::SetPublishError(const std::string& error) {
  std::lock_guard lock(error_mu_);
  publish_error_ = error;
}

Status ExactlyOnceSink::Recover() {
  // The epoch first: a fresh state directory draws one and keeps it.
  Result<std::optional<std::string>> epoch = db_.Get(epoch_key_);
  if (!epoch.ok()) return epoch.status();
  if (*epoch && (*epoch)->size() == 8) {
    Reader reader{**epoch};
    reader.Uint64(epoch_);
  } else {
    std::random_device random;
    epoch_ = (static_cast<uint64_t>(random()) << 32) | random();
    state::WriteBatch batch;
    std::string bytes;
    PutUint64(bytes, epoch_);
    batch.Put(epoch_key_, bytes);
    EDDY_RETURN_IF_ERROR(db_.Write(batch));
  }

  // Start (fence) before asking about the last transaction: an earlier producer's open
  // transaction is aborted by then, so the committed offsets are final.
  auto backoff = policy_.backoff;
  for (;;) {
    Status started = output_.Start(kStartTimeout);
    if (started.ok()) break;
    if (started.code() == StatusCode::kInternal || stop_requested_.load()) return started;
    SetPublishError("cannot start Kafka transactions: " + started.message());
    spdlog::warn("exactly-once output: cannot start Kafka transactions, retrying: {}",
                 started.message());
    clock_.SleepFor(backoff);
    backoff = std::min(backoff * 2, policy_.max_backoff);
  }
  SetPublishError("");

  Result<std::optional<std::string>> stored = db_.Get(transaction_key_);
  if (!stored.ok()) return stored.status();
  recovered_ = true;
  if (!*stored) return Status::Ok();
  std::optional<OutputTransaction> transaction = DecodeOutputTransaction(**stored);
  if (!transaction) {
    return Status::Internal("exactly-once output: the outbox in the state directory is corrupt");
  }
  last_id_ = transaction->id;
  if (transaction->published) return Status::Ok();
  if (transaction->epoch != epoch_) {
    return Status::Internal("exactly-once output: the outbox belongs to another epoch");
  }
  Result<bool> committed = Status::Unavailable("not asked yet");
  backoff = policy_.backoff;
  for (;;) {
    committed = output_.IsCommitted(*transaction, kCommittedQueryTimeout);
    if (committed.ok() || stop_requested_.load()) break;
    spdlog::warn("exactly-once output: cannot read the group's committed offsets, retrying: {}",
                 committed.status().message());
    clock_.SleepFor(backoff);
    backoff = std::min(backoff * 2, policy_.max_backoff);
  }
  if (!committed.ok()) return committed.status();
  spdlog::info("exactly-once output: transaction {} ({} records) {}", transaction->id,
               transaction->records.size(),
               *committed ? "was committed before the restart" : "is published again");
  staged_ = std::move(*transaction);
  if (*committed) return MarkPublished();
  return Publish();
}

Status ExactlyOnceSink::Stage(std::vector<PartitionOffset> offsets, state::WriteBatch& batch) {
  if (!recovered_) return Status::Internal("exactly-once output: Stage() before Recover()");
  if (staged_) {
    return Status::Internal("exactly-once output: transaction " + std::to_string(staged_->id) +
                            " is staged and not published yet");
  }
  if (!kept_.empty() && offsets.empty()) {
    return Status::Internal(
        "exactly-once output: records to publish but no input partition to mark the "
        "transaction with");
  }
  OutputTransaction transaction;
  transaction.epoch = epoch_;
  transaction.id = last_id_ + 1;
  transaction.offsets = std::move(offsets);
  transaction.records = std::move(kept_);
  kept_.clear();
  batch.Put(transaction_key_, EncodeOutputTransaction(transaction));
  last_id_ = transaction.id;
  staged_ = std::move(transaction);
  return Status::Ok();
}

Status ExactlyOnceSink::Publish() {
  if (!staged_) return Status::Ok();
  EDDY_RETURN_IF_ERROR(PublishWithRetry());
  return MarkPublished();
}

Status ExactlyOnceSink::PublishWithRetry() {
  int retry = 0;
  for (;;) {
    std::vector<FailedDelivery> refused;
    const auto started = clock_.Now();
    Status committed = output_.Commit(*staged_, refused, kTransactionTimeout);
    if (committed.ok()) {
      committed_.Increment();
      commit_duration_.Observe(std::chrono::duration<double>(clock_.Now() - started).count());
      if (retry > 0) spdlog::info("exactly-once output: transaction {} committed", staged_->id);
      SetPublishError("");
      return Status::Ok();
    }
    aborted_.Increment();
    if (committed.code() == StatusCode::kInternal) {
      SetPublishError(committed.message());
      return committed;
    }
    // Records refused for what they are: their dead letters take their place in the outbox
    // (rewritten, so that a restart publishes the same), and the transaction is tried again.
    bool replaced = false;
    for (FailedDelivery& failed : refused) {
      if (failed.error.code() != StatusCode::kInvalidArgument) continue;
      const auto route = routes_.find(failed.record.topic);
      if (route == routes_.end() || route->second.dead_letter_topic.empty()) {
        SetPublishError(failed.error.message());
        return Status::InvalidArgument(
            "exactly-once output: a record to " + failed.record.topic +
            " is refused by the broker and its topology has no dead_letters topic: " +
            failed.error.message());
      }
      for (SinkRecord& record : staged_->records) {
        if (record.topic == failed.record.topic && record.key == failed.record.key &&
            record.value == failed.record.value) {
          record = DeadLetterOf(std::move(record), failed.error, route->second);
          metrics_.dead_letter_records
              .Add({{"topology", route->second.topology}, {"reason", "delivery_failed"}})
              .Increment();
          replaced = true;
          break;
        }
      }
    }
    if (replaced) {
      state::WriteBatch batch;
      batch.Put(transaction_key_, EncodeOutputTransaction(*staged_));
      EDDY_RETURN_IF_ERROR(db_.Write(batch));
      retry = 0;
      continue;  // at once: nothing transient to wait for
    }
    SetPublishError(committed.message());
    if (stop_requested_.load()) return committed;
    ++retry;
    const auto delay = policy_.Delay(std::min(retry, 30), clock_.Jitter());
    spdlog::warn("exactly-once output: transaction {} aborted, trying again in {} ms: {}",
                 staged_->id, delay.count(), committed.message());
    clock_.SleepFor(delay);
  }
}

Status ExactlyOnceSink::MarkPublished() {
  OutputTransaction header;
  header.epoch = staged_->epoch;
  header.id = staged_->id;
  header.published = true;
  state::WriteBatch batch;
  batch.Put(transaction_key_, EncodeOutputTransaction(header));
  staged_.reset();
  // Only a shortcut for Recover(): without the mark, it asks the broker, which knows.
  if (Status written = db_.Write(batch); !written.ok()) {
    spdlog::warn("exactly-once output: cannot mark transaction {} published: {}", header.id,
                 written.message());
  }
  return Status::Ok();
}

}  // namespace eddy::engine
