// Expression evaluation: table-driven (expression, record, expected value).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "unit/expr/test_util.h"

namespace eddy::expr {
namespace {

constexpr std::string_view kRecord = R"({
  "user": {"id": "u-1", "name": "Ann", "age": 42, "email": "Ann@Example.COM", "vip": true,
           "tags": ["a"]},
  "amount": 12.5, "qty": 3, "zero": 0, "neg": -7, "flag": false, "nul": null,
  "big": 9007199254740993, "big2": 9007199254740992,
  "imax": 9223372036854775807, "imin": -9223372036854775808, "huge": 18446744073709551615,
  "s": "hello", "empty": "", "uni": "h\u00e9llo w\u00f6rld \u2713 \ud83d\ude00",
  "num_str": "42", "dbl_str": "2.5",
  "payload": {"after": {"amount": 100}}, "weird-key": {"x": 1}, "in": 5, "a.b": 6
})";

struct Case {
  std::string_view expression;
  Value expected;
};

Value N() {
  return Value::Null();
}
Value B(bool b) {
  return Value::Bool(b);
}
Value I(int64_t i) {
  return Value::Int(i);
}
Value D(double d) {
  return Value::Double(d);
}
Value S(std::string s) {
  return Value::String(std::move(s));
}

void RunTable(const std::vector<Case>& cases, std::string_view record = kRecord) {
  for (const Case& c : cases) {
    INFO("expression: " << c.expression);
    CHECK(EvalOn(MustParse(c.expression), record) == c.expected);
  }
}

TEST_CASE("Precedence and associativity", "[expr][eval]") {
  RunTable({
      {"1 + 2 * 3", I(7)},
      {"(1 + 2) * 3", I(9)},
      {"10 - 4 - 3", I(3)},
      {"100 / 10 / 5", I(2)},
      {"2 * 3 % 4", I(2)},
      {"7 % 4 * 2", I(6)},
      {"-2 * 3", I(-6)},
      {"- qty * 2", I(-6)},
      {"2 * -3", I(-6)},
      {"-(1 + 2)", I(-3)},
      {"--3", I(3)},
      {"1 - -1", I(2)},
      {"1 + 2 == 3", B(true)},
      {"2 * 3 > 5 and 1 < 2", B(true)},
      {"true or false and false", B(true)},
      {"(true or false) and false", B(false)},
      {"not false and false", B(false)},
      {"not (false and false)", B(true)},
      {"not 1 == 2", B(true)},
      {"not not true", B(true)},
      {"false or not false", B(true)},
      {"qty > 1 and qty < 5", B(true)},
      {"qty in [1, 3] and not s in ['x']", B(true)},
      {"s is not null and qty + 1 == 4", B(true)},
      {" \t\n1\r\n+\t2 ", I(3)},
  });
}

TEST_CASE("Arithmetic on integers and doubles", "[expr][eval]") {
  RunTable({
      {"7 / 2", I(3)},
      {"-7 / 2", I(-3)},
      {"7 / 2.0", D(3.5)},
      {"7 % 3", I(1)},
      {"-7 % 3", I(-1)},
      {"7 % -3", I(1)},
      {"7.5 % 2", D(1.5)},
      {"qty * amount", D(37.5)},
      {"amount - qty", D(9.5)},
      {"0.1 + 0.2", D(0.1 + 0.2)},
      {"1.5e3", D(1500.0)},
      {"2E-1", D(0.2)},
      {"qty + 0.0", D(3.0)},
      {"-9223372036854775808", I(std::numeric_limits<int64_t>::min())},
      {"9223372036854775807", I(std::numeric_limits<int64_t>::max())},
      {"imax - 1 + 1", I(std::numeric_limits<int64_t>::max())},
      {"huge", D(18446744073709551615.0)},
      {"big - big2", I(1)},
      {"payload.after.amount * 2", I(200)},
  });
}

