// eddy's HTTP server: one listener serving the admin endpoints, the views API and /metrics.
//
// Built on Boost.Asio/Beast with asynchronous I/O, so an idle keep-alive connection costs a
// socket and a small buffer, not a thread: `io_threads` threads run every connection.
// Handlers run on those I/O threads and must be thread-safe and must not block for long
// (a RocksDB point/prefix read is fine; waiting on Kafka is not).
//
// Thread-safety: Start/Stop are called by the owner's thread (main). Stop() joins the I/O
// threads; after it returns no handler is running or will run.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace eddy::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/v1/views/a/keys/x%20y?from=1"
  std::string path;    // percent-decoded path without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  // Values bound from a pattern's {name} segments, percent-decoded, in pattern order.
  std::vector<std::pair<std::string, std::string>> params;
  std::string body;
  std::string authorization;   // the Authorization header ("" if absent)
  std::string client_address;  // the peer's IP address, e.g. "127.0.0.1"
  // Set by Router::Dispatch: the pattern of the route that answered (e.g.
  // "/v1/views/{view}/keys/{key}"); empty when none did (404, 405). A bounded label for
  // metrics, unlike the path.
  std::string route;
  std::string_view Param(std::string_view name) const;       // "" if absent
  std::string_view QueryValue(std::string_view name) const;  // "" if absent (first match)
};

// Builds a Request from what the request line and body carry: `path` is the percent-decoded
// path, `query` the decoded key/value pairs ('+' is a space there, and only there). The
// target must be in origin form ("/path?query"); anything else ("*", "http://host/x") is
// InvalidArgument. The server calls this; tests that drive a Router directly may too.
Result<Request> ParseRequest(std::string method, std::string target, std::string body = "");

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra response headers, e.g. Allow. The server always sets Content-Type, Content-Length
  // and Server itself (overriding entries here); Connection and Transfer-Encoding are the
  // server's too, and a handler returning them (or CR/LF in a header) gets a 500 instead.
  std::vector<std::pair<std::string, std::string>> headers;
  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // {"error": {"code": status, "message": message}} with message JSON-escaped.
  static Response Error(int status, std::string_view message);
};

using Handler = std::function<Response(const Request&)>;

// Routes by method and a path pattern whose segments are literals or "{name}", e.g.
// "/v1/views/{view}/keys/{key}". A {name} matches exactly one non-empty segment (so
// percent-encoded '/' in a key stays inside the key). Unknown path → 404 JSON error;
// known path with another method → 405 with an Allow header. Matching works on the raw path
// split on '/', each segment then percent-decoded; a trailing slash is ignored ("/a/" is
// "/a"). When several routes match, the first added wins. HEAD is served by the GET route
// unless a HEAD route exists (the server drops the body).
//
// Thread-safety: Add is not thread-safe; Dispatch is const and may run concurrently (the
// server calls it from every I/O thread).
class Router {
 public:
  // The pattern must start with '/' and have no empty segments and no empty "{}" names; a
  // bad pattern is a programming error and aborts. `query_params` are the query parameters
  // the route understands: a request with any other gets a 400 naming it, rather than an
  // answer that silently ignored what the client asked for.
  void Add(std::string method, std::string pattern, Handler handler,
           std::vector<std::string> query_params = {});
  // Matches request.method and request.target; fills request.params on match and calls the
  // handler (whose exceptions propagate: the server catches them).
  Response Dispatch(Request& request) const;

  // What a route answers, as Add was given it: for documentation checks (the OpenAPI
  // document must list exactly these; tests/unit/runtime/openapi_test.cpp).
  struct RouteInfo {
    std::string method;
    std::string pattern;  // e.g. "/v1/views/{view}/keys/{key}"
    std::vector<std::string> query_params;
  };
  // Every route in the order added. HEAD is implicit for GET routes and not listed.
  std::vector<RouteInfo> Routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;                // as added
    std::vector<std::string> segments;  // literal, or "{name}"
    Handler handler;
    std::vector<std::string> query_params;
  };
  std::vector<Route> routes_;
};

// Limits that keep one client from holding the server's memory, sockets or time. Every
// request over a limit gets a JSON error response and its connection is closed; a client too
// slow to send its request or to read its response is disconnected without one.
// Told about every response the server sends: the route pattern that answered (Request::route;
// empty if the request reached no route, including requests refused before routing: 400, 413,
// 414, 431, 503, 505), the status, and the time from the request being read to the response
// being handed to the socket. Called on the I/O threads, concurrently: must be thread-safe and
// quick.
using RequestObserver =
    std::function<void(std::string_view route, int status, std::chrono::nanoseconds elapsed)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see Server::port())
  int io_threads = 1;
  size_t max_body_bytes = 1 << 20;      // larger request bodies get 413
  size_t max_header_bytes = 16 * 1024;  // request line + headers; larger get 431
  size_t max_target_bytes = 8 * 1024;   // the request target (path + query); longer get 414
  size_t max_connections = 1024;        // further connections get 503 and are closed
  // How long a connection may wait for the first byte of a request (the keep-alive idle time,
  // and the time a new connection has to start its first request).
  std::chrono::milliseconds idle_timeout{60'000};
  // From the first byte of a request to its last (headers and body): a client trickling its
  // headers in (slowloris) is disconnected after this long.
  std::chrono::milliseconds request_timeout{10'000};
  // To write one response: a client that does not read it is disconnected after this long.
  std::chrono::milliseconds write_timeout{30'000};
  RequestObserver observer;  // may be empty
};

class AccessControl;

class Server {
 public:
  // The router must be fully populated before Start and is not modified afterwards.
  // `access` (may be null: everyone, unlimited) is asked about every request before routing
  // and must outlive the server.
  Server(ServerOptions options, Router router, AccessControl* access = nullptr);
  ~Server();  // calls Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens, then starts the I/O threads; returns an error if the address is
  // unusable or the options invalid. A Server runs once: after a successful Start, another
  // Start is an error, even after Stop.
  Status Start();
  void Stop();            // idempotent
  uint16_t port() const;  // the bound port, valid after Start

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-decodes a URL component ("%2F" → "/"; '+' is left alone in paths).
std::string PercentDecode(std::string_view text);
// Base64url without padding (RFC 4648 section 5): opaque, URL-safe tokens such as cursors.
std::string Base64UrlEncode(std::string_view bytes);
// nullopt unless `text` is unpadded base64url whose unused trailing bits are zero (so every
// byte string has exactly one encoding).
std::optional<std::string> Base64UrlDecode(std::string_view text);
// Escapes a string for inclusion inside JSON double quotes.
std::string JsonEscape(std::string_view text);

}  // namespace eddy::http
