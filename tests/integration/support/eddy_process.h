// Runs the real eddy binary (build/eddy) as a child process for integration tests, and
// talks to it over loopback HTTP.
//
// Thread-safety: single-threaded test helper.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace eddy::testing {

struct HttpReply {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // in the order received
  // The first header named `name` (case-insensitive); nullopt when there is none.
  std::optional<std::string> Header(std::string_view name) const;
};

// One blocking HTTP/1.1 GET to 127.0.0.1:port. status 0 when the connection failed.
HttpReply HttpGet(uint16_t port, const std::string& target);
// True for the 404 of GET /v1/views/{view}/keys/{key} for a key the view has nothing for (as
// opposed to an unknown view): tests treat it as an empty answer.
bool IsNothingForKey(const HttpReply& reply);

// Value of the first sample of metric `name` in a Prometheus text exposition whose labels
// include every `labels` entry (each written as it appears, e.g. `step="per_minute"`);
// nullopt if there is none.
std::optional<double> MetricValue(const std::string& metrics_text, const std::string& name,
                                  const std::vector<std::string>& labels);

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
uint16_t FreePort();

// Writes `yaml` to a fresh temp file and returns its path.
std::string WriteTempFile(const std::string& name, const std::string& contents);
// A fresh empty directory under the system temp dir.
std::string MakeTempDir(const std::string& prefix);

class EddyProcess {
 public:
  // Starts `eddy run --config config_path`; stdout/stderr go to log_path.
  EddyProcess(std::string config_path, uint16_t http_port);
  ~EddyProcess();  // kills the process if still running
  EddyProcess(const EddyProcess&) = delete;
  EddyProcess& operator=(const EddyProcess&) = delete;

  // Polls /readyz until 200 or the timeout; false on timeout or if eddy exited.
  bool WaitReady(std::chrono::milliseconds timeout);
  // Sends SIGTERM and waits for exit; returns the exit code (or 128+signal), -1 on timeout.
  int Terminate(std::chrono::milliseconds timeout);
  // SIGKILL: a crash, with no chance to commit.
  void Kill();
  bool Running();
  std::string Log() const;
  uint16_t http_port() const { return http_port_; }
  // The child's process id while it runs (until Running() or Kill() reaps it), else -1.
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
  uint16_t http_port_;
};

// Polls `probe` until it returns true or the timeout passes.
template <typename Probe>
bool Eventually(std::chrono::milliseconds timeout, Probe probe) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return probe();
}

}  // namespace eddy::testing
