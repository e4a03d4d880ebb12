// HttpClient: the blocking HTTP/1.1 GET client of `eddy-loadgen latency`: one keep-alive
// connection, reopened when the server closes it. Each operation is asynchronous underneath
// with a deadline (beast::tcp_stream), so a server that stops answering fails a request
// instead of hanging the probe.
//
// Thread-safety: one thread uses a client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace eddy::loadgen {

class HttpClient {
 public:
  HttpClient(std::string host, std::string port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GETs `target` and returns the response's status code (the body is read and dropped).
  // Connects first if needed; a request that fails on a reused connection (the server
  // closed it meanwhile) is retried once on a new one. Unavailable on a connection error
  // or when `timeout` passes.
  Result<int> Get(const std::string& target, std::chrono::milliseconds timeout);

  int64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy::loadgen
