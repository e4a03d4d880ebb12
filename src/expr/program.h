// Internals of src/expr shared by the lexer, parser and evaluator: tokens, the type masks of
// the static checker, and the parsed tree (Program). Not part of the public contract.
//
// Thread-safety: a Program is built once by Parse() and never changed afterwards; everything
// here is then only read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_record.h"
#include "expr/expr.h"

namespace eddy::expr {

// ---------------------------------------------------------------------------------------------
// Tokens (lexer.cpp)

enum class Tok {
  kEnd,
  kInt,     // digits only; int_value (may be 2^63, which only unary '-' accepts)
  kDouble,  // double_value
  kString,  // string_value (escapes decoded)
  kField,   // path (segments decoded); bare_name when it is one unquoted identifier
  // Keywords.
  kAnd,
  kOr,
  kNot,
  kIn,
  kIs,
  kTrue,
  kFalse,
  kNull,
  // Punctuation and operators.
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
};

struct Token {
  Tok kind = Tok::kEnd;
  int column = 1;         // 1-based byte offset of the token's first byte
  std::string_view text;  // the token as written (empty for kEnd)
  uint64_t int_value = 0;
  double double_value = 0;
  std::string string_value;
  codec::FieldPath path;
  bool bare_name = false;
};

// Produces tokens left to right on demand, so that the first error in the text (lexical or
// syntactic) is the one reported.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}
  // The next token, or the lexical error at the current position.
  bool Next(Token& token, ParseError& error);

 private:
  bool LexNumber(Token& token, ParseError& error);
  bool LexString(Token& token, ParseError& error);
  bool LexField(Token& token, ParseError& error);
  bool LexSegment(std::string& segment, bool& quoted, ParseError& error);
  bool Fail(size_t pos, std::string message, ParseError& error) const;

  std::string_view text_;
  size_t pos_ = 0;
};

// "end of expression", "')'", "field 'a.b'", "string 'x'", "number 12", "'and'".
std::string Describe(const Token& token);

// ---------------------------------------------------------------------------------------------
// Static types: the set of runtime types a node may produce, as a bit mask.

using TypeMask = uint8_t;
inline constexpr TypeMask kTNull = 1;
inline constexpr TypeMask kTBool = 2;
inline constexpr TypeMask kTInt = 4;
inline constexpr TypeMask kTDouble = 8;
inline constexpr TypeMask kTString = 16;
inline constexpr TypeMask kTNumber = kTInt | kTDouble;
inline constexpr TypeMask kTAny = kTNull | kTBool | kTNumber | kTString;

// ---------------------------------------------------------------------------------------------
// The parsed tree (parser.cpp builds it, eval.cpp walks it).

enum class Op {
  kLiteral,
  kField,
  kNeg,
  kNot,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kIn,
  kNotIn,
  kIsNull,
  kIsNotNull,
  kCall,
};

enum class Function {
  kStartsWith,
  kEndsWith,
  kContains,
  kLower,
  kUpper,
  kLength,
  kCoalesce,
  kString,
  kNumber,
};

// A literal: null, true/false, an int64, a double or a string.
struct Literal {
  Value::Type type = Value::Type::kNull;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;
};

struct Node {
  Op op = Op::kLiteral;
  int column = 1;             // where the subexpression starts, for messages
  TypeMask types = kTAny;     // what it may evaluate to
  int depth = 1;              // levels of nodes below and including this one
  Literal literal;            // kLiteral
  size_t field = 0;           // kField: index into Program::fields
  Function function{};        // kCall
  std::vector<Literal> list;  // kIn, kNotIn: the right-hand side
  std::vector<Node> args;     // operands (unary: 1, binary: 2) or call arguments
};

class Program {
 public:
  std::string text;
  std::vector<codec::FieldPath> fields;  // distinct, in order of first appearance
  Node root;
};

// Parses and type-checks; parser.cpp.
std::optional<ParseError> ParseProgram(std::string_view text, Program& program);

}  // namespace eddy::expr
