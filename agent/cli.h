// The command line of SPEC §2, parsed into what the agent should do.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/config.h"

namespace connwatch::agent {

enum class Mode { kRun, kDiagnose, kReplay, kCheckConfig, kVersion, kHelp };

// What --format asked for; which ones a mode accepts is checked by parse_cli.
enum class OutputFormat { kText, kJson, kPrometheus };
std::string_view to_string(OutputFormat format);

struct CliOptions {
  Mode mode = Mode::kRun;
  // Each overrides its config key when given (node_exporter's names; v0.1's as aliases).
  std::optional<std::string> config_path;  // --config.file (--config); unset = the default path
  std::optional<config::ListenAddress> listen;   // --web.listen-address (--listen)
  std::optional<std::string> web_config_file;    // --web.config.file: web.config_file
  std::optional<std::string> probe_config_file;  // --probe.config.file: probe.config_file
  std::optional<config::LogLevel> log_level;     // --log.level (--log-level)
  std::optional<config::LogFormat> log_format;   // --log.format
  std::vector<std::string> targets;              // --diagnose --target URL...
  std::chrono::milliseconds duration{std::chrono::seconds(10)};
  std::optional<std::string> interface;
  // --diagnose --netns NAME: measure inside that network namespace only (its `netns` name, SPEC
  // §4), as if run there (`nsenter -n`); unset: the agent's own, and every other one read.
  std::optional<std::string> netns;
  std::string replay_file;
  // --replay --threads N: flows tracked on N workers (ReplayShards); 0 = one per core.
  std::size_t replay_threads = 0;
  OutputFormat format = OutputFormat::kText;
  std::string push_gateway;  // --diagnose --push-gateway URL (SPEC §2); empty: none
  std::string textfile;      // --diagnose --textfile FILE.prom; empty: none
  std::string help_text;     // for kHelp
};

// Exit codes of SPEC §2.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

// Parses argv. On a usage error writes the message and a hint to `err` and returns nullopt
// (exit 2); an unknown flag is named with the closest known one ("did you mean --duration?").
std::optional<CliOptions> parse_cli(int argc, const char* const* argv, std::ostream& err);

// Where the config comes from without --config: config/agent.toml of the source tree when
// running from a build tree, /etc/connwatch/agent.toml when installed.
std::string default_config_path();

}  // namespace connwatch::agent
