// Reading fields out of JSON record values, and parsing event times.
//
// Thread-safety: a JsonRecordDecoder owns a simdjson parser and is used by one thread (the
// processing thread that owns it). The free functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eddy::codec {

// A field path such as {"user", "id"} addresses value["user"]["id"].
using FieldPath = std::vector<std::string>;

// Parses "user.id" into {"user","id"}. Segments must be non-empty (an empty path or segment is
// InvalidArgument naming its byte offset). Keys containing '.' cannot be addressed.
Result<FieldPath> ParseFieldPath(std::string_view text);

// One field of a parsed record, as Field() finds it. `string` points into the decoder's buffer
// and is valid until the next Parse() on the same decoder. Objects and arrays are only
// markers: their contents are not exposed.
struct FieldValue {
  enum class Kind { kMissing, kNull, kBool, kInt64, kUint64, kDouble, kString, kObject, kArray };
  Kind kind = Kind::kMissing;
  bool boolean = false;     // kBool
  int64_t int64 = 0;        // kInt64
  uint64_t uint64 = 0;      // kUint64: only integers above INT64_MAX (simdjson's rule)
  double number = 0;        // kDouble
  std::string_view string;  // kString
};

// A parsed JSON document. Valid until the next Parse() on the same decoder.
class JsonRecordDecoder {
 public:
  JsonRecordDecoder();
  ~JsonRecordDecoder();
  JsonRecordDecoder(const JsonRecordDecoder&) = delete;
  JsonRecordDecoder& operator=(const JsonRecordDecoder&) = delete;

  // Parses one record value (copied into the decoder's reused buffer). Must succeed before the
  // accessors below are used; after a failed Parse they return InvalidArgument.
  Status Parse(std::string_view json);

  // Accessors: the record must be a JSON object ("record value is not a JSON object" otherwise,
  // InvalidArgument). A missing field, or a path through a non-object, is NotFound; a field of
  // the wrong type is InvalidArgument. Messages name the path: "field 'user.id' not found".

  // The field as a key string: strings as-is (no quotes), integers in decimal, booleans as
  // true/false; other types (floats, objects, arrays, null) and missing fields are errors.
  Result<std::string> KeyString(const FieldPath& path);
  // The field as a number (integer or floating point JSON number). Missing → NotFound,
  // wrong type → InvalidArgument.
  Result<double> Number(const FieldPath& path);
  // The field as an int64 (JSON integer, or a float with no fractional part).
  Result<int64_t> Integer(const FieldPath& path);
  // The field as a string.
  Result<std::string> String(const FieldPath& path);
  // True if the field exists (any type, including null).
  bool Has(const FieldPath& path);

  // The field as whatever JSON type it has, for generic readers (the expression evaluator).
  // Unlike the accessors above, a missing field (or a path through a non-object) is not an
  // error but Kind::kMissing, and nothing is allocated on any successful path: it is meant
  // for per-record hot paths. Errors (InvalidArgument, as above): no parsed record, the
  // record is not a JSON object, or the path is empty.
  Result<FieldValue> Field(const FieldPath& path) const;

  // The field's value as minified JSON text (any type: "\"a\"", "1.5", "true", "null",
  // "{\"k\":[1,2]}"), re-serialized by simdjson: insignificant whitespace is dropped, string
  // escapes are normalised (so equal values give equal text) and numbers may be respelled
  // ("1.50" becomes "1.5", "1E2" becomes "100.0"). Missing → NotFound, like the accessors above.
  Result<std::string> RawJson(const FieldPath& path);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses an RFC 3339 timestamp ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123+02:00",
// lower-case 't'/'z' and a space separator are accepted) to epoch milliseconds (UTC).
// Fractional seconds beyond milliseconds are truncated. Years 0000-9999; every field is range
// checked (leap years included) and nothing may follow the zone. A leap second (SS = 60) is
// read as HH:MM:59.999 of the same minute. Errors are InvalidArgument with the byte offset.
Result<int64_t> ParseRfc3339Millis(std::string_view text);

// Formats epoch milliseconds as RFC 3339 UTC with millisecond precision:
// "2024-05-01T12:00:00.000Z". Instants outside years 0000-9999 use ISO 8601 expanded years
// ("+10000-01-01T00:00:00.000Z", "-0001-...") which ParseRfc3339Millis rejects.
std::string FormatRfc3339Millis(int64_t epoch_millis);

}  // namespace eddy::codec
