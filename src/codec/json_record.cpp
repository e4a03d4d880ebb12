// JSON record values (simdjson DOM) and RFC 3339 event times.
//
// Hot path: one Parse() per record, then a few field lookups. The decoder owns one
// simdjson::dom::parser whose buffers (tape, string buffer, padded copy of the input) grow to
// the largest record seen and are then reused, so a steady stream of records allocates
// nothing in the parser. A lookup walks the path with at_key() and allocates only the string
// it returns; error messages (which name the field path) are built only on failure.
//
// simdjson is used through its error-code API only: no exception leaves this file.
//
// Timestamp grammar accepted by ParseRfc3339Millis (RFC 3339 section 5.6 "date-time"):
//   date-time = YYYY "-" MM "-" DD sep HH ":" MM ":" SS [ "." 1*DIGIT ] zone
//   sep       = "T" / "t" / " "
//   zone      = "Z" / "z" / ( "+" / "-" ) HH ":" MM
// Years 0000-9999; month 01-12; day 01-last day of the month (Gregorian leap years); hour
// 00-23; minute 00-59; second 00-60; offset hours 00-23, minutes 00-59. Nothing may follow.
//
// Leap seconds: second 60 is accepted (on any date: we cannot check a leap-second table once
// offsets are applied) and read as the last millisecond of that minute, HH:MM:59.999, with its
// fraction ignored. Epoch milliseconds have no leap seconds, and clamping keeps the instant
// inside its minute (and therefore its window and day) instead of spilling into the next one.
//
// Calendar arithmetic is Howard Hinnant's days_from_civil / civil_from_days (proleptic
// Gregorian, valid for any int64 day count we can produce); no timegm, no locale, no TZ.
#include "codec/json_record.h"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <system_error>

namespace eddy::codec {
namespace {

namespace dom = simdjson::dom;

// "user.id" for error messages. Only called on failure paths.
std::string PathText(const FieldPath& path) {
  std::string text;
  for (const std::string& segment : path) {
    if (!text.empty()) text += '.';
    text += segment;
  }
  return text;
}

// "a string", "an object"... for "field 'x' is a string, expected a number".
const char* TypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a floating-point number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown JSON type";
}

Status WrongType(const FieldPath& path, dom::element_type type, const char* expected) {
  return Status::InvalidArgument("field '" + PathText(path) + "' is " + TypeName(type) +
                                 ", expected " + expected);
}

template <typename Int>
std::string Decimal(Int value) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;  // 24 bytes hold any 64-bit integer
  return std::string(buf.data(), end);
}

}  // namespace

