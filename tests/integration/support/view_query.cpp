#include "support/view_query.h"

#include <simdjson.h>

#include <sstream>

#include "support/eddy_process.h"

namespace eddy::testing {

std::optional<WindowTotals> QueryWindows(uint16_t port, const std::string& view,
                                         const std::string& key) {
  const HttpReply reply = HttpGet(port, "/v1/views/" + view + "/keys/" + key);
  if (IsNothingForKey(reply)) return WindowTotals{};
  if (reply.status != 200) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array windows;
  if (parser.parse(reply.body).get(doc) != simdjson::SUCCESS ||
      doc["windows"].get_array().get(windows) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  WindowTotals totals;
  for (simdjson::dom::element window : windows) {
    int64_t start = 0;
    simdjson::dom::object aggregates;
    if (window["start_ms"].get_int64().get(start) != simdjson::SUCCESS ||
        window["aggregates"].get_object().get(aggregates) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    std::map<std::string, double>& values = totals[start];
    for (const auto field : aggregates) {
      double number = 0;
      if (field.value.get_double().get(number) == simdjson::SUCCESS) {
        values[std::string(field.key)] = number;
      }
    }
  }
  return totals;
}

std::string Describe(const std::optional<WindowTotals>& totals) {
  if (!totals) return "(no answer)";
  std::ostringstream text;
  text << '{';
  for (const auto& [start, values] : *totals) {
    text << (start == totals->begin()->first ? "" : ", ") << start << ": {";
    for (const auto& [name, value] : values) {
      text << (name == values.begin()->first ? "" : ", ") << name << ": " << value;
    }
    text << '}';
  }
  text << '}';
  return text.str();
}

std::optional<std::string> QueryTableValue(uint16_t port, const std::string& view,
                                           const std::string& key) {
  const HttpReply reply = HttpGet(port, "/v1/views/" + view + "/keys/" + key);
  if (IsNothingForKey(reply)) return "null";
  if (reply.status != 200) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::element value;
  if (parser.parse(reply.body).get(doc) != simdjson::SUCCESS ||
      doc["value"].get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return simdjson::minify(value);
}

}  // namespace eddy::testing
