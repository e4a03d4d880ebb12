// Fuzz target: YAML config text → config::LoadString.
//
// Load must never crash, hang or leak whatever the text, and must keep its contract: a
// config iff no errors, and every error names the file. ${VAR} references see a small fixed
// environment so interpolation paths (set, unset, empty, defaults) are reached.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "config/loader.h"

namespace {

std::optional<std::string> FuzzEnvironment(const std::string& name) {
  if (name == "TOPIC") return std::string("pageviews");
  if (name == "BROKERS") return std::string("127.0.0.1:9092");
  if (name == "EMPTY") return std::string();
  if (name == "SECRET") return std::string("fuzz-secret-value");
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const eddy::config::LoadResult result =
      eddy::config::LoadString(text, "fuzz.yaml", FuzzEnvironment);
  if (result.ok() != result.config.has_value()) std::abort();
  for (const eddy::config::Diagnostic& error : result.errors) {
    if (error.location.file != "fuzz.yaml" || error.message.empty()) std::abort();
    (void)error.ToString();
  }
  return 0;
}
