// engine/aggregates: every function, all-or-nothing accumulation, merge across partitions,
// the stored encoding (round trips, rejection of anything else), the definition fingerprint
// and the JSON a view serves.
#include "engine/aggregates.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace eddy::engine {
namespace {

using config::AggregateFunction;
using config::DistinctMode;

config::AggregateConfig Agg(std::string name, AggregateFunction function, std::string field = "",
                            DistinctMode mode = DistinctMode::kExact) {
  config::AggregateConfig aggregate;
  aggregate.name = std::move(name);
  aggregate.function = function;
  aggregate.distinct_mode = mode;
  if (!field.empty()) {
    Result<codec::FieldPath> path = codec::ParseFieldPath(field);
    REQUIRE(path.ok());
    aggregate.field_path = *path;
    aggregate.field_path_text = std::move(field);
  }
  return aggregate;
}

config::AggregateConfig Count(std::string name) {
  return Agg(std::move(name), AggregateFunction::kCount);
}

config::AggregateConfig Sum(std::string name, std::string field) {
  return Agg(std::move(name), AggregateFunction::kSum, std::move(field));
}

// views = count, total = sum(duration_ms), bytes = sum(net.bytes)
AggregateSet PageviewAggregates() {
  return AggregateSet({Count("views"), Sum("total", "duration_ms"), Sum("bytes", "net.bytes")});
}

Status AccumulateJson(const AggregateSet& set, std::string_view json, AggregateValues& values,
                      int64_t event_time_ms = 0) {
  codec::JsonRecordDecoder decoder;
  REQUIRE(decoder.Parse(json).ok());
  return set.Accumulate(decoder, event_time_ms, values);
}

// Accumulates every record, which must all succeed.
void AccumulateAll(const AggregateSet& set, const std::vector<std::string>& records,
                   AggregateValues& values) {
  for (const std::string& record : records) {
    INFO(record);
    REQUIRE(AccumulateJson(set, record, values).ok());
  }
}

// Decode(Encode(values)) encodes to the same bytes and serves the same JSON.
void CheckRoundTrip(const AggregateSet& set, const AggregateValues& values) {
  const std::string encoded = set.Encode(values);
  const std::optional<AggregateValues> decoded = set.Decode(encoded);
  REQUIRE(decoded.has_value());
  CHECK(set.Encode(*decoded) == encoded);
  CHECK(set.ToJson(*decoded) == set.ToJson(values));
}

TEST_CASE("count and sum accumulate", "[engine][aggregates]") {
  const AggregateSet set = PageviewAggregates();
  REQUIRE(set.size() == 3);
  AggregateValues values = set.Empty();
  REQUIRE(values.size() == 3);
  CHECK(values[0].count == 0);
  CHECK(values[1].number == 0.0);
  CHECK(values[2].number == 0.0);

  REQUIRE(AccumulateJson(set, R"({"duration_ms": 120, "net": {"bytes": 1.5}})", values).ok());
  REQUIRE(AccumulateJson(set, R"({"duration_ms": -20.25, "net": {"bytes": 0}})", values).ok());
  CHECK(values[0].count == 2);
  CHECK(values[1].number == 99.75);
  CHECK(values[2].number == 1.5);
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

TEST_CASE("min, max and avg of a numeric field", "[engine][aggregates]") {
  const AggregateSet set({Agg("lo", AggregateFunction::kMin, "v"),
                          Agg("hi", AggregateFunction::kMax, "v"),
                          Agg("mean", AggregateFunction::kAvg, "v")});
  AggregateValues values = set.Empty();
  // No record yet: no value (a stored window always has one; Empty() is the merge identity).
  CHECK(set.ToJson(values) == R"({"lo":null,"hi":null,"mean":null})");

  REQUIRE(AccumulateJson(set, R"({"v": 3})", values).ok());
  CHECK(set.ToJson(values) == R"({"lo":3,"hi":3,"mean":3})");
  AccumulateAll(set, {R"({"v": -2.5})", R"({"v": 10})", R"({"v": 0.5})"}, values);
  CHECK(set.ToJson(values) == R"({"lo":-2.5,"hi":10,"mean":2.75})");
  CHECK(values[2].count == 4);
  CHECK(values[2].number == 11.0);  // avg keeps the sum and the count
  CheckRoundTrip(set, values);
}

TEST_CASE("avg merges exactly across partitions", "[engine][aggregates]") {
  const AggregateSet set({Agg("mean", AggregateFunction::kAvg, "v"),
                          Agg("lo", AggregateFunction::kMin, "v"),
                          Agg("hi", AggregateFunction::kMax, "v")});
  AggregateValues a = set.Empty();
  AggregateValues b = set.Empty();
  AccumulateAll(set, {R"({"v": 1})", R"({"v": 2})"}, a);
  AccumulateAll(set, {R"({"v": 9})"}, b);
  // The mean of the means would be 5.25; the mean of the records is 4.
  set.Merge(b, a);
  CHECK(set.ToJson(a) == R"({"mean":4,"lo":1,"hi":9})");
  // Merging into an empty value copies; merging an empty value changes nothing.
  AggregateValues empty = set.Empty();
  set.Merge(a, empty);
  CHECK(set.ToJson(empty) == set.ToJson(a));
  const std::string before = set.Encode(a);
  set.Merge(set.Empty(), a);
  CHECK(set.Encode(a) == before);
}

TEST_CASE("count_distinct exact compares values by type and value", "[engine][aggregates]") {
  const AggregateSet set({Agg("n", AggregateFunction::kCountDistinct, "v")});
  AggregateValues values = set.Empty();
  CHECK(set.ToJson(values) == R"({"n":0})");

  AccumulateAll(set,
                {
                    R"({"v": "a"})",
                    R"({"v": "a"})",
                    R"({"v": "\u0061"})",  // the same string, spelled differently
                    R"({"v": "1"})",       // a string, not the number 1
                    R"({"v": 1})",
                    R"({"v": 1.0})",  // numbers compare by value: 1, 1.0, 1e0, 10e-1 are one
                    R"({"v": 1e0})",
                    R"({"v": 10e-1})",
                    R"({"v": -0})",
                    R"({"v": 0.0})",
                    R"({"v": 2.5})",
                    R"({"v": 25e-1})",
                    R"({"v": true})",
                    R"({"v": false})",
                    R"({"v": "true"})",
                    // Integers are exact: 2^53 and 2^53 + 1 differ (they are one double).
                    R"({"v": 9007199254740992})",
                    R"({"v": 9007199254740993})",
                    R"({"v": 9007199254740992.0})",
                    R"({"v": 18446744073709551615})",
                },
                values);
  // "a", "1", 1, 0, 2.5, true, false, "true", 2^53, 2^53 + 1, 2^64 - 1
  CHECK(set.ToJson(values) == R"({"n":11})");
  CHECK(values[0].distinct.count("\"a\"") == 1);
  CHECK(values[0].distinct.count("9007199254740992") == 1);
  CHECK(values[0].distinct.count("2.5") == 1);
  CheckRoundTrip(set, values);
}

TEST_CASE("count_distinct rejects values that are not scalars", "[engine][aggregates]") {
  const AggregateSet set({Count("c"), Agg("n", AggregateFunction::kCountDistinct, "v")});
  AggregateValues values = set.Empty();
  REQUIRE(AccumulateJson(set, R"({"v": "x"})", values).ok());
  const std::string before = set.Encode(values);
  for (const char* record : {R"({"v": null})", R"({"v": {"a": 1}})", R"({"v": [1]})"}) {
    const Status status = AccumulateJson(set, record, values);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains("field 'v' is") &&
                                     Catch::Contains("expected a string, a number or a boolean"));
  }
  CHECK(AccumulateJson(set, R"({"w": 1})", values).code() == StatusCode::kNotFound);
  CHECK(set.Encode(values) == before);
  CHECK(AccumulateJson(set, R"({"v": {}})", values).message() ==
        "field 'v' is an object, expected a string, a number or a boolean");
}

TEST_CASE("count_distinct approximate is near-exact for small counts and merges as a union",
          "[engine][aggregates]") {
  const AggregateSet set(
      {Agg("users", AggregateFunction::kCountDistinct, "user", DistinctMode::kApproximate),
       Agg("exact", AggregateFunction::kCountDistinct, "user")});
  AggregateValues a = set.Empty();
  AggregateValues b = set.Empty();
  AggregateValues all = set.Empty();
  // 100 distinct users; a sees 0..69, b sees 30..99, each twice.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 100; ++i) {
      const std::string record = R"({"user": "u)" + std::to_string(i) + R"("})";
      if (i < 70) REQUIRE(AccumulateJson(set, record, a).ok());
      if (i >= 30) REQUIRE(AccumulateJson(set, record, b).ok());
      REQUIRE(AccumulateJson(set, record, all).ok());
    }
  }
  const double estimate = all[0].sketch.Estimate();
  CHECK(std::abs(estimate - 100.0) <= 2.0);
  set.Merge(b, a);
  CHECK(a[0].sketch == all[0].sketch);  // register-wise max is the sketch of the union
  CHECK(set.ToJson(a) == set.ToJson(all));
  CHECK(set.ToJson(all) ==
        R"({"users":)" + std::to_string(std::llround(estimate)) + R"(,"exact":100})");
  CheckRoundTrip(set, a);
}

