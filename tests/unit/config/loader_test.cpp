// config::Load: good files become exactly the expected structs; bad files produce exactly
// the expected diagnostics (message, line and column).
#include "config/loader.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace eddy::config {
namespace {

using std::chrono::milliseconds;

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Every error of loading `yaml` as "test.yaml", as the user would see it.
std::vector<std::string> Errors(const std::string& yaml, const EnvLookup& env = NoEnv()) {
  const LoadResult result = LoadString(yaml, "test.yaml", env);
  CHECK(result.config.has_value() == result.errors.empty());
  std::vector<std::string> out;
  for (const Diagnostic& d : result.errors) out.push_back(d.ToString());
  return out;
}

// A valid config around the given topologies: kafka, state and "topologies:" take lines 1-3,
// so the first line of `topologies` (after the leading newline of a raw string) is line 4.
std::string WithTopologies(const std::string& topologies) {
  return "kafka: {bootstrap.servers: 'b:9092', group.id: g}\n"
         "state: {dir: /tmp/s}\n"
         "topologies:" +
         topologies;
}

// One good step, for tests about something else.
const char* const kGoodStep = R"(
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates: [{name: c, function: count}])";

std::string Line(const std::string& location, const std::string& message) {
  return "test.yaml:" + location + ": error: " + message;
}

void CheckLocation(const SourceLocation& location, const std::string& file, int line, int column) {
  CHECK(location.file == file);
  CHECK(location.line == line);
  CHECK(location.column == column);
}

// ------------------------------------------------------------------------------ Good files

