// Server over loopback: real sockets, real Beast parsing, TestClient (test_client.h).
#include "http/server.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "unit/http/test_client.h"

namespace eddy::http {
namespace {

using testing::HttpResponse;
using testing::TestClient;
using testing::asio::io_context;
using testing::bhttp::field;
using testing::bhttp::verb;

// Routes used by most tests: echo of params/query/body, a thrower, a bad-status handler.
Router TestRouter() {
  Router router;
  router.Add("GET", "/v1/views/{view}/keys/{key}", [](const Request& request) {
    return Response::Json(200, std::string(R"({"view":")") + JsonEscape(request.Param("view")) +
                                   R"(","key":")" + JsonEscape(request.Param("key")) + R"("})");
  });
  router.Add("GET", "/query",
             [](const Request& request) {
               std::string body;
               for (const auto& [name, value] : request.query)
                 body += "[" + name + "=" + value + "]";
               return Response::Text(200, body);
             },
             {"a", "b", "flag", "n"});
  router.Add("POST", "/echo", [](const Request& request) {
    return Response::Text(200, request.method + ":" + request.body);
  });
  router.Add("GET", "/hello", [](const Request&) { return Response::Text(200, "hello"); });
  router.Add("GET", "/throw",
             [](const Request&) -> Response { throw std::runtime_error("disk on fire"); });
  router.Add("GET", "/throw-int", [](const Request&) -> Response { throw 42; });
  router.Add("GET", "/bad-status", [](const Request&) { return Response::Text(42, "?"); });
  router.Add("GET", "/no-content", [](const Request&) { return Response::Text(204, "ignored"); });
  router.Add("GET", "/header", [](const Request&) {
    Response response = Response::Text(200, "x");
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  });
  router.Add("GET", "/bad-header", [](const Request&) {
    Response response = Response::Text(200, "x");
    response.headers.emplace_back("Transfer-Encoding", "chunked");
    return response;
  });
  return router;
}

std::unique_ptr<Server> StartServer(ServerOptions options = {}, Router router = TestRouter()) {
  auto server = std::make_unique<Server>(std::move(options), std::move(router));
  Status status = server->Start();
  INFO(status.ToString());
  REQUIRE(status.ok());
  REQUIRE(server->port() != 0);
  return server;
}

std::string Header(const HttpResponse& response, field name) {
  auto it = response.find(name);
  return it == response.end() ? "<none>" : std::string(it->value());
}

TEST_CASE("Server routes with percent-decoded params and sets headers", "[http][server]") {
  auto server = StartServer();
  io_context ioc;
  TestClient client(ioc, server->port());

  HttpResponse response = client.Get("/v1/views/v/keys/a%2Fb");
  CHECK(response.result_int() == 200);
  CHECK(response.body() == R"({"view":"v","key":"a/b"})");
  CHECK(Header(response, field::content_type) == "application/json");
  CHECK(Header(response, field::content_length) == std::to_string(response.body().size()));
  CHECK(Header(response, field::server) == "eddy");

  response = client.Get("/v1/views/x%20y/keys/%22q%22/");
  CHECK(response.body() == R"({"view":"x y","key":"\"q\""})");

  response = client.Get("/query?a=1&b=x+y%26z&flag");
  CHECK(response.body() == "[a=1][b=x y&z][flag=]");
  CHECK(Header(response, field::content_type) == "text/plain; charset=utf-8");

  response = client.Send(verb::post, "/echo", "payload");
  CHECK(response.body() == "POST:payload");

  response = client.Get("/header");
  CHECK(Header(response, field::cache_control) == "no-store");
}

TEST_CASE("Server 404 and 405 over the wire", "[http][server]") {
  auto server = StartServer();
  io_context ioc;
  TestClient client(ioc, server->port());

  HttpResponse missing = client.Get("/nowhere");
  CHECK(missing.result_int() == 404);
  CHECK(missing.body() == R"({"error":{"code":404,"message":"no such endpoint: /nowhere"}})");
  CHECK(Header(missing, field::content_type) == "application/json");

  HttpResponse wrong = client.Send(verb::delete_, "/echo");
  CHECK(wrong.result_int() == 405);
  CHECK(Header(wrong, field::allow) == "POST");
  CHECK(wrong.body() ==
        R"({"error":{"code":405,"message":"method DELETE not allowed for /echo; allowed: POST"}})");

  // The connection survives both.
  CHECK(client.Get("/hello").body() == "hello");
}