TEST_CASE("count_distinct approximate hashes canonical values", "[engine][aggregates]") {
  const AggregateSet set(
      {Agg("n", AggregateFunction::kCountDistinct, "v", DistinctMode::kApproximate)});
  AggregateValues values = set.Empty();
  AccumulateAll(set, {R"({"v": 1})", R"({"v": 1.0})", R"({"v": "1"})", R"({"v": true})"}, values);
  CHECK(set.ToJson(values) == R"({"n":3})");
}

TEST_CASE("first and last go by event time, ties by arrival", "[engine][aggregates]") {
  const AggregateSet set({Agg("first", AggregateFunction::kFirst, "v"),
                          Agg("last", AggregateFunction::kLast, "v"),
                          Agg("latest", AggregateFunction::kLatest, "v")});
  AggregateValues values = set.Empty();
  CHECK(set.ToJson(values) == R"({"first":null,"last":null,"latest":null})");

  struct Arrival {
    int64_t event_time_ms;
    const char* record;
  };
  const std::vector<Arrival> arrivals = {
      {20, R"({"v": "b"})"},
      {10, R"({"v": {"page": "a", "ids": [1, 2]}})"},  // earliest: first
      {10, R"({"v": "a, arrived later"})"},            // same time, later: not first
      {30, R"({"v": 1.50})"},
      {30, R"({"v": null})"},  // same time, later: last (null is a value)
      {15, R"({"v": true})"},  // processed last: latest, whatever its event time
  };
  for (const Arrival& arrival : arrivals) {
    REQUIRE(AccumulateJson(set, arrival.record, values, arrival.event_time_ms).ok());
  }
  CHECK(set.ToJson(values) == R"({"first":{"page":"a","ids":[1,2]},"last":null,"latest":true})");
  CHECK(values[0].event_time_ms == 10);
  CHECK(values[1].event_time_ms == 30);
  CHECK(values[2].event_time_ms == 15);
  CheckRoundTrip(set, values);
}

