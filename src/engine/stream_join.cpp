#include "engine/stream_join.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "state/key_encoding.h"

namespace eddy::engine {
namespace {

// A buffered row's value: the records with one key and one event time on one side.
//
//   row      := u8(version=1) u32(n) entry{n}        integers big-endian
//   entry    := u8(matched: 0 | 1) u32(length) bytes(the record's JSON value)
constexpr uint8_t kRowVersion = 1;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The event time of an encoded row key: its last 8 bytes (see key_encoding.cpp).
int64_t RowTime(std::string_view row) {
  return state::ReadInt64Ordered(row.substr(row.size() - 8));
}

}  // namespace

std::string JoinedValue(std::string_view left_object, std::string_view as,
                        std::optional<std::string_view> right) {
  std::string out;
  out.reserve(left_object.size() + as.size() + (right ? right->size() : 4) + 8);
  // Everything of the left object but its closing brace (and the whitespace around it).
  size_t end = left_object.size();
  while (end > 0 && IsSpace(left_object[end - 1])) --end;
  if (end > 0) --end;  // the '}'
  while (end > 0 && IsSpace(left_object[end - 1])) --end;
  const bool left_has_members = end > 0 && left_object[end - 1] != '{';
  if (end == 0) {
    out += '{';
  } else {
    out.append(left_object.substr(0, end));
  }
  if (left_has_members) out += ',';
  out += '"';
  out.append(as);  // an identifier: nothing to escape
  out += "\":";
  if (right) {
    out.append(*right);
  } else {
    out += "null";
  }
  out += '}';
  return out;
}

StreamJoin::StreamJoin(std::string store, const config::StepConfig& step, state::StateDb& db,
                       prometheus::Counter& late_records)
    : name_(step.name),
      left_store_(store + "#left"),
      right_store_(store + "#right"),
      type_(step.join.type),
      as_(step.join.as),
      within_ms_(step.join.within.count()),
      grace_ms_(step.join.grace.count()),
      cache_limit_bytes_(step.join.cache_bytes),
      db_(db),
      late_records_(late_records),
      scanner_(db) {}

std::string StreamJoin::DefinitionFingerprint() const {
  // v1 rows of an inner join do not record which records matched: such state cannot serve
  // a left or outer join, which emits the unmatched ones.
  return MarksMatches() ? "stream_join/v1" : "stream_join/v1;inner";
}

bool StreamJoin::MarksMatches() const {
  return type_ != config::JoinConfig::Type::kInner;
}

bool StreamJoin::EmitsUnmatched(Side side) const {
  return type_ == config::JoinConfig::Type::kOuter ||
         (type_ == config::JoinConfig::Type::kLeft && side == Side::kLeft);
}

Result<StreamJoin::Entries> StreamJoin::DecodeRow(std::string_view in) const {
  Entries entries;
  auto corrupt = [&] { return Status::Internal("corrupt stream join row in store " + name_); };
  if (in.size() < 5 || static_cast<uint8_t>(in[0]) != kRowVersion) return corrupt();
  const uint32_t count = state::ReadUint32BigEndian(in.substr(1, 4));
  in.remove_prefix(5);
  entries.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() < 5) return corrupt();
    Entry entry;
    entry.matched = in[0] != 0;
    const uint32_t length = state::ReadUint32BigEndian(in.substr(1, 4));
    in.remove_prefix(5);
    if (in.size() < length) return corrupt();
    entry.value.assign(in.substr(0, length));
    in.remove_prefix(length);
    entries.push_back(std::move(entry));
  }
  if (!in.empty()) return corrupt();
  return entries;
}

StreamJoin::KeySlot* StreamJoin::FindSlot(PartitionRows& rows, std::string_view key) {
  const auto found = rows.by_key.find(key);
  return found == rows.by_key.end() ? nullptr : &*found;
}

std::optional<size_t> StreamJoin::FindRow(const KeySlot& slot, Side side, int64_t time_ms) {
  const std::vector<Row>& rows = slot.second.rows;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].side == side && rows[i].time_ms == time_ms) return i;
  }
  return std::nullopt;
}

int64_t StreamJoin::RowBytes(std::string_view key, const Row& row) {
  int64_t bytes = RowBytes(key);
  for (const Entry& entry : row.entries) bytes += EntryBytes(entry);
  return bytes;
}

