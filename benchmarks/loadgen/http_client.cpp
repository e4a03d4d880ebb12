#include "loadgen/http_client.h"

#include <utility>

// As in src/http/server.cpp: the headers one by one (Boost 1.74's <boost/asio.hpp> misses
// <utility> under GCC 12 / C++20), and -Wnull-dereference off for a false positive inside
// Asio's scheduler.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

namespace eddy::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  Impl(std::string host_name, std::string port_name)
      : host(std::move(host_name)), port(std::move(port_name)), stream(ioc) {}

  // Runs the io_context until the operation started before completes (or its deadline).
  void Run() {
    ioc.restart();
    ioc.run();
  }

  beast::error_code Connect(std::chrono::milliseconds timeout) {
    beast::error_code result;
    if (endpoints.empty()) {
      tcp::resolver resolver(ioc);
      endpoints = resolver.resolve(host, port, result);
      if (result) return result;
    }
    result = asio::error::would_block;
    stream.expires_after(timeout);
    stream.async_connect(endpoints,
                         [&](beast::error_code ec, const tcp::endpoint&) { result = ec; });
    Run();
    if (!result) {
      stream.socket().set_option(tcp::no_delay(true));
      connected = true;
      ++opened;
    }
    return result;
  }

  void Close() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.clear();
    connected = false;
  }

  // One request/response exchange on the open connection.
  beast::error_code Exchange(bhttp::request<bhttp::empty_body>& request,
                             bhttp::response<bhttp::string_body>& response,
                             std::chrono::milliseconds timeout) {
    beast::error_code result = asio::error::would_block;
    stream.expires_after(timeout);
    bhttp::async_write(stream, request, [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    if (result) return result;
    result = asio::error::would_block;
    bhttp::async_read(stream, buffer, response, [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    return result;
  }

  const std::string host;
  const std::string port;
  asio::io_context ioc;
  tcp::resolver::results_type endpoints;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool connected = false;
  int64_t opened = 0;
};

HttpClient::HttpClient(std::string host, std::string port)
    : impl_(std::make_unique<Impl>(std::move(host), std::move(port))) {}

HttpClient::~HttpClient() = default;

int64_t HttpClient::connections_opened() const {
  return impl_->opened;
}

Result<int> HttpClient::Get(const std::string& target, std::chrono::milliseconds timeout) {
  bhttp::request<bhttp::empty_body> request(bhttp::verb::get, target, 11);
  request.set(bhttp::field::host, impl_->host + ":" + impl_->port);
  request.keep_alive(true);
  for (int attempt = 0;; ++attempt) {
    const bool reused = impl_->connected;
    if (!impl_->connected) {
      beast::error_code ec = impl_->Connect(timeout);
      if (ec) {
        impl_->Close();
        return Status::Unavailable("connect to " + impl_->host + ":" + impl_->port + ": " +
                                   ec.message());
      }
    }
    bhttp::response<bhttp::string_body> response;
    beast::error_code ec = impl_->Exchange(request, response, timeout);
    if (ec) {
      impl_->Close();
      if (reused && attempt == 0 && ec != beast::error::timeout) continue;
      return Status::Unavailable("GET " + target + ": " + ec.message());
    }
    if (!response.keep_alive()) impl_->Close();
    return static_cast<int>(response.result_int());
  }
}

}  // namespace eddy::loadgen
