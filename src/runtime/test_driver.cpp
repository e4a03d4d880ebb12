#include "runtime/test_driver.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/json_writer.h"
#include "config/loader.h"
#include "engine/fixture_source.h"
#include "engine/pipeline.h"
#include "engine/sink.h"
#include "engine/topology.h"
#include "metrics/metrics.h"
#include "state/state_db.h"
#include "state/window_retention.h"

namespace eddy::runtime {
namespace {

namespace fs = std::filesystem;

// Collects what the topologies send; Flush delivers everything sent so far.
class CollectingSink final : public engine::Sink {
 public:
  Status Send(engine::SinkRecord record) override {
    pending_.push_back(std::move(record));
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override {
    for (auto& record : pending_) delivered_.push_back(std::move(record));
    pending_.clear();
    return Status::Ok();
  }
  const std::vector<engine::SinkRecord>& delivered() const { return delivered_; }

 private:
  std::vector<engine::SinkRecord> pending_;
  std::vector<engine::SinkRecord> delivered_;
};

// A temporary state directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "eddy-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Where(const std::string& file, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// YAML → JSON text. Quoted scalars are strings; plain ones are null, booleans, integers or
// numbers when they read as such, strings otherwise.
void ToJson(const YAML::Node& node, JsonWriter& json) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      json.BeginObject();
      for (const auto& entry : node) {
        json.Key(entry.first.Scalar());
        ToJson(entry.second, json);
      }
      json.EndObject();
      return;
    case YAML::NodeType::Sequence:
      json.BeginArray();
      for (const auto& item : node) ToJson(item, json);
      json.EndArray();
      return;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") {
        json.String(text);
        return;
      }
      if (text == "null" || text == "~") {
        json.Null();
        return;
      }
      if (text == "true" || text == "false") {
        json.Bool(text == "true");
        return;
      }
      char* end = nullptr;
      errno = 0;
      const long long integer = std::strtoll(text.c_str(), &end, 10);
      if (!text.empty() && end == text.c_str() + text.size() && errno == 0) {
        json.Int(integer);
        return;
      }
      const double number = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(number)) {
        json.Double(number);
        return;
      }
      json.String(text);
      return;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      json.Null();
      return;
  }
}

std::string ToJsonText(const YAML::Node& node) {
  JsonWriter json;
  ToJson(node, json);
  return std::move(json).Take();
}

// Does `actual` match the pattern `expected`? Objects: every expected member matches (extra
// actual members are not checked); arrays: same length, element-wise; numbers: equal value;
// other scalars: equal. On mismatch, `path` names the first difference.
bool Matches(simdjson::dom::element expected, simdjson::dom::element actual, std::string& path) {
  using simdjson::dom::element_type;
  const element_type want = expected.type();
  const element_type got = actual.type();
  const bool want_number =
      want == element_type::INT64 || want == element_type::UINT64 || want == element_type::DOUBLE;
  const bool got_number =
      got == element_type::INT64 || got == element_type::UINT64 || got == element_type::DOUBLE;
  if (want_number && got_number) {
    const double a = double(expected);
    const double b = double(actual);
    return a == b || std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
  }
  if (want != got) return false;
  switch (want) {
    case element_type::OBJECT:
      for (auto [key, value] : simdjson::dom::object(expected)) {
        simdjson::dom::element member;
        if (simdjson::dom::object(actual).at_key(key).get(member) != simdjson::SUCCESS) {
          path += "." + std::string(key) + " (missing)";
          return false;
        }
        std::string inner = path + "." + std::string(key);
        if (!Matches(value, member, inner)) {
          path = inner;
          return false;
        }
      }
      return true;
    case element_type::ARRAY: {
      simdjson::dom::array want_items = expected;
      simdjson::dom::array got_items = actual;
      if (want_items.size() != got_items.size()) {
        path += " (expected " + std::to_string(want_items.size()) + " items, got " +
                std::to_string(got_items.size()) + ")";
        return false;
      }
      size_t index = 0;
      auto it = got_items.begin();
      for (simdjson::dom::element item : want_items) {
        std::string inner = path + "[" + std::to_string(index++) + "]";
        if (!Matches(item, *it, inner)) {
          path = inner;
          return false;
        }
        ++it;
      }
      return true;
    }
    case element_type::STRING:
      return std::string_view(expected) == std::string_view(actual);
    case element_type::BOOL:
      return bool(expected) == bool(actual);
    case element_type::NULL_VALUE:
      return true;
    default:
      return false;
  }
}

