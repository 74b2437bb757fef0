// /metrics: the registry in the Prometheus text exposition format.
#pragma once

#include <prometheus/registry.h>

#include <memory>

#include "exporters/http_server.h"

namespace connwatch::exporters {

// Serializes every family registered in `registry` on each request. GET and HEAD only.
Handler metrics_handler(std::shared_ptr<prometheus::Registry> registry);

}  // namespace connwatch::exporters
