// eddy-state-floor: what RocksDB alone costs for the window state scenario (b) writes.
//
// Scenario (b) counts events per key in tumbling 1-minute windows: 100k keys, 10M events
// over ~167 minutes of event time (benchmarks/DATA.md), so ~60k events a minute and ~45k
// distinct windows a minute — nearly every event creates a window. This program writes those
// windows to a StateDb opened with eddy's own options (state/state_db.cpp), the way eddy's
// commits do: per worker, every `--commit-events` events, the distinct windows they touched,
// in key order, as one WriteBatch; `--workers` threads, each owning its share of the
// partitions. No Kafka, no JSON, no aggregation: only the state writes, their flushes and
// compactions. Its figures are a floor under (b)'s cost for any design that keeps (b)'s
// windows in RocksDB, to set beside scenario (a)'s (benchmarks/README.md).
//
//   build/benchmarks/eddy-state-floor --events 10000000 --dir /tmp/floor
//
// Prints one JSON line: rows written, wall seconds until the last write returned and until
// flushes and compactions were idle, and the process's CPU seconds (every thread, RocksDB's
// included) at both moments.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "state/key_encoding.h"
#include "state/state_db.h"

namespace {

struct Flags {
  int64_t events = 10'000'000;
  int64_t keys = 100'000;
  int64_t events_per_minute = 60'000;  // 10M events over ~167 minutes, as DATA.md's events
  int64_t commit_events = 50'000;      // PipelineOptions::max_uncommitted_records
  int workers = 2;
  int partitions = 3;
  std::string dir;
};

[[noreturn]] void Usage(const char* error) {
  std::fprintf(stderr,
               "eddy-state-floor: %s\n"
               "usage: eddy-state-floor --dir DIR [--events N] [--keys N] "
               "[--events-per-minute N] [--commit-events N] [--workers N] [--partitions N]\n"
               "DIR must not exist yet (it is created, and removed at the end).\n",
               error);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (i + 1 >= argc) Usage("every flag takes a value");
    const char* value = argv[++i];
    auto number = [&]() -> int64_t {
      char* end = nullptr;
      const long long parsed = std::strtoll(value, &end, 10);
      if (end == value || *end != '\0' || parsed <= 0) Usage("values must be positive integers");
      return parsed;
    };
    if (name == "--dir") {
      flags.dir = value;
    } else if (name == "--events") {
      flags.events = number();
    } else if (name == "--keys") {
      flags.keys = number();
    } else if (name == "--events-per-minute") {
      flags.events_per_minute = number();
    } else if (name == "--commit-events") {
      flags.commit_events = number();
    } else if (name == "--workers") {
      flags.workers = static_cast<int>(number());
    } else if (name == "--partitions") {
      flags.partitions = static_cast<int>(number());
    } else {
      Usage("unknown flag");
    }
  }
  if (flags.dir.empty()) Usage("--dir is required");
  if (std::filesystem::exists(flags.dir)) Usage("--dir exists already");
  return flags;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One worker: the stream's events whose key lands on one of its partitions (partition p
// belongs to worker p mod workers), committed as eddy commits them: every commit_events of
// its own events, the distinct windows they touched, in key order, in one WriteBatch.
eddy::Status RunWorker(eddy::state::StateDb& db, const Flags& flags, int worker,
                       std::atomic<int64_t>& rows) {
  const int64_t base_ms = 1'795'600'000'000;  // any minute boundary
  struct Window {
    int32_t partition;
    std::string user_key;
    int64_t start_ms;
    bool operator<(const Window& other) const {
      return std::tie(partition, user_key, start_ms) <
             std::tie(other.partition, other.user_key, other.start_ms);
    }
    bool operator==(const Window& other) const = default;
  };
  std::vector<Window> touched;
  std::string key_buffer;
  const std::string value(12, 'v');  // a count and a sum, about as AggregateSet encodes them
  int64_t written = 0;
  auto commit = [&]() -> eddy::Status {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    eddy::state::WriteBatch batch;
    for (const Window& window : touched) {
      key_buffer.clear();
      eddy::state::AppendWindowKey(
          key_buffer, {"b.per_minute", window.partition, window.user_key, window.start_ms});
      batch.Put(key_buffer, value);
    }
    written += static_cast<int64_t>(touched.size());
    touched.clear();
    return db.Write(batch);
  };
  int64_t own = 0;
  for (int64_t event = 0; event < flags.events; ++event) {
    const auto key = static_cast<int64_t>(SplitMix64(static_cast<uint64_t>(event)) %
                                          static_cast<uint64_t>(flags.keys));
    const auto partition = static_cast<int32_t>(key % flags.partitions);
    if (partition % flags.workers != worker) continue;
    const int64_t minute = event / flags.events_per_minute;
    touched.push_back({partition, "k" + std::to_string(key), base_ms + minute * 60'000});
    if (++own % flags.commit_events == 0) {
      if (eddy::Status status = commit(); !status.ok()) return status;
    }
  }
  if (eddy::Status status = commit(); !status.ok()) return status;
  rows.fetch_add(written);
  return eddy::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  auto opened = eddy::state::StateDb::Open(flags.dir, {});
  if (!opened.ok()) {
    std::fprintf(stderr, "eddy-state-floor: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<eddy::state::StateDb> db = std::move(opened).value();
  std::atomic<int64_t> rows{0};
  std::vector<eddy::Status> results(static_cast<size_t>(flags.workers));
  const auto started = std::chrono::steady_clock::now();
  const double cpu_at_start = CpuSeconds();
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < flags.workers; ++w) {
      threads.emplace_back([&, w] {
        eddy::state::DisablePerfCountersOnThisThread();  // as eddy's workers do
        results[static_cast<size_t>(w)] = RunWorker(*db, flags, w, rows);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  for (const eddy::Status& status : results) {
    if (!status.ok()) {
      std::fprintf(stderr, "eddy-state-floor: %s\n", status.ToString().c_str());
      return 1;
    }
  }
  auto seconds_since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const double written_s = seconds_since();
  const double written_cpu = CpuSeconds() - cpu_at_start;
  // Then until RocksDB has nothing left to do (bounded: 10 minutes).
  for (int i = 0; i < 6000; ++i) {
    const eddy::state::StateDbStats stats = db->Stats();
    if (stats.running_compactions == 0 && stats.pending_compaction_bytes == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double settled_s = seconds_since();
  const double settled_cpu = CpuSeconds() - cpu_at_start;
  db.reset();
  std::filesystem::remove_all(flags.dir);
  std::printf(
      "{\"events\":%lld,\"rows\":%lld,\"workers\":%d,\"written_s\":%.2f,\"written_cpu_s\":%.2f,"
      "\"settled_s\":%.2f,\"settled_cpu_s\":%.2f,\"cpu_us_per_row\":%.2f}\n",
      static_cast<long long>(flags.events), static_cast<long long>(rows.load()), flags.workers,
      written_s, written_cpu, settled_s, settled_cpu,
      written_cpu * 1e6 / static_cast<double>(std::max<int64_t>(1, rows.load())));
  return 0;
}
