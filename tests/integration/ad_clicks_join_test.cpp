// A windowed stream–stream left join end to end: config/examples/ad_clicks.yaml against the
// real broker. Impressions and clicks (2 co-partitioned topics, keyed by impression id) are a
// backlog in which every click is written after every impression of its batch, so a consumer
// that read the topics independently would run far ahead on one side and drop the other
// side's records as late. eddy must process each task in event-time order across both topics;
// the test checks its output against a reference computation of the join's semantics
// (stream_join.h) and of the hourly window after it: every joined record on the
// impressions-with-clicks topic exactly once, and exact campaign_spend windows — across a
// clean restart between two batches.
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/eddy_process.h"
#include "support/kafka_test_env.h"
#include "support/view_query.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
// 2026-11-25T10:00:00Z, in the past of this session: eddy's sink stamps a joined record with
// its event time, and the broker rejects timestamps more than an hour ahead of its clock.
constexpr int64_t kStart = 1'795'564'800'000 + 10 * kHour;
// Far after every window: each partition's last record on both topics, so that stream time
// passes every impression's t + within + grace and the unmatched ones come out.
constexpr int64_t kFar = kStart + 10 * kHour;
// The first batch holds every record before this time, the second the rest: each batch
// continues event time where the previous one stopped, as one backlog would.
constexpr int64_t kSplit = kStart + 30 * kMinute;
constexpr int32_t kPartitions = 2;
// ad_clicks.yaml: join within 10m, grace 1m; window tumbling 1h, grace 11m.
constexpr int64_t kWithin = 10 * kMinute;
constexpr int64_t kJoinGrace = 1 * kMinute;
constexpr int64_t kWindowGrace = 11 * kMinute;
const std::vector<std::string> kCampaigns = {"winter", "summer", "spring", "autumn", "final"};

