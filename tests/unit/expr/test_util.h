// Helpers shared by the expression tests.
#pragma once

#include <catch2/catch.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include "codec/json_record.h"
#include "expr/expr.h"

namespace eddy::expr {

// Catch prints values through this (found by ADL).
inline std::ostream& operator<<(std::ostream& os, const Value& value) {
  static constexpr const char* kTypes[] = {"null", "bool", "int", "double", "string"};
  return os << kTypes[static_cast<int>(value.type())] << ' ' << value.ToJson();
}

inline Expression MustParse(std::string_view text) {
  std::variant<Expression, ParseError> parsed = Expression::Parse(text);
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    FAIL_CHECK("parse of '" << text << "' failed: " << error->ToString());
  }
  REQUIRE(std::holds_alternative<Expression>(parsed));
  return std::get<Expression>(std::move(parsed));
}

// The ParseError of `text`, which must not parse.
inline ParseError MustFail(std::string_view text) {
  std::variant<Expression, ParseError> parsed = Expression::Parse(text);
  if (std::holds_alternative<Expression>(parsed)) FAIL_CHECK("'" << text << "' parsed");
  REQUIRE(std::holds_alternative<ParseError>(parsed));
  return std::get<ParseError>(std::move(parsed));
}

inline Value EvalOn(const Expression& expression, std::string_view json) {
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(json).ok());
  Result<Value> value = expression.Evaluate(decoder);
  REQUIRE(value.ok());
  return *value;
}

inline Value Eval(std::string_view text, std::string_view json = "{}") {
  return EvalOn(MustParse(text), json);
}

}  // namespace eddy::expr
