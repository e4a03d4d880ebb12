#include "config/config.h"

#include <algorithm>

namespace eddy::config {

std::string SourceLocation::ToString() const {
  // Line 0 means "the file as a whole" (it could not be read or parsed at all): no fake :0:0.
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

bool IsSecretKafkaProperty(std::string_view name) {
  for (const std::string_view word : {"password", "secret", "jaas"}) {
    if (name.find(word) != std::string_view::npos) return true;
  }
  return name == "ssl.key.pem" || name == "ssl_key" || name == "sasl.oauthbearer.config";
}

std::string RedactSecrets(std::string text, const KafkaConfig& kafka) {
  static constexpr std::string_view kRedacted = "[redacted]";
  for (const KafkaProperty& property : kafka.properties) {
    if (property.value.empty() || !IsSecretKafkaProperty(property.name)) continue;
    for (size_t at = text.find(property.value); at != std::string::npos;
         at = text.find(property.value, at + kRedacted.size())) {
      text.replace(at, property.value.size(), kRedacted);
    }
  }
  return text;
}

bool WritesToKafka(const TopologyConfig& topology) {
  if (!topology.sinks.empty() || !topology.dead_letters.topic.empty()) return true;
  for (const StepConfig& step : topology.steps) {
    if (!step.late_records_topic.empty()) return true;
  }
  return false;
}

std::string FirstStreamTableJoin(const Config& config) {
  for (const TopologyConfig& topology : config.topologies) {
    for (const StepConfig& step : topology.steps) {
      if (step.kind == StepConfig::Kind::kJoin && step.join.with == JoinConfig::With::kTable &&
          !step.join.co_partitioned) {
        return topology.name + "." + step.name;
      }
    }
  }
  return "";
}

int ResolveIoThreads(const HttpConfig& http, unsigned hardware_threads) {
  if (http.io_threads > 0) return http.io_threads;
  return static_cast<int>(
      std::clamp<unsigned>(hardware_threads, 1u, HttpConfig::kAutoIoThreadsMax));
}

std::string WorkerSuffix(int worker) {
  return worker == 0 ? std::string() : "-w" + std::to_string(worker);
}

std::chrono::milliseconds ResolveCommitInterval(const Config& config) {
  if (config.state.commit_interval) return *config.state.commit_interval;
  if (config.delivery.guarantee == DeliveryGuarantee::kExactlyOnce) {
    return std::chrono::milliseconds(100);
  }
  return std::chrono::seconds(1);
}

ProcessingThreads ResolveProcessingThreads(const Config& config, unsigned hardware_threads) {
  if (config.processing.threads) return {*config.processing.threads, ""};
  if (const std::string join = FirstStreamTableJoin(config); !join.empty()) {
    return {1, "auto: 1, because stream–table join " + join +
                   " must see every partition of its table (docs/joins.md)"};
  }
  if (config.delivery.guarantee == DeliveryGuarantee::kExactlyOnce) {
    return {1, "auto: 1, because exactly-once delivery runs one worker (docs/guarantees.md)"};
  }
  const int threads = std::clamp(static_cast<int>(std::min<unsigned>(hardware_threads, 1u << 16)),
                                 1, ProcessingConfig::kMaxThreads);
  return {threads, "auto: " + std::to_string(threads) + ", one per hardware thread (" +
                       std::to_string(hardware_threads) + ")"};
}

}  // namespace eddy::config
