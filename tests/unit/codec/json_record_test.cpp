// JsonRecordDecoder and ParseFieldPath: field access on parsed record values.
#include "codec/json_record.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

namespace eddy::codec {
namespace {

FieldPath P(std::string_view text) {
  Result<FieldPath> path = ParseFieldPath(text);
  REQUIRE(path.ok());
  return *path;
}

TEST_CASE("ParseFieldPath splits on dots", "[codec][path]") {
  CHECK(P("a") == FieldPath{"a"});
  CHECK(P("user.id") == FieldPath{"user", "id"});
  CHECK(P("a.b.c") == FieldPath{"a", "b", "c"});
  CHECK(P("with space.x-y") == FieldPath{"with space", "x-y"});
}

TEST_CASE("ParseFieldPath rejects empty paths and segments with their offset", "[codec][path]") {
  Result<FieldPath> empty = ParseFieldPath("");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kInvalidArgument);
  CHECK(empty.status().message() == "field path is empty");

  Result<FieldPath> middle = ParseFieldPath("a..b");
  REQUIRE_FALSE(middle.ok());
  CHECK(middle.status().message() == "field path 'a..b' has an empty segment at offset 2");

  Result<FieldPath> leading = ParseFieldPath(".a");
  REQUIRE_FALSE(leading.ok());
  CHECK(leading.status().message() == "field path '.a' has an empty segment at offset 0");

  Result<FieldPath> trailing = ParseFieldPath("a.");
  REQUIRE_FALSE(trailing.ok());
  CHECK(trailing.status().message() == "field path 'a.' has an empty segment at offset 2");

  CHECK_FALSE(ParseFieldPath(".").ok());
}

TEST_CASE("Decoder reads nested fields", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"user":{"id":"u-1","profile":{"age":42}},"amount":12.5})").ok());
  CHECK(*decoder.String(P("user.id")) == "u-1");
  CHECK(*decoder.Integer(P("user.profile.age")) == 42);
  CHECK(*decoder.Number(P("amount")) == 12.5);
  CHECK(decoder.Has(P("user")));
  CHECK(decoder.Has(P("user.profile.age")));
  CHECK_FALSE(decoder.Has(P("user.profile.height")));
}

TEST_CASE("Missing fields are NotFound and name the path", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"user":{"name":"x"},"n":1})").ok());

  Result<std::string> missing = decoder.KeyString(P("user.id"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message() == "field 'user.id' not found");

  Result<int64_t> top = decoder.Integer(P("count"));
  REQUIRE_FALSE(top.ok());
  CHECK(top.status().code() == StatusCode::kNotFound);
  CHECK(top.status().message() == "field 'count' not found");

  // Walking through a non-object is "not found", with the reason.
  Result<double> through = decoder.Number(P("n.x"));
  REQUIRE_FALSE(through.ok());
  CHECK(through.status().code() == StatusCode::kNotFound);
  CHECK(through.status().message() == "field 'n.x' not found: 'n' is an integer, not an object");
  CHECK_FALSE(decoder.Has(P("n.x")));
  CHECK_FALSE(decoder.Has(P("user.name.first")));
}

