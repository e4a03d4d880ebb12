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

class Sink {
 public:
  virtual ~Sink() = default;
  // Queues a record. May block briefly when the client's queue is full; never drops.
  // An error here means the record cannot be sent at all (e.g. too large).
  virtual Status Send(SinkRecord record) = 0;
  // Waits until every record queued so far is acknowledged, or `timeout` passes. An error
  // means some record was not delivered: the pipeline must not commit past it.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;
};

}  // namespace eddy::engine
