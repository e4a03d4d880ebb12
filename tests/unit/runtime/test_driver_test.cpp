// The offline test driver: passing and failing expectations, sink outputs, and errors in
// test files — each with what the user reads.
#include "runtime/test_driver.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

namespace eddy::runtime {
namespace {

namespace fs = std::filesystem;

// A directory holding one config and test files written by the test.
class Workspace {
 public:
  Workspace() {
    std::string pattern = (fs::temp_directory_path() / "eddy-driver-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    Write("eddy.yaml", R"(kafka:
  bootstrap.servers: 127.0.0.1:9092
  group.id: g
state:
  dir: /nonexistent/overridden-by-the-driver
topologies:
  - name: orders
    source:
      topic: orders
      key: {field: customer}
      timestamp: {field: at, format: epoch_ms}
    steps:
      - name: per_minute
        window: {type: tumbling, size: 1m}
        emit: final
        aggregates:
          - {name: orders, function: count}
          - {name: revenue, function: sum, field: amount}
    views:
      - {name: orders_per_minute, from: per_minute}
    sinks:
      - {name: out, from: per_minute, topic: order-totals, value: flat}
)");
  }
  ~Workspace() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (fs::path(dir_) / name).string();
    std::ofstream(path) << text;
    return path;
  }

 private:
  std::string dir_;
};

const char* const kInputs = R"(input:
  - {topic: orders, value: {customer: c1, amount: 10.5, at: 0}}
  - {topic: orders, value: {customer: c1, amount: 4.5, at: 30000}}
  - {topic: orders, value: {customer: c2, amount: 1, at: 59999}}
  - {topic: orders, value: {customer: c2, amount: 2, at: 60000}}
)";

}  // namespace

TEST_CASE("a test file whose expectations hold passes", "[runtime][test_driver]") {
  Workspace workspace;
  const std::string path =
      workspace.Write("ok.test.yaml", std::string("config: eddy.yaml\n") + kInputs + R"(
expect:
  views:
    - view: orders_per_minute
      key: c1
      windows:
        - {start_ms: 0, closed: true, aggregates: {orders: 2, revenue: 15}}
  sinks:
    - topic: order-totals
      records:
        - {key: c1, value: {window_start_ms: 0, orders: 2, revenue: 15}}
        - {key: c2, value: {window_start_ms: 0, orders: 1, revenue: 1}}
)");
  const TestFileResult result = RunTestFile(path);
  INFO(result.errors.size() << " errors, " << result.failures.size() << " failures");
  for (const auto& e : result.errors) INFO(e);
  for (const auto& f : result.failures) INFO(f);
  CHECK(result.errors.empty());
  CHECK(result.failures.empty());
  CHECK(result.checks == 2);
  CHECK(result.passed);
}

TEST_CASE("a failing expectation reports where and how it differs", "[runtime][test_driver]") {
  Workspace workspace;
  const std::string path =
      workspace.Write("bad.test.yaml", std::string("config: eddy.yaml\n") + kInputs + R"(
expect:
  views:
    - view: orders_per_minute
      key: c2
      windows:
        - {start_ms: 0, aggregates: {orders: 2}}
  sinks:
    - topic: order-totals
      records:
        - {key: c1, value: {orders: 2}}
)");
  const TestFileResult result = RunTestFile(path);
  CHECK_FALSE(result.passed);
  CHECK(result.errors.empty());
  REQUIRE(result.failures.size() == 2);
  CHECK_THAT(result.failures[0],
             Catch::StartsWith(path + ":10:7: view orders_per_minute, key c2: mismatch at "
                                      "$[0].aggregates.orders"));
  CHECK_THAT(result.failures[0], Catch::Contains("expected: [{\"start_ms\":0"));
  CHECK_THAT(result.failures[1],
             Catch::Contains("sink topic order-totals: mismatch at $ (expected 1 items, got 2)"));
}

TEST_CASE("problems in the test file itself are errors with a location", "[runtime][test_driver]") {
  Workspace workspace;
  const TestFileResult unknown = RunTestFile(workspace.Write("a.test.yaml", R"(config: eddy.yaml
inputs: []
expect: {views: [{view: nope, key: k, windows: []}]}
)"));
  CHECK_FALSE(unknown.passed);
  REQUIRE(unknown.errors.size() == 1);
  CHECK_THAT(unknown.errors[0], Catch::EndsWith("a.test.yaml:2:1: error: unknown key 'inputs' in "
                                                "test file; valid keys: config, env, input, "
                                                "input_file, expect"));
  const TestFileResult no_view = RunTestFile(workspace.Write("f.test.yaml", R"(config: eddy.yaml
expect: {views: [{view: nope, key: k, windows: []}]}
)"));
  REQUIRE(no_view.errors.size() == 1);
  CHECK_THAT(no_view.errors[0], Catch::Contains("f.test.yaml:2:18: error: no view named 'nope'"));

  const TestFileResult no_config = RunTestFile(workspace.Write("b.test.yaml", "expect: {}\n"));
  REQUIRE(no_config.errors.size() == 1);
  CHECK_THAT(no_config.errors[0], Catch::Contains("missing required key 'config'"));

  const TestFileResult bad_lines = RunTestFile(workspace.Write("c.test.yaml", R"(config: eddy.yaml
input_file: c.jsonl
expect: {views: []}
)"));
  REQUIRE(bad_lines.errors.size() == 1);
  CHECK_THAT(bad_lines.errors[0], Catch::Contains("cannot read input file"));

  workspace.Write(
      "d.jsonl",
      "{\"topic\":\"orders\",\"value\":{\"customer\":\"c1\",\"amount\":1,\"at\":5}}\nnot json\n");
  const TestFileResult jsonl = RunTestFile(workspace.Write("d.test.yaml", R"(config: eddy.yaml
input_file: d.jsonl
expect: {views: []}
)"));
  REQUIRE(jsonl.errors.size() == 1);
  CHECK_THAT(jsonl.errors[0], Catch::EndsWith("d.jsonl:2: error: expected a JSON object per line"));

  const TestFileResult missing =
      RunTestFile(workspace.Write("e.test.yaml", "config: nope.yaml\nexpect: {}\n"));
  REQUIRE(missing.errors.size() == 1);
  CHECK_THAT(missing.errors[0], Catch::Contains("nope.yaml: error: cannot read config file"));
}

}  // namespace eddy::runtime
