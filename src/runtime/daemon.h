// Daemon: wires the subsystems together for `eddy run` and owns every thread.
//
// Threads (each started and joined here):
// - the caller's thread: waits for SIGTERM/SIGINT (which must be blocked in every thread
//   before Run; main does that) or for a worker to stop on its own (a failure);
// - one processing thread per worker (processing.threads): Pipeline::Run over the worker's
//   own Kafka consumer (one member of the group), sink and topology instances; RocksDB
//   commits of the partitions Kafka assigned it. Workers share nothing mutable but the
//   StateDb, the metrics and the topologies' OwnedPartitions, all thread-safe;
// - the HTTP server's I/O threads: views, health, metrics (read-only on state), answering
//   over every worker.
// Shutdown order: every worker stops consuming → commits state and offsets → leaves the
// group → stop HTTP → flush and close RocksDB. Any worker's failure stops them all.
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
