// Evaluation of a parsed Program against one record, and the public Expression/Value API.
//
// Hot path: a tree walk over immutable nodes. Intermediate values (Val) borrow their strings:
// from the record (valid until the decoder's next Parse) or from the program's literals; only
// a computed string (concatenation, lower/upper, string(x)) owns a heap buffer. A predicate
// over fields and literals therefore allocates nothing. The rules implemented here are the
// ones docs/expressions.md states; keep the two in step.
#include <array>
#include <charconv>
#include <cmath>
#include <memory>

#include "common/json_writer.h"
#include "expr/program.h"

namespace eddy::expr {
namespace {

// An intermediate value. kOpaque is a JSON object or array: not null for 'is null', and
// treated as null by everything else (objects and arrays are not values of the language).
struct Val {
  enum class Type { kNull, kBool, kInt, kDouble, kString, kOpaque };
  Type type = Type::kNull;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string_view string;
  std::unique_ptr<std::string> owned;  // backs `string` for computed strings; moves keep it

  static Val Bool(bool b) {
    Val v;
    v.type = Type::kBool;
    v.boolean = b;
    return v;
  }
  static Val Int(int64_t i) {
    Val v;
    v.type = Type::kInt;
    v.integer = i;
    return v;
  }
  // Arithmetic never yields NaN or an infinity: such a result is null.
  static Val Double(double d) {
    Val v;
    if (!std::isfinite(d)) return v;
    v.type = Type::kDouble;
    v.number = d;
    return v;
  }
  static Val Borrowed(std::string_view s) {
    Val v;
    v.type = Type::kString;
    v.string = s;
    return v;
  }
  static Val Owned(std::string s) {
    Val v;
    v.type = Type::kString;
    v.owned = std::make_unique<std::string>(std::move(s));
    v.string = *v.owned;
    return v;
  }