TEST_CASE("the pageviews example loads with every default applied", "[config][loader]") {
  const std::string path = EDDY_SOURCE_DIR "/config/examples/pageviews.yaml";
  const LoadResult result = LoadFile(path, NoEnv());
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.ok());
  REQUIRE(result.config.has_value());
  const Config& config = *result.config;

  CHECK(config.file == path);

  REQUIRE(config.kafka.properties.size() == 2);
  CHECK(config.kafka.properties[0].name == "bootstrap.servers");
  CHECK(config.kafka.properties[0].value == "127.0.0.1:9092");
  CheckLocation(config.kafka.properties[0].location, path, 8, 3);
  CHECK(config.kafka.properties[1].name == "group.id");
  CHECK(config.kafka.properties[1].value == "eddy-pageviews");
  CheckLocation(config.kafka.properties[1].location, path, 9, 3);

  CHECK(config.state.dir == "/tmp/eddy-pageviews-state");
  CHECK_FALSE(config.state.commit_interval.has_value());
  CHECK(ResolveCommitInterval(config) == milliseconds(1000));
  CHECK_FALSE(config.state.sync_writes);

  CHECK(config.http.listen_address == "127.0.0.1");
  CHECK(config.http.listen_port == 8080);
  CHECK(config.http.io_threads == 0);                  // auto
  CHECK_FALSE(config.http.readiness.max_lag_records);  // off unless set

  CHECK(config.logging.level == "info");
  CHECK(config.logging.format == LogFormat::kText);

  REQUIRE(config.topologies.size() == 1);
  const TopologyConfig& topology = config.topologies[0];
  CHECK(topology.name == "pageviews");
  CheckLocation(topology.location, path, 22, 5);

  const SourceConfig& source = topology.sources[0];
  CHECK(source.topic == "pageviews");
  CHECK(source.format == ValueFormat::kJson);
  CHECK(source.key.kind == KeySpec::Kind::kField);
  CHECK(source.key.field_path == std::vector<std::string>{"user", "id"});
  CHECK(source.key.field_path_text == "user.id");
  CHECK(source.timestamp.kind == TimestampSpec::Kind::kField);
  CHECK(source.timestamp.field_path == std::vector<std::string>{"ts"});
  CHECK(source.timestamp.field_path_text == "ts");
  CHECK(source.timestamp.format == TimestampSpec::Format::kRfc3339);
  CheckLocation(source.location, path, 24, 7);

  REQUIRE(topology.steps.size() == 1);
  const StepConfig& step = topology.steps[0];
  CHECK(step.name == "per_minute");
  CheckLocation(step.location, path, 32, 9);
  CHECK(step.window.kind == WindowConfig::Kind::kTumbling);
  CHECK(step.window.size == milliseconds(60'000));
  CHECK(step.window.grace == milliseconds(10'000));
  REQUIRE(step.aggregates.size() == 2);
  CHECK(step.aggregates[0].name == "views");
  CHECK(step.aggregates[0].function == AggregateFunction::kCount);
  CHECK(step.aggregates[0].field_path.empty());
  CHECK(step.aggregates[0].field_path_text.empty());
  CheckLocation(step.aggregates[0].location, path, 38, 13);
  CHECK(step.aggregates[1].name == "total_duration_ms");
  CHECK(step.aggregates[1].function == AggregateFunction::kSum);
  CHECK(step.aggregates[1].field_path == std::vector<std::string>{"duration_ms"});
  CHECK(step.aggregates[1].field_path_text == "duration_ms");
  CheckLocation(step.aggregates[1].location, path, 40, 13);

  REQUIRE(topology.views.size() == 1);
  CHECK(topology.views[0].name == "views_per_minute");
  CHECK(topology.views[0].from == "per_minute");
  CheckLocation(topology.views[0].location, path, 44, 9);
}

TEST_CASE("the pageviews example takes its settings from the environment", "[config][loader]") {
  const LoadResult result =
      LoadFile(EDDY_SOURCE_DIR "/config/examples/pageviews.yaml",
               Env({{"KAFKA_BOOTSTRAP", "k1:9092,k2:9092"},
                    {"EDDY_HTTP_LISTEN", "[::1]:9000"},
                    {"PAGEVIEWS_TOPIC", "pv.v2"},
                    {"EDDY_STATE_DIR", ""}}));  // empty: ':-' falls back to the default
  REQUIRE(result.ok());
  CHECK(result.config->kafka.properties[0].value == "k1:9092,k2:9092");
  CHECK(result.config->http.listen_address == "::1");
  CHECK(result.config->http.listen_port == 9000);
  CHECK(result.config->topologies[0].sources[0].topic == "pv.v2");
  CHECK(result.config->state.dir == "/tmp/eddy-pageviews-state");
}

TEST_CASE("a minimal config gets the documented defaults", "[config][loader]") {
  const LoadResult result = LoadString(WithTopologies(R"(
  - name: t
    source: {topic: events}
    steps:
      - name: s
        window: {type: tumbling, size: 5s}
        aggregates: [{name: n, function: count}]
)"),
                                       "min.yaml", NoEnv());
  REQUIRE(result.ok());
  const Config& config = *result.config;
  CHECK_FALSE(config.state.commit_interval.has_value());
  CHECK(ResolveCommitInterval(config) == milliseconds(1000));
  CHECK_FALSE(config.state.sync_writes);
  CHECK(config.http.listen_address == "0.0.0.0");
  CHECK(config.http.listen_port == 8080);
  CHECK(config.http.io_threads == 0);  // auto
  CHECK(config.logging.level == "info");
  CHECK(config.logging.format == LogFormat::kText);
  const TopologyConfig& topology = config.topologies.at(0);
  CHECK(topology.sources[0].format == ValueFormat::kJson);
  CHECK(topology.sources[0].key.kind == KeySpec::Kind::kKafkaKey);
  CHECK(topology.sources[0].key.field_path.empty());
  CHECK(topology.sources[0].timestamp.kind == TimestampSpec::Kind::kRecordTimestamp);
  CHECK(topology.steps.at(0).window.grace == milliseconds(0));
  CHECK(topology.views.empty());
  CheckLocation(topology.sources[0].location, "min.yaml", 5, 13);
}

TEST_CASE("every optional setting can be spelled out", "[config][loader]") {
  const LoadResult result = LoadString(R"(kafka:
  bootstrap.servers: b:9092
  group.id: g
  enable.auto.offset.store: false
  fetch.max.bytes: 1048576
state:
  dir: /var/lib/eddy
  commit_interval: 2s
  commit_when_caught_up: false
  sync_writes: true
http:
  listen: localhost:0
  io_threads: 4
  auth: {tokens_env: EDDY_API_TOKENS, tokens_file: /etc/eddy/tokens, protect: [metrics, readyz]}
  rate_limit: {requests_per_second: 50, burst: 200}
  readiness: {max_lag_records: 5000}
logging: {level: debug, format: json}
topologies:
  - name: a
    source:
      topic: clicks
      key: {kafka_key: true}
      timestamp: {record_timestamp: true}
    steps:
      - name: hourly
        window: {type: tumbling, size: 1h, grace: 0ms}
        aggregates: [{name: n, function: count}]
    views: []
  - name: b
    source:
      topic: orders
      timestamp: {field: meta.created}
    steps:
      - name: daily
        window: {type: tumbling, size: 1d}
        aggregates:
          - {name: revenue, function: sum, field: order.total}
    views:
      - {name: revenue_per_day, from: daily}
)",
                                       "all.yaml", NoEnv());
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.ok());
  const Config& config = *result.config;
  REQUIRE(config.kafka.properties.size() == 4);
  CHECK(config.kafka.properties[2].name == "enable.auto.offset.store");
  CHECK(config.kafka.properties[2].value == "false");  // passed through as written
  CHECK(config.kafka.properties[3].value == "1048576");
  CHECK(config.state.commit_interval == milliseconds(2000));
  CHECK(ResolveCommitInterval(config) == milliseconds(2000));
  CHECK_FALSE(config.state.commit_when_caught_up);
  CHECK(config.state.sync_writes);
  CHECK(config.http.listen_address == "localhost");
  CHECK(config.http.listen_port == 0);
  CHECK(config.http.io_threads == 4);
  CHECK(config.http.auth.tokens_env == "EDDY_API_TOKENS");
  CHECK(config.http.auth.tokens_file == "/etc/eddy/tokens");
  CHECK(config.http.auth.protect == std::vector<std::string>{"metrics", "readyz"});
  CHECK(config.http.rate_limit.requests_per_second == 50);
  CHECK(config.http.rate_limit.burst == 200);
  CHECK(config.http.readiness.max_lag_records == 5000);
  CHECK(config.logging.level == "debug");
  CHECK(config.logging.format == LogFormat::kJson);
  REQUIRE(config.topologies.size() == 2);
  CHECK(config.topologies[0].sources[0].key.kind == KeySpec::Kind::kKafkaKey);
  CHECK(config.topologies[0].sources[0].timestamp.kind == TimestampSpec::Kind::kRecordTimestamp);
  CHECK(config.topologies[0].steps[0].window.size == milliseconds(3'600'000));
  const SourceConfig& b = config.topologies[1].sources[0];
  CHECK(b.timestamp.kind == TimestampSpec::Kind::kField);
  CHECK(b.timestamp.field_path == std::vector<std::string>{"meta", "created"});
  CHECK(b.timestamp.format == TimestampSpec::Format::kEpochMillis);  // the default
  CHECK(config.topologies[1].steps[0].aggregates[0].field_path ==
        std::vector<std::string>{"order", "total"});
  CHECK(config.topologies[1].views[0].from == "daily");
}

// ------------------------------------------------------------------------------ Bad files

TEST_CASE("a misspelled key gets a suggestion at the key's position", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window:
          type: tumbling
          sise: 1m
        aggregates: [{name: c, function: count}]
)")) == std::vector<std::string>{
            Line("9:11", "missing required key 'size' in window"),
            Line("10:11", "unknown key 'sise' in window; did you mean 'size'?"),
        });
}

