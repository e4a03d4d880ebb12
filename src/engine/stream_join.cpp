#include "engine/stream_join.h"

#include <algorithm>

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

Result<StreamJoin::Entries> StreamJoin::ReadRow(const std::string& row) const {
  if (auto pending = pending_.find(row); pending != pending_.end()) return pending->second;
  Result<std::optional<std::string>> stored = db_.Get(row);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Entries{};
  return DecodeRow(**stored);
}

Status StreamJoin::Prepare(const Event& event, Side side, const PartitionContext& partition) {
  side_ = side;
  late_ = false;
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

  // Every row of the other side with this key, committed or pending, ordered by time.
  const Side other = side == Side::kLeft ? Side::kRight : Side::kLeft;
  const std::string prefix =
      state::EncodeWindowKeyPrefix(StoreOf(other), event.partition, event.key);
  // The scan starts at the first time in range and stops after the last; a pending row
  // replaces its committed version.
  const int64_t from_ms = event.event_time_ms - within_ms_;
  const int64_t to_ms = event.event_time_ms + within_ms_;
  std::map<std::string, Entries, std::less<>> rows;
  Status decoded = Status::Ok();
  Status scanned =
      scanner_.Scan(prefix, from_ms, [&](std::string_view key, std::string_view value) {
        if (RowTime(key) > to_ms) return false;
        if (pending_.contains(key)) return true;
        Result<Entries> entries = DecodeRow(value);
        if (!entries.ok()) {
          decoded = entries.status();
          return false;
        }
        rows.emplace(std::string(key), std::move(*entries));
        return true;
      });
  EDDY_RETURN_IF_ERROR(scanned);
  EDDY_RETURN_IF_ERROR(decoded);
  for (auto it = pending_.lower_bound(prefix);
       it != pending_.end() && std::string_view(it->first).starts_with(prefix); ++it) {
    const int64_t time = RowTime(it->first);
    if (time >= from_ms && time <= to_ms) rows.emplace(it->first, it->second);
  }
  for (const auto& [row, entries] : rows) {
    const int64_t time = RowTime(row);
    for (size_t i = 0; i < entries.size(); ++i) {
      matches_.push_back({row, i});
      JoinOutput output;
      output.key = std::string(event.key);
      output.event_time_ms = std::max(time, event.event_time_ms);
      output.value = side == Side::kLeft ? JoinedValue(event.value_json, as_, entries[i].value)
                                         : JoinedValue(entries[i].value, as_, event.value_json);
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
  // Only left and outer joins read the flags (an unmatched record's result is emitted when
  // its buffering ends): an inner join does not rewrite the rows it matched.
  for (const Match& match : matches_) {
    if (!MarksMatches()) break;
    Result<Entries> entries = ReadRow(match.row);
    if (!entries.ok()) return entries.status();
    if (match.index < entries->size() && !(*entries)[match.index].matched) {
      (*entries)[match.index].matched = true;
      pending_[match.row] = std::move(*entries);
    }
  }
  const std::string row =
      state::EncodeWindowKey({StoreOf(side_), event.partition, event.key, event.event_time_ms});
  Result<Entries> entries = Entries{};
  if (stored_times_.MayBeStored(event.partition, event.event_time_ms)) {
    entries = ReadRow(row);
  } else if (auto pending = pending_.find(row); pending != pending_.end()) {
    entries = pending->second;
  }
  if (!entries.ok()) return entries.status();
  entries->push_back({!matches_.empty(), std::string(event.value_json)});
  pending_[row] = std::move(*entries);
  auto [pending_max, first] = pending_max_time_.try_emplace(event.partition, event.event_time_ms);
  if (!first) pending_max->second = std::max(pending_max->second, event.event_time_ms);
  if (matches_.empty() && EmitsUnmatched(side_)) {
    unmatched_[event.partition].emplace(event.event_time_ms + within_ms_ + grace_ms_, row);
  }
  return Status::Ok();
}

Status StreamJoin::TakeUnmatched(int32_t partition, int64_t stream_time_ms,
                                 std::vector<JoinOutput>& out) {
  auto found = unmatched_.find(partition);
  if (found == unmatched_.end()) return Status::Ok();
  auto& rows = found->second;
  while (!rows.empty() && rows.begin()->first < stream_time_ms) {
    const std::string row = rows.begin()->second;
    rows.erase(rows.begin());
    Result<Entries> entries = ReadRow(row);
    if (!entries.ok()) return entries.status();
    std::optional<state::DecodedWindowKey> key = state::DecodeWindowKey(row);
    if (!key) return Status::Internal("corrupt stream join row key in store " + name_);
    const bool left = key->store == left_store_;
    for (const Entry& entry : *entries) {
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
  for (const auto& [row, entries] : pending_) {
    if (entries.empty()) {
      batch.Delete(row);
      continue;
    }

    std::string value;
    value.push_back(static_cast<char>(kRowVersion));
    state::AppendUint32BigEndian(value, static_cast<uint32_t>(entries.size()));
    for (const Entry& entry : entries) {
      value.push_back(entry.matched ? 1 : 0);
      state::AppendUint32BigEndian(value, static_cast<uint32_t>(entry.value.size()));
      value.append(entry.value);
    }
    batch.Put(row, value);
  }
  pending_.clear();
  for (const auto& [partition, time] : pending_max_time_) stored_times_.Raise(partition, time);
  pending_max_time_.clear();
  return Status::Ok();
}

Status StreamJoin::RestorePartition(int32_t partition, int64_t stream_time_ms) {
  // The partition may have been committed by another worker or instance since.
  scanner_.Release();
  EDDY_RETURN_IF_ERROR(
      stored_times_.Restore(db_, {left_store_, right_store_}, partition, stream_time_ms));
  auto& rows = unmatched_[partition];
  rows.clear();
  for (Side side : {Side::kLeft, Side::kRight}) {
    if (!EmitsUnmatched(side)) continue;
    Status scanned = db_.ScanPrefix(state::EncodeStorePartitionPrefix(StoreOf(side), partition),
                                    [&](std::string_view key, std::string_view) {
                                      const int64_t closes = RowTime(key) + within_ms_ + grace_ms_;
                                      // Rows that stopped being matchable before the committed
                                      // stream time had their unmatched records emitted in that
                                      // commit or earlier.
                                      if (stream_time_ms == INT64_MIN || closes >= stream_time_ms) {
                                        rows.emplace(closes, std::string(key));
                                      }
                                      return true;
                                    });
    EDDY_RETURN_IF_ERROR(scanned);
  }
  return Status::Ok();
}

void StreamJoin::OnStoredStreamTimeRaised(int32_t partition, int64_t stream_time_ms) {
  stored_times_.Raise(partition, stream_time_ms);
}

void StreamJoin::DropPartition(int32_t partition) {
  unmatched_.erase(partition);
  stored_times_.Drop(partition);
  pending_max_time_.erase(partition);
  for (const std::string& store : {left_store_, right_store_}) {
    const std::string prefix = state::EncodeStorePartitionPrefix(store, partition);
    for (auto it = pending_.lower_bound(prefix);
         it != pending_.end() && std::string_view(it->first).starts_with(prefix);) {
      it = pending_.erase(it);
    }
  }
}

}  // namespace eddy::engine
