// agent: the connwatch command line (SPEC §2).
#include <algorithm>
#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/diagnose/diagnose.h"
#include "agent/logging.h"
#include "agent/probe_options.h"
#include "connwatch/version.h"
#include "probes/passive/replay.h"

using namespace connwatch;
using namespace connwatch::agent;

namespace {

passive::ReplayFormat replay_format(OutputFormat format) {
  switch (format) {
    case OutputFormat::kText:
      return passive::ReplayFormat::kText;
    case OutputFormat::kJson:
      return passive::ReplayFormat::kJson;
    case OutputFormat::kPrometheus:
      return passive::ReplayFormat::kPrometheus;
  }
  return passive::ReplayFormat::kText;
}

}  // namespace

int main(int argc, char** argv) {
  const auto cli = parse_cli(argc, argv, std::cerr);
  if (!cli) return kExitUsage;

  switch (cli->mode) {
    case Mode::kHelp:
      std::cout << cli->help_text;
      return kExitOk;
    case Mode::kVersion:
      std::cout << "connwatch agent " << kVersion << " (revision " << kRevision << ")\n";
      return kExitOk;
    case Mode::kCheckConfig: {
      setup_logging(config::LogLevel::kWarn);
      const auto config = load_config_for(*cli, std::cerr);
      if (!config) return kExitUsage;
      std::cout << (config->source.empty() ? "built-in defaults" : config->source.string())
                << ": OK (" << config->targets.size() << " targets)\n";
      return kExitOk;
    }
    case Mode::kDiagnose:
      return diagnose::run_diagnose(*cli, std::cout, std::cerr);
    case Mode::kReplay: {
      // The config only lends [capture] ports and limits, so replay labels ports like live capture.
      setup_logging(config::LogLevel::kWarn);
      const auto config = load_config_for(*cli, std::cerr);
      if (!config) return kExitUsage;
      const std::size_t threads = cli->replay_threads != 0
                                      ? cli->replay_threads
                                      : std::max(1u, std::thread::hardware_concurrency());
      return passive::run_replay(cli->replay_file, replay_format(cli->format),
                                 tracker_options(config->capture), std::cout, std::cerr, threads);
    }
    case Mode::kRun:
      break;
  }

  setup_logging(cli->log_level.value_or(config::LogLevel::kInfo),
                cli->log_format.value_or(config::LogFormat::kLogfmt));
  auto startup = load_startup_config(*cli, std::cerr);
  if (!startup) return kExitUsage;
  set_log_level(startup->config.agent.log_level);
  set_log_format(startup->config.agent.log_format);
  Agent agent(*cli, std::move(*startup));
  return agent.run();
}
