// The long-running agent: one io_context, the HTTP endpoint, signals, config reload, and the
// collectors that feed the registry.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "agent/cli.h"
#include "config/config.h"

namespace connwatch::agent {

// Loads the config a command line names (or the default path); prints every error to `err`.
// Returns nullopt when the config is unusable (exit 2). A missing default file means defaults.
std::optional<config::Config> load_config_for(const CliOptions& cli, std::ostream& err);

class Agent {
 public:
  Agent(CliOptions cli, config::Config config);
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
