// The metric catalogue as docs/metrics.md states it: the rows of its first table
// ("| family | type | labels | meaning |"). Tests tie the documentation to what /metrics
// serves, and the dashboards and alert rules in deploy/ to the documentation.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace eddy::testing {

struct DocumentedMetric {
  std::string name;
  std::string type;
  std::vector<std::string> labels;
};

// Throws std::runtime_error when the file or the table cannot be read.
inline std::map<std::string, DocumentedMetric> ReadMetricsCatalogue(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::map<std::string, DocumentedMetric> catalogue;
  std::string line;
  bool in_table = false;
  auto cells = [](const std::string& row) {
    std::vector<std::string> out;
    std::string cell;
    for (size_t i = 1; i < row.size(); ++i) {
      if (row[i] == '|') {
        const size_t a = cell.find_first_not_of(' ');
        const size_t b = cell.find_last_not_of(' ');
        out.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
        cell.clear();
      } else {
        cell += row[i];
      }
    }
    return out;
  };
  auto unquote = [](std::string text) {
    if (text.size() >= 2 && text.front() == '`' && text.back() == '`') {
      return text.substr(1, text.size() - 2);
    }
    return text;
  };
  while (std::getline(in, line)) {
    if (!in_table) {
      in_table = line.starts_with("| family | type | labels |");
      continue;
    }
    if (line.starts_with("|---")) continue;
    if (!line.starts_with("|")) break;  // the table ended
    const std::vector<std::string> row = cells(line);
    if (row.size() < 4) throw std::runtime_error(path + ": short table row: " + line);
    DocumentedMetric metric;
    metric.name = unquote(row[0]);
    metric.type = row[1];
    std::stringstream labels(row[2]);
    std::string label;
    while (std::getline(labels, label, ',')) {
      const size_t a = label.find('`');
      const size_t b = label.rfind('`');
      if (a != std::string::npos && b > a) metric.labels.push_back(label.substr(a + 1, b - a - 1));
    }
    if (!catalogue.emplace(metric.name, metric).second) {
      throw std::runtime_error(path + ": " + metric.name + " listed twice");
    }
  }
  if (catalogue.empty()) throw std::runtime_error(path + ": no metric table found");
  return catalogue;
}

}  // namespace eddy::testing
