// A strict reader of the Prometheus text exposition format 0.0.4, for tests: what /metrics
// serves must parse by every rule a scraper applies, not just "look like" metrics.
//
// Checked: line syntax (names, label names, quoted and escaped label values, float values
// including +Inf/-Inf/NaN, optional integer timestamps, a final newline); at most one HELP and
// one TYPE per family, TYPE before the family's first sample; a family's samples contiguous;
// sample names belong to their family (histograms: _bucket, _sum, _count); no duplicate
// series; histogram buckets with increasing `le`, non-decreasing counts, a +Inf bucket equal
// to _count.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::testing {

struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in written order
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::string help;
  std::vector<PromSample> samples;
};

struct PromExposition {
  std::map<std::string, PromFamily> families;
  std::string error;  // empty when the text parsed; else "line N: what is wrong"
};

namespace prom_detail {

inline bool IsNameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
inline bool IsNameChar(char c, bool colon) {
  return IsNameStart(c, colon) || (c >= '0' && c <= '9');
}
// Reads a metric name (colon allowed) or label name from the front of `text`.
inline std::optional<std::string> TakeName(std::string_view& text, bool colon) {
  if (text.empty() || !IsNameStart(text[0], colon)) return std::nullopt;
  size_t n = 1;
  while (n < text.size() && IsNameChar(text[n], colon)) ++n;
  std::string name(text.substr(0, n));
  text.remove_prefix(n);
  return name;
}
inline std::optional<double> ParseValue(std::string_view text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return NAN;
  if (text.empty()) return std::nullopt;
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  if (copy.find_first_of("xXpP") != std::string::npos) return std::nullopt;  // no hex floats
  if (copy == "inf" || copy == "nan" || copy.find("nf") != std::string::npos) return std::nullopt;
  return value;
}
inline std::string FamilyOf(const std::string& sample,
                            const std::map<std::string, PromFamily>& families) {
  if (families.count(sample) > 0) return sample;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view s(suffix);
    if (sample.size() > s.size() && sample.ends_with(s)) {
      const std::string base = sample.substr(0, sample.size() - s.size());
      auto it = families.find(base);
      if (it != families.end() &&
          (it->second.type == "histogram" || (it->second.type == "summary" && s != "_bucket"))) {
        return base;
      }
    }
  }
  return sample;
}

}  // namespace prom_detail

