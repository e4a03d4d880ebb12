#include "runtime/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/json_writer.h"

namespace eddy::runtime {
namespace {

// %j: the log message escaped for a JSON string.
class JsonEscapedMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    AppendJsonEscaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessageFlag>();
  }
};

}  // namespace

Status ConfigureLogging(const config::LoggingConfig& logging) {
  auto logger = spdlog::stderr_logger_mt("eddy");
  spdlog::set_default_logger(logger);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (logging.format == config::LogFormat::kJson) {
    formatter->add_flag<JsonEscapedMessageFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":"%j"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  logger->set_formatter(std::move(formatter));
  const spdlog::level::level_enum level = spdlog::level::from_str(logging.level);
  if (level == spdlog::level::off && logging.level != "off") {
    return Status::InvalidArgument("unknown log level '" + logging.level + "'");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  return Status::Ok();
}

}  // namespace eddy::runtime
