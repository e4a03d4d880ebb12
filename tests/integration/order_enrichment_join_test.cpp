// A stream–table join end to end: config/examples/order_enrichment.yaml against the real
// broker. The customers changelog (3 partitions, with an update, a tombstone and a
// delete_when marker written after a long run of other rows) and a backlog of orders exist
// before eddy starts, so an order joined before the table has loaded would meet a stale or
// missing customer. Then a clean restart with a customer update and new orders in between,
// and a SIGKILL in the middle of a batch. After every run the revenue_by_tier windows must be
// exact (each order counted once) and the orders-enriched topic must hold each order with
// the customer row it was joined with: exactly once up to the last clean commit, at least
// once for what the crash made eddy send again.
#include <stdlib.h>
#include <time.h>

#include <catch2/catch.hpp>
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

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
// 2026-11-25T00:00:00Z. Order times are on this day; the customer rows carry it as their
// Kafka timestamp (rows stamped "now" are the subject of the last test).
constexpr int64_t kDay = 1'795'564'800'000;
constexpr int kCustomerPartitions = 3;
constexpr int kOrderPartitions = 2;
constexpr int kFillersPerPartition = 1500;

std::string Rfc3339(int64_t ms) {
  const time_t seconds = static_cast<time_t>(ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string Customer(const std::string& name, const std::string& tier, bool deleted = false) {
  return R"({"name":")" + name + R"(","tier":")" + tier + '"' +
         (deleted ? R"(,"deleted":true)" : "") + "}";
}

// The customers changelog as a test writes it, and the table eddy should make of it.
class Customers {
 public:
  // Upserts (row) or deletes (nullopt: a tombstone) `id` on `partition`.
  void Write(const std::string& id, int32_t partition, std::optional<std::string> row) {
    TestRecord record;
    record.key = id;
    record.partition = partition;
    record.timestamp_ms = kDay;
    if (row) {
      record.value = *row;
    } else {
      record.value = std::nullopt;  // a tombstone
    }
    pending_.push_back(std::move(record));
    table_[id] = std::move(row);
  }
  // A row with deleted: true, which the table's delete_when turns into a delete.
  void WriteDeleteMarker(const std::string& id, int32_t partition, const std::string& row) {
    Write(id, partition, row);
    table_[id] = std::nullopt;
  }
  void Flush(const std::string& topic) {
    Produce(topic, pending_);
    pending_.clear();
  }
  // The row an order of `id` joins now (nullopt: none).
  std::optional<std::string> Row(const std::string& id) const {
    auto found = table_.find(id);
    return found == table_.end() ? std::nullopt : found->second;
  }
  std::optional<std::string> Tier(const std::string& id) const {
    const std::optional<std::string> row = Row(id);
    if (!row) return std::nullopt;
    const auto start = row->find(R"("tier":")") + 8;
    return row->substr(start, row->find('"', start) - start);
  }

 private:
  std::vector<TestRecord> pending_;
  std::map<std::string, std::optional<std::string>> table_;
};

struct Order {
  std::string id;
  std::string customer;
  int amount = 0;
  int64_t at_ms = 0;
  std::string json;      // as produced
  std::string enriched;  // the sink value eddy must send
  std::optional<std::string> tier;
};

// The expected results of every order produced so far.
class Orders {
 public:
  // Orders first..last-1: customer c1..c7 in turn, `step` apart from `start`, joined with
  // `customers` as it is now.
  void Add(int first, int last, int64_t start, int64_t step, const Customers& customers,
           const std::string& topic) {
    std::vector<TestRecord> records;
    for (int i = first; i < last; ++i) {
      Order order;
      order.id = "o" + std::to_string(1000 + i);
      order.customer = "c" + std::to_string(i % 7 + 1);
      order.amount = 5 + (i * 13) % 50;
      order.at_ms = start + (i - first) * step;
      order.json = R"({"order_id":")" + order.id + R"(","customer_id":")" + order.customer +
                   R"(","amount_eur":)" + std::to_string(order.amount) + R"(,"ts":")" +
                   Rfc3339(order.at_ms) + R"("})";
      const std::optional<std::string> row = customers.Row(order.customer);
      order.enriched = order.json.substr(0, order.json.size() - 1) + R"(,"customer":)" +
                       row.value_or("null") + "}";
      order.tier = customers.Tier(order.customer);
      TestRecord record;
      record.key = order.id;
      record.value = order.json;
      record.partition = i % kOrderPartitions;  // each partition in event-time order
      records.push_back(std::move(record));
      orders_.push_back(std::move(order));
    }
    Produce(topic, records);
  }

  // revenue_by_tier of `tier`: hourly window start -> {orders, revenue_eur}.
  WindowTotals Expected(const std::string& tier) const {
    WindowTotals totals;
    for (const Order& order : orders_) {
      if (order.tier != tier) continue;
      auto& window = totals[order.at_ms - order.at_ms % kHour];
      window["orders"] += 1;
      window["revenue_eur"] += order.amount;
    }
    return totals;
  }

  bool ViewsExact(uint16_t port) const {
    for (const std::string tier : {"gold", "silver", "bronze"}) {
      if (QueryWindows(port, "revenue_by_tier", tier) != Expected(tier)) return false;
    }
    return true;
  }

  // Waits (bounded) for exact views; on a timeout, fails with what differs and eddy's log.
  void RequireViewsExact(uint16_t port, const EddyProcess& eddy) const {
    if (Eventually(30s, [&] { return ViewsExact(port); })) return;
    for (const std::string tier : {"gold", "silver", "bronze"}) {
      UNSCOPED_INFO("revenue_by_tier " << tier << ": "
                                       << Describe(QueryWindows(port, "revenue_by_tier", tier))
                                       << ", expected " << Describe(Expected(tier)));
    }
    UNSCOPED_INFO(eddy.Log());
    FAIL("revenue_by_tier is not exact");
  }

  // Checks the enriched topic: every record is an order's expected result, and orders
  // [0, exactly_once) appear once, the others at least once.
  void CheckSink(const std::vector<ConsumedRecord>& sent, size_t exactly_once) const {
    std::map<std::string, const Order*> by_value;
    for (const Order& order : orders_) by_value[order.enriched] = &order;
    std::map<std::string, int> copies;
    for (const ConsumedRecord& record : sent) {
      auto found = by_value.find(record.value);
      INFO("sent: key " << record.key << ", value " << record.value);
      REQUIRE(found != by_value.end());
      CHECK(record.key == found->second->customer);
      ++copies[found->second->id];
    }
    size_t repeated = 0;
    for (size_t i = 0; i < orders_.size(); ++i) {
      INFO("order " << orders_[i].id);
      const int n = copies[orders_[i].id];
      if (i < exactly_once) {
        CHECK(n == 1);
      } else {
        CHECK(n >= 1);
        if (n > 1) ++repeated;
      }
    }
    UNSCOPED_INFO("orders sent again after the crash: " << repeated);
  }

  size_t size() const { return orders_.size(); }

 private:
  std::vector<Order> orders_;
};

}  // namespace

