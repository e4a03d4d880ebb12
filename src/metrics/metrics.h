// eddy's Prometheus metrics: one registry per daemon, every family declared here in one
// block so the catalogue (docs/metrics.md) can be checked against a single place.
//
// Served as Prometheus text by eddy's own HTTP server (GET /metrics) through
// prometheus-cpp's TextSerializer; no second port, no civetweb exposer.
//
// Thread-safety: prometheus-cpp families and metrics are thread-safe: the processing thread
// writes while HTTP threads serialize. Hot paths look up a labelled child once (Family::Add)
// and keep the reference, because lookups lock; per-record counts are better kept as plain
// integers on the processing thread and added to their counter once per commit (see
// engine/topology.h). Values that are cheap to read but not worth tracking continuously
// (RocksDB properties, /proc/self) are refreshed by collectors at each scrape.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace eddy::metrics {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Prometheus text exposition format 0.0.4. Runs every collector first (one scrape at a
  // time: collectors and the serialization share a mutex). Thread-safe.
  std::string SerializeText() const;

  // Adds a function that refreshes gauges and counters from their source at each scrape, on
  // the scraping HTTP thread. It must be cheap (no I/O beyond /proc) and thread-safe with
  // respect to whatever it reads. Call before the HTTP server starts; what it reads must
  // outlive the server.
  void AddCollector(std::function<void()> collect);

  // Every family, in declaration order: what tests compare with docs/metrics.md.
  struct FamilyInfo {
    std::string name;
    std::string type;  // counter, gauge, histogram
  };
  const std::vector<FamilyInfo>& families() const { return families_; }

  // Buckets shared by latency histograms, in seconds.
  static prometheus::Histogram::BucketBoundaries LatencyBuckets();
  // Buckets of eddy_end_to_end_latency_seconds: from 10 ms (a live stream) to a day (a
  // backlog being worked through, or a replay of old data).
  static prometheus::Histogram::BucketBoundaries EndToEndBuckets();
  // Buckets of eddy_http_request_duration_seconds: point reads take well under 1 ms.
  static prometheus::Histogram::BucketBoundaries HttpBuckets();

 private:
  void CollectProcess() const;  // process_* from /proc/self; under collect_mu_
  // Registers a family and records it in families_ (constructor only).
  template <typename T>
  prometheus::Family<T>& Declare(const std::string& name, const std::string& help);

  // Constant after construction.
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<FamilyInfo> families_;

  mutable std::mutex collect_mu_;  // one scrape at a time
  // Added before the server starts (AddCollector), then only run; guarded by collect_mu_.
  std::vector<std::function<void()>> collectors_;
  mutable double cpu_seconds_reported_ = 0;  // guarded by collect_mu_

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
  // Partitions currently assigned to this instance: the sum over its workers. {}
  prometheus::Family<prometheus::Gauge>& assigned_partitions;
  // Partitions currently assigned to one worker (processing.threads). {worker}
  prometheus::Family<prometheus::Gauge>& worker_assigned_partitions;
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
  // Workers whose circuit breaker of a sink topic is open (their writers' sources paused):
  // 0 or 1 with one worker. {topic}
  prometheus::Family<prometheus::Gauge>& circuit_breaker_open;
  // delivery.guarantee exactly_once: Kafka transactions that committed (result="committed")
  // or were aborted to be tried again (result="aborted"). {result}
  prometheus::Family<prometheus::Counter>& sink_transactions;
  // Duration of one Kafka transaction, from its first record to its commit. {}
  prometheus::Family<prometheus::Histogram>& sink_transaction_duration;
  // Constant 1, labelled with the version. {version}
  prometheus::Family<prometheus::Gauge>& build_info;

  // --- Per step (engine/topology.cpp). Counted on the processing thread in plain integers
  // and added here at each commit.
  // Records that reached a step (its phase one). {topology, step}
  prometheus::Family<prometheus::Counter>& step_records_in;
  // Records a step passed on (record-producing steps: to the steps and sinks below it;
  // window and table steps: records applied to their state). {topology, step}
  prometheus::Family<prometheus::Counter>& step_records_out;
  // Records a filter rejected or an inner stream-table join found no row for. {topology, step}
  prometheus::Family<prometheus::Counter>& step_records_dropped;
  // Per processed source record: wall-clock time of the commit that made its effect visible
  // minus its event time. {topology}
  prometheus::Family<prometheus::Histogram>& end_to_end_latency;
  // Stream time (the largest event time seen, the watermark windows close by) of the task a
  // source partition feeds, in seconds since the epoch, as of the last commit.
  // {topology, topic, partition}
  prometheus::Family<prometheus::Gauge>& stream_time;

  // --- Processing loop and readiness (engine/pipeline.cpp, runtime/health.cpp).
  // Partitions of joined tables still loading (restoring) before their streams are joined. {}
  prometheus::Family<prometheus::Gauge>& restoring_partitions;
  // 1 while /readyz would answer 200, else 0; evaluated at each scrape. {}
  prometheus::Family<prometheus::Gauge>& ready;
  // Seconds since the processing loop last started an iteration; evaluated at each scrape. {}
  prometheus::Family<prometheus::Gauge>& processing_loop_age;

  // --- RocksDB (state/state_db.h StateDb::Stats), refreshed at each scrape. All {}.
  prometheus::Family<prometheus::Gauge>& state_live_data;           // estimate-live-data-size
  prometheus::Family<prometheus::Gauge>& state_sst_files;           // total-sst-files-size
  prometheus::Family<prometheus::Gauge>& state_memtables;           // cur-size-all-mem-tables
  prometheus::Family<prometheus::Gauge>& state_estimated_keys;      // estimate-num-keys
  prometheus::Family<prometheus::Gauge>& state_pending_compaction;  // estimate-pending-...
  prometheus::Family<prometheus::Gauge>& state_running_compactions;
  prometheus::Family<prometheus::Gauge>& state_delayed_write_rate;    // actual-delayed-write-rate
  prometheus::Family<prometheus::Gauge>& state_write_stopped;         // is-write-stopped
  prometheus::Family<prometheus::Counter>& state_write_stall;         // STALL_MICROS ticker
  prometheus::Family<prometheus::Counter>& state_block_cache_hits;    // BLOCK_CACHE_HIT
  prometheus::Family<prometheus::Counter>& state_block_cache_misses;  // BLOCK_CACHE_MISS
  prometheus::Family<prometheus::Gauge>& state_block_cache_usage;     // block-cache-usage

  // --- HTTP (runtime/instrumentation.cpp through http::ServerOptions::observer).
  // Responses by route template (never the raw path) and status code. {route, status}
  prometheus::Family<prometheus::Counter>& http_requests;
  // From a request being read to its response being handed to the socket. {route}
  prometheus::Family<prometheus::Histogram>& http_request_duration;

  // --- Process, under the standard names of Prometheus client libraries, from /proc/self.
  prometheus::Family<prometheus::Gauge>& process_resident_memory;
  prometheus::Family<prometheus::Gauge>& process_virtual_memory;
  prometheus::Family<prometheus::Counter>& process_cpu;
  prometheus::Family<prometheus::Gauge>& process_open_fds;
  prometheus::Family<prometheus::Gauge>& process_max_fds;
  prometheus::Family<prometheus::Gauge>& process_threads;
  prometheus::Family<prometheus::Gauge>& process_start_time;
};

}  // namespace eddy::metrics
