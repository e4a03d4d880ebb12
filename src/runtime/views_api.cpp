#include "runtime/views_api.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "codec/json_record.h"
#include "common/json_writer.h"
#include "state/key_encoding.h"

namespace eddy::runtime {
namespace {

const char* StepKindName(config::StepConfig::Kind kind) {
  using Kind = config::StepConfig::Kind;
  switch (kind) {
    case Kind::kWindow:
      return "window";
    case Kind::kFilter:
      return "filter";
    case Kind::kSelect:
      return "select";
    case Kind::kRekey:
      return "rekey";
    case Kind::kDedup:
      return "dedup";
    case Kind::kTable:
      return "table";
    case Kind::kJoin:
      return "join";
  }
  return "unknown";
}

// Every worker's assigned partitions, in (topic, partition) order as one pipeline lists them.
std::vector<engine::PartitionStatus> PartitionStatuses(const ApiContext& context) {
  if (context.pipelines.size() == 1) return context.pipelines.front()->partition_status();
  std::vector<engine::PartitionStatus> all;
  for (const engine::Pipeline* pipeline : context.pipelines) {
    std::vector<engine::PartitionStatus> own = pipeline->partition_status();
    all.insert(all.end(), std::make_move_iterator(own.begin()), std::make_move_iterator(own.end()));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.partition < b.partition; });
  return all;
}

// Why processing stopped: the first failed worker's failure ("" while all run).
std::string Failure(const ApiContext& context) {
  for (const engine::Pipeline* pipeline : context.pipelines) {
    std::string failure = pipeline->failure();
    if (!failure.empty()) return failure;
  }
  return "";
}

// One assigned partition of a topology, with its committed progress (PartitionStatus::committed).
struct PartitionView {
  engine::PartitionStatus status;
  bool table_only = false;  // a joined table's topic: does not move stream time
  std::optional<state::PartitionProgress> progress;
};

struct Freshness {
  int64_t lag_records = 0;
  bool lag_known = true;  // every partition's high watermark is known
  std::optional<int64_t> watermark_ms;
  std::optional<int64_t> last_event_ms;
  bool restoring = false;
};

// `topology_index`: the topology's place in context.topologies (PartitionStatus::committed).
std::vector<PartitionView> PartitionsOf(const engine::Topology& topology, size_t topology_index,
                                        const std::vector<engine::PartitionStatus>& all) {
  const std::vector<std::string> topics = topology.topics();
  const std::vector<std::string>& tables = topology.joined_table_topics();
  std::vector<PartitionView> out;
  for (const engine::PartitionStatus& status : all) {
    const std::string& topic = status.partition.topic;
    if (std::find(topics.begin(), topics.end(), topic) == topics.end()) continue;
    PartitionView view{status, std::find(tables.begin(), tables.end(), topic) != tables.end(),
                       std::nullopt};
    if (topology_index < status.committed.size()) view.progress = status.committed[topology_index];
    out.push_back(std::move(view));
  }
  return out;
}

Freshness FreshnessOf(const std::vector<PartitionView>& partitions) {
  Freshness freshness;
  for (const PartitionView& partition : partitions) {
    const engine::PartitionStatus& status = partition.status;
    if (status.state == "restoring" || status.state == "waiting_for_table") {
      freshness.restoring = true;
    }
    if (status.end_offset < 0) {
      freshness.lag_known = false;
    } else {
      const int64_t committed = partition.progress ? partition.progress->next_offset : 0;
      freshness.lag_records += std::max<int64_t>(0, status.end_offset - committed);
    }
    if (partition.table_only || !partition.progress ||
        partition.progress->stream_time_ms == INT64_MIN) {
      continue;
    }
    const int64_t stream_time = partition.progress->stream_time_ms;
    freshness.watermark_ms =
        freshness.watermark_ms ? std::min(*freshness.watermark_ms, stream_time) : stream_time;
    freshness.last_event_ms =
        freshness.last_event_ms ? std::max(*freshness.last_event_ms, stream_time) : stream_time;
  }
  return freshness;
}

void WriteTime(JsonWriter& json, std::string_view name, const std::optional<int64_t>& ms) {
  json.Key(name);
  if (ms) {
    json.String(codec::FormatRfc3339Millis(*ms));
  } else {
    json.Null();
  }
  json.Key(std::string(name) + "_ms");
  if (ms) {
    json.Int(*ms);
  } else {
    json.Null();
  }
}

void WriteFreshness(JsonWriter& json, const Freshness& freshness) {
  json.Key("freshness").BeginObject().Key("lag_records");
  if (freshness.lag_known) {
    json.Int(freshness.lag_records);
  } else {
    json.Null();
  }
  WriteTime(json, "watermark", freshness.watermark_ms);
  WriteTime(json, "last_event", freshness.last_event_ms);
  json.Key("restoring").Bool(freshness.restoring).EndObject();
}

void AddFreshnessHeaders(http::Response& response, const Freshness& freshness) {
  if (freshness.lag_known) {
    response.headers.emplace_back("Eddy-Lag-Records", std::to_string(freshness.lag_records));
  }
  if (freshness.watermark_ms) {
    response.headers.emplace_back("Eddy-Watermark",
                                  codec::FormatRfc3339Millis(*freshness.watermark_ms));
  }
  response.headers.emplace_back("Eddy-Restoring", freshness.restoring ? "true" : "false");
}

// The view's topology and its place in context.topologies; nullptr when none has it.
std::pair<const engine::Topology*, size_t> TopologyOf(const ApiContext& context,
                                                      const engine::View& view) {
  for (size_t i = 0; i < context.topologies.size(); ++i) {
    if (context.topologies[i]->name() == view.topology()) return {context.topologies[i].get(), i};
  }
  return {nullptr, 0};
}

const engine::View* FindView(const ApiContext& context, std::string_view name) {
  for (const auto& topology : context.topologies) {
    for (const auto& view : topology->views()) {
      if (view->name() == name) return view.get();
    }
  }
  return nullptr;
}

// An epoch-millisecond integer or an RFC 3339 time.
std::optional<int64_t> ParseTime(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc() && end == text.data() + text.size()) return value;
  Result<int64_t> parsed = codec::ParseRfc3339Millis(text);
  if (parsed.ok()) return *parsed;
  return std::nullopt;
}

