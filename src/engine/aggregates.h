// Aggregate functions and their stored state.
//
// An AggregateSet is the ordered list of a step's named aggregates; its state is one
// AggregateValues (one slot per aggregate, same order). docs/configuration.md describes the
// same semantics for users; keep them in step.
//
//   count              records in the window (integer).
//   sum(f)             total of numeric f.
//   min(f), max(f)     smallest / largest value of numeric f.
//   avg(f)             mean of numeric f. The state is the sum and the number of records, so
//                      merging partitions is exact; the JSON is sum / records.
//   count_distinct(f)  number of distinct values of f (integer). f must be a string, a
//                      number or a boolean. Values are compared by type and value: the string
//                      "1" and the number 1 differ; numbers compare by numeric value (1, 1.0
//                      and 1e0 are one value; integers are compared exactly, not through a
//                      double, so 2^53 and 2^53 + 1 differ). mode exact keeps every distinct
//                      value (state grows with cardinality); mode approximate keeps a
//                      HyperLogLog sketch (16 KiB per window, ~0.81% standard error; see
//                      engine/hyperloglog.h).
//   first(f), last(f)  the value of f (any JSON value, null included, kept as minified JSON)
//                      in the record with the smallest / largest event time. Ties go by
//                      arrival: first keeps the earlier-arrived record, last takes the
//                      later-arrived one.
//   latest(f)          the value of f in the most recently processed record (arrival order
//                      within a partition), whatever its event time.
//
// A record either updates every aggregate of the set or none: ReadInputs, which changes
// nothing, is the only phase that can fail; Apply cannot. ReadInputs fails when a field that
// an aggregate needs is missing (every function but count), is not a finite number (sum, min,
// max, avg), or is null, an object or an array (count_distinct).
//
// Merge folds one partition's window into another's (a key's records may sit in several
// partitions): count, sum and avg add; min and max take the min / max; count_distinct takes
// the union of the value sets (exact) or the register-wise max of the sketches (approximate),
// both exactly what one partition would have computed. first keeps the earlier event time
// (ties: `into`'s), last the later one (ties: `other`'s). latest keeps the value whose record
// has the later event time (ties: `other`'s): across partitions, arrival order means nothing,
// so "latest" there means latest in event time.
//
// Stored value encoding (written by Encode, read by Decode; integers little-endian):
//
//   value    := u8(version=2) slot{n}          one slot per aggregate, in order; nothing after
//   slot     := count:          i64(records)
//             | sum:            f64(sum)
//             | min, max, avg:  i64(records) f64(min | max | sum)   records = 0: no value yet
//             | first, last, latest:
//                               u8(0)                                no value yet
//                             | u8(1) i64(event_time_ms) u32(length) bytes(minified JSON)
//             | count_distinct exact:
//                               u32(n) (u32(length) bytes(canonical value)){n}
//                                                      values strictly increasing (bytewise)
//             | count_distinct approximate:
//                               u8(0)                                empty sketch
//                             | u8(1) u8(register){16384}            dense
//                             | u8(2) u16(n) (u16(index) u8(register)){n}
//                                   sparse: the n non-zero registers, indices increasing
//   f64      := IEEE-754 double bits as u64
//
// Canonical count_distinct values (the bytes stored and hashed) are the value's JSON text:
// strings as simdjson re-serializes them (quotes and normalised escapes, so equal strings give
// equal bytes and the quote tags the type), true / false, and numbers as an integer in
// decimal when their value is integral and fits an int64 or uint64, else the shortest text
// that reads back as the same double (std::to_chars).
//
// The slot layout depends on the aggregate list, which is why a step's definition
// fingerprint is stored next to its state (see Fingerprint()).
//
// Thread-safety: an AggregateSet is immutable after construction; values and inputs are
// plain data owned by their caller.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_record.h"
#include "common/status.h"
#include "config/config.h"
#include "engine/hyperloglog.h"

namespace eddy::engine {

// One aggregate's state. Which members are meaningful depends on the function (see the
// encoding grammar above); the others stay at their defaults.
struct AggregateSlot {
  // count: records. min, max, avg: records applied (0: no value yet).
  int64_t count = 0;
  // sum, avg: the sum; min, max: the extreme so far.
  double number = 0.0;
  // first, last, latest: whether a value is held, the event time of the record it came
  // from, and the field's minified JSON.
  bool has_value = false;
  int64_t event_time_ms = 0;
  std::string json;
  // count_distinct exact: the canonical values seen.
  std::set<std::string> distinct;
  // count_distinct approximate.
  HyperLogLog sketch;
};

using AggregateValues = std::vector<AggregateSlot>;

// What one record contributes, read by AggregateSet::ReadInputs before anything changes.
// Reused across records (its strings keep their capacity).
struct AggregateInputs {
  struct Input {
    double number = 0.0;  // sum, min, max, avg
    std::string text;     // count_distinct: canonical value; first, last, latest: JSON
    uint64_t hash = 0;    // count_distinct approximate: HyperLogLog::Hash(text)
  };
  int64_t event_time_ms = 0;
  std::vector<Input> values;  // one per aggregate, in order
};

class AggregateSet {
 public:
  explicit AggregateSet(const std::vector<config::AggregateConfig>& aggregates);

  size_t size() const { return aggregates_.size(); }
  AggregateValues Empty() const;
  // Reads every field the aggregates need from `record` (whose event time is
  // `event_time_ms`) into `inputs`. Changes no state; errors name the field.
  Status ReadInputs(codec::JsonRecordDecoder& record, int64_t event_time_ms,
                    AggregateInputs& inputs) const;
  // Folds inputs produced by ReadInputs into `values`. Cannot fail.
  void Apply(const AggregateInputs& inputs, AggregateValues& values) const;
  // ReadInputs then Apply: a record updates all aggregates or none.
  Status Accumulate(codec::JsonRecordDecoder& record, int64_t event_time_ms,
                    AggregateValues& values) const;
  // Folds `other` into `into` (used to combine one key's windows across partitions).
  void Merge(const AggregateValues& other, AggregateValues& into) const;
  // {"name": value, ...}: count and count_distinct as integers, sum, min, max and avg as
  // numbers (null while a min, max or avg has no value), first, last and latest as the
  // field's JSON (null while they have none).
  std::string ToJson(const AggregateValues& values) const;
  // Identifies the slot layout: "count:views,sum(duration_ms):total,
  // count_distinct(user,approximate):users".
  std::string Fingerprint() const;

  std::string Encode(const AggregateValues& values) const;
  // nullopt for anything Encode of this set cannot have written (another layout, another
  // version, truncated or trailing bytes, out-of-range values).
  std::optional<AggregateValues> Decode(std::string_view bytes) const;

 private:
  struct Aggregate {
    std::string name;
    config::AggregateFunction function;
    config::DistinctMode distinct_mode;
    codec::FieldPath field;
    std::string field_text;
  };
  std::vector<Aggregate> aggregates_;
};

}  // namespace eddy::engine
