// Recursive-descent parser and static type checker. Grammar, lowest precedence first
// (tokens in lexer.cpp; user-facing version in docs/expressions.md):
//
//   expr       := or
//   or         := and ( 'or' and )*
//   and        := not ( 'and' not )*
//   not        := 'not' not | comparison
//   comparison := additive [ ( '==' | '!=' | '<' | '<=' | '>' | '>=' ) additive
//                          | [ 'not' ] 'in' list
//                          | 'is' [ 'not' ] 'null' ]           (not chainable: a < b < c)
//   additive   := multiplicative ( ( '+' | '-' ) multiplicative )*
//   multiplicative := unary ( ( '*' | '/' | '%' ) unary )*
//   unary      := '-' unary | primary
//   primary    := number | string | 'true' | 'false' | 'null' | field
//               | name '(' [ expr ( ',' expr )* ] ')' | '(' expr ')'
//   list       := '[' element ( ',' element )* ']'
//   element    := [ '-' ] number | string | 'true' | 'false'
//
// Every node gets a TypeMask: the runtime types it may produce (a field may be anything). An
// operand whose mask shares nothing with what its operator accepts is a parse error at the
// operand's column ('a' * 2, not 5, lower(3)), as is a comparison that can only be false
// ('a' == 1, x == null). Errors stop at the first one: later ones may be its consequences.
#include <algorithm>
#include <string>

#include "expr/program.h"

namespace eddy::expr {
namespace {

struct FunctionInfo {
  std::string_view name;
  Function function;
  size_t min_args;
  size_t max_args;   // SIZE_MAX: variadic
  TypeMask accepts;  // every argument must be able to be one of these
  const char* accepts_text;
  TypeMask result;  // kCoalesce computes its own
};

constexpr size_t kVariadic = SIZE_MAX;
constexpr FunctionInfo kFunctions[] = {
    {"starts_with", Function::kStartsWith, 2, 2, kTString, "a string", kTBool},
    {"ends_with", Function::kEndsWith, 2, 2, kTString, "a string", kTBool},
    {"contains", Function::kContains, 2, 2, kTString, "a string", kTBool},
    {"lower", Function::kLower, 1, 1, kTString, "a string", kTString | kTNull},
    {"upper", Function::kUpper, 1, 1, kTString, "a string", kTString | kTNull},
    {"length", Function::kLength, 1, 1, kTString, "a string", kTInt | kTNull},
    {"coalesce", Function::kCoalesce, 2, kVariadic, kTAny, "any value", kTAny},
    {"string", Function::kString, 1, 1, kTAny, "any value", kTString | kTNull},
    {"number", Function::kNumber, 1, 1, kTString | kTNumber, "a string or a number",
     kTNumber | kTNull},
};

// Optimal-string-alignment distance (as config/suggest.cpp; expr may not depend on config).
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = b.size();
  std::vector<size_t> before_prev(n + 1), prev(n + 1), cur(n + 1);
  for (size_t j = 0; j <= n; ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= n; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], before_prev[j - 2] + 1);
      }
    }
    std::swap(before_prev, prev);
    std::swap(prev, cur);
  }
  return prev[n];
}

std::string UnknownFunctionMessage(std::string_view name) {
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  const FunctionInfo* best = nullptr;
  size_t best_distance = 0;
  std::string all;
  for (const FunctionInfo& info : kFunctions) {
    if (!all.empty()) all += ", ";
    all += info.name;
    const size_t d = EditDistance(name, info.name);
    if (d > limit || d >= name.size()) continue;
    if (best == nullptr || d < best_distance) {
      best = &info;
      best_distance = d;
    }
  }
  std::string message = "unknown function '" + std::string(name) + "'";
  if (best != nullptr) return message + "; did you mean '" + std::string(best->name) + "'?";
  return message + " (functions: " + all + ")";
}

// "a string", "a number or a string", "null" (plural: "strings", "numbers or booleans") for
// messages about what a node may be.
std::string TypeText(TypeMask mask, bool plural = false) {
  std::string text;
  auto add = [&](TypeMask bit, const char* singular, const char* plural_name) {
    if ((mask & bit) == 0) return;
    if (!text.empty()) text += " or ";
    text += plural ? plural_name : singular;
  };
  add(kTBool, "a boolean", "booleans");
  add(kTNumber, "a number", "numbers");
  add(kTString, "a string", "strings");
  add(kTNull, "null", "nulls");
  return text;
}

