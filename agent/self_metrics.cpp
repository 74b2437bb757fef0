#include "agent/self_metrics.h"

#include "connwatch/version.h"

namespace connwatch::agent {

SelfMetrics::SelfMetrics(prometheus::Registry& registry)
    : reload_successful_(prometheus::BuildGauge()
                             .Name("connwatch_config_last_reload_successful")
                             .Help("Whether the last configuration load or reload succeeded (1) or "
                                   "failed and the previous configuration is still running (0).")
                             .Register(registry)
                             .Add({})),
      reload_success_time_(prometheus::BuildGauge()
                               .Name("connwatch_config_last_reload_success_timestamp_seconds")
                               .Help("Unix time of the last successful configuration load.")
                               .Register(registry)
                               .Add({})) {
  prometheus::BuildGauge()
      .Name("connwatch_build_info")
      .Help(
          "A metric with a constant '1' value labeled by the version and git revision of "
          "connwatch.")
      .Register(registry)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
}

void SelfMetrics::config_loaded(bool ok) {
  reload_successful_.Set(ok ? 1 : 0);
  if (ok) reload_success_time_.SetToCurrentTime();
}

}  // namespace connwatch::agent
