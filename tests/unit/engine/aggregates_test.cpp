// engine/aggregates: count and sum, all-or-nothing accumulation, merge across partitions,
// the stored encoding, the definition fingerprint and the JSON a view serves.
#include "engine/aggregates.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace eddy::engine {
namespace {

config::AggregateConfig Count(std::string name) {
  config::AggregateConfig aggregate;
  aggregate.name = std::move(name);
  aggregate.function = config::AggregateFunction::kCount;
  return aggregate;
}

config::AggregateConfig Sum(std::string name, std::string field) {
  config::AggregateConfig aggregate;
  aggregate.name = std::move(name);
  aggregate.function = config::AggregateFunction::kSum;
  Result<codec::FieldPath> path = codec::ParseFieldPath(field);
  REQUIRE(path.ok());
  aggregate.field_path = *path;
  aggregate.field_path_text = std::move(field);
  return aggregate;
}

// views = count, total = sum(duration_ms), bytes = sum(net.bytes)
AggregateSet PageviewAggregates() {
  return AggregateSet({Count("views"), Sum("total", "duration_ms"), Sum("bytes", "net.bytes")});
}

Status AccumulateJson(const AggregateSet& set, std::string_view json, AggregateValues& values) {
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(json).ok());
  return set.Accumulate(decoder, values);
}

TEST_CASE("count and sum accumulate", "[engine][aggregates]") {
  const AggregateSet set = PageviewAggregates();
  REQUIRE(set.size() == 3);
  AggregateValues values = set.Empty();
  REQUIRE(values.size() == 3);
  CHECK(values[0].count == 0);
  CHECK(values[1].sum == 0.0);
  CHECK(values[2].sum == 0.0);

  REQUIRE(AccumulateJson(set, R"({"duration_ms": 120, "net": {"bytes": 1.5}})", values).ok());
  REQUIRE(AccumulateJson(set, R"({"duration_ms": -20.25, "net": {"bytes": 0}})", values).ok());
  CHECK(values[0].count == 2);
  CHECK(values[1].sum == 99.75);
  CHECK(values[2].sum == 1.5);
  CHECK(set.ToJson(values) == R"({"views":2,"total":99.75,"bytes":1.5})");
}

TEST_CASE("count alone needs no fields", "[engine][aggregates]") {
  const AggregateSet set({Count("n")});
  AggregateValues values = set.Empty();
  REQUIRE(AccumulateJson(set, R"({})", values).ok());
  REQUIRE(AccumulateJson(set, R"({"anything": [1, 2]})", values).ok());
  CHECK(values[0].count == 2);
  CHECK(set.ToJson(values) == R"({"n":2})");
}

TEST_CASE("a record with a bad sum field changes no aggregate", "[engine][aggregates]") {
  const AggregateSet set = PageviewAggregates();
  AggregateValues values = set.Empty();
  REQUIRE(AccumulateJson(set, R"({"duration_ms": 10, "net": {"bytes": 5}})", values).ok());
  const std::string before = set.Encode(values);

  SECTION("the last sum field is missing") {
    // The count comes first and total second: both would already have changed if
    // accumulation were not all-or-nothing.
    const Status status = AccumulateJson(set, R"({"duration_ms": 10})", values);
    CHECK(status.code() == StatusCode::kNotFound);
    CHECK_THAT(status.message(), Catch::Contains("net.bytes"));
  }
  SECTION("a sum field has the wrong type") {
    const Status status =
        AccumulateJson(set, R"({"duration_ms": "10", "net": {"bytes": 1}})", values);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains("duration_ms"));
  }
  SECTION("a sum field is null") {
    const Status status =
        AccumulateJson(set, R"({"duration_ms": null, "net": {"bytes": 1}})", values);
    CHECK(status.code() == StatusCode::kInvalidArgument);
  }
  CHECK(set.Encode(values) == before);
  CHECK(values[0].count == 1);
}

