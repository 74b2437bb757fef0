// Log setup: spdlog to stderr, one line per event, level from config or --log-level.
#pragma once

#include "config/config.h"

namespace connwatch::agent {

void setup_logging(config::LogLevel level);
void set_log_level(config::LogLevel level);

}  // namespace connwatch::agent
