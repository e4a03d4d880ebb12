// The catalogue in src/metrics/metrics.h against docs/metrics.md, and the exposition eddy
// serves against the strict text-format reader. (tests/integration/metrics_catalogue_test.cpp
// does the same against a running eddy.)
#include <catch2/catch.hpp>
#include <set>

#include "metrics/metrics.h"
#include "support/metrics_catalogue.h"
#include "support/prometheus_text.h"

namespace eddy::metrics {
namespace {

using testing::ParsePromText;

TEST_CASE(
    "every declared family is documented with its type, and every documented one "
    "declared",
    "[catalogue]") {
  const auto documented = testing::ReadMetricsCatalogue(EDDY_SOURCE_DIR "/docs/metrics.md");
  Metrics metrics;
  std::set<std::string> declared;
  for (const Metrics::FamilyInfo& family : metrics.families()) {
    INFO(family.name);
    declared.insert(family.name);
    auto doc = documented.find(family.name);
    REQUIRE(doc != documented.end());
    CHECK(doc->second.type == family.type);
    // Conventions: counters end in _total, nothing else does.
    CHECK((family.type == "counter") == family.name.ends_with("_total"));
  }
  for (const auto& [name, doc] : documented) {
    INFO(name);
    CHECK(declared.count(name) == 1);
  }
}

TEST_CASE("the exposition parses strictly and carries process metrics", "[catalogue]") {
  Metrics metrics;
  metrics.step_records_in.Add({{"topology", "t"}, {"step", "a \"quoted\" \\ step"}}).Increment(3);
  auto& latency = metrics.end_to_end_latency.Add({{"topology", "t"}}, Metrics::EndToEndBuckets());
  latency.Observe(0.2);
  latency.Observe(5000);
  int collected = 0;
  metrics.AddCollector([&] { metrics.ready.Add({}).Set(++collected); });
  const std::string text = metrics.SerializeText();
  const testing::PromExposition parsed = ParsePromText(text);
  INFO(text);
  REQUIRE(parsed.error.empty());
  CHECK(collected == 1);
  CHECK(parsed.families.at("eddy_ready").samples.at(0).value == 1);
  CHECK(parsed.families.at("eddy_step_records_in_total").samples.at(0).labels.at(0).second ==
        "a \"quoted\" \\ step");
  const auto& histogram = parsed.families.at("eddy_end_to_end_latency_seconds");
  CHECK(histogram.type == "histogram");
  for (const char* name : {"process_resident_memory_bytes", "process_cpu_seconds_total",
                           "process_open_fds", "process_threads", "process_start_time_seconds",
                           "process_max_fds", "process_virtual_memory_bytes"}) {
    INFO(name);
    REQUIRE(parsed.families.count(name) == 1);
    CHECK(parsed.families.at(name).samples.size() == 1);
  }
  CHECK(parsed.families.at("process_threads").samples.at(0).value >= 1);
  // Collectors run again on every scrape.
  (void)metrics.SerializeText();
  CHECK(collected == 2);
}

TEST_CASE("the strict reader rejects what a scraper would", "[catalogue]") {
  CHECK(ParsePromText("# TYPE a counter\na 1\n").error.empty());
  CHECK(ParsePromText("a{x=\"1\",} 2 1700000000000\n").error.empty());
  CHECK_FALSE(ParsePromText("a 1").error.empty());                       // no final newline
  CHECK_FALSE(ParsePromText("a{x=1} 1\n").error.empty());                // unquoted value
  CHECK_FALSE(ParsePromText("a{x=\"\\t\"} 1\n").error.empty());          // bad escape
  CHECK_FALSE(ParsePromText("a 1\na 2\n").error.empty());                // duplicate series
  CHECK_FALSE(ParsePromText("a 1\nb 1\na{x=\"y\"} 1\n").error.empty());  // not together
  CHECK_FALSE(ParsePromText("a 1\n# TYPE a gauge\n").error.empty());     // TYPE after samples
  CHECK_FALSE(ParsePromText("# TYPE a gauge\n# TYPE a gauge\n").error.empty());
  CHECK_FALSE(ParsePromText("# TYPE a meter\n").error.empty());
  CHECK_FALSE(ParsePromText("1a 1\n").error.empty());
  CHECK_FALSE(ParsePromText("a one\n").error.empty());
  CHECK_FALSE(ParsePromText("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                            "h_sum 1\nh_count 1\n")
                  .error.empty());  // not cumulative
  CHECK_FALSE(ParsePromText("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n")
                  .error.empty());  // no +Inf
  CHECK(ParsePromText("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                      "h_sum 3\nh_count 2\n")
            .error.empty());
}

}  // namespace
}  // namespace eddy::metrics
