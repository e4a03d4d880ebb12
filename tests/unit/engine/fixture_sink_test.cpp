// engine/fixture_sink.h: Send queues, Flush delivers in order, armed faults fire once and
// deliver nothing.
#include "engine/fixture_sink.h"

#include <catch2/catch.hpp>
#include <string>

namespace eddy::engine {
namespace {

using std::chrono::milliseconds;

SinkRecord Make(const std::string& value, std::optional<std::string> key = "k") {
  SinkRecord record;
  record.topic = "out";
  record.key = std::move(key);
  record.value = value;
  record.timestamp_ms = 42;
  record.headers = {{"h", "1"}};
  return record;
}

std::vector<std::string> Values(const std::vector<SinkRecord>& records) {
  std::vector<std::string> values;
  for (const SinkRecord& record : records) values.push_back(record.value);
  return values;
}

TEST_CASE("fixture sink: delivers pending records at Flush, in Send order", "[engine][sink]") {
  FixtureSink sink;
  REQUIRE(sink.Send(Make("a")).ok());
  REQUIRE(sink.Send(Make("b", std::nullopt)).ok());
  CHECK(sink.records().empty());
  CHECK(Values(sink.pending()) == std::vector<std::string>{"a", "b"});

  REQUIRE(sink.Flush(milliseconds(0)).ok());
  CHECK(sink.pending().empty());
  REQUIRE(sink.records().size() == 2);
  CHECK(sink.records()[0].topic == "out");
  CHECK(sink.records()[0].key == std::optional<std::string>("k"));
  CHECK(sink.records()[0].timestamp_ms == 42);
  CHECK(sink.records()[0].headers == std::vector<std::pair<std::string, std::string>>{{"h", "1"}});
  CHECK(!sink.records()[1].key.has_value());

  REQUIRE(sink.Send(Make("c")).ok());
  REQUIRE(sink.Flush(milliseconds(0)).ok());
  REQUIRE(sink.Flush(milliseconds(0)).ok());  // nothing pending: still fine
  CHECK(Values(sink.records()) == std::vector<std::string>{"a", "b", "c"});
  CHECK(sink.flush_count() == 3);
}

TEST_CASE("fixture sink: FailNextFlush fails once and keeps the records pending",
          "[engine][sink]") {
  FixtureSink sink;
  REQUIRE(sink.Send(Make("a")).ok());
  sink.FailNextFlush(Status::Unavailable("broker gone"));
  const Status failed = sink.Flush(milliseconds(0));
  CHECK(failed.code() == StatusCode::kUnavailable);
  CHECK(failed.message() == "broker gone");
  CHECK(sink.records().empty());
  CHECK(Values(sink.pending()) == std::vector<std::string>{"a"});

  REQUIRE(sink.Send(Make("b")).ok());
  REQUIRE(sink.Flush(milliseconds(0)).ok());
  CHECK(Values(sink.records()) == std::vector<std::string>{"a", "b"});
  CHECK(sink.pending().empty());
  CHECK(sink.flush_count() == 2);
}

TEST_CASE("fixture sink: FailNextSend rejects one record", "[engine][sink]") {
  FixtureSink sink;
  sink.FailNextSend(Status::InvalidArgument("too large"));
  CHECK(sink.Send(Make("a")).code() == StatusCode::kInvalidArgument);
  REQUIRE(sink.Send(Make("b")).ok());
  REQUIRE(sink.Flush(milliseconds(0)).ok());
  CHECK(Values(sink.records()) == std::vector<std::string>{"b"});
}

TEST_CASE("fixture sink: works through the Sink interface", "[engine][sink]") {
  FixtureSink fixture;
  Sink& sink = fixture;
  REQUIRE(sink.Send(Make("a")).ok());
  REQUIRE(sink.Flush(milliseconds(100)).ok());
  CHECK(Values(fixture.records()) == std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace eddy::engine
