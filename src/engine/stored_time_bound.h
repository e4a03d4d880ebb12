// StoredTimeBound: per partition, a time that no state a step has stored is later than —
// the start of a window, the event time of a buffered join row. State keyed by such a time
// that is later than the bound cannot be in RocksDB, so the step skips the read (most new
// state of an in-order stream).
//
// Invariant: for every partition with a bound, bound >= the time of every stored key of the
// step in that partition. It holds because
// - Restore sets it from the committed stream time (a key's time is at most the event time
//   of the record that wrote it, which is at most the stream time committed with it), or,
//   without one, from the stored keys themselves;
// - the step calls Raise with the time of everything it flushes, before the commit;
// - OnStreamTimeRaised widens it when another topic of the partition brings a later
//   committed stream time (an incremental rebalance).
// A bound that is too high only costs reads; a partition without one (never restored)
// reads always.
//
// Threading: the owning step's processing thread only.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "state/state_db.h"

namespace eddy::engine {

class StoredTimeBound {
 public:
  // At assignment. Without a committed stream time (INT64_MIN: usually a first start, with
  // nothing stored) the window keys of `stores` in the partition are scanned for the
  // latest time: state written under another source topic of the same step may be there.
  Status Restore(const state::StateDb& db, const std::vector<std::string>& stores,
                 int32_t partition, int64_t stream_time_ms);
  // Whether a key of `partition` with time `time_ms` may be stored (true when unknown).
  bool MayBeStored(int32_t partition, int64_t time_ms) const {
    const auto bound = bounds_.find(partition);
    return bound == bounds_.end() || time_ms <= bound->second;
  }
  // Raises the partition's bound to `time_ms` (nothing when it has none).
  void Raise(int32_t partition, int64_t time_ms) {
    if (auto bound = bounds_.find(partition); bound != bounds_.end() && bound->second < time_ms) {
      bound->second = time_ms;
    }
  }
  void Drop(int32_t partition) { bounds_.erase(partition); }

 private:
  std::unordered_map<int32_t, int64_t> bounds_;
};

}  // namespace eddy::engine
