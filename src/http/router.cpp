// Router: method + path-pattern matching. Patterns are split once at Add; each request path
// is split on '/' and every segment percent-decoded before comparing, so "%2F" inside a key
// never creates a segment boundary.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/server.h"

namespace eddy::http {
namespace {

bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

std::string_view ParamName(std::string_view segment) {
  return segment.substr(1, segment.size() - 2);
}

// "/a/b/" → {"a", "b"}; "/" → {}. One trailing slash is ignored; other empty segments are
// kept (so "/a//b" matches no pattern, as patterns have no empty segments).
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return segments;
  while (true) {
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

[[noreturn]] void BadPattern(std::string_view pattern, const char* why) {
  std::fprintf(stderr, "eddy: invalid HTTP route pattern \"%.*s\": %s\n",
               static_cast<int>(pattern.size()), pattern.data(), why);
  std::abort();
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler,
                 std::vector<std::string> query_params) {
  if (pattern.empty() || pattern.front() != '/') BadPattern(pattern, "must start with '/'");
  if (!handler) BadPattern(pattern, "empty handler");
  Route route;
  route.method = std::move(method);
  route.pattern = pattern;
  for (std::string_view segment : SplitPath(pattern)) {
    if (segment.empty()) BadPattern(pattern, "empty segment");
    if (IsParam(segment) && ParamName(segment).empty()) BadPattern(pattern, "empty {} name");
    route.segments.emplace_back(segment);
  }
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  route.query_params = std::move(query_params);
  routes_.push_back(std::move(route));
}

std::vector<Router::RouteInfo> Router::Routes() const {
  std::vector<RouteInfo> out;
  out.reserve(routes_.size());
  for (const Route& route : routes_) {
    out.push_back({route.method, route.pattern, route.query_params});
  }
  return out;
}

Response Router::Dispatch(Request& request) const {
  std::string_view raw_path(request.target);
  raw_path = raw_path.substr(0, raw_path.find('?'));
  std::vector<std::string> segments;
  for (std::string_view raw_segment : SplitPath(raw_path)) {
    segments.push_back(PercentDecode(raw_segment));
  }
  // A {name} binds exactly one non-empty segment (a non-empty raw segment never decodes to "").
  auto matches = [&](const Route& route, std::vector<std::pair<std::string, std::string>>* params) {
    if (route.segments.size() != segments.size()) return false;
    for (size_t i = 0; i < segments.size(); ++i) {
      const std::string& pattern = route.segments[i];
      if (IsParam(pattern)) {
        if (segments[i].empty()) return false;
        if (params) params->emplace_back(std::string(ParamName(pattern)), segments[i]);
      } else if (pattern != segments[i]) {
        return false;
      }
    }
    return true;
  };

  // Runs a matched route, unless the request carries a query parameter it does not know.
  auto call = [&](const Route& route) {
    request.route = route.pattern;
    for (const auto& [name, value] : request.query) {
      if (std::find(route.query_params.begin(), route.query_params.end(), name) !=
          route.query_params.end()) {
        continue;
      }
      std::string known;
      for (const std::string& param : route.query_params) {
        known += (known.empty() ? "" : ", ") + param;
      }
      return Response::Error(
          400, "unknown query parameter '" + name + "' for " + PercentDecode(raw_path) +
                   (known.empty() ? "; this endpoint takes none" : "; it takes: " + known));
    }
    request.params.clear();
    matches(route, &request.params);
    return route.handler(request);
  };

  const Route* head_fallback = nullptr;  // GET route serving a HEAD request
  std::vector<std::string> allowed;      // methods of routes whose path matches
  for (const Route& route : routes_) {
    if (!matches(route, nullptr)) continue;
    if (route.method == request.method) return call(route);
    if (request.method == "HEAD" && route.method == "GET" && head_fallback == nullptr) {
      head_fallback = &route;
    }
    bool seen = false;
    for (const std::string& method : allowed) seen = seen || method == route.method;
    if (!seen) allowed.push_back(route.method);
  }
  if (head_fallback != nullptr) return call(*head_fallback);
  if (allowed.empty()) {
    return Response::Error(404, "no such endpoint: " + PercentDecode(raw_path));
  }
  bool has_get = false;
  bool has_head = false;
  for (const std::string& method : allowed) {
    has_get = has_get || method == "GET";
    has_head = has_head || method == "HEAD";
  }
  if (has_get && !has_head) allowed.emplace_back("HEAD");
  std::string allow;
  for (const std::string& method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  Response response = Response::Error(405, "method " + request.method + " not allowed for " +
                                               PercentDecode(raw_path) + "; allowed: " + allow);
  response.headers.emplace_back("Allow", allow);
  return response;
}

}  // namespace eddy::http
