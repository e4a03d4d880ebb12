#include "engine/window_aggregate.h"

#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

// Clean cached windows are dropped once the cache holds more than this many windows; the
// next touch re-reads them from RocksDB.
constexpr size_t kMaxCachedWindows = 200'000;

}  // namespace

WindowAggregate::WindowAggregate(std::string store, const config::StepConfig& step,
                                 state::StateDb& db, prometheus::Counter& late_records)
    : name_(step.name),
      store_(std::move(store)),
      window_(step.window),
      emit_(step.emit),
      aggregates_(step.aggregates),
      db_(db),
      late_records_(late_records) {}

std::string WindowAggregate::DefinitionFingerprint() const {
  // Only what changes the meaning of stored bytes: grace, retention and emit mode may change
  // freely between runs.
  std::string shape = window_.kind == config::WindowConfig::Kind::kTumbling
                          ? "tumbling(size_ms=" + std::to_string(window_.size.count()) + ")"
                          : "hopping(size_ms=" + std::to_string(window_.size.count()) +
                                ",advance_ms=" + std::to_string(window_.advance.count()) + ")";
  return shape + ";" + aggregates_.Fingerprint();
}

Status WindowAggregate::Prepare(const Event& event, const PartitionContext& partition) {
  HoppingWindowsFor(event.event_time_ms, window_.size.count(), window_.advance.count(),
                    pending_.windows);
  pending_.closed = 0;
  while (pending_.closed < pending_.windows.size() &&
         WindowClosed(pending_.windows[pending_.closed], window_.grace.count(),
                      partition.stream_time_ms)) {
    ++pending_.closed;
  }
  if (pending_.closed == pending_.windows.size()) return Status::Ok();  // late everywhere
  return aggregates_.ReadInputs(event.value, event.event_time_ms, pending_.inputs);
}

Status WindowAggregate::Apply(const Event& event) {
  if (pending_.closed > 0) late_records_.Increment(static_cast<double>(pending_.closed));
  PartitionCache& cache = cache_[event.partition];
  for (size_t i = pending_.closed; i < pending_.windows.size(); ++i) {
    std::string key =
        state::EncodeWindowKey({store_, event.partition, event.key, pending_.windows[i].start_ms});
    auto it = cache.find(key);
    if (it == cache.end()) {
      CachedWindow loaded{aggregates_.Empty(), false};
      Result<std::optional<std::string>> stored = db_.Get(key);
      if (!stored.ok()) return stored.status();
      if (stored->has_value()) {
        std::optional<AggregateValues> decoded = aggregates_.Decode(**stored);
        if (!decoded) return Status::Internal("corrupt window state in store " + store_);
        loaded.values = std::move(*decoded);
      }
      it = cache.emplace(std::move(key), std::move(loaded)).first;
      ++cached_windows_;
    }
    aggregates_.Apply(pending_.inputs, it->second.values);
    if (!it->second.dirty) {
      it->second.dirty = true;
      // Elements of an unordered_map keep their address until erased, and nothing is
      // erased while dirty (see FlushTo and DropPartition).
      dirty_.push_back({event.partition, &*it});
    }
    if (TracksOpenWindows()) {
      open_windows_[event.partition].emplace(pending_.windows[i].end_ms + window_.grace.count(),
                                             it->first);
    }
  }
  return Status::Ok();
}

Result<AggregateValues> WindowAggregate::ValuesOf(int32_t partition,
                                                  const std::string& encoded_key) {
  if (auto cache = cache_.find(partition); cache != cache_.end()) {
    if (auto it = cache->second.find(encoded_key); it != cache->second.end()) {
      return it->second.values;
    }
  }
  Result<std::optional<std::string>> stored = db_.Get(encoded_key);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::Internal("window state missing in store " + store_);
  std::optional<AggregateValues> decoded = aggregates_.Decode(**stored);
  if (!decoded) return Status::Internal("corrupt window state in store " + store_);
  return std::move(*decoded);
}

Status WindowAggregate::RestorePartition(int32_t partition, int64_t stream_time_ms) {
  if (!TracksOpenWindows()) return Status::Ok();
  auto& open = open_windows_[partition];
  open.clear();
  Status decode_status;
  EDDY_RETURN_IF_ERROR(db_.ScanPrefix(
      state::EncodeStorePartitionPrefix(store_, partition),
      [&](std::string_view encoded_key, std::string_view) {
        std::optional<state::DecodedWindowKey> key = state::DecodeWindowKey(encoded_key);
        if (!key) {
          decode_status = Status::Internal("corrupt window key in store " + store_);
          return false;
        }
        const int64_t closes_at =
            key->window_start_ms + window_.size.count() + window_.grace.count();
        // Windows closed at the committed stream time were emitted before that commit.
        if (stream_time_ms == INT64_MIN || closes_at > stream_time_ms) {
          open.emplace(closes_at, std::string(encoded_key));
        }
        return true;
      }));
  return decode_status;
}

Status WindowAggregate::FlushTo(state::WriteBatch& batch, const FlushContext& context) {
  const bool emit_updates = emitter_ && emit_ == config::EmitMode::kOnUpdate;
  // Only the windows changed since the last flush, in the order they were first changed:
  // a commit costs what changed, not the size of the cache.
  for (const auto& [partition, entry] : dirty_) {
    const std::string& key = entry->first;
    CachedWindow& window = entry->second;
    batch.Put(key, aggregates_.Encode(window.values));
    window.dirty = false;
    if (emit_updates) {
      std::optional<state::DecodedWindowKey> decoded = state::DecodeWindowKey(key);
      if (!decoded) return Status::Internal("corrupt window key in store " + store_);
      const TimeWindow span{decoded->window_start_ms,
                            decoded->window_start_ms + window_.size.count()};
      EDDY_RETURN_IF_ERROR(
          emitter_({partition, decoded->user_key, span,
                    WindowClosed(span, window_.grace.count(), context.StreamTime(partition)),
                    window.values}));
    }
  }
  dirty_.clear();
  if (TracksOpenWindows()) {
    for (auto& [partition, open] : open_windows_) {
      const int64_t stream_time_ms = context.StreamTime(partition);
      while (!open.empty() && open.begin()->first <= stream_time_ms) {
        const std::string& encoded_key = open.begin()->second;
        std::optional<state::DecodedWindowKey> decoded = state::DecodeWindowKey(encoded_key);
        if (!decoded) return Status::Internal("corrupt window key in store " + store_);
        Result<AggregateValues> values = ValuesOf(partition, encoded_key);
        if (!values.ok()) return values.status();
        const TimeWindow span{decoded->window_start_ms,
                              decoded->window_start_ms + window_.size.count()};
        EDDY_RETURN_IF_ERROR(emitter_({partition, decoded->user_key, span, true, *values}));
        open.erase(open.begin());
      }
    }
  }
  if (cached_windows_ > kMaxCachedWindows) {
    // Everything is clean now: safe to forget it all.
    cache_.clear();
    cached_windows_ = 0;
  }
  return Status::Ok();
}

void WindowAggregate::DropPartition(int32_t partition) {
  open_windows_.erase(partition);
  std::erase_if(dirty_, [&](const auto& dirty) { return dirty.first == partition; });
  auto it = cache_.find(partition);
  if (it == cache_.end()) return;
  cached_windows_ -= it->second.size();
  cache_.erase(it);
}

}  // namespace eddy::engine
