// WindowRetention: which windows RocksDB may forget. Window state is purged once
// window_start + retention <= the stream time of the partition that holds it (the rule of
// Kafka Streams' window stores); retention >= size + grace, so only closed windows go.
// Session stores measure from the session's end instead (a session's start can lie far
// behind its end): a session is purged once end + retention < stream time, the end read
// from the stored value (state::DecodeSessionValue); retention >= gap + grace and a session
// closes when end + gap + grace < stream time, so only closed sessions go. Stores that are
// never registered (unwindowed aggregates, tables) are never purged.
//
// Purging happens in RocksDB's compaction (StateDb installs a compaction filter that asks
// Expired()), so it costs no extra writes; until a compaction reaches a key, readers hide
// expired windows themselves by asking the same question.
//
// Thread-safety: all methods are thread-safe. The processing thread calls
// AdvanceStreamTime after each commit; RocksDB compaction threads and HTTP threads call
// Expired concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

namespace eddy::state {

class WindowRetention {
 public:
  // What a store's retention is measured from.
  enum class Clock {
    kWindowStart,  // the key's window start: start + retention <= stream time
    kSessionEnd,   // the session end in the value: end + retention < stream time
  };
  // Declares a window store and its retention. Called at start-up, before processing.
  void RegisterStore(const std::string& store, int64_t retention_ms,
                     Clock clock = Clock::kWindowStart);
  // The committed stream time of one partition of a store; never moves backwards.
  void AdvanceStreamTime(std::string_view store, int32_t partition, int64_t stream_time_ms);
  // True iff the window's state may be dropped. Unknown stores and partitions keep their
  // state (false): nothing is purged on a guess.
  bool Expired(std::string_view store, int32_t partition, int64_t window_start_ms) const;
  // The same question for a stored entry (key fields and value), whatever the store's clock.
  // A session value that cannot be decoded is kept.
  bool Expired(std::string_view store, int32_t partition, int64_t window_start_ms,
               std::string_view value) const;

 private:
  struct StoreRetention {
    int64_t retention_ms = 0;
    Clock clock = Clock::kWindowStart;
    std::map<int32_t, int64_t> stream_time_ms;  // by partition
  };
  mutable std::shared_mutex mutex_;
  std::map<std::string, StoreRetention, std::less<>> stores_;  // guarded by mutex_
};

}  // namespace eddy::state
