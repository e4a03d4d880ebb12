#include "runtime/daemon.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/json_writer.h"
#include "engine/pipeline.h"
#include "engine/reliable_sink.h"
#include "engine/topology.h"
#include "http/access.h"
#include "http/server.h"
#include "kafka/kafka_sink.h"
#include "kafka/kafka_source.h"
#include "kafka/kafka_transactions.h"
#include "metrics/metrics.h"
#include "runtime/health.h"
#include "runtime/instrumentation.h"
#include "runtime/views_api.h"
#include "state/key_encoding.h"
#include "state/state_db.h"
#include "state/window_retention.h"

namespace eddy::runtime {
namespace {

// After a stop signal, a shutdown that has not finished in this long (a broker that does
// not answer the final commit or leave-group) is cut short. Below Docker's default 10 s
// stop timeout, so eddy ends on its own terms rather than by SIGKILL. State stays exact:
// RocksDB holds only whole commits, and the next start resumes from them.
constexpr auto kShutdownDeadline = std::chrono::seconds(8);

// How long a worker waits for the one before it to be assigned partitions before it joins
// the group anyway (a broker that is slow to answer must not keep the others out for good).
constexpr auto kWorkerJoinWait = std::chrono::seconds(10);

}  // namespace

namespace {

// One worker (processing.threads): a processing thread's own consumer, sink and topology
// instances, built from the same config as every other worker's. Owned by Parts; its
// thread is started and joined by Daemon::Run.
struct Worker {
  int index = 0;
  config::KafkaConfig kafka;  // the config's, with this worker's group.instance.id
  // Declaration order is destruction order in reverse, as in Parts.
  std::unique_ptr<kafka::KafkaSink> sink;  // only when some topology writes to Kafka
  // Retries, dead letters and circuit breakers around `sink`; what topologies write to.
  std::unique_ptr<engine::RetryClock> retry_clock;
  std::unique_ptr<engine::ReliableSink> reliable_sink;
  std::vector<std::unique_ptr<engine::Topology>> topologies;
  std::unique_ptr<kafka::KafkaSource> source;
  // delivery.guarantee exactly_once: instead of sink / reliable_sink, what topologies write to.
  std::unique_ptr<kafka::KafkaTransactions> transactions;  // uses source's consumer
  std::unique_ptr<engine::ExactlyOnceSink> exactly_once;
  std::unique_ptr<engine::Pipeline> pipeline;
};

}  // namespace

struct Daemon::Parts {
  config::Config config;
  // Declaration order is destruction order in reverse: the server and the workers go before
  // the state they read.
  std::unique_ptr<metrics::Metrics> metrics;
  state::WindowRetention window_retention;  // outlives db, whose compactions consult it
  std::unique_ptr<state::StateDb> db;
  std::vector<std::unique_ptr<Worker>> workers;  // at least one
  std::unique_ptr<http::AccessControl> access;   // outlives the server that asks it
  std::unique_ptr<HealthChecks> health;          // reads the workers and stopping
  std::unique_ptr<http::Server> server;
  std::vector<http::Router::RouteInfo> routes;  // what `server` routes; constant
  std::atomic<bool> stopping{false};
};

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = std::min<rlim_t>(limit.rlim_max, 65'536);
  if (limit.rlim_cur >= wanted) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = wanted;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("open-file limit raised from {} to {}", before, wanted);
  }
}

void BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

