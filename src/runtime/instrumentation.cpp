#include "runtime/instrumentation.h"

#include <map>
#include <memory>
#include <string>

namespace eddy::runtime {
namespace {

// Counters that mirror a monotonic total kept elsewhere: they move by the difference.
struct TickerCounters {
  uint64_t stall_micros = 0;
  uint64_t block_cache_hits = 0;
  uint64_t block_cache_misses = 0;
};

void Advance(prometheus::Counter& counter, uint64_t total, uint64_t& reported, double scale) {
  if (total <= reported) return;
  counter.Increment(static_cast<double>(total - reported) * scale);
  reported = total;
}

}  // namespace

void CollectStateDbMetrics(metrics::Metrics& metrics, const state::StateDb& db) {
  // What the collector writes to: children created now, owned by their families.
  struct Series {
    prometheus::Gauge& live;
    prometheus::Gauge& sst;
    prometheus::Gauge& memtables;
    prometheus::Gauge& keys;
    prometheus::Gauge& pending;
    prometheus::Gauge& running;
    prometheus::Gauge& delayed;
    prometheus::Gauge& stopped;
    prometheus::Gauge& cache_usage;
    prometheus::Counter& stall;
    prometheus::Counter& hits;
    prometheus::Counter& misses;
    TickerCounters reported;  // only the collector touches it, under Metrics' collect mutex
  };
  auto series = std::make_shared<Series>(Series{metrics.state_live_data.Add({}),
                                                metrics.state_sst_files.Add({}),
                                                metrics.state_memtables.Add({}),
                                                metrics.state_estimated_keys.Add({}),
                                                metrics.state_pending_compaction.Add({}),
                                                metrics.state_running_compactions.Add({}),
                                                metrics.state_delayed_write_rate.Add({}),
                                                metrics.state_write_stopped.Add({}),
                                                metrics.state_block_cache_usage.Add({}),
                                                metrics.state_write_stall.Add({}),
                                                metrics.state_block_cache_hits.Add({}),
                                                metrics.state_block_cache_misses.Add({}),
                                                {}});
  metrics.AddCollector([series, db = &db] {
    const state::StateDbStats stats = db->Stats();
    Series& s = *series;
    s.live.Set(static_cast<double>(stats.live_data_bytes));
    s.sst.Set(static_cast<double>(stats.sst_files_bytes));
    s.memtables.Set(static_cast<double>(stats.memtable_bytes));
    s.keys.Set(static_cast<double>(stats.estimated_keys));
    s.pending.Set(static_cast<double>(stats.pending_compaction_bytes));
    s.running.Set(static_cast<double>(stats.running_compactions));
    s.delayed.Set(static_cast<double>(stats.delayed_write_rate));
    s.stopped.Set(stats.write_stopped ? 1 : 0);
    s.cache_usage.Set(static_cast<double>(stats.block_cache_usage_bytes));
    Advance(s.stall, stats.stall_micros, s.reported.stall_micros, 1e-6);
    Advance(s.hits, stats.block_cache_hits, s.reported.block_cache_hits, 1);
    Advance(s.misses, stats.block_cache_misses, s.reported.block_cache_misses, 1);
  });
}

http::RequestObserver HttpRequestMetrics(metrics::Metrics& metrics) {
  return [&metrics](std::string_view route, int status, std::chrono::nanoseconds elapsed) {
    const std::string route_label = route.empty() ? "none" : std::string(route);
    metrics.http_requests.Add({{"route", route_label}, {"status", std::to_string(status)}})
        .Increment();
    metrics.http_request_duration.Add({{"route", route_label}}, metrics::Metrics::HttpBuckets())
        .Observe(std::chrono::duration<double>(elapsed).count());
  };
}

}  // namespace eddy::runtime