// Compares JSON texts as patterns; returns "" on a match, else a readable diff.
std::string Compare(const std::string& what, const std::string& expected_json,
                    const std::string& actual_json) {
  simdjson::dom::parser expected_parser;
  simdjson::dom::parser actual_parser;
  simdjson::dom::element expected;
  simdjson::dom::element actual;
  if (expected_parser.parse(expected_json).get(expected) != simdjson::SUCCESS) {
    return what + ": the expectation is not valid JSON: " + expected_json;
  }
  if (actual_parser.parse(actual_json).get(actual) != simdjson::SUCCESS) {
    return what + ": eddy's answer is not valid JSON: " + actual_json;
  }
  std::string path = "$";
  if (Matches(expected, actual, path)) return "";
  return what + ": mismatch at " + path + "\n    expected: " + expected_json +
         "\n    actual:   " + actual_json;
}

std::string ReadFile(const fs::path& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One input record from a JSON line: {"topic", "partition", "key", "timestamp", "value",
// "headers"}; value is any JSON value (sent as its JSON text) or a string (sent verbatim).
Status ParseJsonLine(std::string_view line, engine::FixtureRecord& record) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(line).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return Status::InvalidArgument("expected a JSON object per line");
  }
  std::string_view topic;
  if (doc["topic"].get_string().get(topic) != simdjson::SUCCESS) {
    return Status::InvalidArgument("missing \"topic\" (a string)");
  }
  record.topic = std::string(topic);
  int64_t partition = 0;
  if (doc["partition"].get_int64().get(partition) == simdjson::SUCCESS) {
    record.partition = static_cast<int32_t>(partition);
  }
  std::string_view key;
  if (doc["key"].get_string().get(key) == simdjson::SUCCESS) record.key = std::string(key);
  int64_t timestamp = 0;
  if (doc["timestamp"].get_int64().get(timestamp) == simdjson::SUCCESS)
    record.timestamp_ms = timestamp;
  simdjson::dom::element value;
  if (doc["value"].get(value) != simdjson::SUCCESS)
    return Status::InvalidArgument("missing \"value\"");
  std::string_view text;
  if (value.is_null()) {
    record.tombstone = true;  // "value": null is a Kafka record with a null value
  } else {
    record.value = value.get_string().get(text) == simdjson::SUCCESS ? std::string(text)
                                                                     : simdjson::minify(value);
  }
  simdjson::dom::object headers;
  if (doc["headers"].get_object().get(headers) == simdjson::SUCCESS) {
    for (auto [name, header_value] : headers) {
      std::string_view header_text;
      if (header_value.get_string().get(header_text) == simdjson::SUCCESS) {
        record.headers.emplace_back(std::string(name), std::string(header_text));
      }
    }
  }
  return Status::Ok();
}

struct ViewExpectation {
  std::string where;
  std::string view;
  std::string key;
  std::string member;  // "windows" (window views), "aggregates" (no window), "value" (tables)
  std::string expected_json;  // the pattern for that member
};

struct SinkExpectation {
  std::string where;
  std::string topic;
  std::string records_json;  // [{"key":..., "value":...}, ...]
};

}  // namespace

