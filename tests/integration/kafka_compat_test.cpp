// What Debian 12's librdkafka (2.0.2) can do against the broker scripts/kafka-local runs
// (Kafka 4.x by default, 3.9.x with KAFKA_VERSION=3.9.1). These tests are the evidence behind
// docs/kafka-compatibility.md: each asserts an outcome observed on the real broker, and every
// wait is bounded.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/kafka_test_env.h"

namespace {

using eddy::testing::ConsumedRecord;
using eddy::testing::CreateTopic;
using eddy::testing::MakeConf;
using eddy::testing::MakeConsumer;
using eddy::testing::PartitionList;
using eddy::testing::Produce;
using eddy::testing::ReadFromBeginning;
using eddy::testing::TestRecord;
using eddy::testing::UniqueName;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 10000;

// `count` records spread round-robin over `partitions` partitions: key k<i>, value v<i>.
std::vector<TestRecord> NumberedRecords(int count, int32_t partitions) {
  std::vector<TestRecord> records;
  for (int i = 0; i < count; ++i) {
    TestRecord r;
    r.key = "k" + std::to_string(i);
    r.value = "v" + std::to_string(i);
    r.partition = i % partitions;
    records.push_back(std::move(r));
  }
  return records;
}

// Polls `consumers` in turn (100 ms each) until `done()` or `timeout`; each message without
// error goes to `on_record(consumer index, record)`. Returns whether `done()` became true.
bool PollUntil(const std::vector<RdKafka::KafkaConsumer*>& consumers,
               const std::function<bool()>& done, std::chrono::milliseconds timeout,
               const std::function<void(size_t, const ConsumedRecord&)>& on_record = {}) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    for (size_t i = 0; i < consumers.size(); ++i) {
      std::unique_ptr<RdKafka::Message> message(consumers[i]->consume(100));
      if (message->err() == RdKafka::ERR__TIMED_OUT) continue;
      REQUIRE(message->err() == RdKafka::ERR_NO_ERROR);
      if (on_record) on_record(i, eddy::testing::ToRecord(*message));
    }
  }
  return true;
}

std::set<int32_t> Assigned(RdKafka::KafkaConsumer& consumer) {
  std::vector<RdKafka::TopicPartition*> raw;
  REQUIRE(consumer.assignment(raw) == RdKafka::ERR_NO_ERROR);
  std::set<int32_t> partitions;
  for (const RdKafka::TopicPartition* tp : raw) partitions.insert(tp->partition());
  RdKafka::TopicPartition::destroy(raw);
  return partitions;
}

// Applies assignments the way an application must when it installs a rebalance callback:
// assign()/unassign() for the eager protocols, incremental_*() for cooperative-sticky.
class RebalanceRecorder : public RdKafka::RebalanceCb {
 public:
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    protocol_ = consumer->rebalance_protocol();
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      ++assigns_;
      if (cooperative) {
        std::unique_ptr<RdKafka::Error> error(consumer->incremental_assign(partitions));
        if (error) errors_.push_back(error->str());
      } else {
        consumer->assign(partitions);
      }
    } else {
      ++revokes_;
      if (cooperative) {
        std::unique_ptr<RdKafka::Error> error(consumer->incremental_unassign(partitions));
        if (error) errors_.push_back(error->str());
      } else {
        consumer->unassign();
      }
    }
  }
  int assigns() const { return assigns_; }
  int revokes() const { return revokes_; }
  const std::string& protocol() const { return protocol_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  int assigns_ = 0;
  int revokes_ = 0;
  std::string protocol_;
  std::vector<std::string> errors_;
};

class CommitRecorder : public RdKafka::OffsetCommitCb {
 public:
  void offset_commit_cb(RdKafka::ErrorCode err,
                        std::vector<RdKafka::TopicPartition*>& offsets) override {
    ++calls_;
    err_ = err;
    committed_.clear();
    for (const RdKafka::TopicPartition* tp : offsets) {
      committed_[tp->partition()] = tp->err() == RdKafka::ERR_NO_ERROR ? tp->offset() : -1000;
    }
  }
  int calls() const { return calls_; }
  RdKafka::ErrorCode err() const { return err_; }
  const std::map<int32_t, int64_t>& committed() const { return committed_; }

 private:
  int calls_ = 0;
  RdKafka::ErrorCode err_ = RdKafka::ERR_NO_ERROR;
  std::map<int32_t, int64_t> committed_;
};