TEST_CASE("Wrong types are InvalidArgument and name path and types", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(
      decoder.Parse(R"({"duration_ms":"12","s":5,"obj":{},"arr":[1],"nil":null,"f":1.5,"b":true})")
          .ok());

  Result<double> number = decoder.Number(P("duration_ms"));
  REQUIRE_FALSE(number.ok());
  CHECK(number.status().code() == StatusCode::kInvalidArgument);
  CHECK(number.status().message() == "field 'duration_ms' is a string, expected a number");

  Result<std::string> string = decoder.String(P("s"));
  REQUIRE_FALSE(string.ok());
  CHECK(string.status().message() == "field 's' is an integer, expected a string");

  CHECK(decoder.String(P("obj")).status().message() ==
        "field 'obj' is an object, expected a string");
  CHECK(decoder.Number(P("arr")).status().message() ==
        "field 'arr' is an array, expected a number");
  CHECK(decoder.Integer(P("nil")).status().message() == "field 'nil' is null, expected an integer");
  CHECK(decoder.Number(P("b")).status().message() == "field 'b' is a boolean, expected a number");

  for (const char* field : {"obj", "arr", "nil", "f"}) {
    Result<std::string> key = decoder.KeyString(P(field));
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(decoder.KeyString(P("f")).status().message() ==
        "field 'f' is a floating-point number, expected a string, an integer or a boolean");

  // null exists.
  CHECK(decoder.Has(P("nil")));
}

TEST_CASE("KeyString renders strings, integers and booleans", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder
              .Parse(R"({"s":"abc","i":-17,"z":0,"big":18446744073709551615,)"
                     R"("min":-9223372036854775808,"t":true,"f":false,"e":""})")
              .ok());
  CHECK(*decoder.KeyString(P("s")) == "abc");
  CHECK(*decoder.KeyString(P("i")) == "-17");
  CHECK(*decoder.KeyString(P("z")) == "0");
  CHECK(*decoder.KeyString(P("big")) == "18446744073709551615");
  CHECK(*decoder.KeyString(P("min")) == "-9223372036854775808");
  CHECK(*decoder.KeyString(P("t")) == "true");
  CHECK(*decoder.KeyString(P("f")) == "false");
  CHECK(decoder.KeyString(P("e"))->empty());
}

TEST_CASE("Integer accepts integers and integral doubles only", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder
              .Parse(R"({"neg":-42,"max":9223372036854775807,"min":-9223372036854775808,)"
                     R"("u":18446744073709551615,"d":3.0,"e":1e3,"nd":-2.0,"frac":2.5,)"
                     R"("huge":1e19,"nhuge":-1e19,"two63":9223372036854775808.0,"negz":-0.0})")
              .ok());
  CHECK(*decoder.Integer(P("neg")) == -42);
  CHECK(*decoder.Integer(P("max")) == INT64_MAX);
  CHECK(*decoder.Integer(P("min")) == INT64_MIN);
  CHECK(*decoder.Integer(P("d")) == 3);
  CHECK(*decoder.Integer(P("e")) == 1000);
  CHECK(*decoder.Integer(P("nd")) == -2);
  CHECK(*decoder.Integer(P("negz")) == 0);

  Result<int64_t> u = decoder.Integer(P("u"));
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().code() == StatusCode::kInvalidArgument);
  CHECK(u.status().message() == "field 'u' is 18446744073709551615, out of the int64 range");

  Result<int64_t> frac = decoder.Integer(P("frac"));
  REQUIRE_FALSE(frac.ok());
  CHECK(frac.status().message() ==
        "field 'frac' is a number with a fractional part, expected an integer");

  for (const char* field : {"huge", "nhuge", "two63"}) {
    Result<int64_t> out = decoder.Integer(P(field));
    REQUIRE_FALSE(out.ok());
    CHECK(out.status().message() ==
          "field '" + std::string(field) + "' is a number out of the int64 range");
  }
}

TEST_CASE("Number accepts integers and doubles", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"i":-3,"u":18446744073709551615,"d":-0.25,"e":2.5e-3})").ok());
  CHECK(*decoder.Number(P("i")) == -3.0);
  CHECK(*decoder.Number(P("u")) == 18446744073709551615.0);
  CHECK(*decoder.Number(P("d")) == -0.25);
  CHECK(*decoder.Number(P("e")) == Approx(0.0025));
}

TEST_CASE("Strings are unescaped, unicode included", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder
              .Parse(R"({"esc":"a\"b\\c\/d\n\t","u":"caf\u00e9 \ud83d\ude00","raw":"Zürich 東京",)"
                     R"("k\u00e9y":1})")
              .ok());
  CHECK(*decoder.String(P("esc")) == "a\"b\\c/d\n\t");
  CHECK(*decoder.String(P("u")) == "caf\xC3\xA9 \xF0\x9F\x98\x80");
  CHECK(*decoder.KeyString(P("raw")) == "Zürich 東京");
  // Keys are matched after unescaping.
  CHECK(*decoder.Integer(FieldPath{"k\xC3\xA9y"}) == 1);
}

