// AccessControl: who may call the HTTP API and how often
// (docs/api.md#authentication-and-rate-limits and #rate-limits). The server asks it about every
// parsed request before routing.
//
// - Authentication. With tokens set, requests to /v1 and to the listed other paths must carry
//   "Authorization: Bearer <token>" with one of them; otherwise 401 with
//   WWW-Authenticate: Bearer. Tokens are compared in constant time.
// - Rate limit. With requests_per_second set, each client (remote address) has a token bucket
//   of `burst` requests refilled at that rate, spent by /v1 requests only (probes and scrapes
//   are never limited); an empty bucket answers 429 with Retry-After. At most
//   max_tracked_clients buckets are kept: when full, buckets that have refilled completely are
//   forgotten (their clients lose nothing), and if none has, the oldest is.
//
// Thread-safety: Check may be called from every I/O thread at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/server.h"

namespace eddy::http {

struct AccessOptions {
  std::vector<std::string> tokens;           // empty: no authentication
  std::vector<std::string> protected_paths;  // besides /v1: exact paths such as "/metrics"
  double requests_per_second = 0;            // 0: no rate limit
  double burst = 0;                          // 0: max(1, requests_per_second)
  size_t max_tracked_clients = 10'000;
};

class AccessControl {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is the clock (tests pass their own).
  explicit AccessControl(
      AccessOptions options, std::function<Clock::time_point()> now = [] { return Clock::now(); });

  // nullopt: the request may proceed; else the response to send instead (401 or 429).
  std::optional<Response> Check(const Request& request);

  size_t tracked_clients() const;

 private:
  bool Authorized(const Request& request) const;

  struct Bucket {
    double tokens = 0;
    Clock::time_point refilled_at;
  };

  const AccessOptions options_;
  const double burst_;
  const std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

// "Bearer <token>" → the token ("" when the header is not a bearer credential).
std::string_view BearerToken(std::string_view authorization);

}  // namespace eddy::http