// Collects the statistics JSON librdkafka emits every statistics.interval.ms.
class StatsRecorder : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    if (event.type() == RdKafka::Event::EVENT_STATS) last_ = event.str();
  }
  const std::string& last() const { return last_; }

 private:
  std::string last_;
};

}  // namespace

TEST_CASE("admin API creates topics and reports a duplicate", "[kafka]") {
  const std::string topic = UniqueName("compat-admin");
  CreateTopic(topic, 3);
  CHECK(eddy::testing::PartitionCount(topic) == 3);
  REQUIRE_THROWS_WITH(CreateTopic(topic, 3), Catch::Contains("TOPIC_ALREADY_EXISTS"));
}

TEST_CASE("idempotent producer gets a producer id and keeps per-partition order", "[kafka]") {
  const std::string topic = UniqueName("compat-idempotent");
  CreateTopic(topic, 2);

  // Own producer here (not Produce()) to read the idempotence state from librdkafka's stats.
  StatsRecorder stats;
  auto conf = MakeConf({{"enable.idempotence", "true"}, {"statistics.interval.ms", "100"}});
  std::string errstr;
  REQUIRE(conf->set("event_cb", static_cast<RdKafka::EventCb*>(&stats), errstr) ==
          RdKafka::Conf::CONF_OK);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), errstr));
  REQUIRE(producer);
  constexpr size_t kCount = 200;
  for (size_t i = 0; i < kCount; ++i) {
    std::string value = "v" + std::to_string(i);
    REQUIRE(producer->produce(topic, static_cast<int32_t>(i % 2), RdKafka::Producer::RK_MSG_COPY,
                              value.data(), value.size(), nullptr, 0, 0,
                              nullptr) == RdKafka::ERR_NO_ERROR);
  }
  REQUIRE(producer->flush(kTimeoutMs) == RdKafka::ERR_NO_ERROR);
  // The "eos" section of the statistics: {"idemp_state": "Assigned", ..., "producer_id": N}.
  const std::regex assigned(R"re("idemp_state":\s*"Assigned")re");
  const std::regex producer_id(R"re("producer_id":\s*(-?[0-9]+))re");
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!std::regex_search(stats.last(), assigned) && Clock::now() < deadline) {
    producer->poll(100);
  }
  const std::string& json = stats.last();
  INFO("statistics, eos section: " << json.substr(std::min(json.size(), json.find("\"eos\""))));
  CHECK(std::regex_search(json, assigned));
  std::smatch id;
  REQUIRE(std::regex_search(json, id, producer_id));
  CHECK(std::stoll(id[1].str()) >= 0);
  std::string fatal;
  CHECK(producer->fatal_error(fatal) == RdKafka::ERR_NO_ERROR);

  const auto records = ReadFromBeginning(topic, kCount);
  REQUIRE(records.size() == kCount);
  // Partition p holds v<p>, v<p+2>, ... at offsets 0, 1, ...: nothing lost, duplicated or
  // reordered.
  for (const ConsumedRecord& r : records) {
    const int64_t i = r.offset * 2 + r.partition;
    CHECK(r.value == "v" + std::to_string(i));
  }
}

TEST_CASE("keys, headers and timestamps round trip", "[kafka]") {
  const std::string topic = UniqueName("compat-headers");
  CreateTopic(topic, 1);
  TestRecord with_headers;
  with_headers.key = std::string("key\0with\xffnul", 12);
  with_headers.value = R"({"user":"u1","amount":12.5})";
  with_headers.partition = 0;
  with_headers.timestamp_ms = 1700000000123;
  with_headers.headers = {{"trace-id", "abc-123"},
                          {"trace-id", "second value, same key"},
                          {"empty", ""},
                          {"binary", std::string("\0\x01\xfe\xff", 4)}};
  TestRecord plain;
  plain.key = "k2";
  plain.value = "no headers";
  plain.partition = 0;
  plain.timestamp_ms = 1700000000456;
  Produce(topic, {with_headers, plain});

  const auto records = ReadFromBeginning(topic, 2);
  REQUIRE(records.size() == 2);
  CHECK(records[0].key == with_headers.key);
  CHECK(records[0].value == with_headers.value);
  CHECK(records[0].timestamp_ms == with_headers.timestamp_ms);
  CHECK(records[0].headers == with_headers.headers);  // order and duplicates preserved
  CHECK(records[1].key == "k2");
  CHECK(records[1].timestamp_ms == plain.timestamp_ms);
  CHECK(records[1].headers.empty());
}

