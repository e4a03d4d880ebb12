#include "engine/window_aggregate.h"

#include <algorithm>

#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

// Clean cached windows (or sessions) are dropped once the cache holds more than this many;
// the next touch re-reads them from RocksDB.
constexpr size_t kMaxCachedWindows = 200'000;

using Kind = config::WindowConfig::Kind;

// An unwindowed step keeps one row per key and partition, at this window start.
constexpr int64_t kUnwindowedStart = 0;

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
  // freely between runs. A session's gap decides which sessions may coexist, so it counts.
  std::string shape;
  switch (window_.kind) {
    case Kind::kTumbling:
      shape = "tumbling(size_ms=" + std::to_string(window_.size.count()) + ")";
      break;
    case Kind::kHopping:
      shape = "hopping(size_ms=" + std::to_string(window_.size.count()) +
              ",advance_ms=" + std::to_string(window_.advance.count()) + ")";
      break;
    case Kind::kSession:
      shape = "session(gap_ms=" + std::to_string(window_.gap.count()) + ")";
      break;
    case Kind::kNone:
      shape = "unwindowed";
      break;
  }
  return shape + ";" + aggregates_.Fingerprint();
}

int64_t WindowAggregate::ClosesAt(const TimeWindow& window) const {
  // Session: closed once end + gap + grace < stream time, i.e. at end + gap + grace + 1.
  if (IsSession()) return window.end_ms + window_.gap.count() + window_.grace.count() + 1;
  return window.end_ms + window_.grace.count();
}

// ------------------------------------------------------------------------- Processing

Status WindowAggregate::Prepare(const Event& event, const PartitionContext& partition) {
  if (IsSession()) return PrepareSession(event, partition);
  if (window_.kind == Kind::kNone) {
    pending_.windows.assign(1, TimeWindow{kUnwindowedStart, kUnwindowedStart});
    pending_.closed = 0;
  } else {
    HoppingWindowsFor(event.event_time_ms, window_.size.count(), window_.advance.count(),
                      pending_.windows);
    pending_.closed = 0;
    while (pending_.closed < pending_.windows.size() &&
           WindowClosed(pending_.windows[pending_.closed], window_.grace.count(),
                        partition.stream_time_ms)) {
      ++pending_.closed;
    }
  }
  if (pending_.closed == pending_.windows.size()) return Status::Ok();  // late everywhere
  return aggregates_.ReadInputs(event.value, event.event_time_ms, pending_.inputs);
}

Status WindowAggregate::Apply(const Event& event) {
  if (IsSession()) return ApplySession(event);
  if (pending_.closed > 0) {
    late_records_.Increment(static_cast<double>(pending_.closed));
    if (late_emitter_) EDDY_RETURN_IF_ERROR(late_emitter_(event));
  }
  PartitionCache& cache = cache_[event.partition];
  for (size_t i = pending_.closed; i < pending_.windows.size(); ++i) {
    const TimeWindow& window = pending_.windows[i];
    WindowsOfStart& windows = cache[window.start_ms];
    auto it = windows.find(event.key);
    if (it == windows.end()) {
      CachedWindow loaded{aggregates_.Empty(), false};
      if (stored_starts_.MayBeStored(event.partition, window.start_ms)) {
        key_buffer_.clear();
        state::AppendWindowKey(key_buffer_, {store_, event.partition, event.key, window.start_ms});
        Result<std::optional<std::string>> stored = db_.Get(key_buffer_);
        if (!stored.ok()) return stored.status();
        if (stored->has_value()) {
          std::optional<AggregateValues> decoded = aggregates_.Decode(**stored);
          if (!decoded) return Status::Internal("corrupt window state in store " + store_);
          loaded.values = std::move(*decoded);
        }
      }
      it = windows.emplace(std::string(event.key), std::move(loaded)).first;
      ++cached_windows_;
    }
    aggregates_.Apply(pending_.inputs, it->second.values);
    if (!it->second.dirty) {
      it->second.dirty = true;
      dirty_.push_back({event.partition, window.start_ms, &*it});
    }
    if (TracksOpenWindows()) {
      open_windows_[event.partition].emplace(
          ClosesAt(window),
          state::EncodeWindowKey({store_, event.partition, event.key, window.start_ms}));
    }
  }
  return Status::Ok();
}

