#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include "metrics/process_stats.h"

namespace eddy::metrics {
namespace {

prometheus::Family<prometheus::Counter>& AddCounter(prometheus::Registry& registry,
                                                    const std::string& name,
                                                    const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}
prometheus::Family<prometheus::Gauge>& AddGauge(prometheus::Registry& registry,
                                                const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}
prometheus::Family<prometheus::Histogram>& AddHistogram(prometheus::Registry& registry,
                                                        const std::string& name,
                                                        const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

}  // namespace

prometheus::Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

prometheus::Histogram::BucketBoundaries Metrics::EndToEndBuckets() {
  return {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,    2.5,  5,    10,    30,
          60,   120,   300,  600, 1800, 3600, 7200, 14400, 43200, 86400};
}

prometheus::Histogram::BucketBoundaries Metrics::HttpBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      records_consumed(prometheus::BuildCounter()
                           .Name("eddy_records_consumed_total")
                           .Help("Records handed over by the Kafka consumer")
                           .Register(*registry_)),
      records_processed(prometheus::BuildCounter()
                            .Name("eddy_records_processed_total")
                            .Help("Records a topology processed successfully")
                            .Register(*registry_)),
      records_failed(prometheus::BuildCounter()
                         .Name("eddy_records_failed_total")
                         .Help("Records a topology skipped because they could not be processed")
                         .Register(*registry_)),
      late_records_dropped(prometheus::BuildCounter()
                               .Name("eddy_late_records_dropped_total")
                               .Help("Records dropped because their window had closed")
                               .Register(*registry_)),
      duplicates_dropped(prometheus::BuildCounter()
                             .Name("eddy_duplicates_dropped_total")
                             .Help("Records a dedup step dropped as already seen within its ttl")
                             .Register(*registry_)),
      consumer_lag(prometheus::BuildGauge()
                       .Name("eddy_consumer_lag_records")
                       .Help("High watermark minus next offset to process, per partition")
                       .Register(*registry_)),
      assigned_partitions(prometheus::BuildGauge()
                              .Name("eddy_assigned_partitions")
                              .Help("Source partitions currently assigned to this instance")
                              .Register(*registry_)),
      processing_latency(prometheus::BuildHistogram()
                             .Name("eddy_processing_latency_seconds")
                             .Help("Time from consumption of a record to the commit of its "
                                   "state and offset")
                             .Register(*registry_)),
      state_commits(prometheus::BuildCounter()
                        .Name("eddy_state_commits_total")
                        .Help("Atomic RocksDB commits of state and offsets")
                        .Register(*registry_)),
      state_commit_duration(prometheus::BuildHistogram()
                                .Name("eddy_state_commit_duration_seconds")
                                .Help("Duration of one atomic RocksDB commit")
                                .Register(*registry_)),
      state_write_errors(prometheus::BuildCounter()
                             .Name("eddy_state_write_errors_total")
                             .Help("Failed RocksDB writes of state and offsets (disk full, "
                                   "I/O error); each failed retry counts")
                             .Register(*registry_)),
      kafka_errors(prometheus::BuildCounter()
                       .Name("eddy_kafka_errors_total")
                       .Help("Errors reported by the Kafka client, by librdkafka error name")
                       .Register(*registry_)),
      sink_records_sent(prometheus::BuildCounter()
                            .Name("eddy_sink_records_sent_total")
                            .Help("Records a Kafka sink delivered (acknowledged by the broker)")
                            .Register(*registry_)),
      sink_errors(prometheus::BuildCounter()
                      .Name("eddy_sink_errors_total")
                      .Help("Records a Kafka sink could not send or deliver, by librdkafka "
                            "error name")
                      .Register(*registry_)),
      dead_letter_records(prometheus::BuildCounter()
                              .Name("eddy_dead_letter_records_total")
                              .Help("Records sent to a topology's dead-letter topic, by reason")
                              .Register(*registry_)),
      sink_retries(prometheus::BuildCounter()
                       .Name("eddy_sink_retries_total")
                       .Help("Records sent again after a failed send or delivery")
                       .Register(*registry_)),
      circuit_breaker_open(prometheus::BuildGauge()
                               .Name("eddy_sink_circuit_open")
                               .Help("1 while the circuit breaker of a sink topic is open")
                               .Register(*registry_)),
      sink_transactions(prometheus::BuildCounter()
                            .Name("eddy_sink_transactions_total")
                            .Help("Kafka transactions of exactly-once output, by result "
                                  "(committed, aborted)")
                            .Register(*registry_)),
      sink_transaction_duration(prometheus::BuildHistogram()
                                    .Name("eddy_sink_transaction_duration_seconds")
                                    .Help("Duration of one Kafka transaction of exactly-once "
                                          "output, first record to commit")
                                    .Register(*registry_)),
      build_info(prometheus::BuildGauge()
                     .Name("eddy_build_info")
                     .Help("Constant 1, labelled with the eddy version")
                     .Register(*registry_)),
      step_records_in(AddCounter(*registry_, "eddy_step_records_in_total",
                                 "Records that reached a step")),
      step_records_out(AddCounter(*registry_, "eddy_step_records_out_total",
                                  "Records a step passed on, or applied to its state")),
      step_records_dropped(AddCounter(*registry_, "eddy_step_records_dropped_total",
                                      "Records a filter rejected or an inner stream-table join "
                                      "found no row for")),
      end_to_end_latency(AddHistogram(*registry_, "eddy_end_to_end_latency_seconds",
                                      "From a record's event time to the commit that made its "
                                      "effect visible")),
      stream_time(AddGauge(*registry_, "eddy_stream_time_seconds",
                           "Stream time (watermark) of the task a source partition feeds, as "
                           "of the last commit, in seconds since the epoch")),
      restoring_partitions(AddGauge(*registry_, "eddy_restoring_partitions",
                                    "Partitions of joined tables still loading before their "
                                    "streams are joined")),
      ready(AddGauge(*registry_, "eddy_ready", "1 while /readyz answers 200, else 0")),
      processing_loop_age(AddGauge(*registry_, "eddy_processing_loop_age_seconds",
                                   "Seconds since the processing loop last started an "
                                   "iteration")),
      state_live_data(AddGauge(*registry_, "eddy_state_live_data_bytes",
                               "RocksDB estimate of the size of live state")),
      state_sst_files(AddGauge(*registry_, "eddy_state_sst_files_bytes",
                               "Size of all RocksDB SST files of the state")),
      state_memtables(AddGauge(*registry_, "eddy_state_memtable_bytes",
                               "Size of the RocksDB memtables of the state")),
      state_estimated_keys(AddGauge(*registry_, "eddy_state_estimated_keys",
                                    "RocksDB estimate of the number of keys in the state")),
      state_pending_compaction(AddGauge(*registry_, "eddy_state_pending_compaction_bytes",
                                        "RocksDB estimate of bytes compaction has to rewrite")),
      state_running_compactions(AddGauge(*registry_, "eddy_state_running_compactions",
                                         "RocksDB compactions running now")),
      state_delayed_write_rate(AddGauge(*registry_,
                                        "eddy_state_delayed_write_rate_bytes_per_second",
                                        "Rate RocksDB slows writes to while they are delayed; "
                                        "0 when not delayed")),
      state_write_stopped(AddGauge(*registry_, "eddy_state_write_stopped",
                                   "1 while RocksDB stops writes (write stall), else 0")),
      state_write_stall(AddCounter(*registry_, "eddy_state_write_stall_seconds_total",
                                   "Time state writes spent delayed or stopped by RocksDB")),
      state_block_cache_hits(AddCounter(*registry_, "eddy_state_block_cache_hits_total",
                                        "RocksDB block cache hits")),
      state_block_cache_misses(AddCounter(*registry_, "eddy_state_block_cache_misses_total",
                                          "RocksDB block cache misses")),
      state_block_cache_usage(AddGauge(*registry_, "eddy_state_block_cache_usage_bytes",
                                       "Bytes held in the RocksDB block cache")),
      http_requests(AddCounter(*registry_, "eddy_http_requests_total",
                               "HTTP responses by route template and status code")),
      http_request_duration(AddHistogram(*registry_, "eddy_http_request_duration_seconds",
                                         "Time to answer an HTTP request, by route template")),
      process_resident_memory(AddGauge(*registry_, "process_resident_memory_bytes",
                                       "Resident memory size in bytes")),
      process_virtual_memory(AddGauge(*registry_, "process_virtual_memory_bytes",
                                      "Virtual memory size in bytes")),
      process_cpu(AddCounter(*registry_, "process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds")),
      process_open_fds(AddGauge(*registry_, "process_open_fds", "Number of open file descriptors")),
      process_max_fds(AddGauge(*registry_, "process_max_fds",
                               "Maximum number of open file descriptors")),
      process_threads(AddGauge(*registry_, "process_threads", "Number of OS threads")),
      process_start_time(AddGauge(*registry_, "process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds")) {
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

void Metrics::CollectProcess() {
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

std::string Metrics::SerializeText() {
  std::lock_guard lock(collect_mu_);
  CollectProcess();
  for (const auto& collect : collectors_) collect();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace eddy::metrics