TypeMask NonNull(TypeMask mask) {
  return static_cast<TypeMask>(mask & ~kTNull);
}

// Types grouped by what == can match: numbers (int and double), strings, booleans.
TypeMask Comparable(TypeMask mask) {
  TypeMask out = mask & (kTString | kTBool);
  if ((mask & kTNumber) != 0) out |= kTNumber;
  return out;
}

const char* OpText(Op op) {
  switch (op) {
    case Op::kNeg:
    case Op::kSub:
      return "-";
    case Op::kNot:
      return "not";
    case Op::kAdd:
      return "+";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kAnd:
      return "and";
    case Op::kOr:
      return "or";
    case Op::kIn:
      return "in";
    case Op::kNotIn:
      return "not in";
    default:
      return "?";
  }
}

// The numeric result types of arithmetic on operands that may be `a` and `b`.
TypeMask ArithmeticResult(TypeMask a, TypeMask b) {
  TypeMask out = kTNull;  // null operands, overflow, division by zero
  if ((a & kTInt) != 0 && (b & kTInt) != 0) out |= kTInt;
  if (((a & kTDouble) != 0 && (b & kTNumber) != 0) ||
      ((b & kTDouble) != 0 && (a & kTNumber) != 0)) {
    out |= kTDouble;
  }
  return out;
}

// Deepest tree, and deepest parser recursion, accepted. Far beyond any hand-written
// expression; it keeps both the parser and the evaluator's recursion off the stack limit.
constexpr int kMaxDepth = 200;

class Parser {
 public:
  Parser(std::string_view text, Program& program) : lexer_(text), program_(program) {}

  std::optional<ParseError> Run() {
    if (!Advance()) return error_;
    if (token_.kind == Tok::kEnd) {
      Fail(token_.column, "expected an expression, found end of expression (it is empty)");
      return error_;
    }
    if (!ParseOr(program_.root)) return error_;
    if (token_.kind != Tok::kEnd) {
      if (token_.kind == Tok::kRParen) {
        Fail(token_.column, "unexpected ')' without a matching '('");
      } else {
        Fail(token_.column, "expected an operator or end of expression, found " + Describe(token_));
      }
      return error_;
    }
    return std::nullopt;
  }

 private:
  bool Advance() { return lexer_.Next(token_, error_); }

  bool Fail(int column, std::string message) {
    error_.column = column;
    error_.message = std::move(message);
    return false;
  }

  // The operand `node` of `what` must be able to be one of `accepts`.
  bool Expect(const Node& node, TypeMask accepts, const std::string& what,
              const std::string& accepts_text) {
    if ((node.types & accepts) != 0) return true;
    return Fail(node.column, what + " expects " + accepts_text + ", found " + TypeText(node.types));
  }

  // Replaces `out` by `op(out, right)`.
  bool MakeBinary(Op op, Node& out, Node right) {
    Node node;
    node.op = op;
    node.column = out.column;
    node.args.push_back(std::move(out));
    node.args.push_back(std::move(right));
    out = std::move(node);
    return CheckDepth(out);
  }

  // Sets node.depth from its (complete) operands. Evaluation recurses once per level, so
  // the depth is bounded ("1 + 1 + ... + 1" nests as deeply as it is long).
  bool CheckDepth(Node& node) {
    for (const Node& arg : node.args) node.depth = std::max(node.depth, arg.depth + 1);
    if (node.depth <= kMaxDepth) return true;
    return Fail(node.column, "expression is nested too deeply (more than " +
                                 std::to_string(kMaxDepth) + " levels)");
  }

  // Bounds the parser's own recursion (parentheses, 'not not ...', '- - ...').
  class Recursion {
   public:
    explicit Recursion(Parser& parser) : parser_(parser) { ++parser_.recursion_; }
    ~Recursion() { --parser_.recursion_; }
    Recursion(const Recursion&) = delete;
    Recursion& operator=(const Recursion&) = delete;
    bool ok() {
      if (parser_.recursion_ <= kMaxDepth) return true;
      return parser_.Fail(parser_.token_.column, "expression is nested too deeply (more than " +
                                                     std::to_string(kMaxDepth) + " levels)");
    }

   private:
    Parser& parser_;
  };

