// Aggregate functions and their stored state.
//
// An AggregateSet is the ordered list of a step's named aggregates; its state is one
// AggregateValues (one slot per aggregate, same order). Stored value encoding (written by
// EncodeAggregateValues, read by DecodeAggregateValues):
//
//   value := u8(version=1) slot*
//   slot  := 8 bytes little-endian: int64 for count, IEEE-754 double for sum
//
// The slot layout depends on the aggregate list, which is why a step's definition
// fingerprint is stored next to its state (see Fingerprint()).
//
// Thread-safety: immutable after construction; values are plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_record.h"
#include "common/status.h"
#include "config/config.h"

namespace eddy::engine {

union AggregateSlot {
  int64_t count;
  double sum;
};

using AggregateValues = std::vector<AggregateSlot>;

// The values one record contributes, one per aggregate (unused for count). Read by
// AggregateSet::ReadInputs before anything changes.
using AggregateInputs = std::vector<double>;

class AggregateSet {
 public:
  explicit AggregateSet(const std::vector<config::AggregateConfig>& aggregates);

  size_t size() const { return aggregates_.size(); }
  AggregateValues Empty() const;
  // Reads every field the aggregates need from `record` into `inputs` (resized to size()).
  // Changes no state; errors name the field.
  Status ReadInputs(codec::JsonRecordDecoder& record, AggregateInputs& inputs) const;
  // Folds inputs produced by ReadInputs into `values`. Cannot fail.
  void Apply(const AggregateInputs& inputs, AggregateValues& values) const;
  // ReadInputs then Apply: a record updates all aggregates or none.
  Status Accumulate(codec::JsonRecordDecoder& record, AggregateValues& values) const;
  // Folds `other` into `into` (used to combine one key's windows across partitions).
  void Merge(const AggregateValues& other, AggregateValues& into) const;
  // {"name": value, ...}
  std::string ToJson(const AggregateValues& values) const;
  // Identifies the slot layout: "count:views,sum(duration_ms):total".
  std::string Fingerprint() const;

  std::string Encode(const AggregateValues& values) const;
  std::optional<AggregateValues> Decode(std::string_view bytes) const;

 private:
  struct Aggregate {
    std::string name;
    config::AggregateFunction function;
    codec::FieldPath field;
    std::string field_text;
  };
  std::vector<Aggregate> aggregates_;
};

}  // namespace eddy::engine