TestFileResult RunTestFile(const std::string& path) {
  TestFileResult result;
  result.file = path;
  auto error = [&](const std::string& message) { result.errors.push_back(message); };

  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    error(path + ": error: cannot read test file");
    return result;
  } catch (const YAML::Exception& e) {
    error(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
          ": error: invalid YAML: " + e.msg);
    return result;
  }
  if (!root.IsMap()) {
    error(path + ": error: a test file is a map with config, input or input_file, and expect");
    return result;
  }
  static const std::vector<std::string> kKeys = {"config", "env", "input", "input_file", "expect"};
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      error(Where(path, entry.first) + ": error: unknown key '" + key +
            "' in test file; valid keys: config, env, input, input_file, expect");
    }
  }
  const fs::path base = fs::path(path).parent_path();
  if (!root["config"] || !root["config"].IsScalar()) {
    error(Where(path, root) +
          ": error: missing required key 'config' (the eddy config under test, relative to this "
          "file)");
    return result;
  }

  // The config, with the test's env: variables first, then the process environment.
  std::map<std::string, std::string> env;
  if (const YAML::Node env_node = root["env"]) {
    if (!env_node.IsMap()) {
      error(Where(path, env_node) + ": error: env: expected a map of VARIABLE: value");
    } else {
      for (const auto& entry : env_node) env[entry.first.Scalar()] = entry.second.Scalar();
    }
  }
  const config::EnvLookup process_env = config::ProcessEnvironment();
  const config::EnvLookup lookup = [&](const std::string& name) -> std::optional<std::string> {
    if (auto it = env.find(name); it != env.end()) return it->second;
    return process_env(name);
  };
  const std::string config_path = (base / root["config"].Scalar()).string();
  config::LoadResult loaded = config::LoadFile(config_path, lookup);
  for (const config::Diagnostic& d : loaded.errors) error(d.ToString());
  if (!loaded.config) return result;
  config::Config cfg = std::move(*loaded.config);

  // Inputs.
  engine::FixtureSource source;
  if (const YAML::Node input = root["input"]) {
    if (!input.IsSequence()) {
      error(Where(path, input) + ": error: input: expected a list of records");
    } else {
      for (const YAML::Node& item : input) {
        engine::FixtureRecord record;
        if (!item.IsMap() || !item["topic"] || !item["value"]) {
          error(Where(path, item) +
                ": error: input record: expected a map with topic and value "
                "(and optionally partition, key, timestamp, headers)");
          continue;
        }
        record.topic = item["topic"].Scalar();
        if (item["partition"]) record.partition = item["partition"].as<int32_t>(0);
        if (item["key"]) record.key = item["key"].Scalar();
        if (item["timestamp"]) record.timestamp_ms = item["timestamp"].as<int64_t>(0);
        const YAML::Node value = item["value"];
        if (value.IsNull() || (value.IsScalar() && value.Tag() != "!" &&
                               (value.Scalar() == "null" || value.Scalar() == "~"))) {
          record.tombstone = true;  // `value: null`: a Kafka record with a null value
        } else {
          record.value = value.IsScalar() ? value.Scalar() : ToJsonText(value);
        }
        if (const YAML::Node headers = item["headers"]; headers && headers.IsMap()) {
          for (const auto& h : headers)
            record.headers.emplace_back(h.first.Scalar(), h.second.Scalar());
        }
        source.Append(std::move(record));
      }
    }
  }
  if (const YAML::Node input_file = root["input_file"]) {
    bool ok = false;
    const fs::path input_path = base / input_file.Scalar();
    const std::string text = ReadFile(input_path, ok);
    if (!ok) {
      error(Where(path, input_file) + ": error: cannot read input file " + input_path.string());
    } else {
      std::istringstream lines(text);
      std::string line;
      int number = 0;
      while (std::getline(lines, line)) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        engine::FixtureRecord record;
        if (Status parsed = ParseJsonLine(line, record); !parsed.ok()) {
          error(input_path.string() + ":" + std::to_string(number) +
                ": error: " + parsed.message());
          continue;
        }
        source.Append(std::move(record));
      }
    }
  }

  // Expectations.
  std::vector<ViewExpectation> views;
  std::vector<SinkExpectation> sinks;
  const YAML::Node expect = root["expect"];
  if (!expect || !expect.IsMap()) {
    error(Where(path, root) +
          ": error: missing required key 'expect' (views and/or sinks to check)");
  } else {
    if (const YAML::Node list = expect["views"]) {
      for (const YAML::Node& item : list) {
        if (!item.IsMap() || !item["view"] || !item["key"] ||
            (!item["windows"] && !item["value"] && !item["aggregates"])) {
          error(Where(path, item) +
                ": error: view expectation: expected a map with view, key and windows (a window "
                "view), aggregates (a step without a window) or value (a table view)");
          continue;
        }
        const char* member = item["windows"]      ? "windows"
                             : item["aggregates"] ? "aggregates"
                                                  : "value";
        views.push_back({Where(path, item), item["view"].Scalar(), item["key"].Scalar(), member,
                         ToJsonText(item[member])});
      }
    }
    if (const YAML::Node list = expect["sinks"]) {
      for (const YAML::Node& item : list) {
        if (!item.IsMap() || !item["topic"] || !item["records"]) {
          error(Where(path, item) +
                ": error: sink expectation: expected a map with topic and records");
          continue;
        }
        sinks.push_back({Where(path, item), item["topic"].Scalar(), ToJsonText(item["records"])});
      }
    }
  }
  if (!result.errors.empty()) return result;

  // Run the real engine over a throwaway state directory.
  TempDir state_dir;
  if (state_dir.path().empty()) {
    error(path + ": error: cannot create a temporary state directory");
    return result;
  }
  metrics::Metrics metrics;
  state::WindowRetention retention;
  Result<std::unique_ptr<state::StateDb>> db =
      state::StateDb::Open(state_dir.path(), {false, &retention});
  if (!db.ok()) {
    error(path + ": error: " + db.status().ToString());
    return result;
  }
  CollectingSink sink;
  std::vector<std::unique_ptr<engine::Topology>> topologies;
  for (const config::TopologyConfig& topology : cfg.topologies) {
    Result<std::unique_ptr<engine::Topology>> created =
        engine::Topology::Create(topology, **db, metrics, &retention, &sink);
    if (!created.ok()) {
      error(path + ": error: " + created.status().ToString());
      return result;
    }
    topologies.push_back(std::move(*created));
  }
  for (const ViewExpectation& expectation : views) {
    bool known = false;
    for (const auto& topology : topologies) {
      for (const auto& view : topology->views()) known = known || view->name() == expectation.view;
    }
    if (!known)
      error(expectation.where + ": error: no view named '" + expectation.view + "' in " +
            config_path);
  }
  if (!result.errors.empty()) return result;

  engine::PipelineOptions options;
  options.commit_interval = std::chrono::milliseconds(0);
  engine::Pipeline pipeline(source, **db, topologies, metrics, options, &sink);
  std::vector<std::string> answers(views.size());
  Status query_status;
  source.set_idle_handler([&] {
    // Drained: everything is committed; read the views while the partitions are owned.
    for (size_t i = 0; i < views.size(); ++i) {
      for (const auto& topology : topologies) {
        for (const auto& view : topology->views()) {
          if (view->name() != views[i].view) continue;
          Result<std::string> answer = view->QueryKeyJson(views[i].key);
          if (answer.ok())
            answers[i] = *answer;
          else
            query_status = answer.status();
        }
      }
    }
    pipeline.RequestStop();
  });
  const auto previous_level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);  // per-record warnings would drown the report
  Status ran = pipeline.Run();
  spdlog::set_level(previous_level);
  if (!ran.ok() || !query_status.ok()) {
    error(path + ": error: the pipeline failed: " + (ran.ok() ? query_status : ran).ToString());
    return result;
  }

  for (size_t i = 0; i < views.size(); ++i) {
    ++result.checks;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string actual = "null";  // also when the view has no such member
    if (parser.parse(answers[i]).get(doc) == simdjson::SUCCESS) {
      simdjson::dom::element member;
      if (doc[views[i].member].get(member) == simdjson::SUCCESS) actual = simdjson::minify(member);
    }
    const std::string diff =
        Compare(views[i].where + ": view " + views[i].view + ", key " + views[i].key,
                views[i].expected_json, actual);
    if (!diff.empty()) result.failures.push_back(diff);
  }
  for (const SinkExpectation& expectation : sinks) {
    ++result.checks;
    JsonWriter actual;
    actual.BeginArray();
    for (const engine::SinkRecord& record : sink.delivered()) {
      if (record.topic != expectation.topic) continue;
      actual.BeginObject().Key("key");
      if (record.key)
        actual.String(*record.key);
      else
        actual.Null();
      actual.Key("value").Raw(record.value).Key("timestamp").Int(record.timestamp_ms);
      actual.Key("headers").BeginObject();
      for (const auto& [name, value] : record.headers) actual.Key(name).String(value);
      actual.EndObject().EndObject();
    }
    actual.EndArray();
    const std::string diff = Compare(expectation.where + ": sink topic " + expectation.topic,
                                     expectation.records_json, actual.str());
    if (!diff.empty()) result.failures.push_back(diff);
  }
  result.passed = result.errors.empty() && result.failures.empty();
  return result;
}

}  // namespace eddy::runtime