size_t StreamJoin::AddRow(PartitionRows& rows, KeySlot& slot, Row row) {
  cache_bytes_ += RowBytes(slot.first, row);
  rows.added.emplace_back(row.time_ms, &slot);
  ++slot.second.queued;
  slot.second.rows.push_back(std::move(row));
  return slot.second.rows.size() - 1;
}

template <typename Keep>
void StreamJoin::KeepRows(KeySlot& slot, const Keep& keep) {
  std::vector<Row>& key_rows = slot.second.rows;
  size_t kept = 0;
  for (size_t i = 0; i < key_rows.size(); ++i) {
    if (keep(key_rows[i])) {
      if (kept != i) key_rows[kept] = std::move(key_rows[i]);
      ++kept;
    } else {
      cache_bytes_ -= RowBytes(slot.first, key_rows[i]);
    }
  }
  key_rows.resize(kept);
}

Result<size_t> StreamJoin::RowForUpdate(int32_t partition, PartitionRows& rows, KeySlot& slot,
                                        Side side, int64_t time_ms) {
  if (const std::optional<size_t> found = FindRow(slot, side, time_ms)) return *found;
  Entries entries;
  if (!rows.complete && stored_times_.MayBeStored(partition, time_ms)) {
    Result<std::optional<std::string>> stored =
        db_.Get(state::EncodeWindowKey({StoreOf(side), partition, slot.first, time_ms}));
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      Result<Entries> decoded = DecodeRow(**stored);
      if (!decoded.ok()) return decoded.status();
      entries = std::move(*decoded);
    }
  }
  return AddRow(rows, slot, Row{side, time_ms, false, std::move(entries)});
}

Result<const StreamJoin::Entries*> StreamJoin::ReadRow(int32_t partition, std::string_view key,
                                                       Side side, int64_t time_ms,
                                                       Entries& scratch) {
  static const Entries kNone;
  PartitionRows& rows = partitions_[partition];
  if (KeySlot* slot = FindSlot(rows, key)) {
    if (const std::optional<size_t> index = FindRow(*slot, side, time_ms)) {
      return &slot->second.rows[*index].entries;
    }
  }
  if (rows.complete) return &kNone;
  Result<std::optional<std::string>> stored =
      db_.Get(state::EncodeWindowKey({StoreOf(side), partition, key, time_ms}));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return &kNone;
  Result<Entries> decoded = DecodeRow(**stored);
  if (!decoded.ok()) return decoded.status();
  scratch = std::move(*decoded);
  return &scratch;
}

void StreamJoin::MarkDirty(int32_t partition, KeySlot& slot, size_t index) {
  Row& row = slot.second.rows[index];
  if (row.dirty) return;
  row.dirty = true;
  dirty_.push_back({partition, &slot, index});
}

void StreamJoin::DropRows(int32_t partition, PartitionRows& rows, bool keep_dirty) {
  std::erase_if(dirty_, [&](const DirtyRow& dirty) { return dirty.partition == partition; });
  rows.added.clear();
  for (auto it = rows.by_key.begin(); it != rows.by_key.end();) {
    KeepRows(*it, [&](const Row& row) { return keep_dirty && row.dirty; });
    const std::vector<Row>& key_rows = it->second.rows;
    it->second.queued = 0;
    if (key_rows.empty()) {
      it = rows.by_key.erase(it);
      continue;
    }
    for (size_t i = 0; i < key_rows.size(); ++i) {
      rows.added.emplace_back(key_rows[i].time_ms, &*it);
      ++it->second.queued;
      dirty_.push_back({partition, &*it, i});
    }
    ++it;
  }
  std::sort(rows.added.begin(), rows.added.end());
}

void StreamJoin::Demote(int32_t partition, PartitionRows& rows) {
  rows.complete = false;
  DropRows(partition, rows, /*keep_dirty=*/true);
}

void StreamJoin::DemoteIfOverBudget(int32_t partition, PartitionRows& rows) {
  if (!rows.complete || cache_bytes_ <= cache_limit_bytes_) return;
  spdlog::warn(
      "join {}: the buffered records exceed its cache_mib ({} MiB); partition {} reads them "
      "from RocksDB until it is next assigned",
      name_, cache_limit_bytes_ >> 20, partition);
  Demote(partition, rows);
}

