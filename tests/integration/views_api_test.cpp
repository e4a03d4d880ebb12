// The /v1 query API (docs/api.md) of a running eddy against the real broker: the view list,
// key queries with their freshness (body and headers), error statuses with JSON bodies,
// pagination over HTTP, /v1/topologies; and that every route of docs/openapi.yaml answers
// with a status code the document lists for it.
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "codec/json_record.h"
#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

constexpr int32_t kPartitions = 3;
constexpr int64_t kMinute = 60'000;

std::string Topologies(const std::string& topic) {
  return "  - name: clicks\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "    steps:\n"
         "      - name: per_minute\n"
         "        window: {type: tumbling, size: 1m, grace: 1s}\n"
         "        aggregates: [{name: n, function: count}]\n"
         "      - name: totals\n"
         "        from: source\n"
         "        aggregates: [{name: n, function: count}]\n"
         "    views:\n"
         "      - {name: clicks_per_minute, from: per_minute}\n"
         "      - {name: click_totals, from: totals}\n";
}

// Percent-encodes every byte but unreserved ones (RFC 3986), as a client must for a key.
std::string PercentEncode(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
      out += escaped;
    }
  }
  return out;
}

// A parsed JSON body; the parser must outlive the element.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

std::unique_ptr<Json> Parse(const HttpReply& reply) {
  auto json = std::make_unique<Json>();
  INFO(reply.status << " " << reply.body);
  REQUIRE(json->parser.parse(reply.body).get(json->root) == simdjson::SUCCESS);
  return json;
}

// The body is {"error":{"code":<status>,"message":<non-empty>}}, and the message says `what`.
void CheckError(const HttpReply& reply, int status, const std::string& what) {
  INFO(reply.status << " " << reply.body);
  CHECK(reply.status == status);
  CHECK(reply.Header("Content-Type") == std::optional<std::string>("application/json"));
  const auto json = Parse(reply);
  int64_t code = 0;
  std::string_view message;
  CHECK(json->root["error"]["code"].get_int64().get(code) == simdjson::SUCCESS);
  CHECK(code == status);
  REQUIRE(json->root["error"]["message"].get_string().get(message) == simdjson::SUCCESS);
  CHECK(message.find(what) != std::string_view::npos);
}

std::optional<int64_t> IntOrNull(simdjson::dom::element element) {
  int64_t value = 0;
  if (element.get_int64().get(value) == simdjson::SUCCESS) return value;
  return std::nullopt;
}

}  // namespace

