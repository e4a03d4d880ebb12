// The eddy command line, driven in-process through runtime::Main with stdout/stderr
// captured: exit codes and what a user reads.
#include "runtime/cli.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs eddy's Main with file descriptors 1 and 2 redirected to temp files.
CliResult RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), "eddy");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  const auto dir = std::filesystem::temp_directory_path();
  const std::string out_path = (dir / ("eddy-cli-out-" + std::to_string(getpid()))).string();
  const std::string err_path = (dir / ("eddy-cli-err-" + std::to_string(getpid()))).string();
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = dup(1);
  const int saved_err = dup(2);
  FILE* out = std::fopen(out_path.c_str(), "w");
  FILE* err = std::fopen(err_path.c_str(), "w");
  dup2(fileno(out), 1);
  dup2(fileno(err), 2);
  CliResult result;
  result.exit_code = eddy::runtime::Main(static_cast<int>(argv.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(saved_out);
  close(saved_err);
  std::fclose(out);
  std::fclose(err);
  result.out = ReadAll(out_path);
  result.err = ReadAll(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return result;
}

std::string WriteConfig(const std::string& name, const std::string& text) {
  const auto path =
      std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()) + ".yaml");
  std::ofstream(path) << text;
  return path.string();
}

const std::string kExample = std::string(EDDY_SOURCE_DIR) + "/config/examples/pageviews.yaml";

}  // namespace

TEST_CASE("eddy --version and --help", "[cli]") {
  CliResult version = RunCli({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out == std::string("eddy ") + EDDY_VERSION + "\n");
  CliResult help = RunCli({"--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("eddy run --config FILE"));
  CHECK_THAT(help.out, Catch::Contains("eddy validate FILE"));
}

TEST_CASE("usage errors exit 2", "[cli]") {
  CHECK(RunCli({}).exit_code == 2);
  CliResult unknown = RunCli({"frobnicate"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown command 'frobnicate'"));
  CHECK(RunCli({"run"}).exit_code == 2);
  CHECK(RunCli({"run", "--config"}).exit_code == 2);
  CHECK(RunCli({"validate"}).exit_code == 2);
}

TEST_CASE("eddy validate accepts the example config", "[cli]") {
  CliResult result = RunCli({"validate", kExample});
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("ok (1 topology, 1 view)"));
}

TEST_CASE("eddy validate names file:line:column and suggests the key for a misspelling", "[cli]") {
  std::string text = ReadAll(kExample);
  const auto at = text.find("          size: 1m");
  REQUIRE(at != std::string::npos);
  text.replace(at, std::string("          size: 1m").size(), "          sise: 1m");
  // Line and column of the misspelled key, computed from the text itself.
  const int line =
      static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n')) + 1;
  const std::string path = WriteConfig("misspelled", text);

  CliResult result = RunCli({"validate", path});
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.err,
             Catch::Contains(path + ":" + std::to_string(line) + ":11: error: unknown key 'sise'"));
  CHECK_THAT(result.err, Catch::Contains("did you mean 'size'?"));
  // The run command refuses the same file with the same diagnostics, before touching Kafka.
  CliResult run = RunCli({"run", "--config", path});
  CHECK(run.exit_code == 3);
  CHECK_THAT(run.err, Catch::Contains("did you mean 'size'?"));
  std::filesystem::remove(path);
}

TEST_CASE("eddy validate checks kafka properties against librdkafka", "[cli]") {
  std::string text = ReadAll(kExample);
  const std::string anchor = "  group.id: ${EDDY_GROUP_ID:-eddy-pageviews}\n";
  const auto at = text.find(anchor);
  REQUIRE(at != std::string::npos);
  text.insert(at + anchor.size(),
              "  fetch.wait.max.ms: soon\n  enable.auto.commit: true\n  no.such.property: 1\n");
  const std::string path = WriteConfig("kafka-props", text);
  CliResult result = RunCli({"validate", path});
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.err, Catch::Contains("kafka property 'fetch.wait.max.ms'"));
  CHECK_THAT(result.err, Catch::Contains("kafka property 'enable.auto.commit' must be false"));
  CHECK_THAT(result.err, Catch::Contains("kafka property 'no.such.property'"));
  CHECK_THAT(result.err, Catch::Contains("3 errors"));
  std::filesystem::remove(path);
}

TEST_CASE("eddy validate on a missing file", "[cli]") {
  CliResult result = RunCli({"validate", "/nonexistent/eddy.yaml"});
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.err, Catch::Contains("/nonexistent/eddy.yaml"));
}

// The bad-configuration corpus (tests/data/config/corpus, see tests/unit/config/loader_test.cpp)
// through `eddy validate`: exit 3, exactly the expected lines on stderr, then the count.
TEST_CASE("eddy validate rejects every file of the bad configuration corpus", "[cli][corpus]") {
  const std::filesystem::path dir = std::filesystem::path(EDDY_TEST_DATA_DIR) / "config/corpus";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 30);
  for (const std::filesystem::path& file : files) {
    INFO(file.filename().string());
    std::string expected;
    size_t count = 0;
    std::istringstream errors(ReadAll(std::filesystem::path(file).replace_extension(".errors")));
    for (std::string line; std::getline(errors, line);) {
      if (line.empty()) continue;
      expected += dir.string() + "/" + line + "\n";
      ++count;
    }
    REQUIRE(count > 0);
    expected +=
        file.string() + ": " + std::to_string(count) + (count == 1 ? " error\n" : " errors\n");
    CliResult result = RunCli({"validate", file.string()});
    CHECK(result.exit_code == 3);
    CHECK(result.out.empty());
    CHECK(result.err == expected);
  }
}
