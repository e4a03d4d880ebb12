// JsonRecordDecoder::Field: generic, allocation-free field access for the expression evaluator.
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <string>

#include "codec/json_record.h"

namespace eddy::codec {
namespace {

using Kind = FieldValue::Kind;

FieldValue Get(JsonRecordDecoder& decoder, const FieldPath& path) {
  Result<FieldValue> value = decoder.Field(path);
  REQUIRE(value.ok());
  return *value;
}

TEST_CASE("Field reports every JSON type", "[codec][field]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder
              .Parse(R"({"n":null,"t":true,"f":false,"i":-42,"u":18446744073709551615,)"
                     R"("d":2.5,"s":"h\u00e9llo","o":{"x":1},"a":[1,2],"big":9223372036854775807})")
              .ok());
  CHECK(Get(decoder, {"n"}).kind == Kind::kNull);
  CHECK(Get(decoder, {"t"}).kind == Kind::kBool);
  CHECK(Get(decoder, {"t"}).boolean);
  CHECK_FALSE(Get(decoder, {"f"}).boolean);
  CHECK(Get(decoder, {"i"}).kind == Kind::kInt64);
  CHECK(Get(decoder, {"i"}).int64 == -42);
  CHECK(Get(decoder, {"big"}).kind == Kind::kInt64);
  CHECK(Get(decoder, {"big"}).int64 == std::numeric_limits<int64_t>::max());
  CHECK(Get(decoder, {"u"}).kind == Kind::kUint64);
  CHECK(Get(decoder, {"u"}).uint64 == std::numeric_limits<uint64_t>::max());
  CHECK(Get(decoder, {"d"}).kind == Kind::kDouble);
  CHECK(Get(decoder, {"d"}).number == 2.5);
  CHECK(Get(decoder, {"s"}).kind == Kind::kString);
  CHECK(Get(decoder, {"s"}).string == "h\xc3\xa9llo");
  CHECK(Get(decoder, {"o"}).kind == Kind::kObject);
  CHECK(Get(decoder, {"a"}).kind == Kind::kArray);
  CHECK(Get(decoder, {"o", "x"}).int64 == 1);
}

TEST_CASE("Field: missing fields and paths through non-objects are kMissing, not errors",
          "[codec][field]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"user":{"name":"x"},"n":1,"a":[{"x":1}]})").ok());
  CHECK(Get(decoder, {"nope"}).kind == Kind::kMissing);
  CHECK(Get(decoder, {"user", "id"}).kind == Kind::kMissing);
  CHECK(Get(decoder, {"n", "x"}).kind == Kind::kMissing);
  CHECK(Get(decoder, {"user", "name", "x"}).kind == Kind::kMissing);
  CHECK(Get(decoder, {"a", "0"}).kind == Kind::kMissing);  // arrays are not indexed
}

TEST_CASE("Field: errors for unusable records and empty paths", "[codec][field]") {
  JsonRecordDecoder decoder;
  Result<FieldValue> nothing = decoder.Field({"a"});
  REQUIRE_FALSE(nothing.ok());
  CHECK(nothing.status().message() == "no record value parsed (the last Parse failed)");

  REQUIRE(decoder.Parse("[1,2]").ok());
  Result<FieldValue> array = decoder.Field({"a"});
  REQUIRE_FALSE(array.ok());
  CHECK(array.status().code() == StatusCode::kInvalidArgument);
  CHECK(array.status().message() == "record value is not a JSON object");

  REQUIRE_FALSE(decoder.Parse("{").ok());
  CHECK_FALSE(decoder.Field({"a"}).ok());

  REQUIRE(decoder.Parse(R"({"a":1})").ok());
  Result<FieldValue> empty = decoder.Field({});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message() == "field path is empty");
}

TEST_CASE("Field: string views stay valid until the next Parse", "[codec][field]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"s":"first","t":"second"})").ok());
  const FieldValue s = Get(decoder, {"s"});
  const FieldValue t = Get(decoder, {"t"});
  CHECK(s.string == "first");
  CHECK(t.string == "second");
}

}  // namespace
}  // namespace eddy::codec
