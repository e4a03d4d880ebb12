// Helpers for integration tests that run one eddy deployment over several process lifetimes:
// its config (the test broker, one consumer group, one state directory, one loopback port),
// and readings of what it serves (window and table views, /metrics) in a form that compares
// exactly and prints readably when it does not match.
//
// Thread-safety: single-threaded test helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/eddy_process.h"

namespace eddy::testing {

// An hour-aligned time (epoch ms) a day before now: event times for tests. Not fixed dates:
// sinks stamp results with their window's last millisecond, and the broker rejects
// timestamps more than an hour ahead of its clock.
int64_t HourADayAgoMs();

// One eddy deployment: a fresh consumer group, state directory and HTTP port, kept across
// restarts. `topologies` is the YAML of the config's `topologies:` list (its items indented
// by two spaces). Each Start() writes the config again, so a restart may change what may
// change freely between runs (commit_interval here).
class Deployment {
 public:
  // `kafka_properties` are added to the kafka map (e.g. group.instance.id); `extra_config` is
  // top-level YAML placed before the topologies (e.g. "delivery: {guarantee: exactly_once}\n").
  explicit Deployment(std::string topologies,
                      std::vector<std::pair<std::string, std::string>> kafka_properties = {},
                      std::string extra_config = "");

  // The whole config: kafka (test broker, this group, a 6 s session), state (this dir,
  // `commit_interval`; one in minutes, e.g. "10m", also turns commit_when_caught_up off, for
  // runs whose work must stay uncommitted), http (127.0.0.1, this port), logging at info, then the
  // topologies.
  std::string ConfigYaml(const std::string& commit_interval) const;
  // Starts `eddy run` over ConfigYaml(commit_interval); the caller waits for readiness.
  std::unique_ptr<EddyProcess> Start(const std::string& commit_interval = "50ms") const;

  uint16_t port() const { return port_; }

 private:
  const std::string topologies_;
  const std::vector<std::pair<std::string, std::string>> kafka_properties_;
  const std::string extra_config_;
  const std::string group_;
  const std::string state_dir_;
  const uint16_t port_;
};

// GET /v1/views/{view}/keys/{key} of a window view, as one line per window relative to
// `base_ms` in seconds: "[+60s,+660s) closed {"n":2,"total":3}" (aggregates minified, in
// config order), windows joined by "\n". An HTTP or JSON problem gives a text starting with
// "error:" that names it, so a comparison fails with the reason in the message.
std::string WindowsText(uint16_t port, const std::string& view, const std::string& key,
                        int64_t base_ms);
// One line of WindowsText's format, for expectations.
std::string WindowLine(int64_t start_s, int64_t end_s, bool closed, const std::string& aggregates);
// Lines joined as WindowsText joins them.
std::string Lines(const std::vector<std::string>& lines);

// The value of the first sample of `name` in /metrics whose labels include every one of
// `labels` (each written `key="value"`); -1 when there is none or /metrics did not answer.
double MetricValue(uint16_t port, const std::string& name,
                   const std::vector<std::string>& labels = {});

}  // namespace eddy::testing