  bool ParseOr(Node& out) {
    Recursion recursion(*this);
    if (!recursion.ok() || !ParseAnd(out)) return false;
    while (token_.kind == Tok::kOr) {
      if (!Advance()) return false;
      Node right;
      if (!ParseAnd(right)) return false;
      if (!CheckLogical(out, Op::kOr) || !CheckLogical(right, Op::kOr)) return false;
      if (!MakeBinary(Op::kOr, out, std::move(right))) return false;
      out.types = kTBool;
    }
    return true;
  }

  bool ParseAnd(Node& out) {
    if (!ParseNot(out)) return false;
    while (token_.kind == Tok::kAnd) {
      if (!Advance()) return false;
      Node right;
      if (!ParseNot(right)) return false;
      if (!CheckLogical(out, Op::kAnd) || !CheckLogical(right, Op::kAnd)) return false;
      if (!MakeBinary(Op::kAnd, out, std::move(right))) return false;
      out.types = kTBool;
    }
    return true;
  }

  bool CheckLogical(const Node& operand, Op op) {
    return Expect(operand, kTBool, std::string("'") + OpText(op) + "'", "booleans");
  }

  bool ParseNot(Node& out) {
    if (token_.kind != Tok::kNot) return ParseComparison(out);
    Recursion recursion(*this);
    if (!recursion.ok()) return false;
    const int column = token_.column;
    if (!Advance()) return false;
    Node operand;
    if (!ParseNot(operand)) return false;
    if (!Expect(operand, kTBool, "'not'", "a boolean")) return false;
    out = Node();
    out.op = Op::kNot;
    out.column = column;
    out.types = kTBool | kTNull;
    out.args.push_back(std::move(operand));
    return CheckDepth(out);
  }

  static bool IsComparison(Tok kind) {
    switch (kind) {
      case Tok::kEq:
      case Tok::kNe:
      case Tok::kLt:
      case Tok::kLe:
      case Tok::kGt:
      case Tok::kGe:
      case Tok::kIn:
      case Tok::kIs:
        return true;
      default:
        return false;
    }
  }

  bool ParseComparison(Node& out) {
    if (!ParseAdditive(out)) return false;
    if (token_.kind == Tok::kNot) {
      // "x not in [...]"; any other 'not' here is misplaced.
      const int not_column = token_.column;
      if (!Advance()) return false;
      if (token_.kind != Tok::kIn) {
        return Fail(not_column, "unexpected 'not' after an operand (did you mean 'not in'?)");
      }
      if (!ParseIn(out, Op::kNotIn)) return false;
    } else if (token_.kind == Tok::kIn) {
      if (!ParseIn(out, Op::kIn)) return false;
    } else if (token_.kind == Tok::kIs) {
      if (!ParseIs(out)) return false;
    } else if (IsComparison(token_.kind)) {
      if (!ParseRelational(out)) return false;
    } else {
      return true;
    }
    if (IsComparison(token_.kind) || token_.kind == Tok::kNot) {
      return Fail(token_.column,
                  "comparisons cannot be chained; combine them with 'and' (a < b and b < c)");
    }
    return true;
  }

  bool ParseRelational(Node& out) {
    Op op = Op::kEq;
    switch (token_.kind) {
      case Tok::kEq:
        op = Op::kEq;
        break;
      case Tok::kNe:
        op = Op::kNe;
        break;
      case Tok::kLt:
        op = Op::kLt;
        break;
      case Tok::kLe:
        op = Op::kLe;
        break;
      case Tok::kGt:
        op = Op::kGt;
        break;
      default:
        op = Op::kGe;
        break;
    }
    const int op_column = token_.column;
    if (!Advance()) return false;
    Node right;
    if (!ParseAdditive(right)) return false;
    const std::string what = std::string("'") + OpText(op) + "'";
    const bool equality = op == Op::kEq || op == Op::kNe;
    for (const Node* side : {&out, &right}) {
      if (side->types == kTNull) {
        return Fail(side->column,
                    equality ? std::string("comparing with null is always false; use 'is ") +
                                   (op == Op::kEq ? "" : "not ") + "null'"
                             : what + " with null is always false");
      }
      if (!equality && !Expect(*side, kTNumber | kTString, what, "numbers or strings")) {
        return false;
      }
    }
    if ((Comparable(out.types) & Comparable(right.types)) == 0) {
      return Fail(op_column, what + " compares " + TypeText(NonNull(out.types)) + " with " +
                                 TypeText(NonNull(right.types)) +
                                 ": always false (values are not converted)");
    }
    if (!MakeBinary(op, out, std::move(right))) return false;
    out.types = kTBool;
    return true;
  }