// The window filter of a request's from / to, or the 400 to answer.
std::optional<http::Response> ParseWindowFilter(const http::Request& request,
                                                const engine::View& view,
                                                engine::WindowFilter& filter) {
  for (const char* name : {"from", "to"}) {
    const bool given = std::any_of(request.query.begin(), request.query.end(),
                                   [&](const auto& entry) { return entry.first == name; });
    if (!given) continue;
    if (!view.windowed()) {
      return http::Response::Error(400, std::string("'") + name + "' filters windows, and view '" +
                                            view.name() + "' has none (it is a " + view.kind() +
                                            " view)");
    }
    const std::optional<int64_t> time = ParseTime(request.QueryValue(name));
    if (!time) {
      return http::Response::Error(400, std::string("'") + name +
                                            "' must be epoch milliseconds or an RFC 3339 time " +
                                            "(e.g. 2026-11-26T10:00:00Z); got '" +
                                            std::string(request.QueryValue(name)) + "'");
    }
    (std::string_view(name) == "from" ? filter.from_ms : filter.to_ms) = *time;
  }
  if (filter.from_ms && filter.to_ms && *filter.from_ms > *filter.to_ms) {
    return http::Response::Error(400, "'from' is after 'to'");
  }
  return std::nullopt;
}

bool HasQuery(const http::Request& request, std::string_view name) {
  return std::any_of(request.query.begin(), request.query.end(),
                     [&](const auto& entry) { return entry.first == name; });
}

Freshness ViewFreshness(const ApiContext& context, const engine::View& view,
                        const std::vector<engine::PartitionStatus>& statuses) {
  const auto [topology, index] = TopologyOf(context, view);
  if (topology == nullptr) return Freshness{};
  return FreshnessOf(PartitionsOf(*topology, index, statuses));
}

http::Response ListViews(const ApiContext& context) {
  const std::vector<engine::PartitionStatus> statuses = PartitionStatuses(context);
  JsonWriter json;
  json.BeginObject().Key("views").BeginArray();
  for (const auto& topology : context.topologies) {
    for (const auto& view : topology->views()) {
      const Freshness freshness = ViewFreshness(context, *view, statuses);
      json.BeginObject()
          .Key("name")
          .String(view->name())
          .Key("topology")
          .String(view->topology())
          .Key("step")
          .String(view->step())
          .Key("kind")
          .String(view->kind())
          .Key("windowed")
          .Bool(view->windowed())
          .Key("approximate_rows")
          .Int(static_cast<int64_t>(view->ApproximateRows()));
      WriteFreshness(json, freshness);
      json.EndObject();
    }
  }
  json.EndArray().EndObject();
  return http::Response::Json(200, std::move(json).Take());
}

