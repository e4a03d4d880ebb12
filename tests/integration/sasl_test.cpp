// SASL/PLAIN against the real broker: eddy consumes through the SASL_PLAINTEXT listener that
// scripts/kafka-local opens with KAFKA_LOCAL_SASL=1 (the kafka.start fixture sets it), with
// the security settings passed through to librdkafka. With the wrong password eddy does not
// become ready and says why in its log, in /readyz and in eddy_kafka_errors_total, and the
// password it was given appears nowhere: not in its log, not even with librdkafka's debug
// output on, not in any HTTP response, not in `eddy validate`'s output.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "support/daemon_harness.h"
#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

// The broker's SASL_PLAINTEXT address: $EDDY_TEST_SASL_BOOTSTRAP, else what
// scripts/kafka-local wrote next to the plain bootstrap. Empty when a broker of your own
// (EDDY_TEST_BOOTSTRAP) has no SASL address given.
std::string SaslBootstrap() {
  if (const char* env = std::getenv("EDDY_TEST_SASL_BOOTSTRAP"); env != nullptr && *env) {
    return env;
  }
  std::ifstream in(std::string(EDDY_KAFKA_LOCAL_DIR) + "/bootstrap-sasl");
  std::string address;
  if (in) std::getline(in, address);
  return address;
}

std::string Config(const std::string& topic, const std::string& password, uint16_t port,
                   bool debug) {
  return "kafka:\n"
         "  bootstrap.servers: " +
         SaslBootstrap() + "\n  group.id: " + UniqueName("sasl") +
         "\n"
         "  session.timeout.ms: 6000\n"
         "  security.protocol: SASL_PLAINTEXT\n"
         "  sasl.mechanism: PLAIN\n"
         "  sasl.username: eddy\n"
         "  sasl.password: " +
         password + "\n" + (debug ? "  debug: conf,security,broker\n" : "") +
         "state:\n"
         "  dir: " +
         MakeTempDir("eddy-sasl-state") +
         "\n"
         "http:\n"
         "  listen: 127.0.0.1:" +
         std::to_string(port) + "\nlogging:\n  level: " + (debug ? "debug" : "info") +
         "\n"
         "topologies:\n"
         "  - name: logins\n"
         "    source:\n"
         "      topic: " +
         topic +
         "\n"
         "      key: {field: user}\n"
         "      timestamp: {field: ts, format: epoch_ms}\n"
         "    steps:\n"
         "      - name: hourly\n"
         "        window: {type: tumbling, size: 1h}\n"
         "        aggregates: [{name: n, function: count}]\n"
         "    views:\n"
         "      - {name: logins, from: hourly}\n";
}

// stdout and stderr of `eddy validate config_path`.
std::string Validate(const std::string& config_path) {
  const std::string command = std::string(EDDY_BINARY) + " validate " + config_path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  pclose(pipe);
  return output;
}

// Everything eddy shows over HTTP.
std::vector<std::string> HttpResponses(uint16_t port) {
  std::vector<std::string> out;
  for (const char* target : {"/healthz", "/readyz", "/metrics", "/v1/views",
                             "/v1/views/logins/keys/alice", "/v1/views/nope/keys/x"}) {
    out.push_back(std::string(target) + " -> " + HttpGet(port, target).body);
  }
  return out;
}

}  // namespace

TEST_CASE("SASL/PLAIN: the right password consumes, a wrong one is a clear error shown nowhere",
          "[eddy][kafka][sasl]") {
  if (SaslBootstrap().empty()) {
    REQUIRE(std::getenv("EDDY_TEST_BOOTSTRAP") != nullptr);  // the fixture's broker has one
    WARN("skipped: EDDY_TEST_BOOTSTRAP is set but EDDY_TEST_SASL_BOOTSTRAP is not");
    return;
  }
  const std::string topic = UniqueName("sasl-logins");
  CreateTopic(topic, 1);
  const int64_t t0 = HourADayAgoMs();
  auto login = [&](const std::string& user, int at_s) {
    TestRecord record;
    record.key = user;
    record.value = R"({"user":")" + user + R"(","ts":)" + std::to_string(t0 + at_s * 1000) + "}";
    return record;
  };
  Produce(topic, {login("alice", 1), login("bob", 2), login("alice", 3)});

  SECTION("the right password") {
    const uint16_t port = FreePort();
    EddyProcess eddy(WriteTempFile("eddy-sasl.yaml", Config(topic, "eddy-secret", port, false)),
                     port);
    INFO(eddy.Log());
    REQUIRE(eddy.WaitReady(30s));
    const std::string expected = WindowLine(0, 3600, false, R"({"n":2})");
    CHECK(Eventually(20s, [&] { return WindowsText(port, "logins", "alice", t0) == expected; }));
    CHECK(WindowsText(port, "logins", "bob", t0) == WindowLine(0, 3600, false, R"({"n":1})"));
    for (const std::string& response : HttpResponses(port)) {
      CHECK(response.find("eddy-secret") == std::string::npos);
    }
    CHECK(eddy.Terminate(20s) == 0);
    CHECK(eddy.Log().find("eddy-secret") == std::string::npos);
  }

  SECTION("a wrong password") {
    const std::string password = "Wr0ng-Pa55w0rd-q7";
    const uint16_t port = FreePort();
    const std::string config_path =
        WriteTempFile("eddy-sasl.yaml", Config(topic, password, port, /*debug=*/true));
    const std::string validated = Validate(config_path);
    CHECK(validated.find(password) == std::string::npos);

    EddyProcess eddy(config_path, port);
    INFO(eddy.Log());
    // librdkafka retries; eddy keeps running, not ready, and logs the broker's answer.
    CHECK(Eventually(20s, [&] {
      return eddy.Log().find(
                 "SASL authentication error: Authentication failed: Invalid "
                 "username or password") != std::string::npos;
    }));
    CHECK(eddy.Running());
    // /readyz says why it is not ready, in librdkafka's words. The log line above can come
    // first: a worker's consumer connects (and librdkafka logs the failure) as soon as it
    // exists, while the error reaches eddy's counters and /readyz when the subscribed
    // consumer next polls (workers subscribe in turn: runtime/daemon.cpp).
    HttpReply ready;
    CHECK(Eventually(20s, [&] {
      ready = HttpGet(port, "/readyz");
      return ready.body.find(R"("Kafka authentication failed: )") != std::string::npos;
    }));
    INFO(ready.body);
    CHECK(ready.status == 503);
    CHECK(ready.body.find("SASL authentication error: Authentication failed: Invalid username "
                          "or password") != std::string::npos);
    CHECK(MetricValue(port, "eddy_kafka_errors_total", {"error=\"_AUTHENTICATION\""}) >= 1);
    const std::vector<std::string> responses = HttpResponses(port);
    CHECK(eddy.Terminate(20s) == 0);
    const std::string log = eddy.Log();
    // The debug output did reach the log (so the check below means something): librdkafka
    // dumps its configuration, with the password redacted.
    CHECK(log.find("sasl.password = [redacted]") != std::string::npos);
    CHECK(log.find(password) == std::string::npos);
    for (const std::string& response : responses) {
      INFO(response);
      CHECK(response.find(password) == std::string::npos);
    }
  }
}

}  // namespace eddy::testing
