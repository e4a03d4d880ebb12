// JsonRecordDecoder::RawJson: a field's value as minified, normalised JSON text.
#include <catch2/catch.hpp>
#include <string>

#include "codec/json_record.h"

namespace eddy::codec {
namespace {

FieldPath P(std::string_view text) {
  Result<FieldPath> path = ParseFieldPath(text);
  REQUIRE(path.ok());
  return *path;
}

std::string Raw(JsonRecordDecoder& decoder, std::string_view path) {
  Result<std::string> raw = decoder.RawJson(P(path));
  REQUIRE(raw.ok());
  return *raw;
}

TEST_CASE("RawJson returns any value as minified JSON", "[codec][raw_json]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder
              .Parse(R"({ "s" : "a b", "i" : -17, "u": 18446744073709551615, "d": 1.5,
                          "t": true, "f": false, "n": null,
                          "o": { "k" : [ 1, 2, { "x" : "y" } ], "e": {} }, "a": [ ],
                          "nested": {"deep": {"v": "w"}} })")
              .ok());
  CHECK(Raw(decoder, "s") == R"("a b")");
  CHECK(Raw(decoder, "i") == "-17");
  CHECK(Raw(decoder, "u") == "18446744073709551615");
  CHECK(Raw(decoder, "d") == "1.5");
  CHECK(Raw(decoder, "t") == "true");
  CHECK(Raw(decoder, "f") == "false");
  CHECK(Raw(decoder, "n") == "null");
  CHECK(Raw(decoder, "o") == R"({"k":[1,2,{"x":"y"}],"e":{}})");
  CHECK(Raw(decoder, "a") == "[]");
  CHECK(Raw(decoder, "nested.deep") == R"({"v":"w"})");
  CHECK(Raw(decoder, "nested.deep.v") == R"("w")");
}

TEST_CASE("RawJson normalises string escapes, so equal strings give equal text",
          "[codec][raw_json]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder
              .Parse(R"({"plain": "é/A", "escaped": "\u00e9\/\u0041",)"
                     R"( "controls": "q\"b\\n\n\t\u0001"})")
              .ok());
  CHECK(Raw(decoder, "plain") == Raw(decoder, "escaped"));
  CHECK(Raw(decoder, "plain") == "\"\xC3\xA9/A\"");
  // Quotes, backslashes and control characters stay escaped: the text is valid JSON.
  CHECK(Raw(decoder, "controls") == R"("q\"b\\n\n\t\u0001")");
}

TEST_CASE("RawJson respells numbers as simdjson prints them", "[codec][raw_json]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"a": 1.50, "b": 1E2, "c": 0, "d": -0.0, "e": 1e-7})").ok());
  CHECK(Raw(decoder, "a") == "1.5");
  CHECK(Raw(decoder, "b") == "100.0");
  CHECK(Raw(decoder, "c") == "0");
  CHECK(Raw(decoder, "d") == "-0.0");
  CHECK(Raw(decoder, "e") == "1e-07");
}

TEST_CASE("RawJson errors are those of the other accessors", "[codec][raw_json]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"a": {"b": 1}, "s": "x"})").ok());
  Result<std::string> missing = decoder.RawJson(P("a.c"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message() == "field 'a.c' not found");
  Result<std::string> through = decoder.RawJson(P("s.x"));
  REQUIRE_FALSE(through.ok());
  CHECK(through.status().code() == StatusCode::kNotFound);

  REQUIRE(decoder.Parse("[1, 2]").ok());
  CHECK(decoder.RawJson(P("a")).status().code() == StatusCode::kInvalidArgument);
  REQUIRE_FALSE(decoder.Parse("{").ok());
  CHECK(decoder.RawJson(P("a")).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace eddy::codec