TEST_CASE("order_enrichment: stream–table join over a preloaded changelog, across restarts",
          "[eddy][kafka][join]") {
  const std::string orders_topic = UniqueName("orders");
  const std::string customers_topic = UniqueName("customers");
  const std::string enriched_topic = UniqueName("orders-enriched");
  CreateTopic(orders_topic, kOrderPartitions);
  CreateTopic(customers_topic, kCustomerPartitions);
  CreateTopic(enriched_topic, 2);
  const uint16_t port = FreePort();
  setenv("KAFKA_BOOTSTRAP", KafkaBootstrap().c_str(), 1);
  setenv("ORDERS_TOPIC", orders_topic.c_str(), 1);
  setenv("CUSTOMERS_TOPIC", customers_topic.c_str(), 1);
  setenv("ENRICHED_TOPIC", enriched_topic.c_str(), 1);
  setenv("EDDY_GROUP_ID", UniqueName("eddy-order-enrichment").c_str(), 1);
  setenv("EDDY_STATE_DIR", MakeTempDir("eddy-order-enrichment-state").c_str(), 1);
  setenv("EDDY_HTTP_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const std::string config =
      std::string(EDDY_SOURCE_DIR) + "/config/examples/order_enrichment.yaml";

  // The rows that matter come first and last in their partitions, with many other rows
  // between: a table joined half-loaded would miss the later ones.
  Customers customers;
  customers.Write("c1", 0, Customer("Ada", "gold"));
  customers.Write("c4", 0, Customer("Dee", "bronze"));
  customers.Write("c2", 1, Customer("Bob", "silver"));
  customers.Write("c5", 1, Customer("Eve", "silver"));
  customers.Write("c3", 2, Customer("Cy", "gold"));
  for (int p = 0; p < kCustomerPartitions; ++p) {
    for (int i = 0; i < kFillersPerPartition; ++i) {
      customers.Write("f" + std::to_string(p) + "-" + std::to_string(i), p,
                      Customer("F", i % 2 == 0 ? "gold" : "silver"));
    }
  }
  customers.Write("c4", 0, std::nullopt);                              // tombstone
  customers.Write("c5", 1, Customer("Eve", "gold"));                   // update
  customers.WriteDeleteMarker("c3", 2, Customer("Cy", "gold", true));  // delete_when
  customers.Write("c6", 2, Customer("Fay", "bronze"));                 // new, last
  customers.Flush(customers_topic);

  // A backlog of orders, 10:00 to 11:58, in place before eddy starts.
  Orders orders;
  orders.Add(0, 60, kDay + 10 * kHour, 2 * kMinute, customers, orders_topic);

  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    orders.RequireViewsExact(port, eddy);
    orders.CheckSink(ReadToEnd(enriched_topic), orders.size());
    CHECK(QueryTableValue(port, "customer_rows", "c5") == Customer("Eve", "gold"));
    CHECK(QueryTableValue(port, "customer_rows", "c4") == "null");
    CHECK(QueryTableValue(port, "customer_rows", "c3") == "null");
    CHECK(eddy.Terminate(20s) == 0);
  }

  // While eddy is down: Bob moves to bronze, Gil appears, and more orders (12:00 to 13:58)
  // arrive. The restarted eddy loads the rest of the changelog before joining them.
  customers.Write("c2", 1, Customer("Bob", "bronze"));
  customers.Write("c7", 0, Customer("Gil", "gold"));
  customers.Flush(customers_topic);
  orders.Add(60, 120, kDay + 12 * kHour, 2 * kMinute, customers, orders_topic);
  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    orders.RequireViewsExact(port, eddy);
    // A clean restart sends nothing twice.
    orders.CheckSink(ReadToEnd(enriched_topic), orders.size());
    CHECK(QueryTableValue(port, "customer_rows", "c2") == Customer("Bob", "bronze"));

    // Views read committed state: once they show these orders, the crash below cannot make
    // eddy process (or send) them again.
    orders.Add(120, 270, kDay + 14 * kHour, 10'000, customers, orders_topic);
    orders.RequireViewsExact(port, eddy);
    orders.Add(270, 420, kDay + 14 * kHour + 150 * 10'000, 10'000, customers, orders_topic);
    eddy.Kill();  // in the middle of the last batch, with no chance to commit
  }
  const size_t committed_before_crash = 270;

  // The killed member stays in its consumer group until its session times out (45 s by
  // default, which the example config keeps). eddy resumes from the offsets committed with
  // its state in RocksDB, not from the group's, so a fresh group restarts it at once from
  // exactly the same place.
  setenv("EDDY_GROUP_ID", UniqueName("eddy-order-enrichment").c_str(), 1);
  EddyProcess eddy(config, port);
  REQUIRE(eddy.WaitReady(60s));
  orders.RequireViewsExact(port, eddy);
  orders.CheckSink(ReadToEnd(enriched_topic), committed_before_crash);
  CHECK(eddy.Terminate(20s) == 0);
}