Result<WindowAggregate::KeySessions*> WindowAggregate::LoadSessions(int32_t partition,
                                                                    std::string_view key) {
  PartitionSessions& cache = sessions_[partition];
  auto it = cache.find(std::string(key));
  if (it != cache.end()) return &it->second;
  KeySessions loaded;
  Status decode_status;
  EDDY_RETURN_IF_ERROR(db_.ScanUserKeyWindows(
      state::EncodeWindowKeyPrefix(store_, partition, key),
      [&](std::string_view encoded_key, std::string_view value) {
        std::optional<state::DecodedWindowKey> decoded_key = state::DecodeWindowKey(encoded_key);
        std::optional<state::DecodedSessionValue> session = state::DecodeSessionValue(value);
        std::optional<AggregateValues> values =
            session ? aggregates_.Decode(session->aggregate_state) : std::nullopt;
        if (!decoded_key || !values) {
          decode_status = Status::Internal("corrupt session state in store " + store_);
          return false;
        }
        loaded.sessions.emplace(decoded_key->window_start_ms,
                                CachedSession{session->end_ms, std::move(*values), false, true});
        return true;
      }));
  EDDY_RETURN_IF_ERROR(decode_status);
  cached_windows_ += loaded.sessions.size() + 1;
  return &cache.emplace(std::string(key), std::move(loaded)).first->second;
}

Status WindowAggregate::PrepareSession(const Event& event, const PartitionContext& partition) {
  // Loading the key's sessions fills the cache but changes no state.
  Result<KeySessions*> key_sessions = LoadSessions(event.partition, event.key);
  if (!key_sessions.ok()) return key_sessions.status();
  pending_.key_sessions = *key_sessions;
  pending_.joined.clear();
  pending_.late = false;
  const int64_t t = event.event_time_ms;
  const int64_t gap = window_.gap.count();
  const int64_t stream_time = partition.stream_time_ms;
  // Sessions of one key and partition are disjoint and more than gap apart, so ends grow
  // with starts: walk back from the last session starting at or before t + gap.
  const auto& sessions = (*key_sessions)->sessions;
  for (auto it = sessions.upper_bound(t + gap); it != sessions.begin();) {
    --it;
    const CachedSession& session = it->second;
    if (session.end_ms < t - gap) break;
    if (SessionExpired(session.end_ms, window_.retention.count(), stream_time)) continue;
    if (SessionClosed(session.end_ms, gap, window_.grace.count(), stream_time)) {
      pending_.late = true;
    }
    pending_.joined.push_back(it->first);
  }
  std::reverse(pending_.joined.begin(), pending_.joined.end());
  if (pending_.joined.empty() && SessionClosed(t, gap, window_.grace.count(), stream_time)) {
    pending_.late = true;
  }
  if (pending_.late) return Status::Ok();
  return aggregates_.ReadInputs(event.value, event.event_time_ms, pending_.inputs);
}

