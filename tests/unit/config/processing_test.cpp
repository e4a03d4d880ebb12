// processing.threads: parsing (an integer, auto, errors with their location) and how `auto`
// resolves (config::ResolveProcessingThreads).
#include <catch2/catch.hpp>
#include <string>

#include "config/config.h"
#include "config/loader.h"

namespace eddy::config {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

// kafka, state and (when given) processing on lines 1-3, then one topology.
std::string Yaml(const std::string& processing, const std::string& steps = R"(
    steps:
      - {name: f, from: orders, filter: "x > 1"}
)") {
  std::string text =
      "kafka: {bootstrap.servers: 'localhost:9092', group.id: g}\n"
      "state: {dir: /tmp/eddy-processing-test}\n";
  text += processing.empty() ? "\n" : processing + "\n";
  text +=
      "topologies:\n"
      "  - name: t\n"
      "    sources:\n"
      "      - {name: orders, topic: orders}\n"
      "      - {name: customers, topic: customers}";
  return text + steps;
}

const std::string kTableJoin = R"(
    steps:
      - {name: c, from: customers, table: {}}
      - {name: j, from: orders, join: {table: c}}
)";

std::vector<std::string> Errors(const std::string& yaml) {
  const LoadResult result = LoadString(yaml, "test.yaml", NoEnv());
  std::vector<std::string> out;
  for (const Diagnostic& d : result.errors) out.push_back(d.ToString());
  return out;
}

Config Load(const std::string& yaml) {
  LoadResult result = LoadString(yaml, "test.yaml", NoEnv());
  INFO((result.errors.empty() ? std::string() : result.errors.front().ToString()));
  REQUIRE(result.config.has_value());
  return std::move(*result.config);
}

TEST_CASE("processing threads: default auto, an integer, or auto written out",
          "[config][processing]") {
  CHECK_FALSE(Load(Yaml("")).processing.threads.has_value());
  CHECK_FALSE(Load(Yaml("processing: {threads: auto}")).processing.threads.has_value());
  const Config three = Load(Yaml("processing: {threads: 3}"));
  REQUIRE(three.processing.threads == 3);
  CHECK(three.processing.threads_location.ToString() == "test.yaml:3:23");
  CHECK(Load(Yaml("processing: {threads: 256}")).processing.threads == 256);
}

TEST_CASE("processing threads: bad values are errors at their location", "[config][processing]") {
  const std::string expected = "expected an integer from 1 to 256 or 'auto'";
  CHECK(Errors(Yaml("processing: {threads: 0}")) ==
        std::vector<std::string>{"test.yaml:3:23: error: processing threads: " + expected +
                                 "; got '0'"});
  CHECK(Errors(Yaml("processing: {threads: 257}")) ==
        std::vector<std::string>{"test.yaml:3:23: error: processing threads: " + expected +
                                 "; got '257'"});
  CHECK(Errors(Yaml("processing: {threads: two}")) ==
        std::vector<std::string>{"test.yaml:3:23: error: processing threads: " + expected +
                                 "; got 'two'"});
  CHECK(Errors(Yaml("processing: {threads: [1]}")) ==
        std::vector<std::string>{"test.yaml:3:23: error: processing threads: expected " +
                                 expected.substr(9) + "; got a list"});
  CHECK(Errors(Yaml("processing: {workers: 2}")) ==
        std::vector<std::string>{
            "test.yaml:3:14: error: unknown key 'workers' in processing; valid keys: threads"});
  CHECK(Errors(Yaml("processing: 2")) ==
        std::vector<std::string>{"test.yaml:3:13: error: processing: expected a map like "
                                 "{threads: auto}; got '2'"});
}

TEST_CASE("processing threads: several workers cannot run a stream–table join",
          "[config][processing]") {
  CHECK(Errors(Yaml("processing: {threads: 2}", kTableJoin)) ==
        std::vector<std::string>{
            "test.yaml:3:23: error: processing threads: 2 workers cannot run stream–table join "
            "t.j: each worker reads only the table partitions Kafka assigns it, and the join "
            "looks up any key (docs/joins.md); use threads: 1 (or auto, which picks 1), or "
            "declare the join co_partitioned: true if its topics are"});
  CHECK(Errors(Yaml("processing: {threads: 1}", kTableJoin)).empty());
  CHECK(Errors(Yaml("", kTableJoin)).empty());
}

const std::string kCoPartitionedTableJoin = R"(
    steps:
      - {name: c, from: customers, table: {}}
      - {name: j, from: orders, join: {table: c, co_partitioned: true}}
)";

TEST_CASE("processing threads: a co_partitioned stream–table join runs on several workers",
          "[config][processing]") {
  const Config config = Load(Yaml("processing: {threads: 2}", kCoPartitionedTableJoin));
  CHECK(config.topologies[0].steps[1].join.co_partitioned);
  CHECK(ResolveProcessingThreads(Load(Yaml("", kCoPartitionedTableJoin)), 2).threads == 2);
  // One join that is not co-partitioned keeps the config at one worker.
  const std::string mixed = R"(
    steps:
      - {name: c, from: customers, table: {}}
      - {name: j, from: orders, join: {table: c, co_partitioned: true}}
      - {name: k, from: j, join: {table: c}}
)";
  CHECK(ResolveProcessingThreads(Load(Yaml("", mixed)), 2).threads == 1);
  CHECK(Errors(Yaml("processing: {threads: 2}", mixed)).size() == 1);
}

