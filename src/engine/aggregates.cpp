// The semantics and the stored encoding are specified at the top of aggregates.h.
#include "engine/aggregates.h"

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <system_error>

#include "common/json_writer.h"

namespace eddy::engine {
namespace {

using config::AggregateFunction;
using config::DistinctMode;

constexpr uint8_t kValueVersion = 2;

// first / last / latest and approximate count_distinct slot tags.
constexpr uint8_t kNoValue = 0;
constexpr uint8_t kHasValue = 1;
constexpr uint8_t kSketchEmpty = 0;
constexpr uint8_t kSketchDense = 1;
constexpr uint8_t kSketchSparse = 2;

const char* FunctionName(AggregateFunction function) {
  switch (function) {
    case AggregateFunction::kCount:
      return "count";
    case AggregateFunction::kSum:
      return "sum";
    case AggregateFunction::kMin:
      return "min";
    case AggregateFunction::kMax:
      return "max";
    case AggregateFunction::kAvg:
      return "avg";
    case AggregateFunction::kCountDistinct:
      return "count_distinct";
    case AggregateFunction::kFirst:
      return "first";
    case AggregateFunction::kLast:
      return "last";
    case AggregateFunction::kLatest:
      return "latest";
  }
  return "unknown";
}

template <typename Number>
std::string Decimal(Number value) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;  // 32 bytes hold any 64-bit integer and any shortest double
  return std::string(buf.data(), end);
}

// Turns a count_distinct value's minified JSON into its canonical bytes, in place (see
// aggregates.h), or fails for a value that cannot be counted.
Status CanonicaliseDistinctValue(const std::string& field_text, std::string& json) {
  const auto wrong_type = [&](std::string_view what) {
    return Status::InvalidArgument("field '" + field_text + "' is " + std::string(what) +
                                   ", expected a string, a number or a boolean");
  };
  const char first = json.empty() ? '\0' : json[0];
  switch (first) {
    case '"':  // simdjson's escaping is canonical: equal strings, equal text
    case 't':
    case 'f':
      return Status::Ok();
    case 'n':
      return wrong_type("null");
    case '{':
      return wrong_type("an object");
    case '[':
      return wrong_type("an array");
    default:
      break;
  }
  const char* begin = json.data();
  const char* end = json.data() + json.size();
  if (json.find_first_of(".eE") == std::string::npos) {
    // A JSON integer, printed in decimal by simdjson; "-0" becomes "0".
    int64_t i = 0;
    if (const auto r = std::from_chars(begin, end, i); r.ec == std::errc() && r.ptr == end) {
      json = Decimal(i);
      return Status::Ok();
    }
    uint64_t u = 0;
    if (const auto r = std::from_chars(begin, end, u); r.ec == std::errc() && r.ptr == end) {
      json = Decimal(u);
      return Status::Ok();
    }
  }
  double d = 0.0;
  if (const auto r = std::from_chars(begin, end, d); r.ec != std::errc() || r.ptr != end) {
    return wrong_type("not a readable JSON value");  // simdjson never prints one
  }
  if (!std::isfinite(d)) return wrong_type("a number out of range");
  if (std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
    json = Decimal(static_cast<int64_t>(d));  // [-2^63, 2^63): both bounds are exact doubles
  } else if (std::trunc(d) == d && d > 0 && d < 18446744073709551616.0) {
    json = Decimal(static_cast<uint64_t>(d));  // [2^63, 2^64)
  } else {
    json = Decimal(d);  // shortest spelling that reads back as the same double
  }
  return Status::Ok();
}

void SetValue(AggregateSlot& slot, int64_t event_time_ms, const std::string& json) {
  slot.has_value = true;
  slot.event_time_ms = event_time_ms;
  slot.json = json;
}

// --- Encoding helpers (little-endian, bounds-checked reads).

void AppendLittleEndian(std::string& out, uint64_t bits, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFFu));
}