TEST_CASE("compression codecs round trip", "[kafka]") {
  const std::string codec = GENERATE(as<std::string>{}, "gzip", "snappy", "lz4", "zstd");
  const std::string topic = UniqueName("compat-codec-" + codec);
  CreateTopic(topic, 1);
  auto records = NumberedRecords(100, 1);
  Produce(topic, records, {{"compression.type", codec}});
  const auto read = ReadFromBeginning(topic, records.size());
  REQUIRE(read.size() == records.size());
  CHECK(read.back().value == "v99");
}

TEST_CASE("group subscribe, commit sync and async, committed(), resume", "[kafka]") {
  const std::string topic = UniqueName("compat-group");
  const std::string group = UniqueName("compat-group");
  constexpr int32_t kPartitions = 3;
  CreateTopic(topic, kPartitions);
  Produce(topic, NumberedRecords(30, kPartitions));  // 10 per partition

  CommitRecorder commits;
  {
    auto consumer = MakeConsumer(group, {}, nullptr, &commits);
    REQUIRE(consumer->subscribe({topic}) == RdKafka::ERR_NO_ERROR);
    std::set<std::string> seen;
    REQUIRE(PollUntil(
        {consumer.get()}, [&] { return seen.size() == 30; }, std::chrono::seconds(60),
        [&](size_t, const ConsumedRecord& r) { seen.insert(r.value); }));
    CHECK(Assigned(*consumer) == std::set<int32_t>{0, 1, 2});

    // Synchronous commit of explicit offsets (the next offset to read, per partition).
    PartitionList sync_offsets;
    for (int32_t p = 0; p < kPartitions; ++p) sync_offsets.Add(topic, p, 5);
    REQUIRE(consumer->commitSync(sync_offsets.Items()) == RdKafka::ERR_NO_ERROR);
    PartitionList committed;
    for (int32_t p = 0; p < kPartitions; ++p) committed.Add(topic, p);
    REQUIRE(consumer->committed(committed.Items(), kTimeoutMs) == RdKafka::ERR_NO_ERROR);
    for (int32_t p = 0; p < kPartitions; ++p) CHECK(committed.OffsetOf(topic, p) == 5);

    // Asynchronous commit: the result arrives through offset_commit_cb from consume().
    PartitionList async_offsets;
    for (int32_t p = 0; p < kPartitions; ++p) async_offsets.Add(topic, p, 7);
    REQUIRE(consumer->commitAsync(async_offsets.Items()) == RdKafka::ERR_NO_ERROR);
    REQUIRE(PollUntil(
        {consumer.get()}, [&] { return commits.calls() > 0; }, std::chrono::seconds(10)));
    CHECK(commits.err() == RdKafka::ERR_NO_ERROR);
    CHECK(commits.committed() == std::map<int32_t, int64_t>{{0, 7}, {1, 7}, {2, 7}});
    PartitionList after_async;
    for (int32_t p = 0; p < kPartitions; ++p) after_async.Add(topic, p);
    REQUIRE(consumer->committed(after_async.Items(), kTimeoutMs) == RdKafka::ERR_NO_ERROR);
    for (int32_t p = 0; p < kPartitions; ++p) CHECK(after_async.OffsetOf(topic, p) == 7);

    // commitSync() without arguments commits the consumed positions (10 everywhere).
    REQUIRE(consumer->commitSync() == RdKafka::ERR_NO_ERROR);
    PartitionList after_all;
    for (int32_t p = 0; p < kPartitions; ++p) after_all.Add(topic, p);
    REQUIRE(consumer->committed(after_all.Items(), kTimeoutMs) == RdKafka::ERR_NO_ERROR);
    for (int32_t p = 0; p < kPartitions; ++p) CHECK(after_all.OffsetOf(topic, p) == 10);

    // Back to 7 so the next member has something to resume from.
    REQUIRE(consumer->commitSync(async_offsets.Items()) == RdKafka::ERR_NO_ERROR);
    REQUIRE(consumer->close() == RdKafka::ERR_NO_ERROR);
  }

  // A new member of the same group starts at the committed offsets: 3 records per partition.
  auto resumed = MakeConsumer(group);
  REQUIRE(resumed->subscribe({topic}) == RdKafka::ERR_NO_ERROR);
  std::vector<ConsumedRecord> rest;
  REQUIRE(PollUntil(
      {resumed.get()}, [&] { return rest.size() >= 9; }, std::chrono::seconds(60),
      [&](size_t, const ConsumedRecord& r) { rest.push_back(r); }));
  // Nothing more arrives.
  PollUntil(
      {resumed.get()}, [] { return false; }, std::chrono::milliseconds(1000),
      [&](size_t, const ConsumedRecord& r) { rest.push_back(r); });
  CHECK(rest.size() == 9);
  for (const ConsumedRecord& r : rest) CHECK(r.offset >= 7);
  resumed->close();
}

