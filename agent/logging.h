// Log setup and structured events (SPEC §2): spdlog to stderr, one line per event, as logfmt
// (`ts=... level=info msg="..." key=value`) or JSON (`{"ts":...,"level":...,"msg":...,"key":...}`),
// level and format from the config or --log.level / --log.format.
//
// Levels are named as Prometheus exporters name them: debug, info, warn, error.
//
// An event's fields travel inside spdlog's payload, after the message, as
//   msg \x1f key \x1e value [\x1f key \x1e value]...   (\x1d instead of \x1e: a number)
// so they pass through any spdlog sink unchanged and the formatter set up here renders them as
// fields. Plain spdlog::info("text {}", x) calls keep working: a message without fields.
// These helpers are header-only (spdlog and fmt only), so any library may log fields.
#pragma once

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "config/config.h"

namespace connwatch::agent {

// Installs the process's default logger on stderr.
void setup_logging(config::LogLevel level, config::LogFormat format = config::LogFormat::kLogfmt);
void set_log_level(config::LogLevel level);
// Switches the format of the default logger installed by setup_logging.
void set_log_format(config::LogFormat format);

// The formatter setup_logging installs (it follows set_log_format), for another sink.
std::unique_ptr<spdlog::formatter> make_log_formatter();

// Renders one event as a line (no newline), as the installed logger would; for tests and for
// code that writes logs elsewhere. `payload` is spdlog's payload (message and encoded fields).
std::string format_log_line(config::LogFormat format, std::string_view ts, std::string_view level,
                            std::string_view payload);

namespace log {

inline constexpr char kFieldSeparator = '\x1f';
inline constexpr char kTextValue = '\x1e';
inline constexpr char kNumberValue = '\x1d';

// One key=value of an event. The key is a logfmt/JSON identifier ("target", "address");
// the value anything fmt can format; numbers stay numbers in JSON.
struct Field {
  template <typename T>
  Field(std::string_view k, const T& v)  // NOLINT(google-explicit-constructor): {"k", v} lists
      : key(k),
        value(fmt::format("{}", v)),
        number(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {}
  std::string_view key;
  std::string value;
  bool number;
};

inline std::string encode(std::string_view message, std::initializer_list<Field> fields) {
  std::string payload(message);
  for (const Field& field : fields) {
    payload += kFieldSeparator;
    payload += field.key;
    payload += field.number ? kNumberValue : kTextValue;
    payload += field.value;
  }
  return payload;
}

inline void event(spdlog::level::level_enum level, std::string_view message,
                  std::initializer_list<Field> fields) {
  if (!spdlog::should_log(level)) return;
  spdlog::log(level, "{}", encode(message, fields));
}

inline void debug(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(spdlog::level::debug, message, fields);
}
inline void info(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(spdlog::level::info, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(spdlog::level::warn, message, fields);
}
inline void error(std::string_view message, std::initializer_list<Field> fields = {}) {
  event(spdlog::level::err, message, fields);
}

}  // namespace log
}  // namespace connwatch::agent
