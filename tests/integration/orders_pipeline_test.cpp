// End to end with every record-level step kind: config/examples/orders.yaml (dedup, filter,
// rekey, select, a hopping window, a tumbling emit-final window, a Kafka sink) against the
// real broker, stopped and restarted in the middle; the views and the sink topic must hold
// exactly what one uninterrupted run produces (the same expectations as orders.test.yaml).
#include <simdjson.h>
#include <stdlib.h>

#include <catch2/catch.hpp>

#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

std::string Order(const std::string& id, const std::string& status, int amount, double fx,
                  const std::string& country, const std::string& customer, int64_t at) {
  return R"({"order_id":")" + id + R"(","status":")" + status + R"(","amount":)" +
         std::to_string(amount) + R"(,"fx_eur":)" + std::to_string(fx) +
         R"(,"shipping":{"country":")" + country + R"("},"customer":{"id":")" + customer +
         R"("},"created_at":)" + std::to_string(at) + "}";
}

TestRecord Keyed(const std::string& id, std::string value) {
  TestRecord record;
  record.key = id;
  record.value = std::move(value);
  record.partition = 0;
  return record;
}

// "orders/revenue_eur" of one window of a view, or -1 when absent.
std::pair<int64_t, double> WindowAggregates(uint16_t port, const std::string& view,
                                            const std::string& key, int64_t start_ms) {
  const HttpReply reply = HttpGet(port, "/v1/views/" + view + "/keys/" + key);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (reply.status != 200 || parser.parse(reply.body).get(doc) != simdjson::SUCCESS)
    return {-1, -1};
  simdjson::dom::array windows;
  if (doc["windows"].get_array().get(windows) != simdjson::SUCCESS) return {-1, -1};
  for (simdjson::dom::element window : windows) {
    int64_t start = 0;
    if (window["start_ms"].get_int64().get(start) != simdjson::SUCCESS || start != start_ms)
      continue;
    int64_t orders = 0;
    double revenue = 0;
    if (window["aggregates"]["orders"].get_int64().get(orders) != simdjson::SUCCESS)
      return {-2, -2};
    if (window["aggregates"]["revenue_eur"].get_double().get(revenue) != simdjson::SUCCESS) {
      int64_t integral = 0;
      if (window["aggregates"]["revenue_eur"].get_int64().get(integral) != simdjson::SUCCESS) {
        return {-2, -2};
      }
      revenue = static_cast<double>(integral);
    }
    return {orders, revenue};
  }
  return {-1, -1};
}

}  // namespace

TEST_CASE("orders: dedup, filter, rekey, select, windows and a sink, across a restart",
          "[eddy][kafka][sink]") {
  const std::string orders = UniqueName("orders");
  const std::string daily = UniqueName("revenue-daily");
  CreateTopic(orders, 1);
  CreateTopic(daily, 1);
  const uint16_t port = FreePort();
  setenv("KAFKA_BOOTSTRAP", KafkaBootstrap().c_str(), 1);
  setenv("ORDERS_TOPIC", orders.c_str(), 1);
  setenv("DAILY_TOPIC", daily.c_str(), 1);
  setenv("EDDY_GROUP_ID", UniqueName("eddy-orders").c_str(), 1);
  setenv("EDDY_STATE_DIR", MakeTempDir("eddy-orders-state").c_str(), 1);
  setenv("EDDY_HTTP_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const std::string config = std::string(EDDY_SOURCE_DIR) + "/config/examples/orders.yaml";

  // A week before this session's day: Kafka 4 brokers reject record timestamps more than an
  // hour ahead of their clock (log.message.timestamp.after.max.ms), and the sink stamps each
  // window result with the window's last millisecond.
  constexpr int64_t kTen = 1'794'996'000'000;  // 2026-11-18T10:00:00Z
  constexpr int64_t kMinute = 60'000;
  constexpr int64_t kDay = 1'794'960'000'000;  // 2026-11-18T00:00:00Z

  Produce(orders, {
                      Keyed("o1", Order("o1", "paid", 100, 0.5, "DE", "c1", kTen + 5 * kMinute)),
                      Keyed("o2", Order("o2", "paid", 40, 1, "de", "c2", kTen + 20 * kMinute)),
                      Keyed("o2", Order("o2", "paid", 40, 1, "de", "c2", kTen + 20 * kMinute)),
                      Keyed("o3", Order("o3", "pending", 70, 1, "DE", "c9", kTen + 25 * kMinute)),
                      Keyed("o4", Order("o4", "paid", 0, 1, "DE", "c9", kTen + 30 * kMinute)),
                  });
  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    // o1 and o2 (once) in the 10:00 hourly window of "de".
    CHECK(Eventually(30s, [&] {
      return WindowAggregates(port, "revenue_by_country_hourly", "de", kTen) ==
             std::pair<int64_t, double>{2, 90};
    }));
    CHECK(eddy.Terminate(20s) == 0);
  }

  Produce(orders, {
                      Keyed("o5", Order("o5", "paid", 10, 1, "FR", "c1", kTen + 10 * kMinute)),
                      Keyed("o6", Order("o6", "paid", 30, 2, "DE", "c1", kTen + 50 * kMinute)),
                      Keyed("o2", Order("o2", "paid", 40, 1, "de", "c2", kTen + 20 * kMinute)),
                      Keyed("o7", Order("o7", "paid", 5, 1, "DE", "c3",
                                        kDay + 25 * 60 * kMinute + 30 * kMinute)),
                  });
  EddyProcess eddy(config, port);
  REQUIRE(eddy.WaitReady(60s));
  INFO(eddy.Log());
  CHECK(Eventually(30s, [&] {
    return WindowAggregates(port, "revenue_by_country_daily", "de", kDay) ==
           std::pair<int64_t, double>{3, 150};
  }));
  CHECK(WindowAggregates(port, "revenue_by_country_hourly", "de", kTen) ==
        std::pair<int64_t, double>{3, 150});
  CHECK(WindowAggregates(port, "revenue_by_country_hourly", "fr", kTen) ==
        std::pair<int64_t, double>{1, 10});
  // emit: final — 2026-11-26 is still open, so the daily view does not list it.
  CHECK(WindowAggregates(port, "revenue_by_country_daily", "de", kDay + 1440 * kMinute) ==
        std::pair<int64_t, double>{-1, -1});

  // The sink topic: each closed day once per key, flat values.
  const std::vector<ConsumedRecord> sent = ReadFromBeginning(daily, 2, 30s);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].key == "de");
  CHECK(
      sent[0].value ==
      R"({"key":"de","window_start_ms":1794960000000,"window_end_ms":1795046400000,"closed":true,"orders":3,"revenue_eur":150})");
  CHECK(sent[1].key == "fr");
  CHECK(
      sent[1].value ==
      R"({"key":"fr","window_start_ms":1794960000000,"window_end_ms":1795046400000,"closed":true,"orders":1,"revenue_eur":10})");
  const std::string metrics = HttpGet(port, "/metrics").body;
  CHECK_THAT(metrics,
             Catch::Contains("eddy_duplicates_dropped_total{step=\"once\",topology=\"orders\"} 1"));
  CHECK(eddy.Terminate(20s) == 0);
  // Nothing more was sent: no third record (ReadFromBeginning throws when fewer arrive).
  CHECK_THROWS(ReadFromBeginning(daily, 3, 3s));
}

}  // namespace eddy::testing
