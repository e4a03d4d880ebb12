// Where a topology's results go besides views: a Sink. The engine produces SinkRecords and
// never sees librdkafka; Kafka (kafka/kafka_sink.h) is one implementation, an in-memory
// collector (engine/fixture_sink.h, for tests and `eddy test`) another.
//
// Delivery contract (at-least-once): the pipeline calls Flush() before it commits the state
// and offsets that produced the records, and commits only if Flush succeeded. A crash
// between the two replays those inputs, so their outputs may be delivered again — never
// lost. (Exactly-once output through Kafka transactions is a later option.)
//
// Threading: a Sink is owned and called by the processing thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace eddy::engine {

struct SinkRecord {
  std::string topic;
  std::optional<std::string> key;  // nullopt: no key
  std::string value;
  int64_t timestamp_ms = 0;  // the record's event time (for a window result: its end - 1)
  std::vector<std::pair<std::string, std::string>> headers;
};

// A record whose delivery failed, as a Sink that keeps them reports it (TakeFailed).
// `error`'s code says whether another try can help: kInvalidArgument = the record itself is
// refused (too large, timestamp out of range): never; kInternal = the sink is broken; any
// other code (kUnavailable, kNotFound) is transient.
struct FailedDelivery {
  SinkRecord record;
  Status error;
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Queues a record. May block briefly when the client's queue is full; never drops.
  // An error here means the record cannot be sent at all (e.g. too large).
  virtual Status Send(SinkRecord record) = 0;
  // Waits until every record queued so far is acknowledged, or `timeout` passes. An error
  // means some record was not delivered: the pipeline must not commit past it.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;
  // The records whose delivery failed since the last call, in the order their failures were
  // reported, and forgets them. A sink that cannot tell which records failed returns none
  // (its Flush error is then all a caller knows).
  virtual std::vector<FailedDelivery> TakeFailed() { return {}; }
  // Topics that should get no new records for now (their circuit breaker is open; see
  // engine/reliable_sink.h). The pipeline pauses the sources of the topologies writing them.
  virtual std::vector<std::string> BlockedTopics() { return {}; }
  // A number that changes whenever a topic becomes blocked (or is blocked again). Cheap: the
  // pipeline reads it before every record, so that it stops feeding a blocked topic at once
  // instead of after the rest of its batch.
  virtual uint64_t BlockGeneration() { return 0; }
};

}  // namespace eddy::engine
