// docs/openapi.yaml describes exactly the routes the daemon serves: the same (method, path)
// pairs and, per route, the same query parameters. The router is the real one, built by
// Daemon::Create over an example config (no broker needed: nothing is consumed).
// tests/integration/views_api_test.cpp checks the other half, that every documented route
// answers a running eddy with a documented status.
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/loader.h"
#include "runtime/daemon.h"
#include "support/temp_dir.h"

namespace eddy::runtime {
namespace {

// "GET /v1/views/{view}" -> its query parameters, sorted.
using RouteTable = std::map<std::string, std::set<std::string>>;

// Follows a local "$ref": "#/a/b/c" inside `root`.
YAML::Node Resolve(const YAML::Node& root, const YAML::Node& node) {
  if (!node.IsMap() || !node["$ref"]) return node;
  const std::string ref = node["$ref"].as<std::string>();
  REQUIRE(ref.rfind("#/", 0) == 0);
  YAML::Node current = YAML::Clone(root);
  size_t begin = 2;
  while (begin <= ref.size()) {
    const size_t slash = ref.find('/', begin);
    const std::string part =
        ref.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin);
    INFO(ref);
    REQUIRE(current[part]);
    current = current[part];
    if (slash == std::string::npos) break;
    begin = slash + 1;
  }
  return current;
}

RouteTable DocumentedRoutes() {
  const YAML::Node root = YAML::LoadFile(EDDY_SOURCE_DIR "/docs/openapi.yaml");
  REQUIRE(root["openapi"].as<std::string>().rfind("3.0.", 0) == 0);
  RouteTable table;
  for (const auto& path : root["paths"]) {
    const std::string template_path = path.first.as<std::string>();
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      if (method == "parameters" || method == "summary" || method == "description") continue;
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::set<std::string>& query = table[method + " " + template_path];
      std::set<std::string> path_params;
      for (const auto& parameter_ref : operation.second["parameters"]) {
        const YAML::Node parameter = Resolve(root, parameter_ref);
        const std::string in = parameter["in"].as<std::string>();
        const std::string name = parameter["name"].as<std::string>();
        if (in == "query") query.insert(name);
        if (in == "path") path_params.insert(name);
      }
      // Every {name} of the template is declared as a path parameter, and nothing else is.
      std::set<std::string> in_template;
      for (size_t open = template_path.find('{'); open != std::string::npos;
           open = template_path.find('{', open + 1)) {
        in_template.insert(
            template_path.substr(open + 1, template_path.find('}', open) - open - 1));
      }
      INFO(method << " " << template_path);
      CHECK(path_params == in_template);
      // Every operation documents the 400 of an unknown query parameter, and its success.
      CHECK(operation.second["responses"]["200"]);
      CHECK(operation.second["responses"]["400"]);
    }
  }
  return table;
}

RouteTable ServedRoutes(const std::string& state_dir) {
  spdlog::set_level(spdlog::level::off);
  const std::map<std::string, std::string> env = {{"EDDY_STATE_DIR", state_dir},
                                                  {"KAFKA_BOOTSTRAP", "127.0.0.1:1"}};
  const config::LoadResult loaded =
      config::LoadFile(EDDY_SOURCE_DIR "/config/examples/pageviews.yaml",
                       [&](const std::string& name) -> std::optional<std::string> {
                         auto it = env.find(name);
                         if (it == env.end()) return std::nullopt;
                         return it->second;
                       });
  for (const config::Diagnostic& d : loaded.errors) FAIL_CHECK(d.ToString());
  REQUIRE(loaded.config.has_value());
  Result<std::unique_ptr<Daemon>> daemon = Daemon::Create(*loaded.config);
  INFO(daemon.status().ToString());
  REQUIRE(daemon.ok());
  RouteTable table;
  for (const http::Router::RouteInfo& route : (*daemon)->routes()) {
    std::set<std::string>& query = table[route.method + " " + route.pattern];
    query.insert(route.query_params.begin(), route.query_params.end());
  }
  return table;
}

std::string Describe(const RouteTable& table) {
  std::string out;
  for (const auto& [route, query] : table) {
    out += route + " ?";
    for (const std::string& name : query) out += " " + name;
    out += "\n";
  }
  return out;
}

TEST_CASE("docs/openapi.yaml lists exactly the daemon's routes and their query parameters",
          "[runtime][openapi]") {
  eddy::testing::TempDir dir("eddy-openapi");
  const RouteTable documented = DocumentedRoutes();
  const RouteTable served = ServedRoutes(dir.path());
  INFO("documented:\n" << Describe(documented) << "served:\n" << Describe(served));
  CHECK(served.size() >= 7);  // the health, metrics and /v1 routes at least
  CHECK(documented == served);
}

}  // namespace
}  // namespace eddy::runtime
