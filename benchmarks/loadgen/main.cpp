// eddy-loadgen: the benchmarks' load generator. `fill` writes the topics of
// benchmarks/DATA.md; `rate` produces events at a steady rate; `latency` measures how long
// a record takes to become visible over HTTP under such a load; `selftest` checks the
// partitioner. See benchmarks/loadgen/README.md.
//
// Exit codes: 0 success; 1 a run that failed (Kafka errors, undelivered records, a self
// check that does not hold); 2 bad arguments.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "loadgen/flags.h"
#include "loadgen/generator.h"
#include "loadgen/http_client.h"
#include "loadgen/live.h"
#include "loadgen/producer.h"
#include "loadgen/selftest.h"
#include "loadgen/url.h"

namespace eddy::loadgen {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(usage: eddy-loadgen <command> [flags]

Load generator of eddy's benchmarks (benchmarks/DATA.md is the data contract).

commands:
  fill      write N records of one shape (events, table, impressions) and the sentinels
  rate      produce events at a steady rate, timestamped with the wall clock
  latency   steady load plus probes: time until a new record is visible over HTTP
  selftest  check murmur2 against Java's and librdkafka's partition placement

`eddy-loadgen <command> --help` describes each command's flags.
Exit codes: 0 success, 1 failure (Kafka errors, undelivered records), 2 bad arguments.
)";

constexpr std::string_view kFillHelp =
    R"(usage: eddy-loadgen fill --bootstrap B --topic T --shape events|table|impressions --events N [flags]

Writes the records of benchmarks/DATA.md as fast as the broker takes them, then one
sentinel record per partition. Creates the topic(s) with --partitions partitions
(replication 1, retention.ms=-1) if missing; an existing topic must have exactly that many.
Deterministic for a given --seed. Prints one summary line to stderr.

  --bootstrap B                  Kafka bootstrap servers (required)
  --topic T                      topic of the events, table rows or impressions (required)
  --partitions P                 partitions of the topic(s) (default 3)
  --shape S                      events | table | impressions (required)
  --clicks-topic C               impressions: the clicks topic (required with impressions)
  --events N                     records to write before the sentinels, duplicates
                                 included (required)
  --keys K                       events: keys k0 … k<K-1> (default 100000)
  --value-bytes V                pad values to V bytes (default 100; clicks have no pad)
  --out-of-order F               fraction of records moved back in event time (default 0)
  --max-delay-ms D               … by a uniform 0..D ms (default 5000)
  --duplicates F                 fraction of records that copy one of the previous 1000
                                 (default 0; not for table)
  --click-fraction F             impressions: fraction that get a click (default 0.5)
  --seed S                       random seed (default 7)
  --start-ms T                   event time of the first record (default 1795600000000)
  --events-per-event-second E    event time advances 1000/E ms per record (default 1000)
  --sentinels-out FILE           write the sentinel keys there, one per line, partition order
  --no-sentinels                 write no sentinels

Producer: partitioner=murmur2_random, acks=1, linger.ms=25, batch.num.messages=10000,
no compression. The main records (and clicks) are flushed before the sentinels are sent,
and every sentinel's delivery report must name the partition murmur2 predicts.
Summary (stderr): fill: records=… seconds=… records_per_s=… (then the per-kind counts).
Exit 1 if any record was not delivered.
)";

constexpr std::string_view kRateHelp =
    R"(usage: eddy-loadgen rate --bootstrap B --topic T --rate R --duration-s S [flags]

Produces `events`-shaped records (DATA.md) at R per second for S seconds, paced in 1 ms
ticks (each tick sends the records due by then), with ts = the wall clock. Keys k<n>, n
uniform in [0, K). Creates the topic if missing. Prints the achieved rate to stderr.

  --bootstrap B        Kafka bootstrap servers (required)
  --topic T            topic (required)
  --rate R             events per second (required, > 0)
  --duration-s S       seconds to run (required)
  --partitions P       partitions when the topic must be created (default 3); if given,
                       an existing topic must have exactly that many
  --keys K             distinct keys (default 100000)
  --value-bytes V      pad values to V bytes (default 100)
  --seed S             random seed of keys and amounts (default 7)

