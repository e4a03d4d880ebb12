#include "runtime/daemon.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
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
#include "state/state_db.h"
#include "state/window_retention.h"

namespace eddy::runtime {
namespace {

// After a stop signal, a shutdown that has not finished in this long (a broker that does
// not answer the final commit or leave-group) is cut short. Below Docker's default 10 s
// stop timeout, so eddy ends on its own terms rather than by SIGKILL. State stays exact:
// RocksDB holds only whole commits, and the next start resumes from them.
constexpr auto kShutdownDeadline = std::chrono::seconds(8);

}  // namespace

struct Daemon::Parts {
  config::Config config;
  // Declaration order is destruction order in reverse: the server and the pipeline go
  // before the state they read.
  std::unique_ptr<metrics::Metrics> metrics;
  state::WindowRetention window_retention;  // outlives db, whose compactions consult it
  std::unique_ptr<state::StateDb> db;
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
  std::unique_ptr<http::AccessControl> access;  // outlives the server that asks it
  std::unique_ptr<HealthChecks> health;         // reads pipeline, exactly_once, stopping
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

  Result<std::unique_ptr<kafka::KafkaSource>> source =
      kafka::KafkaSource::Create(cfg.kafka, *parts->metrics);
  if (!source.ok()) return source.status();
  parts->source = std::move(*source);

  // A producer only when something writes to Kafka: sinks, late_records or dead_letters.
  engine::Sink* topology_sink = nullptr;
  if (std::any_of(cfg.topologies.begin(), cfg.topologies.end(), config::WritesToKafka)) {
    parts->retry_clock = engine::SystemRetryClock();
    if (cfg.delivery.guarantee == config::DeliveryGuarantee::kExactlyOnce) {
      Result<std::unique_ptr<kafka::KafkaTransactions>> transactions =
          kafka::KafkaTransactions::Create(cfg.kafka, kafka::TransactionalId(cfg), *parts->source,
                                           *parts->metrics);
      if (!transactions.ok()) return transactions.status();
      parts->transactions = std::move(*transactions);
      parts->exactly_once = std::make_unique<engine::ExactlyOnceSink>(
          *parts->transactions, *parts->db, cfg.delivery,
          engine::ReliableSink::RoutesOf(cfg.topologies), *parts->retry_clock, *parts->metrics);
      topology_sink = parts->exactly_once.get();
    } else {
      Result<std::unique_ptr<kafka::KafkaSink>> sink =
          kafka::KafkaSink::Create(cfg.kafka, *parts->metrics);
      if (!sink.ok()) return sink.status();
      parts->sink = std::move(*sink);
      std::set<std::string> dead_letter_topics;
      for (const config::TopologyConfig& topology : cfg.topologies) {
        if (!topology.dead_letters.topic.empty()) {
          dead_letter_topics.insert(topology.dead_letters.topic);
        }
      }
      parts->reliable_sink = std::make_unique<engine::ReliableSink>(
          *parts->sink, cfg.delivery, engine::ReliableSink::RoutesOf(cfg.topologies),
          std::move(dead_letter_topics), *parts->retry_clock, *parts->metrics);
      topology_sink = parts->reliable_sink.get();
    }
  }
  for (const config::TopologyConfig& topology_config : cfg.topologies) {
    Result<std::unique_ptr<engine::Topology>> topology = engine::Topology::Create(
        topology_config, *parts->db, *parts->metrics, &parts->window_retention, topology_sink);
    if (!topology.ok()) return topology.status();
    parts->topologies.push_back(std::move(*topology));
  }

  // Stream–stream joins meet records by partition number; only the range assignor gives one
  // member the same partition numbers of every topic (see docs/joins.md).
  const bool joins_streams = std::any_of(parts->topologies.begin(), parts->topologies.end(),
                                         [](const auto& t) { return t->aligns_inputs(); });
  for (const config::KafkaProperty& property : cfg.kafka.properties) {
    if (joins_streams && property.name == "partition.assignment.strategy" &&
        !property.value.starts_with("range")) {
      spdlog::warn(
          "{}: partition.assignment.strategy '{}' does not start with 'range': with "
          "several instances in one group, a stream–stream join would see partitions "
          "of its two topics on different instances and miss matches",
          property.location.ToString(), property.value);
    }
  }

  engine::PipelineOptions pipeline_options;
  pipeline_options.commit_interval = cfg.state.commit_interval;
  pipeline_options.commit_when_caught_up =
      cfg.state.commit_when_caught_up && !cfg.state.sync_writes &&
      cfg.delivery.guarantee != config::DeliveryGuarantee::kExactlyOnce;
  parts->pipeline = std::make_unique<engine::Pipeline>(
      *parts->source, *parts->db, parts->topologies, *parts->metrics, pipeline_options,
      parts->reliable_sink.get(), parts->exactly_once.get());

  HealthOptions health_options;
  health_options.max_lag_records = cfg.http.readiness.max_lag_records;
  // librdkafka retries authentication failures forever: readiness says why it waits.
  health_options.authentication_error = [&parts = *parts] {
    return config::RedactSecrets(parts.source->AuthenticationError(), parts.config.kafka);
  };
  parts->health = std::make_unique<HealthChecks>(*parts->pipeline, parts->exactly_once.get(),
                                                 parts->stopping, health_options);
  parts->health->RegisterMetrics(*parts->metrics);

  http::ServerOptions server_options;
  server_options.address = cfg.http.listen_address;
  server_options.port = cfg.http.listen_port;
  server_options.io_threads = cfg.http.io_threads;
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

  std::atomic<bool> processing_done{false};
  Status processing_status;
  std::thread processing([&] {
    processing_status = parts.pipeline->Run();
    processing_done.store(true);
  });

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  const timespec poll_interval{0, 200'000'000};
  while (!processing_done.load()) {
    const int signal_number = sigtimedwait(&signals, nullptr, &poll_interval);
    if (signal_number == SIGINT || signal_number == SIGTERM) {
      spdlog::info("received {}, shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
  }
  parts.stopping.store(true);
  parts.pipeline->RequestStop();

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
  processing.join();
  parts.server->Stop();
  shutdown_finished.store(true);
  watchdog.join();
  if (processing_status.ok()) spdlog::info("stopped cleanly; state and offsets committed");
  return processing_status;
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
  AddApiRoutes(router, ApiContext{parts.config, parts.topologies, *parts.db, *parts.pipeline});
  return router;
}

}  // namespace
}  // namespace eddy::runtime