  bool is_true() const { return type == Type::kBool && boolean; }
  bool is_number() const { return type == Type::kInt || type == Type::kDouble; }
  double as_double() const { return type == Type::kInt ? static_cast<double>(integer) : number; }
};

Val FromLiteral(const Literal& literal) {
  switch (literal.type) {
    case Value::Type::kNull:
      return Val();
    case Value::Type::kBool:
      return Val::Bool(literal.boolean);
    case Value::Type::kInt:
      return Val::Int(literal.integer);
    case Value::Type::kDouble:
      return Val::Double(literal.number);
    case Value::Type::kString:
      return Val::Borrowed(literal.string);
  }
  return Val();
}

// -1, 0, 1; nullopt when the two cannot be ordered (different kinds, nulls, booleans for <).
std::optional<int> Compare(const Val& a, const Val& b) {
  if (a.type == Val::Type::kInt && b.type == Val::Type::kInt) {
    return (a.integer > b.integer) - (a.integer < b.integer);
  }
  if (a.is_number() && b.is_number()) {
    const double x = a.as_double();
    const double y = b.as_double();
    return (x > y) - (x < y);
  }
  if (a.type == Val::Type::kString && b.type == Val::Type::kString) {
    const int c = a.string.compare(b.string);  // bytewise: UTF-8 code point order
    return (c > 0) - (c < 0);
  }
  return std::nullopt;
}

// The language's == (null and objects equal nothing, no conversions, 1 == 1.0).
bool Equal(const Val& a, const Val& b) {
  if (a.type == Val::Type::kBool && b.type == Val::Type::kBool) return a.boolean == b.boolean;
  const std::optional<int> c = Compare(a, b);
  return c.has_value() && *c == 0;
}

bool Equal(const Val& a, const Literal& b) {
  switch (b.type) {
    case Value::Type::kBool:
      return a.type == Val::Type::kBool && a.boolean == b.boolean;
    case Value::Type::kInt:
      if (a.type == Val::Type::kInt) return a.integer == b.integer;
      return a.type == Val::Type::kDouble && a.number == static_cast<double>(b.integer);
    case Value::Type::kDouble:
      return a.is_number() && a.as_double() == b.number;
    case Value::Type::kString:
      return a.type == Val::Type::kString && a.string == b.string;
    case Value::Type::kNull:
      return false;
  }
  return false;
}

Val Arithmetic(Op op, const Val& a, const Val& b) {
  if (op == Op::kAdd && a.type == Val::Type::kString && b.type == Val::Type::kString) {
    std::string joined;
    joined.reserve(a.string.size() + b.string.size());
    joined.append(a.string).append(b.string);
    return Val::Owned(std::move(joined));
  }
  if (!a.is_number() || !b.is_number()) return Val();
  if (a.type == Val::Type::kInt && b.type == Val::Type::kInt) {
    const int64_t x = a.integer;
    const int64_t y = b.integer;
    int64_t r = 0;
    switch (op) {
      case Op::kAdd:
        return __builtin_add_overflow(x, y, &r) ? Val() : Val::Int(r);
      case Op::kSub:
        return __builtin_sub_overflow(x, y, &r) ? Val() : Val::Int(r);
      case Op::kMul:
        return __builtin_mul_overflow(x, y, &r) ? Val() : Val::Int(r);
      case Op::kDiv:  // truncating, as in C and SQL; INT64_MIN / -1 overflows
        if (y == 0 || (x == INT64_MIN && y == -1)) return Val();
        return Val::Int(x / y);
      case Op::kMod:  // sign of the dividend
        if (y == 0) return Val();
        if (y == -1) return Val::Int(0);  // INT64_MIN % -1 is undefined behaviour in C++
        return Val::Int(x % y);
      default:
        return Val();
    }
  }
  const double x = a.as_double();
  const double y = b.as_double();
  switch (op) {
    case Op::kAdd:
      return Val::Double(x + y);
    case Op::kSub:
      return Val::Double(x - y);
    case Op::kMul:
      return Val::Double(x * y);
    case Op::kDiv:
      return y == 0 ? Val() : Val::Double(x / y);
    case Op::kMod:
      return y == 0 ? Val() : Val::Double(std::fmod(x, y));
    default:
      return Val();
  }
}

// Number of Unicode code points in UTF-8 text (continuation bytes are not counted).
int64_t CodePoints(std::string_view s) {
  int64_t count = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  }
  return count;
}

std::string AsciiCase(std::string_view s, bool upper) {
  std::string out(s);
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

template <typename T>
std::string ToChars(T value) {
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;  // 32 bytes hold any int64 and the shortest form of any double
  return std::string(buf.data(), end);
}

// number(s): an integer if the whole text is [-]digits within int64, else a double if the
// whole text is a finite floating-point number (from_chars syntax: no '+', no spaces), else
// null.
Val ParseNumber(std::string_view s) {
  const char* first = s.data();
  const char* last = first + s.size();
  if (s.empty()) return Val();
  int64_t i = 0;
  auto [int_end, int_ec] = std::from_chars(first, last, i);
  if (int_ec == std::errc() && int_end == last) return Val::Int(i);
  double d = 0;
  auto [end, ec] = std::from_chars(first, last, d);
  if (ec != std::errc() || end != last) return Val();
  return Val::Double(d);  // null for "inf", "nan"
}

class Evaluator {
 public:
  Evaluator(const Program& program, const codec::JsonRecordDecoder& record)
      : program_(program), record_(record) {}

  Val Eval(const Node& node) {
    switch (node.op) {
      case Op::kLiteral:
        return FromLiteral(node.literal);
      case Op::kField:
        return Field(program_.fields[node.field]);
      case Op::kNeg: {
        const Val v = Eval(node.args[0]);
        if (v.type == Val::Type::kInt) {
          return v.integer == INT64_MIN ? Val() : Val::Int(-v.integer);
        }
        return v.type == Val::Type::kDouble ? Val::Double(-v.number) : Val();
      }
      case Op::kNot: {
        const Val v = Eval(node.args[0]);
        return v.type == Val::Type::kBool ? Val::Bool(!v.boolean) : Val();
      }
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
      case Op::kMod: {
        const Val a = Eval(node.args[0]);
        const Val b = Eval(node.args[1]);
        return Arithmetic(node.op, a, b);
      }
      case Op::kEq:
      case Op::kNe: {
        const Val a = Eval(node.args[0]);
        const Val b = Eval(node.args[1]);
        if (!IsValue(a) || !IsValue(b)) return Val::Bool(false);
        return Val::Bool(Equal(a, b) == (node.op == Op::kEq));
      }
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe: {
        const Val a = Eval(node.args[0]);
        const Val b = Eval(node.args[1]);
        const std::optional<int> c = Compare(a, b);
        if (!c) return Val::Bool(false);
        switch (node.op) {
          case Op::kLt:
            return Val::Bool(*c < 0);
          case Op::kLe:
            return Val::Bool(*c <= 0);
          case Op::kGt:
            return Val::Bool(*c > 0);
          default:
            return Val::Bool(*c >= 0);
        }
      }
      case Op::kAnd:
        return Val::Bool(Eval(node.args[0]).is_true() && Eval(node.args[1]).is_true());
      case Op::kOr:
        return Val::Bool(Eval(node.args[0]).is_true() || Eval(node.args[1]).is_true());
      case Op::kIn:
      case Op::kNotIn: {
        const Val v = Eval(node.args[0]);
        if (!IsValue(v)) return Val::Bool(false);
        bool found = false;
        for (const Literal& element : node.list) {
          if (Equal(v, element)) {
            found = true;
            break;
          }
        }
        return Val::Bool(found == (node.op == Op::kIn));
      }
      case Op::kIsNull:
      case Op::kIsNotNull: {
        const bool is_null = Eval(node.args[0]).type == Val::Type::kNull;
        return Val::Bool(is_null == (node.op == Op::kIsNull));
      }
      case Op::kCall:
        return Call(node);
    }
    return Val();
  }

  const Status& status() const { return status_; }

 private:
  static bool IsValue(const Val& v) {
    return v.type != Val::Type::kNull && v.type != Val::Type::kOpaque;
  }

  Val Field(const codec::FieldPath& path) {
    Result<codec::FieldValue> found = record_.Field(path);
    if (!found.ok()) {
      if (status_.ok()) status_ = found.status();
      return Val();
    }
    const codec::FieldValue& f = *found;
    switch (f.kind) {
      case codec::FieldValue::Kind::kMissing:
      case codec::FieldValue::Kind::kNull:
        return Val();
      case codec::FieldValue::Kind::kBool:
        return Val::Bool(f.boolean);
      case codec::FieldValue::Kind::kInt64:
        return Val::Int(f.int64);
      case codec::FieldValue::Kind::kUint64:  // above INT64_MAX: only a double can hold it
        return Val::Double(static_cast<double>(f.uint64));
      case codec::FieldValue::Kind::kDouble:
        return Val::Double(f.number);
      case codec::FieldValue::Kind::kString:
        return Val::Borrowed(f.string);
      case codec::FieldValue::Kind::kObject:
      case codec::FieldValue::Kind::kArray: {
        Val v;
        v.type = Val::Type::kOpaque;
        return v;
      }
    }
    return Val();
  }

  Val Call(const Node& node) {
    switch (node.function) {
      case Function::kStartsWith:
      case Function::kEndsWith:
      case Function::kContains: {
        const Val s = Eval(node.args[0]);
        const Val part = Eval(node.args[1]);
        if (s.type != Val::Type::kString || part.type != Val::Type::kString) {
          return Val::Bool(false);
        }
        if (node.function == Function::kStartsWith)
          return Val::Bool(s.string.starts_with(part.string));
        if (node.function == Function::kEndsWith) return Val::Bool(s.string.ends_with(part.string));
        return Val::Bool(s.string.find(part.string) != std::string_view::npos);
      }
      case Function::kLower:
      case Function::kUpper: {
        const Val s = Eval(node.args[0]);
        if (s.type != Val::Type::kString) return Val();
        return Val::Owned(AsciiCase(s.string, node.function == Function::kUpper));
      }
      case Function::kLength: {
        const Val s = Eval(node.args[0]);
        return s.type == Val::Type::kString ? Val::Int(CodePoints(s.string)) : Val();
      }
      case Function::kCoalesce:
        for (const Node& arg : node.args) {
          Val v = Eval(arg);
          if (IsValue(v)) return v;
        }
        return Val();
      case Function::kString: {
        Val v = Eval(node.args[0]);
        switch (v.type) {
          case Val::Type::kBool:
            return Val::Borrowed(v.boolean ? "true" : "false");
          case Val::Type::kInt:
            return Val::Owned(ToChars(v.integer));
          case Val::Type::kDouble:
            return Val::Owned(ToChars(v.number));
          case Val::Type::kString:
            return v;
          default:
            return Val();
        }
      }
      case Function::kNumber: {
        Val v = Eval(node.args[0]);
        if (v.is_number()) return v;
        return v.type == Val::Type::kString ? ParseNumber(v.string) : Val();
      }
    }
    return Val();
  }

  const Program& program_;
  const codec::JsonRecordDecoder& record_;
  Status status_;  // the first field lookup error; the value computed alongside is discarded
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Value, ParseError

std::string Value::ToJson() const {
  JsonWriter writer;
  switch (type()) {
    case Type::kNull:
      writer.Null();
      break;
    case Type::kBool:
      writer.Bool(as_bool());
      break;
    case Type::kInt:
      writer.Int(as_int());
      break;
    case Type::kDouble:
      writer.Double(as_double());
      break;
    case Type::kString:
      writer.String(as_string());
      break;
  }
  return std::move(writer).Take();
}

Result<std::string> Value::ToKeyString() const {
  switch (type()) {
    case Type::kString:
      return as_string();
    case Type::kInt:
      return ToChars(as_int());
    case Type::kBool:
      return std::string(as_bool() ? "true" : "false");
    case Type::kNull:
      return Status::InvalidArgument("key expression evaluated to null");
    case Type::kDouble:
      return Status::InvalidArgument("key expression evaluated to a floating-point number (" +
                                     ToChars(as_double()) +
                                     "), expected a string, an integer or a boolean");
  }
  return Status::Internal("unknown value type");
}

std::string ParseError::ToString() const {
  return "column " + std::to_string(column) + ": " + message;
}

// ---------------------------------------------------------------------------------------------
// Expression

std::variant<Expression, ParseError> Expression::Parse(std::string_view text) {
  auto program = std::make_shared<Program>();
  if (std::optional<ParseError> error = ParseProgram(text, *program)) return *std::move(error);
  return Expression(std::move(program));
}

Result<Value> Expression::Evaluate(const codec::JsonRecordDecoder& record) const {
  Evaluator evaluator(*program_, record);
  const Val v = evaluator.Eval(program_->root);
  if (!evaluator.status().ok()) return evaluator.status();
  switch (v.type) {
    case Val::Type::kBool:
      return Value::Bool(v.boolean);
    case Val::Type::kInt:
      return Value::Int(v.integer);
    case Val::Type::kDouble:
      return Value::Double(v.number);
    case Val::Type::kString:
      return Value::String(std::string(v.string));
    case Val::Type::kNull:
    case Val::Type::kOpaque:
      break;
  }
  return Value::Null();
}

Result<bool> Expression::EvaluatePredicate(const codec::JsonRecordDecoder& record) const {
  Evaluator evaluator(*program_, record);
  const bool keep = evaluator.Eval(program_->root).is_true();
  if (!evaluator.status().ok()) return evaluator.status();
  return keep;
}

std::vector<codec::FieldPath> Expression::ReferencedFields() const {
  return program_->fields;
}

bool Expression::MayYield(Value::Type type) const {
  TypeMask bit = kTNull;
  switch (type) {
    case Value::Type::kNull:
      bit = kTNull;
      break;
    case Value::Type::kBool:
      bit = kTBool;
      break;
    case Value::Type::kInt:
      bit = kTInt;
      break;
    case Value::Type::kDouble:
      bit = kTDouble;
      break;
    case Value::Type::kString:
      bit = kTString;
      break;
  }
  return (program_->root.types & bit) != 0;
}

const std::string& Expression::text() const {
  return program_->text;
}

}  // namespace eddy::expr
