#include "engine/stored_time_bound.h"

#include <algorithm>

#include "state/key_encoding.h"

namespace eddy::engine {

Status StoredTimeBound::Restore(const state::StateDb& db, const std::vector<std::string>& stores,
                                int32_t partition, int64_t stream_time_ms) {
  int64_t bound = stream_time_ms;
  if (stream_time_ms == INT64_MIN) {
    for (const std::string& store : stores) {
      EDDY_RETURN_IF_ERROR(db.ScanPrefix(
          state::EncodeStorePartitionPrefix(store, partition),
          [&](std::string_view key, std::string_view) {
            // A window key ends with its 8-byte time (state/key_encoding.h).
            bound = std::max(bound, state::ReadInt64Ordered(key.substr(key.size() - 8)));
            return true;
          }));
    }
  }
  bounds_[partition] = bound;
  return Status::Ok();
}

}  // namespace eddy::engine
