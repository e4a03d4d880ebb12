// End to end with config/examples/sessions.yaml against the real broker: session windows
// (gap 30m, grace 5m, emit final) into a view and a sink topic, a step without a window
// (all-time totals per user), and a late_records topic. Three eddy processes run one after
// the other over one state directory, with more clicks produced between them: the first is
// killed with SIGKILL, the second stopped with SIGTERM. The views must end exactly as one
// uninterrupted run leaves them (nothing lost, nothing counted twice); the sink topic must
// hold every closed session, once across the clean stop and at least once across the crash;
// the late topic every late click, once, as it came plus eddy's headers.
//
// Event times are minutes after a base an hour-aligned day before now: recent enough for the
// broker's timestamp checks and retention (sink records carry a session's end as timestamp).
#include <simdjson.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>
#include <tuple>

#include "support/eddy_process.h"
#include "support/kafka_test_env.h"

namespace eddy::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

// "2026-11-25T10:00:00.000Z" for `ms` (whole milliseconds; the view's format).
std::string Rfc3339(int64_t ms) {
  const time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[32];
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(text) + millis;
}

// One session of a user as a view lists it or the sink sends it.
struct Session {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  bool closed = false;
  int64_t clicks = 0;
  std::string landing_page;
  std::string exit_page;
  friend bool operator==(const Session&, const Session&) = default;
};

std::ostream& operator<<(std::ostream& out, const Session& s) {
  return out << "[" << Rfc3339(s.start_ms) << ", " << Rfc3339(s.end_ms) << "]"
             << (s.closed ? " closed" : " open") << " {clicks " << s.clicks << ", "
             << s.landing_page << " -> " << s.exit_page << "}";
}

// A user's all-time totals (the step without a window).
struct Totals {
  int64_t clicks = 0;
  int64_t pages = 0;
  std::string last_page;
  friend bool operator==(const Totals&, const Totals&) = default;
};

std::ostream& operator<<(std::ostream& out, const Totals& t) {
  return out << "{clicks " << t.clicks << ", pages " << t.pages << ", last_page " << t.last_page
             << "}";
}

}  // namespace
}  // namespace eddy::testing

// Catch prints optionals and vectors through these.
namespace Catch {
template <>
struct StringMaker<std::optional<std::vector<eddy::testing::Session>>> {
  static std::string convert(const std::optional<std::vector<eddy::testing::Session>>& value) {
    if (!value) return "(no answer)";
    std::ostringstream out;
    out << "[";
    for (const auto& s : *value) out << "\n  " << s;
    out << "]";
    return out.str();
  }
};
template <>
struct StringMaker<std::optional<eddy::testing::Totals>> {
  static std::string convert(const std::optional<eddy::testing::Totals>& value) {
    if (!value) return "(none)";
    std::ostringstream out;
    out << *value;
    return out.str();
  }
};
}  // namespace Catch

