#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <type_traits>

#include "metrics/process_stats.h"

namespace eddy::metrics {
template <typename T>
prometheus::Family<T>& Metrics::Declare(const std::string& name, const std::string& help) {
  if constexpr (std::is_same_v<T, prometheus::Counter>) {
    families_.push_back({name, "counter"});
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  } else if constexpr (std::is_same_v<T, prometheus::Gauge>) {
    families_.push_back({name, "gauge"});
    return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  } else {
    families_.push_back({name, "histogram"});
    return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  }
}

prometheus::Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

prometheus::Histogram::BucketBoundaries Metrics::EndToEndBuckets() {
  return {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,    2.5,   5,     10,   30,
          60,   120,   300,  600, 1800, 3600, 7200, 14400, 43200, 86400};
}

prometheus::Histogram::BucketBoundaries Metrics::HttpBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      records_consumed(Declare<prometheus::Counter>("eddy_records_consumed_total",
                                                    "Records handed over by the Kafka consumer")),
      records_processed(Declare<prometheus::Counter>("eddy_records_processed_total",
                                                     "Records a topology processed successfully")),
      records_failed(Declare<prometheus::Counter>(
          "eddy_records_failed_total",
          "Records a topology skipped because they could not be processed")),
      late_records_dropped(Declare<prometheus::Counter>(
          "eddy_late_records_dropped_total", "Records dropped because their window had closed")),
      duplicates_dropped(Declare<prometheus::Counter>(
          "eddy_duplicates_dropped_total",
          "Records a dedup step dropped as already seen within its ttl")),
      consumer_lag(
          Declare<prometheus::Gauge>("eddy_consumer_lag_records",
                                     "High watermark minus next offset to process, per partition")),
      assigned_partitions(Declare<prometheus::Gauge>(
          "eddy_assigned_partitions", "Source partitions currently assigned to this instance")),
      worker_assigned_partitions(
          Declare<prometheus::Gauge>("eddy_worker_assigned_partitions",
                                     "Source partitions currently assigned to one worker "
                                     "(processing.threads)")),
      processing_latency(
          Declare<prometheus::Histogram>("eddy_processing_latency_seconds",
                                         "Time from consumption of a record to the commit of its "
                                         "state and offset")),
      state_commits(Declare<prometheus::Counter>("eddy_state_commits_total",
                                                 "Atomic RocksDB commits of state and offsets")),
      state_commit_duration(Declare<prometheus::Histogram>(
          "eddy_state_commit_duration_seconds", "Duration of one atomic RocksDB commit")),
      state_write_errors(
          Declare<prometheus::Counter>("eddy_state_write_errors_total",
                                       "Failed RocksDB writes of state and offsets (disk full, "
                                       "I/O error); each failed retry counts")),
      kafka_errors(Declare<prometheus::Counter>(
          "eddy_kafka_errors_total",
          "Errors reported by the Kafka client, by librdkafka error name")),
      sink_records_sent(Declare<prometheus::Counter>(
          "eddy_sink_records_sent_total",
          "Records a Kafka sink delivered (acknowledged by the broker)")),
      sink_errors(Declare<prometheus::Counter>(
          "eddy_sink_errors_total",
          "Records a Kafka sink could not send or deliver, by librdkafka "
          "error name")),
      dead_letter_records(Declare<prometheus::Counter>(
          "eddy_dead_letter_records_total",
          "Records sent to a topology's dead-letter topic, by reason")),
      sink_retries(Declare<prometheus::Counter>(
          "eddy_sink_retries_total", "Records sent again after a failed send or delivery")),
      circuit_breaker_open(Declare<prometheus::Gauge>(
          "eddy_sink_circuit_open",
          "Workers whose circuit breaker of a sink topic is open (0 or 1 with one worker)")),
      sink_transactions(
          Declare<prometheus::Counter>("eddy_sink_transactions_total",
                                       "Kafka transactions of exactly-once output, by result "
                                       "(committed, aborted)")),
      sink_transaction_duration(
          Declare<prometheus::Histogram>("eddy_sink_transaction_duration_seconds",
                                         "Duration of one Kafka transaction of exactly-once "
                                         "output, first record to commit")),
      build_info(Declare<prometheus::Gauge>("eddy_build_info",
                                            "Constant 1, labelled with the eddy version")),
      step_records_in(Declare<prometheus::Counter>("eddy_step_records_in_total",
                                                   "Records that reached a step")),
      step_records_out(Declare<prometheus::Counter>(
          "eddy_step_records_out_total", "Records a step passed on, or applied to its state")),
      step_records_dropped(
          Declare<prometheus::Counter>("eddy_step_records_dropped_total",
                                       "Records a filter rejected or an inner stream-table join "
                                       "found no row for")),
      end_to_end_latency(
          Declare<prometheus::Histogram>("eddy_end_to_end_latency_seconds",
                                         "From a record's event time to the commit that made its "
                                         "effect visible")),
      stream_time(Declare<prometheus::Gauge>(
          "eddy_stream_time_seconds",
          "Stream time (watermark) of the task a source partition feeds, as "
          "of the last commit, in seconds since the epoch")),
      restoring_partitions(
          Declare<prometheus::Gauge>("eddy_restoring_partitions",
                                     "Partitions of joined tables still loading before their "
                                     "streams are joined")),
      ready(Declare<prometheus::Gauge>("eddy_ready", "1 while /readyz answers 200, else 0")),
      processing_loop_age(
          Declare<prometheus::Gauge>("eddy_processing_loop_age_seconds",
                                     "Seconds since the processing loop last started an "
                                     "iteration")),
      state_live_data(Declare<prometheus::Gauge>("eddy_state_live_data_bytes",
                                                 "RocksDB estimate of the size of live state")),
      state_sst_files(Declare<prometheus::Gauge>("eddy_state_sst_files_bytes",
                                                 "Size of all RocksDB SST files of the state")),
      state_memtables(Declare<prometheus::Gauge>("eddy_state_memtable_bytes",
                                                 "Size of the RocksDB memtables of the state")),
      state_estimated_keys(Declare<prometheus::Gauge>(
          "eddy_state_estimated_keys", "RocksDB estimate of the number of keys in the state")),
      state_pending_compaction(
          Declare<prometheus::Gauge>("eddy_state_pending_compaction_bytes",
                                     "RocksDB estimate of bytes compaction has to rewrite")),
      state_running_compactions(Declare<prometheus::Gauge>("eddy_state_running_compactions",
                                                           "RocksDB compactions running now")),
      state_delayed_write_rate(
          Declare<prometheus::Gauge>("eddy_state_delayed_write_rate_bytes_per_second",
                                     "Rate RocksDB slows writes to while they are delayed; "
                                     "0 when not delayed")),
      state_write_stopped(Declare<prometheus::Gauge>(
          "eddy_state_write_stopped", "1 while RocksDB stops writes (write stall), else 0")),
      state_write_stall(
          Declare<prometheus::Counter>("eddy_state_write_stall_seconds_total",
                                       "Time state writes spent delayed or stopped by RocksDB")),
      state_block_cache_hits(Declare<prometheus::Counter>("eddy_state_block_cache_hits_total",
                                                          "RocksDB block cache hits")),
      state_block_cache_misses(Declare<prometheus::Counter>("eddy_state_block_cache_misses_total",
                                                            "RocksDB block cache misses")),
      state_block_cache_usage(Declare<prometheus::Gauge>("eddy_state_block_cache_usage_bytes",
                                                         "Bytes held in the RocksDB block cache")),
      http_requests(Declare<prometheus::Counter>(
          "eddy_http_requests_total", "HTTP responses by route template and status code")),
      http_request_duration(
          Declare<prometheus::Histogram>("eddy_http_request_duration_seconds",
                                         "Time to answer an HTTP request, by route template")),
      process_resident_memory(Declare<prometheus::Gauge>("process_resident_memory_bytes",
                                                         "Resident memory size in bytes")),
      process_virtual_memory(Declare<prometheus::Gauge>("process_virtual_memory_bytes",
                                                        "Virtual memory size in bytes")),
      process_cpu(Declare<prometheus::Counter>("process_cpu_seconds_total",
                                               "Total user and system CPU time spent in seconds")),
      process_open_fds(
          Declare<prometheus::Gauge>("process_open_fds", "Number of open file descriptors")),
      process_max_fds(
          Declare<prometheus::Gauge>("process_max_fds", "Maximum number of open file descriptors")),
      process_threads(Declare<prometheus::Gauge>("process_threads", "Number of OS threads")),
      process_start_time(Declare<prometheus::Gauge>(
          "process_start_time_seconds", "Start time of the process since unix epoch in seconds")) {
  build_info.Add({{"version", EDDY_VERSION}}).Set(1);
  assigned_partitions.Add({}).Set(0);
  state_commits.Add({});
  state_write_errors.Add({});
  restoring_partitions.Add({}).Set(0);
  ready.Add({}).Set(0);
  process_cpu.Add({});
  CollectProcess();
}

void Metrics::AddCollector(std::function<void()> collect) {
  std::lock_guard lock(collect_mu_);
  collectors_.push_back(std::move(collect));
}

void Metrics::CollectProcess() const {
  const std::optional<ProcessStats> stats = ReadProcessStats();
  if (!stats) return;  // not Linux, or /proc not mounted: the series keep their last values
  process_resident_memory.Add({}).Set(stats->resident_memory_bytes);
  process_virtual_memory.Add({}).Set(stats->virtual_memory_bytes);
  process_open_fds.Add({}).Set(stats->open_fds);
  process_max_fds.Add({}).Set(stats->max_fds);
  process_threads.Add({}).Set(stats->threads);
  process_start_time.Add({}).Set(stats->start_time_seconds);
  // /proc reports a total; the counter only moves forward by the difference.
  if (stats->cpu_seconds > cpu_seconds_reported_) {
    process_cpu.Add({}).Increment(stats->cpu_seconds - cpu_seconds_reported_);
    cpu_seconds_reported_ = stats->cpu_seconds;
  }
}

std::string Metrics::SerializeText() const {
  std::lock_guard lock(collect_mu_);
  CollectProcess();
  for (const auto& collect : collectors_) collect();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace eddy::metrics
