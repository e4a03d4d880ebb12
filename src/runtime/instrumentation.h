// Wiring of metrics whose sources know nothing of Prometheus: RocksDB's properties and
// statistics (state/), and the HTTP server's per-request observer (http/).
//
// Thread-safety: the collector runs on the scraping HTTP thread under Metrics' collect mutex;
// the observer runs on any I/O thread and only touches thread-safe prometheus-cpp families.
#pragma once

#include "http/server.h"
#include "metrics/metrics.h"
#include "state/state_db.h"

namespace eddy::runtime {

// Adds a collector copying StateDb::Stats() into the eddy_state_* gauges and counters at each
// scrape. `db` must outlive the HTTP server.
void CollectStateDbMetrics(metrics::Metrics& metrics, const state::StateDb& db);

// Counts each response in eddy_http_requests_total{route, status} and observes its duration
// in eddy_http_request_duration_seconds{route}. `route` is the route pattern, or "none" for
// requests that reached no route, so the label stays bounded whatever paths clients send.
http::RequestObserver HttpRequestMetrics(metrics::Metrics& metrics);

}  // namespace eddy::runtime
