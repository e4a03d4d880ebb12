// Process-wide logging setup (spdlog's default logger, to stderr).
#pragma once

#include "common/status.h"
#include "config/config.h"

namespace eddy::runtime {

// Text: "2026-11-25T10:00:00.123Z info message". JSON: one object per line with time,
// level and message (message JSON-escaped). Called once, before any thread starts.
Status ConfigureLogging(const config::LoggingConfig& logging);

}  // namespace eddy::runtime