Result<FieldPath> ParseFieldPath(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("field path is empty");
  FieldPath path;
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    const size_t end = dot == std::string_view::npos ? text.size() : dot;
    if (end == start) {
      return Status::InvalidArgument("field path '" + std::string(text) +
                                     "' has an empty segment at offset " + Decimal(start));
    }
    path.emplace_back(text.substr(start, end - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// JsonRecordDecoder

class JsonRecordDecoder::Impl {
 public:
  Status Parse(std::string_view json) {
    parsed_ = false;
    // An empty view may carry a null data pointer, which simdjson would memcpy from.
    if (json.empty()) return Status::InvalidArgument("record value is empty, expected JSON");
    // realloc_if_needed=true: the input is copied into the parser's own padded buffer, which
    // is reused across calls (reallocated only when a larger record arrives).
    simdjson::error_code error =
        parser_.parse(json.data(), json.size(), /*realloc_if_needed=*/true).get(root_);
    if (error != simdjson::SUCCESS) {
      return Status::InvalidArgument(std::string("record value is not valid JSON: ") +
                                     simdjson::error_message(error));
    }
    parsed_ = true;
    return Status::Ok();
  }

  // Finds the element at `path` without allocating: false if it is missing (or the path goes
  // through a non-object). The record must be usable (CheckRecord() ok) and path non-empty.
  bool Lookup(const FieldPath& path, dom::element& out) const {
    dom::element current = root_;
    for (const std::string& segment : path) {
      dom::object object;
      if (current.get(object) != simdjson::SUCCESS) return false;
      if (object.at_key(segment).get(current) != simdjson::SUCCESS) return false;
    }
    out = current;
    return true;
  }

  // OK when a record is parsed and is a JSON object, so that fields can be looked up.
  Status CheckRecord() const {
    if (!parsed_) {
      return Status::InvalidArgument("no record value parsed (the last Parse failed)");
    }
    if (root_.type() != dom::element_type::OBJECT) {
      return Status::InvalidArgument("record value is not a JSON object");
    }
    return Status::Ok();
  }

  // Finds the element at `path`. Missing fields (including paths through non-objects) are
  // NotFound; a document that is not an object, or no parsed document, is InvalidArgument.
  Status Find(const FieldPath& path, dom::element& out) const {
    if (!parsed_) {
      return Status::InvalidArgument("no record value parsed (the last Parse failed)");
    }
    if (path.empty()) return Status::InvalidArgument("field path is empty");
    if (root_.type() != dom::element_type::OBJECT) {
      return Status::InvalidArgument("record value is not a JSON object");
    }
    dom::element current = root_;
    for (size_t i = 0; i < path.size(); ++i) {
      dom::object object;
      if (current.get(object) != simdjson::SUCCESS) {
        FieldPath parent(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(i));
        return Status::NotFound("field '" + PathText(path) + "' not found: '" + PathText(parent) +
                                "' is " + TypeName(current.type()) + ", not an object");
      }
      if (object.at_key(path[i]).get(current) != simdjson::SUCCESS) {
        return Status::NotFound("field '" + PathText(path) + "' not found");
      }
    }
    out = current;
    return Status::Ok();
  }

 private:
  dom::parser parser_;
  dom::element root_;    // valid while parsed_; points into parser_
  bool parsed_ = false;  // the last Parse succeeded
};

JsonRecordDecoder::JsonRecordDecoder() : impl_(std::make_unique<Impl>()) {}
JsonRecordDecoder::~JsonRecordDecoder() = default;

Status JsonRecordDecoder::Parse(std::string_view json) {
  return impl_->Parse(json);
}

Result<std::string> JsonRecordDecoder::KeyString(const FieldPath& path) {
  dom::element value;
  EDDY_RETURN_IF_ERROR(impl_->Find(path, value));
  switch (value.type()) {
    case dom::element_type::STRING:
      return std::string(value.get_string().value_unsafe());
    case dom::element_type::INT64:
      return Decimal(value.get_int64().value_unsafe());
    case dom::element_type::UINT64:
      return Decimal(value.get_uint64().value_unsafe());
    case dom::element_type::BOOL:
      return std::string(value.get_bool().value_unsafe() ? "true" : "false");
    default:
      return WrongType(path, value.type(), "a string, an integer or a boolean");
  }
}

Result<double> JsonRecordDecoder::Number(const FieldPath& path) {
  dom::element value;
  EDDY_RETURN_IF_ERROR(impl_->Find(path, value));
  switch (value.type()) {
    case dom::element_type::DOUBLE:
      return value.get_double().value_unsafe();
    // Integers beyond 2^53 lose precision here, as they would in any JSON number consumer.
    case dom::element_type::INT64:
      return static_cast<double>(value.get_int64().value_unsafe());
    case dom::element_type::UINT64:
      return static_cast<double>(value.get_uint64().value_unsafe());
    default:
      return WrongType(path, value.type(), "a number");
  }
}

Result<int64_t> JsonRecordDecoder::Integer(const FieldPath& path) {
  dom::element value;
  EDDY_RETURN_IF_ERROR(impl_->Find(path, value));
  switch (value.type()) {
    case dom::element_type::INT64:
      return value.get_int64().value_unsafe();
    case dom::element_type::UINT64: {
      // simdjson reports only integers above INT64_MAX as UINT64, but check anyway.
      const uint64_t u = value.get_uint64().value_unsafe();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::InvalidArgument("field '" + PathText(path) + "' is " + Decimal(u) +
                                       ", out of the int64 range");
      }
      return static_cast<int64_t>(u);
    }
    case dom::element_type::DOUBLE: {
      const double d = value.get_double().value_unsafe();
      // [-2^63, 2^63): both bounds are exact doubles; the upper one is not an int64.
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
        return Status::InvalidArgument("field '" + PathText(path) +
                                       "' is a number out of the int64 range");
      }
      if (std::trunc(d) != d) {
        return Status::InvalidArgument("field '" + PathText(path) +
                                       "' is a number with a fractional part, expected an integer");
      }
      return static_cast<int64_t>(d);
    }
    default:
      return WrongType(path, value.type(), "an integer");
  }
}

Result<std::string> JsonRecordDecoder::String(const FieldPath& path) {
  dom::element value;
  EDDY_RETURN_IF_ERROR(impl_->Find(path, value));
  std::string_view text;
  if (value.get(text) != simdjson::SUCCESS) return WrongType(path, value.type(), "a string");
  return std::string(text);
}

bool JsonRecordDecoder::Has(const FieldPath& path) {
  dom::element value;
  return impl_->Find(path, value).ok();
}

Result<FieldValue> JsonRecordDecoder::Field(const FieldPath& path) const {
  EDDY_RETURN_IF_ERROR(impl_->CheckRecord());
  if (path.empty()) return Status::InvalidArgument("field path is empty");
  FieldValue out;
  dom::element value;
  if (!impl_->Lookup(path, value)) return out;  // kMissing
  switch (value.type()) {
    case dom::element_type::NULL_VALUE:
      out.kind = FieldValue::Kind::kNull;
      break;
    case dom::element_type::BOOL:
      out.kind = FieldValue::Kind::kBool;
      out.boolean = value.get_bool().value_unsafe();
      break;
    case dom::element_type::INT64:
      out.kind = FieldValue::Kind::kInt64;
      out.int64 = value.get_int64().value_unsafe();
      break;
    case dom::element_type::UINT64:
      out.kind = FieldValue::Kind::kUint64;
      out.uint64 = value.get_uint64().value_unsafe();
      break;
    case dom::element_type::DOUBLE:
      out.kind = FieldValue::Kind::kDouble;
      out.number = value.get_double().value_unsafe();
      break;
    case dom::element_type::STRING:
      out.kind = FieldValue::Kind::kString;
      out.string = value.get_string().value_unsafe();
      break;
    case dom::element_type::OBJECT:
      out.kind = FieldValue::Kind::kObject;
      break;
    case dom::element_type::ARRAY:
      out.kind = FieldValue::Kind::kArray;
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// RFC 3339

namespace {

constexpr int64_t kMillisPerSecond = 1000;
constexpr int64_t kMillisPerMinute = 60 * kMillisPerSecond;
constexpr int64_t kMillisPerHour = 60 * kMillisPerMinute;
constexpr int64_t kMillisPerDay = 24 * kMillisPerHour;

// Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31). Hinnant's algorithm.
constexpr int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int64_t month;  // 1-12
  int64_t day;    // 1-31
};

// Inverse of DaysFromCivil.
constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromDays(11017).year == 2000 && CivilFromDays(11017).month == 3);

constexpr bool IsLeapYear(int64_t y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr int64_t DaysInMonth(int64_t y, int64_t m) {
  constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Reads an RFC 3339 timestamp left to right; the first problem becomes the error.
class TimestampReader {
 public:
  explicit TimestampReader(std::string_view text) : text_(text) {}

  Result<int64_t> Read() {
    int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
    if (!Digits(4, year) || !Char('-') || !Digits(2, month) || !Char('-') || !Digits(2, day)) {
      return error_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'T' || text_[pos_] == 't' || text_[pos_] == ' ')) {
      ++pos_;
    } else {
      return Fail("expected 'T' or ' ' between date and time");
    }
    if (!Digits(2, hour) || !Char(':') || !Digits(2, minute) || !Char(':') || !Digits(2, second)) {
      return error_;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      const size_t first = pos_;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) {
        if (pos_ - first < 3) millis = millis * 10 + (text_[pos_] - '0');
        ++pos_;
      }
      if (pos_ == first) return Fail("expected a digit after '.'");
      for (size_t n = pos_ - first; n < 3; ++n) millis *= 10;  // ".1" is 100 ms
    }
    int64_t offset_minutes = 0;
    if (pos_ >= text_.size()) return Fail("expected a time zone ('Z' or +HH:MM / -HH:MM)");
    const char zone = text_[pos_];
    if (zone == 'Z' || zone == 'z') {
      ++pos_;
    } else if (zone == '+' || zone == '-') {
      ++pos_;
      const size_t offset_start = pos_;
      int64_t offset_hour = 0, offset_minute = 0;
      if (!Digits(2, offset_hour) || !Char(':') || !Digits(2, offset_minute)) return error_;
      if (offset_hour > 23 || offset_minute > 59) {
        pos_ = offset_start;
        return Fail("time zone offset out of range");
      }
      offset_minutes = (offset_hour * 60 + offset_minute) * (zone == '-' ? -1 : 1);
    } else {
      return Fail("expected a time zone ('Z' or +HH:MM / -HH:MM)");
    }
    if (pos_ != text_.size()) return Fail("unexpected trailing characters");

    // Ranges, reported at the offset of the offending field.
    if (month < 1 || month > 12) return FailAt(5, "month out of range 01-12");
    if (day < 1 || day > DaysInMonth(year, month)) {
      return FailAt(8, "day out of range for " + Decimal(year) + "-" + Pad2(month));
    }
    if (hour > 23) return FailAt(11, "hour out of range 00-23");
    if (minute > 59) return FailAt(14, "minute out of range 00-59");
    if (second > 60) return FailAt(17, "second out of range 00-60");
    if (second == 60) {  // leap second: last millisecond of the minute, see top of file
      second = 59;
      millis = 999;
    }
    return DaysFromCivil(year, month, day) * kMillisPerDay + hour * kMillisPerHour +
           minute * kMillisPerMinute + second * kMillisPerSecond + millis -
           offset_minutes * kMillisPerMinute;
  }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  static std::string Pad2(int64_t v) {
    return std::string{static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10)};
  }

  bool Digits(size_t count, int64_t& out) {
    out = 0;
    for (size_t i = 0; i < count; ++i) {
      if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
        SetError("expected a digit");
        return false;
      }
      out = out * 10 + (text_[pos_] - '0');
      ++pos_;
    }
    return true;
  }

  bool Char(char expected) {
    if (pos_ >= text_.size() || text_[pos_] != expected) {
      SetError(std::string("expected '") + expected + "'");
      return false;
    }
    ++pos_;
    return true;
  }

  Status FailAt(size_t pos, const std::string& what) {
    pos_ = pos;
    return Fail(what);
  }

  Status Fail(const std::string& what) {
    SetError(what);
    return error_;
  }

  void SetError(const std::string& what) {
    // Quote at most 64 bytes of the input: record values can be arbitrarily long.
    constexpr size_t kMaxQuoted = 64;
    std::string quoted(text_.substr(0, kMaxQuoted));
    if (text_.size() > kMaxQuoted) quoted += "...";
    error_ = Status::InvalidArgument("invalid RFC 3339 timestamp '" + quoted + "': " + what +
                                     " at offset " + Decimal(pos_));
  }

  std::string_view text_;
  size_t pos_ = 0;
  Status error_;
};

