#include "agent/cli.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace connwatch::agent {
namespace {

using namespace std::chrono_literals;

std::optional<CliOptions> parse(std::vector<const char*> args, std::string* err = nullptr) {
  args.insert(args.begin(), "agent");
  std::ostringstream out;
  auto options = parse_cli(static_cast<int>(args.size()), args.data(), out);
  if (err != nullptr) *err = out.str();
  return options;
}

TEST(Cli, NoArgumentsRunsTheAgent) {
  const auto o = parse({});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mode, Mode::kRun);
  EXPECT_FALSE(o->config_path);
  EXPECT_FALSE(o->listen);
}

TEST(Cli, RunFlagsOverrideTheConfig) {
  const auto o = parse({"--config", "x.toml", "--listen", "[::1]:9100", "--log-level", "debug"});
  ASSERT_TRUE(o);
  EXPECT_EQ(*o->config_path, "x.toml");
  EXPECT_EQ(o->listen->to_string(), "[::1]:9100");
  EXPECT_EQ(*o->log_level, config::LogLevel::kDebug);
}

TEST(Cli, DiagnoseTakesTargetsDurationInterfaceAndFormat) {
  const auto o = parse({"--diagnose", "--target", "http://a/", "--target", "tcp://b:1",
                        "--duration", "30", "--interface", "eth0", "--format", "json"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mode, Mode::kDiagnose);
  EXPECT_EQ(o->targets, (std::vector<std::string>{"http://a/", "tcp://b:1"}));
  EXPECT_EQ(o->duration, 30s);
  EXPECT_EQ(*o->interface, "eth0");
  EXPECT_EQ(o->format, OutputFormat::kJson);
}

TEST(Cli, DurationAcceptsSecondsOrAPrometheusDuration) {
  EXPECT_EQ(parse({"--diagnose", "--duration", "2m"})->duration, 2min);
  EXPECT_EQ(parse({"--diagnose"})->duration, 10s);
  std::string err;
  EXPECT_FALSE(parse({"--diagnose", "--duration", "soon"}, &err));
  EXPECT_NE(err.find("--duration: \"soon\" is not a number of seconds"), std::string::npos);
  EXPECT_FALSE(parse({"--diagnose", "--duration", "0"}));
}

TEST(Cli, ReplayTakesAFileAndPrometheusFormat) {
  const auto o = parse({"--replay", "x.pcap", "--format", "prometheus"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mode, Mode::kReplay);
  EXPECT_EQ(o->replay_file, "x.pcap");
  EXPECT_EQ(o->format, OutputFormat::kPrometheus);
}

TEST(Cli, RejectsCombinationsThatMeanNothing) {
  std::string err;
  EXPECT_FALSE(parse({"--diagnose", "--replay", "x.pcap"}, &err));
  EXPECT_NE(err.find("exclude each other"), std::string::npos);
  EXPECT_FALSE(parse({"--diagnose", "--format", "prometheus"}, &err));
  EXPECT_NE(err.find("--format prometheus goes with --replay"), std::string::npos);
  EXPECT_FALSE(parse({"--format", "json"}, &err));
  EXPECT_FALSE(parse({"--format", "xml", "--replay", "x"}, &err));
  EXPECT_FALSE(parse({"--log-level", "loud"}, &err));
  EXPECT_FALSE(parse({"--interface", "eth0"}, &err));
}

TEST(Cli, HelpAndVersionWin) {
  EXPECT_EQ(parse({"--help"})->mode, Mode::kHelp);
  EXPECT_NE(parse({"--help"})->help_text.find("--check-config"), std::string::npos);
  EXPECT_EQ(parse({"--version"})->mode, Mode::kVersion);
}

}  // namespace
}  // namespace connwatch::agent
