#include "config/interpolate.h"

#include "config/values.h"

namespace eddy::config {

Interpolated Interpolate(std::string_view text, const EnvLookup& env, bool secret) {
  Interpolated out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out.text += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out.text += text[i++];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      out.errors.push_back(
          (secret ? std::string("unterminated '${' in the value (not shown: it is secret)")
                  : "unterminated '${' in '" + std::string(text) + "'") +
          " (write '$${' for a literal '${')");
      return out;
    }
    const std::string_view inner = text.substr(i + 2, close - i - 2);
    const std::size_t dash = inner.find(":-");
    const std::string name(inner.substr(0, dash));
    if (!IsIdentifier(name)) {
      out.errors.push_back((secret
                                ? std::string("invalid reference (not shown: the value is secret)")
                                : "invalid reference '${" + std::string(inner) + "}'") +
                           ": expected ${NAME} or ${NAME:-default} with NAME made of letters, "
                           "digits and '_' (write '$${' for a literal '${')");
    } else {
      const std::optional<std::string> value = env(name);
      if (dash != std::string_view::npos) {
        out.text += (value && !value->empty()) ? *value : std::string(inner.substr(dash + 2));
      } else if (value) {
        out.text += *value;
      } else {
        out.errors.push_back("environment variable '" + name + "' is not set; set it or give a " +
                             "default with ${" + name + ":-value}");
      }
    }
    i = close + 1;
  }
  return out;
}

}  // namespace eddy::config