TEST_CASE("an unknown key far from any valid one lists the valid keys", "[config][loader]") {
  CHECK(Errors("kafka: {bootstrap.servers: b, group.id: g}\n"
               "state: {dir: /s, colour: blue}\n"
               "topologies: []\n") ==
        std::vector<std::string>{
            Line("2:18",
                 "unknown key 'colour' in state; valid keys: dir, commit_interval, "
                 "commit_when_caught_up, sync_writes"),
            Line("3:13", "topologies: expected a non-empty list of topologies; got an empty list"),
        });
  CHECK(Errors("kafak: {}\nstate: {dir: /s}\n") ==
        std::vector<std::string>{
            Line("1:1", "unknown key 'kafak' at top level; did you mean 'kafka'?"),
            Line("1:1", "missing required key 'kafka' at top level"),
            Line("1:1", "missing required key 'topologies' at top level"),
        });
}

TEST_CASE("a value of the wrong type names the expected type", "[config][loader]") {
  CHECK(Errors(R"(kafka:
  bootstrap.servers: [a, b]
  group.id: g
state:
  dir:
    - /a
http: 8080
topologies:
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: 1m
        aggregates: {name: c, function: count}
)") == std::vector<std::string>{
           Line("2:22",
                "kafka bootstrap.servers: expected a string, number or boolean "
                "(librdkafka property value); got a list"),
           Line("6:5", "state dir: expected a string; got a list"),
           Line("7:7", "http: expected a map; got '8080'"),
           Line("13:17", "step window: expected a map; got '1m'"),
           Line("14:21",
                "step aggregates: expected a non-empty list of aggregates; got a "
                "map"),
       });
}

TEST_CASE("an empty value is reported at its key", "[config][loader]") {
  CHECK(
      Errors(WithTopologies(R"(
  - name: t
    source:
      topic:
)" + std::string(kGoodStep))) ==
      std::vector<std::string>{Line("6:7", "source topic: expected a string; got an empty value")});
}

TEST_CASE("durations need a unit and a positive size", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window:
          type: tumbling
          size: 10
          grace: soon
        aggregates: [{name: c, function: count}]
      - name: s2
        window: {type: tumbling, size: 0s}
        aggregates: [{name: c, function: count}]
)")) == std::vector<std::string>{
            Line("10:17",
                 "window size: expected a duration like 500ms, 10s, 5m; got '10' "
                 "(add a unit: ms, s, m, h or d)"),
            Line("11:18",
                 "window grace: expected a duration like 500ms, 10s, 5m; got "
                 "'soon'"),
            Line("14:40", "window size: expected a duration greater than 0; got '0s'"),
        });
}

TEST_CASE("missing required keys point at the map that lacks them", "[config][loader]") {
  CHECK(Errors(R"(kafka:
  bootstrap.servers: b
state: {commit_interval: 1s}
topologies:
  - name: t
    source:
      format: json
    steps: []
  - source: {topic: x}
)") == std::vector<std::string>{
           Line("2:3", "missing required key 'group.id' in kafka"),
           Line("3:8", "missing required key 'dir' in state"),
           Line("7:7", "missing required key 'topic' in source"),
           Line("8:12", "topology steps: expected a non-empty list of steps; got an empty list"),
           Line("9:5", "missing required key 'name' in topology"),
           Line("9:5", "missing required key 'steps' in topology"),
       });
}

TEST_CASE("a view must read from a step of its own topology", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: orders
    source: {topic: x}
    steps:
      - name: hourly
        window: {type: tumbling, size: 1h}
        aggregates: [{name: c, function: count}]
      - name: daily
        window: {type: tumbling, size: 1d}
        aggregates: [{name: c, function: count}]
    views:
      - name: v
        from: weekly
)")) == std::vector<std::string>{
            Line("15:15",
                 "view 'v' reads from unknown step 'weekly'; steps in topology "
                 "'orders': hourly, daily"),
        });
}

TEST_CASE("view names are unique across all topologies", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: a
    source: {topic: x})" + std::string(kGoodStep) +
                              R"(
    views: [{name: totals, from: s}]
  - name: b
    source: {topic: y})" + std::string(kGoodStep) +
                              R"(
    views:
      - {name: totals, from: s}
)")) == std::vector<std::string>{
            Line("18:16",
                 "duplicate view name 'totals': already defined in topology 'a' "
                 "at line 10, column 20 (view names are global: "
                 "/v1/views/{name})"),
        });
}

TEST_CASE("topology, step and aggregate names are unique", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates: [{name: c, function: count}, {name: c, function: count}]
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates: [{name: c, function: count}]
  - name: t
    source: {topic: x})" + std::string(kGoodStep) +
                              "\n")) ==
        std::vector<std::string>{
            Line("9:57",
                 "duplicate aggregate name 'c' in step 's' (first at line 9, column "
                 "29)"),
            Line("10:15", "duplicate step name 's' in topology 't' (first at line 7, column 15)"),
            Line("13:11", "duplicate topology name 't' (first at line 4, column 11)"),
        });
}

TEST_CASE("a duplicate key in a YAML map is an error", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source:
      topic: a
      topic: b
)" + std::string(kGoodStep))) ==
        std::vector<std::string>{
            Line("7:7", "duplicate key 'topic' in source (first at line 6, column 7)")});
}

TEST_CASE("environment variables: unset is an error, defaults and escapes work",
          "[config][loader]") {
  const std::string yaml = R"(kafka:
  bootstrap.servers: ${BROKERS}
  group.id: ${GROUP:-eddy}
  client.id: "$${HOSTNAME}"
state: {dir: "${STATE_DIR}"}
http:
  listen: 0.0.0.0:${PORT:-8080}
  io_threads: ${THREADS:-2}
topologies:
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: "${SIZE:-1m}"}
        aggregates: [{name: c, function: count}]
)";
  CHECK(Errors(yaml) ==
        std::vector<std::string>{
            Line("2:22",
                 "kafka bootstrap.servers: environment variable 'BROKERS' is not set; "
                 "set it or give a default with ${BROKERS:-value}"),
            Line("5:14",
                 "state dir: environment variable 'STATE_DIR' is not set; set it or give "
                 "a default with ${STATE_DIR:-value}"),
        });

  const LoadResult result = LoadString(
      yaml, "test.yaml", Env({{"BROKERS", "k:9092"}, {"STATE_DIR", "/s"}, {"PORT", "9999"}}));
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.ok());
  const Config& config = *result.config;
  CHECK(config.kafka.properties[0].value == "k:9092");
  CHECK(config.kafka.properties[1].value == "eddy");
  CHECK(config.kafka.properties[2].value == "${HOSTNAME}");
  CHECK(config.state.dir == "/s");
  CHECK(config.http.listen_port == 9999);
  CHECK(config.http.io_threads == 2);  // interpolated before conversion to an integer
  CHECK(config.topologies[0].steps[0].window.size == milliseconds(60'000));
}

TEST_CASE("a bad value from the environment says where it came from", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: "${SIZE}"}
        aggregates: [{name: c, function: count}]
)"),
               Env({{"SIZE", "10"}})) ==
        std::vector<std::string>{
            Line("8:40",
                 "window size: expected a duration like 500ms, 10s, 5m; got '10' (add a "
                 "unit: ms, s, m, h or d); the value came from '${SIZE}'")});
}

