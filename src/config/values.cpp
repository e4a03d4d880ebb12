#include "config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <limits>

namespace eddy::config {
namespace {

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

std::string Quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

Status DurationError(std::string_view text, std::string_view hint) {
  std::string msg = "expected a duration like 500ms, 10s, 5m; got " + Quote(text);
  if (!hint.empty()) msg += " (" + std::string(hint) + ")";
  return Status::InvalidArgument(std::move(msg));
}

// One DNS label: 1-63 of [A-Za-z0-9-], not starting or ending with '-'.
bool IsHostLabel(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-') return false;
  }
  return true;
}

bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = host.find('.', start);
    const std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!IsHostLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsAddress(int family, const std::string& text) {
  unsigned char buf[16];
  return inet_pton(family, text.c_str(), buf) == 1;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && IsDigit(text[digits])) ++digits;
  const std::string_view number = text.substr(0, digits);
  const std::string_view unit = text.substr(digits);
  if (number.empty()) {
    if (text.starts_with('-')) return DurationError(text, "a duration cannot be negative");
    if (text.starts_with('+')) return DurationError(text, "write it without a sign");
    return DurationError(text, "");
  }
  if (unit.empty()) return DurationError(text, "add a unit: ms, s, m, h or d");
  if (unit.front() == ' ') {
    return DurationError(text, "no space between the number and the unit");
  }

  int64_t per_unit = 0;
  if (unit == "ms") {
    per_unit = 1;
  } else if (unit == "s") {
    per_unit = 1000;
  } else if (unit == "m") {
    per_unit = 60 * 1000;
  } else if (unit == "h") {
    per_unit = 60 * 60 * 1000;
  } else if (unit == "d") {
    per_unit = 24 * 60 * 60 * 1000;
  } else if (unit.front() == '.') {
    return DurationError(text, "whole numbers only; use a smaller unit, e.g. 1500ms for 1.5s");
  } else {
    bool letters = true;
    for (char c : unit) letters = letters && IsAlpha(c);
    if (std::any_of(unit.begin(), unit.end(), IsDigit)) {
      return DurationError(text, "one number and one unit only: e.g. 90s for 1m30s");
    }
    return DurationError(
        text, letters ? "unknown unit " + Quote(unit) + "; units are ms, s, m, h, d" : "");
  }

  int64_t count = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (ec != std::errc() || end != number.data() + number.size() ||
      count > std::numeric_limits<int64_t>::max() / per_unit) {
    return Status::InvalidArgument("duration " + Quote(text) + " is too large");
  }
  return std::chrono::milliseconds(count * per_unit);
}

Result<FieldPath> ParseFieldPath(std::string_view text) {
  FieldPath path;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view segment =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (segment.empty()) {
      return Status::InvalidArgument(
          "expected a field path like 'user.id' (dot-separated, no empty segments); got " +
          Quote(text));
    }
    path.segments.emplace_back(segment);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  path.text = std::string(text);
  return path;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto fail = [text](std::string_view hint) {
    std::string msg =
        "expected host:port like 0.0.0.0:8080, [::1]:8080 or localhost:8080; got " + Quote(text);
    if (!hint.empty()) msg += " (" + std::string(hint) + ")";
    return Status::InvalidArgument(std::move(msg));
  };

  ListenAddress out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after the IPv6 address");
    out.host = std::string(text.substr(1, close - 1));
    if (!IsAddress(AF_INET6, out.host)) return fail("not a valid IPv6 address in brackets");
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("missing ':port'");
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing ':port'");
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (out.host.empty()) return fail("missing host; use 0.0.0.0 for all interfaces");
    if (out.host.find(':') != std::string::npos) {
      return fail("write an IPv6 address in brackets, e.g. [::1]:8080");
    }
    bool dotted_numbers = true;
    for (char c : out.host) dotted_numbers = dotted_numbers && (IsDigit(c) || c == '.');
    if (dotted_numbers) {
      if (!IsAddress(AF_INET, out.host)) return fail("not a valid IPv4 address");
    } else if (!IsHostName(out.host)) {
      return fail("not a valid host name");
    }
  }

  if (!AllDigits(port) || port.size() > 5) return fail("port must be a number 0-65535");
  int value = 0;
  std::from_chars(port.data(), port.data() + port.size(), value);
  if (value > 65535) return fail("port must be a number 0-65535");
  out.port = static_cast<uint16_t>(value);
  return out;
}

Result<bool> ParseBool(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return Status::InvalidArgument("expected true or false; got " + Quote(text));
}

Result<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("expected an integer; got " + Quote(text));
  }
  return value;
}

bool IsName(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsIdentifier(std::string_view text) {
  if (text.empty() || IsDigit(text.front())) return false;
  for (char c : text) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '_') return false;
  }
  return true;
}

}  // namespace eddy::config
