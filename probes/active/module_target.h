// A /probe request's (module, target) as the config::Target the probe harness runs (SPEC §3,
// Prometheus-driven probing). Targets are written as blackbox_exporter takes them: for an http
// module a URL (http:// is added when the scheme is missing, as blackbox does), for a tcp module
// host:port (an IPv6 literal in brackets).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/probe_modules.h"

namespace connwatch::active {

// The target to probe, or nullopt with `error` saying why the target text is unusable ("tcp
// module wants host:port", the URL parser's reason). `pool` is [pool]: max_connections,
// idle_timeout and max_lifetime apply to the (module, target) pool; the module's `timeout` (119.5 s
// when not set: the scrape's deadline bounds each probe) is its connect_timeout and
// request_timeout. One attempt per scrape (blackbox does not retry);
// a stale pooled connection is still resent once on a new one.
std::optional<config::Target> make_module_target(const config::ProbeModule& module,
                                                 std::string_view target,
                                                 const config::PoolSettings& pool,
                                                 std::string& error);

}  // namespace connwatch::active
