// A small blocking HTTP/1.1 client for the server tests, over loopback. Every operation is
// asynchronous underneath with a deadline (beast::tcp_stream), so a broken server fails a
// test instead of hanging it. Clients may share one io_context (each operation runs it until
// that operation completes; an idle client has no pending work).
//
// Thread-safety: one client per thread; clients sharing an io_context share a thread.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

// See src/http/server.cpp for why these are included one by one, with this pragma.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

namespace eddy::http::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using HttpResponse = bhttp::response<bhttp::string_body>;

constexpr std::chrono::seconds kClientTimeout{10};

class TestClient {
 public:
  // Connects and REQUIREs success. Catch assertions are not thread-safe: on other threads
  // use the Unchecked constructor with Connect and Exchange instead.
  TestClient(asio::io_context& ioc, uint16_t port, const std::string& host = "127.0.0.1")
      : TestClient(ioc, Unchecked{}) {
    beast::error_code result = Connect(port, host);
    INFO("connect: " << result.message());
    REQUIRE_FALSE(result);
  }

  struct Unchecked {};
  TestClient(asio::io_context& ioc, Unchecked) : ioc_(ioc), stream_(ioc) {}

  beast::error_code Connect(uint16_t port, const std::string& host = "127.0.0.1") {
    tcp::endpoint endpoint(asio::ip::make_address(host), port);
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientTimeout);
    stream_.async_connect(endpoint, [&](beast::error_code ec) { result = ec; });
    Run();
    return result;
  }

  // Sends raw bytes (a whole request, part of one, or garbage).
  beast::error_code WriteRaw(const std::string& bytes) {
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientTimeout);
    asio::async_write(stream_, asio::buffer(bytes),
                      [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    return result;
  }

  // Reads one response; `head` tells the parser that no body follows (a HEAD response).
  beast::error_code Read(HttpResponse& response, bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(head);
    parser.body_limit(64 * 1024 * 1024);
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientTimeout);
    bhttp::async_read(stream_, buffer_, parser, [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    if (!result) response = parser.release();
    return result;
  }

  // Writes a request and reads its response, without Catch assertions.
  beast::error_code Exchange(bhttp::request<bhttp::string_body>& request, HttpResponse& response) {
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientTimeout);
    bhttp::async_write(stream_, request, [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    if (result) return result;
    return Read(response, request.method() == bhttp::verb::head);
  }

  // One request/response exchange on this connection; REQUIREs success.
  HttpResponse Send(bhttp::verb method, const std::string& target, std::string body = "",
                    std::vector<std::pair<std::string, std::string>> headers = {},
                    unsigned version = 11) {
    bhttp::request<bhttp::string_body> request(method, target, version);
    request.set(bhttp::field::host, "localhost");
    for (auto& [name, value] : headers) request.set(name, value);
    if (method != bhttp::verb::get && method != bhttp::verb::head) {
      request.body() = std::move(body);
      request.prepare_payload();
    }
    HttpResponse response;
    beast::error_code result = Exchange(request, response);
    INFO(target << ": " << result.message());
    REQUIRE_FALSE(result);
    return response;
  }

  HttpResponse Get(const std::string& target) { return Send(bhttp::verb::get, target); }

  // True if the server has closed the connection (EOF or reset) within the client timeout;
  // false if data arrived instead or the timeout hit.
  bool ServerClosed() {
    char byte = 0;
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientTimeout);
    stream_.async_read_some(asio::buffer(&byte, 1),
                            [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    return result == asio::error::eof || result == asio::error::connection_reset;
  }

 private:
  void Run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context& ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

}  // namespace eddy::http::testing
