// Daemon: wires the subsystems together for `eddy run` and owns every thread.
//
// Threads (each started and joined here):
// - the caller's thread: waits for SIGTERM/SIGINT (which must be blocked in every thread
//   before Run; main does that) or for the processing thread to stop on its own;
// - the processing thread: Pipeline::Run — Kafka consumer, topologies, RocksDB commits;
// - the HTTP server's I/O threads: views, health, metrics (read-only on state).
// Shutdown order: stop consuming → commit state and offsets → leave the group → stop HTTP
// → flush and close RocksDB.
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "http/server.h"

namespace eddy::runtime {

class Daemon {
 public:
  // Opens state, builds topologies and the HTTP server; touches Kafka only by creating the
  // consumer (no network yet).
  static Result<std::unique_ptr<Daemon>> Create(config::Config config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until a termination signal or a fatal processing error. OK after a clean stop.
  Status Run();

  // The HTTP routes this daemon serves (what docs/openapi.yaml must describe). Thread-safe.
  const std::vector<http::Router::RouteInfo>& routes() const;

  struct Parts;  // the owned subsystems; defined in daemon.cpp

 private:
  explicit Daemon(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// Blocks SIGINT, SIGTERM (delivered through sigwait in Daemon::Run) and ignores SIGPIPE.
// Must run in main before any other thread is created.
void BlockTerminationSignals();

// Raises the open-file limit's soft value to its hard value (at most 65,536): HTTP
// connections (up to http's 1,024), RocksDB's files and Kafka's sockets all need descriptors,
// and many containers start with a soft limit of 1,024.
void RaiseOpenFileLimit();

}  // namespace eddy::runtime
