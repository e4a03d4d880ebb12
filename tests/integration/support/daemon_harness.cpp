#include "support/daemon_harness.h"

#include <simdjson.h>

#include <sstream>

#include "support/kafka_test_env.h"

namespace eddy::testing {

int64_t HourADayAgoMs() {
  constexpr int64_t kHour = 3'600'000;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  return now_ms / kHour * kHour - 24 * kHour;
}

Deployment::Deployment(std::string topologies,
                       std::vector<std::pair<std::string, std::string>> kafka_properties,
                       std::string extra_config)
    : topologies_(std::move(topologies)),
      kafka_properties_(std::move(kafka_properties)),
      extra_config_(std::move(extra_config)),
      group_(UniqueName("eddy-group")),
      state_dir_(MakeTempDir("eddy-state")),
      port_(FreePort()) {}

std::string Deployment::ConfigYaml(const std::string& commit_interval) const {
  std::string extra;
  for (const auto& [name, value] : kafka_properties_) extra += "  " + name + ": " + value + "\n";
  return "kafka:\n"
         "  bootstrap.servers: " +
         KafkaBootstrap() + "\n  group.id: " + group_ +
         "\n"
         "  session.timeout.ms: 6000\n" +
         extra +
         "state:\n"
         "  dir: " +
         state_dir_ + "\n  commit_interval: " + commit_interval +
         // An interval of minutes is a run that must not commit (its work is to be lost):
         // no commits when caught up either.
         (commit_interval.ends_with("m") && !commit_interval.ends_with("ms")
              ? "\n  commit_when_caught_up: false"
              : "") +
         "\n"
         "http:\n"
         "  listen: 127.0.0.1:" +
         std::to_string(port_) +
         "\n"
         "logging:\n"
         "  level: info\n" +
         extra_config_ + "topologies:\n" + topologies_;
}

std::unique_ptr<EddyProcess> Deployment::Start(const std::string& commit_interval) const {
  return std::make_unique<EddyProcess>(WriteTempFile("eddy.yaml", ConfigYaml(commit_interval)),
                                       port_);
}

std::string WindowLine(int64_t start_s, int64_t end_s, bool closed, const std::string& aggregates) {
  std::ostringstream line;
  line << "[" << (start_s >= 0 ? "+" : "") << start_s << "s," << (end_s >= 0 ? "+" : "") << end_s
       << "s) " << (closed ? "closed" : "open") << " " << aggregates;
  return line.str();
}

std::string Lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

std::string WindowsText(uint16_t port, const std::string& view, const std::string& key,
                        int64_t base_ms) {
  const HttpReply reply = HttpGet(port, "/v1/views/" + view + "/keys/" + key);
  if (IsNothingForKey(reply)) return "";
  if (reply.status != 200) {
    return "error: HTTP " + std::to_string(reply.status) + ": " + reply.body;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array windows;
  if (parser.parse(reply.body).get(doc) != simdjson::SUCCESS ||
      doc["windows"].get_array().get(windows) != simdjson::SUCCESS) {
    return "error: unexpected body: " + reply.body;
  }
  std::vector<std::string> lines;
  for (simdjson::dom::element window : windows) {
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    bool closed = false;
    simdjson::dom::object aggregates;
    if (window["start_ms"].get_int64().get(start_ms) != simdjson::SUCCESS ||
        window["end_ms"].get_int64().get(end_ms) != simdjson::SUCCESS ||
        window["closed"].get_bool().get(closed) != simdjson::SUCCESS ||
        window["aggregates"].get_object().get(aggregates) != simdjson::SUCCESS) {
      return "error: unexpected window in: " + reply.body;
    }
    lines.push_back(WindowLine((start_ms - base_ms) / 1000, (end_ms - base_ms) / 1000, closed,
                               simdjson::minify(aggregates)));
  }
  return Lines(lines);
}

double MetricValue(uint16_t port, const std::string& name, const std::vector<std::string>& labels) {
  const HttpReply reply = HttpGet(port, "/metrics");
  if (reply.status != 200) return -1;
  std::istringstream lines(reply.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char after = line.size() > name.size() ? line[name.size()] : '\0';
    if (after != '{' && after != ' ') continue;
    bool all = true;
    for (const std::string& label : labels) all = all && line.find(label) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

}  // namespace eddy::testing
