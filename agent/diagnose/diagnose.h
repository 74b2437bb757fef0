// `agent --diagnose`: measure for a while, then name what is wrong and how to fix it (SPEC §5).
#pragma once

#include <ostream>

#include "agent/cli.h"

namespace connwatch::agent::diagnose {

// Runs one diagnosis as the command line asks; returns the exit code of SPEC §2
// (0 nothing of warning level, 1 warning or critical findings, 2 usage/config, 3 runtime).
int run_diagnose(const CliOptions& cli, std::ostream& out, std::ostream& err);

}  // namespace connwatch::agent::diagnose
