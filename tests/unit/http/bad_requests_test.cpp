// Bad requests and bad clients against the real server over loopback: every request the
// server cannot serve gets a 4xx/5xx with the JSON error body (and the connection closed), and
// every client too slow to finish is disconnected after a bounded time — never a crash or a
// hang, and other clients are served meanwhile.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "unit/http/test_client.h"

namespace eddy::http {
namespace {

using std::chrono::milliseconds;
using testing::HttpResponse;
using testing::TestClient;
using testing::asio::io_context;
using testing::bhttp::field;
using testing::bhttp::verb;
using Clock = std::chrono::steady_clock;

Router SmallRouter() {
  Router router;
  router.Add("GET", "/hello", [](const Request&) { return Response::Text(200, "hello"); });
  router.Add("GET", "/v1/views/{view}/keys/{key}", [](const Request& request) {
    return Response::Json(200,
                          R"({"key_bytes":)" + std::to_string(request.Param("key").size()) + "}");
  });
  // 32 MiB: far more than loopback socket buffers hold, so writing it needs a reading client.
  router.Add("GET", "/big",
             [](const Request&) { return Response::Text(200, std::string(32 << 20, 'x')); });
  return router;
}

std::unique_ptr<Server> Start(ServerOptions options = {}) {
  auto server = std::make_unique<Server>(std::move(options), SmallRouter());
  Status status = server->Start();
  INFO(status.ToString());
  REQUIRE(status.ok());
  return server;
}

// Sends `raw`, reads one response and checks it is `status` with the JSON error body and a
// closed connection. Returns the body.
std::string ExpectError(uint16_t port, const std::string& raw, int status) {
  io_context ioc;
  TestClient client(ioc, port);
  REQUIRE_FALSE(client.WriteRaw(raw));
  HttpResponse response;
  const auto error = client.Read(response);
  INFO("read: " << error.message());
  REQUIRE_FALSE(error);
  CHECK(static_cast<int>(response.result_int()) == status);
  auto type = response.find(field::content_type);
  CHECK((type != response.end() && type->value() == "application/json"));
  CHECK(response.body().starts_with(R"({"error":{"code":)" + std::to_string(status) +
                                    R"(,"message":")"));
  CHECK_FALSE(response.keep_alive());
  CHECK(client.ServerClosed());
  return response.body();
}

void CheckStillServing(uint16_t port) {
  io_context ioc;
  TestClient client(ioc, port);
  CHECK(client.Get("/hello").body() == "hello");
}

TEST_CASE("Bad requests get a JSON error and a closed connection", "[http][bad-requests]") {
  auto server = Start();
  const uint16_t port = server->port();

  SECTION("unknown path") {
    io_context ioc;
    TestClient client(ioc, port);
    HttpResponse response = client.Get("/v2/nothing");
    CHECK(response.result_int() == 404);
    CHECK(response.body() == R"({"error":{"code":404,"message":"no such endpoint: /v2/nothing"}})");
  }
  SECTION("unknown query parameter") {
    io_context ioc;
    TestClient client(ioc, port);
    HttpResponse response = client.Get("/hello?verbose=1");
    CHECK(response.result_int() == 400);
    CHECK(response.body() ==
          R"({"error":{"code":400,"message":"unknown query parameter 'verbose' for /hello; this )"
          R"(endpoint takes none"}})");
    CHECK(client.Get("/hello").body() == "hello");  // a handler's 4xx keeps the connection
  }
  SECTION("wrong and unknown methods") {
    io_context ioc;
    TestClient client(ioc, port);
    HttpResponse post = client.Send(verb::post, "/hello", "x");
    CHECK(post.result_int() == 405);
    CHECK(post[field::allow] == "GET, HEAD");
    REQUIRE_FALSE(client.WriteRaw("BREW /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    HttpResponse brew;
    REQUIRE_FALSE(client.Read(brew));
    CHECK(brew.result_int() == 405);
    CHECK(brew.body().find("method BREW not allowed") != std::string::npos);
    CHECK(brew.body().starts_with(R"({"error":{"code":405,)"));
  }
  SECTION("malformed request lines") {
    for (const std::string& raw : {
             std::string("GET\r\n\r\n"),
             std::string("GET /hello\r\n\r\n"),
             std::string("GET /hello HTTP/1.1 extra\r\n\r\n"),
             std::string("GET /hello FTP/1.1\r\n\r\n"),
             std::string("G(T /hello HTTP/1.1\r\n\r\n"),
             std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS hello
             std::string("GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n"),
             std::string("GET /hello HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
             std::string("GET /hello HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
             std::string("GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
         }) {
      INFO(raw);
      // The TLS hello has no CRLF: the parser waits for more, so close our side first.
      ExpectError(port, raw + (raw.find("\r\n") == std::string::npos ? "\r\n\r\n" : ""), 400);
    }
  }
  SECTION("HTTP/2 prior knowledge and other versions") {
    ExpectError(port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    const std::string body = ExpectError(port, "GET /hello HTTP/1.2\r\nHost: x\r\n\r\n", 505);
    CHECK(body == R"({"error":{"code":505,"message":"HTTP version not supported; use HTTP/1.1 or )"
                  R"(HTTP/1.0"}})");
  }
  SECTION("oversized target (a huge key)") {
    // Under the header limit but over the target limit: the parser has it, the server refuses.
    std::string body = ExpectError(
        port, "GET /v1/views/v/keys/" + std::string(9000, 'k') + " HTTP/1.1\r\nHost: x\r\n\r\n",
        414);
    CHECK(body == R"({"error":{"code":414,"message":"request target longer than 8192 bytes"}})");
    // Over the header limit while still in the request line.
    ExpectError(port, "GET /v1/views/v/keys/" + std::string(40'000, 'k') + " HTTP/1.1\r\n\r\n",
                414);
    // Just under the limit is served.
    io_context ioc;
    TestClient client(ioc, port);
    CHECK(client.Get("/v1/views/v/keys/" + std::string(8000, 'k')).body() ==
          R"({"key_bytes":8000})");
  }
  SECTION("oversized headers: one huge header, or many") {
    std::string body = ExpectError(
        port, "GET /hello HTTP/1.1\r\nX-Big: " + std::string(20'000, 'h') + "\r\n\r\n", 431);
    CHECK(body == R"({"error":{"code":431,"message":"request headers larger than 16384 bytes"}})");
    std::string many = "GET /hello HTTP/1.1\r\n";
    for (int i = 0; i < 2000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    ExpectError(port, many + "\r\n", 431);
  }
  SECTION("oversized body announced by Content-Length, never sent") {
    std::string body = ExpectError(
        port, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n", 413);
    CHECK(body == R"({"error":{"code":413,"message":"request body larger than 1048576 bytes"}})");
  }
  CheckStillServing(port);
}

TEST_CASE("A client trickling its headers in (slowloris) is cut off", "[http][bad-requests]") {
  ServerOptions options;
  options.request_timeout = milliseconds(400);
  auto server = Start(options);
  io_context ioc;
  TestClient slow(ioc, server->port());
  const std::string request = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(60, 's');
  const auto started = Clock::now();
  bool write_failed = false;
  // One byte every 20 ms: the request would take 1.8 s; the server gives it 400 ms.
  for (char c : request) {
    if (slow.WriteRaw(std::string(1, c))) {
      write_failed = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
    if (Clock::now() - started > milliseconds(1000)) break;
  }
  CHECK((write_failed || slow.ServerClosed()));
  CHECK(Clock::now() - started < milliseconds(5000));
  CheckStillServing(server->port());
}

TEST_CASE("Slow clients do not block others", "[http][bad-requests]") {
  ServerOptions options;
  options.io_threads = 1;
  auto server = Start(options);
  io_context ioc;
  std::vector<std::unique_ptr<TestClient>> slow;
  for (int i = 0; i < 50; ++i) {
    slow.push_back(std::make_unique<TestClient>(ioc, server->port()));
    REQUIRE_FALSE(slow.back()->WriteRaw("GET /hel"));
  }
  const auto started = Clock::now();
  CheckStillServing(server->port());
  CHECK(Clock::now() - started < milliseconds(2000));
}

TEST_CASE("A client that never reads its response is disconnected", "[http][bad-requests]") {
  ServerOptions options;
  options.write_timeout = milliseconds(300);
  auto server = Start(options);
  io_context ioc;
  TestClient lazy(ioc, server->port());
  REQUIRE_FALSE(lazy.WriteRaw("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Meanwhile the server serves others.
  CheckStillServing(server->port());
  std::this_thread::sleep_for(milliseconds(800));
  // Now read: what the socket buffers held arrives, then the connection ends early.
  HttpResponse response;
  const auto error = lazy.Read(response);
  CHECK(error);  // not a complete 32 MiB response
  CheckStillServing(server->port());
}

TEST_CASE("Connections beyond max_connections get 503", "[http][bad-requests]") {
  ServerOptions options;
  options.max_connections = 4;
  auto server = Start(options);
  io_context ioc;
  std::vector<std::unique_ptr<TestClient>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<TestClient>(ioc, server->port()));
    CHECK(held.back()->Get("/hello").body() == "hello");
  }
  const std::string body = ExpectError(server->port(), "GET /hello HTTP/1.1\r\n\r\n", 503);
  CHECK(body ==
        R"({"error":{"code":503,"message":"too many connections (at most 4); try again later"}})");
  held.clear();  // closing them frees their slots
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    TestClient client(ioc, server->port());
    served = client.Get("/hello").result_int() == 200;
    if (!served) std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(served);
}

}  // namespace
}  // namespace eddy::http
