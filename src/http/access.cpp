#include "http/access.h"

#include <algorithm>
#include <cmath>

namespace eddy::http {
namespace {

// Equal without an early exit on the first differing byte: the time taken does not tell an
// attacker how much of a token they guessed.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    difference |= static_cast<unsigned char>(x ^ y);
  }
  return difference == 0;
}

bool IsApiPath(std::string_view path) {
  return path == "/v1" || path.starts_with("/v1/");
}

}  // namespace

std::string_view BearerToken(std::string_view authorization) {
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  if (authorization.size() < 7) return {};
  std::string scheme(authorization.substr(0, 7));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "bearer ") return {};
  std::string_view token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

AccessControl::AccessControl(AccessOptions options, std::function<Clock::time_point()> now)
    : options_(std::move(options)),
      burst_(options_.burst > 0 ? options_.burst : std::max(1.0, options_.requests_per_second)),
      now_(std::move(now)) {}

bool AccessControl::Authorized(const Request& request) const {
  const std::string_view token = BearerToken(request.authorization);
  if (token.empty()) return false;
  bool match = false;
  for (const std::string& candidate : options_.tokens)
    match |= ConstantTimeEquals(token, candidate);
  return match;
}

std::optional<Response> AccessControl::Check(const Request& request) {
  const bool api = IsApiPath(request.path);
  if (!options_.tokens.empty()) {
    const bool protected_path =
        api || std::find(options_.protected_paths.begin(), options_.protected_paths.end(),
                         request.path) != options_.protected_paths.end();
    if (protected_path && !Authorized(request)) {
      Response response = Response::Error(
          401, request.authorization.empty()
                   ? "this endpoint needs a token: send 'Authorization: Bearer <token>'"
                   : "the bearer token is not one of the configured tokens");
      response.headers.emplace_back("WWW-Authenticate",
                                    request.authorization.empty()
                                        ? R"(Bearer realm="eddy")"
                                        : R"(Bearer realm="eddy", error="invalid_token")");
      return response;
    }
  }
  if (options_.requests_per_second <= 0 || !api) return std::nullopt;

  const Clock::time_point now = now_();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(request.client_address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_tracked_clients) {
      // Forget clients whose buckets are full again: to them, a new bucket is the same.
      for (auto candidate = buckets_.begin(); candidate != buckets_.end();) {
        const double elapsed =
            std::chrono::duration<double>(now - candidate->second.refilled_at).count();
        if (candidate->second.tokens + elapsed * options_.requests_per_second >= burst_) {
          candidate = buckets_.erase(candidate);
        } else {
          ++candidate;
        }
      }
      if (buckets_.size() >= options_.max_tracked_clients) {
        auto oldest = std::min_element(buckets_.begin(), buckets_.end(), [](auto& a, auto& b) {
          return a.second.refilled_at < b.second.refilled_at;
        });
        buckets_.erase(oldest);
      }
    }
    it = buckets_.emplace(request.client_address, Bucket{burst_, now}).first;
  }
  Bucket& bucket = it->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.refilled_at).count();
  bucket.tokens =
      std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * options_.requests_per_second);
  bucket.refilled_at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  const double wait_seconds = (1 - bucket.tokens) / options_.requests_per_second;
  const auto retry_after = static_cast<int64_t>(std::max(1.0, std::ceil(wait_seconds)));
  Response response = Response::Error(
      429, "too many requests from " + request.client_address + " (at most " +
               std::to_string(static_cast<int64_t>(options_.requests_per_second)) +
               " per second, bursts of " + std::to_string(static_cast<int64_t>(burst_)) +
               "); retry after " + std::to_string(retry_after) + " s");
  response.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return response;
}

size_t AccessControl::tracked_clients() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace eddy::http