TEST_CASE("a YAML syntax error is reported at yaml-cpp's mark, 1-based", "[config][loader]") {
  CHECK(Errors("kafka: {bootstrap.servers: b, group.id: g\nstate: {dir: /s}\n") ==
        std::vector<std::string>{
            Line("2:6",
                 "invalid YAML: end of map flow not found (a '{' at or before this point is not "
                 "closed by '}')")});
  CHECK(Errors("kafka:\n  a: 1\n b: 2\n") ==
        std::vector<std::string>{
            Line("3:2",
                 "invalid YAML: end of map not found (a quote or bracket left open, or a line "
                 "indented less than its siblings)")});
}

TEST_CASE("aggregate functions and their fields", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates:
          - name: views
            function: cout
          - name: n
            function: count
            field: amount
          - name: total
            function: sum
          - name: avg
            function: average
)")) == std::vector<std::string>{
            Line("11:23",
                 "aggregate function: expected one of count, sum, min, max, avg, count_distinct, "
                 "first, last, latest; got 'cout'; did you mean 'count'?"),
            Line("14:13",
                 "aggregate: 'field' is not allowed with function 'count', which "
                 "counts records; remove it (or use 'sum' to add up a field)"),
            Line("15:13",
                 "missing required key 'field' in aggregate (function 'sum' adds "
                 "up a numeric field)"),
            Line("18:23",
                 "aggregate function: expected one of count, sum, min, max, avg, count_distinct, "
                 "first, last, latest; got 'average'"),
        });
}

TEST_CASE("every aggregate function but count takes a field", "[config][loader]") {
  const LoadResult result = LoadString(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates:
          - {name: a, function: count}
          - {name: b, function: sum, field: x}
          - {name: c, function: min, field: x}
          - {name: d, function: max, field: x}
          - {name: e, function: avg, field: x.y}
          - {name: f, function: count_distinct, field: user}
          - {name: g, function: count_distinct, field: user, mode: exact}
          - {name: h, function: count_distinct, field: user, mode: approximate}
          - {name: i, function: first, field: page}
          - {name: j, function: last, field: page}
          - {name: k, function: latest, field: page}
)"),
                                       "test.yaml", NoEnv());
  REQUIRE(result.errors.empty());
  const std::vector<AggregateConfig>& aggregates = result.config->topologies[0].steps[0].aggregates;
  REQUIRE(aggregates.size() == 11);
  const std::vector<AggregateFunction> functions = {
      AggregateFunction::kCount,         AggregateFunction::kSum,
      AggregateFunction::kMin,           AggregateFunction::kMax,
      AggregateFunction::kAvg,           AggregateFunction::kCountDistinct,
      AggregateFunction::kCountDistinct, AggregateFunction::kCountDistinct,
      AggregateFunction::kFirst,         AggregateFunction::kLast,
      AggregateFunction::kLatest};
  for (size_t i = 0; i < aggregates.size(); ++i) {
    INFO(aggregates[i].name);
    CHECK(aggregates[i].function == functions[i]);
    CHECK(aggregates[i].field_path.empty() == (i == 0));
    CHECK(aggregates[i].distinct_mode ==
          (i == 7 ? DistinctMode::kApproximate : DistinctMode::kExact));
  }
  CHECK(aggregates[4].field_path == std::vector<std::string>{"x", "y"});
  CHECK(aggregates[4].field_path_text == "x.y");
}

TEST_CASE("aggregate fields and modes are checked", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates:
          - {name: a, function: min}
          - {name: b, function: max}
          - {name: c, function: avg}
          - {name: d, function: count_distinct}
          - {name: e, function: first}
          - {name: f, function: last}
          - {name: g, function: latest}
          - {name: h, function: count_distinct, field: u, mode: aproximate}
          - {name: i, function: count_distinct, field: u, mode: hll}
          - {name: j, function: sum, field: u, mode: exact}
          - {name: k, function: count, mode: exact}
          - {name: l, function: count_dist, field: u}
          - {name: m, function: lates, field: u}
)")) == std::vector<std::string>{
            Line("10:13",
                 "missing required key 'field' in aggregate (function 'min' takes the smallest "
                 "value of a numeric field)"),
            Line("11:13",
                 "missing required key 'field' in aggregate (function 'max' takes the largest "
                 "value of a numeric field)"),
            Line("12:13",
                 "missing required key 'field' in aggregate (function 'avg' averages a numeric "
                 "field)"),
            Line("13:13",
                 "missing required key 'field' in aggregate (function 'count_distinct' counts "
                 "the distinct values of a field)"),
            Line("14:13",
                 "missing required key 'field' in aggregate (function 'first' keeps a field of "
                 "the earliest record)"),
            Line("15:13",
                 "missing required key 'field' in aggregate (function 'last' keeps a field of "
                 "the last record in event time)"),
            Line("16:13",
                 "missing required key 'field' in aggregate (function 'latest' keeps a field of "
                 "the most recently processed record)"),
            Line("17:65",
                 "aggregate mode: expected one of exact, approximate; got 'aproximate'; did you "
                 "mean 'approximate'?"),
            Line("18:65", "aggregate mode: expected one of exact, approximate; got 'hll'"),
            Line("19:48",
                 "aggregate: 'mode' applies only to function 'count_distinct'; 'sum' has no "
                 "modes"),
            Line("20:40",
                 "aggregate: 'mode' applies only to function 'count_distinct'; 'count' has no "
                 "modes"),
            Line("21:33",
                 "aggregate function: expected one of count, sum, min, max, avg, count_distinct, "
                 "first, last, latest; got 'count_dist'"),
            Line("22:33",
                 "aggregate function: expected one of count, sum, min, max, avg, count_distinct, "
                 "first, last, latest; got 'lates'; did you mean 'latest'?"),
        });
}