// Ends a view answer: its freshness as the last member and in the headers. `statuses` must
// have been read before the snapshot the answer was read through: their committed progress
// is then contained in it (engine::PartitionStatus::committed), so freshness never claims
// more than the answer holds.
http::Response FinishViewAnswer(const ApiContext& context, const engine::View& view,
                                const std::vector<engine::PartitionStatus>& statuses,
                                JsonWriter json) {
  const Freshness freshness = ViewFreshness(context, view, statuses);
  WriteFreshness(json, freshness);
  json.EndObject();
  http::Response response = http::Response::Json(200, std::move(json).Take());
  AddFreshnessHeaders(response, freshness);
  return response;
}

http::Response QueryKey(const ApiContext& context, const http::Request& request) {
  const engine::View* view = FindView(context, request.Param("view"));
  if (view == nullptr) {
    return http::Response::Error(404, "no view named '" + std::string(request.Param("view")) + "'");
  }
  engine::WindowFilter filter;
  if (auto bad = ParseWindowFilter(request, *view, filter)) return std::move(*bad);
  const std::vector<engine::PartitionStatus> statuses = PartitionStatuses(context);  // first
  const std::unique_ptr<state::ReadSnapshot> snapshot = context.db.Snapshot();
  JsonWriter json;
  json.BeginObject().Key("view").String(view->name());
  Result<engine::KeyAnswer> shown = view->WriteKey(request.Param("key"), filter, *snapshot, json);
  if (!shown.ok()) return http::Response::Error(500, shown.status().ToString());
  if (!shown->exists) {
    // A key with windows, none of them in from..to, is found: its answer lists none.
    return http::Response::Error(404, "view '" + view->name() + "' has nothing for key '" +
                                          std::string(request.Param("key")) + "'");
  }
  return FinishViewAnswer(context, *view, statuses, std::move(json));
}

http::Response ScanView(const ApiContext& context, const http::Request& request) {
  const engine::View* view = FindView(context, request.Param("view"));
  if (view == nullptr) {
    return http::Response::Error(404, "no view named '" + std::string(request.Param("view")) + "'");
  }
  engine::WindowFilter filter;
  if (auto bad = ParseWindowFilter(request, *view, filter)) return std::move(*bad);
  engine::KeyRange range;
  range.limit = kDefaultPageLimit;
  range.prefix = std::string(request.QueryValue("prefix"));
  if (HasQuery(request, "start")) range.start = std::string(request.QueryValue("start"));
  if (HasQuery(request, "end")) range.end = std::string(request.QueryValue("end"));
  if (HasQuery(request, "limit")) {
    const std::string_view text = request.QueryValue("limit");
    size_t limit = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    // A positive integer too large for size_t is still one: cut it to the cap like the rest.
    if (error == std::errc::result_out_of_range && end == text.data() + text.size()) {
      error = std::errc();
      limit = kMaxPageLimit;
    }
    if (error != std::errc() || end != text.data() + text.size() || limit == 0) {
      return http::Response::Error(
          400, "'limit' must be a positive integer; got '" + std::string(text) + "'");
    }
    range.limit = std::min(limit, kMaxPageLimit);
  }
  if (HasQuery(request, "cursor")) {
    std::optional<std::string> after = http::Base64UrlDecode(request.QueryValue("cursor"));
    if (!after) {
      return http::Response::Error(
          400, "'cursor' is not a cursor this API returned (pass next_cursor unchanged)");
    }
    range.after = std::move(after);
  }
  const std::vector<engine::PartitionStatus> statuses = PartitionStatuses(context);  // first
  const std::unique_ptr<state::ReadSnapshot> snapshot = context.db.Snapshot();
  JsonWriter json;
  json.BeginObject().Key("view").String(view->name()).Key("items").BeginArray();
  Result<std::optional<std::string>> last = view->WriteRange(range, filter, *snapshot, json);
  if (!last.ok()) return http::Response::Error(500, last.status().ToString());
  json.EndArray().Key("limit").Int(static_cast<int64_t>(range.limit)).Key("next_cursor");
  if (*last) {
    json.String(http::Base64UrlEncode(**last));
  } else {
    json.Null();
  }
  return FinishViewAnswer(context, *view, statuses, std::move(json));
}