// Appends `value` (>= 0) as exactly `width` digits.
void AppendDigits(std::string& out, int64_t value, int width) {
  char buf[4];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

}  // namespace

Result<int64_t> ParseRfc3339Millis(std::string_view text) {
  return TimestampReader(text).Read();
}

std::string FormatRfc3339Millis(int64_t epoch_millis) {
  // Floor division: -1 ms is 1969-12-31T23:59:59.999Z.
  int64_t days = epoch_millis / kMillisPerDay;
  int64_t ms_of_day = epoch_millis % kMillisPerDay;
  if (ms_of_day < 0) {
    ms_of_day += kMillisPerDay;
    --days;
  }
  const CivilDate date = CivilFromDays(days);
  std::string out;
  out.reserve(32);
  if (date.year >= 0 && date.year <= 9999) {
    AppendDigits(out, date.year, 4);
  } else {
    // Outside RFC 3339's range: ISO 8601 expanded-year form ("+10000", "-0001"), which
    // ParseRfc3339Millis rejects. Visible rather than silently clamped.
    out += date.year < 0 ? '-' : '+';
    const std::string digits = Decimal(date.year < 0 ? -date.year : date.year);
    if (digits.size() < 4) out.append(4 - digits.size(), '0');
    out += digits;
  }
  out += '-';
  AppendDigits(out, date.month, 2);
  out += '-';
  AppendDigits(out, date.day, 2);
  out += 'T';
  AppendDigits(out, ms_of_day / kMillisPerHour, 2);
  out += ':';
  AppendDigits(out, ms_of_day / kMillisPerMinute % 60, 2);
  out += ':';
  AppendDigits(out, ms_of_day / kMillisPerSecond % 60, 2);
  out += '.';
  AppendDigits(out, ms_of_day % kMillisPerSecond, 3);
  out += 'Z';
  return out;
}

}  // namespace eddy::codec

// ---------------------------------------------------------------------------------------------
// Raw JSON of a field

namespace eddy::codec {

Result<std::string> JsonRecordDecoder::RawJson(const FieldPath& path) {
  dom::element value;
  EDDY_RETURN_IF_ERROR(impl_->Find(path, value));
  return simdjson::minify(value);
}

}  // namespace eddy::codec
