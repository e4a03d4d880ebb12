// The latency probe's URL template, and the command-line flags.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "loadgen/flags.h"
#include "loadgen/live.h"
#include "loadgen/url.h"

namespace eddy::loadgen {
namespace {

TEST_CASE("PercentEncode keeps unreserved characters only", "[loadgen][url]") {
  CHECK(PercentEncode("probe-1a2b-17") == "probe-1a2b-17");
  CHECK(PercentEncode("a/b c") == "a%2Fb%20c");
  CHECK(PercentEncode("50%") == "50%25");
  CHECK(PercentEncode("x+y~z._") == "x%2By~z._");
  CHECK(PercentEncode("\xC3\xA9") == "%C3%A9");
}

TEST_CASE("UrlTemplate parses and substitutes", "[loadgen][url]") {
  auto url = UrlTemplate::Parse("http://127.0.0.1:8080/v1/views/b/keys/{key}");
  REQUIRE(url.ok());
  CHECK(url->host == "127.0.0.1");
  CHECK(url->port == "8080");
  CHECK(url->Target("k 1") == "/v1/views/b/keys/k%201");
  auto peer = UrlTemplate::Parse("http://localhost/views/{key}/keys/{key}");
  REQUIRE(peer.ok());
  CHECK(peer->port == "80");
  CHECK(peer->Target("a/b") == "/views/a%2Fb/keys/a%2Fb");
  for (const char* bad :
       {"https://h:1/{key}", "http://h:1", "http://:1/{key}", "http://h:99999/{key}",
        "http://h:x/{key}", "http://h:1/keys/", "http://[::1]:8080/{key}"}) {
    INFO(bad);
    CHECK_FALSE(UrlTemplate::Parse(bad).ok());
  }
}

TEST_CASE("Quantile is the nearest rank", "[loadgen][latency]") {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  CHECK(Quantile(v, 0.5) == 500);
  CHECK(Quantile(v, 0.99) == 990);
  CHECK(Quantile(v, 0.999) == 999);
  CHECK(Quantile(v, 1.0) == 1000);
  CHECK(Quantile({7.5}, 0.5) == 7.5);
}

TEST_CASE("Flags: values, switches and errors", "[loadgen][flags]") {
  const std::vector<FlagSpec> specs = {{"events"}, {"topic"}, {"no-sentinels", false}};
  auto flags = Flags::Parse({"--events", "10", "--topic=t", "--no-sentinels"}, specs);
  REQUIRE(flags.ok());
  CHECK(*flags->Int("events", 0, 0, 100) == 10);
  CHECK(*flags->Required("topic") == "t");
  CHECK(flags->Has("no-sentinels"));
  CHECK_FALSE(flags->Int("events", 0, 20, 100).ok());  // out of range
  CHECK(*flags->Double("missing", 0.5, 0, 1) == 0.5);

  CHECK_FALSE(Flags::Parse({"--evnts", "1"}, specs).ok());
  CHECK_FALSE(Flags::Parse({"--events"}, specs).ok());
  CHECK_FALSE(Flags::Parse({"--events", "1", "--events", "2"}, specs).ok());
  CHECK_FALSE(Flags::Parse({"stray"}, specs).ok());
  CHECK_FALSE(Flags::Parse({"--no-sentinels=1"}, specs).ok());
  auto bad = Flags::Parse({"--events", "1x"}, specs);
  REQUIRE(bad.ok());
  CHECK(bad->Int("events", 0, 0, 100).status().message() == "--events: '1x' is not an integer");
}

}  // namespace
}  // namespace eddy::loadgen
