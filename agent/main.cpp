// agent: the connwatch command line (SPEC §2).
#include <iostream>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/logging.h"
#include "connwatch/version.h"

using namespace connwatch;
using namespace connwatch::agent;

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
      std::cerr << "agent: --diagnose is not yet available in this build\n";
      return kExitUsage;
    case Mode::kReplay:
      std::cerr << "agent: --replay is not yet available in this build\n";
      return kExitUsage;
    case Mode::kRun:
      break;
  }

  setup_logging(cli->log_level.value_or(config::LogLevel::kInfo));
  auto config = load_config_for(*cli, std::cerr);
  if (!config) return kExitUsage;
  set_log_level(config->agent.log_level);
  Agent agent(*cli, std::move(*config));
  return agent.run();
}
