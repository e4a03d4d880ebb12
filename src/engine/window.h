// Window arithmetic. Windows are half-open intervals [start, end) in epoch milliseconds,
// aligned to the epoch (as in Kafka Streams and Flink): a tumbling window of size S holds
// t iff start <= t < start + S, with start = floor(t / S) * S (also for t < 0). A hopping
// window of size S and advance A starts at every multiple of A; t belongs to the
// ceil(S / A) (or floor) windows whose [start, start + S) contains it. Tumbling = hopping
// with A = S.
#pragma once

#include <cstdint>
#include <vector>

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

// Appends to `out` (after clearing it) every hopping window containing t, oldest first.
// Preconditions: 0 < advance_ms <= size_ms.
inline void HoppingWindowsFor(int64_t event_time_ms, int64_t size_ms, int64_t advance_ms,
                              std::vector<TimeWindow>& out) {
  out.clear();
  const int64_t last_start = FloorDiv(event_time_ms, advance_ms) * advance_ms;
  // The oldest start s with s + size > t, on the advance grid.
  int64_t start = last_start;
  while (start - advance_ms > event_time_ms - size_ms) start -= advance_ms;
  for (; start <= last_start; start += advance_ms) out.push_back({start, start + size_ms});
}

// A window closes once stream time (the max event time seen in its partition) reaches its
// end plus grace; records for a closed window are late.
inline bool WindowClosed(const TimeWindow& window, int64_t grace_ms, int64_t stream_time_ms) {
  return window.end_ms + grace_ms <= stream_time_ms;
}

// Session windows (Kafka Streams' SessionWindows): per key and partition, a session is
// [start, end], the event times of its first and last record, both inclusive. A session
// closes once stream time passes its end + gap + grace: after that no record can join it
// (Kafka Streams 3.x: windowCloseTime = stream time - grace - gap, closed iff end < it).
inline bool SessionClosed(int64_t end_ms, int64_t gap_ms, int64_t grace_ms,
                          int64_t stream_time_ms) {
  return end_ms + gap_ms + grace_ms < stream_time_ms;
}

// A session's state is purged once its end + retention < stream time (retention >= gap +
// grace, so only closed sessions expire).
inline bool SessionExpired(int64_t end_ms, int64_t retention_ms, int64_t stream_time_ms) {
  return end_ms + retention_ms < stream_time_ms;
}

// A window's state is purged once its start + retention <= stream time.
inline bool WindowExpired(int64_t window_start_ms, int64_t retention_ms, int64_t stream_time_ms) {
  return window_start_ms + retention_ms <= stream_time_ms;
}

}  // namespace eddy::engine