namespace eddy::testing {
namespace {

std::string Text(simdjson::dom::element element) {
  std::string_view text;
  if (element.get_string().get(text) != simdjson::SUCCESS) return "<not a string>";
  return std::string(text);
}

int64_t Int(simdjson::dom::element element) {
  int64_t value = 0;
  if (element.get_int64().get(value) != simdjson::SUCCESS) return -1;
  return value;
}

// GET /v1/views/user_sessions/keys/{user}; nullopt when the request or its body is not the
// expected shape. Checks that `start`/`end` agree with `start_ms`/`end_ms`.
std::optional<std::vector<Session>> QuerySessions(uint16_t port, const std::string& user) {
  const HttpReply reply = HttpGet(port, "/v1/views/user_sessions/keys/" + user);
  if (IsNothingForKey(reply)) return std::vector<Session>{};
  if (reply.status != 200) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(reply.body).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::array windows;
  if (doc["windows"].get_array().get(windows) != simdjson::SUCCESS) return std::nullopt;
  std::vector<Session> sessions;
  for (simdjson::dom::element window : windows) {
    Session s;
    s.start_ms = Int(window["start_ms"]);
    s.end_ms = Int(window["end_ms"]);
    if (Text(window["start"]) != Rfc3339(s.start_ms) || Text(window["end"]) != Rfc3339(s.end_ms))
      return std::nullopt;
    if (window["closed"].get_bool().get(s.closed) != simdjson::SUCCESS) return std::nullopt;
    s.clicks = Int(window["aggregates"]["clicks"]);
    s.landing_page = Text(window["aggregates"]["landing_page"]);
    s.exit_page = Text(window["aggregates"]["exit_page"]);
    sessions.push_back(std::move(s));
  }
  return sessions;
}

// GET /v1/views/user_totals/keys/{user}: nullopt for "aggregates": null (an unknown user) or a
// failed request (then `answered` is false).
std::optional<Totals> QueryTotals(uint16_t port, const std::string& user, bool* answered) {
  *answered = false;
  const HttpReply reply = HttpGet(port, "/v1/views/user_totals/keys/" + user);
  if (IsNothingForKey(reply)) {
    *answered = true;
    return std::nullopt;
  }
  if (reply.status != 200) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(reply.body).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::element aggregates;
  if (doc["aggregates"].get(aggregates) != simdjson::SUCCESS) return std::nullopt;
  *answered = true;
  if (aggregates.is_null()) return std::nullopt;
  return Totals{Int(aggregates["clicks"]), Int(aggregates["pages"]), Text(aggregates["last_page"])};
}

std::optional<Totals> QueryTotals(uint16_t port, const std::string& user) {
  bool answered = false;
  return QueryTotals(port, user, &answered);
}

// What every view should answer at one point of the test.
struct Expected {
  std::map<std::string, std::vector<Session>> sessions;  // user -> closed sessions
  std::map<std::string, std::optional<Totals>> totals;   // user -> totals (nullopt: none)
};

bool ViewsMatch(uint16_t port, const Expected& expected) {
  for (const auto& [user, sessions] : expected.sessions) {
    if (QuerySessions(port, user) != sessions) return false;
  }
  for (const auto& [user, totals] : expected.totals) {
    bool answered = false;
    if (QueryTotals(port, user, &answered) != totals || !answered) return false;
  }
  return true;
}

// CHECKs every view of `expected` one by one, so a failure names the user and both values.
void CheckViews(uint16_t port, const Expected& expected) {
  for (const auto& [user, sessions] : expected.sessions) {
    INFO("user_sessions/" << user);
    CHECK(QuerySessions(port, user) == std::optional<std::vector<Session>>(sessions));
  }
  for (const auto& [user, totals] : expected.totals) {
    INFO("user_totals/" << user);
    CHECK(QueryTotals(port, user) == totals);
  }
}

// The sink's nested JSON for a closed session of `user`, member for member.
std::string SinkValue(const std::string& user, const Session& s) {
  return R"({"key":")" + user + R"(","start":")" + Rfc3339(s.start_ms) + R"(","end":")" +
         Rfc3339(s.end_ms) + R"(","start_ms":)" + std::to_string(s.start_ms) + R"(,"end_ms":)" +
         std::to_string(s.end_ms) + R"(,"closed":true,"aggregates":{"clicks":)" +
         std::to_string(s.clicks) + R"(,"landing_page":")" + s.landing_page + R"(","exit_page":")" +
         s.exit_page + R"("}})";
}

// How often each (key, value, timestamp) of the topic's records occurs.
using RecordCounts = std::map<std::tuple<std::string, std::string, int64_t>, int>;
RecordCounts CountRecords(const std::vector<ConsumedRecord>& records) {
  RecordCounts counts;
  for (const ConsumedRecord& r : records) ++counts[{r.key, r.value, r.timestamp_ms}];
  return counts;
}