TEST_CASE("first, last and latest merge by event time", "[engine][aggregates]") {
  const AggregateSet set({Agg("first", AggregateFunction::kFirst, "v"),
                          Agg("last", AggregateFunction::kLast, "v"),
                          Agg("latest", AggregateFunction::kLatest, "v")});
  const auto window = [&](std::vector<std::pair<int64_t, std::string>> records) {
    AggregateValues values = set.Empty();
    for (const auto& [time, v] : records) {
      REQUIRE(AccumulateJson(set, R"({"v": ")" + v + R"("})", values, time).ok());
    }
    return values;
  };

  SECTION("different event times") {
    AggregateValues into = window({{10, "into-10"}, {50, "into-50"}, {20, "into-20"}});
    const AggregateValues other = window({{5, "other-5"}, {40, "other-40"}});
    set.Merge(other, into);
    // latest: into's latest record (20) is older than other's (40).
    CHECK(set.ToJson(into) == R"({"first":"other-5","last":"into-50","latest":"other-40"})");
  }
  SECTION("ties: first keeps into's, last and latest take other's") {
    AggregateValues into = window({{10, "into-10"}, {50, "into-50"}});
    const AggregateValues other = window({{10, "other-10"}, {50, "other-50"}});
    set.Merge(other, into);
    CHECK(set.ToJson(into) == R"({"first":"into-10","last":"other-50","latest":"other-50"})");
  }
  SECTION("empty values") {
    AggregateValues into = set.Empty();
    const AggregateValues other = window({{7, "x"}});
    set.Merge(other, into);
    CHECK(set.ToJson(into) == R"({"first":"x","last":"x","latest":"x"})");
    set.Merge(set.Empty(), into);
    CHECK(set.ToJson(into) == R"({"first":"x","last":"x","latest":"x"})");
  }
}