TEST_CASE("sliding windows are not supported yet, hopping needs a valid advance",
          "[config][loader]") {
  CHECK(
      Errors(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: hopping, size: 1m}
        aggregates: [{name: c, function: count}]
      - name: s2
        window: {type: sliding, size: 1m}
        aggregates: [{name: c, function: count}]
      - name: s3
        window: {type: tumblin, size: 1m}
        aggregates: [{name: c, function: count}]
      - name: s4
        window: {type: hopping, size: 1m, advance: 2m}
        aggregates: [{name: c, function: count}]
      - name: s5
        window: {type: tumbling, size: 1m, advance: 10s, retention: 30s}
        aggregates: [{name: c, function: count}]
      - name: s6
        window: {type: tumbling, size: 1m}
        emit: finally
        aggregates: [{name: c, function: count}]
)")) ==
      std::vector<std::string>{
          Line("8:17",
               "missing required key 'advance' in window (a hopping window starts every "
               "'advance' and lasts 'size')"),
          Line(
              "11:24",
              "window type: 'sliding' is not supported yet; supported: tumbling, hopping, session"),
          Line("14:24",
               "window type: expected one of tumbling, hopping, session; got 'tumblin'; did you "
               "mean 'tumbling'?"),
          Line("17:52", "window advance: must not exceed the window size (60000ms); got 120000ms"),
          Line("20:44",
               "window: 'advance' applies only to hopping windows; a tumbling window advances "
               "by its size"),
          Line("20:69",
               "window retention: must be at least size + grace (60000ms), or windows would be "
               "purged before they close; got 30000ms"),
          Line("24:15",
               "step emit: expected one of update, final; got 'finally'; did you mean 'final'?"),
      });
}

TEST_CASE("hopping windows, retention and emit mode are read with their defaults",
          "[config][loader]") {
  const LoadResult result = LoadString(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: tumbling
        window: {type: tumbling, size: 1m, grace: 10s}
        aggregates: [{name: c, function: count}]
      - name: hopping
        window: {type: hopping, size: 5m, advance: 1m, retention: 2d}
        emit: final
        aggregates: [{name: c, function: count}]
)"),
                                       "test.yaml", NoEnv());
  REQUIRE(result.ok());
  const auto& steps = result.config->topologies[0].steps;
  CHECK(steps[0].window.advance == std::chrono::minutes(1));
  CHECK(steps[0].window.retention == std::chrono::hours(24) + std::chrono::seconds(70));
  CHECK(steps[0].emit == EmitMode::kOnUpdate);
  CHECK(steps[1].window.kind == WindowConfig::Kind::kHopping);
  CHECK(steps[1].window.size == std::chrono::minutes(5));
  CHECK(steps[1].window.advance == std::chrono::minutes(1));
  CHECK(steps[1].window.retention == std::chrono::hours(48));
  CHECK(steps[1].emit == EmitMode::kFinal);
}

TEST_CASE("session windows, steps without a window and late_records topics are read",
          "[config][loader]") {
  const LoadResult result = LoadString(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: sessions
        window: {type: session, gap: 5m, grace: 1m}
        late_records: {topic: late-x}
        aggregates: [{name: c, function: count}]
      - name: all_time
        aggregates: [{name: c, function: count}]
      - name: long_sessions
        window: {type: session, gap: 30m, retention: 7d}
        emit: final
        aggregates: [{name: c, function: count}]
    sinks:
      - {name: totals, from: all_time, topic: totals}
)"),
                                       "test.yaml", NoEnv());
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.ok());
  const TopologyConfig& topology = result.config->topologies[0];
  const auto& steps = topology.steps;
  CHECK(steps[0].kind == StepConfig::Kind::kWindow);
  CHECK(steps[0].window.kind == WindowConfig::Kind::kSession);
  CHECK(steps[0].window.gap == std::chrono::minutes(5));
  CHECK(steps[0].window.size == std::chrono::milliseconds(0));
  CHECK(steps[0].window.grace == std::chrono::minutes(1));
  CHECK(steps[0].window.retention == std::chrono::hours(24) + std::chrono::minutes(6));
  CHECK(steps[0].late_records_topic == "late-x");
  CHECK(steps[1].kind == StepConfig::Kind::kWindow);
  CHECK(steps[1].window.kind == WindowConfig::Kind::kNone);
  CHECK(steps[1].window.retention == std::chrono::milliseconds(0));
  CHECK(steps[1].late_records_topic.empty());
  CHECK(steps[1].from == "source");  // an aggregation step ends its branch: no step reads it
  CHECK(steps[2].window.retention == std::chrono::hours(24 * 7));
  CHECK(steps[2].emit == EmitMode::kFinal);
  CHECK(WritesToKafka(topology));
}

TEST_CASE("a late_records topic alone makes a topology write to Kafka", "[config][loader]") {
  const LoadResult result = LoadString(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: w
        window: {type: tumbling, size: 1m}
        aggregates: [{name: c, function: count}]
  - name: u
    source: {topic: y}
    steps:
      - name: w
        window: {type: tumbling, size: 1m}
        late_records: {topic: late}
        aggregates: [{name: c, function: count}]
)"),
                                       "test.yaml", NoEnv());
  REQUIRE(result.ok());
  CHECK_FALSE(WritesToKafka(result.config->topologies[0]));
  CHECK(WritesToKafka(result.config->topologies[1]));
}

