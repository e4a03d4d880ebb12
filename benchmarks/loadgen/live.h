// The wall-clock workloads of `eddy-loadgen rate` and `eddy-loadgen latency`: events (the
// `events` shape of benchmarks/DATA.md) at a steady rate with ts = now, and the probes that
// time how long a record takes to become visible over HTTP.
//
// Thread-safety: each function runs on its caller's thread with its own Producer (and
// HttpClient); `stop` may be set from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "loadgen/http_client.h"
#include "loadgen/producer.h"
#include "loadgen/url.h"

namespace eddy::loadgen {

struct SteadyLoadSpec {
  std::string topic;
  double rate = 0;  // events per second, > 0
  int64_t keys = 100'000;
  int64_t value_bytes = 100;
  uint64_t seed = 7;
};

struct SteadyLoadResult {
  int64_t sent = 0;
  double seconds = 0;  // from the first tick to the last
  double achieved_rate() const { return seconds > 0 ? static_cast<double>(sent) / seconds : 0; }
};

// Produces events until `until` or until `stop` is set: every 1 ms tick it sends the
// events due by then (rate × elapsed time, minus those sent), so a slow tick is made up in
// the next. Keys k<n> with n uniform in [0, keys), ids e<seq>, ts = the tick's wall-clock
// time in ms. Does not flush.
Result<SteadyLoadResult> RunSteadyLoad(Producer& producer, const SteadyLoadSpec& spec,
                                       std::chrono::steady_clock::time_point until,
                                       const std::atomic<bool>& stop);

struct ProbeSpec {
  std::string topic;
  UrlTemplate url;
  std::string run_id;  // probe keys are probe-<run_id>-<i>
  std::chrono::milliseconds interval{10};
  std::chrono::microseconds poll_interval{500};
  std::chrono::milliseconds timeout{10'000};       // a probe not visible by then is a timeout
  std::chrono::steady_clock::duration warmup{};    // probes started earlier are discarded
  std::chrono::steady_clock::duration duration{};  // measured period after the warmup
  int64_t value_bytes = 100;
};

struct ProbeResults {
  std::vector<double> latencies_ms;  // measured probes that became visible
  int64_t timeouts = 0;              // measured probes that did not
  int64_t discarded = 0;             // probes during the warmup
  int64_t http_errors = 0;           // answers other than 200/404, and failed requests
  std::string first_http_error;
};

// Starts one probe every interval from `start` until start + warmup + duration: produces a
// record with a fresh key (through `producer`, which should send at once: linger.ms=0)
// and keeps it pending until its URL answers 200 (visible; latency = the 200's arrival −
// the moment just before the produce call, steady clock) or `timeout` passes. Several
// probes may be pending: every poll_interval the oldest is polled, and when it answers
// 200 the next oldest at once, and so on until one answers 404. So one connection and at
// most one request per poll_interval while nothing turns visible; a probe that becomes
// visible before an older one is seen only once the older one is. Probes still pending
// at the end are finished.
Result<ProbeResults> RunProbes(Producer& producer, HttpClient& http, const ProbeSpec& spec,
                               std::chrono::steady_clock::time_point start);

// The nearest-rank q-quantile (0 < q <= 1) of `sorted` (ascending, non-empty).
double Quantile(const std::vector<double>& sorted, double q);

}  // namespace eddy::loadgen
