#include "agent/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace connwatch::agent {

namespace {
spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}
// %Q: the message as a logfmt value, with quotes, backslashes and newlines escaped, so that
// a config error quoting a key's value still parses as one field.
class QuotedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    dest.push_back('"');
    for (const char c : msg.payload) {
      switch (c) {
        case '"':
        case '\\':
          dest.push_back('\\');
          dest.push_back(c);
          break;
        case '\n':
          dest.push_back('\\');
          dest.push_back('n');
          break;
        default:
          dest.push_back(c);
      }
    }
    dest.push_back('"');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<QuotedMessage>();
  }
};

}  // namespace

void setup_logging(config::LogLevel level) {
  auto logger = spdlog::stderr_color_mt("connwatch");
  // logfmt-like, as Prometheus exporters log: greppable and machine-readable.
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<QuotedMessage>('Q').set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l msg=%Q");
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
  set_log_level(level);
}

void set_log_level(config::LogLevel level) { spdlog::set_level(to_spdlog(level)); }

}  // namespace connwatch::agent