TEST_CASE("source key and timestamp take exactly one of their forms", "[config][loader]") {
  CHECK(Errors(WithTopologies(R"(
  - name: t
    source:
      topic: x
      format: avro
      key: user.id
      timestamp: {field: ts, format: iso8601})" +
                              std::string(kGoodStep) + R"(
  - name: u
    source:
      topic: x
      key: {field: a, kafka_key: true}
      timestamp: {record_timestamp: true, format: epoch_s}
)" + std::string(kGoodStep))) ==
        std::vector<std::string>{
            Line("7:15", "source format: expected one of json; got 'avro'"),
            Line("8:12",
                 "source key: expected a map like {field: user.id} or {kafka_key: true}; "
                 "got 'user.id'"),
            Line("9:38",
                 "source timestamp format: expected one of epoch_ms, epoch_s, rfc3339; "
                 "got 'iso8601'"),
            Line("17:12", "source key: set either 'field' or 'kafka_key: true', not both"),
            Line("18:43",
                 "source timestamp: 'format' applies only with 'field'; a record "
                 "timestamp needs no format"),
        });
}

TEST_CASE("http readiness values are checked", "[config][loader]") {
  CHECK(Errors("kafka: {bootstrap.servers: b, group.id: g}\n"
               "state: {dir: /s}\n"
               "http:\n"
               "  readiness: {max_lag_records: -1, max_lag: 3}\n"
               "topologies: 3\n") ==
        std::vector<std::string>{
            Line("4:32",
                 "http readiness max_lag_records: expected a number of records from 0 to "
                 "9223372036854775807; got '-1'"),
            Line("4:36", "unknown key 'max_lag' in http readiness; valid keys: max_lag_records"),
            Line("5:13", "topologies: expected a non-empty list of topologies; got '3'"),
        });
}

TEST_CASE("http and logging values are checked", "[config][loader]") {
  CHECK(Errors("kafka: {bootstrap.servers: b, group.id: g}\n"
               "state: {dir: /s, sync_writes: yes}\n"
               "http: {listen: '::1:80', io_threads: 0}\n"
               "logging: {level: warning, format: jsn}\n"
               "topologies: 3\n") ==
        std::vector<std::string>{
            Line("2:31", "state sync_writes: expected true or false; got 'yes'"),
            Line("3:16",
                 "http listen: expected host:port like 0.0.0.0:8080, [::1]:8080 or "
                 "localhost:8080; got '::1:80' (write an IPv6 address in brackets, e.g. "
                 "[::1]:8080)"),
            Line("3:38",
                 "http io_threads: expected a number of threads from 1 to 1024 or 'auto'; got '0'"),
            Line("4:18",
                 "logging level: expected one of trace, debug, info, warn, error, "
                 "critical, off; got 'warning'"),  // too far for a suggestion
            Line("4:35",
                 "logging format: expected one of text, json; got 'jsn'; did you mean "
                 "'json'?"),
            Line("5:13", "topologies: expected a non-empty list of topologies; got '3'"),
        });
}

TEST_CASE("an empty or multi-document file is an error", "[config][loader]") {
  CHECK(Errors("") == std::vector<std::string>{"test.yaml: error: config is empty; expected a "
                                               "map with keys kafka, state and topologies"});
  CHECK(Errors("# only a comment\n") ==
        std::vector<std::string>{"test.yaml: error: config is empty; expected a map with keys "
                                 "kafka, state and topologies"});
  CHECK(Errors("- a\n") ==
        std::vector<std::string>{Line("1:1",
                                      "config: expected a map with keys kafka, state and "
                                      "topologies; got a list")});
  const std::vector<std::string> errors = Errors(WithTopologies(R"(
  - name: t
    source: {topic: x})" + std::string(kGoodStep) + "\n---\nkafka: {}\n"));
  CHECK(errors ==
        std::vector<std::string>{Line("11:1",
                                      "expected one YAML document; found 2 (remove the '---' "
                                      "separators)")});
}

// Found by tests/fuzz/fuzz_config: yaml-cpp 0.7's LoadAll loops forever, allocating, on these
// (it keeps reporting an empty document at the ',' without consuming it).
TEST_CASE("a stray ',' where a document goes on is an error, not a hang", "[config][loader]") {
  CHECK(Errors(",") == std::vector<std::string>{Line("1:1", "invalid YAML: unexpected ','")});
  CHECK(Errors("[a]\n,") == std::vector<std::string>{Line("2:1", "invalid YAML: unexpected ','")});
  CHECK(Errors("{kafka: {bootstrap.servers: b}}\n,\n") ==
        std::vector<std::string>{Line("2:1", "invalid YAML: unexpected ','")});
  CHECK(Errors("a: 1\n---\n,") ==
        std::vector<std::string>{Line("3:1", "invalid YAML: unexpected ','")});
}

TEST_CASE("an unreadable file is one error without a line", "[config][loader]") {
  const LoadResult result = LoadFile("/nonexistent/eddy.yaml", NoEnv());
  REQUIRE(result.errors.size() == 1);
  CHECK_FALSE(result.config.has_value());
  CHECK(result.errors[0].location.file == "/nonexistent/eddy.yaml");
  CHECK(result.errors[0].location.line == 0);
  CHECK(result.errors[0].ToString() ==
        "/nonexistent/eddy.yaml: error: cannot read config file: No such file or directory");
}

TEST_CASE("SourceLocation and Diagnostic print file:line:column", "[config][loader]") {
  CHECK(SourceLocation{"a.yaml", 3, 7}.ToString() == "a.yaml:3:7");
  CHECK(SourceLocation{"a.yaml", 0, 0}.ToString() == "a.yaml");
  CHECK(Diagnostic{{"a.yaml", 3, 7}, "oops"}.ToString() == "a.yaml:3:7: error: oops");
}

// Data-driven: tests/data/config/<name>.yaml is loaded with the environment below and must
// produce exactly the lines of <name>.errors, in order.
TEST_CASE("golden error files", "[config][loader]") {
  for (const char* name : {"many_errors", "step_errors", "join_errors"}) {
    const std::string base = std::string(EDDY_TEST_DATA_DIR) + "/config/" + name;
    std::ifstream yaml_file(base + ".yaml");
    std::ifstream errors_file(base + ".errors");
    REQUIRE(yaml_file);
    REQUIRE(errors_file);
    std::stringstream yaml;
    yaml << yaml_file.rdbuf();
    std::vector<std::string> expected;
    for (std::string line; std::getline(errors_file, line);) {
      if (!line.empty()) expected.push_back(line);
    }
    const LoadResult result =
        LoadString(yaml.str(), std::string(name) + ".yaml", Env({{"FIVE_SECONDS", "5s"}}));
    std::vector<std::string> actual;
    for (const Diagnostic& d : result.errors) actual.push_back(d.ToString());
    INFO(name);
    CHECK(actual == expected);
  }
}

// Data-driven: every tests/data/config/corpus/NN-name.yaml is a config with one kind of
// mistake (its first comment line says which); loading it must produce exactly the lines of
// NN-name.errors. Lines about Kafka properties come from `eddy validate`'s librdkafka check,
// not from the loader: they are compared by the CLI test (tests/unit/runtime/cli_test.cpp),
// which also checks that `eddy validate` exits 3 on each file.
TEST_CASE("bad configuration corpus: every file fails with exactly its errors",
          "[config][loader][corpus]") {
  const std::filesystem::path dir = std::filesystem::path(EDDY_TEST_DATA_DIR) / "config/corpus";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 30);
  for (const std::filesystem::path& file : files) {
    std::ifstream errors_file(std::filesystem::path(file).replace_extension(".errors"));
    INFO(file.filename().string());
    REQUIRE(errors_file);
    std::vector<std::string> expected;
    for (std::string line; std::getline(errors_file, line);) {
      if (!line.empty() && line.find(": error: kafka property '") == std::string::npos) {
        expected.push_back(line);
      }
    }
    const LoadResult result = LoadFile(file.string(), NoEnv());
    std::vector<std::string> actual;
    for (const Diagnostic& d : result.errors) {
      std::string line = d.ToString();
      // Messages name the file as given; the .errors files name it without its directory.
      if (line.starts_with(dir.string() + "/")) line.erase(0, dir.string().size() + 1);
      actual.push_back(std::move(line));
    }
    CHECK(actual == expected);
    CHECK(result.config.has_value() == actual.empty());
    // Every error has a position.
    for (const Diagnostic& d : result.errors) CHECK(d.location.line > 0);
  }
}

}  // namespace
}  // namespace eddy::config

