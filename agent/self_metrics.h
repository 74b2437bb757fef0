// The agent's metrics about itself: build info and whether the last config reload worked.
#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace connwatch::agent {

class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);

  // After a load or reload: 1 and the time on success, 0 on failure (the old config runs on).
  void config_loaded(bool ok);

 private:
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_success_time_;
};

}  // namespace connwatch::agent
