// The records of `eddy-loadgen fill` (benchmarks/DATA.md), without Kafka.
#include "loadgen/generator.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "loadgen/murmur2.h"

namespace eddy::loadgen {
namespace {

struct Copy {
  Stream stream;
  std::string key;
  std::string value;
  int64_t ts;
  int32_t sentinel_partition;
  bool operator==(const Copy&) const = default;
};

std::vector<Copy> All(const FillSpec& spec) {
  REQUIRE(Validate(spec).ok());
  Generator generator(spec);
  std::vector<Copy> out;
  Record r;
  while (generator.Next(r)) {
    out.push_back({r.stream, std::string(r.key), std::string(r.value), r.ts, r.sentinel_partition});
  }
  return out;
}

// The integer after `"name":` in a JSON value of ours.
int64_t IntField(const std::string& value, const std::string& name) {
  const std::string marker = "\"" + name + "\":";
  const size_t at = value.find(marker);
  REQUIRE(at != std::string::npos);
  return std::stoll(value.substr(at + marker.size()));
}

TEST_CASE("events: keys, values, timestamps and sentinels", "[loadgen][generator]") {
  FillSpec spec;
  spec.records = 5000;
  spec.keys = 10;
  const std::vector<Copy> records = All(spec);
  REQUIRE(records.size() == 5000 + 3);
  for (size_t i = 0; i < 5000; ++i) {
    const Copy& r = records[i];
    INFO(r.value);
    CHECK(r.stream == Stream::kMain);
    CHECK(r.sentinel_partition == -1);
    CHECK(r.ts == spec.start_ms + static_cast<int64_t>(i));  // 1000 events per event-second
    CHECK(r.value.size() == 100);
    CHECK(r.value.starts_with("{\"id\":\"e" + std::to_string(i) + "\",\"key\":\"" + r.key +
                              "\",\"amount\":"));
    CHECK(r.value.ends_with("xx\"}"));
    CHECK(IntField(r.value, "ts") == r.ts);
    const int64_t amount = IntField(r.value, "amount");
    CHECK((amount >= 1 && amount <= 1000));
    REQUIRE(r.key.starts_with("k"));
    const int64_t n = std::stoll(r.key.substr(1));
    CHECK((n >= 0 && n < 10));
  }
  const std::vector<std::string> sentinels = SentinelKeys(3);
  for (int32_t p = 0; p < 3; ++p) {
    const Copy& s = records[5000 + static_cast<size_t>(p)];
    CHECK(s.key == sentinels[static_cast<size_t>(p)]);
    CHECK(s.sentinel_partition == p);
    CHECK(s.ts == spec.start_ms + 4999 + 1);
    CHECK(s.value.starts_with("{\"id\":\"e" + std::to_string(5000 + p) + "\",\"key\":\"" + s.key +
                              "\",\"amount\":1,\"ts\":" + std::to_string(s.ts) + ",\"pad\":\"x"));
  }
}

TEST_CASE("the same seed gives the same records, another seed others", "[loadgen][generator]") {
  FillSpec spec;
  spec.records = 2000;
  spec.out_of_order = 0.2;
  spec.duplicates = 0.1;
  const std::vector<Copy> first = All(spec);
  CHECK(All(spec) == first);
  spec.seed = 8;
  CHECK(All(spec) != first);
}

TEST_CASE("keys are spread uniformly", "[loadgen][generator]") {
  FillSpec spec;
  spec.records = 100'000;
  spec.keys = 4;
  spec.sentinels = false;
  std::map<std::string, int> counts;
  for (const Copy& r : All(spec)) ++counts[r.key];
  REQUIRE(counts.size() == 4);
  for (const auto& [key, count] : counts) CHECK((count > 24'000 && count < 26'000));
}

TEST_CASE("events per event-second set the clock", "[loadgen][generator]") {
  FillSpec spec;
  spec.records = 10;
  spec.events_per_event_second = 4;  // 250 ms apart
  spec.start_ms = 1000;
  spec.sentinels = false;
  const std::vector<Copy> records = All(spec);
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i].ts == 1000 + 250 * static_cast<int64_t>(i));
  }
}

