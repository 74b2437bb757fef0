// Log lines as an operator's tools read them (SPEC §2): logfmt with fields as key=value, JSON as
// one object per line, levels named debug/info/warn/error.
#include "agent/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/loader.h"

namespace connwatch::agent {
namespace {

using config::LogFormat;

TEST(Logging, LogfmtPutsFieldsAsKeyValueNotInsideMsg) {
  const std::string payload = log::encode(
      "listening", {{"address", ":9873"}, {"port", 9873}, {"config", "/etc/connwatch/agent.toml"}});
  EXPECT_EQ(format_log_line(LogFormat::kLogfmt, "2026-11-29T15:00:00.000Z", "info", payload),
            "ts=2026-11-29T15:00:00.000Z level=info msg=\"listening\" address=:9873 port=9873 "
            "config=/etc/connwatch/agent.toml");
}

TEST(Logging, LogfmtQuotesValuesThatWouldNotParse) {
  const std::string payload =
      log::encode("config reload failed",
                  {{"error", "x.toml:2:1: agent.lisen: unknown key (did you mean \"listen\"?)"},
                   {"empty", ""},
                   {"eq", "a=b"},
                   {"multi", "one\ntwo"},
                   {"bad key!", 1}});
  EXPECT_EQ(format_log_line(LogFormat::kLogfmt, "T", "error", payload),
            "ts=T level=error msg=\"config reload failed\" "
            "error=\"x.toml:2:1: agent.lisen: unknown key (did you mean \\\"listen\\\"?)\" "
            "empty=\"\" eq=\"a=b\" multi=\"one\\ntwo\" bad_key_=1");
}

TEST(Logging, JsonIsOneObjectPerLineWithFieldsAtTheTop) {
  const std::string payload = log::encode("probe failed", {{"target", "api"},
                                                           {"attempts", 3},
                                                           {"ratio", 0.25},
                                                           {"ok", true},
                                                           {"msg", "shadowed"},
                                                           {"text", "tab\there \"q\""}});
  const std::string line = format_log_line(LogFormat::kJson, "T", "warn", payload);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["ts"], "T");
  EXPECT_EQ(json["level"], "warn");
  EXPECT_EQ(json["msg"], "probe failed");
  EXPECT_EQ(json["target"], "api");
  EXPECT_EQ(json["attempts"], 3);
  EXPECT_EQ(json["ratio"], 0.25);
  EXPECT_EQ(json["ok"], "true");
  EXPECT_EQ(json["text"], "tab\there \"q\"");
  EXPECT_EQ(json.size(), 8U);  // ts, level, msg + 5 fields; "msg" is never duplicated
}

TEST(Logging, NonFiniteNumbersStayValidJson) {
  const std::string payload = log::encode("x", {{"inf", 1.0 / 0.0}, {"big", 1e300}});
  const auto json = nlohmann::json::parse(format_log_line(LogFormat::kJson, "T", "info", payload));
  EXPECT_EQ(json["inf"], "inf");
  EXPECT_EQ(json["big"], 1e300);
}

TEST(Logging, PlainSpdlogMessagesStillWork) {
  EXPECT_EQ(format_log_line(LogFormat::kLogfmt, "T", "info", "target api: \"x\"\n"),
            "ts=T level=info msg=\"target api: \\\"x\\\"\\n\"");
  const auto json = nlohmann::json::parse(
      format_log_line(LogFormat::kJson, "T", "info", std::string("ctl \x01 byte")));
  EXPECT_EQ(json["msg"], "ctl \x01 byte");
}

// Through spdlog as the agent runs it: the installed formatter, level names warn and error.
TEST(Logging, InstalledLoggerNamesLevelsAsExportersDo) {
  setup_logging(config::LogLevel::kDebug, LogFormat::kLogfmt);
  std::ostringstream out;
  auto logger = spdlog::default_logger();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(make_log_formatter());
  logger->sinks().push_back(sink);
  log::warn("capture down", {{"interface", "eth0"}});
  spdlog::error("plain {}", 1);
  set_log_format(LogFormat::kJson);
  log::debug("seen", {{"n", 2}});
  set_log_level(config::LogLevel::kInfo);
  log::debug("hidden");
  logger->sinks().pop_back();

  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  EXPECT_NE(line.find(" level=warn msg=\"capture down\" interface=eth0"), std::string::npos)
      << line;
  std::getline(lines, line);
  EXPECT_NE(line.find(" level=error msg=\"plain 1\""), std::string::npos) << line;
  std::getline(lines, line);
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["level"], "debug");
  EXPECT_EQ(json["n"], 2);
  EXPECT_FALSE(std::getline(lines, line)) << line;
}

// [agent] log_format: the key, its default and a wrong value named with file:line.
TEST(Logging, ConfigKeyLogFormat) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("connwatch-log-format-" + std::to_string(::getpid()) + ".toml");
  auto load = [&](const std::string& text) {
    std::ofstream(path) << text;
    return config::load_config_file(path);
  };
  EXPECT_EQ(load("").agent.log_format, LogFormat::kLogfmt);
  EXPECT_EQ(load("[agent]\nlog_format = \"json\"\n").agent.log_format, LogFormat::kJson);
  try {
    load("[agent]\nlog_format = \"xml\"\n");
    ADD_FAILURE() << "xml accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.messages().at(0),
              path.string() + ":2:14: agent.log_format: \"xml\" is not one of logfmt, json");
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace connwatch::agent
