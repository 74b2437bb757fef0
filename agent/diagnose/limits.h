// What a diagnose run could not see because it ended (SPEC §5: a check bounded by --duration says
// so and suggests the duration that would see it).
#pragma once

#include <string>
#include <vector>

#include "agent/diagnose/observations.h"

namespace connwatch::agent::diagnose {

struct RunLimit {
  std::string check;  // "idle-close"
  std::string target;
  double seen_seconds = 0;   // how long the run could watch
  double needs_seconds = 0;  // how long the check needs
  int suggested_duration_seconds = 0;
  std::string text;  // one line for a person
};

// Today one check: an HTTP target that answered has its idle connection still open at the end of
// the run, while the probe pool keeps idle connections longer than that: a server closing them in
// between (the stale-pooled-connection race) was not seen.
std::vector<RunLimit> run_limits(const Observations& o);

}  // namespace connwatch::agent::diagnose