namespace eddy::config {

TEST_CASE("sinks name a step, a topic and a value shape", "[config][loader]") {
  const LoadResult good =
      LoadString(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates: [{name: c, function: count}]
    sinks:
      - {name: out, from: s, topic: results}
      - {name: flat, from: s, topic: results-flat, value: flat}
)"),
                 "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  REQUIRE(good.ok());
  const auto& sinks = good.config->topologies[0].sinks;
  REQUIRE(sinks.size() == 2);
  CHECK(sinks[0].name == "out");
  CHECK(sinks[0].from == "s");
  CHECK(sinks[0].topic == "results");
  CHECK(sinks[0].value == SinkConfig::ValueShape::kNested);
  CHECK(sinks[1].value == SinkConfig::ValueShape::kFlat);

  const LoadResult bad =
      LoadString(WithTopologies(R"(
  - name: t
    source: {topic: x}
    steps:
      - name: s
        window: {type: tumbling, size: 1m}
        aggregates: [{name: c, function: count}]
    sinks:
      - {name: out, from: nope, topic: results}
      - {name: out, from: s, topic: r, value: flatt}
      - {name: x, from: s}
)"),
                 "test.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
  std::vector<std::string> errors;
  for (const Diagnostic& d : bad.errors) errors.push_back(d.ToString());
  CHECK(errors == std::vector<std::string>{
                      "test.yaml:11:27: error: sink 'out' reads from unknown step 'nope'; steps "
                      "in topology 't': s",
                      "test.yaml:12:16: error: duplicate sink name 'out' (first at line 11, "
                      "column 16)",
                      "test.yaml:12:47: error: sink value: expected one of nested, flat; got "
                      "'flatt'; did you mean 'flat'?",
                      "test.yaml:13:9: error: missing required key 'topic' in sink",
                  });
}

TEST_CASE("bad http auth and rate limits name where they are written", "[config][loader]") {
  const std::string head =
      "kafka: {bootstrap.servers: 'b:9092', group.id: g}\n"
      "state: {dir: /tmp/s}\n"
      "topologies: [{name: t, source: {topic: x}, steps: [{name: w, window: {type: tumbling, "
      "size: 1m}, aggregates: [{name: n, function: count}]}]}]\n";
  CHECK(Errors(head + "http:\n  auth: {protect: [metrics]}\n") ==
        std::vector<std::string>{
            "test.yaml:5:9: error: http auth: set tokens_env or tokens_file (where the tokens "
            "are)"});
  CHECK(Errors(head + "http:\n  auth: {tokens_env: T, protect: [views]}\n") ==
        std::vector<std::string>{
            "test.yaml:5:35: error: auth protect item: expected one of healthz, readyz, "
            "metrics; got 'views'"});
  CHECK(Errors(head + "http:\n  rate_limit: {burst: 0}\n") ==
        std::vector<std::string>{
            "test.yaml:5:15: error: missing required key 'requests_per_second' in rate_limit",
            "test.yaml:5:23: error: rate_limit burst: expected a number of requests from 1 to "
            "10000000; got '0'"});
}

}  // namespace eddy::config

namespace eddy::config {

TEST_CASE("sources and joins: names, inputs and join settings", "[config][loader]") {
  const LoadResult result = LoadString(R"(kafka: {bootstrap.servers: x:1, group.id: g}
state: {dir: /tmp/x}
topologies:
  - name: t
    sources:
      - {name: orders, topic: orders-topic, key: {field: cid}}
      - {name: customers, topic: customers-topic}
      - {name: clicks, topic: clicks-topic}
    steps:
      - {name: rows, from: customers, table: {}}
      - {name: enriched, from: orders, join: {table: rows, type: left}}
      - {name: big, filter: "amount > 10"}
      - {name: matched, join: {stream: clicks, within: 5m, grace: 30s, type: outer, as: click}}
    sinks:
      - {name: out, from: matched, topic: matched}
)",
                                       "j.yaml", Env({}));
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  const TopologyConfig& t = result.config->topologies[0];
  REQUIRE(t.sources.size() == 3);
  CHECK(t.sources[0].name == "orders");
  CHECK(t.sources[0].topic == "orders-topic");
  CHECK(t.steps[0].table_cache_mib == 256);  // the default
  CHECK(t.sources[0].key.field_path_text == "cid");
  CHECK(t.sources[2].key.kind == KeySpec::Kind::kKafkaKey);
  REQUIRE(t.steps.size() == 4);
  CHECK(t.steps[0].from == "customers");
  CHECK(t.steps[0].from_source);
  const JoinConfig& table_join = t.steps[1].join;
  CHECK(t.steps[1].kind == StepConfig::Kind::kJoin);
  CHECK(table_join.with == JoinConfig::With::kTable);
  CHECK(table_join.right == "rows");
  CHECK(table_join.type == JoinConfig::Type::kLeft);
  CHECK(table_join.as == "rows");        // default: the right side's name
  CHECK(t.steps[2].from == "enriched");  // default: the closest record-producing step above
  CHECK_FALSE(t.steps[2].from_source);
  const JoinConfig& stream_join = t.steps[3].join;
  CHECK(t.steps[3].from == "big");
  CHECK(stream_join.with == JoinConfig::With::kStream);
  CHECK(stream_join.right == "clicks");
  CHECK(stream_join.within == std::chrono::minutes(5));
  CHECK(stream_join.grace == std::chrono::seconds(30));
  CHECK(stream_join.type == JoinConfig::Type::kOuter);
  CHECK(stream_join.as == "click");
  CHECK(stream_join.cache_bytes == int64_t{256} << 20);  // the default
  CHECK(t.sinks[0].from == "matched");
}

TEST_CASE("a stream–stream join's cache_mib is a number of MiB, and a table join's is refused",
          "[config][loader]") {
  auto load = [](const std::string& join) {
    return LoadString(R"(kafka: {bootstrap.servers: x:1, group.id: g}
state: {dir: /tmp/x}
topologies:
  - name: t
    sources: [{name: a, topic: a}, {name: b, topic: b}]
    steps:
      - {name: rows, from: b, table: {}}
      - {name: j, from: a, join: )" +
                          join + R"(}
)",
                      "c.yaml", Env({}));
  };
  const LoadResult none = load("{stream: b, within: 1m, cache_mib: 0}");
  for (const Diagnostic& d : none.errors) FAIL_CHECK(d.ToString());
  REQUIRE(none.config.has_value());
  CHECK(none.config->topologies[0].steps[1].join.cache_bytes == 0);
  const LoadResult some = load("{stream: b, within: 1m, cache_mib: 3}");
  REQUIRE(some.config.has_value());
  CHECK(some.config->topologies[0].steps[1].join.cache_bytes == 3 << 20);
  const LoadResult negative = load("{stream: b, within: 1m, cache_mib: -1}");
  CHECK_FALSE(negative.config.has_value());
  REQUIRE(negative.errors.size() == 1);
  CHECK(negative.errors[0].location.line == 8);
  CHECK(negative.errors[0].location.column == 69);  // the value
  const LoadResult table = load("{table: rows, cache_mib: 3}");
  CHECK_FALSE(table.config.has_value());
  REQUIRE(table.errors.size() == 1);
  CHECK(table.errors[0].location.line == 8);
  CHECK(table.errors[0].location.column == 48);  // the key
  CHECK(table.errors[0].ToString().find("table: {cache_mib") != std::string::npos);
}

