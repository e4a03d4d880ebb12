// Secret librdkafka properties: which names are secret, and that their values never appear in
// the loader's error messages or in text passed through RedactSecrets.
#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "config/config.h"
#include "config/loader.h"

namespace eddy::config {
namespace {

TEST_CASE("secret kafka properties are recognised by name", "[config][secrets]") {
  for (const char* name :
       {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key",
        "sasl.jaas.config", "my.custom.secret.thing"}) {
    INFO(name);
    CHECK(IsSecretKafkaProperty(name));
  }
  for (const char* name : {"sasl.username", "sasl.mechanism", "security.protocol",
                           "ssl.key.location", "ssl.certificate.pem", "bootstrap.servers"}) {
    INFO(name);
    CHECK_FALSE(IsSecretKafkaProperty(name));
  }
}

TEST_CASE("RedactSecrets replaces every secret value, and only those", "[config][secrets]") {
  KafkaConfig kafka;
  kafka.properties = {{"sasl.username", "eddy", {}},
                      {"sasl.password", "hunter2", {}},
                      {"ssl.key.password", "", {}},  // empty: nothing to find
                      {"ssl.keystore.password", "pw-hunter2-pw", {}}};
  CHECK(RedactSecrets("user eddy, password hunter2 (hunter2hunter2)", kafka) ==
        "user eddy, password [redacted] ([redacted][redacted])");
  // The longer secret contains the shorter one: both are gone either way.
  CHECK(RedactSecrets("bad value \"pw-hunter2-pw\"", kafka).find("hunter2") == std::string::npos);
  CHECK(RedactSecrets("nothing secret here", kafka) == "nothing secret here");
  // A secret that contains "[redacted]" itself cannot make the replacement loop.
  kafka.properties = {{"sasl.password", "[redacted]", {}}};
  CHECK(RedactSecrets("x [redacted] y", kafka) == "x [redacted] y");
}

std::optional<std::string> Env(const std::string& name) {
  if (name == "EDDY_PASSWORD") return std::string("from-the-environment");
  return std::nullopt;
}

std::string AllErrors(const std::string& kafka_lines) {
  const LoadResult result =
      LoadString("kafka:\n  bootstrap.servers: b\n  group.id: g\n" + kafka_lines +
                     "state: {dir: /tmp/s}\n"
                     "topologies: []\n",
                 "test.yaml", Env);
  std::string all;
  for (const Diagnostic& error : result.errors) all += error.ToString() + "\n";
  return all;
}

TEST_CASE("config errors about a secret property do not quote its value", "[config][secrets]") {
  SECTION("unterminated ${") {
    const std::string errors = AllErrors("  sasl.password: \"Hunter2${oops\"\n");
    CHECK(errors.find("test.yaml:4:18: error: kafka sasl.password: unterminated '${' in the "
                      "value (not shown: it is secret)") != std::string::npos);
    CHECK(errors.find("Hunter2") == std::string::npos);
  }
  SECTION("an invalid reference, whose default would be the secret") {
    const std::string errors = AllErrors("  ssl.key.password: \"${1X:-Hunter3}\"\n");
    CHECK(errors.find("test.yaml:4:21: error: kafka ssl.key.password: invalid reference (not "
                      "shown: the value is secret)") != std::string::npos);
    CHECK(errors.find("Hunter3") == std::string::npos);
  }
  SECTION("an unset variable is named; the rest of the value is not shown") {
    const std::string errors = AllErrors("  sasl.password: \"Hunter4${UNSET}\"\n");
    CHECK(errors.find("environment variable 'UNSET' is not set") != std::string::npos);
    CHECK(errors.find("Hunter4") == std::string::npos);
  }
  SECTION("other properties still quote their value") {
    const std::string errors = AllErrors("  client.id: \"abc${oops\"\n");
    CHECK(errors.find("unterminated '${' in 'abc${oops'") != std::string::npos);
  }
}

TEST_CASE("secret values are passed through to the config unchanged", "[config][secrets]") {
  const LoadResult result = LoadString(
      "kafka:\n  bootstrap.servers: b\n  group.id: g\n  security.protocol: SASL_PLAINTEXT\n"
      "  sasl.mechanism: PLAIN\n  sasl.username: eddy\n  sasl.password: ${EDDY_PASSWORD}\n"
      "  ssl.key.password: \"p@ss: w'rd\"\nstate: {dir: /tmp/s}\ntopologies:\n"
      "  - name: t\n    source: {topic: x}\n    steps:\n      - name: s\n"
      "        window: {type: tumbling, size: 1m}\n"
      "        aggregates: [{name: c, function: count}]\n",
      "test.yaml", Env);
  REQUIRE(result.errors.empty());
  const auto& properties = result.config->kafka.properties;
  REQUIRE(properties.size() == 7);
  CHECK(properties[5].name == "sasl.password");
  CHECK(properties[5].value == "from-the-environment");
  CHECK(properties[6].value == "p@ss: w'rd");
}

}  // namespace
}  // namespace eddy::config