std::string Rfc3339(int64_t ms) {
  const time_t seconds = static_cast<time_t>(ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

enum Topic { kImpressions = 0, kClicks = 1 };  // config order: ties go to impressions

struct Input {
  Topic topic = kImpressions;
  std::string key;
  int32_t partition = 0;
  int64_t at_ms = 0;
  std::string campaign;  // impressions
  int cost_cents = 0;    // clicks
  std::string json;
};

Input Impression(const std::string& key, int32_t partition, int64_t at_ms,
                 const std::string& campaign) {
  return {kImpressions,
          key,
          partition,
          at_ms,
          campaign,
          0,
          R"({"campaign":")" + campaign + R"(","ts":")" + Rfc3339(at_ms) + R"("})"};
}

Input Click(const std::string& key, int32_t partition, int64_t at_ms, int cost_cents) {
  return {
      kClicks,
      key,
      partition,
      at_ms,
      "",
      cost_cents,
      R"({"cost_cents":)" + std::to_string(cost_cents) + R"(,"ts":")" + Rfc3339(at_ms) + R"("})"};
}

// 200 impressions over an hour, one every 18 s, alternating partitions, and their clicks:
// within 10 minutes after (some exactly 10 minutes after), within 10 minutes before, too
// late, none, or two; plus clicks on impressions that do not exist and the far records.
std::vector<Input> Backlog() {
  std::vector<Input> inputs;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "imp" + std::to_string(1000 + i);
    const int32_t partition = i % kPartitions;
    const int64_t at = kStart + i * 18 * kSecond;
    inputs.push_back(Impression(key, partition, at, kCampaigns[static_cast<size_t>(i % 4)]));
    const int cost = 10 + i % 40;
    switch (i % 5) {
      case 0:
        inputs.push_back(Click(key, partition, at + (5 + (i * 37) % 570) * kSecond, cost));
        break;
      case 1:  // more than 10 minutes after: no match
        inputs.push_back(Click(key, partition, at + kWithin + (30 + i % 7 * 30) * kSecond, cost));
        break;
      case 2:  // never clicked
        break;
      case 3:  // a click stamped before the impression still matches
        inputs.push_back(Click(key, partition, at - (60 + i % 120) * kSecond, cost));
        break;
      case 4:
        if (i % 10 == 4) {  // the edge of the window: |t - t'| <= within matches
          inputs.push_back(Click(key, partition, at + kWithin, cost));
        } else {  // clicked twice: two joined records
          inputs.push_back(Click(key, partition, at + 30 * kSecond, cost));
          inputs.push_back(Click(key, partition, at + 90 * kSecond, 7));
        }
        break;
    }
  }
  for (int k = 0; k < 10; ++k) {  // clicks on impressions nobody saw
    inputs.push_back(Click("ghost" + std::to_string(k), k % kPartitions,
                           kStart + k * 6 * kMinute + 7 * kSecond, 99));
  }
  for (int32_t p = 0; p < kPartitions; ++p) {
    const std::string key = "end" + std::to_string(p);
    inputs.push_back(Impression(key, p, kFar, "final"));
    inputs.push_back(Click(key, p, kFar + kSecond, 1));
  }
  return inputs;
}

// Produces one batch: every impression, then every click, each in event-time order.
void ProduceBatch(const std::vector<Input>& batch, const std::string& impressions,
                  const std::string& clicks) {
  for (const Topic topic : {kImpressions, kClicks}) {
    std::vector<Input> selected;
    std::copy_if(batch.begin(), batch.end(), std::back_inserter(selected),
                 [&](const Input& input) { return input.topic == topic; });
    std::stable_sort(selected.begin(), selected.end(),
                     [](const Input& a, const Input& b) { return a.at_ms < b.at_ms; });
    std::vector<TestRecord> records;
    for (const Input& input : selected) {
      TestRecord record;
      record.key = input.key;
      record.value = input.json;
      record.partition = input.partition;
      records.push_back(std::move(record));
    }
    Produce(topic == kImpressions ? impressions : clicks, records);
  }
}

std::string Joined(const std::string& left, const std::optional<std::string>& right) {
  return left.substr(0, left.size() - 1) + R"(,"click":)" + right.value_or("null") + "}";
}

// What eddy must produce from `inputs`, computed from the documented semantics alone: per
// partition, records in event-time order across both topics (impressions first on ties);
// stream time is the largest event time so far; a record older than stream time - grace is
// late; an impression and a click with the same key match when |t - t'| <= within (event time
// max(t, t')); an impression without a match comes out with click: null, at its own event
// time, once stream time > t + within + grace. The hourly window (grace 11m) drops a result
// whose window has ended 11 minutes before the partition's stream time.
struct Expected {
  std::vector<std::pair<std::string, std::string>> sent;  // key, value; sorted
  std::map<std::string, WindowTotals> windows;            // by campaign
  int dropped_by_window = 0;
};

Expected Reference(const std::vector<Input>& inputs) {
  Expected expected;
  for (int32_t p = 0; p < kPartitions; ++p) {
    std::vector<Input> records;
    std::copy_if(inputs.begin(), inputs.end(), std::back_inserter(records),
                 [&](const Input& input) { return input.partition == p; });
    std::stable_sort(records.begin(), records.end(), [](const Input& a, const Input& b) {
      return a.at_ms != b.at_ms ? a.at_ms < b.at_ms : a.topic < b.topic;
    });
    struct Buffered {
      const Input* input;
      bool matched = false;
      bool expired = false;
    };
    std::vector<Buffered> impressions;
    std::vector<Buffered> clicks;
    int64_t stream_time = INT64_MIN;
    const auto emit = [&](const Input& impression, const Input* click, int64_t at_ms) {
      expected.sent.emplace_back(
          impression.key,
          Joined(impression.json, click ? std::optional(click->json) : std::nullopt));
      const int64_t window = at_ms - at_ms % kHour;
      if (window + kHour + kWindowGrace <= stream_time) {
        ++expected.dropped_by_window;
        return;
      }
      auto& totals = expected.windows[impression.campaign][window];
      totals["impressions"] += 1;
      totals["spend_cents"] += click ? click->cost_cents : 0;
    };
    for (const Input& record : records) {
      if (record.at_ms > stream_time) {
        stream_time = record.at_ms;
        std::vector<Buffered*> due;
        for (Buffered& b : impressions) {
          if (!b.expired && b.input->at_ms + kWithin + kJoinGrace < stream_time) due.push_back(&b);
        }
        std::stable_sort(due.begin(), due.end(), [](const Buffered* a, const Buffered* b) {
          return a->input->at_ms != b->input->at_ms ? a->input->at_ms < b->input->at_ms
                                                    : a->input->key < b->input->key;
        });
        for (Buffered* b : due) {
          b->expired = true;
          if (!b->matched) emit(*b->input, nullptr, b->input->at_ms);
        }
      }
      if (record.at_ms < stream_time - kJoinGrace) continue;  // late
      std::vector<Buffered>& other = record.topic == kImpressions ? clicks : impressions;
      for (Buffered& b : other) {
        if (b.input->key != record.key || b.input->at_ms < record.at_ms - kWithin ||
            b.input->at_ms > record.at_ms + kWithin) {
          continue;
        }
        b.matched = true;
        const Input& impression = record.topic == kImpressions ? record : *b.input;
        const Input& click = record.topic == kImpressions ? *b.input : record;
        emit(impression, &click, std::max(record.at_ms, b.input->at_ms));
      }
      const bool matched = std::any_of(other.begin(), other.end(), [&](const Buffered& b) {
        return b.input->key == record.key && b.input->at_ms >= record.at_ms - kWithin &&
               b.input->at_ms <= record.at_ms + kWithin;
      });
      (record.topic == kImpressions ? impressions : clicks).push_back({&record, matched});
    }
  }
  std::sort(expected.sent.begin(), expected.sent.end());
  return expected;
}

WindowTotals ExpectedWindows(const Expected& expected, const std::string& campaign) {
  auto found = expected.windows.find(campaign);
  return found == expected.windows.end() ? WindowTotals{} : found->second;
}

// Waits (bounded) for campaign_spend to answer exactly `expected`; on a timeout, fails with
// what differs and eddy's log.
void RequireViewsExact(uint16_t port, const Expected& expected, const EddyProcess& eddy) {
  const auto exact = [&] {
    return std::all_of(kCampaigns.begin(), kCampaigns.end(), [&](const std::string& campaign) {
      return QueryWindows(port, "campaign_spend", campaign) == ExpectedWindows(expected, campaign);
    });
  };
  if (Eventually(30s, exact)) return;
  for (const std::string& campaign : kCampaigns) {
    UNSCOPED_INFO("campaign_spend "
                  << campaign << ": " << Describe(QueryWindows(port, "campaign_spend", campaign))
                  << ", expected " << Describe(ExpectedWindows(expected, campaign)));
  }
  UNSCOPED_INFO(eddy.Log());
  FAIL("campaign_spend is not exact");
}

std::vector<std::pair<std::string, std::string>> Sent(const std::string& topic) {
  std::vector<std::pair<std::string, std::string>> sent;
  for (const ConsumedRecord& record : ReadToEnd(topic)) sent.emplace_back(record.key, record.value);
  std::sort(sent.begin(), sent.end());
  return sent;
}

std::string Describe(const std::vector<std::pair<std::string, std::string>>& records) {
  std::string text;
  for (const auto& [key, value] : records) text += key + " " + value + "\n";
  return text;
}

}  // namespace