http::Response ListTopologies(const ApiContext& context) {
  const std::vector<engine::PartitionStatus> statuses = PartitionStatuses(context);
  const std::string failure = Failure(context);
  JsonWriter json;
  json.BeginObject().Key("topologies").BeginArray();
  for (size_t topology_index = 0; topology_index < context.topologies.size(); ++topology_index) {
    const engine::Topology* topology = context.topologies[topology_index].get();
    const config::TopologyConfig* topology_config = nullptr;
    for (const config::TopologyConfig& candidate : context.config.topologies) {
      if (candidate.name == topology->name()) topology_config = &candidate;
    }
    const std::vector<PartitionView> partitions = PartitionsOf(*topology, topology_index, statuses);
    const Freshness freshness = FreshnessOf(partitions);

    // The topology's status: failed beats restoring beats paused beats running.
    std::string status = "running";
    std::set<std::string> paused_reasons;
    for (const PartitionView& partition : partitions) {
      const std::string& state = partition.status.state;
      if (state == "sink_blocked" || state == "aligning") paused_reasons.insert(state);
    }
    std::string reason;
    if (!failure.empty()) {
      status = "failed";
      reason = failure;
    } else if (freshness.restoring) {
      status = "restoring";
      reason = "loading the tables it joins before processing its streams";
    } else if (paused_reasons.count("sink_blocked") > 0) {
      status = "paused";
      reason = "a topic it writes has an open circuit breaker; its sources are paused";
    }

    json.BeginObject().Key("name").String(topology->name()).Key("status").String(status);
    json.Key("reason");
    if (reason.empty()) {
      json.Null();
    } else {
      json.String(reason);
    }
    json.Key("sources").BeginArray();
    for (const std::string& topic : topology->topics()) json.String(topic);
    json.EndArray().Key("steps").BeginArray();
    if (topology_config != nullptr) {
      for (const config::StepConfig& step : topology_config->steps) {
        json.BeginObject()
            .Key("name")
            .String(step.name)
            .Key("kind")
            .String(StepKindName(step.kind))
            .Key("from")
            .String(step.from)
            .EndObject();
      }
    }
    json.EndArray().Key("views").BeginArray();
    for (const auto& view : topology->views()) json.String(view->name());
    json.EndArray().Key("partitions").BeginArray();
    for (const PartitionView& partition : partitions) {
      json.BeginObject()
          .Key("topic")
          .String(partition.status.partition.topic)
          .Key("partition")
          .Int(partition.status.partition.partition)
          .Key("state")
          .String(partition.status.state)
          .Key("committed_offset");
      if (partition.progress) {
        json.Int(partition.progress->next_offset);
      } else {
        json.Null();
      }
      json.Key("end_offset");
      if (partition.status.end_offset >= 0) {
        json.Int(partition.status.end_offset);
      } else {
        json.Null();
      }
      json.Key("lag_records");
      if (partition.status.end_offset >= 0) {
        json.Int(
            std::max<int64_t>(0, partition.status.end_offset -
                                     (partition.progress ? partition.progress->next_offset : 0)));
      } else {
        json.Null();
      }
      std::optional<int64_t> watermark;
      if (partition.progress && partition.progress->stream_time_ms != INT64_MIN) {
        watermark = partition.progress->stream_time_ms;
      }
      WriteTime(json, "watermark", watermark);
      json.EndObject();
    }
    json.EndArray();
    WriteFreshness(json, freshness);
    json.EndObject();
  }
  json.EndArray().EndObject();
  return http::Response::Json(200, std::move(json).Take());
}

}  // namespace

void AddApiRoutes(http::Router& router, const ApiContext& context) {
  router.Add("GET", "/v1/views", [context](const http::Request&) { return ListViews(context); });
  router.Add("GET", "/v1/views/{view}",
             [context](const http::Request& request) { return ScanView(context, request); },
             {"prefix", "start", "end", "limit", "cursor", "from", "to"});
  router.Add("GET", "/v1/views/{view}/keys/{key}",
             [context](const http::Request& request) { return QueryKey(context, request); },
             {"from", "to"});
  router.Add("GET", "/v1/topologies",
             [context](const http::Request&) { return ListTopologies(context); });
}

}  // namespace eddy::runtime
