// Randomized: integer arithmetic and comparisons generated as a tree, printed with only the
// parentheses precedence requires, and checked against the same tree computed directly in C++
// (int64 with the language's rules: overflow and division by zero are null, null propagates).
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "unit/expr/test_util.h"

namespace eddy::expr {
namespace {

using Int = std::optional<int64_t>;  // nullopt: null

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Precedence levels as the grammar has them.
enum Level { kAdditive = 1, kMultiplicative = 2, kUnary = 3, kPrimary = 4 };

struct Generated {
  std::string text;
  Int value;
  int level;
};

Int Apply(char op, Int a, Int b) {
  if (!a || !b) return std::nullopt;
  const int64_t x = *a;
  const int64_t y = *b;
  int64_t r = 0;
  switch (op) {
    case '+':
      return __builtin_add_overflow(x, y, &r) ? Int() : Int(r);
    case '-':
      return __builtin_sub_overflow(x, y, &r) ? Int() : Int(r);
    case '*':
      return __builtin_mul_overflow(x, y, &r) ? Int() : Int(r);
    case '/':
      if (y == 0 || (x == kMin && y == -1)) return std::nullopt;
      return x / y;
    default:  // '%'
      if (y == 0) return std::nullopt;
      if (y == -1) return 0;
      return x % y;
  }
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  // A record {"f0": .., "f3": ..}; fields[i] is f<i>'s value.
  std::string NewRecord() {
    std::string json = "{";
    for (int i = 0; i < 4; ++i) {
      fields_[i] = Number();
      if (i > 0) json += ',';
      json += "\"f" + std::to_string(i) + "\":" + std::to_string(fields_[i]);
    }
    return json + "}";
  }

  Generated Arithmetic(int depth) {
    const int choice = Pick(0, 9);
    if (depth == 0 || choice < 2) return Leaf();
    if (choice == 2) {
      Generated operand = Arithmetic(depth - 1);
      Int value = operand.value && *operand.value != kMin ? Int(-*operand.value) : Int();
      const std::string inner = Wrap(operand, kUnary);
      return {(inner[0] == '-' ? "- " : "-") + inner, value, kUnary};
    }
    if (choice == 3) {  // redundant parentheses
      Generated inner = Arithmetic(depth - 1);
      return {"(" + inner.text + ")", inner.value, kPrimary};
    }
    static constexpr char kOps[] = {'+', '-', '*', '/', '%'};
    const char op = kOps[Pick(0, 4)];
    const int level = op == '+' || op == '-' ? kAdditive : kMultiplicative;
    Generated left = Arithmetic(depth - 1);
    Generated right = Arithmetic(depth - 1);
    // Left-associative: the left operand may be at the same level, the right one must bind
    // tighter.
    std::string text = Wrap(left, level) + Space() + op + Space() + Wrap(right, level + 1);
    return {text, Apply(op, left.value, right.value), level};
  }

  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

 private:
  static std::string Wrap(const Generated& g, int min_level) {
    return g.level >= min_level ? g.text : "(" + g.text + ")";
  }

  std::string Space() { return Pick(0, 3) == 0 ? "" : " "; }

  int64_t Number() {
    switch (Pick(0, 9)) {
      case 0:
        return std::uniform_int_distribution<int64_t>(kMin, kMax)(rng_);
      case 1: {
        static constexpr int64_t kEdges[] = {kMin,
                                             kMax,
                                             kMin + 1,
                                             kMax - 1,
                                             int64_t{1} << 31,
                                             (int64_t{1} << 53) + 1,
                                             -(int64_t{1} << 32)};
        return kEdges[Pick(0, 6)];
      }
      case 2:
        return Pick(-1, 1);
      default:
        return Pick(-1000, 1000);
    }
  }

  Generated Leaf() {
    const int choice = Pick(0, 9);
    if (choice < 4) {
      const int i = Pick(0, 3);
      return {"f" + std::to_string(i), fields_[i], kPrimary};
    }
    if (choice == 4) return {"missing", std::nullopt, kPrimary};
    const int64_t n = Number();
    // A negative literal is folded by the parser but reads like unary minus.
    return {std::to_string(n), n, n < 0 ? kUnary : kPrimary};
  }

  std::mt19937_64 rng_;
  int64_t fields_[4] = {};
};

TEST_CASE("Random integer arithmetic matches C++", "[expr][random]") {
  Generator gen(20240501);
  codec::JsonRecordDecoder decoder;
  int nulls = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string record = gen.NewRecord();
    const Generated g = gen.Arithmetic(4);
    INFO("record: " << record << "\nexpression: " << g.text);
    REQUIRE(decoder.Parse(record).ok());
    Result<Value> value = MustParse(g.text).Evaluate(decoder);
    REQUIRE(value.ok());
    CHECK(*value == (g.value ? Value::Int(*g.value) : Value::Null()));
    nulls += g.value ? 0 : 1;
  }
  // The generator must exercise both paths.
  CHECK(nulls > 100);
  CHECK(nulls < 2000);
}

TEST_CASE("Random integer comparisons match C++", "[expr][random]") {
  Generator gen(7);
  codec::JsonRecordDecoder decoder;
  static constexpr const char* kOps[] = {"==", "!=", "<", "<=", ">", ">="};
  for (int i = 0; i < 2000; ++i) {
    const std::string record = gen.NewRecord();
    const Generated a = gen.Arithmetic(2);
    const Generated b = gen.Arithmetic(2);
    const int op = gen.Pick(0, 5);
    const std::string text = a.text + " " + kOps[op] + " " + b.text;
    bool expected = false;  // any comparison with null is false
    if (a.value && b.value) {
      const int64_t x = *a.value;
      const int64_t y = *b.value;
      const bool results[] = {x == y, x != y, x<y, x <= y, x> y, x >= y};
      expected = results[op];
    }
    INFO("record: " << record << "\nexpression: " << text);
    REQUIRE(decoder.Parse(record).ok());
    Result<bool> keep = MustParse(text).EvaluatePredicate(decoder);
    REQUIRE(keep.ok());
    CHECK(*keep == expected);
  }
}

}  // namespace
}  // namespace eddy::expr
