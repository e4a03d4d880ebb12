// The --url-template of `eddy-loadgen latency`: an http:// URL in which every "{key}" is
// replaced by a percent-encoded record key, e.g.
//   http://127.0.0.1:8080/v1/views/b/keys/{key}     (eddy)
//   http://127.0.0.1:7070/views/store/keys/{key}    (the Kafka Streams peer)
//
// Thread-safety: value types and pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace eddy::loadgen {

// Every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~) as %XX (upper case).
std::string PercentEncode(std::string_view text);

struct UrlTemplate {
  std::string host;  // a name or an IPv4 address
  std::string port;  // "80" when the URL names none
  std::string path;  // starts with '/', contains "{key}" at least once

  // InvalidArgument unless `url` is http://HOST[:PORT]/PATH with "{key}" in PATH.
  static Result<UrlTemplate> Parse(std::string_view url);

  // The request target for `key`: path with each "{key}" replaced by PercentEncode(key).
  std::string Target(std::string_view key) const;
};

}  // namespace eddy::loadgen