TEST_CASE("Server keeps connections alive", "[http][server]") {
  auto server = StartServer();
  io_context ioc;
  TestClient client(ioc, server->port());
  for (int i = 0; i < 20; ++i) {
    HttpResponse response = client.Get("/v1/views/v/keys/k" + std::to_string(i));
    CHECK(response.keep_alive());
    CHECK(response.body() == R"({"view":"v","key":"k)" + std::to_string(i) + R"("})");
  }

  SECTION("pipelined requests are answered in order") {
    REQUIRE_FALSE(
        client.WriteRaw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /query?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
    HttpResponse first;
    HttpResponse second;
    REQUIRE_FALSE(client.Read(first));
    REQUIRE_FALSE(client.Read(second));
    CHECK(first.body() == "hello");
    CHECK(second.body() == "[n=2]");
  }
}

TEST_CASE("Server honours Connection: close and HTTP/1.0", "[http][server]") {
  auto server = StartServer();
  io_context ioc;

  SECTION("HTTP/1.1 with Connection: close") {
    TestClient client(ioc, server->port());
    HttpResponse response = client.Send(verb::get, "/hello", "", {{"Connection", "close"}});
    CHECK(response.body() == "hello");
    CHECK_FALSE(response.keep_alive());
    CHECK(client.ServerClosed());
  }
  SECTION("HTTP/1.0 closes by default") {
    TestClient client(ioc, server->port());
    HttpResponse response = client.Send(verb::get, "/hello", "", {}, 10);
    CHECK(response.version() == 10);
    CHECK(response.body() == "hello");
    CHECK(client.ServerClosed());
  }
  SECTION("HTTP/1.0 with keep-alive stays open") {
    TestClient client(ioc, server->port());
    HttpResponse response =
        client.Send(verb::get, "/hello", "", {{"Connection", "keep-alive"}}, 10);
    CHECK(response.keep_alive());
    CHECK(client.Send(verb::get, "/hello", "", {{"Connection", "keep-alive"}}, 10).body() ==
          "hello");
  }
}

TEST_CASE("Server answers HEAD with headers only", "[http][server]") {
  auto server = StartServer();
  io_context ioc;
  TestClient client(ioc, server->port());
  HttpResponse head = client.Send(verb::head, "/hello");
  CHECK(head.result_int() == 200);
  CHECK(Header(head, field::content_length) == "5");
  CHECK(head.body().empty());
  // Had a body been sent, it would be parsed as the next response and break this one.
  CHECK(client.Get("/hello").body() == "hello");
}

TEST_CASE("Server sends 204 without a body", "[http][server]") {
  auto server = StartServer();
  io_context ioc;
  TestClient client(ioc, server->port());
  HttpResponse response = client.Get("/no-content");
  CHECK(response.result_int() == 204);
  CHECK(response.body().empty());
  CHECK(Header(response, field::content_length) == "<none>");
  CHECK(client.Get("/hello").body() == "hello");
}

TEST_CASE("Server rejects bodies over max_body_bytes with 413", "[http][server]") {
  ServerOptions options;
  options.max_body_bytes = 1000;
  auto server = StartServer(options);
  io_context ioc;

  TestClient ok_client(ioc, server->port());
  CHECK(ok_client.Send(verb::post, "/echo", std::string(1000, 'a')).result_int() == 200);

  TestClient client(ioc, server->port());
  HttpResponse response = client.Send(verb::post, "/echo", std::string(200'000, 'a'));
  CHECK(response.result_int() == 413);
  CHECK(response.body() ==
        R"({"error":{"code":413,"message":"request body larger than 1000 bytes"}})");
  CHECK_FALSE(response.keep_alive());
  CHECK(client.ServerClosed());

  SECTION("chunked bodies too") {
    TestClient chunked(ioc, server->port());
    std::string chunk(800, 'b');
    REQUIRE_FALSE(chunked.WriteRaw(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
        "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
    HttpResponse chunked_response;
    REQUIRE_FALSE(chunked.Read(chunked_response));
    CHECK(chunked_response.result_int() == 413);
  }
}

TEST_CASE("Server answers malformed requests with 400 and closes", "[http][server]") {
  auto server = StartServer();
  io_context ioc;

  SECTION("garbage") {
    TestClient client(ioc, server->port());
    REQUIRE_FALSE(client.WriteRaw("THIS IS NOT HTTP\r\n\r\n"));
    HttpResponse response;
    REQUIRE_FALSE(client.Read(response));
    CHECK(response.result_int() == 400);
    CHECK(Header(response, field::content_type) == "application/json");
    CHECK(client.ServerClosed());
  }
  SECTION("target not in origin form") {
    TestClient client(ioc, server->port());
    REQUIRE_FALSE(client.WriteRaw("GET http://example.com/hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    HttpResponse response;
    REQUIRE_FALSE(client.Read(response));
    CHECK(response.result_int() == 400);
    CHECK(response.body().find("must start with '/'") != std::string::npos);
    CHECK(client.ServerClosed());
  }
  SECTION("headers over the limit") {
    TestClient client(ioc, server->port());
    REQUIRE_FALSE(
        client.WriteRaw("GET /hello HTTP/1.1\r\nX-Big: " + std::string(20'000, 'h') + "\r\n\r\n"));
    HttpResponse response;
    REQUIRE_FALSE(client.Read(response));
    CHECK(response.result_int() == 431);
    CHECK(client.ServerClosed());
  }
  // Whatever happened to those connections, the server still serves.
  TestClient client(ioc, server->port());
  CHECK(client.Get("/hello").body() == "hello");
}

TEST_CASE("Server turns handler exceptions into 500 and keeps serving", "[http][server]") {
  auto server = StartServer();
  io_context ioc;
  TestClient client(ioc, server->port());

  HttpResponse thrown = client.Get("/throw");
  CHECK(thrown.result_int() == 500);
  CHECK(thrown.body() == R"({"error":{"code":500,"message":"handler failed: disk on fire"}})");
  CHECK(thrown.keep_alive());

  HttpResponse thrown_int = client.Get("/throw-int");
  CHECK(thrown_int.result_int() == 500);

  HttpResponse bad_status = client.Get("/bad-status");
  CHECK(bad_status.result_int() == 500);
  CHECK(bad_status.body().find("invalid HTTP status 42") != std::string::npos);

  HttpResponse bad_header = client.Get("/bad-header");
  CHECK(bad_header.result_int() == 500);
  CHECK(bad_header.body().find("invalid response header: Transfer-Encoding") != std::string::npos);

  CHECK(client.Get("/hello").body() == "hello");
  TestClient other(ioc, server->port());
  CHECK(other.Get("/hello").body() == "hello");
}

TEST_CASE("Idle connections do not hold threads", "[http][server]") {
  ServerOptions options;
  options.io_threads = 1;
  auto server = StartServer(options);
  io_context ioc;

  constexpr int kIdle = 300;
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<TestClient>(ioc, server->port()));
    // Half have finished a request and wait in keep-alive; half never sent anything.
    if (i % 2 == 0) REQUIRE(idle.back()->Get("/hello").body() == "hello");
  }
  // With a thread per connection, the single I/O thread would be stuck on the first one.
  TestClient fresh(ioc, server->port());
  CHECK(fresh.Get("/v1/views/v/keys/fresh").body() == R"({"view":"v","key":"fresh"})");
  // And the idle ones are still being served.
  CHECK(idle.front()->Get("/hello").body() == "hello");
  CHECK(idle.back()->Get("/hello").body() == "hello");
}

TEST_CASE("Server closes connections idle longer than idle_timeout", "[http][server]") {
  ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  options.request_timeout = std::chrono::milliseconds(200);
  auto server = StartServer(options);
  io_context ioc;
  TestClient client(ioc, server->port());
  CHECK(client.Get("/hello").body() == "hello");
  CHECK(client.ServerClosed());  // within the client's 10 s, after ~200 ms

  TestClient silent(ioc, server->port());
  CHECK(silent.ServerClosed());

  TestClient partial(ioc, server->port());
  REQUIRE_FALSE(partial.WriteRaw("GET /hello HTTP/1.1\r\n"));  // and never the rest
  CHECK(partial.ServerClosed());
}

TEST_CASE("Server with several I/O threads serves concurrent clients", "[http][server]") {
  ServerOptions options;
  options.io_threads = 4;
  auto server = StartServer(options);
  const uint16_t port = server->port();

  constexpr int kClients = 8;
  constexpr int kRequests = 50;
  std::vector<int> ok(kClients, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([c, port, &ok] {
      // No Catch assertions off the main thread: count successes, check afterwards.
      try {
        io_context ioc;
        TestClient client(ioc, TestClient::Unchecked{});
        if (client.Connect(port)) return;
        for (int i = 0; i < kRequests; ++i) {
          std::string key = std::to_string(c) + "-" + std::to_string(i);
          testing::bhttp::request<testing::bhttp::string_body> request(
              verb::get, "/v1/views/v/keys/" + key, 11);
          HttpResponse response;
          if (!client.Exchange(request, response) &&
              response.body() == R"({"view":"v","key":")" + key + R"("})") {
            ++ok[static_cast<size_t>(c)];
          }
        }
      } catch (...) {
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int c = 0; c < kClients; ++c) CHECK(ok[static_cast<size_t>(c)] == kRequests);
}

// Threads of this process, from /proc/self/status.
int ProcessThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST_CASE("one I/O thread keeps 1,000 concurrent keep-alive connections and answers them all",
          "[http][server]") {
  ServerOptions options;
  options.io_threads = 1;
  auto server = StartServer(options);
  const int threads_before = ProcessThreads();
  constexpr int kConnections = 1000;
  io_context ioc;
  std::vector<testing::tcp::socket> sockets;
  sockets.reserve(kConnections);
  const auto endpoint =
      testing::tcp::endpoint(testing::asio::ip::make_address("127.0.0.1"), server->port());
  for (int i = 0; i < kConnections; ++i) {
    sockets.emplace_back(ioc);
    testing::beast::error_code ec;
    sockets.back().connect(endpoint, ec);
    INFO("connection " << i << ": " << ec.message());
    REQUIRE_FALSE(ec);
  }
  // Two rounds: every connection sends before any is read, then each is read; the second
  // round goes over the same (kept-alive) connections.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kConnections; ++i) {
      const std::string request =
          "GET /v1/views/v/keys/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
      testing::asio::write(sockets[static_cast<size_t>(i)], testing::asio::buffer(request));
    }
    int answered = 0;
    for (int i = 0; i < kConnections; ++i) {
      testing::beast::flat_buffer buffer;
      HttpResponse response;
      testing::beast::error_code ec;
      testing::bhttp::read(sockets[static_cast<size_t>(i)], buffer, response, ec);
      if (!ec && response.result_int() == 200 && response.keep_alive() &&
          response.body() == R"({"view":"v","key":")" + std::to_string(i) + R"("})") {
        ++answered;
      }
    }
    CHECK(answered == kConnections);
  }
  // No thread per connection: the server runs them all on its one I/O thread.
  CHECK(ProcessThreads() == threads_before);
}

TEST_CASE("Stop returns while connections are open", "[http][server]") {
  auto server = StartServer();
  const uint16_t port = server->port();
  io_context ioc;
  TestClient keep_alive(ioc, port);
  CHECK(keep_alive.Get("/hello").body() == "hello");
  TestClient silent(ioc, port);
  TestClient partial(ioc, port);
  REQUIRE_FALSE(partial.WriteRaw("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
  // Let the server accept and start reading all three before stopping.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  server->Stop();
  CHECK(keep_alive.ServerClosed());
  CHECK(silent.ServerClosed());
  CHECK(partial.ServerClosed());

  server->Stop();  // idempotent
  server.reset();  // and the destructor after Stop is fine
}

TEST_CASE("Server destructor stops a running server", "[http][server]") {
  io_context ioc;
  std::unique_ptr<TestClient> client;
  {
    auto server = StartServer();
    client = std::make_unique<TestClient>(ioc, server->port());
    CHECK(client->Get("/hello").body() == "hello");
  }
  CHECK(client->ServerClosed());
}

TEST_CASE("Start reports unusable addresses as Status", "[http][server]") {
  auto first = StartServer();

  ServerOptions options;
  options.port = first->port();
  Server second(options, TestRouter());
  Status status = second.Start();
  CHECK(status.code() == StatusCode::kIoError);
  CHECK(status.message() ==
        "cannot listen on 127.0.0.1:" + std::to_string(first->port()) + ": Address already in use");
  second.Stop();  // after a failed Start: a no-op

  ServerOptions bad_address;
  bad_address.address = "no-such-host.invalid";  // a name that does not resolve
  Status name_status = Server(bad_address, Router()).Start();
  CHECK(name_status.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(name_status.message(),
             Catch::StartsWith("cannot listen on no-such-host.invalid:0: cannot resolve"));

  ServerOptions by_name;
  by_name.address = "localhost";  // names are resolved once, at start-up
  Server named(by_name, Router());
  REQUIRE(named.Start().ok());
  CHECK(named.port() != 0);
  named.Stop();

  ServerOptions no_threads;
  no_threads.io_threads = 0;
  CHECK(Server(no_threads, Router()).Start().code() == StatusCode::kInvalidArgument);

  CHECK(first->Start().code() == StatusCode::kInternal);  // already started
}

TEST_CASE("Server listens on IPv4 any and IPv6 literals", "[http][server]") {
  ServerOptions any;
  any.address = "0.0.0.0";
  auto server = StartServer(any);
  io_context ioc;
  TestClient client(ioc, server->port());
  CHECK(client.Get("/hello").body() == "hello");

  ServerOptions v6;
  v6.address = "::1";
  Server v6_server(v6, TestRouter());
  Status status = v6_server.Start();
  if (!status.ok()) {
    // Containers without IPv6 on loopback; the error must still name the address.
    WARN("IPv6 loopback unavailable: " << status.ToString());
    CHECK(status.message().rfind("cannot listen on [::1]:0: ", 0) == 0);
    return;
  }
  TestClient v6_client(ioc, v6_server.port(), "::1");
  CHECK(v6_client.Get("/hello").body() == "hello");
}

}  // namespace
}  // namespace eddy::http
