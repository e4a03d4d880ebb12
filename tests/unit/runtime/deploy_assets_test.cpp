// deploy/grafana/eddy-dashboard.json and deploy/prometheus/eddy-alerts.yml against the metric
// catalogue of docs/metrics.md (which tests/integration/metrics_catalogue_test.cpp ties to
// what /metrics serves): every metric an expression names must exist. `promtool check rules`
// (tests/CMakeLists.txt) checks the rule file's syntax.
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/metrics_catalogue.h"

namespace eddy::runtime {
namespace {

// The metric names in a PromQL expression: identifiers starting with eddy_ or process_
// outside string literals, a histogram's _bucket/_sum/_count series mapped to its family.
std::set<std::string> MetricNames(const std::string& expr,
                                  const std::map<std::string, testing::DocumentedMetric>& known) {
  std::set<std::string> names;
  std::string text;
  char quote = 0;
  for (char c : expr) {  // blank out string literals ("...", '...', `...`)
    if (quote != 0) {
      if (c == quote) quote = 0;
      text += ' ';
    } else if (c == '"' || c == '\'' || c == '`') {
      quote = c;
      text += ' ';
    } else {
      text += c;
    }
  }
  auto is_ident = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  };
  for (size_t i = 0; i < text.size();) {
    if (!is_ident(text[i]) || (i > 0 && is_ident(text[i - 1]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && is_ident(text[end])) ++end;
    std::string name = text.substr(i, end - i);
    i = end;
    if (!name.starts_with("eddy_") && !name.starts_with("process_")) continue;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (name.ends_with(s)) {
        const std::string base = name.substr(0, name.size() - s.size());
        auto it = known.find(base);
        if (it != known.end() && it->second.type == "histogram") name = base;
      }
    }
    names.insert(name);
  }
  return names;
}

const auto& Catalogue() {
  static const auto catalogue = testing::ReadMetricsCatalogue(EDDY_SOURCE_DIR "/docs/metrics.md");
  return catalogue;
}

TEST_CASE("MetricNames finds metrics, not functions, labels or strings", "[deploy]") {
  CHECK(
      MetricNames(
          R"(histogram_quantile(0.99, sum by (le, route) (rate(eddy_http_request_duration_seconds_bucket{instance=~"eddy_x"}[5m]))) / eddy_nope)",
          Catalogue()) == std::set<std::string>{"eddy_http_request_duration_seconds", "eddy_nope"});
}

TEST_CASE("the alert rules name only documented metrics", "[deploy]") {
  const YAML::Node rules = YAML::LoadFile(EDDY_SOURCE_DIR "/deploy/prometheus/eddy-alerts.yml");
  std::set<std::string> alerts;
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      const std::string name = rule["alert"].as<std::string>();
      INFO(name);
      alerts.insert(name);
      const std::set<std::string> used = MetricNames(rule["expr"].as<std::string>(), Catalogue());
      CHECK_FALSE(used.empty());
      for (const std::string& metric : used) {
        INFO(metric);
        CHECK(Catalogue().count(metric) == 1);
      }
    }
  }
  // What the issue asks alerts for: lag growing, dead letters, not ready, write stalls.
  for (const char* wanted :
       {"EddyConsumerLagGrowing", "EddyDeadLetters", "EddyNotReady", "EddyStateWriteStall"}) {
    CHECK(alerts.count(wanted) == 1);
  }
}

TEST_CASE("the Grafana dashboard is valid JSON naming only documented metrics", "[deploy]") {
  simdjson::dom::parser parser;
  const simdjson::padded_string json =
      simdjson::padded_string::load(EDDY_SOURCE_DIR "/deploy/grafana/eddy-dashboard.json");
  simdjson::dom::element dashboard;
  REQUIRE(parser.parse(json).get(dashboard) == simdjson::SUCCESS);
  std::string_view title;
  REQUIRE(dashboard["title"].get(title) == simdjson::SUCCESS);
  simdjson::dom::array panels;
  REQUIRE(dashboard["panels"].get(panels) == simdjson::SUCCESS);
  std::set<std::string> used_everywhere;
  size_t count = 0;
  for (simdjson::dom::element panel : panels) {
    ++count;
    std::string_view panel_title;
    REQUIRE(panel["title"].get(panel_title) == simdjson::SUCCESS);
    INFO(panel_title);
    simdjson::dom::array targets;
    REQUIRE(panel["targets"].get(targets) == simdjson::SUCCESS);
    REQUIRE(targets.size() > 0);
    for (simdjson::dom::element target : targets) {
      std::string_view expr;
      REQUIRE(target["expr"].get(expr) == simdjson::SUCCESS);
      const std::set<std::string> used = MetricNames(std::string(expr), Catalogue());
      CHECK_FALSE(used.empty());
      for (const std::string& metric : used) {
        INFO(metric);
        CHECK(Catalogue().count(metric) == 1);
        used_everywhere.insert(metric);
      }
    }
  }
  CHECK(count >= 10);
  // What the issue asks the dashboard to show.
  for (const char* wanted : {"eddy_records_consumed_total", "eddy_consumer_lag_records",
                             "eddy_end_to_end_latency_seconds", "eddy_late_records_dropped_total",
                             "eddy_dead_letter_records_total", "eddy_state_live_data_bytes",
                             "eddy_http_requests_total", "eddy_http_request_duration_seconds"}) {
    INFO(wanted);
    CHECK(used_everywhere.count(wanted) == 1);
  }
}

}  // namespace
}  // namespace eddy::runtime