TEST_CASE("a record with a bad field changes no aggregate", "[engine][aggregates]") {
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

TEST_CASE("every function fails the whole record on a missing or bad field",
          "[engine][aggregates]") {
  // Each aggregate reads its own field; the record below is fine for all but `bad`.
  const AggregateFunction function =
      GENERATE(AggregateFunction::kSum, AggregateFunction::kMin, AggregateFunction::kMax,
               AggregateFunction::kAvg, AggregateFunction::kCountDistinct,
               AggregateFunction::kFirst, AggregateFunction::kLast, AggregateFunction::kLatest);
  const AggregateSet set({
      Count("c"), Agg("lo", AggregateFunction::kMin, "n"),
      Agg("users", AggregateFunction::kCountDistinct, "s"),
      Agg("sketch", AggregateFunction::kCountDistinct, "s", DistinctMode::kApproximate),
      Agg("first", AggregateFunction::kFirst, "s"), Agg("latest", AggregateFunction::kLatest, "s"),
      Agg("bad", function, "bad"),  // last: everything before it has read its input
  });
  AggregateValues values = set.Empty();
  REQUIRE(AccumulateJson(set, R"({"n": 1, "s": "a", "bad": 2})", values, 100).ok());
  const std::string before = set.Encode(values);

  const Status missing = AccumulateJson(set, R"({"n": 0, "s": "b"})", values, 50);
  CHECK(missing.code() == StatusCode::kNotFound);
  CHECK(missing.message() == "field 'bad' not found");
  CHECK(set.Encode(values) == before);

  // An object: not a number, not a scalar; first/last/latest take any value.
  const Status object = AccumulateJson(set, R"({"n": 0, "s": "b", "bad": {}})", values, 50);
  const bool takes_any_value = function == AggregateFunction::kFirst ||
                               function == AggregateFunction::kLast ||
                               function == AggregateFunction::kLatest;
  CHECK(object.ok() == takes_any_value);
  if (!takes_any_value) CHECK(set.Encode(values) == before);
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
  CHECK(a[1].number == 7.0);
  CHECK(a[2].number == 70.0);
  // `other` is untouched; merging an empty value changes nothing.
  CHECK(b[0].count == 2);
  const std::string merged = set.Encode(a);
  set.Merge(set.Empty(), a);
  CHECK(set.Encode(a) == merged);
}

// Every function and mode, for encoding tests.
AggregateSet EveryFunction() {
  return AggregateSet({
      Count("count"),
      Sum("sum", "n"),
      Agg("min", AggregateFunction::kMin, "n"),
      Agg("max", AggregateFunction::kMax, "n"),
      Agg("avg", AggregateFunction::kAvg, "n"),
      Agg("exact", AggregateFunction::kCountDistinct, "s"),
      Agg("approx", AggregateFunction::kCountDistinct, "s", DistinctMode::kApproximate),
      Agg("first", AggregateFunction::kFirst, "s"),
      Agg("last", AggregateFunction::kLast, "s"),
      Agg("latest", AggregateFunction::kLatest, "s"),
  });
}

TEST_CASE("Encode/Decode round-trip every function", "[engine][aggregates]") {
  const AggregateSet set = EveryFunction();
  AggregateValues values = set.Empty();
  SECTION("empty") {
    CheckRoundTrip(set, values);
    CHECK(set.Encode(values).size() == 1 + 8 + 8 + 3 * 16 + 4 + 1 + 3 * 1);
  }
  SECTION("a few records: sparse sketch") {
    AccumulateAll(
        set, {R"({"n": 1, "s": "x"})", R"({"n": -7.25, "s": 3})", R"({"n": 1e300, "s": true})"},
        values);
    CheckRoundTrip(set, values);
    CHECK(set.Encode(values).size() < 200);
  }
  SECTION("many records: dense sketch") {
    for (int i = 0; i < 20'000; ++i) {
      REQUIRE(AccumulateJson(
                  set, R"({"n": )" + std::to_string(i) + R"(, "s": )" + std::to_string(i) + "}",
                  values, i)
                  .ok());
    }
    CheckRoundTrip(set, values);
    CHECK(set.ToJson(values).find(R"("exact":20000,)") != std::string::npos);
  }
  SECTION("any int64 count and any double") {
    values[0].count = -3;
    values[1].number = -0.1;
    values[4].count = 1;
    values[4].number = 1e300;
    const std::string encoded = set.Encode(values);
    CHECK(encoded[0] == '\x02');
    // Slots are little-endian: the count -3 starts with 0xFD.
    CHECK(static_cast<unsigned char>(encoded[1]) == 0xFD);
    const std::optional<AggregateValues> decoded = set.Decode(encoded);
    REQUIRE(decoded.has_value());
    CHECK((*decoded)[0].count == -3);
    CHECK((*decoded)[1].number == -0.1);
    CHECK((*decoded)[4].number == 1e300);
  }
}

TEST_CASE("Decode rejects other layouts, versions and malformed slots", "[engine][aggregates]") {
  const AggregateSet set = PageviewAggregates();
  const std::string encoded = set.Encode(set.Empty());
  REQUIRE(encoded.size() == 1 + 8 * 3);
  CHECK(set.Decode(encoded).has_value());
  CHECK_FALSE(set.Decode("").has_value());
  CHECK_FALSE(set.Decode(encoded.substr(0, encoded.size() - 1)).has_value());
  CHECK_FALSE(set.Decode(encoded + '\0').has_value());
  std::string version_1 = encoded;  // count/sum values of eddy before version 2
  version_1[0] = '\x01';
  CHECK_FALSE(set.Decode(version_1).has_value());
  // Another layout's value (one slot) does not decode as this one's (three slots).
  const AggregateSet one({Count("n")});
  CHECK_FALSE(set.Decode(one.Encode(one.Empty())).has_value());
  CHECK(one.Decode(one.Encode(one.Empty())).has_value());

  const AggregateSet distinct({Agg("n", AggregateFunction::kCountDistinct, "v")});
  const auto exact = [](std::vector<std::string> values) {
    std::string out = "\x02";
    out.append({static_cast<char>(values.size()), 0, 0, 0});
    for (const std::string& v : values) {
      out.append({static_cast<char>(v.size()), 0, 0, 0});
      out += v;
    }
    return out;
  };
  CHECK(distinct.Decode(exact({"\"a\"", "\"b\""})).has_value());
  CHECK_FALSE(distinct.Decode(exact({"\"b\"", "\"a\""})).has_value());  // not sorted
  CHECK_FALSE(distinct.Decode(exact({"\"a\"", "\"a\""})).has_value());  // duplicate
  CHECK_FALSE(distinct.Decode(exact({""})).has_value());
  CHECK_FALSE(distinct.Decode(std::string("\x02\xFF\xFF\xFF\xFF", 5)).has_value());

  const AggregateSet sketch(
      {Agg("n", AggregateFunction::kCountDistinct, "v", DistinctMode::kApproximate)});
  CHECK(sketch.Decode(std::string("\x02\x00", 2)).has_value());
  // Sparse: u16 count, then (u16 index, u8 register).
  CHECK(sketch.Decode(std::string("\x02\x02\x01\x00\x05\x00\x07", 7)).has_value());
  CHECK_FALSE(sketch.Decode(std::string("\x02\x02\x01\x00\x05\x00\x00", 7)).has_value());
  CHECK_FALSE(sketch.Decode(std::string("\x02\x02\x01\x00\x05\x00\x34", 7)).has_value());  // 52
  CHECK_FALSE(sketch.Decode(std::string("\x02\x02\x01\x00\xFF\xFF\x07", 7)).has_value());
  CHECK_FALSE(  // indices must increase
      sketch.Decode(std::string("\x02\x02\x02\x00\x05\x00\x07\x04\x00\x07", 10)).has_value());
  CHECK_FALSE(sketch.Decode(std::string("\x02\x03", 2)).has_value());  // unknown form
  std::string dense = std::string("\x02\x01", 2) + std::string(HyperLogLog::kRegisters, '\x01');
  CHECK(sketch.Decode(dense).has_value());
  dense.back() = '\x34';
  CHECK_FALSE(sketch.Decode(dense).has_value());
  CHECK_FALSE(sketch.Decode(dense.substr(0, 100)).has_value());

  const AggregateSet first({Agg("f", AggregateFunction::kFirst, "v")});
  CHECK(first.Decode(std::string("\x02\x00", 2)).has_value());
  CHECK_FALSE(first.Decode(std::string("\x02\x02", 2)).has_value());
  CHECK_FALSE(  // a value of length 0
      first.Decode(std::string("\x02\x01\0\0\0\0\0\0\0\0\0\0\0\0", 14)).has_value());
}

TEST_CASE("Decode survives random and mutated bytes", "[engine][aggregates]") {
  const AggregateSet set = EveryFunction();
  AggregateValues values = set.Empty();
  AccumulateAll(set, {R"({"n": 1, "s": "x"})", R"({"n": 2, "s": "yy"})"}, values);
  const std::string valid = set.Encode(values);
  std::mt19937_64 random(20240501);
  const auto byte = [&] { return static_cast<char>(random() & 0xFFu); };
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      // Random bytes, mostly starting with the right version so that slots get parsed.
      bytes.resize(random() % 200);
      for (char& c : bytes) c = byte();
      if (!bytes.empty() && i % 4 == 0) bytes[0] = '\x02';
    } else {
      // The valid encoding with a few bytes changed, and maybe cut short or extended.
      bytes = valid;
      for (uint64_t n = 1 + random() % 4; n > 0; --n) bytes[random() % bytes.size()] = byte();
      if (random() % 3 == 0) bytes.resize(random() % (bytes.size() + 8), byte());
    }
    const std::optional<AggregateValues> decoded = set.Decode(bytes);
    // Whatever decodes is a valid value: it encodes back to bytes that decode.
    if (decoded) CHECK(set.Decode(set.Encode(*decoded)).has_value());
  }
}