TEST_CASE("ad_clicks: windowed left join of a backlog, in event-time order, across a restart",
          "[eddy][kafka][join]") {
  const std::string impressions = UniqueName("impressions");
  const std::string clicks = UniqueName("clicks");
  const std::string joined = UniqueName("impressions-with-clicks");
  CreateTopic(impressions, kPartitions);
  CreateTopic(clicks, kPartitions);
  CreateTopic(joined, kPartitions);
  const uint16_t port = FreePort();
  setenv("KAFKA_BOOTSTRAP", KafkaBootstrap().c_str(), 1);
  setenv("IMPRESSIONS_TOPIC", impressions.c_str(), 1);
  setenv("CLICKS_TOPIC", clicks.c_str(), 1);
  setenv("JOINED_TOPIC", joined.c_str(), 1);
  setenv("EDDY_GROUP_ID", UniqueName("eddy-ad-clicks").c_str(), 1);
  setenv("EDDY_STATE_DIR", MakeTempDir("eddy-ad-clicks-state").c_str(), 1);
  setenv("EDDY_HTTP_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const std::string config = std::string(EDDY_SOURCE_DIR) + "/config/examples/ad_clicks.yaml";

  const std::vector<Input> all = Backlog();
  std::vector<Input> first;
  std::vector<Input> second;
  for (const Input& input : all) (input.at_ms < kSplit ? first : second).push_back(input);
  const Expected after_first = Reference(first);
  const Expected after_all = Reference(all);
  // The data exercises what it should: matches, unmatched impressions, and both.
  REQUIRE(after_first.sent.size() > 50);
  REQUIRE(after_all.sent.size() > after_first.sent.size() + 100);
  UNSCOPED_INFO("joined records: " << after_all.sent.size() << ", of which dropped as late by "
                                   << "the hourly window: " << after_all.dropped_by_window);

  ProduceBatch(first, impressions, clicks);
  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    RequireViewsExact(port, after_first, eddy);
    const auto sent = Sent(joined);
    INFO("sent:\n" << Describe(sent) << "expected:\n" << Describe(after_first.sent));
    CHECK(sent == after_first.sent);
    CHECK(eddy.Terminate(20s) == 0);
  }

  ProduceBatch(second, impressions, clicks);
  EddyProcess eddy(config, port);
  REQUIRE(eddy.WaitReady(60s));
  RequireViewsExact(port, after_all, eddy);
  const auto sent = Sent(joined);
  INFO("sent:\n" << Describe(sent) << "expected:\n" << Describe(after_all.sent));
  CHECK(sent == after_all.sent);
  CHECK(eddy.Terminate(20s) == 0);
}

}  // namespace eddy::testing
