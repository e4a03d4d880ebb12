// Router::Dispatch without a network: matching, parameters, 404/405, HEAD.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "http/server.h"

namespace eddy::http {
namespace {

// A handler that answers "<tag> <param>=<value>..." so tests see which route ran with what.
Handler Echo(std::string tag) {
  return [tag](const Request& request) {
    std::string body = tag;
    for (const auto& [name, value] : request.params) body += " " + name + "=" + value;
    return Response::Text(200, body);
  };
}

Response Dispatch(const Router& router, std::string method, std::string target) {
  Result<Request> request = ParseRequest(std::move(method), std::move(target));
  REQUIRE(request.ok());
  return router.Dispatch(*request);
}

std::string AllowHeader(const Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (name == "Allow") return value;
  }
  return "<none>";
}

Router ViewsRouter() {
  Router router;
  router.Add("GET", "/", Echo("root"));
  router.Add("GET", "/healthz", Echo("health"));
  router.Add("GET", "/v1/views", Echo("list"));
  router.Add("GET", "/v1/views/{view}/keys/{key}", Echo("get"));
  router.Add("DELETE", "/v1/views/{view}/keys/{key}", Echo("delete"));
  router.Add("POST", "/admin/pause", Echo("pause"));
  return router;
}

TEST_CASE("Router binds {name} segments percent-decoded", "[http][router]") {
  Router router = ViewsRouter();
  CHECK(Dispatch(router, "GET", "/v1/views/orders/keys/k1").body == "get view=orders key=k1");
  CHECK(Dispatch(router, "GET", "/v1/views/v/keys/a%2Fb").body == "get view=v key=a/b");
  CHECK(Dispatch(router, "GET", "/v1/views/x%20y/keys/%C3%A9").body == "get view=x y key=\xC3\xA9");
  CHECK(Dispatch(router, "GET", "/v1/views/v/keys/a+b").body == "get view=v key=a+b");
  CHECK(Dispatch(router, "GET", "/v1/views/v/keys/k?").body == "get view=v key=k");
  CHECK(Dispatch(router, "DELETE", "/v1/views/v/keys/k").body == "delete view=v key=k");
}

TEST_CASE("Router literals, root and trailing slash", "[http][router]") {
  Router router = ViewsRouter();
  CHECK(Dispatch(router, "GET", "/").body == "root");
  CHECK(Dispatch(router, "GET", "/healthz").body == "health");
  CHECK(Dispatch(router, "GET", "/healthz/").body == "health");
  CHECK(Dispatch(router, "GET", "/v1/views/").body == "list");
  CHECK(Dispatch(router, "GET", "/v1/views/v/keys/k/").body == "get view=v key=k");
  CHECK(Dispatch(router, "GET", "/heal%74hz").body == "health");  // literals match decoded
}

TEST_CASE("Router 404 for unknown paths", "[http][router]") {
  Router router = ViewsRouter();
  Response missing = Dispatch(router, "GET", "/nope");
  CHECK(missing.status == 404);
  CHECK(missing.content_type == "application/json");
  CHECK(missing.body == R"({"error":{"code":404,"message":"no such endpoint: /nope"}})");

  // %2F never splits a segment, so this has one segment too many... or too few.
  CHECK(Dispatch(router, "GET", "/v1%2Fviews").status == 404);
  CHECK(Dispatch(router, "GET", "/v1/views/v/keys").status == 404);
  CHECK(Dispatch(router, "GET", "/v1/views/v/keys/a/b").status == 404);
  // {name} needs a non-empty segment; empty segments match nothing.
  CHECK(Dispatch(router, "GET", "/v1/views//keys/k").status == 404);
  CHECK(Dispatch(router, "GET", "//healthz").status == 404);
  CHECK(Dispatch(router, "GET", "/healthz//").status == 404);
}

TEST_CASE("Router 405 with Allow for a known path", "[http][router]") {
  Router router = ViewsRouter();
  Response wrong = Dispatch(router, "POST", "/v1/views/v/keys/k");
  CHECK(wrong.status == 405);
  CHECK(AllowHeader(wrong) == "GET, DELETE, HEAD");
  CHECK(wrong.body ==
        R"({"error":{"code":405,"message":"method POST not allowed for /v1/views/v/keys/k; )"
        R"(allowed: GET, DELETE, HEAD"}})");

  Response get_on_post = Dispatch(router, "GET", "/admin/pause");
  CHECK(get_on_post.status == 405);
  CHECK(AllowHeader(get_on_post) == "POST");
  CHECK(Dispatch(router, "HEAD", "/admin/pause").status == 405);
}