TEST_CASE("assign and seek to explicit offsets, offsetsForTimes", "[kafka]") {
  const std::string topic = UniqueName("compat-seek");
  CreateTopic(topic, 1);
  constexpr int64_t kBaseTs = 1700000000000;
  auto records = NumberedRecords(20, 1);
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].timestamp_ms = kBaseTs + 1000 * static_cast<int64_t>(i);
  }
  Produce(topic, records);

  auto consumer = MakeConsumer(UniqueName("compat-seek"));
  auto next = [&]() -> ConsumedRecord {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      std::unique_ptr<RdKafka::Message> message(consumer->consume(100));
      if (message->err() == RdKafka::ERR__TIMED_OUT) continue;
      return eddy::testing::ToRecord(*message);
    }
    FAIL("no record within 10 s");
    return {};
  };

  PartitionList at_12;
  at_12.Add(topic, 0, 12);
  REQUIRE(consumer->assign(at_12.Items()) == RdKafka::ERR_NO_ERROR);
  ConsumedRecord first = next();
  CHECK(first.offset == 12);
  CHECK(first.value == "v12");
  CHECK(next().offset == 13);

  // seek() drops what was already fetched: the next record is the one sought.
  std::unique_ptr<RdKafka::TopicPartition> to_3(RdKafka::TopicPartition::create(topic, 0, 3));
  REQUIRE(consumer->seek(*to_3, kTimeoutMs) == RdKafka::ERR_NO_ERROR);
  ConsumedRecord after_seek = next();
  CHECK(after_seek.offset == 3);
  CHECK(after_seek.value == "v3");

  // ListOffsets by timestamp: the first record at or after the time.
  PartitionList by_time;
  by_time.Add(topic, 0, kBaseTs + 5500);
  REQUIRE(consumer->offsetsForTimes(by_time.Items(), kTimeoutMs) == RdKafka::ERR_NO_ERROR);
  CHECK(by_time.OffsetOf(topic, 0) == 6);

  // OFFSET_END: only records produced after the assignment arrive.
  REQUIRE(consumer->unassign() == RdKafka::ERR_NO_ERROR);
  PartitionList at_end;
  at_end.Add(topic, 0, RdKafka::Topic::OFFSET_END);
  REQUIRE(consumer->assign(at_end.Items()) == RdKafka::ERR_NO_ERROR);
  // Let the consumer resolve the end offset before producing.
  PollUntil(
      {consumer.get()}, [] { return false; }, std::chrono::milliseconds(1500),
      [](size_t, const ConsumedRecord& r) { FAIL("unexpected record at " << r.offset); });
  TestRecord late;
  late.key = "late";
  late.value = "after end";
  late.partition = 0;
  Produce(topic, {late});
  ConsumedRecord tail = next();
  CHECK(tail.offset == 20);
  CHECK(tail.value == "after end");
  consumer->close();
}

