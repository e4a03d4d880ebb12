// engine/hyperloglog: accuracy (small counts near-exact, large counts within 3 standard
// errors), merge = union, register validation.
#include "engine/hyperloglog.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

namespace eddy::engine {
namespace {

// The hash of the i-th distinct value of a data set: 8 random bytes from a fixed seed, so
// values are distinct (a collision among 10^6 64-bit values has probability ~10^-8) and the
// test is reproducible.
class DistinctValues {
 public:
  explicit DistinctValues(uint64_t seed) : random_(seed) {}
  uint64_t NextHash() {
    const uint64_t value = random_();
    std::string bytes(8, '\0');
    for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFFu);
    return HyperLogLog::Hash(bytes);
  }

 private:
  std::mt19937_64 random_;
};

HyperLogLog SketchOf(uint64_t seed, int count) {
  HyperLogLog sketch;
  DistinctValues values(seed);
  for (int i = 0; i < count; ++i) sketch.Add(values.NextHash());
  return sketch;
}

TEST_CASE("an empty sketch estimates 0 and allocates nothing", "[engine][hyperloglog]") {
  HyperLogLog sketch;
  CHECK(sketch.Estimate() == 0.0);
  CHECK(sketch.registers().empty());
  sketch.Merge(HyperLogLog());
  CHECK(sketch.registers().empty());
}

TEST_CASE("small counts are near-exact (linear counting)", "[engine][hyperloglog]") {
  for (const int n : {1, 2, 3, 10, 50, 100}) {
    for (const uint64_t seed : {1u, 2u, 3u}) {
      const double estimate = SketchOf(seed, n).Estimate();
      INFO("n = " << n << ", seed = " << seed << ", estimate = " << estimate);
      CHECK(std::abs(estimate - n) <= 2.0);
    }
  }
}

TEST_CASE("duplicates do not count", "[engine][hyperloglog]") {
  HyperLogLog once = SketchOf(7, 1000);
  HyperLogLog twice = SketchOf(7, 1000);
  twice.Merge(SketchOf(7, 1000));
  CHECK(once == twice);
  for (int i = 0; i < 5; ++i) twice.Add(HyperLogLog::Hash("same"));
  HyperLogLog plus_one = once;
  plus_one.Add(HyperLogLog::Hash("same"));
  CHECK(twice == plus_one);
}

TEST_CASE("large counts are within 3 standard errors", "[engine][hyperloglog]") {
  const auto [n, seed] = GENERATE(table<int, uint64_t>({{100'000, 42}, {1'000'000, 43}}));
  const double estimate = SketchOf(seed, n).Estimate();
  const double relative_error = (estimate - n) / n;
  INFO("n = " << n << ", estimate = " << estimate << ", relative error = " << relative_error);
  CHECK(std::abs(relative_error) <= 3 * HyperLogLog::kStandardError);
}

TEST_CASE("no bias where linear counting used to hand over to the raw estimate",
          "[engine][hyperloglog]") {
  // Around 2.5 * 16384 ~ 41,000 the textbook estimator (linear counting below, raw estimate
  // above) is biased by about +2.3% (measured over 50 seeds). The mean error of 10 sketches
  // must stay well within one standard error.
  for (const int n : {30'000, 40'000, 50'000, 60'000}) {
    double mean_error = 0.0;
    for (uint64_t seed = 0; seed < 10; ++seed) {
      mean_error += (SketchOf(1000 + seed, n).Estimate() - n) / n / 10.0;
    }
    INFO("n = " << n << ", mean relative error = " << mean_error);
    CHECK(std::abs(mean_error) <= HyperLogLog::kStandardError);
  }
}

TEST_CASE("Merge gives exactly the sketch of the union", "[engine][hyperloglog]") {
  // Partition A sees values 0..59999, partition B 40000..99999 of the same data set.
  HyperLogLog a;
  HyperLogLog b;
  HyperLogLog all;
  DistinctValues values(99);
  for (int i = 0; i < 100'000; ++i) {
    const uint64_t hash = values.NextHash();
    if (i < 60'000) a.Add(hash);
    if (i >= 40'000) b.Add(hash);
    all.Add(hash);
  }
  HyperLogLog merged = a;
  merged.Merge(b);
  CHECK(merged == all);
  HyperLogLog into_empty;
  into_empty.Merge(all);
  CHECK(into_empty == all);
}

TEST_CASE("Hash is XXH3-64 with seed 0 (stored sketches depend on it)", "[engine][hyperloglog]") {
  // Reference values of XXH3_64bits from xxHash's own test vectors / CLI (xxh3sum).
  CHECK(HyperLogLog::Hash("") == 0x2D06800538D394C2ULL);
  CHECK(HyperLogLog::Hash("a") != HyperLogLog::Hash("b"));
}

TEST_CASE("FromRegisters accepts only what registers() can hold", "[engine][hyperloglog]") {
  CHECK(HyperLogLog::FromRegisters({}).has_value());
  const HyperLogLog sketch = SketchOf(5, 500);
  const std::optional<HyperLogLog> copy = HyperLogLog::FromRegisters(sketch.registers());
  REQUIRE(copy.has_value());
  CHECK(*copy == sketch);
  CHECK_FALSE(HyperLogLog::FromRegisters(std::vector<uint8_t>(100, 1)).has_value());
  std::vector<uint8_t> too_high(HyperLogLog::kRegisters, 0);
  too_high[7] = HyperLogLog::kMaxRank + 1;
  CHECK_FALSE(HyperLogLog::FromRegisters(too_high).has_value());
  too_high[7] = HyperLogLog::kMaxRank;
  CHECK(HyperLogLog::FromRegisters(too_high).has_value());
}

}  // namespace
}  // namespace eddy::engine