TEST_CASE("out-of-order records move back by at most max-delay-ms", "[loadgen][generator]") {
  FillSpec spec;
  spec.records = 20'000;
  spec.out_of_order = 0.25;
  spec.max_delay_ms = 3000;
  const std::vector<Copy> records = All(spec);
  int64_t moved = 0;
  int64_t max_ts = 0;
  for (size_t i = 0; i < 20'000; ++i) {
    const int64_t base = spec.start_ms + static_cast<int64_t>(i);
    const int64_t ts = records[i].ts;
    CHECK((ts <= base && ts >= base - 3000));
    if (ts != base) ++moved;
    max_ts = std::max(max_ts, ts);
  }
  CHECK((moved > 4500 && moved < 5500));  // ~25 %, less the zero delays
  for (size_t i = 20'000; i < records.size(); ++i) CHECK(records[i].ts == max_ts + 1);
}

TEST_CASE("duplicates copy one of the previous 1000 records exactly", "[loadgen][generator]") {
  FillSpec spec;
  spec.records = 20'000;
  spec.duplicates = 0.1;
  spec.sentinels = false;
  const std::vector<Copy> records = All(spec);
  REQUIRE(records.size() == 20'000);
  int64_t duplicates = 0;
  std::set<std::string> ids;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string id = records[i].value.substr(0, records[i].value.find(",\"key\""));
    if (ids.insert(id).second) continue;
    ++duplicates;
    bool found = false;
    for (size_t back = 1; back <= 1000 && back <= i && !found; ++back) {
      found = records[i - back] == records[i];
    }
    CHECK(found);
  }
  CHECK((duplicates > 1800 && duplicates < 2200));
}

TEST_CASE("table: each key k0 … k<N-1> once, then the sentinels", "[loadgen][generator]") {
  FillSpec spec;
  spec.shape = Shape::kTable;
  spec.records = 250;
  spec.partitions = 4;
  spec.value_bytes = 120;
  const std::vector<Copy> records = All(spec);
  REQUIRE(records.size() == 250 + 4);
  for (size_t i = 0; i < 250; ++i) {
    const std::string n = std::to_string(i);
    CHECK(records[i].key == "k" + n);
    CHECK(records[i].value.starts_with("{\"key\":\"k" + n + "\",\"segment\":\"s" +
                                       std::to_string(i % 100) + "\",\"name\":\"customer-" + n +
                                       "\",\"ts\":"));
    CHECK(records[i].value.size() == 120);
  }
  const std::vector<std::string> sentinels = SentinelKeys(4);
  for (size_t p = 0; p < 4; ++p) {
    CHECK(records[250 + p].key == sentinels[p]);
    CHECK(records[250 + p].value.starts_with("{\"key\":\"" + sentinels[p] + "\",\"segment\":"));
  }
  spec.duplicates = 0.1;
  CHECK_FALSE(Validate(spec).ok());
}

TEST_CASE("impressions and clicks", "[loadgen][generator]") {
  FillSpec spec;
  spec.shape = Shape::kImpressions;
  spec.records = 20'000;
  spec.click_fraction = 0.3;
  const std::vector<Copy> records = All(spec);
  std::map<std::string, int64_t> impression_ts;
  int64_t clicks = 0;
  int64_t last_click_ts = 0;
  int64_t max_ts = 0;
  std::vector<Copy> sentinels;
  for (const Copy& r : records) {
    if (r.sentinel_partition >= 0) {
      sentinels.push_back(r);
      continue;
    }
    max_ts = std::max(max_ts, r.ts);
    if (r.stream == Stream::kMain) {
      CHECK(r.value.starts_with("{\"id\":\"" + r.key + "\",\"campaign\":\"c" +
                                std::to_string(std::stoll(r.key.substr(1)) % 100) + "\""));
      impression_ts[r.key] = r.ts;
    } else {
      ++clicks;
      // Its impression came first; the click is 0..30 s after it, in click-time order.
      REQUIRE(impression_ts.count(r.key) == 1);
      CHECK((r.ts >= impression_ts[r.key] && r.ts <= impression_ts[r.key] + 30'000));
      CHECK(r.ts >= last_click_ts);
      last_click_ts = r.ts;
      CHECK(r.value == "{\"id\":\"" + r.key +
                           "\",\"cost\":" + std::to_string(IntField(r.value, "cost")) +
                           ",\"ts\":" + std::to_string(r.ts) + "}");
    }
  }
  CHECK(impression_ts.size() == 20'000);
  CHECK((clicks > 5600 && clicks < 6400));
  // Per partition: an impression, then a click, both with the sentinel key.
  REQUIRE(sentinels.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    CHECK(sentinels[i].stream == (i % 2 == 0 ? Stream::kMain : Stream::kClicks));
    CHECK(sentinels[i].sentinel_partition == static_cast<int32_t>(i / 2));
    CHECK(sentinels[i].key == SentinelKeys(3)[i / 2]);
    CHECK(sentinels[i].ts == max_ts + 1);
  }
}

TEST_CASE("Validate names the flag", "[loadgen][generator]") {
  FillSpec spec;
  spec.out_of_order = 1.5;
  CHECK(Validate(spec).message().find("--out-of-order") != std::string::npos);
  spec = FillSpec{};
  spec.keys = 0;
  CHECK(Validate(spec).message().find("--keys") != std::string::npos);
  spec = FillSpec{};
  spec.events_per_event_second = 0;
  CHECK_FALSE(Validate(spec).ok());
}

}  // namespace
}  // namespace eddy::loadgen