namespace {

http::Router BuildRouter(Daemon::Parts& parts);

// The tokens in `text`, split at `separator` and trimmed; empty ones are skipped, and so are
// lines starting with '#' when splitting a file's lines.
std::vector<std::string> SplitTokens(const std::string& text, char separator) {
  std::vector<std::string> tokens;
  std::stringstream in(text);
  std::string token;
  while (std::getline(in, token, separator)) {
    const size_t first = token.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const size_t last = token.find_last_not_of(" \t\r");
    token = token.substr(first, last - first + 1);
    if (separator == '\n' && token.front() == '#') continue;
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// http.auth's tokens (read now, from the environment or a file) and http.rate_limit.
Result<http::AccessOptions> AccessOptionsOf(const config::HttpConfig& http_config) {
  http::AccessOptions options;
  const config::HttpAuthConfig& auth = http_config.auth;
  if (auth.enabled()) {
    const std::string where = auth.location.ToString() + ": http auth: ";
    if (!auth.tokens_env.empty()) {
      const char* value = std::getenv(auth.tokens_env.c_str());
      if (value == nullptr) {
        return Status::InvalidArgument(where + "environment variable " + auth.tokens_env +
                                       " (tokens_env) is not set");
      }
      for (std::string& token : SplitTokens(value, ',')) options.tokens.push_back(std::move(token));
    }
    if (!auth.tokens_file.empty()) {
      std::ifstream in(auth.tokens_file);
      if (!in) {
        return Status::InvalidArgument(where + "cannot read tokens_file " + auth.tokens_file +
                                       ": " + std::strerror(errno));
      }
      std::stringstream text;
      text << in.rdbuf();
      for (std::string& token : SplitTokens(text.str(), '\n')) {
        options.tokens.push_back(std::move(token));
      }
    }
    if (options.tokens.empty()) {
      return Status::InvalidArgument(
          where + "no token found in " +
          (auth.tokens_env.empty() ? "" : "environment variable " + auth.tokens_env) +
          (!auth.tokens_env.empty() && !auth.tokens_file.empty() ? " or " : "") +
          (auth.tokens_file.empty() ? "" : "file " + auth.tokens_file) +
          ": with auth on and no token, no request could be served");
    }
    for (const std::string& endpoint : auth.protect)
      options.protected_paths.push_back("/" + endpoint);
    spdlog::info("http: bearer-token authentication on ({} token(s))", options.tokens.size());
  }
  options.requests_per_second = http_config.rate_limit.requests_per_second;
  options.burst = http_config.rate_limit.burst;
  return options;
}

// Worker `index`'s consumer, sink, topologies and pipeline (see Worker).
Result<std::unique_ptr<Worker>> CreateWorker(
    Daemon::Parts& parts, int index,
    const std::vector<std::shared_ptr<engine::OwnedPartitions>>& owned) {
  const config::Config& cfg = parts.config;
  auto worker = std::make_unique<Worker>();
  worker->index = index;
  worker->kafka = cfg.kafka;
  // Static membership: each consumer of the group needs its own group.instance.id.
  for (config::KafkaProperty& property : worker->kafka.properties) {
    if (property.name == "group.instance.id") property.value += config::WorkerSuffix(index);
  }
  Result<std::unique_ptr<kafka::KafkaSource>> source =
      kafka::KafkaSource::Create(worker->kafka, *parts.metrics);
  if (!source.ok()) return source.status();
  worker->source = std::move(*source);

  // A producer only when something writes to Kafka: sinks, late_records or dead_letters.
  engine::Sink* topology_sink = nullptr;
  if (std::any_of(cfg.topologies.begin(), cfg.topologies.end(), config::WritesToKafka)) {
    worker->retry_clock = engine::SystemRetryClock();
    if (cfg.delivery.guarantee == config::DeliveryGuarantee::kExactlyOnce) {
      Result<std::unique_ptr<kafka::KafkaTransactions>> transactions =
          kafka::KafkaTransactions::Create(
              worker->kafka, kafka::TransactionalId(cfg) + config::WorkerSuffix(index),
              *worker->source, *parts.metrics);
      if (!transactions.ok()) return transactions.status();
      worker->transactions = std::move(*transactions);
      worker->exactly_once = std::make_unique<engine::ExactlyOnceSink>(
          *worker->transactions, *parts.db, cfg.delivery,
          engine::ReliableSink::RoutesOf(cfg.topologies), *worker->retry_clock, *parts.metrics,
          config::WorkerSuffix(index));
      topology_sink = worker->exactly_once.get();
    } else {
      Result<std::unique_ptr<kafka::KafkaSink>> sink =
          kafka::KafkaSink::Create(worker->kafka, *parts.metrics);
      if (!sink.ok()) return sink.status();
      worker->sink = std::move(*sink);
      std::set<std::string> dead_letter_topics;
      for (const config::TopologyConfig& topology : cfg.topologies) {
        if (!topology.dead_letters.topic.empty()) {
          dead_letter_topics.insert(topology.dead_letters.topic);
        }
      }
      worker->reliable_sink = std::make_unique<engine::ReliableSink>(
          *worker->sink, cfg.delivery, engine::ReliableSink::RoutesOf(cfg.topologies),
          std::move(dead_letter_topics), *worker->retry_clock, *parts.metrics);
      topology_sink = worker->reliable_sink.get();
    }
  }
  for (size_t i = 0; i < cfg.topologies.size(); ++i) {
    Result<std::unique_ptr<engine::Topology>> topology =
        engine::Topology::Create(cfg.topologies[i], *parts.db, *parts.metrics,
                                 &parts.window_retention, topology_sink, owned[i]);
    if (!topology.ok()) return topology.status();
    worker->topologies.push_back(std::move(*topology));
  }

  engine::PipelineOptions pipeline_options;
  pipeline_options.commit_interval = config::ResolveCommitInterval(cfg);
  pipeline_options.commit_when_caught_up =
      cfg.state.commit_when_caught_up && !cfg.state.sync_writes &&
      cfg.delivery.guarantee != config::DeliveryGuarantee::kExactlyOnce;
  pipeline_options.worker = index;
  worker->pipeline = std::make_unique<engine::Pipeline>(
      *worker->source, *parts.db, worker->topologies, *parts.metrics, pipeline_options,
      worker->reliable_sink.get(), worker->exactly_once.get());
  return worker;
}

// Exactly-once: the outboxes of workers this run does not have (a restart with fewer
// threads) may each hold a transaction staged in RocksDB that never reached Kafka. No
// worker of this run would ever publish it, so it is settled now, before any worker starts,
// exactly as that worker's own start would have (ExactlyOnceSink::Recover with its
// transactional id, which also fences a producer of that id left behind). Runs on the
// calling thread and borrows worker 0's consumer (its group's committed offsets) before
// that worker's thread owns it.
Status SettleLeftoverOutboxes(Daemon::Parts& parts) {
  const config::Config& cfg = parts.config;
  Worker& first = *parts.workers.front();
  if (first.exactly_once == nullptr) return Status::Ok();
  const std::string prefix = state::EncodeOutboxKey("transaction-w");
  std::vector<int> leftover;
  Status decode_status;
  EDDY_RETURN_IF_ERROR(parts.db->ScanPrefix(prefix, [&](std::string_view key,
                                                        std::string_view value) {
    int index = 0;
    const std::string_view digits = key.substr(prefix.size());
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (error != std::errc() || end != digits.data() + digits.size()) return true;
    const std::optional<engine::OutputTransaction> transaction =
        engine::DecodeOutputTransaction(value);
    if (!transaction) {
      decode_status = Status::Internal("exactly-once output: the outbox of worker " +
                                       std::to_string(index) + " is corrupt");
      return false;
    }
    if (index >= static_cast<int>(parts.workers.size()) && !transaction->published) {
      leftover.push_back(index);
    }
    return true;
  }));
  EDDY_RETURN_IF_ERROR(decode_status);
  for (const int index : leftover) {
    spdlog::info(
        "exactly-once: settling the unpublished transaction of worker {}, which this "
        "run (processing.threads {}) does not have",
        index, parts.workers.size());
    Result<std::unique_ptr<kafka::KafkaTransactions>> transactions =
        kafka::KafkaTransactions::Create(first.kafka,
                                         kafka::TransactionalId(cfg) + config::WorkerSuffix(index),
                                         *first.source, *parts.metrics);
    if (!transactions.ok()) return transactions.status();
    engine::ExactlyOnceSink outbox(**transactions, *parts.db, cfg.delivery,
                                   engine::ReliableSink::RoutesOf(cfg.topologies),
                                   *first.retry_clock, *parts.metrics, config::WorkerSuffix(index));
    EDDY_RETURN_IF_ERROR(outbox.Recover());
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Create(config::Config config) {
  auto parts = std::make_unique<Parts>();
  parts->config = std::move(config);
  const config::Config& cfg = parts->config;
  parts->metrics = std::make_unique<metrics::Metrics>();

  Result<std::unique_ptr<state::StateDb>> db =
      state::StateDb::Open(cfg.state.dir, {cfg.state.sync_writes, &parts->window_retention});
  if (!db.ok()) return db.status();
  parts->db = std::move(*db);
  CollectStateDbMetrics(*parts->metrics, *parts->db);

  const config::ProcessingThreads threads =
      config::ResolveProcessingThreads(cfg, std::thread::hardware_concurrency());
  spdlog::info("processing with {} worker(s){}", threads.threads,
               threads.why.empty() ? "" : " (" + threads.why + ")");
  // One OwnedPartitions per topology, shared by its instances in every worker: its views
  // serve the union of the partitions the workers own.
  std::vector<std::shared_ptr<engine::OwnedPartitions>> owned;
  for (size_t i = 0; i < cfg.topologies.size(); ++i) {
    owned.push_back(std::make_shared<engine::OwnedPartitions>());
  }
  for (int index = 0; index < threads.threads; ++index) {
    Result<std::unique_ptr<Worker>> worker = CreateWorker(*parts, index, owned);
    if (!worker.ok()) return worker.status();
    parts->workers.push_back(std::move(*worker));
  }
  const Worker& first = *parts->workers.front();

  // Stream–stream and co_partitioned stream–table joins meet records by partition number;
  // only the range assignor gives one member the same partition numbers of every topic
  // (see docs/joins.md). Every worker is a
  // member of the group, so this holds between the workers of one instance too.
  const bool joins_streams =
      std::any_of(first.topologies.begin(), first.topologies.end(),
                  [](const auto& t) { return !t->co_partitioned_topics().empty(); });
  for (const config::KafkaProperty& property : cfg.kafka.properties) {
    if (joins_streams && property.name == "partition.assignment.strategy" &&
        !property.value.starts_with("range")) {
      spdlog::warn(
          "{}: partition.assignment.strategy '{}' does not start with 'range': with "
          "several instances or workers in one group, a stream–stream or co_partitioned "
          "stream–table join would see partitions of its topics on different members and "
          "miss matches",
          property.location.ToString(), property.value);
    }
  }

  HealthOptions health_options;
  health_options.max_lag_records = cfg.http.readiness.max_lag_records;
  // librdkafka retries authentication failures forever: readiness says why it waits.
  health_options.authentication_error = [&parts = *parts] {
    for (const auto& worker : parts.workers) {
      std::string error = worker->source->AuthenticationError();
      if (!error.empty()) return config::RedactSecrets(error, parts.config.kafka);
    }
    return std::string();
  };
  std::vector<HealthWorker> health_workers;
  for (const auto& worker : parts->workers) {
    health_workers.push_back({worker->pipeline.get(), worker->exactly_once.get()});
  }
  parts->health =
      std::make_unique<HealthChecks>(std::move(health_workers), parts->stopping, health_options);
  parts->health->RegisterMetrics(*parts->metrics);

  http::ServerOptions server_options;
  server_options.address = cfg.http.listen_address;
  server_options.port = cfg.http.listen_port;
  server_options.io_threads =
      config::ResolveIoThreads(cfg.http, std::thread::hardware_concurrency());
  server_options.observer = HttpRequestMetrics(*parts->metrics);
  Result<http::AccessOptions> access = AccessOptionsOf(cfg.http);
  if (!access.ok()) return access.status();
  parts->access = std::make_unique<http::AccessControl>(std::move(*access));
  http::Router router = BuildRouter(*parts);
  parts->routes = router.Routes();
  parts->server =
      std::make_unique<http::Server>(server_options, std::move(router), parts->access.get());
  return std::unique_ptr<Daemon>(new Daemon(std::move(parts)));
}

Daemon::Daemon(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Daemon::~Daemon() = default;

const std::vector<http::Router::RouteInfo>& Daemon::routes() const {
  return parts_->routes;
}

Status Daemon::Run() {
  Parts& parts = *parts_;
  EDDY_RETURN_IF_ERROR(parts.server->Start());
  spdlog::info("eddy {} serving HTTP on {}:{}, state in {}", EDDY_VERSION,
               parts.config.http.listen_address, parts.server->port(), parts.db->path());

  // Before any worker starts: it borrows worker 0's consumer.
  if (Status settled = SettleLeftoverOutboxes(parts); !settled.ok()) {
    parts.server->Stop();
    return settled;
  }

  // Each worker's thread runs its Pipeline; `done` counts those that returned (a failure,
  // or a stop).
  //
  // Workers join the group one after another: worker i subscribes once worker i-1 has had
  // its first assignment (or kWorkerJoinWait has passed). Subscribed together, their
  // consumers race: when the second JoinGroup reaches the broker between the first
  // consumer's JoinGroup response and its SyncGroup, that SyncGroup fails and librdkafka
  // waits ~2 s before joining again, so a restart with two workers was ready after 0.05 s
  // or 2 s by chance. Joined in turn, the earlier consumers learn of the rebalance at their
  // next heartbeat (heartbeat.interval.ms, 500 ms by default) and all hold their partitions
  // within about that.
  const size_t worker_count = parts.workers.size();
  std::atomic<size_t> done{0};
  std::vector<Status> statuses(worker_count);
  std::vector<std::thread> threads;
  threads.reserve(worker_count);
  auto start_next_worker = [&] {
    const size_t index = threads.size();
    threads.emplace_back([&, index] {
      state::DisablePerfCountersOnThisThread();
      statuses[index] = parts.workers[index]->pipeline->Run();
      done.fetch_add(1);
    });
  };
  start_next_worker();
  auto previous_worker_started = std::chrono::steady_clock::now();

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  const timespec poll_interval{0, 200'000'000};
  const timespec join_poll_interval{0, 5'000'000};
  // Any worker that returns on its own has failed (only a stop ends one cleanly): the
  // daemon stops, as it did when its one processing thread stopped.
  while (done.load() == 0) {
    if (threads.size() < worker_count) {
      const auto now = std::chrono::steady_clock::now();
      if (parts.workers[threads.size() - 1]->pipeline->assignment_received() ||
          now - previous_worker_started > kWorkerJoinWait) {
        start_next_worker();
        previous_worker_started = now;
      }
    }
    const int signal_number = sigtimedwait(
        &signals, nullptr, threads.size() < worker_count ? &join_poll_interval : &poll_interval);
    if (signal_number == SIGINT || signal_number == SIGTERM) {
      spdlog::info("received {}, shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
  }
  parts.stopping.store(true);
  for (const auto& worker : parts.workers) worker->pipeline->RequestStop();

  std::atomic<bool> shutdown_finished{false};
  std::thread watchdog([&] {
    const auto deadline = std::chrono::steady_clock::now() + kShutdownDeadline;
    while (!shutdown_finished.load()) {
      if (std::chrono::steady_clock::now() > deadline) {
        spdlog::critical("shutdown did not finish within {} s; exiting without it",
                         kShutdownDeadline.count());
        spdlog::shutdown();
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  // Every worker stops polling, commits and leaves the group; then HTTP stops.
  for (std::thread& thread : threads) thread.join();
  parts.server->Stop();
  shutdown_finished.store(true);
  watchdog.join();
  for (const Status& status : statuses) {
    if (!status.ok()) return status;
  }
  spdlog::info("stopped cleanly; state and offsets committed");
  return Status::Ok();
}

namespace {

http::Router BuildRouter(Daemon::Parts& parts) {
  http::Router router;
  router.Add("GET", "/healthz", [&parts](const http::Request&) { return parts.health->Healthz(); });
  router.Add("GET", "/readyz", [&parts](const http::Request&) { return parts.health->Readyz(); });
  router.Add("GET", "/metrics", [&parts](const http::Request&) {
    return http::Response::Text(200, parts.metrics->SerializeText(),
                                "text/plain; version=0.0.4; charset=utf-8");
  });
  std::vector<const engine::Pipeline*> pipelines;
  for (const auto& worker : parts.workers) pipelines.push_back(worker->pipeline.get());
  AddApiRoutes(router, ApiContext{parts.config, parts.workers.front()->topologies, *parts.db,
                                  std::move(pipelines)});
  return router;
}

}  // namespace
}  // namespace eddy::runtime
