// Generator: the records of `eddy-loadgen fill`, exactly as benchmarks/DATA.md specifies
// them, as a deterministic function of a FillSpec (the seed included). It knows nothing of
// Kafka: the caller produces each record it returns, in order.
//
// The stream, in order:
//   1. the N main records (events, table rows or impressions), record i with base event
//      time start_ms + i * 1000 / events_per_event_second (integer ms);
//      impressions' clicks are interleaved here in click-time order: a click is returned
//      as soon as the next impression's base time reaches the click's time, so the clicks
//      topic is in event-time order (apart from the out-of-order impressions' clicks);
//   2. the clicks still pending after the last impression, in click-time order;
//   3. unless disabled, the sentinels, for p = 0 … P-1: one record per partition (for
//      impressions, an impression and then a click), key SentinelKey(p, P), all with the
//      timestamp max(every earlier record's timestamp) + 1.
//
// Details DATA.md leaves open, fixed here: record i's sequence number (the <seq> of e<seq>
// and i<seq>) is i, and a duplicate repeats its original's, so ids are unique per original
// record; duplicates copy one of the previous min(i, 1000) records returned, themselves
// possibly duplicates; a duplicated impression gets no second click; sentinel p's sequence
// number is N + p (events id "e<N+p>", amount 1; table segment s<(N+p) mod 100>, name
// customer-<N+p>; impressions id = the sentinel key, campaign c<(N+p) mod 100>; click cost 1).
//
// Thread-safety: one thread uses a Generator.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "loadgen/random.h"
#include "loadgen/records.h"

namespace eddy::loadgen {

enum class Shape { kEvents, kTable, kImpressions };
std::optional<Shape> ParseShape(std::string_view name);
std::string_view ShapeName(Shape shape);

// The parameters of one fill, with DATA.md's defaults.
struct FillSpec {
  Shape shape = Shape::kEvents;
  int64_t records = 0;     // N: events, table rows or impressions (duplicates included)
  int64_t keys = 100'000;  // events: keys k0 … k<keys-1>
  int64_t value_bytes = 100;
  double out_of_order = 0;  // fraction of records moved back in time
  int64_t max_delay_ms = 5'000;
  double duplicates = 0;        // fraction of records that copy an earlier one
  double click_fraction = 0.5;  // impressions: fraction that get a click
  uint64_t seed = 7;
  int64_t start_ms = 1'795'600'000'000;
  int64_t events_per_event_second = 1'000;
  int32_t partitions = 3;
  bool sentinels = true;
};

// InvalidArgument naming the offending flag (as --flag) when a field is out of range or
// does not apply to the shape.
Status Validate(const FillSpec& spec);

enum class Stream { kMain, kClicks };

struct Record {
  Stream stream = Stream::kMain;
  std::string_view key;             // valid until the next call to Next
  std::string_view value;           // valid until the next call to Next
  int64_t ts = 0;                   // the Kafka timestamp and the value's "ts"
  int32_t sentinel_partition = -1;  // the partition a sentinel must land in; -1 otherwise
};

class Generator {
 public:
  // spec must pass Validate.
  explicit Generator(const FillSpec& spec);

  // The next record, or false at the end of the stream.
  bool Next(Record& out);

  const std::vector<std::string>& sentinel_keys() const { return sentinel_keys_; }
  // Counts of what Next returned so far: main records (duplicates included), clicks
  // (sentinel clicks excluded), duplicates, and sentinel records on both topics.
  int64_t main_records() const { return next_index_; }
  int64_t clicks() const { return clicks_returned_; }
  int64_t duplicates() const { return duplicates_; }
  int64_t sentinels() const { return sentinels_returned_; }

 private:
  // What a main record is made of; its value is formatted from this (and the shape).
  struct Past {
    int64_t seq = 0;
    int64_t n = 0;  // events: the key number
    int64_t amount = 0;
    int64_t ts = 0;
  };
  struct PendingClick {
    int64_t ts = 0;
    int64_t seq = 0;
    int64_t cost = 0;
    // Min-heap order for std::priority_queue: earliest click first, then by sequence.
    bool operator>(const PendingClick& other) const {
      return ts != other.ts ? ts > other.ts : seq > other.seq;
    }
  };
  static constexpr size_t kDuplicateHorizon = 1000;

  void MainRecord(Record& out);
  void ClickRecord(Record& out);
  void SentinelRecord(Record& out);
  void Emit(Record& out, Stream stream, int64_t ts);

  const FillSpec spec_;
  const std::vector<std::string> sentinel_keys_;
  Random random_;
  int64_t next_index_ = 0;
  std::vector<Past> recent_;  // ring of the last kDuplicateHorizon main records
  size_t recent_next_ = 0;
  std::priority_queue<PendingClick, std::vector<PendingClick>, std::greater<>> pending_clicks_;
  int64_t max_ts_;
  int64_t clicks_returned_ = 0;
  int64_t duplicates_ = 0;
  int64_t sentinels_returned_ = 0;
  RecordBuffer key_;
  RecordBuffer id_;
  RecordBuffer value_;
};

}  // namespace eddy::loadgen