// A regression test: a changelog written by an ordinary producer carries wall-clock Kafka
// timestamps. Were the customers topic's records to move the stream time of their task
// (partition number), which the orders' windows share, the table — loaded first — would push
// it to "now" and a backlog of orders from yesterday would be dropped as late. Records of a
// source only tables read do not move stream time (topology.h), as Kafka Streams' global
// tables do not.
TEST_CASE("order_enrichment: customer rows stamped now do not make older orders late",
          "[eddy][kafka][join]") {
  const std::string orders_topic = UniqueName("orders");
  const std::string customers_topic = UniqueName("customers");
  CreateTopic(orders_topic, kOrderPartitions);
  CreateTopic(customers_topic, 1);
  const uint16_t port = FreePort();
  setenv("KAFKA_BOOTSTRAP", KafkaBootstrap().c_str(), 1);
  setenv("ORDERS_TOPIC", orders_topic.c_str(), 1);
  setenv("CUSTOMERS_TOPIC", customers_topic.c_str(), 1);
  const std::string enriched_topic = UniqueName("orders-enriched");
  CreateTopic(enriched_topic, 1);
  setenv("ENRICHED_TOPIC", enriched_topic.c_str(), 1);
  setenv("EDDY_GROUP_ID", UniqueName("eddy-order-enrichment").c_str(), 1);
  setenv("EDDY_STATE_DIR", MakeTempDir("eddy-order-enrichment-state").c_str(), 1);
  setenv("EDDY_HTTP_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  TestRecord row;  // timestamp_ms 0: stamped by the producer with the current time
  row.key = "c1";
  row.value = Customer("Ada", "gold");
  row.partition = 0;
  Produce(customers_topic, {row});
  Customers customers;
  customers.Write("c1", 0, Customer("Ada", "gold"));  // the table as eddy will load it
  Orders orders;
  orders.Add(0, 7, kDay + 10 * kHour, kMinute, customers, orders_topic);  // c1 is order 0

  EddyProcess eddy(std::string(EDDY_SOURCE_DIR) + "/config/examples/order_enrichment.yaml", port);
  REQUIRE(eddy.WaitReady(60s));
  const WindowTotals expected = {{kDay + 10 * kHour, {{"orders", 1}, {"revenue_eur", 5}}}};
  const bool counted =
      Eventually(10s, [&] { return QueryWindows(port, "revenue_by_tier", "gold") == expected; });
  INFO("revenue_by_tier gold: " << Describe(QueryWindows(port, "revenue_by_tier", "gold")));
  INFO(HttpGet(port, "/metrics").body);
  INFO(eddy.Log());
  CHECK(counted);
  CHECK(eddy.Terminate(20s) == 0);
}

}  // namespace eddy::testing