void StreamJoin::Evict(int32_t partition, PartitionRows& rows) {
  // A record that is not late has t >= stream time - grace and matches rows from
  // t - within on: a row with t' + within + grace < stream time matches nothing more.
  // Rows still waiting in unmatched_ stay until TakeUnmatched has emitted them.
  int64_t bound = rows.stream_time_ms;
  if (const auto waiting = unmatched_.find(partition);
      waiting != unmatched_.end() && !waiting->second.empty()) {
    bound = std::min(bound, waiting->second.begin()->first);
  }
  const int64_t span = within_ms_ + grace_ms_;
  if (bound < std::numeric_limits<int64_t>::min() + span) return;  // no stream time yet
  auto expired = [&](int64_t time_ms) { return time_ms < bound - span; };
  while (!rows.added.empty() && expired(rows.added.front().first)) {
    KeySlot& slot = *rows.added.front().second;
    rows.added.pop_front();
    --slot.second.queued;
    KeepRows(slot, [&](const Row& row) { return !expired(row.time_ms) || row.dirty; });
    if (slot.second.rows.empty() && slot.second.queued == 0) {
      rows.by_key.erase(rows.by_key.find(slot.first));
    }
  }
}

Status StreamJoin::Prepare(const Event& event, Side side, const PartitionContext& partition) {
  side_ = side;
  late_ = false;
  prepared_slot_ = nullptr;
  matches_.clear();
  outputs_.clear();
  if (side == Side::kLeft) {
    // The output is the left object with one member added: check it can be.
    Result<codec::FieldValue> existing = event.value.Field({as_});
    if (!existing.ok()) {
      return Status::InvalidArgument("join: the record's value is not a JSON object");
    }
    if (existing->kind != codec::FieldValue::Kind::kMissing) {
      return Status::InvalidArgument("join: the record already has a member '" + as_ +
                                     "', where the join puts the other side's value");
    }
  }
  if (event.event_time_ms < partition.stream_time_ms - grace_ms_) {
    late_ = true;
    return Status::Ok();
  }
  PartitionRows& rows = partitions_[event.partition];
  rows.stream_time_ms = std::max(rows.stream_time_ms, partition.stream_time_ms);

  // Every row of the other side with this key and a time in range, ordered by time: from
  // memory, and for an incomplete partition from RocksDB too, where a row in memory
  // replaces its stored version.
  const Side other = side == Side::kLeft ? Side::kRight : Side::kLeft;
  const int64_t from_ms = event.event_time_ms - within_ms_;
  const int64_t to_ms = event.event_time_ms + within_ms_;
  std::vector<const Row*> candidates;
  prepared_slot_ = FindSlot(rows, event.key);
  if (prepared_slot_ != nullptr) {
    for (const Row& row : prepared_slot_->second.rows) {
      if (row.side == other && row.time_ms >= from_ms && row.time_ms <= to_ms) {
        candidates.push_back(&row);
      }
    }
  }
  if (!rows.complete) {
    scanned_.clear();
    const std::string prefix =
        state::EncodeWindowKeyPrefix(StoreOf(other), event.partition, event.key);
    Status decoded = Status::Ok();
    Status scanned =
        scanner_.Scan(prefix, from_ms, [&](std::string_view key, std::string_view value) {
          const int64_t time = RowTime(key);
          if (time > to_ms) return false;
          if (prepared_slot_ != nullptr && FindRow(*prepared_slot_, other, time)) return true;
          Result<Entries> entries = DecodeRow(value);
          if (!entries.ok()) {
            decoded = entries.status();
            return false;
          }
          scanned_.push_back(Row{other, time, false, std::move(*entries)});
          return true;
        });
    EDDY_RETURN_IF_ERROR(scanned);
    EDDY_RETURN_IF_ERROR(decoded);
    for (const Row& row : scanned_) candidates.push_back(&row);
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Row* a, const Row* b) { return a->time_ms < b->time_ms; });
  for (const Row* row : candidates) {
    for (size_t i = 0; i < row->entries.size(); ++i) {
      matches_.push_back({row->time_ms, i});
      JoinOutput output;
      output.key = std::string(event.key);
      output.event_time_ms = std::max(row->time_ms, event.event_time_ms);
      output.value = side == Side::kLeft
                         ? JoinedValue(event.value_json, as_, row->entries[i].value)
                         : JoinedValue(row->entries[i].value, as_, event.value_json);
      outputs_.push_back(std::move(output));
    }
  }
  return Status::Ok();
}

