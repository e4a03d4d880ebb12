#include "loadgen/generator.h"

#include <cassert>
#include <cmath>

#include "loadgen/murmur2.h"

namespace eddy::loadgen {

namespace {

// A click comes at most this long after its impression (DATA.md).
constexpr int64_t kMaxClickDelayMs = 30'000;

bool IsFraction(double f) {
  return std::isfinite(f) && f >= 0 && f <= 1;
}

}  // namespace

std::optional<Shape> ParseShape(std::string_view name) {
  if (name == "events") return Shape::kEvents;
  if (name == "table") return Shape::kTable;
  if (name == "impressions") return Shape::kImpressions;
  return std::nullopt;
}

std::string_view ShapeName(Shape shape) {
  switch (shape) {
    case Shape::kEvents:
      return "events";
    case Shape::kTable:
      return "table";
    case Shape::kImpressions:
      return "impressions";
  }
  return "?";
}

Status Validate(const FillSpec& spec) {
  if (spec.records < 0) return Status::InvalidArgument("--events must be >= 0");
  if (spec.keys < 1) return Status::InvalidArgument("--keys must be >= 1");
  if (spec.value_bytes < 0 || spec.value_bytes > 1'000'000) {
    return Status::InvalidArgument("--value-bytes must be in [0, 1000000]");
  }
  if (!IsFraction(spec.out_of_order)) {
    return Status::InvalidArgument("--out-of-order must be a fraction in [0, 1]");
  }
  if (spec.max_delay_ms < 0) return Status::InvalidArgument("--max-delay-ms must be >= 0");
  if (!IsFraction(spec.duplicates)) {
    return Status::InvalidArgument("--duplicates must be a fraction in [0, 1]");
  }
  if (spec.shape == Shape::kTable && spec.duplicates > 0) {
    return Status::InvalidArgument(
        "--duplicates does not apply to --shape table (each key k0 … k<N-1> is written once)");
  }
  if (!IsFraction(spec.click_fraction)) {
    return Status::InvalidArgument("--click-fraction must be a fraction in [0, 1]");
  }
  if (spec.events_per_event_second < 1) {
    return Status::InvalidArgument("--events-per-event-second must be >= 1");
  }
  if (spec.partitions < 1) return Status::InvalidArgument("--partitions must be >= 1");
  // ts = start + i * 1000 / eps must not overflow.
  if (spec.records > INT64_MAX / 1000 - 1 || spec.start_ms < 0 || spec.start_ms > INT64_MAX / 2) {
    return Status::InvalidArgument("--events or --start-ms out of range");
  }
  return Status::Ok();
}

Generator::Generator(const FillSpec& spec)
    : spec_(spec),
      sentinel_keys_(spec.sentinels ? SentinelKeys(spec.partitions) : std::vector<std::string>{}),
      random_(spec.seed),
      max_ts_(spec.start_ms - 1) {
  assert(Validate(spec).ok());
  recent_.reserve(kDuplicateHorizon);
}

bool Generator::Next(Record& out) {
  if (next_index_ < spec_.records) {
    const int64_t base_ts = spec_.start_ms + next_index_ * 1000 / spec_.events_per_event_second;
    if (!pending_clicks_.empty() && pending_clicks_.top().ts <= base_ts) {
      ClickRecord(out);
    } else {
      MainRecord(out);
    }
    return true;
  }
  if (!pending_clicks_.empty()) {
    ClickRecord(out);
    return true;
  }
  const int64_t sentinel_records =
      static_cast<int64_t>(sentinel_keys_.size()) * (spec_.shape == Shape::kImpressions ? 2 : 1);
  if (sentinels_returned_ < sentinel_records) {
    SentinelRecord(out);
    return true;
  }
  return false;
}

void Generator::MainRecord(Record& out) {
  const int64_t i = next_index_++;
  Past record;
  // The draws happen in a fixed order per record, so the stream depends on the seed only.
  const bool duplicate = spec_.duplicates > 0 && random_.Chance(spec_.duplicates);
  if (duplicate && !recent_.empty()) {
    const size_t back = static_cast<size_t>(random_.Below(recent_.size()));
    const size_t newest = (recent_next_ + recent_.size() - 1) % recent_.size();
    record = recent_[(newest + recent_.size() - back) % recent_.size()];
    ++duplicates_;
  } else {
    record.seq = i;
    record.ts = spec_.start_ms + i * 1000 / spec_.events_per_event_second;
    if (spec_.shape == Shape::kEvents) {
      record.n = static_cast<int64_t>(random_.Below(static_cast<uint64_t>(spec_.keys)));
      record.amount = random_.Between(1, 1000);
    }
    if (spec_.out_of_order > 0 && random_.Chance(spec_.out_of_order)) {
      record.ts -= random_.Between(0, spec_.max_delay_ms);
    }
    if (spec_.shape == Shape::kImpressions && random_.Chance(spec_.click_fraction)) {
      PendingClick click;
      click.ts = record.ts + random_.Between(0, kMaxClickDelayMs);
      click.seq = i;
      click.cost = random_.Between(1, 100);
      pending_clicks_.push(click);
    }
  }
  if (recent_.size() < kDuplicateHorizon) {
    recent_.push_back(record);
    recent_next_ = recent_.size() % kDuplicateHorizon;
  } else {
    recent_[recent_next_] = record;
    recent_next_ = (recent_next_ + 1) % kDuplicateHorizon;
  }

  switch (spec_.shape) {
    case Shape::kEvents:
      FormatName(key_, "k", record.n);
      FormatName(id_, "e", record.seq);
      FormatEvent(value_, id_.view(), key_.view(), record.amount, record.ts, spec_.value_bytes);
      break;
    case Shape::kTable:
      FormatName(key_, "k", record.seq);
      FormatTableRow(value_, key_.view(), record.seq % 100, record.seq, record.ts,
                     spec_.value_bytes);
      break;
    case Shape::kImpressions:
      FormatName(key_, "i", record.seq);
      FormatImpression(value_, key_.view(), record.seq % 100, record.ts, spec_.value_bytes);
      break;
  }
  Emit(out, Stream::kMain, record.ts);
}

void Generator::ClickRecord(Record& out) {
  const PendingClick click = pending_clicks_.top();
  pending_clicks_.pop();
  FormatName(key_, "i", click.seq);
  FormatClick(value_, key_.view(), click.cost, click.ts);
  ++clicks_returned_;
  Emit(out, Stream::kClicks, click.ts);
}

void Generator::SentinelRecord(Record& out) {
  // Every sentinel gets the same timestamp, after every record before it; max_ts_ only
  // grows, and the sentinels themselves are at max_ts_ + 1 once the first is out.
  const int64_t step = sentinels_returned_++;
  const bool impressions = spec_.shape == Shape::kImpressions;
  const int32_t p = static_cast<int32_t>(impressions ? step / 2 : step);
  const bool click = impressions && step % 2 == 1;
  const int64_t ts = step == 0 ? max_ts_ + 1 : max_ts_;
  const std::string& key = sentinel_keys_[static_cast<size_t>(p)];
  const int64_t seq = spec_.records + p;
  key_.Clear();
  key_.Append(key);
  switch (spec_.shape) {
    case Shape::kEvents:
      FormatName(id_, "e", seq);
      FormatEvent(value_, id_.view(), key, 1, ts, spec_.value_bytes);
      break;
    case Shape::kTable:
      FormatTableRow(value_, key, seq % 100, seq, ts, spec_.value_bytes);
      break;
    case Shape::kImpressions:
      if (click) {
        FormatClick(value_, key, 1, ts);
      } else {
        FormatImpression(value_, key, seq % 100, ts, spec_.value_bytes);
      }
      break;
  }
  Emit(out, click ? Stream::kClicks : Stream::kMain, ts);
  out.sentinel_partition = p;
}

void Generator::Emit(Record& out, Stream stream, int64_t ts) {
  if (ts > max_ts_) max_ts_ = ts;
  out.stream = stream;
  out.key = key_.view();
  out.value = value_.view();
  out.ts = ts;
  out.sentinel_partition = -1;
}

}  // namespace eddy::loadgen
