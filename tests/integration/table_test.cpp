// A table step against the real broker: a changelog topic keyed by customer id becomes the
// latest value per key, served by a table view. Upserts replace, a tombstone (null value)
// deletes, a `delete_when` marker deletes, a deleted key can come back. eddy is stopped in the
// middle; the changes made while it was down are then processed by a run that is killed
// before it commits, and applied exactly once by the next.
#include <catch2/catch.hpp>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

std::string Topologies(const std::string& topic) {
  return "  - name: customers\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key: {kafka_key: true}\n"
         "    steps:\n"
         "      - name: latest\n"
         "        table: {delete_when: \"deleted == true\"}\n"
         "    views:\n"
         "      - {name: customers, from: latest}\n";
}

// c1, c2 and c6 live in partition 0, the others in partition 1 (a key in one partition, as
// a keyed changelog has it).
TestRecord Row(const std::string& key, std::optional<std::string> value) {
  TestRecord record;
  record.key = key;
  record.partition = key == "c1" || key == "c2" || key == "c6" ? 0 : 1;
  record.value = std::move(value);
  return record;
}

const std::vector<std::string> kKeys = {"c1", "c2", "c3", "c4", "c5", "c6"};

// The table view's body for every key of kKeys, one per line.
std::string Rows(uint16_t port) {
  std::string out;
  for (const std::string& key : kKeys) {
    const HttpReply reply = HttpGet(port, "/v1/views/customers/keys/" + key);
    // Freshness (the last member) depends on timing; what is compared is the row.
    std::string body = reply.body;
    if (const size_t at = body.find(R"(,"freshness":)"); at != std::string::npos) {
      body = body.substr(0, at) + "}";
    }
    out += std::to_string(reply.status) + " " + body + "\n";
  }
  return out;
}

// The expected Rows(): `values` holds each key's value JSON; keys left out are null.
std::string ExpectedRows(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const std::string& key : kKeys) {
    auto it = values.find(key);
    if (it == values.end()) {
      out += R"(404 {"error":{"code":404,"message":"view 'customers' has nothing for key ')" + key +
             R"('"}})" + "\n";
    } else {
      out += R"(200 {"view":"customers","key":")" + key + R"(","value":)" + it->second + "}\n";
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "table: upserts, tombstones and delete_when give the latest value per key, "
    "across a restart",
    "[eddy][kafka][table]") {
  const std::string topic = UniqueName("customers");
  CreateTopic(topic, 2);
  // One worker: a run below must not commit at all, and a second worker joining the group
  // would make the first revoke its partitions, which commits (CI saw exactly that).
  const Deployment deployment(Topologies(topic), {}, "processing: {threads: 1}\n");
  const uint16_t port = deployment.port();

  const std::string ada_silver = R"({"name":"Ada","tier":"silver","deleted":false})";
  const std::string ada_gold = R"({"name":"Ada","tier":"gold","deleted":false})";
  const std::string bob = R"({"name":"Bob","tier":"gold","deleted":false})";
  const std::string cy = R"({"name":"Cy","tier":"gold","deleted":false})";
  const std::string dee_bronze = R"({"name":"Dee","tier":"bronze","deleted":false})";
  Produce(topic, {Row("c1", ada_silver), Row("c2", bob), Row("c1", ada_gold), Row("c3", cy),
                  Row("c4", dee_bronze)});
  const std::string first =
      ExpectedRows({{"c1", ada_gold}, {"c2", bob}, {"c3", cy}, {"c4", dee_bronze}});
  {
    auto eddy = deployment.Start();
    REQUIRE(eddy->WaitReady(60s));
    const bool converged = Eventually(30s, [&] { return Rows(port) == first; });
    INFO(eddy->Log());
    CHECK(converged);
    CHECK(Rows(port) == first);
    CHECK(eddy->Terminate(20s) == 0);
  }

  const std::string ada_platinum = R"({"name":"Ada","tier":"platinum","deleted":false})";
  const std::string dee_silver = R"({"name":"Dee","tier":"silver","deleted":false})";
  const std::string eve = R"({"name":"Eve"})";  // no marker: `deleted == true` is false
  Produce(topic, {
                     Row("c2", std::nullopt),  // tombstone: deletes c2
                     Row("c1", ada_platinum),  // upsert
                     Row("c3", R"({"name":"Cy","tier":"gold","deleted":true})"),  // delete_when
                     Row("c4", std::nullopt),                                     // tombstone ...
                     Row("c4", dee_silver),                                       // ... and back
                     Row("c5", std::nullopt),  // tombstone of a key never seen: nothing to do
                     Row("c6", eve),
                 });
  const std::string second = ExpectedRows({{"c1", ada_platinum}, {"c4", dee_silver}, {"c6", eve}});
  {
    // A run that never commits (10 min interval), killed once it has processed all of it:
    // the views still show the first run's rows, and the next run redoes everything.
    auto eddy = deployment.Start("10m");
    REQUIRE(eddy->WaitReady(60s));
    const bool processed = Eventually(30s, [&] {
      return MetricValue(port, "eddy_records_processed_total", {"topology=\"customers\""}) == 7;
    });
    INFO(eddy->Log());
    CHECK(processed);
    CHECK(Rows(port) == first);
    eddy->Kill();
  }
  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  // The tombstone of c5 changes no row: wait for it in the metrics too.
  const bool converged = Eventually(30s, [&] {
    return Rows(port) == second &&
           MetricValue(port, "eddy_records_processed_total", {"topology=\"customers\""}) == 7;
  });
  INFO(eddy->Log());
  CHECK(converged);
  std::this_thread::sleep_for(1s);  // settle
  CHECK(Rows(port) == second);
  // Tombstones are processed records too; nothing failed.
  CHECK(MetricValue(port, "eddy_records_processed_total", {"topology=\"customers\""}) == 7);
  for (const std::string reason :
       {"invalid_json", "missing_key", "invalid_key", "invalid_timestamp", "invalid_field"}) {
    INFO(reason);
    CHECK(MetricValue(port, "eddy_records_failed_total",
                      {"reason=\"" + reason + "\"", "topology=\"customers\""}) == 0);
  }
  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