TEST_CASE("Fingerprint identifies the slot layout", "[engine][aggregates]") {
  CHECK(PageviewAggregates().Fingerprint() ==
        "count:views,sum(duration_ms):total,sum(net.bytes):bytes");
  CHECK(AggregateSet({Count("n")}).Fingerprint() == "count:n");
  CHECK(EveryFunction().Fingerprint() ==
        "count:count,sum(n):sum,min(n):min,max(n):max,avg(n):avg,"
        "count_distinct(s,exact):exact,count_distinct(s,approximate):approx,"
        "first(s):first,last(s):last,latest(s):latest");
  // Order, function, field, mode and name all matter.
  const std::string base = AggregateSet({Count("a"), Sum("b", "x")}).Fingerprint();
  CHECK(AggregateSet({Sum("b", "x"), Count("a")}).Fingerprint() != base);
  CHECK(AggregateSet({Count("a"), Sum("b", "y")}).Fingerprint() != base);
  CHECK(AggregateSet({Count("a"), Sum("c", "x")}).Fingerprint() != base);
  CHECK(AggregateSet({Count("a"), Count("b")}).Fingerprint() != base);
  CHECK(AggregateSet({Agg("d", AggregateFunction::kCountDistinct, "x")}).Fingerprint() !=
        AggregateSet({Agg("d", AggregateFunction::kCountDistinct, "x", DistinctMode::kApproximate)})
            .Fingerprint());
}

TEST_CASE("ToJson prints counts as integers and sums as shortest doubles", "[engine][aggregates]") {
  const AggregateSet set({Count("views"), Sum("total", "d")});
  AggregateValues values = set.Empty();
  CHECK(set.ToJson(values) == R"({"views":0,"total":0})");
  values[0].count = 9'007'199'254'740'993;  // beyond 2^53: printed exactly
  values[1].number = 0.1 + 0.2;
  CHECK(set.ToJson(values) == R"({"views":9007199254740993,"total":0.30000000000000004})");
  values[1].number = 120.0;
  CHECK(set.ToJson(values) == R"({"views":9007199254740993,"total":120})");
}

}  // namespace
}  // namespace eddy::engine
