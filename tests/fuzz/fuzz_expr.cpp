// Fuzz target: expression text → expr::Expression::Parse, then evaluation over a JSON record.
//
// Input: the expression up to the first newline, then the JSON record value (any bytes;
// usually an object). Checks, beyond "no crash, no UB, no leak":
//   - a ParseError's column lies within the text (1 .. size+1);
//   - EvaluatePredicate is true exactly when Evaluate yields Bool(true) (expr.h's contract);
//   - Evaluate fails only when the record is not a parsed JSON object;
//   - a result of type T is only produced when MayYield(T).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "codec/json_record.h"
#include "expr/expr.h"

using eddy::expr::Expression;
using eddy::expr::ParseError;
using eddy::expr::Value;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view text = input.substr(0, newline);
  const std::string_view record =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  std::variant<Expression, ParseError> parsed = Expression::Parse(text);
  if (const ParseError* error = std::get_if<ParseError>(&parsed)) {
    if (error->column < 1 || static_cast<size_t>(error->column) > text.size() + 1) std::abort();
    if (error->message.empty()) std::abort();
    return 0;
  }
  const Expression& expression = std::get<Expression>(parsed);
  if (expression.text() != text) std::abort();
  (void)expression.ReferencedFields();

  eddy::codec::JsonRecordDecoder decoder;
  const bool is_object = decoder.Parse(record).ok() && decoder.Field({"x"}).ok();
  const eddy::Result<Value> value = expression.Evaluate(decoder);
  const eddy::Result<bool> keep = expression.EvaluatePredicate(decoder);
  if (value.ok() != keep.ok()) std::abort();
  if (!value.ok()) {
    // Only reading a field of a record that is not a parsed object may fail.
    if (is_object || expression.ReferencedFields().empty()) std::abort();
    return 0;
  }
  const bool is_true = value->type() == Value::Type::kBool && value->as_bool();
  if (*keep != is_true) std::abort();
  if (!expression.MayYield(value->type())) std::abort();
  (void)value->ToJson();
  (void)value->ToKeyString();
  return 0;
}
