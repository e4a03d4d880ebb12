// engine/window.h: epoch-aligned tumbling windows (negative times included) and the
// closing rule end + grace <= stream time.
#include "engine/window.h"

#include <catch2/catch.hpp>
#include <climits>

namespace eddy::engine {
namespace {

constexpr int64_t kMinute = 60'000;

TEST_CASE("FloorDiv rounds towards negative infinity", "[engine][window]") {
  CHECK(FloorDiv(7, 2) == 3);
  CHECK(FloorDiv(6, 2) == 3);
  CHECK(FloorDiv(0, 5) == 0);
  CHECK(FloorDiv(-1, 5) == -1);
  CHECK(FloorDiv(-5, 5) == -1);
  CHECK(FloorDiv(-6, 5) == -2);
  CHECK(FloorDiv(7, -2) == -4);
  CHECK(FloorDiv(-7, -2) == 3);
}

TEST_CASE("TumblingWindowFor aligns to the epoch, boundaries half-open", "[engine][window]") {
  CHECK(TumblingWindowFor(0, kMinute) == TimeWindow{0, kMinute});
  CHECK(TumblingWindowFor(1, kMinute) == TimeWindow{0, kMinute});
  CHECK(TumblingWindowFor(kMinute - 1, kMinute) == TimeWindow{0, kMinute});
  // The end is exclusive: t == end belongs to the next window.
  CHECK(TumblingWindowFor(kMinute, kMinute) == TimeWindow{kMinute, 2 * kMinute});
  // 2026-11-25T10:00:03Z falls in [10:00, 10:01).
  const int64_t ten_oclock = 1'795'600'800'000;
  CHECK(TumblingWindowFor(ten_oclock + 3'000, kMinute) ==
        TimeWindow{ten_oclock, ten_oclock + kMinute});
  CHECK(TumblingWindowFor(ten_oclock + kMinute - 1, kMinute).start_ms == ten_oclock);
  // Size 1: every millisecond is its own window.
  CHECK(TumblingWindowFor(-3, 1) == TimeWindow{-3, -2});
}

TEST_CASE("TumblingWindowFor floors negative times (before 1970)", "[engine][window]") {
  CHECK(TumblingWindowFor(-1, kMinute) == TimeWindow{-kMinute, 0});
  CHECK(TumblingWindowFor(-kMinute, kMinute) == TimeWindow{-kMinute, 0});
  CHECK(TumblingWindowFor(-kMinute - 1, kMinute) == TimeWindow{-2 * kMinute, -kMinute});
  CHECK(TumblingWindowFor(-kMinute + 1, kMinute) == TimeWindow{-kMinute, 0});
  // Every t lies in [start, end) and start is a multiple of the size.
  for (int64_t t = -3 * kMinute - 7; t <= 3 * kMinute + 7; t += 997) {
    const TimeWindow window = TumblingWindowFor(t, kMinute);
    CHECK(window.start_ms <= t);
    CHECK(t < window.end_ms);
    CHECK(window.end_ms - window.start_ms == kMinute);
    CHECK(window.start_ms % kMinute == 0);
  }
}

TEST_CASE("WindowClosed: closed once stream time reaches end + grace", "[engine][window]") {
  const TimeWindow window{0, kMinute};
  // No grace: the window is open until stream time reaches its (exclusive) end.
  CHECK_FALSE(WindowClosed(window, 0, kMinute - 1));
  CHECK(WindowClosed(window, 0, kMinute));
  CHECK(WindowClosed(window, 0, kMinute + 1));
  // With grace, end + grace is the first stream time at which it is closed.
  CHECK_FALSE(WindowClosed(window, 10'000, kMinute));
  CHECK_FALSE(WindowClosed(window, 10'000, kMinute + 9'999));
  CHECK(WindowClosed(window, 10'000, kMinute + 10'000));
  // Stream time before any record (INT64_MIN) closes nothing, however old the window.
  CHECK_FALSE(WindowClosed(TumblingWindowFor(-1'000'000 * kMinute, kMinute), 0, INT64_MIN));
  // A record never closes its own window (stream time >= its time, which is < end).
  for (int64_t t : {int64_t{-1}, int64_t{0}, kMinute - 1}) {
    CHECK_FALSE(WindowClosed(TumblingWindowFor(t, kMinute), 0, t));
  }
  // Negative windows close the same way.
  CHECK(WindowClosed(TumblingWindowFor(-1, kMinute), 5, 5));
  CHECK_FALSE(WindowClosed(TumblingWindowFor(-1, kMinute), 5, 4));
}

}  // namespace
}  // namespace eddy::engine

namespace eddy::engine {

TEST_CASE("HoppingWindowsFor: every window containing t, oldest first", "[engine][window]") {
  std::vector<TimeWindow> windows;
  // size 5, advance 2: starts at multiples of 2; t=7 is in [4,9) and [6,11); [2,7) ends at 7.
  HoppingWindowsFor(7, 5, 2, windows);
  CHECK(windows == std::vector<TimeWindow>{{4, 9}, {6, 11}});
  HoppingWindowsFor(6, 5, 2, windows);
  CHECK(windows == std::vector<TimeWindow>{{2, 7}, {4, 9}, {6, 11}});
  // Negative times, same grid.
  HoppingWindowsFor(-1, 5, 2, windows);
  CHECK(windows == std::vector<TimeWindow>{{-4, 1}, {-2, 3}});
  // advance == size is tumbling.
  for (int64_t t : {-61, -60, -1, 0, 59, 60, 119}) {
    HoppingWindowsFor(t, 60, 60, windows);
    REQUIRE(windows.size() == 1);
    CHECK(windows[0] == TumblingWindowFor(t, 60));
  }
  // Brute force against the definition for a grid of sizes and advances.
  for (int64_t size = 1; size <= 12; ++size) {
    for (int64_t advance = 1; advance <= size; ++advance) {
      for (int64_t t = -30; t <= 30; ++t) {
        HoppingWindowsFor(t, size, advance, windows);
        std::vector<TimeWindow> expected;
        for (int64_t start = -60; start <= 60; ++start) {
          if (FloorDiv(start, advance) * advance == start && start <= t && t < start + size) {
            expected.push_back({start, start + size});
          }
        }
        INFO("size " << size << " advance " << advance << " t " << t);
        CHECK(windows == expected);
      }
    }
  }
}

TEST_CASE("WindowExpired: start + retention <= stream time", "[engine][window]") {
  CHECK(WindowExpired(0, 100, 100));
  CHECK_FALSE(WindowExpired(1, 100, 100));
  CHECK(WindowExpired(-200, 100, -100));
}

}  // namespace eddy::engine
