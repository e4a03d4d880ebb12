// Tokens of the expression language (docs/expressions.md has the user-facing version):
//
//   whitespace := ' ' | '\t' | '\n' | '\r'                  (separates tokens, otherwise ignored)
//   number     := digit+ [ '.' digit+ ] [ ('e'|'E') ['+'|'-'] digit+ ]
//                 (an integer without '.' or exponent, else a double; no sign: '-' is unary)
//   string     := "'" char* "'" | '"' char* '"'
//                 escapes: \\ \' \" \/ \n \t \r \b \f \uXXXX (surrogate pairs combine)
//   field      := segment ( '.' segment )*               (no whitespace around '.')
//   segment    := ident | '`' ( any byte but '`' | '``' )+ '`'
//   ident      := [A-Za-z_][A-Za-z0-9_]*
//   keyword    := and | or | not | in | is | true | false | null   (an ident that is a keyword
//                 is the keyword; inside a dotted path it is an error: quote it with backticks)
//   operators  := ( ) [ ] , + - * / % == != < <= > >=
//
// Columns are 1-based byte offsets into the expression text.
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "expr/program.h"

namespace eddy::expr {
namespace {

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdentChar(char c) {
  return IsIdentStart(c) || IsDigit(c);
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct Keyword {
  std::string_view word;
  Tok kind;
};
constexpr Keyword kKeywords[] = {
    {"and", Tok::kAnd}, {"or", Tok::kOr},     {"not", Tok::kNot},     {"in", Tok::kIn},
    {"is", Tok::kIs},   {"true", Tok::kTrue}, {"false", Tok::kFalse}, {"null", Tok::kNull},
};

std::optional<Tok> KeywordKind(std::string_view word) {
  for (const Keyword& keyword : kKeywords) {
    if (keyword.word == word) return keyword.kind;
  }
  return std::nullopt;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The character at text[pos] for "unexpected character 'x'": a whole UTF-8 sequence if it
// looks like one, else the byte in hex.
std::string CharAt(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t length = 1;
  if (lead >= 0xF0) {
    length = 4;
  } else if (lead >= 0xE0) {
    length = 3;
  } else if (lead >= 0xC0) {
    length = 2;
  }
  if (lead < 0x20 || lead == 0x7F || (lead >= 0x80 && lead < 0xC0) || pos + length > text.size()) {
    constexpr char kHex[] = "0123456789ABCDEF";
    return std::string("byte 0x") + kHex[lead >> 4] + kHex[lead & 0xF];
  }
  return "character '" + std::string(text.substr(pos, length)) + "'";
}

}  // namespace

bool Lexer::Fail(size_t pos, std::string message, ParseError& error) const {
  error.column = static_cast<int>(pos) + 1;
  error.message = std::move(message);
  return false;
}

bool Lexer::Next(Token& token, ParseError& error) {
  while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  token = Token();
  token.column = static_cast<int>(pos_) + 1;
  if (pos_ >= text_.size()) {
    token.kind = Tok::kEnd;
    return true;
  }
  const size_t start = pos_;
  const char c = text_[pos_];
  const char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
  auto punct = [&](Tok kind, size_t length) {
    token.kind = kind;
    token.text = text_.substr(start, length);
    pos_ += length;
    return true;
  };
  if (IsDigit(c)) return LexNumber(token, error);
  if (c == '\'' || c == '"') return LexString(token, error);
  if (IsIdentStart(c) || c == '`') return LexField(token, error);
  switch (c) {
    case '(':
      return punct(Tok::kLParen, 1);
    case ')':
      return punct(Tok::kRParen, 1);
    case '[':
      return punct(Tok::kLBracket, 1);
    case ']':
      return punct(Tok::kRBracket, 1);
    case ',':
      return punct(Tok::kComma, 1);
    case '+':
      return punct(Tok::kPlus, 1);
    case '-':
      return punct(Tok::kMinus, 1);
    case '*':
      return punct(Tok::kStar, 1);
    case '/':
      return punct(Tok::kSlash, 1);
    case '%':
      return punct(Tok::kPercent, 1);
    case '<':
      return next == '=' ? punct(Tok::kLe, 2) : punct(Tok::kLt, 1);
    case '>':
      return next == '=' ? punct(Tok::kGe, 2) : punct(Tok::kGt, 1);
    case '=':
      if (next == '=') return punct(Tok::kEq, 2);
      return Fail(start, "unexpected '='; use '==' to compare", error);
    case '!':
      if (next == '=') return punct(Tok::kNe, 2);
      return Fail(start, "unexpected '!'; use 'not' to negate", error);
    case '&':
      return Fail(start, next == '&' ? "unexpected '&&'; use 'and'" : "unexpected character '&'",
                  error);
    case '|':
      return Fail(start, next == '|' ? "unexpected '||'; use 'or'" : "unexpected character '|'",
                  error);
    case '.':
      return Fail(start, "unexpected '.'; a number needs a digit before '.'", error);
    default:
      return Fail(start, "unexpected " + CharAt(text_, start), error);
  }
}

bool Lexer::LexNumber(Token& token, ParseError& error) {
  const size_t start = pos_;
  bool is_double = false;
  while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
  if (pos_ < text_.size() && text_[pos_] == '.') {
    is_double = true;
    ++pos_;
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
      return Fail(pos_, "expected a digit after '.' in a number", error);
    }
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    is_double = true;
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) {
      return Fail(pos_, "expected a digit in the exponent of a number", error);
    }
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
  }
  if (pos_ < text_.size() && (IsIdentChar(text_[pos_]) || text_[pos_] == '`')) {
    return Fail(pos_, "unexpected " + CharAt(text_, pos_) + " after a number", error);
  }
  token.text = text_.substr(start, pos_ - start);
  const char* first = token.text.data();
  const char* last = first + token.text.size();
  if (is_double) {
    token.kind = Tok::kDouble;
    auto [end, ec] = std::from_chars(first, last, token.double_value);
    if (ec != std::errc() || end != last || !std::isfinite(token.double_value)) {
      return Fail(start, "number " + std::string(token.text) + " is out of range", error);
    }
  } else {
    token.kind = Tok::kInt;
    auto [end, ec] = std::from_chars(first, last, token.int_value);
    // 2^63 passes here for "-9223372036854775808"; the parser rejects it anywhere else.
    if (ec != std::errc() || end != last || token.int_value > (uint64_t{1} << 63)) {
      return Fail(start,
                  "integer " + std::string(token.text) +
                      " is out of the int64 range (write it with a '.0' for a double)",
                  error);
    }
  }
  return true;
}

bool Lexer::LexString(Token& token, ParseError& error) {
  const size_t start = pos_;
  const char quote = text_[pos_++];
  std::string& out = token.string_value;
  while (true) {
    if (pos_ >= text_.size()) {
      return Fail(start, std::string("unterminated string: no closing ") + quote, error);
    }
    const char c = text_[pos_];
    if (c == quote) {
      ++pos_;
      break;
    }
    if (c != '\\') {
      out += c;
      ++pos_;
      continue;
    }
    const size_t escape = pos_;
    if (pos_ + 1 >= text_.size()) {
      return Fail(start, std::string("unterminated string: no closing ") + quote, error);
    }
    const char e = text_[pos_ + 1];
    pos_ += 2;
    switch (e) {
      case '\\':
      case '\'':
      case '"':
      case '/':
        out += e;
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        auto hex4 = [&](size_t at, uint32_t& value) {
          if (at + 4 > text_.size()) return false;
          value = 0;
          for (size_t i = at; i < at + 4; ++i) {
            const int digit = HexValue(text_[i]);
            if (digit < 0) return false;
            value = value * 16 + static_cast<uint32_t>(digit);
          }
          return true;
        };
        uint32_t cp = 0;
        if (!hex4(pos_, cp)) {
          return Fail(escape, "expected 4 hex digits after \\u", error);
        }
        pos_ += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return Fail(escape, "invalid \\u escape: unpaired low surrogate", error);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low = 0;
          if (pos_ + 1 >= text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u' ||
              !hex4(pos_ + 2, low) || low < 0xDC00 || low > 0xDFFF) {
            return Fail(escape, "invalid \\u escape: high surrogate without a low surrogate",
                        error);
          }
          pos_ += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        AppendUtf8(out, cp);
        break;
      }
      default:
        return Fail(escape,
                    "unknown escape \\" + std::string(1, e) +
                        " (known: \\\\ \\' \\\" \\/ \\n \\t \\r \\b \\f \\uXXXX)",
                    error);
    }
  }
  token.kind = Tok::kString;
  token.text = text_.substr(start, pos_ - start);
  return true;
}