TEST_CASE("Division by zero, overflow and non-finite results are null", "[expr][eval]") {
  RunTable({
      {"1 / 0", N()},
      {"1.0 / 0", N()},
      {"1 / 0.0", N()},
      {"1 % 0", N()},
      {"1.5 % 0.0", N()},
      {"qty / zero", N()},
      {"(qty / zero) is null", B(true)},
      {"imax + 1", N()},
      {"imin - 1", N()},
      {"imax * 2", N()},
      {"imin / -1", N()},
      {"imin % -1", I(0)},
      {"-imin", N()},
      {"1e308 * 10", N()},
      {"huge * huge * huge * huge * huge * huge * huge * huge * huge * huge * huge * huge * "
       "huge * huge * huge * huge",
       N()},
  });
}

TEST_CASE("Null and missing fields", "[expr][eval]") {
  RunTable({
      {"missing", N()},
      {"nul", N()},
      {"missing + 1", N()},
      {"nul * 2", N()},
      {"-missing", N()},
      {"missing == 1", B(false)},
      {"missing != 1", B(false)},
      {"missing < 1", B(false)},
      {"missing >= 1", B(false)},
      {"nul == nul", B(false)},
      {"missing is null", B(true)},
      {"nul is null", B(true)},
      {"qty is null", B(false)},
      {"missing is not null", B(false)},
      {"flag is not null", B(true)},
      {"missing.deeper.still is null", B(true)},
      {"qty.x is null", B(true)},  // a path through a non-object is missing
      {"user is null", B(false)},  // objects and arrays are present, not null
      {"user.tags is not null", B(true)},
      {"user + 1", N()},  // ...but are not values otherwise
      {"user == user", B(false)},
      {"not missing", N()},
      {"not (missing == 1)", B(true)},
      {"missing and true", B(false)},
      {"true and missing", B(false)},
      {"missing or true", B(true)},
      {"missing or false", B(false)},
      {"not flag", B(true)},
      {"not user.vip", B(false)},
      {"not s", N()},  // not of a non-boolean
      {"s and true", B(false)},
      {"qty or false", B(false)},
  });
}

TEST_CASE("Comparisons: no conversions, exact integers, doubles otherwise", "[expr][eval]") {
  RunTable({
      {"qty == 3", B(true)},
      {"qty == 3.0", B(true)},
      {"amount > qty", B(true)},
      {"amount == 12.5", B(true)},
      {"num_str == 42", B(false)},
      {"num_str != 42", B(true)},
      {"s < 5", B(false)},
      {"s > 5", B(false)},
      {"flag == false", B(true)},
      {"flag != true", B(true)},
      {"flag == 0", B(false)},
      {"s + qty", N()},
      {"flag + 1", N()},
      {"flag < qty", B(false)},  // booleans are not ordered
      // 2^53 + 1 is not a double: integers compare exactly...
      {"big == 9007199254740993", B(true)},
      {"big == 9007199254740992", B(false)},
      {"big > big2", B(true)},
      {"big != big2", B(true)},
      {"imax > imax - 1", B(true)},
      {"imin < imin + 1", B(true)},
      // ...and an integer against a double compares as doubles.
      {"big2 == 9007199254740992.0", B(true)},
      {"big == 9007199254740992.0", B(true)},
      {"big > 9007199254740992.0", B(false)},
      {"huge > imax", B(true)},
      {"0.1 + 0.2 == 0.3", B(false)},
      {"-0.0 == 0", B(true)},
  });
}

