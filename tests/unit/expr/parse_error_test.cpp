// Parse errors: exact columns (1-based bytes) and messages, and the static type checks.
#include <string>
#include <string_view>
#include <vector>

#include "unit/expr/test_util.h"

namespace eddy::expr {
namespace {

struct ErrorCase {
  std::string_view text;
  int column;
  std::string_view message;
};

TEST_CASE("Parse errors name the column and what was expected", "[expr][parse]") {
  const std::vector<ErrorCase> cases = {
      {R"()", 1, R"(expected an expression, found end of expression (it is empty))"},
      {R"(1 +)", 4, R"(expected an expression, found end of expression)"},
      {R"((a + b)", 7, R"(expected ')' to close '(' at column 1, found end of expression)"},
      {R"(a + b))", 6, R"(unexpected ')' without a matching '(')"},
      {R"('a' * 2)", 1, R"('*' expects numbers, found a string)"},
      {R"(2 * 'a')", 5, R"('*' expects numbers, found a string)"},
      {R"(not 5)", 5, R"('not' expects a boolean, found a number)"},
      {R"(x in 3)", 6, R"(expected '[' to start a list after 'in', found number 3)"},
      {R"(x in [])", 7, R"(expected a list element, found ']' (a list cannot be empty))"},
      {R"(x in [1, null])", 10, R"(null in a list never matches; use 'is null')"},
      {R"(x in [1, y])", 10,
       R"(expected a literal (number, string, true or false) in the list, found field y)"},
      {R"(x in [1 2])", 9,
       R"(expected ',' or ']' to close the list opened at column 6, found number 2)"},
      {R"(x in [-'a'])", 8, R"(expected a number after '-' in the list, found string 'a')"},
      {R"(lenght(s))", 1, R"(unknown function 'lenght'; did you mean 'length'?)"},
      {R"(foo(s))", 1,
       R"(unknown function 'foo' (functions: starts_with, ends_with, contains, lower, upper, length, coalesce, string, number))"},
      {R"(lower(a, b))", 10, R"(lower() takes 1 argument, found 2)"},
      {R"(starts_with(a))", 14, R"(starts_with() takes 2 arguments, found 1)"},
      {R"(coalesce(a))", 11, R"(coalesce() takes at least 2 arguments, found 1)"},
      {R"(lower(3))", 7, R"(lower() argument 1 expects a string, found a number)"},
      {R"('a' + 1)", 1, R"('+' cannot add a string and a number; use string(x) to concatenate)"},
      {R"(1 + 'a')", 5, R"('+' cannot add a string and a number; use string(x) to concatenate)"},
      {R"(true + 1)", 1, R"('+' expects numbers or strings, found a boolean)"},
      {R"(x == null)", 6, R"(comparing with null is always false; use 'is null')"},
      {R"(x != null)", 6, R"(comparing with null is always false; use 'is not null')"},
      {R"(null == x)", 1, R"(comparing with null is always false; use 'is null')"},
      {R"('a' == 1)", 5,
       R"('==' compares a string with a number: always false (values are not converted))"},
      {R"(a < b < c)", 7,
       R"(comparisons cannot be chained; combine them with 'and' (a < b and b < c))"},
      {R"(a == b is null)", 8,
       R"(comparisons cannot be chained; combine them with 'and' (a < b and b < c))"},
      {R"(true < false)", 1, R"('<' expects numbers or strings, found a boolean)"},
      {R"(null < 1)", 1, R"('<' with null is always false)"},
      {R"(a = 1)", 3, R"(unexpected '='; use '==' to compare)"},
      {R"(a && b)", 3, R"(unexpected '&&'; use 'and')"},
      {R"(a || b)", 3, R"(unexpected '||'; use 'or')"},
      {R"(!a)", 1, R"(unexpected '!'; use 'not' to negate)"},
      {R"('abc)", 1, R"(unterminated string: no closing ')"},
      {R"("abc)", 1, R"(unterminated string: no closing ")"},
      {R"('a\qb')", 3, R"(unknown escape \q (known: \\ \' \" \/ \n \t \r \b \f \uXXXX))"},
      {R"('\u12')", 2, R"(expected 4 hex digits after \u)"},
      {R"('\ud800')", 2, R"(invalid \u escape: high surrogate without a low surrogate)"},
      {R"('\udc00')", 2, R"(invalid \u escape: unpaired low surrogate)"},
      {R"(in == 1)", 1,
       R"(expected an expression, found 'in' (a reserved word; write `in` for a field of that name))"},
      {R"(a.in)", 3, R"('in' is a reserved word; write `in` to use it as a field name)"},
      {R"(true.x)", 1, R"('true' is a reserved word; write `true` to use it as a field name)"},
      {R"(a.)", 3, R"(expected a field name after '.')"},
      {R"(1.x)", 3, R"(expected a digit after '.' in a number)"},
      {R"(1.)", 3, R"(expected a digit after '.' in a number)"},
      {R"(12abc)", 3, R"(unexpected character 'a' after a number)"},
      {R"(1e)", 3, R"(expected a digit in the exponent of a number)"},
      {R"(1e+)", 4, R"(expected a digit in the exponent of a number)"},
      {R"(99999999999999999999)", 1,
       R"(integer 99999999999999999999 is out of the int64 range (write it with a '.0' for a double))"},
      {R"(9223372036854775808)", 1,
       R"(integer 9223372036854775808 is out of the int64 range (write it with a '.0' for a double))"},
      {R"(-9223372036854775809)", 2,
       R"(integer 9223372036854775809 is out of the int64 range (write it with a '.0' for a double))"},
      {R"(1e999)", 1, R"(number 1e999 is out of range)"},
      {R"(a b)", 3, R"(expected an operator or end of expression, found field b)"},
      {R"(a not b)", 3, R"(unexpected 'not' after an operand (did you mean 'not in'?))"},
      {R"(x is 5)", 6, R"(expected 'null' after 'is', found number 5)"},
      {R"(x is not 1)", 10, R"(expected 'null' after 'is not', found number 1)"},
      {R"(``)", 1, R"(empty field name between backticks)"},
      {R"(`abc)", 1, R"(unterminated `: no closing backtick)"},
      {R"(a`b`)", 2, R"(unexpected '`': separate field name segments with '.')"},
      {R"(é)", 1, R"(unexpected character 'é')"},
      {R"(s == 'ü' and 'a' * 2)", 15, R"('*' expects numbers, found a string)"},
      {R"(a and 5)", 7, R"('and' expects booleans, found a number)"},
      {R"(5 or a)", 1, R"('or' expects booleans, found a number)"},
      {R"(-'a')", 2, R"('-' expects numbers, found a string)"},
      {R"('a' in [1, 2])", 5,
       R"('in' compares a string with a list of numbers: always false (values are not converted))"},
      {R"(number(true))", 8,
       R"(number() argument 1 expects a string or a number, found a boolean)"},
      {R"(lower(x)", 8,
       R"(expected ',' or ')' to close the call of lower( at column 6, found end of expression)"},
      {R"(lower(x y))", 9,
       R"(expected ',' or ')' to close the call of lower( at column 6, found field y)"},
      {R"(f(x))", 1,
       R"(unknown function 'f' (functions: starts_with, ends_with, contains, lower, upper, length, coalesce, string, number))"},
      {R"(a.b(x))", 4, R"(expected an operator or end of expression, found '(')"},
      {R"(`lower`(x))", 8, R"(expected an operator or end of expression, found '(')"},
      {R"(x in ['a', 1] and 1 +)", 22, R"(expected an expression, found end of expression)"},
      {R"((1 + 2)) )", 8, R"(unexpected ')' without a matching '(')"},
      {R"(())", 2, R"(expected an expression, found ')')"},
      {R"(a # b)", 3, R"(unexpected character '#')"},
      {R"(a ~ b)", 3, R"(unexpected character '~')"},
      {R"([1])", 1, R"(expected an expression, found '[')"},
      {R"(,)", 1, R"(expected an expression, found ',')"},
      {R"(.5)", 1, R"(unexpected '.'; a number needs a digit before '.')"},
      {R"(user.id == 1 and user.name == 2 and not 3)", 41,
       R"('not' expects a boolean, found a number)"},
      {R"(upper(lower(s) + 1))", 7,
       R"('+' cannot add a string and a number; use string(x) to concatenate)"},
      {R"(string(x) - 1)", 1, R"('-' expects numbers, found a string or null)"},
      {R"(length(s) + 'a')", 13,
       R"('+' cannot add a string and a number; use string(x) to concatenate)"},
      {R"(not (a > 1) and (b or 3))", 23, R"('or' expects booleans, found a number)"},
      {R"(a - - 'x')", 7, R"('-' expects numbers, found a string)"},
  };
  for (const ErrorCase& c : cases) {
    INFO("expression: " << c.text);
    const ParseError error = MustFail(c.text);
    CHECK(error.column == c.column);
    CHECK(error.message == c.message);
  }
}

TEST_CASE("Columns are byte offsets and count from the start of the text", "[expr][parse]") {
  // 'ü' is two bytes: yaml-cpp's columns count bytes too, so the config loader can add them.
  CHECK(MustFail("s == '\u00fc' and 'a' * 2").column == 15);
  CHECK(MustFail("s == '\u2713' and 'a' * 2").column == 16);   // 3 bytes
  CHECK(MustFail("s == '\\u2713' and 'a' * 2").column == 19);  // an escape is 6 bytes
  // Newlines do not restart the count (multi-line YAML scalars are mapped by the loader).
  CHECK(MustFail("a and\n  5").column == 9);
  CHECK(MustFail("  \t 'x' * 2").column == 5);
}

TEST_CASE("The first error in the text wins, lexical or syntactic", "[expr][parse]") {
  const ParseError syntax_first = MustFail("(a + ) 'unterminated");
  CHECK(syntax_first.column == 6);
  CHECK(syntax_first.message == "expected an expression, found ')'");
  const ParseError lexical_first = MustFail("a && (b +");
  CHECK(lexical_first.column == 3);
}

TEST_CASE("ParseError::ToString", "[expr][parse]") {
  CHECK(MustFail("1 +").ToString() == "column 4: expected an expression, found end of expression");
}

TEST_CASE("Expressions the static checker must accept", "[expr][parse]") {
  // Fields may hold any type, so only literal/operator combinations are rejected.
  for (std::string_view text : {
           "x * 2",
           "x + 'a'",
           "x + y",
           "not x",
           "x and y",
           "x < 'a'",
           "x == 1",
           "x in [1, 'a']",
           "coalesce(1, 'a') * 2",
           "coalesce(x, 'a') + 'b'",
           "lower(x)",
           "number(x) > 1",
           "string(x) + 'a'",
           "length(x) * 2",
           "-(-x)",
           "x is null",
           "(x)",
           "((1))",
           "`and` or `or`",
           "lower (x)",
           "starts_with( x , 'a' )",
           "x not in [true]",
           "1 == 1.0",
           "x in [-1, -2.5, 'a', true]",
           "-9223372036854775808 < x",
       }) {
    INFO(text);
    MustParse(text);
  }
}

}  // namespace
}  // namespace eddy::expr

namespace eddy::expr {
namespace {

TEST_CASE("Nesting depth is bounded", "[expr][parse]") {
  auto repeat = [](std::string_view piece, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += piece;
    return out;
  };
  // Within the limit: evaluated normally.
  CHECK(Eval(repeat("(", 150) + "1" + repeat(")", 150)) == Value::Int(1));
  CHECK(Eval(repeat("1 + ", 150) + "1") == Value::Int(151));
  CHECK(Eval(repeat("not ", 150) + "true") == Value::Bool(true));

  const std::string message = "expression is nested too deeply (more than 200 levels)";
  for (const std::string& text : {
           repeat("(", 1000) + "1" + repeat(")", 1000),
           repeat("1 + ", 1000) + "1",
           repeat("not ", 1000) + "true",
           repeat("- ", 1000) + "x",
           repeat("lower(", 1000) + "x" + repeat(")", 1000),
       }) {
    INFO(text.substr(0, 20));
    CHECK(MustFail(text).message == message);
  }
}

}  // namespace
}  // namespace eddy::expr