Producer: partitioner=murmur2_random, acks=1, librdkafka's default batching (linger.ms=5).
)";

constexpr std::string_view kLatencyHelp =
    R"(usage: eddy-loadgen latency --bootstrap B --topic T --rate R --duration-s S --warmup-s W --url-template URL [flags]

End-to-end visibility latency under load. One thread produces the steady load of
`eddy-loadgen rate` (its own producer, normal batching). Another probes: every
--probe-interval-ms, on a fixed schedule, it produces one record with a fresh key
probe-<run id>-<i> (events shape, ts = now) through a second producer with linger.ms=0.
Pending probes are polled over one keep-alive HTTP/1.1 connection: every
--poll-interval-us it GETs the URL of the oldest, with {key} replaced by the
percent-encoded key; on 200 (visible) it tries the next oldest at once, and so on until
one answers 404 (not visible yet). Latency = arrival of the 200 − the moment just before
the probe's produce() (steady clock). A probe not visible after 10 s is a timeout. The
run lasts W + S seconds; probes started in the first W seconds are discarded.

Probes do not wait for each other: a probe started only when the previous one turned
visible would lock onto the phase of the system's own timers (a periodic commit) and
measure that phase only. A probe that turns visible before an older one is seen when the
older one is.

Note: the probe's own polling costs the measured system some CPU (one GET every
--poll-interval-us while a probe is pending); it is the same for every system measured.

  --bootstrap B              Kafka bootstrap servers (required)
  --topic T                  topic the measured system reads (required)
  --rate R                   background events per second (required, > 0)
  --duration-s S             measured seconds, after the warmup (required)
  --warmup-s W               seconds of load and discarded probes first (required)
  --url-template URL         e.g. http://127.0.0.1:8080/v1/views/VIEW/keys/{key} (eddy) or
                             http://127.0.0.1:PORT/views/STORE/keys/{key} (Kafka Streams peer)
  --probe-interval-ms I      time between probe starts (default 10)
  --poll-interval-us U       time between GETs of a pending probe (default 500)
  --partitions P             as for rate (default 3)
  --keys K                   background keys (default 100000)
  --value-bytes V            pad values to V bytes (default 100)
  --seed S                   background random seed (default 7)
  --json-out FILE            also write the result line to FILE

Output: one JSON line on stdout:
  {"rate":…,"achieved_rate":…,"duration_s":…,"warmup_s":…,"probes":…,"timeouts":…,
   "p50_ms":…,"p90_ms":…,"p99_ms":…,"p999_ms":…,"max_ms":…,"http_errors":…,
   "http_connections":…,"delivery_errors":…}
probes counts the measured probes, timeouts included; the percentiles (nearest rank) are
over the probes that became visible (null if none did); a run has about S*1000/I probes,
so p999 needs S*1000/I well above 1000.
http_errors counts failed requests and answers other than 200/404; http_connections the
connections opened (1 when the server keeps the connection alive). Exit 1 if no probe
became visible or a record was not delivered.
)";

constexpr std::string_view kSelftestHelp =
    R"(usage: eddy-loadgen selftest [--bootstrap B] [--partitions P]

Checks that murmur2 matches Java's Utils.murmur2 on known vectors, and that librdkafka
(partitioner=murmur2_random) delivers every sentinel key, and 1000 keys k<n>, to the
partition Java's default partitioner predicts: on librdkafka's in-process mock cluster,
and with --bootstrap also on that broker (scratch topic eddy-loadgen-selftest-<id>,
deleted afterwards). --partitions: partition count to check (default 6).
)";

int UsageError(std::string_view command, const Status& status) {
  std::cerr << "eddy-loadgen " << command << ": " << status.message() << "\n(see eddy-loadgen "
            << command << " --help)\n";
  return kExitUsage;
}

int Failure(std::string_view command, const Status& status) {
  std::cerr << "eddy-loadgen " << command << ": " << status.message() << "\n";
  return kExitFailure;
}

std::string RunId() {
  std::random_device device;
  char text[17];
  std::snprintf(text, sizeof text, "%08x", device());
  return text;
}

