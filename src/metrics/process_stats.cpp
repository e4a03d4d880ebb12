#include "metrics/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace eddy::metrics {
namespace {

template <typename T>
bool ParseNumber(std::string_view text, T& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

std::optional<std::string> ReadWhole(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::optional<ProcStat> ParseProcStat(std::string_view text) {
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  // Fields from 3 (state) on, space-separated.
  std::vector<std::string_view> fields;
  std::string_view rest = text.substr(paren + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  // fields[i] is field i + 3 of proc(5).
  auto field = [&](int number) { return fields[static_cast<size_t>(number - 3)]; };
  if (fields.size() < 24 - 2) return std::nullopt;
  ProcStat stat;
  if (!ParseNumber(field(14), stat.utime_ticks) || !ParseNumber(field(15), stat.stime_ticks) ||
      !ParseNumber(field(20), stat.threads) || !ParseNumber(field(22), stat.start_ticks) ||
      !ParseNumber(field(23), stat.vsize_bytes) || !ParseNumber(field(24), stat.rss_pages)) {
    return std::nullopt;
  }
  return stat;
}

std::optional<int64_t> ParseBootTime(std::string_view proc_stat) {
  std::istringstream lines{std::string(proc_stat)};
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("btime ")) continue;
    int64_t seconds = 0;
    if (ParseNumber(std::string_view(line).substr(6), seconds)) return seconds;
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<ProcessStats> ReadProcessStats() {
  const std::optional<std::string> stat_text = ReadWhole("/proc/self/stat");
  if (!stat_text) return std::nullopt;
  const std::optional<ProcStat> stat = ParseProcStat(*stat_text);
  if (!stat) return std::nullopt;
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  if (ticks <= 0 || page <= 0) return std::nullopt;
  ProcessStats out;
  out.cpu_seconds =
      static_cast<double>(stat->utime_ticks + stat->stime_ticks) / static_cast<double>(ticks);
  out.resident_memory_bytes = static_cast<double>(stat->rss_pages) * static_cast<double>(page);
  out.virtual_memory_bytes = static_cast<double>(stat->vsize_bytes);
  out.threads = static_cast<double>(stat->threads);
  if (const std::optional<std::string> system = ReadWhole("/proc/stat")) {
    if (const std::optional<int64_t> boot = ParseBootTime(*system)) {
      out.start_time_seconds = static_cast<double>(*boot) +
                               static_cast<double>(stat->start_ticks) / static_cast<double>(ticks);
    }
  }
  std::error_code error;
  size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    ++fds;
  }
  out.open_fds = static_cast<double>(fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) out.max_fds = static_cast<double>(limit.rlim_cur);
  return out;
}

}  // namespace eddy::metrics
