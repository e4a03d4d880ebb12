#include "engine/window_aggregate.h"

#include "engine/window.h"
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
      size_ms_(step.window.size.count()),
      grace_ms_(step.window.grace.count()),
      aggregates_(step.aggregates),
      db_(db),
      late_records_(late_records) {}

std::string WindowAggregate::DefinitionFingerprint() const {
  return "tumbling(size_ms=" + std::to_string(size_ms_) + ");" + aggregates_.Fingerprint();
}

Status WindowAggregate::Prepare(const Event& event, const PartitionContext& partition) {
  const TimeWindow window = TumblingWindowFor(event.event_time_ms, size_ms_);
  pending_.window_start_ms = window.start_ms;
  pending_.late = WindowClosed(window, grace_ms_, partition.stream_time_ms);
  if (pending_.late) return Status::Ok();
  return aggregates_.ReadInputs(event.value, pending_.inputs);
}

Status WindowAggregate::Apply(const Event& event) {
  if (pending_.late) {
    late_records_.Increment();
    return Status::Ok();
  }
  std::string key =
      state::EncodeWindowKey({store_, event.partition, event.key, pending_.window_start_ms});
  PartitionCache& cache = cache_[event.partition];
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
  it->second.dirty = true;
  return Status::Ok();
}

Status WindowAggregate::FlushTo(state::WriteBatch& batch) {
  for (auto& [partition, cache] : cache_) {
    for (auto& [key, window] : cache) {
      if (!window.dirty) continue;
      batch.Put(key, aggregates_.Encode(window.values));
      window.dirty = false;
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
  auto it = cache_.find(partition);
  if (it == cache_.end()) return;
  cached_windows_ -= it->second.size();
  cache_.erase(it);
}

}  // namespace eddy::engine
