// Expressions over JSON records: filters, computed fields and rekeying.
//
//   Result<bool>  keep = filter.EvaluatePredicate(decoder);   // amount > 100 and not test
//   Result<Value> v    = field.Evaluate(decoder);              // lower(user.email)
//
// The language (grammar, types, null rules, functions) is specified in docs/expressions.md.
// Parse() checks syntax and every type error visible without a record ('a' * 2, not 5,
// lenght(x)) and reports the first one with its column. Evaluate() never fails because of a
// field's value: a missing field is null, a type mismatch or a division by zero yields null
// (arithmetic) or false (comparisons); it fails only when the decoder holds no JSON object.
//
// Thread-safety: an Expression is immutable after Parse(). Copies share the parsed program,
// and Evaluate() may be called concurrently from several threads, each with its own decoder.
// Value and ParseError are plain value types.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "codec/json_record.h"
#include "common/status.h"

namespace eddy::expr {

// The result of an expression: null, a boolean, an int64, a double or a (UTF-8) string.
class Value {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString };

  Value() = default;  // null
  static Value Null() { return Value(); }
  static Value Bool(bool b) { return Make<bool>(b); }
  static Value Int(int64_t i) { return Make<int64_t>(i); }
  static Value Double(double d) { return Make<double>(d); }
  static Value String(std::string s) { return Make<std::string>(std::move(s)); }

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  // Accessors: the value must have that type.
  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_double() const { return std::get<double>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }

  // Compact JSON for projections: null, true, 42, 2.5, "text". Doubles follow JsonWriter
  // (integral doubles print without a fraction; NaN and infinities print as null).
  std::string ToJson() const;
  // The value as a record key, with JsonRecordDecoder::KeyString's rules: strings as-is,
  // integers in decimal, booleans true/false. Null and doubles are InvalidArgument.
  Result<std::string> ToKeyString() const;

  // Exact equality of type and value (Int(1) != Double(1.0)); for tests, not the language's ==.
  friend bool operator==(const Value& a, const Value& b) { return a.data_ == b.data_; }

 private:
  // Alternative order matches Type.
  using Data = std::variant<std::monostate, bool, int64_t, double, std::string>;
  // Constructs the alternative in place (no temporary variant to move, which GCC 12 with
  // sanitizers misreads as a possibly uninitialized std::string).
  template <typename T, typename Arg>
  static Value Make(Arg&& arg) {
    Value v;
    v.data_.template emplace<T>(std::forward<Arg>(arg));
    return v;
  }
  Data data_;
};

// The first problem in an expression's text.
struct ParseError {
  int column = 1;       // 1-based byte offset in the expression text (yaml-cpp counts bytes too)
  std::string message;  // "expected ')' to close '(' at column 3, found end of expression"
  std::string ToString() const;  // "column 5: <message>"
};

class Program;  // the parsed form; internal to src/expr

class Expression {
 public:
  // Parses and type-checks `text`. Either an Expression or the first ParseError.
  static std::variant<Expression, ParseError> Parse(std::string_view text);

  // Evaluates against the record last Parse()d by `record`. Allocates only when the result,
  // or an intermediate value, is a computed string (concatenation, lower, string(x)...).
  // Errors (InvalidArgument): the decoder holds no parsed JSON object and the expression
  // reads a field.
  Result<Value> Evaluate(const codec::JsonRecordDecoder& record) const;
  // Filters: true iff the expression evaluates to exactly true (null, false, and any
  // non-boolean value are false). Never allocates for expressions without computed strings.
  Result<bool> EvaluatePredicate(const codec::JsonRecordDecoder& record) const;

  // The fields the expression reads, each once, in order of first appearance.
  std::vector<codec::FieldPath> ReferencedFields() const;
  // False if type-checking proved the expression never yields a value of type `type`
  // ("filter: amount + 1" can never be a boolean). True when it might.
  bool MayYield(Value::Type type) const;
  const std::string& text() const;

 private:
  explicit Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;  // never null
};

}  // namespace eddy::expr