void AppendU8(std::string& out, uint8_t v) {
  AppendLittleEndian(out, v, 1);
}
void AppendU16(std::string& out, uint16_t v) {
  AppendLittleEndian(out, v, 2);
}
void AppendU32(std::string& out, uint32_t v) {
  AppendLittleEndian(out, v, 4);
}
void AppendI64(std::string& out, int64_t v) {
  AppendLittleEndian(out, static_cast<uint64_t>(v), 8);
}
void AppendF64(std::string& out, double v) {
  AppendLittleEndian(out, std::bit_cast<uint64_t>(v), 8);
}
void AppendBytes(std::string& out, std::string_view bytes) {
  AppendU32(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

// Reads from the front of a byte string; every read fails (returns false) rather than run
// past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}

  bool done() const { return bytes_.empty(); }
  bool U8(uint8_t& out) { return Fixed(1, out); }
  bool U16(uint16_t& out) { return Fixed(2, out); }
  bool U32(uint32_t& out) { return Fixed(4, out); }
  bool I64(int64_t& out) {
    uint64_t bits = 0;
    if (!Fixed(8, bits)) return false;
    out = static_cast<int64_t>(bits);
    return true;
  }
  bool F64(double& out) {
    uint64_t bits = 0;
    if (!Fixed(8, bits)) return false;
    out = std::bit_cast<double>(bits);
    return true;
  }
  bool Raw(size_t size, std::string_view& out) {
    if (bytes_.size() < size) return false;
    out = bytes_.substr(0, size);
    bytes_.remove_prefix(size);
    return true;
  }
  // u32 length, then that many bytes.
  bool Bytes(std::string_view& out) {
    uint32_t size = 0;
    return U32(size) && Raw(size, out);
  }

 private:
  template <typename Int>
  bool Fixed(size_t size, Int& out) {
    std::string_view raw;
    if (!Raw(size, raw)) return false;
    uint64_t bits = 0;
    for (size_t i = 0; i < size; ++i) bits |= uint64_t{static_cast<uint8_t>(raw[i])} << (8 * i);
    out = static_cast<Int>(bits);
    return true;
  }

  std::string_view bytes_;
};

void EncodeSketch(std::string& out, const HyperLogLog& sketch) {
  const std::vector<uint8_t>& registers = sketch.registers();
  if (registers.empty()) {
    AppendU8(out, kSketchEmpty);
    return;
  }
  size_t nonzero = 0;
  for (const uint8_t r : registers) nonzero += r != 0 ? 1 : 0;
  if (2 + 3 * nonzero < HyperLogLog::kRegisters) {  // whichever form is smaller
    AppendU8(out, kSketchSparse);
    AppendU16(out, static_cast<uint16_t>(nonzero));
    for (size_t i = 0; i < registers.size(); ++i) {
      if (registers[i] == 0) continue;
      AppendU16(out, static_cast<uint16_t>(i));
      AppendU8(out, registers[i]);
    }
  } else {
    AppendU8(out, kSketchDense);
    out.append(registers.begin(), registers.end());
  }
}

bool DecodeSketch(ByteReader& in, HyperLogLog& out) {
  uint8_t form = 0;
  if (!in.U8(form)) return false;
  std::vector<uint8_t> registers;
  if (form == kSketchDense) {
    std::string_view raw;
    if (!in.Raw(HyperLogLog::kRegisters, raw)) return false;
    registers.assign(raw.begin(), raw.end());
  } else if (form == kSketchSparse) {
    uint16_t count = 0;
    if (!in.U16(count) || count > HyperLogLog::kRegisters) return false;
    registers.assign(HyperLogLog::kRegisters, 0);
    size_t next_index = 0;  // indices strictly increase
    for (uint16_t i = 0; i < count; ++i) {
      uint16_t index = 0;
      uint8_t rank = 0;
      if (!in.U16(index) || !in.U8(rank)) return false;
      if (index < next_index || index >= HyperLogLog::kRegisters || rank == 0) return false;
      registers[index] = rank;
      next_index = size_t{index} + 1;
    }
  } else if (form != kSketchEmpty) {
    return false;
  }
  std::optional<HyperLogLog> sketch = HyperLogLog::FromRegisters(std::move(registers));
  if (!sketch) return false;
  out = std::move(*sketch);
  return true;
}

}  // namespace

AggregateSet::AggregateSet(const std::vector<config::AggregateConfig>& aggregates) {
  aggregates_.reserve(aggregates.size());
  for (const auto& aggregate : aggregates) {
    aggregates_.push_back({aggregate.name, aggregate.function, aggregate.distinct_mode,
                           aggregate.field_path, aggregate.field_path_text});
  }
}

AggregateValues AggregateSet::Empty() const {
  return AggregateValues(aggregates_.size());
}

Status AggregateSet::ReadInputs(codec::JsonRecordDecoder& record, int64_t event_time_ms,
                                AggregateInputs& inputs) const {
  inputs.event_time_ms = event_time_ms;
  inputs.values.resize(aggregates_.size());
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const Aggregate& aggregate = aggregates_[i];
    AggregateInputs::Input& input = inputs.values[i];
    switch (aggregate.function) {
      case AggregateFunction::kCount:
        break;
      case AggregateFunction::kSum:
      case AggregateFunction::kMin:
      case AggregateFunction::kMax:
      case AggregateFunction::kAvg: {
        Result<double> number = record.Number(aggregate.field);
        if (!number.ok()) return number.status();
        if (!std::isfinite(*number)) {
          return Status::InvalidArgument("field '" + aggregate.field_text +
                                         "' is not a finite number");
        }
        input.number = *number;
        break;
      }
      case AggregateFunction::kCountDistinct: {
        Result<std::string> json = record.RawJson(aggregate.field);
        if (!json.ok()) return json.status();
        input.text = std::move(*json);
        EDDY_RETURN_IF_ERROR(CanonicaliseDistinctValue(aggregate.field_text, input.text));
        if (aggregate.distinct_mode == DistinctMode::kApproximate) {
          input.hash = HyperLogLog::Hash(input.text);
        }
        break;
      }
      case AggregateFunction::kFirst:
      case AggregateFunction::kLast:
      case AggregateFunction::kLatest: {
        Result<std::string> json = record.RawJson(aggregate.field);
        if (!json.ok()) return json.status();
        input.text = std::move(*json);
        break;
      }
    }
  }
  return Status::Ok();
}

