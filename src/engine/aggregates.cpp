#include "engine/aggregates.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "common/json_writer.h"

namespace eddy::engine {
namespace {

constexpr uint8_t kValueVersion = 1;

void AppendUint64LittleEndian(std::string& out, uint64_t bits) {
  for (int shift = 0; shift < 64; shift += 8)
    out.push_back(static_cast<char>((bits >> shift) & 0xFFu));
}

uint64_t ReadUint64LittleEndian(std::string_view in) {
  uint64_t bits = 0;
  for (size_t i = 0; i < 8; ++i) bits |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return bits;
}

}  // namespace

AggregateSet::AggregateSet(const std::vector<config::AggregateConfig>& aggregates) {
  aggregates_.reserve(aggregates.size());
  for (const auto& aggregate : aggregates) {
    aggregates_.push_back(
        {aggregate.name, aggregate.function, aggregate.field_path, aggregate.field_path_text});
  }
}

AggregateValues AggregateSet::Empty() const {
  AggregateValues values(aggregates_.size());
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    switch (aggregates_[i].function) {
      case config::AggregateFunction::kCount:
        values[i].count = 0;
        break;
      case config::AggregateFunction::kSum:
        values[i].sum = 0.0;
        break;
    }
  }
  return values;
}

Status AggregateSet::ReadInputs(codec::JsonRecordDecoder& record, AggregateInputs& inputs) const {
  inputs.resize(aggregates_.size());
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const Aggregate& aggregate = aggregates_[i];
    inputs[i] = 0;
    if (aggregate.function == config::AggregateFunction::kSum) {
      Result<double> number = record.Number(aggregate.field);
      if (!number.ok()) return number.status();
      if (!std::isfinite(*number)) {
        return Status::InvalidArgument("field '" + aggregate.field_text +
                                       "' is not a finite number");
      }
      inputs[i] = *number;
    }
  }
  return Status::Ok();
}

void AggregateSet::Apply(const AggregateInputs& inputs, AggregateValues& values) const {
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    switch (aggregates_[i].function) {
      case config::AggregateFunction::kCount:
        values[i].count += 1;
        break;
      case config::AggregateFunction::kSum:
        values[i].sum += inputs[i];
        break;
    }
  }
}

Status AggregateSet::Accumulate(codec::JsonRecordDecoder& record, AggregateValues& values) const {
  AggregateInputs inputs;
  EDDY_RETURN_IF_ERROR(ReadInputs(record, inputs));
  Apply(inputs, values);
  return Status::Ok();
}

void AggregateSet::Merge(const AggregateValues& other, AggregateValues& into) const {
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    switch (aggregates_[i].function) {
      case config::AggregateFunction::kCount:
        into[i].count += other[i].count;
        break;
      case config::AggregateFunction::kSum:
        into[i].sum += other[i].sum;
        break;
    }
  }
}

std::string AggregateSet::ToJson(const AggregateValues& values) const {
  JsonWriter json;
  json.BeginObject();
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    json.Key(aggregates_[i].name);
    switch (aggregates_[i].function) {
      case config::AggregateFunction::kCount:
        json.Int(values[i].count);
        break;
      case config::AggregateFunction::kSum:
        json.Double(values[i].sum);
        break;
    }
  }
  json.EndObject();
  return std::move(json).Take();
}

std::string AggregateSet::Fingerprint() const {
  std::string out;
  for (const Aggregate& aggregate : aggregates_) {
    if (!out.empty()) out += ',';
    switch (aggregate.function) {
      case config::AggregateFunction::kCount:
        out += "count";
        break;
      case config::AggregateFunction::kSum:
        out += "sum(" + aggregate.field_text + ")";
        break;
    }
    out += ':' + aggregate.name;
  }
  return out;
}

std::string AggregateSet::Encode(const AggregateValues& values) const {
  std::string out;
  out.reserve(1 + 8 * values.size());
  out.push_back(static_cast<char>(kValueVersion));
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    switch (aggregates_[i].function) {
      case config::AggregateFunction::kCount:
        AppendUint64LittleEndian(out, static_cast<uint64_t>(values[i].count));
        break;
      case config::AggregateFunction::kSum:
        AppendUint64LittleEndian(out, std::bit_cast<uint64_t>(values[i].sum));
        break;
    }
  }
  return out;
}

std::optional<AggregateValues> AggregateSet::Decode(std::string_view bytes) const {
  if (bytes.size() != 1 + 8 * aggregates_.size()) return std::nullopt;
  if (static_cast<uint8_t>(bytes[0]) != kValueVersion) return std::nullopt;
  bytes.remove_prefix(1);
  AggregateValues values(aggregates_.size());
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const uint64_t bits = ReadUint64LittleEndian(bytes.substr(8 * i, 8));
    switch (aggregates_[i].function) {
      case config::AggregateFunction::kCount:
        values[i].count = static_cast<int64_t>(bits);
        break;
      case config::AggregateFunction::kSum:
        values[i].sum = std::bit_cast<double>(bits);
        break;
    }
  }
  return values;
}

}  // namespace eddy::engine
