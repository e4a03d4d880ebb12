// The scalar syntaxes (values.h), interpolation and did-you-mean, without YAML around them.
#include "config/values.h"

#include <catch2/catch.hpp>
#include <map>

#include "config/interpolate.h"
#include "config/suggest.h"

namespace eddy::config {
namespace {

using std::chrono::milliseconds;

TEST_CASE("durations take an integer and a unit", "[config][values]") {
  CHECK(ParseDuration("100ms").value() == milliseconds(100));
  CHECK(ParseDuration("10s").value() == milliseconds(10'000));
  CHECK(ParseDuration("1m").value() == milliseconds(60'000));
  CHECK(ParseDuration("2h").value() == milliseconds(7'200'000));
  CHECK(ParseDuration("1d").value() == milliseconds(86'400'000));
  CHECK(ParseDuration("0s").value() == milliseconds(0));
}

TEST_CASE("malformed durations say what was expected", "[config][values]") {
  CHECK(ParseDuration("10").status().message() ==
        "expected a duration like 500ms, 10s, 5m; got '10' (add a unit: ms, s, m, h or d)");
  CHECK(ParseDuration("10sec").status().message() ==
        "expected a duration like 500ms, 10s, 5m; got '10sec' (unknown unit 'sec'; units are ms, "
        "s, m, h, d)");
  CHECK(ParseDuration("1.5s").status().message() ==
        "expected a duration like 500ms, 10s, 5m; got '1.5s' (whole numbers only; use a smaller "
        "unit, e.g. 1500ms for 1.5s)");
  CHECK(ParseDuration("s").status().message() ==
        "expected a duration like 500ms, 10s, 5m; got 's'");
  CHECK_FALSE(ParseDuration("").ok());
  CHECK_FALSE(ParseDuration("-5s").ok());
  CHECK_FALSE(ParseDuration(" 5s").ok());
  CHECK_FALSE(ParseDuration("1m30s").ok());
  CHECK(ParseDuration("99999999999999999d").status().message() ==
        "duration '99999999999999999d' is too large");
}

TEST_CASE("field paths are dot-separated non-empty segments", "[config][values]") {
  const auto path = ParseFieldPath("user.id");
  REQUIRE(path.ok());
  CHECK(path->segments == std::vector<std::string>{"user", "id"});
  CHECK(path->text == "user.id");
  CHECK(ParseFieldPath("ts")->segments == std::vector<std::string>{"ts"});
  for (const char* bad : {"", ".", "user.", ".id", "user..id"}) {
    INFO(bad);
    CHECK_FALSE(ParseFieldPath(bad).ok());
  }
  CHECK(ParseFieldPath("a..b").status().message() ==
        "expected a field path like 'user.id' (dot-separated, no empty segments); got 'a..b'");
}

TEST_CASE("listen addresses: IPv4, bracketed IPv6 or a host name, and a port", "[config][values]") {
  auto ok = [](const char* text, const char* host, int port) {
    INFO(text);
    const auto address = ParseListenAddress(text);
    REQUIRE(address.ok());
    CHECK(address->host == host);
    CHECK(address->port == port);
  };
  ok("0.0.0.0:8080", "0.0.0.0", 8080);
  ok("127.0.0.1:0", "127.0.0.1", 0);
  ok("[::1]:65535", "::1", 65535);
  ok("[::]:80", "::", 80);
  ok("localhost:9000", "localhost", 9000);
  ok("eddy-0.eddy.svc:80", "eddy-0.eddy.svc", 80);

  CHECK(ParseListenAddress("::1:80").status().message() ==
        "expected host:port like 0.0.0.0:8080, [::1]:8080 or localhost:8080; got '::1:80' "
        "(write an IPv6 address in brackets, e.g. [::1]:8080)");
  CHECK(ParseListenAddress("localhost:65536").status().message() ==
        "expected host:port like 0.0.0.0:8080, [::1]:8080 or localhost:8080; got "
        "'localhost:65536' (port must be a number 0-65535)");
  for (const char* bad :
       {"8080", ":8080", "localhost", "localhost:", "localhost:-1", "256.0.0.1:80", "1.2.3:80",
        "[::1:80", "[::1]80", "[nope]:80", "bad_host:80", "-x:80", "a b:80"}) {
    INFO(bad);
    CHECK_FALSE(ParseListenAddress(bad).ok());
  }
}

TEST_CASE("booleans, integers and names", "[config][values]") {
  CHECK(ParseBool("true").value());
  CHECK_FALSE(ParseBool("false").value());
  CHECK(ParseBool("yes").status().message() == "expected true or false; got 'yes'");
  CHECK(ParseInteger("-12").value() == -12);
  CHECK_FALSE(ParseInteger("1.0").ok());
  CHECK_FALSE(ParseInteger("").ok());
  CHECK(IsName("views_per-minute.v2"));
  CHECK_FALSE(IsName("a b"));
  CHECK_FALSE(IsName(""));
  CHECK(IsIdentifier("_total2"));
  CHECK_FALSE(IsIdentifier("2total"));
  CHECK_FALSE(IsIdentifier("total-ms"));
}

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_CASE("interpolation substitutes ${VAR} and ${VAR:-default}", "[config][interpolate]") {
  const EnvLookup env = Env({{"HOST", "kafka-1"}, {"PORT", "9093"}, {"EMPTY", ""}});
  auto text = [&](const char* in) {
    const Interpolated out = Interpolate(in, env);
    REQUIRE(out.errors.empty());
    return out.text;
  };
  CHECK(text("${HOST}:${PORT}") == "kafka-1:9093");
  CHECK(text("${MISSING:-127.0.0.1:9092}") == "127.0.0.1:9092");
  CHECK(text("${HOST:-other}") == "kafka-1");
  CHECK(text("${EMPTY:-fallback}") == "fallback");  // as in sh: ':-' also covers empty
  CHECK(text("${EMPTY}") == "");
  CHECK(text("${MISSING:-}") == "");
  CHECK(text("$${HOST} costs $5") == "${HOST} costs $5");
  CHECK(text("no references") == "no references");
}

TEST_CASE("interpolation errors name the variable", "[config][interpolate]") {
  const EnvLookup env = Env({});
  CHECK(Interpolate("${A}-${B}", env).errors ==
        std::vector<std::string>{
            "environment variable 'A' is not set; set it or give a default with ${A:-value}",
            "environment variable 'B' is not set; set it or give a default with ${B:-value}"});
  CHECK(Interpolate("${OOPS", env).errors ==
        std::vector<std::string>{"unterminated '${' in '${OOPS' (write '$${' for a literal '${')"});
  CHECK(Interpolate("${}", env).errors.size() == 1);
  CHECK(Interpolate("${A-b}", env).errors.size() == 1);
}

TEST_CASE("did-you-mean suggests only close candidates", "[config][suggest]") {
  CHECK(EditDistance("sise", "size") == 1);
  CHECK(EditDistance("cuont", "count") == 1);  // transposition
  CHECK(EditDistance("SIZE", "size") == 0);
  CHECK(EditDistance("", "abc") == 3);
  const std::vector<std::string> window = {"type", "size", "grace"};
  CHECK(Suggest("sise", window) == "size");
  CHECK(Suggest("grce", window) == "grace");
  CHECK(Suggest("colour", window) == std::nullopt);
  CHECK(Suggest("cout", {"count", "sum"}) == "count");
  CHECK(Suggest("commit_intreval", {"dir", "commit_interval", "sync_writes"}) == "commit_interval");
  CHECK(Suggest("id", {"dir"}) == std::nullopt);  // too short to guess from
}

}  // namespace
}  // namespace eddy::config