TEST_CASE("Router serves HEAD with the GET route unless a HEAD route exists", "[http][router]") {
  Router router;
  router.Add("GET", "/a", Echo("get-a"));
  router.Add("GET", "/b", Echo("get-b"));
  router.Add("HEAD", "/b", Echo("head-b"));
  CHECK(Dispatch(router, "HEAD", "/a").body == "get-a");
  CHECK(Dispatch(router, "HEAD", "/b").body == "head-b");
}

TEST_CASE("Router: the first matching route wins", "[http][router]") {
  Router router;
  router.Add("GET", "/v1/views/_all", Echo("all"));
  router.Add("GET", "/v1/views/{view}", Echo("one"));
  CHECK(Dispatch(router, "GET", "/v1/views/_all").body == "all");
  CHECK(Dispatch(router, "GET", "/v1/views/other").body == "one view=other");
}

TEST_CASE("Router rejects query parameters a route does not take", "[http][router]") {
  Router router;
  router.Add("GET", "/plain", [](const Request&) { return Response::Text(200, "plain"); });
  router.Add("GET", "/paged",
             [](const Request& request) {
               return Response::Text(200, "limit=" + std::string(request.QueryValue("limit")));
             },
             {"limit", "from"});
  Response unknown = Dispatch(router, "GET", "/plain?x=1");
  CHECK(unknown.status == 400);
  CHECK(unknown.body ==
        R"({"error":{"code":400,"message":"unknown query parameter 'x' for /plain; this endpoint )"
        R"(takes none"}})");
  CHECK(Dispatch(router, "HEAD", "/plain?x").status == 400);
  Response other = Dispatch(router, "GET", "/paged?limit=5&frm=3");
  CHECK(other.status == 400);
  CHECK(other.body ==
        R"({"error":{"code":400,"message":"unknown query parameter 'frm' for /paged; it takes: )"
        R"(limit, from"}})");
  CHECK(Dispatch(router, "GET", "/paged?limit=5&from=3").body == "limit=5");
  CHECK(Dispatch(router, "GET", "/plain?").body == "plain");  // an empty query is no parameter
  // 404 and 405 take precedence: the path and method are checked first.
  CHECK(Dispatch(router, "GET", "/nope?x=1").status == 404);
  CHECK(Dispatch(router, "POST", "/plain?x=1").status == 405);
}

TEST_CASE("Router lets handler exceptions through", "[http][router]") {
  // Catching them is the server's job (see server_test.cpp).
  Router router;
  router.Add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("x"); });
  Result<Request> request = ParseRequest("GET", "/boom");
  REQUIRE(request.ok());
  CHECK_THROWS_AS(router.Dispatch(*request), std::runtime_error);
}

}  // namespace
}  // namespace eddy::http

namespace eddy::http {
namespace {

// Request::route is the bounded label of eddy_http_requests_total: the pattern, never the path.
TEST_CASE("Dispatch records the pattern of the route that answered", "[router]") {
  Router router;
  router.Add("GET", "/v1/views/{view}/keys/{key}", Echo("key"));
  router.Add("GET", "/healthz", Echo("health"));
  auto route_of = [&](std::string method, std::string target) {
    Result<Request> request = ParseRequest(std::move(method), std::move(target));
    REQUIRE(request.ok());
    router.Dispatch(*request);
    return request->route;
  };
  CHECK(route_of("GET", "/v1/views/a/keys/x%20y") == "/v1/views/{view}/keys/{key}");
  CHECK(route_of("HEAD", "/healthz/") == "/healthz");
  CHECK(route_of("GET", "/healthz?unknown=1") == "/healthz");  // answered 400 by that route
  CHECK(route_of("GET", "/nope") == "");                       // 404
  CHECK(route_of("POST", "/healthz") == "");                   // 405
}

}  // namespace
}  // namespace eddy::http
