// eddy's Prometheus metrics: one registry per daemon, every family declared here in one
// block so the catalogue (docs/metrics.md) can be checked against a single place.
//
// Served as Prometheus text by eddy's own HTTP server (GET /metrics) through
// prometheus-cpp's TextSerializer; no second port, no civetweb exposer.
//
// Thread-safety: prometheus-cpp families and metrics are thread-safe. Hot paths should
// look up a labelled child once (Family::Add) and keep the reference: lookups lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace eddy::metrics {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Prometheus text exposition format 0.0.4.
  std::string SerializeText() const;

  // Buckets shared by latency histograms, in seconds.
  static prometheus::Histogram::BucketBoundaries LatencyBuckets();

 private:
  std::shared_ptr<prometheus::Registry> registry_;  // constant after construction

 public:
  // Records handed over by the Kafka consumer. {topic}
  prometheus::Family<prometheus::Counter>& records_consumed;
  // Records a topology processed successfully (counted once its state is committed is not
  // promised: counted when processed). {topology}
  prometheus::Family<prometheus::Counter>& records_processed;
  // Records a topology could not process: bad JSON, missing key or timestamp field, wrong
  // field type. The record is skipped and its offset still advances. {topology, reason}
  prometheus::Family<prometheus::Counter>& records_failed;
  // Records that arrived after their window closed (window end + grace <= stream time).
  // {topology, step}
  prometheus::Family<prometheus::Counter>& late_records_dropped;
  // Records a dedup step dropped because their id was already seen within its ttl.
  // {topology, step}
  prometheus::Family<prometheus::Counter>& duplicates_dropped;
  // High watermark minus the next offset to process, per assigned partition. {topic, partition}
  prometheus::Family<prometheus::Gauge>& consumer_lag;
  // Partitions currently assigned to this instance. {}
  prometheus::Family<prometheus::Gauge>& assigned_partitions;
  // Time from a record being handed over by the consumer to its effects (state and
  // offset) being committed to RocksDB, per record. {}
  prometheus::Family<prometheus::Histogram>& processing_latency;
  // RocksDB commits of state + offsets, and how long each took. {}
  prometheus::Family<prometheus::Counter>& state_commits;
  prometheus::Family<prometheus::Histogram>& state_commit_duration;
  // Failed RocksDB writes of a commit (each retry that fails counts once). {}
  prometheus::Family<prometheus::Counter>& state_write_errors;
  // Errors reported by the Kafka client (librdkafka error name). {error}
  prometheus::Family<prometheus::Counter>& kafka_errors;
  // Records a Kafka sink delivered: acknowledged by the broker (acks=all). {topic}
  prometheus::Family<prometheus::Counter>& sink_records_sent;
  // Records a Kafka sink could not send (rejected by produce()) or that the broker never
  // acknowledged (failed delivery report), by librdkafka error name. {topic, error}
  prometheus::Family<prometheus::Counter>& sink_errors;
  // Records a topology sent to its dead-letter topic (queued; the commit waits for their
  // acknowledgement): records it could not process and sink records that could not be
  // delivered (reason delivery_failed). {topology, reason}
  prometheus::Family<prometheus::Counter>& dead_letter_records;
  // Records sent again to a topic after a failed send or delivery. {topic}
  prometheus::Family<prometheus::Counter>& sink_retries;
  // 1 while the circuit breaker of a sink topic is open (its writers' sources paused),
  // else 0. {topic}
  prometheus::Family<prometheus::Gauge>& circuit_breaker_open;
  // delivery.guarantee exactly_once: Kafka transactions that committed (result="committed")
  // or were aborted to be tried again (result="aborted"). {result}
  prometheus::Family<prometheus::Counter>& sink_transactions;
  // Duration of one Kafka transaction, from its first record to its commit. {}
  prometheus::Family<prometheus::Histogram>& sink_transaction_duration;
  // Constant 1, labelled with the version. {version}
  prometheus::Family<prometheus::Gauge>& build_info;
};

}  // namespace eddy::metrics