void AggregateSet::Apply(const AggregateInputs& inputs, AggregateValues& values) const {
  const int64_t time = inputs.event_time_ms;
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const AggregateInputs::Input& input = inputs.values[i];
    AggregateSlot& slot = values[i];
    switch (aggregates_[i].function) {
      case AggregateFunction::kCount:
        slot.count += 1;
        break;
      case AggregateFunction::kSum:
        slot.number += input.number;
        break;
      case AggregateFunction::kMin:
        if (slot.count == 0 || input.number < slot.number) slot.number = input.number;
        slot.count += 1;
        break;
      case AggregateFunction::kMax:
        if (slot.count == 0 || input.number > slot.number) slot.number = input.number;
        slot.count += 1;
        break;
      case AggregateFunction::kAvg:
        slot.number += input.number;
        slot.count += 1;
        break;
      case AggregateFunction::kCountDistinct:
        if (aggregates_[i].distinct_mode == DistinctMode::kExact) {
          slot.distinct.insert(input.text);
        } else {
          slot.sketch.Add(input.hash);
        }
        break;
      case AggregateFunction::kFirst:  // ties keep the earlier-arrived record
        if (!slot.has_value || time < slot.event_time_ms) SetValue(slot, time, input.text);
        break;
      case AggregateFunction::kLast:  // ties take the later-arrived record
        if (!slot.has_value || time >= slot.event_time_ms) SetValue(slot, time, input.text);
        break;
      case AggregateFunction::kLatest:
        SetValue(slot, time, input.text);
        break;
    }
  }
}

Status AggregateSet::Accumulate(codec::JsonRecordDecoder& record, int64_t event_time_ms,
                                AggregateValues& values) const {
  AggregateInputs inputs;
  EDDY_RETURN_IF_ERROR(ReadInputs(record, event_time_ms, inputs));
  Apply(inputs, values);
  return Status::Ok();
}

void AggregateSet::Merge(const AggregateValues& other, AggregateValues& into) const {
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const AggregateSlot& from = other[i];
    AggregateSlot& to = into[i];
    switch (aggregates_[i].function) {
      case AggregateFunction::kCount:
        to.count += from.count;
        break;
      case AggregateFunction::kSum:
        to.number += from.number;
        break;
      case AggregateFunction::kMin:
        if (from.count > 0 && (to.count == 0 || from.number < to.number)) to.number = from.number;
        to.count += from.count;
        break;
      case AggregateFunction::kMax:
        if (from.count > 0 && (to.count == 0 || from.number > to.number)) to.number = from.number;
        to.count += from.count;
        break;
      case AggregateFunction::kAvg:
        to.number += from.number;
        to.count += from.count;
        break;
      case AggregateFunction::kCountDistinct:
        if (aggregates_[i].distinct_mode == DistinctMode::kExact) {
          to.distinct.insert(from.distinct.begin(), from.distinct.end());
        } else {
          to.sketch.Merge(from.sketch);
        }
        break;
      case AggregateFunction::kFirst:  // ties keep `into`'s
        if (from.has_value && (!to.has_value || from.event_time_ms < to.event_time_ms)) {
          SetValue(to, from.event_time_ms, from.json);
        }
        break;
      case AggregateFunction::kLast:  // ties take `other`'s
      case AggregateFunction::kLatest:
        if (from.has_value && (!to.has_value || from.event_time_ms >= to.event_time_ms)) {
          SetValue(to, from.event_time_ms, from.json);
        }
        break;
    }
  }
}

