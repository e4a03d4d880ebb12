// JsonWriter: builds compact JSON text for HTTP responses and sink values.
//
// The caller is responsible for well-formed nesting (Begin/End pairs, Key before each
// value inside an object); commas are inserted automatically. Doubles that are integral
// print without a fraction ("3", not "3.0"); NaN and infinities print as null (JSON has no
// spelling for them).
//
// Thread-safety: one writer per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eddy {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-serialized JSON as a value.
  JsonWriter& Raw(std::string_view json);
  // Inside an object: inserts already-serialized members ("\"a\":1,\"b\":2"), non-empty.
  JsonWriter& RawMembers(std::string_view members);

  const std::string& str() const { return out_; }
  std::string Take() && { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  // One entry per open container: true once it has at least one element.
  std::vector<bool> has_elements_;
  bool after_key_ = false;
};

// Appends `text` to `out` escaped for the inside of a JSON string.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace eddy