TEST_CASE("co_partitioned: stream–table joins only, never after a rekey", "[config][processing]") {
  CHECK(Errors(Yaml("", R"(
    steps:
      - {name: r, from: orders, rekey: "customer"}
      - {name: c, from: customers, table: {}}
      - {name: j, from: r, join: {table: c, co_partitioned: true}}
)")) == std::vector<std::string>{"test.yaml:12:61: error: step 'j': a co_partitioned join "
                                 "cannot follow rekey step 'r': re-keyed records are not in "
                                 "their new key's partition (repartition the topic by the join "
                                 "key, or drop co_partitioned)"});
  CHECK(Errors(Yaml("", R"(
    steps:
      - {name: j, from: orders, join: {stream: customers, within: 1m, co_partitioned: true}}
)")) == std::vector<std::string>{"test.yaml:10:71: error: join: 'co_partitioned' applies only "
                                 "to stream–table joins ('table:'); a stream–stream join always "
                                 "needs co-partitioned topics"});
  CHECK(Errors(Yaml("", R"(
    steps:
      - {name: c, from: customers, table: {}}
      - {name: j, from: orders, join: {table: c, co_partitioned: maybe}}
)"))
            .size() == 1);
}

TEST_CASE("processing threads: several workers cannot run exactly-once delivery",
          "[config][processing]") {
  const std::vector<std::string> errors =
      Errors(Yaml("delivery: {guarantee: exactly_once}\nprocessing: {threads: 2}"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("test.yaml:4:23: error: processing threads: 2 workers cannot run with "
                        "delivery.guarantee exactly_once yet",
                        0) == 0);
  CHECK(Errors(Yaml("delivery: {guarantee: exactly_once}\nprocessing: {threads: 1}")).empty());
}

TEST_CASE("processing threads: how auto resolves", "[config][processing]") {
  const Config plain = Load(Yaml(""));
  CHECK(ResolveProcessingThreads(plain, 2).threads == 2);
  CHECK(ResolveProcessingThreads(plain, 2).why == "auto: 2, one per hardware thread (2)");
  CHECK(ResolveProcessingThreads(plain, 0).threads == 1);  // unknown
  CHECK(ResolveProcessingThreads(plain, 1000).threads == ProcessingConfig::kMaxThreads);

  const Config joined = Load(Yaml("", kTableJoin));
  CHECK(ResolveProcessingThreads(joined, 8).threads == 1);
  CHECK(ResolveProcessingThreads(joined, 8).why ==
        "auto: 1, because stream–table join t.j must see every partition of its table "
        "(docs/joins.md)");

  const Config exactly_once =
      Load(Yaml("delivery: {guarantee: exactly_once}\nprocessing: {threads: auto}"));
  CHECK(ResolveProcessingThreads(exactly_once, 8).threads == 1);
  CHECK(ResolveProcessingThreads(exactly_once, 8).why ==
        "auto: 1, because exactly-once delivery runs one worker (docs/guarantees.md)");

  const Config written = Load(Yaml("processing: {threads: 3}"));
  CHECK(ResolveProcessingThreads(written, 2).threads == 3);  // as written, even above cores
  CHECK(ResolveProcessingThreads(written, 2).why.empty());
}

TEST_CASE("http io_threads: auto is one per hardware thread, at most 8", "[config][processing]") {
  const Config defaulted = Load(Yaml(""));
  CHECK(defaulted.http.io_threads == 0);
  CHECK(ResolveIoThreads(defaulted.http, 2) == 2);
  CHECK(ResolveIoThreads(defaulted.http, 0) == 1);  // unknown
  CHECK(ResolveIoThreads(defaulted.http, 64) == HttpConfig::kAutoIoThreadsMax);
  const Config written = Load(Yaml("http: {io_threads: 3}"));
  CHECK(ResolveIoThreads(written.http, 64) == 3);
  CHECK(Load(Yaml("http: {io_threads: auto}")).http.io_threads == 0);
}

}  // namespace
}  // namespace eddy::config

namespace eddy::config {
namespace {

TEST_CASE("commit_interval: as written, else 1 s, or 100 ms with exactly-once delivery",
          "[config][processing]") {
  using std::chrono::milliseconds;
  CHECK(ResolveCommitInterval(Load(Yaml(""))) == milliseconds(1000));
  CHECK(ResolveCommitInterval(Load(Yaml("delivery: {guarantee: exactly_once}"))) ==
        milliseconds(100));
  CHECK(ResolveCommitInterval(Load(Yaml("delivery: {guarantee: at_least_once}"))) ==
        milliseconds(1000));
  Config written = Load(Yaml("delivery: {guarantee: exactly_once}"));
  written.state.commit_interval = milliseconds(250);
  CHECK(ResolveCommitInterval(written) == milliseconds(250));
}

}  // namespace
}  // namespace eddy::config
