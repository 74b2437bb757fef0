// A KernelSnapshot as JSON: the "sockets" part of `agent --diagnose --format json`, and what
// kernel-collect-once prints. Missing parts (a failed source, no nf_conntrack) are null.
#pragma once

#include <nlohmann/json.hpp>

#include "probes/kernel/kernel_snapshot.h"
#include "probes/kernel/socket_owners.h"

namespace connwatch::kernel {

nlohmann::json to_json(const KernelSnapshot& snapshot);
nlohmann::json to_json(const DestinationOwners& owners);

}  // namespace connwatch::kernel