TEST_CASE("a table's cache_mib is a number of MiB from 0, named at its line and column",
          "[config][loader]") {
  auto load = [](const std::string& cache) {
    return LoadString(R"(kafka: {bootstrap.servers: x:1, group.id: g}
state: {dir: /tmp/x}
topologies:
  - name: t
    source: {topic: a}
    steps:
      - {name: rows, table: {cache_mib: )" +
                          cache + R"(}}
)",
                      "c.yaml", Env({}));
  };
  const LoadResult none = load("0");
  for (const Diagnostic& d : none.errors) FAIL_CHECK(d.ToString());
  REQUIRE(none.config.has_value());
  CHECK(none.config->topologies[0].steps[0].table_cache_mib == 0);
  const LoadResult big = load("4096");
  REQUIRE(big.config.has_value());
  CHECK(big.config->topologies[0].steps[0].table_cache_mib == 4096);
  for (const std::string bad : {"-1", "lots", "1.5"}) {
    INFO(bad);
    const LoadResult result = load(bad);
    CHECK_FALSE(result.config.has_value());
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].location.line == 7);
    CHECK(result.errors[0].location.column == 41);
    CHECK(result.errors[0].ToString().find("cache_mib") != std::string::npos);
  }
}

TEST_CASE("a single source is named 'source' and read by default", "[config][loader]") {
  const LoadResult result = LoadString(R"(kafka: {bootstrap.servers: x:1, group.id: g}
state: {dir: /tmp/x}
topologies:
  - name: t
    source: {topic: a}
    steps:
      - {name: f, filter: "x > 1"}
      - {name: g, from: source, filter: "x > 2"}
)",
                                       "s.yaml", Env({}));
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.config.has_value());
  const TopologyConfig& t = result.config->topologies[0];
  REQUIRE(t.sources.size() == 1);
  CHECK(t.sources[0].name == "source");
  CHECK(t.steps[0].from == "source");
  CHECK(t.steps[0].from_source);
  CHECK(t.steps[1].from == "source");
  CHECK(t.steps[1].from_source);
}

}  // namespace eddy::config
