#include "runtime/cli.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "kafka/kafka_sink.h"
#include "kafka/kafka_source.h"
#include "runtime/daemon.h"
#include "runtime/logging.h"
#include "runtime/test_driver.h"

namespace eddy::runtime {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInvalidConfig = 3;

constexpr const char* kUsage = R"(eddy — windowed views over Kafka, served over HTTP

Usage:
  eddy run --config FILE     run the topologies in FILE until SIGTERM/SIGINT
  eddy validate FILE         check FILE completely (schema, topology graph, views,
                             Kafka properties) without touching Kafka; exit 3 if invalid
  eddy test TEST_FILE...     run topologies over input fixtures, without Kafka, and check
                             the views and sink outputs each test file expects
                             (docs/testing.md); exit 1 if an expectation fails
  eddy --help                show this help
  eddy --version             print the version

Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 invalid configuration.
Documentation: docs/ (configuration.md, cli.md, api.md, metrics.md).
)";

// Loads and fully validates a config; prints every problem to stderr.
std::optional<config::Config> LoadAndValidate(const std::string& path) {
  config::LoadResult loaded = config::LoadFile(path);
  std::vector<config::Diagnostic> errors = loaded.errors;
  if (loaded.config) {
    kafka::ValidateKafkaProperties(loaded.config->kafka, errors);
    const auto& topologies = loaded.config->topologies;
    if (std::any_of(topologies.begin(), topologies.end(), config::WritesToKafka)) {
      kafka::ValidateKafkaSinkProperties(loaded.config->kafka, errors);
    }
  }
  if (!errors.empty()) {
    for (const config::Diagnostic& error : errors)
      std::fprintf(stderr, "%s\n", error.ToString().c_str());
    std::fprintf(stderr, "%s: %zu error%s\n", path.c_str(), errors.size(),
                 errors.size() == 1 ? "" : "s");
    return std::nullopt;
  }
  return std::move(loaded.config);
}

int Validate(const std::vector<std::string_view>& args) {
  if (args.size() != 1 || args[0].starts_with("-")) {
    std::fprintf(stderr, "usage: eddy validate FILE\n");
    return kExitUsage;
  }
  std::optional<config::Config> config = LoadAndValidate(std::string(args[0]));
  if (!config) return kExitInvalidConfig;
  size_t views = 0;
  for (const auto& topology : config->topologies) views += topology.views.size();
  std::printf("%s: ok (%zu topolog%s, %zu view%s)\n", std::string(args[0]).c_str(),
              config->topologies.size(), config->topologies.size() == 1 ? "y" : "ies", views,
              views == 1 ? "" : "s");
  return kExitOk;
}

int Test(const std::vector<std::string_view>& args) {
  if (args.empty()) {
    std::fprintf(stderr, "usage: eddy test TEST_FILE...\n");
    return kExitUsage;
  }
  int exit_code = kExitOk;
  size_t passed = 0;
  for (std::string_view arg : args) {
    const TestFileResult result = RunTestFile(std::string(arg));
    if (!result.errors.empty()) {
      std::printf("ERROR %s\n", result.file.c_str());
      for (const std::string& error : result.errors) std::printf("  %s\n", error.c_str());
      exit_code = kExitInvalidConfig;
    } else if (!result.failures.empty()) {
      std::printf("FAIL  %s (%zu of %d checks failed)\n", result.file.c_str(),
                  result.failures.size(), result.checks);
      for (const std::string& failure : result.failures) std::printf("  %s\n", failure.c_str());
      if (exit_code == kExitOk) exit_code = kExitFailure;
    } else {
      ++passed;
      std::printf("PASS  %s (%d checks)\n", result.file.c_str(), result.checks);
    }
  }
  std::printf("%zu of %zu test files passed\n", passed, args.size());
  return exit_code;
}

int Run(const std::vector<std::string_view>& args) {
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "--config" || args[i] == "-c") && i + 1 < args.size()) {
      path = args[++i];
    } else if (args[i].starts_with("--config=")) {
      path = args[i].substr(std::string_view("--config=").size());
    } else {
      std::fprintf(stderr, "eddy run: unexpected argument '%s'\nusage: eddy run --config FILE\n",
                   std::string(args[i]).c_str());
      return kExitUsage;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: eddy run --config FILE\n");
    return kExitUsage;
  }
  std::optional<config::Config> config = LoadAndValidate(path);
  if (!config) return kExitInvalidConfig;
  if (Status logging = ConfigureLogging(config->logging); !logging.ok()) {
    std::fprintf(stderr, "%s\n", logging.ToString().c_str());
    return kExitInvalidConfig;
  }
  BlockTerminationSignals();
  RaiseOpenFileLimit();

  Result<std::unique_ptr<Daemon>> daemon = Daemon::Create(std::move(*config));
  if (!daemon.ok()) {
    spdlog::critical("cannot start: {}", daemon.status().ToString());
    return daemon.status().code() == StatusCode::kInvalidArgument ? kExitInvalidConfig
                                                                  : kExitFailure;
  }
  Status status = (*daemon)->Run();
  daemon->reset();
  if (!status.ok()) {
    spdlog::critical("eddy stopped with an error: {}", status.ToString());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int Main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string_view command = args.front();
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "--version" || command == "version") {
    std::printf("eddy %s\n", EDDY_VERSION);
    return kExitOk;
  }
  if (command == "run") return Run(rest);
  if (command == "validate") return Validate(rest);
  if (command == "test") return Test(rest);
  std::fprintf(stderr, "eddy: unknown command '%s'\n\n%s", std::string(command).c_str(), kUsage);
  return kExitUsage;
}

}  // namespace eddy::runtime
