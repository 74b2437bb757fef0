// Does a config target point at the agent's own endpoint (its listen address: /metrics,
// /-/healthy)? Nothing serves that during `agent --diagnose`, so such targets are skipped there
// (SPEC §5) instead of reported as refused.
#pragma once

#include <string>
#include <vector>

#include "config/address.h"

namespace connwatch::agent::diagnose {

// Pure. True when the target's port is the listen port and its host is the listen host, a
// loopback name or address ("localhost", 127.0.0.0/8, ::1), or, when the agent listens on every
// address, one of `local_addresses` (this host's, as text: "10.0.0.5", "fe80::1").
bool points_at_agent(const config::TargetUrl& url, const config::ListenAddress& listen,
                     const std::vector<std::string>& local_addresses);

// This host's interface addresses (getifaddrs), as text.
std::vector<std::string> local_addresses();

}  // namespace connwatch::agent::diagnose