TEST_CASE("Invalid JSON is an error and leaves no document", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"a":1})").ok());
  for (std::string_view bad :
       {std::string_view(""), std::string_view("{"), std::string_view(R"({"a":})"),
        std::string_view(R"({"a":1,})"), std::string_view("nul"), std::string_view("\"abc"),
        std::string_view(R"({"a":"\x"})"), std::string_view("{\"a\":\"\xFF\"}"),
        std::string_view("{\"a\":1} trailing"), std::string_view("\0\0\0", 3),
        std::string_view("[[[[[[[[[[")}) {
    INFO("input: " << bad);
    Status status = decoder.Parse(bad);
    CHECK_FALSE(status.ok());
    CHECK(status.code() == StatusCode::kInvalidArgument);
    // The previous document is gone: accessors report that nothing is parsed.
    Result<int64_t> a = decoder.Integer(P("a"));
    REQUIRE_FALSE(a.ok());
    CHECK(a.status().code() == StatusCode::kInvalidArgument);
    CHECK(a.status().message() == "no record value parsed (the last Parse failed)");
    CHECK_FALSE(decoder.Has(P("a")));
  }
  CHECK(decoder.Parse(R"({"a":2})").ok());
  CHECK(*decoder.Integer(P("a")) == 2);
}

TEST_CASE("Accessors before any Parse are errors", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  CHECK_FALSE(decoder.String(P("a")).ok());
  CHECK_FALSE(decoder.Has(P("a")));
}

TEST_CASE("A non-object top level parses but has no fields", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  for (std::string_view doc : {"[1,2]", "42", "\"str\"", "null", "true", "1.5"}) {
    INFO("document: " << doc);
    REQUIRE(decoder.Parse(doc).ok());
    Result<std::string> key = decoder.KeyString(P("a"));
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == StatusCode::kInvalidArgument);
    CHECK(key.status().message() == "record value is not a JSON object");
    CHECK_FALSE(decoder.Has(P("a")));
  }
}

TEST_CASE("An empty FieldPath is an error", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(R"({"a":1})").ok());
  CHECK(decoder.Integer(FieldPath{}).status().code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(decoder.Has(FieldPath{}));
}

TEST_CASE("Decoder is reused across many records of varying size", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  // Grow and shrink: a large record, then small ones, then larger again. Every lookup must
  // see only the current record, never bytes or fields left from a previous one.
  for (int round = 0; round < 2000; ++round) {
    const int size = (round * 7919) % 300;
    std::string doc = R"({"round":)" + std::to_string(round) + R"(,"pad":")" +
                      std::string(static_cast<size_t>(size) * (round % 5 == 0 ? 40 : 1), 'x') +
                      "\"";
    if (round % 2 == 0) doc += R"(,"even":{"id":"e)" + std::to_string(round) + "\"}";
    doc += "}";
    REQUIRE(decoder.Parse(doc).ok());
    REQUIRE(*decoder.Integer(P("round")) == round);
    REQUIRE(decoder.String(P("pad"))->size() ==
            static_cast<size_t>(size) * (round % 5 == 0 ? 40 : 1));
    if (round % 2 == 0) {
      REQUIRE(*decoder.KeyString(P("even.id")) == "e" + std::to_string(round));
    } else {
      REQUIRE_FALSE(decoder.Has(P("even")));
    }
    // A shorter record must not see the tail of a longer previous one.
    REQUIRE(decoder.Parse(R"({"k":"v"})").ok());
    REQUIRE_FALSE(decoder.Has(P("round")));
    REQUIRE(*decoder.String(P("k")) == "v");
  }
}

TEST_CASE("Parse copies its input", "[codec][decoder]") {
  JsonRecordDecoder decoder;
  std::string doc = R"({"a":"hello"})";
  REQUIRE(decoder.Parse(doc).ok());
  doc.assign(doc.size(), ' ');
  CHECK(*decoder.String(P("a")) == "hello");
}

}  // namespace
}  // namespace eddy::codec
