// The scalar syntaxes of an eddy config: durations, field paths, host:port, booleans,
// integers and names. docs/configuration.md documents each one; keep the two in step.
//
// Every parser returns the value or an InvalidArgument Status whose message is a complete
// "expected ...; got '...'" sentence. The loader prefixes it with where the value sits
// ("window size: ...") and adds the file location.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eddy::config {

// <digits><unit>, unit one of ms, s, m, h, d: "500ms", "10s", "5m", "1h", "7d". Whole numbers
// only, no sign, no spaces, no compound forms ("1m30s"). "0s" parses; callers that need a
// positive duration check that themselves.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A path into a JSON record: dot-separated, non-empty segments ("user.id").
struct FieldPath {
  std::vector<std::string> segments;  // non-empty
  std::string text;                   // segments joined by '.'
};
Result<FieldPath> ParseFieldPath(std::string_view text);

// "host:port". host is an IPv4 address, a bracketed IPv6 address ("[::1]") or a DNS name;
// port is 0-65535 (0: let the OS pick one).
struct ListenAddress {
  std::string host;  // without brackets: "::1"
  uint16_t port = 0;
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

// "true" or "false", exactly. YAML 1.1 spellings (yes/no/on/off) are rejected because they
// are a classic source of surprises.
Result<bool> ParseBool(std::string_view text);

// An optionally negative decimal integer that fits in int64.
Result<int64_t> ParseInteger(std::string_view text);

// [A-Za-z0-9_.-]+ : topology, step and view names (they appear in URLs and store names).
bool IsName(std::string_view text);
// [A-Za-z_][A-Za-z0-9_]* : aggregate names (they become JSON keys in query results).
bool IsIdentifier(std::string_view text);

}  // namespace eddy::config
