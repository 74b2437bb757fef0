#include "agent/diagnose/diagnose.h"

namespace connwatch::agent::diagnose {

int run_diagnose(const CliOptions& /*cli*/, std::ostream& /*out*/, std::ostream& err) {
  err << "agent: --diagnose is not yet available in this build\n";
  return kExitUsage;
}

}  // namespace connwatch::agent::diagnose
