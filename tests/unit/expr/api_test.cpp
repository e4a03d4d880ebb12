// The public surface around evaluation: ReferencedFields, MayYield, Value conversions, and
// sharing one Expression between threads.
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "unit/expr/test_util.h"

namespace eddy::expr {
namespace {

TEST_CASE("ReferencedFields lists each field once, in order of first appearance", "[expr][api]") {
  const Expression e =
      MustParse("a.b + coalesce(a.b, c) > `x y`.z and c in [1] and lower(s) == 'q' or a.b > 0");
  CHECK(e.ReferencedFields() ==
        std::vector<codec::FieldPath>{{"a", "b"}, {"c"}, {"x y", "z"}, {"s"}});
  CHECK(MustParse("1 + 2 == 3").ReferencedFields().empty());
  CHECK(MustParse("`in`.`a.b`").ReferencedFields() == std::vector<codec::FieldPath>{{"in", "a.b"}});
}

TEST_CASE("MayYield reports what the type checker proved", "[expr][api]") {
  using T = Value::Type;
  const Expression sum = MustParse("amount + 1");
  CHECK_FALSE(sum.MayYield(T::kBool));
  CHECK_FALSE(sum.MayYield(T::kString));
  CHECK(sum.MayYield(T::kInt));
  CHECK(sum.MayYield(T::kDouble));
  CHECK(sum.MayYield(T::kNull));

  const Expression predicate = MustParse("a > 1 or b is null");
  CHECK(predicate.MayYield(T::kBool));
  CHECK_FALSE(predicate.MayYield(T::kNull));
  CHECK_FALSE(predicate.MayYield(T::kInt));

  CHECK_FALSE(MustParse("7 / 2").MayYield(T::kDouble));
  CHECK(MustParse("7 / 2.0").MayYield(T::kDouble));
  CHECK(MustParse("lower(x)").MayYield(T::kString));
  CHECK_FALSE(MustParse("lower(x)").MayYield(T::kBool));
  CHECK(MustParse("not x").MayYield(T::kNull));
  CHECK_FALSE(MustParse("coalesce(x, 1)").MayYield(T::kNull));
  CHECK(MustParse("coalesce(x, y)").MayYield(T::kNull));
  CHECK(MustParse("x").MayYield(T::kBool));
  CHECK_FALSE(MustParse("'a'").MayYield(T::kNull));
}

TEST_CASE("text() is the expression as written", "[expr][api]") {
  CHECK(MustParse("  a ==  1 ").text() == "  a ==  1 ");
}

TEST_CASE("Value::ToJson", "[expr][api]") {
  CHECK(Value::Null().ToJson() == "null");
  CHECK(Value::Bool(true).ToJson() == "true");
  CHECK(Value::Int(-3).ToJson() == "-3");
  CHECK(Value::Double(2.5).ToJson() == "2.5");
  CHECK(Value::String("a\"b\n\u00e9").ToJson() == "\"a\\\"b\\n\u00e9\"");
  CHECK(Eval("s + '!'", R"({"s":"x\"y"})").ToJson() == R"("x\"y!")");
}

TEST_CASE("Value::ToKeyString follows JsonRecordDecoder::KeyString", "[expr][api]") {
  CHECK(*Value::String("u-1").ToKeyString() == "u-1");
  CHECK(*Value::Int(-42).ToKeyString() == "-42");
  CHECK(*Value::Bool(false).ToKeyString() == "false");
  Result<std::string> null_key = Value::Null().ToKeyString();
  REQUIRE_FALSE(null_key.ok());
  CHECK(null_key.status().code() == StatusCode::kInvalidArgument);
  CHECK(null_key.status().message() == "key expression evaluated to null");
  Result<std::string> double_key = Value::Double(1.5).ToKeyString();
  REQUIRE_FALSE(double_key.ok());
  CHECK(double_key.status().message() ==
        "key expression evaluated to a floating-point number (1.5), expected a string, an "
        "integer or a boolean");
  // Rekeying by a computed value.
  CHECK(*Eval("lower(user.id) + '/' + string(region)", R"({"user":{"id":"AB"},"region":7})")
             .ToKeyString() == "ab/7");
}

TEST_CASE("Copies share the program and outlive the original", "[expr][api]") {
  std::optional<Expression> copy;
  {
    const Expression original = MustParse("lower(s) == 'x'");
    copy = original;
  }
  CHECK(EvalOn(*copy, R"({"s":"X"})") == Value::Bool(true));
}

TEST_CASE("One Expression evaluated from several threads", "[expr][api][threads]") {
  const Expression filter = MustParse("n % 3 == 0 and starts_with(lower(name), 'a')");
  constexpr int kThreads = 4;
  constexpr int kRecords = 20000;
  std::atomic<int> kept{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      codec::JsonRecordDecoder decoder;  // one per thread, as the contract requires
      for (int n = 0; n < kRecords; ++n) {
        const std::string json =
            "{\"n\":" + std::to_string(n) + ",\"name\":\"" + (n % 2 == 0 ? "Alice" : "bob") + "\"}";
        if (!decoder.Parse(json).ok()) {
          ++failures;
          continue;
        }
        Result<bool> keep = filter.EvaluatePredicate(decoder);
        if (!keep.ok()) {
          ++failures;
        } else if (*keep) {
          ++kept;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  int expected = 0;
  for (int n = 0; n < kRecords; ++n) expected += (n % 3 == 0 && n % 2 == 0) ? 1 : 0;
  CHECK(failures == 0);
  CHECK(kept == expected * kThreads);
}

}  // namespace
}  // namespace eddy::expr