TEST_CASE("watermark offsets: queried from the broker and cached by the consumer", "[kafka]") {
  const std::string topic = UniqueName("compat-watermarks");
  CreateTopic(topic, 2);
  std::vector<TestRecord> records = NumberedRecords(10, 1);
  for (size_t i = 0; i < records.size(); ++i) records[i].partition = i < 7 ? 0 : 1;
  Produce(topic, records);

  auto consumer = MakeConsumer(UniqueName("compat-watermarks"));
  int64_t low = -1;
  int64_t high = -1;
  REQUIRE(consumer->query_watermark_offsets(topic, 0, &low, &high, kTimeoutMs) ==
          RdKafka::ERR_NO_ERROR);
  CHECK(low == 0);
  CHECK(high == 7);
  REQUIRE(consumer->query_watermark_offsets(topic, 1, &low, &high, kTimeoutMs) ==
          RdKafka::ERR_NO_ERROR);
  CHECK(low == 0);
  CHECK(high == 3);

  // get_watermark_offsets() answers from the last fetch response, without a request.
  PartitionList all;
  all.Add(topic, 0, RdKafka::Topic::OFFSET_BEGINNING)
      .Add(topic, 1, RdKafka::Topic::OFFSET_BEGINNING);
  REQUIRE(consumer->assign(all.Items()) == RdKafka::ERR_NO_ERROR);
  size_t consumed = 0;
  REQUIRE(PollUntil(
      {consumer.get()}, [&] { return consumed == 10; }, std::chrono::seconds(30),
      [&](size_t, const ConsumedRecord&) { ++consumed; }));
  REQUIRE(consumer->get_watermark_offsets(topic, 0, &low, &high) == RdKafka::ERR_NO_ERROR);
  CHECK(high == 7);
  REQUIRE(consumer->get_watermark_offsets(topic, 1, &low, &high) == RdKafka::ERR_NO_ERROR);
  CHECK(high == 3);
  consumer->close();
}

TEST_CASE("rebalance splits partitions between two members of a group", "[kafka]") {
  const std::string strategy =
      GENERATE(as<std::string>{}, "range", "roundrobin", "cooperative-sticky");
  INFO("partition.assignment.strategy=" << strategy);
  const std::string topic = UniqueName("compat-rebalance");
  const std::string group = UniqueName("compat-rebalance");
  constexpr int32_t kPartitions = 4;
  CreateTopic(topic, kPartitions);
  const eddy::testing::Settings settings{{"partition.assignment.strategy", strategy},
                                         {"session.timeout.ms", "6000"},
                                         {"heartbeat.interval.ms", "500"}};

  RebalanceRecorder rebalance_a;
  RebalanceRecorder rebalance_b;
  auto a = MakeConsumer(group, settings, &rebalance_a);
  REQUIRE(a->subscribe({topic}) == RdKafka::ERR_NO_ERROR);
  REQUIRE(PollUntil(
      {a.get()}, [&] { return Assigned(*a).size() == kPartitions; }, std::chrono::seconds(30)));

  auto b = MakeConsumer(group, settings, &rebalance_b);
  REQUIRE(b->subscribe({topic}) == RdKafka::ERR_NO_ERROR);
  REQUIRE(PollUntil(
      {a.get(), b.get()}, [&] { return Assigned(*a).size() == 2 && Assigned(*b).size() == 2; },
      std::chrono::seconds(60)));
  const std::set<int32_t> of_a = Assigned(*a);
  const std::set<int32_t> of_b = Assigned(*b);
  std::set<int32_t> both = of_a;
  both.insert(of_b.begin(), of_b.end());
  CHECK(both == std::set<int32_t>{0, 1, 2, 3});  // disjoint halves
  CHECK(rebalance_a.revokes() >= 1);
  CHECK(rebalance_b.assigns() >= 1);
  CHECK(rebalance_a.protocol() == (strategy == "cooperative-sticky" ? "COOPERATIVE" : "EAGER"));
  CHECK(rebalance_a.errors().empty());
  CHECK(rebalance_b.errors().empty());

  // Each record goes to the member that owns its partition, once.
  Produce(topic, NumberedRecords(40, kPartitions));
  std::map<std::string, size_t> consumed_by;
  bool misrouted = false;
  REQUIRE(PollUntil(
      {a.get(), b.get()}, [&] { return consumed_by.size() == 40; }, std::chrono::seconds(30),
      [&](size_t member, const ConsumedRecord& r) {
        const auto& owned = member == 0 ? of_a : of_b;
        if (owned.count(r.partition) == 0) misrouted = true;
        CHECK(consumed_by.emplace(r.value, member).second);
      }));
  CHECK_FALSE(misrouted);

  // When b leaves, a gets everything back.
  REQUIRE(b->close() == RdKafka::ERR_NO_ERROR);
  REQUIRE(PollUntil(
      {a.get()}, [&] { return Assigned(*a).size() == kPartitions; }, std::chrono::seconds(30)));
  a->close();
}

