// The long-running agent: one io_context, the HTTP endpoint, signals, config reload, and the
// collectors that feed the registry.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "agent/cli.h"
#include "config/config.h"
#include "config/probe_modules.h"

namespace connwatch::agent {

// What the agent starts with: the config and the blackbox modules of its [probe] config_file (none
// without one), read once.
struct StartupConfig {
  config::Config config;
  config::ProbeModules probe_modules;
};

// Loads the config a command line names (or the default path) and its module file; prints every
// error (file:line:column and key) to `err`. Returns nullopt when either is unusable (exit 2). A
// missing default file means defaults.
std::optional<StartupConfig> load_startup_config(const CliOptions& cli, std::ostream& err);
// load_startup_config without the modules (check-config, replay, diagnose).
std::optional<config::Config> load_config_for(const CliOptions& cli, std::ostream& err);

class Agent {
 public:
  // Serves `startup.probe_modules` on /probe as they are: the module file is not read again.
  Agent(CliOptions cli, StartupConfig startup);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Serves until SIGINT/SIGTERM; returns the exit code (0 clean stop, 3 runtime failure).
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace connwatch::agent
