// Exactly-once output (delivery.guarantee: exactly_once; docs/guarantees.md).
//
// A commit touches two systems that cannot join each other's transactions: RocksDB (state
// and input offsets) and Kafka (outputs). ExactlyOnceSink makes RocksDB the place where a
// commit is decided and Kafka the place where it is published, with an outbox between them:
//
// 1. Send(): topologies' outputs are kept in memory, nothing goes to Kafka yet.
// 2. Stage(): at a commit, the kept records and the input offsets become the next
//    OutputTransaction (id n) and are written into the same RocksDB WriteBatch as the state
//    and offsets they come from. Once that batch is written, the commit is decided.
// 3. Publish(): the transaction goes to Kafka as one Kafka transaction: the records, and the
//    input offsets committed to the consumer group with a marker naming (epoch, n) as their
//    metadata. Then it is marked published in RocksDB.
// 4. Recover(), before processing starts: a staged transaction that is not marked published
//    may or may not have been committed by Kafka before the crash. The marker tells: the
//    group's committed offsets carry it if and only if the Kafka transaction committed (the
//    transactional producer's start aborts one that was left open). If it did not, it is
//    published again from the outbox: the same records, not recomputed ones.
//
// Invariants:
// - At most one transaction is staged and unpublished at any time: Stage() is refused while
//   one is. So Recover() has at most one transaction to settle.
// - Transaction ids only grow within one state directory; the epoch, drawn at random when a
//   state directory is first used, tells markers of an older state directory apart.
// - Every output is in exactly one committed Kafka transaction (or, refused by the broker for
//   what it is, its dead letter is), so read_committed consumers see it once.
//
// Failures: a transaction that fails for a transient reason is aborted and published again
// after a backoff (delivery.backoff .. max_backoff, with jitter) until it succeeds or a stop
// is requested: processing waits meanwhile, which is the backpressure, and publish_error()
// says why (readiness). Records the broker refuses for what they are (kInvalidArgument: too
// large, ...) are replaced by their dead letters (DeadLetterOf, reliable_sink.h), inside the
// next try of the same transaction, when their topology has a dead_letters topic; otherwise
// Publish fails and processing stops, nothing lost: the outbox still holds the transaction.
//
// Workers: each worker (processing.threads) has its own ExactlyOnceSink, transactional
// producer and outbox (`outbox_suffix`), so each has at most one transaction staged; their
// outboxes and transactional ids never mix.
//
// Threading: the processing thread only, like every Sink; publish_error() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "engine/reliable_sink.h"
#include "engine/sink.h"
#include "engine/source.h"
#include "metrics/metrics.h"
#include "state/state_db.h"

namespace eddy::engine {

struct OutputTransaction {
  uint64_t epoch = 0;  // of the state directory (see above)
  uint64_t id = 0;     // 1, 2, ... per epoch
  bool published = false;
  std::vector<PartitionOffset> offsets;  // next offsets of the inputs behind `records`
  std::vector<SinkRecord> records;
};

std::string EncodeOutputTransaction(const OutputTransaction& transaction);
std::optional<OutputTransaction> DecodeOutputTransaction(std::string_view bytes);

// "eddy.txn/<epoch hex>/<id>": the metadata a transaction's offsets are committed with.
std::string TransactionMarker(const OutputTransaction& transaction);

// The broker's side: Kafka transactions (kafka/kafka_transactions.h), or a fixture in tests.
class TransactionalOutput {
 public:
  virtual ~TransactionalOutput() = default;
  // Prepares for the first transaction and fences earlier producers of the same identity,
  // aborting a transaction one of them left open. Called once, before anything else.
  virtual Status Start(std::chrono::milliseconds timeout) = 0;
  // Publishes `transaction.records` and commits `transaction.offsets` with the marker
  // TransactionMarker(transaction), all or nothing. On error nothing of it is visible to
  // read_committed readers, and `refused` gets the records the broker refused for what they
  // are (code kInvalidArgument); the error's code is kInternal when the output cannot go on
  // (fenced by another producer, fatal error), kUnavailable when another try may succeed.
  virtual Status Commit(const OutputTransaction& transaction, std::vector<FailedDelivery>& refused,
                        std::chrono::milliseconds timeout) = 0;
  // Whether `transaction` was committed, by this process or an earlier one: whether the
  // committed offset of one of its partitions carries its marker.
  virtual Result<bool> IsCommitted(const OutputTransaction& transaction,
                                   std::chrono::milliseconds timeout) = 0;
};

class ExactlyOnceSink final : public Sink {
 public:
  // `routes` and `dead_letter_topics` as for ReliableSink. `output`, `db`, `clock` and
  // `metrics` must outlive this object. `outbox_suffix` names the outbox (the worker's
  // config::WorkerSuffix; "" is the outbox of worker 0, which is every earlier version's).
  ExactlyOnceSink(TransactionalOutput& output, state::StateDb& db,
                  const config::DeliveryConfig& delivery,
                  std::map<std::string, DeadLetterRoute> routes, RetryClock& clock,
                  metrics::Metrics& metrics, const std::string& outbox_suffix = "");

  // Sink: Send keeps the record for the next Stage(); Flush has nothing to wait for.
  Status Send(SinkRecord record) override;
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }

  // Starts the output and settles the transaction an earlier process staged and may not
  // have published (see above). Must succeed before the first Stage(); retries transient
  // failures like Publish().
  Status Recover();
  // Makes the records sent since the last Stage() and `offsets` the next transaction, staged
  // into `batch`. `offsets` must name at least one partition when records were sent (the
  // marker needs one); the caller writes `batch` and then calls Publish(). An error means no
  // transaction is staged and `batch` is unchanged.
  Status Stage(std::vector<PartitionOffset> offsets, state::WriteBatch& batch);
  // Publishes the staged transaction (after its batch was written) and marks it published.
  // Returns once it is committed, or with an error if a stop was requested meanwhile or the
  // output cannot go on; the transaction then stays staged for the next start's Recover().
  Status Publish();
  // Asks a Publish() or Recover() that is retrying to give up. Thread-safe.
  void RequestStop() { stop_requested_.store(true); }
  // Why publishing is failing right now ("" when it is not). Thread-safe.
  std::string publish_error() const;

  bool has_staged() const { return staged_.has_value(); }
  size_t kept_records() const { return kept_.size(); }

  static constexpr std::chrono::milliseconds kTransactionTimeout{30'000};

 private:
  // Commits staged_ until it succeeds (see Failures above).
  Status PublishWithRetry();
  Status MarkPublished();
  void SetPublishError(const std::string& error);

  TransactionalOutput& output_;
  state::StateDb& db_;
  const std::string epoch_key_;  // this outbox's keys
  const std::string transaction_key_;
  const RetryPolicy policy_;
  const std::map<std::string, DeadLetterRoute> routes_;
  RetryClock& clock_;
  metrics::Metrics& metrics_;
  prometheus::Counter& committed_;
  prometheus::Counter& aborted_;
  prometheus::Histogram& commit_duration_;

  std::atomic<bool> stop_requested_{false};
  mutable std::mutex error_mu_;
  std::string publish_error_;  // guarded by error_mu_

  // Processing thread only.
  bool recovered_ = false;
  uint64_t epoch_ = 0;
  uint64_t last_id_ = 0;
  std::vector<SinkRecord> kept_;             // sent since the last Stage()
  std::optional<OutputTransaction> staged_;  // staged, not yet published
};

}  // namespace eddy::engine
