#include "metrics/process_stats.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

namespace eddy::metrics {
namespace {

// A real /proc/<pid>/stat line (Linux 6.1) whose command name holds a space and a ')'.
const char* const kStat =
    "4242 (eddy (x) y) S 1 4242 4242 0 -1 4194560 3050 0 0 0 123 45 0 0 20 0 7 0 "
    "98765 712704000 2533 18446744073709551615 1 1 0 0 0 0 0 4096 1026 0 0 0 17 1 0 0 0 0 0\n";

TEST_CASE("ParseProcStat reads the fields after the last parenthesis", "[process]") {
  const std::optional<ProcStat> stat = ParseProcStat(kStat);
  REQUIRE(stat);
  CHECK(stat->utime_ticks == 123);
  CHECK(stat->stime_ticks == 45);
  CHECK(stat->threads == 7);
  CHECK(stat->start_ticks == 98765);
  CHECK(stat->vsize_bytes == 712704000);
  CHECK(stat->rss_pages == 2533);
}

TEST_CASE("ParseProcStat refuses truncated or malformed text", "[process]") {
  CHECK_FALSE(ParseProcStat(""));
  CHECK_FALSE(ParseProcStat("4242 eddy S 1"));                           // no parentheses
  CHECK_FALSE(ParseProcStat("4242 (eddy) S 1 4242 4242 0 -1 4194560"));  // too short
  std::string bad = kStat;
  bad.replace(bad.find(" 123 "), 5, " x23 ");
  CHECK_FALSE(ParseProcStat(bad));
}

TEST_CASE("ParseBootTime finds btime", "[process]") {
  CHECK(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n") == 1700000000);
  CHECK_FALSE(ParseBootTime("cpu  1 2 3\n"));
  CHECK_FALSE(ParseBootTime("btime soon\n"));
}

TEST_CASE("ReadProcessStats describes this process", "[process]") {
  // Burn a little CPU and start a thread so that both show.
  volatile double sink = 0;
  for (int i = 0; i < 20'000'000; ++i) sink = sink + i * 0.5;
  std::thread sleeper([] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); });
  const std::optional<ProcessStats> stats = ReadProcessStats();
  sleeper.join();
  REQUIRE(stats);
  CHECK(stats->threads >= 2);
  CHECK(stats->cpu_seconds > 0);
  CHECK(stats->resident_memory_bytes > 1024 * 1024);
  CHECK(stats->virtual_memory_bytes >= stats->resident_memory_bytes);
  CHECK(stats->open_fds >= 3);  // stdin, stdout, stderr
  CHECK(stats->max_fds >= stats->open_fds);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Started before now, and not long ago (clock ticks are 10 ms; allow for a slow machine).
  CHECK(stats->start_time_seconds <= now + 1);
  CHECK(stats->start_time_seconds > now - 3600);
}

}  // namespace
}  // namespace eddy::metrics
