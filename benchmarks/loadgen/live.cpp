#include "loadgen/live.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <thread>

#include "loadgen/random.h"
#include "loadgen/records.h"

namespace eddy::loadgen {

namespace {

using Clock = std::chrono::steady_clock;

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Result<SteadyLoadResult> RunSteadyLoad(Producer& producer, const SteadyLoadSpec& spec,
                                       Clock::time_point until, const std::atomic<bool>& stop) {
  constexpr auto kTick = std::chrono::milliseconds(1);
  rd_kafka_topic_t* topic = producer.Topic(spec.topic);
  Random random(spec.seed);
  RecordBuffer key;
  RecordBuffer id;
  RecordBuffer value;
  SteadyLoadResult result;
  const Clock::time_point start = Clock::now();
  Clock::time_point now = start;
  for (int64_t tick = 1; now < until && !stop.load(std::memory_order_relaxed); ++tick) {
    const auto due = static_cast<int64_t>(spec.rate * Seconds(now - start));
    const int64_t ts = WallClockMs();
    for (; result.sent < due; ++result.sent) {
      FormatName(key, "k", static_cast<int64_t>(random.Below(static_cast<uint64_t>(spec.keys))));
      FormatName(id, "e", result.sent);
      FormatEvent(value, id.view(), key.view(), random.Between(1, 1000), ts, spec.value_bytes);
      EDDY_RETURN_IF_ERROR(producer.Produce(topic, key.view(), value.view(), ts));
    }
    producer.Poll();
    std::this_thread::sleep_until(start + tick * kTick);
    now = Clock::now();
  }
  result.seconds = Seconds(now - start);
  return result;
}

Result<ProbeResults> RunProbes(Producer& producer, HttpClient& http, const ProbeSpec& spec,
                               Clock::time_point start) {
  struct Pending {
    std::string target;
    Clock::time_point t0;
  };
  rd_kafka_topic_t* topic = producer.Topic(spec.topic);
  const Clock::time_point end = start + spec.warmup + spec.duration;
  const Clock::time_point measured_from = start + spec.warmup;
  RecordBuffer value;
  ProbeResults results;
  std::deque<Pending> pending;  // oldest first
  const auto finish = [&](const Pending& probe, std::optional<double> latency_ms) {
    if (probe.t0 < measured_from) {
      ++results.discarded;
    } else if (latency_ms) {
      results.latencies_ms.push_back(*latency_ms);
    } else {
      ++results.timeouts;
    }
  };
  Clock::time_point next_probe = start;
  Clock::time_point next_poll = start;
  for (int64_t i = 0;;) {
    Clock::time_point now = Clock::now();
    // Probes start on their own schedule, whatever the pending ones do: starting a probe
    // when the previous one became visible would lock the probes to the phase of the
    // measured system's own timers (a periodic commit) and measure only that phase.
    if (now >= next_probe && next_probe < end) {
      const std::string key = "probe-" + spec.run_id + "-" + std::to_string(i++);
      const int64_t ts = WallClockMs();
      FormatEvent(value, key, key, 1, ts, spec.value_bytes);
      const Clock::time_point t0 = Clock::now();
      EDDY_RETURN_IF_ERROR(producer.Produce(topic, key, value.view(), ts));
      producer.Poll();
      pending.push_back({spec.url.Target(key), t0});
      // A loop held up (a slow answer) resumes the schedule rather than catching up with a
      // burst of probes.
      next_probe = std::max(next_probe + spec.interval, Clock::now());
      continue;
    }
    if (pending.empty() && next_probe >= end) break;

    // Oldest first: GET the oldest pending probe; when it is visible, try the next one at
    // once, until one is not visible yet.
    if (!pending.empty() && now >= next_poll) {
      next_poll = now + spec.poll_interval;
      while (!pending.empty()) {
        const Pending& probe = pending.front();
        const Clock::duration left = spec.timeout - (Clock::now() - probe.t0);
        if (left <= Clock::duration::zero()) {
          finish(probe, std::nullopt);
          pending.pop_front();
          continue;
        }
        Result<int> status =
            http.Get(probe.target, std::chrono::duration_cast<std::chrono::milliseconds>(left) +
                                       std::chrono::milliseconds(1));
        const Clock::time_point t1 = Clock::now();
        if (status.ok() && *status == 200) {
          finish(probe, std::chrono::duration<double, std::milli>(t1 - probe.t0).count());
          pending.pop_front();
          continue;
        }
        if (!status.ok() || *status != 404) {
          ++results.http_errors;
          if (results.first_http_error.empty()) {
            results.first_http_error =
                status.ok() ? "GET " + probe.target + " answered " + std::to_string(*status)
                            : status.status().message();
          }
        }
        break;
      }
      producer.Poll();
    }
    const Clock::time_point wake =
        pending.empty() ? next_probe
                        : (next_probe < end ? std::min(next_poll, next_probe) : next_poll);
    std::this_thread::sleep_until(wake);
  }
  return results;
}

double Quantile(const std::vector<double>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = static_cast<size_t>(std::max(1.0, std::ceil(q * n)));
  return sorted[std::min(rank, sorted.size()) - 1];
}

}  // namespace eddy::loadgen
