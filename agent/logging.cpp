#include "agent/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <vector>

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

// Prometheus exporters' names: warn, not spdlog's "warning"; critical is an error, trace debug.
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
    case spdlog::level::critical:
    case spdlog::level::off:
    case spdlog::level::n_levels:
      return "error";
  }
  return "error";
}

// The escapes logfmt (go-logfmt) and JSON share: quote, backslash, \n \r \t, other control
// characters as \u00XX. Bytes >= 0x80 pass through (UTF-8).
void append_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
}

void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  append_escaped(out, text);
  out += '"';
}

// A logfmt value goes bare unless it is empty or holds a space, '=', '"' or a control character.
void append_logfmt_value(std::string& out, std::string_view value) {
  bool bare = !value.empty();
  for (const char c : value) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '=' || c == '"' || c == '\x7f') bare = false;
  }
  if (bare) {
    out += value;
  } else {
    append_quoted(out, value);
  }
}

// Keys are identifiers: anything else becomes '_', so a line always parses.
std::string clean_key(std::string_view key) {
  std::string out;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

struct DecodedField {
  std::string_view key;
  std::string_view value;
  bool number;
};

// Splits spdlog's payload into the message and the fields log::encode appended.
std::string_view decode(std::string_view payload, std::vector<DecodedField>& fields) {
  const std::size_t end = payload.find(log::kFieldSeparator);
  const std::string_view message = payload.substr(0, end);
  std::size_t at = end;
  while (at != std::string_view::npos) {
    const std::size_t next = payload.find(log::kFieldSeparator, at + 1);
    const std::string_view item = payload.substr(
        at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1);
    const std::size_t mark = item.find_first_of("\x1e\x1d");
    if (mark != std::string_view::npos) {
      fields.push_back(
          {item.substr(0, mark), item.substr(mark + 1), item[mark] == log::kNumberValue});
    }
    at = next;
  }
  return message;
}

// A field value that claims to be a number is written bare in JSON only if it is a JSON number
// (fmt writes "inf", "nan" and "1e+20"; the first two are not).
bool json_number(std::string_view text) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (!digits()) return false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

std::string timestamp(std::chrono::system_clock::time_point time) {
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

// The one formatter of the process: the format can change at a reload, so it is read per line.
class EventFormatter final : public spdlog::formatter {
 public:
  explicit EventFormatter(std::shared_ptr<std::atomic<config::LogFormat>> format)
      : format_(std::move(format)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line =
        format_log_line(format_->load(), timestamp(msg.time), level_name(msg.level),
                        std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<EventFormatter>(format_);
  }

 private:
  std::shared_ptr<std::atomic<config::LogFormat>> format_;
};

std::shared_ptr<std::atomic<config::LogFormat>>& current_format() {
  static auto format = std::make_shared<std::atomic<config::LogFormat>>(config::LogFormat::kLogfmt);
  return format;
}

}  // namespace

std::string format_log_line(config::LogFormat format, std::string_view ts, std::string_view level,
                            std::string_view payload) {
  std::vector<DecodedField> fields;
  const std::string_view message = decode(payload, fields);
  std::string line;
  switch (format) {
    case config::LogFormat::kLogfmt:
      line += "ts=";
      line += ts;
      line += " level=";
      line += level;
      line += " msg=";
      append_quoted(line, message);
      for (const auto& field : fields) {
        line += ' ';
        line += clean_key(field.key);
        line += '=';
        append_logfmt_value(line, field.value);
      }
      break;
    case config::LogFormat::kJson:
      line += "{\"ts\":";
      append_quoted(line, ts);
      line += ",\"level\":";
      append_quoted(line, level);
      line += ",\"msg\":";
      append_quoted(line, message);
      for (const auto& field : fields) {
        const std::string key = clean_key(field.key);
        if (key == "ts" || key == "level" || key == "msg") continue;  // never a duplicate key
        line += ',';
        append_quoted(line, key);
        line += ':';
        if (field.number && json_number(field.value)) {
          line += field.value;
        } else {
          append_quoted(line, field.value);
        }
      }
      line += '}';
      break;
  }
  return line;
}

std::unique_ptr<spdlog::formatter> make_log_formatter() {
  return std::make_unique<EventFormatter>(current_format());
}

void setup_logging(config::LogLevel level, config::LogFormat format) {
  auto logger = spdlog::stderr_color_mt("connwatch");
  current_format()->store(format);
  logger->set_formatter(make_log_formatter());
  spdlog::set_default_logger(logger);
  set_log_level(level);
}

void set_log_level(config::LogLevel level) { spdlog::set_level(to_spdlog(level)); }

void set_log_format(config::LogFormat format) { current_format()->store(format); }

}  // namespace connwatch::agent
