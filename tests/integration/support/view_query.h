// Reads eddy's HTTP views (docs/api.md) for integration tests: the numbers a window view
// answers for one key, or the row a table view answers.
//
// Thread-safety: stateless; each call makes its own request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace eddy::testing {

// One key's windows: window start (epoch ms) -> aggregate name -> value, for the aggregates
// whose values are numbers.
using WindowTotals = std::map<int64_t, std::map<std::string, double>>;

// GET /v1/views/{view}/keys/{key} of a window view. nullopt when the request fails or the
// answer has no "windows" list of objects with "start_ms" and "aggregates".
std::optional<WindowTotals> QueryWindows(uint16_t port, const std::string& view,
                                         const std::string& key);

// For failure messages: "{start_ms: {name: value, ...}, ...}", or "(no answer)".
std::string Describe(const std::optional<WindowTotals>& totals);

// GET /v1/views/{view}/keys/{key} of a table view: the "value" member as minified JSON text
// ("null" for an absent or deleted key). nullopt when the request fails or has no "value".
std::optional<std::string> QueryTableValue(uint16_t port, const std::string& view,
                                           const std::string& key);

}  // namespace eddy::testing
