#include "state/window_retention.h"

#include <algorithm>
#include <mutex>

#include "state/key_encoding.h"

namespace eddy::state {

void WindowRetention::RegisterStore(const std::string& store, int64_t retention_ms, Clock clock) {
  std::unique_lock lock(mutex_);
  stores_[store].retention_ms = retention_ms;
  stores_[store].clock = clock;
}

void WindowRetention::AdvanceStreamTime(std::string_view store, int32_t partition,
                                        int64_t stream_time_ms) {
  std::unique_lock lock(mutex_);
  auto it = stores_.find(store);
  if (it == stores_.end()) return;
  auto [time, inserted] = it->second.stream_time_ms.try_emplace(partition, stream_time_ms);
  if (!inserted) time->second = std::max(time->second, stream_time_ms);
}

bool WindowRetention::Expired(std::string_view store, int32_t partition,
                              int64_t window_start_ms) const {
  std::shared_lock lock(mutex_);
  auto it = stores_.find(store);
  if (it == stores_.end()) return false;
  auto time = it->second.stream_time_ms.find(partition);
  if (time == it->second.stream_time_ms.end()) return false;
  // Written without overflow for extreme starts: start + retention <= stream time.
  return window_start_ms <= time->second - it->second.retention_ms;
}

bool WindowRetention::Expired(std::string_view store, int32_t partition, int64_t window_start_ms,
                              std::string_view value) const {
  std::shared_lock lock(mutex_);
  auto it = stores_.find(store);
  if (it == stores_.end()) return false;
  auto time = it->second.stream_time_ms.find(partition);
  if (time == it->second.stream_time_ms.end()) return false;
  if (it->second.clock == Clock::kWindowStart) {
    return window_start_ms <= time->second - it->second.retention_ms;
  }
  const std::optional<DecodedSessionValue> session = DecodeSessionValue(value);
  // end + retention < stream time, without overflow.
  return session && session->end_ms < time->second - it->second.retention_ms;
}

}  // namespace eddy::state
