#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

namespace eddy::metrics {

prometheus::Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
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
                     .Register(*registry_)) {
  build_info.Add({{"version", EDDY_VERSION}}).Set(1);
  assigned_partitions.Add({}).Set(0);
  state_commits.Add({});
  state_write_errors.Add({});
}

std::string Metrics::SerializeText() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace eddy::metrics