Status StreamJoin::Apply(const Event& event) {
  if (late_) {
    late_records_.Increment();
    return Status::Ok();
  }
  const Side other = side_ == Side::kLeft ? Side::kRight : Side::kLeft;
  PartitionRows& rows = partitions_[event.partition];
  KeySlot& slot = prepared_slot_ != nullptr
                      ? *prepared_slot_
                      : *rows.by_key.try_emplace(std::string(event.key)).first;
  // Only left and outer joins read the flags (an unmatched record's result is emitted when
  // its buffering ends): an inner join does not rewrite the rows it matched.
  if (MarksMatches()) {
    for (const Match& match : matches_) {
      Result<size_t> index = RowForUpdate(event.partition, rows, slot, other, match.time_ms);
      if (!index.ok()) return index.status();
      Entries& entries = slot.second.rows[*index].entries;
      if (match.index < entries.size() && !entries[match.index].matched) {
        entries[match.index].matched = true;
        MarkDirty(event.partition, slot, *index);
      }
    }
  }
  Result<size_t> index = RowForUpdate(event.partition, rows, slot, side_, event.event_time_ms);
  if (!index.ok()) return index.status();
  Row& row = slot.second.rows[*index];
  row.entries.push_back({!matches_.empty(), std::string(event.value_json)});
  cache_bytes_ += EntryBytes(row.entries.back());
  MarkDirty(event.partition, slot, *index);
  auto [pending_max, first] = pending_max_time_.try_emplace(event.partition, event.event_time_ms);
  if (!first) pending_max->second = std::max(pending_max->second, event.event_time_ms);
  if (matches_.empty() && EmitsUnmatched(side_)) {
    unmatched_[event.partition].emplace(
        event.event_time_ms + within_ms_ + grace_ms_,
        state::EncodeWindowKey({StoreOf(side_), event.partition, event.key, event.event_time_ms}));
  }
  prepared_slot_ = nullptr;
  DemoteIfOverBudget(event.partition, rows);
  return Status::Ok();
}

Status StreamJoin::TakeUnmatched(int32_t partition, int64_t stream_time_ms,
                                 std::vector<JoinOutput>& out) {
  auto found = unmatched_.find(partition);
  if (found == unmatched_.end()) return Status::Ok();
  auto& waiting = found->second;
  Entries scratch;
  while (!waiting.empty() && waiting.begin()->first < stream_time_ms) {
    const std::string row = waiting.begin()->second;
    waiting.erase(waiting.begin());
    std::optional<state::DecodedWindowKey> key = state::DecodeWindowKey(row);
    if (!key) return Status::Internal("corrupt stream join row key in store " + name_);
    const bool left = key->store == left_store_;
    Result<const Entries*> entries = ReadRow(
        partition, key->user_key, left ? Side::kLeft : Side::kRight, key->window_start_ms, scratch);
    if (!entries.ok()) return entries.status();
    for (const Entry& entry : **entries) {
      if (entry.matched) continue;
      JoinOutput output;
      output.key = key->user_key;
      output.event_time_ms = key->window_start_ms;
      output.value =
          left ? JoinedValue(entry.value, as_, std::nullopt) : JoinedValue("", as_, entry.value);
      out.push_back(std::move(output));
    }
  }
  return Status::Ok();
}

Status StreamJoin::FlushTo(state::WriteBatch& batch, const FlushContext&) {
  // The next scan must see this commit.
  scanner_.Release();
  // In the order of their encoded keys (store — "#left" sorts before "#right" —, partition,
  // user key bytes, time): RocksDB's memtable inserts a run of ascending keys much faster
  // than the same keys in arrival order (measured: the commit's write took twice as long).
  std::sort(dirty_.begin(), dirty_.end(), [](const DirtyRow& a, const DirtyRow& b) {
    const Row& row_a = a.slot->second.rows[a.index];
    const Row& row_b = b.slot->second.rows[b.index];
    if (row_a.side != row_b.side) return row_a.side == Side::kLeft;
    if (a.partition != b.partition) return a.partition < b.partition;
    if (a.slot != b.slot) return a.slot->first < b.slot->first;
    return row_a.time_ms < row_b.time_ms;
  });
  for (const DirtyRow& dirty : dirty_) {
    Row& row = dirty.slot->second.rows[dirty.index];
    row.dirty = false;
    key_buffer_.clear();
    state::AppendWindowKey(key_buffer_,
                           {StoreOf(row.side), dirty.partition, dirty.slot->first, row.time_ms});
    value_buffer_.clear();
    value_buffer_.push_back(static_cast<char>(kRowVersion));
    state::AppendUint32BigEndian(value_buffer_, static_cast<uint32_t>(row.entries.size()));
    for (const Entry& entry : row.entries) {
      value_buffer_.push_back(entry.matched ? 1 : 0);
      state::AppendUint32BigEndian(value_buffer_, static_cast<uint32_t>(entry.value.size()));
      value_buffer_.append(entry.value);
    }
    batch.Put(key_buffer_, value_buffer_);
  }
  dirty_.clear();
  for (const auto& [partition, time] : pending_max_time_) stored_times_.Raise(partition, time);
  pending_max_time_.clear();
  for (auto& [partition, rows] : partitions_) {
    if (rows.complete) {
      Evict(partition, rows);
    } else {
      DropRows(partition, rows, /*keep_dirty=*/false);
    }
  }
  return Status::Ok();
}