bool Lexer::LexSegment(std::string& segment, bool& quoted, ParseError& error) {
  const size_t start = pos_;
  quoted = text_[pos_] == '`';
  if (!quoted) {
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    segment = std::string(text_.substr(start, pos_ - start));
    return true;
  }
  ++pos_;
  while (true) {
    if (pos_ >= text_.size()) return Fail(start, "unterminated `: no closing backtick", error);
    if (text_[pos_] == '`') {
      if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '`') {  // `` is one backtick
        segment += '`';
        pos_ += 2;
        continue;
      }
      ++pos_;
      break;
    }
    segment += text_[pos_++];
  }
  if (segment.empty()) return Fail(start, "empty field name between backticks", error);
  return true;
}

bool Lexer::LexField(Token& token, ParseError& error) {
  const size_t start = pos_;
  bool any_quoted = false;
  while (true) {
    const size_t segment_start = pos_;
    std::string segment;
    bool quoted = false;
    if (!LexSegment(segment, quoted, error)) return false;
    any_quoted = any_quoted || quoted;
    if (!quoted) {
      if (std::optional<Tok> keyword = KeywordKind(segment)) {
        const bool dotted = !token.path.empty() || (pos_ < text_.size() && text_[pos_] == '.');
        if (!dotted) {
          token.kind = *keyword;
          token.text = text_.substr(start, pos_ - start);
          return true;
        }
        return Fail(segment_start,
                    "'" + segment + "' is a reserved word; write `" + segment +
                        "` to use it as a field name",
                    error);
      }
    }
    token.path.push_back(std::move(segment));
    if (pos_ >= text_.size() || text_[pos_] != '.') break;
    ++pos_;
    if (pos_ >= text_.size() || !(IsIdentStart(text_[pos_]) || text_[pos_] == '`')) {
      return Fail(pos_, "expected a field name after '.'", error);
    }
  }
  if (pos_ < text_.size() && text_[pos_] == '`') {
    return Fail(pos_, "unexpected '`': separate field name segments with '.'", error);
  }
  token.kind = Tok::kField;
  token.text = text_.substr(start, pos_ - start);
  token.bare_name = token.path.size() == 1 && !any_quoted;
  return true;
}

std::string Describe(const Token& token) {
  switch (token.kind) {
    case Tok::kEnd:
      return "end of expression";
    case Tok::kInt:
    case Tok::kDouble:
      return "number " + std::string(token.text);
    case Tok::kString:
      return "string " + std::string(token.text);
    case Tok::kField:
      return "field " + std::string(token.text);
    default:
      return "'" + std::string(token.text) + "'";
  }
}

}  // namespace eddy::expr