TEST_CASE("Merge folds one partition's window into another's", "[engine][aggregates]") {
  const AggregateSet set = PageviewAggregates();
  AggregateValues a = set.Empty();
  AggregateValues b = set.Empty();
  REQUIRE(AccumulateJson(set, R"({"duration_ms": 1, "net": {"bytes": 10}})", a).ok());
  REQUIRE(AccumulateJson(set, R"({"duration_ms": 2, "net": {"bytes": 20}})", b).ok());
  REQUIRE(AccumulateJson(set, R"({"duration_ms": 4, "net": {"bytes": 40}})", b).ok());
  set.Merge(b, a);
  CHECK(a[0].count == 3);
  CHECK(a[1].sum == 7.0);
  CHECK(a[2].sum == 70.0);
  // `other` is untouched; merging an empty value changes nothing.
  CHECK(b[0].count == 2);
  const std::string merged = set.Encode(a);
  set.Merge(set.Empty(), a);
  CHECK(set.Encode(a) == merged);
}

TEST_CASE("Encode/Decode round-trip; wrong sizes and versions are rejected",
          "[engine][aggregates]") {
  const AggregateSet set = PageviewAggregates();
  AggregateValues values = set.Empty();
  values[0].count = -3;  // any int64, not just what counting produces
  values[1].sum = -0.1;
  values[2].sum = 1e300;
  const std::string encoded = set.Encode(values);
  REQUIRE(encoded.size() == 1 + 8 * 3);
  CHECK(encoded[0] == '\x01');
  // Slots are little-endian: the count -3 starts with 0xFD.
  CHECK(static_cast<unsigned char>(encoded[1]) == 0xFD);

  const std::optional<AggregateValues> decoded = set.Decode(encoded);
  REQUIRE(decoded.has_value());
  CHECK((*decoded)[0].count == -3);
  CHECK((*decoded)[1].sum == -0.1);
  CHECK((*decoded)[2].sum == 1e300);

  CHECK_FALSE(set.Decode("").has_value());
  CHECK_FALSE(set.Decode(encoded.substr(0, encoded.size() - 1)).has_value());
  CHECK_FALSE(set.Decode(encoded + '\0').has_value());
  std::string other_version = encoded;
  other_version[0] = '\x02';
  CHECK_FALSE(set.Decode(other_version).has_value());
  // Another layout's value (one slot) does not decode as this one's (three slots).
  const AggregateSet one({Count("n")});
  CHECK_FALSE(set.Decode(one.Encode(one.Empty())).has_value());
  CHECK(one.Decode(one.Encode(one.Empty())).has_value());
}

TEST_CASE("Fingerprint identifies the slot layout", "[engine][aggregates]") {
  CHECK(PageviewAggregates().Fingerprint() ==
        "count:views,sum(duration_ms):total,sum(net.bytes):bytes");
  CHECK(AggregateSet({Count("n")}).Fingerprint() == "count:n");
  // Order, function, field and name all matter.
  const std::string base = AggregateSet({Count("a"), Sum("b", "x")}).Fingerprint();
  CHECK(AggregateSet({Sum("b", "x"), Count("a")}).Fingerprint() != base);
  CHECK(AggregateSet({Count("a"), Sum("b", "y")}).Fingerprint() != base);
  CHECK(AggregateSet({Count("a"), Sum("c", "x")}).Fingerprint() != base);
  CHECK(AggregateSet({Count("a"), Count("b")}).Fingerprint() != base);
}

TEST_CASE("ToJson prints counts as integers and sums as shortest doubles", "[engine][aggregates]") {
  const AggregateSet set({Count("views"), Sum("total", "d")});
  AggregateValues values = set.Empty();
  CHECK(set.ToJson(values) == R"({"views":0,"total":0})");
  values[0].count = 9'007'199'254'740'993;  // beyond 2^53: printed exactly
  values[1].sum = 0.1 + 0.2;
  CHECK(set.ToJson(values) == R"({"views":9007199254740993,"total":0.30000000000000004})");
  values[1].sum = 120.0;
  CHECK(set.ToJson(values) == R"({"views":9007199254740993,"total":120})");
}

}  // namespace
}  // namespace eddy::engine