std::string AggregateSet::ToJson(const AggregateValues& values) const {
  JsonWriter json;
  json.BeginObject();
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const AggregateSlot& slot = values[i];
    json.Key(aggregates_[i].name);
    switch (aggregates_[i].function) {
      case AggregateFunction::kCount:
        json.Int(slot.count);
        break;
      case AggregateFunction::kSum:
        json.Double(slot.number);
        break;
      case AggregateFunction::kMin:
      case AggregateFunction::kMax:
        if (slot.count == 0) {
          json.Null();
        } else {
          json.Double(slot.number);
        }
        break;
      case AggregateFunction::kAvg:
        if (slot.count == 0) {
          json.Null();
        } else {
          json.Double(slot.number / static_cast<double>(slot.count));
        }
        break;
      case AggregateFunction::kCountDistinct:
        if (aggregates_[i].distinct_mode == DistinctMode::kExact) {
          json.Int(static_cast<int64_t>(slot.distinct.size()));
        } else {
          json.Int(std::llround(slot.sketch.Estimate()));
        }
        break;
      case AggregateFunction::kFirst:
      case AggregateFunction::kLast:
      case AggregateFunction::kLatest:
        if (slot.has_value) {
          json.Raw(slot.json);
        } else {
          json.Null();
        }
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
    out += FunctionName(aggregate.function);
    if (aggregate.function == AggregateFunction::kCountDistinct) {
      out += "(" + aggregate.field_text + "," +
             (aggregate.distinct_mode == DistinctMode::kExact ? "exact" : "approximate") + ")";
    } else if (aggregate.function != AggregateFunction::kCount) {
      out += "(" + aggregate.field_text + ")";
    }
    out += ':' + aggregate.name;
  }
  return out;
}

std::string AggregateSet::Encode(const AggregateValues& values) const {
  std::string out;
  out.reserve(1 + 16 * values.size());
  AppendU8(out, kValueVersion);
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    const AggregateSlot& slot = values[i];
    switch (aggregates_[i].function) {
      case AggregateFunction::kCount:
        AppendI64(out, slot.count);
        break;
      case AggregateFunction::kSum:
        AppendF64(out, slot.number);
        break;
      case AggregateFunction::kMin:
      case AggregateFunction::kMax:
      case AggregateFunction::kAvg:
        AppendI64(out, slot.count);
        AppendF64(out, slot.number);
        break;
      case AggregateFunction::kCountDistinct:
        if (aggregates_[i].distinct_mode == DistinctMode::kExact) {
          AppendU32(out, static_cast<uint32_t>(slot.distinct.size()));
          for (const std::string& value : slot.distinct) AppendBytes(out, value);
        } else {
          EncodeSketch(out, slot.sketch);
        }
        break;
      case AggregateFunction::kFirst:
      case AggregateFunction::kLast:
      case AggregateFunction::kLatest:
        if (!slot.has_value) {
          AppendU8(out, kNoValue);
        } else {
          AppendU8(out, kHasValue);
          AppendI64(out, slot.event_time_ms);
          AppendBytes(out, slot.json);
        }
        break;
    }
  }
  return out;
}

std::optional<AggregateValues> AggregateSet::Decode(std::string_view bytes) const {
  ByteReader in(bytes);
  uint8_t version = 0;
  if (!in.U8(version) || version != kValueVersion) return std::nullopt;
  AggregateValues values(aggregates_.size());
  for (size_t i = 0; i < aggregates_.size(); ++i) {
    AggregateSlot& slot = values[i];
    switch (aggregates_[i].function) {
      case AggregateFunction::kCount:
        if (!in.I64(slot.count)) return std::nullopt;
        break;
      case AggregateFunction::kSum:
        if (!in.F64(slot.number)) return std::nullopt;
        break;
      case AggregateFunction::kMin:
      case AggregateFunction::kMax:
      case AggregateFunction::kAvg:
        if (!in.I64(slot.count) || slot.count < 0 || !in.F64(slot.number)) return std::nullopt;
        break;
      case AggregateFunction::kCountDistinct:
        if (aggregates_[i].distinct_mode == DistinctMode::kExact) {
          uint32_t count = 0;
          if (!in.U32(count)) return std::nullopt;
          // No reserve from `count`: it is untrusted until the bytes are there.
          for (uint32_t n = 0; n < count; ++n) {
            std::string_view value;
            if (!in.Bytes(value) || value.empty()) return std::nullopt;
            if (!slot.distinct.empty() && !(*slot.distinct.rbegin() < value)) return std::nullopt;
            slot.distinct.emplace_hint(slot.distinct.end(), value);
          }
        } else if (!DecodeSketch(in, slot.sketch)) {
          return std::nullopt;
        }
        break;
      case AggregateFunction::kFirst:
      case AggregateFunction::kLast:
      case AggregateFunction::kLatest: {
        uint8_t tag = 0;
        if (!in.U8(tag) || (tag != kNoValue && tag != kHasValue)) return std::nullopt;
        if (tag == kHasValue) {
          std::string_view json;
          if (!in.I64(slot.event_time_ms) || !in.Bytes(json) || json.empty()) return std::nullopt;
          slot.has_value = true;
          slot.json = json;
        }
        break;
      }
    }
  }
  if (!in.done()) return std::nullopt;
  return values;
}

}  // namespace eddy::engine
