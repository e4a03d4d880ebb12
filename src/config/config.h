// Typed eddy configuration: what a YAML file means once it has been validated.
//
// Produced only by config::Load (config/loader.h), which checks everything that can be
// checked without the outside world: schema, types, units, references between steps and
// views. After Load succeeds the structs are immutable and every invariant written next to
// a field holds; the rest of eddy relies on that and does not re-validate.
//
// This module depends on nothing else in eddy but common/.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "expr/expr.h"

namespace eddy::config {

// Where a value came from, for error messages after loading ("file:line:column").
struct SourceLocation {
  std::string file;
  int line = 0;                  // 1-based
  int column = 0;                // 1-based
  std::string ToString() const;  // "file:line:column"; just "file" when line is 0 (whole file)
};

// One librdkafka property, passed through verbatim. Validated against librdkafka by the
// runtime (eddy validate), which is why its location is kept.
struct KafkaProperty {
  std::string name;
  std::string value;        // after ${VAR} interpolation; YAML scalars as written ("false")
  SourceLocation location;  // of the property's key
};

struct KafkaConfig {
  std::vector<KafkaProperty> properties;  // in file order; names unique
};

// Whether a librdkafka property holds a secret: a name containing "password", "secret" or
// "jaas", or one of ssl.key.pem, ssl_key (a private key) and sasl.oauthbearer.config. eddy
// never writes a secret's value into a log line, an error message or an HTTP response; the
// property's name and location are shown as usual. (librdkafka redacts the same ones, and
// sasl.username, in its own debug output.)
bool IsSecretKafkaProperty(std::string_view name);

// `text` with every occurrence of a secret property's (non-empty) value replaced by
// "[redacted]": for messages that quote text eddy did not write, such as librdkafka's errors.
std::string RedactSecrets(std::string text, const KafkaConfig& kafka);

struct StateConfig {
  std::string dir;  // non-empty
  // Flush dirty state + offsets to RocksDB at least this often while records flow. nullopt:
  // not written, see ResolveCommitInterval.
  std::optional<std::chrono::milliseconds> commit_interval;
  // Also commit as soon as a poll drains what the consumer fetched (engine::PipelineOptions).
  bool commit_when_caught_up = true;
  bool sync_writes = false;  // fsync RocksDB's WAL on every commit (survives power loss)
};

// Bearer-token authentication of the HTTP API (docs/api.md#authentication-and-rate-limits). Enabled
// when a token source is set; the tokens themselves are read at start (runtime), never
// logged.
struct HttpAuthConfig {
  std::string tokens_env;   // name of an environment variable: tokens separated by commas
  std::string tokens_file;  // path of a file: one token per line ('#' starts a comment)
  // Endpoints outside /v1 that require a token too: any of "healthz", "readyz", "metrics".
  std::vector<std::string> protect;
  SourceLocation location;  // of the auth map, for errors found at start
  bool enabled() const { return !tokens_env.empty() || !tokens_file.empty(); }
};

// Per-client (remote address) token bucket on /v1 requests; off when requests_per_second
// is 0.
struct HttpRateLimitConfig {
  double requests_per_second = 0;  // > 0 when set
  double burst = 0;                // bucket size; 0: max(1, requests_per_second)
};

// What /readyz requires besides the assignment, a working state and finished restores.
struct ReadinessConfig {
  // Not ready while some assigned partition lags more records than this; nullopt: lag does
  // not affect readiness (the default).
  std::optional<int64_t> max_lag_records;
};

struct HttpConfig {
  std::string listen_address = "0.0.0.0";  // IPv4, IPv6 without brackets ("::1"), or a name
  uint16_t listen_port = 8080;
  // 1..1024; 0: auto, one per hardware thread up to kAutoIoThreadsMax (see
  // ResolveIoThreads). One thread served ~7,500 lookups/s on 2 cores with the other idle.
  int io_threads = 0;
  static constexpr int kAutoIoThreadsMax = 8;
  HttpAuthConfig auth;
  HttpRateLimitConfig rate_limit;
  ReadinessConfig readiness;
};

// How many workers process partitions in parallel (docs/architecture.md, "Threads"): each
// worker is a thread with its own Kafka consumer in the group, so Kafka gives each partition
// to exactly one worker, and its own instance of every topology.
struct ProcessingConfig {
  static constexpr int kMaxThreads = 256;
  // 1..kMaxThreads; nullopt: `auto` (the default), resolved by ResolveProcessingThreads.
  std::optional<int> threads;
  SourceLocation threads_location;  // where `threads` was written; line 0: not written
};

enum class LogFormat { kText, kJson };
struct LoggingConfig {
  std::string level = "info";  // one of trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::kText;
};

// How a record's key is obtained.
struct KeySpec {
  enum class Kind { kKafkaKey, kField };
  Kind kind = Kind::kKafkaKey;
  std::vector<std::string> field_path;  // kField: non-empty, e.g. {"user","id"}
  std::string field_path_text;          // "user.id", for messages
};

// How a record's event time is obtained.
struct TimestampSpec {
  enum class Kind { kRecordTimestamp, kField };
  enum class Format { kEpochMillis, kEpochSeconds, kRfc3339 };
  Kind kind = Kind::kRecordTimestamp;
  std::vector<std::string> field_path;  // kField: non-empty
  std::string field_path_text;
  Format format = Format::kEpochMillis;
};

enum class ValueFormat { kJson };

// One input topic of a topology. A topology reads one (`source:`, named "source") or several
// (`sources:`, each named) topics; steps name the source they read in `from`.
struct SourceConfig {
  std::string name;   // "source" for the single-source form; else unique in the topology
  std::string topic;  // non-empty; unique within the topology
  ValueFormat format = ValueFormat::kJson;
  KeySpec key;
  TimestampSpec timestamp;
  // When set, a partition that has received no record for this long (wall clock) advances
  // its stream time with the wall clock from its last record, so its windows close and
  // final results come out of a quiet partition. 0 = off (the default): stream time moves
  // only with records, as in Kafka Streams.
  std::chrono::milliseconds idle_timeout{0};
  // When > 0, a record whose value is longer than this many bytes fails with reason
  // too_large before it is parsed (and goes to the topology's dead letters, if any).
  // 0 = no limit (the default).
  int64_t max_value_bytes = 0;
  SourceLocation location;
};

// What an aggregate computes; engine/aggregates.h has the exact semantics.
enum class AggregateFunction {
  kCount,
  kSum,
  kMin,
  kMax,
  kAvg,
  kCountDistinct,
  kFirst,
  kLast,
  kLatest,
};

// How count_distinct counts.
enum class DistinctMode {
  kExact,        // keeps every distinct value: state grows with cardinality
  kApproximate,  // HyperLogLog sketch: fixed size, ~0.8% standard error
};

struct AggregateConfig {
  std::string name;  // unique within its step; [A-Za-z_][A-Za-z0-9_]*
  AggregateFunction function = AggregateFunction::kCount;
  std::vector<std::string> field_path;  // kCount: empty; every other function: non-empty
  std::string field_path_text;
  DistinctMode distinct_mode = DistinctMode::kExact;  // kCountDistinct; kExact for the others
  SourceLocation location;
};

struct WindowConfig {
  enum class Kind {
    kTumbling,
    kHopping,
    kSession,  // per key, records closer than `gap` in event time form one session
    kNone,     // no window: one aggregate per key over all time (a step without `window:`)
  };
  Kind kind = Kind::kTumbling;
  std::chrono::milliseconds size{0};     // kTumbling, kHopping: > 0; else 0
  std::chrono::milliseconds advance{0};  // 0 < advance <= size; == size for tumbling; else 0
  std::chrono::milliseconds gap{0};      // kSession: > 0; else 0
  std::chrono::milliseconds grace{0};    // >= 0; kNone: 0
  // Tumbling, hopping: a window's state is purged once start + retention <= stream time (as
  // Kafka Streams' window stores); >= size + grace, so only closed windows go. Session: a
  // session is purged once its end (last event time) + retention < stream time (measured
  // from the end, as Kafka Streams' session stores); >= gap + grace, so only closed
  // sessions go. Default: size (gap) + grace + 24h, so closed windows stay queryable for a
  // day. kNone: 0, never purged.
  std::chrono::milliseconds retention{0};
};

// When a windowed step's results become visible downstream (views, sinks).
enum class EmitMode {
  kOnUpdate,  // every change, as soon as it is committed
  kFinal,     // once per window, when it closes (end + grace <= stream time); not for kNone
};

// An expression of the language in docs/expressions.md, parsed and type-checked by Load.
struct ExpressionConfig {
  std::string text;
  SourceLocation location;
  std::shared_ptr<const expr::Expression> parsed;  // set by a successful Load
};

// What a dedup step recognises a record by, and for how long.
struct DedupConfig {
  enum class IdSource { kField, kKafkaKey, kHeader };
  IdSource id_source = IdSource::kField;
  std::vector<std::string> field_path;  // kField
  std::string field_path_text;
  std::string header;  // kHeader: the header's name
  // An id stays "seen" until first-seen event time + ttl <= the partition's stream time.
  std::chrono::milliseconds ttl{0};  // > 0
};

// A join of the records a step reads (`from`, the left side) with another input, matching
// equal keys. engine/stream_join.h and engine/table_join.h have the exact semantics.
struct JoinConfig {
  enum class With {
    kTable,   // the current row of a table step, looked up by key (stream–table join)
    kStream,  // records of another input within `within` of each other (stream–stream join)
  };
  enum class Type { kInner, kLeft, kOuter };  // kOuter: kStream only
  With with = With::kTable;
  // kTable: a table step of this topology. kStream: a source or record-producing step whose
  // records descend from a different source than the left side's.
  std::string right;
  Type type = Type::kInner;
  // The member of the output object that holds the right side's value (null when a left or
  // outer join found no match). Default: `right`. An identifier.
  std::string as;
  std::chrono::milliseconds within{0};  // kStream: > 0; |left time - right time| <= within
  std::chrono::milliseconds grace{0};   // kStream: >= 0; how late a record may arrive
  SourceLocation right_location;        // of the table / stream key
  // kTable: the stream's records are in the partition number of their key's table row
  // (both topics keyed by the join key, same partitioner, same partition count), so each
  // worker or instance needs only the table partitions Kafka assigns it. Off: the table is
  // read whole and the join runs one worker (docs/joins.md).
  bool co_partitioned = false;
  SourceLocation co_partitioned_location;
  // kStream: MiB of buffered records each worker keeps in memory, so that a record finds its
  // matches without reading RocksDB (0: every record reads RocksDB). A partition whose
  // records do not fit reads RocksDB until it is next assigned.
  // In bytes: the YAML's cache_mib << 20 (tests set smaller budgets directly).
  int64_t cache_bytes = int64_t{256} << 20;
};

// One computed field of a `select` step: name: expression.
struct SelectField {
  std::string name;
  ExpressionConfig value;
};

// A named processing step. Steps form a tree rooted at the topology's source: each reads
// the records of `from`. Filter, select and rekey output records; a window step's results
// go to views and sinks only.
struct StepConfig {
  enum class Kind {
    kWindow,  // windowed aggregation: window, aggregates, emit
    kFilter,  // keeps records for which `expression` is exactly true
    kSelect,  // replaces the value with an object of computed fields
    kRekey,   // replaces the key with `expression` (a string, integer or boolean)
    kDedup,   // drops records whose id was already seen within the ttl
    kTable,   // keeps the latest value per key (a changelog); tombstones delete
    kJoin,    // joins its records with a table or another stream (JoinConfig)
  };
  Kind kind = Kind::kWindow;
  std::string name;  // unique within the topology; [A-Za-z0-9_.-]+; not "source"
  // The step or source whose records this one reads. Resolved by Load: when the YAML gives
  // no `from`, the closest record-producing step above, else the only source. Always names
  // a source (then from_source is true) or a record-producing step defined above this one,
  // so the steps form a forest rooted at the sources, with no cycles.
  std::string from;
  bool from_source = false;
  ExpressionConfig expression;      // kFilter, kRekey
  std::vector<SelectField> select;  // kSelect: non-empty, names unique
  DedupConfig dedup;                // kDedup
  JoinConfig join;                  // kJoin
  // kTable: a record for which this is exactly true deletes its key (a delete marker), as a
  // tombstone (null value) does. parsed is null when not configured.
  ExpressionConfig table_delete_when;
  // kTable: MiB of rows each worker keeps in memory for stream–table join lookups (0: none).
  int64_t table_cache_mib = 256;
  WindowConfig window;                      // kWindow (kind kNone when YAML has no `window:`)
  std::vector<AggregateConfig> aggregates;  // kWindow: non-empty
  EmitMode emit = EmitMode::kOnUpdate;      // kWindow
  // kWindow with a window (not kNone): where records dropped as late go, besides the
  // eddy_late_records_dropped_total count. "" = nowhere (dropped only).
  std::string late_records_topic;
  SourceLocation location;
};

// A queryable view over a step's output. View names are unique across all topologies,
// because they are a global namespace in the HTTP API (/v1/views/{name}).
struct ViewConfig {
  std::string name;  // [A-Za-z0-9_.-]+
  std::string from;  // names a step of the same topology
  SourceLocation location;
};

// Writes a step's results to a Kafka topic (at-least-once, idempotent producer). Window
// results are sent when the step emits them: every committed change (emit: update), or once
// per window when it closes (emit: final). A record-producing step's records (filter,
// select, rekey, dedup, join) are sent as they are: their key, value and event time.
struct SinkConfig {
  std::string name;   // unique within the topology; [A-Za-z0-9_.-]+
  std::string from;   // names a step of the same topology
  std::string topic;  // non-empty
  // Window steps only (records are sent as they are):
  // kNested: {"key", "start", "end", "start_ms", "end_ms", "closed", "aggregates": {...}}
  // kFlat:   {"key", "window_start_ms", "window_end_ms", "closed", <aggregate>: value, ...}
  enum class ValueShape { kNested, kFlat };
  ValueShape value = ValueShape::kNested;
  SourceLocation value_location;  // line 0: not given
  SourceLocation location;
};

// Where a topology sends the records it cannot process (bad JSON, missing key, ...; see
// docs/error-handling.md) and the sink records that could not be delivered after retries.
struct DeadLettersConfig {
  std::string topic;  // "" = off: such records are counted and skipped (sink failures stop)
  SourceLocation location;
};

struct TopologyConfig {
  std::string name;                   // unique; [A-Za-z0-9_.-]+
  std::vector<SourceConfig> sources;  // non-empty; names unique and distinct from step names
  std::vector<StepConfig> steps;      // non-empty
  std::vector<ViewConfig> views;
  std::vector<SinkConfig> sinks;
  DeadLettersConfig dead_letters;
  SourceLocation location;
};

// How records that Kafka refused or never acknowledged are retried (every sink, late_records
// and dead-letter topic). See docs/error-handling.md.
enum class DeliveryGuarantee { kAtLeastOnce, kExactlyOnce };

struct DeliveryConfig {
  // at_least_once (default): sinks use the idempotent producer and are flushed before each
  // state commit. exactly_once: each commit's outputs and input offsets go out in one Kafka
  // transaction, recorded in RocksDB first (engine/exactly_once_sink.h, docs/guarantees.md).
  DeliveryGuarantee guarantee = DeliveryGuarantee::kAtLeastOnce;
  // exactly_once: the producer's transactional.id. Empty: "eddy-<group.id>", plus
  // "-<group.instance.id>" when that is set. Each instance needs its own.
  std::string transactional_id;
  // Tries per record, the first one included: 1 = no retry. 1..100.
  int attempts = 3;
  // Delay before retry n (n = 1, 2, ...): min(max_backoff, backoff * 2^(n-1)), scaled by a
  // random factor in [0.5, 1] (jitter). backoff > 0; max_backoff >= backoff.
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Circuit breaker per sink topic: after this many consecutive records that could not be
  // delivered (retries exhausted), the topic's breaker opens and the source partitions of the
  // topologies writing to it are paused for `breaker_cooldown`; then one more delivery is
  // tried (half-open). 1..1000000.
  int breaker_failures = 5;
  std::chrono::milliseconds breaker_cooldown{30'000};  // > 0
};

// True when the topology writes to Kafka (sinks, a late-records or a dead-letter topic), so
// eddy needs a producer for it.
bool WritesToKafka(const TopologyConfig& topology);

struct Config {
  std::string file;  // path the config was loaded from
  KafkaConfig kafka;
  StateConfig state;
  HttpConfig http;
  LoggingConfig logging;
  DeliveryConfig delivery;
  ProcessingConfig processing;
  std::vector<TopologyConfig> topologies;  // non-empty
};

// http.io_threads as written, or for auto (0) one per hardware thread (`hardware_threads`;
// 0 = unknown counts as 1), at most HttpConfig::kAutoIoThreadsMax.
int ResolveIoThreads(const HttpConfig& http, unsigned hardware_threads);

// The first stream–table join step of `config` ("topology.step") that is not
// co_partitioned, or "" when there is none. A worker owns only the table partitions Kafka
// assigns it, while such a join may look up any key (docs/joins.md): these configs run one
// worker.
std::string FirstStreamTableJoin(const Config& config);

// The number of workers to run: processing.threads when written; for `auto`, the hardware
// threads (`hardware_threads`, std::thread::hardware_concurrency(); 0 = unknown counts as
// 1), capped at ProcessingConfig::kMaxThreads, or 1 when the config has a stream–table
// join. `why` says how `auto` was resolved (empty when threads was written).
struct ProcessingThreads {
  int threads = 1;
  std::string why;
};
ProcessingThreads ResolveProcessingThreads(const Config& config, unsigned hardware_threads);

// state.commit_interval when written; else 100 ms with delivery.guarantee exactly_once (each
// commit is a Kafka transaction whose outputs consumers see only once it commits, as Kafka
// Streams' exactly-once default), and 1 s otherwise. A caught-up input is committed as soon as
// a poll drains it anyway (commit_when_caught_up), so the interval only paces a backlog: there
// a commit every 100 ms rewrote the same keys' state up to ten times as often for views that
// lag the input anyway.
std::chrono::milliseconds ResolveCommitInterval(const Config& config);

// What tells worker `worker`'s identities apart (its transactional.id, group.instance.id and
// exactly-once outbox): "" for worker 0, so that one worker keeps the identities eddy always
// had, and "-w<worker>" for the others.
std::string WorkerSuffix(int worker);

}  // namespace eddy::config
