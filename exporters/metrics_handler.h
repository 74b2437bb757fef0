// /metrics: the registry in the Prometheus text exposition format.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <vector>

#include "exporters/http_server.h"

namespace connwatch::exporters {

// Serializes every family registered in `registry` on each request. GET and HEAD only.
Handler metrics_handler(std::shared_ptr<prometheus::Registry> registry);
// The same for several sources (a registry and collectors read at scrape time, such as the
// process_* families), serialized in the order given.
Handler metrics_handler(std::vector<std::shared_ptr<prometheus::Collectable>> collectables);

}  // namespace connwatch::exporters
