#include "loadgen/url.h"

namespace eddy::loadgen {

namespace {

constexpr std::string_view kPlaceholder = "{key}";

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

Result<UrlTemplate> UrlTemplate::Parse(std::string_view url) {
  const std::string quoted = "--url-template '" + std::string(url) + "': ";
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::InvalidArgument(quoted + "must start with http:// (https is not supported)");
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return Status::InvalidArgument(quoted + "has no path (expected http://HOST[:PORT]/PATH)");
  }
  const std::string_view authority = rest.substr(0, slash);
  UrlTemplate result;
  result.path = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos ||
      authority.find('[') != std::string_view::npos) {
    return Status::InvalidArgument(quoted + "user info and IPv6 literals are not supported");
  }
  const size_t colon = authority.find(':');
  result.host = std::string(authority.substr(0, colon));
  result.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (result.host.empty()) return Status::InvalidArgument(quoted + "has no host");
  if (!AllDigits(result.port) || result.port.size() > 5 || std::stoi(result.port) > 65535) {
    return Status::InvalidArgument(quoted + "has an invalid port '" + result.port + "'");
  }
  if (result.path.find(kPlaceholder) == std::string::npos) {
    return Status::InvalidArgument(quoted + "has no {key} placeholder");
  }
  if (result.path.find_first_of(" \t\r\n#") != std::string::npos) {
    return Status::InvalidArgument(quoted + "contains a space, control character or fragment");
  }
  return result;
}

std::string UrlTemplate::Target(std::string_view key) const {
  const std::string encoded = PercentEncode(key);
  std::string target;
  target.reserve(path.size() + encoded.size());
  size_t from = 0;
  for (size_t at; (at = path.find(kPlaceholder, from)) != std::string::npos;
       from = at + kPlaceholder.size()) {
    target.append(path, from, at - from);
    target.append(encoded);
  }
  target.append(path, from);
  return target;
}

}  // namespace eddy::loadgen
