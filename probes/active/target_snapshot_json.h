// TargetSnapshot as JSON: what `probe-once --format json` prints and diagnose embeds in "targets".
#pragma once

#include <nlohmann/json.hpp>

#include "probes/active/target_snapshot.h"

namespace connwatch::active {

nlohmann::json to_json(const TargetSnapshot& snapshot);
nlohmann::json to_json(const ProbeReport& report);

}  // namespace connwatch::active
