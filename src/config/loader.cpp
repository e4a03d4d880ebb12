// YAML → Config. The schema lives here, one Parse* function per YAML map, in the order of
// docs/configuration.md; the scalar syntaxes live in values.h, interpolation in
// interpolate.h.
//
// Error handling: yaml-cpp throws; its exceptions are caught in Loader::Load and become
// Diagnostics, none leaves this file. Everything else is reported through Loader::Error and
// parsing carries on with the next key, so one run shows every problem. A Config is returned
// only when no error was reported; partially filled structs are thrown away.
//
// Locations: yaml-cpp marks are 0-based, Diagnostics are 1-based. A value that is empty
// (`key:` with nothing after it) is reported at its key, because yaml-cpp marks an empty value
// at the start of the next line.
#include "config/loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "config/interpolate.h"
#include "config/suggest.h"
#include "config/values.h"

namespace eddy::config {

std::string Diagnostic::ToString() const {
  return location.ToString() + ": error: " + message;
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

namespace {

// The keys allowed in each map of the schema, in documentation order (they are listed in
// that order when an unknown key has no close match).
const std::vector<std::string> kTopKeys = {"kafka",    "state",      "http",      "logging",
                                           "delivery", "processing", "topologies"};
const std::vector<std::string> kProcessingKeys = {"threads"};
const std::vector<std::string> kDeliveryKeys = {"guarantee", "transactional_id", "attempts",
                                                "backoff",   "max_backoff",      "circuit_breaker"};
const std::vector<std::string> kCircuitBreakerKeys = {"failures", "cooldown"};
const std::vector<std::string> kDeadLettersKeys = {"topic"};
const std::vector<std::string> kStateKeys = {"dir", "commit_interval", "commit_when_caught_up",
                                             "sync_writes"};
const std::vector<std::string> kHttpKeys = {"listen", "io_threads", "readiness", "auth",
                                            "rate_limit"};
const std::vector<std::string> kReadinessKeys = {"max_lag_records"};
const std::vector<std::string> kHttpAuthKeys = {"tokens_env", "tokens_file", "protect"};
const std::vector<std::string> kRateLimitKeys = {"requests_per_second", "burst"};
const std::vector<std::string> kLoggingKeys = {"level", "format"};
const std::vector<std::string> kTopologyKeys = {"name",  "source", "sources",     "steps",
                                                "views", "sinks",  "dead_letters"};
const std::vector<std::string> kSourceKeys = {"name",      "topic",        "format",         "key",
                                              "timestamp", "idle_timeout", "max_value_bytes"};
const std::vector<std::string> kKeyKeys = {"field", "kafka_key"};
const std::vector<std::string> kTimestampKeys = {"field", "format", "record_timestamp"};
const std::vector<std::string> kStepKeys = {"name",  "from",         "window", "aggregates",
                                            "emit",  "late_records", "filter", "select",
                                            "rekey", "dedup",        "table",  "join"};
const std::vector<std::string> kJoinKeys = {"table",  "stream", "type",           "as",
                                            "within", "grace",  "co_partitioned", "cache_mib"};
const std::vector<std::string> kLateRecordsKeys = {"topic"};
const std::vector<std::string> kTableKeys = {"delete_when", "cache_mib"};
const std::vector<std::string> kDedupKeys = {"field", "kafka_key", "header", "ttl"};
const std::vector<std::string> kWindowKeys = {"type", "size",  "advance",
                                              "gap",  "grace", "retention"};
const std::vector<std::string> kAggregateKeys = {"name", "function", "field", "mode"};
const std::vector<std::string> kViewKeys = {"name", "from"};
const std::vector<std::string> kSinkKeys = {"name", "from", "topic", "value"};
const std::vector<std::string> kRequiredKafkaProperties = {"bootstrap.servers", "group.id"};

constexpr int kMaxIoThreads = 1024;

// A YAML node with what to call it in messages and where to point at.
struct Value {
  YAML::Node node;
  std::string subject;          // prefix of messages about this value: "window size"
  SourceLocation location;      // the value; its key when the value is empty
  SourceLocation key_location;  // the key; the value itself for list items
};

// A scalar after ${VAR} interpolation.
struct Scalar {
  std::string text;
  std::string raw;  // as written in the file
  std::string subject;
  SourceLocation location;
};

// A YAML map checked against the keys allowed at its place. Unknown and duplicate keys have
// already been reported, so entries holds only known keys, each once, in file order.
struct MapView {
  std::string context;      // "window"; empty at the top level
  SourceLocation location;  // of the map itself: where "missing required key" points
  std::vector<std::pair<std::string, Value>> entries;

  const Value* Find(std::string_view key) const {
    for (const auto& [name, value] : entries) {
      if (name == key) return &value;
    }
    return nullptr;
  }
};

std::string InContext(const std::string& context) {
  return context.empty() ? "at top level" : "in " + context;
}

std::string Quote(const std::string& s) {
  return "'" + s + "'";
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "an empty value";
}

std::string LineColumn(const SourceLocation& location) {
  return "line " + std::to_string(location.line) + ", column " + std::to_string(location.column);
}

// yaml-cpp's parser messages are terse; the common ones get a hint at the usual cause.
std::string YamlHint(const std::string& message) {
  static const std::vector<std::pair<std::string, std::string>> kHints = {
      {"end of map flow not found", "a '{' at or before this point is not closed by '}'"},
      {"end of sequence flow not found", "a '[' at or before this point is not closed by ']'"},
      {"illegal map value",
       "a 'key: value' where none is allowed; check this line's indentation against the lines "
       "above"},
      {"illegal tab when looking for indentation", "indent with spaces, not tabs"},
      {"end of map not found",
       "a quote or bracket left open, or a line indented less than its siblings"},
      {"end of sequence not found",
       "a quote or bracket left open, or a list item indented less than its siblings"},
      {"unknown escape character", "in double quotes, write a backslash as \\\\"},
      {"end of string not found", "a quote left open"},
  };
  for (const auto& [text, hint] : kHints) {
    if (message.starts_with(text)) return " (" + hint + ")";
  }
  return "";
}

template <typename T>
struct EnumOption {
  std::string name;
  T value;
};

// yaml-cpp 0.7's LoadAll never returns on some invalid text (a ',' where a document or a
// block collection should go on: upstream issue #1040, fixed after 0.8.0): the parser reports
// an empty document again and again without consuming anything, and LoadAll collects them
// until memory runs out. Found by tests/fuzz/fuzz_config. This first pass looks only at where
// documents start and throws at the first one that starts where the one before it started;
// LoadAll runs only after it, when every document makes progress.
class DocumentStarts final : public YAML::EventHandler {
 public:
  YAML::Mark last;  // of the latest OnDocumentStart
  void OnDocumentStart(const YAML::Mark& mark) override { last = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

void ThrowIfParserIsStuck(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts starts;
  int previous_pos = -1;
  while (parser.HandleNextDocument(starts)) {
    if (starts.last.pos == previous_pos) {
      const auto pos = static_cast<size_t>(starts.last.pos);
      throw YAML::ParserException(starts.last, pos < text.size()
                                                   ? "unexpected '" + text.substr(pos, 1) + "'"
                                                   : std::string("unexpected end of input"));
    }
    previous_pos = starts.last.pos;
  }
}

// Turns one YAML document into a Config, collecting every error on the way. One Loader per
// Load call.
class Loader {
 public:
  Loader(std::string file, const EnvLookup& env) : file_(std::move(file)), env_(env) {}

  LoadResult Load(const std::string& text);

 private:
  // --- Reporting.
  SourceLocation Loc(const YAML::Mark& mark) const {
    if (mark.line < 0) return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }
  SourceLocation Loc(const YAML::Node& node) const { return Loc(node.Mark()); }
  void Error(SourceLocation location, std::string message) {
    errors_.push_back({std::move(location), std::move(message)});
  }
  // An error about a scalar's content: "window size: expected ...; got '10'".
  void ValueError(const Scalar& s, const std::string& message) {
    std::string text = s.subject + ": " + message;
    if (s.raw != s.text) text += "; the value came from " + Quote(s.raw);
    Error(s.location, std::move(text));
  }
  void TypeError(const Value& v, const std::string& expected) {
    Error(v.location, v.subject + ": expected " + expected + "; got " + Describe(v.node));
  }

  // --- Structure.
  // `keys` null: any scalar key is allowed (the kafka map).
  std::optional<MapView> ReadMap(const Value& v, const std::string& context,
                                 const std::vector<std::string>* keys,
                                 const std::string& expected = "a map");
  const Value* Require(const MapView& map, const std::string& key);
  std::optional<std::vector<Value>> ReadList(const Value& v, const std::string& item_subject,
                                             const std::string& items, bool allow_empty);

  // --- Scalars. Each reports its own errors and returns nullopt after one.
  // `secret`: errors quote nothing of the value (config::IsSecretKafkaProperty).
  std::optional<Scalar> ReadScalar(const Value& v, const std::string& expected,
                                   bool secret = false);
  template <typename T>
  std::optional<T> Check(const Scalar& s, Result<T> result) {
    if (result.ok()) return std::move(result).value();
    ValueError(s, result.status().message());
    return std::nullopt;
  }
  std::optional<std::string> ReadString(const Value& v);  // non-empty
  std::optional<std::string> ReadName(const Value& v);
  std::optional<bool> ReadBool(const Value& v);
  std::optional<std::chrono::milliseconds> ReadDuration(const Value& v, bool allow_zero);
  std::optional<FieldPath> ReadFieldPath(const Value& v);
  // An integer in [min, max]; `what` names the unit in messages ("bytes").
  std::optional<int64_t> ReadIntegerIn(const Value& v, int64_t min, int64_t max,
                                       const std::string& what);
  template <typename T>
  std::optional<T> ReadEnum(const Value& v, const std::vector<EnumOption<T>>& options,
                            const std::vector<std::string>& not_supported_yet = {});

  // --- Schema, one function per map.
  void ParseKafka(const Value& v, KafkaConfig& out);
  void ParseState(const Value& v, StateConfig& out);
  void ParseHttp(const Value& v, HttpConfig& out);
  void ParseLogging(const Value& v, LoggingConfig& out);
  void ParseDelivery(const Value& v, DeliveryConfig& out);
  void ParseProcessing(const Value& v, ProcessingConfig& out);
  // Checks between sections: processing.threads > 1 with a stream–table join.
  void CheckProcessing(const Config& config);
  void ParseDeadLetters(const Value& v, DeadLettersConfig& out);
  void ParseTopologies(const Value& v, std::vector<TopologyConfig>& out);
  void ParseTopology(const Value& v, TopologyConfig& out);
  // `named`: an item of `sources:` (needs a name) rather than the single `source:`.
  void ParseSource(const Value& v, bool named, SourceConfig& out);
  void ParseKey(const Value& v, KeySpec& out);
  void ParseTimestamp(const Value& v, TimestampSpec& out);
  // Both return where the name was written (for duplicate-name errors); line 0 if nowhere.
  SourceLocation ParseStep(const Value& v, StepConfig& out);
  // Parses and type-checks an expression; its errors point into the YAML scalar.
  std::optional<ExpressionConfig> ReadExpression(const Value& v);
  // Applies the default `from` of each step and checks every `from`.
  void ResolveStepInputs(const std::vector<SourceLocation>& from_locations, TopologyConfig& out);
  void ParseWindow(const Value& v, WindowConfig& out);
  void ParseDedup(const Value& v, DedupConfig& out);
  void ParseJoin(const Value& v, JoinConfig& out);
  SourceLocation ParseAggregate(const Value& v, AggregateConfig& out);
  void ParseView(const Value& v, const TopologyConfig& topology, bool check_from, ViewConfig& out);
  void ParseSink(const Value& v, const TopologyConfig& topology, bool check_from, SinkConfig& out,
                 std::map<std::string, SourceLocation>& names);
  // Reports `from` naming no step of `topology`; `what` is "view 'x'" or "sink 'y'".
  void CheckFromStep(const Value& from, const TopologyConfig& topology, const std::string& what,
                     const std::string& step);

  const std::string file_;
  const EnvLookup& env_;
  std::vector<Diagnostic> errors_;

  // Cross-topology uniqueness: name -> where it was first defined.
  std::map<std::string, SourceLocation> topology_names_;
  struct ViewOwner {
    std::string topology;
    SourceLocation location;
  };
  std::map<std::string, ViewOwner> view_names_;
};

LoadResult Loader::Load(const std::string& text) {
  std::vector<YAML::Node> documents;
  try {
    ThrowIfParserIsStuck(text);
    documents = YAML::LoadAll(text);
  } catch (const YAML::ParserException& e) {
    Error(Loc(e.mark), "invalid YAML: " + e.msg + YamlHint(e.msg));
  } catch (const YAML::Exception& e) {
    Error({file_, 0, 0}, std::string("invalid YAML: ") + e.what());
  }

  Config config;
  config.file = file_;
  if (errors_.empty() && (documents.empty() || documents.front().IsNull())) {
    Error({file_, 0, 0}, "config is empty; expected a map with keys kafka, state and topologies");
  } else if (errors_.empty()) {
    if (documents.size() > 1) {
      Error(Loc(documents[1]), "expected one YAML document; found " +
                                   std::to_string(documents.size()) +
                                   " (remove the '---' separators)");
    }
    const YAML::Node& root = documents.front();
    const Value root_value{root, "config", Loc(root), Loc(root)};
    if (const auto top =
            ReadMap(root_value, "", &kTopKeys, "a map with keys kafka, state and topologies")) {
      if (const Value* v = Require(*top, "kafka")) ParseKafka(*v, config.kafka);
      if (const Value* v = Require(*top, "state")) ParseState(*v, config.state);
      if (const Value* v = top->Find("http")) ParseHttp(*v, config.http);
      if (const Value* v = top->Find("logging")) ParseLogging(*v, config.logging);
      if (const Value* v = top->Find("delivery")) ParseDelivery(*v, config.delivery);
      if (const Value* v = top->Find("processing")) ParseProcessing(*v, config.processing);
      if (const Value* v = Require(*top, "topologies")) ParseTopologies(*v, config.topologies);
      CheckProcessing(config);
    }
  }

  // Checks run section by section; present the errors in file order.
  std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair(a.location.line, a.location.column) <
           std::pair(b.location.line, b.location.column);
  });
  LoadResult result;
  result.errors = std::move(errors_);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

// ----------------------------------------------------------------------------- Structure

std::optional<MapView> Loader::ReadMap(const Value& v, const std::string& context,
                                       const std::vector<std::string>* keys,
                                       const std::string& expected) {
  if (!v.node.IsMap()) {
    TypeError(v, expected);
    return std::nullopt;
  }
  MapView map{context, Loc(v.node), {}};
  std::map<std::string, SourceLocation> seen;
  for (const auto& entry : v.node) {  // yaml-cpp keeps duplicate keys: we see each one
    const YAML::Node& key = entry.first;
    const YAML::Node& value = entry.second;
    if (!key.IsScalar()) {
      Error(Loc(key), "expected a string key " + InContext(context) + "; got " + Describe(key));
      continue;
    }
    const std::string name = key.Scalar();
    if (keys != nullptr && std::find(keys->begin(), keys->end(), name) == keys->end()) {
      std::string message = "unknown key " + Quote(name) + " " + InContext(context);
      if (const auto suggestion = Suggest(name, *keys)) {
        message += "; did you mean " + Quote(*suggestion) + "?";
      } else {
        message += "; valid keys: " + JoinNames(*keys);
      }
      Error(Loc(key), std::move(message));
      continue;
    }
    const auto [first, inserted] = seen.emplace(name, Loc(key));
    if (!inserted) {
      Error(Loc(key), "duplicate key " + Quote(name) + " " + InContext(context) + " (first at " +
                          LineColumn(first->second) + ")");
      continue;
    }
    const std::string subject = context.empty() ? name : context + " " + name;
    const SourceLocation location = value.IsNull() ? Loc(key) : Loc(value);
    map.entries.emplace_back(name, Value{value, subject, location, Loc(key)});
  }
  return map;
}

const Value* Loader::Require(const MapView& map, const std::string& key) {
  const Value* v = map.Find(key);
  if (v == nullptr) {
    Error(map.location, "missing required key " + Quote(key) + " " + InContext(map.context));
  }
  return v;
}

std::optional<std::vector<Value>> Loader::ReadList(const Value& v, const std::string& item_subject,
                                                   const std::string& items, bool allow_empty) {
  const std::string expected = (allow_empty ? "a list of " : "a non-empty list of ") + items;
  if (!v.node.IsSequence()) {
    TypeError(v, expected);
    return std::nullopt;
  }
  if (v.node.size() == 0 && !allow_empty) {
    Error(v.location, v.subject + ": expected " + expected + "; got an empty list");
    return std::nullopt;
  }
  std::vector<Value> out;
  for (const YAML::Node& item : v.node) {
    SourceLocation location = Loc(item);
    if (item.IsNull() || location.line == 0) location = v.location;
    out.push_back({item, item_subject, location, location});
  }
  return out;
}

// ----------------------------------------------------------------------------- Scalars

std::optional<Scalar> Loader::ReadScalar(const Value& v, const std::string& expected, bool secret) {
  if (!v.node.IsScalar()) {
    TypeError(v, expected);  // describes maps and lists only by their kind
    return std::nullopt;
  }
  const std::string& raw = v.node.Scalar();
  Interpolated interpolated = Interpolate(raw, env_, secret);
  if (!interpolated.errors.empty()) {
    for (const std::string& error : interpolated.errors)
      Error(v.location, v.subject + ": " + error);
    return std::nullopt;
  }
  return Scalar{std::move(interpolated.text), raw, v.subject, v.location};
}

std::optional<std::string> Loader::ReadString(const Value& v) {
  auto s = ReadScalar(v, "a string");
  if (!s) return std::nullopt;
  if (s->text.empty()) {
    ValueError(*s, "expected a non-empty string; got ''");
    return std::nullopt;
  }
  return std::move(s->text);
}

std::optional<std::string> Loader::ReadName(const Value& v) {
  auto s = ReadScalar(v, "a name");
  if (!s) return std::nullopt;
  if (!IsName(s->text)) {
    ValueError(*s,
               "expected a name made of letters, digits, '_', '.' and '-'; got " + Quote(s->text));
    return std::nullopt;
  }
  return std::move(s->text);
}

std::optional<bool> Loader::ReadBool(const Value& v) {
  const auto s = ReadScalar(v, "true or false");
  if (!s) return std::nullopt;
  return Check(*s, ParseBool(s->text));
}

std::optional<std::chrono::milliseconds> Loader::ReadDuration(const Value& v, bool allow_zero) {
  const auto s = ReadScalar(v, "a duration like 500ms, 10s, 5m");
  if (!s) return std::nullopt;
  const auto duration = Check(*s, ParseDuration(s->text));
  if (duration && !allow_zero && duration->count() == 0) {
    ValueError(*s, "expected a duration greater than 0; got " + Quote(s->text));
    return std::nullopt;
  }
  return duration;
}

std::optional<FieldPath> Loader::ReadFieldPath(const Value& v) {
  const auto s = ReadScalar(v, "a field path like 'user.id'");
  if (!s) return std::nullopt;
  return Check(*s, ParseFieldPath(s->text));
}

std::optional<int64_t> Loader::ReadIntegerIn(const Value& v, int64_t min, int64_t max,
                                             const std::string& what) {
  const auto s = ReadScalar(v, "an integer");
  if (!s) return std::nullopt;
  const auto n = Check(*s, ParseInteger(s->text));
  if (!n) return std::nullopt;
  if (*n < min || *n > max) {
    ValueError(*s, "expected " + what + " from " + std::to_string(min) + " to " +
                       std::to_string(max) + "; got " + Quote(s->text));
    return std::nullopt;
  }
  return n;
}

template <typename T>
std::optional<T> Loader::ReadEnum(const Value& v, const std::vector<EnumOption<T>>& options,
                                  const std::vector<std::string>& not_supported_yet) {
  std::vector<std::string> names;
  for (const auto& option : options) names.push_back(option.name);
  const auto s = ReadScalar(v, "one of " + JoinNames(names));
  if (!s) return std::nullopt;
  for (const auto& option : options) {
    if (option.name == s->text) return option.value;
  }
  std::string message;
  if (std::find(not_supported_yet.begin(), not_supported_yet.end(), s->text) !=
      not_supported_yet.end()) {
    message = Quote(s->text) + " is not supported yet; supported: " + JoinNames(names);
  } else {
    message = "expected one of " + JoinNames(names) + "; got " + Quote(s->text);
    if (const auto suggestion = Suggest(s->text, names)) {
      message += "; did you mean " + Quote(*suggestion) + "?";
    }
  }
  ValueError(*s, message);
  return std::nullopt;
}

// ----------------------------------------------------------------------------- Schema

void Loader::ParseKafka(const Value& v, KafkaConfig& out) {
  const auto map = ReadMap(v, "kafka", nullptr, "a map of librdkafka properties");
  if (!map) return;
  for (const std::string& required : kRequiredKafkaProperties) Require(*map, required);
  for (const auto& [name, value] : map->entries) {
    const auto s = ReadScalar(value, "a string, number or boolean (librdkafka property value)",
                              IsSecretKafkaProperty(name));
    if (!s) continue;
    const bool required =
        std::find(kRequiredKafkaProperties.begin(), kRequiredKafkaProperties.end(), name) !=
        kRequiredKafkaProperties.end();
    if (required && s->text.empty()) {
      ValueError(*s, "expected a non-empty string; got ''");
      continue;
    }
    out.properties.push_back({name, s->text, value.key_location});
  }
}

void Loader::ParseState(const Value& v, StateConfig& out) {
  const auto map = ReadMap(v, "state", &kStateKeys);
  if (!map) return;
  if (const Value* dir = Require(*map, "dir")) {
    if (auto s = ReadString(*dir)) out.dir = std::move(*s);
  }
  if (const Value* interval = map->Find("commit_interval")) {
    if (const auto d = ReadDuration(*interval, /*allow_zero=*/false)) out.commit_interval = *d;
  }
  if (const Value* eager = map->Find("commit_when_caught_up")) {
    if (const auto b = ReadBool(*eager)) out.commit_when_caught_up = *b;
  }
  if (const Value* sync = map->Find("sync_writes")) {
    if (const auto b = ReadBool(*sync)) out.sync_writes = *b;
  }
}

void Loader::ParseHttp(const Value& v, HttpConfig& out) {
  const auto map = ReadMap(v, "http", &kHttpKeys);
  if (!map) return;
  if (const Value* listen = map->Find("listen")) {
    if (const auto s = ReadScalar(*listen, "host:port")) {
      if (auto address = Check(*s, ParseListenAddress(s->text))) {
        out.listen_address = std::move(address->host);
        out.listen_port = address->port;
      }
    }
  }
  if (const Value* threads = map->Find("io_threads")) {
    const std::string expected =
        "a number of threads from 1 to " + std::to_string(kMaxIoThreads) + " or 'auto'";
    if (const auto s = ReadScalar(*threads, expected)) {
      if (s->text == "auto") {
        out.io_threads = 0;
      } else {
        const Result<int64_t> n = ParseInteger(s->text);
        if (!n.ok() || *n < 1 || *n > kMaxIoThreads) {
          ValueError(*s, "expected " + expected + "; got " + Quote(s->text));
        } else {
          out.io_threads = static_cast<int>(*n);
        }
      }
    }
  }
  if (const Value* auth = map->Find("auth")) {
    if (const auto auth_map =
            ReadMap(*auth, "auth", &kHttpAuthKeys, "a map like {tokens_env: EDDY_API_TOKENS}")) {
      out.auth.location = auth->location;
      if (const Value* env = auth_map->Find("tokens_env")) {
        if (auto name = ReadString(*env)) out.auth.tokens_env = std::move(*name);
      }
      if (const Value* file = auth_map->Find("tokens_file")) {
        if (auto path = ReadString(*file)) out.auth.tokens_file = std::move(*path);
      }
      if (const Value* protect = auth_map->Find("protect")) {
        if (const auto items = ReadList(*protect, "auth protect item",
                                        "endpoints: healthz, readyz, metrics", true)) {
          static const std::vector<EnumOption<std::string>> kEndpoints = {
              {"healthz", "healthz"}, {"readyz", "readyz"}, {"metrics", "metrics"}};
          for (const Value& item : *items) {
            if (auto endpoint = ReadEnum(item, kEndpoints)) {
              out.auth.protect.push_back(std::move(*endpoint));
            }
          }
        }
      }
      if (!out.auth.enabled()) {
        Error(auth->location, "http auth: set tokens_env or tokens_file (where the tokens are)");
      }
    }
  }
  if (const Value* limit = map->Find("rate_limit")) {
    if (const auto limit_map = ReadMap(*limit, "rate_limit", &kRateLimitKeys,
                                       "a map like {requests_per_second: 100, burst: 200}")) {
      const Value* rate = Require(*limit_map, "requests_per_second");
      if (rate != nullptr) {
        if (const auto n = ReadIntegerIn(*rate, 1, 1'000'000, "a number of requests per second")) {
          out.rate_limit.requests_per_second = static_cast<double>(*n);
        }
      }
      if (const Value* burst = limit_map->Find("burst")) {
        if (const auto n = ReadIntegerIn(*burst, 1, 10'000'000, "a number of requests")) {
          out.rate_limit.burst = static_cast<double>(*n);
        }
      }
    }
  }
  if (const Value* readiness = map->Find("readiness")) {
    if (const auto readiness_map = ReadMap(*readiness, "http readiness", &kReadinessKeys)) {
      if (const Value* lag = readiness_map->Find("max_lag_records")) {
        if (const auto n = ReadIntegerIn(*lag, 0, INT64_MAX, "a number of records")) {
          out.readiness.max_lag_records = *n;
        }
      }
    }
  }
}

void Loader::ParseLogging(const Value& v, LoggingConfig& out) {
  const auto map = ReadMap(v, "logging", &kLoggingKeys);
  if (!map) return;
  if (const Value* level = map->Find("level")) {
    static const std::vector<EnumOption<std::string>> kLevels = {
        {"trace", "trace"}, {"debug", "debug"},       {"info", "info"}, {"warn", "warn"},
        {"error", "error"}, {"critical", "critical"}, {"off", "off"}};
    if (auto l = ReadEnum(*level, kLevels)) out.level = std::move(*l);
  }
  if (const Value* format = map->Find("format")) {
    static const std::vector<EnumOption<LogFormat>> kFormats = {{"text", LogFormat::kText},
                                                                {"json", LogFormat::kJson}};
    if (const auto f = ReadEnum(*format, kFormats)) out.format = *f;
  }
}

void Loader::ParseProcessing(const Value& v, ProcessingConfig& out) {
  const auto map = ReadMap(v, "processing", &kProcessingKeys, "a map like {threads: auto}");
  if (!map) return;
  if (const Value* threads = map->Find("threads")) {
    const std::string expected =
        "an integer from 1 to " + std::to_string(ProcessingConfig::kMaxThreads) + " or 'auto'";
    if (const auto s = ReadScalar(*threads, expected)) {
      if (s->text == "auto") return;
      const Result<int64_t> n = ParseInteger(s->text);
      if (!n.ok() || *n < 1 || *n > ProcessingConfig::kMaxThreads) {
        ValueError(*s, "expected " + expected + "; got " + Quote(s->text));
      } else {
        out.threads = static_cast<int>(*n);
        out.threads_location = s->location;
      }
    }
  }
}

void Loader::CheckProcessing(const Config& config) {
  if (!config.processing.threads || *config.processing.threads == 1) return;
  if (config.delivery.guarantee == DeliveryGuarantee::kExactlyOnce) {
    Error(config.processing.threads_location,
          "processing threads: " + std::to_string(*config.processing.threads) +
              " workers cannot run with delivery.guarantee exactly_once yet: their crash "
              "recovery is not verified (docs/configuration.md#processing); use threads: 1 "
              "(or auto, which picks 1)");
    return;
  }
  const std::string join = FirstStreamTableJoin(config);
  if (join.empty()) return;
  Error(config.processing.threads_location,
        "processing threads: " + std::to_string(*config.processing.threads) +
            " workers cannot run stream–table join " + join +
            ": each worker reads only the table partitions Kafka assigns it, and the join "
            "looks up any key (docs/joins.md); use threads: 1 (or auto, which picks 1), or "
            "declare the join co_partitioned: true if its topics are");
}

void Loader::ParseDelivery(const Value& v, DeliveryConfig& out) {
  const auto map = ReadMap(v, "delivery", &kDeliveryKeys);
  if (!map) return;
  if (const Value* guarantee = map->Find("guarantee")) {
    static const std::vector<EnumOption<DeliveryGuarantee>> kGuarantees = {
        {"at_least_once", DeliveryGuarantee::kAtLeastOnce},
        {"exactly_once", DeliveryGuarantee::kExactlyOnce}};
    if (const auto g = ReadEnum(*guarantee, kGuarantees)) out.guarantee = *g;
  }
  if (const Value* id = map->Find("transactional_id")) {
    if (auto text = ReadString(*id)) out.transactional_id = std::move(*text);
  }
  if (const Value* attempts = map->Find("attempts")) {
    if (const auto n = ReadIntegerIn(*attempts, 1, 100, "a number of attempts")) {
      out.attempts = static_cast<int>(*n);
    }
  }
  const Value* backoff = map->Find("backoff");
  if (backoff != nullptr) {
    if (const auto d = ReadDuration(*backoff, /*allow_zero=*/false)) out.backoff = *d;
  }
  const Value* max_backoff = map->Find("max_backoff");
  if (max_backoff != nullptr) {
    if (const auto d = ReadDuration(*max_backoff, /*allow_zero=*/false)) out.max_backoff = *d;
  }
  if (out.max_backoff < out.backoff) {
    // Only one of them may have been written: point at the one that was.
    const Value* at = max_backoff != nullptr ? max_backoff : backoff;
    Error(at->location, "delivery: max_backoff (" + std::to_string(out.max_backoff.count()) +
                            " ms) must not be less than backoff (" +
                            std::to_string(out.backoff.count()) + " ms)");
  }
  if (const Value* breaker = map->Find("circuit_breaker")) {
    if (const auto breaker_map = ReadMap(*breaker, "circuit_breaker", &kCircuitBreakerKeys,
                                         "a map like {failures: 5, cooldown: 30s}")) {
      if (const Value* failures = breaker_map->Find("failures")) {
        if (const auto n = ReadIntegerIn(*failures, 1, 1'000'000, "a number of failures")) {
          out.breaker_failures = static_cast<int>(*n);
        }
      }
      if (const Value* cooldown = breaker_map->Find("cooldown")) {
        if (const auto d = ReadDuration(*cooldown, /*allow_zero=*/false)) {
          out.breaker_cooldown = *d;
        }
      }
    }
  }
}

void Loader::ParseDeadLetters(const Value& v, DeadLettersConfig& out) {
  const auto map = ReadMap(v, "dead_letters", &kDeadLettersKeys, "a map like {topic: name}");
  if (!map) return;
  out.location = map->location;
  if (const Value* topic = Require(*map, "topic")) {
    if (auto s = ReadString(*topic)) out.topic = std::move(*s);
  }
}

void Loader::ParseTopologies(const Value& v, std::vector<TopologyConfig>& out) {
  const auto items = ReadList(v, "topology", "topologies", /*allow_empty=*/false);
  if (!items) return;
  for (const Value& item : *items) {
    TopologyConfig topology;
    ParseTopology(item, topology);
    out.push_back(std::move(topology));
  }
}

void Loader::ParseTopology(const Value& v, TopologyConfig& out) {
  const auto map = ReadMap(v, "topology", &kTopologyKeys);
  if (!map) return;
  out.location = map->location;
  if (const Value* name = Require(*map, "name")) {
    if (auto s = ReadName(*name)) {
      const auto [first, inserted] = topology_names_.emplace(*s, name->location);
      if (!inserted) {
        Error(name->location, "duplicate topology name " + Quote(*s) + " (first at " +
                                  LineColumn(first->second) + ")");
      }
      out.name = std::move(*s);
    }
  }
  const Value* single_source = map->Find("source");
  const Value* sources = map->Find("sources");
  if (single_source != nullptr && sources != nullptr) {
    Error(sources->key_location,
          "topology: set either 'source' (one topic) or 'sources' (a list of named topics), not "
          "both");
  } else if (single_source != nullptr) {
    SourceConfig source;
    ParseSource(*single_source, /*named=*/false, source);
    out.sources.push_back(std::move(source));
  } else if (sources != nullptr) {
    if (const auto items = ReadList(*sources, "source", "sources", /*allow_empty=*/false)) {
      std::map<std::string, SourceLocation> source_names;
      std::map<std::string, SourceLocation> topics;
      for (const Value& item : *items) {
        SourceConfig source;
        ParseSource(item, /*named=*/true, source);
        if (!source.name.empty()) {
          if (const auto [first, inserted] = source_names.emplace(source.name, source.location);
              !inserted) {
            Error(source.location, "duplicate source name " + Quote(source.name) + " (first at " +
                                       LineColumn(first->second) + ")");
          }
        }
        if (!source.topic.empty()) {
          if (const auto [first, inserted] = topics.emplace(source.topic, source.location);
              !inserted) {
            Error(source.location, "topic " + Quote(source.topic) +
                                       " is already read by the source at " +
                                       LineColumn(first->second) +
                                       "; a topology reads each topic once (steps can share it)");
          }
        }
        out.sources.push_back(std::move(source));
      }
    }
  } else {
    Error(map->location, "topology: missing required key 'source' (or 'sources')");
  }

  // Views are checked against the step names only when every step has a usable name;
  // otherwise "unknown step" would be a second, misleading error about the same typo.
  bool all_steps_named = false;
  std::vector<SourceLocation> step_from_locations;  // line 0: no `from` given
  if (const Value* steps = Require(*map, "steps")) {
    if (const auto items = ReadList(*steps, "step", "steps", /*allow_empty=*/false)) {
      all_steps_named = true;
      std::map<std::string, SourceLocation> step_names;
      for (const Value& item : *items) {
        StepConfig step;
        const SourceLocation name_location = ParseStep(item, step);
        SourceLocation from_location;
        if (item.node.IsMap() && item.node["from"]) {
          const YAML::Mark mark = item.node["from"].Mark();
          from_location = {file_, mark.line + 1, mark.column + 1};
        }
        step_from_locations.push_back(from_location);
        const auto source_named =
            std::find_if(out.sources.begin(), out.sources.end(),
                         [&](const SourceConfig& source) { return source.name == step.name; });
        if (step.name.empty()) {
          all_steps_named = false;
        } else if (source_named != out.sources.end() && sources != nullptr) {
          Error(name_location, "step name " + Quote(step.name) +
                                   " is already the name of a source (" +
                                   LineColumn(source_named->location) +
                                   "); steps and sources share one namespace in 'from'");
        } else if (const auto [first, inserted] = step_names.emplace(step.name, name_location);
                   !inserted) {
          std::string where = out.name.empty() ? "" : " in topology " + Quote(out.name);
          Error(name_location, "duplicate step name " + Quote(step.name) + where + " (first at " +
                                   LineColumn(first->second) + ")");
        }
        out.steps.push_back(std::move(step));
      }
    }
  }

  if (const Value* views = map->Find("views")) {
    if (const auto items = ReadList(*views, "view", "views", /*allow_empty=*/true)) {
      for (const Value& item : *items) {
        ViewConfig view;
        ParseView(item, out, all_steps_named, view);
        out.views.push_back(std::move(view));
      }
    }
  }
  if (const Value* sinks = map->Find("sinks")) {
    if (const auto items = ReadList(*sinks, "sink", "sinks", /*allow_empty=*/true)) {
      std::map<std::string, SourceLocation> sink_names;
      for (const Value& item : *items) {
        SinkConfig sink;
        ParseSink(item, out, all_steps_named, sink, sink_names);
        out.sinks.push_back(std::move(sink));
      }
    }
  }
  if (const Value* dead_letters = map->Find("dead_letters")) {
    ParseDeadLetters(*dead_letters, out.dead_letters);
    for (const SourceConfig& source : out.sources) {
      if (!out.dead_letters.topic.empty() && source.topic == out.dead_letters.topic) {
        Error(dead_letters->location, "dead_letters: topic " + Quote(source.topic) +
                                          " is a source of this topology; its dead letters "
                                          "would come back as input");
      }
    }
  }
  if (all_steps_named && step_from_locations.size() == out.steps.size()) {
    ResolveStepInputs(step_from_locations, out);
  }
}

void Loader::ParseSource(const Value& v, bool named, SourceConfig& out) {
  const auto map = ReadMap(v, "source", &kSourceKeys);
  if (!map) return;
  out.location = map->location;
  if (!named) {
    out.name = "source";
    if (const Value* name = map->Find("name")) {
      Error(name->key_location,
            "source: 'name' applies only to the items of 'sources:'; a single 'source:' is "
            "called 'source'");
    }
  } else if (const Value* name = Require(*map, "name")) {
    if (auto s = ReadName(*name)) {
      if (*s == "source") {
        Error(name->location,
              "source name: 'source' is reserved for the single-source form; pick another name");
      }
      out.name = std::move(*s);
    }
  }
  if (const Value* topic = Require(*map, "topic")) {
    if (auto s = ReadString(*topic)) out.topic = std::move(*s);
  }
  if (const Value* format = map->Find("format")) {
    static const std::vector<EnumOption<ValueFormat>> kFormats = {{"json", ValueFormat::kJson}};
    if (const auto f = ReadEnum(*format, kFormats)) out.format = *f;
  }
  if (const Value* key = map->Find("key")) ParseKey(*key, out.key);
  if (const Value* timestamp = map->Find("timestamp")) ParseTimestamp(*timestamp, out.timestamp);
  if (const Value* idle = map->Find("idle_timeout")) {
    if (const auto d = ReadDuration(*idle, /*allow_zero=*/false)) out.idle_timeout = *d;
  }
  if (const Value* max_bytes = map->Find("max_value_bytes")) {
    if (const auto n = ReadIntegerIn(*max_bytes, 1, INT64_MAX, "a number of bytes")) {
      out.max_value_bytes = *n;
    }
  }
}

void Loader::ParseKey(const Value& v, KeySpec& out) {
  const auto map =
      ReadMap(v, "source key", &kKeyKeys, "a map like {field: user.id} or {kafka_key: true}");
  if (!map) return;
  const Value* field = map->Find("field");
  const Value* kafka_key = map->Find("kafka_key");
  if (field != nullptr && kafka_key != nullptr) {
    Error(map->location, "source key: set either 'field' or 'kafka_key: true', not both");
    return;
  }
  if (field == nullptr && kafka_key == nullptr) {
    Error(map->location, "source key: expected 'field: <path>' or 'kafka_key: true'");
    return;
  }
  if (kafka_key != nullptr) {
    if (const auto b = ReadBool(*kafka_key); b && !*b) {
      Error(kafka_key->location,
            "source key kafka_key: can only be true; to key records by a field, use "
            "'field: <path>' instead");
    }
    out.kind = KeySpec::Kind::kKafkaKey;
    return;
  }
  if (auto path = ReadFieldPath(*field)) {
    out.kind = KeySpec::Kind::kField;
    out.field_path = std::move(path->segments);
    out.field_path_text = std::move(path->text);
  }
}

void Loader::ParseTimestamp(const Value& v, TimestampSpec& out) {
  const auto map = ReadMap(v, "source timestamp", &kTimestampKeys,
                           "a map like {field: ts, format: rfc3339} or {record_timestamp: true}");
  if (!map) return;
  const Value* field = map->Find("field");
  const Value* format = map->Find("format");
  const Value* record = map->Find("record_timestamp");
  if (field != nullptr && record != nullptr) {
    Error(map->location,
          "source timestamp: set either 'field' or 'record_timestamp: true', not both");
    return;
  }
  if (field == nullptr && record == nullptr) {
    Error(map->location, "source timestamp: expected 'field: <path>' or 'record_timestamp: true'");
    return;
  }
  if (record != nullptr) {
    if (const auto b = ReadBool(*record); b && !*b) {
      Error(record->location,
            "source timestamp record_timestamp: can only be true; to read the event time from "
            "a field, use 'field: <path>' instead");
    }
    if (format != nullptr) {
      Error(format->key_location,
            "source timestamp: 'format' applies only with 'field'; a record timestamp needs no "
            "format");
    }
    out.kind = TimestampSpec::Kind::kRecordTimestamp;
    return;
  }
  if (auto path = ReadFieldPath(*field)) {
    out.kind = TimestampSpec::Kind::kField;
    out.field_path = std::move(path->segments);
    out.field_path_text = std::move(path->text);
  }
  if (format != nullptr) {
    static const std::vector<EnumOption<TimestampSpec::Format>> kFormats = {
        {"epoch_ms", TimestampSpec::Format::kEpochMillis},
        {"epoch_s", TimestampSpec::Format::kEpochSeconds},
        {"rfc3339", TimestampSpec::Format::kRfc3339}};
    if (const auto f = ReadEnum(*format, kFormats)) out.format = *f;
  }
}

std::optional<ExpressionConfig> Loader::ReadExpression(const Value& v) {
  auto s = ReadScalar(v, "an expression");
  if (!s) return std::nullopt;
  std::variant<expr::Expression, expr::ParseError> parsed = expr::Expression::Parse(s->text);
  if (auto* error = std::get_if<expr::ParseError>(&parsed)) {
    // Point at the offending character: the scalar's column plus the error's column (plus
    // one for an opening quote). Exact for plain and simply quoted scalars.
    SourceLocation at = s->location;
    if (s->text == s->raw) at.column += error->column - 1 + (v.node.Tag() == "!" ? 1 : 0);
    Error(at, v.subject + ": " + error->message);
    return std::nullopt;
  }
  return ExpressionConfig{
      s->text, s->location,
      std::make_shared<const expr::Expression>(std::get<expr::Expression>(std::move(parsed)))};
}

SourceLocation Loader::ParseStep(const Value& v, StepConfig& out) {
  const auto map = ReadMap(v, "step", &kStepKeys);
  if (!map) return {};
  out.location = map->location;
  SourceLocation name_location;
  if (const Value* name = Require(*map, "name")) {
    name_location = name->location;
    if (auto s = ReadName(*name)) {
      if (*s == "source") {
        Error(name->location,
              "step name: 'source' is reserved (it names the topology's source in 'from')");
      }
      out.name = std::move(*s);
    }
  }
  if (const Value* from = map->Find("from")) {
    if (auto s = ReadString(*from)) out.from = std::move(*s);
  }

  // Exactly one of the kind keys says what the step does.
  static const std::vector<std::pair<std::string, StepConfig::Kind>> kKinds = {
      {"window", StepConfig::Kind::kWindow}, {"filter", StepConfig::Kind::kFilter},
      {"select", StepConfig::Kind::kSelect}, {"rekey", StepConfig::Kind::kRekey},
      {"dedup", StepConfig::Kind::kDedup},   {"table", StepConfig::Kind::kTable},
      {"join", StepConfig::Kind::kJoin}};
  std::vector<std::pair<std::string, const Value*>> given;
  for (const auto& [key, kind] : kKinds) {
    if (const Value* value = map->Find(key)) given.emplace_back(key, value);
  }
  // `aggregates` without `window`: aggregation per key over all time (a window of kind kNone).
  const bool unwindowed = given.empty() && map->Find("aggregates") != nullptr;
  if (given.empty() && !unwindowed) {
    Error(map->location,
          "step: expected one of 'window' (with 'aggregates'), 'aggregates' (without 'window': "
          "per key over all time), 'filter', 'select', 'rekey', 'dedup', 'table' or 'join' "
          "saying what the step does");
    return name_location;
  }
  if (given.size() > 1) {
    Error(given[1].second->key_location, "step: '" + given[0].first + "' and '" + given[1].first +
                                             "' cannot be combined; make them two steps");
    return name_location;
  }
  const std::string kind_key = unwindowed ? "aggregates" : given[0].first;
  const Value& kind_value = unwindowed ? *map->Find("aggregates") : *given[0].second;
  for (const auto& [key, kind] : kKinds) {
    if (key == kind_key) out.kind = kind;
  }
  if (unwindowed) out.kind = StepConfig::Kind::kWindow;
  if (out.kind != StepConfig::Kind::kWindow) {
    for (const char* window_only : {"aggregates", "emit", "late_records"}) {
      if (const Value* extra = map->Find(window_only)) {
        Error(extra->key_location, std::string("step: '") + window_only +
                                       "' applies only to window steps; this is a '" + kind_key +
                                       "' step");
      }
    }
  }
  switch (out.kind) {
    case StepConfig::Kind::kFilter:
      if (auto e = ReadExpression(kind_value)) {
        if (!e->parsed->MayYield(expr::Value::Type::kBool)) {
          Error(e->location,
                "step filter: the expression never yields true or false; got '" + e->text + "'");
        }
        out.expression = std::move(*e);
      }
      return name_location;
    case StepConfig::Kind::kRekey:
      if (auto e = ReadExpression(kind_value)) out.expression = std::move(*e);
      return name_location;
    case StepConfig::Kind::kSelect:
      if (const auto fields = ReadMap(kind_value, "select", nullptr)) {
        for (const auto& [field_name, field_value] : fields->entries) {
          if (!IsIdentifier(field_name)) {
            Error(
                field_value.key_location,
                "select: field name " + Quote(field_name) +
                    " must be an identifier (letters, digits and '_', not starting with a digit)");
            continue;
          }
          Value with_subject = field_value;
          with_subject.subject = "select " + field_name;
          if (auto e = ReadExpression(with_subject))
            out.select.push_back({field_name, std::move(*e)});
        }
        if (fields->entries.empty()) {
          Error(kind_value.location, "step select: expected at least one field: name: expression");
        }
      }
      return name_location;
    case StepConfig::Kind::kDedup:
      ParseDedup(kind_value, out.dedup);
      return name_location;
    case StepConfig::Kind::kJoin:
      ParseJoin(kind_value, out.join);
      return name_location;
    case StepConfig::Kind::kTable:
      if (const auto table = ReadMap(kind_value, "table", &kTableKeys)) {
        if (const Value* when = table->Find("delete_when")) {
          if (auto e = ReadExpression(*when)) out.table_delete_when = std::move(*e);
        }
        if (const Value* cache = table->Find("cache_mib")) {
          if (const auto n = ReadIntegerIn(*cache, 0, 1 << 20, "a number of MiB")) {
            out.table_cache_mib = *n;
          }
        }
      }
      return name_location;
    case StepConfig::Kind::kWindow:
      break;
  }
  if (unwindowed) {
    out.window = WindowConfig{};
    out.window.kind = WindowConfig::Kind::kNone;
  } else {
    ParseWindow(kind_value, out.window);
  }
  if (const Value* emit = map->Find("emit")) {
    static const std::vector<EnumOption<EmitMode>> kModes = {{"update", EmitMode::kOnUpdate},
                                                             {"final", EmitMode::kFinal}};
    if (const auto mode = ReadEnum(*emit, kModes)) {
      if (unwindowed && *mode == EmitMode::kFinal) {
        Error(emit->location,
              "step emit: 'final' needs a window; a step without 'window' aggregates over all "
              "time and its results never close (use 'update', or add a window)");
      } else {
        out.emit = *mode;
      }
    }
  }
  if (const Value* late = map->Find("late_records")) {
    if (unwindowed) {
      Error(late->key_location,
            "step: 'late_records' needs a window; a step without 'window' aggregates over all "
            "time, so no record is ever late");
    } else if (const auto late_map =
                   ReadMap(*late, "late_records", &kLateRecordsKeys, "a map like {topic: name}")) {
      if (const Value* topic = Require(*late_map, "topic")) {
        if (auto s = ReadString(*topic)) out.late_records_topic = std::move(*s);
      }
    }
  }
  if (const Value* aggregates = Require(*map, "aggregates")) {
    if (const auto items = ReadList(*aggregates, "aggregate", "aggregates", false)) {
      std::map<std::string, SourceLocation> names;
      for (const Value& item : *items) {
        AggregateConfig aggregate;
        const SourceLocation aggregate_name = ParseAggregate(item, aggregate);
        if (aggregate.name.empty()) {
          // Missing or invalid: already reported.
        } else if (const auto [first, inserted] = names.emplace(aggregate.name, aggregate_name);
                   !inserted) {
          std::string where = out.name.empty() ? "" : " in step " + Quote(out.name);
          Error(aggregate_name, "duplicate aggregate name " + Quote(aggregate.name) + where +
                                    " (first at " + LineColumn(first->second) + ")");
        }
        out.aggregates.push_back(std::move(aggregate));
      }
    }
  }
  return name_location;
}

void Loader::ResolveStepInputs(const std::vector<SourceLocation>& from_locations,
                               TopologyConfig& out) {
  auto kind_name = [](StepConfig::Kind kind) {
    switch (kind) {
      case StepConfig::Kind::kWindow:
        return "window";
      case StepConfig::Kind::kFilter:
        return "filter";
      case StepConfig::Kind::kSelect:
        return "select";
      case StepConfig::Kind::kRekey:
        return "rekey";
      case StepConfig::Kind::kDedup:
        return "dedup";
      case StepConfig::Kind::kTable:
        return "table";
      case StepConfig::Kind::kJoin:
        return "join";
    }
    return "?";
  };
  auto produces_records = [](StepConfig::Kind kind) {
    return kind != StepConfig::Kind::kWindow && kind != StepConfig::Kind::kTable;
  };
  auto is_source = [&](const std::string& name) {
    return std::any_of(out.sources.begin(), out.sources.end(),
                       [&](const SourceConfig& source) { return source.name == name; });
  };
  std::string source_names;
  std::set<std::string> listed;
  for (const SourceConfig& source : out.sources) {
    if (source.name.empty() || !listed.insert(source.name).second) continue;
    source_names += (source_names.empty() ? "'" : ", '") + source.name + "'";
  }
  // The sources whose records reach each step (a stream–stream join: through either side).
  std::vector<std::set<std::string>> upstream(out.steps.size());
  auto upstream_of = [&](const std::string& name, bool name_is_source,
                         size_t below) -> std::set<std::string> {
    if (name_is_source) return {name};
    for (size_t j = 0; j < below; ++j) {
      if (out.steps[j].name == name) return upstream[j];
    }
    return {};
  };
  for (size_t i = 0; i < out.steps.size(); ++i) {
    StepConfig& step = out.steps[i];
    const std::string what = step.name.empty() ? "step" : "step " + Quote(step.name);
    if (from_locations[i].line == 0) {
      // Default: the closest record-producing step above, else the only source.
      step.from.clear();
      for (size_t j = i; j-- > 0;) {
        if (produces_records(out.steps[j].kind)) {
          step.from = out.steps[j].name;
          break;
        }
      }
      if (step.from.empty()) {
        if (out.sources.size() == 1) {
          step.from = out.sources[0].name;
          step.from_source = true;
        } else if (!out.sources.empty()) {
          Error(step.location, what + ": say which input it reads with 'from' (one of " +
                                   source_names + " or a step above it)");
        }
      }
    } else if (is_source(step.from)) {
      step.from_source = true;
    } else {
      size_t j = 0;
      while (j < i && out.steps[j].name != step.from) ++j;
      if (j == i && step.from == step.name) {
        Error(from_locations[i], what + " reads from itself; a step reads from " + source_names +
                                     " or a step above it, so steps never form a cycle");
      } else if (j == i) {
        const bool later = std::any_of(out.steps.begin() + static_cast<long>(i), out.steps.end(),
                                       [&](const StepConfig& s) { return s.name == step.from; });
        Error(from_locations[i],
              what + " reads from " + Quote(step.from) +
                  (later ? ", which is defined below it; a step reads from " + source_names +
                               " or a step above it"
                         : ", which is neither a source nor a step of this topology; a step reads "
                           "from " +
                               source_names + " or a step above it"));
      } else if (!produces_records(out.steps[j].kind)) {
        Error(from_locations[i], what + " cannot read from " + Quote(step.from) + ": a " +
                                     kind_name(out.steps[j].kind) +
                                     " step's results go to views and sinks, not to other steps");
      }
    }
    upstream[i] = upstream_of(step.from, step.from_source, i);
    if (step.kind != StepConfig::Kind::kJoin || step.join.right.empty()) continue;
    // The right side of a join.
    JoinConfig& join = step.join;
    if (join.as.empty()) join.as = join.right;
    size_t j = 0;
    while (j < i && out.steps[j].name != join.right) ++j;
    const bool right_is_source = is_source(join.right);
    if (join.with == JoinConfig::With::kTable) {
      if (j == i) {
        Error(join.right_location,
              what + ": join table " + Quote(join.right) + " is not a table step defined above it");
      } else if (out.steps[j].kind != StepConfig::Kind::kTable) {
        Error(join.right_location, what + ": join table " + Quote(join.right) + " is a " +
                                       kind_name(out.steps[j].kind) +
                                       " step; a stream–table join reads a table step");
      } else if (!out.steps[j].from_source) {
        Error(join.right_location,
              what + ": join table " + Quote(join.right) +
                  " must read a source directly (a joined table is a changelog topic, loaded "
                  "before the stream is joined with it)");
      } else if (upstream[i].count(out.steps[j].from) > 0) {
        Error(join.right_location, what + ": join table " + Quote(join.right) +
                                       " reads the same source as the stream it is joined with");
      }
      if (join.co_partitioned) {
        // A re-keyed record looks up a key whose row may live in another partition.
        std::string input = step.from;
        bool input_is_source = step.from_source;
        for (size_t guard = 0; !input_is_source && guard <= i; ++guard) {
          size_t k = 0;
          while (k < i && out.steps[k].name != input) ++k;
          if (k == i) break;
          if (out.steps[k].kind == StepConfig::Kind::kRekey) {
            Error(join.co_partitioned_location,
                  what + ": a co_partitioned join cannot follow rekey step " +
                      Quote(out.steps[k].name) +
                      ": re-keyed records are not in their new key's partition (repartition "
                      "the topic by the join key, or drop co_partitioned)");
            break;
          }
          input = out.steps[k].from;
          input_is_source = out.steps[k].from_source;
        }
      }
      continue;
    }
    if (right_is_source) {
      // Fine: a source.
    } else if (j == i) {
      Error(join.right_location, what + ": join stream " + Quote(join.right) +
                                     " is neither a source nor a step defined above it");
      continue;
    } else if (!produces_records(out.steps[j].kind)) {
      Error(join.right_location, what + ": join stream " + Quote(join.right) + " is a " +
                                     kind_name(out.steps[j].kind) +
                                     " step; a stream–stream join reads records");
      continue;
    }
    // A record must reach a join on one side only (it would otherwise meet itself, and be
    // prepared twice in one pass).
    const std::set<std::string> right_sources = upstream_of(join.right, right_is_source, i);
    for (const std::string& source : upstream[i]) {
      if (right_sources.count(source) == 0) continue;
      Error(join.right_location, what + ": join stream " + Quote(join.right) +
                                     " and the step's input " + Quote(step.from) +
                                     " both carry records of source " + Quote(source) +
                                     "; a stream–stream join joins records of different sources");
      break;
    }
    upstream[i].insert(right_sources.begin(), right_sources.end());
  }
  // Views read any step; sinks read window steps and record-producing steps.
  for (const SinkConfig& sink : out.sinks) {
    for (const StepConfig& step : out.steps) {
      if (step.name != sink.from) continue;
      if (step.kind == StepConfig::Kind::kTable) {
        Error(sink.location, "sink " + Quote(sink.name) + " reads from " + Quote(step.name) +
                                 ", a table step; sinks read window steps and steps that "
                                 "output records");
      } else if (step.kind != StepConfig::Kind::kWindow && sink.value_location.line != 0) {
        Error(sink.value_location,
              "sink " + Quote(sink.name) + ": 'value' shapes window results; the records of " +
                  kind_name(step.kind) + " step " + Quote(step.name) + " are sent as they are");
      }
    }
  }
}

void Loader::ParseJoin(const Value& v, JoinConfig& out) {
  const auto map = ReadMap(v, "join", &kJoinKeys);
  if (!map) return;
  const Value* table = map->Find("table");
  const Value* stream = map->Find("stream");
  if ((table != nullptr) == (stream != nullptr)) {
    Error(map->location,
          "join: expected exactly one of 'table: <table step>' (stream–table join) or "
          "'stream: <source or step>' (stream–stream join)");
    return;
  }
  out.with = table != nullptr ? JoinConfig::With::kTable : JoinConfig::With::kStream;
  const Value& right = table != nullptr ? *table : *stream;
  out.right_location = right.location;
  if (auto s = ReadString(right)) out.right = std::move(*s);
  if (const Value* type = map->Find("type")) {
    static const std::vector<EnumOption<JoinConfig::Type>> kTypes = {
        {"inner", JoinConfig::Type::kInner},
        {"left", JoinConfig::Type::kLeft},
        {"outer", JoinConfig::Type::kOuter}};
    if (const auto t = ReadEnum(*type, kTypes)) {
      out.type = *t;
      if (*t == JoinConfig::Type::kOuter && table != nullptr) {
        Error(type->location,
              "join type: a stream–table join is 'inner' or 'left' (a table emits no records of "
              "its own to outer-join)");
      }
    }
  }
  if (const Value* as = map->Find("as")) {
    if (auto s = ReadString(*as)) {
      if (!IsIdentifier(*s)) {
        Error(as->location, "join as: " + Quote(*s) +
                                " must be an identifier (letters, digits and '_', not starting "
                                "with a digit)");
      }
      out.as = std::move(*s);
    }
  }
  if (const Value* co_partitioned = map->Find("co_partitioned")) {
    if (table == nullptr) {
      Error(co_partitioned->key_location,
            "join: 'co_partitioned' applies only to stream–table joins ('table:'); a "
            "stream–stream join always needs co-partitioned topics");
    } else if (const auto b = ReadBool(*co_partitioned)) {
      out.co_partitioned = *b;
      out.co_partitioned_location = co_partitioned->location;
    }
  }
  if (table != nullptr) {
    for (const char* stream_only : {"within", "grace", "cache_mib"}) {
      if (const Value* extra = map->Find(stream_only)) {
        Error(extra->key_location,
              std::string("join: '") + stream_only +
                  "' applies only to stream–stream joins ('stream:')" +
                  (std::string_view(stream_only) == "cache_mib"
                       ? "; a stream–table join's rows are cached by its table step "
                         "(table: {cache_mib: ...})"
                       : ""));
      }
    }
    return;
  }
  if (const Value* cache = map->Find("cache_mib")) {
    if (const auto n = ReadIntegerIn(*cache, 0, 1 << 20, "a number of MiB")) {
      out.cache_bytes = *n << 20;
    }
  }
  if (const Value* within = Require(*map, "within")) {
    if (const auto d = ReadDuration(*within, /*allow_zero=*/false)) out.within = *d;
  }
  if (const Value* grace = map->Find("grace")) {
    if (const auto d = ReadDuration(*grace, /*allow_zero=*/true)) out.grace = *d;
  }
}

void Loader::ParseDedup(const Value& v, DedupConfig& out) {
  const auto map = ReadMap(v, "dedup", &kDedupKeys);
  if (!map) return;
  const Value* field = map->Find("field");
  const Value* kafka_key = map->Find("kafka_key");
  const Value* header = map->Find("header");
  const int forms = (field != nullptr) + (kafka_key != nullptr) + (header != nullptr);
  if (forms != 1) {
    Error(map->location,
          "dedup: expected exactly one id: 'field: <path>', 'kafka_key: true' or 'header: <name>'");
  } else if (field != nullptr) {
    if (auto path = ReadFieldPath(*field)) {
      out.id_source = DedupConfig::IdSource::kField;
      out.field_path = std::move(path->segments);
      out.field_path_text = std::move(path->text);
    }
  } else if (kafka_key != nullptr) {
    if (const auto b = ReadBool(*kafka_key); b && !*b) {
      Error(kafka_key->location, "dedup kafka_key: can only be true");
    }
    out.id_source = DedupConfig::IdSource::kKafkaKey;
  } else if (auto name = ReadString(*header)) {
    out.id_source = DedupConfig::IdSource::kHeader;
    out.header = std::move(*name);
  }
  if (const Value* ttl = Require(*map, "ttl")) {
    if (const auto d = ReadDuration(*ttl, /*allow_zero=*/false)) out.ttl = *d;
  }
}

void Loader::ParseWindow(const Value& v, WindowConfig& out) {
  const auto map = ReadMap(v, "window", &kWindowKeys);
  if (!map) return;
  std::optional<WindowConfig::Kind> kind;
  if (const Value* type = Require(*map, "type")) {
    static const std::vector<EnumOption<WindowConfig::Kind>> kKinds = {
        {"tumbling", WindowConfig::Kind::kTumbling},
        {"hopping", WindowConfig::Kind::kHopping},
        {"session", WindowConfig::Kind::kSession}};
    kind = ReadEnum(*type, kKinds, {"sliding"});
    if (kind) out.kind = *kind;
  }
  const Value* size = map->Find("size");
  const Value* advance = map->Find("advance");
  const Value* gap = map->Find("gap");
  // How long a window lasts before grace: size, or a session's gap. Checked against retention.
  std::chrono::milliseconds span{0};
  bool span_ok = false;
  if (kind == WindowConfig::Kind::kSession) {
    for (const auto& [name, fixed] : {std::pair{"size", size}, std::pair{"advance", advance}}) {
      if (fixed != nullptr) {
        Error(fixed->key_location,
              std::string("window: '") + name +
                  "' does not apply to session windows; a session lasts while its key's records "
                  "arrive within 'gap' of each other");
      }
    }
    if (gap == nullptr) {
      Error(map->location,
            "missing required key 'gap' in window (a session ends after 'gap' of event time "
            "without a record of its key)");
    } else if (const auto d = ReadDuration(*gap, /*allow_zero=*/false)) {
      out.gap = *d;
      span = *d;
      span_ok = true;
    }
  } else {
    if (gap != nullptr && kind.has_value()) {
      Error(gap->key_location,
            "window: 'gap' applies only to session windows; tumbling and hopping windows have a "
            "'size'");
    }
    if (size == nullptr) {
      Error(map->location, "missing required key 'size' in window");
    } else if (const auto d = ReadDuration(*size, /*allow_zero=*/false)) {
      out.size = *d;
      span = *d;
      span_ok = true;
    }
    if (kind == WindowConfig::Kind::kHopping) {
      if (advance == nullptr) {
        Error(map->location,
              "missing required key 'advance' in window (a hopping window starts every "
              "'advance' and lasts 'size')");
      } else if (const auto d = ReadDuration(*advance, /*allow_zero=*/false)) {
        out.advance = *d;
        if (span_ok && *d > out.size) {
          Error(advance->location, "window advance: must not exceed the window size (" +
                                       std::to_string(out.size.count()) + "ms); got " +
                                       std::to_string(d->count()) + "ms");
        }
      }
    } else if (advance != nullptr && kind == WindowConfig::Kind::kTumbling) {
      Error(advance->key_location,
            "window: 'advance' applies only to hopping windows; a tumbling window advances by "
            "its size");
    }
    if (kind == WindowConfig::Kind::kTumbling) out.advance = out.size;
  }
  if (const Value* grace = map->Find("grace")) {
    if (const auto d = ReadDuration(*grace, /*allow_zero=*/true)) out.grace = *d;
  }
  // Default: closed windows stay queryable for a day after they close.
  out.retention = span + out.grace + std::chrono::hours(24);
  if (const Value* retention = map->Find("retention")) {
    if (const auto d = ReadDuration(*retention, /*allow_zero=*/false)) {
      out.retention = *d;
      const bool session = kind == WindowConfig::Kind::kSession;
      if (span_ok && *d < span + out.grace) {
        Error(retention->location, std::string("window retention: must be at least ") +
                                       (session ? "gap + grace (" : "size + grace (") +
                                       std::to_string((span + out.grace).count()) + "ms), or " +
                                       (session ? "sessions" : "windows") +
                                       " would be purged before they close; got " +
                                       std::to_string(d->count()) + "ms");
      }
    }
  }
}

SourceLocation Loader::ParseAggregate(const Value& v, AggregateConfig& out) {
  const auto map = ReadMap(v, "aggregate", &kAggregateKeys);
  if (!map) return {};
  out.location = map->location;
  SourceLocation name_location;
  if (const Value* name = Require(*map, "name")) {
    name_location = name->location;
    if (const auto s = ReadScalar(*name, "an identifier")) {
      if (IsIdentifier(s->text)) {
        out.name = s->text;
      } else {
        ValueError(*s,
                   "expected an identifier (letters, digits and '_', not starting with a "
                   "digit); got " +
                       Quote(s->text));
      }
    }
  }
  // Name and what it does with its field (for "missing 'field'" errors), in documentation order.
  struct FunctionInfo {
    EnumOption<AggregateFunction> option;
    const char* what;
  };
  static const std::vector<FunctionInfo> kFunctions = {
      {{"count", AggregateFunction::kCount}, "counts records"},
      {{"sum", AggregateFunction::kSum}, "adds up a numeric field"},
      {{"min", AggregateFunction::kMin}, "takes the smallest value of a numeric field"},
      {{"max", AggregateFunction::kMax}, "takes the largest value of a numeric field"},
      {{"avg", AggregateFunction::kAvg}, "averages a numeric field"},
      {{"count_distinct", AggregateFunction::kCountDistinct},
       "counts the distinct values of a field"},
      {{"first", AggregateFunction::kFirst}, "keeps a field of the earliest record"},
      {{"last", AggregateFunction::kLast}, "keeps a field of the last record in event time"},
      {{"latest", AggregateFunction::kLatest},
       "keeps a field of the most recently processed record"},
  };
  const FunctionInfo* function = nullptr;
  if (const Value* f = Require(*map, "function")) {
    static const std::vector<EnumOption<AggregateFunction>> kOptions = [] {
      std::vector<EnumOption<AggregateFunction>> options;
      for (const FunctionInfo& info : kFunctions) options.push_back(info.option);
      return options;
    }();
    if (const auto value = ReadEnum(*f, kOptions)) {
      out.function = *value;
      for (const FunctionInfo& info : kFunctions) {
        if (info.option.value == *value) function = &info;
      }
    }
  }
  const Value* field = map->Find("field");
  if (function != nullptr && function->option.value == AggregateFunction::kCount &&
      field != nullptr) {
    Error(field->key_location,
          "aggregate: 'field' is not allowed with function 'count', which counts records; "
          "remove it (or use 'sum' to add up a field)");
  } else if (function != nullptr && function->option.value != AggregateFunction::kCount &&
             field == nullptr) {
    Error(map->location, "missing required key 'field' in aggregate (function " +
                             Quote(function->option.name) + " " + function->what + ")");
  } else if (field != nullptr) {
    if (auto path = ReadFieldPath(*field)) {
      out.field_path = std::move(path->segments);
      out.field_path_text = std::move(path->text);
    }
  }
  if (const Value* mode = map->Find("mode")) {
    if (function != nullptr && function->option.value == AggregateFunction::kCountDistinct) {
      static const std::vector<EnumOption<DistinctMode>> kModes = {
          {"exact", DistinctMode::kExact}, {"approximate", DistinctMode::kApproximate}};
      if (const auto m = ReadEnum(*mode, kModes)) out.distinct_mode = *m;
    } else if (function != nullptr) {
      Error(mode->key_location, "aggregate: 'mode' applies only to function 'count_distinct'; " +
                                    Quote(function->option.name) + " has no modes");
    }
  }
  return name_location;
}

void Loader::ParseView(const Value& v, const TopologyConfig& topology, bool check_from,
                       ViewConfig& out) {
  const auto map = ReadMap(v, "view", &kViewKeys);
  if (!map) return;
  out.location = map->location;
  if (const Value* name = Require(*map, "name")) {
    if (auto s = ReadName(*name)) {
      const auto [first, inserted] =
          view_names_.emplace(*s, ViewOwner{topology.name, name->location});
      if (!inserted) {
        const std::string owner =
            first->second.topology.empty() ? "" : " in topology " + Quote(first->second.topology);
        Error(name->location, "duplicate view name " + Quote(*s) + ": already defined" + owner +
                                  " at " + LineColumn(first->second.location) +
                                  " (view names are global: /v1/views/{name})");
      }
      out.name = std::move(*s);
    }
  }
  if (const Value* from = Require(*map, "from")) {
    if (auto s = ReadString(*from)) {
      out.from = std::move(*s);
      if (check_from) {
        CheckFromStep(*from, topology, out.name.empty() ? "view" : "view " + Quote(out.name),
                      out.from);
      }
    }
  }
}

void Loader::CheckFromStep(const Value& from, const TopologyConfig& topology,
                           const std::string& what, const std::string& step_name) {
  const bool known = std::any_of(topology.steps.begin(), topology.steps.end(),
                                 [&](const StepConfig& step) { return step.name == step_name; });
  if (known) return;
  std::vector<std::string> steps;
  for (const StepConfig& step : topology.steps) {
    if (std::find(steps.begin(), steps.end(), step.name) == steps.end()) steps.push_back(step.name);
  }
  const std::string in_topology =
      topology.name.empty() ? "this topology" : "topology " + Quote(topology.name);
  Error(from.location, what + " reads from unknown step " + Quote(step_name) + "; steps in " +
                           in_topology + ": " + JoinNames(steps));
}

void Loader::ParseSink(const Value& v, const TopologyConfig& topology, bool check_from,
                       SinkConfig& out, std::map<std::string, SourceLocation>& names) {
  const auto map = ReadMap(v, "sink", &kSinkKeys);
  if (!map) return;
  out.location = map->location;
  if (const Value* name = Require(*map, "name")) {
    if (auto s = ReadName(*name)) {
      const auto [first, inserted] = names.emplace(*s, name->location);
      if (!inserted) {
        Error(name->location,
              "duplicate sink name " + Quote(*s) + " (first at " + LineColumn(first->second) + ")");
      }
      out.name = std::move(*s);
    }
  }
  if (const Value* from = Require(*map, "from")) {
    if (auto s = ReadString(*from)) {
      out.from = std::move(*s);
      if (check_from) {
        CheckFromStep(*from, topology, out.name.empty() ? "sink" : "sink " + Quote(out.name),
                      out.from);
      }
    }
  }
  if (const Value* topic = Require(*map, "topic")) {
    if (auto s = ReadString(*topic)) out.topic = std::move(*s);
  }
  if (const Value* value = map->Find("value")) {
    static const std::vector<EnumOption<SinkConfig::ValueShape>> kShapes = {
        {"nested", SinkConfig::ValueShape::kNested}, {"flat", SinkConfig::ValueShape::kFlat}};
    out.value_location = value->location;
    if (const auto shape = ReadEnum(*value, kShapes)) out.value = *shape;
  }
}

}  // namespace

LoadResult LoadString(const std::string& yaml_text, const std::string& file_name,
                      const EnvLookup& env) {
  return Loader(file_name, env).Load(yaml_text);
}

LoadResult LoadFile(const std::string& path, const EnvLookup& env) {
  auto file_error = [&path](int error) {
    LoadResult result;
    result.errors.push_back(
        {{path, 0, 0}, "cannot read config file: " + std::generic_category().message(error)});
    return result;
  };
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) return file_error(errno);
  std::string text;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) return file_error(errno);
  return LoadString(text, path, env);
}

}  // namespace eddy::config
