// `--diagnose --push-gateway URL` and `--textfile FILE.prom` (SPEC §2): the run's findings and
// the passive and kernel families it measured, handed to exporters/diagnose_output.
#pragma once

#include <ostream>
#include <vector>

#include "agent/cli.h"
#include "agent/diagnose/finding.h"
#include "agent/diagnose/observations.h"

namespace connwatch::agent::diagnose {

// Does what cli.push_gateway / cli.textfile ask (nothing when both are empty). On a failure
// writes "agent: ..." to `err` and returns false (exit 3); the report is already printed.
bool write_outputs(const CliOptions& cli, const Observations& observations,
                   const std::vector<Finding>& findings, std::ostream& err);

}  // namespace connwatch::agent::diagnose