TEST_CASE("Strings and string functions", "[expr][eval]") {
  RunTable({
      {"s + ' ' + user.name", S("hello Ann")},
      {"'a' + \"b\"", S("ab")},
      {"'' + ''", S("")},
      {"'a' < 'b'", B(true)},
      {"'B' < 'a'", B(true)},  // bytewise
      {"'abc' == \"abc\"", B(true)},
      {"'abc' < 'abcd'", B(true)},
      {"upper(s)", S("HELLO")},
      {"lower(user.email)", S("ann@example.com")},
      {"lower(uni)", S("h\u00e9llo w\u00f6rld \u2713 \U0001F600")},  // ASCII only
      {"upper('\u00e9a')", S("\u00e9A")},
      {"length(uni)", I(15)},  // code points, not bytes
      {"length(empty)", I(0)},
      {"length(qty)", N()},
      {"length(missing)", N()},
      {"lower(missing)", N()},
      {"upper(user)", N()},
      {"starts_with(s, 'he')", B(true)},
      {"starts_with(s, 'lo')", B(false)},
      {"ends_with(s, 'lo')", B(true)},
      {"ends_with(s, 'hello!')", B(false)},
      {"contains(s, 'ell')", B(true)},
      {"contains(s, '')", B(true)},
      {"contains(uni, '\U0001F600')", B(true)},
      {"contains(user.email, 'example')", B(false)},
      {"contains(lower(user.email), 'example')", B(true)},
      {"starts_with(missing, 'a')", B(false)},
      {"starts_with(s, missing)", B(false)},
      {"starts_with(qty, '3')", B(false)},
      {"uni == 'h\u00e9llo w\u00f6rld \u2713 \U0001F600'", B(true)},
      {"uni == 'h\\u00e9llo w\\u00F6rld \\u2713 \\ud83d\\ude00'", B(true)},
      {"'\u00e9' > 'z'", B(true)},  // UTF-8 byte order is code point order
      {R"('it\'s')", S("it's")},
      {R"("say \"hi\"")", S("say \"hi\"")},
      {R"('a\\b\/c')", S("a\\b/c")},
      {R"('\n\t\r\b\f')", S("\n\t\r\b\f")},
      {R"('"' + "'")", S("\"'")},
  });
}

TEST_CASE("string(), number() and coalesce()", "[expr][eval]") {
  RunTable({
      {"string(qty)", S("3")},
      {"string(neg)", S("-7")},
      {"string(amount)", S("12.5")},
      {"string(flag)", S("false")},
      {"string(user.vip)", S("true")},
      {"string(missing)", N()},
      {"string(user)", N()},
      {"string(s)", S("hello")},
      {"string(1e21)", S("1e+21")},
      {"string(2.0)", S("2")},
      {"string(imin)", S("-9223372036854775808")},
      {"string(qty) + 'x'", S("3x")},
      {"number(num_str)", I(42)},
      {"number(num_str) + 1", I(43)},
      {"number(dbl_str)", D(2.5)},
      {"number('-5')", I(-5)},
      {"number('1e3')", D(1000.0)},
      {"number('9223372036854775808')", D(9223372036854775808.0)},
      {"number('abc')", N()},
      {"number('')", N()},
      {"number(' 1')", N()},
      {"number('1 ')", N()},
      {"number('+1')", N()},
      {"number('0x10')", N()},
      {"number('inf')", N()},
      {"number('nan')", N()},
      {"number('1e999')", N()},
      {"number(qty)", I(3)},
      {"number(amount)", D(12.5)},
      {"number(missing)", N()},
      {"number(flag)", N()},
      {"coalesce(missing, nul, qty)", I(3)},
      {"coalesce(missing, 'x')", S("x")},
      {"coalesce(s, 'x')", S("hello")},
      {"coalesce(missing, nul)", N()},
      {"coalesce(user, 1)", I(1)},  // objects count as null
      {"coalesce(lower(missing), upper(s))", S("HELLO")},
      {"coalesce(qty / zero, -1)", I(-1)},
  });
}

TEST_CASE("in and not in lists", "[expr][eval]") {
  RunTable({
      {"qty in [1, 2, 3]", B(true)},
      {"qty in [1, 2]", B(false)},
      {"qty not in [1, 2]", B(true)},
      {"qty not in [3]", B(false)},
      {"missing in [1]", B(false)},
      {"missing not in [1]", B(false)},
      {"user not in [1]", B(false)},
      {"s in ['hello', 'x']", B(true)},
      {"s in [\"hello\"]", B(true)},
      {"qty in [3.0]", B(true)},
      {"amount in [12.5]", B(true)},
      {"amount in [12]", B(false)},
      {"neg in [-7]", B(true)},
      {"neg in [- 7]", B(true)},
      {"flag in [false]", B(true)},
      {"flag in [0]", B(false)},
      {"qty in ['3', 3]", B(true)},
      {"num_str in [42]", B(false)},
      {"big in [9007199254740992]", B(false)},
      {"big in [9007199254740993]", B(true)},
      {"imin in [-9223372036854775808]", B(true)},
      {"qty + 1 in [4]", B(true)},
      {"uni in ['h\u00e9llo w\u00f6rld \u2713 \U0001F600']", B(true)},
  });
}

