// The /v1 query API (docs/api.md, docs/openapi.yaml): views and topologies.
//
//   GET /v1/views                     every view: kind, approximate rows, freshness
//   GET /v1/views/{view}              a page of keys: prefix, start, end, limit, cursor
//   GET /v1/views/{view}/keys/{key}   one key (404 when it has nothing to show); from, to
//   GET /v1/topologies                topologies: steps, status, partitions, lag, watermark
//
// Every answer is read through one RocksDB snapshot taken when the request arrives, so it
// reflects one commit, and reading never blocks the processing thread (RocksDB readers do
// not lock out writers). Every view answer says how current it is, in the body
// ("freshness") and in the headers Eddy-Lag-Records, Eddy-Watermark and Eddy-Restoring:
// - lag: records of the topology's assigned partitions not yet committed to the state
//   (high watermark - committed offset, summed);
// - watermark: the smallest committed stream time among those partitions (each view's
//   windows up to it are complete, up to grace); last_event: the largest;
// - restoring: a joined table of the topology is still loading. Views answer meanwhile.
// Freshness comes from the progress the workers publish after each commit's write
// (engine::PartitionStatus::committed), read before the snapshot is taken: it never claims
// more than the answer holds, and trails it at most by the commit being published. (Reading
// the progress keys through the snapshot instead cost four RocksDB reads per lookup.)
//
// Workers (processing.threads): every answer is over the union of the workers — a topology's
// partitions are those of all its instances, views read the partitions all of them own
// (engine::OwnedPartitions is shared), and a topology is failed when any worker failed. The
// output has the same shape whatever the number of workers, and with one it is what eddy
// always answered.
//
// Thread-safety: handlers run on the HTTP I/O threads; they read the pipelines' thread-safe
// status, the views (thread-safe) and RocksDB.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "engine/pipeline.h"
#include "engine/topology.h"
#include "http/server.h"
#include "state/state_db.h"

namespace eddy::runtime {

struct ApiContext {
  const config::Config& config;
  // One worker's topology instances: their views (which serve every worker's partitions)
  // and definitions.
  const std::vector<std::unique_ptr<engine::Topology>>& topologies;
  const state::StateDb& db;
  std::vector<const engine::Pipeline*> pipelines;  // every worker's; not empty
};

// Page size of GET /v1/views/{view}: default and the cap larger limits are cut to.
inline constexpr size_t kDefaultPageLimit = 100;
inline constexpr size_t kMaxPageLimit = 1000;

// Adds the routes above. `context`'s members must outlive the router.
void AddApiRoutes(http::Router& router, const ApiContext& context);

}  // namespace eddy::runtime
