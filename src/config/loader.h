// Loading and validating an eddy YAML config.
//
// Load() reads YAML, substitutes ${VAR} / ${VAR:-default} from the environment, and checks
// schema, types, units and references. It never touches Kafka, disk state or the network.
// Every problem found is reported as a Diagnostic naming file:line:column and what was
// expected; unknown keys are errors, with "did you mean 'x'?" when a known key is close.
// Load keeps going after the first error so a user sees all of them at once.
//
// Thread-safety: pure functions; safe to call from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace eddy::config {

struct Diagnostic {
  SourceLocation location;
  std::string message;
  std::string ToString() const;  // "file:line:column: error: message"
};

struct LoadResult {
  std::optional<Config> config;  // set iff errors is empty
  std::vector<Diagnostic> errors;
  bool ok() const { return errors.empty(); }
};

// Looks up an environment variable; nullopt when unset. Injected so tests need not touch
// the real environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnvironment();

LoadResult LoadFile(const std::string& path, const EnvLookup& env = ProcessEnvironment());
LoadResult LoadString(const std::string& yaml_text, const std::string& file_name,
                      const EnvLookup& env = ProcessEnvironment());

}  // namespace eddy::config
