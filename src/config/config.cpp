#include "config/config.h"

namespace eddy::config {

std::string SourceLocation::ToString() const {
  // Line 0 means "the file as a whole" (it could not be read or parsed at all): no fake :0:0.
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

bool WritesToKafka(const TopologyConfig& topology) {
  if (!topology.sinks.empty() || !topology.dead_letters.topic.empty()) return true;
  for (const StepConfig& step : topology.steps) {
    if (!step.late_records_topic.empty()) return true;
  }
  return false;
}

}  // namespace eddy::config