Status WindowAggregate::ApplySession(const Event& event) {
  if (pending_.late) {
    late_records_.Increment();
    if (late_emitter_) return late_emitter_(event);
    return Status::Ok();
  }
  KeySessions& key_sessions = *pending_.key_sessions;
  const int64_t t = event.event_time_ms;
  TimeWindow merged{t, t};
  AggregateValues values = aggregates_.Empty();
  auto* open = TracksOpenWindows() ? &open_windows_[event.partition] : nullptr;
  for (int64_t start : pending_.joined) {
    auto node = key_sessions.sessions.extract(start);
    CachedSession& joined = node.mapped();
    merged.start_ms = std::min(merged.start_ms, start);
    merged.end_ms = std::max(merged.end_ms, joined.end_ms);
    // Joined sessions are disjoint in time, so no first/last tie arises here; `latest` is
    // set by the record applied below.
    aggregates_.Merge(joined.values, values);
    if (joined.stored) key_sessions.deleted[start] = joined.end_ms;
    if (open != nullptr) {
      open->erase({ClosesAt({start, joined.end_ms}),
                   state::EncodeWindowKey({store_, event.partition, event.key, start})});
    }
    --cached_windows_;
  }
  aggregates_.Apply(pending_.inputs, values);
  // A row merged away at the merged session's start is rewritten, not deleted.
  auto deleted = key_sessions.deleted.find(merged.start_ms);
  const bool stored = deleted != key_sessions.deleted.end();
  if (stored) key_sessions.deleted.erase(deleted);
  auto [slot, inserted] = key_sessions.sessions.insert_or_assign(
      merged.start_ms, CachedSession{merged.end_ms, std::move(values), true, stored});
  if (inserted) ++cached_windows_;
  if (!key_sessions.dirty) {
    key_sessions.dirty = true;
    // As for windows: the element keeps its address while dirty (nothing erases it).
    auto entry = sessions_[event.partition].find(std::string(event.key));
    dirty_sessions_.push_back({event.partition, &*entry});
  }
  if (open != nullptr) {
    open->emplace(ClosesAt(merged),
                  state::EncodeWindowKey({store_, event.partition, event.key, slot->first}));
  }
  return Status::Ok();
}

// ------------------------------------------------------------------------- Flushing

Status WindowAggregate::Emit(int32_t partition, std::string_view key, const TimeWindow& window,
                             int64_t stream_time_ms, bool deleted, const AggregateValues& values) {
  bool closed = false;
  int64_t timestamp_ms = 0;
  switch (window_.kind) {
    case Kind::kTumbling:
    case Kind::kHopping:
      closed = WindowClosed(window, window_.grace.count(), stream_time_ms);
      timestamp_ms = window.end_ms - 1;
      break;
    case Kind::kSession:
      closed = !deleted && SessionClosed(window.end_ms, window_.gap.count(), window_.grace.count(),
                                         stream_time_ms);
      timestamp_ms = window.end_ms;
      break;
    case Kind::kNone:
      timestamp_ms = stream_time_ms;
      break;
  }
  return emitter_({partition, key, window_.kind,
                   window_.kind == Kind::kNone ? TimeWindow{} : window, closed, deleted,
                   timestamp_ms, values});
}

Result<WindowAggregate::WindowState> WindowAggregate::StateOf(int32_t partition,
                                                              const std::string& encoded_key) {
  std::optional<state::DecodedWindowKey> decoded = state::DecodeWindowKey(encoded_key);
  if (!decoded) return Status::Internal("corrupt window key in store " + store_);
  const int64_t start = decoded->window_start_ms;
  if (IsSession()) {
    if (auto cache = sessions_.find(partition); cache != sessions_.end()) {
      if (auto key = cache->second.find(decoded->user_key); key != cache->second.end()) {
        if (auto it = key->second.sessions.find(start); it != key->second.sessions.end()) {
          return WindowState{{start, it->second.end_ms}, it->second.values};
        }
      }
    }
  } else if (auto cache = cache_.find(partition); cache != cache_.end()) {
    if (auto windows = cache->second.find(start); windows != cache->second.end()) {
      if (auto it = windows->second.find(decoded->user_key); it != windows->second.end()) {
        return WindowState{{start, start + window_.size.count()}, it->second.values};
      }
    }
  }
  Result<std::optional<std::string>> stored = db_.Get(encoded_key);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::Internal("window state missing in store " + store_);
  if (IsSession()) {
    std::optional<state::DecodedSessionValue> session = state::DecodeSessionValue(**stored);
    std::optional<AggregateValues> values =
        session ? aggregates_.Decode(session->aggregate_state) : std::nullopt;
    if (!values) return Status::Internal("corrupt session state in store " + store_);
    return WindowState{{start, session->end_ms}, std::move(*values)};
  }
  std::optional<AggregateValues> values = aggregates_.Decode(**stored);
  if (!values) return Status::Internal("corrupt window state in store " + store_);
  return WindowState{{start, start + window_.size.count()}, std::move(*values)};
}

