// The error-handling settings of a config (docs/error-handling.md): a topology's
// dead_letters, a source's max_value_bytes and the top-level delivery: retries and circuit
// breaker. Good files become exactly the expected structs; bad ones exact diagnostics.
#include <catch2/catch.hpp>

#include "config/loader.h"

namespace eddy::config {
namespace {

using std::chrono::milliseconds;

LoadResult Load(const std::string& yaml) {
  return LoadString(yaml, "test.yaml",
                    [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
}

std::vector<std::string> Errors(const std::string& yaml) {
  const LoadResult result = Load(yaml);
  std::vector<std::string> out;
  for (const Diagnostic& d : result.errors) out.push_back(d.ToString());
  return out;
}

// kafka and state take lines 1-2; `extra` (top-level keys) follows, then the topology.
std::string Config(const std::string& extra, const std::string& topology_extra,
                   const std::string& source_extra = "") {
  return "kafka: {bootstrap.servers: 'b:9092', group.id: g}\n"
         "state: {dir: /tmp/s}\n" +
         extra +
         "topologies:\n"
         "  - name: t\n"
         "    source: {topic: in" +
         source_extra +
         "}\n"
         "    steps:\n"
         "      - name: s\n"
         "        window: {type: tumbling, size: 1m}\n"
         "        aggregates: [{name: c, function: count}]\n" +
         topology_extra;
}

std::string Line(const std::string& location, const std::string& message) {
  return "test.yaml:" + location + ": error: " + message;
}

TEST_CASE("error handling is off by default: no dead letters, no size limit, 3 attempts",
          "[config][loader][error-handling]") {
  const LoadResult result = Load(Config("", ""));
  REQUIRE(result.ok());
  const config::Config& config = *result.config;
  CHECK(config.topologies[0].dead_letters.topic.empty());
  CHECK(config.topologies[0].sources[0].max_value_bytes == 0);
  CHECK_FALSE(WritesToKafka(config.topologies[0]));
  CHECK(config.delivery.attempts == 3);
  CHECK(config.delivery.backoff == milliseconds(100));
  CHECK(config.delivery.max_backoff == milliseconds(5000));
  CHECK(config.delivery.breaker_failures == 5);
  CHECK(config.delivery.breaker_cooldown == milliseconds(30'000));
}

TEST_CASE("every error-handling setting can be spelled out", "[config][loader][error-handling]") {
  const LoadResult result =
      Load(Config("delivery:\n"
                  "  guarantee: exactly_once\n"
                  "  transactional_id: orders-1\n"
                  "  attempts: 5\n"
                  "  backoff: 50ms\n"
                  "  max_backoff: 2s\n"
                  "  circuit_breaker: {failures: 10, cooldown: 1m}\n",
                  "    dead_letters: {topic: t.dead}\n", ", max_value_bytes: 65536"));
  for (const Diagnostic& d : result.errors) FAIL_CHECK(d.ToString());
  REQUIRE(result.ok());
  const config::Config& config = *result.config;
  CHECK(config.topologies[0].dead_letters.topic == "t.dead");
  CHECK(config.topologies[0].dead_letters.location.line == 17);
  CHECK(config.topologies[0].sources[0].max_value_bytes == 65536);
  CHECK(WritesToKafka(config.topologies[0]));  // a producer is needed for the dead letters
  CHECK(config.delivery.guarantee == config::DeliveryGuarantee::kExactlyOnce);
  CHECK(config.delivery.transactional_id == "orders-1");
  CHECK(config.delivery.attempts == 5);
  CHECK(config.delivery.backoff == milliseconds(50));
  CHECK(config.delivery.max_backoff == milliseconds(2000));
  CHECK(config.delivery.breaker_failures == 10);
  CHECK(config.delivery.breaker_cooldown == milliseconds(60'000));
}

TEST_CASE("bad error-handling settings are reported where they are written",
          "[config][loader][error-handling]") {
  CHECK(Errors(Config("delivery:\n"
                      "  attempts: 0\n"
                      "  backoff: 0s\n"
                      "  retries: 3\n"
                      "  circuit_breaker: {failures: -1, cooldown: soon}\n",
                      "    dead_letters: {topic: ''}\n", ", max_value_bytes: 0")) ==
        std::vector<std::string>{
            Line("4:13", "delivery attempts: expected a number of attempts from 1 to 100; got '0'"),
            Line("5:12", "delivery backoff: expected a duration greater than 0; got '0s'"),
            Line("6:3",
                 "unknown key 'retries' in delivery; valid keys: guarantee, "
                 "transactional_id, attempts, backoff, max_backoff, circuit_breaker"),
            Line("7:31",
                 "circuit_breaker failures: expected a number of failures from 1 to "
                 "1000000; got '-1'"),
            Line("7:45",
                 "circuit_breaker cooldown: expected a duration like 500ms, 10s, 5m; "
                 "got 'soon'"),
            Line("10:42",
                 "source max_value_bytes: expected a number of bytes from 1 to "
                 "9223372036854775807; got '0'"),
            Line("15:27", "dead_letters topic: expected a non-empty string; got ''"),
        });
  CHECK(Errors(Config("delivery: {guarantee: exactly-once}\n", "")) ==
        std::vector<std::string>{
            Line("3:23",
                 "delivery guarantee: expected one of at_least_once, exactly_once; got "
                 "'exactly-once'; did you mean 'exactly_once'?")});
  CHECK(
      Errors(Config("delivery: {backoff: 10s}\n", "")) ==
      std::vector<std::string>{
          Line("3:21", "delivery: max_backoff (5000 ms) must not be less than backoff (10000 ms)"),
      });
  CHECK(Errors(Config("", "    dead_letters: {topic: in}\n")) ==
        std::vector<std::string>{
            Line("10:19",
                 "dead_letters: topic 'in' is a source of this topology; its dead "
                 "letters would come back as input"),
        });
  CHECK(Errors(Config("", "    dead_letters: t.dead\n")) ==
        std::vector<std::string>{
            Line("10:19", "topology dead_letters: expected a map like {topic: name}; got 't.dead'"),
        });
}

}  // namespace
}  // namespace eddy::config