TEST_CASE("transactions: commit, abort, read_committed, offsets in a transaction", "[kafka]") {
  const std::string input = UniqueName("compat-txn-in");
  const std::string output = UniqueName("compat-txn-out");
  const std::string group = UniqueName("compat-txn");
  CreateTopic(input, 1);
  CreateTopic(output, 1);
  Produce(input, NumberedRecords(5, 1));

  auto conf = MakeConf({{"transactional.id", UniqueName("compat-txn")}});
  std::string errstr;
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), errstr));
  REQUIRE(producer);
  auto ok = [](RdKafka::Error* raw) {
    std::unique_ptr<RdKafka::Error> error(raw);
    INFO((error ? error->str() : std::string()));
    CHECK(error == nullptr);
    return error == nullptr;
  };
  REQUIRE(ok(producer->init_transactions(kTimeoutMs)));
  auto produce = [&](const std::string& value) {
    REQUIRE(producer->produce(output, 0, RdKafka::Producer::RK_MSG_COPY,
                              const_cast<char*>(value.data()), value.size(), nullptr, 0, 0,
                              nullptr) == RdKafka::ERR_NO_ERROR);
  };

  // Consume-transform-produce: the input offsets are committed with the output records.
  auto consumer = MakeConsumer(group);
  REQUIRE(consumer->subscribe({input}) == RdKafka::ERR_NO_ERROR);
  size_t consumed = 0;
  REQUIRE(PollUntil(
      {consumer.get()}, [&] { return consumed == 5; }, std::chrono::seconds(60),
      [&](size_t, const ConsumedRecord&) { ++consumed; }));
  REQUIRE(ok(producer->begin_transaction()));
  for (int i = 0; i < 5; ++i) produce("committed-" + std::to_string(i));
  PartitionList offsets;
  offsets.Add(input, 0, 5);
  std::unique_ptr<RdKafka::ConsumerGroupMetadata> group_metadata(consumer->groupMetadata());
  REQUIRE(
      ok(producer->send_offsets_to_transaction(offsets.Items(), group_metadata.get(), kTimeoutMs)));
  REQUIRE(ok(producer->commit_transaction(kTimeoutMs)));

  REQUIRE(ok(producer->begin_transaction()));
  for (int i = 0; i < 3; ++i) produce("aborted-" + std::to_string(i));
  REQUIRE(producer->flush(kTimeoutMs) == RdKafka::ERR_NO_ERROR);
  REQUIRE(ok(producer->abort_transaction(kTimeoutMs)));

  PartitionList committed;
  committed.Add(input, 0);
  REQUIRE(consumer->committed(committed.Items(), kTimeoutMs) == RdKafka::ERR_NO_ERROR);
  CHECK(committed.OffsetOf(input, 0) == 5);
  consumer->close();

  auto read_all = [&](const std::string& isolation) {
    auto reader = MakeConsumer(UniqueName("compat-txn-reader"), {{"isolation.level", isolation}});
    PartitionList from_start;
    from_start.Add(output, 0, RdKafka::Topic::OFFSET_BEGINNING);
    REQUIRE(reader->assign(from_start.Items()) == RdKafka::ERR_NO_ERROR);
    std::vector<std::string> values;
    PollUntil(
        {reader.get()}, [] { return false; }, std::chrono::seconds(3),
        [&](size_t, const ConsumedRecord& r) { values.push_back(r.value); });
    reader->close();
    return values;
  };
  const auto read_committed = read_all("read_committed");
  CHECK(read_committed.size() == 5);
  CHECK(std::all_of(read_committed.begin(), read_committed.end(),
                    [](const std::string& v) { return v.rfind("committed-", 0) == 0; }));
  CHECK(read_all("read_uncommitted").size() == 8);
}

TEST_CASE("librdkafka 2.0.2 has no KIP-848 consumer protocol: group.protocol is unknown",
          "[kafka]") {
  // The classic protocol is what Kafka 4.x brokers serve to clients that do not ask for the
  // new one, so groups work (see the tests above); this pins down that 2.0.2 cannot ask.
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string errstr;
  INFO("librdkafka " << RdKafka::version_str());
  const auto result = conf->set("group.protocol", "consumer", errstr);
  if (RdKafka::version() < 0x02030000) {
    CHECK(result == RdKafka::Conf::CONF_UNKNOWN);
  } else {
    SUCCEED("librdkafka 2.3 or newer: group.protocol may exist, nothing to pin down");
  }
}
