// Environment-variable interpolation in config scalar values.
//
//   ${NAME}           the variable's value; an error if NAME is unset (set but empty is fine)
//   ${NAME:-default}  the variable's value, or `default` if NAME is unset or empty
//   $${               a literal "${"
//
// NAME is [A-Za-z_][A-Za-z0-9_]*. The default is literal text up to the first '}' (no
// nesting). Substituted text is not scanned again and is not re-parsed as YAML: it becomes
// the scalar's text, which the loader then converts to the expected type.
//
// Thread-safety: pure function (apart from whatever `env` does).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace eddy::config {

struct Interpolated {
  std::string text;
  std::vector<std::string> errors;  // one message per bad reference; text is unusable if any
};

// `secret`: the text is a secret (config::IsSecretKafkaProperty): error messages name the
// variable but quote nothing of the text, not even a default.
Interpolated Interpolate(std::string_view text, const EnvLookup& env, bool secret = false);

}  // namespace eddy::config