TEST_CASE("views API: freshness, errors, pagination, topologies, every documented route answers",
          "[eddy][kafka][api][openapi]") {
  const std::string topic = UniqueName("api");
  CreateTopic(topic, kPartitions);
  const Deployment deployment(Topologies(topic));
  const uint16_t port = deployment.port();

  // 31 keys: k000..k027 and three that need percent-encoding, each in one partition
  // (key index mod 3), one record per key at base + index seconds; partition p's largest
  // event time is therefore known, and so is the watermark (the smallest of them).
  const int64_t base = HourADayAgoMs();
  std::vector<std::string> keys;
  for (int i = 0; i < 28; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "k%03d", i);
    keys.emplace_back(name);
  }
  keys.emplace_back("a/b c");
  keys.emplace_back("50%");
  keys.emplace_back("\xC3\xA9t\xC3\xA9");  // "été"
  std::vector<TestRecord> records;
  std::map<int64_t, int64_t> max_event;  // partition -> its largest event time
  for (size_t i = 0; i < keys.size(); ++i) {
    TestRecord record;
    record.key = keys[i];
    record.value = R"({"v":1})";
    record.partition = static_cast<int32_t>(i % kPartitions);
    record.timestamp_ms = base + static_cast<int64_t>(i) * 1000;
    int64_t& largest = max_event.emplace(record.partition, INT64_MIN).first->second;
    largest = std::max(largest, record.timestamp_ms);
    records.push_back(record);
  }
  Produce(topic, records);
  int64_t watermark = INT64_MAX;
  int64_t last_event = INT64_MIN;
  for (const auto& [partition, largest] : max_event) {
    watermark = std::min(watermark, largest);
    last_event = std::max(last_event, largest);
  }

  auto eddy = deployment.Start();
  REQUIRE(eddy->WaitReady(60s));
  // Caught up: no lag, and the watermark is that of every partition's last record.
  INFO(eddy->Log());
  REQUIRE(Eventually(30s, [&] {
    const HttpReply reply = HttpGet(port, "/v1/views/clicks_per_minute/keys/k000");
    return reply.status == 200 && reply.Header("Eddy-Lag-Records") == "0" &&
           reply.Header("Eddy-Watermark") == codec::FormatRfc3339Millis(watermark);
  }));

  {  // GET /v1/views lists both views with kind and freshness
    const HttpReply reply = HttpGet(port, "/v1/views");
    REQUIRE(reply.status == 200);
    const auto json = Parse(reply);
    simdjson::dom::array views = json->root["views"].get_array();
    REQUIRE(views.size() == 2);
    std::vector<std::string> described;
    for (simdjson::dom::element view : views) {
      std::string line = std::string(view["name"].get_string().value()) + " " +
                         std::string(view["topology"].get_string().value()) + " " +
                         std::string(view["step"].get_string().value()) + " " +
                         std::string(view["kind"].get_string().value()) + " " +
                         (view["windowed"].get_bool().value() ? "windowed" : "unwindowed");
      described.push_back(line);
      CHECK(view["approximate_rows"].get_int64().value() >= 0);
      simdjson::dom::element freshness = view["freshness"];
      CHECK(IntOrNull(freshness["lag_records"]) == 0);
      CHECK(IntOrNull(freshness["watermark_ms"]) == watermark);
      CHECK(IntOrNull(freshness["last_event_ms"]) == last_event);
      CHECK(freshness["watermark"].get_string().value() == codec::FormatRfc3339Millis(watermark));
      CHECK(freshness["restoring"].get_bool().value() == false);
    }
    CHECK(described ==
          std::vector<std::string>{"clicks_per_minute clicks per_minute window windowed",
                                   "click_totals clicks totals aggregate unwindowed"});
  }

  {  // a key: 200 with freshness in the body and the headers; keys percent-encoded
    for (size_t i : {size_t{0}, keys.size() - 3, keys.size() - 2, keys.size() - 1}) {
      const std::string& key = keys[i];
      const HttpReply reply =
          HttpGet(port, "/v1/views/clicks_per_minute/keys/" + PercentEncode(key));
      INFO(key << ": " << reply.status << " " << reply.body);
      REQUIRE(reply.status == 200);
      CHECK(reply.Header("Eddy-Lag-Records") == "0");
      CHECK(reply.Header("Eddy-Watermark") == codec::FormatRfc3339Millis(watermark));
      CHECK(reply.Header("Eddy-Restoring") == "false");
      const auto json = Parse(reply);
      CHECK(json->root["view"].get_string().value() == "clicks_per_minute");
      CHECK(json->root["key"].get_string().value() == key);
      simdjson::dom::array windows = json->root["windows"].get_array();
      REQUIRE(windows.size() == 1);
      const int64_t ts = base + static_cast<int64_t>(i) * 1000;
      CHECK(windows.at(0)["start_ms"].get_int64().value() == ts - ts % kMinute);
      CHECK(windows.at(0)["aggregates"]["n"].get_int64().value() == 1);
      CHECK(IntOrNull(json->root["freshness"]["lag_records"]) == 0);
      CHECK(IntOrNull(json->root["freshness"]["watermark_ms"]) == watermark);
      CHECK(IntOrNull(json->root["freshness"]["last_event_ms"]) == last_event);
    }
    const HttpReply total = HttpGet(port, "/v1/views/click_totals/keys/50%25");
    REQUIRE(total.status == 200);
    CHECK(Parse(total)->root["aggregates"]["n"].get_int64().value() == 1);
    // from / to select windows: the key's only window ends at most a minute after `base`.
    // A key that exists, with no window in the range, answers an empty list (404 is for keys
    // with nothing at all).
    const std::string from = std::to_string(base + 2 * kMinute);
    const HttpReply later = HttpGet(port, "/v1/views/clicks_per_minute/keys/k000?from=" + from);
    REQUIRE(later.status == 200);
    CHECK(Parse(later)->root["windows"].get_array().size() == 0);
    CHECK(HttpGet(port, "/v1/views/clicks_per_minute/keys/k000?from=" + std::to_string(base) +
                            "&to=" + codec::FormatRfc3339Millis(base + 1))
              .status == 200);
  }

  {  // 404 and 400 answers carry the JSON error body
    CheckError(HttpGet(port, "/v1/views/clicks_per_minute/keys/nobody"), 404,
               "has nothing for key 'nobody'");
    CheckError(HttpGet(port, "/v1/views/nope/keys/k000"), 404, "no view named 'nope'");
    CheckError(HttpGet(port, "/v1/views/nope"), 404, "no view named 'nope'");
    CheckError(HttpGet(port, "/v1/nothing"), 404, "no such endpoint");
    const std::string view = "/v1/views/clicks_per_minute";
    CheckError(HttpGet(port, view + "/keys/k000?from=yesterday"), 400, "'from' must be");
    CheckError(HttpGet(port, view + "/keys/k000?to="), 400, "'to' must be");
    CheckError(HttpGet(port, view + "/keys/k000?from=2000&to=1000"), 400, "'from' is after 'to'");
    CheckError(HttpGet(port, view + "?from=2026-13-01T00:00:00Z"), 400, "'from' must be");
    CheckError(HttpGet(port, "/v1/views/click_totals/keys/k000?from=1"), 400, "has none");
    CheckError(HttpGet(port, view + "?limit=0"), 400, "'limit' must be a positive integer");
    CheckError(HttpGet(port, view + "?limit=-1"), 400, "'limit' must be a positive integer");
    CheckError(HttpGet(port, view + "?limit=ten"), 400, "'limit' must be a positive integer");
    CheckError(HttpGet(port, view + "?cursor=%21%21"), 400, "'cursor'");
    CheckError(HttpGet(port, view + "?cursor=Zg%3D%3D"), 400, "'cursor'");  // padded
    CheckError(HttpGet(port, view + "?verbose=1"), 400, "unknown query parameter 'verbose'");
    // A huge limit is cut to the cap, like any limit above it.
    const HttpReply huge = HttpGet(port, view + "?limit=99999999999999999999999");
    REQUIRE(huge.status == 200);
    CHECK(Parse(huge)->root["limit"].get_int64().value() == 1000);
  }

  {  // pagination over HTTP: every key once, in byte order, across pages
    std::vector<std::string> expected = keys;
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> got;
    std::string cursor;
    int pages = 0;
    for (;;) {
      const HttpReply reply = HttpGet(port, "/v1/views/clicks_per_minute?limit=7" +
                                                (cursor.empty() ? "" : "&cursor=" + cursor));
      INFO(reply.status << " " << reply.body);
      REQUIRE(reply.status == 200);
      CHECK(reply.Header("Eddy-Lag-Records") == "0");
      REQUIRE(++pages <= 10);
      const auto json = Parse(reply);
      CHECK(json->root["limit"].get_int64().value() == 7);
      simdjson::dom::array items = json->root["items"].get_array();
      for (simdjson::dom::element item : items) {
        got.emplace_back(item["key"].get_string().value());
        CHECK(item["windows"].get_array().size() == 1);
      }
      std::string_view next;
      if (json->root["next_cursor"].get_string().get(next) != simdjson::SUCCESS) {
        CHECK(json->root["next_cursor"].is_null());
        break;
      }
      CHECK(items.size() == 7);
      cursor = std::string(next);
    }
    CHECK(pages == 5);  // 31 keys, 7 a page
    CHECK(got == expected);

    // prefix, start and end select a key range, still in order.
    const HttpReply prefixed = HttpGet(port, "/v1/views/click_totals?prefix=k01&limit=1000");
    REQUIRE(prefixed.status == 200);
    std::vector<std::string> prefixed_keys;
    // The parsed document must outlive the loop (a range-for keeps only the array alive).
    const auto prefixed_json = Parse(prefixed);
    for (simdjson::dom::element item : prefixed_json->root["items"].get_array()) {
      prefixed_keys.emplace_back(item["key"].get_string().value());
    }
    CHECK(prefixed_keys == std::vector<std::string>{"k010", "k011", "k012", "k013", "k014", "k015",
                                                    "k016", "k017", "k018", "k019"});
    const HttpReply ranged = HttpGet(port, "/v1/views/click_totals?start=k025&end=k027");
    REQUIRE(ranged.status == 200);
    std::vector<std::string> ranged_keys;
    const auto ranged_json = Parse(ranged);
    for (simdjson::dom::element item : ranged_json->root["items"].get_array()) {
      ranged_keys.emplace_back(item["key"].get_string().value());
    }
    CHECK(ranged_keys == std::vector<std::string>{"k025", "k026"});
  }

  {  // GET /v1/topologies: running, every partition committed to its end
    const HttpReply reply = HttpGet(port, "/v1/topologies");
    REQUIRE(reply.status == 200);
    INFO(reply.body);
    const auto json = Parse(reply);
    simdjson::dom::array topologies = json->root["topologies"].get_array();
    REQUIRE(topologies.size() == 1);
    simdjson::dom::element topology = topologies.at(0);
    CHECK(topology["name"].get_string().value() == "clicks");
    CHECK(topology["status"].get_string().value() == "running");
    CHECK(topology["reason"].is_null());
    CHECK(topology["sources"].get_array().at(0).get_string().value() == topic);
    CHECK(topology["steps"].get_array().size() == 2);
    CHECK(topology["views"].get_array().size() == 2);
    simdjson::dom::array partitions = topology["partitions"].get_array();
    REQUIRE(partitions.size() == kPartitions);
    std::set<int64_t> seen;
    for (simdjson::dom::element partition : partitions) {
      const int64_t number = partition["partition"].get_int64().value();
      seen.insert(number);
      CHECK(partition["state"].get_string().value() == "running");
      const std::optional<int64_t> end = IntOrNull(partition["end_offset"]);
      const auto count = static_cast<int64_t>(keys.size());
      CHECK(end == (count + kPartitions - 1 - number) / kPartitions);
      CHECK(IntOrNull(partition["committed_offset"]) == end);
      CHECK(IntOrNull(partition["lag_records"]) == 0);
      CHECK(IntOrNull(partition["watermark_ms"]) == max_event.at(number));
    }
    CHECK(seen == std::set<int64_t>{0, 1, 2});
    CHECK(IntOrNull(topology["freshness"]["lag_records"]) == 0);
    CHECK(IntOrNull(topology["freshness"]["watermark_ms"]) == watermark);
  }

  {  // every route of docs/openapi.yaml answers with a status it documents
    const YAML::Node document = YAML::LoadFile(EDDY_SOURCE_DIR "/docs/openapi.yaml");
    const std::map<std::string, std::string> path_values = {{"{view}", "clicks_per_minute"},
                                                            {"{key}", "k000"}};
    size_t routes = 0;
    for (const auto& path : document["paths"]) {
      std::string target = path.first.as<std::string>();
      for (const auto& [param, value] : path_values) {
        for (size_t at = target.find(param); at != std::string::npos; at = target.find(param)) {
          target.replace(at, param.size(), value);
        }
      }
      REQUIRE(target.find('{') == std::string::npos);
      for (const auto& operation : path.second) {
        REQUIRE(operation.first.as<std::string>() == "get");  // the API is read-only
        const HttpReply reply = HttpGet(port, target);
        INFO(target << ": " << reply.status << " " << reply.body.substr(0, 200));
        CHECK(operation.second["responses"][std::to_string(reply.status)]);
        CHECK(reply.status == 200);  // with data and caught up, every route succeeds
        ++routes;
      }
    }
    CHECK(routes == 7);
  }

  CHECK(eddy->Terminate(20s) == 0);
}

}  // namespace eddy::testing