Status WindowAggregate::RestorePartition(int32_t partition, int64_t stream_time_ms) {
  if (window_.kind == Kind::kTumbling || window_.kind == Kind::kHopping) {
    EDDY_RETURN_IF_ERROR(stored_starts_.Restore(db_, {store_}, partition, stream_time_ms));
  }
  if (!TracksOpenWindows()) return Status::Ok();
  auto& open = open_windows_[partition];
  open.clear();
  Status decode_status;
  EDDY_RETURN_IF_ERROR(db_.ScanPrefix(
      state::EncodeStorePartitionPrefix(store_, partition),
      [&](std::string_view encoded_key, std::string_view value) {
        std::optional<state::DecodedWindowKey> key = state::DecodeWindowKey(encoded_key);
        if (!key) {
          decode_status = Status::Internal("corrupt window key in store " + store_);
          return false;
        }
        TimeWindow window{key->window_start_ms, key->window_start_ms + window_.size.count()};
        if (IsSession()) {
          std::optional<state::DecodedSessionValue> session = state::DecodeSessionValue(value);
          if (!session) {
            decode_status = Status::Internal("corrupt session state in store " + store_);
            return false;
          }
          window.end_ms = session->end_ms;
        }
        const int64_t closes_at = ClosesAt(window);
        // Windows closed at the committed stream time were emitted before that commit.
        if (stream_time_ms == INT64_MIN || closes_at > stream_time_ms) {
          open.emplace(closes_at, std::string(encoded_key));
        }
        return true;
      }));
  return decode_status;
}

Status WindowAggregate::FlushSessions(state::WriteBatch& batch, const FlushContext& context) {
  const bool emit_updates = emitter_ && emit_ == config::EmitMode::kOnUpdate;
  const AggregateValues none = aggregates_.Empty();
  for (const auto& [partition, entry] : dirty_sessions_) {
    const std::string& user_key = entry->first;
    KeySessions& key_sessions = entry->second;
    const int64_t stream_time_ms = context.StreamTime(partition);
    // Deletions first: a consumer applying results in order ends with the merged session.
    for (const auto& [start, end] : key_sessions.deleted) {
      batch.Delete(state::EncodeWindowKey({store_, partition, user_key, start}));
      if (emit_updates) {
        EDDY_RETURN_IF_ERROR(
            Emit(partition, user_key, {start, end}, stream_time_ms, /*deleted=*/true, none));
      }
    }
    key_sessions.deleted.clear();
    for (auto& [start, session] : key_sessions.sessions) {
      if (!session.dirty) continue;
      batch.Put(state::EncodeWindowKey({store_, partition, user_key, start}),
                state::EncodeSessionValue(session.end_ms, aggregates_.Encode(session.values)));
      session.dirty = false;
      session.stored = true;
      if (emit_updates) {
        EDDY_RETURN_IF_ERROR(Emit(partition, user_key, {start, session.end_ms}, stream_time_ms,
                                  /*deleted=*/false, session.values));
      }
    }
    key_sessions.dirty = false;
  }
  dirty_sessions_.clear();
  return Status::Ok();
}

