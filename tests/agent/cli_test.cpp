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

TEST(Cli, ReplayTakesAThreadCountDefaultingToOnePerCore) {
  EXPECT_EQ(parse({"--replay", "x.pcap"})->replay_threads, 0u);  // main(): one per core
  EXPECT_EQ(parse({"--replay", "x.pcap", "--threads", "3"})->replay_threads, 3u);
  std::string err;
  EXPECT_FALSE(parse({"--replay", "x.pcap", "--threads", "0"}, &err));
  EXPECT_FALSE(parse({"--diagnose", "--threads", "2"}, &err));
  EXPECT_NE(err.find("--threads goes with --replay"), std::string::npos);
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

// SPEC §2: node_exporter's flag names, and v0.1's as aliases.
TEST(Cli, ExporterToolkitFlagNames) {
  const auto o =
      parse({"--config.file", "x.toml", "--web.listen-address", "[::1]:9100", "--web.config.file",
             "web.yml", "--log.level", "warn", "--log.format", "json"});
  ASSERT_TRUE(o);
  EXPECT_EQ(*o->config_path, "x.toml");
  EXPECT_EQ(o->listen->to_string(), "[::1]:9100");
  EXPECT_EQ(*o->web_config_file, "web.yml");
  EXPECT_EQ(*o->log_level, config::LogLevel::kWarn);
  EXPECT_EQ(*o->log_format, config::LogFormat::kJson);
  const auto equals = parse({"--config.file=y.toml", "--log.format=logfmt"});
  ASSERT_TRUE(equals);
  EXPECT_EQ(*equals->config_path, "y.toml");
  EXPECT_EQ(*equals->log_format, config::LogFormat::kLogfmt);
  EXPECT_FALSE(parse({})->log_format);
  EXPECT_FALSE(parse({})->web_config_file);
  std::string err;
  EXPECT_FALSE(parse({"--log.format", "xml"}, &err));
  EXPECT_NE(err.find("--log.format"), std::string::npos) << err;
}

TEST(Cli, BadListenAddressIsNamedAsTyped) {
  std::string err;
  EXPECT_FALSE(parse({"--web.listen-address", "9100"}, &err));
  EXPECT_NE(err.find("--web.listen-address: bad listen address"), std::string::npos) << err;
  EXPECT_FALSE(parse({"--listen", "9100"}, &err));
  EXPECT_NE(err.find("--listen: bad listen address"), std::string::npos) << err;
}

// Issue 22 item 8: "--duraton 5" said "The following arguments were not expected: 5 --duraton".
TEST(Cli, MisspeltFlagGetsASuggestionInTheOrderTyped) {
  std::string err;
  EXPECT_FALSE(parse({"--diagnose", "--duraton", "5"}, &err));
  EXPECT_EQ(err,
            "agent: unknown flag --duraton; did you mean --duration?\n"
            "Run 'agent --help' for usage.\n");
  EXPECT_FALSE(parse({"--config-file", "x.toml"}, &err));
  EXPECT_NE(err.find("did you mean --config.file?"), std::string::npos) << err;
  EXPECT_FALSE(parse({"--web.listen-adress=:9100"}, &err));
  EXPECT_NE(err.find("unknown flag --web.listen-adress; did you mean --web.listen-address?"),
            std::string::npos)
      << err;
  EXPECT_FALSE(parse({"--loglevel", "debug"}, &err));
  EXPECT_NE(err.find("did you mean --log.level?"), std::string::npos) << err;
  EXPECT_FALSE(parse({"--chekc-config"}, &err));
  EXPECT_NE(err.find("did you mean --check-config?"), std::string::npos) << err;
  // Nothing close: no guess.
  EXPECT_FALSE(parse({"--frobnicate"}, &err));
  EXPECT_EQ(err, "agent: unknown flag --frobnicate\nRun 'agent --help' for usage.\n");
  EXPECT_FALSE(parse({"stray"}, &err));
  EXPECT_NE(err.find("unexpected argument \"stray\""), std::string::npos) << err;
}

TEST(Cli, ProbeConfigFileAsBlackboxSpellsIt) {
  const auto o = parse({"--probe.config.file", "blackbox.yml"});
  ASSERT_TRUE(o);
  EXPECT_EQ(*o->probe_config_file, "blackbox.yml");
  EXPECT_EQ(o->mode, Mode::kRun);
  EXPECT_FALSE(parse({})->probe_config_file);
  EXPECT_NE(parse({"--help"})->help_text.find("--probe.config.file"), std::string::npos);
}

TEST(Cli, HelpShowsTheNewNamesAndTheAliases) {
  const std::string help = parse({"--help"})->help_text;
  for (const char* flag : {"--config.file", "--web.listen-address", "--web.config.file",
                           "--log.level", "--log.format", "--config", "--listen", "--log-level"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace connwatch::agent
