// Window arithmetic. Windows are half-open intervals [start, end) in epoch milliseconds,
// aligned to the epoch (as in Kafka Streams and Flink): a tumbling window of size S holds
// t iff start <= t < start + S, with start = floor(t / S) * S (also for t < 0).
#pragma once

#include <cstdint>

namespace eddy::engine {

struct TimeWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // exclusive
  friend bool operator==(const TimeWindow&, const TimeWindow&) = default;
};

// Precondition: size_ms > 0.
inline int64_t FloorDiv(int64_t value, int64_t divisor) {
  int64_t quotient = value / divisor;
  if ((value % divisor != 0) && ((value < 0) != (divisor < 0))) --quotient;
  return quotient;
}

inline TimeWindow TumblingWindowFor(int64_t event_time_ms, int64_t size_ms) {
  const int64_t start = FloorDiv(event_time_ms, size_ms) * size_ms;
  return {start, start + size_ms};
}

// A window closes once stream time (the max event time seen in its partition) reaches its
// end plus grace; records for a closed window are late.
inline bool WindowClosed(const TimeWindow& window, int64_t grace_ms, int64_t stream_time_ms) {
  return window.end_ms + grace_ms <= stream_time_ms;
}

}  // namespace eddy::engine