  bool ParseIs(Node& out) {
    if (!Advance()) return false;
    bool negated = false;
    if (token_.kind == Tok::kNot) {
      negated = true;
      if (!Advance()) return false;
    }
    if (token_.kind != Tok::kNull) {
      return Fail(token_.column, std::string("expected 'null' after '") +
                                     (negated ? "is not" : "is") + "', found " + Describe(token_));
    }
    if (!Advance()) return false;
    Node node;
    node.op = negated ? Op::kIsNotNull : Op::kIsNull;
    node.column = out.column;
    node.types = kTBool;
    node.args.push_back(std::move(out));
    out = std::move(node);
    return CheckDepth(out);
  }

  bool ParseIn(Node& out, Op op) {
    const int in_column = token_.column;
    if (!Advance()) return false;
    if (token_.kind != Tok::kLBracket) {
      return Fail(token_.column, "expected '[' to start a list after '" + std::string(OpText(op)) +
                                     "', found " + Describe(token_));
    }
    const int list_column = token_.column;
    if (!Advance()) return false;
    Node node;
    node.op = op;
    node.column = out.column;
    node.types = kTBool;
    TypeMask element_types = 0;
    while (true) {
      Literal element;
      if (!ParseListElement(element)) return false;
      element_types |= Mask(element.type);
      node.list.push_back(std::move(element));
      if (token_.kind == Tok::kComma) {
        if (!Advance()) return false;
        continue;
      }
      if (token_.kind == Tok::kRBracket) break;
      return Fail(token_.column, "expected ',' or ']' to close the list opened at column " +
                                     std::to_string(list_column) + ", found " + Describe(token_));
    }
    if (!Advance()) return false;
    if (out.types == kTNull) {
      return Fail(out.column,
                  std::string("'") + OpText(op) + "' with null is always false; use 'is null'");
    }
    if ((Comparable(out.types) & Comparable(element_types)) == 0) {
      return Fail(in_column, std::string("'") + OpText(op) + "' compares " +
                                 TypeText(NonNull(out.types)) + " with a list of " +
                                 TypeText(element_types, /*plural=*/true) +
                                 ": always false (values are not converted)");
    }
    node.args.push_back(std::move(out));
    out = std::move(node);
    return CheckDepth(out);
  }

  static TypeMask Mask(Value::Type type) {
    switch (type) {
      case Value::Type::kNull:
        return kTNull;
      case Value::Type::kBool:
        return kTBool;
      case Value::Type::kInt:
        return kTInt;
      case Value::Type::kDouble:
        return kTDouble;
      case Value::Type::kString:
        return kTString;
    }
    return kTAny;
  }

  bool ParseListElement(Literal& out) {
    bool negative = false;
    if (token_.kind == Tok::kMinus) {
      negative = true;
      if (!Advance()) return false;
    }
    switch (token_.kind) {
      case Tok::kInt:
      case Tok::kDouble:
        if (!NumberLiteral(negative, out)) return false;
        break;
      case Tok::kString:
      case Tok::kTrue:
      case Tok::kFalse:
        if (negative) break;
        out = TokenLiteral();
        break;
      case Tok::kNull:
        if (negative) break;
        return Fail(token_.column, "null in a list never matches; use 'is null'");
      case Tok::kRBracket:
        if (negative) break;
        return Fail(token_.column, "expected a list element, found ']' (a list cannot be empty)");
      default:
        break;
    }
    if (out.type == Value::Type::kNull) {
      return Fail(token_.column,
                  negative ? "expected a number after '-' in the list, found " + Describe(token_)
                           : "expected a literal (number, string, true or false) in the list, "
                             "found " +
                                 Describe(token_));
    }
    return Advance();
  }

  // The literal of the current string/true/false/null token.
  Literal TokenLiteral() const {
    Literal literal;
    switch (token_.kind) {
      case Tok::kString:
        literal.type = Value::Type::kString;
        literal.string = token_.string_value;
        break;
      case Tok::kTrue:
      case Tok::kFalse:
        literal.type = Value::Type::kBool;
        literal.boolean = token_.kind == Tok::kTrue;
        break;
      default:
        break;
    }
    return literal;
  }