std::string Describe(const RecordCounts& counts) {
  std::string text;
  for (const auto& [record, n] : counts) {
    text += "\n  " + std::to_string(n) + "x key " + std::get<0>(record) + " ts " +
            std::to_string(std::get<2>(record)) + " " + std::get<1>(record);
  }
  return text;
}

std::optional<double> LateDropped(uint16_t port) {
  return MetricValue(HttpGet(port, "/metrics").body, "eddy_late_records_dropped_total",
                     {"step=\"sessions\"", "topology=\"clicks\""});
}

// Consumer lag of both partitions of `topic` is 0: everything produced has been read.
bool CaughtUp(uint16_t port, const std::string& topic) {
  const std::string metrics = HttpGet(port, "/metrics").body;
  for (const char* partition : {"0", "1"}) {
    if (MetricValue(metrics, "eddy_consumer_lag_records",
                    {"topic=\"" + topic + "\"", std::string("partition=\"") + partition + "\""}) !=
        0.0)
      return false;
  }
  return true;
}

// "name: value; ..." in order, for comparing header lists with a readable failure.
std::string HeadersText(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string text;
  for (const auto& [name, value] : headers) text += name + ": " + value + "; ";
  return text;
}

// A late click as it must come out on the late topic.
struct LateClick {
  TestRecord record;
  int64_t offset = 0;         // in its source partition
  int64_t event_time_ms = 0;  // its `ts`
};

}  // namespace

