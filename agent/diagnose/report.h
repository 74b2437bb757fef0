// The diagnose report: text for a person (findings worst first, then a compact summary) and the
// JSON object of SPEC §5 for scripts (schema: agent/diagnose/report.schema.json).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "agent/diagnose/finding.h"
#include "agent/diagnose/observations.h"

namespace connwatch::agent::diagnose {

nlohmann::json to_json(const Observations& o, const std::vector<Finding>& findings);

void write_text(std::ostream& out, const Observations& o, const std::vector<Finding>& findings);

}  // namespace connwatch::agent::diagnose