Producer::Properties BaseProperties(const std::string& bootstrap) {
  return {
      {"bootstrap.servers", bootstrap},
      {"partitioner", "murmur2_random"},  // Java's default partitioner (DATA.md)
      {"acks", "1"},
      {"compression.type", "none"},
      {"enable.idempotence", "false"},
  };
}

// Throughput settings: big batches, a deep queue (records are small).
Producer::Properties FillProperties(const std::string& bootstrap) {
  Producer::Properties properties = BaseProperties(bootstrap);
  properties.insert(properties.end(), {
                                          {"linger.ms", "25"},
                                          {"batch.num.messages", "10000"},
                                          {"batch.size", "1000000"},
                                          {"queue.buffering.max.messages", "1000000"},
                                          {"queue.buffering.max.kbytes", "1048576"},
                                      });
  return properties;
}

// Checks that a flag applies to the shape it is used with.
Status OnlyFor(const Flags& flags, std::string_view flag, bool applies, std::string_view why) {
  if (flags.Has(flag) && !applies) {
    return Status::InvalidArgument("--" + std::string(flag) + " " + std::string(why));
  }
  return Status::Ok();
}

int Fill(const Flags& flags) {
  constexpr std::string_view kCommand = "fill";
  auto bootstrap = flags.Required("bootstrap");
  if (!bootstrap.ok()) return UsageError(kCommand, bootstrap.status());
  auto topic = flags.Required("topic");
  if (!topic.ok()) return UsageError(kCommand, topic.status());
  auto shape_name = flags.Required("shape");
  if (!shape_name.ok()) return UsageError(kCommand, shape_name.status());
  const std::optional<Shape> shape = ParseShape(*shape_name);
  if (!shape) {
    return UsageError(kCommand, Status::InvalidArgument("--shape: '" + *shape_name +
                                                        "' is not events, table or impressions"));
  }
  if (!flags.Has("events")) {
    return UsageError(kCommand, Status::InvalidArgument("--events is required"));
  }
  const bool impressions = *shape == Shape::kImpressions;
  for (const Status& status : {
           OnlyFor(flags, "clicks-topic", impressions, "applies to --shape impressions only"),
           OnlyFor(flags, "click-fraction", impressions, "applies to --shape impressions only"),
           OnlyFor(flags, "keys", *shape == Shape::kEvents,
                   "applies to --shape events only (table keys are k0 … k<N-1>, impression "
                   "keys i<seq>)"),
           OnlyFor(flags, "sentinels-out", !flags.Has("no-sentinels"),
                   "contradicts --no-sentinels"),
       }) {
    if (!status.ok()) return UsageError(kCommand, status);
  }
  std::string clicks_topic;
  if (impressions) {
    auto clicks = flags.Required("clicks-topic");
    if (!clicks.ok()) return UsageError(kCommand, clicks.status());
    clicks_topic = *clicks;
    if (clicks_topic == *topic) {
      return UsageError(kCommand,
                        Status::InvalidArgument("--clicks-topic must differ from --topic"));
    }
  }

  FillSpec spec;
  spec.shape = *shape;
  spec.sentinels = !flags.Has("no-sentinels");
  struct IntFlag {
    const char* name;
    int64_t* field;
    int64_t min;
    int64_t max;
  };
  int64_t partitions = spec.partitions;
  auto seed = static_cast<int64_t>(spec.seed);
  for (const IntFlag& f : {
           IntFlag{"events", &spec.records, 0, int64_t{1} << 50},
           IntFlag{"partitions", &partitions, 1, 100'000},
           IntFlag{"keys", &spec.keys, 1, int64_t{1} << 50},
           IntFlag{"value-bytes", &spec.value_bytes, 0, 1'000'000},
           IntFlag{"max-delay-ms", &spec.max_delay_ms, 0, int64_t{1} << 40},
           IntFlag{"seed", &seed, 0, INT64_MAX},
           IntFlag{"start-ms", &spec.start_ms, 0, int64_t{1} << 50},
           IntFlag{"events-per-event-second", &spec.events_per_event_second, 1, 1'000'000'000},
       }) {
    auto value = flags.Int(f.name, *f.field, f.min, f.max);
    if (!value.ok()) return UsageError(kCommand, value.status());
    *f.field = *value;
  }
  spec.partitions = static_cast<int32_t>(partitions);
  spec.seed = static_cast<uint64_t>(seed);
  for (const auto& [name, field] :
       {std::pair{"out-of-order", &spec.out_of_order}, std::pair{"duplicates", &spec.duplicates},
        std::pair{"click-fraction", &spec.click_fraction}}) {
    auto value = flags.Double(name, *field, 0, 1);
    if (!value.ok()) return UsageError(kCommand, value.status());
    *field = *value;
  }
  if (Status status = Validate(spec); !status.ok()) return UsageError(kCommand, status);

  auto created = Producer::Create(FillProperties(*bootstrap));
  if (!created.ok()) return Failure(kCommand, created.status());
  Producer& producer = **created;
  for (const std::string& name : {*topic, clicks_topic}) {
    if (name.empty()) continue;
    auto ensured = producer.EnsureTopic(name, spec.partitions, /*exact=*/true);
    if (!ensured.ok()) return Failure(kCommand, ensured.status());
  }
  rd_kafka_topic_t* main_topic = producer.Topic(*topic);
  rd_kafka_topic_t* clicks = impressions ? producer.Topic(clicks_topic) : nullptr;

  // Every record and click is delivered before the first sentinel is sent: librdkafka may
  // reorder records of one partition when it retries (no idempotence), and a sentinel
  // must come after everything else in its partition.
  constexpr auto kFlushTimeout = std::chrono::minutes(10);
  const auto start = std::chrono::steady_clock::now();
  Generator generator(spec);
  Record record;
  int64_t produced = 0;
  bool flushed_before_sentinels = false;
  while (generator.Next(record)) {
    if (record.sentinel_partition >= 0 && !flushed_before_sentinels) {
      if (Status status = producer.Flush(kFlushTimeout); !status.ok()) {
        return Failure(kCommand, status);
      }
      flushed_before_sentinels = true;
    }
    rd_kafka_topic_t* target = record.stream == Stream::kMain ? main_topic : clicks;
    if (Status status = producer.Produce(target, record.key, record.value, record.ts,
                                         record.sentinel_partition);
        !status.ok()) {
      return Failure(kCommand, status);
    }
    if (++produced % 1024 == 0) producer.Poll();
  }
  if (Status status = producer.Flush(kFlushTimeout); !status.ok()) {
    return Failure(kCommand, status);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  char summary[512];
  std::snprintf(
      summary, sizeof summary,
      "fill: records=%lld seconds=%.2f records_per_s=%.0f topic=%s shape=%s "
      "main=%lld clicks=%lld sentinels=%lld duplicates=%lld delivery_errors=%lld",
      static_cast<long long>(produced), seconds,
      seconds > 0 ? static_cast<double>(produced) / seconds : 0.0, topic->c_str(),
      std::string(ShapeName(spec.shape)).c_str(), static_cast<long long>(generator.main_records()),
      static_cast<long long>(generator.clicks()), static_cast<long long>(generator.sentinels()),
      static_cast<long long>(generator.duplicates()),
      static_cast<long long>(producer.failed() + producer.misplaced()));
  std::cerr << summary << "\n";
  if (!producer.first_error().empty()) {
    std::cerr << "eddy-loadgen fill: " << producer.failed() << " records not delivered, "
              << producer.misplaced() << " sentinels misplaced; first: " << producer.first_error()
              << "\n";
    return kExitFailure;
  }
  if (flags.Has("sentinels-out")) {
    const std::string path = flags.String("sentinels-out", "");
    std::ofstream out(path);
    for (const std::string& key : generator.sentinel_keys()) out << key << "\n";
    out.close();
    if (!out) return Failure(kCommand, Status::IoError("cannot write " + path));
  }
  return 0;
}

// The flags `rate` and `latency` share; fills `spec` and returns the duration.
struct LoadFlags {
  std::string bootstrap;
  SteadyLoadSpec spec;
  int64_t duration_s = 0;
  int32_t partitions = 3;
  bool exact_partitions = false;
};

Result<LoadFlags> ParseLoadFlags(const Flags& flags) {
  LoadFlags load;
  auto bootstrap = flags.Required("bootstrap");
  if (!bootstrap.ok()) return bootstrap.status();
  load.bootstrap = *bootstrap;
  auto topic = flags.Required("topic");
  if (!topic.ok()) return topic.status();
  load.spec.topic = *topic;
  if (!flags.Has("rate")) return Status::InvalidArgument("--rate is required");
  auto rate = flags.Double("rate", 0, 1e-3, 1e8);
  if (!rate.ok()) return rate.status();
  load.spec.rate = *rate;
  if (!flags.Has("duration-s")) return Status::InvalidArgument("--duration-s is required");
  auto duration = flags.Int("duration-s", 0, 1, 365LL * 24 * 3600);
  if (!duration.ok()) return duration.status();
  load.duration_s = *duration;
  auto partitions = flags.Int("partitions", 3, 1, 100'000);
  if (!partitions.ok()) return partitions.status();
  load.partitions = static_cast<int32_t>(*partitions);
  load.exact_partitions = flags.Has("partitions");
  auto keys = flags.Int("keys", load.spec.keys, 1, int64_t{1} << 50);
  if (!keys.ok()) return keys.status();
  load.spec.keys = *keys;
  auto value_bytes = flags.Int("value-bytes", load.spec.value_bytes, 0, 1'000'000);
  if (!value_bytes.ok()) return value_bytes.status();
  load.spec.value_bytes = *value_bytes;
  auto seed = flags.Int("seed", 7, 0, INT64_MAX);
  if (!seed.ok()) return seed.status();
  load.spec.seed = static_cast<uint64_t>(*seed);
  return load;
}

// A producer for the steady load, with the topic ensured.
Result<std::unique_ptr<Producer>> LoadProducer(const LoadFlags& load) {
  Result<std::unique_ptr<Producer>> producer = Producer::Create(BaseProperties(load.bootstrap));
  if (!producer.ok()) return producer;
  Result<int32_t> ensured =
      (*producer)->EnsureTopic(load.spec.topic, load.partitions, load.exact_partitions);
  if (!ensured.ok()) return ensured.status();
  return producer;
}

int Rate(const Flags& flags) {
  constexpr std::string_view kCommand = "rate";
  auto load = ParseLoadFlags(flags);
  if (!load.ok()) return UsageError(kCommand, load.status());
  auto producer = LoadProducer(*load);
  if (!producer.ok()) return Failure(kCommand, producer.status());
  const std::atomic<bool> never_stop{false};
  auto result = RunSteadyLoad(
      **producer, load->spec,
      std::chrono::steady_clock::now() + std::chrono::seconds(load->duration_s), never_stop);
  if (!result.ok()) return Failure(kCommand, result.status());
  if (Status status = (*producer)->Flush(std::chrono::minutes(2)); !status.ok()) {
    return Failure(kCommand, status);
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "rate: target=%.10g achieved=%.1f records=%lld seconds=%.2f delivery_errors=%lld",
                load->spec.rate, result->achieved_rate(), static_cast<long long>(result->sent),
                result->seconds, static_cast<long long>((*producer)->failed()));
  std::cerr << line << "\n";
  if ((*producer)->failed() > 0) {
    std::cerr << "eddy-loadgen rate: " << (*producer)->first_error() << "\n";
    return kExitFailure;
  }
  return 0;
}

std::string JsonNumber(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

int Latency(const Flags& flags) {
  constexpr std::string_view kCommand = "latency";
  auto load = ParseLoadFlags(flags);
  if (!load.ok()) return UsageError(kCommand, load.status());
  if (!flags.Has("warmup-s")) {
    return UsageError(kCommand, Status::InvalidArgument("--warmup-s is required"));
  }
  auto warmup = flags.Int("warmup-s", 0, 0, 24 * 3600);
  if (!warmup.ok()) return UsageError(kCommand, warmup.status());
  auto url_text = flags.Required("url-template");
  if (!url_text.ok()) return UsageError(kCommand, url_text.status());
  auto url = UrlTemplate::Parse(*url_text);
  if (!url.ok()) return UsageError(kCommand, url.status());
  auto probe_interval = flags.Int("probe-interval-ms", 10, 1, 60'000);
  if (!probe_interval.ok()) return UsageError(kCommand, probe_interval.status());
  auto poll_interval = flags.Int("poll-interval-us", 500, 0, 10'000'000);
  if (!poll_interval.ok()) return UsageError(kCommand, poll_interval.status());

  ProbeSpec probe;
  probe.topic = load->spec.topic;
  probe.url = *url;
  probe.run_id = RunId();
  probe.interval = std::chrono::milliseconds(*probe_interval);
  probe.poll_interval = std::chrono::microseconds(*poll_interval);
  probe.warmup = std::chrono::seconds(*warmup);
  probe.duration = std::chrono::seconds(load->duration_s);
  probe.value_bytes = load->spec.value_bytes;

  auto load_producer = LoadProducer(*load);
  if (!load_producer.ok()) return Failure(kCommand, load_producer.status());
  Producer::Properties probe_properties = BaseProperties(load->bootstrap);
  probe_properties.emplace_back("linger.ms", "0");
  auto probe_producer = Producer::Create(probe_properties);
  if (!probe_producer.ok()) return Failure(kCommand, probe_producer.status());
  HttpClient http(probe.url.host, probe.url.port);

  // The load thread runs until the probes are done (the last probe may finish after
  // warmup + duration), so that every probe is measured under load.
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  Result<SteadyLoadResult> load_result = SteadyLoadResult{};
  std::thread load_thread([&] {
    load_result = RunSteadyLoad(**load_producer, load->spec,
                                std::chrono::steady_clock::time_point::max(), stop);
  });
  Result<ProbeResults> probes = RunProbes(**probe_producer, http, probe, start);
  stop = true;
  load_thread.join();
  if (!load_result.ok()) return Failure(kCommand, load_result.status());
  if (!probes.ok()) return Failure(kCommand, probes.status());
  Status flushed = (*load_producer)->Flush(std::chrono::minutes(2));
  Status probe_flushed = (*probe_producer)->Flush(std::chrono::seconds(30));
  if (!flushed.ok()) return Failure(kCommand, flushed);
  if (!probe_flushed.ok()) return Failure(kCommand, probe_flushed);

  std::vector<double>& latencies = probes->latencies_ms;
  std::sort(latencies.begin(), latencies.end());
  const auto percentile = [&](double q) {
    return latencies.empty() ? std::string("null") : JsonNumber(Quantile(latencies, q), 3);
  };
  const int64_t delivery_errors = (*load_producer)->failed() + (*probe_producer)->failed();
  const int64_t measured = static_cast<int64_t>(latencies.size()) + probes->timeouts;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.10g", load->spec.rate);
  std::string json =
      "{\"rate\":" + std::string(rate) +
      ",\"achieved_rate\":" + JsonNumber(load_result->achieved_rate(), 1) +
      ",\"duration_s\":" + std::to_string(load->duration_s) +
      ",\"warmup_s\":" + std::to_string(*warmup) + ",\"probes\":" + std::to_string(measured) +
      ",\"timeouts\":" + std::to_string(probes->timeouts) + ",\"p50_ms\":" + percentile(0.5) +
      ",\"p90_ms\":" + percentile(0.9) + ",\"p99_ms\":" + percentile(0.99) +
      ",\"p999_ms\":" + percentile(0.999) + ",\"max_ms\":" + percentile(1.0) +
      ",\"http_errors\":" + std::to_string(probes->http_errors) +
      ",\"http_connections\":" + std::to_string(http.connections_opened()) +
      ",\"delivery_errors\":" + std::to_string(delivery_errors) + "}";
  std::cout << json << std::endl;
  if (flags.Has("json-out")) {
    const std::string path = flags.String("json-out", "");
    std::ofstream out(path);
    out << json << "\n";
    out.close();
    if (!out) return Failure(kCommand, Status::IoError("cannot write " + path));
  }
  if (!probes->first_http_error.empty()) {
    std::cerr << "eddy-loadgen latency: " << probes->http_errors
              << " failed requests or unexpected answers; first: " << probes->first_http_error
              << "\n";
  }
  if (delivery_errors > 0) {
    std::cerr << "eddy-loadgen latency: " << delivery_errors << " records not delivered\n";
  }
  if (latencies.empty()) {
    std::cerr << "eddy-loadgen latency: no probe became visible (check --url-template and "
                 "that the system reads --topic)\n";
    return kExitFailure;
  }
  return delivery_errors > 0 ? kExitFailure : 0;
}

int Selftest(const Flags& flags) {
  constexpr std::string_view kCommand = "selftest";
  auto partitions = flags.Int("partitions", 6, 1, 1000);
  if (!partitions.ok()) return UsageError(kCommand, partitions.status());
  const auto p = static_cast<int32_t>(*partitions);
  constexpr int64_t kExtraKeys = 1000;
  int failures = 0;
  const auto report = [&](const std::string& what, const Status& status) {
    std::cerr << (status.ok() ? "ok    " : "FAIL  ") << what
              << (status.ok() ? "" : ": " + status.message()) << "\n";
    if (!status.ok()) ++failures;
  };
  report("murmur2 equals Java's Utils.murmur2 on " + std::to_string(JavaMurmur2Vectors().size()) +
             " vectors",
         CheckMurmur2Vectors());
  report("librdkafka places " + std::to_string(p) + " sentinel keys and " +
             std::to_string(kExtraKeys) + " keys as predicted (mock cluster, " + std::to_string(p) +
             " partitions)",
         CheckPlacementOnMockCluster(p, kExtraKeys));
  if (flags.Has("bootstrap")) {
    const std::string bootstrap = flags.String("bootstrap", "");
    const std::string topic = "eddy-loadgen-selftest-" + RunId();
    report("librdkafka places " + std::to_string(p) + " sentinel keys and " +
               std::to_string(kExtraKeys) + " keys as predicted (" + bootstrap + ", topic " +
               topic + ")",
           CheckPlacement(bootstrap, topic, p, kExtraKeys));
    auto admin = Producer::Create({{"bootstrap.servers", bootstrap}});
    if (admin.ok()) {
      if (Status deleted = (*admin)->DeleteTopic(topic); !deleted.ok()) {
        std::cerr << "warning: " << deleted.message() << "\n";
      }
    }
  }
  return failures == 0 ? 0 : kExitFailure;
}

struct Command {
  std::string_view name;
  std::string_view help;
  std::vector<FlagSpec> flags;
  int (*run)(const Flags&);
};

int Main(int argc, char** argv) {
  const std::vector<FlagSpec> load_flags = {{"bootstrap"},   {"topic"},      {"rate"},
                                            {"duration-s"},  {"partitions"}, {"keys"},
                                            {"value-bytes"}, {"seed"}};
  std::vector<FlagSpec> latency_flags = load_flags;
  latency_flags.insert(
      latency_flags.end(),
      {{"warmup-s"}, {"url-template"}, {"probe-interval-ms"}, {"poll-interval-us"}, {"json-out"}});
  const std::vector<Command> commands = {
      {"fill",
       kFillHelp,
       {{"bootstrap"},
        {"topic"},
        {"partitions"},
        {"shape"},
        {"clicks-topic"},
        {"events"},
        {"keys"},
        {"value-bytes"},
        {"out-of-order"},
        {"max-delay-ms"},
        {"duplicates"},
        {"click-fraction"},
        {"seed"},
        {"start-ms"},
        {"events-per-event-second"},
        {"sentinels-out"},
        {"no-sentinels", false}},
       &Fill},
      {"rate", kRateHelp, load_flags, &Rate},
      {"latency", kLatencyHelp, latency_flags, &Latency},
      {"selftest", kSelftestHelp, {{"bootstrap"}, {"partitions"}}, &Selftest},
  };

  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  for (const Command& command : commands) {
    if (args[0] != command.name) continue;
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const std::string& arg : rest) {
      if (arg == "--help" || arg == "-h") {
        std::cout << command.help;
        return 0;
      }
    }
    Result<Flags> flags = Flags::Parse(rest, command.flags);
    if (!flags.ok()) return UsageError(command.name, flags.status());
    return command.run(*flags);
  }
  std::cerr << "eddy-loadgen: unknown command '" << args[0] << "'\n\n" << kUsage;
  return kExitUsage;
}

}  // namespace
}  // namespace eddy::loadgen

int main(int argc, char** argv) {
  return eddy::loadgen::Main(argc, argv);
}
