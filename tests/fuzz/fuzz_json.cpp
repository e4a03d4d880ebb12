// Fuzz target: JSON record values (codec::JsonRecordDecoder) and RFC 3339 timestamps.
//
// Input: a field path up to the first newline ("user.id"), then the JSON record value. Every
// accessor is called on the fuzzed path and on a few fixed ones, and the answers must agree
// with each other (Has iff Field finds something; String/Integer/Number/KeyString succeed
// for the kinds Field reports). Every string field found is also parsed as an RFC 3339
// timestamp, as is the whole input; a parsed instant must format and parse back to itself.
// The first 8 bytes, as an int64, are formatted as a timestamp (any instant must format).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_record.h"

using eddy::codec::FieldPath;
using eddy::codec::FieldValue;
using eddy::codec::JsonRecordDecoder;

namespace {

void CheckTimestamp(std::string_view text) {
  const eddy::Result<int64_t> millis = eddy::codec::ParseRfc3339Millis(text);
  if (!millis.ok()) return;
  const std::string formatted = eddy::codec::FormatRfc3339Millis(*millis);
  // Offsets can move an instant just outside years 0000-9999, whose expanded-year form
  // ("-0001-...", "+10000-...") the parser rejects by design.
  if (formatted[0] == '-' || formatted[0] == '+') return;
  const eddy::Result<int64_t> again = eddy::codec::ParseRfc3339Millis(formatted);
  if (!again.ok() || *again != *millis) std::abort();
}

void CheckField(JsonRecordDecoder& decoder, const FieldPath& path) {
  const eddy::Result<FieldValue> field = decoder.Field(path);
  const bool has = decoder.Has(path);
  const eddy::Result<std::string> key = decoder.KeyString(path);
  const eddy::Result<double> number = decoder.Number(path);
  const eddy::Result<int64_t> integer = decoder.Integer(path);
  const eddy::Result<std::string> string = decoder.String(path);
  const eddy::Result<std::string> raw = decoder.RawJson(path);
  if (!field.ok()) {
    if (has || key.ok() || number.ok() || integer.ok() || string.ok() || raw.ok()) std::abort();
    return;
  }
  using Kind = FieldValue::Kind;
  const Kind kind = field->kind;
  if (has != (kind != Kind::kMissing) || raw.ok() != has) std::abort();
  const bool numeric = kind == Kind::kInt64 || kind == Kind::kUint64 || kind == Kind::kDouble;
  if (number.ok() != numeric) std::abort();
  if (string.ok() != (kind == Kind::kString)) std::abort();
  if (key.ok() != (kind == Kind::kString || kind == Kind::kInt64 || kind == Kind::kUint64 ||
                   kind == Kind::kBool)) {
    std::abort();
  }
  if (kind == Kind::kInt64 && (!integer.ok() || *integer != field->int64)) std::abort();
  if (kind == Kind::kString) {
    if (*string != field->string || *key != field->string) std::abort();
    CheckTimestamp(field->string);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckTimestamp(input);
  if (size >= sizeof(int64_t)) {
    int64_t instant = 0;
    std::memcpy(&instant, data, sizeof instant);
    const std::string formatted = eddy::codec::FormatRfc3339Millis(instant);
    if (formatted.empty() || formatted.back() != 'Z') std::abort();
  }

  const size_t newline = input.find('\n');
  const std::string_view path_text = input.substr(0, newline);
  const std::string_view record =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  JsonRecordDecoder decoder;
  (void)decoder.Parse(record);
  std::vector<FieldPath> paths = {{"id"}, {"ts"}, {"user", "id"}, {"a", "b", "c"}};
  if (eddy::Result<FieldPath> path = eddy::codec::ParseFieldPath(path_text); path.ok()) {
    paths.push_back(std::move(*path));
  }
  for (const FieldPath& path : paths) CheckField(decoder, path);
  return 0;
}