Status WindowAggregate::FlushTo(state::WriteBatch& batch, const FlushContext& context) {
  const bool emit_updates = emitter_ && emit_ == config::EmitMode::kOnUpdate;
  EDDY_RETURN_IF_ERROR(FlushSessions(batch, context));
  // Only the windows changed since the last flush: a commit costs what changed, not the
  // size of the cache. They go into the batch in key order: RocksDB's memtable (a skip
  // list) then inserts each next to the previous one instead of searching from the top,
  // which took the largest share of the processing thread's time (scenario b).
  sorted_dirty_.clear();
  for (const DirtyWindow& dirty : dirty_) sorted_dirty_.push_back(&dirty);
  // The encoded keys' order (key_encoding.cpp: the store is the same for all, partitions
  // are not negative, and the user key's encoding keeps its byte order).
  std::sort(sorted_dirty_.begin(), sorted_dirty_.end(),
            [](const DirtyWindow* a, const DirtyWindow* b) {
              if (a->partition != b->partition) return a->partition < b->partition;
              if (const int order = a->entry->first.compare(b->entry->first); order != 0) {
                return order < 0;
              }
              return a->start_ms < b->start_ms;
            });
  for (const DirtyWindow* dirty : sorted_dirty_) {
    key_buffer_.clear();
    state::AppendWindowKey(key_buffer_,
                           {store_, dirty->partition, dirty->entry->first, dirty->start_ms});
    batch.Put(key_buffer_, aggregates_.Encode(dirty->entry->second.values));
  }
  for (const DirtyWindow& dirty : dirty_) stored_starts_.Raise(dirty.partition, dirty.start_ms);
  // Updates are emitted in the order the windows first changed.
  for (const DirtyWindow& dirty : dirty_) {
    CachedWindow& window = dirty.entry->second;
    window.dirty = false;
    if (emit_updates) {
      const TimeWindow span{dirty.start_ms, dirty.start_ms + window_.size.count()};
      EDDY_RETURN_IF_ERROR(Emit(dirty.partition, dirty.entry->first, span,
                                context.StreamTime(dirty.partition), /*deleted=*/false,
                                window.values));
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
        Result<WindowState> state = StateOf(partition, encoded_key);
        if (!state.ok()) return state.status();
        EDDY_RETURN_IF_ERROR(Emit(partition, decoded->user_key, state->window, stream_time_ms,
                                  /*deleted=*/false, state->values));
        open.erase(open.begin());
      }
    }
  }
  // Everything is clean now. Closed windows leave the cache: a record for one is late and
  // changes nothing, so the cache holds the windows still open (and the unwindowed rows).
  if (window_.kind == Kind::kTumbling || window_.kind == Kind::kHopping) {
    for (auto& [partition, cache] : cache_) {
      const int64_t stream_time_ms = context.StreamTime(partition);
      while (!cache.empty() &&
             WindowClosed({cache.begin()->first, cache.begin()->first + window_.size.count()},
                          window_.grace.count(), stream_time_ms)) {
        cached_windows_ -= cache.begin()->second.size();
        cache.erase(cache.begin());
      }
    }
  }
  if (cached_windows_ > kMaxCachedWindows) {
    // Safe to forget it all.
    cache_.clear();
    sessions_.clear();
    cached_windows_ = 0;
  }
  return Status::Ok();
}

void WindowAggregate::OnStoredStreamTimeRaised(int32_t partition, int64_t stream_time_ms) {
  stored_starts_.Raise(partition, stream_time_ms);
}

void WindowAggregate::DropPartition(int32_t partition) {
  open_windows_.erase(partition);
  stored_starts_.Drop(partition);
  std::erase_if(dirty_, [&](const DirtyWindow& dirty) { return dirty.partition == partition; });
  std::erase_if(dirty_sessions_, [&](const auto& dirty) { return dirty.first == partition; });
  if (auto it = cache_.find(partition); it != cache_.end()) {
    for (const auto& [start, windows] : it->second) cached_windows_ -= windows.size();
    cache_.erase(it);
  }
  if (auto it = sessions_.find(partition); it != sessions_.end()) {
    for (const auto& [key, key_sessions] : it->second) {
      cached_windows_ -= key_sessions.sessions.size() + 1;
    }
    sessions_.erase(it);
  }
}

}  // namespace eddy::engine