  // The current kInt/kDouble token, negated if `negative`.
  bool NumberLiteral(bool negative, Literal& out) {
    if (token_.kind == Tok::kDouble) {
      out.type = Value::Type::kDouble;
      out.number = negative ? -token_.double_value : token_.double_value;
      return true;
    }
    constexpr uint64_t kMagnitudeLimit = uint64_t{1} << 63;  // |INT64_MIN|
    if (token_.int_value == kMagnitudeLimit && !negative) {
      return Fail(token_.column, "integer " + std::string(token_.text) +
                                     " is out of the int64 range (write it with a '.0' for a "
                                     "double)");
    }
    out.type = Value::Type::kInt;
    if (token_.int_value == kMagnitudeLimit) {
      out.integer = INT64_MIN;
    } else {
      const auto magnitude = static_cast<int64_t>(token_.int_value);
      out.integer = negative ? -magnitude : magnitude;
    }
    return true;
  }

  bool ParseAdditive(Node& out) {
    if (!ParseMultiplicative(out)) return false;
    while (token_.kind == Tok::kPlus || token_.kind == Tok::kMinus) {
      const Op op = token_.kind == Tok::kPlus ? Op::kAdd : Op::kSub;
      if (!Advance()) return false;
      Node right;
      if (!ParseMultiplicative(right)) return false;
      if (op == Op::kAdd) {
        if (!CheckAdd(out, right)) return false;
      } else if (!CheckArithmetic(out, op) || !CheckArithmetic(right, op)) {
        return false;
      }
      const TypeMask types =
          ArithmeticResult(out.types, right.types) |
          (op == Op::kAdd && (out.types & right.types & kTString) != 0 ? kTString : TypeMask{0});
      if (!MakeBinary(op, out, std::move(right))) return false;
      out.types = types;
    }
    return true;
  }

  bool CheckArithmetic(const Node& operand, Op op) {
    return Expect(operand, kTNumber, std::string("'") + OpText(op) + "'", "numbers");
  }

  bool CheckAdd(const Node& left, const Node& right) {
    for (const Node* side : {&left, &right}) {
      if (!Expect(*side, kTNumber | kTString, "'+'", "numbers or strings")) return false;
    }
    // Possible only as number + number or string + string.
    if ((left.types & right.types & kTString) == 0 &&
        ((left.types & kTNumber) == 0 || (right.types & kTNumber) == 0)) {
      const Node& string_side = (left.types & kTString) != 0 ? left : right;
      return Fail(string_side.column,
                  "'+' cannot add a string and a number; use string(x) to concatenate");
    }
    return true;
  }

  bool ParseMultiplicative(Node& out) {
    if (!ParseUnary(out)) return false;
    while (token_.kind == Tok::kStar || token_.kind == Tok::kSlash ||
           token_.kind == Tok::kPercent) {
      const Op op = token_.kind == Tok::kStar    ? Op::kMul
                    : token_.kind == Tok::kSlash ? Op::kDiv
                                                 : Op::kMod;
      if (!Advance()) return false;
      Node right;
      if (!ParseUnary(right)) return false;
      if (!CheckArithmetic(out, op) || !CheckArithmetic(right, op)) return false;
      const TypeMask types = ArithmeticResult(out.types, right.types);
      if (!MakeBinary(op, out, std::move(right))) return false;
      out.types = types;
    }
    return true;
  }

  bool ParseUnary(Node& out) {
    if (token_.kind != Tok::kMinus) return ParsePrimary(out);
    Recursion recursion(*this);
    if (!recursion.ok()) return false;
    const int column = token_.column;
    if (!Advance()) return false;
    if (token_.kind == Tok::kInt || token_.kind == Tok::kDouble) {
      // A negative literal: folded here so that -9223372036854775808 is an int64.
      out = Node();
      out.column = column;
      if (!NumberLiteral(/*negative=*/true, out.literal)) return false;
      out.types = Mask(out.literal.type);
      return Advance();
    }
    Node operand;
    if (!ParseUnary(operand)) return false;
    if (!CheckArithmetic(operand, Op::kNeg)) return false;
    out = Node();
    out.op = Op::kNeg;
    out.column = column;
    out.types = static_cast<TypeMask>((operand.types & kTNumber) | kTNull);
    out.args.push_back(std::move(operand));
    return CheckDepth(out);
  }