inline PromExposition ParsePromText(const std::string& text) {
  using namespace prom_detail;
  PromExposition out;
  if (!text.empty() && text.back() != '\n') {
    out.error = "the exposition does not end with a newline";
    return out;
  }
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  std::string current;             // family of the previous sample
  std::set<std::string> finished;  // families whose samples ended
  std::set<std::string> series;    // name + labels, to find duplicates
  auto fail = [&](const std::string& what) {
    out.error = "line " + std::to_string(number) + ": " + what + ": " + line;
    return out;
  };
  while (std::getline(lines, line)) {
    ++number;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::string_view rest(line);
      rest.remove_prefix(1);
      if (!rest.starts_with(" HELP ") && !rest.starts_with(" TYPE ")) continue;  // a comment
      const bool help = rest.starts_with(" HELP ");
      rest.remove_prefix(6);
      const std::optional<std::string> name = TakeName(rest, true);
      if (!name) return fail("bad metric name in HELP/TYPE");
      if (!rest.empty() && rest[0] != ' ') return fail("bad metric name in HELP/TYPE");
      if (!rest.empty()) rest.remove_prefix(1);
      PromFamily& family = out.families[*name];
      family.name = *name;
      if (!family.samples.empty() && !help) return fail("TYPE after the family's samples");
      if (help) {
        if (!family.help.empty()) return fail("second HELP for " + *name);
        family.help = std::string(rest);
        if (family.help.empty()) family.help = " ";
      } else {
        if (!family.type.empty()) return fail("second TYPE for " + *name);
        const std::string type(rest);
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail("unknown type '" + type + "'");
        }
        family.type = type;
      }
      continue;
    }
    std::string_view rest(line);
    PromSample sample;
    const std::optional<std::string> name = TakeName(rest, true);
    if (!name) return fail("bad metric name");
    sample.name = *name;
    std::set<std::string> label_names;
    if (!rest.empty() && rest[0] == '{') {
      rest.remove_prefix(1);
      while (true) {
        if (!rest.empty() && rest[0] == '}') {
          rest.remove_prefix(1);
          break;
        }
        const std::optional<std::string> label = TakeName(rest, false);
        if (!label) return fail("bad label name");
        if (!label_names.insert(*label).second) return fail("label " + *label + " twice");
        if (rest.size() < 2 || rest[0] != '=' || rest[1] != '"') return fail("expected =\"");
        rest.remove_prefix(2);
        std::string value;
        bool closed = false;
        while (!rest.empty()) {
          const char c = rest[0];
          rest.remove_prefix(1);
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (rest.empty()) return fail("dangling escape");
            const char e = rest[0];
            rest.remove_prefix(1);
            if (e == 'n') {
              value += '\n';
            } else if (e == '\\' || e == '"') {
              value += e;
            } else {
              return fail(std::string("bad escape \\") + e);
            }
            continue;
          }
          value += c;
        }
        if (!closed) return fail("unterminated label value");
        sample.labels.emplace_back(*label, value);
        if (!rest.empty() && rest[0] == ',') {
          rest.remove_prefix(1);
          continue;
        }
        if (!rest.empty() && rest[0] == '}') continue;
        return fail("expected , or }");
      }
    }
    if (rest.empty() || rest[0] != ' ') return fail("expected a space before the value");
    rest.remove_prefix(1);
    const size_t space = rest.find(' ');
    const std::optional<double> value = ParseValue(rest.substr(0, space));
    if (!value) return fail("bad value");
    sample.value = *value;
    if (space != std::string_view::npos) {
      const std::string_view timestamp = rest.substr(space + 1);
      if (timestamp.empty() ||
          timestamp.find_first_not_of("-0123456789") != std::string_view::npos) {
        return fail("bad timestamp");
      }
    }
    const std::string family_name = FamilyOf(sample.name, out.families);
    if (family_name != current) {
      if (finished.count(family_name) > 0)
        return fail("samples of " + family_name + " not together");
      if (!current.empty()) finished.insert(current);
      current = family_name;
    }
    std::string key = sample.name + "{";
    std::vector<std::pair<std::string, std::string>> sorted = sample.labels;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [k, v] : sorted) key += k + "=" + v + ",";
    if (!series.insert(key).second) return fail("duplicate series");
    PromFamily& family = out.families[family_name];
    family.name = family_name;
    if (family.type.empty()) family.type = "untyped";
    family.samples.push_back(std::move(sample));
  }
  // Histograms: per series (labels but le), buckets ascending and cumulative, +Inf == _count.
  for (const auto& [name, family] : out.families) {
    if (family.type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;
    std::map<std::string, double> counts;
    for (const PromSample& sample : family.samples) {
      std::string key;
      std::optional<double> le;
      for (const auto& [k, v] : sample.labels) {
        if (k == "le") {
          le = ParseValue(v);
        } else {
          key += k + "=" + v + ",";
        }
      }
      if (sample.name == name + "_bucket") {
        if (!le) {
          out.error = name + ": a bucket without a valid le";
          return out;
        }
        buckets[key].emplace_back(*le, sample.value);
      } else if (sample.name == name + "_count") {
        counts[key] = sample.value;
      }
    }
    for (const auto& [key, list] : buckets) {
      for (size_t i = 1; i < list.size(); ++i) {
        if (!(list[i].first > list[i - 1].first) || list[i].second < list[i - 1].second) {
          out.error = name + "{" + key + "}: buckets not ascending and cumulative";
          return out;
        }
      }
      if (list.empty() || !std::isinf(list.back().first) || counts.count(key) == 0 ||
          counts[key] != list.back().second) {
        out.error = name + "{" + key + "}: no +Inf bucket equal to _count";
        return out;
      }
    }
  }
  return out;
}

}  // namespace eddy::testing
