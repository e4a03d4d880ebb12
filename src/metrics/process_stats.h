// What the process_* metrics report, read from Linux's /proc/self: the same sources and
// meanings as the Prometheus client libraries' process collectors, so dashboards built for
// them work unchanged.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace eddy::metrics {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double threads = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double open_fds = 0;
  double max_fds = 0;  // the soft RLIMIT_NOFILE
};

// The fields of /proc/<pid>/stat that ProcessStats needs (see proc(5)).
struct ProcStat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  int64_t threads = 0;
  uint64_t start_ticks = 0;  // since boot
  uint64_t vsize_bytes = 0;
  int64_t rss_pages = 0;
};

// Parses the text of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// itself contain spaces and parentheses, so fields are counted from the last ')'. nullopt
// if the text does not have the fields up to rss (24).
std::optional<ProcStat> ParseProcStat(std::string_view text);

// The "btime" line of /proc/stat: boot time in seconds since the epoch.
std::optional<int64_t> ParseBootTime(std::string_view proc_stat);

// Reads /proc/self/stat, /proc/stat, /proc/self/fd and the fd limit; nullopt if /proc is not
// readable (not Linux, or not mounted).
std::optional<ProcessStats> ReadProcessStats();

}  // namespace eddy::metrics