  bool ParsePrimary(Node& out) {
    out = Node();
    out.column = token_.column;
    switch (token_.kind) {
      case Tok::kInt:
      case Tok::kDouble:
        if (!NumberLiteral(/*negative=*/false, out.literal)) return false;
        out.types = Mask(out.literal.type);
        return Advance();
      case Tok::kString:
      case Tok::kTrue:
      case Tok::kFalse:
      case Tok::kNull:
        out.literal = TokenLiteral();
        out.types = Mask(out.literal.type);
        return Advance();
      case Tok::kLParen: {
        const int open_column = token_.column;
        if (!Advance()) return false;
        if (!ParseOr(out)) return false;
        if (token_.kind != Tok::kRParen) {
          return Fail(token_.column, "expected ')' to close '(' at column " +
                                         std::to_string(open_column) + ", found " +
                                         Describe(token_));
        }
        out.column = open_column;
        return Advance();
      }
      case Tok::kField: {
        Token name = std::move(token_);
        if (!Advance()) return false;
        if (token_.kind == Tok::kLParen && name.bare_name) return ParseCall(name, out);
        out.op = Op::kField;
        out.types = kTAny;
        auto it = std::find(program_.fields.begin(), program_.fields.end(), name.path);
        out.field = static_cast<size_t>(it - program_.fields.begin());
        if (it == program_.fields.end()) program_.fields.push_back(std::move(name.path));
        return true;
      }
      case Tok::kIn:
      case Tok::kIs:
      case Tok::kAnd:
      case Tok::kOr:
        return Fail(token_.column, "expected an expression, found " + Describe(token_) +
                                       " (a reserved word; write `" + std::string(token_.text) +
                                       "` for a field of that name)");
      default:
        return Fail(token_.column, "expected an expression, found " + Describe(token_));
    }
  }

  bool ParseCall(const Token& name, Node& out) {
    const std::string_view function_name = name.path.front();
    const FunctionInfo* info = nullptr;
    for (const FunctionInfo& candidate : kFunctions) {
      if (candidate.name == function_name) info = &candidate;
    }
    if (info == nullptr) return Fail(name.column, UnknownFunctionMessage(function_name));
    const int open_column = token_.column;
    if (!Advance()) return false;
    out.op = Op::kCall;
    out.function = info->function;
    if (token_.kind != Tok::kRParen) {
      while (true) {
        Node arg;
        if (!ParseOr(arg)) return false;
        out.args.push_back(std::move(arg));
        if (token_.kind == Tok::kComma) {
          if (!Advance()) return false;
          continue;
        }
        if (token_.kind == Tok::kRParen) break;
        return Fail(token_.column, "expected ',' or ')' to close the call of " +
                                       std::string(info->name) + "( at column " +
                                       std::to_string(open_column) + ", found " + Describe(token_));
      }
    }
    const int close_column = token_.column;
    if (!Advance()) return false;
    const size_t count = out.args.size();
    if (count < info->min_args || count > info->max_args) {
      std::string expected = info->max_args == kVariadic
                                 ? "at least " + std::to_string(info->min_args)
                                 : std::to_string(info->min_args);
      expected += info->min_args == 1 && info->max_args == 1 ? " argument" : " arguments";
      return Fail(
          count > info->max_args ? out.args[info->max_args].column : close_column,
          std::string(info->name) + "() takes " + expected + ", found " + std::to_string(count));
    }
    for (size_t i = 0; i < count; ++i) {
      const std::string what = std::string(info->name) + "() argument " + std::to_string(i + 1);
      if (!Expect(out.args[i], info->accepts, what, info->accepts_text)) return false;
    }
    out.types = info->result;
    if (info->function == Function::kCoalesce) {
      // Non-null alternatives of every argument up to the first that cannot be null.
      TypeMask types = 0;
      bool nullable = true;
      for (const Node& arg : out.args) {
        types |= NonNull(arg.types);
        if ((arg.types & kTNull) == 0) {
          nullable = false;
          break;
        }
      }
      out.types = static_cast<TypeMask>(types | (nullable ? kTNull : 0));
    }
    return CheckDepth(out);
  }

  Lexer lexer_;
  Program& program_;
  Token token_;
  ParseError error_;
  int recursion_ = 0;  // see Recursion
};

}  // namespace

std::optional<ParseError> ParseProgram(std::string_view text, Program& program) {
  program.text = std::string(text);
  return Parser(text, program).Run();
}

}  // namespace eddy::expr