TEST_CASE("Field paths: nesting, backticks, reserved words", "[expr][eval]") {
  RunTable({
      {"payload.after.amount", I(100)},
      {"`weird-key`.x", I(1)},
      {"`in`", I(5)},
      {"user.`id`", S("u-1")},
      {"`user`.`name`", S("Ann")},
      {"`a.b`", I(6)},  // a backticked segment may contain '.'
      {"a.b", N()},     // ...a bare path splits on it
      {"user.tags", N()},
      {"_x", N()},
  });
  CHECK(Eval("`we``ird`", R"({"we`ird": 7})") == I(7));
}

TEST_CASE("and/or and coalesce short-circuit", "[expr][eval]") {
  // On a record that is not an object every field read fails, so a branch that was not
  // evaluated is visible as the absence of that error.
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse("[1, 2]").ok());
  auto eval = [&](std::string_view text) { return MustParse(text).Evaluate(decoder); };

  CHECK(*eval("false and x == 1") == B(false));
  CHECK(*eval("true or x == 1") == B(true));
  CHECK(*eval("coalesce(1, x)") == I(1));
  CHECK(*eval("1 + 2") == I(3));

  Result<Value> read = eval("true and x == 1");
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == StatusCode::kInvalidArgument);
  CHECK(read.status().message() == "record value is not a JSON object");
  CHECK_FALSE(eval("x == 1 or true").ok());
  CHECK_FALSE(eval("coalesce(x, 1)").ok());
  CHECK_FALSE(MustParse("x").EvaluatePredicate(decoder).ok());
}

TEST_CASE("EvaluatePredicate is true only for exactly true", "[expr][predicate]") {
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(kRecord).ok());
  const std::vector<std::pair<std::string_view, bool>> cases = {
      {"user.vip", true}, {"qty == 3", true}, {"1 == 1", true}, {"flag", false},
      {"qty", false},     {"missing", false}, {"nul", false},   {"s", false},
      {"user", false},    {"not flag", true}, {"not s", false}, {"qty / zero", false},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    Result<bool> keep = MustParse(text).EvaluatePredicate(decoder);
    REQUIRE(keep.ok());
    CHECK(*keep == expected);
  }
}

TEST_CASE("Evaluate fails only when there is no parsed object to read fields from",
          "[expr][eval]") {
  codec::JsonRecordDecoder decoder;
  const Expression expression = MustParse("a == 1");
  Result<Value> nothing = expression.Evaluate(decoder);
  REQUIRE_FALSE(nothing.ok());
  CHECK(nothing.status().message() == "no record value parsed (the last Parse failed)");
  REQUIRE(decoder.Parse(R"("just a string")").ok());
  CHECK_FALSE(expression.Evaluate(decoder).ok());
  REQUIRE(decoder.Parse(R"({"a": 1})").ok());
  CHECK(*expression.Evaluate(decoder) == B(true));
}

TEST_CASE("One expression evaluates over many records", "[expr][eval]") {
  const Expression e = MustParse("coalesce(lower(name), 'anon') + ':' + string(n * 2)");
  CHECK(EvalOn(e, R"({"name":"Bob","n":1})") == S("bob:2"));
  CHECK(EvalOn(e, R"({"n":2.5})") == S("anon:5"));
  CHECK(EvalOn(e, R"({"name":"X"})") == N());  // string(null) is null; 'x' + null is null
}

}  // namespace
}  // namespace eddy::expr