TEST_CASE(
    "sessions: session windows, totals without a window and late records, across a crash "
    "and a clean restart",
    "[eddy][kafka][sink][sessions]") {
  const std::string clicks = UniqueName("clicks");
  const std::string late = UniqueName("clicks-late");
  const std::string finished = UniqueName("sessions");
  CreateTopic(clicks, 2);  // alice and bob on partition 0, carol and dave on 1; zed on both
  CreateTopic(late, 1);
  CreateTopic(finished, 1);
  const uint16_t port = FreePort();
  setenv("KAFKA_BOOTSTRAP", KafkaBootstrap().c_str(), 1);
  setenv("CLICKS_TOPIC", clicks.c_str(), 1);
  setenv("LATE_TOPIC", late.c_str(), 1);
  setenv("SESSIONS_TOPIC", finished.c_str(), 1);
  setenv("EDDY_GROUP_ID", UniqueName("eddy-sessions").c_str(), 1);
  setenv("EDDY_STATE_DIR", MakeTempDir("eddy-sessions-state").c_str(), 1);
  setenv("EDDY_HTTP_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const std::string config = std::string(EDDY_SOURCE_DIR) + "/config/examples/sessions.yaml";

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t base = now_ms / kHour * kHour - 24 * kHour;
  auto at = [&](int64_t minutes) { return base + minutes * kMinute; };
  auto click = [&](int32_t partition, const std::string& user, const std::string& page,
                   int64_t minute) {
    TestRecord record;
    record.key = user;
    record.partition = partition;
    record.value = R"({"user":")" + user + R"(","page":")" + page + R"(","ts":")" +
                   Rfc3339(at(minute)) + R"("})";
    return record;
  };
  // A late click with its own Kafka key, timestamp and header, which must all pass through.
  auto late_click = [&](int32_t partition, int64_t offset, const std::string& user,
                        const std::string& page, int64_t minute) {
    LateClick late_record{click(partition, user, page, minute), offset, at(minute)};
    late_record.record.key = "late-key-" + user;
    late_record.record.timestamp_ms = at(minute) + 1234;
    late_record.record.headers = {{"trace", "trace-" + user}};
    return late_record;
  };
  auto session = [&](int64_t start, int64_t end, int64_t clicks_count, const std::string& landing,
                     const std::string& exit) {
    return Session{at(start), at(end), true, clicks_count, landing, exit};
  };

  // Session rules (docs/configuration.md#session-windows), per partition with its own stream
  // time st (the largest event time seen): a click at t joins every session with
  // start - 30 <= t <= end + 30; a session closes when end + 35 < st; a click is late when a
  // session it would join is closed, or when it starts one and t + 35 < st.
  //
  // Phase 1, read by eddy #1 (then SIGKILL). Partition 0, in this order:
  //   alice@0 bob@2 alice@10 bob@20        alice [0,10], bob [2,20]
  //   alice@45                             45 - 30 > 10: a second session [45,45]; st 45
  //   alice@25   out of order: joins [0,10] (only grace keeps it open: 10 + 30 < 45 but
  //              10 + 35 = 45 is not < 45) and [45,45], merging them into [0,45]
  //   alice@60   [0,60]; st 60 closes bob [2,20] (20 + 35 < 60)
  // Partition 1:
  //   carol@0 dave@5 carol@40              carol [0,0] closes at st 40 (35 < 40); [40,40]
  //   dave@8     out of order: joins dave [5,5] (5 + 35 = 40 is not < 40) -> [5,8]
  Produce(clicks,
          {click(0, "alice", "/home", 0), click(0, "bob", "/home", 2),
           click(0, "alice", "/pricing", 10), click(0, "bob", "/cart", 20),
           click(0, "alice", "/docs", 45), click(0, "alice", "/signup", 25),
           click(0, "alice", "/pricing", 60), click(1, "carol", "/home", 0),
           click(1, "dave", "/home", 5), click(1, "carol", "/a", 40), click(1, "dave", "/x", 8)});
  const Session bob_1 = session(2, 20, 2, "/home", "/cart");
  const Session carol_1 = session(0, 0, 1, "/home", "/home");
  Expected expected;
  expected.sessions = {{"alice", {}}, {"bob", {bob_1}}, {"carol", {carol_1}}, {"dave", {}}};
  // `pages` counts distinct pages; `last_page` is the page of the last click processed, late
  // ones included, whatever its event time (see bob and dave after phase 2).
  expected.totals = {{"alice", Totals{5, 4, "/pricing"}},
                     {"bob", Totals{2, 2, "/cart"}},
                     {"carol", Totals{2, 2, "/a"}},
                     {"dave", Totals{2, 2, "/x"}},
                     {"nobody", std::nullopt}};
  const Session dave_1 = session(5, 8, 2, "/home", "/x");
  const RecordCounts sent_by_1 = {{{"bob", SinkValue("bob", bob_1), bob_1.end_ms}, 1},
                                  {{"carol", SinkValue("carol", carol_1), carol_1.end_ms}, 1}};
  // Results the first process may have sent before it was killed, and the second may send
  // again (at least once): every other session must be sent exactly once.
  RecordCounts sent_before_crash = sent_by_1;
  sent_before_crash[{"dave", SinkValue("dave", dave_1), dave_1.end_ms}] = 1;
  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    CHECK(Eventually(30s, [&] { return ViewsMatch(port, expected); }));
    CheckViews(port, expected);
    // emit: final sends the two closed sessions at the commit after they close.
    RecordCounts sent;
    CHECK(Eventually(20s, [&] { return (sent = CountRecords(ReadToEnd(finished))) == sent_by_1; }));
    INFO("sessions topic:" << Describe(sent));
    CHECK(sent == sent_by_1);
    CHECK(LateDropped(port) == 0.0);
    // Two more clicks, and the crash while eddy reads them: what it processed but had not
    // committed yet (state, offsets and stream time are committed together, every 100ms) is
    // read again by the next process, and must not count twice.
    //   p0 bob@75     a new session [75,75]: bob [2,20] is closed
    //   p1 carol@50   joins [40,40] -> [40,50]; st 50 closes dave [5,8] (43 < 50)
    Produce(clicks, {click(0, "bob", "/home", 75), click(1, "carol", "/b", 50)});
    eddy.Kill();
  }

  // Phase 2, produced while nothing runs, read by eddy #2 (then SIGTERM). Partition 0:
  //   alice@88   joins [0,60] (88 <= 90; 60 + 35 = 95 is not < 88) -> [0,88]
  //   bob@15     LATE: it would join bob's closed [2,20]
  // Partition 1:
  //   dave@30    LATE: it would join dave's closed [5,8]
  //   dave@100   a new session [100,100]; st 100 closes carol [40,50] (85 < 100)
  //   dave@95    out of order: joins [100,100] -> [95,100]: landing (first in event time) /w,
  //              exit (last in event time) /z, while dave's last_page (last processed) is /w
  const LateClick bob_late = late_click(0, 9, "bob", "/late", 15);
  const LateClick dave_late = late_click(1, 5, "dave", "/y", 30);
  Produce(clicks, {click(0, "alice", "/blog", 88), bob_late.record, dave_late.record,
                   click(1, "dave", "/z", 100), click(1, "dave", "/w", 95)});
  const Session carol_2 = session(40, 50, 2, "/a", "/b");
  expected.sessions["carol"] = {carol_1, carol_2};
  expected.sessions["dave"] = {dave_1};
  expected.totals["alice"] = Totals{6, 5, "/blog"};
  expected.totals["bob"] = Totals{4, 3, "/late"};
  expected.totals["carol"] = Totals{3, 3, "/b"};
  expected.totals["dave"] = Totals{5, 5, "/w"};
  RecordCounts sent_by_2 = {{{"carol", SinkValue("carol", carol_2), carol_2.end_ms}, 1}};
  // The sessions topic holds the results sent before the crash at least once, the others
  // exactly once, and nothing else.
  auto sink_holds = [&](const RecordCounts& sent, const RecordCounts& at_least_once,
                        const RecordCounts& exactly_once) {
    for (const auto& [record, n] : at_least_once) {
      auto it = sent.find(record);
      if (it == sent.end() || it->second < n) return false;
    }
    for (const auto& [record, n] : exactly_once) {
      auto it = sent.find(record);
      if (it == sent.end() || it->second != n) return false;
    }
    return sent.size() == at_least_once.size() + exactly_once.size();  // nothing else
  };
  {
    // A new consumer group: the killed process's member would hold its partitions until the
    // group's session timeout (45 s by default). eddy resumes from the offsets in its state
    // directory, not from the group's, so the group does not matter for what is read.
    setenv("EDDY_GROUP_ID", UniqueName("eddy-sessions").c_str(), 1);
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    CHECK(Eventually(30s, [&] { return ViewsMatch(port, expected) && CaughtUp(port, clicks); }));
    // Settle: a record counted twice would show up now.
    std::this_thread::sleep_for(500ms);
    CheckViews(port, expected);
    RecordCounts sent;
    CHECK(Eventually(20s, [&] {
      return sink_holds(sent = CountRecords(ReadToEnd(finished)), sent_before_crash, sent_by_2);
    }));
    INFO("sessions topic:" << Describe(sent));
    CHECK(sink_holds(sent, sent_before_crash, sent_by_2));
    // The two late clicks, each dropped once: phase 1 had none, so a re-read of its records
    // after the crash cannot add any.
    CHECK(Eventually(10s, [&] { return LateDropped(port) == 2.0; }));
    CHECK(eddy.Terminate(20s) == 0);
  }

  // Phase 3, read by eddy #3 (same group as #2, which left it cleanly). Partition 0:
  //   alice@100  joins [0,88] -> [0,100]
  //   erin@3     LATE: no session to join, and it would start one closed already (38 < 100)
  //   zed@200    st 200 closes alice [0,100] (135 < 200) and bob [75,75] (110 < 200)
  // Partition 1:
  //   carol@45   LATE: it would join carol's closed [40,50]
  //   zed@200    st 200 closes dave [95,100]
  // zed's sessions (one per partition) stay open, so the view lists none; its totals are
  // merged from both partitions.
  const LateClick erin_late = late_click(0, 11, "erin", "/home", 3);
  const LateClick carol_late = late_click(1, 8, "carol", "/old", 45);
  Produce(clicks, {click(0, "alice", "/docs", 100), erin_late.record, click(0, "zed", "/end", 200),
                   carol_late.record, click(1, "zed", "/end", 200)});
  const Session alice_1 = session(0, 100, 7, "/home", "/docs");
  const Session bob_2 = session(75, 75, 1, "/home", "/home");
  const Session dave_2 = session(95, 100, 2, "/w", "/z");
  expected.sessions["alice"] = {alice_1};
  expected.sessions["bob"] = {bob_1, bob_2};
  expected.sessions["dave"] = {dave_1, dave_2};
  expected.sessions["erin"] = {};
  expected.sessions["zed"] = {};
  expected.totals["alice"] = Totals{7, 5, "/docs"};
  expected.totals["carol"] = Totals{4, 4, "/old"};
  expected.totals["erin"] = Totals{1, 1, "/home"};
  expected.totals["zed"] = Totals{2, 1, "/end"};
  RecordCounts sent_after_crash = sent_by_2;
  sent_after_crash[{"alice", SinkValue("alice", alice_1), alice_1.end_ms}] = 1;
  sent_after_crash[{"bob", SinkValue("bob", bob_2), bob_2.end_ms}] = 1;
  sent_after_crash[{"dave", SinkValue("dave", dave_2), dave_2.end_ms}] = 1;
  {
    EddyProcess eddy(config, port);
    REQUIRE(eddy.WaitReady(60s));
    INFO(eddy.Log());
    CHECK(Eventually(30s, [&] { return ViewsMatch(port, expected) && CaughtUp(port, clicks); }));
    std::this_thread::sleep_for(500ms);
    CheckViews(port, expected);
    RecordCounts sent;
    CHECK(Eventually(20s, [&] {
      return sink_holds(sent = CountRecords(ReadToEnd(finished)), sent_before_crash,
                        sent_after_crash);
    }));
    INFO("sessions topic:" << Describe(sent));
    CHECK(sink_holds(sent, sent_before_crash, sent_after_crash));
    // This process dropped the last two late clicks only.
    CHECK(Eventually(10s, [&] { return LateDropped(port) == 2.0; }));
    CHECK(eddy.Terminate(20s) == 0);
  }

  // Nothing more was sent at shutdown.
  const RecordCounts sent = CountRecords(ReadToEnd(finished));
  INFO("sessions topic:" << Describe(sent));
  CHECK(sink_holds(sent, sent_before_crash, sent_after_crash));

  // The late topic: each late click exactly once (all came after the crash), as it was
  // produced — key, value, timestamp, its own headers first — plus eddy's headers.
  const std::vector<ConsumedRecord> late_sent = ReadToEnd(late);
  std::map<std::string, const ConsumedRecord*> late_by_key;
  for (const ConsumedRecord& r : late_sent) late_by_key[r.key] = &r;
  CHECK(late_sent.size() == 4);
  CHECK(late_by_key.size() == 4);
  for (const LateClick* expected_late : {&bob_late, &dave_late, &erin_late, &carol_late}) {
    const TestRecord& in = expected_late->record;
    INFO("late click with key " << in.key);
    auto found = late_by_key.find(in.key);
    REQUIRE(found != late_by_key.end());
    const ConsumedRecord& out = *found->second;
    CHECK(out.value == in.value);
    CHECK(out.timestamp_ms == in.timestamp_ms);
    const std::vector<std::pair<std::string, std::string>> headers = {
        in.headers.at(0),
        {"eddy.source.topic", clicks},
        {"eddy.reason", "late"},
        {"eddy.topology", "clicks"},
        {"eddy.step", "sessions"},
        {"eddy.source.partition", std::to_string(in.partition)},
        {"eddy.source.offset", std::to_string(expected_late->offset)},
        {"eddy.event_time_ms", std::to_string(expected_late->event_time_ms)}};
    CHECK(HeadersText(out.headers) == HeadersText(headers));
  }
}

}  // namespace eddy::testing
