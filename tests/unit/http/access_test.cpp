// AccessControl: bearer tokens and per-client rate limits, with a test clock; then the same
// over a real server on loopback (the Authorization header and the peer address reach it).
#include "http/access.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "http/server.h"
#include "test_client.h"

namespace eddy::http {
namespace {

using namespace std::chrono_literals;
using Clock = AccessControl::Clock;

Request MakeRequest(const std::string& target, const std::string& authorization = "",
                    const std::string& client = "10.0.0.1") {
  Result<Request> request = ParseRequest("GET", target);
  REQUIRE(request.ok());
  request->authorization = authorization;
  request->client_address = client;
  return *request;
}

std::string Header(const Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

TEST_CASE("without tokens or a rate, every request passes", "[http][access]") {
  AccessControl access({});
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(access.Check(MakeRequest("/v1/views")).has_value());
  CHECK(access.tracked_clients() == 0);
}

TEST_CASE("bearer tokens guard /v1 and the listed endpoints", "[http][access]") {
  AccessOptions options;
  options.tokens = {"s3cret", "other-token"};
  options.protected_paths = {"/metrics"};
  AccessControl access(options);

  const std::optional<Response> missing = access.Check(MakeRequest("/v1/views"));
  REQUIRE(missing.has_value());
  CHECK(missing->status == 401);
  CHECK(Header(*missing, "WWW-Authenticate") == R"(Bearer realm="eddy")");
  CHECK_THAT(missing->body, Catch::Contains("Authorization: Bearer"));

  const std::optional<Response> wrong = access.Check(MakeRequest("/v1/views", "Bearer s3cre"));
  REQUIRE(wrong.has_value());
  CHECK(wrong->status == 401);
  CHECK(Header(*wrong, "WWW-Authenticate") == R"(Bearer realm="eddy", error="invalid_token")");
  // The refusal never echoes what was sent.
  CHECK_THAT(wrong->body, !Catch::Contains("s3cre"));

  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "Bearer s3cret")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "bearer  other-token ")).has_value());
  CHECK(access.Check(MakeRequest("/v1/views", "Basic czNjcmV0")).has_value());
  CHECK(access.Check(MakeRequest("/v1/views/v/keys/k", "Bearer s3cret2")).has_value());
  // Unknown /v1 paths too: what exists is not disclosed to strangers.
  CHECK(access.Check(MakeRequest("/v1/nothing-here"))->status == 401);
  CHECK(access.Check(MakeRequest("/metrics"))->status == 401);
  CHECK_FALSE(access.Check(MakeRequest("/metrics", "Bearer other-token")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/healthz")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/readyz")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/v1x")).has_value());  // not under /v1
}

TEST_CASE("each client gets a token bucket for /v1, 429 says when to retry", "[http][access]") {
  Clock::time_point now{};
  AccessOptions options;
  options.requests_per_second = 2;
  options.burst = 3;
  AccessControl access(options, [&] { return now; });

  for (int i = 0; i < 3; ++i) CHECK_FALSE(access.Check(MakeRequest("/v1/views")).has_value());
  const std::optional<Response> limited = access.Check(MakeRequest("/v1/views"));
  REQUIRE(limited.has_value());
  CHECK(limited->status == 429);
  CHECK(Header(*limited, "Retry-After") == "1");
  CHECK_THAT(limited->body, Catch::Contains("10.0.0.1"));
  // Probes and scrapes are never limited; other clients have their own bucket.
  CHECK_FALSE(access.Check(MakeRequest("/healthz")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/metrics")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "10.0.0.2")).has_value());

  now += 499ms;  // 0.998 tokens: not yet
  CHECK(access.Check(MakeRequest("/v1/views")).has_value());
  now += 2ms;  // the failed try spent nothing: 1.002 tokens now
  CHECK_FALSE(access.Check(MakeRequest("/v1/views")).has_value());
  CHECK(access.Check(MakeRequest("/v1/views")).has_value());
  now += 10s;  // refills to the burst, not beyond
  for (int i = 0; i < 3; ++i) CHECK_FALSE(access.Check(MakeRequest("/v1/views")).has_value());
  CHECK(access.Check(MakeRequest("/v1/views")).has_value());
}

TEST_CASE("the client table stays bounded and forgets idle clients first", "[http][access]") {
  Clock::time_point now{};
  AccessOptions options;
  options.requests_per_second = 1;
  options.burst = 2;
  options.max_tracked_clients = 3;
  AccessControl access(options, [&] { return now; });
  // "busy" spends its bucket; the others make one request and are idle afterwards.
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "busy")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "busy")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "idle-1")).has_value());
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "idle-2")).has_value());
  CHECK(access.tracked_clients() == 3);
  now += 1500ms;  // idle-1 and idle-2 are full again; busy is at 1.5 of 2
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "new")).has_value());
  CHECK(access.tracked_clients() == 2);  // busy and new
  // busy's bucket was kept: it still has only what it earned.
  CHECK_FALSE(access.Check(MakeRequest("/v1/views", "", "busy")).has_value());
  CHECK(access.Check(MakeRequest("/v1/views", "", "busy")).has_value());
  for (int i = 0; i < 100; ++i) {
    (void)access.Check(MakeRequest("/v1/views", "", "client-" + std::to_string(i)));
    CHECK(access.tracked_clients() <= 3);
  }
}

TEST_CASE("the server asks AccessControl with the request's header and peer address",
          "[http][access][server]") {
  Router router;
  router.Add("GET", "/v1/views", [](const Request&) { return Response::Json(200, "{}"); });
  AccessOptions options;
  options.tokens = {"t0ken"};
  options.requests_per_second = 1;
  options.burst = 2;
  AccessControl access(options);
  Server server(ServerOptions{}, std::move(router), &access);
  REQUIRE(server.Start().ok());
  testing::asio::io_context ioc;
  testing::TestClient client(ioc, server.port());

  auto unauthorized = client.Get("/v1/views");
  CHECK(unauthorized.result_int() == 401);
  CHECK(unauthorized[testing::bhttp::field::www_authenticate] == R"(Bearer realm="eddy")");
  const std::vector<std::pair<std::string, std::string>> token = {
      {"Authorization", "Bearer t0ken"}};
  CHECK(client.Send(testing::bhttp::verb::get, "/v1/views", "", token).result_int() == 200);
  CHECK(client.Send(testing::bhttp::verb::get, "/v1/views", "", token).result_int() == 200);
  auto limited = client.Send(testing::bhttp::verb::get, "/v1/views", "", token);
  CHECK(limited.result_int() == 429);
  CHECK(limited[testing::bhttp::field::retry_after] == "1");
  CHECK_THAT(limited.body(), Catch::Contains("127.0.0.1"));
  // A 401 and a 429 keep the connection open, like any handler error.
  CHECK(client.Get("/v1/views").result_int() == 401);
}

}  // namespace
}  // namespace eddy::http