Status StreamJoin::RestorePartition(int32_t partition, int64_t stream_time_ms) {
  // The partition may have been committed by another worker or instance since.
  scanner_.Release();
  EDDY_RETURN_IF_ERROR(
      stored_times_.Restore(db_, {left_store_, right_store_}, partition, stream_time_ms));
  PartitionRows& rows = partitions_[partition];
  // Rows changed and not yet flushed stay: they are newer than what RocksDB holds.
  DropRows(partition, rows, /*keep_dirty=*/true);
  rows.complete = cache_limit_bytes_ > 0;
  rows.stream_time_ms = std::max(rows.stream_time_ms, stream_time_ms);
  auto& waiting = unmatched_[partition];
  waiting.clear();
  for (Side side : {Side::kLeft, Side::kRight}) {
    if (!rows.complete && !EmitsUnmatched(side)) continue;
    Status decoded = Status::Ok();
    Status scanned = db_.ScanPrefix(
        state::EncodeStorePartitionPrefix(StoreOf(side), partition),
        [&](std::string_view key, std::string_view value) {
          const int64_t time = RowTime(key);
          const int64_t closes = time + within_ms_ + grace_ms_;
          // Rows that stopped being matchable before the committed stream time had their
          // unmatched records emitted in that commit or earlier, and match nothing more.
          if (stream_time_ms != INT64_MIN && closes < stream_time_ms) return true;
          if (EmitsUnmatched(side)) waiting.emplace(closes, std::string(key));
          if (!rows.complete) return true;
          std::optional<state::DecodedWindowKey> decoded_key = state::DecodeWindowKey(key);
          if (!decoded_key) {
            decoded = Status::Internal("corrupt stream join row key in store " + name_);
            return false;
          }
          KeySlot& slot = *rows.by_key.try_emplace(std::move(decoded_key->user_key)).first;
          if (FindRow(slot, side, time)) return true;  // changed since: memory's is newer
          Result<Entries> entries = DecodeRow(value);
          if (!entries.ok()) {
            decoded = entries.status();
            return false;
          }
          AddRow(rows, slot, Row{side, time, false, std::move(*entries)});
          DemoteIfOverBudget(partition, rows);
          return true;
        });
    EDDY_RETURN_IF_ERROR(scanned);
    EDDY_RETURN_IF_ERROR(decoded);
  }
  // Loaded store by store: order the eviction queue by time.
  std::sort(rows.added.begin(), rows.added.end());
  prepared_slot_ = nullptr;
  return Status::Ok();
}

void StreamJoin::OnStoredStreamTimeRaised(int32_t partition, int64_t stream_time_ms) {
  stored_times_.Raise(partition, stream_time_ms);
  // Rows of the other topic may have been stored by whoever had it: RocksDB decides again.
  if (auto found = partitions_.find(partition); found != partitions_.end()) {
    Demote(partition, found->second);
  }
}

void StreamJoin::DropPartition(int32_t partition) {
  unmatched_.erase(partition);
  stored_times_.Drop(partition);
  pending_max_time_.erase(partition);
  if (auto found = partitions_.find(partition); found != partitions_.end()) {
    DropRows(partition, found->second, /*keep_dirty=*/false);
    partitions_.erase(found);
  }
  prepared_slot_ = nullptr;
}

}  // namespace eddy::engine
